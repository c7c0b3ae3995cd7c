/*
 * Terms -> values.
 *
 * A term is typed by its receiver (the column, element or option it is
 * assigned to or compared with): literals are converted with
 * sb_value_from_literal, collection literals are serialized element by
 * element (sets sorted and deduplicated, maps sorted by key, as Cassandra
 * stores frozen collections), bind values are validated against the
 * receiver's type and their spec (name, type) recorded for PREPARE.
 *
 * Error messages follow Cassandra's wording and carry the term's position.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cql/exec_int.h"

sb_type cx_elem_type(sb_type t, int which)
{
    sb_type e = {0, 0, 0, 0};
    if (t.id == SB_TYPE_MAP)
        e.id = which ? t.b : t.a;
    else
        e.id = t.a;
    return e;
}

int cx_type_is_integer(uint8_t id)
{
    return id == SB_TYPE_TINYINT || id == SB_TYPE_SMALLINT || id == SB_TYPE_INT ||
           id == SB_TYPE_BIGINT || id == 0x05 /* counter */;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int cx_value_as_i64(sb_type t, sb_value v, int64_t *out)
{
    int n;
    switch (t.id) {
    case SB_TYPE_TINYINT:
        n = 1;
        break;
    case SB_TYPE_SMALLINT:
        n = 2;
        break;
    case SB_TYPE_INT:
        n = 4;
        break;
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_TIME:
    case 0x05:
        n = 8;
        break;
    default:
        return SB_EINVAL;
    }
    if (v.len != n)
        return SB_EINVAL;
    uint64_t u = get_be(v.p, n);
    if (n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * n);
    *out = (int64_t)u;
    return 0;
}

int cx_value_as_double(sb_type t, sb_value v, double *out)
{
    if (t.id == SB_TYPE_FLOAT && v.len == 4) {
        uint32_t u = (uint32_t)get_be(v.p, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return 0;
    }
    if (t.id == SB_TYPE_DOUBLE && v.len == 8) {
        uint64_t u = get_be(v.p, 8);
        memcpy(out, &u, 8);
        return 0;
    }
    int64_t i;
    if (cx_value_as_i64(t, v, &i) == 0) {
        *out = (double)i;
        return 0;
    }
    return SB_EINVAL;
}

/* ------------------------------------------------------------ collections */

static int32_t get_i32(const uint8_t *p)
{
    return (int32_t)(uint32_t)get_be(p, 4);
}

int cx_coll_open(cx_coll_rd *r, sb_value v, int is_map)
{
    if (v.len < 4)
        return SB_ECORRUPT;
    r->p = v.p + 4;
    r->end = v.p + v.len;
    int32_t n = get_i32(v.p);
    if (n < 0 || (is_map && n > INT32_MAX / 2))
        return SB_ECORRUPT;
    r->left = is_map ? 2 * n : n;
    return 0;
}

int cx_coll_next(cx_coll_rd *r, sb_value *item)
{
    if (r->left <= 0)
        return 0;
    if (r->end - r->p < 4)
        return SB_ECORRUPT;
    int32_t len = get_i32(r->p);
    r->p += 4;
    if (len < 0) {
        *item = SB_VALUE_NULL;
    } else {
        if (r->end - r->p < len)
            return SB_ECORRUPT;
        item->p = r->p;
        item->len = len;
        r->p += len;
    }
    r->left--;
    return 1;
}

int cx_coll_build(sb_buf *out, const sb_value *items, int nitems, int is_map)
{
    int rc = sb_buf_put_u32be(out, (uint32_t)(is_map ? nitems / 2 : nitems));
    for (int i = 0; rc == 0 && i < nitems; i++) {
        rc = sb_buf_put_u32be(out, (uint32_t)items[i].len);
        if (rc == 0 && items[i].len > 0)
            rc = sb_buf_append(out, items[i].p, (size_t)items[i].len);
    }
    return rc;
}

/* Sorting set elements / map entries by the element type's order. */
typedef struct sort_ent {
    sb_value k, v;
    int seq;
} sort_ent;

static sb_type g_sort_type;

static int ent_cmp(const void *a, const void *b)
{
    const sort_ent *x = a, *y = b;
    int c = sb_value_cmp(g_sort_type, x->k, y->k);
    return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* Sorts and deduplicates (for maps the last entry of a key wins). Returns
 * the new count. */
static int sort_dedupe(sort_ent *e, int n, sb_type kt)
{
    g_sort_type = kt;
    qsort(e, (size_t)n, sizeof *e, ent_cmp);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && sb_value_cmp(kt, e[m - 1].k, e[i].k) == 0)
            e[m - 1] = e[i];
        else
            e[m++] = e[i];
    }
    return m;
}

