/*
 * CQL subsystem: the whole interface other subsystems (HTTP API, native
 * protocol server, CQL shell, ingestion) use to run CQL.
 *
 * NOTES ON THE DESIGN OF THE EXECUTOR
 *
 * An engine (one per node) owns the prepared-statement cache and the
 * write-timestamp clock; it borrows the store. A session (one per client
 * connection or HTTP request) holds the USE'd keyspace; the caller embeds
 * it and keeps it for as long as the connection lives.
 *
 * Every statement is executed in three steps: parse (cql/ast.h), compile
 * against the current schema (resolve names, type literals and bind values,
 * check restrictions; all errors with the statement position), run. Prepared
 * statements keep the parsed AST and recompile on each execution, so an
 * ALTER TABLE between PREPARE and EXECUTE is seen (as Cassandra does).
 *
 * Completion: sb_cql_execute* always report through the callback, exactly
 * once. Parse and compile errors, USE, DDL and reads call it before
 * returning (the store's reads and DDL are synchronous). Writes (INSERT,
 * UPDATE, DELETE, BATCH) put all their mutations into one sb_wbatch and
 * call back from the event loop once sb_store_write reports the batch
 * durable, so a statement's mutations are atomic and acknowledged only
 * when durable.
 *
 * Write timestamps: unless the statement says USING TIMESTAMP or the
 * caller passes one, a write gets the engine's clock in microseconds,
 * strictly increasing per engine (two writes in the same microsecond get
 * consecutive values) so that writes from one node always order.
 *
 * Paging: a SELECT with a page size returns at most that many rows and, if
 * more remain, an opaque paging state; passing it back with the same
 * statement and binds resumes after the last row returned. The state is
 * self-contained (no server-side cursor).
 *
 * Results are returned in an sb_cql_result that owns all its memory (one
 * arena); the callback receives ownership and frees it with
 * sb_cql_result_free.
 */
#ifndef SB_CQL_H
#define SB_CQL_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"
#include "storage/types.h"
#include "util/buf.h"
#include "util/consistency.h"
#include "util/err.h"

/* Longest keyspace/table name (Cassandra's limit) and a buffer for one. */
#define SB_CQL_NAME_MAX 48
#define SB_CQL_NAME_SIZE 256

/* --- errors --------------------------------------------------------------
 * The protocol's error codes (SB_CQL_ERR_*) and their mapping from SB_E*
 * codes (sb_err_cql_code) are in util/err.h's table. */

struct sb_cql_error;
/* A replicated request's result (store.h) as the native protocol's error:
 * Unavailable, Write/ReadTimeout (is_read), Overloaded, Invalid or
 * ServerError with Cassandra's wording. */
void sb_cql_error_from_result(const sb_write_result *r, int is_read, struct sb_cql_error *d);

typedef struct sb_cql_error {
    int status;                   /* SB_E* */
    int code;                     /* SB_CQL_ERR_* */
    const char *name;             /* code's class: "Invalid", "WriteTimeout", ... */
    char message[SB_ERRMSG_SIZE]; /* Cassandra's wording, then "(line L:C)"
                                     when a token of the statement is to blame */
    /* AlreadyExists: the keyspace and table ("" for a keyspace). */
    char ks[SB_CQL_NAME_SIZE];
    char table[SB_CQL_NAME_SIZE];
    /* Unavailable (consistency, required, alive) and WriteTimeout /
     * ReadTimeout (consistency, received, blockfor, write_type). Filled by
     * the coordinator in later versions; zero here. */
    int consistency;
    int required;           /* blockfor */
    int alive;              /* received for timeouts */
    const char *write_type; /* "SIMPLE", "BATCH", ... */
    int data_present;       /* ReadTimeout: the data replica answered */
    /* Unprepared: the unknown statement id. */
    uint8_t unprepared_id[16];
} sb_cql_error;

/* --- results ------------------------------------------------------------ */

/* Result kinds; the values are the native protocol's RESULT kinds (error
 * results are 0, which the protocol sends as an ERROR frame). */
