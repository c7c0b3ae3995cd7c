/* libFuzzer target for the stream codec (stream/stream.h): any bytes, read
 * as a pull request and as a chunk, must decode or be refused, never read
 * out of bounds, crash or leak. A decoded chunk re-encodes to the very
 * bytes, and its rows are in key order inside the range. The first input
 * byte picks which decoder runs, so the fuzzer reaches past the checksum
 * of chunks by fixing it up itself (mode 2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/transport.h"
#include "stream/stream.h"
#include "util/err.h"
#include "util/wire.h"

static void check_chunk(const uint8_t *p, size_t n)
{
    sb_stream_range r = {INT64_MIN, INT64_MAX};
    sb_stream_chunk c;
    int rv = sb_stream_chunk_decode(p, n, &r, NULL, 0, &c);
    if (rv == SB_EBADINPUT || rv == SB_ECORRUPT || rv == SB_ENOMEM)
        return;
    if (rv != 0)
        abort();
    sb_buf out;
    sb_buf_init(&out);
    if (sb_stream_chunk_begin(&out, c.table_id, c.status))
        abort();
    for (uint32_t i = 0; i < c.nrows; i++) {
        if (c.rows[i].klen < 8 || sb_stream_chunk_add(&out, &c.rows[i]))
            abort();
    }
    if (sb_stream_chunk_end(&out, 0, c.nrows, c.last) || out.len != n || memcmp(out.data, p, n))
        abort();
    sb_buf_free(&out);
    sb_stream_chunk_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        sb_stream_req q;
        int rv = sb_stream_req_decode(data, size, &q);
        if (rv == 0) {
            sb_buf out;
            sb_buf_init(&out);
            if (sb_stream_req_encode(&out, &q) || out.len != size || memcmp(out.data, data, size))
                abort();
            sb_buf_free(&out);
        } else if (rv != SB_EBADINPUT) {
            abort();
        }
    } else if (mode == 1) {
        check_chunk(data, size);
    } else if (size >= 4) {
        uint8_t *p = malloc(size);
        if (!p)
            return 0;
        memcpy(p, data, size);
        sb_be32_put(p + size - 4, sb_crc32c(0, p, size - 4));
        check_chunk(p, size);
        free(p);
    }
    return 0;
}
