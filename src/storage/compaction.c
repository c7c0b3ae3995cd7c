/*
 * Reconciliation and purge inside RocksDB: the merge operator and the
 * compaction filter of every table's column family, and the per-table
 * RocksDB options (compaction strategy mapping).
 *
 * NOTES ON THE DESIGN
 *
 * Every write is a merge operand (a row fragment, rowcodec.h). The merge
 * operator reconciles fragments with Cassandra's rules; it is pure and
 * runs on reads as well as in compactions.
 *
 * Expiry and purge need the whole history of a key and, for partition
 * deletions and range tombstones, of the partition:
 *
 *  - RocksDB's C compaction filter sees only plain values (kTypeValue), not
 *    the output of merges done in the same compaction. So the filter
 *    factory, which RocksDB calls on the compaction thread when a
 *    compaction starts, publishes its per-compaction state in a
 *    thread-local; a full merge that runs while that state is set (i.e.
 *    inside that compaction) applies the same expiry/purge as the filter.
 *    Full merges on reads never purge.
 *  - Both see keys in key order: a partition's header (its deletion), then
 *    its range tombstones, then its rows. The state remembers the current
 *    partition's deletion and range tombstones and drops the row data they
 *    shadow. That is always safe because the tombstone itself stays...
 *  - ...unless it is purged: partition deletions and range tombstones are
 *    purged (after gc_grace_seconds) only in full compactions, where every
 *    key of the table passes through this code, so the data they shadow
 *    has been dropped in the same pass. Cell tombstones, row deletions and
 *    expired cells are purged in any compaction, because a plain value or
 *    a full merge holds the key's whole history.
 *  - The merge operator's partial merge (operands only) never purges.
 *
 * Compaction strategies (per table, fixed when its column family opens):
 *   SizeTiered  -> universal compaction
 *   Leveled     -> level compaction (dynamic level bytes: data reaches the
 *                  bottommost level, where it is ZSTD-compressed, soon)
 *   TimeWindow  -> FIFO. With default_time_to_live > 0 it is the FIFO TTL:
 *                  whole files older than it are deleted (cells written with
 *                  a longer explicit TTL go with them, as in a TWCS window
 *                  that expires). No size limit. FIFO never merges files,
 *                  so tombstones are not purged; without a TTL, FIFO's
 *                  intra-L0 compaction is on to bound the file count.
 * Blocks (64 KB, a full key every 64 keys) are LZ4-compressed, bottommost
 * ones ZSTD level 9.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/store_int.h"
#include "util/err.h"
#include "util/log.h"

typedef struct crt {
    size_t soff, slen, eoff, elen; /* into cstate.rtbytes */
    int sincl, eincl;
    int64_t ts;
} crt;

/* One compaction's state (compaction filter instance). */
typedef struct cstate {
    st_cfctx *ctx;
    int full;
    int64_t now_s;
    int32_t gc_s;
    sb_buf prefix; /* current partition: token | pk */
    int has_pdel;
    int64_t pdel_ts;
    crt *rts;
    int nrt, caprt;
    sb_buf rtbytes;
    sb_buf scratch;
    sb_buf out;
    rc_frag frag;
} cstate;

static _Thread_local cstate *tls_cs;

/* Compaction-time clock (sb_store_set_now). */
static int64_t st_now_s(sb_store *s)
{
    int64_t o = atomic_load(&s->now_override_s);
    return o ? o : (int64_t)time(NULL);
}

uint64_t st_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Length of token | pk at the start of key, or 0 if it cannot be parsed. */
static size_t prefix_len(cstate *cs, const uint8_t *key, size_t klen)
{
    st_cfctx *ctx = cs->ctx;
    if (cs->prefix.len && klen > cs->prefix.len &&
        memcmp(key, cs->prefix.data, cs->prefix.len) == 0)
        return cs->prefix.len;
    if (klen < 9)
        return 0;
    const uint8_t *p = key + 8, *end = key + klen;
    for (int i = 0; i < ctx->npk; i++) {
        size_t off;
        int32_t len;
        sb_buf_reset(&cs->scratch);
        if (sb_keyenc_decode(ctx->pk_types[i], 0, &p, end, &cs->scratch, &off, &len))
            return 0;
    }
    if (p >= end)
        return 0;
    return (size_t)(p - key);
}

