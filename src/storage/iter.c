/*
 * Reads: one partition or a token range, a clustering slice in each
 * partition, forward or reversed.
 *
 * NOTES ON THE DESIGN
 *
 * One RocksDB iterator bounded to the partition (prefix .. successor) or to
 * the token range. Per partition (keys.c layout) the iterator:
 *   1. decodes the partition key from the first key it meets,
 *   2. reads the header (partition deletion, static cells) and the range
 *      tombstones, which sort before the rows,
 *   3. seeks to the slice start (or, reversed, seek_for_prev to the slice
 *      end) and walks the rows, applying the partition deletion, the
 *      covering range tombstones (the highest one shadows), the row's own
 *      deletion (already applied by the merge) and TTL expiry at now_s,
 *   4. seeks past the partition (successor of its prefix).
 * Values come out of RocksDB fully merged (the merge operator reconciles),
 * so a row is one decode. Rows with neither a live marker nor a live
 * regular cell are skipped. Static cells are part of every row; a
 * partition with live static cells but no live rows yields one row with
 * null clustering values when the read has no clustering restriction (as
 * Cassandra does).
 *
 * Token ranges do not wrap: a caller with a wrapping range splits it.
 *
 * The row logic walks a cursor (icur) with RocksDB's iterator operations,
 * confined to the read's span [lo, hi): either a RocksDB iterator (whose
 * read options carry the bounds) or a binary search over raw entries held
 * in memory (sb_store_iter_raw, for a coordinator reconciling replicas'
 * answers). One row logic for both is what makes "the same rows as
 * sb_store_iter" true by construction. The cursor is a branch, not a
 * function pointer, so the RocksDB path stays as fast as calling RocksDB
 * directly.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"
#include "util/err.h"
#include "util/log.h"

typedef struct irt {
    size_t soff, slen, eoff, elen;
    int sincl, eincl;
    int64_t ts;
} irt;

/* --- cursor ----------------------------------------------------------------- */

typedef struct icur {
    rocksdb_iterator_t *db; /* NULL: the entries below */
    const sb_raw *e;
    size_t lo, hi; /* entries inside the read's span */
    size_t pos;    /* valid when lo <= pos < hi; hi when not */
} icur;

/* First entry with key >= k (strict: > k). */
static size_t cur_bound(const sb_raw *e, size_t n, const uint8_t *k, size_t klen, int strict)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = st_key_cmp(e[mid].key, e[mid].klen, k, klen);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int cur_valid(const icur *c)
{
    return c->db ? rocksdb_iter_valid(c->db) : c->pos >= c->lo && c->pos < c->hi;
}

static inline const uint8_t *cur_key(const icur *c, size_t *klen)
{
    if (c->db)
        return (const uint8_t *)rocksdb_iter_key(c->db, klen);
    *klen = c->e[c->pos].klen;
    return c->e[c->pos].key;
}

static inline const uint8_t *cur_value(const icur *c, size_t *vlen)
{
    if (c->db)
        return (const uint8_t *)rocksdb_iter_value(c->db, vlen);
    *vlen = c->e[c->pos].vlen;
    return c->e[c->pos].val;
}

static inline void cur_next(icur *c)
{
    if (c->db)
        rocksdb_iter_next(c->db);
    else if (c->pos < c->hi)
        c->pos++;
}

static inline void cur_prev(icur *c)
{
    if (c->db)
        rocksdb_iter_prev(c->db);
    else
        c->pos = c->pos > c->lo && c->pos < c->hi ? c->pos - 1 : c->hi;
}

static void cur_seek(icur *c, const uint8_t *k, size_t klen)
{
    if (c->db) {
        rocksdb_iter_seek(c->db, (const char *)k, klen);
        return;
    }
    size_t i = cur_bound(c->e, c->hi, k, klen, 0);
    c->pos = i < c->lo ? c->lo : i;
}

/* Last entry with key <= k. */
static void cur_seek_for_prev(icur *c, const uint8_t *k, size_t klen)
{
    if (c->db) {
        rocksdb_iter_seek_for_prev(c->db, (const char *)k, klen);
        return;
    }
    size_t i = cur_bound(c->e, c->hi, k, klen, 1);
    c->pos = i > c->lo ? i - 1 : c->hi;
}

static void cur_seek_to_last(icur *c)
{
    if (c->db)
        rocksdb_iter_seek_to_last(c->db);
    else
        c->pos = c->hi > c->lo ? c->hi - 1 : c->hi;
}

