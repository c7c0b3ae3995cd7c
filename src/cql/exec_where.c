/*
 * WHERE clauses -> what to read or write.
 *
 * Restrictions are sorted into three kinds, as Cassandra does:
 *   - partition: every partition key column restricted by = or IN gives a
 *     list of partitions (the cartesian product, sorted, deduplicated);
 *     otherwise token(pk) bounds give a token range (the whole ring by
 *     default);
 *   - clustering: = / IN on a prefix of the clustering key, then at most
 *     one range on the next column, give slices in clustering order;
 *   - filters: everything else, checked row by row, allowed only with
 *     ALLOW FILTERING (in SELECT) and never in UPDATE/DELETE.
 *
 * Rows are looked at through a cx_rowv, which finds each column's cells
 * and assembles non-frozen collections into their serialized form.
 */
#include <stdlib.h>
#include <string.h>

#include "cql/exec_int.h"

#define FILTERING_MSG                                                                              \
    "Cannot execute this query as it might involve data filtering and thus may have "              \
    "unpredictable performance. If you want to execute this query despite the performance "        \
    "unpredictability, use ALLOW FILTERING"

typedef struct colr {
    sb_value *vals; /* = / IN values, sorted, deduplicated */
    int nvals;
    int has_eq;
    int has_lo, has_hi, lo_incl, hi_incl;
    sb_value lo, hi;
    const sb_cql_pos *pos;
} colr;

static sb_type g_cmp_type;
static int val_cmp(const void *a, const void *b)
{
    return sb_value_cmp(g_cmp_type, *(const sb_value *)a, *(const sb_value *)b);
}

static int sort_vals(sb_type t, sb_value *v, int n)
{
    g_cmp_type = t;
    qsort(v, (size_t)n, sizeof *v, val_cmp);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || v[i].len < 0 || v[m - 1].len < 0 || sb_value_cmp(t, v[m - 1], v[i]) != 0)
            v[m++] = v[i];
    return m;
}

int cx_check_value(cx_ctx *c, sb_value v, const sb_column *col, const sb_cql_pos *pos)
{
    if (c->preparing)
        return 0;
    if (v.len == -1)
        return cx_err(c, SB_EINVALID, pos, "Invalid null value in condition for column %s",
                      col->name);
    if (v.len == CQL_UNSET_LEN)
        return cx_err(c, SB_EINVALID, pos, "Invalid unset value for column %s", col->name);
    return 0;
}

/* The candidate values of `col IN (...)` or `col IN ?`. */
static int eval_in(cx_ctx *c, const sb_cql_relation *r, const sb_column *col, sb_value **out,
                   int *nout)
{
    const sb_cql_term *t = r->value;
    if (t->kind == SB_CQL_TERM_TUPLE) {
        sb_value *v = cx_alloc(&c->tmp, sizeof *v * (size_t)(t->nelems + 1));
        if (!v)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < t->nelems; i++) {
            int rc = cx_term_eval(c, t->elems[i], col->type, col->name, &v[i]);
            if (rc == 0)
                rc = cx_check_value(c, v[i], col, &t->elems[i]->pos);
            if (rc != 0)
                return rc;
        }
        *out = v;
        *nout = t->nelems;
        return 0;
    }
    /* IN ? binds a list of the column's type. */
    sb_type lt = {SB_TYPE_LIST, col->type.id, 0, 1};
    char recv[SB_CQL_NAME_SIZE + 8];
    snprintf(recv, sizeof recv, "in(%s)", col->name);
    sb_value lv;
    int rc = cx_term_eval(c, t, lt, recv, &lv);
    if (rc != 0)
        return rc;
    if (lv.len < 0) {
        if (c->preparing) {
            *out = NULL;
            *nout = 0;
            return 0;
        }
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid null value for IN restriction on %s",
                      col->name);
    }
    cx_coll_rd rd;
    if (cx_coll_open(&rd, lv, 0) != 0)
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid list value for IN on %s", col->name);
    sb_value *v = cx_alloc(&c->tmp, sizeof *v * (size_t)(rd.left + 1));
    if (!v)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    int n = 0;
    while ((rc = cx_coll_next(&rd, &v[n])) == 1) {
        if ((rc = cx_check_value(c, v[n], col, &t->pos)) != 0)
            return rc;
        n++;
    }
    if (rc < 0)
        return cx_err(c, SB_EINVALID, &t->pos, "Invalid list value for IN on %s", col->name);
    *out = v;
    *nout = n;
    return 0;
}

