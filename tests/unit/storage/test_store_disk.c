/* Storage engine: a full or failing disk (storage/disk.c), through the
 * fault-injection seam of sb_store_opts (statfs, write_fault): the
 * free-space reserve refuses writes and lets them through again, an
 * ENOSPC from RocksDB makes the store refuse writes until space returns,
 * and disk_failure_policy decides what an I/O error does. */
#include "store_fixture.h"

#include <errno.h>
#include <time.h>

#define MIB (1ull << 20)

typedef struct fake_disk {
    uint64_t free_bytes, total_bytes;
    int fault_errno; /* injected into the next fault_count writes */
    int fault_count;
    int statfs_calls;
} fake_disk;

static int fake_statfs(void *arg, const char *dir, uint64_t *free_bytes, uint64_t *total_bytes)
{
    fake_disk *d = arg;
    d->statfs_calls++;
    *free_bytes = d->free_bytes;
    *total_bytes = d->total_bytes;
    return 0;
}

static int fake_fault(void *arg)
{
    fake_disk *d = arg;
    if (d->fault_count <= 0)
        return 0;
    d->fault_count--;
    return d->fault_errno;
}

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

/* Longer than the store's 100 ms between free-space checks. */
static void past_check_interval(void)
{
    struct timespec ts = {0, 130 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

typedef struct wctx {
    int done, last_status;
} wctx;

static void on_write(void *arg, int status)
{
    wctx *w = arg;
    w->done++;
    w->last_status = status;
}

static sb_wbatch *row_batch(const sb_table *t, int64_t ts)
{
    char err[SB_ERRMSG_SIZE];
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text("a"), ck = fx_bigint(ts);
    sb_cell c = fx_cell(fx_colid(t, "v"), 10, 0, fx_double((double)ts));
    assert_int_equal(sb_wbatch_upsert(b, t, &pk, &ck, 10, 0, &c, 1, 1000, err), 0);
    return b;
}

/* Queues one write and runs the loop until it completes; returns the
 * synchronous refusal or the callback's status. */
static int write_one(uv_loop_t *loop, sb_store *s, const sb_table *t, int64_t ts)
{
    wctx w = {0};
    int rv = sb_store_write(s, row_batch(t, ts), on_write, &w);
    if (rv)
        return rv;
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(w.done, 1);
    return w.last_status;
}

static sb_store *open_fake(uv_loop_t *loop, fake_disk *d, int64_t reserve, sb_disk_policy p)
{
    sb_store_opts o;
    sb_store_opts_default(&o);
    o.min_free_bytes = reserve;
    o.disk_failure_policy = p;
    o.node_name = "n1:7000";
    o.statfs = fake_statfs;
    o.write_fault = fake_fault;
    o.fault_arg = d;
    return fx_open(loop, &o);
}

static int count_rows(sb_store *s, const sb_table *t)
{
    fx_rows *r = calloc(1, sizeof(*r));
    fx_read(s, t, "a", NULL, NULL, 0, 1000, r);
    int n = r->n;
    free(r);
    return n;
}

static void close_store(uv_loop_t *loop, sb_store *s)
{
    sb_store_close(s);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_reserve_refuses_then_resumes(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_disk d = {.free_bytes = 1024 * MIB, .total_bytes = 2048 * MIB};
    sb_store *s = open_fake(&loop, &d, 100 * MIB, SB_DISK_POLICY_BEST_EFFORT);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    assert_int_equal(write_one(&loop, s, t, 1), 0);

    d.free_bytes = 50 * MIB;
    past_check_interval();
    wctx w = {0};
    assert_int_equal(sb_store_write(s, row_batch(t, 2), on_write, &w), SB_EDISKFULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(w.done, 0); /* refused: no callback */
    sb_disk_status ds;
    sb_store_disk_status(s, &ds);
    assert_int_equal(ds.state, SB_DISK_LOW);
    assert_int_equal(ds.refused[SB_DISK_LOW], 1);
    assert_int_equal(ds.min_free_bytes, 100 * MIB);
    assert_int_equal(ds.free_bytes, 50 * MIB);
    assert_non_null(strstr(ds.reason, "disk full on n1:7000: "));
    assert_non_null(strstr(ds.reason, fx_dir));
    char why[256];
    sb_store_disk_why(s, why, sizeof why);
    assert_string_equal(why, ds.reason);
    /* Reads keep working. */
    assert_int_equal(count_rows(s, t), 1);

    d.free_bytes = 200 * MIB;
    past_check_interval();
    assert_int_equal(write_one(&loop, s, t, 3), 0);
    sb_store_disk_status(s, &ds);
    assert_int_equal(ds.state, SB_DISK_OK);
    sb_store_disk_why(s, why, sizeof why);
    assert_string_equal(why, "");
    assert_int_equal(count_rows(s, t), 2);
    close_store(&loop, s);
}

static void test_free_space_checked_at_most_every_100ms(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_disk d = {.free_bytes = 1024 * MIB, .total_bytes = 2048 * MIB};
    sb_store *s = open_fake(&loop, &d, 100 * MIB, SB_DISK_POLICY_BEST_EFFORT);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    int before = d.statfs_calls;
    for (int i = 0; i < 50; i++)
        assert_int_equal(write_one(&loop, s, t, i), 0);
    /* 50 small writes in well under a second: a handful of checks. */
    assert_true(d.statfs_calls - before <= 10);
    close_store(&loop, s);
}

static void test_enospc_refuses_until_space_returns(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_disk d = {.free_bytes = 1024 * MIB, .total_bytes = 2048 * MIB};
    sb_store *s = open_fake(&loop, &d, 0, SB_DISK_POLICY_BEST_EFFORT);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    d.free_bytes = 0;
    d.fault_errno = ENOSPC;
    d.fault_count = 1;
    /* Accepted, then failed by "RocksDB". */
    assert_int_equal(write_one(&loop, s, t, 1), SB_EDISKFULL);
    sb_disk_status ds;
    sb_store_disk_status(s, &ds);
    assert_int_equal(ds.state, SB_DISK_FULL);
    assert_int_equal(ds.failed, 1);
    assert_non_null(strstr(ds.reason, "disk full on n1:7000"));
    /* Refused up front while the disk is full, whatever the time. */
    assert_int_equal(write_one(&loop, s, t, 2), SB_EDISKFULL);
    past_check_interval();
    assert_int_equal(write_one(&loop, s, t, 3), SB_EDISKFULL);
    sb_store_disk_status(s, &ds);
    assert_int_equal(ds.refused[SB_DISK_FULL], 2);

    d.free_bytes = 500 * MIB;
    past_check_interval();
    assert_int_equal(write_one(&loop, s, t, 4), 0);
    assert_int_equal(count_rows(s, t), 1);
    close_store(&loop, s);
}

static void test_io_error_best_effort_is_read_only(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_disk d = {.free_bytes = 1024 * MIB, .total_bytes = 2048 * MIB};
    sb_store *s = open_fake(&loop, &d, 0, SB_DISK_POLICY_BEST_EFFORT);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    assert_int_equal(write_one(&loop, s, t, 1), 0);
    d.fault_errno = EIO;
    d.fault_count = 1;
    assert_int_equal(write_one(&loop, s, t, 2), SB_EIO);
    past_check_interval();
    /* A failed disk stays failed: no probing. */
    assert_int_equal(write_one(&loop, s, t, 3), SB_EIO);
    sb_disk_status ds;
    sb_store_disk_status(s, &ds);
    assert_int_equal(ds.state, SB_DISK_FAILED);
    assert_int_equal(ds.refused[SB_DISK_FAILED], 1);
    assert_non_null(strstr(ds.reason, "disk failure on n1:7000"));
    assert_int_equal(count_rows(s, t), 1);
    close_store(&loop, s);
}

static void test_io_error_ignore_fails_one_write(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_disk d = {.free_bytes = 1024 * MIB, .total_bytes = 2048 * MIB};
    sb_store *s = open_fake(&loop, &d, 0, SB_DISK_POLICY_IGNORE);
    const sb_table *t = fx_setup(s, "ks", "t", 0, 864000);
    d.fault_errno = EIO;
    d.fault_count = 1;
    assert_int_equal(write_one(&loop, s, t, 1), SB_EIO);
    assert_int_equal(write_one(&loop, s, t, 2), 0);
    sb_disk_status ds;
    sb_store_disk_status(s, &ds);
    assert_int_equal(ds.state, SB_DISK_OK);
    assert_int_equal(ds.failed, 1);
    assert_int_equal(count_rows(s, t), 1);
    close_store(&loop, s);
}

static void test_default_reserve(void **state)
{
    assert_int_equal(sb_disk_default_reserve(64 * MIB), 16 * MIB); /* a quarter at most */
    assert_int_equal(sb_disk_default_reserve(10240 * MIB), 256 * MIB);
    assert_int_equal(sb_disk_default_reserve(1024 * 1024 * MIB), 1024 * 1024 * MIB / 50);
    assert_string_equal(sb_disk_state_name(SB_DISK_LOW), "low");
    assert_string_equal(sb_disk_state_name(SB_DISK_FAILED), "failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reserve_refuses_then_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_space_checked_at_most_every_100ms, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enospc_refuses_until_space_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_error_best_effort_is_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_error_ignore_fails_one_write, setup, teardown),
        cmocka_unit_test(test_default_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
