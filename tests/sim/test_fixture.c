/*
 * The cluster fixture (dsim/fixture.h) at its interface: step_until stops
 * at the event that makes a condition true, a partition cuts a node off
 * and healing brings it back, a crash ends a process and a restart sees
 * the node's durable kv space, a clean stop still delivers SHUTDOWN, and
 * fault injection (refused sends, dropped types, failing kv writes)
 * reaches the io. Whole sb_clusters run on the nodes.
 */
#include "test.h"

#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/log.h"

#define N 3
#define MS SB_FIXTURE_MS
#define SEC SB_FIXTURE_SEC

static void start(sb_fixture *f, int i)
{
    sb_cluster_opts o;
    sb_cluster_opts_default(&o);
    snprintf(o.gossip.cluster_name, sizeof o.gossip.cluster_name, "fixture");
    o.gossip.self = sb_fixture_ep(i);
    o.gossip.rpc = o.gossip.self;
    o.gossip.host_id[0] = (uint8_t)(i + 1);
    sb_ep seed = sb_fixture_ep(0);
    o.gossip.seeds = &seed;
    o.gossip.nseeds = 1;
    char err[SB_ERRMSG_SIZE] = "";
    assert_int_equal(sb_fixture_start_cluster(f, i, &o, err), 0);
    assert_non_null(sb_fixture_cluster(f, i));
}

/* Every live node sees every other node up. */
static int all_up(sb_fixture *f, void *arg)
{
    (void)arg;
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_cluster *c = sb_fixture_cluster(f, i);
        if (!c)
            return 0;
        for (int j = 0; j < sb_fixture_nnodes(f); j++) {
            sb_ep ep = sb_fixture_ep(j);
            if (!sb_gossip_is_up(sb_cluster_gossip(c), &ep))
                return 0;
        }
    }
    return 1;
}

/* Node *arg is seen down by every other live node. */
static int seen_down(sb_fixture *f, void *arg)
{
    int who = *(const int *)arg;
    sb_ep ep = sb_fixture_ep(who);
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_cluster *c = sb_fixture_cluster(f, i);
        if (i != who && c && sb_gossip_is_up(sb_cluster_gossip(c), &ep))
            return 0;
    }
    return 1;
}

/* Node 2 (the one isolated) sees nodes 0 and 1 down. */
static int isolated_sees_others_down(sb_fixture *f, void *arg)
{
    (void)arg;
    sb_gossip *g = sb_cluster_gossip(sb_fixture_cluster(f, 2));
    sb_ep a = sb_fixture_ep(0), b = sb_fixture_ep(1);
    return !sb_gossip_is_up(g, &a) && !sb_gossip_is_up(g, &b);
}

static sb_fixture *formed(uint64_t seed)
{
    sb_fixture *f = sb_fixture_new(seed, N, NULL, NULL);
    assert_non_null(f);
    for (int i = 0; i < N; i++)
        start(f, i);
    assert_true(sb_fixture_step_until(f, all_up, NULL, 30 * SEC));
    return f;
}

static void test_step_until_stops_at_the_event(void **state)
{
    (void)state;
    sb_fixture *f = formed(1);
    /* It already holds: no event runs, time stands still. */
    uint64_t t0 = sb_fixture_now_us(f);
    assert_true(sb_fixture_step_until(f, all_up, NULL, 10 * SEC));
    assert_int_equal(sb_fixture_now_us(f), t0);
    /* A condition that does not hold in time (an isolated node is seen
     * down only after ~18 s): time ends exactly max_us later. */
    sb_fixture_isolate(f, 2);
    int who = 2;
    assert_false(sb_fixture_step_until(f, seen_down, &who, 1 * SEC));
    assert_int_equal(sb_fixture_now_us(f), t0 + 1 * SEC);
    /* One step runs one event and never moves time backwards. */
    uint64_t t1 = sb_fixture_now_us(f);
    assert_int_equal(sb_fixture_step(f), 1);
    assert_true(sb_fixture_now_us(f) >= t1);
    sb_fixture_free(f);
}

