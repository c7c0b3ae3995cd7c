/*
 * Line protocol parser: see lineproto.h for the grammar it accepts.
 *
 * NOTES ON THE DESIGN
 *
 * - One pass over each line, left to right, with no backtracking: the
 *   line end is found with memchr, then measurement, tags, fields and
 *   timestamp are scanned with a byte-class table. A backslash always
 *   consumes the byte after it, so an escaped delimiter never ends a token;
 *   whether the pair is a real escape is decided later, by
 *   sb_lp_unescape(), and only for slices that had a backslash.
 * - Nothing is copied: slices point into the body. The tag and field arrays
 *   are reused from line to line, so a steady stream of points allocates
 *   nothing.
 * - Floats take a fast exact path (at most 19 significant digits whose
 *   value fits in 53 bits and a power of ten up to 22: one IEEE operation
 *   rounds correctly) and fall back to strtod for everything else. The
 *   syntax is checked here first so strtod never sees hex, inf or nan.
 * - A line is checked for UTF-8 only if it has a byte >= 0x80; as every
 *   delimiter is ASCII, every slice of a valid line is valid UTF-8 too.
 */
#include "ingest/lineproto.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

enum { C_COMMA = 1, C_SPACE = 2, C_EQ = 4, C_BSL = 8, C_NUL = 16 };

static const uint8_t cclass[256] = {
    [','] = C_COMMA, [' '] = C_SPACE, ['='] = C_EQ, ['\\'] = C_BSL, [0] = C_NUL,
};

#define STOP_MEASUREMENT (C_COMMA | C_SPACE)
#define STOP_KEY (C_COMMA | C_SPACE | C_EQ)

void sb_lp_parser_init(sb_lp_parser *ps, const char *body, size_t len)
{
    memset(ps, 0, sizeof(*ps));
    ps->p = body;
    ps->end = body + len;
}

void sb_lp_parser_free(sb_lp_parser *ps)
{
    free(ps->tags);
    free(ps->fields);
    ps->tags = NULL;
    ps->fields = NULL;
    ps->tags_cap = ps->fields_cap = 0;
}

/* Context of the line being parsed, for error messages. */
typedef struct line_ctx {
    int line;
    const char *start;
    char *errmsg;
} line_ctx;

static int fail(const line_ctx *lc, const char *at, const char *what)
{
    return sb_seterr(lc->errmsg, SB_ESYNTAX, "line %d: %s (column %d)", lc->line, what,
                     (int)(at - lc->start) + 1);
}

/* Scans a name up to the first unescaped byte of class `stop`. */
static const char *scan_name(const char *p, const char *e, uint8_t stop, uint32_t *esc, int *nul)
{
    while (p < e) {
        uint8_t cls = cclass[(uint8_t)*p];
        if (cls == 0) {
            p++;
            continue;
        }
        if (cls & stop)
            break;
        if (cls & C_BSL) {
            *esc = 1;
            p = (e - p >= 2) ? p + 2 : e;
            continue;
        }
        if (cls & C_NUL)
            *nul = 1;
        p++;
    }
    return p;
}

static int is_digit(char c)
{
    return (unsigned)(c - '0') <= 9;
}

