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

struct sb_iter {
    sb_store *s;
    sb_read r;
    const sb_table *t;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
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
    rocksdb_iter_get_error(it->it, &err);
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
        rocksdb_iter_seek(it->it, (const char *)k->data, k->len);
        return 0;
    }
    rv |= sb_buf_append(k, it->ebound.data, it->ebound.len);
    if (rv)
        return SB_ENOMEM;
    if (st_key_successor(k))
        rocksdb_iter_seek_for_prev(it->it, (const char *)k->data, k->len);
    else
        rocksdb_iter_seek_to_last(it->it);
    return 0;
}

static int enter_partition(sb_iter *it)
{
    const sb_table *t = it->t;
    if (!rocksdb_iter_valid(it->it))
        return iter_error(it);
    size_t klen, vlen;
    const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it->it, &klen);
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
        const char *v = rocksdb_iter_value(it->it, &vlen);
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
        rocksdb_iter_next(it->it);
    }
    while (rocksdb_iter_valid(it->it)) {
        k = (const uint8_t *)rocksdb_iter_key(it->it, &klen);
        if (!starts_with_sec(it, k, klen, ST_SEC_RANGE))
            break;
        const char *v = rocksdb_iter_value(it->it, &vlen);
        rc_frag_clear(&it->row);
        size_t pl, sl, el;
        const uint8_t *sb, *eb;
        int si, ei;
        if (rc_decode(&it->row, (const uint8_t *)v, vlen) ||
            st_key_range_parse(k, klen, &pl, &sb, &sl, &si, &eb, &el, &ei))
            return SB_ECORRUPT;
        if (it->row.has_del && it->row.del_ts > it->pdel_ts &&
            add_rt(it, sb, sl, si, eb, el, ei, it->row.del_ts))
            return SB_ENOMEM;
        rocksdb_iter_next(it->it);
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
        rocksdb_iter_prev(it->it);
    else
        rocksdb_iter_next(it->it);
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
    while (rocksdb_iter_valid(it->it)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it->it, &klen);
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
        const char *v = rocksdb_iter_value(it->it, &vlen);
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
        rocksdb_iter_seek(it->it, (const char *)k->data, k->len);
    }
}

void sb_iter_free(sb_iter *it)
{
    if (!it)
        return;
    if (it->it)
        rocksdb_iter_destroy(it->it);
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

int sb_store_iter(sb_store *s, const sb_read *r, sb_iter **out, char *errmsg)
{
    const sb_table *t = r->t;
    if (!t || !t->cf)
        return sb_seterr(errmsg, SB_EINVALID, "read of a table without storage");
    if (t->npk > 64 || t->nck > 64)
        return sb_seterr(errmsg, SB_EINVALID, "too many key columns");
    sb_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    it->s = s;
    it->r = *r;
    it->t = t;
    int rv = 0, empty = 0, has_hi = 1;
    if (r->start.n > 0)
        rv = st_key_clustering(&it->sbound, t, r->start.vals, r->start.n, errmsg);
    if (!rv && r->end.n > 0)
        rv = st_key_clustering(&it->ebound, t, r->end.vals, r->end.n, errmsg);
    it->sincl = r->start.n > 0 ? r->start.inclusive : 1;
    it->eincl = r->end.n > 0 ? r->end.inclusive : 1;
    if (rv)
        goto fail;
    if (r->pk) {
        it->single = 1;
        if ((rv = st_key_prefix(&it->lo, t, r->pk, errmsg)))
            goto fail;
        if ((rv = sb_buf_append(&it->hi, it->lo.data, it->lo.len)))
            goto fail;
        has_hi = st_key_successor(&it->hi);
    } else {
        int64_t lo = r->tok_lo;
        if (!r->tok_lo_inclusive) {
            if (lo == INT64_MAX)
                empty = 1;
            else
                lo++;
        }
        if (lo > r->tok_hi)
            empty = 1;
        rv = sb_buf_put_u64be(&it->lo, st_token_bits(lo));
        if (r->tok_hi == INT64_MAX)
            has_hi = 0;
        else
            rv |= sb_buf_put_u64be(&it->hi, st_token_bits(r->tok_hi + 1));
        if (rv)
            goto fail;
    }
    it->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->lo.data, it->lo.len);
    if (has_hi)
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->hi.data, it->hi.len);
    it->it = rocksdb_create_iterator_cf(s->db, it->ro, t->cf);
    if (!it->it) {
        rv = sb_seterr(errmsg, SB_ENOMEM, "cannot create an iterator");
        goto fail;
    }
    rocksdb_iter_seek(it->it, (const char *)it->lo.data, it->lo.len);
    it->done = empty;
    *out = it;
    return 0;
fail:
    sb_iter_free(it);
    if (rv == SB_ENOMEM)
        sb_seterr(errmsg, rv, "out of memory");
    return rv;
}
