/*
 * The store: RocksDB setup, column families, schema persistence and DDL,
 * write batches and statistics. Reads are in iter.c, the commit thread in
 * commitlog.c, reconciliation inside RocksDB in compaction.c.
 *
 * NOTES ON THE DESIGN
 *
 * Default column family: the schema, one JSON document per keyspace
 * ("ks\0<name>") and per table ("tb\0<ks>\0<name>"), plus "version" (16
 * bytes). DDL writes them with a synced write before it returns.
 *
 * Table column families are named "t_<32 hex digits of the table id>". At
 * open the schema is read first through a read-only open of the default
 * column family, so that every table's column family can then be opened
 * with its own options (merge operator, compaction style). Column
 * families without a table (a crash between dropping a table from the
 * schema and dropping its column family) are dropped at open.
 *
 * Memory is kept small on purpose (a node idles at <= 16 MB RSS): one LRU
 * block cache shared by every column family that also holds index blocks,
 * small memtables with a total cap (db_write_buffer_size), one flush and
 * two compaction threads (idle threads cost no RSS).
 *
 * Compaction must keep up when the write path has all of one core
 * (bench/run.sh item 1: 16 connections of 5000-point batches, closed loop).
 * Universal compaction (SizeTiered tables) regularly merges every sorted
 * run into the bottommost one; with one compaction thread, and that thread
 * getting a third of a core next to the loop and commit threads, such a
 * merge took 5-7 s, level-0 files piled up behind it to RocksDB's default
 * slowdown trigger (20), the delayed writes made a batch wait past the
 * coordinator's 2 s write timeout, and clients got 504. A second
 * compaction thread merges the new small runs while the long merge runs
 * (and gives compaction a larger share of the CPU), so level 0 stayed at
 * 15-22 files in 60 s runs; the slowdown and stop triggers (32 and 48)
 * sit above that, so RocksDB only throttles writes when compaction really
 * falls behind. More level-0 files cost reads a few more sorted runs to
 * merge, which time-range scans of sensor data hardly notice.
 *
 * DDL runs on the loop thread and syncs; it is rare. DROP and TRUNCATE wait
 * for the commit queue to drain first so no queued batch refers to a
 * column family that is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/store_int.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"

void sb_store_opts_default(sb_store_opts *o)
{
    o->sync_mode = SB_SYNC_GROUP;
    o->sync_period_ms = 10000;
    o->block_cache_bytes = 8u << 20;
    o->write_buffer_bytes = 4u << 20;
    o->max_queued_writes = 65536;
    o->on_sync = NULL;
    o->on_sync_arg = NULL;
    o->min_free_bytes = -1;
    o->disk_failure_policy = SB_DISK_POLICY_BEST_EFFORT;
    o->node_name = NULL;
    o->statfs = NULL;
    o->write_fault = NULL;
    o->fault_arg = NULL;
}

const sb_schema *sb_store_schema(sb_store *s)
{
    return &s->schema;
}

void sb_store_set_now(sb_store *s, int64_t now_s)
{
    atomic_store(&s->now_override_s, now_s);
}

static int rerr(char *errmsg, char *err, const char *what)
{
    int rv = sb_seterr(errmsg, SB_EIO, "%s: %s", what, err ? err : "unknown error");
    rocksdb_free(err);
    return rv;
}

static void cf_name(const uint8_t id[16], char out[35])
{
    out[0] = 't';
    out[1] = '_';
    sb_hex_encode(out + 2, id, 16);
}

static void new_uuid(uint8_t id[16])
{
    if (getrandom(id, 16, 0) != 16) {
        /* getrandom does not fail for 16 bytes once the pool is ready;
         * fall back to something unique enough rather than abort. */
        uint64_t a = st_mono_ns(), b = (uint64_t)(uintptr_t)id ^ (uint64_t)time(NULL);
        memcpy(id, &a, 8);
        memcpy(id + 8, &b, 8);
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

static st_cfctx *cfctx_find(sb_store *s, const uint8_t id[16])
{
    for (st_cfctx *c = s->cfctxs; c; c = c->next)
        if (memcmp(c->id, id, 16) == 0)
            return c;
    st_cfctx *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->s = s;
    memcpy(c->id, id, 16);
    c->style = SB_COMPACTION_LCS;
    c->next = s->cfctxs;
    s->cfctxs = c;
    return c;
}

/* The table's context; a new one takes its column family style from t. */
static st_cfctx *cfctx_get(sb_store *s, const sb_table *t)
{
    int fresh = 1;
    for (st_cfctx *c = s->cfctxs; c; c = c->next)
        fresh &= memcmp(c->id, t->id, 16) != 0;
    st_cfctx *c = cfctx_find(s, t->id);
    if (!c)
        return NULL;
    if (fresh) {
        c->style = t->compaction;
        c->fifo_ttl_s = t->default_ttl_s;
    }
    if (!c->ready) {
        atomic_store(&c->gc_grace_s, t->gc_grace_s);
        c->npk = t->npk;
        for (int i = 0; i < t->npk && i < 64; i++)
            c->pk_types[i] = t->cols[i].type;
        c->ready = 1;
    }
    return c;
}

/* --- schema tree ------------------------------------------------------------ */

static int ks_add_table(sb_keyspace *k, sb_table *t)
{
    sb_table **n = realloc(k->tables, (size_t)(k->ntables + 1) * sizeof(*n));
    if (!n)
        return SB_ENOMEM;
    k->tables = n;
    k->tables[k->ntables++] = t;
    return 0;
}

static void ks_remove_table(sb_keyspace *k, sb_table *t)
{
    for (int i = 0; i < k->ntables; i++)
        if (k->tables[i] == t) {
            memmove(&k->tables[i], &k->tables[i + 1],
                    (size_t)(k->ntables - i - 1) * sizeof(*k->tables));
            k->ntables--;
            return;
        }
}

static int schema_add_ks(sb_schema *sc, sb_keyspace *k)
{
    sb_keyspace **n = realloc(sc->ks, (size_t)(sc->nks + 1) * sizeof(*n));
    if (!n)
        return SB_ENOMEM;
    sc->ks = n;
    sc->ks[sc->nks++] = k;
    return 0;
}

static void schema_remove_ks(sb_schema *sc, sb_keyspace *k)
{
    for (int i = 0; i < sc->nks; i++)
        if (sc->ks[i] == k) {
            memmove(&sc->ks[i], &sc->ks[i + 1], (size_t)(sc->nks - i - 1) * sizeof(*sc->ks));
            sc->nks--;
            return;
        }
}

/* --- schema persistence ------------------------------------------------------- */

static void key_ks(sb_buf *b, const char *ks)
{
    sb_buf_reset(b);
    sb_buf_append(b, "ks", 3);
    sb_buf_append(b, ks, strlen(ks));
}

