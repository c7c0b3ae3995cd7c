/* libFuzzer target for the CQL native protocol frame decoder: any bytes,
 * read as a stream of frames (header, check, body parse), must decode or
 * fail with SB_EBADINPUT / SB_ETOOBIG / SB_EUNSUPPORTED and a message,
 * never read out of bounds, crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cqlproto/frame.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        sb_cqlframe_hdr h;
        char err[SB_ERRMSG_SIZE] = "";
        if (!sb_cqlframe_header(data + off, size - off, &h))
            break;
        int rc = sb_cqlframe_check(&h, 65536, err);
        if (rc != 0 && (rc != SB_EUNSUPPORTED && rc != SB_ETOOBIG && rc != SB_EBADINPUT))
            abort();
        if (rc != 0 && !err[0])
            abort();
        off += SB_CQLFRAME_HEADER_SIZE;
        /* Parse whatever body there is, also for refused headers, to
         * exercise every opcode with arbitrary lengths. */
        size_t blen = h.length < size - off ? h.length : size - off;
        sb_cqlmsg m;
        err[0] = 0;
        /* Copy the body so that ASan sees reads past its end. */
        uint8_t *body = malloc(blen ? blen : 1);
        if (!body)
            return 0;
        memcpy(body, data + off, blen);
        rc = sb_cqlmsg_parse(h.opcode, h.flags, body, blen, &m, err);
        if (rc == 0) {
            if (m.opcode == SB_CQLOP_QUERY && (!m.query || strlen(m.query) > m.query_len))
                abort();
            for (int i = 0; i < m.params.nvalues; i++)
                if (m.params.values[i].len > (int32_t)blen)
                    abort();
            sb_cqlmsg_free(&m);
        } else if (!err[0] || (rc != SB_EBADINPUT && rc != SB_ENOMEM)) {
            abort();
        }
        free(body);
        off += blen;
    }
    return 0;
}
