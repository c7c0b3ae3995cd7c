/*
 * JSON output helpers for the hand-built answers of the HTTP API, the
 * stats and the CQL-over-HTTP results: strings escaped as RFC 8259
 * requires.
 *
 * NOTES ON THE DESIGN
 *
 * - One escaper for every JSON string Sibyl writes, so that every answer
 *   spells the same string the same way: '"' and '\\' get a backslash,
 *   newline, tab and carriage return their short forms (\n, \t, \r), the
 *   other control characters and DEL \u00XX. Other bytes (UTF-8 included)
 *   pass through unchanged; the caller guarantees valid UTF-8 where a
 *   client needs it.
 * - Appends return 0 or SB_ENOMEM and leave the buffer valid.
 */
#ifndef SB_UTIL_JSON_H
#define SB_UTIL_JSON_H

#include <stddef.h>

#include "util/buf.h"

/* Appends s (len bytes, not NUL-terminated) as a JSON string literal with
 * its quotes. 0 or SB_ENOMEM. */
int sb_json_append_string(sb_buf *out, const char *s, size_t len);
/* Appends the NUL-terminated s as a JSON string literal, or null when s
 * is NULL. 0 or SB_ENOMEM. */
int sb_json_append_cstr(sb_buf *out, const char *s);

#endif
