/*
 * Seeded pseudo-random numbers: xoshiro256** (Blackman and Vigna), its
 * 256-bit state filled from the 64-bit seed by splitmix64.
 *
 * NOTES ON THE DESIGN
 *
 * - Deterministic: the same seed gives the same sequence on every
 *   platform and build. The deterministic simulator (src/dsim) and the
 *   sensor simulator (src/sim) replay a run from its seed, so the
 *   algorithm, the seeding and the derivations below (range, unit) are
 *   part of what a recorded seed means: changing any of them changes
 *   every recorded run. tests/unit/util/test_prng.c pins the first
 *   outputs for known seeds.
 * - Not for secrets: keys, tokens and salts come from getrandom().
 * - The state is a plain struct the caller embeds; no allocation.
 */
#ifndef SB_UTIL_PRNG_H
#define SB_UTIL_PRNG_H

#include <stdint.h>

typedef struct sb_prng {
    uint64_t s[4];
} sb_prng;

/* Starts the sequence of seed (any value, 0 included). */
void sb_prng_seed(sb_prng *r, uint64_t seed);
/* The next 64 random bits. */
uint64_t sb_prng_next(sb_prng *r);
/* Uniform-ish in [lo, hi], both included (next() modulo the span, so
 * slightly biased for spans that do not divide 2^64); lo when hi <= lo. */
uint64_t sb_prng_range(sb_prng *r, uint64_t lo, uint64_t hi);
/* Uniform in [0, 1), from the top 53 bits of next(). */
double sb_prng_unit(sb_prng *r);

#endif