static int add_filter(cx_ctx *c, cx_where *w, cx_filter *f)
{
    cx_filter *nf = cx_alloc(&c->tmp, sizeof *nf * (size_t)(w->nfilters + 1));
    if (!nf)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if (w->nfilters)
        memcpy(nf, w->filters, sizeof *nf * (size_t)w->nfilters);
    nf[w->nfilters++] = *f;
    w->filters = nf;
    return 0;
}

static int token_relation(cx_ctx *c, cx_where *w, const sb_cql_relation *r, int mode,
                          int *has_token)
{
    const sb_table *t = w->t;
    if (mode != CQL_WHERE_SELECT)
        return cx_err(c, SB_EINVALID, &r->pos,
                      "The token function cannot be used in WHERE clauses for UPDATE and DELETE "
                      "statements");
    int ok = r->ncols == t->npk;
    for (int i = 0; ok && i < r->ncols; i++)
        ok = strcmp(r->cols[i].name, t->cols[i].name) == 0;
    if (!ok) {
        for (int i = 0; i < r->ncols; i++) {
            const sb_column *col = sb_table_column(t, r->cols[i].name);
            if (!col)
                return cx_err(c, SB_EINVALID, &r->cols[i].pos, "Undefined column name %s",
                              r->cols[i].name);
            if (col->kind != SB_COL_PARTITION)
                return cx_err(c, SB_EINVALID, &r->cols[i].pos,
                              "The token() function is only supported on the partition key, "
                              "found on %s",
                              col->name);
        }
        if (r->ncols != t->npk)
            return cx_err(c, SB_EINVALID, &r->pos,
                          "The token() function must be applied to all partition key components "
                          "or none of them");
        return cx_err(c, SB_EINVALID, &r->pos,
                      "The token function arguments must be in the partition key order");
    }
    sb_type bt = {SB_TYPE_BIGINT, 0, 0, 0};
    sb_value v;
    int rc = cx_term_eval(c, r->value, bt, "partition key token", &v);
    if (rc != 0)
        return rc;
    *has_token = 1;
    if (v.len == CQL_UNSET_LEN && c->preparing)
        return 0;
    if (v.len != 8)
        return cx_err(c, SB_EINVALID, &r->value->pos, "Invalid null value for partition key token");
    int64_t x;
    cx_value_as_i64(bt, v, &x);
    cx_filter f = {.col = -1, .op = r->op, .v = v, .key = SB_VALUE_NULL};
    switch (r->op) {
    case SB_CQL_OP_GT:
        if (x > w->tok_lo || (x == w->tok_lo && w->tok_lo_incl)) {
            w->tok_lo = x;
            w->tok_lo_incl = 0;
        }
        break;
    case SB_CQL_OP_GE:
        if (x > w->tok_lo) {
            w->tok_lo = x;
            w->tok_lo_incl = 1;
        }
        break;
    case SB_CQL_OP_LE:
        if (x < w->tok_hi)
            w->tok_hi = x;
        break;
    case SB_CQL_OP_LT:
        if (x == INT64_MIN)
            w->empty = 1;
        else if (x - 1 < w->tok_hi)
            w->tok_hi = x - 1;
        break;
    case SB_CQL_OP_EQ:
        if (x > w->tok_lo || (x == w->tok_lo && w->tok_lo_incl)) {
            w->tok_lo = x;
            w->tok_lo_incl = 1;
        }
        if (x < w->tok_hi)
            w->tok_hi = x;
        break;
    default:
        return cx_err(c, SB_EINVALID, &r->pos, "Unsupported operator %s on token()",
                      sb_cql_op_name(r->op));
    }
    /* Kept as a filter too, for reads of listed partitions. */
    return add_filter(c, w, &f);
}

