/*
 * Mutations (mutation.h): the in-place builder, the encoder and the
 * decoder. The decoder trusts nothing: the count is bounded by what the
 * input can hold, every length by the bytes left, and trailing bytes are
 * refused.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/mutation.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/wire.h"

/* The smallest encoded entry: table id and two empty byte strings. */
#define MUT_MIN_ENTRY (16 + 4 + 4)

int sb_mutation_init(sb_buf *out)
{
    SB_ASSERT(out->len == 0);
    return sb_wire_put_u32(out, 0);
}

uint32_t sb_mutation_count(const uint8_t *p, size_t len)
{
    return len < 4 ? 0 : sb_be32_get(p);
}

int sb_mutation_append(sb_buf *out, const uint8_t table_id[16], const uint8_t *k, size_t klen,
                       const uint8_t *v, size_t vlen)
{
    SB_ASSERT(out->len >= 4);
    uint32_t count = sb_be32_get(out->data);
    if (klen > UINT32_MAX || vlen > UINT32_MAX || count == UINT32_MAX)
        return SB_ETOOBIG;
    size_t off = out->len;
    /* One reserve, then plain copies: this runs once per entry of every
     * write (ingestion writes millions per second). */
    if (sb_buf_reserve(out, 16 + 4 + klen + 4 + vlen))
        return SB_ENOMEM;
    uint8_t *p = out->data + off;
    memcpy(p, table_id, 16);
    sb_be32_put(p + 16, (uint32_t)klen);
    if (klen)
        memcpy(p + 20, k, klen);
    sb_be32_put(p + 20 + klen, (uint32_t)vlen);
    if (vlen)
        memcpy(p + 24 + klen, v, vlen);
    out->len = off + 24 + klen + vlen;
    sb_be32_put(out->data, count + 1);
    return 0;
}

int sb_mutation_encode(sb_buf *out, const sb_raw_mut *m, size_t n)
{
    if (n > UINT32_MAX)
        return SB_EINVAL;
    int rc = sb_wire_put_u32(out, (uint32_t)n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (m[i].e.klen > UINT32_MAX || m[i].e.vlen > UINT32_MAX)
            return SB_EINVAL;
        rc = sb_wire_put_raw(out, m[i].table_id, 16);
        if (rc == 0)
            rc = sb_wire_put_bytes(out, m[i].e.key, m[i].e.klen);
        if (rc == 0)
            rc = sb_wire_put_bytes(out, m[i].e.val, m[i].e.vlen);
    }
    return rc;
}

int sb_mutation_decode(const uint8_t *p, size_t len, sb_raw_mut **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, len);
    uint32_t count = sb_wire_get_u32(&r);
    if (r.err || count > (len - 4) / MUT_MIN_ENTRY)
        return SB_EBADINPUT;
    sb_raw_mut *m = sb_calloc(count ? count : 1, sizeof(*m));
    if (!m)
        return SB_ENOMEM;
    for (uint32_t i = 0; i < count && !r.err; i++) {
        if (r.n - r.off < 16) {
            r.err = SB_EBADINPUT;
            break;
        }
        m[i].table_id = r.p + r.off;
        uint8_t skip[16];
        sb_wire_get_raw(&r, skip, 16);
        sb_wire_get_bytes(&r, &m[i].e.key, &m[i].e.klen, r.n);
        sb_wire_get_bytes(&r, &m[i].e.val, &m[i].e.vlen, r.n);
    }
    if (r.err || r.off != r.n) {
        free(m);
        return SB_EBADINPUT;
    }
    *out = m;
    *n = count;
    return 0;
}
