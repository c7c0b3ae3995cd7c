/* Storage engine: the commit thread (group commit, periodic sync,
 * overload, draining at close) through a real libuv loop. */
#include "store_fixture.h"

#include <time.h>

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

typedef struct wctx {
    int done;
    int failed;
} wctx;

static void on_write(void *arg, int status)
{
    wctx *w = arg;
    w->done++;
    if (status)
        w->failed++;
}

static sb_wbatch *row_batch(const sb_table *t, const char *sensor, int64_t ts)
{
    char err[SB_ERRMSG_SIZE];
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text(sensor), ck = fx_bigint(ts);
    sb_cell c = fx_cell(fx_colid(t, "v"), 10, 0, fx_double((double)ts));
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, 10, 0, &c, 1, 1000, err), 0);
    return b;
}

static void test_group_commit_shares_syncs(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    sb_store *s = fx_open(&loop, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    sb_store_stats st0, st;
    sb_store_get_stats(s, &st0);
    wctx w = {0};
    const int n = 500;
    for (int i = 0; i < n; i++)
        assert_int_equal(sb_store_write(s, row_batch(t, "a", i), on_write, &w), 0);
    /* Callbacks run only on the loop. */
    assert_int_equal(w.done, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once nothing is outstanding */
    assert_int_equal(w.done, n);
    assert_int_equal(w.failed, 0);
    sb_store_get_stats(s, &st);
    assert_int_equal(st.writes - st0.writes, n);
    assert_true(st.wal_syncs - st0.wal_syncs >= 1);
    assert_true(st.wal_syncs - st0.wal_syncs < (uint64_t)n);
    assert_true(st.wal_sync_seconds > 0);
    assert_int_equal(st.queued, 0);
    print_message("group commit: %d writes, %llu fsyncs\n", n,
                  (unsigned long long)(st.wal_syncs - st0.wal_syncs));
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, n);
    free(r);
    sb_store_close(s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_overload_when_queue_full(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    sb_store_opts o;
    sb_store_opts_default(&o);
    o.max_queued_writes = 2;
    sb_store *s = fx_open(&loop, &o);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    wctx w = {0};
    int accepted = 0, overloaded = 0;
    for (int i = 0; i < 2000; i++) {
        int rv = sb_store_write(s, row_batch(t, "a", i), on_write, &w);
        if (rv == 0)
            accepted++;
        else if (rv == SB_EOVERLOADED)
            overloaded++;
        else
            fail_msg("unexpected write status %d", rv);
    }
    assert_true(overloaded > 0);
    assert_true(accepted >= 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(w.done, accepted); /* every accepted write completes once */
    assert_int_equal(w.failed, 0);
    /* Once drained, writes are accepted again. */
    assert_int_equal(sb_store_write(s, row_batch(t, "b", 1), on_write, &w), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(w.done, accepted + 1);
    sb_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_close_drains_queue(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    sb_store *s = fx_open(&loop, NULL);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    wctx w = {0};
    for (int i = 0; i < 300; i++)
        assert_int_equal(sb_store_write(s, row_batch(t, "a", i), on_write, &w), 0);
    sb_store_close(s); /* without running the loop */
    assert_int_equal(w.done, 300);
    assert_int_equal(w.failed, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);

    s = fx_open(NULL, NULL);
    t = sb_schema_table(sb_store_schema(s), "ks", "t");
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    assert_int_equal(r->n, 300);
    /* Without a loop only the synchronous path writes. */
    assert_int_equal(sb_store_write(s, row_batch(t, "a", 1), on_write, &w), SB_EINVAL);
    free(r);
    sb_store_close(s);
}

static void test_periodic_sync(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    sb_store_opts o;
    sb_store_opts_default(&o);
    o.sync_mode = SB_SYNC_PERIODIC;
    o.sync_period_ms = 50;
    sb_store *s = fx_open(&loop, &o);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    sb_store_stats st0, st;
    sb_store_get_stats(s, &st0);
    wctx w = {0};
    for (int i = 0; i < 100; i++)
        assert_int_equal(sb_store_write(s, row_batch(t, "a", i), on_write, &w), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(w.done, 100);
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    sb_store_get_stats(s, &st);
    assert_true(st.wal_syncs - st0.wal_syncs >= 2); /* the timer thread syncs */
    assert_int_equal(st.writes - st0.writes, 100);
    sb_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit_shares_syncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overload_when_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_drains_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
