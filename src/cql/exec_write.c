/*
 * INSERT, UPDATE, DELETE and BATCH -> one sb_wbatch.
 *
 * Every mutation of a statement (and of every statement of a BATCH) goes
 * into the one write batch the caller queues, so it is applied atomically
 * and acknowledged once durable. Cassandra's write semantics:
 *   - INSERT writes a row marker (so the row exists with all columns null),
 *     UPDATE does not; both write cells with the statement's timestamp and
 *     TTL (USING TTL, else the table's default_time_to_live).
 *   - Columns omitted by an INSERT that have a DEFAULT get the default.
 *   - Assigning a whole non-frozen collection first deletes the old one
 *     (a complex deletion at timestamp - 1) then writes the elements.
 *   - List elements are keyed by 16-byte ids that order by insertion:
 *     appends count up from 2^62, prepends down from it; setting or
 *     deleting by index, and removing by value, read the list first.
 *   - DELETE removes a partition, a row, a clustering range (a prefix with
 *     = and a range on the next column), columns or collection elements.
 */
#include <stdlib.h>
#include <string.h>

#include "cql/exec_int.h"

#define MAX_TTL_S 630720000 /* 20 years, as Cassandra */

typedef struct cellvec {
    sb_cell *v;
    int n, cap;
} cellvec;

typedef struct wctx {
    cx_ctx *c;
    const sb_table *t;
    sb_wbatch *b; /* NULL while preparing */
    int64_t ts;
    int32_t ttl;
    const sb_cql_pos *pos;
} wctx;

static int cv_push(cx_ctx *c, cellvec *cv, sb_cell cell)
{
    if (cv->n == cv->cap) {
        int cap = cv->cap ? cv->cap * 2 : 16;
        sb_cell *nv = cx_alloc(&c->tmp, sizeof *nv * (size_t)cap);
        if (!nv)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        if (cv->n)
            memcpy(nv, cv->v, sizeof *nv * (size_t)cv->n);
        cv->v = nv;
        cv->cap = cap;
    }
    cv->v[cv->n++] = cell;
    return 0;
}

/* Next list element ids: n consecutive counters. */
static int64_t list_counter(sb_cql_engine *e, int n)
{
    static int64_t last;
    int64_t now = sb_cql_engine_timestamp(e) * 1000;
    if (now <= last)
        now = last + 1;
    last = now + n - 1;
    return now;
}

static sb_value list_id(cx_ctx *c, uint64_t hi)
{
    uint8_t *p = cx_alloc(&c->tmp, 16);
    if (!p)
        return (sb_value){NULL, CQL_UNSET_LEN};
    for (int i = 7; i >= 0; i--, hi >>= 8)
        p[i] = (uint8_t)hi;
    /* low half: distinguishes writers; the process address of the engine */
    uint64_t lo = (uint64_t)(uintptr_t)c->e;
    for (int i = 15; i >= 8; i--, lo >>= 8)
        p[i] = (uint8_t)lo;
    return (sb_value){p, 16};
}

static sb_cell mkcell(const wctx *w, const sb_column *col, uint8_t flags, sb_value elem,
                      sb_value value)
{
    sb_cell cell = {.col = col->id,
                    .flags = flags,
                    .ts_us = w->ts,
                    .ttl_s = w->ttl,
                    .elem = elem,
                    .value = value};
    if (flags & (SB_CELL_TOMBSTONE | SB_CELL_COMPLEX_DELETE))
        cell.ttl_s = 0;
    return cell;
}

static const sb_value EMPTY = {(const uint8_t *)"", 0};

/* Elements of a serialized collection as cells (for set, append, prepend
 * and map merge). prepend: list ids counting down. */
