/*
 * h2o plumbing for the HTTP API.
 *
 * h2o buffers the whole request entity (bounded by max_request_entity_size,
 * beyond which it answers 413 itself) before calling us, so handlers get
 * the complete body. Each request gets an sb_http_pending; a small slot in
 * the request's memory pool points back at it and is disposed by h2o when
 * the request ends for any reason, which is how a late reply learns that
 * its client is gone.
 *
 * Limits checked here, before any handler runs (docs/http-api.md#limits):
 * a request target over MAX_URL_BYTES gets 414, a header block over
 * MAX_HEADER_BYTES 431, and a body over its endpoint's limit 413 (the
 * line-protocol write endpoint has max_body_bytes, every other endpoint
 * the far smaller max_json_body_bytes). Each of these answers closes the
 * connection. The framing itself (Content-Length, chunked encoding, the
 * size of the whole head) is h2o's, except that a request with repeated
 * Content-Length or Transfer-Encoding fields, or both, gets 400 (see
 * count_framing_fields).
 */
#include "http/server.h"

#include <h2o.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/gossip.h"
#include "coord/coord.h"
#include "http/framing.h"
#include "http/origin.h"
#include "metrics/node_metrics.h"
#include "util/ep.h"
#include "util/err.h"
#include "util/http_reason.h"
#include "util/log.h"

/* Request target (path and query) and header block limits. h2o itself
 * refuses heads beyond ~400 KiB with a bare 400. */
#define MAX_URL_BYTES 8192
#define MAX_HEADER_BYTES 32768

struct sb_http {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    sb_node_view *node;
    size_t max_body_bytes;      /* the line-protocol write endpoint */
    size_t max_json_body_bytes; /* every other endpoint */
    int started;
};

struct sb_http_pending {
    h2o_req_t *req; /* NULL once the request is gone */
    sb_http_pending **slot;
    sb_node_view *node;
    const char *endpoint;
    uint64_t start_ns;
    int echo_origin; /* the request's Origin is trusted: name it in ACAO */
};

typedef struct http_handler {
    h2o_handler_t super;
    sb_http *http;
} http_handler;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_slot_dispose(void *p)
{
    sb_http_pending **slot = p;
    if (*slot) {
        (*slot)->req = NULL;
        (*slot)->slot = NULL;
    }
}

/* The HTTP addresses this node is known by: its own and every member's
 * (the dashboard a member serves polls every node). 1 when o may drive the
 * node (http/origin.h's rule). */
static int origin_trusted(sb_node_view *n, const sb_origin *o, const h2o_iovec_t *authority)
{
    sb_gossip *g = n->cluster ? sb_cluster_gossip(n->cluster) : NULL;
    int nm = g ? sb_gossip_nmembers(g) : 0;
    sb_ep *eps = calloc((size_t)nm + 1, sizeof *eps);
    if (!eps)
        return 0;
    int k = 0;
    if (sb_ep_parse(n->http_addr, 8080, &eps[k]) == 0)
        k++;
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        if (m->http.family)
            sb_origin_member_ep(&m->http, &m->ep, &eps[k++]);
    }
    int ok = sb_origin_trusted(o, authority->base, authority->len, eps, k, n->cors_allowed_origins);
    free(eps);
    return ok;
}

/* A CORS preflight (OPTIONS on any path). A trusted origin gets the
 * methods and headers the API takes (and, from sb_http_reply, itself in
 * Access-Control-Allow-Origin); an untrusted one a 403, so the browser
 * never sends the real request; no Origin (curl) the plain 204. */
static void reply_preflight(sb_http_pending *p, const sb_http_req *r)
{
    h2o_req_t *req = p->req;
    if (r->origin && !r->origin_trusted) {
        sb_http_reply_cross_origin(p, r);
        return;
    }
    static const struct {
        const char *name, *value;
    } hs[] = {
        {"access-control-allow-methods", "GET, POST, OPTIONS"},
        {"access-control-allow-headers", "Content-Type"},
        {"access-control-max-age", "600"},
    };
    /* h2o keeps pointers to the (static) strings. */
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        h2o_add_header_by_str(&req->pool, &req->res.headers, hs[i].name, strlen(hs[i].name), 0,
                              NULL, hs[i].value, strlen(hs[i].value));
    sb_http_reply(p, 204, "text/plain", NULL, 0);
}

/* Bytes of the header block as the client sent it, near enough: every
 * field h2o kept plus the ones it consumed (Host; Content-Length and
 * Transfer-Encoding are short). */
