/*
 * The storage engine: Cassandra's data model on RocksDB.
 *
 * One RocksDB database per node; the default column family holds the
 * schema, each table has its own column family (so compaction strategy and
 * TTL options are per table, and DROP/TRUNCATE are cheap).
 *
 * Key layout inside a table's column family (all order-preserving, see
 * sb_keyenc_append):
 *
 *   token(8, big-endian, sign bit flipped) | partition key components |
 *   section(1) | ...
 *
 *   section 0x10: partition header (partition deletion, static row)
 *   section 0x20: range tombstones: start bound | end bound
 *   section 0x30: rows: clustering components
 *
 * so a token range is one contiguous scan, a partition is one contiguous
 * scan, and rows come in clustering order (DESC columns are encoded
 * inverted).
 *
 * Values are row fragments merged by a RocksDB merge operator with
 * Cassandra's reconciliation: per cell, the higher timestamp wins; on equal
 * timestamps a tombstone wins, then the later expiry, then the larger
 * value. Row deletions, range tombstones and partition deletions shadow
 * cells with timestamps <= theirs. A compaction filter drops expired cells
 * (turning them into tombstones until gc_grace passes) and purges
 * tombstones older than gc_grace_seconds.
 *
 * Durability: writes go through a commit thread that applies queued
 * batches to RocksDB (WAL on) and, in `group` mode, fsyncs the WAL once for
 * everything it applied before completing those writes; in `periodic`
 * mode writes complete as soon as they are applied and a timer thread
 * fsyncs every period_ms. Completions are delivered on the event loop.
 * Nothing slow runs on the caller's thread.
 *
 * Threading: all functions except sb_store_write's completion are called
 * from the event loop thread; iterators may be used from a worker thread as
 * long as no DDL runs on their table meanwhile.
 */
#ifndef SB_STORE_H
#define SB_STORE_H

#include <stdint.h>
#include <uv.h>

#include "storage/schema.h"
#include "storage/types.h"
#include "util/buf.h"

typedef struct sb_store sb_store;

typedef enum sb_sync_mode {
    SB_SYNC_GROUP,    /* ack after fsync; concurrent writes share one fsync */
    SB_SYNC_PERIODIC, /* ack after apply; fsync every period_ms */
} sb_sync_mode;

/* What the store does when a write fails with an I/O error other than
 * running out of space (Cassandra's disk_failure_policy). Running out of
 * space is never a failure of the disk: the store refuses writes until
 * space returns, under every policy. */
typedef enum sb_disk_policy {
    SB_DISK_POLICY_STOP,        /* read-only, and the node stops serving */
    SB_DISK_POLICY_BEST_EFFORT, /* read-only: reads keep working */
    SB_DISK_POLICY_DIE,         /* log and exit the process at once */
    SB_DISK_POLICY_IGNORE,      /* fail that write only; try the next */
} sb_disk_policy;

/* The state of the data directory's file system, as writes see it. */
typedef enum sb_disk_state {
    SB_DISK_OK,
    SB_DISK_LOW,    /* free space below min_free_bytes: writes refused */
    SB_DISK_FULL,   /* a write failed with ENOSPC: writes refused */
    SB_DISK_FAILED, /* a write failed with an I/O error: read-only */
    SB_DISK_NSTATES
} sb_disk_state;

