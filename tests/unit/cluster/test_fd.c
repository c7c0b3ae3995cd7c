/* Phi accrual failure detector (cluster/fd.c). */
#include "test.h"

#include <math.h>
#include <stdio.h>

#include "cluster/gossip.h"

static sb_fd fd; /* 8 KB: not on the stack */

/* Heartbeats every interval_ms from t = 0, n of them; returns the last. */
static uint64_t beat(sb_fd *f, uint64_t t0, int n, uint64_t interval_ms)
{
    uint64_t t = t0;
    for (int i = 0; i < n; i++) {
        t += interval_ms;
        sb_fd_report(f, t);
    }
    return t;
}

static void test_phi_grows_with_silence(void **state)
{
    sb_fd_init(&fd, 0, 1000);
    uint64_t t = beat(&fd, 0, 10, 1000);
    assert_true(sb_fd_phi(&fd, t) == 0);
    double prev = 0;
    for (uint64_t d = 100; d <= 30000; d += 100) {
        double phi = sb_fd_phi(&fd, t + d);
        assert_true(phi > prev);
        prev = phi;
    }
    /* Exponential model: phi = silence / mean * log10(e). */
    assert_true(fabs(sb_fd_phi(&fd, t + 1000) - M_LOG10E) < 1e-9);
    assert_true(fabs(sb_fd_phi(&fd, t + 5000) - 5 * M_LOG10E) < 1e-9);
}

static void test_threshold_crossing_1s(void **state)
{
    sb_fd_init(&fd, 0, 1000);
    uint64_t t = beat(&fd, 0, 100, 1000);
    uint64_t cross = 0;
    for (uint64_t d = 1; d < 60000; d++)
        if (sb_fd_phi(&fd, t + d) > 8.0) {
            cross = d;
            break;
        }
    print_message("phi > 8 after %llu ms of silence with 1 s heartbeats\n",
                  (unsigned long long)cross);
    /* 8 / log10(e) = 18.42 s */
    assert_true(cross >= 18420 && cross <= 18422);
    /* A faster heartbeat gives a proportionally faster verdict. */
    sb_fd_init(&fd, 0, 100);
    t = beat(&fd, 0, 100, 100);
    assert_true(sb_fd_phi(&fd, t + 1900) > 8.0);
    assert_true(sb_fd_phi(&fd, t + 1800) < 8.0);
}

static void test_jitter_uses_mean(void **state)
{
    sb_fd_init(&fd, 0, 1000);
    /* Alternating 500 and 1500 ms: the mean stays 1000 ms. */
    uint64_t t = 0;
    for (int i = 0; i < 200; i++) {
        t += (i % 2) ? 1500 : 500;
        sb_fd_report(&fd, t);
    }
    assert_true(fabs(sb_fd_phi(&fd, t + 1000) - M_LOG10E) < 1e-6);
}

static void test_reset_and_long_gap(void **state)
{
    sb_fd_init(&fd, 0, 1000);
    uint64_t t = beat(&fd, 0, 50, 1000);
    /* A 60 s outage: down, and the gap is not learnt as a normal interval. */
    t += 60000;
    assert_true(sb_fd_phi(&fd, t) > 8.0);
    sb_fd_report(&fd, t);
    assert_true(sb_fd_phi(&fd, t) == 0);
    assert_true(fabs(sb_fd_phi(&fd, t + 1000) - M_LOG10E) < 1e-9);
    /* Reset: a new window with one assumed interval. */
    sb_fd_init(&fd, t, 2000);
    assert_int_equal(fd.n, 1);
    assert_true(fabs(sb_fd_phi(&fd, t + 2000) - M_LOG10E) < 1e-9);
    /* Time going backwards is ignored rather than wrapping. */
    sb_fd_report(&fd, t - 10);
    assert_int_equal(fd.n, 1);
    assert_true(sb_fd_phi(&fd, t - 10) == 0);
}

static void test_window_wraps(void **state)
{
    sb_fd_init(&fd, 0, 5000);
    /* 3000 samples of 1 s push the initial 5 s out of the 1000-sample window. */
    uint64_t t = beat(&fd, 0, 3000, 1000);
    assert_int_equal(fd.n, SB_FD_WINDOW);
    assert_true(fabs(fd.sum - 1000.0 * SB_FD_WINDOW) < 1e-6);
    /* Then slower beats shift the mean by exactly their share. */
    t = beat(&fd, t, 500, 2000); /* each within 4 x mean: learnt */
    double mean = (500 * 1000.0 + 500 * 2000.0) / SB_FD_WINDOW;
    assert_true(fabs(sb_fd_phi(&fd, t + 1000) - 1000 / mean * M_LOG10E) < 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phi_grows_with_silence), cmocka_unit_test(test_threshold_crossing_1s),
        cmocka_unit_test(test_jitter_uses_mean),       cmocka_unit_test(test_reset_and_long_gap),
        cmocka_unit_test(test_window_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
