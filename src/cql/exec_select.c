/*
 * SELECT.
 *
 * Compile: selectors (columns, writetime, ttl, token, count/min/max/sum/
 * avg), the WHERE clause (exec_where.c), ORDER BY (the reverse of the
 * clustering order, only with the partition key restricted), GROUP BY (a
 * primary key prefix), LIMIT and PER PARTITION LIMIT.
 *
 * Run: a scan yields rows from the listed partitions (each clustering
 * slice in turn, reversed for ORDER BY) or from the token range, or from a
 * virtual table provider; each row goes through the filters, the
 * per-partition limit, then either straight to the output or into the
 * current group's aggregates.
 *
 * Paging: a page ends after page_size output rows (groups for GROUP BY);
 * the paging state records where the last counted row was (partition
 * index, token, primary key) and the counts so far, and the next page
 * skips up to and past it. Aggregates without GROUP BY read everything
 * and return one row, as Cassandra does.
 */
#include <stdlib.h>
#include <string.h>

#include "cql/exec_int.h"

enum { SK_COL, SK_WRITETIME, SK_TTL, SK_TOKEN, SK_COUNT, SK_MIN, SK_MAX, SK_SUM, SK_AVG };

typedef struct sel {
    int kind;
    int col; /* column index; -1 for count(*) */
    sb_type type;
    const char *name;
} sel;

typedef struct agg {
    int64_t count;
    int64_t isum;
    double dsum;
    sb_buf best;
    int has_best;
} agg;

typedef struct splan {
    const sb_table *t;
    int is_virtual;
    sel *sels;
    int nsels;
    int has_agg;
    int ngroup;
    int distinct;
    int json;
    cx_where w;
    int reversed;
    int64_t limit;
    int64_t pplimit;
    int sort_in_memory; /* IN on the partition key with ORDER BY */
} splan;

/* Where a scan stands, for paging and for resuming. */
typedef struct spos {
    int mode; /* 0: listed partitions, 1: token range */
    int32_t part_idx;
    int64_t token;
    int64_t total;
    int64_t ppcount;
    sb_value *pk, *ck;
    int valid;
    cx_mem mem;
} spos;

typedef struct scan {
    cx_ctx *c;
    splan *p;
    int part_idx, slice_idx;
    int range_phase; /* range mode: 0 continuation of resumed partition, 1 range, 2 done */
    void *it;        /* cx_iter_open */
    int started;
    /* resume */
    const spos *resume;
    int skipping;
    /* virtual rows */
    sb_row *vrows;
    int nvrows, vi;
} scan;

/* ------------------------------------------------------------- compiling */

static int agg_name(cx_ctx *c, const char *fn, int kind, const sb_column *col, const char **out)
{
    char buf[SB_CQL_NAME_SIZE + 32];
    if (kind == SK_WRITETIME || kind == SK_TTL)
        snprintf(buf, sizeof buf, "%s(%s)", fn, col->name);
    else
        snprintf(buf, sizeof buf, "system.%s(%s)", fn, col->name);
    *out = cx_strdup(c->rm, buf);
    return *out ? 0 : cx_err(c, SB_ENOMEM, NULL, "out of memory");
}

static int numeric_type(uint8_t id)
{
    return cx_type_is_integer(id) || id == SB_TYPE_FLOAT || id == SB_TYPE_DOUBLE;
}

static int compile_selector(cx_ctx *c, splan *p, const sb_cql_selector *s, sel *out)
{
    const sb_table *t = p->t;
    memset(out, 0, sizeof *out);
    if (s->kind == SB_CQL_SEL_COLUMN) {
        const sb_column *col = sb_table_column(t, s->name);
        if (!col)
            return cx_err(c, SB_EINVALID, &s->pos, "Undefined column name %s", s->name);
        out->kind = SK_COL;
        out->col = (int)(col - t->cols);
        out->type = col->type;
        out->name = col->name;
        return 0;
    }
    if (s->kind != SB_CQL_SEL_FUNCTION)
        return cx_err(c, SB_EUNSUPPORTED, &s->pos,
                      s->kind == SB_CQL_SEL_CAST ? "CAST is not supported yet"
                                                 : "Selecting terms is not supported");
    const char *fn = s->name;
    if (strcmp(fn, "count") == 0 &&
        (s->star || (s->nargs == 1 && s->args[0]->kind == SB_CQL_SEL_TERM))) {
        out->kind = SK_COUNT;
        out->col = -1;
        out->type = (sb_type){SB_TYPE_BIGINT, 0, 0, 0};
        out->name = "count";
        p->has_agg = 1;
        return 0;
    }
    if (strcmp(fn, "token") == 0) {
        int ok = s->nargs == t->npk;
        for (int i = 0; ok && i < s->nargs; i++)
            ok = s->args[i]->kind == SB_CQL_SEL_COLUMN &&
                 strcmp(s->args[i]->name, t->cols[i].name) == 0;
        if (!ok)
            return cx_err(c, SB_EINVALID, &s->pos,
                          "token() must be applied to the partition key columns in order");
        out->kind = SK_TOKEN;
        out->col = -1;
        out->type = (sb_type){SB_TYPE_BIGINT, 0, 0, 0};
        char buf[SB_ERRMSG_SIZE];
        size_t o = (size_t)snprintf(buf, sizeof buf, "system.token(");
        for (int i = 0; i < t->npk && o < sizeof buf; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? ", " : "", t->cols[i].name);
        snprintf(buf + (o < sizeof buf ? o : sizeof buf - 1),
                 sizeof buf - (o < sizeof buf ? o : sizeof buf - 1), ")");
        out->name = cx_strdup(c->rm, buf);
        return out->name ? 0 : cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    static const struct {
        const char *name;
        int kind;
    } fns[] = {{"count", SK_COUNT}, {"min", SK_MIN},     {"max", SK_MAX},
               {"sum", SK_SUM},     {"avg", SK_AVG},     {"writetime", SK_WRITETIME},
               {"ttl", SK_TTL},     {"maxwritetime", -1}};
    int kind = -2;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fns[i].name, fn) == 0)
            kind = fns[i].kind;
    if (kind < 0)
        return cx_err(c, SB_EINVALID, &s->pos, "Unknown function '%s'", fn);
    if (s->nargs != 1 || s->star)
        return cx_err(c, SB_EINVALID, &s->pos,
                      "Invalid number of arguments in call to function %s: 1 required but %d "
                      "provided",
                      fn, s->star ? 0 : s->nargs);
    if (s->args[0]->kind != SB_CQL_SEL_COLUMN)
        return cx_err(c, SB_EUNSUPPORTED, &s->args[0]->pos,
                      "Only columns are supported as arguments of %s", fn);
    const sb_column *col = sb_table_column(t, s->args[0]->name);
    if (!col)
        return cx_err(c, SB_EINVALID, &s->args[0]->pos, "Undefined column name %s",
                      s->args[0]->name);
    out->kind = kind;
    out->col = (int)(col - t->cols);
    if (kind == SK_WRITETIME || kind == SK_TTL) {
        const char *what = kind == SK_WRITETIME ? "writeTime" : "ttl";
        if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING)
            return cx_err(c, SB_EINVALID, &s->pos,
                          "Cannot use selection function %s on PRIMARY KEY part %s", what,
                          col->name);
        if (sb_type_is_collection(col->type) && !col->type.frozen)
            return cx_err(c, SB_EINVALID, &s->pos,
                          "Cannot use selection function %s on non-frozen collection %s", what,
                          col->name);
        out->type = (sb_type){kind == SK_WRITETIME ? SB_TYPE_BIGINT : SB_TYPE_INT, 0, 0, 0};
        return agg_name(c, fn, kind, col, &out->name);
    }
    p->has_agg = 1;
    if (kind == SK_COUNT)
        out->type = (sb_type){SB_TYPE_BIGINT, 0, 0, 0};
    else
        out->type = col->type;
    if ((kind == SK_SUM || kind == SK_AVG) && !numeric_type(col->type.id)) {
        char tn[64];
        return cx_err(c, SB_EINVALID, &s->pos,
                      "Invalid call to function %s, none of its type signatures match (%s is of "
                      "type %s)",
                      fn, col->name, cx_type_str(col->type, tn));
    }
    if ((kind == SK_MIN || kind == SK_MAX) && sb_type_is_collection(col->type) && !col->type.frozen)
        return cx_err(c, SB_EINVALID, &s->pos, "Invalid call to function %s on collection %s", fn,
                      col->name);
    return agg_name(c, fn, kind, col, &out->name);
}