typedef struct sb_store_opts {
    sb_sync_mode sync_mode;
    int sync_period_ms;        /* periodic mode; default 10000 as Cassandra */
    size_t block_cache_bytes;  /* default 8 MiB */
    size_t write_buffer_bytes; /* memtable size per table, default 4 MiB */
    int max_queued_writes;     /* commit queue bound; beyond it writes fail
                                  with SB_EOVERLOADED. default 65536 */
    /* Called after each commit-log fsync with its duration (metrics), on
     * the thread that synced (commit or sync thread): thread-safe, quick,
     * no store calls. NULL: none. */
    void (*on_sync)(void *arg, double seconds);
    void *on_sync_arg;
    /* Free space kept in reserve: below it new writes are refused
     * (SB_EDISKFULL) before RocksDB runs out of space mid-write. -1 (the
     * default) = max(256 MiB, 2 % of the file system), at most a quarter
     * of it; 0 = no reserve. */
    int64_t min_free_bytes;
    sb_disk_policy disk_failure_policy; /* default best_effort */
    /* The node's name in disk-full messages ("disk full on <node>: ..."),
     * copied; NULL = "this node". */
    const char *node_name;
    /* Fault injection for tests (NULL: the real file system). statfs
     * reports the data directory's free and total bytes (0 or an errno);
     * write_fault, called on the commit thread before each batch, returns
     * an errno (ENOSPC, EIO) to fail that batch as RocksDB would. */
    int (*statfs)(void *arg, const char *dir, uint64_t *free_bytes, uint64_t *total_bytes);
    int (*write_fault)(void *arg);
    void *fault_arg;
} sb_store_opts;

void sb_store_opts_default(sb_store_opts *o);

/* Opens (creating if needed) the database under dir and loads the schema.
 * loop may be NULL for tools and unit tests; then only sb_store_write_sync
 * may be used to write. errmsg gets the reason on failure. */
int sb_store_open(sb_store **out, const char *dir, const sb_store_opts *opts, uv_loop_t *loop,
                  char *errmsg);
/* Applies and syncs every queued write, runs their callbacks (on the
 * caller's thread, which must be the loop thread), closes. With a loop,
 * run it once more afterwards so the completion handle is released. */
void sb_store_close(sb_store *s);

/* The current schema; valid until the next DDL call. */
const sb_schema *sb_store_schema(sb_store *s);

/* --- DDL (persisted before returning; schema version changes) ---------- */
/* Takes ownership of k / t on success and on failure. */
int sb_store_create_keyspace(sb_store *s, sb_keyspace *k, char *errmsg);
int sb_store_alter_keyspace(sb_store *s, sb_keyspace *k, char *errmsg);
int sb_store_drop_keyspace(sb_store *s, const char *name, char *errmsg);
/* t->id must be set (or zero to have one generated); columns need ids
 * assigned (0 = assign), next_col_id is maintained by the store. */
int sb_store_create_table(sb_store *s, sb_table *t, char *errmsg);
/* Replaces the table definition (ALTER); the column family stays. A
 * column family keeps the compaction strategy (and TimeWindow TTL) it was
 * created with: a changed strategy is recorded and applies from the next
 * TRUNCATE (RocksDB cannot change an existing column family's style).
 * gc_grace_seconds changes apply at once. */
int sb_store_alter_table(sb_store *s, sb_table *t, char *errmsg);
int sb_store_drop_table(sb_store *s, const char *ks, const char *name, char *errmsg);
int sb_store_truncate(sb_store *s, const char *ks, const char *name, char *errmsg);

/* --- writes ------------------------------------------------------------- */

enum {
    SB_CELL_TOMBSTONE = 1,      /* cell deletion (value absent) */
    SB_CELL_COMPLEX_DELETE = 2, /* whole-collection deletion at ts: shadows
                                   all elements with ts <= this ts */
};

/* One cell of a write. For non-frozen collections, each element is a cell
 * with elem set: map key / set element / list position id (a 16-byte
 * timeuuid-like id that orders by insertion); value is the map value /
 * empty for sets / the list element. */
typedef struct sb_cell {
    uint16_t col;
    uint8_t flags;
    int64_t ts_us;
    int32_t ttl_s;  /* 0 = no TTL */
    sb_value elem;  /* {NULL,-1} for simple cells */
    sb_value value; /* {NULL,-1} for tombstones */
} sb_cell;

/* A clustering bound for range deletions and reads: a prefix of the
 * clustering key plus inclusivity. n = 0 means unbounded. */
typedef struct sb_bound {
    const sb_value *vals;
    int n;
    int inclusive;
} sb_bound;