/* A relation on one column. */
static int column_relation(cx_ctx *c, cx_where *w, colr *cr, const sb_cql_relation *r, int mode,
                           int *filtered, const sb_cql_pos **filter_pos)
{
    const sb_table *t = w->t;
    const sb_column *col = sb_table_column(t, r->cols[0].name);
    if (!col)
        return cx_err(c, SB_EINVALID, &r->cols[0].pos, "Undefined column name %s", r->cols[0].name);
    int ci = (int)(col - t->cols);
    int key_col = col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING;
    if (mode != CQL_WHERE_SELECT && !key_col)
        return cx_err(c, SB_EINVALID, &r->cols[0].pos,
                      "Non PRIMARY KEY columns found in where clause: %s", col->name);
    sb_cql_op op = r->op;
    int keyable =
        key_col && (op == SB_CQL_OP_EQ || op == SB_CQL_OP_IN ||
                    (col->kind == SB_COL_CLUSTERING && (op == SB_CQL_OP_LT || op == SB_CQL_OP_LE ||
                                                        op == SB_CQL_OP_GT || op == SB_CQL_OP_GE)));
    if (r->elem_key)
        keyable = 0;
    if (mode != CQL_WHERE_SELECT && !keyable) {
        if (col->kind == SB_COL_PARTITION)
            return cx_err(c, SB_EINVALID, &r->pos,
                          "Only EQ and IN relation are supported on the partition key (unless "
                          "you use the token() function)");
        return cx_err(c, SB_EINVALID, &r->pos, "Invalid operator %s for PRIMARY KEY part %s",
                      sb_cql_op_name(op), col->name);
    }
    if (keyable) {
        sb_value v;
        int rc;
        if (op == SB_CQL_OP_EQ || op == SB_CQL_OP_IN) {
            if (cr->has_eq || cr->has_lo || cr->has_hi)
                return cx_err(c, SB_EINVALID, &r->pos,
                              "%s cannot be restricted by more than one relation if it includes "
                              "an Equal",
                              col->name);
            if (op == SB_CQL_OP_EQ) {
                rc = cx_term_eval(c, r->value, col->type, col->name, &v);
                if (rc == 0)
                    rc = cx_check_value(c, v, col, &r->value->pos);
                if (rc != 0)
                    return rc;
                cr->vals = cx_memdup(&c->tmp, &v, sizeof v);
                cr->nvals = 1;
                if (!cr->vals)
                    return cx_err(c, SB_ENOMEM, NULL, "out of memory");
                if (c->preparing && col->kind == SB_COL_PARTITION &&
                    r->value->kind == SB_CQL_TERM_BIND && c->pk_binds &&
                    col->position < c->npk_binds)
                    c->pk_binds[col->position] = r->value->bind_index;
            } else {
                rc = eval_in(c, r, col, &cr->vals, &cr->nvals);
                if (rc != 0)
                    return rc;
                if (!c->preparing)
                    cr->nvals = sort_vals(col->type, cr->vals, cr->nvals);
            }
            cr->has_eq = 1;
        } else {
            if (cr->has_eq)
                return cx_err(c, SB_EINVALID, &r->pos,
                              "%s cannot be restricted by more than one relation if it includes "
                              "an Equal",
                              col->name);
            rc = cx_term_eval(c, r->value, col->type, col->name, &v);
            if (rc == 0)
                rc = cx_check_value(c, v, col, &r->value->pos);
            if (rc != 0)
                return rc;
            int lo = op == SB_CQL_OP_GT || op == SB_CQL_OP_GE;
            if (lo ? cr->has_lo : cr->has_hi)
                return cx_err(c, SB_EINVALID, &r->pos,
                              "More than one restriction was found for the %s bound on %s",
                              lo ? "start" : "end", col->name);
            if (lo) {
                cr->has_lo = 1;
                cr->lo = v;
                cr->lo_incl = op == SB_CQL_OP_GE;
            } else {
                cr->has_hi = 1;
                cr->hi = v;
                cr->hi_incl = op == SB_CQL_OP_LE;
            }
        }
        if (!cr->pos)
            cr->pos = &r->pos;
        return 0;
    }
    /* A filter. */
    cx_filter f = {.col = ci, .op = op, .key = SB_VALUE_NULL};
    sb_type vt = col->type;
    const char *what = NULL;
    if (op == SB_CQL_OP_CONTAINS || op == SB_CQL_OP_CONTAINS_KEY) {
        if (!sb_type_is_collection(col->type))
            return cx_err(c, SB_EINVALID, &r->pos, "Cannot use %s on non-collection column %s",
                          sb_cql_op_name(op), col->name);
        if (op == SB_CQL_OP_CONTAINS_KEY && col->type.id != SB_TYPE_MAP)
            return cx_err(c, SB_EINVALID, &r->pos, "Cannot use CONTAINS KEY on non-map column %s",
                          col->name);
        vt = cx_elem_type(col->type, op == SB_CQL_OP_CONTAINS && col->type.id == SB_TYPE_MAP);
    }
    if (r->elem_key) {
        if (col->type.id != SB_TYPE_MAP || op != SB_CQL_OP_EQ)
            return cx_err(c, SB_EINVALID, &r->pos,
                          "Element restrictions are only supported as map[key] = value");
        int rc = cx_term_eval(c, r->elem_key, cx_elem_type(col->type, 0), col->name, &f.key);
        if (rc == 0)
            rc = cx_check_value(c, f.key, col, &r->elem_key->pos);
        if (rc != 0)
            return rc;
        vt = cx_elem_type(col->type, 1);
    }
    (void)what;
    int rc;
    if (op == SB_CQL_OP_IN) {
        rc = eval_in(c, r, col, &f.in, &f.nin);
    } else {
        rc = cx_term_eval(c, r->value, vt, col->name, &f.v);
        if (rc == 0)
            rc = cx_check_value(c, f.v, col, &r->value->pos);
    }
    if (rc != 0)
        return rc;
    if (!*filter_pos)
        *filter_pos = &r->pos;
    *filtered = 1;
    return add_filter(c, w, &f);
}

