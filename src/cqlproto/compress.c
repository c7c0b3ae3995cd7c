/*
 * Frame body compression for the native protocol: lz4 (Cassandra prefixes
 * the LZ4 block with the uncompressed length, big-endian) and snappy (a
 * raw block). Decompression checks the announced size against a limit
 * before allocating, so a small frame cannot expand into a huge buffer.
 */
#include <lz4.h>
#include <snappy-c.h>
#include <string.h>

#include "cqlproto/cqlproto.h"
#include "util/err.h"

int sb_cql_compress(int algo, const uint8_t *in, size_t n, sb_buf *out)
{
    if (algo == SB_CQLCOMP_LZ4) {
        if (n > (size_t)LZ4_MAX_INPUT_SIZE)
            return SB_ETOOBIG;
        int bound = LZ4_compressBound((int)n);
        if (sb_buf_reserve(out, 4 + (size_t)bound) != 0)
            return SB_ENOMEM;
        sb_buf_put_u32be(out, (uint32_t)n);
        int k = LZ4_compress_default((const char *)in, (char *)out->data + out->len, (int)n, bound);
        if (k <= 0 && n > 0)
            return SB_ENOMEM;
        out->len += (size_t)k;
        return 0;
    }
    if (algo == SB_CQLCOMP_SNAPPY) {
        size_t bound = snappy_max_compressed_length(n);
        if (sb_buf_reserve(out, bound) != 0)
            return SB_ENOMEM;
        size_t k = bound;
        if (snappy_compress((const char *)in, n, (char *)out->data + out->len, &k) != SNAPPY_OK)
            return SB_ENOMEM;
        out->len += k;
        return 0;
    }
    return sb_buf_append(out, in, n);
}

int sb_cql_decompress(int algo, const uint8_t *in, size_t n, size_t max, sb_buf *out, char *errmsg)
{
    if (algo == SB_CQLCOMP_LZ4) {
        if (n < 4)
            return sb_seterr(errmsg, SB_EBADINPUT, "lz4 body shorter than its length prefix");
        size_t len = ((size_t)in[0] << 24) | ((size_t)in[1] << 16) | ((size_t)in[2] << 8) | in[3];
        if (len > max || len > (size_t)LZ4_MAX_INPUT_SIZE)
            return sb_seterr(errmsg, SB_ETOOBIG,
                             "Request is too big: decompressed length %zu exceeds maximum "
                             "allowed length %zu",
                             len, max);
        if (sb_buf_reserve(out, len + 1) != 0)
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        if (n - 4 > (size_t)INT32_MAX)
            return sb_seterr(errmsg, SB_EBADINPUT, "lz4 body too long");
        int k = LZ4_decompress_safe((const char *)in + 4, (char *)out->data + out->len,
                                    (int)(n - 4), (int)len);
        if (k < 0 || (size_t)k != len)
            return sb_seterr(errmsg, SB_EBADINPUT, "corrupt lz4 frame body");
        out->len += len;
        return 0;
    }
    if (algo == SB_CQLCOMP_SNAPPY) {
        size_t len;
        if (snappy_uncompressed_length((const char *)in, n, &len) != SNAPPY_OK)
            return sb_seterr(errmsg, SB_EBADINPUT, "corrupt snappy frame body");
        if (len > max)
            return sb_seterr(errmsg, SB_ETOOBIG,
                             "Request is too big: decompressed length %zu exceeds maximum "
                             "allowed length %zu",
                             len, max);
        if (sb_buf_reserve(out, len + 1) != 0)
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        size_t k = len;
        if (snappy_uncompress((const char *)in, n, (char *)out->data + out->len, &k) != SNAPPY_OK ||
            k != len)
            return sb_seterr(errmsg, SB_EBADINPUT, "corrupt snappy frame body");
        out->len += len;
        return 0;
    }
    if (n > max)
        return sb_seterr(errmsg, SB_ETOOBIG, "body too long");
    return sb_buf_append(out, in, n) ? sb_seterr(errmsg, SB_ENOMEM, "out of memory") : 0;
}
