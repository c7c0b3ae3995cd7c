/*
 * Raw access for the cluster layer (store.h, "raw access"): the raw
 * entries a write batch carries, merging raw entries from other nodes,
 * raw queries (what a replica returns for a read), and a metadata key
 * space in the default column family.
 *
 * NOTES ON THE DESIGN
 *
 * Raw entries of a batch: every merge the batch adds to a table is
 * appended to the batch's mutation (storage/mutation.h: the wire form the
 * coordinator sends as it is) with its offset in a second buffer, so
 * recording costs two amortised appends, never an allocation per entry.
 * A batch made for the coordinator (sb_wbatch_new_mutation) builds only
 * that; a replica's apply (sb_store_apply) builds only the RocksDB batch.
 * Entries are not taken back out of RocksDB's write batch because its C
 * API can only walk it.
 *
 * Merging is idempotent and commutative (the merge operator reconciles),
 * so a replica may apply a raw entry twice or out of order. Entries from
 * outside are checked before they reach RocksDB: a value the merge
 * operator could not decode would make its key unreadable for good.
 *
 * Raw queries: a single-partition read becomes its head (the partition
 * header and range tombstones, [prefix|0x10, prefix|0x30), always whole)
 * plus the rows of its clustering slice; a token-range read becomes the
 * keys of the range. The slice range is exactly the set of row keys that
 * iter.c's st_ck_in_range accepts: encoded bounds are prefixes and
 * keyenc components are prefix-free, so an exclusive start skips every
 * key that starts with it (its successor) and an inclusive end takes them
 * all. Empty values (empty fragments) are not returned: readers treat an
 * empty fragment as an absent key, so nothing changes for sb_iter.
 *
 * Metadata: keys "kv\0" | user key in the default column family. Schema
 * keys there are "ks\0...", "tb\0...", "cf\0...", "version", and the
 * schema loader ignores every other key, so the two spaces never meet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/mutation.h"
#include "storage/store_int.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/wire.h"

#define KV_PREFIX "kv"
#define KV_PREFIX_LEN 3 /* "kv\0" */
/* Largest key a raw query may carry on the wire (keys are at most a few
 * 64 KiB components in practice). */
#define RAWQ_MAX_KEY (1u << 20)
#define RAWQ_VERSION 1

/* --- raw entries of write batches -------------------------------------------- */

int st_wbatch_record(sb_wbatch *b, const uint8_t id[16], const uint8_t *k, size_t klen,
                     const uint8_t *v, size_t vlen)
{
    if (b->mode == ST_WB_APPLY)
        return 0;
    if (b->raw.len == 0 && sb_mutation_init(&b->raw))
        return SB_ENOMEM;
    size_t off = b->raw.len;
    int rc = sb_mutation_append(&b->raw, id, k, klen, v, vlen);
    if (rc)
        return rc;
    if (sb_buf_append(&b->rawoff, &off, sizeof(off))) {
        b->raw.len = off; /* the count was bumped: take the entry back */
        sb_buf_free(&b->raw);
        sb_buf_free(&b->rawoff);
        return SB_ENOMEM;
    }
    return 0;
}

size_t sb_wbatch_nraw(const sb_wbatch *b)
{
    return b->rawoff.len / sizeof(size_t);
}

void sb_wbatch_raw(const sb_wbatch *b, size_t i, sb_raw_mut *out)
{
    SB_ASSERT(i < sb_wbatch_nraw(b));
    size_t off;
    memcpy(&off, b->rawoff.data + i * sizeof(off), sizeof(off));
    const uint8_t *p = b->raw.data + off;
    out->table_id = p;
    out->e.klen = sb_be32_get(p + 16);
    out->e.key = p + 20;
    out->e.vlen = sb_be32_get(p + 20 + out->e.klen);
    out->e.val = p + 24 + out->e.klen;
}

int sb_wbatch_take_mutation(sb_wbatch *b, sb_buf *out)
{
    if (b->raw.len == 0 && sb_mutation_init(&b->raw))
        return SB_ENOMEM;
    *out = b->raw;
    sb_buf_init(&b->raw);
    sb_buf_reset(&b->rawoff);
    return 0;
}

