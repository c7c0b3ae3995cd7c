/*
 * The replica view (docs/http-api.md):
 *   GET /api/v1/replicas?keyspace=K&table=T&<pk col>=<value>...
 *       the token of a partition key and the nodes that replicate it
 *   GET /api/v1/local?keyspace=K&table=T&<pk col>=<value>...&limit=N
 *       what THIS node's own storage holds for that partition
 *
 * NOTES ON THE DESIGN
 *
 * - The token is the Murmur3 token the storage and the coordinator use
 *   (sb_token_of_key over the partition-key components in their CQL
 *   serialization), so the replicas listed are the ones writes go to:
 *   sb_ring_replicas over gossip's current ring with the keyspace's
 *   replication, in ring-walk order.
 * - /local reads the store directly with sb_store_iter (no coordinator,
 *   no other replica, no read repair): the rows of the partition with
 *   the largest clustering values first (the newest, for time-series
 *   tables), with each live cell's write time in microseconds, as CQL
 *   WRITETIME gives it. It is what makes replicas' divergence and
 *   convergence visible.
 * - Everything runs on the loop thread in one call: a bounded local read
 *   (limit <= 100 rows of one partition) is as cheap as a CQL read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord/coord.h"
#include "http/fault_api.h"
#include "http/handlers.h"
#include "http/server.h"
#include "metrics/node_view.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "util/err.h"

#define MAX_PK 32
#define LOCAL_DEFAULT_LIMIT 5
#define LOCAL_MAX_LIMIT 100

/* ------------------------------------------------------- key values */

