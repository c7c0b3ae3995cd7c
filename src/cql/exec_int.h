/*
 * Internals shared by the executor's files (not part of the interface):
 *
 *   exec.c        engine, sessions, results, errors, prepare/execute
 *   exec_term.c   terms -> values (literals, binds, collections, functions)
 *   exec_ddl.c    USE, CREATE/ALTER/DROP KEYSPACE and TABLE, TRUNCATE
 *   exec_write.c  INSERT, UPDATE, DELETE, BATCH -> one sb_wbatch
 *   exec_where.c  WHERE clauses -> partitions, clustering slices, filters
 *   exec_select.c SELECT: selectors, aggregates, GROUP BY, paging
 *
 * Memory: each execution has a context (cx_ctx) with a scratch arena
 * (tmp) freed when the execution ends, and the result's arena (rm) for
 * what the caller receives. Values computed from terms live in tmp.
 *
 * Bind values of length -2 are "unset" (protocol v4); while preparing,
 * every bind marker evaluates to unset and nothing is written or read.
 */
#ifndef SB_CQL_EXEC_INT_H
#define SB_CQL_EXEC_INT_H

#include <stdint.h>

#include "cql/ast.h"
#include "cql/cql.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "storage/types.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

#define CQL_UNSET_LEN (-2)

/* --- arena --------------------------------------------------------------- */
/* util/arena.h; an all-zero cx_mem is an empty arena. */
typedef sb_arena cx_mem;

static inline void *cx_alloc(cx_mem *m, size_t n) /* zeroed, aligned; NULL on OOM */
{
    return sb_arena_calloc(m, n);
}
static inline void cx_mem_free(cx_mem *m)
{
    sb_arena_close(m);
}
/* Aligned copies of p[0..n) (NUL-terminated) and of s. NULL on OOM. */
void *cx_memdup(cx_mem *m, const void *p, size_t n);
char *cx_strdup(cx_mem *m, const char *s);
/* Copies a value's bytes into m (null/unset keep their length). */
int cx_value_dup(cx_mem *m, sb_value *dst, sb_value src);

/* --- engine internals ---------------------------------------------------- */
typedef struct cx_prep cx_prep;

struct sb_cql_engine {
    sb_store *store;
    sb_cql_engine_opts opts;
    int64_t last_ts;
    sb_cql_vtables vt;
    int has_vt;
    cx_prep **prep; /* cache, nprep entries, LRU by use counter */
    int nprep;
    uint64_t use_clock;
    /* Inside sb_cql_apply_ddl: run DDL here (not through opts.ddl), give a
     * new table apply_table_id, tell no one (opts.on_schema_change). */
    int applying;
    uint8_t apply_table_id[16];
};

/* --- per-execution context ----------------------------------------------- */
typedef struct cx_ctx {
    sb_cql_engine *e;
    sb_cql_session *sess;
    const char *ks_default; /* keyspace for unqualified names; "" none */
    const sb_cql_stmt *root;
    const sb_value *binds; /* indexed by marker (already mapped by name) */
    int nbinds;
    const sb_cql_opts *opts;
    int preparing;
    sb_cql_colspec *bspec; /* root->nbind specs (filled during compile) */
    int *pk_binds;         /* npk_binds entries (prepare routing), -1 = none */
    int npk_binds;
    sb_cql_result *res;
    cx_mem *rm; /* result memory */
    cx_mem tmp; /* scratch */
    int64_t now_us;
    int64_t now_s;
    int64_t write_ts;          /* default write timestamp, 0 until first needed */
    const char *text;          /* the statement's text (schema changes through opts.ddl) */
    size_t text_len;
    const sb_table *cur_table; /* for bind specs */
    void *rctx;                /* the reader's context (cql.h sb_cql_reader), NULL: the store */
    /* conditional statements (exec_lwt.c) */
    int cas_ok;      /* the conditions were checked: the write may build */
    int cas_applied; /* set by cx_exec_cas */
    struct rerun *rr; /* the execution's rerun record (exec.c), NULL on round 1 */
    int rr_taken;     /* a pending CAS took rr: the round must not free it */
} cx_ctx;

/* Reads through the engine's reader, or the store. */
int cx_iter_open(cx_ctx *c, const sb_read *r, void **it, char *errmsg);
int cx_iter_next(cx_ctx *c, void *it, sb_row *row);
void cx_iter_close(cx_ctx *c, void *it);

/* Sets c->res->err (status, code, class, message) and returns status. The
 * message gets " (line L:C)" appended when pos is not NULL. */
