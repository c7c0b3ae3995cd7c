/*
 * Conditional statements (lightweight transactions): INSERT ... IF NOT
 * EXISTS, UPDATE/DELETE ... IF EXISTS or IF conditions, and BATCHes of
 * them on one partition.
 *
 * The statement reads the rows its conditions name through the engine's
 * reader. Through the cluster the reader's fetch runs at the serial level
 * (cql.h): a Paxos round is prepared on the partition before the read,
 * so the values seen are the latest committed and nothing newer can be
 * accepted under an older ballot. The conditions are then checked here;
 * when they hold, the statement's mutation is built with the round's
 * timestamp (reader.serial_ts) and handed to the engine's cas hook,
 * which proposes and commits it. With the local store (no reader) the
 * same checks run against the store and the write is an ordinary one.
 *
 * Result (Cassandra 4's shape): a ROWS result whose first column is
 * `[applied]` (boolean). Applied: that column alone. Not applied:
 *   IF NOT EXISTS     [applied] and every column of the existing row;
 *   IF EXISTS         [applied] alone (there was no row);
 *   IF conditions     [applied] and the columns the conditions name, with
 *                     their current values, when the row exists; else
 *                     [applied] alone;
 *   BATCH             [applied] and every column of each existing row read
 *                     (one result row per row), or [applied] alone.
 */
#include <stdlib.h>
#include <string.h>

#include "cql/exec_int.h"

#define MAX_CAS_ROWS 64

typedef struct cas_row {
    const sb_cql_stmt *st;
    const sb_table *t;
    sb_value *pk, *ck;
    int exists;
    sb_value *vals; /* t->ncols current values (copied) when exists */
} cas_row;

int cx_stmt_conditional(const sb_cql_stmt *st)
{
    switch (st->kind) {
    case SB_CQL_STMT_INSERT:
        return st->insert.if_not_exists;
    case SB_CQL_STMT_UPDATE:
        return st->update.if_exists || st->update.nconds > 0;
    case SB_CQL_STMT_DELETE:
        return st->del.if_exists || st->del.nconds > 0;
    case SB_CQL_STMT_BATCH:
        for (int i = 0; i < st->batch.nstmts; i++)
            if (cx_stmt_conditional(st->batch.stmts[i]))
                return 1;
        return 0;
    default:
        return 0;
    }
}

static const sb_cql_qname *table_of(const sb_cql_stmt *st)
{
    switch (st->kind) {
    case SB_CQL_STMT_INSERT:
        return &st->insert.table;
    case SB_CQL_STMT_UPDATE:
        return &st->update.table;
    default:
        return &st->del.table;
    }
}

/* The primary key an INSERT names. */
static int insert_key(cx_ctx *c, const sb_cql_stmt *st, cas_row *r)
{
    const sb_table *t = r->t;
    const sb_cql_insert *in = &st->insert;
    if (in->json)
        return cx_err(c, SB_EUNSUPPORTED, &in->json->pos, "INSERT JSON is not supported yet");
    int nkey = t->npk + t->nck;
    sb_value *key = cx_alloc(&c->tmp, sizeof *key * (size_t)(nkey + 1));
    if (!key)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    int found = 0;
    for (int i = 0; i < in->ncols && i < in->nvalues; i++) {
        const sb_column *col = sb_table_column(t, in->cols[i].name);
        if (!col || (col->kind != SB_COL_PARTITION && col->kind != SB_COL_CLUSTERING))
            continue;
        int ci = (int)(col - t->cols);
        int rc = cx_term_eval(c, in->values[i], col->type, col->name, &key[ci]);
        if (rc)
            return rc;
        found++;
    }
    if (found != nkey)
        return 1; /* the write itself reports the missing part */
    r->pk = key;
    r->ck = key + t->npk;
    return 0;
}

/* The one row an UPDATE or DELETE with conditions names. */
static int where_key(cx_ctx *c, const sb_cql_stmt *st, cas_row *r)
{
    const sb_table *t = r->t;
    int is_upd = st->kind == SB_CQL_STMT_UPDATE;
    cx_where wh;
    int rc = cx_where_compile(c, t, is_upd ? st->update.where : st->del.where,
                              is_upd ? st->update.nwhere : st->del.nwhere,
                              is_upd ? CQL_WHERE_UPDATE : CQL_WHERE_DELETE, 0, &wh);
    if (rc)
        return rc;
    if (c->preparing)
        return 1;
    if (wh.nparts != 1 || wh.nslices != 1 || wh.ck_eq != t->nck)
        return cx_err(c, SB_EINVALID, &st->pos,
                      "IN on the partition key or clustering key is not supported with "
                      "conditional %s; the full primary key must be given",
                      is_upd ? "updates" : "deletions");
    r->pk = wh.parts;
    r->ck = t->nck ? (sb_value *)wh.slices[0].start.vals : NULL;
    return 0;
}