static int add_elements(wctx *w, cellvec *cv, const sb_column *col, sb_value v, int prepend)
{
    cx_ctx *c = w->c;
    int is_map = col->type.id == SB_TYPE_MAP;
    cx_coll_rd rd;
    if (cx_coll_open(&rd, v, is_map) != 0)
        return cx_err(c, SB_EINVALID, w->pos, "Invalid collection value for %s", col->name);
    int n = is_map ? rd.left / 2 : rd.left;
    int64_t base = col->type.id == SB_TYPE_LIST ? list_counter(c->e, n) : 0;
    for (int i = 0; i < n; i++) {
        sb_value k, val = EMPTY;
        if (cx_coll_next(&rd, &k) != 1 || (is_map && cx_coll_next(&rd, &val) != 1))
            return cx_err(c, SB_EINVALID, w->pos, "Invalid collection value for %s", col->name);
        sb_value elem = k;
        if (col->type.id == SB_TYPE_LIST) {
            uint64_t hi = prepend ? (1ULL << 62) - (uint64_t)(base + n - 1 - i)
                                  : (1ULL << 62) + (uint64_t)(base + i);
            elem = list_id(c, hi);
            if (elem.len != 16)
                return cx_err(c, SB_ENOMEM, NULL, "out of memory");
            val = k;
        }
        int rc = cv_push(c, cv, mkcell(w, col, 0, elem, val));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Whole-column assignment (INSERT value, UPDATE c = v, DEFAULT). */
static int assign_value(wctx *w, cellvec *cv, const sb_column *col, sb_value v)
{
    if (v.len == CQL_UNSET_LEN)
        return 0;
    if (sb_type_is_collection(col->type) && !col->type.frozen) {
        wctx d = *w;
        d.ts = w->ts - 1;
        int rc = cv_push(w->c, cv,
                         mkcell(&d, col, SB_CELL_COMPLEX_DELETE, SB_VALUE_NULL, SB_VALUE_NULL));
        if (rc != 0 || v.len < 0)
            return rc;
        return add_elements(w, cv, col, v, 0);
    }
    if (v.len < 0)
        return cv_push(w->c, cv, mkcell(w, col, SB_CELL_TOMBSTONE, SB_VALUE_NULL, SB_VALUE_NULL));
    return cv_push(w->c, cv, mkcell(w, col, 0, SB_VALUE_NULL, v));
}

/* Reads the current elements (ids and values) of list column col in one
 * row, for operations by index or value. */
static int read_list(wctx *w, const sb_column *col, const sb_value *pk, const sb_value *ck,
                     sb_value **ids, sb_value **vals, int *n)
{
    cx_ctx *c = w->c;
    sb_read r;
    memset(&r, 0, sizeof r);
    r.t = w->t;
    r.pk = pk;
    r.start = (sb_bound){ck, w->t->nck, 1};
    r.end = (sb_bound){ck, w->t->nck, 1};
    r.now_s = c->now_s;
    void *it;
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = cx_iter_open(c, &r, &it, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, w->pos, msg);
    *n = 0;
    *ids = *vals = NULL;
    sb_row row;
    while ((rc = cx_iter_next(c, it, &row)) == 1) {
        int cnt = 0;
        for (int i = 0; i < row.ncells; i++)
            cnt += row.cells[i].col == col->id && row.cells[i].elem.len >= 0;
        *ids = cx_alloc(&c->tmp, sizeof **ids * (size_t)(cnt + 1));
        *vals = cx_alloc(&c->tmp, sizeof **vals * (size_t)(cnt + 1));
        if (!*ids || !*vals) {
            rc = SB_ENOMEM;
            break;
        }
        for (int i = 0; i < row.ncells; i++) {
            const sb_read_cell *rc2 = &row.cells[i];
            if (rc2->col != col->id || rc2->elem.len < 0)
                continue;
            if (cx_value_dup(&c->tmp, &(*ids)[*n], rc2->elem) != 0 ||
                cx_value_dup(&c->tmp, &(*vals)[*n], rc2->value) != 0) {
                rc = SB_ENOMEM;
                break;
            }
            (*n)++;
        }
        break;
    }
    cx_iter_close(c, it);
    if (rc < 0)
        return cx_err(c, rc, w->pos, "reading list %s: %s", col->name, sb_strerror(rc));
    return 0;
}

static int list_index(wctx *w, const sb_column *col, const sb_cql_term *key, int64_t *idx)
{
    int set;
    int rc = cx_term_int(w->c, key, "[index]", SB_TYPE_INT, idx, &set);
    if (rc != 0)
        return rc;
    if (!set && !w->c->preparing)
        return cx_err(w->c, SB_EINVALID, &key->pos, "Invalid null value for list index");
    if (!set)
        *idx = -1;
    return 0;
}

static int set_list_elem(wctx *w, cellvec *cv, const sb_column *col, const sb_value *pk,
                         const sb_value *ck, int64_t idx, sb_value v, int del,
                         const sb_cql_pos *pos)
{
    sb_value *ids, *vals;
    int n;
    if (!w->b || idx < 0)
        return 0;
    int rc = read_list(w, col, pk, ck, &ids, &vals, &n);
    if (rc != 0)
        return rc;
    if (n == 0 && !del)
        return cx_err(w->c, SB_EINVALID, pos,
                      "Attempted to set an element on a list which is null");
    if (idx >= n)
        return cx_err(w->c, SB_EINVALID, pos, "List index %lld out of bound, list has size %d",
                      (long long)idx, n);
    if (del || v.len < 0)
        return cv_push(w->c, cv, mkcell(w, col, SB_CELL_TOMBSTONE, ids[idx], SB_VALUE_NULL));
    return cv_push(w->c, cv, mkcell(w, col, 0, ids[idx], v));
}

/* --------------------------------------------------------------- helpers */

static int stmt_ts_ttl(cx_ctx *c, const sb_table *t, const sb_cql_term *ts_term,
                       const sb_cql_term *ttl_term, int64_t batch_ts, int64_t *ts, int32_t *ttl)
{
    int set = 0;
    int rc;
    if (ts_term) {
        if (batch_ts)
            return cx_err(c, SB_EINVALID, &ts_term->pos,
                          "Timestamp must be set either on BATCH or individual statements");
        rc = cx_term_int(c, ts_term, "[timestamp]", SB_TYPE_BIGINT, ts, &set);
        if (rc != 0)
            return rc;
        if (set && *ts == INT64_MIN)
            return cx_err(c, SB_EINVALID, &ts_term->pos, "Invalid timestamp value");
    }
    if (!set)
        *ts = batch_ts ? batch_ts : cx_write_ts(c);
    *ttl = t->default_ttl_s;
    if (ttl_term) {
        int64_t v;
        rc = cx_term_int(c, ttl_term, "[ttl]", SB_TYPE_INT, &v, &set);
        if (rc != 0)
            return rc;
        if (set) {
            if (v < 0)
                return cx_err(c, SB_EINVALID, &ttl_term->pos,
                              "A TTL must be greater or equal to 0, but was %lld", (long long)v);
            if (v > MAX_TTL_S)
                return cx_err(c, SB_EINVALID, &ttl_term->pos,
                              "ttl is too large. requested (%lld) maximum (%d)", (long long)v,
                              MAX_TTL_S);
            *ttl = (int32_t)v;
        }
    }
    return 0;
}

static int check_key(cx_ctx *c, const sb_column *col, sb_value v, const sb_cql_pos *pos)
{
    int rc = cx_check_value(c, v, col, pos);
    if (rc || c->preparing)
        return rc;
    if (v.len == 0 && col->kind == SB_COL_PARTITION && col->position == 0 && c->cur_table->npk == 1)
        return cx_err(c, SB_EINVALID, pos, "Key may not be empty");
    return 0;
}

static int upsert(wctx *w, const sb_value *pk, const sb_value *ck, int64_t liveness, cellvec *cv)
{
    if (!w->b)
        return 0;
    if (liveness < 0 && cv->n == 0)
        return 0;
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = sb_wbatch_upsert(w->b, w->t, pk, ck, liveness, liveness >= 0 ? w->ttl : 0, cv->v,
                              cv->n, w->c->now_s, msg);
    return rc ? cx_err_msg(w->c, rc, w->pos, msg) : 0;
}

/* ---------------------------------------------------------------- INSERT */

static int do_insert(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b, int64_t batch_ts)
{
    const sb_cql_insert *in = &st->insert;
    const sb_table *t;
    int rc = cx_resolve_table(c, &in->table, &t);
    if (rc != 0)
        return rc;
    c->cur_table = t;
    if (in->json)
        return cx_err(c, SB_EUNSUPPORTED, &in->json->pos, "INSERT JSON is not supported yet");
    if (in->if_not_exists && !c->cas_ok)
        return cx_err(c, SB_EUNSUPPORTED, &st->pos,
                      "Conditional updates (IF NOT EXISTS) are not supported yet");
    if (in->ncols != in->nvalues)
        return cx_err(c, SB_EINVALID, &st->pos, "Unmatched column names/values");
    wctx w = {.c = c, .t = t, .b = b, .pos = &st->pos};
    rc = stmt_ts_ttl(c, t, in->timestamp, in->ttl, batch_ts, &w.ts, &w.ttl);
    if (rc != 0)
        return rc;
    sb_value *vals = cx_alloc(&c->tmp, sizeof *vals * (size_t)(t->ncols + 1));
    char *given = cx_alloc(&c->tmp, (size_t)t->ncols + 1);
    if (!vals || !given)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if (c->preparing && !c->pk_binds) {
        c->pk_binds = cx_alloc(&c->tmp, sizeof(int) * (size_t)(t->npk + 1));
        if (!c->pk_binds)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < t->npk; i++)
            c->pk_binds[i] = -1;
        c->npk_binds = t->npk;
    }
    for (int i = 0; i < in->ncols; i++) {
        const sb_column *col = sb_table_column(t, in->cols[i].name);
        if (!col)
            return cx_err(c, SB_EINVALID, &in->cols[i].pos, "Undefined column name %s",
                          in->cols[i].name);
        int ci = (int)(col - t->cols);
        if (given[ci])
            return cx_err(c, SB_EINVALID, &in->cols[i].pos, "The column names contains duplicates");
        given[ci] = 1;
        rc = cx_term_eval(c, in->values[i], col->type, col->name, &vals[ci]);
        if (rc != 0)
            return rc;
        if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING) {
            rc = check_key(c, col, vals[ci], &in->values[i]->pos);
            if (rc != 0)
                return rc;
        }
        if (c->preparing && col->kind == SB_COL_PARTITION &&
            in->values[i]->kind == SB_CQL_TERM_BIND && c->pk_binds && c->npk_binds == t->npk)
            c->pk_binds[col->position] = in->values[i]->bind_index;
    }
    char miss[SB_ERRMSG_SIZE];
    size_t o = 0;
    for (int i = 0; i < t->npk; i++)
        if (!given[i])
            o += (size_t)snprintf(miss + o, o < sizeof miss ? sizeof miss - o : 0, "%s%s",
                                  o ? ", " : "", t->cols[i].name);
    if (o)
        return cx_err(c, SB_EINVALID, &in->table.pos, "Some partition key parts are missing: %s",
                      miss);
    for (int i = t->npk; i < t->npk + t->nck; i++)
        if (!given[i])
            return cx_err(c, SB_EINVALID, &in->table.pos, "Missing mandatory PRIMARY KEY part %s",
                          t->cols[i].name);
    cellvec cv = {0};
    for (int i = t->npk + t->nck; i < t->ncols; i++) {
        const sb_column *col = &t->cols[i];
        if (given[i])
            rc = assign_value(&w, &cv, col, vals[i]);
        else if (col->has_default)
            rc = assign_value(&w, &cv, col, (sb_value){col->default_value, col->default_len});
        if (rc != 0)
            return rc;
    }
    if (c->preparing)
        return 0;
    return upsert(&w, vals, vals + t->npk, w.ts, &cv);
}

