/*
 * Internals shared by the storage files (not part of the interface):
 *   store.c      open/close, column families, DDL, write batches, stats
 *   commitlog.c  the commit thread (group / periodic sync) and completions
 *   compaction.c merge operator and compaction filter (reconcile, purge)
 *   iter.c       reads (from RocksDB or from raw entries in memory)
 *   keys.c       the key layout
 *   raw.c        raw access for the cluster layer: raw entries of batches,
 *                raw queries, metadata key space
 */
#ifndef SB_STORE_INT_H
#define SB_STORE_INT_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "storage/rowcodec.h"
#include "storage/store.h"

/* Key sections (store.h). */
enum { ST_SEC_HEADER = 0x10, ST_SEC_RANGE = 0x20, ST_SEC_ROW = 0x30 };

/* Per column family state seen by the merge operator and the compaction
 * filter. Lives until sb_store_close (after RocksDB is closed), so RocksDB
 * may keep using it while a dropped column family drains. */
typedef struct st_cfctx {
    struct sb_store *s;
    uint8_t id[16];
    _Atomic int32_t gc_grace_s;
    int ready; /* npk, pk_types, gc_grace_s filled from the table */
    /* Fixed when the column family is created (CREATE TABLE, TRUNCATE) and
     * persisted under "cf\0<id>": RocksDB cannot switch an existing column
     * family to another compaction style. */
    sb_compaction style;
    int32_t fifo_ttl_s;
    int npk;
    sb_type pk_types[64];
    struct st_cfctx *next;
} st_cfctx;

struct st_commit;

/* disk.c: free space and disk failures (the state machine is there). */
typedef struct st_disk {
    pthread_mutex_t mu;
    sb_disk_state state;
    int read_only_at_start;
    int reserve_fixed; /* min_free_bytes configured, not derived */
    uint64_t min_free_bytes;
    uint64_t checked_ns;
    uint64_t written_since_check;
    uint64_t free_bytes, total_bytes;
    uint64_t refused[SB_DISK_NSTATES];
    uint64_t failed;
    char node[128];
    char reason[512];
    int inject_errno; /* sb_store_inject_write_error */
    int inject_left;  /* -1: until cleared */
} st_disk;

struct sb_store {
    rocksdb_t *db;
    rocksdb_env_t *env;
    rocksdb_cache_t *cache;
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_options_t *dbopts;
    rocksdb_writeoptions_t *wo_async; /* WAL on, no sync */
    rocksdb_writeoptions_t *wo_sync;
    rocksdb_readoptions_t *ro;
    rocksdb_column_family_handle_t *default_cf;
    sb_store_opts opts;
    uv_loop_t *loop;
    char *dir;
    sb_schema schema;
    st_cfctx *cfctxs;
    struct st_commit *cl;
    _Atomic int64_t now_override_s;
    _Atomic uint64_t compactions;
    _Atomic uint64_t wal_syncs;
    _Atomic uint64_t wal_sync_ns;
    _Atomic uint64_t writes;
    pthread_mutex_t maint_mu; /* manual compaction vs DDL, see compact_all */
    st_disk disk;
    int disk_ready; /* disk initialised (sb_store_close may run before) */
};

/* What a batch builds (store.h): both the RocksDB batch and the mutation
 * (tools and tests that write a local store and look at the entries), the
 * mutation only (a statement or ingestion on its way to the
 * coordinator; wb is NULL), or the RocksDB batch only (a replica applying
 * a mutation it received). */
enum { ST_WB_BOTH, ST_WB_MUTATION, ST_WB_APPLY };

struct sb_wbatch {
    int mode;                 /* ST_WB_* */
    rocksdb_writebatch_t *wb; /* NULL for ST_WB_MUTATION */
    size_t count;
    sb_buf key;
    sb_buf val;
    rc_frag frag;
    /* Raw entries (raw.c): the mutation (storage/mutation.h wire form)
     * and the offset of each entry in it. Empty for ST_WB_APPLY. */
    sb_buf raw;
    sb_buf rawoff; /* size_t per entry */
};

uint64_t st_mono_ns(void);

/* compaction.c: per-table RocksDB options (merge operator, compaction
 * filter factory, compaction style). */
