/*
 * Cassandra's Murmur3Partitioner hash.
 *
 * MurmurHash3_x64_128 with seed 0, as Cassandra computes it: the up to 15
 * tail bytes are read as Java (signed) bytes and sign-extended before they
 * are shifted into place, which differs from the reference implementation
 * for tail bytes >= 0x80. The token is the first 64-bit half (h1) as a
 * signed integer, with Long.MIN_VALUE (which Cassandra reserves as the
 * minimum token) mapped to Long.MAX_VALUE.
 */
#ifndef SB_MURMUR3_H
#define SB_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

/* Both halves of Cassandra's MurmurHash3_x64_128 (seed 0). */
void sb_murmur3_x64_128(const void *p, size_t len, uint64_t out[2]);

/* Murmur3Partitioner token of the key bytes `p[0..len)`. */
int64_t sb_murmur3_token(const void *p, size_t len);

#endif