/* Cartesian product of the value lists of columns [from, to). */
static int product(cx_ctx *c, colr *cr, int from, int to, sb_value **out, int *nout)
{
    int width = to - from;
    long total = 1;
    for (int i = from; i < to; i++) {
        total *= cr[i].nvals;
        if (total > 100000)
            return cx_err(c, SB_EINVALID, cr[i].pos,
                          "IN restrictions select too many combinations (more than 100000)");
    }
    sb_value *v = cx_alloc(&c->tmp, sizeof *v * (size_t)(total * (width ? width : 1) + 1));
    if (!v)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    for (long k = 0; k < total; k++) {
        long rest = k;
        for (int i = to - 1; i >= from; i--) {
            int n = cr[i].nvals;
            v[k * width + (i - from)] = cr[i].vals[rest % n];
            rest /= n;
        }
    }
    *out = v;
    *nout = (int)total;
    return 0;
}

static void reverse_vals(sb_value *v, int n)
{
    for (int i = 0; i < n / 2; i++) {
        sb_value x = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = x;
    }
}

static int build_slices(cx_ctx *c, cx_where *w, colr *cr)
{
    const sb_table *t = w->t;
    int npk = t->npk, p = w->ck_eq;
    /* DESC columns list their values in storage order too. */
    for (int i = 0; i < p; i++)
        if (t->cols[npk + i].desc)
            reverse_vals(cr[npk + i].vals, cr[npk + i].nvals);
    sb_value *pre;
    int npre;
    int rc = product(c, cr, npk, npk + p, &pre, &npre);
    if (rc != 0)
        return rc;
    w->slices = cx_alloc(&c->tmp, sizeof *w->slices * (size_t)(npre + 1));
    if (!w->slices)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    w->nslices = npre;
    for (int k = 0; k < npre; k++) {
        cx_slice *s = &w->slices[k];
        int n = p + (w->ck_slice ? 1 : 0);
        sb_value *sv = cx_alloc(&c->tmp, sizeof *sv * (size_t)(n + 1));
        sb_value *ev = cx_alloc(&c->tmp, sizeof *ev * (size_t)(n + 1));
        if (!sv || !ev)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < p; i++)
            sv[i] = ev[i] = pre[k * p + i];
        s->start = (sb_bound){sv, p, 1};
        s->end = (sb_bound){ev, p, 1};
        if (w->ck_slice) {
            const colr *r = &cr[npk + p];
            int desc = t->cols[npk + p].desc;
            sb_bound *lo = desc ? &s->end : &s->start;
            sb_bound *hi = desc ? &s->start : &s->end;
            if (r->has_lo) {
                ((sb_value *)lo->vals)[p] = r->lo;
                lo->n = p + 1;
                lo->inclusive = r->lo_incl;
            }
            if (r->has_hi) {
                ((sb_value *)hi->vals)[p] = r->hi;
                hi->n = p + 1;
                hi->inclusive = r->hi_incl;
            }
        }
    }
    return 0;
}

