/*
 * The MUTATION message body (mutation.c): raw entries of one or more
 * tables, as the coordinator sends them to replicas and as hinted
 * handoff stores them.
 */
#ifndef SB_CLUSTER_MUTATION_H
#define SB_CLUSTER_MUTATION_H

#include <stddef.h>

#include "storage/store.h"
#include "util/buf.h"

/* The MUTATION request body : u32 count, then per
 * entry the 16-byte table id, bytes key, bytes value (util/wire.h).
 * encode appends to out: 0, SB_ENOMEM or SB_EINVAL. decode sets *out to
 * an array of *n entries (caller frees it with free(); the entries point
 * into p, so p must outlive them): 0, SB_ENOMEM, or SB_EBADINPUT for
 * truncated, oversized or trailing input. */
int sb_mutation_encode(sb_buf *out, const sb_raw_mut *m, size_t n);
int sb_mutation_decode(const uint8_t *p, size_t len, sb_raw_mut **out, size_t *n);

#endif
