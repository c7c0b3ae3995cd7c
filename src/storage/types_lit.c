/*
 * CQL literals to value serializations, and collection building.
 *
 * NOTES ON THE DESIGN
 *
 * The CQL lexer has already classified a literal (SB_LIT_*) and stripped
 * its quotes; here the kind meets the target type. Which kind fits which
 * type follows Cassandra (see types.h). Every error names the literal and
 * the type, in Cassandra's words where it has some ("invalid INTEGER
 * constant (42) for type text"), and leaves `out` unchanged.
 *
 * Parsers here never read past `len`: the text is not NUL-terminated.
 */
#include "storage/types.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/types_int.h"
#include "util/err.h"
#include "util/hex.h"

#define MS_PER_DAY 86400000LL
#define NS_PER_DAY 86400000000000LL
#define SHOW 64 /* literal characters quoted in error messages */

const char *sb_lit_kind_name(int kind)
{
    switch (kind) {
    case SB_LIT_STRING:
        return "STRING";
    case SB_LIT_INTEGER:
        return "INTEGER";
    case SB_LIT_FLOAT:
        return "FLOAT";
    case SB_LIT_BOOL:
        return "BOOLEAN";
    case SB_LIT_UUID:
        return "UUID";
    case SB_LIT_HEX:
        return "HEX";
    }
    return "unknown";
}

static int show_len(size_t len)
{
    return (int)(len > SHOW ? SHOW : len);
}

static const char *ellipsis(size_t len)
{
    return len > SHOW ? "..." : "";
}

static int mismatch(char *errmsg, sb_type t, int kind, const char *s, size_t len)
{
    char tn[64];
    const char *q = kind == SB_LIT_STRING ? "'" : "";
    return sb_seterr(errmsg, SB_EINVALID, "invalid %s constant (%s%.*s%s%s) for type %s",
                     sb_lit_kind_name(kind), q, show_len(len), s, ellipsis(len), q,
                     sb_type_name(t, tn, sizeof(tn)));
}

/* ---- numbers ----------------------------------------------------------- */

/* [-+]digits: sign and the digits without leading zeros ("0" for zero). */
static int split_integer(const char *s, size_t n, int *neg, const char **dg, size_t *nd)
{
    size_t i = 0;
    *neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        *neg = s[i++] == '-';
    if (i == n)
        return -1;
    for (size_t j = i; j < n; j++)
        if (s[j] < '0' || s[j] > '9')
            return -1;
    while (i + 1 < n && s[i] == '0')
        i++;
    *dg = s + i;
    *nd = n - i;
    if (*nd == 1 && **dg == '0')
        *neg = 0;
    return 0;
}

/* Integer text to int64; 1 when it does not fit. */
static int integer_to_i64(const char *s, size_t n, int64_t *v)
{
    int neg;
    const char *dg;
    size_t nd;
    if (split_integer(s, n, &neg, &dg, &nd))
        return -1;
    if (nd > 19)
        return 1;
    uint64_t m = 0;
    for (size_t i = 0; i < nd; i++)
        m = m * 10 + (uint64_t)(dg[i] - '0');
    if (m > (uint64_t)INT64_MAX + (uint64_t)neg)
        return 1;
    *v = neg ? (int64_t)(0 - m) : (int64_t)m;
    return 0;
}

static int out_of_range(char *errmsg, const char *s, size_t len, const char *what)
{
    return sb_seterr(errmsg, SB_EINVALID, "value %.*s%s out of range for %s", show_len(len), s,
                     ellipsis(len), what);
}

/* Decimal text ([-+]digits[.digits][e[-+]digits]) to decimal's
 * serialization. */