static int missing_list(cx_ctx *c, colr *cr, int from, int to, const sb_table *t, char *out,
                        size_t size)
{
    size_t o = 0;
    int n = 0;
    out[0] = 0;
    for (int i = from; i < to; i++) {
        if (cr[i].has_eq)
            continue;
        o += (size_t)snprintf(out + o, o < size ? size - o : 0, "%s%s", n ? ", " : "",
                              t->cols[i].name);
        n++;
    }
    return n;
}

int cx_where_compile(cx_ctx *c, const sb_table *t, sb_cql_relation *const *rels, int n, int mode,
                     int allow_filtering, cx_where *w)
{
    memset(w, 0, sizeof *w);
    w->t = t;
    w->tok_lo = INT64_MIN;
    w->tok_lo_incl = 1;
    w->tok_hi = INT64_MAX;
    c->cur_table = t;
    int npk = t->npk, nck = t->nck;
    colr *cr = cx_alloc(&c->tmp, sizeof *cr * (size_t)(npk + nck + 1));
    if (!cr)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    if (c->preparing && !c->pk_binds) {
        c->pk_binds = cx_alloc(&c->tmp, sizeof(int) * (size_t)(npk + 1));
        if (!c->pk_binds)
            return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        for (int i = 0; i < npk; i++)
            c->pk_binds[i] = -1;
        c->npk_binds = npk;
    }
    int has_token = 0, filtered = 0, rc;
    const sb_cql_pos *filter_pos = NULL;
    for (int i = 0; i < n; i++) {
        const sb_cql_relation *r = rels[i];
        if (r->kind == SB_CQL_REL_TOKEN) {
            rc = token_relation(c, w, r, mode, &has_token);
        } else if (r->kind == SB_CQL_REL_TUPLE) {
            rc =
                cx_err(c, SB_EUNSUPPORTED, &r->pos, "Multi-column relations are not supported yet");
        } else {
            const sb_column *col = sb_table_column(t, r->cols[0].name);
            int ci = col ? (int)(col - t->cols) : 0;
            rc = column_relation(c, w, ci < npk + nck ? &cr[ci] : &cr[npk + nck], r, mode,
                                 &filtered, &filter_pos);
        }
        if (rc != 0)
            return rc;
    }
    /* Token filters only matter for listed partitions; keep them aside. */
    int npkeq = 0;
    for (int i = 0; i < npk; i++)
        npkeq += cr[i].has_eq;
    char miss[SB_ERRMSG_SIZE];
    if (mode != CQL_WHERE_SELECT) {
        if (npkeq < npk) {
            missing_list(c, cr, 0, npk, t, miss, sizeof miss);
            return cx_err(c, SB_EINVALID, NULL, "Some partition key parts are missing: %s", miss);
        }
    }
    if (npkeq == npk && npk > 0) {
        w->single = 1;
        if (!c->preparing) {
            rc = product(c, cr, 0, npk, &w->parts, &w->nparts);
            if (rc != 0)
                return rc;
        }
        if (has_token && !allow_filtering && mode == CQL_WHERE_SELECT) {
            /* Cassandra rejects mixing them; we filter the listed keys. */
        }
    } else {
        /* Partial partition key: filter on what was given. */
        for (int i = 0; i < npk; i++) {
            if (!cr[i].has_eq)
                continue;
            cx_filter f = {.col = i, .op = SB_CQL_OP_IN, .key = SB_VALUE_NULL};
            f.in = cr[i].vals;
            f.nin = cr[i].nvals;
            if ((rc = add_filter(c, w, &f)) != 0)
                return rc;
            filtered = 1;
            if (!filter_pos)
                filter_pos = cr[i].pos;
        }
        /* Drop the token filters: the range read applies them. */
        int k = 0;
        for (int i = 0; i < w->nfilters; i++)
            if (w->filters[i].col != -1)
                w->filters[k++] = w->filters[i];
        w->nfilters = k;
        if (w->tok_lo > w->tok_hi || (w->tok_lo == w->tok_hi && !w->tok_lo_incl))
            w->empty = 1;
    }
    /* Clustering: = / IN prefix, then one range. */
    int p = 0;
    while (p < nck && cr[npk + p].has_eq)
        p++;
    int slice = p < nck && (cr[npk + p].has_lo || cr[npk + p].has_hi);
    int end = p + (slice ? 1 : 0);
    for (int j = end; j < nck; j++) {
        colr *r = &cr[npk + j];
        if (!r->has_eq && !r->has_lo && !r->has_hi)
            continue;
        if (mode == CQL_WHERE_SELECT && allow_filtering)
            break;
        if (slice && j > p)
            return cx_err(c, SB_EINVALID, r->pos,
                          "Clustering column \"%s\" cannot be restricted (preceding column \"%s\" "
                          "is restricted by a non-EQ relation)",
                          t->cols[npk + j].name, t->cols[npk + p].name);
        return cx_err(c, SB_EINVALID, r->pos,
                      "PRIMARY KEY column \"%s\" cannot be restricted as preceding column \"%s\" "
                      "is not restricted",
                      t->cols[npk + j].name, t->cols[npk + j - 1].name);
    }
    if (mode == CQL_WHERE_UPDATE_STATIC && p == 0 && !slice)
        mode = CQL_WHERE_DELETE; /* a partition-level write */
    if (mode == CQL_WHERE_UPDATE || mode == CQL_WHERE_UPDATE_STATIC) {
        if (slice)
            return cx_err(c, SB_EINVALID, cr[npk + p].pos,
                          "Slice restrictions are not supported on the clustering columns in "
                          "UPDATE statements");
        if (p < nck)
            return cx_err(c, SB_EINVALID, NULL, "Missing mandatory PRIMARY KEY part %s",
                          t->cols[npk + p].name);
    }
    int ck_restricted = 0;
    for (int j = 0; j < nck; j++) {
        colr *r = &cr[npk + j];
        if (r->has_eq || r->has_lo || r->has_hi) {
            ck_restricted = 1;
            if (!w->first_ck_pos)
                w->first_ck_pos = r->pos;
        }
    }
    if (w->single) {
        w->ck_eq = p;
        w->ck_slice = slice;
        /* Columns past the usable prefix become filters. */
        for (int j = end; j < nck; j++) {
            colr *r = &cr[npk + j];
            cx_filter f = {.col = npk + j, .key = SB_VALUE_NULL};
            if (r->has_eq) {
                f.op = SB_CQL_OP_IN;
                f.in = r->vals;
                f.nin = r->nvals;
                if ((rc = add_filter(c, w, &f)) != 0)
                    return rc;
            }
            if (r->has_lo) {
                f.op = r->lo_incl ? SB_CQL_OP_GE : SB_CQL_OP_GT;
                f.v = r->lo;
                if ((rc = add_filter(c, w, &f)) != 0)
                    return rc;
            }
            if (r->has_hi) {
                f.op = r->hi_incl ? SB_CQL_OP_LE : SB_CQL_OP_LT;
                f.v = r->hi;
                if ((rc = add_filter(c, w, &f)) != 0)
                    return rc;
            }
            if (r->has_eq || r->has_lo || r->has_hi) {
                filtered = 1;
                if (!filter_pos)
                    filter_pos = r->pos;
            }
        }
        if (!c->preparing) {
            rc = build_slices(c, w, cr);
            if (rc != 0)
                return rc;
        }
    } else if (ck_restricted) {
        for (int j = 0; j < nck; j++) {
            colr *r = &cr[npk + j];
            cx_filter f = {.col = npk + j, .key = SB_VALUE_NULL};
            if (r->has_eq) {
                f.op = SB_CQL_OP_IN;
                f.in = r->vals;
                f.nin = r->nvals;
                if ((rc = add_filter(c, w, &f)) != 0)
                    return rc;
            }
            if (r->has_lo) {
                f.op = r->lo_incl ? SB_CQL_OP_GE : SB_CQL_OP_GT;
                f.v = r->lo;
                if ((rc = add_filter(c, w, &f)) != 0)
                    return rc;
            }
            if (r->has_hi) {
                f.op = r->hi_incl ? SB_CQL_OP_LE : SB_CQL_OP_LT;
                f.v = r->hi;
                if ((rc = add_filter(c, w, &f)) != 0)
                    return rc;
            }
        }
        filtered = 1;
        if (!filter_pos)
            filter_pos = w->first_ck_pos;
    }
    if (filtered && mode == CQL_WHERE_SELECT && !allow_filtering)
        return cx_err(c, SB_EINVALID, filter_pos, FILTERING_MSG);
    (void)missing_list;
    return 0;
}