/* Normalizes a serialized set or map (sorted, no duplicates). */
static int normalize_coll(cx_ctx *c, sb_type t, sb_value *v)
{
    if (t.id == SB_TYPE_LIST || v->len < 0)
        return 0;
    int is_map = t.id == SB_TYPE_MAP;
    cx_coll_rd r;
    if (cx_coll_open(&r, *v, is_map) != 0)
        return SB_ECORRUPT;
    int n = is_map ? r.left / 2 : r.left;
    sort_ent *e = cx_alloc(&c->tmp, sizeof *e * (size_t)(n + 1));
    if (!e)
        return SB_ENOMEM;
    for (int i = 0; i < n; i++) {
        if (cx_coll_next(&r, &e[i].k) != 1 || (is_map && cx_coll_next(&r, &e[i].v) != 1))
            return SB_ECORRUPT;
        e[i].seq = i;
    }
    int m = sort_dedupe(e, n, cx_elem_type(t, 0));
    if (m == n) {
        int sorted = 1;
        for (int i = 0; i < n; i++)
            sorted &= e[i].seq == i;
        if (sorted)
            return 0;
    }
    sb_value *items = cx_alloc(&c->tmp, sizeof *items * (size_t)(2 * m + 1));
    if (!items)
        return SB_ENOMEM;
    int k = 0;
    for (int i = 0; i < m; i++) {
        items[k++] = e[i].k;
        if (is_map)
            items[k++] = e[i].v;
    }
    sb_buf b;
    sb_buf_init(&b);
    int rc = cx_coll_build(&b, items, k, is_map);
    if (rc == 0) {
        uint8_t *p = cx_memdup(&c->tmp, b.data, b.len);
        if (!p)
            rc = SB_ENOMEM;
        else {
            v->p = p;
            v->len = (int32_t)b.len;
        }
    }
    sb_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- binds */

static int record_bind(cx_ctx *c, const sb_cql_term *t, sb_type type, const char *recv)
{
    if (!c->bspec || t->bind_index < 0 || !c->root || t->bind_index >= c->root->nbind)
        return 0;
    sb_cql_colspec *s = &c->bspec[t->bind_index];
    if (s->name)
        return 0;
    s->type = type;
    s->ks = c->cur_table ? c->cur_table->keyspace : "";
    s->table = c->cur_table ? c->cur_table->name : "";
    s->name = cx_strdup(&c->tmp, t->bind_name ? t->bind_name : recv);
    return s->name ? 0 : SB_ENOMEM;
}

static int eval_bind(cx_ctx *c, const sb_cql_term *t, sb_type type, const char *recv, sb_value *out)
{
    if (record_bind(c, t, type, recv) != 0)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if (c->preparing || !c->binds || t->bind_index < 0 || t->bind_index >= c->nbinds) {
        *out = (sb_value){NULL, CQL_UNSET_LEN};
        return 0;
    }
    sb_value v = c->binds[t->bind_index];
    if (v.len < 0) {
        *out = v.len == -1 ? SB_VALUE_NULL : (sb_value){NULL, CQL_UNSET_LEN};
        return 0;
    }
    char msg[SB_ERRMSG_SIZE] = "";
    if (sb_value_validate(type, v.p, (size_t)v.len, msg) != 0) {
        char tn[64];
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid value for \"%s\" of type %s: %s", recv,
                      cx_type_str(type, tn), msg);
    }
    *out = v;
    if (sb_type_is_collection(type)) {
        int rc = normalize_coll(c, type, out);
        if (rc != 0)
            return cx_err(c, rc, &t->pos, "Invalid collection value for \"%s\"", recv);
    }
    return 0;
}

/* ------------------------------------------------------------- functions */

