/*
 * The coordinator's overload caps (coord.h "OVERLOAD"): requests in
 * flight (sb_coord_opts.max_inflight) and pending rpc calls
 * (sb_cluster_opts.rpc_max_pending), on a 3-node simulated cluster whose
 * replicas 2 and 3 are up but drop every MUTATION and READ, so requests
 * coordinated by node 1 wait for their timeouts.
 */
#include "test.h"

#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/log.h"

#define N 3
#define MS SB_FIXTURE_MS

static const uint8_t TABLE_ID[16] = "caps-table-id";

static uint32_t g_max_inflight;
static size_t g_rpc_max_pending;

static void tune(int node, sb_cluster_opts *o)
{
    if (node != 0)
        return;
    o->coord.max_inflight = g_max_inflight;
    o->rpc_max_pending = g_rpc_max_pending;
    o->coord.write_timeout_ms = 2000;
    o->coord.read_timeout_ms = 2000;
}

/* A 3-node cluster (seed 7, 200-1500 us delays) holding the kv table at
 * replication factor 3, node 0 tuned as the test says. */
static sb_fixture *start(sb_fixture_kv *kv)
{
    sb_log_set_level(SB_LOG_ERROR);
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 200, .delay_max_us = 1500};
    sb_fixture *f = sb_fixture_new(7, N, &net, NULL);
    assert_non_null(f);
    sb_repl repl = {.kind = SB_REPL_SIMPLE, .rf = 3};
    sb_fixture_kv_init(kv, "caps", TABLE_ID, &repl);
    char err[SB_ERRMSG_SIZE] = "";
    int rc = sb_fixture_kv_start(f, kv, tune, 60 * SB_FIXTURE_SEC, err);
    if (rc)
        fail_msg("cluster: %s: %s", sb_errname(rc), err);
    return f;
}

static void stop(sb_fixture *f)
{
    for (int i = 0; i < N; i++)
        sb_fixture_stop(f, i);
    sb_fixture_free(f);
}

static void silence_replicas(sb_fixture *f, int on)
{
    uint32_t mask = (1u << SB_MSG_MUTATION) | (1u << SB_MSG_READ);
    for (int i = 1; i < N; i++)
        sb_fixture_drop_in(f, i, on ? mask : 0);
}

static void test_max_inflight(void **state)
{
    (void)state;
    sb_fixture_kv kv;
    g_max_inflight = 4;
    g_rpc_max_pending = SB_RPC_MAX_PENDING_DEFAULT;
    sb_fixture *f = start(&kv);
    sb_coord *c = sb_cluster_coord(sb_fixture_cluster(f, 0));
    silence_replicas(f, 1);

    /* Four writes at QUORUM wait: only the local replica answers. */
    sb_fixture_kv_res w[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(sb_fixture_kv_write(f, 0, &kv, 100 + i, 1, SB_CL_QUORUM, &w[i]), 0);
    sb_fixture_run_for(f, 50 * MS);
    for (int i = 0; i < 4; i++)
        assert_int_equal(w[i].calls, 0);
    sb_coord_stats st;
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.inflight, 4);

    /* The fifth write and a read are refused at once, naming the limit. */
    sb_fixture_kv_res over, rover;
    assert_int_equal(sb_fixture_kv_write(f, 0, &kv, 200, 1, SB_CL_QUORUM, &over), 0);
    assert_int_equal(sb_fixture_kv_read(f, 0, &kv, 200, SB_CL_ONE, &rover), 0);
    assert_int_equal(over.calls, 0); /* never synchronous */
    sb_fixture_run_for(f, 1 * MS);
    assert_int_equal(over.calls, 1);
    assert_int_equal(over.status, SB_EOVERLOADED);
    assert_non_null(strstr(over.message, "max_inflight 4"));
    assert_int_equal(rover.calls, 1);
    assert_int_equal(rover.status, SB_EOVERLOADED);
    assert_non_null(strstr(rover.message, "max_inflight 4"));
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.overloaded, 2);
    assert_int_equal(st.inflight, 4);

    /* The four time out; the replicas answer again; a write succeeds. */
    sb_fixture_run_for(f, 2100 * MS);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, SB_ETIMEOUT);
    }
    silence_replicas(f, 0);
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.inflight, 0);
    sb_fixture_kv_res ok, rok;
    assert_int_equal(sb_fixture_kv_write(f, 0, &kv, 300, 42, SB_CL_QUORUM, &ok), 0);
    sb_fixture_run_for(f, 100 * MS);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(sb_fixture_kv_read(f, 0, &kv, 300, SB_CL_QUORUM, &rok), 0);
    sb_fixture_run_for(f, 100 * MS);
    assert_int_equal(rok.calls, 1);
    assert_int_equal(rok.status, 0);
    assert_true(rok.found);
    assert_int_equal(rok.value, 42);
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.overloaded, 2);
    stop(f);
}

static void test_rpc_max_pending(void **state)
{
    (void)state;
    sb_fixture_kv kv;
    g_max_inflight = 0; /* no cap: only the rpc's applies */
    g_rpc_max_pending = 2;
    sb_fixture *f = start(&kv);
    sb_rpc *rpc = sb_cluster_rpc(sb_fixture_cluster(f, 0));
    silence_replicas(f, 1);

    /* The first write holds both pending calls (replicas 2 and 3). */
    sb_fixture_kv_res first, second;
    assert_int_equal(sb_fixture_kv_write(f, 0, &kv, 100, 1, SB_CL_QUORUM, &first), 0);
    sb_fixture_run_for(f, 50 * MS);
    assert_int_equal(first.calls, 0);
    sb_rpc_stats rs;
    sb_rpc_get_stats(rpc, &rs);
    assert_int_equal(rs.pending, 2);

    /* The second cannot send: Overloaded, naming the rpc's limit. */
    assert_int_equal(sb_fixture_kv_write(f, 0, &kv, 101, 1, SB_CL_QUORUM, &second), 0);
    sb_fixture_run_for(f, 1 * MS);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.status, SB_EOVERLOADED);
    assert_non_null(strstr(second.message, "rpc max_pending 2"));
    sb_rpc_get_stats(rpc, &rs);
    assert_true(rs.overloaded >= 1);
    sb_coord_stats st;
    sb_coord_get_stats(sb_cluster_coord(sb_fixture_cluster(f, 0)), &st);
    assert_int_equal(st.overloaded, 1);

    /* After the first times out (and the hints for the silent replicas
     * have been replayed once they answer again), writes succeed. */
    sb_fixture_run_for(f, 2100 * MS);
    assert_int_equal(first.calls, 1);
    assert_int_equal(first.status, SB_ETIMEOUT);
    silence_replicas(f, 0);
    sb_fixture_kv_res ok = {0};
    for (int tries = 0; tries < 60; tries++) {
        sb_fixture_run_for(f, 500 * MS);
        sb_rpc_get_stats(rpc, &rs);
        if (rs.pending == 0)
            break;
    }
    assert_int_equal(sb_fixture_kv_write(f, 0, &kv, 102, 7, SB_CL_QUORUM, &ok), 0);
    sb_fixture_run_for(f, 100 * MS);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_inflight),
        cmocka_unit_test(test_rpc_max_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
