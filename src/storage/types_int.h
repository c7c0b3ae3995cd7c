/*
 * Internals shared by types.c (names, validation, order, key encoding) and
 * types_fmt.c (rendering, literals): big-endian access, arbitrary-precision
 * integer <-> decimal digits, and proleptic Gregorian calendar arithmetic.
 * Not part of the storage interface.
 */
#ifndef SB_TYPES_INT_H
#define SB_TYPES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Largest varint (in bytes) that is converted to or from decimal digits;
 * the conversion is quadratic, so bigger ones are refused with SB_ETOOBIG. */
#define TYPES_BIGNUM_MAX_BYTES 4096

/* Days in [1970-01-01 .. 9999-12-31] etc. use int64. */
#define TYPES_DATE_EPOCH 2147483648U /* date's serialized value of 1970-01-01 */

static inline uint64_t types_get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline void types_put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Index of the first byte of the minimal two's-complement form of the
 * varint p[0..n) (n >= 1): redundant leading 0x00/0xFF bytes are skipped. */
size_t types_varint_skip(const uint8_t *p, size_t n);

/* Appends the decimal digits of the varint p[0..n) to out, with a leading
 * '-' when negative ("0" for zero or n == 0). SB_ETOOBIG past the limit. */
int types_varint_to_dec(sb_buf *out, const uint8_t *p, size_t n);

/* Appends the minimal two's-complement serialization of the number whose
 * decimal digits are digits[0..nd) (nd >= 1), negated when neg. */
int types_dec_to_varint(sb_buf *out, const char *digits, size_t nd, int neg);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t types_days_from_civil(int64_t y, int m, int d);
void types_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* Validates UTF-8 (no overlongs, surrogates or code points > U+10FFFF);
 * returns the offset of the first bad byte or -1 when valid. */
long types_utf8_check(const uint8_t *p, size_t n);

#endif
