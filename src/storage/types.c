/*
 * CQL types: names, validation, order, order-preserving key encoding and
 * the partition token. Rendering and literals live in types_fmt.c.
 *
 * NOTES ON THE DESIGN
 *
 * Values stay in their native-protocol serialization everywhere; this file
 * only looks at those bytes. Three views of a value must agree:
 *
 *   sb_value_cmp(t, a, b)  <=>  memcmp(keyenc(a), keyenc(b))
 *
 * for every pair of valid values, ascending; with desc=1 the component's
 * bytes are all inverted, which reverses the order. The tests check this
 * invariant on random values of every type.
 *
 * Key encoding of one component: a header byte, then a body.
 *
 *   0x01          null         (sorts first, as sb_value_cmp says)
 *   0x02          empty value  (len 0: Cassandra's "empty", below any value)
 *   0x03 body     any other value
 *
 * Bodies are prefix-free, so a component never needs a length and
 * concatenated components compare component by component:
 *
 *   tinyint..bigint, timestamp, time   big-endian, sign bit flipped
 *   date                               big-endian unsigned (as stored)
 *   boolean                            0x00 / 0x01 (any non-zero is true)
 *   float, double                      IEEE bits; negative: all bits
 *                                      inverted, else sign bit set; every
 *                                      NaN canonicalised (sorts last)
 *   text, ascii, blob, inet            bytes with 0x00 as 0x00 0xFF, then
 *                                      the terminator 0x00 0x01
 *   varint                             length class then minimal
 *                                      two's complement (see enc_varint)
 *   decimal                            sign, exponent, base-100 digits
 *                                      (see enc_decimal); normalised, so
 *                                      1.5 and 1.50 encode equally, as they
 *                                      compare equal in Cassandra
 *   timeuuid                           timestamp (time_hi, time_mid,
 *                                      time_low), then clock/node bytes
 *                                      as signed bytes: TimeUUIDType order
 *   uuid                               version nibble, then for version 1
 *                                      the timestamp, else the first 8
 *                                      bytes, then the last 8 bytes:
 *                                      UUIDType order
 *   list, set, map (frozen)            each element (map: key then value)
 *                                      as a component, then 0x00, which
 *                                      is below every element header
 *
 * Decoding gives back a serialization that compares equal to the encoded
 * one; non-canonical inputs come back canonical (minimal varints,
 * normalised decimals, boolean 0x01, one NaN).
 */
#include "storage/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/murmur3.h"
#include "storage/types_int.h"
#include "util/err.h"

enum { KE_NULL = 0x01, KE_EMPTY = 0x02, KE_VALUE = 0x03 };

/* ---- names ----------------------------------------------------------- */

static const struct {
    uint8_t id;
    const char *name;
} scalar_names[] = {
    {SB_TYPE_ASCII, "ascii"},         {SB_TYPE_BIGINT, "bigint"},
    {SB_TYPE_BLOB, "blob"},           {SB_TYPE_BOOLEAN, "boolean"},
    {SB_TYPE_DECIMAL, "decimal"},     {SB_TYPE_DOUBLE, "double"},
    {SB_TYPE_FLOAT, "float"},         {SB_TYPE_INT, "int"},
    {SB_TYPE_TIMESTAMP, "timestamp"}, {SB_TYPE_UUID, "uuid"},
    {SB_TYPE_TEXT, "text"},           {SB_TYPE_VARINT, "varint"},
    {SB_TYPE_TIMEUUID, "timeuuid"},   {SB_TYPE_INET, "inet"},
    {SB_TYPE_DATE, "date"},           {SB_TYPE_TIME, "time"},
    {SB_TYPE_SMALLINT, "smallint"},   {SB_TYPE_TINYINT, "tinyint"},
};

const char *sb_type_id_name(uint8_t id)
{
    for (size_t i = 0; i < sizeof(scalar_names) / sizeof(scalar_names[0]); i++)
        if (scalar_names[i].id == id)
            return scalar_names[i].name;
    switch (id) {
    case SB_TYPE_LIST:
        return "list";
    case SB_TYPE_SET:
        return "set";
    case SB_TYPE_MAP:
        return "map";
    }
    return NULL;
}

static int is_scalar_id(uint8_t id)
{
    return id != SB_TYPE_LIST && id != SB_TYPE_SET && id != SB_TYPE_MAP &&
           sb_type_id_name(id) != NULL;
}

const char *sb_type_name(sb_type t, char *buf, size_t size)
{
    const char *n = sb_type_id_name(t.id);
    if (!n)
        n = "?";
    if (!sb_type_is_collection(t)) {
        snprintf(buf, size, "%s", n);
        return buf;
    }
    const char *a = sb_type_id_name(t.a), *b = sb_type_id_name(t.b);
    const char *fo = t.frozen ? "frozen<" : "", *fc = t.frozen ? ">" : "";
    if (t.id == SB_TYPE_MAP)
        snprintf(buf, size, "%s%s<%s, %s>%s", fo, n, a ? a : "?", b ? b : "?", fc);
    else
        snprintf(buf, size, "%s%s<%s>%s", fo, n, a ? a : "?", fc);
    return buf;
}

typedef struct tparser {
    const char *s;
} tparser;

static void tp_ws(tparser *tp)
{
    while (*tp->s == ' ' || *tp->s == '\t' || *tp->s == '\n' || *tp->s == '\r')
        tp->s++;
}

