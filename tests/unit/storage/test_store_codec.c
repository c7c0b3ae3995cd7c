/* Storage engine: the row fragment codec and reconciliation rules. */
#include "test.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
