/*
 * CQL types: names, validation, order, key encoding, rendering, literals.
 *
 * The key-encoding tests are property tests over random values of every
 * type (a fixed-seed xorshift generator, so failures replay): for every
 * pair, sign(sb_value_cmp) must equal sign(memcmp) of the encodings
 * (reversed for desc), decoding must give back a value that compares equal,
 * and concatenations of components must compare lexicographically.
 */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/types.h"
#include "util/err.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static unsigned rndn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static sb_type T(const char *s)
{
    sb_type t;
    if (sb_type_parse(s, &t))
        fail_msg("cannot parse type %s", s);
    return t;
}

static int sgn(int c)
{
    return (c > 0) - (c < 0);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A value in a pool: bytes owned by the pool, len -1 for null. */
typedef struct pval {
    uint8_t *p;
    int32_t len;
} pval;

static sb_value V(const pval *v)
{
    return (sb_value){v->p, v->len};
}

static void gen_scalar(uint8_t id, sb_buf *b, int allow_empty);

static void gen_bytes(sb_buf *b, size_t n, int alphabet)
{
    static const uint8_t pick[] = {0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 'a', 'b'};
    for (size_t i = 0; i < n; i++)
        sb_buf_putc(b, alphabet ? pick[rndn(sizeof(pick))] : (uint8_t)rnd());
}

static void gen_utf8(sb_buf *b, size_t n)
{
    static const char *chars[] = {
        "\0",           "a", "b", "z", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xef\xbf\xbf", "A"};
    for (size_t i = 0; i < n; i++) {
        const char *c = chars[rndn(10)];
        sb_buf_append(b, c, c[0] ? strlen(c) : 1);
    }
}

static void gen_varint(sb_buf *b)
{
    unsigned kind = rndn(10);
    size_t n = kind == 0 ? 127 + rndn(12) : 1 + rndn(kind < 5 ? 3 : 12);
    if (kind == 1) { /* non-minimal form of a small number */
        uint8_t pad = rndn(2) ? 0xFF : 0x00;
        sb_buf_putc(b, pad);
        sb_buf_putc(b, (uint8_t)((pad & 0x80) | (rnd() & 0x7F)));
        return;
    }
    gen_bytes(b, n, rndn(2));
}

static void gen_scalar(uint8_t id, sb_buf *b, int allow_empty)
{
    uint8_t tmp[16];
    if (allow_empty && rndn(40) == 0 && id != SB_TYPE_SMALLINT && id != SB_TYPE_TINYINT &&
        id != SB_TYPE_DATE && id != SB_TYPE_TIME)
        return; /* empty */
    switch (id) {
    case SB_TYPE_TINYINT:
    case SB_TYPE_SMALLINT:
    case SB_TYPE_INT:
    case SB_TYPE_BIGINT:
    case SB_TYPE_TIMESTAMP:
    case SB_TYPE_DATE: {
        int n = id == SB_TYPE_TINYINT                       ? 1
                : id == SB_TYPE_SMALLINT                    ? 2
                : (id == SB_TYPE_INT || id == SB_TYPE_DATE) ? 4
                                                            : 8;
        if (rndn(8) == 0) { /* the ends of the range */
            tmp[0] = rndn(2) ? 0x80 : 0x7F;
            memset(tmp + 1, tmp[0] == 0x80 ? 0x00 : 0xFF, (size_t)n - 1);
            sb_buf_append(b, tmp, (size_t)n);
            return;
        }
        gen_bytes(b, (size_t)n, rndn(2));
        return;
    }
    case SB_TYPE_TIME:
        put_be(tmp, rnd() % 86400000000000ull, 8);
        sb_buf_append(b, tmp, 8);
        return;
    case SB_TYPE_BOOLEAN:
        sb_buf_putc(b, (uint8_t)(rndn(5) == 0 ? 2 + rndn(200) : rndn(2)));
        return;
    case SB_TYPE_FLOAT:
    case SB_TYPE_DOUBLE: {
        int n = id == SB_TYPE_FLOAT ? 4 : 8;
        static const double specials[] = {0.0,      -0.0,      1.0, -1.0, 21.5,
                                          INFINITY, -INFINITY, NAN, -NAN, 1e-300};
        if (rndn(3) == 0) {
            double d = specials[rndn(10)];
            if (n == 4) {
                float f = (float)d;
                uint32_t u;
                memcpy(&u, &f, 4);
                put_be(tmp, u, 4);
            } else {
                uint64_t u;
                memcpy(&u, &d, 8);
                put_be(tmp, u, 8);
            }
            sb_buf_append(b, tmp, (size_t)n);
        } else {
            gen_bytes(b, (size_t)n, rndn(2)); /* includes NaN payloads, denormals */
        }
        return;
    }
    case SB_TYPE_UUID:
    case SB_TYPE_TIMEUUID:
        for (int i = 0; i < 16; i++)
            tmp[i] = rndn(3) ? (uint8_t)rnd() : (uint8_t)(rndn(2) ? 0x80 : 0x7F);
        if (id == SB_TYPE_TIMEUUID || rndn(2))
            tmp[6] = (uint8_t)(0x10 | (tmp[6] & 0x0F));
        sb_buf_append(b, tmp, 16);
        return;
    case SB_TYPE_INET:
        gen_bytes(b, rndn(2) ? 4 : 16, rndn(2));
        return;
    case SB_TYPE_TEXT:
        gen_utf8(b, rndn(6));
        return;
    case SB_TYPE_ASCII:
        for (unsigned i = 0, n = rndn(6); i < n; i++)
            sb_buf_putc(b, rndn(2) ? (uint8_t) "\0\1ab\x7f"[rndn(5)] : (uint8_t)(rnd() & 0x7F));
        return;
    case SB_TYPE_BLOB:
        gen_bytes(b, rndn(6), rndn(4) != 0);
        return;
    case SB_TYPE_VARINT:
        gen_varint(b);
        return;
    case SB_TYPE_DECIMAL: {
        static const int32_t scales[] = {0, 1,  2,         -1,        -3,
                                         5, 20, INT32_MIN, INT32_MAX, INT32_MIN + 1};
        if (rndn(4) == 0) { /* 15 * 10^i at scale s + i: equal values, different forms */
            static const uint8_t fifteen[3][2] = {{0x0F}, {0x00, 0x96}, {0x05, 0xDC}};
            int i = (int)rndn(3);
            int32_t s = (int32_t)rndn(3) - 1;
            put_be(tmp, (uint32_t)(s + i), 4);
            sb_buf_append(b, tmp, 4);
            sb_buf_append(b, fifteen[i], i ? 2 : 1);
            return;
        }
        put_be(tmp, (uint32_t)scales[rndn(10)], 4);
        sb_buf_append(b, tmp, 4);
        gen_varint(b);
        return;
    }
    }
    fail_msg("no generator for type %d", id);
}

static void gen_value(sb_type t, sb_buf *b, int32_t *len)
{
    size_t start = b->len;
    if (rndn(50) == 0) {
        *len = -1;
        return;
    }
    if (!sb_type_is_collection(t)) {
        gen_scalar(t.id, b, 1);
    } else {
        unsigned n = rndn(4);
        uint8_t cnt[4];
        put_be(cnt, n, 4);
        sb_buf_append(b, cnt, 4);
        for (unsigned i = 0; i < n * (t.id == SB_TYPE_MAP ? 2 : 1); i++) {
            size_t at = b->len;
            sb_buf_append(b, cnt, 4);
            gen_scalar(t.id == SB_TYPE_MAP && (i & 1) ? t.b : t.a, b, 1);
            put_be(b->data + at, b->len - at - 4, 4);
        }
    }
    *len = (int32_t)(b->len - start);
}

#define POOL 160

typedef struct pool {
    pval v[POOL];
    sb_buf enc[2][POOL]; /* [desc][i] */
} pool;

static void pool_fill(pool *pl, sb_type t)
{
    char err[SB_ERRMSG_SIZE];
    for (int i = 0; i < POOL; i++) {
        sb_buf b;
        sb_buf_init(&b);
        gen_value(t, &b, &pl->v[i].len);
        pl->v[i].p = b.data;
        if (pl->v[i].len >= 0 && sb_value_validate(t, b.data, (size_t)pl->v[i].len, err))
            fail_msg("generated invalid value %d: %s", i, err);
        for (int d = 0; d < 2; d++) {
            sb_buf_init(&pl->enc[d][i]);
            assert_int_equal(sb_keyenc_append(&pl->enc[d][i], t, V(&pl->v[i]), d), 0);
        }
    }
}

static void pool_free(pool *pl)
{
    for (int i = 0; i < POOL; i++) {
        free(pl->v[i].p);
        sb_buf_free(&pl->enc[0][i]);
        sb_buf_free(&pl->enc[1][i]);
    }
}

static int memcmp_sgn(const sb_buf *a, const sb_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);
    if (c)
        return sgn(c);
    return (a->len > b->len) - (a->len < b->len);
}

static void hexdump(const char *what, const uint8_t *p, int32_t n)
{
    fprintf(stderr, "%s (%d):", what, n);
    for (int32_t i = 0; i < n; i++)
        fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, "\n");
}