/* -?[0-9]+ into int64. 0, -1 syntax, -2 range. */
static int parse_i64(const char *p, const char *e, int64_t *out)
{
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == e)
        return -1;
    uint64_t v = 0;
    int over = 0;
    for (; p < e; p++) {
        if (!is_digit(*p))
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (over || v > limit)
        return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* [0-9]+ into uint64. 0, -1 syntax, -2 range. */
static int parse_u64(const char *p, const char *e, uint64_t *out)
{
    if (p == e)
        return -1;
    uint64_t v = 0;
    int over = 0;
    for (; p < e; p++) {
        if (!is_digit(*p))
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    if (over)
        return -2;
    *out = v;
    return 0;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* -?(digits[.digits?]|.digits)([eE][+-]?digits)? 0, -1 syntax, -2 range. */
static int parse_f64(const char *p, const char *e, double *out)
{
    const char *s = p;
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    uint64_t m = 0;
    int digits = 0, sig = 0, inexact = 0, exp10 = 0;
    for (; p < e && is_digit(*p); p++, digits++) {
        unsigned d = (unsigned)(*p - '0');
        if (sig < 19) {
            m = m * 10 + d;
            if (m)
                sig++;
        } else {
            exp10++;
            inexact |= d != 0;
        }
    }
    if (p < e && *p == '.') {
        for (p++; p < e && is_digit(*p); p++, digits++) {
            unsigned d = (unsigned)(*p - '0');
            if (sig < 19) {
                m = m * 10 + d;
                if (m)
                    sig++;
                exp10--;
            } else {
                inexact |= d != 0;
            }
        }
    }
    if (digits == 0)
        return -1;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == e || !is_digit(*p))
            return -1;
        int ev = 0;
        for (; p < e && is_digit(*p); p++)
            if (ev < 100000)
                ev = ev * 10 + (*p - '0');
        exp10 += eneg ? -ev : ev;
    }
    if (p != e)
        return -1;
    if (!inexact && m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)m;
        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *out = neg ? -d : d;
        return 0;
    }
    size_t n = (size_t)(e - s);
    char small[128];
    char *buf = n < sizeof(small) ? small : malloc(n + 1);
    if (!buf)
        return -3;
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    double d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (isinf(d))
        return -2;
    *out = d;
    return 0;
}

static int parse_bool(const char *p, size_t n, int *out)
{
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE"};
    static const char *const no[] = {"f", "F", "false", "False", "FALSE"};
    for (int i = 0; i < 5; i++) {
        if (strlen(yes[i]) == n && memcmp(yes[i], p, n) == 0) {
            *out = 1;
            return 0;
        }
        if (strlen(no[i]) == n && memcmp(no[i], p, n) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Parses the unquoted value [p, e) into f. */
static int parse_value(const line_ctx *lc, const char *p, const char *e, sb_lp_field *f)
{
    char c = *p, last = e[-1];
    int rv;
    if (c == 't' || c == 'T' || c == 'f' || c == 'F') {
        f->type = SB_LP_BOOL;
        if (parse_bool(p, (size_t)(e - p), &f->v.b) < 0)
            return fail(lc, p, "invalid boolean");
        return 0;
    }
    if (last == 'i') {
        f->type = SB_LP_INT;
        rv = parse_i64(p, e - 1, &f->v.i);
        if (rv == -1)
            return fail(lc, p, "invalid integer");
        if (rv == -2)
            return fail(lc, p, "integer value out of range");
        return 0;
    }
    if (last == 'u') {
        f->type = SB_LP_UINT;
        rv = parse_u64(p, e - 1, &f->v.u);
        if (rv == -1)
            return fail(lc, p, "invalid unsigned integer");
        if (rv == -2)
            return fail(lc, p, "unsigned value out of range");
        return 0;
    }
    f->type = SB_LP_FLOAT;
    rv = parse_f64(p, e, &f->v.f);
    if (rv == -1)
        return fail(lc, p, "invalid number");
    if (rv == -2)
        return fail(lc, p, "float value out of range");
    if (rv == -3)
        return sb_seterr(lc->errmsg, SB_ENOMEM, "out of memory");
    return 0;
}

static int grow(void **arr, int *cap, size_t elem)
{
    int ncap = *cap ? *cap * 2 : 16;
    if (ncap > SB_LP_MAX_ITEMS)
        ncap = SB_LP_MAX_ITEMS;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return SB_ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* Returns the index of the first byte that is not part of valid UTF-8. */
static size_t utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i < (size_t)len)
            return i;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += (size_t)len;
    }
    return n;
}

int sb_lp_utf8_valid(const uint8_t *p, size_t n)
{
    return utf8_check(p, n) == n;
}

static int has_high_bit(const char *p, const char *e)
{
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (w & 0x8080808080808080ULL)
            return 1;
        p += 8;
    }
    for (; p < e; p++)
        if ((uint8_t)*p & 0x80)
            return 1;
    return 0;
}

