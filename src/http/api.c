/*
 * HTTP API routes (see docs/http-api.md):
 *
 *   GET  /health                 liveness + readiness
 *   GET  /metrics                Prometheus text format
 *   POST /api/v1/cql             {"query": "...", "consistency": "..."}
 *   POST /api/v2/write           InfluxDB 2 line protocol (?bucket=&precision=)
 *   POST /api/v1/admin/compact   flush and compact every table (benchmarks)
 *   GET  /api/v1/cluster         members, ring, ownership (cluster_api.c)
 *   GET  /api/v1/raft            the metadata Raft group (raft_api.c)
 *   GET  /api/v1/stats           live counters and histograms (stats_api.c)
 *   GET  /api/v1/events          event timeline (events_api.c)
 *   GET/POST /api/v1/fault       network fault injection (fault_api.c)
 *   GET  /api/v1/replicas        replicas of a partition key (replica_api.c)
 *   GET  /api/v1/local           this node's copy of a partition (replica_api.c)
 *   GET/POST /api/v1/streams     range streaming sessions (stream_api.c)
 *   GET  /, /assets/<file>       the web dashboard (static.c)
 *
 * Every error is {"error": {"code": "...", "message": "..."}} with a 4xx or
 * 5xx status.
 *
 * Cross-site requests (docs/http-api.md, "Cross-origin requests"): a POST
 * from an Origin that is not the node, a cluster member or in
 * http.cors_allowed_origins is refused with 403 before anything runs, and
 * the JSON endpoints refuse bodies of any other Content-Type with 415.
 * Answers name a trusted Origin in Access-Control-Allow-Origin (server.c),
 * never "*".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/handlers.h"
#include "http/origin.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "metrics/node_view.h"
#include "storage/store.h"
#include "util/err.h"
#include "util/hex.h"

static int eq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    return alen == n && memcmp(a, lit, n) == 0;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void handle_health(sb_node_view *n, sb_http_req *req)
{
    sb_buf b;
    sb_buf_init(&b);
    /* Starting: gossip has not settled and the CQL port is not open yet. */
    sb_buf_printf(&b, "{\"status\": \"%s\", \"uptime_seconds\": %.3f, ",
                  n->disk_stopped ? "stopped"
                  : n->ready      ? "ok"
                                  : "starting",
                  wall_s() - n->start_time_s);
    if (n->settle_note[0]) {
        sb_buf_printf(&b, n->ready ? "\"not_heard_at_start\": " : "\"waiting_for\": ");
        sb_json_append_string(&b, n->settle_note, strlen(n->settle_note));
        sb_buf_printf(&b, ", ");
    }
    /* A node that refuses writes still serves reads: it stays healthy
     * (200) and says why; disk_failure_policy=stop makes it 503. */
    sb_disk_status ds;
    sb_store_disk_status(n->store, &ds);
    sb_buf_printf(&b,
                  "\"read_only\": %s, \"disk\": {\"state\": \"%s\", \"free_bytes\": %llu, "
                  "\"total_bytes\": %llu, \"min_free_bytes\": %llu, \"reason\": ",
                  ds.state != SB_DISK_OK ? "true" : "false",
                  n->disk_stopped ? "stopped" : sb_disk_state_name(ds.state),
                  (unsigned long long)ds.free_bytes, (unsigned long long)ds.total_bytes,
                  (unsigned long long)ds.min_free_bytes);
    if (ds.state != SB_DISK_OK)
        sb_json_append_string(&b, ds.reason, strlen(ds.reason));
    else
        sb_buf_printf(&b, "null");
    sb_buf_printf(&b, "}, \"http\": ");
    sb_json_append_string(&b, n->http_addr, strlen(n->http_addr));
    sb_buf_printf(&b, ", \"dc\": ");
    sb_json_append_string(&b, n->dc, strlen(n->dc));
    sb_buf_printf(&b, ", \"rack\": ");
    sb_json_append_string(&b, n->rack, strlen(n->rack));
    sb_buf_printf(&b, ", \"demo_control\": ");
    if (n->demo_control[0])
        sb_json_append_string(&b, n->demo_control, strlen(n->demo_control));
    else
        sb_buf_printf(&b, "null");
    sb_buf_printf(&b, "}\n");
    sb_http_reply(req->pending, n->ready && !n->disk_stopped ? 200 : 503, NULL, b.data, b.len);
    sb_buf_free(&b);
}

static void handle_metrics(sb_node_view *n, sb_http_req *req)
{
    sb_buf b;
    sb_buf_init(&b);
    if (sb_metrics_render(n->metrics, &b) != 0)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory rendering metrics");
    else
        sb_http_reply(req->pending, 200, SB_METRICS_CONTENT_TYPE, b.data, b.len);
    sb_buf_free(&b);
}

/* Compaction runs on libuv's thread pool: it takes seconds to minutes and
 * must never stall the loop. Concurrent requests each compact (RocksDB
 * serialises manual compactions itself). */
typedef struct compact_job {
    uv_work_t work;
    sb_store *store;
    sb_http_pending *pending;
    int rv;
    char errmsg[SB_ERRMSG_SIZE];
} compact_job;

static void compact_work(uv_work_t *w)
{
    compact_job *j = w->data;
    j->rv = sb_store_compact_all(j->store, j->errmsg);
}