/* ---------------------------------------------------------------- UPDATE */

typedef struct assign_eval {
    const sb_cql_assign *a;
    const sb_column *col;
    sb_value v;
    int64_t idx; /* list index for ELEM on lists */
    sb_value key;
} assign_eval;

static int eval_assign(cx_ctx *c, const sb_table *t, const sb_cql_assign *a, assign_eval *ae)
{
    char tn[64];
    const sb_column *col = sb_table_column(t, a->col.name);
    if (!col)
        return cx_err(c, SB_EINVALID, &a->col.pos, "Undefined column name %s", a->col.name);
    if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING)
        return cx_err(c, SB_EINVALID, &a->col.pos, "PRIMARY KEY part %s found in SET part",
                      col->name);
    ae->a = a;
    ae->col = col;
    ae->key = SB_VALUE_NULL;
    int coll = sb_type_is_collection(col->type);
    if (a->op != SB_CQL_ASSIGN_SET && (!coll || col->type.frozen)) {
        if (!coll)
            return cx_err(c, SB_EINVALID, &a->pos, "Invalid operation for non collection column %s",
                          col->name);
        return cx_err(c, SB_EINVALID, &a->pos, "Invalid operation for frozen collection column %s",
                      col->name);
    }
    char recv[SB_CQL_NAME_SIZE + 8];
    switch (a->op) {
    case SB_CQL_ASSIGN_SET:
        return cx_term_eval(c, a->value, col->type, col->name, &ae->v);
    case SB_CQL_ASSIGN_ELEM:
        if (col->type.id == SB_TYPE_MAP) {
            snprintf(recv, sizeof recv, "key(%s)", col->name);
            int rc = cx_term_eval(c, a->key, cx_elem_type(col->type, 0), recv, &ae->key);
            if (rc != 0)
                return rc;
            if (ae->key.len == -1)
                return cx_err(c, SB_EINVALID, &a->key->pos, "Invalid null map key");
            snprintf(recv, sizeof recv, "value(%s)", col->name);
            return cx_term_eval(c, a->value, cx_elem_type(col->type, 1), recv, &ae->v);
        }
        if (col->type.id == SB_TYPE_LIST) {
            wctx tmp = {.c = c};
            int rc = list_index(&tmp, col, a->key, &ae->idx);
            if (rc != 0)
                return rc;
            return cx_term_eval(c, a->value, cx_elem_type(col->type, 0), col->name, &ae->v);
        }
        return cx_err(c, SB_EINVALID, &a->pos, "Invalid operation (%s[..] = ..) for set column %s",
                      col->name, col->name);
    case SB_CQL_ASSIGN_PREPEND:
        if (col->type.id != SB_TYPE_LIST)
            return cx_err(c, SB_EINVALID, &a->pos,
                          "Invalid operation (%s = .. + %s) for non list "
                          "column %s",
                          col->name, col->name, col->name);
        return cx_term_eval(c, a->value, col->type, col->name, &ae->v);
    case SB_CQL_ASSIGN_ADD:
        return cx_term_eval(c, a->value, col->type, col->name, &ae->v);
    case SB_CQL_ASSIGN_SUB: {
        sb_type vt = col->type;
        if (col->type.id == SB_TYPE_MAP) /* m = m - {keys} */
            vt = (sb_type){SB_TYPE_SET, col->type.a, 0, 0};
        return cx_term_eval(c, a->value, vt, col->name, &ae->v);
    }
    }
    return cx_err(c, SB_EINVALID, &a->pos, "Unsupported assignment to %s of type %s", col->name,
                  cx_type_str(col->type, tn));
}

