/*
 * Numbers from command-line and configuration text.
 *
 * NOTES ON THE DESIGN
 *
 * - The whole string must be the number: no trailing characters, no empty
 *   string; overflow (ERANGE) is an error, not a clamped value.
 * - Range checks are written so that NaN is never inside a range.
 * - Callers word their own error messages (which option, which program);
 *   these only say yes or no.
 */
#ifndef SB_UTIL_NUM_H
#define SB_UTIL_NUM_H

/* Parses s (strtod syntax) as a number in [lo, hi] into *out. 0, or -1
 * (and *out unchanged) when s is NULL, is not wholly a number, or is
 * outside the range. */
int sb_parse_double(const char *s, double lo, double hi, double *out);

#endif