static int put_decimal_text(sb_buf *out, const char *s, size_t n, char *errmsg)
{
    sb_buf dg;
    sb_buf_init(&dg);
    size_t i = 0, nfrac = 0;
    int neg = 0, rv = 0, any = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1)
        if ((rv = sb_buf_putc(&dg, (uint8_t)s[i])))
            goto fail;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nfrac++, any = 1)
            if ((rv = sb_buf_putc(&dg, (uint8_t)s[i])))
                goto fail;
    int64_t exp = 0;
    if (any && i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, edig = 0;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, edig++)
            if (exp < 10000000000LL)
                exp = exp * 10 + (s[i] - '0');
        if (!edig)
            any = 0;
        if (eneg)
            exp = -exp;
    }
    if (!any || i != n) {
        rv = sb_seterr(errmsg, SB_EINVALID, "invalid decimal value '%.*s%s'", show_len(n), s,
                       ellipsis(n));
        goto fail;
    }
    int64_t scale = (int64_t)nfrac - exp;
    if (scale < INT32_MIN || scale > INT32_MAX) {
        rv = out_of_range(errmsg, s, n, "decimal (scale must fit 32 bits)");
        goto fail;
    }
    size_t lead = 0;
    while (lead + 1 < dg.len && dg.data[lead] == '0')
        lead++;
    size_t start = out->len;
    if (!(rv = sb_buf_put_u32be(out, (uint32_t)(int32_t)scale)))
        rv = types_dec_to_varint(out, (const char *)dg.data + lead, dg.len - lead, neg);
    if (rv == SB_ETOOBIG)
        rv = out_of_range(errmsg, s, n, "decimal (too many digits)");
    if (rv)
        out->len = start;
fail:
    sb_buf_free(&dg);
    return rv;
}

static int put_double_text(sb_buf *out, uint8_t id, const char *s, size_t n, char *errmsg)
{
    char tmp[400];
    if (n >= sizeof(tmp))
        return out_of_range(errmsg, s, n, id == SB_TYPE_FLOAT ? "float" : "double");
    memcpy(tmp, s, n);
    tmp[n] = 0;
    const char *p = tmp[0] == '-' || tmp[0] == '+' ? tmp + 1 : tmp;
    int special = strcmp(p, "NaN") == 0 || strcmp(p, "Infinity") == 0;
    double v;
    if (special) {
        v = p[0] == 'N' ? NAN : tmp[0] == '-' ? -INFINITY : INFINITY;
    } else {
        /* Only plain decimal notation: strtod would also take hex, "inf". */
        for (const char *c = p; *c; c++)
            if (!strchr("0123456789.eE+-", *c))
                return sb_seterr(errmsg, SB_EINVALID, "invalid %s value '%s'",
                                 id == SB_TYPE_FLOAT ? "float" : "double", tmp);
        char *end;
        errno = 0;
        v = strtod(tmp, &end);
        if (*end || end == tmp)
            return sb_seterr(errmsg, SB_EINVALID, "invalid %s value '%s'",
                             id == SB_TYPE_FLOAT ? "float" : "double", tmp);
        if (errno == ERANGE && isinf(v))
            return out_of_range(errmsg, s, n, "double");
    }
    if (sb_value_put_double(out, id, v))
        return out_of_range(errmsg, s, n, "float");
    return 0;
}

static int from_integer(sb_buf *out, sb_type t, const char *s, size_t n, char *errmsg)
{
    int64_t v;
    int r;
    const char *name = sb_type_id_name(t.id);
    switch (t.id) {
    case SB_TYPE_VARINT: {
        int neg;
        const char *dg;
        size_t nd;
        if (split_integer(s, n, &neg, &dg, &nd))
            break;
        int rv = types_dec_to_varint(out, dg, nd, neg);
        return rv == SB_ETOOBIG ? out_of_range(errmsg, s, n, "varint (too many digits)") : rv;
    }
    case SB_TYPE_DECIMAL:
        return put_decimal_text(out, s, n, errmsg);
    case SB_TYPE_FLOAT:
    case SB_TYPE_DOUBLE:
        return put_double_text(out, t.id, s, n, errmsg);
    case SB_TYPE_DATE:
        /* The raw serialized day number, as Cassandra reads digits. */
        r = integer_to_i64(s, n, &v);
        if (r < 0)
            break;
        if (r > 0 || v < 0 || v > UINT32_MAX)
            return out_of_range(errmsg, s, n, "date (0..4294967295, epoch at 2147483648)");
        return sb_buf_put_u32be(out, (uint32_t)v);
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_TIME:
        r = integer_to_i64(s, n, &v);
        if (r < 0)
            break;
        if (r > 0 || sb_value_put_int(out, t.id, v))
            return out_of_range(errmsg, s, n,
                                t.id == SB_TYPE_TIME ? "time (0..86399999999999 ns)" : name);
        return 0;
    default:
        return mismatch(errmsg, t, SB_LIT_INTEGER, s, n);
    }
    return sb_seterr(errmsg, SB_EINVALID, "invalid integer literal '%.*s%s'", show_len(n), s,
                     ellipsis(n));
}

