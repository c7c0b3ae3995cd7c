/*
 * CQL values as text: cqlsh-style display, CQL literals, JSON,
 * constructors, literal parsing and collection building.
 *
 * NOTES ON THE DESIGN
 *
 * Three renderings, one per audience:
 *
 *   sb_value_format      what cqlsh shows in a result table: text
 *                        unquoted (backslash and control characters
 *                        escaped, as cqlsh does), strings inside
 *                        collections quoted, booleans True/False,
 *                        timestamps "2026-11-21 15:04:05.123000+0000",
 *                        time "15:04:05.123456789", null as "null".
 *   sb_value_format_cql  a CQL literal that parses back to the same
 *                        value: 'it''s', true, '2026-11-21 15:04:05.123+0000'.
 *   sb_value_to_json     JSON as the header describes.
 *
 * Floating point values are printed with the fewest significant digits
 * that read back to the same float/double ("%g" style: 21.5, 1e+20), NaN
 * and infinities as NaN / Infinity / -Infinity. Decimals are printed as
 * Java's BigDecimal.toString (which Cassandra and Python's Decimal share):
 * plain unless the scale is negative or the number is below 1e-6.
 *
 * Literals follow Cassandra's assignment rules: an INTEGER literal fits
 * integers, varint, decimal, float, double, timestamp (ms), date (the raw
 * unsigned day number, epoch at 2^31) and time (ns); a FLOAT literal fits
 * float, double and decimal; a STRING fits text, ascii, timestamp, date,
 * time, inet, uuid and timeuuid; blobs take only hex literals. Timestamps
 * without a zone are taken as UTC; fractions of a second beyond
 * milliseconds are truncated.
 */
#include "storage/types.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/types_int.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/json.h"

#define MS_PER_DAY 86400000LL
#define NS_PER_DAY 86400000000000LL

/* ---- small renderers ------------------------------------------------- */

static int put_date_days(sb_buf *out, int64_t days)
{
    int64_t y;
    int m, d;
    types_civil_from_days(days, &y, &m, &d);
    if (y < 0)
        return sb_buf_printf(out, "-%04lld-%02d-%02d", -(long long)y, m, d);
    return sb_buf_printf(out, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* style 0: cqlsh "2026-11-21 15:04:05.123000+0000"; 1: JSON ISO
 * "2026-11-21T15:04:05.123Z"; 2: CQL literal "2026-11-21 15:04:05.123+0000" */
static int put_timestamp(sb_buf *out, int64_t ms, int style)
{
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) { /* floor, without overflowing near INT64_MIN */
        rem += MS_PER_DAY;
        days--;
    }
    int rv = put_date_days(out, days);
    if (rv)
        return rv;
    int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
    int f = (int)(rem % 1000);
    if (style == 0)
        return sb_buf_printf(out, " %02d:%02d:%02d.%03d000+0000", h, mi, s, f);
    if (style == 1)
        return sb_buf_printf(out, "T%02d:%02d:%02d.%03dZ", h, mi, s, f);
    return sb_buf_printf(out, " %02d:%02d:%02d.%03d+0000", h, mi, s, f);
}

static int put_time(sb_buf *out, int64_t ns)
{
    return sb_buf_printf(out, "%02lld:%02lld:%02lld.%09lld", (long long)(ns / 3600000000000LL),
                         (long long)(ns / 60000000000LL % 60), (long long)(ns / 1000000000 % 60),
                         (long long)(ns % 1000000000));
}

static int put_float(sb_buf *out, double v, int is_float)
{
    if (isnan(v))
        return sb_buf_printf(out, "NaN");
    if (isinf(v))
        return sb_buf_printf(out, v > 0 ? "Infinity" : "-Infinity");
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
            break;
    }
    /* %g switches to an exponent as soon as it exceeds the digits kept, so
     * 40 would come out as "4e+01". Like Python's repr, write whole
     * numbers below 1e16 in full: the shortest digits padded with zeros. */
    char *e = strchr(tmp, 'e');
    if (e && e[1] == '+' && atoi(e + 2) < 16) {
        int exp10 = atoi(e + 2);
        char digits[40];
        int n = 0;
        for (const char *p = tmp; p < e; p++)
            if (*p >= '0' && *p <= '9')
                digits[n++] = *p;
        while (n <= exp10)
            digits[n++] = '0';
        digits[n] = 0;
        return sb_buf_printf(out, "%s%s", v < 0 ? "-" : "", digits);
    }
    return sb_buf_printf(out, "%s", tmp);
}

