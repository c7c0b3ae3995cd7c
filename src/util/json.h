/*
 * JSON output helpers for the hand-built answers of the HTTP API and the
 * stats: strings escaped as RFC 8259 requires.
 */
#ifndef SB_UTIL_JSON_H
#define SB_UTIL_JSON_H

#include <stddef.h>

#include "util/buf.h"

/* Appends s (len bytes, not NUL-terminated) as a JSON string literal with
 * its quotes; control characters become \u00XX. 0 or SB_ENOMEM. */
int sb_json_append_string(sb_buf *out, const char *s, size_t len);

#endif
