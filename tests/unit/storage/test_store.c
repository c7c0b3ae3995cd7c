/* Storage engine: writes, reads, reconciliation, deletions, TTL, order. */
#include "store_fixture.h"

static int setup(void **state)
{
    fx_mkdir();
    return 0;
}

static int teardown(void **state)
{
    fx_rmdir();
    return 0;
}

static void test_write_read_back(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    for (int i = 0; i < 10; i++)
        fx_put(s, t, "a", 100 + i, i * 1.5, 1000, 0, 1000);
    fx_put(s, t, "b", 5, 42.0, 1000, 0, 1000);
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(r->ts[i], 100 + i);
        assert_true(r->v[i] == i * 1.5);
        assert_int_equal(r->liveness[i], 1000);
        assert_string_equal(r->sensor[i], "a");
    }
    fx_read(s, t, "b", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    assert_true(r->v[0] == 42.0);
    fx_read(s, t, "zzz", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 0);
    /* Survives compaction and reopening. */
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_store_compact_all(s, err), 0);
    sb_store_close(s);
    s = fx_open(NULL, NULL);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 10);
    assert_true(r->v[9] == 9 * 1.5);
    free(r);
    sb_store_close(s);
}

/* Writes v for (a, 1) with the given timestamp/ttl, or a tombstone. */
static void put_cell(sb_store *s, const sb_table *t, int64_t wts, int32_t ttl, sb_value v,
                     int64_t now_s)
{
    char err[SB_ERRMSG_SIZE];
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text("a"), ck = fx_bigint(1);
    sb_cell c = fx_cell(fx_colid(t, "v"), wts, ttl, v);
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, -1, 0, &c, 1, now_s, err), 0);
    fx_write(s, b);
}