static void compact_done(uv_work_t *w, int status)
{
    compact_job *j = w->data;
    if (status != 0 || j->rv != 0)
        sb_http_reply_err(j->pending, SB_ESERVER,
                          j->errmsg[0] ? j->errmsg : "compaction cancelled");
    else
        sb_http_reply(j->pending, 200, NULL, "{\"status\": \"ok\"}\n", 17);
    free(j);
}

static void handle_compact(sb_node_view *n, sb_http_req *req)
{
    compact_job *j = calloc(1, sizeof *j);
    if (!j) {
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
        return;
    }
    j->work.data = j;
    j->store = n->store;
    j->pending = req->pending;
    if (uv_queue_work(n->loop, &j->work, compact_work, compact_done) != 0) {
        sb_http_reply_err(req->pending, SB_ESERVER, "cannot queue compaction");
        free(j);
    }
}

/* A POST that a web page on another site could have sent is refused
 * before its handler runs: an untrusted Origin gets 403; a JSON endpoint's
 * body with another Content-Type gets 415, since the types a page may
 * send without a preflight (a form's, text/plain) are never JSON, and a
 * browser that sends no Origin with a form is stopped by its type. No
 * Content-Type (curl without -d, Python's requests with bytes) passes:
 * a page cannot send a body without one. Returns 1 when it replied. */
static int refuse_cross_site(sb_http_req *req, const char *path, int json)
{
    if (req->origin && !req->origin_trusted) {
        sb_http_reply_cross_origin(req->pending, req);
        return 1;
    }
    if (json && req->content_type &&
        !sb_content_type_is_json(req->content_type, req->content_type_len)) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%s takes a JSON body: send Content-Type: application/json (curl: -H "
                 "'Content-Type: application/json'), not '%.*s'",
                 path, (int)(req->content_type_len > 100 ? 100 : req->content_type_len),
                 req->content_type);
        sb_http_reply_error(req->pending, 415, "unsupported_media_type", msg);
        return 1;
    }
    return 0;
}

void sb_http_dispatch(sb_node_view *n, sb_http_req *req)
{
    int get = eq(req->method, req->method_len, "GET") || eq(req->method, req->method_len, "HEAD");
    int post = eq(req->method, req->method_len, "POST");
    static const struct {
        const char *path;
        int method; /* 0 GET, 1 POST, 2 both */
        int json;   /* a POST body, if any, must be application/json */
        void (*fn)(sb_node_view *, sb_http_req *);
    } routes[] = {
        {"/health", 0, 0, handle_health},
        {"/metrics", 0, 0, handle_metrics},
        {"/api/v1/cql", 1, 1, sb_http_handle_cql},
        /* line protocol: InfluxDB clients send text/plain, curl a form type */
        {"/api/v2/write", 1, 0, sb_http_handle_write},
        {"/api/v1/admin/compact", 1, 1, handle_compact},
        {"/api/v1/cluster", 0, 0, sb_http_handle_cluster},
        {"/api/v1/stats", 0, 0, sb_http_handle_stats},
        {"/api/v1/raft", 0, 0, sb_http_handle_raft},
        {"/api/v1/events", 0, 0, sb_http_handle_events},
        {"/api/v1/fault", 2, 1, sb_http_handle_fault},
        {"/api/v1/fault/disk", 1, 1, sb_http_handle_disk_fault},
        {"/api/v1/replicas", 0, 0, sb_http_handle_replicas},
        {"/api/v1/local", 0, 0, sb_http_handle_local},
        {"/api/v1/streams", 2, 1, sb_http_handle_streams},
        {"/", 0, 0, sb_http_handle_static},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!eq(req->path, req->path_len, routes[i].path))
            continue;
        sb_http_pending_set_endpoint(req->pending, routes[i].path);
        if ((routes[i].method == 0 && !get) || (routes[i].method == 1 && !post) ||
            (routes[i].method == 2 && !get && !post)) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s only accepts %s", routes[i].path,
                     routes[i].method == 2 ? "GET and POST"
                     : routes[i].method    ? "POST"
                                           : "GET");
            sb_http_reply_err(req->pending, SB_EMETHOD, msg);
            return;
        }
        if (post && refuse_cross_site(req, routes[i].path, routes[i].json))
            return;
        routes[i].fn(n, req);
        return;
    }
    /* The dashboard's files: one prefix, looked up in static.c's table. */
    if (req->path_len > 8 && memcmp(req->path, "/assets/", 8) == 0) {
        sb_http_pending_set_endpoint(req->pending, "/assets");
        if (!get) {
            sb_http_reply_err(req->pending, SB_EMETHOD, "/assets only accepts GET");
            return;
        }
        sb_http_handle_static(n, req);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "no such endpoint: %.*s",
             (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
    sb_http_reply_err(req->pending, SB_ENOTFOUND, msg);
}

int sb_http_query_param(const sb_http_req *req, const char *name, char *out, size_t outlen)
{
    const char *q = req->query, *end = req->query + req->query_len;
    size_t nlen = strlen(name);
    if (!q)
        return 0;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eqs = memchr(q, '=', (size_t)(pe - q));
        const char *ke = eqs ? eqs : pe;
        if ((size_t)(ke - q) == nlen && memcmp(q, name, nlen) == 0) {
            size_t o = 0;
            for (const char *v = eqs ? eqs + 1 : pe; v < pe; v++) {
                int c = (unsigned char)*v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    uint8_t byte;
                    if (pe - v < 3 || sb_hex_decode(&byte, v + 1, 2) != 0)
                        return -1;
                    c = byte;
                    v += 2;
                }
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = 0;
            return 1;
        }
        q = pe + 1;
    }
    return 0;
}