static int put_fixed(cx_ctx *c, sb_value *out, const uint8_t *p, int n)
{
    uint8_t *d = cx_memdup(&c->tmp, p, (size_t)n);
    if (!d)
        return SB_ENOMEM;
    out->p = d;
    out->len = n;
    return 0;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* A version 1 (time-based) UUID for now(): 100 ns intervals since
 * 1582-10-15, made unique within the process by a counter. */
static void make_timeuuid(int64_t now_us, uint8_t u[16])
{
    static uint64_t last;
    static uint64_t node;
    uint64_t ts = (uint64_t)now_us * 10 + 0x01B21DD213814000ULL;
    if (ts <= last)
        ts = last + 1;
    last = ts;
    if (!node) {
        uint8_t r[8];
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(r, 1, 8, f) != 8)
            memcpy(r, &now_us, 8);
        if (f)
            fclose(f);
        memcpy(&node, r, 8);
        node |= 1ULL << 40; /* multicast bit: not a real MAC */
    }
    uint32_t tlow = (uint32_t)ts;
    uint16_t tmid = (uint16_t)(ts >> 32);
    uint16_t thi = (uint16_t)((ts >> 48) & 0x0FFF) | 0x1000;
    put_be(u, tlow, 4);
    put_be(u + 4, tmid, 2);
    put_be(u + 6, thi, 2);
    uint16_t clk = (uint16_t)((node >> 48) & 0x3FFF) | 0x8000;
    put_be(u + 8, clk, 2);
    put_be(u + 10, node & 0xFFFFFFFFFFFFULL, 6);
}

static void make_uuid4(uint8_t u[16])
{
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(u, 1, 16, f) != 16) {
        for (int i = 0; i < 16; i++)
            u[i] = (uint8_t)rand();
    }
    if (f)
        fclose(f);
    u[6] = (u[6] & 0x0F) | 0x40;
    u[8] = (u[8] & 0x3F) | 0x80;
}

static int64_t timeuuid_ms(const uint8_t *u)
{
    uint64_t ts = ((get_be(u + 6, 2) & 0x0FFF) << 48) | (get_be(u + 4, 2) << 32) | get_be(u, 4);
    return (int64_t)((ts - 0x01B21DD213814000ULL) / 10000);
}

static int types_compatible(uint8_t have, uint8_t want)
{
    if (have == want)
        return 1;
    if ((have == SB_TYPE_ASCII && want == SB_TYPE_TEXT) ||
        (have == SB_TYPE_TIMEUUID && want == SB_TYPE_UUID))
        return 1;
    return 0;
}

