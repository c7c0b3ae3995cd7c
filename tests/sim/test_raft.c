/*
 * The metadata Raft group (consensus/group.h) inside the simulator: whole
 * sb_cluster nodes on the fixture with opts.raft on, a state machine that
 * records what it applies, and checks of Raft's safety properties while
 * leaders crash, nodes restart from their stores and the network splits:
 *   - at most one leader per term (checked after every simulated event);
 *   - every node applies the same command at the same index (a committed
 *     entry is never lost or replaced), in increasing index order;
 *   - proposals from any node commit, followers forward to the leader;
 *   - a minority refuses proposals, the majority goes on, both converge.
 * Every failure prints its seed.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/log.h"

#define MAXN 7
#define MS SB_FIXTURE_MS
#define SEC SB_FIXTURE_SEC
#define MAX_INDEX 4096
#define REPLAY "(replay: SB_RAFT_SEED=%llu build/asan/tests/sim-dsim/test_raft)"

/* What was applied at each index, across every node and incarnation. */
static char applied_at[MAX_INDEX][32];
static uint64_t seed_now;

typedef struct fsmstate {
    int node;
    uint64_t last_index; /* this incarnation */
    int napplied;
    char last_cmd[32];
} fsmstate;

static fsmstate fsms[MAXN];

/* The group's events (opts.on_event), per node, over the run. */
#define MAX_EVENTS 256
typedef struct seen_events {
    int n;
    sb_group_event ev[MAX_EVENTS];
} seen_events;
static seen_events events[MAXN];

static void on_group_event(void *arg, const sb_group_event *ev)
{
    seen_events *e = arg;
    if (e->n < MAX_EVENTS)
        e->ev[e->n++] = *ev;
}

/* How many events of a kind node reported about peer (-1: any peer). */
static int count_events(int node, sb_group_event_kind kind, int peer)
{
    sb_ep ep = sb_fixture_ep(peer < 0 ? 0 : peer);
    int n = 0;
    for (int k = 0; k < events[node].n; k++)
        n += events[node].ev[k].kind == kind &&
             (peer < 0 || sb_ep_eq(&events[node].ev[k].peer, &ep));
    return n;
}

/* The same, summed over every node. */
static int count_all_events(int nnodes, sb_group_event_kind kind, int peer)
{
    int n = 0;
    for (int i = 0; i < nnodes; i++)
        n += count_events(i, kind, peer);
    return n;
}

/* Leader per term, over the run. */
static uint64_t leader_of_term[1024];

static int fsm_apply(void *arg, uint64_t index, const uint8_t *cmd, size_t len, char *errmsg)
{
    fsmstate *s = arg;
    char c[32];
    if (len >= sizeof c)
        len = sizeof c - 1;
    memcpy(c, cmd, len);
    c[len] = 0;
    if (index <= s->last_index)
        fail_msg("seed %llu: node %d applied index %llu after %llu " REPLAY,
                 (unsigned long long)seed_now, s->node, (unsigned long long)index,
                 (unsigned long long)s->last_index, (unsigned long long)seed_now);
    if (index >= MAX_INDEX)
        fail_msg("index %llu too large for the test", (unsigned long long)index);
    if (applied_at[index][0] && strcmp(applied_at[index], c) != 0)
        fail_msg(
            "seed %llu: node %d applied \"%s\" at index %llu where another applied \"%s\" " REPLAY,
            (unsigned long long)seed_now, s->node, c, (unsigned long long)index, applied_at[index],
            (unsigned long long)seed_now);
    snprintf(applied_at[index], sizeof applied_at[index], "%s", c);
    s->last_index = index;
    s->napplied++;
    snprintf(s->last_cmd, sizeof s->last_cmd, "%s", c);
    if (strncmp(c, "refuse", 6) == 0)
        return sb_seterr(errmsg, SB_EEXISTS, "refused: %s", c);
    return 0;
}

/* The state is the last index applied; a restore starts from it. */
static int fsm_snapshot(void *arg, sb_buf *out)
{
    fsmstate *s = arg;
    return sb_buf_put_u64be(out, s->last_index);
}