/* Reads the row's current values through the reader (or the store). */
static int read_row(cx_ctx *c, cas_row *r)
{
    const sb_table *t = r->t;
    sb_read rd;
    memset(&rd, 0, sizeof rd);
    rd.t = t;
    rd.pk = r->pk;
    rd.start = (sb_bound){r->ck, t->nck, 1};
    rd.end = (sb_bound){r->ck, t->nck, 1};
    rd.now_s = c->now_s;
    void *it = NULL;
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = cx_iter_open(c, &rd, &it, msg);
    if (rc)
        return cx_err_msg(c, rc, &r->st->pos, msg);
    cx_rowv rv;
    rc = cx_rowv_init(c, &rv, t);
    if (rc) {
        cx_iter_close(c, it);
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    }
    sb_row row;
    r->exists = 0;
    rc = cx_iter_next(c, it, &row);
    if (rc == 1) {
        r->exists = 1;
        cx_rowv_set(&rv, &row);
        r->vals = cx_alloc(&c->tmp, sizeof *r->vals * (size_t)(t->ncols + 1));
        for (int i = 0; r->vals && i < t->ncols; i++) {
            sb_value v;
            if (cx_rowv_value(&rv, i, &v) || cx_value_dup(&c->tmp, &r->vals[i], v)) {
                r->vals = NULL;
                break;
            }
        }
        rc = r->vals ? 0 : SB_ENOMEM;
    }
    cx_rowv_free(&rv);
    cx_iter_close(c, it);
    if (rc < 0)
        return cx_err(c, rc, &r->st->pos, "reading the row for the condition: %s", sb_strerror(rc));
    return 0;
}

/* One condition `col op value` against the row. */
static int check_cond(cx_ctx *c, const cas_row *r, const sb_cql_relation *rel, int *holds)
{
    const sb_table *t = r->t;
    const sb_column *col = sb_table_column(t, rel->cols[0].name);
    if (!col)
        return cx_err(c, SB_EINVALID, &rel->pos, "Undefined column name %s", rel->cols[0].name);
    if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING)
        return cx_err(c, SB_EINVALID, &rel->pos,
                      "PRIMARY KEY column '%s' cannot have IF conditions", col->name);
    if (rel->elem_key)
        return cx_err(c, SB_EUNSUPPORTED, &rel->pos,
                      "Conditions on collection elements are not supported yet");
    if (rel->op == SB_CQL_OP_CONTAINS || rel->op == SB_CQL_OP_CONTAINS_KEY)
        return cx_err(c, SB_EINVALID, &rel->pos, "Unsupported operator in a condition on %s",
                      col->name);
    int ci = (int)(col - t->cols);
    sb_value cur = r->exists ? r->vals[ci] : SB_VALUE_NULL;
    sb_cql_term *const *cands = &rel->value;
    int ncands = 1;
    if (rel->op == SB_CQL_OP_IN) {
        if (rel->value->kind != SB_CQL_TERM_TUPLE)
            return cx_err(c, SB_EUNSUPPORTED, &rel->pos,
                          "IN ? in conditions is not supported yet; list the values");
        cands = rel->value->elems;
        ncands = rel->value->nelems;
    }
    *holds = 0;
    for (int i = 0; i < ncands; i++) {
        sb_value v;
        int rc = cx_term_eval(c, cands[i], col->type, col->name, &v);
        if (rc)
            return rc;
        if (v.len == CQL_UNSET_LEN)
            return c->preparing ? 0
                                : cx_err(c, SB_EINVALID, &rel->pos,
                                         "Invalid unset value for condition on %s", col->name);
        int is_null = v.len < 0, cur_null = cur.len < 0;
        int cmp = is_null || cur_null ? 0 : sb_value_cmp(col->type, cur, v);
        int eq = is_null || cur_null ? is_null == cur_null : cmp == 0;
        switch (rel->op) {
        case SB_CQL_OP_EQ:
        case SB_CQL_OP_IN:
            *holds |= eq;
            break;
        case SB_CQL_OP_NE:
            *holds = !eq;
            break;
        default:
            if (is_null)
                return cx_err(c, SB_EINVALID, &rel->pos, "Invalid comparison with null for %s",
                              col->name);
            if (cur_null)
                break;
            *holds = rel->op == SB_CQL_OP_LT   ? cmp < 0
                     : rel->op == SB_CQL_OP_LE ? cmp <= 0
                     : rel->op == SB_CQL_OP_GT ? cmp > 0
                                               : cmp >= 0;
            break;
        }
    }
    return 0;
}