static void key_tb(sb_buf *b, const char *ks, const char *name)
{
    sb_buf_reset(b);
    sb_buf_append(b, "tb", 3);
    sb_buf_append(b, ks, strlen(ks) + 1);
    sb_buf_append(b, name, strlen(name));
}

/* Adds the new schema version to wb and writes it synced. */
static int schema_commit(sb_store *s, rocksdb_writebatch_t *wb, char *errmsg)
{
    uint8_t v[16];
    new_uuid(v);
    rocksdb_writebatch_put_cf(wb, s->default_cf, "version", 7, (const char *)v, 16);
    char *err = NULL;
    rocksdb_write(s->db, s->wo_sync, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err)
        return rerr(errmsg, err, "cannot persist the schema");
    memcpy(s->schema.version, v, 16);
    return 0;
}

static int put_table(sb_store *s, rocksdb_writebatch_t *wb, const sb_table *t, char *errmsg)
{
    char *json = sb_table_to_json(t);
    if (!json)
        return sb_seterr(errmsg, SB_ENOMEM, "cannot serialise table %s.%s", t->keyspace, t->name);
    sb_buf k;
    sb_buf_init(&k);
    key_tb(&k, t->keyspace, t->name);
    rocksdb_writebatch_put_cf(wb, s->default_cf, (const char *)k.data, k.len, json, strlen(json));
    sb_buf_free(&k);
    free(json);
    return 0;
}