typedef enum sb_cql_result_kind {
    SB_CQL_RESULT_ERROR = 0,
    SB_CQL_RESULT_VOID = 1,
    SB_CQL_RESULT_ROWS = 2,
    SB_CQL_RESULT_SET_KEYSPACE = 3,
    SB_CQL_RESULT_SCHEMA_CHANGE = 5,
} sb_cql_result_kind;

/* One column of a result or one bind marker: keyspace, table, name and
 * type, as in the protocol's metadata. For bind markers that do not stand
 * for a column the name is Cassandra's: "[limit]", "[ttl]", "[timestamp]",
 * "partition key token", "[per_partition_limit]"; "in(k)" for `k IN ?`;
 * "key(m)" / "value(m)" for `m[?] = ?`. */
typedef struct sb_cql_colspec {
    const char *ks;
    const char *table;
    const char *name;
    sb_type type;
} sb_cql_colspec;

typedef struct sb_cql_result {
    sb_cql_result_kind kind;
    sb_cql_error err; /* kind == ERROR */

    /* ROWS: ncols columns, nrows rows, values row-major in rows[r * ncols +
     * c], each in its type's serialization (types.h); null is {NULL, -1}. */
    const sb_cql_colspec *cols;
    int ncols;
    const sb_value *rows;
    int nrows;
    /* More rows remain: paging_state (opaque, paging_state_len bytes) goes
     * into sb_cql_opts of the next request. */
    int has_more;
    const uint8_t *paging_state;
    size_t paging_state_len;

    /* SET_KEYSPACE: the keyspace now in use. */
    const char *keyspace;

    /* SCHEMA_CHANGE */
    const char *change_type; /* "CREATED", "UPDATED", "DROPPED" */
    const char *target;      /* "KEYSPACE", "TABLE" */
    const char *sc_keyspace;
    const char *sc_name; /* table name; "" for a KEYSPACE target */

    /* Client warning (Cassandra's "Aggregation query used without
     * partition key", ...), NULL if none. */
    const char *warning;

    void *priv; /* private: the memory that holds everything above */
} sb_cql_result;

/* Frees a result and everything it points to. NULL is fine. */
void sb_cql_result_free(sb_cql_result *r);

/* Appends the HTTP API's body for a successful result:
 *   {"columns": ["a", "b"], "rows": [[1, "x"], ...]}
 * plus "paging_state": "<hex>" when has_more. Non-ROWS results give empty
 * columns/rows (SET_KEYSPACE adds "keyspace", SCHEMA_CHANGE adds
 * "schema_change": {"change": .., "target": .., "keyspace": .., "name": ..}).
 * For errors appends {"error": {"code": "<class>", "message": "..."}}.
 * 0 or SB_ENOMEM. */
int sb_cql_result_to_json(const sb_cql_result *r, sb_buf *out);

/* --- engine and sessions ------------------------------------------------ */

typedef struct sb_cql_engine sb_cql_engine;

/* The completion of a TRUNCATE through the cluster (engine opts
 * truncate): 0 or an error status and, for errors with protocol fields, a
 * detail whose code, message, consistency, required and alive the result
 * copies (detail may be NULL). Writes use store.h's sb_write_fn. */
typedef void (*sb_cql_write_done)(void *arg, int status, const struct sb_cql_error *detail);

/* Reads go to the store by default; the coordinator replaces them with a
 * reader. Execution is then optimistic and may take several rounds: every
 * read of an execution goes through open() with the execution's read
 * context (begin()); a reader that lacks the data records what it needs
 * and answers with what it has (perhaps nothing). If pending() is
 * non-zero when the statement has run (before a write is sent), the
 * engine drops the result, calls fetch() and, when fetch reports success,
 * runs the statement again in the same context, which now holds the data;
 * an error from fetch (detail as for writes, e.g. ReadTimeout) becomes the
 * result. end() releases the context. At most 64 rounds. */
