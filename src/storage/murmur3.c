/*
 * MurmurHash3_x64_128 with Cassandra's tail quirk (see murmur3.h).
 *
 * Written from the algorithm's description: 16-byte blocks read as two
 * little-endian 64-bit words, mixed with the constants c1/c2 and rotations
 * 31/33 and 27/31; the tail mixed the same way; then the length folded in
 * and both halves avalanched with fmix64.
 */
#include "storage/murmur3.h"

#define C1 0x87c37b91114253d5ULL
#define C2 0x4cf5ad432745937fULL

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A tail byte as Java's `(long) byteBuffer.get(i)`: sign-extended. */
static inline uint64_t tail_byte(const uint8_t *p, size_t i, int shift)
{
    return (uint64_t)(int64_t)(int8_t)p[i] << shift;
}

void sb_murmur3_x64_128(const void *key, size_t len, uint64_t out[2])
{
    const uint8_t *p = key;
    size_t nblocks = len / 16;
    uint64_t h1 = 0, h2 = 0;

    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = load_le64(p + i * 16);
        uint64_t k2 = load_le64(p + i * 16 + 8);
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }

    const uint8_t *t = p + nblocks * 16;
    size_t rem = len & 15;
    uint64_t k1 = 0, k2 = 0;
    /* Cassandra XORs each sign-extended byte in, highest first, so the
     * sign bits of a high byte land on (and flip) higher positions too. */
    for (size_t i = rem; i > 8; i--)
        k2 ^= tail_byte(t, i - 1, (int)(i - 9) * 8);
    if (rem > 8) {
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
    }
    for (size_t i = rem < 8 ? rem : 8; i > 0; i--)
        k1 ^= tail_byte(t, i - 1, (int)(i - 1) * 8);
    if (rem > 0) {
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
    }

    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

int64_t sb_murmur3_token(const void *p, size_t len)
{
    uint64_t h[2];
    sb_murmur3_x64_128(p, len, h);
    if (h[0] == (uint64_t)INT64_MIN)
        return INT64_MAX;
    return (int64_t)h[0];
}