/* Whether statement r->st's conditions hold on its row. */
static int check_stmt(cx_ctx *c, const cas_row *r, int *holds)
{
    const sb_cql_stmt *st = r->st;
    *holds = 1;
    if (st->kind == SB_CQL_STMT_INSERT) {
        *holds = st->insert.if_not_exists ? !r->exists : 1;
        return 0;
    }
    int if_exists = st->kind == SB_CQL_STMT_UPDATE ? st->update.if_exists : st->del.if_exists;
    sb_cql_relation **conds = st->kind == SB_CQL_STMT_UPDATE ? st->update.conds : st->del.conds;
    int n = st->kind == SB_CQL_STMT_UPDATE ? st->update.nconds : st->del.nconds;
    if (if_exists) {
        *holds = r->exists;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int h = 0;
        int rc = check_cond(c, r, conds[i], &h);
        if (rc)
            return rc;
        *holds &= h;
    }
    return 0;
}

/* --- the result ------------------------------------------------------------------------ */

static const uint8_t TRUE_BYTE = 1, FALSE_BYTE = 0;

/* [applied] plus, per row, the columns marked in show (t->ncols flags). */
static int build_result(cx_ctx *c, const cas_row *rows, int nrows, int applied, const char *show)
{
    const sb_table *t = rows[0].t;
    int ncols = 1;
    if (!applied)
        for (int i = 0; i < t->ncols; i++)
            ncols += show[i] != 0;
    int nout = 0;
    for (int i = 0; !applied && i < nrows; i++)
        nout += rows[i].exists;
    if (ncols == 1 || nout == 0) {
        ncols = 1;
        nout = 1;
    }
    sb_cql_colspec *cols = cx_alloc(c->rm, sizeof *cols * (size_t)ncols);
    sb_value *vals = cx_alloc(c->rm, sizeof *vals * (size_t)ncols * (size_t)nout);
    const char *ks = cx_strdup(c->rm, t->keyspace), *tn = cx_strdup(c->rm, t->name);
    if (!cols || !vals || !ks || !tn)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    cols[0] = (sb_cql_colspec){ks, tn, "[applied]", {.id = SB_TYPE_BOOLEAN}};
    for (int i = 0, k = 1; k < ncols && i < t->ncols; i++)
        if (show[i]) {
            cols[k] = (sb_cql_colspec){ks, tn, cx_strdup(c->rm, t->cols[i].name), t->cols[i].type};
            if (!cols[k++].name)
                return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        }
    int o = 0;
    for (int r = 0; r < nrows && o < nout; r++) {
        if (ncols > 1 && !rows[r].exists)
            continue;
        sb_value *row = vals + (size_t)o * (size_t)ncols;
        row[0] = (sb_value){applied ? &TRUE_BYTE : &FALSE_BYTE, 1};
        for (int i = 0, k = 1; k < ncols && i < t->ncols; i++)
            if (show[i] && cx_value_dup(c->rm, &row[k++], rows[r].vals[i]))
                return cx_err(c, SB_ENOMEM, NULL, "out of memory");
        o++;
    }
    if (o == 0) {
        vals[0] = (sb_value){applied ? &TRUE_BYTE : &FALSE_BYTE, 1};
        o = 1;
    }
    c->res->kind = SB_CQL_RESULT_ROWS;
    c->res->cols = cols;
    c->res->ncols = ncols;
    c->res->rows = vals;
    c->res->nrows = o;
    return 0;
}

/* Which columns a failed statement shows (Cassandra 4's choice). */
static void columns_shown(const cas_row *r, int batch, char *show)
{
    const sb_table *t = r->t;
    const sb_cql_stmt *st = r->st;
    if (batch || st->kind == SB_CQL_STMT_INSERT) {
        memset(show, 1, (size_t)t->ncols);
        return;
    }
    sb_cql_relation **conds = st->kind == SB_CQL_STMT_UPDATE ? st->update.conds : st->del.conds;
    int n = st->kind == SB_CQL_STMT_UPDATE ? st->update.nconds : st->del.nconds;
    for (int i = 0; i < n; i++) {
        const sb_column *col = sb_table_column(t, conds[i]->cols[0].name);
        if (col)
            show[col - t->cols] = 1;
    }
}

/* --- the statement ---------------------------------------------------------------------- */

static int timestamp_given(const sb_cql_stmt *st)
{
    switch (st->kind) {
    case SB_CQL_STMT_INSERT:
        return st->insert.timestamp != NULL;
    case SB_CQL_STMT_UPDATE:
        return st->update.timestamp != NULL;
    case SB_CQL_STMT_DELETE:
        return st->del.timestamp != NULL;
    default:
        return st->batch.timestamp != NULL;
    }
}

