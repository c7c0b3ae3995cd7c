/*
 * Hexadecimal text and the textual form of UUIDs.
 *
 * NOTES ON THE DESIGN
 *
 * - Output is lower case (as Cassandra prints blobs and uuids); input is
 *   accepted in either case.
 * - Decoders never read past the length they are given and never need a
 *   NUL terminator; on failure the output may be partly written.
 */
#ifndef SB_UTIL_HEX_H
#define SB_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL. */
#define SB_UUID_STRLEN 37

/* The value of hex digit c (either case), or -1. */
int sb_hex_digit(int c);
/* Writes the 2n lower-case digits of p[0..n) and a NUL to out. */
void sb_hex_encode(char *out, const uint8_t *p, size_t n);
/* Appends the 2n lower-case digits of p[0..n) to out. 0 or SB_ENOMEM. */
int sb_hex_append(sb_buf *out, const uint8_t *p, size_t n);
/* Offset of the first character of s[0..n) that is not a hex digit, or
 * n when they all are. */
size_t sb_hex_invalid(const char *s, size_t n);
/* Decodes the n digits at s into n / 2 bytes at out. 0, or -1 when n is
 * odd or a character is not a hex digit. */
int sb_hex_decode(uint8_t *out, const char *s, size_t n);

/* Writes u as 8-4-4-4-12 lower-case digits and a NUL to out. */
void sb_uuid_format(const uint8_t u[16], char out[SB_UUID_STRLEN]);
/* Appends u in the form of sb_uuid_format (no NUL). 0 or SB_ENOMEM. */
int sb_uuid_append(sb_buf *out, const uint8_t u[16]);
/* Reads a uuid from s[0..n): exactly 32 hex digits, with dashes allowed
 * anywhere and nothing else. 0, or -1. Callers that want only the
 * 8-4-4-4-12 form check the dash positions first. */
int sb_uuid_parse(const char *s, size_t n, uint8_t u[16]);

#endif