static int load_schema(sb_store *s, rocksdb_t *db, char *errmsg)
{
    int rv = 0;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    sb_buf json;
    sb_buf_init(&json);
    sb_table **tables = NULL;
    int ntables = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && !rv; rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        sb_buf_reset(&json);
        sb_buf_append(&json, v, vlen);
        sb_buf_cstr(&json);
        if (klen == 7 && memcmp(k, "version", 7) == 0 && vlen == 16) {
            memcpy(s->schema.version, v, 16);
        } else if (klen > 3 && memcmp(k, "ks", 3) == 0) {
            sb_keyspace *ks;
            rv = sb_keyspace_from_json((const char *)json.data, &ks, errmsg);
            if (!rv && (rv = schema_add_ks(&s->schema, ks)))
                sb_keyspace_free(ks);
        } else if (klen == 19 && memcmp(k, "cf", 3) == 0 && vlen == 5) {
            st_cfctx *c = cfctx_find(s, (const uint8_t *)k + 3);
            if (!c || (uint8_t)v[0] > SB_COMPACTION_TWCS) {
                rv = sb_seterr(errmsg, SB_ECORRUPT, "bad column family record in the schema");
            } else {
                const uint8_t *u = (const uint8_t *)v;
                c->style = (sb_compaction)u[0];
                c->fifo_ttl_s = (int32_t)((uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 |
                                          (uint32_t)u[3] << 8 | u[4]);
            }
        } else if (klen > 3 && memcmp(k, "tb", 3) == 0) {
            sb_table *t;
            rv = sb_table_from_json((const char *)json.data, &t, errmsg);
            if (!rv) {
                sb_table **n = realloc(tables, (size_t)(ntables + 1) * sizeof(*n));
                if (!n) {
                    sb_table_free(t);
                    rv = SB_ENOMEM;
                } else {
                    tables = n;
                    tables[ntables++] = t;
                }
            }
        }
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (err && !rv)
        rv = rerr(errmsg, err, "cannot read the schema");
    else if (err)
        rocksdb_free(err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    sb_buf_free(&json);
    for (int i = 0; i < ntables; i++) {
        sb_keyspace *k = rv ? NULL : sb_schema_keyspace(&s->schema, tables[i]->keyspace);
        if (!k) {
            if (!rv)
                SB_WARN("storage", "table without keyspace ignored", "table=%s.%s",
                        tables[i]->keyspace, tables[i]->name);
            sb_table_free(tables[i]);
        } else if (ks_add_table(k, tables[i])) {
            sb_table_free(tables[i]);
            rv = SB_ENOMEM;
        }
    }
    free(tables);
    return rv;
}

/* --- open / close ------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp))
        return SB_EIO;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return SB_EIO;
            tmp[i] = c;
        }
    }
    return 0;
}

static void setup_options(sb_store *s)
{
    s->env = rocksdb_create_default_env();
    rocksdb_env_set_background_threads(s->env, 2); /* compactions */
    rocksdb_env_set_high_priority_background_threads(s->env, 1);
    s->cache = rocksdb_cache_create_lru(s->opts.block_cache_bytes);
    s->bbto = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(s->bbto, s->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(s->bbto, 1);
    /* Large blocks with few restart points: rows of one series differ in
     * a few key bytes and compress best together (compaction.c). */
    rocksdb_block_based_options_set_block_size(s->bbto, 64 << 10);
    rocksdb_block_based_options_set_block_restart_interval(s->bbto, 64);
    rocksdb_block_based_options_set_format_version(s->bbto, 5);

    rocksdb_options_t *o = rocksdb_options_create();
    s->dbopts = o;
    rocksdb_options_set_env(o, s->env);
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    rocksdb_options_set_block_based_table_factory(o, s->bbto);
    /* -1 (keep every SST open) is required by FIFO compaction with a TTL
     * (TimeWindow tables) in RocksDB 7.8. Index blocks still live in the
     * bounded block cache, so an open file costs a descriptor and a small
     * table reader; SSTs are 64 MB, so files stay few. */
    rocksdb_options_set_max_open_files(o, -1);
    rocksdb_options_set_table_cache_numshardbits(o, 2);
    rocksdb_options_set_max_background_jobs(o, 3); /* 1 flush + 2 compactions */
    rocksdb_options_set_max_subcompactions(o, 1);
    rocksdb_options_set_keep_log_file_num(o, 2);
    rocksdb_options_set_max_log_file_size(o, 1 << 20);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    rocksdb_options_set_stats_dump_period_sec(o, 0);
    rocksdb_options_set_max_manifest_file_size(o, 8 << 20);
    rocksdb_options_set_write_buffer_size(o, 1 << 20);
    rocksdb_options_set_db_write_buffer_size(o, 4 * s->opts.write_buffer_bytes);
    rocksdb_options_set_max_total_wal_size(o, 64 << 20);
    rocksdb_options_set_level0_slowdown_writes_trigger(o, 32);
    rocksdb_options_set_level0_stop_writes_trigger(o, 48);

    s->wo_async = rocksdb_writeoptions_create();
    s->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wo_sync, 1);
    s->ro = rocksdb_readoptions_create();
}

/* Opens every column family with the options of its table; read-only
 * (a full disk) opens them without writing anything. */
static int open_db(sb_store *s, int read_only, char *errmsg)
{
    char *err = NULL;
    size_t ncf = 0;
    char **names = rocksdb_list_column_families(s->dbopts, s->dir, &ncf, &err);
    if (err) {
        /* No database yet. */
        if (names)
            rocksdb_list_column_families_destroy(names, ncf);
        rocksdb_free(err);
        err = NULL;
        rocksdb_column_family_handle_t *h = NULL;
        const char *def = "default";
        const rocksdb_options_t *dopt = s->dbopts;
        s->db = rocksdb_open_column_families(s->dbopts, s->dir, 1, &def, &dopt, &h, &err);
        if (err)
            return rerr(errmsg, err, "cannot open the database");
        s->default_cf = h;
        return 0;
    }
    rocksdb_t *ro = rocksdb_open_for_read_only(s->dbopts, s->dir, 0, &err);
    if (err) {
        rocksdb_list_column_families_destroy(names, ncf);
        return rerr(errmsg, err, "cannot read the schema");
    }
    int rv = load_schema(s, ro, errmsg);
    rocksdb_close(ro);
    if (rv) {
        rocksdb_list_column_families_destroy(names, ncf);
        return rv;
    }
    const rocksdb_options_t **opts = calloc(ncf, sizeof(*opts));
    rocksdb_column_family_handle_t **hs = calloc(ncf, sizeof(*hs));
    sb_table **owner = calloc(ncf, sizeof(*owner));
    if (!opts || !hs || !owner) {
        rv = sb_seterr(errmsg, SB_ENOMEM, "out of memory opening column families");
        goto out;
    }
    for (size_t i = 0; i < ncf; i++) {
        opts[i] = s->dbopts;
        for (int k = 0; k < s->schema.nks && strcmp(names[i], "default"); k++)
            for (int j = 0; j < s->schema.ks[k]->ntables; j++) {
                sb_table *t = s->schema.ks[k]->tables[j];
                char n[35];
                cf_name(t->id, n);
                if (strcmp(n, names[i]) == 0)
                    owner[i] = t;
            }
        if (strcmp(names[i], "default") != 0)
            opts[i] = st_cf_options(s, owner[i], owner[i] ? cfctx_get(s, owner[i]) : NULL);
    }
    if (read_only)
        s->db = rocksdb_open_for_read_only_column_families(
            s->dbopts, s->dir, (int)ncf, (const char *const *)names, opts, hs, 0, &err);
    else
        s->db = rocksdb_open_column_families(s->dbopts, s->dir, (int)ncf,
                                             (const char *const *)names, opts, hs, &err);
    if (err) {
        rv = rerr(errmsg, err, "cannot open the database");
        goto out;
    }
    for (size_t i = 0; i < ncf; i++) {
        if (strcmp(names[i], "default") == 0) {
            s->default_cf = hs[i];
        } else if (owner[i]) {
            owner[i]->cf = hs[i];
        } else if (read_only) {
            rocksdb_column_family_handle_destroy(hs[i]);
        } else {
            SB_WARN("storage", "dropping column family without a table", "cf=%s", names[i]);
            rocksdb_drop_column_family(s->db, hs[i], &err);
            if (err) {
                SB_ERROR("storage", "cannot drop orphan column family", "err=\"%s\"", err);
                rocksdb_free(err);
                err = NULL;
            }
            rocksdb_column_family_handle_destroy(hs[i]);
        }
    }
out:
    for (size_t i = 0; opts && i < ncf; i++)
        if (opts[i] && opts[i] != s->dbopts)
            rocksdb_options_destroy((rocksdb_options_t *)opts[i]);
    free(opts);
    free(hs);
    free(owner);
    rocksdb_list_column_families_destroy(names, ncf);
    return rv;
}

/* Creates the table's column family with the table's current compaction
 * settings and records them. */
static int create_cf(sb_store *s, sb_table *t, char *errmsg)
{
    st_cfctx *ctx = cfctx_get(s, t);
    if (!ctx)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    ctx->style = t->compaction;
    ctx->fifo_ttl_s = t->default_ttl_s;
    char key[19] = "cf";
    memcpy(key + 3, t->id, 16);
    uint8_t rec[5] = {(uint8_t)ctx->style, (uint8_t)(ctx->fifo_ttl_s >> 24),
                      (uint8_t)(ctx->fifo_ttl_s >> 16), (uint8_t)(ctx->fifo_ttl_s >> 8),
                      (uint8_t)ctx->fifo_ttl_s};
    char *err = NULL;
    rocksdb_put_cf(s->db, s->wo_sync, s->default_cf, key, sizeof(key), (const char *)rec,
                   sizeof(rec), &err);
    if (err)
        return rerr(errmsg, err, "cannot record the table's column family");
    rocksdb_options_t *o = st_cf_options(s, t, ctx);
    char name[35];
    cf_name(t->id, name);
    t->cf = rocksdb_create_column_family(s->db, o, name, &err);
    rocksdb_options_destroy(o);
    if (err) {
        t->cf = NULL;
        return rerr(errmsg, err, "cannot create the table's column family");
    }
    return 0;
}

static void del_cf_record(rocksdb_writebatch_t *wb, sb_store *s, const sb_table *t)
{
    char key[19] = "cf";
    memcpy(key + 3, t->id, 16);
    rocksdb_writebatch_delete_cf(wb, s->default_cf, key, sizeof(key));
}

static int drop_cf(sb_store *s, sb_table *t, char *errmsg)
{
    if (!t->cf)
        return 0;
    char *err = NULL;
    rocksdb_drop_column_family(s->db, t->cf, &err);
    rocksdb_column_family_handle_destroy(t->cf);
    t->cf = NULL;
    if (err)
        return rerr(errmsg, err, "cannot drop the table's column family");
    return 0;
}

/* Forgets the schema loaded by a failed open_db, before another try. */
static void schema_reset(sb_store *s)
{
    for (int k = 0; k < s->schema.nks; k++)
        sb_keyspace_free(s->schema.ks[k]);
    free(s->schema.ks);
    s->schema.ks = NULL;
    s->schema.nks = 0;
}

int sb_store_open(sb_store **out, const char *dir, const sb_store_opts *opts, uv_loop_t *loop,
                  char *errmsg)
{
    sb_store *s = calloc(1, sizeof(*s));
    if (!s)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    pthread_mutex_init(&s->maint_mu, NULL);
    sb_store_opts_default(&s->opts);
    if (opts) {
        s->opts.sync_mode = opts->sync_mode;
        if (opts->sync_period_ms > 0)
            s->opts.sync_period_ms = opts->sync_period_ms;
        if (opts->block_cache_bytes > 0)
            s->opts.block_cache_bytes = opts->block_cache_bytes;
        if (opts->write_buffer_bytes > 0)
            s->opts.write_buffer_bytes = opts->write_buffer_bytes;
        if (opts->max_queued_writes > 0)
            s->opts.max_queued_writes = opts->max_queued_writes;
        s->opts.on_sync = opts->on_sync;
        s->opts.on_sync_arg = opts->on_sync_arg;
        s->opts.min_free_bytes = opts->min_free_bytes;
        s->opts.disk_failure_policy = opts->disk_failure_policy;
        s->opts.statfs = opts->statfs;
        s->opts.write_fault = opts->write_fault;
        s->opts.fault_arg = opts->fault_arg;
    }
    s->loop = loop;
    s->dir = strdup(dir);
    int rv;
    if (!s->dir) {
        rv = sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        goto fail;
    }
    if (mkdir_p(dir)) {
        rv = sb_seterr(errmsg, SB_EIO, "cannot create data directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    st_disk_init(s, opts);
    s->disk_ready = 1;
    setup_options(s);
    int room = st_disk_room_to_open(s);
    rv = room ? open_db(s, 0, errmsg) : 0;
    if (!room || (rv && strstr(errmsg, "No space left"))) {
        /* Opening for writes needs space (a new WAL, MANIFEST and OPTIONS
         * file); without it the node still serves what it has. */
        SB_ERROR("storage", "no space to open the database for writes: opening read-only",
                 "dir=%s err=\"%s\"", dir, errmsg);
        st_disk_set_read_only(s, "no space left on device at start");
        schema_reset(s);
        rv = open_db(s, 1, errmsg);
    }
    if (rv) {
        if (strstr(errmsg, "lock"))
            rv = SB_ELOCKED;
        goto fail;
    }
    /* Tables whose column family is missing (a crash during TRUNCATE). */
    for (int k = 0; k < s->schema.nks && !s->disk.read_only_at_start; k++)
        for (int j = 0; j < s->schema.ks[k]->ntables; j++)
            if (!s->schema.ks[k]->tables[j]->cf &&
                (rv = create_cf(s, s->schema.ks[k]->tables[j], errmsg)))
                goto fail;
    if (loop && (rv = st_commit_start(s, errmsg)))
        goto fail;
    *out = s;
    return 0;
fail:
    sb_store_close(s);
    return rv;
}

void sb_store_close(sb_store *s)
{
    if (!s)
        return;
    /* Waits for a manual compaction running on a worker thread. */
    pthread_mutex_lock(&s->maint_mu);
    st_commit_stop(s);
    for (int k = 0; k < s->schema.nks; k++) {
        for (int j = 0; j < s->schema.ks[k]->ntables; j++) {
            sb_table *t = s->schema.ks[k]->tables[j];
            if (t->cf)
                rocksdb_column_family_handle_destroy(t->cf);
            t->cf = NULL;
        }
        sb_keyspace_free(s->schema.ks[k]);
    }
    free(s->schema.ks);
    if (s->default_cf)
        rocksdb_column_family_handle_destroy(s->default_cf);
    if (s->db)
        rocksdb_close(s->db);
    if (s->wo_async)
        rocksdb_writeoptions_destroy(s->wo_async);
    if (s->wo_sync)
        rocksdb_writeoptions_destroy(s->wo_sync);
    if (s->ro)
        rocksdb_readoptions_destroy(s->ro);
    if (s->dbopts)
        rocksdb_options_destroy(s->dbopts);
    if (s->bbto)
        rocksdb_block_based_options_destroy(s->bbto);
    if (s->cache)
        rocksdb_cache_destroy(s->cache);
    if (s->env)
        rocksdb_env_destroy(s->env);
    while (s->cfctxs) {
        st_cfctx *n = s->cfctxs->next;
        free(s->cfctxs);
        s->cfctxs = n;
    }
    free(s->dir);
    if (s->disk_ready)
        st_disk_destroy(s);
    pthread_mutex_unlock(&s->maint_mu);
    pthread_mutex_destroy(&s->maint_mu);
    free(s);
}

/* --- DDL ------------------------------------------------------------------- */

static int valid_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 48)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* A write batch that stores keyspace k's definition; NULL when out of
 * memory (errmsg set). */
static rocksdb_writebatch_t *ks_record_batch(sb_store *s, const sb_keyspace *k, char *errmsg)
{
    char *json = sb_keyspace_to_json(k);
    if (!json) {
        sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        return NULL;
    }
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    sb_buf key;
    sb_buf_init(&key);
    key_ks(&key, k->name);
    rocksdb_writebatch_put_cf(wb, s->default_cf, (const char *)key.data, key.len, json,
                              strlen(json));
    sb_buf_free(&key);
    free(json);
    return wb;
}

static int ddl_create_keyspace(sb_store *s, sb_keyspace *k, char *errmsg)
{
    int rv;
    if (!valid_name(k->name)) {
        rv = sb_seterr(errmsg, SB_EINVALID,
                       "Keyspace name must not be empty, more than 48 characters long, or "
                       "contain non-alphanumeric-underscore characters (got '%s')",
                       k->name ? k->name : "");
        goto fail;
    }
    if (sb_schema_keyspace(&s->schema, k->name)) {
        rv = sb_seterr(errmsg, SB_EEXISTS, "Keyspace '%s' already exists", k->name);
        goto fail;
    }
    if (k->ntables) {
        rv = sb_seterr(errmsg, SB_EINVAL, "a new keyspace cannot carry tables");
        goto fail;
    }
    rocksdb_writebatch_t *wb = ks_record_batch(s, k, errmsg);
    if (!wb) {
        rv = SB_ENOMEM;
        goto fail;
    }
    if ((rv = schema_add_ks(&s->schema, k)))
        goto fail_wb;
    if ((rv = schema_commit(s, wb, errmsg))) {
        schema_remove_ks(&s->schema, k);
        goto fail;
    }
    return 0;
fail_wb:
    rocksdb_writebatch_destroy(wb);
fail:
    sb_keyspace_free(k);
    return rv;
}

static int ddl_alter_keyspace(sb_store *s, sb_keyspace *k, char *errmsg)
{
    int rv;
    sb_keyspace *old = sb_schema_keyspace(&s->schema, k->name ? k->name : "");
    if (!old) {
        rv = sb_seterr(errmsg, SB_EINVALID, "Keyspace '%s' does not exist", k->name ? k->name : "");
        goto fail;
    }
    rocksdb_writebatch_t *wb = ks_record_batch(s, k, errmsg);
    if (!wb) {
        rv = SB_ENOMEM;
        goto fail;
    }
    if ((rv = schema_commit(s, wb, errmsg)))
        goto fail;
    /* The new object takes over the tables. */
    for (int i = 0; i < k->ntables; i++)
        sb_table_free(k->tables[i]);
    free(k->tables);
    k->tables = old->tables;
    k->ntables = old->ntables;
    old->tables = NULL;
    old->ntables = 0;
    for (int i = 0; i < s->schema.nks; i++)
        if (s->schema.ks[i] == old)
            s->schema.ks[i] = k;
    sb_keyspace_free(old);
    return 0;
fail:
    sb_keyspace_free(k);
    return rv;
}

static int ddl_drop_keyspace(sb_store *s, const char *name, char *errmsg)
{
    sb_keyspace *k = sb_schema_keyspace(&s->schema, name);
    if (!k)
        return sb_seterr(errmsg, SB_EINVALID, "Keyspace '%s' does not exist", name);
    st_commit_drain(s);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    sb_buf key;
    sb_buf_init(&key);
    key_ks(&key, name);
    rocksdb_writebatch_delete_cf(wb, s->default_cf, (const char *)key.data, key.len);
    for (int i = 0; i < k->ntables; i++) {
        key_tb(&key, name, k->tables[i]->name);
        rocksdb_writebatch_delete_cf(wb, s->default_cf, (const char *)key.data, key.len);
        del_cf_record(wb, s, k->tables[i]);
    }
    sb_buf_free(&key);
    int rv = schema_commit(s, wb, errmsg);
    if (rv)
        return rv;
    for (int i = 0; i < k->ntables; i++) {
        char tmp[SB_ERRMSG_SIZE];
        if (drop_cf(s, k->tables[i], tmp))
            SB_ERROR("storage", "drop keyspace: column family left behind", "err=\"%s\"", tmp);
    }
    schema_remove_ks(&s->schema, k);
    sb_keyspace_free(k);
    return 0;
}

/* Checks a table definition and assigns missing column ids. */
static int check_table(sb_table *t, uint16_t next_col, char *errmsg)
{
    if (!valid_name(t->name))
        return sb_seterr(errmsg, SB_EINVALID,
                         "Table name must not be empty, more than 48 characters long, or "
                         "contain non-alphanumeric-underscore characters (got '%s')",
                         t->name ? t->name : "");
    if (t->npk < 1)
        return sb_seterr(errmsg, SB_EINVALID,
                         "No PRIMARY KEY specifed for table '%s.%s' (exactly one required)",
                         t->keyspace, t->name);
    if (t->npk > 64 || t->npk + t->nck > t->ncols)
        return sb_seterr(errmsg, SB_EINVALID, "bad key layout for table '%s.%s'", t->keyspace,
                         t->name);
    int has_static = 0;
    uint16_t maxid = next_col ? (uint16_t)(next_col - 1) : 0;
    for (int i = 0; i < t->ncols; i++) {
        sb_column *c = &t->cols[i];
        sb_col_kind want =
            i < t->npk ? SB_COL_PARTITION : (i < t->npk + t->nck ? SB_COL_CLUSTERING : c->kind);
        if (!c->name || !*c->name)
            return sb_seterr(errmsg, SB_EINVALID, "column %d of '%s.%s' has no name", i,
                             t->keyspace, t->name);
        if (c->kind != want ||
            ((want == SB_COL_PARTITION || want == SB_COL_CLUSTERING) && i >= t->npk + t->nck))
            return sb_seterr(errmsg, SB_EINVALID,
                             "column %s of '%s.%s' is out of place for its kind", c->name,
                             t->keyspace, t->name);
        if (i >= t->npk + t->nck && (c->kind == SB_COL_PARTITION || c->kind == SB_COL_CLUSTERING))
            return sb_seterr(errmsg, SB_EINVALID, "column %s: key columns must come first",
                             c->name);
        if (c->kind == SB_COL_STATIC)
            has_static = 1;
        if (i < t->npk + t->nck && sb_type_is_collection(c->type) && !c->type.frozen)
            return sb_seterr(errmsg, SB_EINVALID,
                             "Invalid non-frozen collection type for PRIMARY KEY component %s",
                             c->name);
        for (int j = 0; j < i; j++)
            if (strcmp(t->cols[j].name, c->name) == 0)
                return sb_seterr(errmsg, SB_EINVALID, "Multiple definition of identifier %s",
                                 c->name);
        if (c->id > maxid)
            maxid = c->id;
    }
    if (has_static && t->nck == 0)
        return sb_seterr(errmsg, SB_EINVALID,
                         "Static columns are only useful (and thus allowed) if the table has "
                         "at least one clustering column");
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols[i].id == 0) {
            if (maxid == UINT16_MAX)
                return sb_seterr(errmsg, SB_EINVALID, "too many columns ever added to '%s.%s'",
                                 t->keyspace, t->name);
            t->cols[i].id = ++maxid;
        }
        for (int j = 0; j < i; j++)
            if (t->cols[j].id == t->cols[i].id)
                return sb_seterr(errmsg, SB_EINVALID, "duplicate column id %u in '%s.%s'",
                                 t->cols[i].id, t->keyspace, t->name);
    }
    if (maxid == UINT16_MAX)
        return sb_seterr(errmsg, SB_EINVALID, "too many columns ever added to '%s.%s'", t->keyspace,
                         t->name);
    t->next_col_id = (uint16_t)(maxid + 1);
    if (next_col > t->next_col_id)
        t->next_col_id = next_col;
    if (t->gc_grace_s < 0 || t->default_ttl_s < 0)
        return sb_seterr(errmsg, SB_EINVALID,
                         "gc_grace_seconds and default_time_to_live "
                         "must be >= 0");
    return 0;
}

