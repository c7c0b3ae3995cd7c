/*
 * GET/POST /api/v1/streams: range streaming sessions (docs/streaming.md).
 *
 *   GET  -> {"node": ..., "sessions": [...], "totals": {...}}
 *   POST {"from": "127.0.0.1:7000", "ranges": [["START", "END"], ...],
 *         "keyspace": "ks", "table": "t"}
 *        -> 202 {"node": ..., "id": N}; the session runs on; poll GET.
 *
 * ranges: token ranges (START, END] as integers or decimal strings
 * (tokens do not fit a JSON double); START >= END wraps around the ring;
 * absent: the whole ring. keyspace (and table): what to copy; absent:
 * every table outside the system keyspaces. from is the source's
 * node-to-node (listen) address; it need not be a member (a node that
 * left can still be read from).
 */
#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "http/server.h"
#include "metrics/node_view.h"
#include "storage/store.h"
#include "stream/stream.h"
#include "util/err.h"
#include "util/json.h"

#define MAX_RANGES 1024
#define MAX_TABLES 1024

typedef struct stream_post {
    sb_ep from;
    sb_stream_range ranges[MAX_RANGES];
    size_t nranges;
    uint8_t (*tables)[16];
    size_t ntables;
} stream_post;

static int token_of(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

static int parse_ranges(json_t *rs, stream_post *p, char *errmsg)
{
    if (!rs || json_is_null(rs)) {
        p->ranges[0] = (sb_stream_range){INT64_MIN, INT64_MIN}; /* the whole ring */
        p->nranges = 1;
        return 0;
    }
    if (!json_is_array(rs) || json_array_size(rs) == 0 || json_array_size(rs) > MAX_RANGES)
        return sb_seterr(errmsg, SB_EBADINPUT,
                         "ranges: expected 1 to %d pairs [\"START\", \"END\"] of tokens",
                         MAX_RANGES);
    size_t i;
    json_t *r;
    json_array_foreach(rs, i, r)
    {
        sb_stream_range *x = &p->ranges[i];
        if (!json_is_array(r) || json_array_size(r) != 2 ||
            token_of(json_array_get(r, 0), &x->start) || token_of(json_array_get(r, 1), &x->end))
            return sb_seterr(errmsg, SB_EBADINPUT,
                             "ranges[%zu]: expected [\"START\", \"END\"], two tokens as "
                             "integers or decimal strings",
                             i);
        if (x->start == x->end && x->start != INT64_MIN)
            return sb_seterr(errmsg, SB_EBADINPUT,
                             "ranges[%zu]: START equals END (use [\"%" PRId64 "\", \"%" PRId64
                             "\"] for the whole ring)",
                             i, INT64_MIN, INT64_MIN);
    }
    p->nranges = json_array_size(rs);
    return 0;
}

static int parse_tables(sb_node_view *n, const char *ks, const char *table, stream_post *p,
                        char *errmsg)
{
    if (!ks)
        return table ? sb_seterr(errmsg, SB_EBADINPUT, "table: needs keyspace") : 0;
    const sb_schema *s = sb_store_schema(n->store);
    const sb_keyspace *k = sb_schema_keyspace(s, ks);
    if (!k)
        return sb_seterr(errmsg, SB_EBADINPUT, "keyspace: no keyspace \"%.64s\"", ks);
    p->tables = calloc(MAX_TABLES, 16);
    if (!p->tables)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    for (int i = 0; i < k->ntables && p->ntables < MAX_TABLES; i++)
        if (!table || !strcmp(k->tables[i]->name, table))
            memcpy(p->tables[p->ntables++], k->tables[i]->id, 16);
    if (!p->ntables)
        return sb_seterr(errmsg, SB_EBADINPUT, "%s%.64s%s: no tables to stream",
                         table ? "table: no table \"" : "keyspace \"", table ? table : ks, "\"");
    return 0;
}

static int parse_post(sb_node_view *n, const sb_http_req *req, stream_post *p, char *errmsg)
{
    json_error_t jerr;
    json_t *root =
        json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return sb_seterr(errmsg, SB_EBADINPUT, "body: invalid JSON at line %d column %d: %.200s",
                         jerr.line, jerr.column, jerr.text);
    int rv = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(root)) {
        rv = sb_seterr(errmsg, SB_EBADINPUT, "body: expected an object {\"from\": ...}");
        goto done;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "from") && strcmp(key, "ranges") && strcmp(key, "keyspace") &&
            strcmp(key, "table")) {
            rv = sb_seterr(errmsg, SB_EBADINPUT,
                           "body: unknown field \"%.64s\" (expected from, ranges, keyspace, "
                           "table)",
                           key);
            goto done;
        }
    }
    const char *from = json_string_value(json_object_get(root, "from"));
    if (!from || sb_ep_parse(from, 7000, &p->from) != 0) {
        rv = sb_seterr(errmsg, SB_EBADINPUT,
                       "from: expected the source's listen address, like \"127.0.0.1:7000\"");
        goto done;
    }
    json_t *ks = json_object_get(root, "keyspace"), *t = json_object_get(root, "table");
    if ((ks && !json_is_string(ks)) || (t && !json_is_string(t))) {
        rv = sb_seterr(errmsg, SB_EBADINPUT, "keyspace and table: expected strings");
        goto done;
    }
    rv = parse_ranges(json_object_get(root, "ranges"), p, errmsg);
    if (!rv)
        rv = parse_tables(n, json_string_value(ks), json_string_value(t), p, errmsg);