static void enter_partition(cstate *cs, const uint8_t *key, size_t plen)
{
    if (cs->prefix.len == plen && memcmp(cs->prefix.data, key, plen) == 0)
        return;
    sb_buf_reset(&cs->prefix);
    if (sb_buf_append(&cs->prefix, key, plen))
        sb_buf_reset(&cs->prefix);
    cs->has_pdel = 0;
    cs->nrt = 0;
    sb_buf_reset(&cs->rtbytes);
}

static void remember_rt(cstate *cs, const uint8_t *s, size_t slen, int sincl, const uint8_t *e,
                        size_t elen, int eincl, int64_t ts)
{
    if (cs->nrt == cs->caprt) {
        int cap = cs->caprt ? cs->caprt * 2 : 8;
        crt *n = realloc(cs->rts, (size_t)cap * sizeof(*n));
        if (!n)
            return; /* only an optimisation is lost: the tombstone stays */
        cs->rts = n;
        cs->caprt = cap;
    }
    crt *r = &cs->rts[cs->nrt];
    r->soff = cs->rtbytes.len;
    r->slen = slen;
    r->eoff = cs->rtbytes.len + slen;
    r->elen = elen;
    r->sincl = sincl;
    r->eincl = eincl;
    r->ts = ts;
    if (sb_buf_append(&cs->rtbytes, s, slen) || sb_buf_append(&cs->rtbytes, e, elen))
        return;
    cs->nrt++;
}

/* Expiry, purge and partition-level shadowing of one key's complete
 * fragment, in key order. */
static void process(cstate *cs, const uint8_t *key, size_t klen, rc_frag *f)
{
    size_t plen = prefix_len(cs, key, klen);
    if (plen == 0) {
        rc_purge(f, cs->now_s, cs->gc_s);
        return;
    }
    enter_partition(cs, key, plen);
    uint8_t sec = key[plen];
    int had_del = f->has_del;
    int64_t del_ts = f->del_ts, del_ldt = f->del_ldt;
    if (sec == ST_SEC_HEADER) {
        if (f->has_del) {
            cs->has_pdel = 1;
            cs->pdel_ts = f->del_ts;
        }
    } else if (sec == ST_SEC_RANGE) {
        size_t pl, slen, elen;
        const uint8_t *s, *e;
        int si, ei;
        if (f->has_del && st_key_range_parse(key, klen, &pl, &s, &slen, &si, &e, &elen, &ei) == 0 &&
            pl == plen)
            remember_rt(cs, s, slen, si, e, elen, ei, f->del_ts);
        if (cs->has_pdel && f->has_del && f->del_ts <= cs->pdel_ts)
            f->has_del = 0;
    } else if (sec == ST_SEC_ROW) {
        int64_t shadow = cs->has_pdel ? cs->pdel_ts : INT64_MIN;
        const uint8_t *ck = key + plen + 1;
        size_t cklen = klen - plen - 1;
        for (int i = 0; i < cs->nrt; i++) {
            crt *r = &cs->rts[i];
            if (r->ts > shadow &&
                st_ck_in_range(ck, cklen, cs->rtbytes.data + r->soff, r->slen, r->sincl,
                               cs->rtbytes.data + r->eoff, r->elen, r->eincl) == 0)
                shadow = r->ts;
        }
        if (shadow != INT64_MIN)
            rc_shadow(f, shadow);
    }
    rc_purge(f, cs->now_s, cs->gc_s);
    /* Partition deletions and range tombstones outlive gc_grace until a
     * full compaction has dropped everything they shadow. */
    if (sec != ST_SEC_ROW && had_del && !f->has_del && !cs->full &&
        !(sec == ST_SEC_RANGE && cs->has_pdel && del_ts <= cs->pdel_ts)) {
        f->has_del = 1;
        f->del_ts = del_ts;
        f->del_ldt = del_ldt;
    }
}