typedef struct sb_wbatch sb_wbatch;

/* A batch for the local store that also records its entries as a
 * mutation (sb_wbatch_raw): tools and tests. */
sb_wbatch *sb_wbatch_new(void);
/* A batch that builds only the mutation (storage/mutation.h), for the
 * coordinator: what the CQL executor and ingestion make on a node. It
 * cannot be written to a store (sb_store_write asserts); take its
 * mutation with sb_wbatch_take_mutation. */
sb_wbatch *sb_wbatch_new_mutation(void);
void sb_wbatch_free(sb_wbatch *b);
size_t sb_wbatch_count(const sb_wbatch *b);

/* Upsert a row fragment. pk has t->npk values, ck t->nck values (all
 * non-null). liveness_ts >= 0 writes a row marker (INSERT does; UPDATE does
 * not), with liveness_ttl_s. cells may be empty. now_s is the local time
 * used to compute expiry of TTL cells. Static cells go to the partition;
 * ck may be NULL when every cell is static and liveness_ts < 0. The store
 * does not apply t->default_ttl_s (ttl_s = 0 means no TTL, as USING TTL 0
 * does): callers put the table default into ttl_s. Collection elements are
 * kept in byte order of their elem serialization. */
int sb_wbatch_upsert(sb_wbatch *b, const sb_table *t, const sb_value *pk, const sb_value *ck,
                     int64_t liveness_ts, int32_t liveness_ttl_s, const sb_cell *cells, int ncells,
                     int64_t now_s, char *errmsg);
/* Delete one row (all clustering values given). */
int sb_wbatch_delete_row(sb_wbatch *b, const sb_table *t, const sb_value *pk, const sb_value *ck,
                         int64_t ts_us, int64_t now_s, char *errmsg);
/* Delete a clustering range of a partition. */
int sb_wbatch_delete_range(sb_wbatch *b, const sb_table *t, const sb_value *pk,
                           const sb_bound *start, const sb_bound *end, int64_t ts_us, int64_t now_s,
                           char *errmsg);
/* Delete a whole partition. */
int sb_wbatch_delete_partition(sb_wbatch *b, const sb_table *t, const sb_value *pk, int64_t ts_us,
                               int64_t now_s, char *errmsg);

/* Called on the event loop once the batch is durable per the sync mode
 * (status 0) or failed (negative code). */
typedef void (*sb_write_cb)(void *arg, int status);

/* --- writes through a coordinator ---------------------------------------
 * The CQL executor and ingestion hand their batch (a mutation-only one,
 * sb_wbatch_new_mutation) to a write function; on a node that is the
 * coordinator (coord.h). The result carries what the native protocol's
 * errors need; only the edges (cql/, http/) turn it into their errors. */
typedef struct sb_write_result {
    int status;             /* 0, SB_EUNAVAILABLE, SB_ETIMEOUT, SB_EOVERLOADED,
                               SB_ENOTFOUND (unknown table), SB_EINVALID, SB_ESERVER */
    int consistency;        /* SB_CL_* of the request */
    int required;           /* blockfor */
    int alive;              /* Unavailable: live replicas */
    int received;           /* timeouts: acknowledgements / responses received */
    int data_present;       /* read timeout: the data replica answered */
    const char *write_type; /* "SIMPLE", "BATCH", "UNLOGGED_BATCH" (static) */
    char message[160];      /* human reason for errors ("" = none given) */
} sb_write_result;

typedef void (*sb_write_done_fn)(void *arg, const sb_write_result *r);
/* Takes b in every case. Returns non-zero (SB_EOVERLOADED, SB_EINVALID for
 * a level writes cannot use, ...) without calling cb, or 0 and calls cb
 * exactly once, later, on the event loop. */
typedef int (*sb_write_fn)(void *arg, sb_wbatch *b, int consistency, const char *write_type,
                           sb_write_done_fn cb, void *cb_arg);

