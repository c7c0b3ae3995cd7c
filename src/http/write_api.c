/*
 * POST /api/v2/write?bucket=KEYSPACE&precision=ns|us|ms|s[&org=...]
 *
 * InfluxDB 2's write endpoint, so Telegraf's influxdb_v2 output and
 * InfluxDB client libraries work unchanged: gzip bodies
 * (Content-Encoding: gzip), 204 on success, 400 naming the line on bad
 * input, 413 when too large, 503 when the commit queue is full, 504 when
 * the replicas did not acknowledge in time, 507 when a replica refused the
 * write for lack of disk space (the connection stays open). The
 * Authorization header is accepted and ignored (authentication is a later
 * issue). Batch semantics are in ingest.h: all or nothing per request.
 */
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "http/handlers.h"
#include "cql/cql.h"
#include "ingest/ingest.h"
#include "util/err.h"

static void on_durable(void *arg, const sb_write_result *r)
{
    sb_http_pending *p = arg;
    int status = r->status;
    if (status == 0) {
        sb_http_reply(p, 204, NULL, NULL, 0);
        return;
    }
    char msg[SB_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "write failed: %s", sb_strerror(status));
    if (status == SB_EOVERLOADED) {
        snprintf(msg, sizeof msg,
                 "write rejected: overloaded (a replica's write queue is full); retry later "
                 "or send less at once");
    } else if (status == SB_ETIMEOUT) {
        snprintf(msg, sizeof msg,
                 "write timed out: not enough replicas acknowledged it within the coordinator's "
                 "write timeout (replicas overloaded or unreachable); it may still be applied, "
                 "and resending points that carry their own timestamps is safe");
    } else if (r->message[0]) {
        /* disk full or failed: the coordinator's message names the node
         * and the path */
        snprintf(msg, sizeof msg, "write failed: %s", r->message);
    }
    sb_http_reply_err(p, status, msg);
}

/* A write whose points need schema changes: the changes go through the
 * metadata group one statement at a time, then the body is ingested again
 * (a few rounds at most: another request may change the table meanwhile). */
#define DDL_ROUNDS 4
/* After the schema changes, the points wait until every live node has
 * applied them (the schema agreement drivers wait for after DDL), so that
 * no replica refuses a row of a table it does not know yet. */
#define AGREE_POLL_MS 10
#define AGREE_MAX_MS 5000

typedef struct schema_wait {
    sb_node_view *n;
    sb_http_pending *p;
    int cl;
    char bucket[256], precision[16];
    sb_buf body;
    sb_buf ddl;
    size_t next; /* offset of the next statement in ddl */
    int rounds;
    int last_status;
    char last_msg[SB_ERRMSG_SIZE];
    uv_timer_t timer;
    uint64_t waited_ms;
} schema_wait;

static void on_timer_closed(uv_handle_t *h)
{
    schema_wait *w = h->data;
    sb_buf_free(&w->body);
    sb_buf_free(&w->ddl);
    free(w);
}

