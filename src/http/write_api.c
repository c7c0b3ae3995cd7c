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
    if (status == SB_EOVERLOADED) {
        snprintf(msg, sizeof msg,
                 "write rejected: overloaded (a replica's write queue is full); retry later "
                 "or send less at once");
    } else if (status == SB_ETIMEOUT) {
        snprintf(msg, sizeof msg,
                 "write timed out: not enough replicas acknowledged it within the coordinator's "
                 "write timeout (replicas overloaded or unreachable); it may still be applied, "
                 "and resending points that carry their own timestamps is safe");
    }
    sb_http_reply_err(p, status, msg);
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
    rv = sb_ingest_write_to(n->store, n->cluster_write, n->cluster_write_arg, cl, bucket, precision,
                            body ? body : "", len, on_durable, req->pending, errmsg);
    sb_buf_free(&plain);
    if (rv) {
        sb_http_reply_err(req->pending, rv, errmsg);
    }
}