/* ---- key encoding ------------------------------------------------------ */

static const char *all_types[] = {
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "timestamp",
    "time",
    "date",
    "boolean",
    "float",
    "double",
    "uuid",
    "timeuuid",
    "inet",
    "text",
    "ascii",
    "blob",
    "varint",
    "decimal",
    "frozen<list<int>>",
    "frozen<set<text>>",
    "frozen<map<text, double>>",
    "frozen<list<decimal>>",
    "frozen<map<timeuuid, blob>>",
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void test_keyenc_order_matches_cmp(void **state)
{
    for (size_t ti = 0; ti < NTYPES; ti++) {
        sb_type t = T(all_types[ti]);
        pool *pl = calloc(1, sizeof(*pl));
        pool_fill(pl, t);
        for (int i = 0; i < POOL; i++)
            for (int j = 0; j < POOL; j++) {
                int c = sgn(sb_value_cmp(t, V(&pl->v[i]), V(&pl->v[j])));
                int e = memcmp_sgn(&pl->enc[0][i], &pl->enc[0][j]);
                int d = memcmp_sgn(&pl->enc[1][i], &pl->enc[1][j]);
                if (c != e || c != -d) {
                    hexdump("a", pl->v[i].p, pl->v[i].len);
                    hexdump("b", pl->v[j].p, pl->v[j].len);
                    fail_msg("%s: cmp %d, asc memcmp %d, desc memcmp %d", all_types[ti], c, e, d);
                }
                /* cmp is antisymmetric */
                assert_int_equal(sgn(sb_value_cmp(t, V(&pl->v[j]), V(&pl->v[i]))), -c);
            }
        pool_free(pl);
        free(pl);
    }
}

static void test_keyenc_decode_roundtrip(void **state)
{
    for (size_t ti = 0; ti < NTYPES; ti++) {
        sb_type t = T(all_types[ti]);
        pool *pl = calloc(1, sizeof(*pl));
        pool_fill(pl, t);
        for (int i = 0; i < POOL; i++)
            for (int d = 0; d < 2; d++) {
                sb_buf out, again;
                sb_buf_init(&out);
                sb_buf_init(&again);
                sb_buf_append(&out, "xy", 2); /* decode appends after existing bytes */
                const uint8_t *p = pl->enc[d][i].data, *end = p + pl->enc[d][i].len;
                size_t off;
                int32_t len;
                assert_int_equal(sb_keyenc_decode(t, d, &p, end, &out, &off, &len), 0);
                assert_ptr_equal(p, end);
                assert_int_equal(off, 2);
                sb_value got = {out.data + off, len};
                if (len < 0)
                    got.p = NULL;
                if ((len < 0) != (pl->v[i].len < 0) || sb_value_cmp(t, got, V(&pl->v[i])) != 0) {
                    hexdump("orig", pl->v[i].p, pl->v[i].len);
                    hexdump("back", got.p, got.len);
                    fail_msg("%s: decode mismatch (desc %d)", all_types[ti], d);
                }
                /* Re-encoding the decoded value gives the same bytes. */
                assert_int_equal(sb_keyenc_append(&again, t, got, d), 0);
                assert_int_equal(again.len, pl->enc[d][i].len);
                assert_memory_equal(again.data, pl->enc[d][i].data, again.len);
                sb_buf_free(&out);
                sb_buf_free(&again);
            }
        pool_free(pl);
        free(pl);
    }
}

/* Two-component keys: (a asc|desc, b asc|desc) concatenated. */
static void test_keyenc_concatenation(void **state)
{
    for (int round = 0; round < 40; round++) {
        sb_type ta = T(all_types[rndn(NTYPES)]), tb = T(all_types[rndn(NTYPES)]);
        int da = rndn(2), db = rndn(2);
        pool *pa = calloc(1, sizeof(*pa)), *pb = calloc(1, sizeof(*pb));
        pool_fill(pa, ta);
        pool_fill(pb, tb);
        /* Make many first components equal so the second one decides. */
        for (int i = 1; i < POOL; i += 2) {
            sb_buf_reset(&pa->enc[da][i]);
            sb_buf_append(&pa->enc[da][i], pa->enc[da][i - 1].data, pa->enc[da][i - 1].len);
            free(pa->v[i].p);
            pa->v[i].len = pa->v[i - 1].len;
            pa->v[i].p = malloc(pa->v[i].len > 0 ? (size_t)pa->v[i].len : 1);
            if (pa->v[i].len > 0)
                memcpy(pa->v[i].p, pa->v[i - 1].p, (size_t)pa->v[i].len);
        }
        sb_buf key[POOL];
        for (int i = 0; i < POOL; i++) {
            sb_buf_init(&key[i]);
            sb_buf_append(&key[i], pa->enc[da][i].data, pa->enc[da][i].len);
            sb_buf_append(&key[i], pb->enc[db][i].data, pb->enc[db][i].len);
        }
        for (int i = 0; i < POOL; i++)
            for (int j = 0; j < POOL; j++) {
                int c = sgn(sb_value_cmp(ta, V(&pa->v[i]), V(&pa->v[j])));
                if (da)
                    c = -c;
                if (c == 0) {
                    c = sgn(sb_value_cmp(tb, V(&pb->v[i]), V(&pb->v[j])));
                    if (db)
                        c = -c;
                }
                assert_int_equal(memcmp_sgn(&key[i], &key[j]), c);
            }
        /* Decode both components back in sequence. */
        for (int i = 0; i < POOL; i++) {
            sb_buf out;
            sb_buf_init(&out);
            const uint8_t *p = key[i].data, *end = p + key[i].len;
            size_t off;
            int32_t len;
            assert_int_equal(sb_keyenc_decode(ta, da, &p, end, &out, &off, &len), 0);
            assert_int_equal(sb_keyenc_decode(tb, db, &p, end, &out, &off, &len), 0);
            assert_ptr_equal(p, end);
            sb_value got = {len < 0 ? NULL : out.data + off, len};
            assert_int_equal(sb_value_cmp(tb, got, V(&pb->v[i])), 0);
            sb_buf_free(&out);
            sb_buf_free(&key[i]);
        }
        pool_free(pa);
        pool_free(pb);
        free(pa);
        free(pb);
    }
}

static void test_keyenc_rejects_and_corrupt(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    /* Invalid values are refused and leave the buffer unchanged. */
    sb_buf_append(&b, "k", 1);
    assert_int_equal(sb_keyenc_append(&b, T("int"), (sb_value){(const uint8_t *)"\1\2\3", 3}, 0),
                     SB_EINVAL);
    assert_int_equal(sb_keyenc_append(&b, T("text"), (sb_value){(const uint8_t *)"\xff", 1}, 0),
                     SB_EINVAL);
    assert_int_equal(b.len, 1);

    /* Truncated and malformed encodings are SB_ECORRUPT, never a crash. */
    sb_type types[NTYPES];
    for (size_t ti = 0; ti < NTYPES; ti++)
        types[ti] = T(all_types[ti]);
    for (int round = 0; round < 3000; round++) {
        sb_type t = types[rndn(NTYPES)];
        sb_buf enc, out;
        sb_buf_init(&enc);
        sb_buf_init(&out);
        sb_buf v;
        sb_buf_init(&v);
        int32_t len;
        gen_value(t, &v, &len);
        assert_int_equal(sb_keyenc_append(&enc, t, (sb_value){v.data, len}, 0), 0);
        size_t cut = rndn((unsigned)enc.len);
        if (rndn(2))
            enc.data[rndn((unsigned)enc.len)] ^= (uint8_t)(1u << rndn(8));
        const uint8_t *p = enc.data;
        size_t off;
        int32_t l;
        int rv = sb_keyenc_decode(t, 0, &p, enc.data + cut, &out, &off, &l);
        assert_true(rv == 0 || rv == SB_ECORRUPT);
        char err[SB_ERRMSG_SIZE];
        if (rv == 0 && l > 0)
            assert_int_equal(sb_value_validate(t, out.data + off, (size_t)l, err), 0);
        sb_buf_free(&enc);
        sb_buf_free(&out);
        sb_buf_free(&v);
    }
    const uint8_t bad[] = {0x07};
    const uint8_t *p = bad;
    size_t off;
    int32_t l;
    assert_int_equal(sb_keyenc_decode(T("int"), 0, &p, bad + 1, &b, &off, &l), SB_ECORRUPT);
    assert_ptr_equal(p, bad);
    sb_buf_free(&b);
}

static void test_keyenc_examples(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_keyenc_append(&b, T("int"), (sb_value){(const uint8_t *)"\0\0\0\1", 4}, 0),
                     0);
    assert_memory_equal(b.data, "\x03\x80\x00\x00\x01", 5);
    sb_buf_reset(&b);
    assert_int_equal(sb_keyenc_append(&b, T("text"), (sb_value){(const uint8_t *)"a\0b", 3}, 0), 0);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data,
                        "\x03"
                        "a\x00\xff"
                        "b\x00\x01",
                        7);
    sb_buf_reset(&b);
    assert_int_equal(sb_keyenc_append(&b, T("text"), SB_VALUE_NULL, 1), 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 0xFE);
    sb_buf_free(&b);
}