static void test_partition_and_heal(void **state)
{
    (void)state;
    sb_fixture *f = formed(2);
    sb_fixture_isolate(f, 2);
    int who = 2;
    uint64_t t0 = sb_fixture_now_us(f);
    assert_true(sb_fixture_step_until(f, seen_down, &who, 60 * SEC));
    print_message("isolated node seen down after %.3f s\n",
                  (double)(sb_fixture_now_us(f) - t0) / SEC);
    /* It is alive, only cut off: it sees the others down too. */
    assert_true(sb_fixture_alive(f, 2));
    assert_true(sb_fixture_step_until(f, isolated_sees_others_down, NULL, 60 * SEC));
    sb_fixture_heal(f);
    assert_true(sb_fixture_step_until(f, all_up, NULL, 30 * SEC));
    sb_fixture_free(f);
}

static void test_crash_and_restart(void **state)
{
    (void)state;
    sb_fixture *f = formed(3);
    const sb_member *before = sb_gossip_self(sb_cluster_gossip(sb_fixture_cluster(f, 1)));
    int64_t gen = before->generation;
    int64_t tok0 = before->tokens[0];
    sb_fixture_crash(f, 1);
    assert_false(sb_fixture_alive(f, 1));
    assert_null(sb_fixture_cluster(f, 1));
    assert_null(sb_fixture_io(f, 1));
    assert_int_equal(sb_fixture_timers(f, 1), 0);
    int who = 1;
    assert_true(sb_fixture_step_until(f, seen_down, &who, 60 * SEC));
    /* A restart: a new process over the same store keeps its tokens (kv
     * space) and takes a newer generation; the others see it back up. */
    start(f, 1);
    const sb_member *self = sb_gossip_self(sb_cluster_gossip(sb_fixture_cluster(f, 1)));
    assert_true(self->generation > gen);
    assert_true(self->tokens[0] == tok0);
    assert_true(sb_fixture_step_until(f, all_up, NULL, 30 * SEC));
    /* A clean stop announces itself: seen down at once, not after the
     * failure detector's ~18 s. */
    uint64_t t0 = sb_fixture_now_us(f);
    sb_fixture_stop(f, 0);
    who = 0;
    assert_true(sb_fixture_step_until(f, seen_down, &who, 60 * SEC));
    assert_true(sb_fixture_now_us(f) - t0 < 100 * MS);
    sb_fixture_free(f);
}

/* Taps every send: counts, and the last refusal seen. */
typedef struct tapped {
    int sends, refused, last_rv;
} tapped;

static void tap(void *arg, int from, const sb_ep *to, int type, const uint8_t *p, size_t len,
                int rv)
{
    tapped *t = arg;
    t->sends++;
    if (rv) {
        t->refused++;
        t->last_rv = rv;
    }
}

static void on_ack(void *arg, int status)
{
    *(int *)arg = status;
}

static void test_fault_injection(void **state)
{
    (void)state;
    sb_fixture *f = sb_fixture_new(4, 2, NULL, NULL);
    assert_non_null(f);
    const sb_io *io = sb_fixture_boot(f, 0);
    assert_non_null(io);
    tapped t = {0};
    sb_fixture_tap(f, tap, &t);
    sb_ep to = sb_fixture_ep(1);
    assert_int_equal(io->send(io->ctx, &to, SB_MSG_PING, (const uint8_t *)"x", 1), 0);
    sb_fixture_refuse_sends(f, 0, SB_EOVERLOADED);
    assert_int_equal(io->send(io->ctx, &to, SB_MSG_PING, (const uint8_t *)"x", 1), SB_EOVERLOADED);
    assert_int_equal(t.sends, 2);
    assert_int_equal(t.refused, 1);
    assert_int_equal(t.last_rv, SB_EOVERLOADED);
    sb_fixture_refuse_sends(f, 0, 0);
    /* A failing disk: the put is acknowledged with the error, later, and
     * keeps nothing. */
    int status = 1;
    sb_fixture_fail_kv_puts(f, 0, SB_EIO);
    assert_int_equal(io->st->kv_put(io->st_ctx, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                    on_ack, &status),
                     0);
    assert_int_equal(status, 1);
    sb_fixture_run_for(f, 10 * MS);
    assert_int_equal(status, SB_EIO);
    assert_int_equal(dsim_store_kv_count(sb_fixture_store(f, 0)), 0);
    sb_fixture_free(f);
}

int main(void)
{
    sb_log_set_level(SB_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_until_stops_at_the_event),
        cmocka_unit_test(test_partition_and_heal),
        cmocka_unit_test(test_crash_and_restart),
        cmocka_unit_test(test_fault_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