static void test_lww_tie_breaks(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    fx_rows *r = calloc(1, sizeof(*r));

    /* Higher timestamp wins whatever the order of arrival. */
    put_cell(s, t, 20, 0, fx_double(2.0), 1000);
    put_cell(s, t, 10, 0, fx_double(1.0), 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    assert_true(r->v[0] == 2.0);

    /* Equal timestamps: the larger value wins. */
    put_cell(s, t, 30, 0, fx_double(3.0), 1000);
    put_cell(s, t, 30, 0, fx_double(2.5), 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_true(r->v[0] == 3.0);

    /* Equal timestamps: the later expiry wins over the larger value
     * (a non-expiring cell counts as expiring last). */
    put_cell(s, t, 40, 100, fx_double(9.0), 1000);
    put_cell(s, t, 40, 200, fx_double(1.0), 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_true(r->v[0] == 1.0);
    put_cell(s, t, 40, 0, fx_double(0.5), 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_true(r->v[0] == 0.5);

    /* Equal timestamps: the tombstone wins over any value. */
    put_cell(s, t, 50, 0, fx_double(7.0), 1000);
    put_cell(s, t, 50, 0, SB_VALUE_NULL, 1000);
    put_cell(s, t, 50, 0, fx_double(8.0), 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 0); /* no row marker, no live cell */

    /* ... and the same results after compaction (merge inside RocksDB). */
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 0);
    put_cell(s, t, 51, 0, fx_double(6.0), 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    assert_true(r->v[0] == 6.0);
    free(r);
    sb_store_close(s);
}

static void test_deletions_shadow_older_only(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    char err[SB_ERRMSG_SIZE];
    fx_rows *r = calloc(1, sizeof(*r));
    for (int i = 0; i < 10; i++)
        fx_put(s, t, "a", i, i, 100, 0, 1000);
    fx_put(s, t, "a", 3, 33, 300, 0, 1000); /* newer than the deletions */

    /* Row deletion at 200: row 2 goes, a rewrite at 150 stays hidden. */
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text("a"), ck = fx_bigint(2);
    assert_int_equal(sb_wbatch_delete_row(b, t, &pk, &ck, 200, 1000, err), 0);
    fx_write(s, b);
    fx_put(s, t, "a", 2, 22, 150, 0, 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 9);
    assert_int_equal(r->ts[2], 3);

    /* Range deletion [3, 6) at 200: 4, 5 go; 3 was rewritten at 300. */
    b = sb_wbatch_new();
    sb_value lo = fx_bigint(3), hi = fx_bigint(6);
    sb_bound sb = {&lo, 1, 1}, eb = {&hi, 1, 0};
    assert_int_equal(sb_wbatch_delete_range(b, t, &pk, &sb, &eb, 200, 1000, err), 0);
    fx_write(s, b);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    int64_t want1[] = {0, 1, 3, 6, 7, 8, 9};
    assert_int_equal(r->n, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(r->ts[i], want1[i]);
    assert_true(r->v[2] == 33);
    /* A write newer than the range tombstone inside its range shows. */
    fx_put(s, t, "a", 5, 55, 250, 0, 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 8);

    /* Partition deletion at 260: only rows written later remain. */
    b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_delete_partition(b, t, &pk, 260, 1000, err), 0);
    fx_write(s, b);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ts[0], 3);
    fx_put(s, t, "a", 7, 77, 270, 0, 1000);
    fx_put(s, t, "b", 1, 1, 10, 0, 1000); /* another partition: untouched */
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->ts[0], 3);
    assert_int_equal(r->ts[1], 7);
    fx_read(s, t, "b", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    free(r);
    sb_store_close(s);
}

static void test_ttl_expiry_and_purge(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 10);
    char err[SB_ERRMSG_SIZE];
    fx_rows *r = calloc(1, sizeof(*r));
    fx_put(s, t, "a", 1, 1.0, 100, 60, 1000); /* expires at 1060 */
    fx_put(s, t, "a", 2, 2.0, 100, 0, 1000);
    fx_read(s, t, "a", NULL, NULL, 0, 1059, r);
    assert_int_equal(r->n, 2);
    fx_read(s, t, "a", NULL, NULL, 0, 1060, r);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ts[0], 2);

    /* Compaction before expiry keeps it; after expiry + gc_grace it is
     * gone even for a reader whose clock is earlier. */
    sb_store_set_now(s, 1030);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 2);
    sb_store_set_now(s, 1065); /* expired, within gc_grace: a tombstone */
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 1);
    /* The tombstone still shadows an older write... */
    put_cell(s, t, 50, 0, fx_double(5.0), 1065);
    fx_read(s, t, "a", NULL, NULL, 0, 1065, r);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ts[0], 2);
    /* ...until gc_grace has passed and a compaction purged it: then an
     * older write shows again (Cassandra's gc_grace contract). */
    sb_store_set_now(s, 1071);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    put_cell(s, t, 50, 0, fx_double(5.0), 1071);
    fx_read(s, t, "a", NULL, NULL, 0, 1071, r);
    assert_int_equal(r->n, 2);
    assert_true(r->v[0] == 5.0);
    free(r);
    sb_store_close(s);
}

static void test_partition_tombstone_purge(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 10);
    char err[SB_ERRMSG_SIZE];
    fx_rows *r = calloc(1, sizeof(*r));
    for (int i = 0; i < 5; i++)
        fx_put(s, t, "a", i, i, 100, 0, 1000);
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text("a");
    assert_int_equal(sb_wbatch_delete_partition(b, t, &pk, 200, 1000, err), 0);
    fx_write(s, b);
    sb_store_set_now(s, 1005);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_put(s, t, "a", 9, 9, 150, 0, 1005); /* older than the deletion */
    fx_read(s, t, "a", NULL, NULL, 0, 1005, r);
    assert_int_equal(r->n, 0);
    /* After gc_grace a full compaction drops the deletion together with
     * what it shadowed: nothing resurrects, newer-than-nothing writes show. */
    sb_store_set_now(s, 2000);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    fx_read(s, t, "a", NULL, NULL, 0, 2000, r);
    assert_int_equal(r->n, 0);
    fx_put(s, t, "a", 8, 8, 120, 0, 2000);
    fx_read(s, t, "a", NULL, NULL, 0, 2000, r);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ts[0], 8);
    sb_store_stats st;
    sb_store_get_stats(s, &st);
    assert_true(st.compactions > 0);
    free(r);
    sb_store_close(s);
}

