/* The deterministic cluster simulation: at least 200 seeds with faults
 * must hold every invariant (dsim.h); a seed replays exactly; a cluster
 * that loses acknowledged writes is caught. DSIM_SEEDS=N runs N seeds. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsim/dsim.h"
#include "util/err.h"
#include "util/log.h"

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_many_seeds(void **state)
{
    (void)state;
    const char *env = getenv("DSIM_SEEDS");
    int nseeds = env ? atoi(env) : 200;
    if (nseeds < 1)
        nseeds = 200;
    double t0 = wall_s();
    uint64_t ops = 0, ok = 0, faults = 0, vus = 0;
    int failed = 0;
    for (int seed = 1; seed <= nseeds; seed++) {
        sb_dsim_opts o;
        memset(&o, 0, sizeof o);
        o.seed = (uint64_t)seed;
        sb_dsim_result r;
        int rv = sb_dsim_run(&o, &r);
        ops += r.ops;
        ok += r.ops_ok;
        faults += r.faults;
        vus += r.virtual_us;
        if (rv) {
            failed++;
            printf("dsim: seed %d FAILED (%s): %s\n  replay: build/sibyl dsim --seed %d -v\n", seed,
                   sb_errname(rv), r.first_failure, seed);
        }
    }
    double wall = wall_s() - t0;
    printf("dsim: %d seeds, %llu ops (%llu ok), %llu faults, %d failed, virtual %.0f s, "
           "wall %.2f s\n",
           nseeds, (unsigned long long)ops, (unsigned long long)ok, (unsigned long long)faults,
           failed, (double)vus / 1e6, wall);
    assert_int_equal(failed, 0);
    /* The workload really ran and faults really happened. */
    assert_true(ops > (uint64_t)nseeds * 100);
    assert_true(ok > ops / 4);
    assert_true(faults > (uint64_t)nseeds * 3);
}

static void test_replays_exactly(void **state)
{
    (void)state;
    for (uint64_t seed = 1000; seed < 1003; seed++) {
        sb_dsim_opts o;
        memset(&o, 0, sizeof o);
        o.seed = seed;
        sb_dsim_result a, b;
        assert_int_equal(sb_dsim_run(&o, &a), 0);
        assert_int_equal(sb_dsim_run(&o, &b), 0);
        assert_int_equal(a.trace_hash, b.trace_hash);
        assert_int_equal(a.ops, b.ops);
        assert_int_equal(a.virtual_us, b.virtual_us);
    }
    sb_dsim_opts o1, o2;
    memset(&o1, 0, sizeof o1);
    memset(&o2, 0, sizeof o2);
    o1.seed = 5;
    o2.seed = 6;
    sb_dsim_result a, b;
    sb_dsim_run(&o1, &a);
    sb_dsim_run(&o2, &b);
    assert_true(a.trace_hash != b.trace_hash);
}

/* A store that acknowledges some applies without keeping them: the
 * checker must notice (acknowledged writes missing, replicas differing). */
static void test_lost_writes_are_caught(void **state)
{
    (void)state;
    int caught = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        sb_dsim_opts o;
        memset(&o, 0, sizeof o);
        o.seed = seed;
        o.sabotage_lose_applies = 0.2;
        sb_dsim_result r;
        int rv = sb_dsim_run(&o, &r);
        if (rv == SB_ESERVER) {
            caught++;
            assert_true(r.failures > 0);
            assert_true(strlen(r.first_failure) > 10);
        }
    }
    assert_int_equal(caught, 5);
}

static void test_options_refused(void **state)
{
    (void)state;
    sb_dsim_opts o;
    memset(&o, 0, sizeof o);
    o.nodes = 99;
    sb_dsim_result r;
    assert_int_equal(sb_dsim_run(&o, &r), SB_EINVAL);
    char *argv1[] = {"dsim", "--seeds", "5..2", NULL};
    assert_int_equal(sb_dsim_main(3, argv1), 2);
    char *argv2[] = {"dsim", "--bogus", NULL};
    assert_int_equal(sb_dsim_main(2, argv2), 2);
    char *argv3[] = {"dsim", "--seed", "7", "--chaos-s", "10", NULL};
    assert_int_equal(sb_dsim_main(5, argv3), 0);
}

int main(void)
{
    /* Faults make the nodes log warnings by design; keep the output to
     * the simulator's own lines. */
    sb_log_set_level(SB_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_refused),
        cmocka_unit_test(test_lost_writes_are_caught),
        cmocka_unit_test(test_replays_exactly),
        cmocka_unit_test(test_many_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
