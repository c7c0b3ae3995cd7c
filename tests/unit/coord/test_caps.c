/*
 * The coordinator's overload caps (coord.h "OVERLOAD"): requests in
 * flight (sb_coord_opts.max_inflight) and pending rpc calls
 * (sb_cluster_opts.rpc_max_pending), on a 3-node simulated cluster whose
 * replicas 2 and 3 are up but drop every MUTATION and READ, so requests
 * coordinated by node 1 wait for their timeouts.
 */
#include "test.h"

#include "coord/simclu.h"

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

static void silence_replicas(simclu *s, int on)
{
    uint32_t mask = (1u << SB_MSG_MUTATION) | (1u << SB_MSG_READ);
    for (int i = 1; i < s->n; i++)
        s->drop_in[i] = on ? mask : 0;
}

static void test_max_inflight(void **state)
{
    (void)state;
    simclu s;
    g_max_inflight = 4;
    g_rpc_max_pending = SB_RPC_MAX_PENDING_DEFAULT;
    assert_int_equal(simclu_start(&s, 3, 3, tune), 0);
    sb_coord *c = sb_cluster_coord(s.c[0]);
    silence_replicas(&s, 1);

    /* Four writes at QUORUM wait: only the local replica answers. */
    simclu_res w[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(simclu_write(&s, 0, 100 + i, 1, SB_CL_QUORUM, &w[i]), 0);
    simclu_run_ms(&s, 50);
    for (int i = 0; i < 4; i++)
        assert_int_equal(w[i].calls, 0);
    sb_coord_stats st;
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.inflight, 4);

    /* The fifth write and a read are refused at once, naming the limit. */
    simclu_res over, rover;
    assert_int_equal(simclu_write(&s, 0, 200, 1, SB_CL_QUORUM, &over), 0);
    assert_int_equal(simclu_read(&s, 0, 200, SB_CL_ONE, &rover), 0);
    assert_int_equal(over.calls, 0); /* never synchronous */
    simclu_run_ms(&s, 1);
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
    simclu_run_ms(&s, 2100);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, SB_ETIMEOUT);
    }
    silence_replicas(&s, 0);
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.inflight, 0);
    simclu_res ok, rok;
    assert_int_equal(simclu_write(&s, 0, 300, 42, SB_CL_QUORUM, &ok), 0);
    simclu_run_ms(&s, 100);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(simclu_read(&s, 0, 300, SB_CL_QUORUM, &rok), 0);
    simclu_run_ms(&s, 100);
    assert_int_equal(rok.calls, 1);
    assert_int_equal(rok.status, 0);
    assert_true(rok.found);
    assert_int_equal(rok.value, 42);
    sb_coord_get_stats(c, &st);
    assert_int_equal(st.overloaded, 2);
    simclu_stop(&s);
}

static void test_rpc_max_pending(void **state)
{
    (void)state;
    simclu s;
    g_max_inflight = 0; /* no cap: only the rpc's applies */
    g_rpc_max_pending = 2;
    assert_int_equal(simclu_start(&s, 3, 3, tune), 0);
    sb_rpc *rpc = sb_cluster_rpc(s.c[0]);
    silence_replicas(&s, 1);

    /* The first write holds both pending calls (replicas 2 and 3). */
    simclu_res first, second;
    assert_int_equal(simclu_write(&s, 0, 100, 1, SB_CL_QUORUM, &first), 0);
    simclu_run_ms(&s, 50);
    assert_int_equal(first.calls, 0);
    sb_rpc_stats rs;
    sb_rpc_get_stats(rpc, &rs);
    assert_int_equal(rs.pending, 2);

    /* The second cannot send: Overloaded, naming the rpc's limit. */
    assert_int_equal(simclu_write(&s, 0, 101, 1, SB_CL_QUORUM, &second), 0);
    simclu_run_ms(&s, 1);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.status, SB_EOVERLOADED);
    assert_non_null(strstr(second.message, "rpc max_pending 2"));
    sb_rpc_get_stats(rpc, &rs);
    assert_true(rs.overloaded >= 1);
    sb_coord_stats st;
    sb_coord_get_stats(sb_cluster_coord(s.c[0]), &st);
    assert_int_equal(st.overloaded, 1);

    /* After the first times out (and the hints for the silent replicas
     * have been replayed once they answer again), writes succeed. */
    simclu_run_ms(&s, 2100);
    assert_int_equal(first.calls, 1);
    assert_int_equal(first.status, SB_ETIMEOUT);
    silence_replicas(&s, 0);
    simclu_res ok = {0};
    for (int tries = 0; tries < 60; tries++) {
        simclu_run_ms(&s, 500);
        sb_rpc_get_stats(rpc, &rs);
        if (rs.pending == 0)
            break;
    }
    assert_int_equal(simclu_write(&s, 0, 102, 7, SB_CL_QUORUM, &ok), 0);
    simclu_run_ms(&s, 100);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    simclu_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_inflight),
        cmocka_unit_test(test_rpc_max_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
