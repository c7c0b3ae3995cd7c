/*
 * libFuzzer target for the SB_MSG_RAFT payload decoder
 * (consensus/raft_wire.c): a payload from the network is outside input.
 *
 * Checks: no crash or sanitizer report; what decodes re-encodes, and the
 * re-encoding decodes and encodes to itself (encode . decode is the
 * identity on encoder output); what decode allocated is released without
 * leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/raft_io.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct raft_message m;
    sb_ep from;
    char addr[SB_EP_STRLEN];
    if (sb_raft_wire_decode(data, size, &m, &from, addr) != 0)
        return 0;
    sb_buf b;
    sb_buf_init(&b);
    if (sb_raft_wire_encode(&b, &from, m.server_id, &m) != 0)
        abort();
    struct raft_message m2;
    sb_ep from2;
    char addr2[SB_EP_STRLEN];
    if (sb_raft_wire_decode(b.data, b.len, &m2, &from2, addr2) != 0)
        abort();
    sb_buf b2;
    sb_buf_init(&b2);
    if (sb_raft_wire_encode(&b2, &from2, m2.server_id, &m2) != 0)
        abort();
    if (b2.len != b.len || memcmp(b2.data, b.data, b.len) != 0)
        abort();
    sb_buf_free(&b);
    sb_buf_free(&b2);
    sb_raft_wire_release(&m);
    sb_raft_wire_release(&m2);
    return 0;
}