static size_t header_bytes(const h2o_req_t *req)
{
    size_t n = req->authority.len + 8;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

/* Counts the Content-Length and Transfer-Encoding fields the client sent.
 * h2o 2.2 frames a body by the first Content-Length, or by
 * Transfer-Encoding over any Content-Length, and keeps neither field in
 * req->headers; a request carrying several, or both, may have been framed
 * differently by a proxy in front (request smuggling). While the request
 * is handled its head is still at the start of the connection's input
 * buffer (h2o consumes it after the response), so it is scanned there.
 * 0, or -1 when the buffer does not start with this request's head. */
static int count_framing_fields(const h2o_req_t *req, int *cl, int *te)
{
    *cl = *te = 0;
    h2o_socket_t *sock = req->version < 0x200 && req->conn->callbacks->get_socket
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    if (!sock || !sock->input)
        return -1;
    const char *b = sock->input->bytes;
    size_t n = sock->input->size, m = req->input.method.len, pl = req->input.path.len;
    if (n < m + 1 + pl || memcmp(b, req->input.method.base, m) != 0 || b[m] != ' ' ||
        memcmp(b + m + 1, req->input.path.base, pl) != 0)
        return -1;
    return sb_http_framing_fields(b, n, cl, te);
}

/* The limit check of on_req: 0, or the error already sent (and the
 * connection marked to close after it). */
static int check_limits(sb_http *h, sb_http_pending *p, h2o_req_t *req)
{
    char msg[200];
    int status = 0;
    const char *code = NULL;
    size_t hb = header_bytes(req);
    int is_write = req->query_at != SIZE_MAX ? req->query_at == 13 : req->path.len == 13;
    is_write = is_write && memcmp(req->path.base, "/api/v2/write", 13) == 0;
    size_t body_max = is_write ? h->max_body_bytes : h->max_json_body_bytes;
    size_t body_len = req->entity.base ? req->entity.len : 0;
    int cl, te;
    if (count_framing_fields(req, &cl, &te) == 0 && (cl > 1 || te > 1 || (cl && te))) {
        status = 400;
        code = "bad_request";
        snprintf(msg, sizeof msg,
                 "ambiguous body framing: %d Content-Length and %d Transfer-Encoding fields (send "
                 "one Content-Length or one Transfer-Encoding: chunked)",
                 cl, te);
    } else if (req->path.len > MAX_URL_BYTES) {
        status = 414;
        code = "uri_too_long";
        snprintf(msg, sizeof msg, "request target of %zu bytes exceeds the limit of %d bytes",
                 req->path.len, MAX_URL_BYTES);
    } else if (hb > MAX_HEADER_BYTES) {
        status = 431;
        code = "header_fields_too_large";
        snprintf(msg, sizeof msg, "request header fields of about %zu bytes exceed the limit of %d",
                 hb, MAX_HEADER_BYTES);
    } else if (body_len > body_max) {
        status = 413;
        code = "payload_too_large";
        snprintf(msg, sizeof msg, "request body of %zu bytes exceeds this endpoint's limit of %zu",
                 body_len, body_max);
    }
    if (!status)
        return 0;
    req->http1_is_persistent = 0; /* what follows on the connection is suspect */
    sb_http_reply_error(p, status, code, msg);
    return -1;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    sb_http *h = ((http_handler *)self)->http;
    sb_http_pending *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->req = req;
    p->node = h->node;
    p->endpoint = "other";
    p->start_ns = now_ns();
    p->slot = h2o_mem_alloc_shared(&req->pool, sizeof *p->slot, on_slot_dispose);
    *p->slot = p;
    if (check_limits(h, p, req) != 0)
        return 0;

    sb_http_req r;
    memset(&r, 0, sizeof r);
    r.method = req->method.base;
    r.method_len = req->method.len;
    r.path = req->path.base;
    r.path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (req->query_at != SIZE_MAX) {
        r.query = req->path.base + req->query_at + 1;
        r.query_len = req->path.len - req->query_at - 1;
    }
    r.body = (const uint8_t *)req->entity.base;
    r.body_len = req->entity.base ? req->entity.len : 0;
    ssize_t ce = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1);
    if (ce != -1) {
        r.content_encoding = req->headers.entries[ce].value.base;
        r.content_encoding_len = req->headers.entries[ce].value.len;
    }
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (ct != -1) {
        r.content_type = req->headers.entries[ct].value.base;
        r.content_type_len = req->headers.entries[ct].value.len;
    }
    ssize_t og = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (og != -1) {
        sb_origin o;
        r.origin = req->headers.entries[og].value.base;
        r.origin_len = req->headers.entries[og].value.len;
        r.origin_trusted = sb_origin_parse(r.origin, r.origin_len, &o) == 0 &&
                           origin_trusted(h->node, &o, &req->authority);
        p->echo_origin = r.origin_trusted;
    }
    r.pending = p;
    if (r.method_len == 7 && memcmp(r.method, "OPTIONS", 7) == 0) {
        reply_preflight(p, &r);
        return 0;
    }
    sb_http_dispatch(h->node, &r);
    return 0;
}

void sb_http_reply(sb_http_pending *p, int status, const char *content_type, const void *body,
                   size_t len)
{
    h2o_req_t *req = p->req;
    double secs = (double)(now_ns() - p->start_ns) / 1e9;
    if (p->node && p->node->m)
        node_metrics_observe_http(p->node->m, p->endpoint, status, secs);
    if (req) {
        *p->slot = NULL;
        req->res.status = status;
        req->res.reason = sb_http_reason(status);
        const char *ct = content_type ? content_type : "application/json";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct, strlen(ct));
        /* The answer depends on Origin: caches must not mix them up. */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
        if (p->echo_origin) {
            ssize_t og = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
            if (og != -1)
                h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN,
                               NULL, req->headers.entries[og].value.base,
                               req->headers.entries[og].value.len);
        }
        /* A known length keeps the connection alive: without one, h2o
         * 2.2's chunked filter closes it after any status but 200, so a
         * client's 400, 503 or 504 would also cost it its connection. */
        if (status == 204) {
            h2o_send_inline(req, "", 0);
        } else {
            req->res.content_length = body ? len : 0;
            h2o_send_inline(req, body ? body : "", body ? len : 0);
        }
    }
    free(p);
}