/* ------------------------------------------------------------- row views */

int cx_rowv_init(cx_ctx *c, cx_rowv *rv, const sb_table *t)
{
    memset(rv, 0, sizeof *rv);
    rv->t = t;
    int maxid = 0;
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].id > maxid)
            maxid = t->cols[i].id;
    rv->nids = maxid + 1;
    rv->idx_of_id = cx_alloc(&c->tmp, sizeof(int) * (size_t)rv->nids);
    rv->first = cx_alloc(&c->tmp, sizeof(int) * (size_t)(t->ncols + 1));
    rv->count = cx_alloc(&c->tmp, sizeof(int) * (size_t)(t->ncols + 1));
    if (!rv->idx_of_id || !rv->first || !rv->count)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    for (int i = 0; i < rv->nids; i++)
        rv->idx_of_id[i] = -1;
    for (int i = 0; i < t->ncols; i++)
        rv->idx_of_id[t->cols[i].id] = i;
    return 0;
}

static void mem_reset(cx_mem *m)
{
    cx_mem_free(m);
}

void cx_rowv_set(cx_rowv *rv, const sb_row *row)
{
    rv->row = row;
    mem_reset(&rv->scratch);
    memset(rv->count, 0, sizeof(int) * (size_t)rv->t->ncols);
    for (int k = 0; k < row->ncells; k++) {
        int id = row->cells[k].col;
        int i = id < rv->nids ? rv->idx_of_id[id] : -1;
        if (i < 0)
            continue;
        if (rv->count[i] == 0)
            rv->first[i] = k;
        rv->count[i]++;
    }
}

