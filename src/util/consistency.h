/*
 * Consistency levels, with the native protocol's codes (v4 section 3).
 * Every layer that names a level (the CQL executor, the coordinator,
 * ingestion, the HTTP API, the tools) uses these.
 */
#ifndef SB_UTIL_CONSISTENCY_H
#define SB_UTIL_CONSISTENCY_H

#include <stddef.h>

enum {
    SB_CL_ANY = 0x0000,
    SB_CL_ONE = 0x0001,
    SB_CL_TWO = 0x0002,
    SB_CL_THREE = 0x0003,
    SB_CL_QUORUM = 0x0004,
    SB_CL_ALL = 0x0005,
    SB_CL_LOCAL_QUORUM = 0x0006,
    SB_CL_EACH_QUORUM = 0x0007,
    SB_CL_SERIAL = 0x0008,
    SB_CL_LOCAL_SERIAL = 0x0009,
    SB_CL_LOCAL_ONE = 0x000A,
};

/* "QUORUM" (any case) -> SB_CL_QUORUM. 0 or SB_EINVAL. */
int sb_consistency_parse(const char *name, size_t len, int *out);
/* SB_CL_QUORUM -> "QUORUM"; NULL for unknown codes. */
const char *sb_consistency_name(int cl);

#endif