static int fsm_restore(void *arg, const uint8_t *p, size_t len)
{
    fsmstate *s = arg;
    if (len != 8)
        return SB_ECORRUPT;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    s->last_index = v;
    return 0;
}

static void start_node(sb_fixture *f, int i)
{
    sb_cluster_opts o;
    sb_cluster_opts_default(&o);
    snprintf(o.gossip.cluster_name, sizeof o.gossip.cluster_name, "sim");
    o.gossip.self = sb_fixture_ep(i);
    o.gossip.rpc = o.gossip.self;
    o.gossip.host_id[0] = (uint8_t)(i + 1);
    sb_ep seed = sb_fixture_ep(0);
    o.gossip.seeds = &seed;
    o.gossip.nseeds = 1;
    o.raft = 1;
    o.group.snapshot_threshold = 64;
    o.group.snapshot_trailing = 16;
    memset(&fsms[i], 0, sizeof fsms[i]);
    fsms[i].node = i;
    o.group.fsm.apply = fsm_apply;
    o.group.fsm.snapshot = fsm_snapshot;
    o.group.fsm.restore = fsm_restore;
    o.group.fsm.arg = &fsms[i];
    o.group.on_event = on_group_event;
    o.group.event_arg = &events[i];
    char err[SB_ERRMSG_SIZE] = "";
    if (sb_fixture_start_cluster(f, i, &o, err) != 0)
        fail_msg("node %d: %s", i, err);
}

static sb_group *group(sb_fixture *f, int i)
{
    sb_cluster *c = sb_fixture_cluster(f, i);
    return c ? sb_cluster_group(c) : NULL;
}

/* One leader per term: checked after every event. */
static void check_terms(sb_fixture *f)
{
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_group *g = group(f, i);
        if (!g || !sb_group_is_leader(g))
            continue;
        sb_group_status st;
        sb_group_get_status(g, &st);
        if (st.term >= 1024)
            continue;
        uint64_t id = (uint64_t)i + 1;
        if (leader_of_term[st.term] && leader_of_term[st.term] != id)
            fail_msg("seed %llu: two leaders in term %llu: nodes %llu and %d " REPLAY,
                     (unsigned long long)seed_now, (unsigned long long)st.term,
                     (unsigned long long)leader_of_term[st.term] - 1, i,
                     (unsigned long long)seed_now);
        leader_of_term[st.term] = id;
    }
}

typedef struct until {
    int (*pred)(sb_fixture *f, void *arg);
    void *arg;
} until;

static int checked(sb_fixture *f, void *arg)
{
    until *u = arg;
    check_terms(f);
    return u->pred(f, u->arg);
}

static int run_until(sb_fixture *f, int (*pred)(sb_fixture *, void *), void *arg, uint64_t max_us)
{
    until u = {pred, arg};
    return sb_fixture_step_until(f, checked, &u, max_us);
}

static int never(sb_fixture *f, void *arg)
{
    (void)f;
    (void)arg;
    return 0;
}

static void run_for(sb_fixture *f, uint64_t us)
{
    run_until(f, never, NULL, us);
}

static int leader_of(sb_fixture *f, const int *among)
{
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_group *g = group(f, i);
        if (g && sb_group_is_leader(g) && (!among || among[i]))
            return i;
    }
    return -1;
}

typedef struct want_voters {
    int voters;
    int members;
} want_voters;

/* A leader whose configuration has the wanted voters and members, and
 * every live node knows it. */
static int configured(sb_fixture *f, void *arg)
{
    const want_voters *w = arg;
    int l = leader_of(f, NULL);
    if (l < 0)
        return 0;
    sb_group_status st;
    sb_group_get_status(group(f, l), &st);
    if (st.nvoters != w->voters)
        return 0;
    struct raft_configuration *c = NULL;
    (void)c;
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_group *g = group(f, i);
        if (!g)
            continue;
        sb_group_status s2;
        sb_group_get_status(g, &s2);
        if (!s2.has_leader || strcmp(s2.role, "none") == 0)
            return 0;
        if (s2.applied_index < st.commit_index)
            return 0;
    }
    return st.nmembers >= w->members;
}