static int apply_assign(wctx *w, cellvec *cv, const assign_eval *ae, const sb_value *pk,
                        const sb_value *ck)
{
    const sb_column *col = ae->col;
    const sb_cql_assign *a = ae->a;
    sb_value v = ae->v;
    if (v.len == CQL_UNSET_LEN)
        return 0;
    switch (a->op) {
    case SB_CQL_ASSIGN_SET:
        return assign_value(w, cv, col, v);
    case SB_CQL_ASSIGN_ELEM:
        if (col->type.id == SB_TYPE_MAP) {
            if (ae->key.len == CQL_UNSET_LEN)
                return 0;
            if (v.len < 0)
                return cv_push(w->c, cv, mkcell(w, col, SB_CELL_TOMBSTONE, ae->key, SB_VALUE_NULL));
            return cv_push(w->c, cv, mkcell(w, col, 0, ae->key, v));
        }
        return set_list_elem(w, cv, col, pk, ck, ae->idx, v, 0, &a->pos);
    case SB_CQL_ASSIGN_ADD:
    case SB_CQL_ASSIGN_PREPEND:
        if (v.len < 0)
            return 0;
        return add_elements(w, cv, col, v, a->op == SB_CQL_ASSIGN_PREPEND);
    case SB_CQL_ASSIGN_SUB: {
        if (v.len < 0)
            return 0;
        cx_coll_rd rd;
        if (cx_coll_open(&rd, v, 0) != 0)
            return cx_err(w->c, SB_EINVALID, &a->pos, "Invalid collection value for %s", col->name);
        sb_value item;
        if (col->type.id != SB_TYPE_LIST) {
            while (cx_coll_next(&rd, &item) == 1) {
                int rc = cv_push(w->c, cv, mkcell(w, col, SB_CELL_TOMBSTONE, item, SB_VALUE_NULL));
                if (rc != 0)
                    return rc;
            }
            return 0;
        }
        if (!w->b)
            return 0;
        sb_value *ids, *vals;
        int n;
        int rc = read_list(w, col, pk, ck, &ids, &vals, &n);
        if (rc != 0)
            return rc;
        sb_type et = cx_elem_type(col->type, 0);
        while (cx_coll_next(&rd, &item) == 1) {
            for (int i = 0; i < n; i++) {
                if (ids[i].len >= 0 && sb_value_cmp(et, vals[i], item) == 0) {
                    rc =
                        cv_push(w->c, cv, mkcell(w, col, SB_CELL_TOMBSTONE, ids[i], SB_VALUE_NULL));
                    if (rc != 0)
                        return rc;
                    ids[i].len = -1; /* each element removed once */
                }
            }
        }
        return 0;
    }
    }
    return 0;
}