static void schema_wait_free(schema_wait *w)
{
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

static void run_schema(schema_wait *w);
static void ingest_again(schema_wait *w);

static void on_agree_poll(uv_timer_t *t)
{
    schema_wait *w = t->data;
    if (w->waited_ms >= AGREE_MAX_MS || !w->n->cluster || sb_cluster_schema_agreed(w->n->cluster)) {
        ingest_again(w); /* past the bound, the writes say what they meet */
        return;
    }
    w->waited_ms += AGREE_POLL_MS;
    uv_timer_start(&w->timer, on_agree_poll, AGREE_POLL_MS, 0);
}

/* Ingests the body; 1 when it went on (answered or in flight), 0 when the
 * schema must change first. */
static int ingest_round(schema_wait *w)
{
    char errmsg[SB_ERRMSG_SIZE] = "";
    sb_node_view *n = w->n;
    int rv = sb_ingest_write_cluster(n->store, n->cluster_write, n->cluster_write_arg, w->cl,
                                     w->bucket, w->precision, (const char *)w->body.data,
                                     w->body.len, &w->ddl, on_durable, w->p, errmsg);
    if (rv == SB_INGEST_NEEDS_SCHEMA)
        return 0;
    if (rv)
        sb_http_reply_err(w->p, rv, errmsg);
    return 1;
}

static void on_schema_step(void *arg, int status, const sb_cql_error *detail)
{
    schema_wait *w = arg;
    if (status != 0) {
        /* kept for the answer if the retries run out; a change another
         * request made meanwhile ("already exists") is no failure */
        w->last_status = status;
        snprintf(w->last_msg, sizeof w->last_msg, "%s",
                 detail && detail->message[0] ? detail->message : sb_strerror(status));
        if (status == SB_EUNAVAILABLE || status == SB_ETIMEOUT || status == SB_ECLOSED) {
            char msg[SB_ERRMSG_SIZE + 64];
            snprintf(msg, sizeof msg, "schema change for these points failed: %s", w->last_msg);
            sb_http_reply_err(w->p, status, msg);
            schema_wait_free(w);
            return;
        }
    }
    run_schema(w);
}

static void run_schema(schema_wait *w)
{
    while (w->next < w->ddl.len) {
        const char *stmt = (const char *)w->ddl.data + w->next;
        size_t len = strlen(stmt);
        w->next += len + 1;
        int rc = w->n->ddl(w->n->ddl_arg, "", stmt, len, on_schema_step, w);
        if (rc == 0)
            return; /* on_schema_step goes on */
        w->last_status = rc;
        snprintf(w->last_msg, sizeof w->last_msg, "%s", sb_strerror(rc));
    }
    /* every statement ran: wait for the others to apply them, then ingest
     * again */
    w->waited_ms = 0;
    on_agree_poll(&w->timer);
}

static void ingest_again(schema_wait *w)
{
    if (++w->rounds > DDL_ROUNDS) {
        char msg[SB_ERRMSG_SIZE + 64];
        snprintf(msg, sizeof msg, "the schema these points need could not be made: %s",
                 w->last_msg[0] ? w->last_msg : "it kept changing");
        sb_http_reply_err(w->p, w->last_status ? w->last_status : SB_ESERVER, msg);
        schema_wait_free(w);
        return;
    }
    w->next = 0;
    if (ingest_round(w)) {
        schema_wait_free(w);
        return;
    }
    run_schema(w);
}

void sb_http_handle_write(sb_node_view *n, sb_http_req *req)
{
    char bucket[256], precision[16] = "ns", errmsg[SB_ERRMSG_SIZE] = "";
    int rv = sb_http_query_param(req, "bucket", bucket, sizeof bucket);
    if (rv <= 0) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          rv == 0 ? "missing query parameter 'bucket' (the keyspace to write to)"
                                  : "query parameter 'bucket' is malformed or too long");
        return;
    }
    rv = sb_http_query_param(req, "precision", precision, sizeof precision);
    if (rv < 0) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          "query parameter 'precision' must be ns, us, ms or s");
        return;
    }
    char clname[32] = "";
    int cl = SB_CL_ONE;
    rv = sb_http_query_param(req, "consistency", clname, sizeof clname);
    if (rv < 0 || (rv > 0 && sb_consistency_parse(clname, strlen(clname), &cl) != 0)) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          "query parameter 'consistency' must be a consistency level such as "
                          "ONE or QUORUM");
        return;
    }
    sb_buf plain;
    sb_buf_init(&plain);
    const char *body = (const char *)req->body;
    size_t len = req->body_len;
    if (req->content_encoding) {
        if (req->content_encoding_len == 4 && !strncasecmp(req->content_encoding, "gzip", 4)) {
            rv = sb_ingest_gunzip(req->body, req->body_len, SB_INGEST_MAX_BODY_BYTES, &plain,
                                  errmsg);
            if (rv) {
                sb_http_reply_err(req->pending, rv, errmsg);
                sb_buf_free(&plain);
                return;
            }
            body = (const char *)plain.data;
            len = plain.len;
        } else if (!(req->content_encoding_len == 8 &&
                     !strncasecmp(req->content_encoding, "identity", 8))) {
            snprintf(errmsg, sizeof errmsg, "unsupported Content-Encoding '%.*s' (use gzip)",
                     (int)(req->content_encoding_len > 64 ? 64 : req->content_encoding_len),
                     req->content_encoding);
            sb_http_reply_error(req->pending, 415, "invalid", errmsg);
            return;
        }
    }
    if (!n->ddl) {
        rv = sb_ingest_write_to(n->store, n->cluster_write, n->cluster_write_arg, cl, bucket,
                                precision, body ? body : "", len, on_durable, req->pending, errmsg);
        sb_buf_free(&plain);
        if (rv)
            sb_http_reply_err(req->pending, rv, errmsg);
        return;
    }
    sb_buf ddl;
    sb_buf_init(&ddl);
    rv = sb_ingest_write_cluster(n->store, n->cluster_write, n->cluster_write_arg, cl, bucket,
                                 precision, body ? body : "", len, &ddl, on_durable, req->pending,
                                 errmsg);
    if (rv != SB_INGEST_NEEDS_SCHEMA) {
        sb_buf_free(&plain);
        sb_buf_free(&ddl);
        if (rv)
            sb_http_reply_err(req->pending, rv, errmsg);
        return;
    }
    /* new keyspace, table or columns: through the Raft group first */
    schema_wait *w = calloc(1, sizeof *w);
    if (!w) {
        sb_buf_free(&plain);
        sb_buf_free(&ddl);
        sb_http_reply_err(req->pending, SB_ENOMEM, "out of memory");
        return;
    }
    w->n = n;
    w->p = req->pending;
    w->cl = cl;
    uv_timer_init(n->loop, &w->timer);
    w->timer.data = w;
    snprintf(w->bucket, sizeof w->bucket, "%s", bucket);
    snprintf(w->precision, sizeof w->precision, "%s", precision);
    sb_buf_init(&w->body);
    w->ddl = ddl;
    if (sb_buf_append(&w->body, body ? body : "", len) != 0) {
        sb_buf_free(&plain);
        schema_wait_free(w);
        sb_http_reply_err(req->pending, SB_ENOMEM, "out of memory");
        return;
    }
    sb_buf_free(&plain);
    run_schema(w);
}