/* --- merge operator -------------------------------------------------------- */

/* The merge operator's reconciliation: base (if any) and the operands
 * decoded into f and reconciled. 0 or SB_ECORRUPT. */
static int merge_frags(rc_frag *f, const char *base, size_t blen, const char *const *ops,
                       const size_t *oplens, int nops)
{
    int rv = base ? rc_decode(f, (const uint8_t *)base, blen) : 0;
    for (int i = 0; i < nops && !rv; i++)
        rv = rc_decode(f, (const uint8_t *)ops[i], oplens[i]);
    if (rv)
        return SB_ECORRUPT;
    rc_reconcile(f);
    return 0;
}

int sb_frag_merge(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, sb_buf *out)
{
    const char *op = b ? (const char *)b : "";
    size_t oplen = b ? blen : 0;
    rc_frag f;
    rc_frag_init(&f);
    sb_buf_reset(out);
    int rv = merge_frags(&f, a ? (const char *)a : "", a ? alen : 0, &op, &oplen, 1);
    if (!rv && rc_encode(&f, out))
        rv = SB_ENOMEM;
    rc_frag_free(&f);
    return rv;
}

static char *merge_common(st_cfctx *ctx, const char *key, size_t klen, const char *base,
                          size_t blen, const char *const *ops, const size_t *oplens, int nops,
                          int full, unsigned char *success, size_t *outlen)
{
    rc_frag f;
    sb_buf out;
    rc_frag_init(&f);
    sb_buf_init(&out);
    *success = 0;
    if (merge_frags(&f, base, blen, ops, oplens, nops)) {
        SB_ERROR("storage", "corrupt row fragment in merge", "key_len=%zu", klen);
        rc_frag_free(&f);
        return NULL;
    }
    cstate *cs = tls_cs;
    if (full && cs && cs->ctx == ctx)
        process(cs, (const uint8_t *)key, klen, &f);
    int rv = rc_encode(&f, &out);
    rc_frag_free(&f);
    if (rv || sb_buf_reserve(&out, 1)) {
        sb_buf_free(&out);
        return NULL;
    }
    *success = 1;
    *outlen = out.len;
    return (char *)out.data;
}

static char *full_merge(void *st, const char *key, size_t klen, const char *existing, size_t elen,
                        const char *const *ops, const size_t *oplens, int nops,
                        unsigned char *success, size_t *outlen)
{
    return merge_common(st, key, klen, existing, elen, ops, oplens, nops, 1, success, outlen);
}

static char *partial_merge(void *st, const char *key, size_t klen, const char *const *ops,
                           const size_t *oplens, int nops, unsigned char *success, size_t *outlen)
{
    return merge_common(st, key, klen, NULL, 0, ops, oplens, nops, 0, success, outlen);
}

static void merge_delete_value(void *st, const char *v, size_t len)
{
    free((void *)v);
}

static const char *merge_name(void *st)
{
    return "sibyl.rowmerge.v1";
}

/* --- compaction filter ------------------------------------------------------ */

static unsigned char filter_fn(void *st, int level, const char *key, size_t klen, const char *val,
                               size_t vlen, char **nv, size_t *nvlen, unsigned char *changed)
{
    cstate *cs = st;
    if (vlen == 0)
        return 1;
    rc_frag_clear(&cs->frag);
    if (rc_decode(&cs->frag, (const uint8_t *)val, vlen)) {
        SB_ERROR("storage", "corrupt row fragment in compaction", "key_len=%zu", klen);
        return 0;
    }
    rc_reconcile(&cs->frag);
    process(cs, (const uint8_t *)key, klen, &cs->frag);
    if (rc_frag_empty(&cs->frag))
        return 1;
    sb_buf_reset(&cs->out);
    if (rc_encode(&cs->frag, &cs->out))
        return 0;
    if (cs->out.len != vlen || memcmp(cs->out.data, val, vlen) != 0) {
        /* RocksDB copies the new value; cs->out stays ours. */
        *nv = (char *)cs->out.data;
        *nvlen = cs->out.len;
        *changed = 1;
    }
    return 0;
}