static void test_clustering_order_and_slices(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *asc = fx_setup(s, "ks", "asc", 0, 864000);
    const sb_table *desc = fx_setup(s, "ks", "desc", 1, 864000);
    fx_rows *r = calloc(1, sizeof(*r));
    int64_t vals[] = {5, -3, 100, 0, 42, -1000};
    for (int i = 0; i < 6; i++) {
        fx_put(s, asc, "p", vals[i], i, 10, 0, 1000);
        fx_put(s, desc, "p", vals[i], i, 10, 0, 1000);
    }
    int64_t up[] = {-1000, -3, 0, 5, 42, 100};
    fx_read(s, asc, "p", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r->ts[i], up[i]);
    fx_read(s, asc, "p", NULL, NULL, 1, 1000, r);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r->ts[i], up[5 - i]);
    fx_read(s, desc, "p", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r->ts[i], up[5 - i]);
    fx_read(s, desc, "p", NULL, NULL, 1, 1000, r);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r->ts[i], up[i]);

    /* Slices: bounds are in clustering order. ts >= -3 AND ts < 42. */
    sb_value a = fx_bigint(-3), b = fx_bigint(42);
    sb_bound lo = {&a, 1, 1}, hi = {&b, 1, 0};
    fx_read(s, asc, "p", &lo, &hi, 0, 1000, r);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->ts[0], -3);
    assert_int_equal(r->ts[2], 5);
    fx_read(s, asc, "p", &lo, &hi, 1, 1000, r);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->ts[0], 5);
    assert_int_equal(r->ts[2], -3);
    /* DESC: clustering order is descending, so start = 42 (exclusive). */
    sb_bound dlo = {&b, 1, 0}, dhi = {&a, 1, 1};
    fx_read(s, desc, "p", &dlo, &dhi, 0, 1000, r);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->ts[0], 5);
    assert_int_equal(r->ts[2], -3);
    fx_read(s, desc, "p", &dlo, &dhi, 1, 1000, r);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->ts[0], -3);
    /* One-sided bounds. */
    fx_read(s, asc, "p", NULL, &hi, 1, 1000, r);
    assert_int_equal(r->n, 4);
    assert_int_equal(r->ts[0], 5);
    fx_read(s, asc, "p", &lo, NULL, 0, 1000, r);
    assert_int_equal(r->n, 5);
    free(r);
    sb_store_close(s);
}

static void test_token_range_scan(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    fx_rows *r = calloc(1, sizeof(*r));
    char name[32];
    for (int p = 0; p < 50; p++) {
        snprintf(name, sizeof(name), "sensor-%d", p);
        for (int i = 0; i < 3; i++)
            fx_put(s, t, name, i, p, 10, 0, 1000);
    }
    fx_read(s, t, NULL, NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 150);
    for (int i = 1; i < r->n; i++) {
        assert_true(r->token[i - 1] <= r->token[i]);
        if (r->token[i - 1] == r->token[i])
            assert_true(r->ts[i - 1] < r->ts[i]);
    }
    /* Reversed: partitions still in token order, rows reversed inside. */
    fx_read(s, t, NULL, NULL, NULL, 1, 1000, r);
    assert_int_equal(r->n, 150);
    for (int i = 0; i < r->n; i += 3) {
        assert_int_equal(r->ts[i], 2);
        assert_int_equal(r->ts[i + 2], 0);
        if (i)
            assert_true(r->token[i - 1] < r->token[i]);
    }
    /* A sub-range (lo, hi] holds exactly the partitions in it. */
    fx_read(s, t, NULL, NULL, NULL, 0, 1000, r);
    int64_t lo = r->token[30], hi = r->token[120];
    int want = 0;
    for (int i = 0; i < r->n; i++)
        want += r->token[i] > lo && r->token[i] <= hi;
    char err[SB_ERRMSG_SIZE];
    sb_read rd = {.t = t, .tok_lo = lo, .tok_hi = hi, .now_s = 1000};
    sb_iter *it;
    assert_int_equal(sb_store_iter(s, &rd, &it, err), 0);
    sb_row row;
    int n = 0, parts = 0;
    while (sb_iter_next(it, &row) == 1) {
        assert_true(row.token > lo && row.token <= hi);
        parts += row.new_partition;
        n++;
    }
    sb_iter_free(it);
    assert_int_equal(n, want);
    assert_int_equal(parts, want / 3);
    free(r);
    sb_store_close(s);
}