/* Queues the batch; takes ownership of b in every case. Returns
 * SB_EOVERLOADED without queueing when the commit queue is full, and
 * SB_EDISKFULL (the data directory is below its free-space reserve or
 * out of space) or SB_EIO (read-only after a disk failure) when the store
 * refuses writes (cb is not called then); otherwise 0 and cb is called
 * exactly once later, with SB_EDISKFULL or SB_EIO if the write could not
 * be made durable. */
int sb_store_write(sb_store *s, sb_wbatch *b, sb_write_cb cb, void *arg);
/* Blocking variant for tools and tests: applies and syncs. Takes b. */
int sb_store_write_sync(sb_store *s, sb_wbatch *b, char *errmsg);

/* --- reads -------------------------------------------------------------- */

typedef struct sb_read_cell {
    uint16_t col;
    int64_t ts_us;
    int32_t ttl_s;    /* remaining TTL origin: the TTL it was written with */
    int64_t expire_s; /* 0 = never */
    sb_value elem;    /* collection element key, {NULL,-1} for simple */
    sb_value value;
} sb_read_cell;

/* One live row after reconciliation. Pointers stay valid until the next
 * sb_iter_next or sb_iter_free. Cells are ordered by column id, then
 * element key; only live cells appear (tombstoned and expired ones are
 * removed). A row appears if it has a live row marker or a live cell. */
typedef struct sb_row {
    int64_t token;
    const sb_value *pk;  /* npk values */
    const sb_value *ck;  /* nck values */
    int64_t liveness_ts; /* -1 if no live row marker */
    int32_t liveness_ttl_s;
    const sb_read_cell *cells;
    int ncells;
    int new_partition; /* first row of its partition in this iteration */
} sb_row;

typedef struct sb_read {
    const sb_table *t;
    /* Either one partition (pk != NULL, npk values) ... */
    const sb_value *pk;
    /* ... or a token range (tok_lo, tok_hi], both inclusive flags below. */
    int64_t tok_lo;
    int64_t tok_hi;
    int tok_lo_inclusive;
    /* Clustering slice within each partition (n = 0: unbounded), given in
     * clustering order: for a DESC column the start bound is the larger
     * value. Token ranges do not wrap (split a wrapping range in two). */
    sb_bound start;
    sb_bound end;
    int reversed;  /* iterate rows of each partition in reverse clustering order */
    int64_t now_s; /* for TTL expiry */
} sb_read;

typedef struct sb_iter sb_iter;

int sb_store_iter(sb_store *s, const sb_read *r, sb_iter **out, char *errmsg);
/* 1 and fills row, 0 at end, negative on error. */
int sb_iter_next(sb_iter *it, sb_row *row);
void sb_iter_free(sb_iter *it);

/* --- raw access (the cluster layer) --------------------------------------
 *
 * A raw entry is one RocksDB key of a table with its row-fragment value
 * (the key layout above; the first 8 key bytes are the token, see
 * sb_raw_token). Replicas exchange raw entries: a coordinator ships the raw
 * entries of a write batch to the replicas of their tokens, replicas merge
 * them into their keys (so applying twice, or out of order, is harmless),
 * reads return them fully merged and the coordinator reconciles copies from
 * several replicas with sb_frag_merge, which is the merge operator itself.
 * Tombstones and expired cells are part of the values, so reconciling raw
 * entries is exactly Cassandra's reconciliation. */

typedef struct sb_raw {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} sb_raw;

/* A raw entry with the table it belongs to. */
typedef struct sb_raw_mut {
    const uint8_t *table_id; /* 16 bytes */
    sb_raw e;
} sb_raw_mut;

/* The token of a raw key (its first 8 bytes). */
int64_t sb_raw_token(const uint8_t *key, size_t klen);

/* Number of raw entries in a batch, and the i-th one in insertion order
 * (pointers valid until the batch is freed or gets another entry). Only
 * entries added through the sb_wbatch_upsert/delete_* calls and
 * sb_wbatch_add_raw count (one upsert with static and regular cells adds
 * two: the partition header, then the row). */