static int eval_function(cx_ctx *c, const sb_cql_term *t, sb_type type, const char *recv,
                         sb_value *out)
{
    const char *f = t->text;
    uint8_t b[16];
    uint8_t rtype;
    int rc = 0;
    char tn[64];
    if (strcmp(f, "now") == 0 || strcmp(f, "currenttimeuuid") == 0) {
        make_timeuuid(c->now_us, b);
        rtype = SB_TYPE_TIMEUUID;
        rc = put_fixed(c, out, b, 16);
    } else if (strcmp(f, "uuid") == 0) {
        make_uuid4(b);
        rtype = SB_TYPE_UUID;
        rc = put_fixed(c, out, b, 16);
    } else if (strcmp(f, "currenttimestamp") == 0) {
        put_be(b, (uint64_t)(c->now_us / 1000), 8);
        rtype = SB_TYPE_TIMESTAMP;
        rc = put_fixed(c, out, b, 8);
    } else if (strcmp(f, "currentdate") == 0) {
        int64_t days = c->now_s >= 0 ? c->now_s / 86400 : -((-c->now_s + 86399) / 86400);
        put_be(b, (uint64_t)(days + 2147483648LL), 4);
        rtype = SB_TYPE_DATE;
        rc = put_fixed(c, out, b, 4);
    } else if (strcmp(f, "totimestamp") == 0 || strcmp(f, "tounixtimestamp") == 0 ||
               strcmp(f, "todate") == 0) {
        if (t->nelems != 1)
            return cx_err(c, SB_EINVALID, &t->pos,
                          "Invalid number of arguments in call to function system.%s: 1 "
                          "required but %d provided",
                          f, t->nelems);
        sb_value a;
        sb_type at = {SB_TYPE_TIMEUUID, 0, 0, 0};
        if (t->elems[0]->kind == SB_CQL_TERM_FUNCTION &&
            strcmp(t->elems[0]->text, "currentdate") == 0)
            at.id = SB_TYPE_DATE;
        else if (t->elems[0]->kind == SB_CQL_TERM_FUNCTION &&
                 strcmp(t->elems[0]->text, "currenttimestamp") == 0)
            at.id = SB_TYPE_TIMESTAMP;
        rc = cx_term_eval(c, t->elems[0], at, recv, &a);
        if (rc != 0)
            return rc;
        if (a.len < 0) {
            *out = a;
            rtype = f[2] == 'd' ? SB_TYPE_DATE : (f[2] == 'u' ? SB_TYPE_BIGINT : SB_TYPE_TIMESTAMP);
            goto check;
        }
        int64_t ms;
        if (at.id == SB_TYPE_TIMEUUID)
            ms = timeuuid_ms(a.p);
        else if (at.id == SB_TYPE_DATE)
            ms = ((int64_t)get_be(a.p, 4) - 2147483648LL) * 86400000LL;
        else
            ms = (int64_t)get_be(a.p, 8);
        if (strcmp(f, "todate") == 0) {
            int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
            put_be(b, (uint64_t)(days + 2147483648LL), 4);
            rtype = SB_TYPE_DATE;
            rc = put_fixed(c, out, b, 4);
        } else {
            put_be(b, (uint64_t)ms, 8);
            rtype = strcmp(f, "totimestamp") == 0 ? SB_TYPE_TIMESTAMP : SB_TYPE_BIGINT;
            rc = put_fixed(c, out, b, 8);
        }
    } else {
        return cx_err(c, SB_EINVALID, &t->pos, "Unknown function '%s'", f);
    }
    if (rc != 0)
        return cx_err(c, rc, NULL, "out of memory");
check:
    if (!types_compatible(rtype, type.id))
        return cx_err(c, SB_EINVALID, &t->pos,
                      "Type error: cannot assign result of function system.%s (type %s) to %s "
                      "(type %s)",
                      f, sb_type_id_name(rtype), recv, cx_type_str(type, tn));
    return 0;
}

/* ----------------------------------------------------------- collections */

static int eval_collection(cx_ctx *c, const sb_cql_term *t, sb_type type, const char *recv,
                           sb_value *out)
{
    char tn[64];
    const char *lit = t->kind == SB_CQL_TERM_LIST  ? "list"
                      : t->kind == SB_CQL_TERM_SET ? "set"
                                                   : "map";
    int ok = (t->kind == SB_CQL_TERM_LIST && type.id == SB_TYPE_LIST) ||
             (t->kind == SB_CQL_TERM_SET && type.id == SB_TYPE_SET) ||
             (t->kind == SB_CQL_TERM_MAP && type.id == SB_TYPE_MAP) ||
             (t->kind == SB_CQL_TERM_MAP && t->nelems == 0 &&
              (type.id == SB_TYPE_SET || type.id == SB_TYPE_LIST));
    if (!ok)
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid %s literal for %s of type %s", lit, recv,
                      cx_type_str(type, tn));
    int is_map = type.id == SB_TYPE_MAP;
    int n = t->nelems;
    sort_ent *e = cx_alloc(&c->tmp, sizeof *e * (size_t)(n + 1));
    if (!e)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    int m = 0;
    for (int i = 0; i < n; i += is_map ? 2 : 1) {
        int rc = cx_term_eval(c, t->elems[i], cx_elem_type(type, 0), recv, &e[m].k);
        if (rc == 0 && is_map)
            rc = cx_term_eval(c, t->elems[i + 1], cx_elem_type(type, 1), recv, &e[m].v);
        if (rc != 0)
            return rc;
        if (e[m].k.len == -1 || (is_map && e[m].v.len == -1))
            return cx_err(c, SB_EINVALID, &t->elems[i]->pos,
                          "null is not supported inside collections");
        if (e[m].k.len == CQL_UNSET_LEN || (is_map && e[m].v.len == CQL_UNSET_LEN)) {
            if (c->preparing) {
                e[m].k.len = 0;
                e[m].v.len = 0;
            } else
                return cx_err(c, SB_EINVALID, &t->elems[i]->pos,
                              "Invalid unset value in collection literal for %s", recv);
        }
        e[m].seq = m;
        m++;
    }
    if (type.id != SB_TYPE_LIST)
        m = sort_dedupe(e, m, cx_elem_type(type, 0));
    sb_value *items = cx_alloc(&c->tmp, sizeof *items * (size_t)(2 * m + 1));
    if (!items)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    int k = 0;
    for (int i = 0; i < m; i++) {
        items[k++] = e[i].k;
        if (is_map)
            items[k++] = e[i].v;
    }
    sb_buf b;
    sb_buf_init(&b);
    int rc = cx_coll_build(&b, items, k, is_map);
    uint8_t *p = rc == 0 ? cx_memdup(&c->tmp, b.data, b.len) : NULL;
    size_t len = b.len;
    sb_buf_free(&b);
    if (!p)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    out->p = p;
    out->len = (int32_t)len;
    return 0;
}