static double get_float(const uint8_t *p, int n)
{
    uint64_t bits = types_get_be(p, n);
    if (n == 4) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        return f;
    }
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* BigDecimal.toString of unscaled p[0..n) (varint) and scale. */
static int put_decimal(sb_buf *out, int32_t scale, const uint8_t *p, size_t n)
{
    sb_buf ds;
    sb_buf_init(&ds);
    int rv = types_varint_to_dec(&ds, p, n);
    if (rv)
        goto fail;
    int neg = ds.data[0] == '-';
    const char *dg = (const char *)ds.data + neg;
    int64_t nd = (int64_t)ds.len - neg, adjusted = nd - 1 - (int64_t)scale;
    if (neg && (rv = sb_buf_putc(out, '-')))
        goto fail;
    if (scale >= 0 && adjusted >= -6) {
        if (scale == 0) {
            rv = sb_buf_append(out, dg, (size_t)nd);
        } else if (nd > scale) {
            rv = sb_buf_append(out, dg, (size_t)(nd - scale));
            if (!rv)
                rv = sb_buf_putc(out, '.');
            if (!rv)
                rv = sb_buf_append(out, dg + nd - scale, (size_t)scale);
        } else {
            rv = sb_buf_append(out, "0.", 2);
            for (int64_t i = 0; i < scale - nd && !rv; i++)
                rv = sb_buf_putc(out, '0');
            if (!rv)
                rv = sb_buf_append(out, dg, (size_t)nd);
        }
    } else {
        rv = sb_buf_putc(out, (uint8_t)dg[0]);
        if (!rv && nd > 1) {
            rv = sb_buf_putc(out, '.');
            if (!rv)
                rv = sb_buf_append(out, dg + 1, (size_t)(nd - 1));
        }
        if (!rv)
            rv = sb_buf_printf(out, "E%s%lld", adjusted >= 0 ? "+" : "", (long long)adjusted);
    }
fail:
    sb_buf_free(&ds);
    return rv;
}

static int put_inet(sb_buf *out, const uint8_t *p, size_t n)
{
    char tmp[INET6_ADDRSTRLEN];
    if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, p, tmp, sizeof(tmp)))
        return SB_EINVAL;
    return sb_buf_printf(out, "%s", tmp);
}

/* Text as cqlsh shows it: backslashes doubled, control characters
 * escaped; quoted (with '' for ') when inside a collection or a literal. */
static int put_text(sb_buf *out, const uint8_t *p, size_t n, int quoted)
{
    int rv = quoted ? sb_buf_putc(out, '\'') : 0;
    for (size_t i = 0; i < n && !rv; i++) {
        uint8_t c = p[i];
        if (quoted && c == '\'')
            rv = sb_buf_append(out, "''", 2);
        else if (quoted)
            rv = sb_buf_putc(out, c);
        else if (c == '\\')
            rv = sb_buf_append(out, "\\\\", 2);
        else if (c == '\n')
            rv = sb_buf_append(out, "\\n", 2);
        else if (c == '\t')
            rv = sb_buf_append(out, "\\t", 2);
        else if (c == '\r')
            rv = sb_buf_append(out, "\\r", 2);
        else if (c < 0x20 || c == 0x7F)
            rv = sb_buf_printf(out, "\\x%02x", c);
        else
            rv = sb_buf_putc(out, c);
    }
    return rv ? rv : quoted ? sb_buf_putc(out, '\'') : 0;
}

/* ---- rendering ------------------------------------------------------- */

enum { R_CQLSH, R_CQLSH_NESTED, R_CQL, R_JSON };

static int render(sb_buf *out, sb_type t, const uint8_t *p, int32_t len, int mode);