typedef void (*sb_cql_fetch_done)(void *arg, int status, const struct sb_cql_error *detail);
typedef struct sb_cql_reader {
    void *(*begin)(void *arg);
    int (*open)(void *rctx, const sb_read *r, void **it, char *errmsg);
    int (*next)(void *it, sb_row *row); /* 1, 0 at end, negative error */
    void (*close)(void *it);
    int (*pending)(void *rctx);
    void (*fetch)(void *rctx, int consistency, sb_cql_fetch_done done, void *done_arg);
    void (*end)(void *rctx);
    void *arg;
} sb_cql_reader;

/* Virtual tables (system, system_schema, ...): a provider answers for
 * whole keyspaces. lookup returns the table definition (owned by the
 * provider, valid during the request) or NULL if it has no such table;
 * scan calls emit once per row with t->ncols values in column order (the
 * executor copies them) and returns 0 or a negative SB_E* with errmsg (a
 * non-zero return of emit must be returned as is). The executor applies
 * WHERE (no ALLOW FILTERING needed), ORDER BY, LIMIT, aggregates and
 * paging. */
typedef int (*sb_cql_emit_fn)(void *ctx, const sb_value *row);
typedef struct sb_cql_vtables {
    const sb_table *(*lookup)(void *arg, const char *ks, const char *table);
    int (*scan)(void *arg, const sb_table *t, sb_cql_emit_fn emit, void *ctx, char *errmsg);
    void *arg;
} sb_cql_vtables;

typedef struct sb_cql_engine_opts {
    /* Use sb_store_write_sync instead of sb_store_write: for tools and
     * tests whose store has no event loop. Callbacks then run before
     * sb_cql_execute returns. */
    int sync_writes;
    /* Clock in microseconds since the epoch (tests and the simulator);
     * NULL = the system clock. */
    int64_t (*clock_us)(void *arg);
    void *clock_arg;
    /* Replaces sb_store_write; NULL = the local store (store.h
     * sb_write_fn: the engine then builds mutation-only batches). */
    sb_write_fn write;
    void *write_arg;
    /* Replaces the store's reads when reader.open is set. */
    sb_cql_reader reader;
    /* TRUNCATE through the cluster (every node truncates); NULL = the
     * local store. Same contract as write. */
    int (*truncate)(void *arg, const uint8_t table_id[16], sb_cql_write_done cb, void *cb_arg);
    /* Called after every successful DDL statement (the cluster spreads the
     * new schema); NULL = nothing. */
    void (*on_schema_change)(void *arg);
    void *schema_arg;
    /* Schema changes through consensus (the metadata Raft group): a CREATE,
     * ALTER or DROP statement is not run here but handed to ddl with the
     * session's keyspace, and every node runs it with sb_cql_apply_ddl in
     * the group's order. done gets 0 and, in detail->message, what
     * sb_cql_apply_ddl answered on success, or an SB_E* code and
     * detail->message. Returns 0 (done will run) or an SB_E* code. NULL =
     * run schema changes on the local store. */
    int (*ddl)(void *arg, const char *keyspace, const char *text, size_t len,
               sb_cql_write_done done, void *done_arg);
    void *ddl_arg;
    int max_prepared;    /* prepared cache size, default 4096 */
    int max_result_rows; /* unpaged SELECT limit, default 1,000,000 */
} sb_cql_engine_opts;

void sb_cql_engine_opts_default(sb_cql_engine_opts *o);

/* Creates an engine over store s (borrowed; must outlive the engine).
 * opts may be NULL. NULL on allocation failure. */
sb_cql_engine *sb_cql_engine_new(sb_store *s, const sb_cql_engine_opts *opts);
/* Writes still in flight keep a reference to what they need, not to the
 * engine, so this may be called with writes pending; their callbacks still
 * run. */
void sb_cql_engine_free(sb_cql_engine *e);
/* Installs a virtual-table provider (copied). */
void sb_cql_engine_set_vtables(sb_cql_engine *e, const sb_cql_vtables *vt);
/* Runs one schema statement on the local store, as the metadata group's
 * state machine applies it on every node: no opts.ddl, no
 * opts.on_schema_change; a new table gets table_id. Returns 0 with out
 * (SB_ERRMSG_SIZE) describing the change as "CREATED TABLE ks t" (the
 * schema change result: change, target, keyspace[, name]) or "" when the
 * statement changed nothing (IF NOT EXISTS); or an SB_E* code with the
 * error message in out. */