/* ---- dates and times ----------------------------------------------------- */

typedef struct cur {
    const char *s;
    size_t n, i;
} cur;

static int cur_peek(cur *c)
{
    return c->i < c->n ? (unsigned char)c->s[c->i] : -1;
}

/* Reads min..max digits. */
static int cur_num(cur *c, int min, int max, int64_t *v)
{
    int k = 0;
    *v = 0;
    while (k < max && c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        *v = *v * 10 + (c->s[c->i++] - '0');
        k++;
    }
    return k >= min ? 0 : -1;
}

static int cur_char(cur *c, char ch)
{
    if (cur_peek(c) != (unsigned char)ch)
        return -1;
    c->i++;
    return 0;
}

static int days_in_month(int64_t y, int64_t m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dm[m - 1] + (m == 2 && leap);
}

/* [-]yyyy-mm-dd into days since 1970-01-01; why names what was wrong. */
static int parse_ymd(cur *c, int64_t *days, const char **why)
{
    int64_t y, m, d;
    int neg = cur_char(c, '-') == 0;
    if (cur_num(c, 1, 9, &y) || cur_char(c, '-') || cur_num(c, 1, 2, &m) || cur_char(c, '-') ||
        cur_num(c, 1, 2, &d)) {
        *why = "expected yyyy-mm-dd";
        return -1;
    }
    if (neg)
        y = -y;
    if (m < 1 || m > 12) {
        *why = "month out of range";
        return -1;
    }
    if (d < 1 || d > days_in_month(y, m)) {
        *why = "day out of range";
        return -1;
    }
    *days = types_days_from_civil(y, (int)m, (int)d);
    return 0;
}

/* hh:mm[:ss[.fffffffff]] into ns since midnight. */
static int parse_hms(cur *c, int need_seconds, int64_t *ns, const char **why)
{
    int64_t h, mi, sec = 0, frac = 0;
    if (cur_num(c, 1, 2, &h) || cur_char(c, ':') || cur_num(c, 2, 2, &mi)) {
        *why = need_seconds ? "expected hh:mm:ss[.fffffffff]" : "expected hh:mm[:ss[.fff]]";
        return -1;
    }
    if (cur_char(c, ':') == 0) {
        if (cur_num(c, 2, 2, &sec)) {
            *why = "expected two digits of seconds";
            return -1;
        }
        if (cur_char(c, '.') == 0) {
            size_t start = c->i;
            if (cur_num(c, 1, 9, &frac)) {
                *why = "expected digits after '.'";
                return -1;
            }
            for (size_t k = c->i - start; k < 9; k++)
                frac *= 10;
        }
    } else if (need_seconds) {
        *why = "expected hh:mm:ss[.fffffffff]";
        return -1;
    }
    if (h > 23 || mi > 59 || sec > 59) {
        *why = h > 23    ? "hour out of range"
               : mi > 59 ? "minute out of range"
                         : "second out of range";
        return -1;
    }
    *ns = ((h * 60 + mi) * 60 + sec) * 1000000000LL + frac;
    return 0;
}