static int render_scalar(sb_buf *out, uint8_t id, const uint8_t *p, size_t n, int mode)
{
    int json = mode == R_JSON, lit = mode == R_CQL;
    int quote_str = mode == R_CQL || mode == R_CQLSH_NESTED;
    switch (id) {
    case SB_TYPE_TEXT:
    case SB_TYPE_ASCII:
        return json ? sb_json_append_string(out, (const char *)p, n)
                    : put_text(out, p, n, quote_str);
    case SB_TYPE_BLOB: {
        int rv = sb_buf_printf(out, json ? "\"0x" : "0x");
        if (!rv)
            rv = sb_hex_append(out, p, n);
        return rv || !json ? rv : sb_buf_putc(out, '"');
    }
    }
    if (n == 0) { /* an empty non-text value has no rendering of its own */
        if (json)
            return sb_buf_printf(out, "null");
        if (lit)
            return sb_buf_printf(out, "blobAs%c%s(0x)", sb_type_id_name(id)[0] - 32,
                                 sb_type_id_name(id) + 1);
        return 0;
    }
    const char *q = (json || lit) ? "\"" : "";
    if (lit)
        q = "'";
    int rv;
    switch (id) {
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT: {
        int sh = 64 - (int)n * 8;
        return sb_buf_printf(out, "%lld",
                             (long long)((int64_t)(types_get_be(p, (int)n) << sh) >> sh));
    }
    case SB_TYPE_BOOLEAN:
        return sb_buf_printf(out, "%s",
                             mode <= R_CQLSH_NESTED ? (p[0] ? "True" : "False")
                                                    : (p[0] ? "true" : "false"));
    case SB_TYPE_FLOAT:
    case SB_TYPE_DOUBLE: {
        double v = get_float(p, (int)n);
        if (json && !isfinite(v)) {
            sb_buf_putc(out, '"');
            rv = put_float(out, v, n == 4);
            return rv ? rv : sb_buf_putc(out, '"');
        }
        return put_float(out, v, n == 4);
    }
    case SB_TYPE_VARINT:
        return types_varint_to_dec(out, p, n);
    case SB_TYPE_DECIMAL:
        return put_decimal(out, (int32_t)types_get_be(p, 4), p + 4, n - 4);
    case SB_TYPE_UUID:
    case SB_TYPE_TIMEUUID:
        if (json && (rv = sb_buf_putc(out, '"')))
            return rv;
        rv = sb_uuid_append(out, p);
        return rv || !json ? rv : sb_buf_putc(out, '"');
    case SB_TYPE_TIMESTAMP:
        if ((rv = sb_buf_printf(out, "%s", q)) ||
            (rv = put_timestamp(out, (int64_t)types_get_be(p, 8),
                                json  ? 1
                                : lit ? 2
                                      : 0)))
            return rv;
        return sb_buf_printf(out, "%s", q);
    case SB_TYPE_DATE: {
        int64_t days = (int64_t)types_get_be(p, 4) - (int64_t)TYPES_DATE_EPOCH;
        if ((rv = sb_buf_printf(out, "%s", q)) || (rv = put_date_days(out, days)))
            return rv;
        return sb_buf_printf(out, "%s", q);
    }
    case SB_TYPE_TIME:
        if ((rv = sb_buf_printf(out, "%s", q)) || (rv = put_time(out, (int64_t)types_get_be(p, 8))))
            return rv;
        return sb_buf_printf(out, "%s", q);
    case SB_TYPE_INET:
        if ((rv = sb_buf_printf(out, "%s", q)) || (rv = put_inet(out, p, n)))
            return rv;
        return sb_buf_printf(out, "%s", q);
    }
    return SB_EINVAL;
}

/* A JSON object key: the JSON rendering, quoted when it is not a string. */
static int render_json_key(sb_buf *out, uint8_t id, const uint8_t *p, size_t n)
{
    size_t start = out->len;
    int rv = render_scalar(out, id, p, n, R_JSON);
    if (rv || (out->len > start && out->data[start] == '"'))
        return rv;
    sb_buf tmp;
    sb_buf_init(&tmp);
    rv = sb_buf_append(&tmp, out->data + start, out->len - start);
    out->len = start;
    if (!rv)
        rv = sb_json_append_string(out, (const char *)tmp.data, tmp.len);
    sb_buf_free(&tmp);
    return rv;
}

