/* Storage engine: the row fragment codec and reconciliation rules. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "storage/rowcodec.h"
#include "util/err.h"

static rc_cell cell(uint16_t col, uint8_t kind, int64_t ts, const char *val)
{
    rc_cell c = {.col = col, .kind = kind, .ts = ts, .elen = -1, .vlen = -1};
    if (val) {
        c.val = (const uint8_t *)val;
        c.vlen = (int32_t)strlen(val);
    }
    if (kind == RC_EXPIRING) {
        c.ttl = 60;
        c.ldt = 1060;
    } else if (kind != RC_LIVE) {
        c.ldt = 1000;
    }
    return c;
}

static void test_roundtrip(void **state)
{
    rc_frag f, g;
    rc_frag_init(&f);
    rc_frag_init(&g);
    f.has_live = 1;
    f.live_ts = 1700000000000000;
    f.live_ttl = 60;
    f.live_exp = 1060;
    f.has_del = 1;
    f.del_ts = 5;
    f.del_ldt = 999;
    rc_cell cs[] = {cell(1, RC_LIVE, f.live_ts, "abc"), cell(2, RC_TOMB, f.live_ts + 7, NULL),
                    cell(40, RC_EXPIRING, f.live_ts - 9, "x"), cell(40, RC_CDEL, 6, NULL),
                    cell(300, RC_LIVE, f.live_ts, "")};
    cs[2].elem = (const uint8_t *)"k";
    cs[2].elen = 1;
    for (int i = 0; i < 5; i++)
        assert_int_equal(rc_frag_add_cell(&f, &cs[i]), 0);
    rc_reconcile(&f);
    assert_int_equal(f.ncells, 5);
    assert_int_equal(f.cells[2].kind, RC_CDEL); /* sorts before the elements */
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(rc_encode(&f, &b), 0);
    assert_int_equal(rc_decode(&g, b.data, b.len), 0);
    assert_int_equal(g.ncells, 5);
    assert_int_equal(g.live_ts, f.live_ts);
    assert_int_equal(g.live_exp, 1060);
    assert_int_equal(g.del_ts, 5);
    assert_int_equal(g.del_ldt, 999);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(g.cells[i].col, f.cells[i].col);
        assert_int_equal(g.cells[i].kind, f.cells[i].kind);
        assert_int_equal(g.cells[i].ts, f.cells[i].ts);
        assert_int_equal(g.cells[i].ldt, f.cells[i].ldt);
        assert_int_equal(g.cells[i].elen, f.cells[i].elen);
        assert_int_equal(g.cells[i].vlen, f.cells[i].vlen);
    }
    /* Compact: a row of five doubles at one timestamp. */
    rc_frag_clear(&f);
    f.has_live = 1;
    f.live_ts = 1700000000000000;
    for (int i = 0; i < 5; i++) {
        rc_cell c = cell((uint16_t)(3 + i), RC_LIVE, f.live_ts, "12345678");
        rc_frag_add_cell(&f, &c);
    }
    sb_buf_reset(&b);
    assert_int_equal(rc_encode(&f, &b), 0);
    assert_true(b.len <= 5 * 10 + 11);
    /* Every truncation and bit flip decodes or fails cleanly. */
    for (size_t n = 0; n < b.len; n++) {
        rc_frag_clear(&g);
        int rv = rc_decode(&g, b.data, n);
        assert_true(rv == 0 || rv == SB_ECORRUPT);
        if (n > 0)
            assert_int_equal(rv, SB_ECORRUPT);
    }
    for (size_t n = 0; n < b.len * 8; n++) {
        b.data[n / 8] ^= (uint8_t)(1 << (n % 8));
        rc_frag_clear(&g);
        int rv = rc_decode(&g, b.data, b.len);
        assert_true(rv == 0 || rv == SB_ECORRUPT);
        b.data[n / 8] ^= (uint8_t)(1 << (n % 8));
    }
    sb_buf_free(&b);
    rc_frag_free(&f);
    rc_frag_free(&g);
}

static void put_be_n(uint8_t *p, int n, uint64_t v)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Encodes one live cell holding val[0..n) and checks it decodes to the very
 * same bytes; returns the encoded fragment's length. */
