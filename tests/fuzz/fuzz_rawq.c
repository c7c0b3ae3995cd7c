/* libFuzzer target for the raw query decoder (node-to-node READ
 * payloads, storage/store.h): any bytes, read as a stream of raw queries,
 * must decode or fail with SB_EBADINPUT, never read out of bounds, crash
 * or leak. What decodes re-encodes to the very bytes consumed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/store.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sb_rawq q;
    sb_rawq_init(&q);
    sb_buf out;
    sb_buf_init(&out);
    size_t off = 0;
    while (off < size) {
        size_t used = 0;
        int rv = sb_rawq_decode(data + off, size - off, &q, &used);
        if (rv == SB_EBADINPUT)
            break;
        if (rv != 0 || used == 0 || used > size - off || q.reversed > 1)
            abort();
        sb_buf_reset(&out);
        if (sb_rawq_encode(&q, &out) != 0)
            abort();
        if (out.len != used || memcmp(out.data, data + off, used) != 0)
            abort();
        off += used;
    }
    sb_buf_free(&out);
    sb_rawq_free(&q);
    return 0;
}
