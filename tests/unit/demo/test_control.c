/* The demo control server: the request parser and router (pure), and one
 * real round trip through the non-blocking server on a loopback socket. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "demo/control.h"
#include "util/err.h"

static int parse(const char *s, sb_demo_request *req, char *errmsg)
{
    return sb_demo_parse_request(s, strlen(s), req, errmsg);
}

static void test_parse_get(void **state)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_request req;
    const char *s = "GET /api/v1/demo?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
    assert_int_equal(parse(s, &req, errmsg), 0);
    assert_int_equal(req.method, SB_DEMO_GET);
    assert_int_equal(req.path_len, strlen("/api/v1/demo"));
    assert_memory_equal(req.path, "/api/v1/demo", req.path_len);
    assert_int_equal(req.body_len, 0);
    assert_int_equal(req.total_len, strlen(s));
}

static void test_parse_post_body_and_incomplete(void **state)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_request req;
    const char *s = "POST /api/v1/demo/consistency HTTP/1.1\r\nContent-Type: application/json\r\n"
                    "content-length:  16 \r\n\r\n{\"write\": \"ONE\"}";
    size_t n = strlen(s);
    /* every proper prefix needs more bytes */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(sb_demo_parse_request(s, k, &req, errmsg), 1);
    assert_int_equal(sb_demo_parse_request(s, n, &req, errmsg), 0);
    assert_int_equal(req.method, SB_DEMO_POST);
    assert_int_equal(req.body_len, 16);
    assert_memory_equal(req.body, "{\"write\": \"ONE\"}", 16);
    /* pipelined bytes after the body are not part of it */
    char more[512];
    snprintf(more, sizeof more, "%sGET / HTTP/1.1\r\n\r\n", s);
    assert_int_equal(parse(more, &req, errmsg), 0);
    assert_int_equal(req.total_len, n);
}

static void expect_error(const char *s, int code, const char *needle)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_request req;
    int rv = parse(s, &req, errmsg);
    if (rv != code || !strstr(errmsg, needle))
        fail_msg("'%s': got %d '%s', expected %d with '%s'", s, rv, errmsg, code, needle);
}

static void test_parse_rejects_malformed(void **state)
{
    expect_error("GET /x HTTP/1.1\n\r\n\r\n", SB_EBADINPUT, "CRLF");
    expect_error("GET  /x HTTP/1.1\r\n\r\n", SB_EBADINPUT, "'/'");
    expect_error("GET x HTTP/1.1\r\n\r\n", SB_EBADINPUT, "start with '/'");
    expect_error("GET /x HTTP/2.0\r\n\r\n", SB_EBADINPUT, "HTTP/1.1");
    expect_error("GET /x\r\n\r\n", SB_EBADINPUT, "HTTP/1.1");
    expect_error("G(T /x HTTP/1.1\r\n\r\n", SB_EBADINPUT, "METHOD");
    expect_error("GET /a\x01 HTTP/1.1\r\n\r\n", SB_EBADINPUT, "0x01");
    expect_error("GET /x HTTP/1.1\r\nHost\r\n\r\n", SB_EBADINPUT, "line 2");
    expect_error("GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", SB_EBADINPUT, "folding");
    expect_error("GET /x HTTP/1.1\r\nA: b\x02\r\n\r\n", SB_EBADINPUT, "control character");
    expect_error("GET /x HTTP/1.1\r\nA: b\nc\r\n\r\n", SB_EBADINPUT, "bare LF");
    expect_error("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
                 SB_EBADINPUT, "second Content-Length");
    expect_error("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", SB_EBADINPUT, "decimal number");
    expect_error("POST /x HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", SB_ETOOBIG, "limit");
    expect_error("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", SB_EUNSUPPORTED,
                 "Content-Length");
    /* a bad request line is reported before the head is complete */
    expect_error("HELLO\r\n", SB_EBADINPUT, "METHOD");
    /* a head that never ends */
    char *big = malloc(SB_DEMO_MAX_HEAD_BYTES + 100);
    strcpy(big, "GET /x HTTP/1.1\r\n");
    size_t o = strlen(big);
    while (o < SB_DEMO_MAX_HEAD_BYTES + 50)
        big[o++] = 'a';
    big[o] = 0;
    char errmsg[SB_ERRMSG_SIZE];
    sb_demo_request req;
    assert_int_equal(sb_demo_parse_request(big, o, &req, errmsg), SB_ETOOBIG);
    free(big);
}

