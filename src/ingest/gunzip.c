/*
 * Bounded gzip inflation for request bodies (Telegraf sends
 * Content-Encoding: gzip).
 *
 * The output buffer grows geometrically but is never allowed to exceed
 * max_bytes: zlib is given at most max_bytes + 1 - produced bytes of room,
 * and producing that last byte means the body is too large. So a gzip bomb
 * costs at most max_bytes of memory and is rejected, never expanded.
 */
#include "ingest/ingest.h"

#include <stdlib.h>
#include <zlib.h>

#include "util/err.h"

/* Makes room for more output: 4x the input to start with, then double,
 * but never more than max_bytes + 1 bytes of output (+1 for sb_buf's NUL). */
static int grow(sb_buf *out, size_t produced, size_t inlen, size_t max_bytes, char *errmsg)
{
    size_t want = produced ? produced : (inlen < 4096 ? 16384 : inlen * 4);
    if (want > max_bytes + 1 - produced)
        want = max_bytes + 1 - produced;
    if (want == 0)
        want = 1;
    size_t cap = out->len + want + 1;
    if (cap <= out->cap)
        return 0;
    uint8_t *p = realloc(out->data, cap);
    if (!p)
        return sb_seterr(errmsg, SB_ENOMEM, "gzip: out of memory");
    out->data = p;
    out->cap = cap;
    return 0;
}

int sb_ingest_gunzip(const void *in, size_t len, size_t max_bytes, sb_buf *out, char *errmsg)
{
    z_stream zs = {0};
    /* 16 + MAX_WBITS: gzip header and trailer only. */
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return sb_seterr(errmsg, SB_ENOMEM, "gzip: cannot initialise zlib");
    int rv = 0;
    size_t start = out->len;
    const uint8_t *src = in;
    size_t left = len;
    for (;;) {
        size_t produced = out->len - start;
        if (out->cap - out->len <= 1 && (rv = grow(out, produced, len, max_bytes, errmsg)))
            goto fail;
        size_t room = out->cap - out->len - 1; /* keep sb_buf's NUL slot */
        if (room > max_bytes + 1 - produced)
            room = max_bytes + 1 - produced;
        uInt in_chunk = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
        uInt out_chunk = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        zs.next_in = (Bytef *)src;
        zs.avail_in = in_chunk;
        zs.next_out = out->data + out->len;
        zs.avail_out = out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        src += in_chunk - zs.avail_in;
        left -= in_chunk - zs.avail_in;
        out->len += out_chunk - zs.avail_out;
        if (out->len - start > max_bytes) {
            rv = sb_seterr(errmsg, SB_ETOOBIG, "gzip body inflates to more than %zu bytes",
                           max_bytes);
            goto fail;
        }
        if (zr == Z_STREAM_END) {
            if (left == 0)
                break;
            /* Another gzip member follows (or trailing garbage). */
            if (inflateReset(&zs) != Z_OK) {
                rv = sb_seterr(errmsg, SB_ESERVER, "gzip: zlib reset failed");
                goto fail;
            }
            continue;
        }
        if (zr == Z_OK)
            continue;
        if (zr == Z_BUF_ERROR && zs.avail_out > 0 && left == 0) {
            rv = sb_seterr(errmsg, SB_EBADINPUT, "gzip body is truncated");
            goto fail;
        }
        if (zr == Z_BUF_ERROR)
            continue;
        if (zr == Z_MEM_ERROR) {
            rv = sb_seterr(errmsg, SB_ENOMEM, "gzip: out of memory");
            goto fail;
        }
        rv = sb_seterr(errmsg, SB_EBADINPUT, "invalid gzip body: %s",
                       zs.msg ? zs.msg : "corrupt data");
        goto fail;
    }
    inflateEnd(&zs);
    return 0;
fail:
    inflateEnd(&zs);
    out->len = start;
    return rv;
}
