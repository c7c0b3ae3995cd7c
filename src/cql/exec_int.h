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
 * Memory: each execution has a context (cql_ctx) with a scratch arena
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
#include "util/buf.h"
#include "util/err.h"

#define CQL_UNSET_LEN (-2)

/* --- arena --------------------------------------------------------------- */
typedef struct cql_chunk cql_chunk;
typedef struct cql_mem {
    cql_chunk *head;
} cql_mem;

void *cql_alloc(cql_mem *m, size_t n); /* zeroed; NULL on OOM */
void *cql_memdup(cql_mem *m, const void *p, size_t n);
char *cql_strdup(cql_mem *m, const char *s);
void cql_mem_free(cql_mem *m);
/* Copies a value's bytes into m (null/unset keep their length). */
int cql_value_dup(cql_mem *m, sb_value *dst, sb_value src);

/* --- engine internals ---------------------------------------------------- */
typedef struct cql_prep cql_prep;

struct sb_cql_engine {
    sb_store *store;
    sb_cql_engine_opts opts;
    int64_t last_ts;
    sb_cql_vtables vt;
    int has_vt;
    cql_prep **prep; /* cache, nprep entries, LRU by use counter */
    int nprep;
    uint64_t use_clock;
};

/* --- per-execution context ----------------------------------------------- */
typedef struct cql_ctx {
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
    cql_mem *rm; /* result memory */
    cql_mem tmp; /* scratch */
    int64_t now_us;
    int64_t now_s;
    int64_t write_ts;          /* default write timestamp, 0 until first needed */
    const sb_table *cur_table; /* for bind specs */
} cql_ctx;

/* Sets c->res->err (status, code, class, message) and returns status. The
 * message gets " (line L:C)" appended when pos is not NULL. */
int cql_err(cql_ctx *c, int status, const sb_cql_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Re-raises an SB_E* status whose message is in errmsg (from storage). */
int cql_err_msg(cql_ctx *c, int status, const sb_cql_pos *pos, const char *errmsg);

int64_t cql_write_ts(cql_ctx *c);
/* Keyspace of a qualified name or the context default; NULL after setting
 * the "No keyspace has been specified" error. */
const char *cql_keyspace_of(cql_ctx *c, const sb_cql_qname *q);
/* Resolves a table for DML/SELECT with Cassandra's errors. */
int cql_resolve_table(cql_ctx *c, const sb_cql_qname *q, const sb_table **out);
/* Type name for messages ("int", "map<text, float>"). */
const char *cql_type_str(sb_type t, char *buf);

/* --- terms (exec_term.c) ------------------------------------------------- */

/* Evaluates a term for a receiver of type `type` named `recv` (a column
 * name or "[limit]" ...). The value is in c->tmp; null is len -1, unset
 * (and every bind while preparing) len -2. Errors carry the term's
 * position. */
int cql_term_eval(cql_ctx *c, const sb_cql_term *t, sb_type type, const char *recv, sb_value *out);
/* Evaluates an int receiver ([limit], [ttl]) into *out; unset/null give
 * *is_set = 0. */
int cql_term_int(cql_ctx *c, const sb_cql_term *t, const char *recv, sb_type_id id, int64_t *out,
                 int *is_set);
/* The type of elements of a collection: list/set element, map key (which
 * = 0) or value (which = 1). */
sb_type cql_elem_type(sb_type t, int which);

/* Reading serialized collections ([int n] then n items of [int len][bytes];
 * maps have 2n items). */
typedef struct cql_coll_rd {
    const uint8_t *p, *end;
    int32_t left; /* items left */
} cql_coll_rd;
int cql_coll_open(cql_coll_rd *r, sb_value v, int is_map); /* 0 or SB_ECORRUPT */
int cql_coll_next(cql_coll_rd *r, sb_value *item);         /* 1, 0 at end, <0 */
/* Serializes n items (2n for maps) into out. */
int cql_coll_build(sb_buf *out, const sb_value *items, int nitems, int is_map);

/* Integer / float views of serialized numbers. */
int cql_value_as_i64(sb_type t, sb_value v, int64_t *out); /* tinyint..bigint, counter, timestamp */
int cql_value_as_double(sb_type t, sb_value v, double *out); /* any numeric but decimal/varint */
int cql_type_is_integer(uint8_t id);

/* --- statements ------------------------------------------------------------ */
int cql_exec_use(cql_ctx *c, const sb_cql_stmt *st);
int cql_exec_ddl(cql_ctx *c, const sb_cql_stmt *st);

/* Builds the mutations of INSERT/UPDATE/DELETE/BATCH into b (nothing is
 * added while preparing). */
int cql_exec_write(cql_ctx *c, const sb_cql_stmt *st, sb_wbatch *b);

/* Compiles (and unless preparing runs) a SELECT into c->res. While
 * preparing, the result columns are put in c->res (cols/ncols). */
int cql_exec_select(cql_ctx *c, const sb_cql_stmt *st);

#endif