/* ------------------------------------------------------------------ main */

int cx_term_eval(cx_ctx *c, const sb_cql_term *t, sb_type type, const char *recv, sb_value *out)
{
    char tn[64];
    switch (t->kind) {
    case SB_CQL_TERM_NULL:
        *out = SB_VALUE_NULL;
        return 0;
    case SB_CQL_TERM_BIND:
        return eval_bind(c, t, type, recv, out);
    case SB_CQL_TERM_LITERAL: {
        if (sb_type_is_collection(type))
            return cx_err(c, SB_EINVALID, &t->pos,
                          "Invalid %s constant (%.*s) for \"%s\" of type %s",
                          sb_lit_kind_name(t->lit), (int)(t->len > 100 ? 100 : t->len), t->text,
                          recv, cx_type_str(type, tn));
        sb_buf b;
        sb_buf_init(&b);
        char msg[SB_ERRMSG_SIZE] = "";
        int rc = sb_value_from_literal(&b, type, t->lit, t->text, t->len, msg);
        if (rc != 0) {
            sb_buf_free(&b);
            if (rc == SB_ENOMEM)
                return cx_err(c, rc, NULL, "out of memory");
            return cx_err(c, SB_EINVALID, &t->pos,
                          "Invalid %s constant (%.*s) for \"%s\" of type %s",
                          sb_lit_kind_name(t->lit), (int)(t->len > 100 ? 100 : t->len), t->text,
                          recv, cx_type_str(type, tn));
        }
        uint8_t *p = cx_memdup(&c->tmp, b.data, b.len);
        size_t len = b.len;
        sb_buf_free(&b);
        if (!p)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        out->p = p;
        out->len = (int32_t)len;
        return 0;
    }
    case SB_CQL_TERM_LIST:
    case SB_CQL_TERM_SET:
    case SB_CQL_TERM_MAP:
        return eval_collection(c, t, type, recv, out);
    case SB_CQL_TERM_FUNCTION:
        return eval_function(c, t, type, recv, out);
    case SB_CQL_TERM_TYPEHINT: {
        sb_type h;
        char hn[64];
        if (!t->hint_type || t->nelems != 1 || !t->hint_type->id || t->hint_type->nparams != 0)
            return cx_err(c, SB_EINVALID, &t->pos, "Unsupported type hint");
        h.id = (uint8_t)t->hint_type->id;
        h.a = h.b = h.frozen = 0;
        if (!types_compatible(h.id, type.id))
            return cx_err(c, SB_EINVALID, &t->pos,
                          "Cannot assign value of type %s to %s of type %s", cx_type_str(h, hn),
                          recv, cx_type_str(type, tn));
        return cx_term_eval(c, t->elems[0], type, recv, out);
    }
    case SB_CQL_TERM_TUPLE:
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid tuple literal for %s of type %s", recv,
                      cx_type_str(type, tn));
    }
    return cx_err(c, SB_EINVALID, &t->pos, "Unsupported term");
}

int cx_term_int(cx_ctx *c, const sb_cql_term *t, const char *recv, sb_type_id id, int64_t *out,
                int *is_set)
{
    sb_type ty = {(uint8_t)id, 0, 0, 0};
    sb_value v;
    *is_set = 0;
    int rc = cx_term_eval(c, t, ty, recv, &v);
    if (rc != 0)
        return rc;
    if (v.len < 0)
        return 0;
    if (cx_value_as_i64(ty, v, out) != 0)
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid value for %s", recv);
    *is_set = 1;
    return 0;
}