void cx_rowv_free(cx_rowv *rv)
{
    cx_mem_free(&rv->scratch);
}

int cx_rowv_value(cx_rowv *rv, int i, sb_value *out)
{
    const sb_table *t = rv->t;
    const sb_column *col = &t->cols[i];
    if (col->kind == SB_COL_PARTITION) {
        *out = rv->row->pk[col->position];
        return 0;
    }
    if (col->kind == SB_COL_CLUSTERING) {
        *out = rv->row->ck[col->position];
        return 0;
    }
    int n = rv->count[i];
    const sb_read_cell *cells = rv->row->cells + rv->first[i];
    if (n == 0) {
        *out = SB_VALUE_NULL;
        return 0;
    }
    if (!sb_type_is_collection(col->type) || col->type.frozen) {
        *out = cells[0].value;
        return 0;
    }
    int is_map = col->type.id == SB_TYPE_MAP;
    sb_value *items = cx_alloc(&rv->scratch, sizeof *items * (size_t)(2 * n + 1));
    if (!items)
        return SB_ENOMEM;
    int k = 0;
    for (int j = 0; j < n; j++) {
        if (col->type.id == SB_TYPE_SET) {
            items[k++] = cells[j].elem;
        } else if (is_map) {
            items[k++] = cells[j].elem;
            items[k++] = cells[j].value;
        } else {
            items[k++] = cells[j].value;
        }
    }
    if (col->type.id != SB_TYPE_LIST) {
        /* Storage orders elements by bytes; CQL by the key type. */
        sb_type kt = cx_elem_type(col->type, 0);
        int step = is_map ? 2 : 1;
        for (int j = step; j < k; j += step) {
            if (sb_value_cmp(kt, items[j - step], items[j]) <= 0)
                continue;
            /* insertion sort from here (rarely needed: negative numbers) */
            for (int m = j; m >= step && sb_value_cmp(kt, items[m - step], items[m]) > 0;
                 m -= step) {
                for (int q = 0; q < step; q++) {
                    sb_value x = items[m - step + q];
                    items[m - step + q] = items[m + q];
                    items[m + q] = x;
                }
            }
        }
    }
    sb_buf b;
    sb_buf_init(&b);
    int rc = cx_coll_build(&b, items, k, is_map);
    uint8_t *p = rc == 0 ? cx_memdup(&rv->scratch, b.data, b.len) : NULL;
    out->p = p;
    out->len = (int32_t)b.len;
    sb_buf_free(&b);
    return p ? 0 : SB_ENOMEM;
}