/* Full clustering keys of the rows a WHERE names (UPDATE / DELETE of rows). */
static const sb_value *slice_ck(const cx_where *wh, int i)
{
    return wh->slices[i].start.vals;
}

static int do_update(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b, int64_t batch_ts)
{
    const sb_cql_update *u = &st->update;
    const sb_table *t;
    int rc = cx_resolve_table(c, &u->table, &t);
    if (rc != 0)
        return rc;
    c->cur_table = t;
    if ((u->if_exists || u->nconds) && !c->cas_ok)
        return cx_err(c, SB_EUNSUPPORTED, &st->pos,
                      "Conditional updates (IF) are not supported yet");
    wctx w = {.c = c, .t = t, .b = b, .pos = &st->pos};
    rc = stmt_ts_ttl(c, t, u->timestamp, u->ttl, batch_ts, &w.ts, &w.ttl);
    if (rc != 0)
        return rc;
    assign_eval *ae = cx_alloc(&c->tmp, sizeof *ae * (size_t)(u->nset + 1));
    if (!ae)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < u->nset; i++)
        if ((rc = eval_assign(c, t, u->set[i], &ae[i])) != 0)
            return rc;
    int only_static = u->nset > 0;
    for (int i = 0; i < u->nset; i++)
        only_static &= ae[i].col->kind == SB_COL_STATIC;
    cx_where wh;
    rc = cx_where_compile(c, t, u->where, u->nwhere,
                          only_static ? CQL_WHERE_UPDATE_STATIC : CQL_WHERE_UPDATE, 0, &wh);
    if (rc != 0 || c->preparing)
        return rc;
    for (int p = 0; p < wh.nparts; p++) {
        const sb_value *pk = wh.parts + (size_t)p * t->npk;
        for (int s = 0; s < wh.nslices; s++) {
            const sb_value *ck = wh.ck_eq == t->nck ? slice_ck(&wh, s) : NULL;
            cellvec cv = {0};
            for (int i = 0; i < u->nset; i++)
                if ((rc = apply_assign(&w, &cv, &ae[i], pk, ck)) != 0)
                    return rc;
            if ((rc = upsert(&w, pk, ck, -1, &cv)) != 0)
                return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- DELETE */

static int do_delete(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b, int64_t batch_ts)
{
    const sb_cql_delete *d = &st->del;
    const sb_table *t;
    int rc = cx_resolve_table(c, &d->table, &t);
    if (rc != 0)
        return rc;
    c->cur_table = t;
    if ((d->if_exists || d->nconds) && !c->cas_ok)
        return cx_err(c, SB_EUNSUPPORTED, &st->pos,
                      "Conditional deletions (IF) are not supported yet");
    wctx w = {.c = c, .t = t, .b = b, .pos = &st->pos};
    rc = stmt_ts_ttl(c, t, d->timestamp, NULL, batch_ts, &w.ts, &w.ttl);
    if (rc != 0)
        return rc;
    w.ttl = 0;
    assign_eval *tg = cx_alloc(&c->tmp, sizeof *tg * (size_t)(d->ntargets + 1));
    if (!tg)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < d->ntargets; i++) {
        const sb_cql_delete_target *dt = &d->targets[i];
        const sb_column *col = sb_table_column(t, dt->col.name);
        if (!col)
            return cx_err(c, SB_EINVALID, &dt->col.pos, "Undefined column name %s", dt->col.name);
        if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING)
            return cx_err(c, SB_EINVALID, &dt->col.pos,
                          "Invalid identifier %s for deletion (should not be a PRIMARY KEY part)",
                          col->name);
        tg[i].col = col;
        tg[i].key = SB_VALUE_NULL;
        tg[i].idx = -1;
        if (dt->key) {
            if (!sb_type_is_collection(col->type) || col->type.frozen)
                return cx_err(c, SB_EINVALID, &dt->key->pos,
                              "Invalid element deletion on non (non-frozen) collection column %s",
                              col->name);
            if (col->type.id == SB_TYPE_LIST) {
                rc = list_index(&w, col, dt->key, &tg[i].idx);
            } else {
                rc = cx_term_eval(c, dt->key, cx_elem_type(col->type, 0), col->name, &tg[i].key);
                if (rc == 0 && tg[i].key.len == -1)
                    rc = cx_err(c, SB_EINVALID, &dt->key->pos, "Invalid null value for %s key",
                                col->name);
            }
            if (rc != 0)
                return rc;
        }
    }
    cx_where wh;
    rc = cx_where_compile(c, t, d->where, d->nwhere, CQL_WHERE_DELETE, 0, &wh);
    if (rc != 0)
        return rc;
    int full_row = wh.ck_eq == t->nck;
    if (d->ntargets > 0 && !full_row)
        return cx_err(c, SB_EINVALID, &st->pos,
                      "Range deletions are not supported for specific columns");
    if (c->preparing || !b)
        return 0;
    char msg[SB_ERRMSG_SIZE] = "";
    for (int p = 0; p < wh.nparts; p++) {
        const sb_value *pk = wh.parts + (size_t)p * t->npk;
        if (d->ntargets == 0 && (t->nck == 0 || (wh.ck_eq == 0 && !wh.ck_slice))) {
            rc = sb_wbatch_delete_partition(b, t, pk, w.ts, c->now_s, msg);
            if (rc != 0)
                return cx_err_msg(c, rc, &st->pos, msg);
            continue;
        }
        for (int s = 0; s < wh.nslices; s++) {
            const cx_slice *sl = &wh.slices[s];
            if (d->ntargets == 0) {
                if (full_row)
                    rc = sb_wbatch_delete_row(b, t, pk, sl->start.vals, w.ts, c->now_s, msg);
                else
                    rc =
                        sb_wbatch_delete_range(b, t, pk, &sl->start, &sl->end, w.ts, c->now_s, msg);
                if (rc != 0)
                    return cx_err_msg(c, rc, &st->pos, msg);
                continue;
            }
            cellvec cv = {0};
            for (int i = 0; i < d->ntargets; i++) {
                const sb_column *col = tg[i].col;
                int coll = sb_type_is_collection(col->type) && !col->type.frozen;
                if (!d->targets[i].key)
                    rc = cv_push(c, &cv,
                                 mkcell(&w, col, coll ? SB_CELL_COMPLEX_DELETE : SB_CELL_TOMBSTONE,
                                        SB_VALUE_NULL, SB_VALUE_NULL));
                else if (col->type.id == SB_TYPE_LIST)
                    rc = set_list_elem(&w, &cv, col, pk, sl->start.vals, tg[i].idx, SB_VALUE_NULL,
                                       1, &d->targets[i].key->pos);
                else if (tg[i].key.len >= 0)
                    rc = cv_push(c, &cv,
                                 mkcell(&w, col, SB_CELL_TOMBSTONE, tg[i].key, SB_VALUE_NULL));
                if (rc != 0)
                    return rc;
            }
            if ((rc = upsert(&w, pk, sl->start.vals, -1, &cv)) != 0)
                return rc;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- BATCH */

int cx_exec_write(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b)
{
    switch (st->kind) {
    case SB_CQL_STMT_INSERT:
        return do_insert(c, st, b, 0);
    case SB_CQL_STMT_UPDATE:
        return do_update(c, st, b, 0);
    case SB_CQL_STMT_DELETE:
        return do_delete(c, st, b, 0);
    case SB_CQL_STMT_BATCH:
        break;
    default:
        return cx_err(c, SB_EINVALID, &st->pos, "Not a write statement");
    }
    const sb_cql_batch *bt = &st->batch;
    if (bt->type == SB_CQL_BATCH_COUNTER)
        return cx_err(c, SB_EUNSUPPORTED, &st->pos, "Counter batches are not supported");
    int64_t ts = 0;
    if (bt->timestamp) {
        int set;
        int rc = cx_term_int(c, bt->timestamp, "[timestamp]", SB_TYPE_BIGINT, &ts, &set);
        if (rc != 0)
            return rc;
        if (!set)
            ts = 0;
    }
    for (int i = 0; i < bt->nstmts; i++) {
        const sb_cql_stmt *s = bt->stmts[i];
        int rc;
        switch (s->kind) {
        case SB_CQL_STMT_INSERT:
            rc = do_insert(c, s, b, ts);
            break;
        case SB_CQL_STMT_UPDATE:
            rc = do_update(c, s, b, ts);
            break;
        case SB_CQL_STMT_DELETE:
            rc = do_delete(c, s, b, ts);
            break;
        default:
            rc = cx_err(c, SB_EINVALID, &s->pos,
                        "Only INSERT, UPDATE and DELETE statements are allowed in a BATCH");
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