static int tp_char(tparser *tp, char c)
{
    tp_ws(tp);
    if (*tp->s != c)
        return 0;
    tp->s++;
    return 1;
}

/* Reads an identifier, lower-cased into w (size 16); 0 if none/too long. */
static int tp_word(tparser *tp, char *w)
{
    tp_ws(tp);
    size_t n = 0;
    while ((*tp->s >= 'a' && *tp->s <= 'z') || (*tp->s >= 'A' && *tp->s <= 'Z') ||
           (*tp->s >= '0' && *tp->s <= '9') || *tp->s == '_') {
        if (n == 15)
            return 0;
        char c = *tp->s++;
        w[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    w[n] = 0;
    return n > 0;
}

static int scalar_by_name(const char *w, uint8_t *id)
{
    if (strcmp(w, "varchar") == 0) {
        *id = SB_TYPE_TEXT;
        return 1;
    }
    for (size_t i = 0; i < sizeof(scalar_names) / sizeof(scalar_names[0]); i++)
        if (strcmp(scalar_names[i].name, w) == 0) {
            *id = scalar_names[i].id;
            return 1;
        }
    return 0;
}

static int tp_scalar(tparser *tp, uint8_t *id)
{
    char w[16];
    return tp_word(tp, w) && scalar_by_name(w, id);
}

static int tp_type(tparser *tp, sb_type *out, int depth)
{
    char w[16];
    if (!tp_word(tp, w))
        return 0;
    if (strcmp(w, "frozen") == 0) {
        if (depth > 0 || !tp_char(tp, '<') || !tp_type(tp, out, depth + 1) || !tp_char(tp, '>'))
            return 0;
        if (!sb_type_is_collection(*out))
            return 0; /* frozen<> only applies to collections */
        out->frozen = 1;
        return 1;
    }
    memset(out, 0, sizeof(*out));
    if (strcmp(w, "list") == 0 || strcmp(w, "set") == 0) {
        out->id = w[0] == 'l' ? SB_TYPE_LIST : SB_TYPE_SET;
        return tp_char(tp, '<') && tp_scalar(tp, &out->a) && tp_char(tp, '>');
    }
    if (strcmp(w, "map") == 0) {
        out->id = SB_TYPE_MAP;
        return tp_char(tp, '<') && tp_scalar(tp, &out->a) && tp_char(tp, ',') &&
               tp_scalar(tp, &out->b) && tp_char(tp, '>');
    }
    return scalar_by_name(w, &out->id);
}

int sb_type_parse(const char *s, sb_type *out)
{
    tparser tp = {s};
    sb_type t;
    if (!s || !tp_type(&tp, &t, 0))
        return SB_EINVAL;
    tp_ws(&tp);
    if (*tp.s)
        return SB_EINVAL;
    *out = t;
    return 0;
}

/* ---- shared helpers (types_int.h) ------------------------------------- */

size_t types_varint_skip(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i + 1 < n &&
           ((p[i] == 0x00 && !(p[i + 1] & 0x80)) || (p[i] == 0xFF && (p[i + 1] & 0x80))))
        i++;
    return i;
}

int types_varint_to_dec(sb_buf *out, const uint8_t *p, size_t n)
{
    if (n == 0)
        return sb_buf_putc(out, '0');
    size_t skip = types_varint_skip(p, n);
    p += skip;
    n -= skip;
    if (n > TYPES_BIGNUM_MAX_BYTES)
        return SB_ETOOBIG;
    int neg = p[0] & 0x80;
    uint8_t mag[TYPES_BIGNUM_MAX_BYTES];
    memcpy(mag, p, n);
    if (neg) { /* magnitude = ~v + 1 */
        int carry = 1;
        for (size_t i = n; i-- > 0;) {
            int v = (uint8_t)~mag[i] + carry;
            mag[i] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    /* Repeated division by 10^9; chunks come out least significant first. */
    uint32_t chunks[TYPES_BIGNUM_MAX_BYTES / 3 + 2];
    size_t nchunks = 0, lead = 0;
    while (lead < n && mag[lead] == 0)
        lead++;
    while (lead < n) {
        uint64_t rem = 0;
        for (size_t i = lead; i < n; i++) {
            uint64_t cur = (rem << 8) | mag[i];
            mag[i] = (uint8_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        chunks[nchunks++] = (uint32_t)rem;
        while (lead < n && mag[lead] == 0)
            lead++;
    }
    if (nchunks == 0)
        return sb_buf_putc(out, '0');
    int rv = neg ? sb_buf_putc(out, '-') : 0;
    if (!rv)
        rv = sb_buf_printf(out, "%u", chunks[nchunks - 1]);
    for (size_t i = nchunks - 1; !rv && i-- > 0;)
        rv = sb_buf_printf(out, "%09u", chunks[i]);
    return rv;
}

int types_dec_to_varint(sb_buf *out, const char *digits, size_t nd, int neg)
{
    if (nd > TYPES_BIGNUM_MAX_BYTES * 2)
        return SB_ETOOBIG;
    /* Little-endian base-256 limbs; 10 digits need < 5 bytes. */
    size_t cap = nd / 2 + 2, used = 1;
    uint8_t *mag = calloc(cap, 1);
    if (!mag)
        return SB_ENOMEM;
    for (size_t i = 0; i < nd;) {
        uint64_t mul = 1, add = 0;
        for (int k = 0; k < 9 && i < nd; k++, i++) {
            mul *= 10;
            add = add * 10 + (uint64_t)(digits[i] - '0');
        }
        uint64_t carry = add;
        for (size_t j = 0; j < used; j++) {
            uint64_t v = mag[j] * mul + carry;
            mag[j] = (uint8_t)v;
            carry = v >> 8;
        }
        while (carry && used < cap) {
            mag[used++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    while (used > 1 && mag[used - 1] == 0)
        used--;
    int zero = used == 1 && mag[0] == 0;
    if (neg && !zero) {
        int carry = 1;
        for (size_t j = 0; j < used; j++) {
            int v = (uint8_t)~mag[j] + carry;
            mag[j] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    int rv = sb_buf_reserve(out, used + 1);
    if (!rv) {
        uint8_t top = mag[used - 1];
        if (!neg || zero) {
            if (top & 0x80)
                out->data[out->len++] = 0x00;
        } else if (!(top & 0x80)) {
            out->data[out->len++] = 0xFF;
        }
        for (size_t j = used; j-- > 0;)
            out->data[out->len++] = mag[j];
    }
    free(mag);
    return rv;
}

int64_t types_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void types_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

long types_utf8_check(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return (long)i;
        }
        if (k >= n - i)
            return (long)i;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return (long)i;
            cp = (cp << 6) | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += k + 1;
    }
    return -1;
}

/* ---- validation ------------------------------------------------------- */

static int fixed_size(uint8_t id)
{
    switch (id) {
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_TIME:
    case SB_TYPE_DOUBLE:
        return 8;
    case SB_TYPE_INT:
    case SB_TYPE_DATE:
    case SB_TYPE_FLOAT:
        return 4;
    case SB_TYPE_SMALLINT:
        return 2;
    case SB_TYPE_TINYINT:
    case SB_TYPE_BOOLEAN:
        return 1;
    case SB_TYPE_UUID:
    case SB_TYPE_TIMEUUID:
        return 16;
    }
    return 0;
}

#define TIME_MAX_NS 86399999999999LL

static int validate_scalar(uint8_t id, const uint8_t *p, size_t n, char *errmsg)
{
    const char *name = sb_type_id_name(id);
    if (!is_scalar_id(id))
        return sb_seterr(errmsg, SB_EINVAL, "unknown type id 0x%02x", id);
    if (n == 0) {
        /* Cassandra accepts empty values for the older types only. */
        if (id == SB_TYPE_SMALLINT || id == SB_TYPE_TINYINT || id == SB_TYPE_DATE ||
            id == SB_TYPE_TIME)
            return sb_seterr(errmsg, SB_EINVAL, "%s value must be %d bytes, got 0", name,
                             fixed_size(id));
        return 0;
    }
    int fs = fixed_size(id);
    if (fs && n != (size_t)fs)
        return sb_seterr(errmsg, SB_EINVAL, "%s value must be %d bytes, got %zu", name, fs, n);
    switch (id) {
    case SB_TYPE_TIME: {
        int64_t v = (int64_t)types_get_be(p, 8);
        if (v < 0 || v > TIME_MAX_NS)
            return sb_seterr(errmsg, SB_EINVAL,
                             "time value %lld out of range (0..86399999999999 ns)", (long long)v);
        return 0;
    }
    case SB_TYPE_TIMEUUID:
        if ((p[6] >> 4) != 1)
            return sb_seterr(errmsg, SB_EINVAL, "timeuuid must be a version 1 uuid, got version %d",
                             p[6] >> 4);
        return 0;
    case SB_TYPE_INET:
        if (n != 4 && n != 16)
            return sb_seterr(errmsg, SB_EINVAL, "inet value must be 4 or 16 bytes, got %zu", n);
        return 0;
    case SB_TYPE_DECIMAL:
        if (n < 5)
            return sb_seterr(errmsg, SB_EINVAL, "decimal value must be at least 5 bytes, got %zu",
                             n);
        return 0;
    case SB_TYPE_ASCII:
        for (size_t i = 0; i < n; i++)
            if (p[i] & 0x80)
                return sb_seterr(errmsg, SB_EINVAL, "invalid ascii byte 0x%02x at offset %zu", p[i],
                                 i);
        return 0;
    case SB_TYPE_TEXT: {
        long bad = types_utf8_check(p, n);
        if (bad >= 0)
            return sb_seterr(errmsg, SB_EINVAL, "invalid UTF-8 in text value at offset %ld", bad);
        return 0;
    }
    }
    return 0;
}

/* Walks a collection serialization; calls fn for each element (maps: key
 * and value alternately, idx counting both). */
typedef int (*elem_fn)(void *ctx, size_t idx, const uint8_t *p, size_t n);

static int walk_collection(sb_type t, const uint8_t *p, size_t n, char *errmsg, elem_fn fn,
                           void *ctx)
{
    char tn[64];
    if (n < 4)
        return sb_seterr(errmsg, SB_EINVAL, "%s value too short (%zu bytes) for its count",
                         sb_type_name(t, tn, sizeof(tn)), n);
    int32_t cnt = (int32_t)types_get_be(p, 4);
    if (cnt < 0)
        return sb_seterr(errmsg, SB_EINVAL, "negative element count %d in %s value", cnt,
                         sb_type_name(t, tn, sizeof(tn)));
    size_t per = t.id == SB_TYPE_MAP ? 2 : 1, off = 4;
    for (size_t i = 0; i < (size_t)cnt * per; i++) {
        if (n - off < 4)
            return sb_seterr(errmsg, SB_EINVAL, "%s value truncated at element %zu",
                             sb_type_name(t, tn, sizeof(tn)), i / per);
        int32_t el = (int32_t)types_get_be(p + off, 4);
        off += 4;
        if (el < 0)
            return sb_seterr(errmsg, SB_EINVAL, "null element %zu in %s value", i / per,
                             sb_type_name(t, tn, sizeof(tn)));
        if ((size_t)el > n - off)
            return sb_seterr(errmsg, SB_EINVAL, "%s value truncated at element %zu",
                             sb_type_name(t, tn, sizeof(tn)), i / per);
        int rv = fn(ctx, i, p + off, (size_t)el);
        if (rv)
            return rv;
        off += (size_t)el;
    }
    if (off != n)
        return sb_seterr(errmsg, SB_EINVAL, "%zu trailing bytes after %s value", n - off,
                         sb_type_name(t, tn, sizeof(tn)));
    return 0;
}

typedef struct vctx {
    sb_type t;
    char *errmsg;
} vctx;

static int validate_elem(void *ctx, size_t idx, const uint8_t *p, size_t n)
{
    vctx *c = ctx;
    uint8_t id = (c->t.id == SB_TYPE_MAP && (idx & 1)) ? c->t.b : c->t.a;
    char sub[SB_ERRMSG_SIZE];
    int rv = validate_scalar(id, p, n, sub);
    if (rv)
        return sb_seterr(c->errmsg, rv, "element %zu: %s", c->t.id == SB_TYPE_MAP ? idx / 2 : idx,
                         sub);
    return 0;
}

int sb_value_validate(sb_type t, const uint8_t *p, size_t len, char *errmsg)
{
    if (len > INT32_MAX)
        return sb_seterr(errmsg, SB_EINVAL, "value of %zu bytes is too large", len);
    if (!sb_type_is_collection(t))
        return validate_scalar(t.id, p, len, errmsg);
    if (!is_scalar_id(t.a) || (t.id == SB_TYPE_MAP && !is_scalar_id(t.b)))
        return sb_seterr(errmsg, SB_EINVAL, "collection of unknown element type");
    vctx c = {t, errmsg};
    return walk_collection(t, p, len, errmsg, validate_elem, &c);
}

/* ---- order ------------------------------------------------------------ */

static uint32_t float_key(uint32_t b)
{
    if ((b & 0x7F800000u) == 0x7F800000u && (b & 0x007FFFFFu))
        b = 0x7FC00000u; /* every NaN is the same, above +Infinity */
    return (b & 0x80000000u) ? ~b : b ^ 0x80000000u;
}

static uint64_t double_key(uint64_t b)
{
    if ((b & 0x7FF0000000000000ull) == 0x7FF0000000000000ull && (b & 0x000FFFFFFFFFFFFFull))
        b = 0x7FF8000000000000ull;
    return (b & 0x8000000000000000ull) ? ~b : b ^ 0x8000000000000000ull;
}

/* Timeuuid's most significant half with the timestamp fields reordered
 * (time_hi_and_version, time_mid, time_low) so it orders by time. */
static uint64_t uuid_time_msb(const uint8_t *u)
{
    uint64_t msb = types_get_be(u, 8);
    return (msb << 48) | ((msb << 16) & 0xFFFF00000000ull) | (msb >> 32);
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

static int cmp_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return CMP(na, nb);
}

static int cmp_varint(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t sa = types_varint_skip(a, na), sb = types_varint_skip(b, nb);
    a += sa, na -= sa, b += sb, nb -= sb;
    int nega = a[0] >> 7, negb = b[0] >> 7;
    if (nega != negb)
        return nega ? -1 : 1;
    if (na != nb)
        return nega ? CMP(nb, na) : CMP(na, nb);
    return cmp_bytes(a, na, b, nb);
}

static int enc_body(sb_buf *out, uint8_t id, const uint8_t *p, size_t n);

static int cmp_by_encoding(uint8_t id, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    sb_buf ea, eb;
    sb_buf_init(&ea);
    sb_buf_init(&eb);
    int c;
    if (enc_body(&ea, id, a, na) || enc_body(&eb, id, b, nb))
        c = cmp_bytes(a, na, b, nb); /* too large to convert: some total order */
    else
        c = cmp_bytes(ea.data, ea.len, eb.data, eb.len);
    sb_buf_free(&ea);
    sb_buf_free(&eb);
    return c;
}

static int cmp_scalar(uint8_t id, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if (na == 0 || nb == 0)
        return CMP(na != 0, nb != 0);
    int fs = fixed_size(id);
    if ((fs && (na != (size_t)fs || nb != (size_t)fs)) ||
        (id == SB_TYPE_DECIMAL && (na < 5 || nb < 5)))
        return cmp_bytes(a, na, b, nb); /* invalid values: still a total order */
    switch (id) {
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_TIME: {
        /* Sign-extend by shifting the value to the top of a 64-bit word. */
        int sh = 64 - fs * 8;
        int64_t x = (int64_t)(types_get_be(a, fs) << sh) >> sh;
        int64_t y = (int64_t)(types_get_be(b, fs) << sh) >> sh;
        return CMP(x, y);
    }
    case SB_TYPE_DATE:
        return CMP(types_get_be(a, 4), types_get_be(b, 4));
    case SB_TYPE_BOOLEAN:
        return CMP(a[0] != 0, b[0] != 0);
    case SB_TYPE_FLOAT:
        return CMP(float_key((uint32_t)types_get_be(a, 4)),
                   float_key((uint32_t)types_get_be(b, 4)));
    case SB_TYPE_DOUBLE:
        return CMP(double_key(types_get_be(a, 8)), double_key(types_get_be(b, 8)));
    case SB_TYPE_TIMEUUID: {
        int64_t x = (int64_t)uuid_time_msb(a), y = (int64_t)uuid_time_msb(b);
        if (x != y)
            return CMP(x, y);
        for (int i = 8; i < 16; i++)
            if (a[i] != b[i])
                return CMP((int8_t)a[i], (int8_t)b[i]);
        return 0;
    }
    case SB_TYPE_UUID: {
        int va = a[6] >> 4, vb = b[6] >> 4;
        if (va != vb)
            return CMP(va, vb);
        if (va == 1) {
            uint64_t x = uuid_time_msb(a), y = uuid_time_msb(b);
            if (x != y)
                return CMP(x, y);
            return cmp_bytes(a + 8, 8, b + 8, 8);
        }
        return cmp_bytes(a, 16, b, 16);
    }
    case SB_TYPE_VARINT:
        return cmp_varint(a, na, b, nb);
    case SB_TYPE_DECIMAL:
        return cmp_by_encoding(id, a, na, b, nb);
    }
    return cmp_bytes(a, na, b, nb); /* text, ascii, blob, inet */
}

/* Reads element i of a collection (already known to be well formed up to
 * that point); 0 when there are no more. */
typedef struct citer {
    const uint8_t *p;
    size_t n, off;
    size_t left; /* elements (map: keys + values) still to read */
} citer;

static int citer_init(citer *it, sb_type t, const uint8_t *p, size_t n)
{
    char err[SB_ERRMSG_SIZE];
    if (sb_value_validate(t, p, n, err))
        return SB_ECORRUPT;
    it->p = p;
    it->n = n;
    it->off = 4;
    it->left = (size_t)types_get_be(p, 4) * (t.id == SB_TYPE_MAP ? 2 : 1);
    return 0;
}

static int citer_next(citer *it, const uint8_t **p, size_t *n)
{
    if (!it->left)
        return 0;
    *n = (size_t)types_get_be(it->p + it->off, 4);
    *p = it->p + it->off + 4;
    it->off += 4 + *n;
    it->left--;
    return 1;
}

static int cmp_collection(sb_type t, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if (na == 0 || nb == 0)
        return CMP(na != 0, nb != 0);
    citer ia = {0}, ib = {0};
    int bada = citer_init(&ia, t, a, na), badb = citer_init(&ib, t, b, nb);
    if (bada || badb)
        return bada && badb ? cmp_bytes(a, na, b, nb) : (bada ? 1 : -1);
    for (size_t i = 0;; i++) {
        const uint8_t *pa, *pb;
        size_t la, lb;
        int ha = citer_next(&ia, &pa, &la), hb = citer_next(&ib, &pb, &lb);
        if (!ha || !hb)
            return CMP(ha, hb);
        uint8_t id = (t.id == SB_TYPE_MAP && (i & 1)) ? t.b : t.a;
        int c = cmp_scalar(id, pa, la, pb, lb);
        if (c)
            return c;
    }
}

int sb_value_cmp(sb_type t, sb_value a, sb_value b)
{
    if (a.len < 0 || b.len < 0)
        return CMP(a.len >= 0, b.len >= 0);
    if (sb_type_is_collection(t))
        return cmp_collection(t, a.p, (size_t)a.len, b.p, (size_t)b.len);
    return cmp_scalar(t.id, a.p, (size_t)a.len, b.p, (size_t)b.len);
}

/* ---- key encoding ------------------------------------------------------ */

static int enc_escaped(sb_buf *out, const uint8_t *p, size_t n)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += p[i] == 0;
    int rv = sb_buf_reserve(out, n + zeros + 2);
    if (rv)
        return rv;
    uint8_t *w = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        *w++ = p[i];
        if (p[i] == 0)
            *w++ = 0xFF;
    }
    *w++ = 0x00;
    *w++ = 0x01;
    out->len = (size_t)(w - out->data);
    return 0;
}

/* Length class, then the minimal two's complement bytes: non-negative
 * numbers get 0x80 + L (L <= 126) or 0xFF and L as 4 bytes; negative ones
 * 0x80 - L or 0x00 and ~L, so longer negatives sort lower. Within a class,
 * two's complement bytes of one sign compare like the numbers. */
static int enc_varint(sb_buf *out, const uint8_t *p, size_t n)
{
    size_t skip = types_varint_skip(p, n);
    p += skip;
    n -= skip;
    int neg = p[0] & 0x80;
    int rv;
    if (n <= 126) {
        rv = sb_buf_putc(out, (uint8_t)(neg ? 0x80 - n : 0x80 + n));
    } else {
        rv = sb_buf_putc(out, neg ? 0x00 : 0xFF);
        if (!rv)
            rv = sb_buf_put_u32be(out, neg ? ~(uint32_t)n : (uint32_t)n);
    }
    return rv ? rv : sb_buf_append(out, p, n);
}

/* Decimal = unscaled * 10^-scale, written as 0.d1d2..dk * 10^E with no
 * trailing zero digits: a sign byte (0x01 negative, 0x02 zero, 0x03
 * positive), E as a sign-flipped big-endian int64, the digits two per byte
 * as 1 + 10*d1 + d2 (a lone last digit as d1 with d2 = 0), then 0x00. For
 * negatives everything after the sign byte is inverted. */
static int enc_decimal(sb_buf *out, const uint8_t *p, size_t n)
{
    int32_t scale = (int32_t)types_get_be(p, 4);
    sb_buf ds;
    sb_buf_init(&ds);
    int rv = types_varint_to_dec(&ds, p + 4, n - 4);
    if (rv)
        goto fail;
    int neg = ds.data[0] == '-';
    const char *dg = (const char *)ds.data + neg;
    size_t nd = ds.len - (size_t)neg, k = nd;
    if (nd == 1 && dg[0] == '0') {
        rv = sb_buf_putc(out, 0x02);
        goto fail;
    }
    while (k > 1 && dg[k - 1] == '0')
        k--;
    int64_t e = (int64_t)nd - scale;
    if ((rv = sb_buf_putc(out, neg ? 0x01 : 0x03)))
        goto fail;
    size_t start = out->len;
    if ((rv = sb_buf_put_u64be(out, (uint64_t)e ^ 0x8000000000000000ull)))
        goto fail;
    for (size_t i = 0; i < k && !rv; i += 2) {
        int d1 = dg[i] - '0', d2 = i + 1 < k ? dg[i + 1] - '0' : 0;
        rv = sb_buf_putc(out, (uint8_t)(1 + 10 * d1 + d2));
    }
    if (!rv)
        rv = sb_buf_putc(out, 0x00);
    if (!rv && neg)
        for (size_t i = start; i < out->len; i++)
            out->data[i] = (uint8_t)~out->data[i];
fail:
    sb_buf_free(&ds);
    return rv;
}

/* Body of a non-empty valid scalar. */
static int enc_body(sb_buf *out, uint8_t id, const uint8_t *p, size_t n)
{
    uint8_t tmp[17];
    switch (id) {
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_TIME:
        memcpy(tmp, p, n);
        tmp[0] ^= 0x80;
        return sb_buf_append(out, tmp, n);
    case SB_TYPE_DATE:
        return sb_buf_append(out, p, n);
    case SB_TYPE_BOOLEAN:
        return sb_buf_putc(out, p[0] != 0);
    case SB_TYPE_FLOAT:
        return sb_buf_put_u32be(out, float_key((uint32_t)types_get_be(p, 4)));
    case SB_TYPE_DOUBLE:
        return sb_buf_put_u64be(out, double_key(types_get_be(p, 8)));
    case SB_TYPE_TIMEUUID:
        types_put_be(tmp, uuid_time_msb(p) ^ 0x8000000000000000ull, 8);
        for (int i = 8; i < 16; i++)
            tmp[i] = p[i] ^ 0x80;
        return sb_buf_append(out, tmp, 16);
    case SB_TYPE_UUID:
        tmp[0] = p[6] >> 4;
        if (tmp[0] == 1)
            types_put_be(tmp + 1, uuid_time_msb(p), 8);
        else
            memcpy(tmp + 1, p, 8);
        memcpy(tmp + 9, p + 8, 8);
        return sb_buf_append(out, tmp, 17);
    case SB_TYPE_VARINT:
        return enc_varint(out, p, n);
    case SB_TYPE_DECIMAL:
        return enc_decimal(out, p, n);
    }
    return enc_escaped(out, p, n);
}

static int enc_component(sb_buf *out, sb_type t, const uint8_t *p, int32_t len)
{
    if (len < 0)
        return sb_buf_putc(out, KE_NULL);
    if (len == 0)
        return sb_buf_putc(out, KE_EMPTY);
    int rv = sb_buf_putc(out, KE_VALUE);
    if (rv)
        return rv;
    if (!sb_type_is_collection(t))
        return enc_body(out, t.id, p, (size_t)len);
    citer it;
    if (citer_init(&it, t, p, (size_t)len))
        return SB_EINVAL;
    const uint8_t *ep;
    size_t en;
    for (size_t i = 0; citer_next(&it, &ep, &en); i++) {
        sb_type et = {(t.id == SB_TYPE_MAP && (i & 1)) ? t.b : t.a, 0, 0, 0};
        if ((rv = enc_component(out, et, ep, (int32_t)en)))
            return rv;
    }
    return sb_buf_putc(out, 0x00);
}

int sb_keyenc_append(sb_buf *out, sb_type t, sb_value v, int desc)
{
    char err[SB_ERRMSG_SIZE];
    if (v.len >= 0 && sb_value_validate(t, v.p, (size_t)v.len, err))
        return SB_EINVAL;
    size_t start = out->len;
    int rv = enc_component(out, t, v.p, v.len);
    if (rv) {
        out->len = start;
        return rv;
    }
    if (desc)
        for (size_t i = start; i < out->len; i++)
            out->data[i] = (uint8_t)~out->data[i];
    return 0;
}

/* Reader over an encoded component; x = 0xFF undoes desc inversion. */
typedef struct rd {
    const uint8_t *p, *end;
    uint8_t x;
} rd;

static int rd_byte(rd *r, uint8_t *c)
{
    if (r->p >= r->end)
        return SB_ECORRUPT;
    *c = *r->p++ ^ r->x;
    return 0;
}

static int rd_bytes(rd *r, uint8_t *dst, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return SB_ECORRUPT;
    for (size_t i = 0; i < n; i++)
        dst[i] = r->p[i] ^ r->x;
    r->p += n;
    return 0;
}

static int dec_escaped(rd *r, sb_buf *out)
{
    for (;;) {
        uint8_t c, c2;
        int rv = rd_byte(r, &c);
        if (rv)
            return rv;
        if (c != 0) {
            if ((rv = sb_buf_putc(out, c)))
                return rv;
            continue;
        }
        if ((rv = rd_byte(r, &c2)))
            return rv;
        if (c2 == 0x01)
            return 0;
        if (c2 != 0xFF)
            return SB_ECORRUPT;
        if ((rv = sb_buf_putc(out, 0)))
            return rv;
    }
}

static int dec_varint(rd *r, sb_buf *out)
{
    uint8_t h, lb[4];
    int rv = rd_byte(r, &h);
    if (rv)
        return rv;
    size_t n;
    int neg;
    if (h == 0x00 || h == 0xFF) {
        if ((rv = rd_bytes(r, lb, 4)))
            return rv;
        uint32_t l = (uint32_t)types_get_be(lb, 4);
        neg = h == 0x00;
        n = neg ? ~l : l;
        if (n <= 126)
            return SB_ECORRUPT;
    } else if (h > 0x80) {
        neg = 0, n = h - 0x80u;
    } else if (h < 0x80 && h >= 0x02) {
        neg = 1, n = 0x80u - h;
    } else {
        return SB_ECORRUPT;
    }
    if ((size_t)(r->end - r->p) < n)
        return SB_ECORRUPT;
    if ((rv = sb_buf_reserve(out, n)))
        return rv;
    uint8_t *w = out->data + out->len;
    if ((rv = rd_bytes(r, w, n)))
        return rv;
    if (((w[0] & 0x80) != 0) != neg || types_varint_skip(w, n) != 0)
        return SB_ECORRUPT;
    out->len += n;
    return 0;
}

static int dec_decimal(rd *r, sb_buf *out)
{
    uint8_t sign, eb[8];
    int rv = rd_byte(r, &sign);
    if (rv)
        return rv;
    if (sign == 0x02) {
        static const uint8_t zero[5] = {0, 0, 0, 0, 0};
        return sb_buf_append(out, zero, 5);
    }
    if (sign != 0x01 && sign != 0x03)
        return SB_ECORRUPT;
    int neg = sign == 0x01;
    uint8_t x = r->x;
    if (neg)
        r->x ^= 0xFF;
    sb_buf dg;
    sb_buf_init(&dg);
    if ((rv = rd_bytes(r, eb, 8)))
        goto fail;
    int64_t e = (int64_t)(types_get_be(eb, 8) ^ 0x8000000000000000ull);
    for (;;) {
        uint8_t c;
        if ((rv = rd_byte(r, &c)))
            goto fail;
        if (c == 0)
            break;
        if (c > 100 || dg.len >= TYPES_BIGNUM_MAX_BYTES * 2) {
            rv = SB_ECORRUPT;
            goto fail;
        }
        if ((rv = sb_buf_putc(&dg, (uint8_t)('0' + (c - 1) / 10))) ||
            (rv = sb_buf_putc(&dg, (uint8_t)('0' + (c - 1) % 10))))
            goto fail;
    }
    if (dg.len && dg.data[dg.len - 1] == '0')
        dg.len--;
    if (dg.len == 0 || dg.data[0] == '0' || dg.data[dg.len - 1] == '0') {
        rv = SB_ECORRUPT;
        goto fail;
    }
    /* A valid exponent is digits - scale with a 32-bit scale. */
    if (e < -((int64_t)1 << 40) || e > ((int64_t)1 << 40)) {
        rv = SB_ECORRUPT;
        goto fail;
    }
    int64_t scale = (int64_t)dg.len - e;
    if (scale > INT32_MAX) {
        rv = SB_ECORRUPT;
        goto fail;
    }
    /* Give back trailing zeros the normalisation took when the scale
     * would not fit otherwise. */
    while (scale < INT32_MIN) {
        if (dg.len >= TYPES_BIGNUM_MAX_BYTES * 2) {
            rv = SB_ECORRUPT;
            goto fail;
        }
        if ((rv = sb_buf_putc(&dg, '0')))
            goto fail;
        scale++;
    }
    if ((rv = sb_buf_put_u32be(out, (uint32_t)(int32_t)scale)))
        goto fail;
    rv = types_dec_to_varint(out, (const char *)dg.data, dg.len, neg);
fail:
    r->x = x;
    sb_buf_free(&dg);
    return rv;
}

static int dec_body(rd *r, uint8_t id, sb_buf *out)
{
    uint8_t tmp[17];
    int fs = fixed_size(id), rv;
    switch (id) {
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_TIME:
        if ((rv = rd_bytes(r, tmp, (size_t)fs)))
            return rv;
        tmp[0] ^= 0x80;
        return sb_buf_append(out, tmp, (size_t)fs);
    case SB_TYPE_DATE:
        if ((rv = rd_bytes(r, tmp, 4)))
            return rv;
        return sb_buf_append(out, tmp, 4);
    case SB_TYPE_BOOLEAN:
        if ((rv = rd_bytes(r, tmp, 1)))
            return rv;
        if (tmp[0] > 1)
            return SB_ECORRUPT;
        return sb_buf_append(out, tmp, 1);
    case SB_TYPE_FLOAT: {
        if ((rv = rd_bytes(r, tmp, 4)))
            return rv;
        uint32_t k = (uint32_t)types_get_be(tmp, 4);
        return sb_buf_put_u32be(out, (k & 0x80000000u) ? k ^ 0x80000000u : ~k);
    }
    case SB_TYPE_DOUBLE: {
        if ((rv = rd_bytes(r, tmp, 8)))
            return rv;
        uint64_t k = types_get_be(tmp, 8);
        return sb_buf_put_u64be(out, (k & 0x8000000000000000ull) ? k ^ 0x8000000000000000ull : ~k);
    }
    case SB_TYPE_TIMEUUID:
    case SB_TYPE_UUID: {
        int v1 = 1;
        uint8_t *u = tmp + 1;
        if (id == SB_TYPE_UUID) {
            if ((rv = rd_bytes(r, tmp, 17)))
                return rv;
            v1 = tmp[0] == 1;
        } else {
            if ((rv = rd_bytes(r, u, 16)))
                return rv;
            u[0] ^= 0x80;
            for (int i = 8; i < 16; i++)
                u[i] ^= 0x80;
        }
        if (v1) { /* undo (time_hi, time_mid, time_low) */
            uint8_t m[8];
            memcpy(m, u, 8);
            memcpy(u, m + 4, 4);
            memcpy(u + 4, m + 2, 2);
            memcpy(u + 6, m, 2);
        }
        if (id == SB_TYPE_UUID && (u[6] >> 4) != tmp[0])
            return SB_ECORRUPT;
        return sb_buf_append(out, u, 16);
    }
    case SB_TYPE_VARINT:
        return dec_varint(r, out);
    case SB_TYPE_DECIMAL:
        return dec_decimal(r, out);
    }
    return dec_escaped(r, out);
}

static int dec_component(rd *r, sb_type t, sb_buf *out, int32_t *len)
{
    uint8_t h;
    int rv = rd_byte(r, &h);
    if (rv)
        return rv;
    if (h == KE_NULL || h == KE_EMPTY) {
        *len = h == KE_NULL ? -1 : 0;
        return 0;
    }
    if (h != KE_VALUE)
        return SB_ECORRUPT;
    size_t start = out->len;
    if (!sb_type_is_collection(t)) {
        rv = dec_body(r, t.id, out);
    } else {
        size_t cnt_at = out->len;
        uint32_t cnt = 0;
        rv = sb_buf_put_u32be(out, 0);
        for (size_t i = 0; !rv; i++) {
            if (r->p >= r->end) {
                rv = SB_ECORRUPT;
                break;
            }
            if ((uint8_t)(*r->p ^ r->x) == 0x00) {
                r->p++;
                if (t.id == SB_TYPE_MAP && (i & 1))
                    rv = SB_ECORRUPT; /* key without value */
                break;
            }
            sb_type et = {(t.id == SB_TYPE_MAP && (i & 1)) ? t.b : t.a, 0, 0, 0};
            size_t len_at = out->len;
            int32_t el;
            if ((rv = sb_buf_put_u32be(out, 0)) || (rv = dec_component(r, et, out, &el)))
                break;
            if (el < 0) {
                rv = SB_ECORRUPT;
                break;
            }
            types_put_be(out->data + len_at, (uint32_t)el, 4);
            if (t.id != SB_TYPE_MAP || (i & 1))
                cnt++;
        }
        if (!rv)
            types_put_be(out->data + cnt_at, cnt, 4);
    }
    if (rv) {
        out->len = start;
        return rv;
    }
    if (out->len - start > INT32_MAX) {
        out->len = start;
        return SB_ECORRUPT;
    }
    *len = (int32_t)(out->len - start);
    return 0;
}

int sb_keyenc_decode(sb_type t, int desc, const uint8_t **p, const uint8_t *end, sb_buf *out,
                     size_t *v_off, int32_t *v_len)
{
    rd r = {*p, end, desc ? 0xFF : 0x00};
    size_t start = out->len;
    int32_t len;
    int rv = dec_component(&r, t, out, &len);
    if (rv)
        return rv == SB_ENOMEM ? rv : SB_ECORRUPT;
    char err[SB_ERRMSG_SIZE];
    if (len > 0 && sb_value_validate(t, out->data + start, (size_t)len, err)) {
        out->len = start;
        return SB_ECORRUPT;
    }
    *p = r.p;
    *v_off = start;
    *v_len = len;
    return 0;
}

/* ---- token ------------------------------------------------------------- */

int64_t sb_token_of_key(sb_value *components, int n)
{
    if (n == 1)
        return sb_murmur3_token(components[0].p,
                                components[0].len > 0 ? (size_t)components[0].len : 0);
    /* CompositeType: per component a 2-byte length, the bytes, and an
     * end-of-component byte 0. */
    sb_buf b;
    sb_buf_init(&b);
    for (int i = 0; i < n; i++) {
        size_t len = components[i].len > 0 ? (size_t)components[i].len : 0;
        SB_ASSERT(sb_buf_put_u16be(&b, (uint16_t)len) == 0);
        SB_ASSERT(sb_buf_append(&b, components[i].p, len) == 0);
        SB_ASSERT(sb_buf_putc(&b, 0) == 0);
    }
    int64_t tok = sb_murmur3_token(b.data, b.len);
    sb_buf_free(&b);
    return tok;
}