static void test_static_and_collections(void **state)
{
    sb_store *s = fx_open(NULL, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    char err[SB_ERRMSG_SIZE];
    sb_value pk = fx_text("a"), ck = fx_bigint(1);
    uint16_t sid = fx_colid(t, "s"), mid = fx_colid(t, "m");

    /* Static only: one row with null clustering. */
    sb_wbatch *b = sb_wbatch_new();
    sb_cell st = fx_cell(sid, 10, 0, fx_text("room-1"));
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, NULL, -1, 0, &st, 1, 1000, err), 0);
    fx_write(s, b);
    sb_read rd = {.t = t, .pk = &pk, .now_s = 1000};
    sb_iter *it;
    sb_row row;
    assert_int_equal(sb_store_iter(s, &rd, &it, err), 0);
    assert_int_equal(sb_iter_next(it, &row), 1);
    assert_int_equal(row.ck[0].len, -1);
    assert_int_equal(row.ncells, 1);
    assert_memory_equal(row.cells[0].value.p, "room-1", 6);
    assert_int_equal(sb_iter_next(it, &row), 0);
    sb_iter_free(it);

    /* Map elements; a collection deletion at 20 hides older elements. */
    sb_cell cells[3] = {
        {.col = mid, .ts_us = 10, .elem = fx_text("x"), .value = fx_int(1)},
        {.col = mid, .ts_us = 10, .elem = fx_text("y"), .value = fx_int(2)},
        {.col = mid, .ts_us = 30, .elem = fx_text("z"), .value = fx_int(3)},
    };
    b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, 10, 0, cells, 3, 1000, err), 0);
    fx_write(s, b);
    assert_int_equal(sb_store_iter(s, &rd, &it, err), 0);
    assert_int_equal(sb_iter_next(it, &row), 1);
    assert_int_equal(row.ncells, 4); /* m[x], m[y], m[z], s (ordered by column id) */
    assert_int_equal(row.cells[0].col, mid);
    assert_memory_equal(row.cells[1].elem.p, "y", 1);
    assert_int_equal(row.cells[3].col, sid);
    sb_iter_free(it);

    sb_cell del = {.col = mid,
                   .flags = SB_CELL_COMPLEX_DELETE,
                   .ts_us = 20,
                   .elem = SB_VALUE_NULL,
                   .value = SB_VALUE_NULL};
    b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, -1, 0, &del, 1, 1000, err), 0);
    fx_write(s, b);
    assert_int_equal(sb_store_compact_all(s, err), 0);
    assert_int_equal(sb_store_iter(s, &rd, &it, err), 0);
    assert_int_equal(sb_iter_next(it, &row), 1);
    assert_int_equal(row.ncells, 2);
    assert_memory_equal(row.cells[0].elem.p, "z", 1);
    assert_int_equal(row.liveness_ts, 10);
    sb_iter_free(it);

    /* Elements on a non-collection column are rejected with a reason. */
    sb_cell bad = {
        .col = fx_colid(t, "v"), .ts_us = 1, .elem = fx_text("k"), .value = fx_double(1)};
    b = sb_wbatch_new();
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, -1, 0, &bad, 1, 1000, err), SB_EINVALID);
    assert_non_null(strstr(err, "not a non-frozen collection"));
    sb_value nullpk = SB_VALUE_NULL;
    assert_int_equal(sb_wbatch_upsert(b, t, &nullpk, &ck, 1, 0, NULL, 0, 1000, err), SB_EINVALID);
    assert_non_null(strstr(err, "sensor"));
    assert_int_equal(sb_wbatch_count(b), 0);
    sb_wbatch_free(b);
    sb_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lww_tie_breaks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deletions_shadow_older_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expiry_and_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_tombstone_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clustering_order_and_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_range_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_and_collections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