rocksdb_options_t *st_cf_options(struct sb_store *s, const sb_table *t, st_cfctx *ctx);

/* commitlog.c */
int st_commit_start(struct sb_store *s, char *errmsg);
void st_commit_stop(struct sb_store *s);
int st_commit_submit(struct sb_store *s, sb_wbatch *b, sb_write_cb cb, void *arg);
void st_commit_drain(struct sb_store *s); /* waits until every queued batch is applied */
uint64_t st_commit_queued(struct sb_store *s);
/* Applies a batch with the WAL fsynced; counts the sync. */
int st_apply_sync(struct sb_store *s, rocksdb_writebatch_t *wb, char *errmsg);

/* disk.c */
void st_disk_init(struct sb_store *s, const sb_store_opts *o);
void st_disk_destroy(struct sb_store *s);
/* Loop thread, before queueing a batch of about bytes: 0, or SB_EDISKFULL /
 * SB_EIO when writes are refused (counted). */
int st_disk_admit(struct sb_store *s, size_t bytes);
/* A write (or WAL sync) RocksDB failed with err: moves the state and
 * applies the disk failure policy; returns the write's status
 * (SB_EDISKFULL or SB_EIO). Any thread. */
int st_disk_write_failed(struct sb_store *s, const char *err);
/* The injected fault for the next batch as a RocksDB-style error string
 * (malloc'd, free with free()), or NULL. */
char *st_disk_fault(struct sb_store *s);
/* No write has failed since the last recovery (state OK or LOW) and the
 * database is open for writes: a WAL sync may run. */
int st_disk_healthy(struct sb_store *s);
/* Is there room to open the database for writes (free space covers WAL
 * replay and the new files an open writes)? Opening without it could
 * fail a write inside RocksDB, whose debug builds abort then. */
int st_disk_room_to_open(struct sb_store *s);
/* Opened read-only because there was no space to open for writes. */
void st_disk_set_read_only(struct sb_store *s, const char *cause);

/* raw.c: records a merge the batch carries as a raw entry. */
int st_wbatch_record(sb_wbatch *b, const uint8_t id[16], const uint8_t *k, size_t klen,
                     const uint8_t *v, size_t vlen);
/* The table with that id, NULL if none. */
sb_table *st_table_by_id(struct sb_store *s, const uint8_t id[16]);

/* iter.c: the key span [lo, hi) of a read (hi unbounded when !*has_hi;
 * *empty for an empty token range). lo and hi are appended to. */
int st_read_span(const sb_read *r, sb_buf *lo, sb_buf *hi, int *has_hi, int *empty, char *errmsg);

/* keys.c */
uint64_t st_token_bits(int64_t token);
int64_t st_token_of_bits(const uint8_t p[8]);
/* token | partition key components. */
int st_key_prefix(sb_buf *out, const sb_table *t, const sb_value *pk, char *errmsg);
/* Clustering prefix encoding (n values of the first clustering columns). */
int st_key_clustering(sb_buf *out, const sb_table *t, const sb_value *ck, int n, char *errmsg);
/* Range tombstone key: prefix | 0x20 | bounds | u16be prefix length. */
int st_key_range(sb_buf *out, size_t prefix_len, const uint8_t *start, size_t slen, int sincl,
                 const uint8_t *end, size_t elen, int eincl);
int st_key_range_parse(const uint8_t *k, size_t klen, size_t *prefix_len, const uint8_t **start,
                       size_t *slen, int *sincl, const uint8_t **end, size_t *elen, int *eincl);
/* Is the encoded clustering key ck within [start, end] (encoded bounds,
 * with inclusivity; a zero-length bound is unbounded)? -1 before start,
 * 0 inside, 1 after end. */
int st_ck_in_range(const uint8_t *ck, size_t cklen, const uint8_t *start, size_t slen, int sincl,
                   const uint8_t *end, size_t elen, int eincl);
/* Smallest key greater than every key that starts with p (in place);
 * returns 0 if there is none (p all 0xff). */
int st_key_successor(sb_buf *p);
/* Byte order of keys (RocksDB's bytewise comparator). */
int st_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