static int compile_select(cx_ctx *c, const sb_cql_select *q, splan *p)
{
    const sb_table *t = p->t;
    int rc;
    if (q->star) {
        p->nsels = t->ncols;
        p->sels = cx_alloc(&c->tmp, sizeof *p->sels * (size_t)(t->ncols + 1));
        if (!p->sels)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < t->ncols; i++)
            p->sels[i] = (sel){SK_COL, i, t->cols[i].type, t->cols[i].name};
    } else {
        p->nsels = q->nsel;
        p->sels = cx_alloc(&c->tmp, sizeof *p->sels * (size_t)(q->nsel + 1));
        if (!p->sels)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < q->nsel; i++) {
            if ((rc = compile_selector(c, p, q->sel[i], &p->sels[i])) != 0)
                return rc;
            if (q->sel[i]->alias)
                p->sels[i].name = q->sel[i]->alias;
        }
    }
    if (q->json)
        return cx_err(c, SB_EUNSUPPORTED, &q->table.pos, "SELECT JSON is not supported yet");
    p->distinct = q->distinct;
    if (q->distinct) {
        for (int i = 0; i < p->nsels; i++) {
            const sel *s = &p->sels[i];
            if (s->col >= 0 && s->kind == SK_COL && t->cols[s->col].kind != SB_COL_PARTITION &&
                t->cols[s->col].kind != SB_COL_STATIC)
                return cx_err(c, SB_EINVALID, &q->table.pos,
                              "SELECT DISTINCT queries must only request partition key columns "
                              "and/or static columns (not %s)",
                              t->cols[s->col].name);
        }
        for (int k = 0; k < t->npk; k++) {
            int found = 0;
            for (int i = 0; i < p->nsels; i++)
                found |= p->sels[i].kind == SK_COL && p->sels[i].col == k;
            if (!found && !p->has_agg)
                return cx_err(c, SB_EINVALID, &q->table.pos,
                              "SELECT DISTINCT queries must request all the partition key "
                              "columns (missing %s)",
                              t->cols[k].name);
        }
    }
    /* WHERE */
    rc = cx_where_compile(c, t, q->where, q->nwhere, CQL_WHERE_SELECT,
                          q->allow_filtering || p->is_virtual, &p->w);
    if (rc != 0)
        return rc;
    /* GROUP BY: a primary key prefix. */
    for (int i = 0; i < q->ngroup_by; i++) {
        const sb_column *col = sb_table_column(t, q->group_by[i].name);
        if (!col)
            return cx_err(c, SB_EINVALID, &q->group_by[i].pos, "Undefined column name %s",
                          q->group_by[i].name);
        int ci = (int)(col - t->cols);
        if (ci >= t->npk + t->nck)
            return cx_err(c, SB_EINVALID, &q->group_by[i].pos,
                          "Group by is currently only supported on the columns of the PRIMARY "
                          "KEY, got %s",
                          col->name);
        if (ci != i)
            return cx_err(c, SB_EINVALID, &q->group_by[i].pos,
                          "Group by currently only support groups of columns following their "
                          "declared order in the PRIMARY KEY");
    }
    p->ngroup = q->ngroup_by;
    if (p->ngroup > 0 && p->ngroup < t->npk)
        return cx_err(c, SB_EINVALID, &q->group_by[p->ngroup - 1].pos,
                      "Group by currently only support groups of columns following their "
                      "declared order in the PRIMARY KEY");
    /* ORDER BY */
    if (q->norder_by > 0) {
        if (!p->w.single)
            return cx_err(c, SB_EINVALID, &q->order_by[0].col.pos,
                          "ORDER BY is only supported when the partition key is restricted by an "
                          "EQ or an IN.");
        int rev = -1;
        for (int i = 0; i < q->norder_by; i++) {
            const sb_cql_ordering *o = &q->order_by[i];
            const sb_column *col = sb_table_column(t, o->col.name);
            if (!col)
                return cx_err(c, SB_EINVALID, &o->col.pos, "Undefined column name %s", o->col.name);
            if (col->kind != SB_COL_CLUSTERING)
                return cx_err(c, SB_EINVALID, &o->col.pos,
                              "Order by is currently only supported on the clustered columns of "
                              "the PRIMARY KEY, got %s",
                              col->name);
            if (col->position != i)
                return cx_err(c, SB_EINVALID, &o->col.pos,
                              "Order by currently only supports the ordering of columns "
                              "following their declared order in the PRIMARY KEY");
            int r = (o->desc != col->desc);
            if (rev >= 0 && r != rev)
                return cx_err(c, SB_EINVALID, &o->col.pos, "Unsupported order by relation");
            rev = r;
        }
        p->reversed = rev > 0;
        if (p->w.nparts > 1 || (c->preparing && p->w.single)) {
            int many = 0;
            for (int i = 0; i < q->nwhere; i++)
                many |= q->where[i]->op == SB_CQL_OP_IN && q->where[i]->kind == SB_CQL_REL_COLUMN &&
                        sb_table_column(t, q->where[i]->cols[0].name) &&
                        sb_table_column(t, q->where[i]->cols[0].name)->kind == SB_COL_PARTITION;
            p->sort_in_memory = many;
        }
    }
    /* LIMIT / PER PARTITION LIMIT */
    p->limit = INT64_MAX;
    p->pplimit = INT64_MAX;
    int set;
    int64_t v;
    if (q->limit) {
        if ((rc = cx_term_int(c, q->limit, "[limit]", SB_TYPE_INT, &v, &set)) != 0)
            return rc;
        if (set && v <= 0)
            return cx_err(c, SB_EINVALID, &q->limit->pos, "LIMIT must be strictly positive");
        if (set)
            p->limit = v;
    }
    if (q->per_partition_limit) {
        if ((rc = cx_term_int(c, q->per_partition_limit, "[per_partition_limit]", SB_TYPE_INT, &v,
                              &set)) != 0)
            return rc;
        if (set && v <= 0)
            return cx_err(c, SB_EINVALID, &q->per_partition_limit->pos,
                          "PER PARTITION LIMIT must be strictly positive");
        if (set)
            p->pplimit = v;
    }
    if (p->distinct)
        p->pplimit = 1;
    return 0;
}