static void filter_destroy(void *st)
{
    cstate *cs = st;
    if (tls_cs == cs)
        tls_cs = NULL;
    sb_buf_free(&cs->prefix);
    sb_buf_free(&cs->rtbytes);
    sb_buf_free(&cs->scratch);
    sb_buf_free(&cs->out);
    rc_frag_free(&cs->frag);
    free(cs->rts);
    free(cs);
}

static const char *filter_name(void *st)
{
    return "sibyl.purge";
}

static rocksdb_compactionfilter_t *factory_create(void *st, rocksdb_compactionfiltercontext_t *cctx)
{
    st_cfctx *ctx = st;
    cstate *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    cs->ctx = ctx;
    cs->full = rocksdb_compactionfiltercontext_is_full_compaction(cctx);
    cs->now_s = st_now_s(ctx->s);
    cs->gc_s = atomic_load(&ctx->gc_grace_s);
    rc_frag_init(&cs->frag);
    atomic_fetch_add(&ctx->s->compactions, 1);
    tls_cs = cs;
    return rocksdb_compactionfilter_create(cs, filter_destroy, filter_fn, filter_name);
}

static const char *factory_name(void *st)
{
    return "sibyl.purge.factory";
}

/* --- options ------------------------------------------------------------ */

/* The cfctx outlives RocksDB (freed by sb_store_close); RocksDB's C wrappers
 * call their destructor unconditionally, so it must exist. */
static void ctx_release(void *st) {}

rocksdb_options_t *st_cf_options(sb_store *s, const sb_table *t, st_cfctx *ctx)
{
    rocksdb_options_t *o = rocksdb_options_create_copy(s->dbopts);
    if (!o)
        return NULL;
    rocksdb_options_set_write_buffer_size(o, s->opts.write_buffer_bytes);
    rocksdb_options_set_max_write_buffer_number(o, 2);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);
    /* ZSTD level 9 where data settles: with 64 KB blocks it stores the
     * simulator's fleet in 8.4 instead of 10.6 bytes/point; level 19
     * saves 7 % more but costs ingestion two thirds of its throughput,
     * as universal compaction often writes to the bottommost level. */
    rocksdb_options_set_bottommost_compression_options(o, -14, 9, 0, 0, 1);
    if (!ctx)
        return o; /* orphaned column family about to be dropped */
    rocksdb_options_set_merge_operator(
        o, rocksdb_mergeoperator_create(ctx, ctx_release, full_merge, partial_merge,
                                        merge_delete_value, merge_name));
    rocksdb_options_set_compaction_filter_factory(
        o, rocksdb_compactionfilterfactory_create(ctx, ctx_release, factory_create, factory_name));
    switch (ctx->style) {
    case SB_COMPACTION_STCS:
        rocksdb_options_set_compaction_style(o, rocksdb_universal_compaction);
        break;
    case SB_COMPACTION_LCS:
        rocksdb_options_set_compaction_style(o, rocksdb_level_compaction);
        rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
        break;
    case SB_COMPACTION_TWCS: {
        rocksdb_options_set_compaction_style(o, rocksdb_fifo_compaction);
        /* FIFO files are never rewritten: compress them well at flush. */
        rocksdb_options_set_compression(o, rocksdb_zstd_compression);
        char spec[160];
        snprintf(spec, sizeof(spec),
                 "compaction_options_fifo={max_table_files_size=%llu;allow_compaction=%s};"
                 "ttl=%d",
                 1ull << 50, ctx->fifo_ttl_s > 0 ? "false" : "true",
                 ctx->fifo_ttl_s > 0 ? ctx->fifo_ttl_s : 0);
        rocksdb_options_t *n = rocksdb_options_create();
        char *err = NULL;
        rocksdb_get_options_from_string(o, spec, n, &err);
        if (err) {
            SB_ERROR("storage", "FIFO options rejected", "table=%s.%s err=\"%s\"", t->keyspace,
                     t->name, err);
            rocksdb_free(err);
            rocksdb_options_destroy(n);
        } else {
            rocksdb_options_destroy(o);
            o = n;
        }
        break;
    }
    }
    return o;
}