/* --- proposals ----------------------------------------------------------- */

typedef struct outcome {
    int done;
    int status;
    char msg[SB_ERRMSG_SIZE];
} outcome;

static void on_done(void *arg, int status, const char *msg)
{
    outcome *o = arg;
    if (o->done)
        fail_msg("a proposal answered twice");
    o->done = 1;
    o->status = status;
    snprintf(o->msg, sizeof o->msg, "%s", msg);
}

static int is_done(sb_fixture *f, void *arg)
{
    (void)f;
    return ((outcome *)arg)->done;
}

static outcome propose(sb_fixture *f, int node, const char *cmd, uint64_t max_us)
{
    outcome o = {0};
    sb_group *g = group(f, node);
    assert_non_null(g);
    assert_int_equal(sb_group_propose(g, (const uint8_t *)cmd, strlen(cmd), on_done, &o), 0);
    assert_int_equal(o.done, 0); /* never synchronous */
    run_until(f, is_done, &o, max_us);
    return o;
}

static void reset_run(uint64_t seed)
{
    seed_now = seed;
    memset(applied_at, 0, sizeof applied_at);
    memset(leader_of_term, 0, sizeof leader_of_term);
    memset(events, 0, sizeof events);
}

static sb_fixture *boot(uint64_t seed, int n)
{
    reset_run(seed);
    sb_fixture *f = sb_fixture_new(seed, n, NULL, NULL);
    assert_non_null(f);
    for (int i = 0; i < n; i++)
        start_node(f, i);
    return f;
}

/* --- tests ------------------------------------------------------------------ */

/* Five nodes: one bootstraps, the leader adds the others and makes all
 * five voters; commands proposed on any node commit everywhere in one
 * order, and a refused command reports the state machine's error. */
static void test_group_forms_and_commits(void **state)
{
    (void)state;
    sb_fixture *f = boot(11, 5);
    want_voters w = {5, 5};
    if (!run_until(f, configured, &w, 60 * SEC))
        fail_msg("seed 11: five voters never configured");
    for (int k = 0; k < 20; k++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "cmd-%d", k);
        outcome o = propose(f, k % 5, cmd, 10 * SEC);
        assert_true(o.done);
        if (o.status != 0)
            fail_msg("proposal %d on node %d: %s (%s)", k, k % 5, sb_strerror(o.status), o.msg);
    }
    outcome r = propose(f, 3, "refuse-me", 10 * SEC);
    assert_true(r.done);
    assert_int_equal(r.status, SB_EEXISTS);
    assert_non_null(strstr(r.msg, "refused: refuse-me"));
    /* everyone applied the last one */
    run_for(f, 2 * SEC);
    for (int i = 0; i < 5; i++)
        assert_string_equal(fsms[i].last_cmd, "refuse-me");
    sb_fixture_free(f);
}

/* The leader dies: a new one is elected within the election timeout plus a
 * second, commits go on, and the old leader restarts from its store and
 * catches up with the same log. */
static void test_leader_crash_and_restart(void **state)
{
    (void)state;
    sb_fixture *f = boot(23, 3);
    want_voters w = {3, 3};
    if (!run_until(f, configured, &w, 60 * SEC))
        fail_msg("seed 23: three voters never configured");
    for (int k = 0; k < 5; k++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "before-%d", k);
        assert_int_equal(propose(f, k % 3, cmd, 10 * SEC).status, 0);
    }
    int old = leader_of(f, NULL);
    assert_true(old >= 0);
    sb_fixture_crash(f, old);
    uint64_t t0 = sb_fixture_now_us(f);
    int others[MAXN] = {0};
    for (int i = 0; i < 3; i++)
        others[i] = i != old;
    int nl = -1;
    while (sb_fixture_now_us(f) - t0 < 2 * SEC + 1000 * MS && (nl = leader_of(f, others)) < 0)
        run_for(f, 10 * MS);
    if (nl < 0)
        fail_msg("seed 23: no new leader within 3 s of the crash");
    int follower = 3 - old - nl;
    assert_int_equal(propose(f, follower, "after-crash", 10 * SEC).status, 0);
    /* restart: the log comes back from the store */
    start_node(f, old);
    run_for(f, 5 * SEC);
    assert_string_equal(fsms[old].last_cmd, "after-crash");
    assert_int_equal(propose(f, old, "from-restarted", 10 * SEC).status, 0);
    run_for(f, 2 * SEC);
    for (int i = 0; i < 3; i++)
        assert_string_equal(fsms[i].last_cmd, "from-restarted");
    sb_fixture_free(f);
}