static int is_zero16(const uint8_t *p)
{
    for (int i = 0; i < 16; i++)
        if (p[i])
            return 0;
    return 1;
}

static int ddl_create_table(sb_store *s, sb_table *t, char *errmsg)
{
    int rv;
    sb_keyspace *k = sb_schema_keyspace(&s->schema, t->keyspace ? t->keyspace : "");
    if (!k) {
        rv = sb_seterr(errmsg, SB_EINVALID, "Keyspace '%s' does not exist",
                       t->keyspace ? t->keyspace : "");
        goto fail;
    }
    if (t->name && sb_schema_table(&s->schema, t->keyspace, t->name)) {
        rv = sb_seterr(errmsg, SB_EEXISTS, "Table '%s.%s' already exists", t->keyspace, t->name);
        goto fail;
    }
    if ((rv = check_table(t, t->next_col_id, errmsg)))
        goto fail;
    if (is_zero16(t->id))
        new_uuid(t->id);
    t->cf = NULL;
    if ((rv = create_cf(s, t, errmsg)))
        goto fail;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if ((rv = put_table(s, wb, t, errmsg)) || (rv = ks_add_table(k, t))) {
        rocksdb_writebatch_destroy(wb);
        goto fail_cf;
    }
    if ((rv = schema_commit(s, wb, errmsg))) {
        ks_remove_table(k, t);
        goto fail_cf;
    }
    return 0;
fail_cf : {
    char tmp[SB_ERRMSG_SIZE];
    drop_cf(s, t, tmp);
}
fail:
    sb_table_free(t);
    return rv;
}