sb_table *st_table_by_id(sb_store *s, const uint8_t id[16])
{
    for (int k = 0; k < s->schema.nks; k++)
        for (int j = 0; j < s->schema.ks[k]->ntables; j++)
            if (memcmp(s->schema.ks[k]->tables[j]->id, id, 16) == 0)
                return s->schema.ks[k]->tables[j];
    return NULL;
}

/* A raw key must hold a partition key of t followed by a known section,
 * and its value must decode, or the merge operator would fail on it. */
static int check_raw(sb_wbatch *b, const sb_table *t, const sb_raw *e, char *errmsg)
{
    const uint8_t *p = e->key + 8, *end = e->key + e->klen;
    if (e->klen < 9)
        return sb_seterr(errmsg, SB_EBADINPUT, "raw entry for %s.%s: key too short (%zu bytes)",
                         t->keyspace, t->name, e->klen);
    for (int i = 0; i < t->npk; i++) {
        size_t off;
        int32_t len;
        sb_buf_reset(&b->key);
        if (sb_keyenc_decode(t->cols[i].type, 0, &p, end, &b->key, &off, &len))
            return sb_seterr(errmsg, SB_EBADINPUT,
                             "raw entry for %s.%s: bad partition key component %d", t->keyspace,
                             t->name, i);
    }
    if (p >= end || (*p != ST_SEC_HEADER && *p != ST_SEC_RANGE && *p != ST_SEC_ROW) ||
        (*p == ST_SEC_HEADER && p + 1 != end))
        return sb_seterr(errmsg, SB_EBADINPUT, "raw entry for %s.%s: bad key section at byte %zu",
                         t->keyspace, t->name, (size_t)(p - e->key));
    size_t pl, sl, el;
    const uint8_t *sb, *eb;
    int si, ei;
    if (*p == ST_SEC_RANGE &&
        (st_key_range_parse(e->key, e->klen, &pl, &sb, &sl, &si, &eb, &el, &ei) ||
         pl != (size_t)(p - e->key)))
        return sb_seterr(errmsg, SB_EBADINPUT, "raw entry for %s.%s: bad range tombstone key",
                         t->keyspace, t->name);
    rc_frag_clear(&b->frag);
    if (rc_decode(&b->frag, e->val, e->vlen))
        return sb_seterr(errmsg, SB_EBADINPUT, "raw entry for %s.%s: malformed value (%zu bytes)",
                         t->keyspace, t->name, e->vlen);
    return 0;
}

int sb_wbatch_add_raw(sb_wbatch *b, sb_store *s, const sb_raw_mut *m, char *errmsg)
{
    sb_table *t = st_table_by_id(s, m->table_id);
    if (!t || !t->cf) {
        char hex[33];
        sb_hex_encode(hex, m->table_id, 16);
        return sb_seterr(errmsg, SB_ENOTFOUND, "no table with id %s on this node", hex);
    }
    int rv = check_raw(b, t, &m->e, errmsg);
    if (rv)
        return rv;
    if (st_wbatch_record(b, t->id, m->e.key, m->e.klen, m->e.val, m->e.vlen))
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    if (b->wb)
        rocksdb_writebatch_merge_cf(b->wb, t->cf, (const char *)m->e.key, m->e.klen,
                                    (const char *)m->e.val, m->e.vlen);
    b->count++;
    return 0;
}

int sb_store_apply(sb_store *s, const sb_raw_mut *m, size_t n, sb_write_cb cb, void *arg,
                   char *errmsg)
{
    sb_wbatch *b = sb_wbatch_new();
    if (!b)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    b->mode = ST_WB_APPLY;
    for (size_t i = 0; i < n; i++) {
        int rc = sb_wbatch_add_raw(b, s, &m[i], errmsg);
        if (rc != 0) {
            sb_wbatch_free(b);
            return rc;
        }
    }
    return sb_store_write(s, b, cb, arg);
}

int64_t sb_raw_token(const uint8_t *key, size_t klen)
{
    uint8_t p[8] = {0};
    memcpy(p, key, klen < 8 ? klen : 8);
    return st_token_of_bits(p);
}

/* --- metadata key space ------------------------------------------------------- */