size_t sb_wbatch_nraw(const sb_wbatch *b);
void sb_wbatch_raw(const sb_wbatch *b, size_t i, sb_raw_mut *out);
/* Moves the batch's mutation (an empty one if it has no entries) into out
 * (which the caller then owns and frees with sb_buf_free); the batch has
 * no entries afterwards. 0 or SB_ENOMEM. No copy is made. */
int sb_wbatch_take_mutation(sb_wbatch *b, sb_buf *out);
/* A replica's write: applies the raw entries (each merged into its key,
 * checked as sb_wbatch_add_raw) in one RocksDB batch, through
 * sb_store_write (cb as there). Errors as sb_wbatch_add_raw, or
 * SB_EOVERLOADED; cb is not called then. */
int sb_store_apply(sb_store *s, const sb_raw_mut *m, size_t n, sb_write_cb cb, void *arg,
                   char *errmsg);
/* Adds a raw entry to be merged into its key. SB_ENOTFOUND (with errmsg)
 * if the store has no table with that id; SB_EBADINPUT if the key is not
 * a key of that table or the value is not a row fragment (such an entry
 * would make its key unreadable). */
int sb_wbatch_add_raw(sb_wbatch *b, sb_store *s, const sb_raw_mut *m, char *errmsg);
/* Durable metadata (hints, cluster state) in the default column family,
 * in a key space of its own that never collides with the schema. Written
 * through sb_store_write like everything else. */
int sb_wbatch_kv_put(sb_wbatch *b, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen);
int sb_wbatch_kv_del(sb_wbatch *b, const uint8_t *k, size_t klen);
int sb_store_kv_scan(sb_store *s, const uint8_t *prefix, size_t plen,
                     int (*emit)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                                 size_t vlen),
                     void *arg);

/* Merges two values of one key as the merge operator does (b applied on
 * top of a; the result is independent of the order). 0 or SB_ENOMEM /
 * SB_ECORRUPT. out is reset first. */
int sb_frag_merge(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, sb_buf *out);

/* A raw query: what a replica must return so that a coordinator can answer
 * an sb_read from the entries alone (sb_store_iter_raw).
 *   head: for a single-partition read, the partition's header and range
 *         tombstones [head_lo, head_hi), always returned whole; empty
 *         (head_lo.len == 0) for token-range reads.
 *   main: [lo, hi) (hi.len == 0: to the end of the table), scanned
 *         forward or (reversed) backward, at most max_entries entries and
 *         max_bytes bytes of keys and values (0 = no limit; at least one
 *         entry is returned when any exists).
 * The owner frees the buffers with sb_rawq_free. */
typedef struct sb_rawq {
    uint8_t table_id[16];
    sb_buf head_lo, head_hi;
    sb_buf lo, hi;
    int reversed;
    uint32_t max_entries;
    uint32_t max_bytes;
} sb_rawq;

void sb_rawq_init(sb_rawq *q);
void sb_rawq_free(sb_rawq *q);
/* The raw query for a read (r->t, r->pk or the token range, the slice,
 * reversed). Limits are left 0. q must have been initialised with
 * sb_rawq_init; its buffers are reused. */
int sb_read_rawq(const sb_read *r, sb_rawq *q, char *errmsg);
/* Wire form of a raw query (for node-to-node READ messages). */
int sb_rawq_encode(const sb_rawq *q, sb_buf *out);
/* Decodes from p (n bytes) into q (initialised with sb_rawq_init; its
 * buffers are reused); *used = bytes consumed. SB_EBADINPUT on truncated
 * or malformed input (keys longer than 1 MiB included). */
int sb_rawq_decode(const uint8_t *p, size_t n, sb_rawq *q, size_t *used);

/* Called once per entry, in key order (descending when reversed);
 * non-zero stops the read and is returned. Pointers valid during the call. */
