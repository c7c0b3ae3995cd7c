/*
 * Allocation failure sweep through the write and read paths (in the
 * manner of SQLite's fault sweeps and libuv's test-loop-oom.c): on a
 * 3-node simulated cluster (dsim/fixture.h), for n = 0, 1, 2, ... the
 * allocation after the next n through util/alloc.h fails, while node 1
 * coordinates one write and one read at QUORUM. Each call must either
 * return an SB_E* code (and never call back) or call back exactly once;
 * nothing may crash or leak (ASan); and once injection is off, every
 * write that was acknowledged is read back. A read answers before its
 * timeout: a failure on the coordinator (no memory to send a READ, to run
 * the local read or to keep an answer) ends it at once. The sweep ends at
 * the first n at which no failure was injected: every allocation of one
 * write and one read has then failed once.
 */
#include "test.h"

#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define N 3
#define MS SB_FIXTURE_MS

#define MAX_ITER 5000
#define TIMEOUT_MS 2000 /* the coordinators' write and read timeouts */
#define MAX_SITES 512

static const uint8_t TABLE_ID[16] = "oom-table-id";

typedef struct site {
    const char *file;
    int line;
} site;

static site g_sites[MAX_SITES];
static int g_nsites;

static void note_site(const char *file, int line)
{
    for (int i = 0; i < g_nsites; i++)
        if (g_sites[i].line == line && strcmp(g_sites[i].file, file) == 0)
            return;
    if (g_nsites < MAX_SITES)
        g_sites[g_nsites++] = (site){file, line};
}

/* Runs the world until x has its callback or timeout_ms pass. */
static void wait_for(sb_fixture *f, const sb_fixture_kv_res *x, uint64_t timeout_ms)
{
    for (uint64_t t = 0; t < timeout_ms && x->calls == 0; t += 5)
        sb_fixture_run_for(f, 5 * MS);
}

/* The call's code rc and its callbacks agree: an error and none, or 0 and
 * exactly one (checked again a while later: never a second). */
static void check_outcome(int rc, const sb_fixture_kv_res *x)
{
    if (rc != 0) {
        assert_true(rc < 0);
        assert_int_equal(x->calls, 0);
    } else {
        assert_int_equal(x->calls, 1);
        assert_true(x->status <= 0);
    }
}

/* Short read timeouts (as writes'), so a read that lost a send ends
 * quickly. */
static void tune(int node, sb_cluster_opts *o)
{
    (void)node;
    o->coord.write_timeout_ms = TIMEOUT_MS;
    o->coord.read_timeout_ms = TIMEOUT_MS;
}

static void test_oom_sweep(void **state)
{
    (void)state;
    sb_log_set_level(SB_LOG_ERROR);
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 1500};
    sb_fixture *f = sb_fixture_new(7, N, &net, NULL);
    assert_non_null(f);
    sb_repl repl = {.kind = SB_REPL_SIMPLE, .rf = 3};
    sb_fixture_kv kv;
    sb_fixture_kv_init(&kv, "oom", TABLE_ID, &repl);
    char err[SB_ERRMSG_SIZE] = "";
    int rc = sb_fixture_kv_start(f, &kv, tune, 60 * SB_FIXTURE_SEC, err);
    if (rc)
        fail_msg("cluster: %s: %s", sb_errname(rc), err);
    /* Which allocation sites the sweep reaches depends on how the
     * replicas' events interleave with the coordinator's calls. Started
     * on a 500 ms boundary of virtual time it reaches the replica's
     * MUTATION handler too (14 sites; 13 from the instant the ring formed). */
    uint64_t phase_us = sb_fixture_now_us(f) % (500 * MS);
    sb_fixture_run_for(f, 500 * MS - phase_us);
    int64_t acked_key[MAX_ITER];
    uint64_t acked_val[MAX_ITER];
    int nacked = 0, injected = 0;
    long n;
    for (n = 0; n < MAX_ITER; n++) {
        int64_t k = 1000 + n;
        uint64_t v = (uint64_t)n + 1;
        sb_fixture_kv_res w, r;
        sb_alloc_fail_after(n);
        int wrc = sb_fixture_kv_write(f, 0, &kv, k, v, SB_CL_QUORUM, &w);
        if (wrc == 0)
            wait_for(f, &w, 3000);
        int rrc = sb_fixture_kv_read(f, 0, &kv, k, SB_CL_QUORUM, &r);
        if (rrc == 0)
            wait_for(f, &r, 3000);
        const char *file;
        int line;
        int failed = sb_alloc_failed_at(&file, &line);
        sb_alloc_reset();
        /* Late callbacks would show up here. */
        sb_fixture_run_for(f, 20 * MS);
        uint64_t read_us = r.done_us - r.start_us;
        if ((wrc == 0) != (w.calls == 1) || (rrc == 0) != (r.calls == 1) ||
            (r.calls && read_us >= TIMEOUT_MS * MS))
            print_message("n=%ld failed at %s:%d: write rc %d calls %d, read rc %d calls %d "
                          "status %s after %llu us: %s\n",
                          n, failed ? file : "-", line, wrc, w.calls, rrc, r.calls,
                          sb_errname(r.status), (unsigned long long)read_us, r.message);
        check_outcome(wrc, &w);
        check_outcome(rrc, &r);
        if (r.calls) {
            /* No injected failure silences a replica here, so nothing is
             * left to the read's timer. */
            assert_true(r.status != SB_ETIMEOUT);
            assert_true(read_us < TIMEOUT_MS * MS);
        }
        if (wrc == 0 && w.status == 0) {
            acked_key[nacked] = k;
            acked_val[nacked++] = v;
        }
        if (!failed)
            break;
        injected++;
        note_site(file, line);
    }
    assert_true(n < MAX_ITER); /* the sweep reached its end */

    /* With allocation normal again, every acknowledged write is there. */
    sb_fixture_run_for(f, 5000 * MS);
    for (int i = 0; i < nacked; i++) {
        sb_fixture_kv_res r;
        assert_int_equal(sb_fixture_kv_read(f, 0, &kv, acked_key[i], SB_CL_QUORUM, &r), 0);
        wait_for(f, &r, 6000);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.status, 0);
        assert_true(r.found);
        assert_int_equal(r.value, acked_val[i]);
    }
    print_message("oom sweep: %d injected failures at %d distinct sites; %d of %ld writes "
                  "acknowledged and read back\n",
                  injected, g_nsites, nacked, n + 1);
    for (int i = 0; i < g_nsites; i++)
        print_message("  %s:%d\n", g_sites[i].file, g_sites[i].line);
    for (int i = 0; i < N; i++)
        sb_fixture_stop(f, i);
    sb_fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