/* -------------------------------------------------------------- paging */

static int put_val(sb_buf *b, sb_value v)
{
    int rc = sb_buf_put_u32be(b, (uint32_t)v.len);
    if (rc == 0 && v.len > 0)
        rc = sb_buf_append(b, v.p, (size_t)v.len);
    return rc;
}

static int encode_state(const splan *p, const spos *pos, sb_buf *b)
{
    int rc = sb_buf_putc(b, 'S');
    rc |= sb_buf_putc(b, 1);
    rc |= sb_buf_putc(b, (uint8_t)pos->mode);
    rc |= sb_buf_put_u32be(b, (uint32_t)pos->part_idx);
    rc |= sb_buf_put_u64be(b, (uint64_t)pos->token);
    rc |= sb_buf_put_u64be(b, (uint64_t)pos->total);
    rc |= sb_buf_put_u64be(b, (uint64_t)pos->ppcount);
    rc |= sb_buf_put_u16be(b, (uint16_t)p->t->npk);
    for (int i = 0; i < p->t->npk; i++)
        rc |= put_val(b, pos->pk[i]);
    rc |= sb_buf_put_u16be(b, (uint16_t)p->t->nck);
    for (int i = 0; i < p->t->nck; i++)
        rc |= put_val(b, pos->ck[i]);
    return rc ? SB_ENOMEM : 0;
}

static uint64_t rd_be(const uint8_t *q, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | q[i];
    return v;
}

static int decode_state(cx_ctx *c, const splan *p, const uint8_t *s, size_t len, spos *pos)
{
    const uint8_t *q = s, *end = s + len;
    memset(pos, 0, sizeof *pos);
    if (len < 31 || q[0] != 'S' || q[1] != 1)
        goto bad;
    pos->mode = q[2];
    pos->part_idx = (int32_t)rd_be(q + 3, 4);
    pos->token = (int64_t)rd_be(q + 7, 8);
    pos->total = (int64_t)rd_be(q + 15, 8);
    pos->ppcount = (int64_t)rd_be(q + 23, 8);
    q += 31;
    for (int pass = 0; pass < 2; pass++) {
        int want = pass ? p->t->nck : p->t->npk;
        if (end - q < 2 || (int)rd_be(q, 2) != want)
            goto bad;
        q += 2;
        sb_value *v = cx_alloc(&c->tmp, sizeof *v * (size_t)(want + 1));
        if (!v)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < want; i++) {
            if (end - q < 4)
                goto bad;
            int32_t l = (int32_t)rd_be(q, 4);
            q += 4;
            if (l < -1 || end - q < (l > 0 ? l : 0))
                goto bad;
            v[i] = l < 0 ? SB_VALUE_NULL : (sb_value){q, l};
            q += l > 0 ? l : 0;
        }
        if (pass)
            pos->ck = v;
        else
            pos->pk = v;
    }
    if (q != end || pos->part_idx < 0 || pos->total < 0 || pos->ppcount < 0 ||
        (pos->mode == 0 && pos->part_idx > p->w.nparts))
        goto bad;
    pos->valid = 1;
    return 0;
bad:
    return cx_err(c, SB_EINVALID, NULL, "Invalid value for the paging state");
}