static int kv_key(sb_buf *out, const uint8_t *k, size_t klen)
{
    sb_buf_reset(out);
    return sb_buf_append(out, KV_PREFIX, KV_PREFIX_LEN) || sb_buf_append(out, k, klen) ? SB_ENOMEM
                                                                                       : 0;
}

int sb_wbatch_kv_put(sb_wbatch *b, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    if (kv_key(&b->key, k, klen))
        return SB_ENOMEM;
    /* The default column family: no handle needed. */
    SB_ASSERT(b->wb);
    rocksdb_writebatch_put(b->wb, (const char *)b->key.data, b->key.len, (const char *)v, vlen);
    return 0;
}

int sb_wbatch_kv_del(sb_wbatch *b, const uint8_t *k, size_t klen)
{
    if (kv_key(&b->key, k, klen))
        return SB_ENOMEM;
    SB_ASSERT(b->wb);
    rocksdb_writebatch_delete(b->wb, (const char *)b->key.data, b->key.len);
    return 0;
}

int sb_store_kv_scan(sb_store *s, const uint8_t *prefix, size_t plen,
                     int (*emit)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                                 size_t vlen),
                     void *arg)
{
    sb_buf lo, hi;
    sb_buf_init(&lo);
    sb_buf_init(&hi);
    int rv = kv_key(&lo, prefix, plen);
    if (!rv && sb_buf_append(&hi, lo.data, lo.len))
        rv = SB_ENOMEM;
    if (rv) {
        sb_buf_free(&lo);
        sb_buf_free(&hi);
        return rv;
    }
    st_key_successor(&hi); /* never all 0xff: starts with "kv" */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi.data, hi.len);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->default_cf);
    for (rocksdb_iter_seek(it, (const char *)lo.data, lo.len); rocksdb_iter_valid(it) && !rv;
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
        rv = emit(arg, k + KV_PREFIX_LEN, klen - KV_PREFIX_LEN, v, vlen);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (err) {
        if (!rv)
            rv = SB_EIO;
        rocksdb_free(err);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    sb_buf_free(&lo);
    sb_buf_free(&hi);
    return rv;
}

/* --- raw queries ------------------------------------------------------------ */

void sb_rawq_init(sb_rawq *q)
{
    memset(q, 0, sizeof(*q));
    sb_buf_init(&q->head_lo);
    sb_buf_init(&q->head_hi);
    sb_buf_init(&q->lo);
    sb_buf_init(&q->hi);
}

void sb_rawq_free(sb_rawq *q)
{
    sb_buf_free(&q->head_lo);
    sb_buf_free(&q->head_hi);
    sb_buf_free(&q->lo);
    sb_buf_free(&q->hi);
}

static void rawq_reset(sb_rawq *q)
{
    sb_buf_reset(&q->head_lo);
    sb_buf_reset(&q->head_hi);
    sb_buf_reset(&q->lo);
    sb_buf_reset(&q->hi);
    q->reversed = 0;
    q->max_entries = q->max_bytes = 0;
}

/* prefix | 0x30 | encoded bound, or its successor. */
static int slice_key(sb_buf *out, const sb_buf *pfx, const sb_table *t, const sb_bound *b,
                     int successor, char *errmsg)
{
    if (sb_buf_append(out, pfx->data, pfx->len) || sb_buf_putc(out, ST_SEC_ROW))
        return SB_ENOMEM;
    int rv = b->n > 0 ? st_key_clustering(out, t, b->vals, b->n, errmsg) : 0;
    if (!rv && successor)
        st_key_successor(out); /* ends in 0x30 or a component: never all 0xff */
    return rv;
}

int sb_read_rawq(const sb_read *r, sb_rawq *q, char *errmsg)
{
    if (!r->t)
        return sb_seterr(errmsg, SB_EINVALID, "raw query without a table");
    rawq_reset(q);
    memcpy(q->table_id, r->t->id, 16);
    q->reversed = r->reversed != 0;
    sb_buf pfx, hi;
    sb_buf_init(&pfx);
    sb_buf_init(&hi);
    int has_hi, empty;
    int rv = st_read_span(r, &pfx, &hi, &has_hi, &empty, errmsg);
    if (rv)
        goto out;
    if (!r->pk) {
        /* Token range: its keys; an empty range is lo == hi. */
        rv = sb_buf_append(&q->lo, pfx.data, pfx.len);
        if (empty)
            rv |= sb_buf_append(&q->hi, pfx.data, pfx.len);
        else if (has_hi)
            rv |= sb_buf_append(&q->hi, hi.data, hi.len);
        if (rv)
            rv = SB_ENOMEM;
        goto out;
    }
    /* One partition: its head, then the rows of the slice. */
    if (sb_buf_append(&q->head_lo, pfx.data, pfx.len) || sb_buf_putc(&q->head_lo, ST_SEC_HEADER) ||
        sb_buf_append(&q->head_hi, pfx.data, pfx.len) || sb_buf_putc(&q->head_hi, ST_SEC_ROW)) {
        rv = SB_ENOMEM;
        goto out;
    }
    int sexcl = r->start.n > 0 && !r->start.inclusive;
    int eincl = r->end.n == 0 || r->end.inclusive;
    if ((rv = slice_key(&q->lo, &pfx, r->t, &r->start, sexcl, errmsg)))
        goto out;
    rv = slice_key(&q->hi, &pfx, r->t, &r->end, eincl, errmsg);
out:
    sb_buf_free(&pfx);
    sb_buf_free(&hi);
    if (rv == SB_ENOMEM)
        sb_seterr(errmsg, rv, "out of memory");
    return rv;
}

int sb_rawq_encode(const sb_rawq *q, sb_buf *out)
{
    int rv = sb_wire_put_u8(out, RAWQ_VERSION);
    rv |= sb_wire_put_raw(out, q->table_id, 16);
    rv |= sb_wire_put_bytes(out, q->head_lo.data, q->head_lo.len);
    rv |= sb_wire_put_bytes(out, q->head_hi.data, q->head_hi.len);
    rv |= sb_wire_put_bytes(out, q->lo.data, q->lo.len);
    rv |= sb_wire_put_bytes(out, q->hi.data, q->hi.len);
    rv |= sb_wire_put_u8(out, q->reversed ? 1 : 0);
    rv |= sb_wire_put_u32(out, q->max_entries);
    rv |= sb_wire_put_u32(out, q->max_bytes);
    return rv ? SB_ENOMEM : 0;
}

int sb_rawq_decode(const uint8_t *p, size_t n, sb_rawq *q, size_t *used)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, n);
    rawq_reset(q);
    uint8_t version = sb_wire_get_u8(&r);
    if (!r.err && version != RAWQ_VERSION)
        return SB_EBADINPUT;
    sb_wire_get_raw(&r, q->table_id, 16);
    sb_buf *bufs[] = {&q->head_lo, &q->head_hi, &q->lo, &q->hi};
    for (int i = 0; i < 4; i++) {
        const uint8_t *b;
        size_t len;
        sb_wire_get_bytes(&r, &b, &len, RAWQ_MAX_KEY);
        if (!r.err && sb_buf_append(bufs[i], b, len))
            return SB_ENOMEM;
    }
    uint8_t rev = sb_wire_get_u8(&r);
    q->max_entries = sb_wire_get_u32(&r);
    q->max_bytes = sb_wire_get_u32(&r);
    if (r.err || rev > 1) {
        rawq_reset(q);
        return SB_EBADINPUT;
    }
    q->reversed = rev;
    *used = r.off;
    return 0;
}