/* Two of five cut off: their proposals fail with Unavailable or a
 * timeout, never hang; the three go on; after the heal the two apply what
 * the majority committed. */
static void test_minority_refuses(void **state)
{
    (void)state;
    sb_fixture *f = boot(37, 5);
    want_voters w = {5, 5};
    if (!run_until(f, configured, &w, 60 * SEC))
        fail_msg("seed 37: five voters never configured");
    assert_int_equal(propose(f, 1, "whole", 10 * SEC).status, 0);
    int l = leader_of(f, NULL);
    /* minority: the leader and one other, so the majority must elect */
    int side[MAXN] = {0};
    side[l] = 1;
    side[(l + 1) % 5] = 1;
    sb_fixture_partition(f, side);
    run_for(f, 3 * SEC);
    outcome m = propose(f, l, "minority", 10 * SEC);
    assert_true(m.done);
    if (m.status != SB_EUNAVAILABLE && m.status != SB_ETIMEOUT)
        fail_msg("minority proposal: %s (%s)", sb_strerror(m.status), m.msg);
    int majority[MAXN] = {0};
    for (int i = 0; i < 5; i++)
        majority[i] = !side[i];
    int ml = leader_of(f, majority);
    assert_true(ml >= 0);
    int mf = -1;
    for (int i = 0; i < 5; i++)
        if (majority[i] && i != ml)
            mf = i;
    assert_int_equal(propose(f, mf, "majority", 10 * SEC).status, 0);
    sb_fixture_heal(f);
    run_for(f, 5 * SEC);
    for (int i = 0; i < 5; i++)
        assert_string_equal(fsms[i].last_cmd, "majority");
    sb_fixture_free(f);
}

/* Three nodes form a group: the leader reports its election once, and
 * each of the two others added, made a learner and promoted once, by
 * whichever node made the change. Cut off, the leader reports that it
 * stepped down once, and the majority's new leader its election once. */
static void test_events_once_per_change(void **state)
{
    (void)state;
    sb_fixture *f = boot(29, 3);
    want_voters w = {3, 3};
    if (!run_until(f, configured, &w, 60 * SEC))
        fail_msg("seed 29: three voters never configured");
    run_for(f, 2 * SEC);
    int l = leader_of(f, NULL);
    assert_true(l >= 0);
    sb_group_status st;
    sb_group_get_status(group(f, l), &st);
    for (int i = 0; i < 3; i++) {
        sb_group_status si;
        sb_group_get_status(group(f, i), &si);
        assert_int_equal(count_events(i, SB_GROUP_ELECTED, -1), (int)si.elections_won);
    }
    assert_int_equal(count_events(l, SB_GROUP_ELECTED, l), 1);
    for (int k = 0; k < events[l].n; k++)
        if (events[l].ev[k].kind == SB_GROUP_ELECTED)
            assert_int_equal(events[l].ev[k].term, st.term);
    for (int i = 0; i < 3; i++) {
        if (i == 0)
            continue; /* the bootstrap node was a voter from the start */
        assert_int_equal(count_all_events(3, SB_GROUP_ADDED, i), 1);
        assert_int_equal(count_all_events(3, SB_GROUP_LEARNER, i), 1);
        assert_int_equal(count_all_events(3, SB_GROUP_PROMOTED, i), 1);
    }
    assert_int_equal(count_all_events(3, SB_GROUP_DEMOTED, -1), 0);
    assert_int_equal(count_all_events(3, SB_GROUP_REMOVED, -1), 0);
    assert_int_equal(count_all_events(3, SB_GROUP_STEPPED_DOWN, -1), 0);
    /* the last promotion leaves three voters */
    int last_promo = -1;
    for (int k = 0; k < events[l].n; k++)
        if (events[l].ev[k].kind == SB_GROUP_PROMOTED)
            last_promo = k;
    assert_true(last_promo >= 0);
    assert_int_equal(events[l].ev[last_promo].nvoters, 3);

    int before[MAXN];
    for (int i = 0; i < 3; i++)
        before[i] = count_events(i, SB_GROUP_ELECTED, -1);
    sb_fixture_isolate(f, l);
    run_for(f, 4 * SEC);
    assert_int_equal(count_events(l, SB_GROUP_STEPPED_DOWN, l), 1);
    int others[MAXN] = {0};
    for (int i = 0; i < 3; i++)
        others[i] = i != l;
    int nl = leader_of(f, others);
    assert_true(nl >= 0);
    assert_int_equal(count_events(nl, SB_GROUP_ELECTED, -1) - before[nl], 1);
    assert_int_equal(count_events(l, SB_GROUP_ELECTED, -1) - before[l], 0);
    sb_fixture_heal(f);
    run_for(f, 3 * SEC);
    assert_int_equal(count_events(l, SB_GROUP_STEPPED_DOWN, -1), 1);
    sb_fixture_free(f);
}