static int all_digits(const char *s, size_t n)
{
    size_t i = n && s[0] == '-';
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int parse_timestamp(const char *s, size_t n, int64_t *ms, const char **why)
{
    cur c = {s, n, 0};
    int64_t days, ns = 0, off_min = 0;
    if (parse_ymd(&c, &days, why))
        return -1;
    if (cur_peek(&c) == ' ' || cur_peek(&c) == 'T' || cur_peek(&c) == 't') {
        size_t save = c.i++;
        if (cur_peek(&c) >= '0' && cur_peek(&c) <= '9') {
            if (parse_hms(&c, 0, &ns, why))
                return -1;
        } else {
            c.i = save; /* a space before the zone */
        }
    }
    while (cur_peek(&c) == ' ')
        c.i++;
    int z = cur_peek(&c);
    if (z == 'Z' || z == 'z') {
        c.i++;
    } else if (z == '+' || z == '-') {
        int64_t zh, zm = 0;
        c.i++;
        if (cur_num(&c, 2, 2, &zh)) {
            *why = "expected a zone offset +hh[:mm] or +hhmm";
            return -1;
        }
        cur_char(&c, ':');
        if (cur_peek(&c) >= '0' && cur_peek(&c) <= '9' && cur_num(&c, 2, 2, &zm)) {
            *why = "expected two digits of zone minutes";
            return -1;
        }
        if (zh > 18 || zm > 59) {
            *why = "zone offset out of range";
            return -1;
        }
        off_min = (zh * 60 + zm) * (z == '-' ? -1 : 1);
    }
    if (c.i != n) {
        *why = "unexpected text after the timestamp";
        return -1;
    }
    /* Years are at most 9 digits, so days * MS_PER_DAY may overflow; for
     * negative days count from the day's end so INT64_MIN stays reachable. */
    int64_t v, in_day = ns / 1000000;
    if (days < 0)
        days++, in_day -= MS_PER_DAY;
    if (__builtin_mul_overflow(days, MS_PER_DAY, &v) || __builtin_add_overflow(v, in_day, &v) ||
        __builtin_sub_overflow(v, off_min * 60000, &v)) {
        *why = "out of range";
        return -1;
    }
    *ms = v;
    return 0;
}

static int bad_string(char *errmsg, const char *what, const char *s, size_t n, const char *why)
{
    return sb_seterr(errmsg, SB_EINVALID, "unable to parse %s '%.*s%s': %s", what, show_len(n), s,
                     ellipsis(n), why);
}

/* Only the 8-4-4-4-12 form, as Cassandra. */
static int parse_uuid(const char *s, size_t n, uint8_t u[16])
{
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return -1;
    return sb_uuid_parse(s, n, u);
}

static int put_uuid_text(sb_buf *out, sb_type t, const char *s, size_t n, char *errmsg)
{
    uint8_t u[16];
    if (parse_uuid(s, n, u))
        return sb_seterr(errmsg, SB_EINVALID, "invalid uuid '%.*s%s'", show_len(n), s, ellipsis(n));
    if (t.id == SB_TYPE_TIMEUUID && (u[6] >> 4) != 1)
        return sb_seterr(errmsg, SB_EINVALID,
                         "%.*s is not a version 1 uuid (version %d): timeuuid needs one", (int)n, s,
                         u[6] >> 4);
    return sb_buf_append(out, u, 16);
}

static int from_string(sb_buf *out, sb_type t, const char *s, size_t n, char *errmsg)
{
    const char *why = NULL;
    int64_t v;
    cur c = {s, n, 0};
    switch (t.id) {
    case SB_TYPE_TEXT: {
        long bad = types_utf8_check((const uint8_t *)s, n);
        if (bad >= 0)
            return sb_seterr(errmsg, SB_EINVALID, "invalid UTF-8 at byte %ld of text literal", bad);
        return sb_buf_append(out, s, n);
    }
    case SB_TYPE_ASCII:
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] & 0x80)
                return sb_seterr(errmsg, SB_EINVALID,
                                 "invalid ascii literal: non-ASCII byte 0x%02x at offset %zu",
                                 (unsigned char)s[i], i);
        return sb_buf_append(out, s, n);
    case SB_TYPE_TIMESTAMP:
        if (all_digits(s, n)) {
            if (integer_to_i64(s, n, &v))
                return out_of_range(errmsg, s, n, "timestamp");
        } else if (parse_timestamp(s, n, &v, &why)) {
            return bad_string(errmsg, "timestamp", s, n, why);
        }
        return sb_buf_put_u64be(out, (uint64_t)v);
    case SB_TYPE_DATE:
        if (all_digits(s, n))
            return from_integer(out, t, s, n, errmsg);
        if (parse_ymd(&c, &v, &why) == 0 && c.i != n)
            why = "unexpected text after the date";
        if (why)
            return bad_string(errmsg, "date", s, n, why);
        if (sb_value_put_int(out, SB_TYPE_DATE, v))
            return out_of_range(errmsg, s, n, "date");
        return 0;
    case SB_TYPE_TIME:
        if (all_digits(s, n))
            return from_integer(out, t, s, n, errmsg);
        if (parse_hms(&c, 1, &v, &why) == 0 && c.i != n)
            why = "unexpected text after the time";
        if (why)
            return bad_string(errmsg, "time", s, n, why);
        return sb_buf_put_u64be(out, (uint64_t)v);
    case SB_TYPE_INET: {
        char tmp[64];
        uint8_t a[16];
        if (n < sizeof(tmp)) {
            memcpy(tmp, s, n);
            tmp[n] = 0;
            if (inet_pton(AF_INET, tmp, a) == 1)
                return sb_buf_append(out, a, 4);
            if (inet_pton(AF_INET6, tmp, a) == 1)
                return sb_buf_append(out, a, 16);
        }
        return bad_string(errmsg, "inet", s, n, "not an IPv4 or IPv6 address");
    }
    case SB_TYPE_UUID:
    case SB_TYPE_TIMEUUID:
        return put_uuid_text(out, t, s, n, errmsg);
    case SB_TYPE_BLOB:
        return sb_seterr(errmsg, SB_EINVALID,
                         "invalid STRING constant ('%.*s%s') for type blob: write blobs as hex "
                         "(0x...)",
                         show_len(n), s, ellipsis(n));
    }
    return mismatch(errmsg, t, SB_LIT_STRING, s, n);
}