static int ddl_alter_table(sb_store *s, sb_table *t, char *errmsg)
{
    int rv;
    sb_table *old =
        sb_schema_table(&s->schema, t->keyspace ? t->keyspace : "", t->name ? t->name : "");
    if (!old) {
        rv = sb_seterr(errmsg, SB_EINVALID, "Table '%s.%s' does not exist",
                       t->keyspace ? t->keyspace : "", t->name ? t->name : "");
        goto fail;
    }
    if (!is_zero16(t->id) && memcmp(t->id, old->id, 16) != 0) {
        rv = sb_seterr(errmsg, SB_EINVALID, "ALTER TABLE cannot change the id of '%s.%s'",
                       t->keyspace, t->name);
        goto fail;
    }
    memcpy(t->id, old->id, 16);
    if (t->npk != old->npk || t->nck != old->nck) {
        rv = sb_seterr(errmsg, SB_EINVALID, "ALTER TABLE cannot change the PRIMARY KEY of '%s.%s'",
                       t->keyspace, t->name);
        goto fail;
    }
    uint16_t next = old->next_col_id > t->next_col_id ? old->next_col_id : t->next_col_id;
    if ((rv = check_table(t, next, errmsg)))
        goto fail;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if ((rv = put_table(s, wb, t, errmsg))) {
        rocksdb_writebatch_destroy(wb);
        goto fail;
    }
    if ((rv = schema_commit(s, wb, errmsg)))
        goto fail;
    t->cf = old->cf;
    st_cfctx *ctx = cfctx_get(s, t);
    if (ctx)
        atomic_store(&ctx->gc_grace_s, t->gc_grace_s);
    sb_keyspace *k = sb_schema_keyspace(&s->schema, t->keyspace);
    for (int i = 0; i < k->ntables; i++)
        if (k->tables[i] == old)
            k->tables[i] = t;
    sb_table_free(old);
    return 0;
fail:
    sb_table_free(t);
    return rv;
}