/* --- reads -------------------------------------------------------------------- */

struct sb_iter {
    sb_read r;
    const sb_table *t;
    rocksdb_readoptions_t *ro;
    icur cur;
    sb_buf lo, hi;
    sb_buf sbound, ebound;
    int sincl, eincl;
    int single, done, in_part;
    /* current partition */
    sb_buf pfx;
    sb_buf pkbuf;
    sb_value pk[64];
    int64_t token;
    int64_t pdel_ts; /* INT64_MIN: none */
    irt *rts;
    int nrt, caprt;
    sb_buf rtbytes;
    sb_buf hdrval;
    rc_frag hdr;
    int nstatic; /* live static cells in hdr (after expiry) */
    int emitted;
    /* current row */
    sb_buf rowval;
    rc_frag row;
    sb_buf ckbuf;
    sb_value ck[64];
    sb_read_cell *cells;
    int capcells;
    sb_buf scratch;
};

static int cell_live(const rc_cell *c, int64_t now_s)
{
    return c->kind == RC_LIVE || (c->kind == RC_EXPIRING && c->ldt > now_s);
}

static int iter_error(sb_iter *it)
{
    char *err = NULL;
    if (!it->cur.db)
        return 0;
    rocksdb_iter_get_error(it->cur.db, &err);
    if (!err)
        return 0;
    SB_ERROR("storage", "read failed", "table=%s.%s err=\"%s\"", it->t->keyspace, it->t->name, err);
    rocksdb_free(err);
    return SB_EIO;
}

static int starts_with_sec(sb_iter *it, const uint8_t *k, size_t klen, uint8_t sec)
{
    return klen > it->pfx.len && memcmp(k, it->pfx.data, it->pfx.len) == 0 && k[it->pfx.len] == sec;
}

static int add_rt(sb_iter *it, const uint8_t *s, size_t slen, int sincl, const uint8_t *e,
                  size_t elen, int eincl, int64_t ts)
{
    if (it->nrt == it->caprt) {
        int cap = it->caprt ? it->caprt * 2 : 8;
        irt *n = realloc(it->rts, (size_t)cap * sizeof(*n));
        if (!n)
            return SB_ENOMEM;
        it->rts = n;
        it->caprt = cap;
    }
    irt *r = &it->rts[it->nrt];
    *r = (irt){it->rtbytes.len, slen, it->rtbytes.len + slen, elen, sincl, eincl, ts};
    if (sb_buf_append(&it->rtbytes, s, slen) || sb_buf_append(&it->rtbytes, e, elen))
        return SB_ENOMEM;
    it->nrt++;
    return 0;
}

/* Positions the RocksDB iterator on the first (or, reversed, last) row of
 * the slice in the current partition. */
static int seek_rows(sb_iter *it)
{
    sb_buf *k = &it->scratch;
    sb_buf_reset(k);
    int rv = sb_buf_append(k, it->pfx.data, it->pfx.len) | sb_buf_putc(k, ST_SEC_ROW);
    if (!it->r.reversed) {
        rv |= sb_buf_append(k, it->sbound.data, it->sbound.len);
        if (rv)
            return SB_ENOMEM;
        cur_seek(&it->cur, k->data, k->len);
        return 0;
    }
    rv |= sb_buf_append(k, it->ebound.data, it->ebound.len);
    if (rv)
        return SB_ENOMEM;
    if (st_key_successor(k))
        cur_seek_for_prev(&it->cur, k->data, k->len);
    else
        cur_seek_to_last(&it->cur);
    return 0;
}