int cx_ck_cmp(const sb_table *t, const sb_value *a, const sb_value *b)
{
    for (int i = 0; i < t->nck; i++) {
        const sb_column *col = &t->cols[t->npk + i];
        int c = sb_value_cmp(col->type, a[i], b[i]);
        if (c)
            return col->desc ? -c : c;
    }
    return 0;
}

static int contains(sb_type t, sb_value coll, const cx_filter *f)
{
    if (coll.len < 0)
        return 0;
    int is_map = t.id == SB_TYPE_MAP;
    cx_coll_rd rd;
    if (cx_coll_open(&rd, coll, is_map) != 0)
        return 0;
    sb_value k, v;
    while (cx_coll_next(&rd, &k) == 1) {
        v = k;
        if (is_map && cx_coll_next(&rd, &v) != 1)
            return 0;
        if (f->key.len >= 0) {
            if (sb_value_cmp(cx_elem_type(t, 0), k, f->key) == 0)
                return v.len >= 0 && sb_value_cmp(cx_elem_type(t, 1), v, f->v) == 0;
            continue;
        }
        if (f->op == SB_CQL_OP_CONTAINS_KEY) {
            if (sb_value_cmp(cx_elem_type(t, 0), k, f->v) == 0)
                return 1;
        } else if (sb_value_cmp(cx_elem_type(t, is_map), v, f->v) == 0) {
            return 1;
        }
    }
    return 0;
}

static int filter_match(cx_rowv *rv, const cx_filter *f)
{
    sb_value v;
    sb_type t;
    if (f->col == -1) {
        t = (sb_type){SB_TYPE_BIGINT, 0, 0, 0};
        uint8_t b[8];
        uint64_t u = (uint64_t)rv->row->token;
        for (int i = 7; i >= 0; i--, u >>= 8)
            b[i] = (uint8_t)u;
        v = (sb_value){b, 8};
        int c = sb_value_cmp(t, v, f->v);
        switch (f->op) {
        case SB_CQL_OP_EQ:
            return c == 0;
        case SB_CQL_OP_LT:
            return c < 0;
        case SB_CQL_OP_LE:
            return c <= 0;
        case SB_CQL_OP_GT:
            return c > 0;
        case SB_CQL_OP_GE:
            return c >= 0;
        default:
            return 1;
        }
    }
    t = rv->t->cols[f->col].type;
    if (cx_rowv_value(rv, f->col, &v) != 0)
        return 0;
    if (f->key.len >= 0 || f->op == SB_CQL_OP_CONTAINS || f->op == SB_CQL_OP_CONTAINS_KEY)
        return contains(t, v, f);
    if (f->op == SB_CQL_OP_IN) {
        if (v.len < 0)
            return 0;
        for (int i = 0; i < f->nin; i++)
            if (sb_value_cmp(t, v, f->in[i]) == 0)
                return 1;
        return 0;
    }
    if (v.len < 0)
        return f->op == SB_CQL_OP_NE && f->v.len >= 0;
    int c = sb_value_cmp(t, v, f->v);
    switch (f->op) {
    case SB_CQL_OP_EQ:
        return c == 0;
    case SB_CQL_OP_NE:
        return c != 0;
    case SB_CQL_OP_LT:
        return c < 0;
    case SB_CQL_OP_LE:
        return c <= 0;
    case SB_CQL_OP_GT:
        return c > 0;
    case SB_CQL_OP_GE:
        return c >= 0;
    default:
        return 0;
    }
}

int cx_filters_match(cx_rowv *rv, const cx_where *w)
{
    for (int i = 0; i < w->nfilters; i++)
        if (!filter_match(rv, &w->filters[i]))
            return 0;
    return 1;
}
