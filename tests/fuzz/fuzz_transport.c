/* libFuzzer target for the node-to-node frame reader: any bytes, read as a
 * stream of frames (header check, then the payload's CRC32C), must parse
 * or fail with SB_EBADINPUT and a message, never read out of bounds. Also
 * checks, on the same bytes, that the table-driven CRC32C equals the
 * hardware one and a bit-at-a-time reference, and that chaining at an
 * arbitrary split gives the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/transport.h"
#include "util/err.h"

uint32_t net_crc32c_sw(uint32_t crc, const void *p, size_t n); /* net/crc32c.c */

static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t whole = sb_crc32c(0, data, size);
    if (whole != net_crc32c_sw(0, data, size) || whole != crc_ref(data, size))
        abort();
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (sb_crc32c(sb_crc32c(0, data, cut), data + cut, size - cut) != whole)
        abort();

    size_t off = 0;
    uint32_t max_frame = 4096;
    while (size - off >= SB_TRANSPORT_HEADER) {
        char err[SB_ERRMSG_SIZE] = "";
        int type = -1;
        uint32_t len = 0, crc = 0;
        int rc = sb_transport_parse_header(data + off, max_frame, &type, &len, &crc, err);
        if (rc) {
            if (rc != SB_EBADINPUT || !err[0])
                abort();
            break;
        }
        if (len > max_frame || type < 0 || type > 255)
            abort();
        off += SB_TRANSPORT_HEADER;
        if (size - off < len)
            break; /* the rest of the frame has not arrived */
        /* Copy the payload so that ASan sees reads past its end. */
        uint8_t *payload = malloc(len ? len : 1);
        if (!payload)
            return 0;
        memcpy(payload, data + off, len);
        uint32_t got = sb_crc32c(0, payload, len);
        if (got == crc) {
            /* A frame that checks out re-encodes to the same header. */
            uint8_t h[SB_TRANSPORT_HEADER];
            int64_t hlc, wall;
            sb_transport_header_clocks(data + off - SB_TRANSPORT_HEADER, &hlc, &wall);
            sb_transport_put_header(h, type, payload, len, hlc, wall);
            if (memcmp(h, data + off - SB_TRANSPORT_HEADER, SB_TRANSPORT_HEADER))
                abort();
        }
        free(payload);
        if (got != crc)
            break; /* the transport closes the connection here */
        off += len;
    }
    return 0;
}