typedef int (*sb_raw_emit)(void *arg, const sb_raw *e);
/* Runs a raw query against this store: the head entries, then the main
 * range. Entries with empty values (nothing known about the key) are
 * skipped. *more (may be NULL) = 1 when the main range stopped at a limit
 * with entries left (the last main entry emitted is where a continuation
 * resumes: forward, lo = that key + "\0"; reversed, hi = that key).
 * SB_ENOTFOUND if no such table. Synchronous (event loop). */
int sb_store_raw_read(sb_store *s, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more,
                      char *errmsg);

/* An iterator over entries held in memory (sorted by key ascending, keys
 * unique, borrowed until sb_iter_free) instead of the database: it yields
 * exactly the rows sb_store_iter would yield for r over a database that
 * holds these entries. r->t must be a table of some schema (no store
 * needed). */
int sb_store_iter_raw(const sb_read *r, const sb_raw *entries, size_t n, sb_iter **out,
                      char *errmsg); /* SB_EINVAL if entries are not sorted/unique */
/* Estimated live bytes of all tables (SST live data + memtables). */
uint64_t sb_store_load_bytes(sb_store *s);
/* Truncates the table with that id (SB_ENOTFOUND if none). */
int sb_store_truncate_id(sb_store *s, const uint8_t table_id[16], char *errmsg);

/* --- statistics (for /metrics) ----------------------------------------- */
typedef struct sb_store_stats {
    uint64_t live_bytes; /* estimated live data size */
    uint64_t sst_bytes;  /* total SST file size */
    uint64_t memtable_bytes;
    uint64_t sst_files;
    uint64_t compactions;    /* completed since start */
    uint64_t wal_syncs;      /* commit-log fsyncs since start */
    double wal_sync_seconds; /* total time spent in them */
    uint64_t writes;         /* batches committed */
    uint64_t queued;         /* current commit queue depth */
} sb_store_stats;

void sb_store_get_stats(sb_store *s, sb_store_stats *st);

/* --- disk space and failures (disk.c) ------------------------------------ */
typedef struct sb_disk_status {
    sb_disk_state state;
    int read_only_at_start; /* opened read-only: no space to open for writes */
    uint64_t free_bytes;    /* of the data directory's file system, last check */
    uint64_t total_bytes;
    uint64_t min_free_bytes;           /* the reserve in force */
    uint64_t refused[SB_DISK_NSTATES]; /* writes refused, by the state that refused */
    uint64_t failed;                   /* writes RocksDB failed (ENOSPC, EIO) */
    char reason[512]; /* "disk full on <node>: <path>: <why>" or ""; see sb_store_disk_why */
} sb_disk_status;

/* A snapshot of the disk state; re-checks free space when the last check
 * is older than 100 ms. Any thread. */
void sb_store_disk_status(sb_store *s, sb_disk_status *st);
/* "ok", "low", "full", "failed". */
const char *sb_disk_state_name(sb_disk_state st);
/* Why writes are refused now ("" when they are not) into buf. */
void sb_store_disk_why(sb_store *s, char *buf, size_t size);
/* Makes the next `writes` batches (-1: every batch until called again
 * with err 0) fail as RocksDB would with errno err (ENOSPC, EIO); err 0
 * clears. For fault injection from the node's HTTP API and tests; the
 * failures go through the same path as real ones. Any thread. */
void sb_store_inject_write_error(sb_store *s, int err, int writes);
/* The default reserve for a file system of total_bytes. */
uint64_t sb_disk_default_reserve(uint64_t total_bytes);
/* Forces a flush and full compaction of every table (benchmarks, tests).
 * Blocks the caller until done. */
int sb_store_compact_all(sb_store *s, char *errmsg);

/* Fixes the clock (seconds) that compactions use for TTL expiry and
 * gc_grace purging; 0 returns to the wall clock. For tests and tools. */
void sb_store_set_now(sb_store *s, int64_t now_s);

#endif
