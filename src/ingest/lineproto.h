/*
 * InfluxDB 2 line protocol parser (pure: no I/O, no schema).
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * The parser walks a request body line by line and hands out one point at
 * a time. It is zero-copy: every name and string value is a slice of the
 * body (sb_lp_str). A slice whose `esc` flag is set contains backslash
 * escapes; sb_lp_unescape() turns it into the real bytes. Slices without
 * the flag are already the real bytes. Numbers and booleans are converted
 * while parsing.
 *
 * Escaping (as InfluxDB 2):
 *   measurement            \,  and "\ " stand for comma and space
 *   tag key/value, field key   \,  \=  "\ "
 *   string field value     "..." with \" and \\ for quote and backslash
 * A backslash followed by any other byte is a literal backslash (and the
 * byte after it is never a delimiter). A newline always ends a line (line
 * protocol has no newlines inside values); a CR before it is dropped.
 * Lines that are blank or whose first non-blank byte is '#' are skipped.
 * Each line must be valid UTF-8; names must not contain NUL bytes.
 *
 * Field values: 1.5 / -1e3 / 7 (float, the default), 7i (int64, range
 * checked), 7u (uint64), "text" (string), t T true True TRUE f F false
 * False FALSE (boolean). The timestamp is an int64 in the request's
 * precision; callers convert it.
 *
 * Errors: sb_lp_next() returns SB_ESYNTAX with errmsg "line N: problem
 * (column C)", N counted from 1 over all lines of the body (comments and
 * blank lines included), C the 1-based byte column of the problem.
 */
#ifndef SB_LINEPROTO_H
#define SB_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

/* A slice of the body. esc != 0: contains backslash escapes. */
typedef struct sb_lp_str {
    const char *p;
    uint32_t len;
    uint32_t esc;
} sb_lp_str;

typedef enum sb_lp_type {
    SB_LP_FLOAT,
    SB_LP_INT,
    SB_LP_UINT,
    SB_LP_STRING,
    SB_LP_BOOL,
} sb_lp_type;

typedef struct sb_lp_tag {
    sb_lp_str key;
    sb_lp_str val;
} sb_lp_tag;

typedef struct sb_lp_field {
    sb_lp_str key;
    sb_lp_type type;
    union {
        double f;
        int64_t i;
        uint64_t u;
        int b;
        sb_lp_str s; /* between the quotes; esc: has \" or \\ */
    } v;
} sb_lp_field;

/* One parsed line. The arrays belong to the parser and are overwritten by
 * the next sb_lp_next(); slices point into the body. */
typedef struct sb_lp_point {
    sb_lp_str measurement;
    const sb_lp_tag *tags;
    int ntags;
    const sb_lp_field *fields;
    int nfields;
    int has_time;
    int64_t time; /* in the request's precision, as written */
    int line;     /* 1-based line number */
} sb_lp_point;

typedef struct sb_lp_parser {
    const char *p;   /* next unread byte */
    const char *end; /* end of body */
    int line;        /* number of the last line read */
    sb_lp_tag *tags;
    int tags_cap;
    sb_lp_field *fields;
    int fields_cap;
} sb_lp_parser;

/* Most tags / fields one point may have (storage column ids are 16 bit). */
#define SB_LP_MAX_ITEMS 4096

/* The body must stay valid and unchanged while points are used. */
void sb_lp_parser_init(sb_lp_parser *ps, const char *body, size_t len);
void sb_lp_parser_free(sb_lp_parser *ps);
/* Parses the next point: 1 and fills *pt, 0 at the end of the body,
 * SB_ESYNTAX (errmsg "line N: ...") or SB_ENOMEM. After an error the
 * parser may be continued with the next line (it skips the bad one). */
int sb_lp_next(sb_lp_parser *ps, sb_lp_point *pt, char *errmsg);

/* Unescaping kinds: which escapes apply. */
enum {
    SB_LP_ESC_MEASUREMENT, /* \, and "\ " */
    SB_LP_ESC_KEY,         /* tag keys, tag values, field keys: \, \= "\ " */
    SB_LP_ESC_STRING,      /* string field values: \" \\ */
};
/* Writes the real bytes of s into out (at least s.len bytes) and returns
 * their count (<= s.len). Works for slices without escapes too. */
size_t sb_lp_unescape(sb_lp_str s, int kind, char *out);

/* 1 if the n bytes at p are valid UTF-8 (no overlongs, no surrogates). */
int sb_lp_utf8_valid(const uint8_t *p, size_t n);

#endif