static int push_tag(sb_lp_parser *ps, int *n, const line_ctx *lc, const char *at, sb_lp_tag **out)
{
    if (*n == ps->tags_cap) {
        if (*n >= SB_LP_MAX_ITEMS)
            return fail(lc, at, "too many tags");
        if (grow((void **)&ps->tags, &ps->tags_cap, sizeof(sb_lp_tag)))
            return sb_seterr(lc->errmsg, SB_ENOMEM, "out of memory");
    }
    *out = &ps->tags[(*n)++];
    return 0;
}

static int push_field(sb_lp_parser *ps, int *n, const line_ctx *lc, const char *at,
                      sb_lp_field **out)
{
    if (*n == ps->fields_cap) {
        if (*n >= SB_LP_MAX_ITEMS)
            return fail(lc, at, "too many fields");
        if (grow((void **)&ps->fields, &ps->fields_cap, sizeof(sb_lp_field)))
            return sb_seterr(lc->errmsg, SB_ENOMEM, "out of memory");
    }
    *out = &ps->fields[(*n)++];
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Tag set: p at the ',' after the measurement. Returns 0 with *pp at the
 * byte after the last tag value. */
static int parse_tags(sb_lp_parser *ps, const line_ctx *lc, const char **pp, const char *le,
                      int *ntags)
{
    const char *p = *pp;
    while (p < le && *p == ',') {
        p++;
        uint32_t kesc = 0, vesc = 0;
        int nul = 0;
        const char *q = scan_name(p, le, STOP_KEY, &kesc, &nul);
        if (q < le && *q == '=' && q == p)
            return fail(lc, p, "missing tag key");
        if (q == le || *q != '=')
            return fail(lc, q, q == p ? "missing tag key" : "missing tag value");
        if (nul)
            return fail(lc, p, "NUL byte in tag key");
        const char *v = q + 1;
        const char *ve = scan_name(v, le, STOP_KEY, &vesc, &nul);
        if (ve == v)
            return fail(lc, v, "missing tag value");
        if (ve < le && *ve == '=')
            return fail(lc, ve, "invalid tag format (unescaped '=' in tag value)");
        sb_lp_tag *t = NULL;
        int rv = push_tag(ps, ntags, lc, p, &t);
        if (rv)
            return rv;
        t->key = (sb_lp_str){p, (uint32_t)(q - p), kesc};
        t->val = (sb_lp_str){v, (uint32_t)(ve - v), vesc};
        p = ve;
    }
    *pp = p;
    return 0;
}

/* Field set: p at the first byte of the first key. Returns 0 with *pp at
 * the byte after the last value. */
static int parse_fields(sb_lp_parser *ps, const line_ctx *lc, const char **pp, const char *le,
                        int *nfields)
{
    const char *p = *pp;
    for (;;) {
        uint32_t kesc = 0;
        int nul = 0;
        const char *q = scan_name(p, le, STOP_KEY, &kesc, &nul);
        if (q == le || *q != '=')
            return fail(lc, p, "invalid field format");
        if (q == p)
            return fail(lc, p, "missing field key");
        if (nul)
            return fail(lc, p, "NUL byte in field key");
        sb_lp_field *f = NULL;
        int rv = push_field(ps, nfields, lc, p, &f);
        if (rv)
            return rv;
        f->key = (sb_lp_str){p, (uint32_t)(q - p), kesc};
        const char *v = q + 1;
        if (v == le || *v == ' ' || *v == ',')
            return fail(lc, v, "missing field value");
        const char *ve;
        if (*v == '"') {
            uint32_t sesc = 0;
            ve = v + 1;
            while (ve < le && *ve != '"') {
                if (*ve == '\\') {
                    sesc = 1;
                    ve += 2;
                } else {
                    ve++;
                }
            }
            if (ve >= le)
                return fail(lc, v, "unbalanced quotes");
            f->type = SB_LP_STRING;
            f->v.s = (sb_lp_str){v + 1, (uint32_t)(ve - v - 1), sesc};
            ve++;
            if (ve < le && *ve != ',' && *ve != ' ')
                return fail(lc, ve, "invalid field format (text after closing quote)");
        } else {
            ve = v;
            while (ve < le && *ve != ',' && *ve != ' ')
                ve++;
            rv = parse_value(lc, v, ve, f);
            if (rv)
                return rv;
        }
        p = ve;
        if (p < le && *p == ',') {
            p++;
            continue;
        }
        break;
    }
    *pp = p;
    return 0;
}

static int parse_line(sb_lp_parser *ps, const line_ctx *lc, const char *p, const char *le,
                      sb_lp_point *pt)
{
    if (has_high_bit(p, le)) {
        size_t bad = utf8_check((const uint8_t *)p, (size_t)(le - p));
        if (bad != (size_t)(le - p))
            return fail(lc, p + bad, "invalid UTF-8");
    }
    uint32_t esc = 0;
    int nul = 0;
    const char *q = scan_name(p, le, STOP_MEASUREMENT, &esc, &nul);
    if (q == p)
        return fail(lc, p, "missing measurement");
    if (nul)
        return fail(lc, p, "NUL byte in measurement");
    pt->measurement = (sb_lp_str){p, (uint32_t)(q - p), esc};
    p = q;
    int ntags = 0, nfields = 0, rv;
    if ((rv = parse_tags(ps, lc, &p, le, &ntags)))
        return rv;
    while (p < le && is_blank(*p))
        p++;
    if (p == le)
        return fail(lc, p, "missing fields");
    if ((rv = parse_fields(ps, lc, &p, le, &nfields)))
        return rv;
    while (p < le && is_blank(*p))
        p++;
    pt->has_time = 0;
    pt->time = 0;
    if (p < le) {
        q = p;
        while (q < le && !is_blank(*q))
            q++;
        rv = parse_i64(p, q, &pt->time);
        if (rv == -1)
            return fail(lc, p, "bad timestamp");
        if (rv == -2)
            return fail(lc, p, "timestamp out of range");
        pt->has_time = 1;
        while (q < le && is_blank(*q))
            q++;
        if (q < le)
            return fail(lc, q, "bad timestamp (unexpected text after it)");
    }
    pt->tags = ps->tags;
    pt->ntags = ntags;
    pt->fields = ps->fields;
    pt->nfields = nfields;
    pt->line = lc->line;
    return 1;
}

int sb_lp_next(sb_lp_parser *ps, sb_lp_point *pt, char *errmsg)
{
    while (ps->p < ps->end) {
        const char *ls = ps->p;
        const char *nl = memchr(ls, '\n', (size_t)(ps->end - ls));
        const char *le = nl ? nl : ps->end;
        ps->p = nl ? nl + 1 : ps->end;
        ps->line++;
        if (le > ls && le[-1] == '\r')
            le--;
        const char *p = ls;
        while (p < le && is_blank(*p))
            p++;
        if (p == le || *p == '#')
            continue;
        line_ctx lc = {ps->line, ls, errmsg};
        return parse_line(ps, &lc, p, le, pt);
    }
    return 0;
}

size_t sb_lp_unescape(sb_lp_str s, int kind, char *out)
{
    if (!s.esc) {
        memcpy(out, s.p, s.len);
        return s.len;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c != '\\' || i + 1 == s.len) {
            out[n++] = c;
            continue;
        }
        char d = s.p[++i];
        int special;
        if (kind == SB_LP_ESC_MEASUREMENT)
            special = d == ',' || d == ' ';
        else if (kind == SB_LP_ESC_KEY)
            special = d == ',' || d == '=' || d == ' ';
        else
            special = d == '"' || d == '\\';
        if (!special)
            out[n++] = '\\';
        out[n++] = d;
    }
    return n;
}