static int count_role(sb_fixture *f, const char *role)
{
    int n = 0;
    for (int i = 0; i < sb_fixture_nnodes(f); i++) {
        sb_group *g = group(f, i);
        if (!g)
            continue;
        sb_group_status st;
        sb_group_get_status(g, &st);
        n += strcmp(st.role, role) == 0;
    }
    return n;
}

static int six_voters_up_with_one_learner(sb_fixture *f, void *arg)
{
    int crashed = *(const int *)arg;
    int l = leader_of(f, NULL);
    if (l < 0)
        return 0;
    sb_group_status st;
    sb_group_get_status(group(f, l), &st);
    if (st.nvoters != 5)
        return 0;
    for (int v = 0; v < st.nvoters; v++) {
        sb_ep ep = sb_fixture_ep(crashed);
        if (sb_ep_eq(&st.voters[v], &ep))
            return 0;
    }
    return 1;
}

/* Seven nodes: five vote, two are learners (standbys that replicate the
 * log); when a voter dies, a learner takes its place, so five up voters
 * remain and the group tolerates two more failures. */
static void test_five_voters_and_learners(void **state)
{
    (void)state;
    sb_fixture *f = boot(51, 7);
    want_voters w = {5, 7};
    if (!run_until(f, configured, &w, 60 * SEC))
        fail_msg("seed 51: five voters of seven never configured");
    run_for(f, 2 * SEC);
    assert_int_equal(count_role(f, "leader") + count_role(f, "follower"), 5);
    assert_int_equal(count_role(f, "learner"), 2);
    assert_int_equal(propose(f, 6, "from-a-learner", 10 * SEC).status, 0);
    /* a voter that is not the leader dies */
    int l = leader_of(f, NULL);
    sb_group_status st;
    sb_group_get_status(group(f, l), &st);
    int victim = -1;
    for (int i = 0; i < 7 && victim < 0; i++) {
        sb_ep ep = sb_fixture_ep(i);
        for (int v = 0; v < st.nvoters; v++)
            if (i != l && sb_ep_eq(&st.voters[v], &ep))
                victim = i;
    }
    assert_true(victim >= 0);
    sb_fixture_crash(f, victim);
    if (!run_until(f, six_voters_up_with_one_learner, &victim, 60 * SEC))
        fail_msg("seed 51: the dead voter %d was not replaced by a learner", victim);
    run_for(f, 2 * SEC); /* every node hears the new configuration */
    assert_int_equal(count_role(f, "learner"), 1);
    /* the leader reported the dead voter's demotion once */
    assert_int_equal(count_all_events(7, SB_GROUP_DEMOTED, victim), 1);
    assert_int_equal(count_all_events(7, SB_GROUP_DEMOTED, -1), 1);
    assert_int_equal(propose(f, l, "after-replacement", 10 * SEC).status, 0);
    sb_fixture_free(f);
}