static int ddl_drop_table(sb_store *s, const char *ks, const char *name, char *errmsg)
{
    sb_table *t = sb_schema_table(&s->schema, ks, name);
    if (!t)
        return sb_seterr(errmsg, SB_EINVALID, "Table '%s.%s' does not exist", ks, name);
    st_commit_drain(s);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    sb_buf key;
    sb_buf_init(&key);
    key_tb(&key, ks, name);
    rocksdb_writebatch_delete_cf(wb, s->default_cf, (const char *)key.data, key.len);
    del_cf_record(wb, s, t);
    sb_buf_free(&key);
    int rv = schema_commit(s, wb, errmsg);
    if (rv)
        return rv;
    char tmp[SB_ERRMSG_SIZE];
    if (drop_cf(s, t, tmp))
        SB_ERROR("storage", "drop table: column family left behind", "err=\"%s\"", tmp);
    ks_remove_table(sb_schema_keyspace(&s->schema, ks), t);
    sb_table_free(t);
    return 0;
}

static int ddl_truncate(sb_store *s, const char *ks, const char *name, char *errmsg)
{
    sb_table *t = sb_schema_table(&s->schema, ks, name);
    if (!t)
        return sb_seterr(errmsg, SB_EINVALID, "Table '%s.%s' does not exist", ks, name);
    st_commit_drain(s);
    int rv = drop_cf(s, t, errmsg);
    if (!rv)
        rv = create_cf(s, t, errmsg);
    return rv;
}

/* --- write batches -------------------------------------------------------------- */

sb_wbatch *sb_wbatch_new(void)
{
    sb_wbatch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->wb = rocksdb_writebatch_create();
    if (!b->wb) {
        free(b);
        return NULL;
    }
    return b;
}

sb_wbatch *sb_wbatch_new_mutation(void)
{
    sb_wbatch *b = calloc(1, sizeof(*b));
    if (b)
        b->mode = ST_WB_MUTATION;
    return b;
}

void sb_wbatch_free(sb_wbatch *b)
{
    if (!b)
        return;
    if (b->wb)
        rocksdb_writebatch_destroy(b->wb);
    sb_buf_free(&b->key);
    sb_buf_free(&b->val);
    sb_buf_free(&b->raw);
    sb_buf_free(&b->rawoff);
    rc_frag_free(&b->frag);
    free(b);
}

size_t sb_wbatch_count(const sb_wbatch *b)
{
    return b->count;
}

static int put_frag(sb_wbatch *b, const sb_table *t, char *errmsg)
{
    sb_buf_reset(&b->val);
    rc_reconcile(&b->frag);
    if (rc_encode(&b->frag, &b->val) ||
        st_wbatch_record(b, t->id, b->key.data, b->key.len, b->val.data, b->val.len))
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    if (b->wb)
        rocksdb_writebatch_merge_cf(b->wb, t->cf, (const char *)b->key.data, b->key.len,
                                    (const char *)b->val.data, b->val.len);
    return 0;
}

static int begin(sb_wbatch *b, const sb_table *t, const sb_value *pk, char *errmsg)
{
    if (!t->cf)
        return sb_seterr(errmsg, SB_EINVALID, "Table '%s.%s' has no storage (dropped?)",
                         t->keyspace, t->name);
    sb_buf_reset(&b->key);
    rc_frag_clear(&b->frag);
    return st_key_prefix(&b->key, t, pk, errmsg);
}

#define MAX_TTL_S 630720000 /* 20 years, Cassandra's limit */

static int check_ttl(int32_t ttl, char *errmsg)
{
    if (ttl < 0)
        return sb_seterr(errmsg, SB_EINVALID, "A TTL must be greater or equal to 0, but was %d",
                         ttl);
    if (ttl > MAX_TTL_S)
        return sb_seterr(errmsg, SB_EINVALID, "ttl is too large. requested (%d) maximum (%d)", ttl,
                         MAX_TTL_S);
    return 0;
}