static size_t value_roundtrip(const uint8_t *val, int32_t n)
{
    rc_frag f, g;
    rc_frag_init(&f);
    rc_frag_init(&g);
    f.has_live = 1;
    f.live_ts = 1700000000000000;
    rc_cell c = {.col = 3, .kind = RC_LIVE, .ts = f.live_ts, .elen = -1, .val = val, .vlen = n};
    assert_int_equal(rc_frag_add_cell(&f, &c), 0);
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(rc_encode(&f, &b), 0);
    assert_int_equal(rc_decode(&g, b.data, b.len), 0);
    assert_int_equal(g.ncells, 1);
    assert_int_equal(g.cells[0].vlen, n);
    if (n)
        assert_memory_equal(g.cells[0].val, val, (size_t)n);
    size_t len = b.len;
    sb_buf_free(&b);
    rc_frag_free(&f);
    rc_frag_free(&g);
    return len;
}

static size_t double_roundtrip(double d)
{
    uint64_t bits;
    uint8_t v[8];
    memcpy(&bits, &d, 8);
    put_be_n(v, 8, bits);
    return value_roundtrip(v, 8);
}

/* Values are stored in the shortest tagged form that gives back the same
 * bytes (rowcodec.h): decimals and small integers shrink, nothing else
 * changes. */