void sb_http_reply_error(sb_http_pending *p, int status, const char *code, const char *msg)
{
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_printf(&b, "{\"error\": {\"code\": ");
    sb_json_append_string(&b, code, strlen(code));
    sb_buf_printf(&b, ", \"message\": ");
    sb_json_append_string(&b, msg, strlen(msg));
    sb_buf_printf(&b, "}}\n");
    sb_http_reply(p, status, NULL, b.data, b.len);
    sb_buf_free(&b);
}

void sb_http_reply_cross_origin(sb_http_pending *p, const sb_http_req *r)
{
    /* the header is the client's bytes: printable ASCII only in the message */
    char shown[201], msg[512];
    size_t n = r->origin_len < sizeof shown - 1 ? r->origin_len : sizeof shown - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)r->origin[i];
        shown[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    shown[n] = 0;
    snprintf(msg, sizeof msg,
             "cross-origin request from %s refused: this node takes requests that change "
             "state only from its own pages, its cluster members' and the origins in "
             "http.cors_allowed_origins (docs/http-api.md, \"Cross-origin requests\")",
             shown);
    sb_http_reply_error(p, 403, "forbidden", msg);
}

void sb_http_reply_err(sb_http_pending *p, int rv, const char *msg)
{
    sb_http_reply_error(p, sb_err_http_status(rv), sb_err_http_code(rv),
                        msg && msg[0] ? msg : sb_strerror(rv));
}

void sb_http_pending_set_endpoint(sb_http_pending *p, const char *endpoint)
{
    p->endpoint = endpoint;
}

void sb_http_pending_add_header(sb_http_pending *p, const char *name, const char *value)
{
    h2o_req_t *req = p->req;
    if (!req)
        return;
    size_t nlen = strlen(name), vlen = strlen(value);
    h2o_add_header_by_str(&req->pool, &req->res.headers, h2o_strdup(&req->pool, name, nlen).base,
                          nlen, 1, NULL, h2o_strdup(&req->pool, value, vlen).base, vlen);
}

static void on_accept(uv_stream_t *listener, int status)
{
    sb_http *h = listener->data;
    if (status != 0)
        return;
    uv_tcp_t *conn = malloc(sizeof *conn);
    if (!conn)
        return;
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&h->accept_ctx, sock);
}

int sb_http_start(sb_http **out, uv_loop_t *loop, const char *hostport, size_t max_body_bytes,
                  size_t max_json_body_bytes, sb_node_view *node, char *errmsg)
{
    char host[128];
    int port, rv;
    struct sockaddr_storage addr;
    if (sb_parse_hostport(hostport, 8080, host, sizeof host, &port) != 0)
        return sb_seterr(errmsg, SB_ECONFIG, "invalid HTTP address '%s'", hostport);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
        return sb_seterr(errmsg, SB_ECONFIG, "invalid HTTP host '%s' (expected an IP address)",
                         host);

    sb_http *h = calloc(1, sizeof *h);
    if (!h)
        return SB_ENOMEM;
    h->node = node;
    h->max_body_bytes = max_body_bytes;
    h->max_json_body_bytes =
        max_json_body_bytes < max_body_bytes ? max_json_body_bytes : max_body_bytes;
    h2o_config_init(&h->config);
    h->config.max_request_entity_size = max_body_bytes;
    h->config.server_name = h2o_iovec_init(H2O_STRLIT("sibyl"));
    h2o_hostconf_t *hc =
        h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(hc, "/", 0);
    http_handler *hd = (http_handler *)h2o_create_handler(pc, sizeof *hd);
    hd->super.on_req = on_req;
    hd->http = h;
    h2o_context_init(&h->ctx, loop, &h->config);
    h->accept_ctx.ctx = &h->ctx;
    h->accept_ctx.hosts = h->config.hosts;
    h->started = 1;

    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    if ((rv = uv_tcp_bind(&h->listener, (struct sockaddr *)&addr, 0)) != 0 ||
        (rv = uv_listen((uv_stream_t *)&h->listener, 1024, on_accept)) != 0) {
        sb_seterr(errmsg, SB_EIO, "cannot listen for HTTP on %s: %s", hostport, uv_strerror(rv));
        sb_http_stop(h);
        return SB_EIO;
    }
    *out = h;
    return 0;
}

static void on_listener_closed(uv_handle_t *handle)
{
    /* The h2o context is left to process exit: connections that are still
     * open reference it, and the node stops right after this. */
    (void)handle;
}

void sb_http_stop(sb_http *h)
{
    if (!h || uv_is_closing((uv_handle_t *)&h->listener))
        return;
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