int sb_cql_apply_ddl(sb_cql_engine *e, const char *keyspace, const char *text, size_t len,
                     const uint8_t table_id[16], char *out);
/* The next write timestamp (microseconds, strictly increasing). */
int64_t sb_cql_engine_timestamp(sb_cql_engine *e);

typedef struct sb_cql_session {
    char keyspace[SB_CQL_NAME_SIZE]; /* USE'd keyspace; "" = none */
} sb_cql_session;

void sb_cql_session_init(sb_cql_session *s);

/* --- execution ---------------------------------------------------------- */

typedef struct sb_cql_opts {
    int consistency;             /* SB_CL_*, default ONE */
    int serial_consistency;      /* default SERIAL */
    int32_t page_size;           /* <= 0: no paging (every row in one result) */
    const uint8_t *paging_state; /* from a previous result; NULL = first page */
    size_t paging_state_len;
    int has_timestamp; /* use timestamp_us as the default write time */
    int64_t timestamp_us;
    /* Names of the bind values (protocol "values with names"); NULL for
     * positional values. */
    const char *const *bind_names;
} sb_cql_opts;

void sb_cql_opts_default(sb_cql_opts *o);

/* Called exactly once per execution with a result the callee owns (free it
 * with sb_cql_result_free). */
typedef void (*sb_cql_cb)(void *arg, sb_cql_result *res);

/* Parses and runs one statement. binds (nbinds values, serialized as
 * types.h says; {NULL,-1} is null) fill the bind markers in order (or by
 * opts->bind_names). text, binds and opts are only read during the call;
 * session is read and, for USE, updated during the call. opts may be NULL.
 * Returns 0 when cb has been or will be called, SB_ENOMEM (cb not called)
 * when not even an error result could be allocated. */
int sb_cql_execute(sb_cql_engine *e, sb_cql_session *s, const char *text, size_t len,
                   const sb_value *binds, int nbinds, const sb_cql_opts *opts, sb_cql_cb cb,
                   void *arg);

/* A prepared statement. Owned by the engine's cache; the pointer from
 * sb_cql_prepare / sb_cql_prepared_find is valid until the next
 * sb_cql_prepare on the engine (which may evict) or sb_cql_engine_free. */
typedef struct sb_cql_prepared {
    uint8_t id[16];       /* MD5 of the keyspace and the query text */
    const char *query;    /* NUL-terminated copy */
    const char *keyspace; /* session keyspace at prepare time ("" none) */
    int nbinds;
    const sb_cql_colspec *binds;
    /* Token-aware routing: when every partition key column is bound by
     * `=` to a bind marker, pk_binds[i] is the bind index of partition key
     * column i (npk_binds = the table's npk); otherwise npk_binds = 0. */
    int npk_binds;
    const int *pk_binds;
    /* Result columns of a SELECT (ncols = 0 for other statements). */
    int ncols;
    const sb_cql_colspec *cols;
    int is_select;
} sb_cql_prepared;

/* Parses and checks a statement against the schema without running it
 * (USE and DDL can be prepared too; they run at execute time). 0 or an SB_E*
 * code (map it with sb_err_cql_code) with the reason in errmsg. */
int sb_cql_prepare(sb_cql_engine *e, sb_cql_session *s, const char *text, size_t len,
                   const sb_cql_prepared **out, char *errmsg);
/* The cached statement with that id, or NULL. */
const sb_cql_prepared *sb_cql_prepared_find(sb_cql_engine *e, const uint8_t *id, size_t id_len);
/* Runs a prepared statement; an unknown id gives an Unprepared error
 * result. Same contract as sb_cql_execute. The statement runs in the
 * keyspace it was prepared in unless it names one. */
int sb_cql_execute_prepared(sb_cql_engine *e, sb_cql_session *s, const uint8_t *id, size_t id_len,
                            const sb_value *binds, int nbinds, const sb_cql_opts *opts,
                            sb_cql_cb cb, void *arg);

#endif