static int enter_partition(sb_iter *it)
{
    const sb_table *t = it->t;
    if (!cur_valid(&it->cur))
        return iter_error(it);
    size_t klen, vlen;
    const uint8_t *k = cur_key(&it->cur, &klen);
    if (klen < 9)
        return SB_ECORRUPT;
    const uint8_t *p = k + 8, *end = k + klen;
    size_t offs[64];
    int32_t lens[64];
    sb_buf_reset(&it->pkbuf);
    for (int i = 0; i < t->npk; i++)
        if (sb_keyenc_decode(t->cols[i].type, 0, &p, end, &it->pkbuf, &offs[i], &lens[i]))
            return SB_ECORRUPT;
    for (int i = 0; i < t->npk; i++)
        it->pk[i] = lens[i] < 0 ? SB_VALUE_NULL : (sb_value){it->pkbuf.data + offs[i], lens[i]};
    sb_buf_reset(&it->pfx);
    if (p >= end || sb_buf_append(&it->pfx, k, (size_t)(p - k)))
        return p >= end ? SB_ECORRUPT : SB_ENOMEM;
    it->token = st_token_of_bits(k);
    it->pdel_ts = INT64_MIN;
    it->nrt = 0;
    it->nstatic = 0;
    it->emitted = 0;
    sb_buf_reset(&it->rtbytes);
    rc_frag_clear(&it->hdr);

    if (starts_with_sec(it, k, klen, ST_SEC_HEADER)) {
        const uint8_t *v = cur_value(&it->cur, &vlen);
        sb_buf_reset(&it->hdrval);
        if (sb_buf_append(&it->hdrval, v, vlen))
            return SB_ENOMEM;
        if (rc_decode(&it->hdr, it->hdrval.data, it->hdrval.len))
            return SB_ECORRUPT;
        if (it->hdr.has_del)
            it->pdel_ts = it->hdr.del_ts;
        int out = 0;
        for (int i = 0; i < it->hdr.ncells; i++)
            if (cell_live(&it->hdr.cells[i], it->r.now_s))
                it->hdr.cells[out++] = it->hdr.cells[i];
        it->hdr.ncells = it->nstatic = out;
        cur_next(&it->cur);
    }
    while (cur_valid(&it->cur)) {
        k = cur_key(&it->cur, &klen);
        if (!starts_with_sec(it, k, klen, ST_SEC_RANGE))
            break;
        const uint8_t *v = cur_value(&it->cur, &vlen);
        rc_frag_clear(&it->row);
        size_t pl, sl, el;
        const uint8_t *sb, *eb;
        int si, ei;
        if (rc_decode(&it->row, v, vlen) ||
            st_key_range_parse(k, klen, &pl, &sb, &sl, &si, &eb, &el, &ei))
            return SB_ECORRUPT;
        if (it->row.has_del && it->row.del_ts > it->pdel_ts &&
            add_rt(it, sb, sl, si, eb, el, ei, it->row.del_ts))
            return SB_ENOMEM;
        cur_next(&it->cur);
    }
    int rv = iter_error(it);
    if (rv)
        return rv;
    if ((rv = seek_rows(it)))
        return rv;
    it->in_part = 1;
    return 1;
}

static void advance(sb_iter *it)
{
    if (it->r.reversed)
        cur_prev(&it->cur);
    else
        cur_next(&it->cur);
}

static int reserve_cells(sb_iter *it, int n)
{
    if (n <= it->capcells)
        return 0;
    sb_read_cell *c = realloc(it->cells, (size_t)n * sizeof(*c));
    if (!c)
        return SB_ENOMEM;
    it->cells = c;
    it->capcells = n;
    return 0;
}

static sb_read_cell to_read_cell(const rc_cell *c)
{
    sb_read_cell o;
    o.col = c->col;
    o.ts_us = c->ts;
    o.ttl_s = c->kind == RC_EXPIRING ? c->ttl : 0;
    o.expire_s = c->kind == RC_EXPIRING ? c->ldt : 0;
    o.elem = c->elen < 0 ? SB_VALUE_NULL : (sb_value){c->elem, c->elen};
    o.value = (sb_value){c->val, c->vlen};
    return o;
}

/* Static cells merged with the row's live cells, by column id. */
static int fill_cells(sb_iter *it, sb_row *row, const rc_frag *f)
{
    int rv = reserve_cells(it, it->nstatic + (f ? f->ncells : 0) + 1);
    if (rv)
        return rv;
    int n = 0, i = 0, j = 0, nf = f ? f->ncells : 0;
    while (i < it->nstatic || j < nf) {
        if (j < nf && !cell_live(&f->cells[j], it->r.now_s)) {
            j++;
            continue;
        }
        if (j >= nf || (i < it->nstatic && it->hdr.cells[i].col <= f->cells[j].col))
            it->cells[n++] = to_read_cell(&it->hdr.cells[i++]);
        else
            it->cells[n++] = to_read_cell(&f->cells[j++]);
    }
    row->cells = it->cells;
    row->ncells = n;
    return 0;
}