/* ---- names ------------------------------------------------------------ */

static void test_type_parse_and_name(void **state)
{
    static const char *names[] = {
        "ascii",
        "bigint",
        "blob",
        "boolean",
        "decimal",
        "double",
        "float",
        "int",
        "timestamp",
        "uuid",
        "text",
        "varint",
        "timeuuid",
        "inet",
        "date",
        "time",
        "smallint",
        "tinyint",
        "list<int>",
        "set<text>",
        "map<text, float>",
        "frozen<list<int>>",
        "frozen<map<timeuuid, blob>>",
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sb_type t;
        assert_int_equal(sb_type_parse(names[i], &t), 0);
        assert_string_equal(sb_type_name(t, buf, sizeof(buf)), names[i]);
    }
    sb_type t;
    assert_int_equal(sb_type_parse("  MAP < VarChar ,FLOAT >\t", &t), 0);
    assert_int_equal(t.id, SB_TYPE_MAP);
    assert_int_equal(t.a, SB_TYPE_TEXT);
    assert_int_equal(t.b, SB_TYPE_FLOAT);
    assert_int_equal(t.frozen, 0);
    assert_string_equal(sb_type_name(t, buf, sizeof(buf)), "map<text, float>");
    assert_int_equal(sb_type_parse("Frozen<Set<UUID>>", &t), 0);
    assert_string_equal(sb_type_name(t, buf, sizeof(buf)), "frozen<set<uuid>>");
    assert_int_equal(sb_type_parse("varchar", &t), 0);
    assert_int_equal(t.id, SB_TYPE_TEXT);

    static const char *bad[] = {"",
                                "int8",
                                "list<>",
                                "list<int",
                                "frozen<int>",
                                "map<int>",
                                "list<list<int>>",
                                "int x",
                                "frozen<frozen<list<int>>>",
                                "counter",
                                "map<int, text",
                                "set<int>>",
                                "averyveryverylongtypename"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sb_type_parse(bad[i], &t) != SB_EINVAL)
            fail_msg("'%s' parsed", bad[i]);
    assert_null(sb_type_id_name(0x05));
    assert_string_equal(sb_type_id_name(SB_TYPE_TEXT), "text");
    assert_string_equal(sb_type_id_name(SB_TYPE_LIST), "list");
}

/* ---- validation ------------------------------------------------------- */

static void expect_invalid(const char *type, const void *p, size_t n, const char *msg)
{
    char err[SB_ERRMSG_SIZE] = "";
    assert_int_equal(sb_value_validate(T(type), p, n, err), SB_EINVAL);
    assert_string_equal(err, msg);
}