done:
    json_decref(root);
    return rv;
}

static void append_session(sb_buf *b, const sb_stream_info *in)
{
    char ep[SB_EP_STRLEN];
    double secs = (double)in->elapsed_ms / 1000.0;
    sb_buf_printf(b, "{\"id\": %" PRIu64 ", \"peer\": \"%s\", \"state\": \"%s\", \"ranges\": [",
                  in->id, sb_ep_str(&in->peer, ep), sb_stream_state_name(in->state));
    for (size_t i = 0; i < in->nranges; i++)
        sb_buf_printf(b, "%s[\"%" PRId64 "\", \"%" PRId64 "\"]", i ? ", " : "", in->ranges[i].start,
                      in->ranges[i].end);
    sb_buf_printf(
        b,
        "], \"tables\": %zu, \"parts\": %zu, \"parts_done\": %zu, \"bytes\": %" PRIu64
        ", \"rows\": %" PRIu64 ", \"rate_bytes_per_sec\": %.0f, \"resumed_parts\": %" PRIu64
        ", \"retries\": %" PRIu64 ", \"elapsed_ms\": %" PRIu64 ", \"error\": ",
        in->ntables, in->parts, in->parts_done, in->bytes, in->rows,
        secs > 0 ? (double)in->bytes / secs : 0.0, in->resumed_parts, in->retries, in->elapsed_ms);
    sb_json_append_cstr(b, in->errmsg);
    sb_buf_printf(b, "}");
}

static void reply_sessions(sb_node_view *n, sb_http_req *req)
{
    sb_buf b;
    sb_http_json_begin(n, &b);
    sb_buf_printf(&b, ", \"sessions\": [");
    sb_stream_info in;
    for (size_t i = 0; sb_stream_session(n->stream, i, &in) == 0; i++) {
        sb_buf_printf(&b, "%s", i ? ", " : "");
        append_session(&b, &in);
    }
    sb_stream_stats st;
    sb_stream_get_stats(n->stream, &st);
    sb_buf_printf(&b,
                  "], \"totals\": {\"bytes_sent\": %" PRIu64 ", \"rows_sent\": %" PRIu64
                  ", \"bytes_received\": %" PRIu64 ", \"rows_received\": %" PRIu64
                  ", \"sessions_active\": %" PRIu64 ", \"sessions_completed\": %" PRIu64
                  ", \"sessions_failed\": %" PRIu64 "}}\n",
                  st.bytes_sent, st.rows_sent, st.bytes_received, st.rows_received,
                  st.sessions_active, st.sessions_completed, st.sessions_failed);
    if (!b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
}

void sb_http_handle_streams(sb_node_view *n, sb_http_req *req)
{
    if (!n->stream) {
        sb_http_reply_err(req->pending, SB_EUNAVAILABLE, "this node does not stream");
        return;
    }
    if (!(req->method_len == 4 && !memcmp(req->method, "POST", 4))) {
        reply_sessions(n, req);
        return;
    }
    char errmsg[SB_ERRMSG_SIZE];
    stream_post *p = calloc(1, sizeof(*p));
    uint64_t id = 0;
    int rc = p ? parse_post(n, req, p, errmsg) : sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    if (!rc)
        rc = sb_stream_start(n->stream, &p->from, p->ranges, p->nranges,
                             (const uint8_t(*)[16])p->tables, p->ntables, NULL, NULL, &id, errmsg);
    if (p)
        free(p->tables);
    free(p);
    if (rc) {
        sb_http_reply_err(req->pending, rc, errmsg);
        return;
    }
    sb_buf b;
    sb_http_json_begin(n, &b);
    sb_buf_printf(&b, ", \"id\": %" PRIu64 "}\n", id);
    if (!b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 202, NULL, b.data, b.len);
    sb_buf_free(&b);
}