/* 1 and a row, 0 when the partition's slice is done. */
static int next_row(sb_iter *it, sb_row *row)
{
    const sb_table *t = it->t;
    int64_t now = it->r.now_s;
    while (cur_valid(&it->cur)) {
        size_t klen, vlen;
        const uint8_t *k = cur_key(&it->cur, &klen);
        if (!starts_with_sec(it, k, klen, ST_SEC_ROW))
            break;
        const uint8_t *ck = k + it->pfx.len + 1;
        size_t cklen = klen - it->pfx.len - 1;
        int pos = st_ck_in_range(ck, cklen, it->sbound.data, it->sbound.len, it->sincl,
                                 it->ebound.data, it->ebound.len, it->eincl);
        if (pos != 0) {
            if ((pos < 0) == (it->r.reversed != 0))
                break; /* past the end of the slice in the walking direction */
            advance(it);
            continue;
        }
        /* Decode clustering values. */
        const uint8_t *p = ck, *end = k + klen;
        size_t offs[64];
        int32_t lens[64];
        sb_buf_reset(&it->ckbuf);
        for (int i = 0; i < t->nck; i++) {
            const sb_column *c = &t->cols[t->npk + i];
            if (sb_keyenc_decode(c->type, c->desc, &p, end, &it->ckbuf, &offs[i], &lens[i]))
                return SB_ECORRUPT;
        }
        const uint8_t *v = cur_value(&it->cur, &vlen);
        sb_buf_reset(&it->rowval);
        rc_frag_clear(&it->row);
        if (sb_buf_append(&it->rowval, v, vlen))
            return SB_ENOMEM;
        if (rc_decode(&it->row, it->rowval.data, it->rowval.len))
            return SB_ECORRUPT;
        int64_t shadow = it->pdel_ts;
        for (int i = 0; i < it->nrt; i++) {
            irt *r = &it->rts[i];
            if (r->ts > shadow &&
                st_ck_in_range(ck, cklen, it->rtbytes.data + r->soff, r->slen, r->sincl,
                               it->rtbytes.data + r->eoff, r->elen, r->eincl) == 0)
                shadow = r->ts;
        }
        advance(it); /* k and ck are invalid from here on */
        rc_frag *f = &it->row;
        if (shadow != INT64_MIN)
            rc_shadow(f, shadow);
        int live_marker = f->has_live && (!f->live_ttl || f->live_exp > now);
        int live_cells = 0;
        for (int i = 0; i < f->ncells && !live_cells; i++)
            live_cells = cell_live(&f->cells[i], now);
        if (!live_marker && !live_cells)
            continue;
        for (int i = 0; i < t->nck; i++)
            it->ck[i] = lens[i] < 0 ? SB_VALUE_NULL : (sb_value){it->ckbuf.data + offs[i], lens[i]};
        row->liveness_ts = live_marker ? f->live_ts : -1;
        row->liveness_ttl_s = live_marker ? f->live_ttl : 0;
        row->ck = it->ck;
        return fill_cells(it, row, f) ? SB_ENOMEM : 1;
    }
    return iter_error(it);
}

int sb_iter_next(sb_iter *it, sb_row *row)
{
    for (;;) {
        if (it->done)
            return 0;
        if (!it->in_part) {
            int rv = enter_partition(it);
            if (rv <= 0) {
                it->done = 1;
                return rv;
            }
        }
        memset(row, 0, sizeof(*row));
        int rv = next_row(it, row);
        if (rv == 0 && it->emitted == 0 && it->nstatic > 0 && it->sbound.len == 0 &&
            it->ebound.len == 0) {
            /* A partition with static data only. */
            for (int i = 0; i < it->t->nck; i++)
                it->ck[i] = SB_VALUE_NULL;
            row->ck = it->ck;
            row->liveness_ts = -1;
            rv = fill_cells(it, row, NULL) ? SB_ENOMEM : 1;
        }
        if (rv < 0) {
            it->done = 1;
            return rv;
        }
        if (rv == 1) {
            row->token = it->token;
            row->pk = it->pk;
            row->new_partition = it->emitted++ == 0;
            return 1;
        }
        it->in_part = 0;
        if (it->single) {
            it->done = 1;
            continue;
        }
        sb_buf *k = &it->scratch;
        sb_buf_reset(k);
        if (sb_buf_append(k, it->pfx.data, it->pfx.len) || !st_key_successor(k)) {
            it->done = 1;
            continue;
        }
        cur_seek(&it->cur, k->data, k->len);
    }
}

void sb_iter_free(sb_iter *it)
{
    if (!it)
        return;
    if (it->cur.db)
        rocksdb_iter_destroy(it->cur.db);
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    sb_buf *bufs[] = {&it->lo,      &it->hi,     &it->sbound, &it->ebound, &it->pfx,    &it->pkbuf,
                      &it->rtbytes, &it->hdrval, &it->rowval, &it->ckbuf,  &it->scratch};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        sb_buf_free(bufs[i]);
    rc_frag_free(&it->hdr);
    rc_frag_free(&it->row);
    free(it->rts);
    free(it->cells);
    free(it);
}