/* Routes s for a 3-node demo. */
static int route(const char *s, sb_demo_action *act, char *errmsg)
{
    sb_demo_request req;
    int rv = sb_demo_parse_request(s, strlen(s), &req, errmsg);
    assert_int_equal(rv, 0);
    return sb_demo_route(&req, 3, act, errmsg);
}

static void expect_route_error(const char *s, int code, int http, const char *needle)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_action act;
    int rv = route(s, &act, errmsg);
    if (rv != code || !strstr(errmsg, needle) || sb_err_http_status(rv) != http)
        fail_msg("'%s': got %d '%s', expected %d with '%s'", s, rv, errmsg, code, needle);
}

static char *post(const char *path, const char *body)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "POST %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", path,
             strlen(body), body);
    return buf;
}

static void test_route_endpoints(void **state)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_demo_action act;
    assert_int_equal(route("GET /api/v1/demo HTTP/1.1\r\n\r\n", &act, errmsg), 0);
    assert_int_equal(act.kind, SB_DEMO_ACT_GET);
    assert_int_equal(route("OPTIONS /anything HTTP/1.1\r\n\r\n", &act, errmsg), 0);
    assert_int_equal(act.kind, SB_DEMO_ACT_OPTIONS);

    assert_int_equal(route(post("/api/v1/demo/nodes/2/stop", ""), &act, errmsg), 0);
    assert_int_equal(act.kind, SB_DEMO_ACT_STOP);
    assert_int_equal(act.node, 2);
    assert_int_equal(act.sig, SIGKILL);
    assert_int_equal(
        route(post("/api/v1/demo/nodes/3/stop", "{\"signal\": \"TERM\"}"), &act, errmsg), 0);
    assert_int_equal(act.sig, SIGTERM);
    assert_int_equal(act.node, 3);
    assert_int_equal(route(post("/api/v1/demo/nodes/1/start", "{}"), &act, errmsg), 0);
    assert_int_equal(act.kind, SB_DEMO_ACT_START);
    assert_int_equal(act.node, 1);

    assert_int_equal(route(post("/api/v1/demo/consistency", "{\"write\": \"all\"}"), &act, errmsg),
                     0);
    assert_int_equal(act.kind, SB_DEMO_ACT_CONSISTENCY);
    assert_string_equal(act.write_cl, "ALL");
    assert_string_equal(act.read_cl, "");
    assert_int_equal(
        route(post("/api/v1/demo/consistency", "{\"write\": \"ANY\", \"read\": \"LOCAL_QUORUM\"}"),
              &act, errmsg),
        0);
    assert_string_equal(act.write_cl, "ANY");
    assert_string_equal(act.read_cl, "LOCAL_QUORUM");
}

/* Partition and heal: the minority's nodes marked, everything else on the
 * other side; bad bodies refused with what was wrong. */
static void test_route_partition_and_heal(void **state)
{
    sb_demo_action act;
    char errmsg[SB_ERRMSG_SIZE];
    assert_int_equal(route(post("/api/v1/demo/partition", "{\"minority\": [3, 1]}"), &act, errmsg),
                     0);
    assert_int_equal(act.kind, SB_DEMO_ACT_PARTITION);
    assert_int_equal(act.side[0], 1);
    assert_int_equal(act.side[1], 0);
    assert_int_equal(act.side[2], 1);
    assert_int_equal(route(post("/api/v1/demo/heal", ""), &act, errmsg), 0);
    assert_int_equal(act.kind, SB_DEMO_ACT_HEAL);
    expect_route_error(post("/api/v1/demo/partition", "{\"minority\": []}"), SB_EBADINPUT, 400,
                       "both sides");
    expect_route_error(post("/api/v1/demo/partition", "{\"minority\": [1, 2, 3]}"), SB_EBADINPUT,
                       400, "both sides");
    expect_route_error(post("/api/v1/demo/partition", "{\"minority\": [4]}"), SB_EBADINPUT, 400,
                       "minority[0]: not a node");
    expect_route_error(post("/api/v1/demo/partition", "{\"minority\": [\"2\"]}"), SB_EBADINPUT, 400,
                       "not a node");
    expect_route_error(post("/api/v1/demo/partition", "{\"minority\": [2, 2]}"), SB_EBADINPUT, 400,
                       "named twice");
    expect_route_error(post("/api/v1/demo/partition", "{}"), SB_EBADINPUT, 400, "\"minority\"");
    expect_route_error(post("/api/v1/demo/heal", "{\"all\": true}"), SB_EBADINPUT, 400, "all");
    expect_route_error("GET /api/v1/demo/partition HTTP/1.1\r\n\r\n", SB_EMETHOD, 405, "POST");
    expect_route_error("GET /api/v1/demo/heal HTTP/1.1\r\n\r\n", SB_EMETHOD, 405, "POST");
}

