#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/httpc.h"
#include "util/err.h"

/* A scripted one-thread HTTP server on 127.0.0.1. */
typedef struct server {
    int lfd;
    int port;
    pthread_t thread;
    char bodies[4][256]; /* request bodies received, in order */
    int nbodies;
} server;

/* Reads one request (headers + Content-Length body); 0 on EOF. */
static int read_request(int fd, server *s)
{
    char buf[8192];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    char *cl = strstr(buf, "Content-Length: ");
    size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    while (have < want) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        have += (size_t)r;
    }
    buf[len] = '\0';
    if (s->nbodies < 4)
        snprintf(s->bodies[s->nbodies++], 256, "%s", end + 4);
    return 1;
}

static void send_str(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void *serve(void *arg)
{
    server *s = arg;
    /* connection 1: one 204, then the server drops the idle connection */
    int fd = accept(s->lfd, NULL, NULL);
    if (read_request(fd, s))
        send_str(fd, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
    close(fd);
    /* connection 2: a chunked 400, then a 200 with Connection: close */
    fd = accept(s->lfd, NULL, NULL);
    if (read_request(fd, s))
        send_str(fd, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "c\r\n{\"error\": {\"\r\n"
                     "1c\r\ncode\": \"invalid\", \"line\": 2}\r\n"
                     "2\r\n}\n\r\n0\r\n\r\n");
    if (read_request(fd, s))
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    close(fd);
    return NULL;
}

static void start(server *s)
{
    memset(s, 0, sizeof *s);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void test_keepalive_retry_chunked_close(void **state)
{
    server s;
    start(&s);
    char target[64], errmsg[SB_ERRMSG_SIZE];
    snprintf(target, sizeof target, "127.0.0.1:%d", s.port);
    sb_httpc c;
    assert_int_equal(sb_httpc_init(&c, target, 5000, errmsg), 0);
    sb_http_resp r;
    assert_int_equal(
        sb_httpc_request(&c, "POST", "/api/v2/write?bucket=b", "text/plain", "one", 3, &r, errmsg),
        0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body.len, 0);
    sb_buf_free(&r.body);
    usleep(50000); /* let the server close the idle connection */
    /* reused connection is dead: the client retries once on a new one */
    assert_int_equal(sb_httpc_request(&c, "POST", "/x", "text/plain", "two", 3, &r, errmsg), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(sb_buf_cstr(&r.body),
                        "{\"error\": {\"code\": \"invalid\", \"line\": 2}}\n");
    sb_buf_free(&r.body);
    assert_int_equal(sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &r, errmsg), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(sb_buf_cstr(&r.body), "ok");
    assert_int_equal(c.fd, -1); /* Connection: close honoured */
    sb_buf_free(&r.body);
    pthread_join(s.thread, NULL);
    assert_int_equal(s.nbodies, 3);
    assert_string_equal(s.bodies[0], "one");
    assert_string_equal(s.bodies[1], "two");
    assert_string_equal(s.bodies[2], "");
    close(s.lfd);
    sb_httpc_close(&c);
}

static void test_node_down_and_bad_targets(void **state)
{
    /* a port with nothing listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    char target[64], errmsg[SB_ERRMSG_SIZE];
    snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(a.sin_port));
    sb_httpc c;
    assert_int_equal(sb_httpc_init(&c, target, 2000, errmsg), 0);
    sb_http_resp r;
    assert_int_equal(sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &r, errmsg), SB_EIO);
    assert_non_null(strstr(errmsg, "cannot connect"));
    sb_buf_free(&r.body);
    sb_httpc_close(&c);

    assert_int_equal(sb_httpc_init(&c, "localhost", 1000, errmsg), SB_EINVAL);
    assert_non_null(strstr(errmsg, "HOST:PORT"));
    assert_int_equal(sb_httpc_init(&c, "localhost:99999", 1000, errmsg), SB_EINVAL);
    assert_int_equal(sb_httpc_init(&c, "[::1]:8080", 1000, errmsg), 0);
    assert_string_equal(c.host, "::1");
    assert_string_equal(c.port, "8080");
    sb_httpc_close(&c);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Answers the first request on the first connection, then reads the
 * second and never answers it; holds the connection until the client
 * closes it. */
static void *serve_then_hang(void *arg)
{
    server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (read_request(fd, s))
        send_str(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    if (read_request(fd, s)) {
        char b[64];
        while (read(fd, b, sizeof b) > 0) {
        }
    }
    close(fd);
    return NULL;
}

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A request that times out on a reused connection is not sent again on a
 * fresh one: the wait is one timeout, not two. */
static void test_timeout_is_not_retried(void **state)
{
    server s;
    memset(&s, 0, sizeof s);
    s.lfd = listener(&s.port);
    assert_int_equal(pthread_create(&s.thread, NULL, serve_then_hang, &s), 0);
    char target[64], errmsg[SB_ERRMSG_SIZE];
    snprintf(target, sizeof target, "127.0.0.1:%d", s.port);
    sb_httpc c;
    assert_int_equal(sb_httpc_init(&c, target, 400, errmsg), 0);
    sb_http_resp r;
    assert_int_equal(sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &r, errmsg), 0);
    assert_int_equal(r.status, 204);
    sb_buf_free(&r.body);
    double t0 = now_s();
    assert_int_equal(sb_httpc_request(&c, "POST", "/w", "text/plain", "x", 1, &r, errmsg), SB_EIO);
    double took = now_s() - t0;
    sb_buf_free(&r.body);
    assert_non_null(strstr(errmsg, "no answer from"));
    assert_true(c.timed_out);
    assert_true(took >= 0.35 && took < 0.75); /* a retry would take 0.8 s */
    sb_httpc_close(&c);                       /* the server sees EOF and ends */
    pthread_join(s.thread, NULL);
    assert_int_equal(s.nbodies, 2);
    close(s.lfd);
}

static void *wake_later(void *arg)
{
    usleep(150000);
    uint64_t one = 1;
    assert_int_equal(write(*(int *)arg, &one, sizeof one), (ssize_t)sizeof one);
    return NULL;
}

/* A wait on a server that never answers ends as soon as another thread
 * writes to wake_fd, long before the timeout. */
static void test_wake_fd_interrupts(void **state)
{
    int port = 0;
    int lfd = listener(&port); /* never accepts: the kernel's backlog connects */
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(efd >= 0);
    char target[64], errmsg[SB_ERRMSG_SIZE];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    sb_httpc c;
    assert_int_equal(sb_httpc_init(&c, target, 10000, errmsg), 0);
    assert_int_equal(c.wake_fd, -1);
    c.wake_fd = efd;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wake_later, &efd), 0);
    double t0 = now_s();
    sb_http_resp r;
    assert_int_equal(sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &r, errmsg), SB_EIO);
    double took = now_s() - t0;
    sb_buf_free(&r.body);
    pthread_join(t, NULL);
    assert_string_equal(errmsg, "interrupted");
    assert_true(took >= 0.1 && took < 2.0);
    /* still woken: the next request gives up at once */
    t0 = now_s();
    assert_int_equal(sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &r, errmsg), SB_EIO);
    sb_buf_free(&r.body);
    assert_true(now_s() - t0 < 1.0);
    sb_httpc_close(&c);
    close(efd);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_retry_chunked_close),
        cmocka_unit_test(test_node_down_and_bad_targets),
        cmocka_unit_test(test_timeout_is_not_retried),
        cmocka_unit_test(test_wake_fd_interrupts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