static int from_hex(sb_buf *out, const char *s, size_t n, char *errmsg)
{
    if (n < 2 || s[0] != '0' || (s[1] | 0x20) != 'x')
        return sb_seterr(errmsg, SB_EINVALID, "invalid hex literal '%.*s%s': expected 0x...",
                         show_len(n), s, ellipsis(n));
    if (n % 2)
        return sb_seterr(errmsg, SB_EINVALID, "hex literal %.*s%s has an odd number of digits",
                         show_len(n), s, ellipsis(n));
    size_t bad = 2 + sb_hex_invalid(s + 2, n - 2);
    if (bad < n)
        return sb_seterr(errmsg, SB_EINVALID, "invalid hex digit '%c' at offset %zu", s[bad], bad);
    int rv = sb_buf_reserve(out, (n - 2) / 2);
    if (rv)
        return rv;
    sb_hex_decode(out->data + out->len, s + 2, n - 2);
    out->len += (n - 2) / 2;
    return 0;
}

int sb_value_from_literal(sb_buf *out, sb_type t, int kind, const char *text, size_t len,
                          char *errmsg)
{
    if (sb_type_is_collection(t))
        return mismatch(errmsg, t, kind, text, len);
    size_t start = out->len;
    int rv;
    switch (kind) {
    case SB_LIT_INTEGER:
        rv = from_integer(out, t, text, len, errmsg);
        break;
    case SB_LIT_FLOAT:
        if (t.id == SB_TYPE_FLOAT || t.id == SB_TYPE_DOUBLE)
            rv = put_double_text(out, t.id, text, len, errmsg);
        else if (t.id == SB_TYPE_DECIMAL)
            rv = put_decimal_text(out, text, len, errmsg);
        else
            rv = mismatch(errmsg, t, kind, text, len);
        break;
    case SB_LIT_STRING:
        rv = from_string(out, t, text, len, errmsg);
        break;
    case SB_LIT_BOOL:
        if (t.id != SB_TYPE_BOOLEAN)
            rv = mismatch(errmsg, t, kind, text, len);
        else if (len == 4 && strncasecmp(text, "true", 4) == 0)
            rv = sb_value_put_bool(out, 1);
        else if (len == 5 && strncasecmp(text, "false", 5) == 0)
            rv = sb_value_put_bool(out, 0);
        else
            rv = sb_seterr(errmsg, SB_EINVALID, "invalid boolean literal '%.*s%s'", show_len(len),
                           text, ellipsis(len));
        break;
    case SB_LIT_UUID:
        if (t.id == SB_TYPE_UUID || t.id == SB_TYPE_TIMEUUID)
            rv = put_uuid_text(out, t, text, len, errmsg);
        else
            rv = mismatch(errmsg, t, kind, text, len);
        break;
    case SB_LIT_HEX:
        rv = t.id == SB_TYPE_BLOB ? from_hex(out, text, len, errmsg)
                                  : mismatch(errmsg, t, kind, text, len);
        break;
    default:
        rv = sb_seterr(errmsg, SB_EINVALID, "unknown literal kind %d", kind);
    }
    if (rv == SB_ENOMEM)
        sb_seterr(errmsg, rv, "out of memory");
    if (rv)
        out->len = start;
    return rv;
}

