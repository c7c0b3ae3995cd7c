/*
 * POST /api/v2/write?bucket=KEYSPACE&precision=ns|us|ms|s[&org=...]
 *
 * InfluxDB 2's write endpoint, so Telegraf's influxdb_v2 output and
 * InfluxDB client libraries work unchanged: gzip bodies
 * (Content-Encoding: gzip), 204 on success, 400 naming the line on bad
 * input, 413 when too large, 503 when the commit queue is full, 504 when
 * the replicas did not acknowledge in time (the connection stays open). The
 * Authorization header is accepted and ignored (authentication is a later
 * issue). Batch semantics are in ingest.h: all or nothing per request.
 */
#include <stdlib.h>
#include <string.h>

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
    int st = 500;
    const char *code = "server_error";
    if (status == SB_EOVERLOADED) {
        st = 503;
        code = "overloaded";
        snprintf(msg, sizeof msg,
                 "write rejected: overloaded (a replica's write queue is full); retry later "
                 "or send less at once");
    } else if (status == SB_EUNAVAILABLE) {
        st = 503;
        code = "unavailable";
    } else if (status == SB_ETIMEOUT) {
        st = 504;
        code = "write_timeout";
        snprintf(msg, sizeof msg,
                 "write timed out: not enough replicas acknowledged it within the coordinator's "
                 "write timeout (replicas overloaded or unreachable); it may still be applied, "
                 "and resending points that carry their own timestamps is safe");
    }
    sb_http_reply_error(p, st, code, msg);
}

static int status_of(int rv, const char **code)
{
    switch (rv) {
    case SB_ESYNTAX:
    case SB_EINVALID:
    case SB_EINVAL:
    case SB_EBADINPUT:
        *code = "invalid";
        return 400;
    case SB_ETOOBIG:
        *code = "request_too_large";
        return 413;
    case SB_EOVERLOADED:
        *code = "overloaded";
        return 503;
    default:
        *code = "server_error";
        return 500;
    }
}

void sb_http_handle_write(sb_node_view *n, sb_http_req *req)
{
    char bucket[256], precision[16] = "ns", errmsg[SB_ERRMSG_SIZE] = "";
    const char *code;
    int rv = sb_http_query_param(req, "bucket", bucket, sizeof bucket);
    if (rv <= 0) {
        sb_http_reply_error(req->pending, 400, "invalid",
                            rv == 0 ? "missing query parameter 'bucket' (the keyspace to write to)"
                                    : "query parameter 'bucket' is malformed or too long");
        return;
    }
    rv = sb_http_query_param(req, "precision", precision, sizeof precision);
    if (rv < 0) {
        sb_http_reply_error(req->pending, 400, "invalid",
                            "query parameter 'precision' must be ns, us, ms or s");
        return;
    }
    char clname[32] = "";
    int cl = SB_CL_ONE;
    rv = sb_http_query_param(req, "consistency", clname, sizeof clname);
    if (rv < 0 || (rv > 0 && sb_consistency_parse(clname, strlen(clname), &cl) != 0)) {
        sb_http_reply_error(req->pending, 400, "invalid",
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
                int st = status_of(rv, &code);
                sb_http_reply_error(req->pending, st, code, errmsg);
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
    rv = sb_ingest_write_to(n->store, n->cluster_write, n->cluster_write_arg, cl, bucket, precision,
                            body ? body : "", len, on_durable, req->pending, errmsg);
    sb_buf_free(&plain);
    if (rv) {
        int st = status_of(rv, &code);
        sb_http_reply_error(req->pending, st, code, errmsg[0] ? errmsg : sb_strerror(rv));
    }
}