static void test_validate(void **state)
{
    char err[SB_ERRMSG_SIZE];
    expect_invalid("int", "\1\2\3", 3, "int value must be 4 bytes, got 3");
    expect_invalid("smallint", "", 0, "smallint value must be 2 bytes, got 0");
    expect_invalid("text", "a\xff", 2, "invalid UTF-8 in text value at offset 1");
    expect_invalid("text", "\xc0\x80", 2, "invalid UTF-8 in text value at offset 0"); /* overlong */
    expect_invalid("text", "\xed\xa0\x80", 3, "invalid UTF-8 in text value at offset 0");
    expect_invalid("text", "ab\xe2\x82", 4, "invalid UTF-8 in text value at offset 2");
    expect_invalid("ascii", "ab\x80", 3, "invalid ascii byte 0x80 at offset 2");
    expect_invalid("timeuuid", "0123456789abcdef", 16,
                   "timeuuid must be a version 1 uuid, got version 3");
    expect_invalid("time", "\0\0\x4e\x94\x91\x4f\0\0", 8,
                   "time value 86400000000000 out of range (0..86399999999999 ns)");
    expect_invalid("inet", "\1\2\3\4\5", 5, "inet value must be 4 or 16 bytes, got 5");
    expect_invalid("decimal", "\0\0\0\0", 4, "decimal value must be at least 5 bytes, got 4");
    expect_invalid("list<int>", "\0\0\0\2\0\0\0\4\0\0\0\1", 12,
                   "list<int> value truncated at element 1");
    expect_invalid("list<int>", "\0\0\0\1\0\0\0\3\0\0\1", 11,
                   "element 0: int value must be 4 bytes, got 3");
    expect_invalid("set<int>", "\0\0\0\1\xff\xff\xff\xff", 8, "null element 0 in set<int> value");
    expect_invalid("map<int, text>", "\0\0\0\1\0\0\0\4\0\0\0\1\0\0\0\1\xff", 17,
                   "element 0: invalid UTF-8 in text value at offset 0");
    expect_invalid("list<int>", "\0\0\0\0\0", 5, "1 trailing bytes after list<int> value");
    expect_invalid("list<int>", "\0\0", 2, "list<int> value too short (2 bytes) for its count");
    expect_invalid("list<int>", "\xff\0\0\0", 4,
                   "negative element count -16777216 in list<int> value");

    assert_int_equal(sb_value_validate(T("int"), (const uint8_t *)"", 0, err),
                     0); /* Cassandra's empty */
    assert_int_equal(
        sb_value_validate(T("text"), (const uint8_t *)"h\xc3\xa9\xf0\x9f\x98\x80", 7, err), 0);
    assert_int_equal(sb_value_validate(T("map<int, text>"),
                                       (const uint8_t *)"\0\0\0\1\0\0\0\4\0\0\0\1\0\0\0\0", 16,
                                       err),
                     0);
}

/* ---- order ------------------------------------------------------------ */

typedef struct bytes {
    const char *p;
    int32_t len;
} bytes;

static void expect_sorted(const char *type, const bytes *v, int n)
{
    sb_type t = T(type);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int c = sgn(sb_value_cmp(t, (sb_value){(const uint8_t *)v[i].p, v[i].len},
                                     (sb_value){(const uint8_t *)v[j].p, v[j].len}));
            int want = sgn(i - j);
            if (c != want)
                fail_msg("%s: cmp(#%d, #%d) = %d, want %d", type, i, j, c, want);
        }
}

#define SORTED(type, ...)                                                                          \
    do {                                                                                           \
        const bytes v_[] = {__VA_ARGS__};                                                          \
        expect_sorted((type), v_, (int)(sizeof(v_) / sizeof(v_[0])));                              \
    } while (0)