int cx_err(cx_ctx *c, int status, const sb_cql_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Re-raises an SB_E* status whose message is in errmsg (from storage). */
int cx_err_msg(cx_ctx *c, int status, const sb_cql_pos *pos, const char *errmsg);
/* A bound value in a condition or key must be set and not null (nothing
 * to check while preparing). 0, or SB_EINVALID through cx_err. */
int cx_check_value(cx_ctx *c, sb_value v, const sb_column *col, const sb_cql_pos *pos);

int64_t cx_write_ts(cx_ctx *c);
/* Keyspace of a qualified name or the context default; NULL after setting
 * the "No keyspace has been specified" error. */
const char *cx_keyspace_of(cx_ctx *c, const sb_cql_qname *q);
/* Resolves a table for DML/SELECT with Cassandra's errors. */
int cx_resolve_table(cx_ctx *c, const sb_cql_qname *q, const sb_table **out);
/* Type name for messages ("int", "map<text, float>"). */
const char *cx_type_str(sb_type t, char *buf);

/* --- terms (exec_term.c) ------------------------------------------------- */

/* Evaluates a term for a receiver of type `type` named `recv` (a column
 * name or "[limit]" ...). The value is in c->tmp; null is len -1, unset
 * (and every bind while preparing) len -2. Errors carry the term's
 * position. */
int cx_term_eval(cx_ctx *c, const sb_cql_term *t, sb_type type, const char *recv, sb_value *out);
/* Evaluates an int receiver ([limit], [ttl]) into *out; unset/null give
 * *is_set = 0. */
int cx_term_int(cx_ctx *c, const sb_cql_term *t, const char *recv, sb_type_id id, int64_t *out,
                int *is_set);
/* The type of elements of a collection: list/set element, map key (which
 * = 0) or value (which = 1). */
sb_type cx_elem_type(sb_type t, int which);

/* Reading serialized collections ([int n] then n items of [int len][bytes];
 * maps have 2n items). */
typedef struct cx_coll_rd {
    const uint8_t *p, *end;
    int32_t left; /* items left */
} cx_coll_rd;
int cx_coll_open(cx_coll_rd *r, sb_value v, int is_map); /* 0 or SB_ECORRUPT */
int cx_coll_next(cx_coll_rd *r, sb_value *item);         /* 1, 0 at end, <0 */
/* Serializes n items (2n for maps) into out. */
int cx_coll_build(sb_buf *out, const sb_value *items, int nitems, int is_map);

/* Integer / float views of serialized numbers. */
int cx_value_as_i64(sb_type t, sb_value v, int64_t *out); /* tinyint..bigint, counter, timestamp */
int cx_value_as_double(sb_type t, sb_value v, double *out); /* any numeric but decimal/varint */
int cx_type_is_integer(uint8_t id);

/* --- WHERE (exec_where.c) ------------------------------------------------ */

/* UPDATE_STATIC: an UPDATE that sets only static columns (the clustering
 * key may be left out). */
enum { CQL_WHERE_SELECT, CQL_WHERE_UPDATE, CQL_WHERE_DELETE, CQL_WHERE_UPDATE_STATIC };

/* A restriction checked row by row (ALLOW FILTERING, or a partition or
 * token restriction the read could not use). col = -1 is token(pk). */
typedef struct cx_filter {
    int col;
    sb_cql_op op;
    sb_value v;
    sb_value key; /* m[key] op v; len -1 when absent */
    sb_value *in;
    int nin;
} cx_filter;

/* One clustering slice of a partition, in clustering (storage) order. */
typedef struct cx_slice {
    sb_bound start, end;
} cx_slice;

typedef struct cx_where {
    const sb_table *t;
    int single;      /* partitions listed (every pk column = or IN) */
    sb_value *parts; /* nparts * npk values, sorted, no duplicates */
    int nparts;
    int64_t tok_lo, tok_hi; /* range scans: (tok_lo, tok_hi] or [tok_lo, ..] */
    int tok_lo_incl;
    int empty;        /* the restrictions select nothing */
    cx_slice *slices; /* single partitions: clustering slices (>= 1) */
    int nslices;
    int ck_eq;    /* clustering columns fixed by = / IN (prefix length) */
    int ck_slice; /* the column after the prefix has a range */
    cx_filter *filters;
    int nfilters;
    const sb_cql_pos *first_ck_pos;
} cx_where;

int cx_where_compile(cx_ctx *c, const sb_table *t, sb_cql_relation *const *rels, int n, int mode,
                     int allow_filtering, cx_where *w);

/* A row being looked at: where each column's cells are. Values of
 * non-frozen collections are assembled into `scratch`, valid until the
 * next cx_rowv_set. */
typedef struct cx_rowv {
    const sb_table *t;
    const sb_row *row;
    int *idx_of_id; /* column id -> column index, -1 */
    int nids;
    int *first, *count; /* per column: cells[first .. first+count) */
    cx_mem scratch;
} cx_rowv;

int cx_rowv_init(cx_ctx *c, cx_rowv *rv, const sb_table *t);
void cx_rowv_set(cx_rowv *rv, const sb_row *row);
void cx_rowv_free(cx_rowv *rv);
/* Value of column i in the current row ({NULL,-1} if none). */
int cx_rowv_value(cx_rowv *rv, int i, sb_value *out);
/* 1 if the row passes every filter. */
int cx_filters_match(cx_rowv *rv, const cx_where *w);
/* Clustering comparison in storage order (DESC columns inverted). */
int cx_ck_cmp(const sb_table *t, const sb_value *a, const sb_value *b);

/* --- statements ------------------------------------------------------------ */
int cx_exec_use(cx_ctx *c, const sb_cql_stmt *st);
int cx_exec_ddl(cx_ctx *c, const sb_cql_stmt *st);

/* Builds the mutations of INSERT/UPDATE/DELETE/BATCH into b (nothing is
 * added while preparing). */
int cx_exec_write(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b);

/* Conditional statements (exec_lwt.c). cx_stmt_conditional: the
 * statement (or one in the batch) has an IF clause. cx_exec_cas reads
 * the rows the conditions name, checks them, puts the [applied] result in
 * c->res and, when they hold, the statement's mutation into b with the
 * reader's serial timestamp (*applied = 1). Reads still pending: returns
 * 0 with *applied = 0 and nothing built (the engine fetches and runs it
 * again). */
int cx_stmt_conditional(const sb_cql_stmt *st);
int cx_exec_cas(cx_ctx *c, const sb_cql_stmt *st, sb_wbatch *b, int *applied);
/* While preparing: types the bind markers of the IF clauses. */
int cx_prepare_conds(cx_ctx *c, const sb_cql_stmt *st);

/* Compiles (and unless preparing runs) a SELECT into c->res. While
 * preparing, the result columns are put in c->res (cols/ncols). */
int cx_exec_select(cx_ctx *c, const sb_cql_stmt *st);

#endif