/* Many seeds with a nemesis: crashes, restarts, partitions, while every
 * node keeps proposing. Safety holds in every one (one leader per term,
 * one command per index), and the cluster makes progress once healed. */
static void test_safety_under_faults(void **state)
{
    (void)state;
    /* SB_RAFT_SEEDS=N runs seeds 1000..1000+N-1; SB_RAFT_SEED=S replays one */
    int seeds = getenv("SB_RAFT_SEEDS") ? atoi(getenv("SB_RAFT_SEEDS")) : 200;
    int first = 0;
    if (getenv("SB_RAFT_SEED")) {
        first = atoi(getenv("SB_RAFT_SEED")) - 1000;
        seeds = first + 1;
    }
    for (int s = first; s < seeds; s++) {
        uint64_t seed = 1000 + (uint64_t)s;
        int n = 3 + (s % 3); /* 3, 4, 5 nodes */
        sb_fixture *f = boot(seed, n);
        want_voters w = {n == 4 ? 3 : n, n};
        if (!run_until(f, configured, &w, 60 * SEC))
            fail_msg("seed %llu: group never configured " REPLAY, (unsigned long long)seed,
                     (unsigned long long)seed);
        dsim_world *world = sb_fixture_world(f);
        (void)world;
        uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
        int down[MAXN] = {0};
        int committed = 0;
        for (int round = 0; round < 12; round++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            int victim = (int)(rng % (uint64_t)n);
            switch ((rng >> 8) % 4) {
            case 0:
                if (!down[victim]) {
                    sb_fixture_crash(f, victim);
                    down[victim] = 1;
                }
                break;
            case 1:
                for (int i = 0; i < n; i++)
                    if (down[i]) {
                        start_node(f, i);
                        down[i] = 0;
                    }
                break;
            case 2:
                sb_fixture_isolate(f, victim);
                break;
            default:
                sb_fixture_heal(f);
                break;
            }
            for (int k = 0; k < 3; k++) {
                int at = (int)((rng >> (16 + k)) % (uint64_t)n);
                if (down[at])
                    continue;
                char cmd[32];
                snprintf(cmd, sizeof cmd, "s%d-r%d-k%d", s % 1000, round % 100, k % 10);
                outcome o = propose(f, at, cmd, 8 * SEC);
                if (!o.done)
                    fail_msg("seed %llu: a proposal never answered " REPLAY,
                             (unsigned long long)seed, (unsigned long long)seed);
                committed += o.status == 0;
            }
        }
        /* heal everything: progress and convergence */
        sb_fixture_heal(f);
        for (int i = 0; i < n; i++)
            if (down[i])
                start_node(f, i);
        run_for(f, 5 * SEC);
        char last[32];
        snprintf(last, sizeof last, "final-%d", s);
        outcome o = {0};
        for (int tries = 0; tries < 5 && (!o.done || o.status != 0); tries++)
            o = propose(f, 0, last, 10 * SEC);
        if (o.status != 0)
            fail_msg("seed %llu: no progress after heal: %s (%s) " REPLAY, (unsigned long long)seed,
                     sb_strerror(o.status), o.msg, (unsigned long long)seed);
        run_for(f, 5 * SEC);
        for (int i = 0; i < n; i++)
            if (strcmp(fsms[i].last_cmd, last) != 0)
                fail_msg("seed %llu: node %d last applied \"%s\", not \"%s\" " REPLAY,
                         (unsigned long long)seed, i, fsms[i].last_cmd, last,
                         (unsigned long long)seed);
        if (getenv("SB_RAFT_VERBOSE"))
            fprintf(stderr, "seed %llu: %d nodes, %d of 36 proposals committed, last index %llu\n",
                    (unsigned long long)seed, n, committed, (unsigned long long)fsms[0].last_index);
        sb_fixture_free(f);
    }
}

/* --- topology ---------------------------------------------------------------- */

typedef struct want_topo {
    int n;           /* started nodes, each NORMAL in every topology */
    int saw_joining; /* some node was seen JOINING on the way */
} want_topo;