static int render(sb_buf *out, sb_type t, const uint8_t *p, int32_t len, int mode)
{
    if (len < 0)
        return sb_buf_printf(out, "null");
    char err[SB_ERRMSG_SIZE];
    if (sb_value_validate(t, p, (size_t)len, err))
        return SB_EINVAL;
    if (!sb_type_is_collection(t))
        return render_scalar(out, t.id, p, (size_t)len, mode);
    if (len == 0)
        return sb_buf_printf(out, mode == R_JSON ? "null" : "");
    int is_map = t.id == SB_TYPE_MAP;
    int json = mode == R_JSON, inner = json ? R_JSON : mode == R_CQL ? R_CQL : R_CQLSH_NESTED;
    char open = (t.id == SB_TYPE_LIST || json) ? '[' : '{', close = open == '[' ? ']' : '}';
    if (is_map && json)
        open = '{', close = '}';
    int rv = sb_buf_putc(out, (uint8_t)open);
    uint32_t cnt = (uint32_t)types_get_be(p, 4) * (is_map ? 2 : 1);
    size_t off = 4;
    for (uint32_t i = 0; i < cnt && !rv; i++) {
        size_t el = (size_t)types_get_be(p + off, 4);
        const uint8_t *ep = p + off + 4;
        off += 4 + el;
        if (i > 0)
            rv = sb_buf_append(out, (is_map && (i & 1)) ? ": " : ", ", 2);
        if (rv)
            break;
        if (is_map && !(i & 1) && json)
            rv = render_json_key(out, t.a, ep, el);
        else
            rv = render_scalar(out, (is_map && (i & 1)) ? t.b : t.a, ep, el, inner);
    }
    return rv ? rv : sb_buf_putc(out, (uint8_t)close);
}

int sb_value_format(sb_buf *out, sb_type t, sb_value v)
{
    size_t start = out->len;
    int rv = render(out, t, v.p, v.len, R_CQLSH);
    if (rv)
        out->len = start;
    return rv;
}

int sb_value_format_cql(sb_buf *out, sb_type t, sb_value v)
{
    size_t start = out->len;
    int rv = render(out, t, v.p, v.len, R_CQL);
    if (rv)
        out->len = start;
    return rv;
}

int sb_value_to_json(sb_buf *out, sb_type t, sb_value v)
{
    size_t start = out->len;
    int rv = render(out, t, v.p, v.len, R_JSON);
    if (rv)
        out->len = start;
    return rv;
}

/* ---- constructors ---------------------------------------------------- */

int sb_value_put_int(sb_buf *out, sb_type_id id, int64_t v)
{
    uint8_t tmp[9];
    switch (id) {
    case SB_TYPE_TINYINT:
        if (v < INT8_MIN || v > INT8_MAX)
            return SB_EINVAL;
        return sb_buf_putc(out, (uint8_t)v);
    case SB_TYPE_SMALLINT:
        if (v < INT16_MIN || v > INT16_MAX)
            return SB_EINVAL;
        return sb_buf_put_u16be(out, (uint16_t)v);
    case SB_TYPE_INT:
        if (v < INT32_MIN || v > INT32_MAX)
            return SB_EINVAL;
        return sb_buf_put_u32be(out, (uint32_t)v);
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
        return sb_buf_put_u64be(out, (uint64_t)v);
    case SB_TYPE_TIME:
        if (v < 0 || v >= NS_PER_DAY)
            return SB_EINVAL;
        return sb_buf_put_u64be(out, (uint64_t)v);
    case SB_TYPE_DATE:
        if (v < -(int64_t)TYPES_DATE_EPOCH || v > (int64_t)TYPES_DATE_EPOCH - 1)
            return SB_EINVAL;
        return sb_buf_put_u32be(out, (uint32_t)(v + (int64_t)TYPES_DATE_EPOCH));
    case SB_TYPE_DECIMAL:
        if (sb_buf_put_u32be(out, 0))
            return SB_ENOMEM;
        /* fall through */
    case SB_TYPE_VARINT: {
        types_put_be(tmp, (uint64_t)v, 8);
        size_t skip = types_varint_skip(tmp, 8);
        return sb_buf_append(out, tmp + skip, 8 - skip);
    }
    default:
        return SB_EINVAL;
    }
}

int sb_value_put_double(sb_buf *out, sb_type_id id, double v)
{
    if (id == SB_TYPE_DOUBLE) {
        uint64_t b;
        memcpy(&b, &v, 8);
        return sb_buf_put_u64be(out, b);
    }
    if (id == SB_TYPE_FLOAT) {
        float f = (float)v;
        if (isfinite(v) && !isfinite(f))
            return SB_EINVAL;
        uint32_t b;
        memcpy(&b, &f, 4);
        return sb_buf_put_u32be(out, b);
    }
    return SB_EINVAL;
}

int sb_value_put_bool(sb_buf *out, int v)
{
    return sb_buf_putc(out, v ? 1 : 0);
}
