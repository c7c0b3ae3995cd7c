/*
 * The wire form of stream pulls and chunks (stream.h "chunk codec").
 * Decoders are strict: every field is checked, nothing may trail, and a
 * chunk's entries must be exactly what the pull asked for (sorted, in
 * range, after the cursor), so a damaged chunk is never applied.
 */
#include <stdlib.h>
#include <string.h>

#include "net/transport.h"
#include "stream/stream.h"
#include "util/err.h"
#include "util/wire.h"

#define CHUNK_MAGIC 0x53425343u /* "SBSC" */
#define CHUNK_HEAD (4 + 1 + 1 + 1 + 16 + 4)
#define NROWS_OFF (4 + 1 + 1 + 1 + 16)
#define FLAGS_OFF 6

int sb_stream_req_encode(sb_buf *out, const sb_stream_req *q)
{
    if (sb_wire_put_u8(out, SB_STREAM_VERSION) || sb_wire_put_raw(out, q->table_id, 16) ||
        sb_wire_put_i64(out, q->range.start) || sb_wire_put_i64(out, q->range.end) ||
        sb_wire_put_bytes(out, q->cursor, q->cursor_len) || sb_wire_put_u32(out, q->max_bytes) ||
        sb_wire_put_u32(out, q->max_rows))
        return SB_ENOMEM;
    return 0;
}

int sb_stream_req_decode(const uint8_t *p, size_t n, sb_stream_req *q)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, n);
    uint8_t version = sb_wire_get_u8(&r);
    sb_wire_get_raw(&r, q->table_id, 16);
    q->range.start = sb_wire_get_i64(&r);
    q->range.end = sb_wire_get_i64(&r);
    sb_wire_get_bytes(&r, &q->cursor, &q->cursor_len, SB_STREAM_MAX_KEY);
    q->max_bytes = sb_wire_get_u32(&r);
    q->max_rows = sb_wire_get_u32(&r);
    if (r.err || r.off != n || version != SB_STREAM_VERSION || q->range.start >= q->range.end ||
        (q->cursor_len > 0 && q->cursor_len < 8))
        return SB_EBADINPUT;
    return 0;
}

int sb_stream_chunk_begin(sb_buf *out, const uint8_t table_id[16], int status)
{
    if (sb_wire_put_u32(out, CHUNK_MAGIC) || sb_wire_put_u8(out, SB_STREAM_VERSION) ||
        sb_wire_put_u8(out, (uint8_t)status) || sb_wire_put_u8(out, 0) ||
        sb_wire_put_raw(out, table_id, 16) || sb_wire_put_u32(out, 0))
        return SB_ENOMEM;
    return 0;
}

int sb_stream_chunk_add(sb_buf *out, const sb_raw *e)
{
    if (sb_wire_put_bytes(out, e->key, e->klen) || sb_wire_put_bytes(out, e->val, e->vlen))
        return SB_ENOMEM;
    return 0;
}

int sb_stream_chunk_end(sb_buf *out, size_t begin_off, uint32_t nrows, int last)
{
    uint8_t *h = out->data + begin_off;
    h[FLAGS_OFF] = last ? 1 : 0;
    sb_be32_put(h + NROWS_OFF, nrows);
    uint32_t crc = sb_crc32c(0, h, out->len - begin_off);
    return sb_wire_put_u32(out, crc);
}

/* Key order as RocksDB's bytewise comparator: memcmp, shorter first. */
static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int row_ok(const sb_raw *e, const sb_raw *prev, const sb_stream_range *range,
                  const uint8_t *cursor, size_t cursor_len)
{
    if (e->klen < 8)
        return 0;
    if (prev && key_cmp(prev->key, prev->klen, e->key, e->klen) >= 0)
        return 0;
    if (!prev && cursor_len && key_cmp(cursor, cursor_len, e->key, e->klen) >= 0)
        return 0;
    if (range) {
        int64_t t = sb_raw_token(e->key, e->klen);
        if (t <= range->start || t > range->end)
            return 0;
    }
    return 1;
}

int sb_stream_chunk_decode(const uint8_t *p, size_t n, const sb_stream_range *range,
                           const uint8_t *cursor, size_t cursor_len, sb_stream_chunk *out)
{
    memset(out, 0, sizeof(*out));
    if (n < CHUNK_HEAD + 4)
        return SB_EBADINPUT;
    if (sb_crc32c(0, p, n - 4) != sb_be32_get(p + n - 4))
        return SB_ECORRUPT;
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, n - 4);
    uint32_t magic = sb_wire_get_u32(&r);
    uint8_t version = sb_wire_get_u8(&r);
    out->status = sb_wire_get_u8(&r);
    uint8_t flags = sb_wire_get_u8(&r);
    sb_wire_get_raw(&r, out->table_id, 16);
    out->nrows = sb_wire_get_u32(&r);
    out->last = flags & 1;
    if (r.err || magic != CHUNK_MAGIC || version != SB_STREAM_VERSION || (flags & ~1u) ||
        out->status > SB_STREAM_READ_ERROR || (out->status && out->nrows))
        return SB_EBADINPUT;
    /* Each entry costs at least 8 bytes of lengths: bounds the array. */
    if (out->nrows > (n - CHUNK_HEAD) / 8)
        return SB_EBADINPUT;
    if (out->nrows) {
        out->rows = calloc(out->nrows, sizeof(sb_raw));
        if (!out->rows)
            return SB_ENOMEM;
    }
    for (uint32_t i = 0; i < out->nrows && !r.err; i++) {
        sb_raw *e = &out->rows[i];
        sb_wire_get_bytes(&r, &e->key, &e->klen, SB_STREAM_MAX_KEY);
        sb_wire_get_bytes(&r, &e->val, &e->vlen, SB_STREAM_MAX_VALUE);
        if (r.err || !row_ok(e, i ? e - 1 : NULL, range, cursor, cursor_len))
            goto fail;
        out->bytes += e->klen + e->vlen;
    }
    if (r.err || r.off != n - 4)
        goto fail;
    return 0;
fail:
    sb_stream_chunk_free(out);
    return SB_EBADINPUT;
}

void sb_stream_chunk_free(sb_stream_chunk *c)
{
    free(c->rows);
    c->rows = NULL;
    c->nrows = 0;
}