static int to_rc_cell(const sb_table *t, const sb_cell *c, int64_t now_s, rc_cell *out,
                      int *is_static, char *errmsg)
{
    const sb_column *col = sb_table_column_by_id(t, c->col);
    if (!col)
        return sb_seterr(errmsg, SB_EINVALID, "Unknown column id %u in table %s.%s", c->col,
                         t->keyspace, t->name);
    if (col->kind == SB_COL_PARTITION || col->kind == SB_COL_CLUSTERING)
        return sb_seterr(errmsg, SB_EINVALID, "PRIMARY KEY part %s found in SET part", col->name);
    int multi = sb_type_is_collection(col->type) && !col->type.frozen;
    if ((c->elem.len >= 0 || (c->flags & SB_CELL_COMPLEX_DELETE)) && !multi)
        return sb_seterr(errmsg, SB_EINVALID,
                         "column %s is not a non-frozen collection; cannot write elements",
                         col->name);
    if (multi && c->elem.len < 0 && !(c->flags & SB_CELL_COMPLEX_DELETE))
        return sb_seterr(errmsg, SB_EINVALID,
                         "column %s is a non-frozen collection: write elements or a "
                         "collection deletion",
                         col->name);
    int rv = check_ttl(c->ttl_s, errmsg);
    if (rv)
        return rv;
    *is_static = col->kind == SB_COL_STATIC;
    *out = (rc_cell){.col = c->col,
                     .ts = c->ts_us,
                     .elem = c->elem.p,
                     .elen = c->elem.len,
                     .val = NULL,
                     .vlen = -1};
    if (c->flags & SB_CELL_COMPLEX_DELETE) {
        out->kind = RC_CDEL;
        out->elen = -1;
        out->ldt = now_s;
    } else if ((c->flags & SB_CELL_TOMBSTONE) || c->value.len < 0) {
        out->kind = RC_TOMB;
        out->ldt = now_s;
    } else {
        out->kind = c->ttl_s > 0 ? RC_EXPIRING : RC_LIVE;
        out->ttl = c->ttl_s;
        out->ldt = c->ttl_s > 0 ? now_s + c->ttl_s : 0;
        out->val = c->value.p;
        out->vlen = c->value.len;
    }
    return 0;
}

int sb_wbatch_upsert(sb_wbatch *b, const sb_table *t, const sb_value *pk, const sb_value *ck,
                     int64_t liveness_ts, int32_t liveness_ttl_s, const sb_cell *cells, int ncells,
                     int64_t now_s, char *errmsg)
{
    int rv = begin(b, t, pk, errmsg);
    if (rv)
        return rv;
    size_t plen = b->key.len;
    int nstatic = 0;
    rc_cell rc;
    int is_static;
    /* Static cells go to the partition header. */
    for (int i = 0; i < ncells; i++) {
        if ((rv = to_rc_cell(t, &cells[i], now_s, &rc, &is_static, errmsg)))
            return rv;
        if (is_static) {
            nstatic++;
            if (rc_frag_add_cell(&b->frag, &rc))
                return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        }
    }
    int row = liveness_ts >= 0 || nstatic < ncells;
    if (row && t->nck > 0 && !ck)
        return sb_seterr(errmsg, SB_EINVALID, "Missing mandatory PRIMARY KEY part %s",
                         t->cols[t->npk].name);
    if (row && (rv = check_ttl(liveness_ttl_s, errmsg)))
        return rv;
    if (nstatic) {
        if ((rv = sb_buf_putc(&b->key, ST_SEC_HEADER)) || (rv = put_frag(b, t, errmsg)))
            return rv;
        b->key.len = plen;
        rc_frag_clear(&b->frag);
    }
    if (row) {
        if ((rv = sb_buf_putc(&b->key, ST_SEC_ROW)) ||
            (rv = st_key_clustering(&b->key, t, ck, t->nck, errmsg)))
            return rv;
        if (liveness_ts >= 0) {
            b->frag.has_live = 1;
            b->frag.live_ts = liveness_ts;
            b->frag.live_ttl = liveness_ttl_s;
            b->frag.live_exp = liveness_ttl_s > 0 ? now_s + liveness_ttl_s : 0;
        }
        for (int i = 0; i < ncells; i++) {
            to_rc_cell(t, &cells[i], now_s, &rc, &is_static, errmsg);
            if (!is_static && rc_frag_add_cell(&b->frag, &rc))
                return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        }
        if ((rv = put_frag(b, t, errmsg)))
            return rv;
    }
    b->count++;
    return 0;
}

int sb_wbatch_delete_row(sb_wbatch *b, const sb_table *t, const sb_value *pk, const sb_value *ck,
                         int64_t ts_us, int64_t now_s, char *errmsg)
{
    int rv = begin(b, t, pk, errmsg);
    if (rv)
        return rv;
    if (t->nck > 0 && !ck)
        return sb_seterr(errmsg, SB_EINVALID, "Missing mandatory PRIMARY KEY part %s",
                         t->cols[t->npk].name);
    if ((rv = sb_buf_putc(&b->key, ST_SEC_ROW)) ||
        (rv = st_key_clustering(&b->key, t, ck, t->nck, errmsg)))
        return rv;
    b->frag.has_del = 1;
    b->frag.del_ts = ts_us;
    b->frag.del_ldt = now_s;
    if ((rv = put_frag(b, t, errmsg)))
        return rv;
    b->count++;
    return 0;
}

int sb_wbatch_delete_range(sb_wbatch *b, const sb_table *t, const sb_value *pk,
                           const sb_bound *start, const sb_bound *end, int64_t ts_us, int64_t now_s,
                           char *errmsg)
{
    int rv = begin(b, t, pk, errmsg);
    if (rv)
        return rv;
    if (t->nck == 0)
        return sb_seterr(errmsg, SB_EINVALID,
                         "Range deletions need clustering columns; %s.%s has none", t->keyspace,
                         t->name);
    sb_buf sb, eb;
    sb_buf_init(&sb);
    sb_buf_init(&eb);
    size_t plen = b->key.len;
    if (start && start->n > 0)
        rv = st_key_clustering(&sb, t, start->vals, start->n, errmsg);
    if (!rv && end && end->n > 0)
        rv = st_key_clustering(&eb, t, end->vals, end->n, errmsg);
    if (!rv)
        rv = st_key_range(&b->key, plen, sb.data, sb.len, start && start->n ? start->inclusive : 1,
                          eb.data, eb.len, end && end->n ? end->inclusive : 1);
    sb_buf_free(&sb);
    sb_buf_free(&eb);
    if (rv)
        return rv == SB_ETOOBIG ? sb_seterr(errmsg, rv, "range bounds too long") : rv;
    b->frag.has_del = 1;
    b->frag.del_ts = ts_us;
    b->frag.del_ldt = now_s;
    if ((rv = put_frag(b, t, errmsg)))
        return rv;
    b->count++;
    return 0;
}

int sb_wbatch_delete_partition(sb_wbatch *b, const sb_table *t, const sb_value *pk, int64_t ts_us,
                               int64_t now_s, char *errmsg)
{
    int rv = begin(b, t, pk, errmsg);
    if (rv)
        return rv;
    if ((rv = sb_buf_putc(&b->key, ST_SEC_HEADER)))
        return rv;
    b->frag.has_del = 1;
    b->frag.del_ts = ts_us;
    b->frag.del_ldt = now_s;
    if ((rv = put_frag(b, t, errmsg)))
        return rv;
    b->count++;
    return 0;
}