static int is_integer_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int is_float_text(const char *s)
{
    if (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity"))
        return 1;
    if (*s == '-' || *s == '+')
        s++;
    int digits = 0;
    while (*s >= '0' && *s <= '9')
        s++, digits++;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9')
            s++, digits++;
    }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

int sb_http_key_value(sb_type t, const char *text, sb_buf *out, char *errmsg)
{
    char tn[64];
    size_t len = strlen(text);
    int kind;
    switch (t.id) {
    case SB_TYPE_TEXT:
    case SB_TYPE_ASCII:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_DATE:
    case SB_TYPE_TIME:
    case SB_TYPE_INET:
        kind = SB_LIT_STRING;
        break;
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT:
    case SB_TYPE_VARINT:
        if (!is_integer_text(text))
            return sb_seterr(errmsg, SB_EINVALID, "'%.64s' is not an integer (type %s)", text,
                             sb_type_name(t, tn, sizeof tn));
        kind = SB_LIT_INTEGER;
        break;
    case SB_TYPE_FLOAT:
    case SB_TYPE_DOUBLE:
    case SB_TYPE_DECIMAL:
        if (is_integer_text(text))
            kind = SB_LIT_INTEGER;
        else if (is_float_text(text))
            kind = SB_LIT_FLOAT;
        else
            return sb_seterr(errmsg, SB_EINVALID, "'%.64s' is not a number (type %s)", text,
                             sb_type_name(t, tn, sizeof tn));
        break;
    case SB_TYPE_BOOLEAN:
        kind = SB_LIT_BOOL;
        break;
    case SB_TYPE_UUID:
    case SB_TYPE_TIMEUUID:
        kind = SB_LIT_UUID;
        break;
    case SB_TYPE_BLOB:
        if (len < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
            return sb_seterr(errmsg, SB_EINVALID, "'%.64s' is not a blob (expected 0x...)", text);
        kind = SB_LIT_HEX;
        break;
    default:
        return sb_seterr(errmsg, SB_EINVALID, "partition keys of type %s cannot be given as text",
                         sb_type_name(t, tn, sizeof tn));
    }
    char sub[SB_ERRMSG_SIZE];
    int rv = sb_value_from_literal(out, t, kind, text, len, sub);
    if (rv != 0)
        return sb_seterr(errmsg, SB_EINVALID, "%s", sub);
    return 0;
}

/* ------------------------------------------------- request parsing */

typedef struct key_req {
    char ks[256], table[256];
    const sb_table *t;
    sb_repl repl;
    sb_buf vals;
    sb_value pk[MAX_PK];
    int64_t token;
} key_req;

/* Reads keyspace, table and the partition key from the query string.
 * 0, or -1 after replying with the error. k->vals must be freed either
 * way. */
static int parse_key(sb_node_view *n, sb_http_req *req, key_req *k)
{
    char msg[SB_ERRMSG_SIZE + 600], errmsg[SB_ERRMSG_SIZE];
    sb_buf_init(&k->vals);
    int hk = sb_http_query_param(req, "keyspace", k->ks, sizeof k->ks);
    int ht = sb_http_query_param(req, "table", k->table, sizeof k->table);
    if (hk <= 0 || ht <= 0) {
        snprintf(msg, sizeof msg, "%s: %s", hk <= 0 ? "keyspace" : "table",
                 (hk < 0 || (hk > 0 && ht < 0)) ? "malformed or longer than 255 bytes"
                                                : "missing query parameter");
        sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
        return -1;
    }
    const sb_schema *s = sb_store_schema(n->store);
    const sb_keyspace *ksp = sb_schema_keyspace(s, k->ks);
    if (!ksp) {
        snprintf(msg, sizeof msg, "keyspace=%.255s: no such keyspace", k->ks);
        sb_http_reply_err(req->pending, SB_ENOTFOUND, msg);
        return -1;
    }
    k->t = sb_schema_table(s, k->ks, k->table);
    if (!k->t) {
        snprintf(msg, sizeof msg, "table=%.255s: no such table in keyspace %.255s", k->table,
                 k->ks);
        sb_http_reply_err(req->pending, SB_ENOTFOUND, msg);
        return -1;
    }
    if (sb_repl_parse(ksp->replication_json, &k->repl, errmsg) != 0) {
        snprintf(msg, sizeof msg, "keyspace %.255s: replication: %s", k->ks, errmsg);
        sb_http_reply_err(req->pending, SB_ESERVER, msg);
        return -1;
    }
    if (k->t->npk > MAX_PK) {
        sb_http_reply_err(req->pending, SB_EBADINPUT,
                          "table has more partition-key columns than this endpoint takes");
        return -1;
    }
    size_t off[MAX_PK];
    int32_t len[MAX_PK];
    for (int i = 0; i < k->t->npk; i++) {
        const sb_column *c = &k->t->cols[i];
        char text[1024];
        int h = sb_http_query_param(req, c->name, text, sizeof text);
        if (h <= 0) {
            sb_buf names;
            sb_buf_init(&names);
            for (int j = 0; j < k->t->npk; j++)
                sb_buf_printf(&names, "%s%s", j ? ", " : "", k->t->cols[j].name);
            snprintf(msg, sizeof msg,
                     h < 0 ? "%.128s: malformed or longer than 1023 bytes"
                           : "%.128s: missing query parameter (the partition key of %.255s.%.255s "
                             "is %.300s)",
                     c->name, k->ks, k->table, names.data ? sb_buf_cstr(&names) : "");
            sb_buf_free(&names);
            sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
            return -1;
        }
        off[i] = k->vals.len;
        if (sb_http_key_value(c->type, text, &k->vals, errmsg) != 0) {
            snprintf(msg, sizeof msg, "%.128s: %s", c->name, errmsg);
            sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
            return -1;
        }
        len[i] = (int32_t)(k->vals.len - off[i]);
    }
    for (int i = 0; i < k->t->npk; i++)
        k->pk[i] = (sb_value){k->vals.data ? k->vals.data + off[i] : (const uint8_t *)"", len[i]};
    k->token = sb_token_of_key(k->pk, k->t->npk);
    return 0;
}

/* ------------------------------------------------------- replicas */

typedef struct replica {
    sb_ep listen;
    const sb_member *m; /* NULL: not (or no longer) a gossip member */
    const char *dc, *rack;
} replica;

/* The replicas of k's token, in ring-walk order; returns their count. */
static int find_replicas(sb_node_view *n, const key_req *k, replica *out)
{
    sb_gossip *g = sb_cluster_gossip(n->cluster);
    if (k->repl.kind == SB_REPL_LOCAL) {
        const sb_member *self = sb_gossip_self(g);
        out[0] = (replica){self->ep, self, self->dc, self->rack};
        return 1;
    }
    const sb_ring *r = sb_gossip_ring(g);
    int idx[SB_MAX_REPLICAS];
    int nr = sb_ring_replicas(r, &k->repl, k->token, idx, SB_MAX_REPLICAS);
    for (int i = 0; i < nr; i++) {
        const sb_ring_node *rn = sb_ring_node_at(r, idx[i]);
        out[i] = (replica){rn->ep, sb_gossip_find(g, &rn->ep), rn->dc, rn->rack};
    }
    return nr;
}

void sb_http_handle_replicas(sb_node_view *n, sb_http_req *req)
{
    key_req k;
    if (parse_key(n, req, &k) != 0) {
        sb_buf_free(&k.vals);
        return;
    }
    replica reps[SB_MAX_REPLICAS];
    int nr = find_replicas(n, &k, reps);
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_printf(&b, "{\"keyspace\": ");
    sb_json_append_string(&b, k.ks, strlen(k.ks));
    sb_buf_printf(&b, ", \"table\": ");
    sb_json_append_string(&b, k.table, strlen(k.table));
    sb_buf_printf(&b, ", \"token\": \"%" PRId64 "\", \"replicas\": [", k.token);
    for (int i = 0; i < nr; i++) {
        char ep[SB_EP_STRLEN];
        const sb_member *m = reps[i].m;
        sb_buf_printf(&b, "%s{\"listen\": \"%s\", \"http\": ", i ? ", " : "",
                      sb_ep_str(&reps[i].listen, ep));
        if (m && m->http.family)
            sb_buf_printf(&b, "\"%s\"", sb_ep_str(&m->http, ep));
        else
            sb_buf_printf(&b, "null");
        sb_buf_printf(&b, ", \"dc\": ");
        sb_json_append_string(&b, reps[i].dc, strlen(reps[i].dc));
        sb_buf_printf(&b, ", \"rack\": ");
        sb_json_append_string(&b, reps[i].rack, strlen(reps[i].rack));
        sb_buf_printf(&b, ", \"up\": %s}", m && (m->is_self || m->up) ? "true" : "false");
    }
    if (sb_buf_printf(&b, "]}\n") != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
    sb_buf_free(&k.vals);
}

/* ---------------------------------------------------------- local */

/* Rows newest first: the iteration order is the clustering order, so a
 * table whose first clustering column is DESC already gives the largest
 * values first and is read forward; ASC tables are read reversed. */
static int reverse_for_newest(const sb_table *t)
{
    return t->nck > 0 && !t->cols[t->npk].desc;
}

/* Appends the JSON of one column's cells (cells[0..n), same column). */
static int put_column(sb_buf *b, const sb_column *c, const sb_read_cell *cells, int n)
{
    int64_t wt = cells[0].ts_us;
    int32_t ttl = cells[0].ttl_s;
    for (int i = 1; i < n; i++) {
        if (cells[i].ts_us > wt)
            wt = cells[i].ts_us;
        if (cells[i].ttl_s > ttl)
            ttl = cells[i].ttl_s;
    }
    sb_buf_printf(b, "{\"value\": ");
    int rv = 0;
    if (sb_type_is_collection(c->type) && !c->type.frozen) {
        /* non-frozen: one cell per element; rebuild the collection */
        sb_value *el = calloc((size_t)(2 * n + 1), sizeof *el);
        if (!el)
            return SB_ENOMEM;
        int ne = 0;
        for (int i = 0; i < n; i++) {
            if (c->type.id == SB_TYPE_LIST) {
                el[ne++] = cells[i].value;
            } else if (c->type.id == SB_TYPE_SET) {
                el[ne++] = cells[i].elem;
            } else {
                el[ne++] = cells[i].elem;
                el[ne++] = cells[i].value;
            }
        }
        sb_buf coll;
        sb_buf_init(&coll);
        char err[SB_ERRMSG_SIZE];
        rv = sb_value_build_collection(&coll, c->type, el, ne, err);
        if (rv == 0)
            rv = sb_value_to_json(
                b, c->type,
                (sb_value){coll.data ? coll.data : (const uint8_t *)"", (int32_t)coll.len});
        sb_buf_free(&coll);
        free(el);
    } else {
        rv = sb_value_to_json(b, c->type, cells[0].value);
    }
    if (rv != 0)
        sb_buf_printf(b, "null");
    sb_buf_printf(b, ", \"writetime\": %" PRId64, wt);
    if (ttl > 0)
        sb_buf_printf(b, ", \"ttl\": %d", (int)ttl);
    return sb_buf_printf(b, "}");
}

static void put_row(sb_buf *b, const sb_table *t, const sb_row *row)
{
    sb_buf_printf(b, "{\"key\": {");
    for (int i = 0; i < t->nck; i++) {
        const sb_column *c = &t->cols[t->npk + i];
        sb_buf_printf(b, "%s", i ? ", " : "");
        sb_json_append_string(b, c->name, strlen(c->name));
        sb_buf_printf(b, ": ");
        if (sb_value_to_json(b, c->type, row->ck[i]) != 0)
            sb_buf_printf(b, "null");
    }
    sb_buf_printf(b, "}, \"cells\": {");
    int k = 0;
    for (int i = 0; i < row->ncells;) {
        int j = i + 1;
        while (j < row->ncells && row->cells[j].col == row->cells[i].col)
            j++;
        const sb_column *c = sb_table_column_by_id(t, row->cells[i].col);
        if (c) {
            sb_buf_printf(b, "%s", k++ ? ", " : "");
            sb_json_append_string(b, c->name, strlen(c->name));
            sb_buf_printf(b, ": ");
            put_column(b, c, &row->cells[i], j - i);
        }
        i = j;
    }
    sb_buf_printf(b, "}");
    if (row->liveness_ts >= 0)
        sb_buf_printf(b, ", \"row_writetime\": %" PRId64, row->liveness_ts);
    sb_buf_printf(b, "}");
}

/* limit=N: 1..LOCAL_MAX_LIMIT. 0, or -1 after replying. */
static int parse_limit(sb_http_req *req, int *out)
{
    char text[32], msg[160];
    int h = sb_http_query_param(req, "limit", text, sizeof text);
    *out = LOCAL_DEFAULT_LIMIT;
    if (h == 0)
        return 0;
    char *end = NULL;
    long v = h > 0 ? strtol(text, &end, 10) : 0;
    if (h < 0 || !text[0] || *end || v < 1 || v > LOCAL_MAX_LIMIT) {
        snprintf(msg, sizeof msg, "limit=%.20s: expected an integer from 1 to %d (default %d)",
                 h < 0 ? "..." : text, LOCAL_MAX_LIMIT, LOCAL_DEFAULT_LIMIT);
        sb_http_reply_err(req->pending, SB_EBADINPUT, msg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

void sb_http_handle_local(sb_node_view *n, sb_http_req *req)
{
    key_req k;
    int limit;
    if (parse_key(n, req, &k) != 0 || parse_limit(req, &limit) != 0) {
        sb_buf_free(&k.vals);
        return;
    }
    replica reps[SB_MAX_REPLICAS];
    int nr = find_replicas(n, &k, reps), is_replica = 0;
    const sb_member *self = sb_gossip_self(sb_cluster_gossip(n->cluster));
    for (int i = 0; i < nr; i++)
        is_replica |= sb_ep_eq(&reps[i].listen, &self->ep);
    sb_read r;
    memset(&r, 0, sizeof r);
    r.t = k.t;
    r.pk = k.pk;
    r.reversed = reverse_for_newest(k.t);
    r.now_s = (int64_t)time(NULL);
    char errmsg[SB_ERRMSG_SIZE];
    sb_iter *it = NULL;
    if (sb_store_iter(n->store, &r, &it, errmsg) != 0) {
        sb_http_reply_err(req->pending, SB_ESERVER, errmsg);
        sb_buf_free(&k.vals);
        return;
    }
    sb_buf b;
    sb_http_json_begin(n, &b);
    sb_buf_printf(&b, ", \"keyspace\": ");
    sb_json_append_string(&b, k.ks, strlen(k.ks));
    sb_buf_printf(&b, ", \"table\": ");
    sb_json_append_string(&b, k.table, strlen(k.table));
    sb_buf_printf(&b, ", \"token\": \"%" PRId64 "\", \"replica\": %s, \"rows\": [", k.token,
                  is_replica ? "true" : "false");
    sb_row row;
    int rv = 0, nrows = 0;
    while (nrows < limit && (rv = sb_iter_next(it, &row)) == 1) {
        sb_buf_printf(&b, "%s", nrows++ ? ", " : "");
        put_row(&b, k.t, &row);
    }
    sb_iter_free(it);
    if (rv < 0)
        sb_http_reply_err(req->pending, SB_ESERVER, "local read failed");
    else if (sb_buf_printf(&b, "]}\n") != 0 || !b.data)
        sb_http_reply_err(req->pending, SB_ESERVER, "out of memory");
    else
        sb_http_reply(req->pending, 200, NULL, b.data, b.len);
    sb_buf_free(&b);
    sb_buf_free(&k.vals);
}