/* --- raw reads ---------------------------------------------------------------- */

typedef struct rscan {
    rocksdb_iterator_t *it;
    sb_raw_emit emit;
    void *arg;
} rscan;

/* Emits the non-empty entries of [lo, hi) (hi empty: unbounded) in
 * direction order, within the limits (0 = none). *more = 1 if an entry
 * was left because of a limit. */
static int scan(rscan *sc, const sb_buf *lo, const sb_buf *hi, int reversed, uint32_t max_entries,
                uint32_t max_bytes, int *more)
{
    rocksdb_iterator_t *it = sc->it;
    if (!reversed) {
        if (lo->len)
            rocksdb_iter_seek(it, (const char *)lo->data, lo->len);
        else
            rocksdb_iter_seek_to_first(it);
    } else if (hi->len) {
        rocksdb_iter_seek_for_prev(it, (const char *)hi->data, hi->len);
    } else {
        rocksdb_iter_seek_to_last(it);
    }
    uint64_t n = 0, bytes = 0;
    for (; rocksdb_iter_valid(it); reversed ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
        sb_raw e;
        e.key = (const uint8_t *)rocksdb_iter_key(it, &e.klen);
        if (hi->len && st_key_cmp(e.key, e.klen, hi->data, hi->len) >= 0) {
            if (reversed)
                continue; /* seek_for_prev landed on hi itself */
            break;
        }
        if (st_key_cmp(e.key, e.klen, lo->data, lo->len) < 0) {
            if (!reversed)
                continue; /* cannot happen after seek(lo); kept for clarity */
            break;
        }
        e.val = (const uint8_t *)rocksdb_iter_value(it, &e.vlen);
        if (e.vlen == 0)
            continue;
        if ((max_entries && n >= max_entries) ||
            (max_bytes && n > 0 && bytes + e.klen + e.vlen > max_bytes)) {
            if (more)
                *more = 1;
            break;
        }
        n++;
        bytes += e.klen + e.vlen;
        int rv = sc->emit(sc->arg, &e);
        if (rv)
            return rv;
    }
    return 0;
}

