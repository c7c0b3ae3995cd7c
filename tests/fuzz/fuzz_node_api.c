/*
 * libFuzzer target for the request parsing of the node endpoints:
 * POST /api/v1/fault bodies (sb_fault_parse) and the text form of
 * partition-key values of /api/v1/replicas and /api/v1/local
 * (sb_http_key_value).
 *
 * The first byte chooses: even = a fault body (the rest of the input);
 * odd = a key value, byte 2 picking the CQL type. Accepted fault bodies
 * must name at most SB_FAULT_MAX_PEERS peers, each a parseable address;
 * accepted key values must be valid serializations of their type, and a
 * refused one must leave the output untouched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/fault_api.h"
#include "storage/types.h"
#include "util/err.h"

static const char *types[] = {"text",     "ascii",     "int",    "bigint",   "smallint",
                              "tinyint",  "varint",    "double", "float",    "decimal",
                              "boolean",  "timestamp", "date",   "time",     "uuid",
                              "timeuuid", "blob",      "inet",   "list<int>"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SB_ERRMSG_SIZE];
    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0) {
        static sb_fault_req r;
        if (sb_fault_parse(data + 1, size - 1, &r, err) == 0) {
            if (r.action != SB_FAULT_CUT && r.action != SB_FAULT_HEAL)
                abort();
            if (r.npeers < 0 || r.npeers > SB_FAULT_MAX_PEERS)
                abort();
            for (int i = 0; i < r.npeers; i++) {
                sb_ep ep;
                if (sb_ep_parse(r.peers[i], 0, &ep) != 0)
                    abort();
            }
        }
        return 0;
    }
    if (size < 2 || size > 4096)
        return 0;
    sb_type t;
    if (sb_type_parse(types[data[1] % (sizeof types / sizeof types[0])], &t) != 0)
        abort();
    char *text = malloc(size - 1);
    if (!text)
        return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = 0;
    sb_buf b;
    sb_buf_init(&b);
    sb_buf_putc(&b, 0xAA);
    int rv = sb_http_key_value(t, text, &b, err);
    if (rv == 0) {
        if (sb_value_validate(t, b.data + 1, b.len - 1, err) != 0)
            abort();
    } else if (b.len != 1 || b.data[0] != 0xAA) {
        abort();
    }
    sb_buf_free(&b);
    free(text);
    return 0;
}
