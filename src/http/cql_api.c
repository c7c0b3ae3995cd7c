/*
 * POST /api/v1/cql: {"query": "...", "consistency": "QUORUM",
 *                    "keyspace": "ks", "page_size": 100, "paging_state": "hex"}
 * Only "query" is required. HTTP is stateless, so "keyspace" stands in for
 * USE; the answer is {"columns": [...], "rows": [[...], ...]}.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cql/cql.h"
#include "http/handlers.h"
#include "metrics/node_metrics.h"
#include "util/err.h"
#include "util/hex.h"

/* The status of an error result, from util/err.h's table: a missing
 * keyspace is SB_EINVALID there (400, as Cassandra's Invalid), a feature
 * Sibyl lacks SB_EUNSUPPORTED (400, Invalid, as Cassandra refuses it). */
static int http_status_of(const sb_cql_error *e)
{
    int st = sb_err_http_status(e->status);
    return st >= 400 ? st : 500; /* an error result always has a status; be safe */
}

typedef struct cql_call {
    sb_http_pending *pending;
    sb_node_view *node;
} cql_call;

static void on_result(void *arg, sb_cql_result *res)
{
    cql_call *c = arg;
    sb_buf b;
    sb_buf_init(&b);
    int ok = res->kind != SB_CQL_RESULT_ERROR;
    if (c->node->m)
        node_metrics_add_cql(c->node->m, "http", ok);
    if (sb_cql_result_to_json(res, &b) != 0 || sb_buf_putc(&b, '\n') != 0)
        sb_http_reply_error(c->pending, 500, "ServerError", "out of memory rendering result");
    else
        sb_http_reply(c->pending, ok ? 200 : http_status_of(&res->err), NULL, b.data, b.len);
    sb_buf_free(&b);
    sb_cql_result_free(res);
    free(c);
}

void sb_http_handle_cql(sb_node_view *n, sb_http_req *req)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    char msg[SB_ERRMSG_SIZE];
    if (!root) {
        snprintf(msg, sizeof msg, "request body is not valid JSON: %s at line %d column %d",
                 jerr.text, jerr.line, jerr.column);
        sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
        return;
    }
    json_t *q = json_object_get(root, "query");
    json_t *cl = json_object_get(root, "consistency");
    json_t *ks = json_object_get(root, "keyspace");
    json_t *ps = json_object_get(root, "page_size");
    json_t *pst = json_object_get(root, "paging_state");
    sb_cql_opts opts;
    sb_cql_session sess;
    uint8_t *state = NULL;
    sb_cql_opts_default(&opts);
    sb_cql_session_init(&sess);
    if (!json_is_object(root) || !json_is_string(q)) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          "request body must be a JSON object with a string \"query\"");
        goto done;
    }
    if (cl &&
        (!json_is_string(cl) || sb_consistency_parse(json_string_value(cl), json_string_length(cl),
                                                     &opts.consistency) != 0)) {
        snprintf(msg, sizeof msg,
                 "\"consistency\" must be one of ANY, ONE, TWO, THREE, QUORUM, ALL, "
                 "LOCAL_QUORUM, EACH_QUORUM, SERIAL, LOCAL_SERIAL, LOCAL_ONE");
        sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
        goto done;
    }
    if (ks) {
        if (!json_is_string(ks) || json_string_length(ks) >= sizeof sess.keyspace) {
            sb_http_reply_err(req->pending, SB_EBADINPUT, "\"keyspace\" must be a keyspace name");
            goto done;
        }
        snprintf(sess.keyspace, sizeof sess.keyspace, "%s", json_string_value(ks));
    }
    if (ps) {
        if (!json_is_integer(ps) || json_integer_value(ps) < 1 ||
            json_integer_value(ps) > 1000000) {
            sb_http_reply_err(req->pending, SB_EBADINPUT,
                              "\"page_size\" must be an integer in [1, 1000000]");
            goto done;
        }
        opts.page_size = (int32_t)json_integer_value(ps);
    }
    if (pst) {
        size_t len = json_is_string(pst) ? json_string_length(pst) : 0;
        state = malloc(len / 2 + 1);
        if (!json_is_string(pst) || !state ||
            sb_hex_decode(state, json_string_value(pst), len) != 0) {
            sb_http_reply_err(req->pending, SB_EBADINPUT,
                              "\"paging_state\" must be the hex string a previous page returned");
            goto done;
        }
        opts.paging_state = state;
        opts.paging_state_len = len / 2;
    }
    cql_call *c = malloc(sizeof *c);
    if (!c) {
        sb_http_reply_error(req->pending, 500, "ServerError", "out of memory");
        goto done;
    }
    c->pending = req->pending;
    c->node = n;
    if (sb_cql_execute(n->cql, &sess, json_string_value(q), json_string_length(q), NULL, 0, &opts,
                       on_result, c) != 0) {
        free(c);
        sb_http_reply_error(req->pending, 500, "ServerError", "out of memory");
    }
done:
    free(state);
    json_decref(root);
}