static void test_cmp_order(void **state)
{
    SORTED("int", {NULL, -1}, {"", 0}, {"\x80\0\0\0", 4}, {"\xff\xff\xff\xff", 4}, {"\0\0\0\0", 4},
           {"\0\0\0\1", 4}, {"\x7f\xff\xff\xff", 4});
    SORTED("tinyint", {"\x80", 1}, {"\xff", 1}, {"\0", 1}, {"\x7f", 1});
    SORTED("bigint", {"\x80\0\0\0\0\0\0\0", 8}, {"\xff\xff\xff\xff\xff\xff\xff\xfe", 8},
           {"\0\0\0\0\0\0\0\0", 8}, {"\x7f\0\0\0\0\0\0\0", 8});
    /* -Inf, -1, -0.0, 0.0, smallest denormal, 1, +Inf, NaN */
    SORTED("float", {"\xff\x80\0\0", 4}, {"\xbf\x80\0\0", 4}, {"\x80\0\0\0", 4}, {"\0\0\0\0", 4},
           {"\0\0\0\1", 4}, {"\x3f\x80\0\0", 4}, {"\x7f\x80\0\0", 4}, {"\x7f\xc0\0\0", 4});
    SORTED("double", {"\xff\xf0\0\0\0\0\0\0", 8}, {"\xbf\xf0\0\0\0\0\0\0", 8},
           {"\x80\0\0\0\0\0\0\0", 8}, {"\0\0\0\0\0\0\0\0", 8}, {"\x3f\xf0\0\0\0\0\0\0", 8},
           {"\x7f\xf0\0\0\0\0\0\0", 8}, {"\x7f\xf8\0\0\0\0\0\0", 8});
    {
        sb_type d = T("double");
        /* Every NaN is the same. */
        assert_int_equal(sb_value_cmp(d, (sb_value){(const uint8_t *)"\xff\xf8\0\0\0\0\0\1", 8},
                                      (sb_value){(const uint8_t *)"\x7f\xf8\0\0\0\0\0\0", 8}),
                         0);
    }
    SORTED("boolean", {"\0", 1}, {"\1", 1});
    assert_int_equal(sb_value_cmp(T("boolean"), (sb_value){(const uint8_t *)"\1", 1},
                                  (sb_value){(const uint8_t *)"\x05", 1}),
                     0);
    SORTED("date", {"\0\0\0\0", 4}, {"\x7f\xff\xff\xff", 4}, {"\x80\0\0\0", 4},
           {"\xff\xff\xff\xff", 4});
    SORTED("text", {"", 0}, {"A", 1}, {"a", 1}, {"a\0", 2}, {"ab", 2}, {"z", 1}, {"\xc3\xa9", 2});
    SORTED("blob", {"\0", 1}, {"\0\0", 2}, {"\1", 1}, {"\xff", 1});
    SORTED("inet", {"\1\2\3\4", 4}, {"\x7f\0\0\1", 4}, {"\x7f\0\0\1\0\0\0\0\0\0\0\0\0\0\0\0", 16});
    /* -129, -128, -1, 0, 1, 127, 128, 256 and a long one */
    SORTED("varint", {"\xff\x7f", 2}, {"\x80", 1}, {"\xff", 1}, {"\0", 1}, {"\1", 1}, {"\x7f", 1},
           {"\0\x80", 2}, {"\1\0", 2}, {"\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 9});
    assert_int_equal(sb_value_cmp(T("varint"), (sb_value){(const uint8_t *)"\xff\xff\x80", 3},
                                  (sb_value){(const uint8_t *)"\x80", 1}),
                     0);
    /* -10, -1.5, -0.001, 0, 0.001, 1.5, 2, 1E+3, 1001 */
    SORTED("decimal", {"\0\0\0\0\xf6", 5}, {"\0\0\0\1\xf1", 5}, {"\0\0\0\3\xff", 5},
           {"\0\0\0\5\0", 5}, {"\0\0\0\3\1", 5}, {"\0\0\0\1\x0f", 5}, {"\0\0\0\0\2", 5},
           {"\xff\xff\xff\xfd\1", 5}, {"\0\0\0\0\x03\xe9", 6});
    assert_int_equal(sb_value_cmp(T("decimal"), (sb_value){(const uint8_t *)"\0\0\0\1\x0f", 5},
                                  (sb_value){(const uint8_t *)"\0\0\0\2\0\x96", 6}),
                     0); /* 1.5 == 1.50 */
    /* timeuuid: time_hi decides before time_low; then bytes 8.. as signed */
    SORTED("timeuuid", {"\xff\xff\xff\xff\0\0\x10\0\0\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\1\x10\0\0\0\0\0\0\0\0\0", 16}, {"\0\0\0\0\0\0\x10\1\x80\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\0\x10\1\xff\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\0\x10\1\x00\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\0\x10\1\x7f\0\0\0\0\0\0\0", 16});
    /* uuid: version first, v1 by time, others by bytes (unsigned) */
    SORTED("uuid", {"\xff\xff\xff\xff\0\0\x10\0\0\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\1\x10\0\0\0\0\0\0\0\0\0", 16}, {"\xff\0\0\0\0\0\x20\0\0\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\0\x40\0\0\0\0\0\0\0\0\0", 16}, {"\0\0\0\0\0\0\x40\0\x7f\0\0\0\0\0\0\0", 16},
           {"\0\0\0\0\0\0\x40\0\x80\0\0\0\0\0\0\0", 16},
           {"\x01\0\0\0\0\0\x40\0\0\0\0\0\0\0\0\0", 16});
    /* [] < [1] < [1, 2] < [2] */
    SORTED("frozen<list<int>>", {"\0\0\0\0", 4}, {"\0\0\0\1\0\0\0\4\0\0\0\1", 12},
           {"\0\0\0\2\0\0\0\4\0\0\0\1\0\0\0\4\0\0\0\2", 20}, {"\0\0\0\1\0\0\0\4\0\0\0\2", 12});
    /* {1: 'b'} < {1: 'c'} < {2: 'a'} */
    SORTED("frozen<map<int, text>>", {"\0\0\0\1\0\0\0\4\0\0\0\1\0\0\0\1b", 17},
           {"\0\0\0\1\0\0\0\4\0\0\0\1\0\0\0\1c", 17}, {"\0\0\0\1\0\0\0\4\0\0\0\2\0\0\0\1a", 17});
}

/* ---- literals and rendering -------------------------------------------- */

static const struct lit_case {
    const char *type;
    int kind;
    const char *text;
    const char *shown; /* sb_value_format */
    const char *json;  /* sb_value_to_json */
} lit_cases[] = {
    {"int", SB_LIT_INTEGER, "42", "42", "42"},
    {"int", SB_LIT_INTEGER, "-2147483648", "-2147483648", "-2147483648"},
    {"tinyint", SB_LIT_INTEGER, "-128", "-128", "-128"},
    {"smallint", SB_LIT_INTEGER, "32767", "32767", "32767"},
    {"bigint", SB_LIT_INTEGER, "-9223372036854775808", "-9223372036854775808",
     "-9223372036854775808"},
    {"bigint", SB_LIT_INTEGER, "+007", "7", "7"},
    {"varint", SB_LIT_INTEGER, "-123456789012345678901234567890", "-123456789012345678901234567890",
     "-123456789012345678901234567890"},
    {"varint", SB_LIT_INTEGER, "0", "0", "0"},
    {"decimal", SB_LIT_FLOAT, "1.50", "1.50", "1.50"},
    {"decimal", SB_LIT_FLOAT, "-2e3", "-2E+3", "-2E+3"},
    {"decimal", SB_LIT_FLOAT, "0.0000001", "1E-7", "1E-7"},
    {"decimal", SB_LIT_FLOAT, "0.000001", "0.000001", "0.000001"},
    {"decimal", SB_LIT_FLOAT, "123.456", "123.456", "123.456"},
    {"decimal", SB_LIT_FLOAT, "1.2345E+6", "1.2345E+6", "1.2345E+6"},
    {"decimal", SB_LIT_INTEGER, "42", "42", "42"},
    {"float", SB_LIT_FLOAT, "21.5", "21.5", "21.5"},
    {"float", SB_LIT_FLOAT, "0.1", "0.1", "0.1"},
    {"float", SB_LIT_INTEGER, "3", "3", "3"},
    {"float", SB_LIT_FLOAT, "NaN", "NaN", "\"NaN\""},
    {"double", SB_LIT_FLOAT, "-Infinity", "-Infinity", "\"-Infinity\""},
    {"double", SB_LIT_FLOAT, "0.1", "0.1", "0.1"},
    {"double", SB_LIT_FLOAT, "1e20", "1e+20", "1e+20"},
    /* Whole numbers below 1e16 in full, not %g's "4e+01". */
    {"double", SB_LIT_INTEGER, "40", "40", "40"},
    {"double", SB_LIT_FLOAT, "-300.0", "-300", "-300"},
    {"double", SB_LIT_FLOAT, "1.5e15", "1500000000000000", "1500000000000000"},
    {"float", SB_LIT_FLOAT, "1.5e10", "15000000000", "15000000000"},
    {"float", SB_LIT_INTEGER, "1000000", "1000000", "1000000"},
    {"double", SB_LIT_FLOAT, "3.141592653589793", "3.141592653589793", "3.141592653589793"},
    {"boolean", SB_LIT_BOOL, "true", "True", "true"},
    {"boolean", SB_LIT_BOOL, "FALSE", "False", "false"},
    {"text", SB_LIT_STRING, "it's", "it's", "\"it's\""},
    {"text", SB_LIT_STRING, "a\"b\\c\nd\x01", "a\"b\\\\c\\nd\\x01", "\"a\\\"b\\\\c\\nd\\u0001\""},
    {"text", SB_LIT_STRING, "h\xc3\xa9", "h\xc3\xa9", "\"h\xc3\xa9\""},
    {"ascii", SB_LIT_STRING, "plain", "plain", "\"plain\""},
    {"timestamp", SB_LIT_STRING, "2026-11-21T15:04:05.123Z", "2026-11-21 15:04:05.123000+0000",
     "\"2026-11-21T15:04:05.123Z\""},
    {"timestamp", SB_LIT_STRING, "2026-11-21 15:04:05+0100", "2026-11-21 14:04:05.000000+0000",
     "\"2026-11-21T14:04:05.000Z\""},
    {"timestamp", SB_LIT_STRING, "2026-11-21 15:04-05:30", "2026-11-21 20:34:00.000000+0000",
     "\"2026-11-21T20:34:00.000Z\""},
    {"timestamp", SB_LIT_STRING, "2026-11-21", "2026-11-21 00:00:00.000000+0000",
     "\"2026-11-21T00:00:00.000Z\""},
    {"timestamp", SB_LIT_STRING, "2026-11-21 15:04:05.123456 +0000",
     "2026-11-21 15:04:05.123000+0000", "\"2026-11-21T15:04:05.123Z\""},
    {"timestamp", SB_LIT_STRING, "1969-12-31 23:59:59.999", "1969-12-31 23:59:59.999000+0000",
     "\"1969-12-31T23:59:59.999Z\""},
    {"timestamp", SB_LIT_INTEGER, "1795273445123", "2026-11-21 15:04:05.123000+0000",
     "\"2026-11-21T15:04:05.123Z\""},
    {"timestamp", SB_LIT_STRING, "1795273445123", "2026-11-21 15:04:05.123000+0000",
     "\"2026-11-21T15:04:05.123Z\""},
    /* The ends of the range, as Java's Instant prints them. */
    {"timestamp", SB_LIT_INTEGER, "-9223372036854775808", "-292275055-05-16 16:47:04.192000+0000",
     "\"-292275055-05-16T16:47:04.192Z\""},
    {"timestamp", SB_LIT_STRING, "292278994-08-17 07:12:55.807Z",
     "292278994-08-17 07:12:55.807000+0000", "\"292278994-08-17T07:12:55.807Z\""},
    {"date", SB_LIT_STRING, "2026-11-21", "2026-11-21", "\"2026-11-21\""},
    {"date", SB_LIT_STRING, "1900-02-28", "1900-02-28", "\"1900-02-28\""},
    {"date", SB_LIT_INTEGER, "2147504426", "2026-11-21", "\"2026-11-21\""},
    {"date", SB_LIT_INTEGER, "2147483648", "1970-01-01", "\"1970-01-01\""},
    {"time", SB_LIT_STRING, "15:04:05.123456789", "15:04:05.123456789", "\"15:04:05.123456789\""},
    {"time", SB_LIT_STRING, "08:00:01.5", "08:00:01.500000000", "\"08:00:01.500000000\""},
    {"time", SB_LIT_INTEGER, "1000", "00:00:00.000001000", "\"00:00:00.000001000\""},
    {"uuid", SB_LIT_UUID, "123E4567-E89B-12D3-A456-426614174000",
     "123e4567-e89b-12d3-a456-426614174000", "\"123e4567-e89b-12d3-a456-426614174000\""},
    {"uuid", SB_LIT_STRING, "123e4567-e89b-42d3-a456-426614174000",
     "123e4567-e89b-42d3-a456-426614174000", "\"123e4567-e89b-42d3-a456-426614174000\""},
    {"timeuuid", SB_LIT_UUID, "50554d6e-29bb-11e5-b345-feff819cdc9f",
     "50554d6e-29bb-11e5-b345-feff819cdc9f", "\"50554d6e-29bb-11e5-b345-feff819cdc9f\""},
    {"inet", SB_LIT_STRING, "127.0.0.1", "127.0.0.1", "\"127.0.0.1\""},
    {"inet", SB_LIT_STRING, "2001:DB8::ff00:42:8329", "2001:db8::ff00:42:8329",
     "\"2001:db8::ff00:42:8329\""},
    {"blob", SB_LIT_HEX, "0xCAFE", "0xcafe", "\"0xcafe\""},
    {"blob", SB_LIT_HEX, "0x", "0x", "\"0x\""},
};

static void test_literals_and_rendering(void **state)
{
    char err[SB_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof(lit_cases) / sizeof(lit_cases[0]); i++) {
        const struct lit_case *c = &lit_cases[i];
        sb_type t = T(c->type);
        sb_buf v, f, j;
        sb_buf_init(&v);
        sb_buf_init(&f);
        sb_buf_init(&j);
        int rv = sb_value_from_literal(&v, t, c->kind, c->text, strlen(c->text), err);
        if (rv)
            fail_msg("%s %s: %s", c->type, c->text, err);
        assert_int_equal(sb_value_validate(t, v.data, v.len, err), 0);
        sb_value val = {v.data, (int32_t)v.len};
        assert_int_equal(sb_value_format(&f, t, val), 0);
        assert_int_equal(sb_value_to_json(&j, t, val), 0);
        if (strcmp(sb_buf_cstr(&f), c->shown) != 0)
            fail_msg("%s %s: shown as '%s', want '%s'", c->type, c->text, sb_buf_cstr(&f),
                     c->shown);
        if (strcmp(sb_buf_cstr(&j), c->json) != 0)
            fail_msg("%s %s: JSON %s, want %s", c->type, c->text, sb_buf_cstr(&j), c->json);
        sb_buf_free(&v);
        sb_buf_free(&f);
        sb_buf_free(&j);
    }
}

static const struct err_case {
    const char *type;
    int kind;
    const char *text;
    const char *msg;
} err_cases[] = {
    {"int", SB_LIT_INTEGER, "3000000000", "value 3000000000 out of range for int"},
    {"tinyint", SB_LIT_INTEGER, "128", "value 128 out of range for tinyint"},
    {"bigint", SB_LIT_INTEGER, "9223372036854775808",
     "value 9223372036854775808 out of range for bigint"},
    {"bigint", SB_LIT_INTEGER, "12x", "invalid integer literal '12x'"},
    {"text", SB_LIT_INTEGER, "42", "invalid INTEGER constant (42) for type text"},
    {"int", SB_LIT_STRING, "abc", "invalid STRING constant ('abc') for type int"},
    {"int", SB_LIT_FLOAT, "1.5", "invalid FLOAT constant (1.5) for type int"},
    {"int", SB_LIT_BOOL, "true", "invalid BOOLEAN constant (true) for type int"},
    {"text", SB_LIT_UUID, "123e4567-e89b-12d3-a456-426614174000",
     "invalid UUID constant (123e4567-e89b-12d3-a456-426614174000) for type text"},
    {"int", SB_LIT_HEX, "0x01", "invalid HEX constant (0x01) for type int"},
    {"list<int>", SB_LIT_INTEGER, "1", "invalid INTEGER constant (1) for type list<int>"},
    {"blob", SB_LIT_STRING, "cafe",
     "invalid STRING constant ('cafe') for type blob: write blobs as hex (0x...)"},
    {"blob", SB_LIT_HEX, "0xabc", "hex literal 0xabc has an odd number of digits"},
    {"blob", SB_LIT_HEX, "0xag", "invalid hex digit 'g' at offset 3"},
    {"timestamp", SB_LIT_STRING, "2026-13-01",
     "unable to parse timestamp '2026-13-01': month out of range"},
    {"timestamp", SB_LIT_STRING, "2026-02-29",
     "unable to parse timestamp '2026-02-29': day out of range"},
    {"timestamp", SB_LIT_STRING, "2026-11-21 25:00",
     "unable to parse timestamp '2026-11-21 25:00': hour out of range"},
    {"timestamp", SB_LIT_STRING, "2026-11-21 15:04:05 tomorrow",
     "unable to parse timestamp '2026-11-21 15:04:05 tomorrow': unexpected text after the "
     "timestamp"},
    {"timestamp", SB_LIT_STRING, "yesterday",
     "unable to parse timestamp 'yesterday': expected yyyy-mm-dd"},
    {"timestamp", SB_LIT_STRING, "2026-11-21+25",
     "unable to parse timestamp '2026-11-21+25': zone "
     "offset out of range"},
    {"timestamp", SB_LIT_STRING, "999999999-12-31",
     "unable to parse timestamp '999999999-12-31': out of range"},
    {"date", SB_LIT_STRING, "2026-11-21x",
     "unable to parse date '2026-11-21x': unexpected text after the date"},
    {"date", SB_LIT_INTEGER, "4294967296",
     "value 4294967296 out of range for date (0..4294967295, epoch at 2147483648)"},
    {"date", SB_LIT_STRING, "9999999-01-01", "value 9999999-01-01 out of range for date"},
    {"time", SB_LIT_STRING, "24:00:00", "unable to parse time '24:00:00': hour out of range"},
    {"time", SB_LIT_STRING, "12:00", "unable to parse time '12:00': expected hh:mm:ss[.fffffffff]"},
    {"time", SB_LIT_INTEGER, "86400000000000",
     "value 86400000000000 out of range for time (0..86399999999999 ns)"},
    {"inet", SB_LIT_STRING, "1.2.3", "unable to parse inet '1.2.3': not an IPv4 or IPv6 address"},
    {"uuid", SB_LIT_STRING, "not-a-uuid", "invalid uuid 'not-a-uuid'"},
    {"timeuuid", SB_LIT_UUID, "123e4567-e89b-42d3-a456-426614174000",
     "123e4567-e89b-42d3-a456-426614174000 is not a version 1 uuid (version 4): timeuuid needs "
     "one"},
    {"ascii", SB_LIT_STRING, "caf\xc3\xa9",
     "invalid ascii literal: non-ASCII byte 0xc3 at offset 3"},
    {"text", SB_LIT_STRING, "a\xff", "invalid UTF-8 at byte 1 of text literal"},
    {"decimal", SB_LIT_FLOAT, "NaN", "invalid decimal value 'NaN'"},
    {"decimal", SB_LIT_FLOAT, "1e99999999999",
     "value 1e99999999999 out of range for decimal "
     "(scale must fit 32 bits)"},
    {"float", SB_LIT_FLOAT, "1e39", "value 1e39 out of range for float"},
    {"double", SB_LIT_FLOAT, "1e999", "value 1e999 out of range for double"},
    {"double", SB_LIT_FLOAT, "0x1p3", "invalid double value '0x1p3'"},
};

static void test_literal_errors(void **state)
{
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const struct err_case *c = &err_cases[i];
        char err[SB_ERRMSG_SIZE] = "";
        sb_buf v;
        sb_buf_init(&v);
        sb_buf_append(&v, "keep", 4);
        int rv = sb_value_from_literal(&v, T(c->type), c->kind, c->text, strlen(c->text), err);
        if (rv != SB_EINVALID)
            fail_msg("%s %s: returned %d (%s)", c->type, c->text, rv, err);
        if (strcmp(err, c->msg) != 0)
            fail_msg("%s %s: message '%s', want '%s'", c->type, c->text, err, c->msg);
        assert_int_equal(v.len, 4); /* out unchanged */
        sb_buf_free(&v);
    }
    /* The literal text is not NUL-terminated: only len bytes are read. */
    char err[SB_ERRMSG_SIZE];
    sb_buf v;
    sb_buf_init(&v);
    assert_int_equal(sb_value_from_literal(&v, T("int"), SB_LIT_INTEGER, "123456", 2, err), 0);
    assert_memory_equal(v.data, "\0\0\0\x0c", 4);
    sb_buf_free(&v);
}

static void test_collections(void **state)
{
    char err[SB_ERRMSG_SIZE];
    sb_buf v, f;
    sb_buf_init(&v);
    sb_buf_init(&f);
    sb_value ints[] = {{(const uint8_t *)"\0\0\0\2", 4},
                       {(const uint8_t *)"\0\0\0\1", 4},
                       {(const uint8_t *)"\0\0\0\2", 4}};

    assert_int_equal(sb_value_build_collection(&v, T("list<int>"), ints, 3, err), 0);
    sb_value val = {v.data, (int32_t)v.len};
    assert_int_equal(sb_value_format(&f, T("list<int>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "[2, 1, 2]");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_to_json(&f, T("list<int>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "[2, 1, 2]");

    sb_buf_reset(&v);
    sb_buf_reset(&f);
    assert_int_equal(sb_value_build_collection(&v, T("set<int>"), ints, 3, err), 0);
    assert_int_equal(v.len, 4 + 2 * 8); /* sorted, duplicate dropped */
    val = (sb_value){v.data, (int32_t)v.len};
    assert_int_equal(sb_value_format(&f, T("set<int>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{1, 2}");

    sb_value kv[] = {{(const uint8_t *)"b", 1}, {(const uint8_t *)"\x3f\xc0\0\0", 4},
                     {(const uint8_t *)"a", 1}, {(const uint8_t *)"\x41\xac\0\0", 4},
                     {(const uint8_t *)"b", 1}, {(const uint8_t *)"\x40\x20\0\0", 4}};
    sb_buf_reset(&v);
    sb_buf_reset(&f);
    assert_int_equal(sb_value_build_collection(&v, T("map<text, float>"), kv, 6, err), 0);
    val = (sb_value){v.data, (int32_t)v.len};
    assert_int_equal(sb_value_format(&f, T("map<text, float>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{'a': 21.5, 'b': 2.5}"); /* last 'b' wins */
    sb_buf_reset(&f);
    assert_int_equal(sb_value_to_json(&f, T("map<text, float>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{\"a\": 21.5, \"b\": 2.5}");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_format_cql(&f, T("map<text, float>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{'a': 21.5, 'b': 2.5}");

    /* Non-string map keys become JSON strings. */
    sb_value ik[] = {{(const uint8_t *)"\0\0\0\1", 4}, {(const uint8_t *)"it's", 4}};
    sb_buf_reset(&v);
    sb_buf_reset(&f);
    assert_int_equal(sb_value_build_collection(&v, T("map<int, text>"), ik, 2, err), 0);
    val = (sb_value){v.data, (int32_t)v.len};
    assert_int_equal(sb_value_to_json(&f, T("map<int, text>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{\"1\": \"it's\"}");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_format(&f, T("map<int, text>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{1: 'it''s'}");

    /* Empty collections. */
    sb_buf_reset(&v);
    sb_buf_reset(&f);
    assert_int_equal(sb_value_build_collection(&v, T("set<text>"), NULL, 0, err), 0);
    val = (sb_value){v.data, (int32_t)v.len};
    assert_int_equal(sb_value_format(&f, T("set<text>"), val), 0);
    assert_string_equal(sb_buf_cstr(&f), "{}");

    /* Errors leave out unchanged. */
    sb_buf_reset(&v);
    sb_value withnull[] = {{(const uint8_t *)"\0\0\0\1", 4}, SB_VALUE_NULL};
    assert_int_equal(sb_value_build_collection(&v, T("list<int>"), withnull, 2, err), SB_EINVALID);
    assert_string_equal(err, "null is not supported inside collections");
    sb_value badint[] = {{(const uint8_t *)"\0\0\1", 3}};
    assert_int_equal(sb_value_build_collection(&v, T("set<int>"), badint, 1, err), SB_EINVALID);
    assert_string_equal(err, "element 0 of set<int>: int value must be 4 bytes, got 3");
    assert_int_equal(sb_value_build_collection(&v, T("map<int, text>"), ik, 1, err), SB_EINVALID);
    assert_string_equal(err, "map literal needs key: value pairs");
    assert_int_equal(sb_value_build_collection(&v, T("int"), ik, 1, err), SB_EINVALID);
    assert_string_equal(err, "int is not a collection type");
    assert_int_equal(v.len, 0);
    sb_buf_free(&v);
    sb_buf_free(&f);
}

static void test_format_special(void **state)
{
    sb_buf f;
    sb_buf_init(&f);
    assert_int_equal(sb_value_format(&f, T("int"), SB_VALUE_NULL), 0);
    assert_string_equal(sb_buf_cstr(&f), "null");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_to_json(&f, T("int"), SB_VALUE_NULL), 0);
    assert_string_equal(sb_buf_cstr(&f), "null");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_to_json(&f, T("int"), (sb_value){(const uint8_t *)"", 0}), 0);
    assert_string_equal(sb_buf_cstr(&f), "null");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_format(&f, T("int"), (sb_value){(const uint8_t *)"", 0}), 0);
    assert_string_equal(sb_buf_cstr(&f), "");
    assert_int_equal(sb_value_format_cql(&f, T("int"), (sb_value){(const uint8_t *)"", 0}), 0);
    assert_string_equal(sb_buf_cstr(&f), "blobAsInt(0x)");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_to_json(&f, T("text"), (sb_value){(const uint8_t *)"", 0}), 0);
    assert_string_equal(sb_buf_cstr(&f), "\"\"");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_format_cql(&f, T("text"), (sb_value){(const uint8_t *)"it's", 4}), 0);
    assert_string_equal(sb_buf_cstr(&f), "'it''s'");
    sb_buf_reset(&f);
    assert_int_equal(sb_value_format_cql(&f, T("boolean"), (sb_value){(const uint8_t *)"\1", 1}),
                     0);
    assert_string_equal(sb_buf_cstr(&f), "true");
    /* Invalid values are refused, out unchanged. */
    sb_buf_reset(&f);
    assert_int_equal(sb_value_format(&f, T("int"), (sb_value){(const uint8_t *)"\1", 1}),
                     SB_EINVAL);
    assert_int_equal(
        sb_value_to_json(&f, T("list<int>"), (sb_value){(const uint8_t *)"\0\0\0\1", 4}),
        SB_EINVAL);
    assert_int_equal(f.len, 0);
    sb_buf_free(&f);
}

static void test_put(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_TINYINT, 128), SB_EINVAL);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_SMALLINT, -32769), SB_EINVAL);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_INT, 1LL << 31), SB_EINVAL);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_TIME, -1), SB_EINVAL);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_TEXT, 1), SB_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_INT, -2), 0);
    assert_memory_equal(b.data, "\xff\xff\xff\xfe", 4);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_DATE, 0), 0);
    assert_memory_equal(b.data, "\x80\0\0\0", 4);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_VARINT, 128), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\0\x80", 2);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_VARINT, -1), 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 0xFF);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_int(&b, SB_TYPE_DECIMAL, 5), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\0\0\0\0\5", 5);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_double(&b, SB_TYPE_FLOAT, 1e39), SB_EINVAL);
    assert_int_equal(sb_value_put_double(&b, SB_TYPE_INT, 1), SB_EINVAL);
    assert_int_equal(sb_value_put_double(&b, SB_TYPE_FLOAT, 21.5), 0);
    assert_memory_equal(b.data, "\x41\xac\0\0", 4);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_double(&b, SB_TYPE_DOUBLE, -2.0), 0);
    assert_memory_equal(b.data, "\xc0\0\0\0\0\0\0\0", 8);
    sb_buf_reset(&b);
    assert_int_equal(sb_value_put_bool(&b, 7), 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 1);
    sb_buf_free(&b);
}