int sb_store_write(sb_store *s, sb_wbatch *b, sb_write_cb cb, void *arg)
{
    SB_ASSERT(b->mode != ST_WB_MUTATION); /* a mutation goes to the coordinator */
    if (!s->cl) {
        sb_wbatch_free(b);
        return SB_EINVAL; /* opened without a loop: use sb_store_write_sync */
    }
    size_t bytes = 0;
    rocksdb_writebatch_data(b->wb, &bytes);
    int rv = st_disk_admit(s, bytes);
    if (rv) {
        sb_wbatch_free(b);
        return rv;
    }
    return st_commit_submit(s, b, cb, arg);
}

int sb_store_write_sync(sb_store *s, sb_wbatch *b, char *errmsg)
{
    SB_ASSERT(b->mode != ST_WB_MUTATION);
    size_t bytes = 0;
    rocksdb_writebatch_data(b->wb, &bytes);
    int rv = st_disk_admit(s, bytes);
    if (rv) {
        char why[512];
        sb_store_disk_why(s, why, sizeof why);
        sb_seterr(errmsg, rv, "%s", why);
        sb_wbatch_free(b);
        return rv;
    }
    rv = st_apply_sync(s, b->wb, errmsg);
    if (!rv)
        atomic_fetch_add(&s->writes, 1);
    sb_wbatch_free(b);
    return rv;
}

/* --- statistics and maintenance ---------------------------------------------------- */

static uint64_t prop(sb_store *s, rocksdb_column_family_handle_t *cf, const char *name)
{
    uint64_t v = 0;
    if (rocksdb_property_int_cf(s->db, cf, name, &v) != 0)
        return 0;
    return v;
}

static void cf_stats(sb_store *s, rocksdb_column_family_handle_t *cf, sb_store_stats *st)
{
    st->live_bytes += prop(s, cf, "rocksdb.estimate-live-data-size");
    st->sst_bytes += prop(s, cf, "rocksdb.total-sst-files-size");
    st->memtable_bytes += prop(s, cf, "rocksdb.cur-size-all-mem-tables");
    for (int l = 0; l < 7; l++) {
        char name[64];
        snprintf(name, sizeof(name), "rocksdb.num-files-at-level%d", l);
        char *v = rocksdb_property_value_cf(s->db, cf, name); /* a string property */
        if (v)
            st->sst_files += strtoull(v, NULL, 10);
        rocksdb_free(v);
    }
}

void sb_store_get_stats(sb_store *s, sb_store_stats *st)
{
    memset(st, 0, sizeof(*st));
    cf_stats(s, s->default_cf, st);
    for (int k = 0; k < s->schema.nks; k++)
        for (int j = 0; j < s->schema.ks[k]->ntables; j++)
            if (s->schema.ks[k]->tables[j]->cf)
                cf_stats(s, s->schema.ks[k]->tables[j]->cf, st);
    st->compactions = atomic_load(&s->compactions);
    st->wal_syncs = atomic_load(&s->wal_syncs);
    st->wal_sync_seconds = (double)atomic_load(&s->wal_sync_ns) / 1e9;
    st->writes = atomic_load(&s->writes);
    st->queued = st_commit_queued(s);
}

static int compact_cf(sb_store *s, rocksdb_column_family_handle_t *cf, char *errmsg)
{
    char *err = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush_cf(s->db, fo, cf, &err);
    rocksdb_flushoptions_destroy(fo);
    if (err)
        return rerr(errmsg, err, "flush failed");
    rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
    rocksdb_compact_range_cf_opt(s->db, cf, co, NULL, 0, NULL, 0);
    rocksdb_compactoptions_destroy(co);
    return 0;
}

/* Manual compaction may run on a worker thread while the loop keeps
 * serving. It holds maint_mu for its whole run; DDL (which changes the
 * schema arrays and drops column families) takes maint_mu too, without
 * waiting: if a compaction holds it, the DDL fails with SB_EOVERLOADED
 * instead of stalling the loop. */
int sb_store_compact_all(sb_store *s, char *errmsg)
{
    pthread_mutex_lock(&s->maint_mu);
    int rv = compact_cf(s, s->default_cf, errmsg);
    for (int k = 0; k < s->schema.nks && !rv; k++)
        for (int j = 0; j < s->schema.ks[k]->ntables && !rv; j++)
            if (s->schema.ks[k]->tables[j]->cf)
                rv = compact_cf(s, s->schema.ks[k]->tables[j]->cf, errmsg);
    pthread_mutex_unlock(&s->maint_mu);
    return rv;
}

static int ddl_busy(sb_store *s, char *errmsg)
{
    if (pthread_mutex_trylock(&s->maint_mu) == 0)
        return 0;
    return sb_seterr(errmsg, SB_EOVERLOADED,
                     "a manual compaction is running; retry the schema change when it finishes");
}

#define DDL_WRAP(call)                                                                             \
    do {                                                                                           \
        int rv_ = (call);                                                                          \
        pthread_mutex_unlock(&s->maint_mu);                                                        \
        return rv_;                                                                                \
    } while (0)

int sb_store_create_keyspace(sb_store *s, sb_keyspace *k, char *errmsg)
{
    if (ddl_busy(s, errmsg)) {
        sb_keyspace_free(k);
        return SB_EOVERLOADED;
    }
    DDL_WRAP(ddl_create_keyspace(s, k, errmsg));
}

int sb_store_alter_keyspace(sb_store *s, sb_keyspace *k, char *errmsg)
{
    if (ddl_busy(s, errmsg)) {
        sb_keyspace_free(k);
        return SB_EOVERLOADED;
    }
    DDL_WRAP(ddl_alter_keyspace(s, k, errmsg));
}

int sb_store_drop_keyspace(sb_store *s, const char *name, char *errmsg)
{
    if (ddl_busy(s, errmsg))
        return SB_EOVERLOADED;
    DDL_WRAP(ddl_drop_keyspace(s, name, errmsg));
}

int sb_store_create_table(sb_store *s, sb_table *t, char *errmsg)
{
    if (ddl_busy(s, errmsg)) {
        sb_table_free(t);
        return SB_EOVERLOADED;
    }
    DDL_WRAP(ddl_create_table(s, t, errmsg));
}

int sb_store_alter_table(sb_store *s, sb_table *t, char *errmsg)
{
    if (ddl_busy(s, errmsg)) {
        sb_table_free(t);
        return SB_EOVERLOADED;
    }
    DDL_WRAP(ddl_alter_table(s, t, errmsg));
}

int sb_store_drop_table(sb_store *s, const char *ks, const char *name, char *errmsg)
{
    if (ddl_busy(s, errmsg))
        return SB_EOVERLOADED;
    DDL_WRAP(ddl_drop_table(s, ks, name, errmsg));
}

int sb_store_truncate(sb_store *s, const char *ks, const char *name, char *errmsg)
{
    if (ddl_busy(s, errmsg))
        return SB_EOVERLOADED;
    DDL_WRAP(ddl_truncate(s, ks, name, errmsg));
}
