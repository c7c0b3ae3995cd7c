/*
 * The MUTATION request body: raw entries of one or more tables.
 *
 *   u32 count
 *   count x { table id (16 raw bytes), bytes key, bytes value }
 *
 * (bytes = u32 length + the bytes, util/wire.h). Used by the coordinator
 * (coord.c) for replica writes and read repair, and by hinted handoff
 * (hints.c), which stores exactly this body after the target endpoint.
 * The decoder trusts nothing: the count is bounded by what the input can
 * hold, every length by the bytes left, and trailing bytes are refused.
 */
#include <stdlib.h>

#include "cluster/mutation.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/wire.h"

/* The smallest encoded entry: table id and two empty byte strings. */
#define MUT_MIN_ENTRY (16 + 4 + 4)

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