static void test_route_errors(void **state)
{
    expect_route_error("GET /api/v1/nope HTTP/1.1\r\n\r\n", SB_ENOTFOUND, 404, "no such endpoint");
    expect_route_error("DELETE /api/v1/demo HTTP/1.1\r\n\r\n", SB_EMETHOD, 405, "not DELETE");
    expect_route_error("GET /api/v1/demo/nodes/1/stop HTTP/1.1\r\n\r\n", SB_EMETHOD, 405, "POST");
    expect_route_error(post("/api/v1/demo/nodes/4/stop", ""), SB_ENOTFOUND, 404,
                       "no node 4: the demo runs nodes 1..3");
    expect_route_error(post("/api/v1/demo/nodes/0/start", ""), SB_ENOTFOUND, 404, "no node 0");
    expect_route_error(post("/api/v1/demo/nodes/x/stop", ""), SB_EBADINPUT, 400,
                       "node index 'x' is not a number");
    expect_route_error(post("/api/v1/demo/nodes/1/reboot", ""), SB_ENOTFOUND, 404, "reboot");
    expect_route_error(post("/api/v1/demo/nodes/1", ""), SB_ENOTFOUND, 404, "stop or");
    expect_route_error(post("/api/v1/demo/nodes/1/stop", "{\"signal\": \"HUP\"}"), SB_EBADINPUT,
                       400, "\"signal\" must be");
    expect_route_error(post("/api/v1/demo/nodes/1/stop", "{\"sig\": \"TERM\"}"), SB_EBADINPUT, 400,
                       "unknown key \"sig\"");
    expect_route_error(post("/api/v1/demo/nodes/1/start", "{\"x\": 1}"), SB_EBADINPUT, 400,
                       "an empty object");
    expect_route_error(post("/api/v1/demo/consistency", "{\"write\": "), SB_EBADINPUT, 400,
                       "invalid JSON at line 1");
    expect_route_error(post("/api/v1/demo/consistency", "[1]"), SB_EBADINPUT, 400,
                       "expected a JSON object");
    expect_route_error(post("/api/v1/demo/consistency", "{\"write\": \"MOST\"}"), SB_EBADINPUT, 400,
                       "'MOST' is not a consistency level");
    expect_route_error(post("/api/v1/demo/consistency", "{\"write\": 3}"), SB_EBADINPUT, 400,
                       "a non-string");
    expect_route_error(post("/api/v1/demo/consistency", "{\"read\": \"ANY\"}"), SB_EBADINPUT, 400,
                       "ANY is not allowed for reads");
    expect_route_error(post("/api/v1/demo/consistency", "{\"write\": \"SERIAL\"}"), SB_EBADINPUT,
                       400, "SERIAL is not allowed for writes");
    expect_route_error(post("/api/v1/demo/consistency", "{}"), SB_EBADINPUT, 400,
                       "give \"write\" and/or \"read\"");
    expect_route_error(post("/api/v1/demo/consistency", "{\"write\": \"ONE\", \"write\": \"ALL\"}"),
                       SB_EBADINPUT, 400, "duplicate");
    expect_route_error(post("/api/v1/demo/consistency", "{\"writ\": \"ONE\"}"), SB_EBADINPUT, 400,
                       "unknown key \"writ\"");
}

/* --- one real round trip ------------------------------------------------------- */

static int handled;

static int handler(void *arg, const sb_demo_action *act, sb_buf *out, char *errmsg)
{
    handled++;
    if (act->kind == SB_DEMO_ACT_START)
        return sb_seterr(errmsg, SB_EEXISTS, "node%d is already running", act->node);
    sb_buf_printf(out, "{\"kind\": %d}", act->kind);
    return 0;
}

typedef struct client {
    int port;
    const char *parts[3]; /* sent one after the other, 50 ms apart */
    char answer[4096];
} client;

static void *client_main(void *p)
{
    client *c = p;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    for (int i = 0; i < 3 && c->parts[i]; i++) {
        if (write(fd, c->parts[i], strlen(c->parts[i])) < 0)
            break;
        usleep(50000);
    }
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd, c->answer + len, sizeof c->answer - 1 - len)) > 0)
        len += (size_t)r;
    c->answer[len] = 0;
    close(fd);
    return NULL;
}