int sb_store_raw_read(sb_store *s, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more,
                      char *errmsg)
{
    if (more)
        *more = 0;
    sb_table *t = st_table_by_id(s, q->table_id);
    if (!t || !t->cf) {
        char hex[33];
        sb_hex_encode(hex, q->table_id, 16);
        return sb_seterr(errmsg, SB_ENOTFOUND, "no table with id %s on this node", hex);
    }
    rscan sc = {rocksdb_create_iterator_cf(s->db, s->ro, t->cf), emit, arg};
    if (!sc.it)
        return sb_seterr(errmsg, SB_ENOMEM, "cannot create an iterator");
    int rv = 0;
    if (q->head_lo.len)
        rv = scan(&sc, &q->head_lo, &q->head_hi, 0, 0, 0, NULL);
    if (!rv)
        rv = scan(&sc, &q->lo, &q->hi, q->reversed, q->max_entries, q->max_bytes, more);
    char *err = NULL;
    rocksdb_iter_get_error(sc.it, &err);
    if (err) {
        if (!rv)
            rv = sb_seterr(errmsg, SB_EIO, "raw read of %s.%s failed: %s", t->keyspace, t->name,
                           err);
        rocksdb_free(err);
    }
    rocksdb_iter_destroy(sc.it);
    return rv;
}

/* --- maintenance ------------------------------------------------------------- */

uint64_t sb_store_load_bytes(sb_store *s)
{
    static const char *props[] = {"rocksdb.estimate-live-data-size",
                                  "rocksdb.cur-size-all-mem-tables"};
    uint64_t total = 0;
    for (int k = 0; k < s->schema.nks; k++)
        for (int j = 0; j < s->schema.ks[k]->ntables; j++) {
            rocksdb_column_family_handle_t *cf = s->schema.ks[k]->tables[j]->cf;
            for (size_t i = 0; cf && i < sizeof(props) / sizeof(props[0]); i++) {
                uint64_t v = 0;
                if (rocksdb_property_int_cf(s->db, cf, props[i], &v) == 0)
                    total += v;
            }
        }
    return total;
}

int sb_store_truncate_id(sb_store *s, const uint8_t table_id[16], char *errmsg)
{
    sb_table *t = st_table_by_id(s, table_id);
    if (!t) {
        char hex[33];
        sb_hex_encode(hex, table_id, 16);
        return sb_seterr(errmsg, SB_ENOTFOUND, "no table with id %s on this node", hex);
    }
    /* TRUNCATE keeps the table object, but copy the names it looks up. */
    char ks[64], name[64];
    snprintf(ks, sizeof(ks), "%s", t->keyspace);
    snprintf(name, sizeof(name), "%s", t->name);
    return sb_store_truncate(s, ks, name, errmsg);
}