int cx_exec_cas(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b, int *applied)
{
    int batch = st->kind == SB_CQL_STMT_BATCH;
    const sb_cql_stmt *const *list = batch ? (const sb_cql_stmt *const *)st->batch.stmts : &st;
    int n = batch ? st->batch.nstmts : 1;
    *applied = 0;
    if (batch && st->batch.type == SB_CQL_BATCH_COUNTER)
        return cx_err(c, SB_EINVALID, &st->pos,
                      "Conditional updates are not supported on counter "
                      "batches");
    if (timestamp_given(st))
        return cx_err(c, SB_EINVALID, &st->pos,
                      "Cannot provide custom timestamp for conditional updates");
    if (n > MAX_CAS_ROWS)
        return cx_err(c, SB_EINVALID, &st->pos, "A conditional batch holds at most %d statements",
                      MAX_CAS_ROWS);
    cas_row *rows = cx_alloc(&c->tmp, sizeof *rows * (size_t)(n + 1));
    if (!rows)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    int nrows = 0;
    cas_row first = {0}; /* the partition every statement must share */
    int rc;
    for (int i = 0; i < n; i++) {
        const sb_cql_stmt *s = list[i];
        if (timestamp_given(s))
            return cx_err(c, SB_EINVALID, &s->pos,
                          "Cannot provide custom timestamp for conditional updates");
        cas_row *r = &rows[nrows];
        r->st = s;
        if ((rc = cx_resolve_table(c, table_of(s), &r->t)) != 0)
            return rc;
        c->cur_table = r->t;
        rc = s->kind == SB_CQL_STMT_INSERT ? insert_key(c, s, r) : where_key(c, s, r);
        if (rc < 0)
            return rc;
        if (rc > 0)
            continue; /* preparing, or a key the write will refuse */
        if (!first.t)
            first = *r;
        if (first.t != r->t)
            return cx_err(c, SB_EINVALID, &s->pos,
                          "Batch with conditions cannot span multiple tables");
        for (int k = 0; k < r->t->npk; k++)
            if (sb_value_cmp(r->t->cols[k].type, first.pk[k], r->pk[k]) != 0)
                return cx_err(c, SB_EINVALID, &s->pos,
                              "Batch with conditions cannot span multiple partitions");
        /* Only the conditions' rows are read (and shown when they fail). */
        nrows += cx_stmt_conditional(s);
    }
    if (c->preparing || nrows == 0) {
        c->cas_ok = 1;
        return cx_exec_write(c, st, b);
    }
    for (int i = 0; i < nrows; i++)
        if ((rc = read_row(c, &rows[i])) != 0)
            return rc;
    if (c->rctx && c->e->opts.reader.pending && c->e->opts.reader.pending(c->rctx))
        return 0; /* the rows are fetched (under a Paxos round), then we run again */
    int holds = 1;
    for (int i = 0; i < nrows; i++) {
        int h = 1;
        if ((rc = check_stmt(c, &rows[i], &h)) != 0)
            return rc;
        holds &= h;
    }
    char *show = cx_alloc(&c->tmp, (size_t)rows[0].t->ncols + 1);
    if (!show)
        return cx_err(c, SB_ENOMEM, NULL, "out of memory");
    for (int i = 0; !holds && i < nrows; i++)
        columns_shown(&rows[i], batch, show);
    if ((rc = build_result(c, rows, nrows, holds, show)) != 0)
        return rc;
    *applied = holds;
    if (!holds)
        return 0;
    /* The write carries the round's time, so that it orders after every
     * write an earlier round committed. */
    int64_t ts = c->rctx && c->e->opts.reader.serial_ts ? c->e->opts.reader.serial_ts(c->rctx) : 0;
    c->write_ts = ts > 0 ? ts : cx_write_ts(c);
    c->cas_ok = 1;
    sb_cql_result *keep = c->res;
    rc = cx_exec_write(c, st, b);
    c->res = keep;
    return rc;
}

int cx_prepare_conds(cx_ctx *c, const sb_cql_stmt *st)
{
    int batch = st->kind == SB_CQL_STMT_BATCH;
    const sb_cql_stmt *const *list = batch ? (const sb_cql_stmt *const *)st->batch.stmts : &st;
    int n = batch ? st->batch.nstmts : 1;
    for (int i = 0; i < n; i++) {
        const sb_cql_stmt *s = list[i];
        if (s->kind != SB_CQL_STMT_UPDATE && s->kind != SB_CQL_STMT_DELETE)
            continue;
        cas_row r = {.st = s};
        int rc = cx_resolve_table(c, table_of(s), &r.t);
        if (rc)
            return rc;
        c->cur_table = r.t;
        sb_cql_relation **conds = s->kind == SB_CQL_STMT_UPDATE ? s->update.conds : s->del.conds;
        int nc = s->kind == SB_CQL_STMT_UPDATE ? s->update.nconds : s->del.nconds;
        for (int k = 0; k < nc; k++) {
            int holds;
            if ((rc = check_cond(c, &r, conds[k], &holds)) != 0)
                return rc;
        }
    }
    return 0;
}