/* Runs the server loop until the client thread ends. */
static void exchange(sb_demo_ctl *ctl, client *c)
{
    pthread_t t;
    c->port = sb_demo_ctl_port(ctl);
    assert_true(c->port > 0);
    assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
    for (int k = 0; k < 100 && !c->answer[0]; k++) {
        struct pollfd fds[1 + SB_DEMO_MAX_CONNS];
        int n = sb_demo_ctl_pollfds(ctl, fds, 1 + SB_DEMO_MAX_CONNS);
        poll(fds, (nfds_t)n, 20);
        sb_demo_ctl_service(ctl, fds, n);
    }
    pthread_join(t, NULL);
}

static void test_server_round_trip(void **state)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_demo_ctl *ctl = NULL;
    assert_int_equal(sb_demo_ctl_open(&ctl, "127.0.0.1:0", 3, handler, NULL, errmsg), 0);
    assert_int_equal(sb_demo_ctl_trust(ctl, "127.0.0.2:8080", errmsg), 0);
    handled = 0;

    /* a request in three pieces */
    client c = {.parts = {"GET /api/v1/de", "mo HTTP/1.1\r\nHost: x\r\n", "\r\n"}};
    exchange(ctl, &c);
    assert_non_null(strstr(c.answer, "HTTP/1.1 200 OK\r\n"));
    assert_null(strstr(c.answer, "Access-Control-Allow-Origin")); /* no Origin, no CORS */
    assert_non_null(strstr(c.answer, "Vary: Origin\r\n"));
    assert_non_null(strstr(c.answer, "Connection: close\r\n"));
    assert_non_null(strstr(c.answer, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(c.answer, "{\"kind\": 2}"));

    client o = {.parts = {"OPTIONS /api/v1/demo/consistency HTTP/1.1\r\n"
                          "Origin: http://127.0.0.2:8080\r\n\r\n"}};
    exchange(ctl, &o);
    assert_non_null(strstr(o.answer, "HTTP/1.1 204 No Content\r\n"));
    assert_non_null(strstr(o.answer, "Access-Control-Allow-Origin: http://127.0.0.2:8080\r\n"));
    assert_non_null(strstr(o.answer, "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"));
    assert_non_null(strstr(o.answer, "Access-Control-Allow-Headers: Content-Type\r\n"));
    assert_non_null(strstr(o.answer, "Access-Control-Max-Age: 600\r\n"));

    client b = {.parts = {"BREW /pot\r\n\r\n"}};
    exchange(ctl, &b);
    assert_non_null(strstr(b.answer, "HTTP/1.1 400 Bad Request\r\n"));
    assert_null(strstr(b.answer, "Access-Control-Allow-Origin"));
    assert_non_null(strstr(b.answer, "\"code\": \"invalid\""));
    assert_non_null(strstr(b.answer, "HTTP/1.1' after the target"));

    client s = {.parts = {"POST /api/v1/demo/nodes/2/start HTTP/1.1\r\n\r\n"}};
    exchange(ctl, &s);
    assert_non_null(strstr(s.answer, "HTTP/1.1 409 Conflict\r\n"));
    assert_non_null(strstr(s.answer, "node2 is already running"));

    /* a page of another site: refused before the handler runs */
    client x = {.parts = {"POST /api/v1/demo/nodes/2/stop HTTP/1.1\r\nHost: 127.0.0.1:8079\r\n"
                          "Origin: http://evil.example\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 2\r\n\r\n{}"}};
    exchange(ctl, &x);
    assert_non_null(strstr(x.answer, "HTTP/1.1 403 Forbidden\r\n"));
    assert_null(strstr(x.answer, "Access-Control-Allow-Origin"));
    assert_non_null(strstr(x.answer, "\"code\": \"forbidden\""));
    assert_non_null(strstr(x.answer, "http://evil.example"));
    /* the dashboard's page, from a trusted node, posting JSON */
    client d = {.parts = {"POST /api/v1/demo/nodes/2/stop HTTP/1.1\r\nHost: 127.0.0.1:8079\r\n"
                          "Origin: http://127.0.0.2:8080\r\nContent-Type: application/json\r\n"
                          "Content-Length: 2\r\n\r\n{}"}};
    exchange(ctl, &d);
    assert_non_null(strstr(d.answer, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(d.answer, "Access-Control-Allow-Origin: http://127.0.0.2:8080\r\n"));

    assert_int_equal(handled, 3);
    assert_int_equal(sb_demo_ctl_requests(ctl), 5); /* BREW never parsed */
    sb_demo_ctl_free(ctl);
}

/* The pure check: who may do what, and which headers it reads. */
static void test_cross_site(void **state)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_ep eps[1];
    assert_int_equal(sb_ep_parse("127.0.0.1:8080", 0, &eps[0]), 0);
    static const struct {
        const char *req;
        int status, cors;
    } cases[] = {
        /* no Origin: curl, scripts */
        {"POST /api/v1/demo/consistency HTTP/1.1\r\n\r\n", 0, 0},
        {"POST /api/v1/demo/consistency HTTP/1.1\r\nContent-Type: text/plain\r\n\r\n", 415, 0},
        /* the dashboard (a demo node's page) and the server itself */
        {"POST /x HTTP/1.1\r\norigin: http://localhost:8080\r\n"
         "content-type: application/json; charset=utf-8\r\n\r\n",
         0, 1},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1:8079\r\nOrigin: http://127.0.0.1:8079\r\n\r\n", 0, 1},
        {"OPTIONS /x HTTP/1.1\r\nOrigin: http://127.0.0.1:8080\r\n\r\n", 0, 1},
        {"GET /x HTTP/1.1\r\nOrigin: http://127.0.0.1:8080\r\n\r\n", 0, 1},
        /* another site: may read nothing, change nothing */
        {"GET /x HTTP/1.1\r\nOrigin: http://evil.example\r\n\r\n", 0, 0},
        {"OPTIONS /x HTTP/1.1\r\nOrigin: http://evil.example\r\n\r\n", 403, 0},
        {"POST /x HTTP/1.1\r\nOrigin: http://127.0.0.1:3000\r\n"
         "Content-Type: application/json\r\n\r\n",
         403, 0},
        {"POST /x HTTP/1.1\r\nOrigin: null\r\n\r\n", 403, 0},
        {"POST /x HTTP/1.1\r\nHost: evil.example:8079\r\nOrigin: http://evil.example:8079\r\n\r\n",
         403, 0},
        {"POST /x HTTP/1.1\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n\r\n", 403,
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb_demo_request req;
        int cors = -1;
        assert_int_equal(parse(cases[i].req, &req, errmsg), 0);
        int st = sb_demo_cross_site(&req, eps, 1, &cors, errmsg);
        if (st != cases[i].status || cors != cases[i].cors)
            fail_msg("case %zu: status %d cors %d (%s)", i, st, cors, errmsg);
    }
    /* two Origins are not guessed between */
    sb_demo_request req;
    assert_int_equal(parse("POST /x HTTP/1.1\r\nOrigin: http://127.0.0.1:8080\r\n"
                           "Origin: http://evil.example\r\n\r\n",
                           &req, errmsg),
                     SB_EBADINPUT);
    assert_non_null(strstr(errmsg, "line 3: a second Origin header"));
    assert_int_equal(parse("GET /x HTTP/1.1\r\nHost:  a:1 \r\n\r\n", &req, errmsg), 0);
    assert_int_equal(req.host_len, 3);
    assert_memory_equal(req.host, "a:1", 3);
    assert_null(req.origin);

    char errmsg2[SB_ERRMSG_SIZE];
    sb_demo_ctl *ctl = NULL;
    assert_int_equal(sb_demo_ctl_open(&ctl, "127.0.0.1:0", 3, handler, NULL, errmsg2), 0);
    assert_int_equal(sb_demo_ctl_trust(ctl, "sibyl.example:8080", errmsg2), SB_EINVAL);
    for (int i = 0; i < SB_DEMO_MAX_TRUSTED; i++)
        assert_int_equal(sb_demo_ctl_trust(ctl, "127.0.0.9:8080", errmsg2), 0);
    assert_int_equal(sb_demo_ctl_trust(ctl, "127.0.0.9:8080", errmsg2), SB_ETOOBIG);
    sb_demo_ctl_free(ctl);
}

static void test_open_errors(void **state)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_demo_ctl *ctl = NULL;
    assert_int_equal(sb_demo_ctl_open(&ctl, "nocolon", 3, handler, NULL, errmsg), SB_EINVAL);
    assert_non_null(strstr(errmsg, "HOST:PORT"));
    sb_demo_ctl *a = NULL;
    assert_int_equal(sb_demo_ctl_open(&a, "127.0.0.1:0", 3, handler, NULL, errmsg), 0);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", sb_demo_ctl_port(a));
    assert_int_equal(sb_demo_ctl_open(&ctl, taken, 3, handler, NULL, errmsg), SB_EIO);
    assert_non_null(strstr(errmsg, "cannot listen on"));
    sb_demo_ctl_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_get),
        cmocka_unit_test(test_parse_post_body_and_incomplete),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_route_endpoints),
        cmocka_unit_test(test_route_partition_and_heal),
        cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_server_round_trip),
        cmocka_unit_test(test_cross_site),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