int st_read_span(const sb_read *r, sb_buf *lo, sb_buf *hi, int *has_hi, int *empty, char *errmsg)
{
    *has_hi = 1;
    *empty = 0;
    if (r->pk) {
        int rv = st_key_prefix(lo, r->t, r->pk, errmsg);
        if (rv)
            return rv;
        if (sb_buf_append(hi, lo->data, lo->len))
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        *has_hi = st_key_successor(hi);
        return 0;
    }
    int64_t tlo = r->tok_lo;
    if (!r->tok_lo_inclusive) {
        if (tlo == INT64_MAX)
            *empty = 1;
        else
            tlo++;
    }
    if (tlo > r->tok_hi)
        *empty = 1;
    int rv = sb_buf_put_u64be(lo, st_token_bits(tlo));
    if (r->tok_hi == INT64_MAX)
        *has_hi = 0;
    else
        rv |= sb_buf_put_u64be(hi, st_token_bits(r->tok_hi + 1));
    return rv ? sb_seterr(errmsg, SB_ENOMEM, "out of memory") : 0;
}

/* The iterator without its cursor: slice bounds and the read's span. */
static int iter_new(const sb_read *r, sb_iter **out, int *has_hi, int *empty, char *errmsg)
{
    const sb_table *t = r->t;
    if (t->npk > 64 || t->nck > 64)
        return sb_seterr(errmsg, SB_EINVALID, "too many key columns");
    sb_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    it->r = *r;
    it->t = t;
    it->single = r->pk != NULL;
    int rv = 0;
    if (r->start.n > 0)
        rv = st_key_clustering(&it->sbound, t, r->start.vals, r->start.n, errmsg);
    if (!rv && r->end.n > 0)
        rv = st_key_clustering(&it->ebound, t, r->end.vals, r->end.n, errmsg);
    it->sincl = r->start.n > 0 ? r->start.inclusive : 1;
    it->eincl = r->end.n > 0 ? r->end.inclusive : 1;
    if (!rv)
        rv = st_read_span(r, &it->lo, &it->hi, has_hi, empty, errmsg);
    if (rv) {
        sb_iter_free(it);
        return rv;
    }
    it->done = *empty;
    *out = it;
    return 0;
}

int sb_store_iter(sb_store *s, const sb_read *r, sb_iter **out, char *errmsg)
{
    const sb_table *t = r->t;
    if (!t || !t->cf)
        return sb_seterr(errmsg, SB_EINVALID, "read of a table without storage");
    sb_iter *it;
    int has_hi, empty;
    int rv = iter_new(r, &it, &has_hi, &empty, errmsg);
    if (rv)
        return rv;
    it->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->lo.data, it->lo.len);
    if (has_hi)
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->hi.data, it->hi.len);
    it->cur.db = rocksdb_create_iterator_cf(s->db, it->ro, t->cf);
    if (!it->cur.db) {
        sb_iter_free(it);
        return sb_seterr(errmsg, SB_ENOMEM, "cannot create an iterator");
    }
    cur_seek(&it->cur, it->lo.data, it->lo.len);
    *out = it;
    return 0;
}

int sb_store_iter_raw(const sb_read *r, const sb_raw *entries, size_t n, sb_iter **out,
                      char *errmsg)
{
    if (!r->t)
        return sb_seterr(errmsg, SB_EINVALID, "raw read without a table");
    for (size_t i = 1; i < n; i++)
        if (st_key_cmp(entries[i - 1].key, entries[i - 1].klen, entries[i].key, entries[i].klen) >=
            0)
            return sb_seterr(errmsg, SB_EINVAL,
                             "raw entries of %s.%s are not sorted and unique (entry %zu)",
                             r->t->keyspace, r->t->name, i);
    sb_iter *it;
    int has_hi, empty;
    int rv = iter_new(r, &it, &has_hi, &empty, errmsg);
    if (rv)
        return rv;
    icur *c = &it->cur;
    c->e = entries;
    c->lo = cur_bound(entries, n, it->lo.data, it->lo.len, 0);
    c->hi = has_hi ? cur_bound(entries, n, it->hi.data, it->hi.len, 0) : n;
    if (c->hi < c->lo)
        c->hi = c->lo;
    cur_seek(c, it->lo.data, it->lo.len);
    *out = it;
    return 0;
}