/* Every random value of every scalar type: sb_value_format_cql's output,
 * classified as the CQL lexer would, parses back to an equal value; and
 * format/JSON never fail on a valid value. */
static int classify(const char *s, size_t n)
{
    if (s[0] == '\'')
        return SB_LIT_STRING;
    if (n > 1 && s[0] == '0' && s[1] == 'x')
        return SB_LIT_HEX;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
        return SB_LIT_BOOL;
    if (n == 36 && s[8] == '-' && s[13] == '-')
        return SB_LIT_UUID;
    return strpbrk(s, ".eEIN") ? SB_LIT_FLOAT : SB_LIT_INTEGER;
}

static void test_literal_roundtrip(void **state)
{
    for (size_t ti = 0; ti < NTYPES; ti++) {
        sb_type t = T(all_types[ti]);
        for (int round = 0; round < 400; round++) {
            sb_buf v, f, j, back, unq;
            sb_buf_init(&v);
            sb_buf_init(&f);
            sb_buf_init(&j);
            sb_buf_init(&back);
            sb_buf_init(&unq);
            int32_t len;
            gen_value(t, &v, &len);
            sb_value val = {len < 0 ? NULL : v.data, len};
            assert_int_equal(sb_value_format(&f, t, val), 0);
            assert_int_equal(sb_value_to_json(&j, t, val), 0);
            sb_buf_reset(&f);
            assert_int_equal(sb_value_format_cql(&f, t, val), 0);
            if (len <= 0 || sb_type_is_collection(t))
                goto next; /* null, empty and collections are not single literals */
            const char *s = sb_buf_cstr(&f);
            int kind = classify(s, f.len);
            if (kind == SB_LIT_STRING) {
                for (size_t i = 1; i + 1 < f.len; i++) {
                    sb_buf_putc(&unq, f.data[i]);
                    if (f.data[i] == '\'')
                        i++;
                }
                s = (const char *)unq.data;
                if (!s)
                    s = "";
            }
            size_t sl = kind == SB_LIT_STRING ? unq.len : f.len;
            char err[SB_ERRMSG_SIZE];
            if (sb_value_from_literal(&back, t, kind, s, sl, err))
                fail_msg("%s: %s does not parse back: %s", all_types[ti], sb_buf_cstr(&f), err);
            if (sb_value_cmp(t, (sb_value){back.data, (int32_t)back.len}, val) != 0) {
                hexdump("orig", v.data, len);
                hexdump("back", back.data, (int32_t)back.len);
                fail_msg("%s: %s parses back to another value", all_types[ti], sb_buf_cstr(&f));
            }
        next:
            sb_buf_free(&v);
            sb_buf_free(&f);
            sb_buf_free(&j);
            sb_buf_free(&back);
            sb_buf_free(&unq);
        }
    }
}

/* ---- entry ------------------------------------------------------------- */

int main(void)
{
    /* SB_TEST_SEED=n replays (or varies) the random values. */
    const char *seed = getenv("SB_TEST_SEED");
    if (seed && strtoull(seed, NULL, 0))
        rng_state = strtoull(seed, NULL, 0);
    fprintf(stderr, "random seed 0x%llx\n", (unsigned long long)rng_state);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_parse_and_name),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_cmp_order),
        cmocka_unit_test(test_literals_and_rendering),
        cmocka_unit_test(test_literal_errors),
        cmocka_unit_test(test_collections),
        cmocka_unit_test(test_format_special),
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_literal_roundtrip),
        cmocka_unit_test(test_keyenc_examples),
        cmocka_unit_test(test_keyenc_order_matches_cmp),
        cmocka_unit_test(test_keyenc_decode_roundtrip),
        cmocka_unit_test(test_keyenc_concatenation),
        cmocka_unit_test(test_keyenc_rejects_and_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