static void test_compact_values(void **state)
{
    /* header: flags, 8-byte base timestamp varint, ncells, cell header */
    const size_t hdr = 1 + 8 + 1 + 1;
    assert_int_equal(double_roundtrip(21.37), hdr + 1 + 2);
    assert_int_equal(double_roundtrip(0.43), hdr + 1 + 1);
    assert_int_equal(double_roundtrip(1013.25), hdr + 1 + 3);
    assert_int_equal(double_roundtrip(-4.0), hdr + 1 + 1);
    assert_int_equal(double_roundtrip(0.0), hdr + 1 + 1);
    /* no decimal form: stored raw, bit for bit */
    double odd[] = {-0.0,    NAN,  -NAN,    INFINITY,  -INFINITY,          4.9e-324, 1e300,
                    -1e-300, M_PI, 1.0 / 3, 0.1 + 0.2, 9007199254740993.0, 1e17,     -2.5e-16};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        assert_true(double_roundtrip(odd[i]) <= hdr + 1 + 8);
    assert_int_equal(double_roundtrip(-0.0), hdr + 1 + 8);
    assert_int_equal(double_roundtrip(M_PI), hdr + 1 + 8);
    /* seeded random doubles and decimals */
    /* SB_TEST_SEED=n replays (or varies) the random values. */
    const char *env = getenv("SB_TEST_SEED");
    unsigned seed = env && strtoul(env, NULL, 0) ? (unsigned)strtoul(env, NULL, 0) : 20240611u;
    print_message("random seed %u\n", seed);
    for (int i = 0; i < 20000; i++) {
        uint64_t bits =
            (uint64_t)rand_r(&seed) << 42 ^ (uint64_t)rand_r(&seed) << 21 ^ (uint64_t)rand_r(&seed);
        double d;
        memcpy(&d, &bits, 8);
        double_roundtrip(d);
        double_roundtrip((double)(rand_r(&seed) % 2000001 - 1000000) / pow(10, i % 9));
    }
    /* integers of every width: big-endian two's complement */
    for (int n = 1; n <= 8; n++) {
        int64_t samples[] = {0,      1,         -1,        127,       -128,     483,
                             -70000, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
            uint8_t v[8];
            put_be_n(v, n, (uint64_t)samples[i]);
            size_t len = value_roundtrip(v, n);
            assert_true(len <= hdr + 1 + (size_t)n);
        }
    }
    uint8_t light[8];
    put_be_n(light, 8, 483);
    assert_int_equal(value_roundtrip(light, 8), hdr + 1 + 2);
    /* raw values of other lengths */
    assert_int_equal(value_roundtrip((const uint8_t *)"", 0), hdr + 1);
    assert_int_equal(value_roundtrip((const uint8_t *)"hello world", 11), hdr + 1 + 11);

    /* Fragments written before tagged values (flag 8 clear) still decode. */
    const uint8_t old[] = {0x01, 0x02, 0x01, 0x30, 0x03, 'a', 'b', 'c'};
    rc_frag g;
    rc_frag_init(&g);
    assert_int_equal(rc_decode(&g, old, sizeof(old)), 0);
    assert_int_equal(g.ncells, 1);
    assert_int_equal(g.cells[0].col, 3);
    assert_int_equal(g.cells[0].vlen, 3);
    assert_memory_equal(g.cells[0].val, "abc", 3);
    /* Malformed tags fail cleanly: form 3, integer widths 0 and 9, a value
     * outside its width, a scale above 15, a decimal beyond 2^53. */
    const uint8_t bad[][16] = {
        {0x09, 0x02, 0x01, 0x30, 0x03, 0x00},
        {0x09, 0x02, 0x01, 0x30, 0x01, 0x00},
        {0x09, 0x02, 0x01, 0x30, 0x25, 0x00},
        {0x09, 0x02, 0x01, 0x30, 0x05, 0x80, 0x02},
        {0x09, 0x02, 0x01, 0x30, 0x42, 0x00},
        {0x09, 0x02, 0x01, 0x30, 0x02, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
    };
    const size_t badlen[] = {6, 6, 6, 7, 6, 14};
    for (size_t i = 0; i < sizeof(badlen) / sizeof(badlen[0]); i++) {
        rc_frag_clear(&g);
        assert_int_equal(rc_decode(&g, bad[i], badlen[i]), SB_ECORRUPT);
    }
    /* and a well-formed tagged one decodes */
    const uint8_t good[] = {0x09, 0x02, 0x01, 0x30, 0x21, 0x06};
    rc_frag_clear(&g);
    assert_int_equal(rc_decode(&g, good, sizeof(good)), 0);
    const uint8_t three[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    assert_memory_equal(g.cells[0].val, three, 8);
    rc_frag_free(&g);
}

static void test_reconcile_rules(void **state)
{
    rc_cell live = cell(1, RC_LIVE, 10, "a"), bigger = cell(1, RC_LIVE, 10, "b");
    rc_cell tomb = cell(1, RC_TOMB, 10, NULL), newer = cell(1, RC_LIVE, 11, "a");
    rc_cell exp = cell(1, RC_EXPIRING, 10, "z"), exp2 = cell(1, RC_EXPIRING, 10, "a");
    exp2.ldt = 2000;
    assert_true(rc_cell_cmp_win(&newer, &tomb) > 0);
    assert_true(rc_cell_cmp_win(&tomb, &bigger) > 0);
    assert_true(rc_cell_cmp_win(&bigger, &live) > 0);
    assert_true(rc_cell_cmp_win(&live, &exp) > 0);  /* never expires > expires */
    assert_true(rc_cell_cmp_win(&exp2, &exp) > 0);  /* later expiry wins... */
    assert_true(rc_cell_cmp_win(&exp2, &live) < 0); /* ...not over no expiry */
    assert_int_equal(rc_cell_cmp_win(&live, &live), 0);

    /* A deletion in the fragment shadows cells at or below it. */
    rc_frag f;
    rc_frag_init(&f);
    f.has_del = 1;
    f.del_ts = 10;
    f.has_live = 1;
    f.live_ts = 10;
    rc_frag_add_cell(&f, &live);
    rc_frag_add_cell(&f, &newer);
    rc_cell other = cell(2, RC_LIVE, 9, "q");
    rc_frag_add_cell(&f, &other);
    rc_reconcile(&f);
    assert_int_equal(f.ncells, 1);
    assert_int_equal(f.cells[0].ts, 11);
    assert_false(f.has_live);
    /* Purge: expired cells turn into tombstones, old tombstones go. */
    rc_frag_clear(&f);
    rc_frag_add_cell(&f, &exp); /* expires 1060 */
    rc_frag_add_cell(&f, &other);
    rc_reconcile(&f);
    assert_int_equal(rc_purge(&f, 1059, 100), 0);
    assert_int_equal(rc_purge(&f, 1060, 100), 1);
    assert_int_equal(f.cells[0].kind, RC_TOMB);
    assert_int_equal(f.ncells, 2);
    rc_purge(&f, 1160, 100);
    assert_int_equal(f.ncells, 1);
    assert_int_equal(f.cells[0].col, 2);
    rc_frag_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_reconcile_rules),
        cmocka_unit_test(test_compact_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