/* Every started node's committed topology holds the first n nodes, all
 * NORMAL, and its gossip ring has the same n owners. */
static int topo_settled(sb_fixture *f, void *arg)
{
    want_topo *w = arg;
    int ok = 1;
    for (int i = 0; i < w->n; i++) {
        sb_cluster *c = sb_fixture_cluster(f, i);
        if (!c)
            return 0;
        const sb_topo *t = sb_cluster_topology(c);
        for (int k = 0; k < t->n; k++)
            w->saw_joining |= t->nodes[k].status == SB_STATUS_JOINING;
        int normal = 0;
        for (int k = 0; k < t->n; k++)
            normal += t->nodes[k].status == SB_STATUS_NORMAL;
        ok = ok && t->n == w->n && normal == w->n &&
             sb_ring_nnodes(sb_gossip_ring(sb_cluster_gossip(c))) == w->n;
    }
    return ok;
}

/* The topologies of the first n nodes are identical, no token is held
 * twice, and each node gossips the tokens the topology gave it. */
static void check_topologies(sb_fixture *f, int n)
{
    const sb_topo *t0 = sb_cluster_topology(sb_fixture_cluster(f, 0));
    assert_int_equal(t0->n, n);
    assert_true(t0->index > 0);
    for (int i = 1; i < n; i++) {
        const sb_topo *t = sb_cluster_topology(sb_fixture_cluster(f, i));
        assert_int_equal(t->n, n);
        for (int k = 0; k < n; k++)
            assert_memory_equal(&t->nodes[k], &t0->nodes[k], sizeof t->nodes[k]);
    }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            for (int x = 0; x < t0->nodes[a].ntokens; x++)
                for (int y = 0; y < t0->nodes[b].ntokens; y++)
                    assert_true(t0->nodes[a].tokens[x] != t0->nodes[b].tokens[y]);
    for (int i = 0; i < n; i++) {
        const sb_member *m = sb_gossip_self(sb_cluster_gossip(sb_fixture_cluster(f, i)));
        const sb_topo_node *x = sb_topo_find(t0, &m->ep);
        assert_non_null(x);
        assert_int_equal(m->ntokens, x->ntokens);
        assert_memory_equal(m->tokens, x->tokens, sizeof(int64_t) * (size_t)x->ntokens);
    }
}

/* Three nodes form the topology (the first seed's gossip-chosen tokens are
 * adopted, the others join through the group), then two more join at
 * once: every node ends with the same topology and no shared token. */
static void test_topology_joins(void **state)
{
    (void)state;
    for (uint64_t seed = 21; seed < 24; seed++) {
        reset_run(seed);
        sb_fixture *f = sb_fixture_new(seed, 5, NULL, NULL);
        assert_non_null(f);
        for (int i = 0; i < 3; i++)
            start_node(f, i);
        want_topo w = {3, 0};
        if (!run_until(f, topo_settled, &w, 90 * SEC))
            fail_msg("seed %llu: three nodes never settled in the topology " REPLAY,
                     (unsigned long long)seed, (unsigned long long)seed);
        assert_true(w.saw_joining);
        check_topologies(f, 3);
        uint64_t index = sb_cluster_topology(sb_fixture_cluster(f, 0))->index;
        start_node(f, 3);
        start_node(f, 4);
        w = (want_topo){5, 0};
        if (!run_until(f, topo_settled, &w, 120 * SEC))
            fail_msg("seed %llu: two joiners never settled " REPLAY, (unsigned long long)seed,
                     (unsigned long long)seed);
        assert_true(w.saw_joining);
        check_topologies(f, 5);
        assert_true(sb_cluster_topology(sb_fixture_cluster(f, 0))->index > index);
        sb_fixture_free(f);
    }
}

int main(void)
{
    sb_log_set_level(SB_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_forms_and_commits),
        cmocka_unit_test(test_leader_crash_and_restart),
        cmocka_unit_test(test_minority_refuses),
        cmocka_unit_test(test_five_voters_and_learners),
        cmocka_unit_test(test_events_once_per_change),
        cmocka_unit_test(test_safety_under_faults),
        cmocka_unit_test(test_topology_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