/* ---- collections --------------------------------------------------------- */

typedef struct sortctx {
    uint8_t id;
    const sb_value *keys;
    int stride;
} sortctx;

/* Stable merge sort of entry indices by key. */
static void msort(int *a, int *tmp, int n, const sortctx *c)
{
    if (n < 2)
        return;
    int h = n / 2;
    msort(a, tmp, h, c);
    msort(a + h, tmp, n - h, c);
    int i = 0, j = h, k = 0;
    sb_type t = {c->id, 0, 0, 0};
    while (i < h && j < n)
        tmp[k++] = sb_value_cmp(t, c->keys[a[j] * c->stride], c->keys[a[i] * c->stride]) < 0
                       ? a[j++]
                       : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, sizeof(int) * (size_t)n);
}

int sb_value_build_collection(sb_buf *out, sb_type t, const sb_value *elems, int n, char *errmsg)
{
    char tn[64], sub[SB_ERRMSG_SIZE];
    if (!sb_type_is_collection(t))
        return sb_seterr(errmsg, SB_EINVALID, "%s is not a collection type",
                         sb_type_name(t, tn, sizeof(tn)));
    int stride = t.id == SB_TYPE_MAP ? 2 : 1;
    if (n < 0 || n % stride)
        return sb_seterr(errmsg, SB_EINVALID, "map literal needs key: value pairs");
    for (int i = 0; i < n; i++) {
        uint8_t id = (stride == 2 && (i & 1)) ? t.b : t.a;
        if (elems[i].len < 0)
            return sb_seterr(errmsg, SB_EINVALID, "null is not supported inside collections");
        sb_type et = {id, 0, 0, 0};
        if (sb_value_validate(et, elems[i].p, (size_t)elems[i].len, sub))
            return sb_seterr(errmsg, SB_EINVALID, "element %d of %s: %s", i / stride,
                             sb_type_name(t, tn, sizeof(tn)), sub);
    }
    int entries = n / stride, kept = entries;
    int *idx = malloc(sizeof(int) * (size_t)(entries ? entries : 1) * 2);
    if (!idx)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    for (int i = 0; i < entries; i++)
        idx[i] = i;
    if (t.id != SB_TYPE_LIST) {
        sortctx c = {t.a, elems, stride};
        msort(idx, idx + entries, entries, &c);
        /* Keep the last of each run of equal keys (later map entries win). */
        sb_type kt = {t.a, 0, 0, 0};
        kept = 0;
        for (int i = 0; i < entries; i++) {
            if (i + 1 < entries &&
                sb_value_cmp(kt, elems[idx[i] * stride], elems[idx[i + 1] * stride]) == 0)
                continue;
            idx[kept++] = idx[i];
        }
    }
    size_t start = out->len;
    int rv = sb_buf_put_u32be(out, (uint32_t)kept);
    for (int i = 0; i < kept && !rv; i++)
        for (int k = 0; k < stride && !rv; k++) {
            sb_value e = elems[idx[i] * stride + k];
            rv = sb_buf_put_u32be(out, (uint32_t)e.len);
            if (!rv)
                rv = sb_buf_append(out, e.p, (size_t)e.len);
        }
    free(idx);
    if (!rv && out->len - start > INT32_MAX)
        rv = SB_ETOOBIG;
    if (rv) {
        out->len = start;
        return sb_seterr(errmsg, rv, "%s",
                         rv == SB_ENOMEM ? "out of memory" : "collection too large");
    }
    return 0;
}