static int save_pos(spos *pos, const splan *p, const sb_row *row, int part_idx, int64_t total,
                    int64_t ppcount)
{
    cx_mem_free(&pos->mem);
    const sb_table *t = p->t;
    pos->pk = cx_alloc(&pos->mem, sizeof(sb_value) * (size_t)(t->npk + 1));
    pos->ck = cx_alloc(&pos->mem, sizeof(sb_value) * (size_t)(t->nck + 1));
    if (!pos->pk || !pos->ck)
        return SB_ENOMEM;
    for (int i = 0; i < t->npk; i++)
        if (cx_value_dup(&pos->mem, &pos->pk[i], row->pk[i]) != 0)
            return SB_ENOMEM;
    for (int i = 0; i < t->nck; i++)
        if (cx_value_dup(&pos->mem, &pos->ck[i], row->ck[i]) != 0)
            return SB_ENOMEM;
    pos->mode = p->w.single ? 0 : 1;
    pos->part_idx = part_idx;
    pos->token = row->token;
    pos->total = total;
    pos->ppcount = ppcount;
    pos->valid = 1;
    return 0;
}

/* ---------------------------------------------------------------- scan */

static int pk_equal(const sb_table *t, const sb_value *a, const sb_value *b)
{
    for (int i = 0; i < t->npk; i++)
        if (sb_value_cmp(t->cols[i].type, a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* Compare a full clustering key with a bound prefix in storage order. */
static int ck_vs_bound(const sb_table *t, const sb_value *ck, const sb_bound *b)
{
    for (int i = 0; i < b->n; i++) {
        const sb_column *col = &t->cols[t->npk + i];
        int c = sb_value_cmp(col->type, ck[i], b->vals[i]);
        if (c)
            return col->desc ? -c : c;
    }
    return 0;
}

static int in_slice(const sb_table *t, const sb_value *ck, const cx_slice *s)
{
    if (s->start.n > 0) {
        int c = ck_vs_bound(t, ck, &s->start);
        if (c < 0 || (c == 0 && !s->start.inclusive))
            return 0;
    }
    if (s->end.n > 0) {
        int c = ck_vs_bound(t, ck, &s->end);
        if (c > 0 || (c == 0 && !s->end.inclusive))
            return 0;
    }
    return 1;
}

static int open_iter(scan *s, const sb_value *pk, const cx_slice *sl, int reversed,
                     const spos *resume)
{
    cx_ctx *c = s->c;
    const sb_table *t = s->p->t;
    sb_read r;
    memset(&r, 0, sizeof r);
    r.t = t;
    r.now_s = c->now_s;
    r.reversed = reversed;
    if (pk) {
        r.pk = pk;
    } else {
        r.tok_lo = s->p->w.tok_lo;
        r.tok_lo_inclusive = s->p->w.tok_lo_incl;
        r.tok_hi = s->p->w.tok_hi;
        if (resume) {
            r.tok_lo = resume->token;
            r.tok_lo_inclusive = 0;
            if (r.tok_lo >= r.tok_hi) {
                s->it = NULL;
                return 0;
            }
        }
    }
    if (sl) {
        r.start = sl->start;
        r.end = sl->end;
    }
    /* Resuming inside the partition: start after the last row. */
    if (pk && resume && resume->valid && t->nck > 0 &&
        (!sl || (sl->start.n == 0 && sl->end.n == 0))) {
        sb_bound b = {resume->ck, t->nck, 0};
        int nonnull = 1;
        for (int i = 0; i < t->nck; i++)
            nonnull &= resume->ck[i].len >= 0;
        if (nonnull) {
            if (reversed)
                r.end = b;
            else
                r.start = b;
        }
    }
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = cx_iter_open(c, &r, &s->it, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, NULL, msg);
    return 0;
}

/* Next raw row of the scan (before filters), 1 / 0 / < 0. */
static int scan_raw(scan *s, sb_row *row)
{
    splan *p = s->p;
    const sb_table *t = p->t;
    int rc;
    if (p->is_virtual) {
        if (s->vi >= s->nvrows)
            return 0;
        *row = s->vrows[s->vi++];
        return 1;
    }
    for (;;) {
        if (s->it) {
            rc = cx_iter_next(s->c, s->it, row);
            if (rc != 0) {
                if (rc < 0)
                    return cx_err(s->c, rc, NULL, "read failed: %s", sb_strerror(rc));
                return 1;
            }
            cx_iter_close(s->c, s->it);
            s->it = NULL;
        }
        const spos *res = s->resume && s->resume->valid ? s->resume : NULL;
        if (p->w.empty)
            return 0;
        if (p->w.single) {
            /* advance to the next (partition, slice) */
            if (!s->started) {
                s->started = 1;
                s->part_idx = res ? res->part_idx : 0;
                s->slice_idx = 0;
            } else if (++s->slice_idx >= p->w.nslices) {
                s->slice_idx = 0;
                s->part_idx++;
            }
            if (s->part_idx >= p->w.nparts)
                return 0;
            int si = p->reversed ? p->w.nslices - 1 - s->slice_idx : s->slice_idx;
            const sb_value *pk = p->w.parts + (size_t)s->part_idx * t->npk;
            int resuming_here = res && s->part_idx == res->part_idx;
            if (resuming_here && t->nck == 0)
                continue; /* that partition's only row was returned */
            rc = open_iter(s, pk, &p->w.slices[si], p->reversed,
                           resuming_here && p->w.nslices == 1 ? res : NULL);
            if (rc != 0)
                return rc;
            continue;
        }
        /* token range */
        if (s->range_phase == 0) {
            s->range_phase = 1;
            if (res && t->nck > 0) {
                rc = open_iter(s, res->pk, NULL, 0, res);
                if (rc != 0)
                    return rc;
                continue;
            }
        }
        if (s->range_phase == 1) {
            s->range_phase = 2;
            rc = open_iter(s, NULL, NULL, 0, res);
            if (rc != 0)
                return rc;
            continue;
        }
        return 0;
    }
}

/* Skips rows at or before the resume position. */
static int before_resume(scan *s, const sb_row *row)
{
    const spos *res = s->resume;
    const splan *p = s->p;
    const sb_table *t = p->t;
    if (!res || !res->valid || !s->skipping)
        return 0;
    if (p->w.single) {
        if (s->part_idx != res->part_idx) {
            s->skipping = 0;
            return 0;
        }
    } else {
        if (row->token != res->token || !pk_equal(t, row->pk, res->pk)) {
            if (row->token > res->token)
                s->skipping = 0;
            return row->token < res->token;
        }
    }
    if (t->nck == 0)
        return 1;
    int c = cx_ck_cmp(t, row->ck, res->ck);
    if (p->reversed)
        c = -c;
    return c <= 0;
}

/* ----------------------------------------------------------- output */

typedef struct outbuf {
    sb_value *vals;
    size_t n, cap; /* values */
} outbuf;

static int out_push(cx_ctx *c, outbuf *o, sb_value v)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        sb_value *nv = realloc(o->vals, sizeof *nv * cap);
        if (!nv)
            return SB_ENOMEM;
        o->vals = nv;
        o->cap = cap;
    }
    sb_value d;
    if (cx_value_dup(c->rm, &d, v) != 0)
        return SB_ENOMEM;
    o->vals[o->n++] = d;
    return 0;
}

static sb_value be_value(cx_mem *m, uint64_t v, int n)
{
    uint8_t *b = cx_alloc(m, (size_t)n);
    if (!b)
        return (sb_value){NULL, CQL_UNSET_LEN};
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
    return (sb_value){b, n};
}

static const sb_read_cell *simple_cell(cx_rowv *rv, int col)
{
    return rv->count[col] ? &rv->row->cells[rv->first[col]] : NULL;
}

/* Value of a non-aggregate selector for the current row, in rv->scratch. */
static int sel_value(cx_ctx *c, cx_rowv *rv, const sel *s, sb_value *out)
{
    const sb_table *t = rv->t;
    const sb_read_cell *cell;
    switch (s->kind) {
    case SK_COL: {
        int rc = cx_rowv_value(rv, s->col, out);
        const sb_column *col = &t->cols[s->col];
        /* An empty-collection DEFAULT reads as that empty collection. */
        if (rc == 0 && out->len < 0 && col->has_default && sb_type_is_collection(col->type) &&
            !col->type.frozen)
            *out = (sb_value){col->default_value, col->default_len};
        return rc;
    }
    case SK_WRITETIME:
        cell = simple_cell(rv, s->col);
        *out = cell ? be_value(&rv->scratch, (uint64_t)cell->ts_us, 8) : SB_VALUE_NULL;
        break;
    case SK_TTL:
        cell = simple_cell(rv, s->col);
        if (!cell || !cell->expire_s) {
            *out = SB_VALUE_NULL;
        } else {
            int64_t left = cell->expire_s - c->now_s;
            *out = be_value(&rv->scratch, (uint64_t)(left > 0 ? left : 0), 4);
        }
        break;
    case SK_TOKEN:
        *out = be_value(&rv->scratch, (uint64_t)rv->row->token, 8);
        break;
    default:
        *out = SB_VALUE_NULL;
        return 0;
    }
    return out->len == CQL_UNSET_LEN ? SB_ENOMEM : 0;
}

static void agg_reset(agg *a, int n)
{
    for (int i = 0; i < n; i++) {
        a[i].count = 0;
        a[i].isum = 0;
        a[i].dsum = 0;
        a[i].has_best = 0;
        sb_buf_reset(&a[i].best);
    }
}

static int agg_add(cx_rowv *rv, const sel *s, agg *a)
{
    sb_value v;
    if (s->kind == SK_COUNT && s->col < 0) {
        a->count++;
        return 0;
    }
    int rc = cx_rowv_value(rv, s->col, &v);
    if (rc != 0)
        return rc;
    if (v.len < 0)
        return 0;
    a->count++;
    sb_type t = rv->t->cols[s->col].type;
    switch (s->kind) {
    case SK_MIN:
    case SK_MAX: {
        int better = !a->has_best;
        if (!better) {
            sb_value cur = {a->best.data, (int32_t)a->best.len};
            int cmp = sb_value_cmp(t, v, cur);
            better = s->kind == SK_MIN ? cmp < 0 : cmp > 0;
        }
        if (better) {
            sb_buf_reset(&a->best);
            if (sb_buf_append(&a->best, v.p, (size_t)v.len) != 0)
                return SB_ENOMEM;
            a->has_best = 1;
        }
        break;
    }
    case SK_SUM:
    case SK_AVG: {
        int64_t i;
        double d;
        if (cx_type_is_integer(t.id) && cx_value_as_i64(t, v, &i) == 0)
            a->isum = (int64_t)((uint64_t)a->isum + (uint64_t)i);
        else if (cx_value_as_double(t, v, &d) == 0)
            a->dsum += d;
        break;
    }
    }
    return 0;
}

static sb_value num_value(cx_mem *m, sb_type t, int64_t i, double d)
{
    if (cx_type_is_integer(t.id)) {
        int n = t.id == SB_TYPE_TINYINT    ? 1
                : t.id == SB_TYPE_SMALLINT ? 2
                : t.id == SB_TYPE_INT      ? 4
                                           : 8;
        return be_value(m, (uint64_t)i, n);
    }
    if (t.id == SB_TYPE_FLOAT) {
        float f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        return be_value(m, u, 4);
    }
    uint64_t u;
    memcpy(&u, &d, 8);
    return be_value(m, u, 8);
}

static sb_value agg_value(cx_mem *m, const sel *s, const agg *a)
{
    switch (s->kind) {
    case SK_COUNT:
        return be_value(m, (uint64_t)a->count, 8);
    case SK_MIN:
    case SK_MAX:
        if (!a->has_best)
            return SB_VALUE_NULL;
        {
            sb_value v;
            if (cx_value_dup(m, &v,
                             (sb_value){a->best.data ? a->best.data : (const uint8_t *)"",
                                        (int32_t)a->best.len}) != 0)
                return (sb_value){NULL, CQL_UNSET_LEN};
            return v;
        }
    case SK_SUM:
        return num_value(m, s->type, a->isum, a->dsum);
    case SK_AVG:
        if (a->count == 0)
            return num_value(m, s->type, 0, 0);
        return num_value(m, s->type, a->isum / a->count, a->dsum / (double)a->count);
    }
    return SB_VALUE_NULL;
}

/* ------------------------------------------------------------------ run */

typedef struct runner {
    cx_ctx *c;
    splan *p;
    scan s;
    cx_rowv rv;
    outbuf out;
    int64_t nrows;   /* output rows in this result */
    int64_t total;   /* output rows including earlier pages (LIMIT) */
    int64_t ppcount; /* rows (or groups) counted in the current partition */
    int64_t page;    /* page size, INT64_MAX none */
    /* grouping */
    agg *aggs;
    int in_group;
    sb_value *gkey;  /* current group's key (ngroup values) in gmem */
    sb_value *first; /* first-row values of the group's plain selectors */
    cx_mem gmem;
    spos last; /* position of the last counted row */
    spos prev; /* position of the last row added to the current group */
    int stop;
    int has_more;
    /* sort-in-memory */
    sb_value *sortck; /* nck values per output row */
    size_t nsortck, capsortck;
} runner;

static int emit_row(runner *r, cx_rowv *rv)
{
    cx_ctx *c = r->c;
    for (int i = 0; i < r->p->nsels; i++) {
        sb_value v;
        int rc = sel_value(c, rv, &r->p->sels[i], &v);
        if (rc == 0)
            rc = out_push(c, &r->out, v);
        if (rc != 0)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    if (r->p->sort_in_memory) {
        const sb_table *t = r->p->t;
        if (r->nsortck + (size_t)t->nck > r->capsortck) {
            size_t cap = r->capsortck ? r->capsortck * 2 : 256;
            while (cap < r->nsortck + (size_t)t->nck)
                cap *= 2;
            sb_value *n = realloc(r->sortck, sizeof *n * cap);
            if (!n)
                return cx_err(c, SB_ENOMEM, NULL, "out of memory");
            r->sortck = n;
            r->capsortck = cap;
        }
        for (int i = 0; i < t->nck; i++)
            if (cx_value_dup(c->rm, &r->sortck[r->nsortck++], rv->row->ck[i]) != 0)
                return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    r->nrows++;
    return 0;
}

static int group_start(runner *r, cx_rowv *rv)
{
    cx_mem_free(&r->gmem);
    const splan *p = r->p;
    r->gkey = cx_alloc(&r->gmem, sizeof(sb_value) * (size_t)(p->ngroup + 1));
    r->first = cx_alloc(&r->gmem, sizeof(sb_value) * (size_t)(p->nsels + 1));
    if (!r->gkey || !r->first)
        return SB_ENOMEM;
    for (int i = 0; i < p->ngroup; i++) {
        sb_value v;
        cx_rowv_value(rv, i, &v);
        if (cx_value_dup(&r->gmem, &r->gkey[i], v) != 0)
            return SB_ENOMEM;
    }
    for (int i = 0; i < p->nsels; i++) {
        const sel *s = &p->sels[i];
        if (s->kind >= SK_COUNT)
            continue;
        sb_value v;
        if (sel_value(r->c, rv, s, &v) != 0 || cx_value_dup(&r->gmem, &r->first[i], v) != 0)
            return SB_ENOMEM;
    }
    agg_reset(r->aggs, p->nsels);
    r->in_group = 1;
    return 0;
}

static int group_emit(runner *r)
{
    const splan *p = r->p;
    for (int i = 0; i < p->nsels; i++) {
        const sel *s = &p->sels[i];
        sb_value v = s->kind >= SK_COUNT ? agg_value(&r->gmem, s, &r->aggs[i])
                                         : (r->in_group ? r->first[i] : SB_VALUE_NULL);
        if (v.len == CQL_UNSET_LEN || out_push(r->c, &r->out, v) != 0)
            return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
    }
    r->nrows++;
    r->in_group = 0;
    return 0;
}

static int same_group(runner *r, cx_rowv *rv)
{
    for (int i = 0; i < r->p->ngroup; i++) {
        sb_value v;
        cx_rowv_value(rv, i, &v);
        if (sb_value_cmp(r->p->t->cols[i].type, v, r->gkey[i]) != 0)
            return 0;
    }
    return 1;
}

static int process_row(runner *r, const sb_row *row)
{
    splan *p = r->p;
    cx_rowv *rv = &r->rv;
    int rc;
    if (row->new_partition)
        r->ppcount = 0;
    cx_rowv_set(rv, row);
    if (!cx_filters_match(rv, &p->w))
        return 0;
    int grouping = p->ngroup > 0;
    if (!grouping && p->has_agg) {
        if (!r->in_group && (rc = group_start(r, rv)) != 0)
            return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < p->nsels; i++)
            if (p->sels[i].kind >= SK_COUNT && agg_add(rv, &p->sels[i], &r->aggs[i]) != 0)
                return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
        return 0;
    }
    if (grouping) {
        if (r->in_group && same_group(r, rv)) {
            for (int i = 0; i < p->nsels; i++)
                if (p->sels[i].kind >= SK_COUNT && agg_add(rv, &p->sels[i], &r->aggs[i]) != 0)
                    return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
            if (r->page != INT64_MAX)
                save_pos(&r->prev, p, row, r->s.part_idx, r->total, r->ppcount);
            return 0;
        }
        /* a new group */
        if (r->in_group) {
            if ((rc = group_emit(r)) != 0)
                return rc;
            r->total++;
            if (r->page != INT64_MAX) {
                spos tmp = r->last;
                r->last = r->prev;
                r->prev = tmp;
                memset(&r->prev, 0, sizeof r->prev);
                cx_mem_free(&tmp.mem);
            }
            if (r->total >= p->limit) {
                r->stop = 1;
                return 0;
            }
            if (r->nrows >= r->page) {
                r->stop = 1;
                r->has_more = 1;
                return 0;
            }
        }
        if (r->ppcount >= p->pplimit)
            return 0;
        r->ppcount++;
        if ((rc = group_start(r, rv)) != 0)
            return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < p->nsels; i++)
            if (p->sels[i].kind >= SK_COUNT && agg_add(rv, &p->sels[i], &r->aggs[i]) != 0)
                return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
        if (r->page != INT64_MAX)
            save_pos(&r->prev, p, row, r->s.part_idx, r->total, r->ppcount);
        return 0;
    }
    if (r->ppcount >= p->pplimit)
        return 0;
    if ((rc = emit_row(r, rv)) != 0)
        return rc;
    r->ppcount++;
    r->total++;
    if (r->page != INT64_MAX && save_pos(&r->last, p, row, r->s.part_idx, r->total, r->ppcount))
        return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
    if (!p->sort_in_memory && r->total >= p->limit)
        r->stop = 1;
    else if (r->nrows >= r->page)
        r->stop = r->has_more = 1;
    if (r->page == INT64_MAX && r->nrows > r->c->e->opts.max_result_rows)
        return cx_err(r->c, SB_ETOOBIG, NULL,
                      "The result has more than %d rows; use paging (a page size)",
                      r->c->e->opts.max_result_rows);
    return 0;
}

/* Sorting IN + ORDER BY results by clustering key. */
typedef struct sort_item {
    const sb_value *ck;
    const sb_value *vals;
} sort_item;
static const sb_table *g_sort_table;
static int g_sort_rev;
static int sort_cmp(const void *a, const void *b)
{
    int c = cx_ck_cmp(g_sort_table, ((const sort_item *)a)->ck, ((const sort_item *)b)->ck);
    return g_sort_rev ? -c : c;
}

static int sort_output(runner *r)
{
    const splan *p = r->p;
    size_t n = (size_t)r->nrows;
    sort_item *it = malloc(sizeof *it * (n + 1));
    sb_value *nv = malloc(sizeof *nv * (r->out.n + 1));
    if (!it || !nv) {
        free(it);
        free(nv);
        return cx_err(r->c, SB_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        it[i].ck = r->sortck + i * (size_t)p->t->nck;
        it[i].vals = r->out.vals + i * (size_t)p->nsels;
    }
    g_sort_table = p->t;
    g_sort_rev = p->reversed;
    qsort(it, n, sizeof *it, sort_cmp);
    if ((int64_t)n > p->limit)
        n = (size_t)p->limit;
    for (size_t i = 0; i < n; i++)
        memcpy(nv + i * (size_t)p->nsels, it[i].vals, sizeof *nv * (size_t)p->nsels);
    free(it);
    free(r->out.vals);
    r->out.vals = nv;
    r->out.n = n * (size_t)p->nsels;
    r->nrows = (int64_t)n;
    return 0;
}

/* ------------------------------------------------------- virtual tables */

typedef struct vcollect {
    cx_ctx *c;
    const sb_table *t;
    sb_row *rows;
    int n, cap;
} vcollect;

static int vemit(void *ctx, const sb_value *vals)
{
    vcollect *v = ctx;
    const sb_table *t = v->t;
    cx_mem *m = &v->c->tmp;
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        sb_row *nr = cx_alloc(m, sizeof *nr * (size_t)cap);
        if (!nr)
            return SB_ENOMEM;
        if (v->n)
            memcpy(nr, v->rows, sizeof *nr * (size_t)v->n);
        v->rows = nr;
        v->cap = cap;
    }
    sb_value *kv = cx_alloc(m, sizeof *kv * (size_t)(t->npk + t->nck + 1));
    sb_read_cell *cells = cx_alloc(m, sizeof *cells * (size_t)(t->ncols + 1));
    if (!kv || !cells)
        return SB_ENOMEM;
    for (int i = 0; i < t->npk + t->nck; i++)
        if (cx_value_dup(m, &kv[i], vals[i]) != 0)
            return SB_ENOMEM;
    int nc = 0;
    for (int i = t->npk + t->nck; i < t->ncols; i++) {
        if (vals[i].len < 0)
            continue;
        cells[nc] = (sb_read_cell){.col = t->cols[i].id, .elem = SB_VALUE_NULL};
        if (cx_value_dup(m, &cells[nc].value, vals[i]) != 0)
            return SB_ENOMEM;
        nc++;
    }
    sb_row *r = &v->rows[v->n];
    memset(r, 0, sizeof *r);
    r->pk = kv;
    r->ck = kv + t->npk;
    r->cells = cells;
    r->ncells = nc;
    r->liveness_ts = 0;
    r->token = sb_token_of_key(kv, t->npk);
    r->new_partition = v->n == 0 || !pk_equal(t, v->rows[v->n - 1].pk, kv);
    v->n++;
    return 0;
}

/* Applies what the storage read would have: listed partitions, slices. */
static int vrow_selected(const splan *p, const sb_row *row)
{
    const sb_table *t = p->t;
    if (p->w.single) {
        int found = 0;
        for (int i = 0; !found && i < p->w.nparts; i++)
            found = pk_equal(t, row->pk, p->w.parts + (size_t)i * t->npk);
        if (!found)
            return 0;
        for (int i = 0; i < p->w.nslices; i++)
            if (in_slice(t, row->ck, &p->w.slices[i]))
                return 1;
        return 0;
    }
    if (row->token < p->w.tok_lo || (row->token == p->w.tok_lo && !p->w.tok_lo_incl) ||
        row->token > p->w.tok_hi)
        return 0;
    return 1;
}

static int load_virtual(cx_ctx *c, splan *p, scan *s)
{
    vcollect v = {.c = c, .t = p->t};
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = c->e->vt.scan(c->e->vt.arg, p->t, vemit, &v, msg);
    if (rc != 0)
        return cx_err_msg(c, rc, NULL, msg);
    int k = 0;
    for (int i = 0; i < v.n; i++)
        if (vrow_selected(p, &v.rows[i]))
            v.rows[k++] = v.rows[i];
    for (int i = 0; i < k; i++)
        v.rows[i].new_partition = i == 0 || !pk_equal(p->t, v.rows[i - 1].pk, v.rows[i].pk);
    s->vrows = v.rows;
    s->nvrows = k;
    return 0;
}

/* ----------------------------------------------------------------- main */

static int set_columns(cx_ctx *c, const splan *p)
{
    sb_cql_colspec *cols = cx_alloc(c->rm, sizeof *cols * (size_t)(p->nsels + 1));
    if (!cols)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    const char *ks = cx_strdup(c->rm, p->t->keyspace), *tn = cx_strdup(c->rm, p->t->name);
    if (!ks || !tn)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < p->nsels; i++) {
        cols[i].ks = ks;
        cols[i].table = tn;
        cols[i].name = cx_strdup(c->rm, p->sels[i].name);
        cols[i].type = p->sels[i].type;
        if (!cols[i].name)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    c->res->kind = SB_CQL_RESULT_ROWS;
    c->res->cols = cols;
    c->res->ncols = p->nsels;
    return 0;
}

static int run_select(cx_ctx *c, splan *p, runner *r)
{
    const sb_cql_opts *o = c->opts;
    int rc;
    spos resume;
    memset(&resume, 0, sizeof resume);
    r->c = c;
    r->p = p;
    r->page = o && o->page_size > 0 ? o->page_size : INT64_MAX;
    if (p->has_agg && p->ngroup == 0)
        r->page = INT64_MAX;
    if (p->sort_in_memory && r->page != INT64_MAX)
        return cx_err(c, SB_EINVALID, NULL,
                      "Cannot page queries with both ORDER BY and a IN restriction on the "
                      "partition key; you must either remove the ORDER BY or the IN and sort "
                      "client side, or disable paging for this query");
    if (o && o->paging_state && o->paging_state_len > 0 && r->page != INT64_MAX) {
        if ((rc = decode_state(c, p, o->paging_state, o->paging_state_len, &resume)) != 0)
            return rc;
        r->total = resume.total;
        r->ppcount = resume.ppcount;
        if (r->total >= p->limit)
            return 0;
    }
    r->aggs = cx_alloc(&c->tmp, sizeof *r->aggs * (size_t)(p->nsels + 1));
    if (!r->aggs)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if ((rc = cx_rowv_init(c, &r->rv, p->t)) != 0)
        return rc;
    r->s.c = c;
    r->s.p = p;
    r->s.resume = resume.valid ? &resume : NULL;
    r->s.skipping = resume.valid;
    if (p->is_virtual && (rc = load_virtual(c, p, &r->s)) != 0)
        return rc;
    sb_row row;
    int first_after_resume = resume.valid;
    while (!r->stop && (rc = scan_raw(&r->s, &row)) == 1) {
        if (before_resume(&r->s, &row))
            continue;
        if (first_after_resume) {
            /* Continuing the resumed partition keeps its count. */
            first_after_resume = 0;
            int same = p->w.single ? r->s.part_idx == resume.part_idx
                                   : row.token == resume.token && pk_equal(p->t, row.pk, resume.pk);
            if (same)
                row.new_partition = 0;
        }
        if ((rc = process_row(r, &row)) != 0)
            break;
    }
    if (r->s.it)
        cx_iter_close(r->s.c, r->s.it);
    r->s.it = NULL;
    if (rc < 0)
        return rc;
    if ((p->has_agg || p->ngroup > 0) && !r->stop) {
        if (p->ngroup == 0 || r->in_group) {
            if ((rc = group_emit(r)) != 0)
                return rc;
            r->total++;
        }
    }
    if (p->sort_in_memory && (rc = sort_output(r)) != 0)
        return rc;
    if (r->has_more && r->last.valid) {
        sb_buf b;
        sb_buf_init(&b);
        if (encode_state(p, &r->last, &b) != 0 ||
            !(c->res->paging_state = cx_memdup(c->rm, b.data, b.len))) {
            sb_buf_free(&b);
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        }
        c->res->paging_state_len = b.len;
        c->res->has_more = 1;
        sb_buf_free(&b);
    }
    return 0;
}

int cx_exec_select(cx_ctx *c, const sb_cql_stmt *st)
{
    const sb_cql_select *q = &st->select;
    splan p;
    memset(&p, 0, sizeof p);
    int rc = cx_resolve_table(c, &q->table, &p.t);
    if (rc != 0)
        return rc;
    const sb_schema *sch = sb_store_schema(c->e->store);
    p.is_virtual = !sb_schema_table(sch, p.t->keyspace, p.t->name) ||
                   sb_schema_table(sch, p.t->keyspace, p.t->name) != p.t;
    c->cur_table = p.t;
    if ((rc = compile_select(c, q, &p)) != 0)
        return rc;
    if ((rc = set_columns(c, &p)) != 0)
        return rc;
    if (c->preparing)
        return 0;
    runner r;
    memset(&r, 0, sizeof r);
    rc = run_select(c, &p, &r);
    if (rc == 0) {
        c->res->rows =
            r.out.vals ? cx_memdup(c->rm, r.out.vals, sizeof *r.out.vals * r.out.n) : NULL;
        if (r.out.n && !c->res->rows)
            rc = cx_err(c, SB_ENOMEM, NULL, "out of memory");
        c->res->nrows = (int)r.nrows;
        c->res->kind = SB_CQL_RESULT_ROWS;
        if (p.has_agg && !p.w.single && p.ngroup == 0 && !p.is_virtual)
            c->res->warning = "Aggregation query used without partition key";
    } else {
        c->res->kind = SB_CQL_RESULT_ERROR;
    }
    free(r.out.vals);
    free(r.sortck);
    for (int i = 0; r.aggs && i < p.nsels; i++)
        sb_buf_free(&r.aggs[i].best);
    cx_mem_free(&r.gmem);
    cx_mem_free(&r.last.mem);
    cx_mem_free(&r.prev.mem);
    cx_rowv_free(&r.rv);
    return rc;
}
