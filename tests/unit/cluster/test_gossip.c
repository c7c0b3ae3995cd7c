/*
 * Gossip membership (cluster/gossip.c) on the cluster fixture
 * (dsim/fixture.h): N nodes, each running gossip alone over its simulated
 * sb_io, message deliveries 1-10 ms after the send, an in-memory kv space
 * per node that survives crashes, crashes (a node's timers and in-flight
 * messages vanish), and partitions (messages between groups are dropped).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip.h"
#include "cluster/rpc.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define MAXN 12
#define NTOK 16
#define EPOCH_US 1700000000000000LL
#define NEVER UINT64_MAX

/* --- harness: gossip processes on the cluster fixture ------------------- */

typedef struct sim sim;
typedef struct node {
    sim *w;
    int idx;
    sb_gossip *g; /* NULL while down (the fixture frees it on crash) */
    sb_ep ep;
    int ev[MAXN][8]; /* events received about node j, by kind */
} node;

struct sim {
    sb_fixture *fx;
    node n[MAXN];
    int nn;
    uint8_t last[8][65536]; /* last payload sent of each gossip type */
    size_t lastlen[8];
};

static uint64_t now_ms(const sim *w)
{
    return sb_fixture_now_us(w->fx) / SB_FIXTURE_MS;
}

static uint64_t sim_rand(sim *w)
{
    return dsim_rand(sb_fixture_world(w->fx));
}

static dsim_store *store(sim *w, int i)
{
    return sb_fixture_store(w->fx, i);
}

static void tap(void *arg, int from, const sb_ep *to, int type, const uint8_t *p, size_t len,
                int rv)
{
    sim *w = arg;
    if (type > 0 && type < 8 && len <= sizeof w->last[0]) {
        memcpy(w->last[type], p, len);
        w->lastlen[type] = len;
    }
}

static int find_ep(sim *w, const sb_ep *ep)
{
    for (int i = 0; i < w->nn; i++)
        if (sb_ep_eq(&w->n[i].ep, ep))
            return i;
    return -1;
}

static int count_key(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (*(int *)arg)++;
    return 0;
}

/* Number of saved peer records (sys/peers/...). */
static int saved_peers(sim *w, int i)
{
    int k = 0;
    dsim_store_kv_scan(store(w, i), (const uint8_t *)"sys/peers/", 10, count_key, &k);
    return k;
}

typedef struct keylist {
    sb_buf keys[64], vals[64];
    int n;
} keylist;

static int collect_key(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    keylist *l = arg;
    assert_true(l->n < 64);
    sb_buf_init(&l->keys[l->n]);
    sb_buf_append(&l->keys[l->n], k, kl);
    sb_buf_init(&l->vals[l->n]);
    sb_buf_append(&l->vals[l->n++], v, vl);
    return 0;
}

/* kv_put calls the node made. */
static uint64_t kv_puts(sim *w, int i)
{
    uint64_t puts, acked;
    dsim_node_kv_puts(sb_fixture_world(w->fx), i, &puts, &acked);
    return puts;
}

/* Empties a node's kv space (a fresh disk). */
static void kv_clear(sim *w, int i)
{
    keylist l = {.n = 0};
    dsim_store_kv_scan(store(w, i), (const uint8_t *)"", 0, collect_key, &l);
    for (int k = 0; k < l.n; k++) {
        dsim_store_kv_del(store(w, i), l.keys[k].data, l.keys[k].len);
        sb_buf_free(&l.keys[k]);
        sb_buf_free(&l.vals[k]);
    }
}

static void kv_put(sim *w, int i, const char *k, size_t kl, const void *v, size_t vl)
{
    assert_int_equal(dsim_store_kv_put(store(w, i), (const uint8_t *)k, kl, v, vl), 0);
}

static void on_event(void *arg, int kind, const sb_member *m)
{
    node *n = arg;
    int j = find_ep(n->w, &m->ep);
    assert_true(kind > 0 && kind < 8);
    if (j >= 0) /* hand-made members of test_garbage are not counted */
        n->ev[j][kind]++;
}

static void sim_init(sim *w, int nn, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    /* Deliveries 1-10 ms after the send, no loss. */
    dsim_net net = {.loss = 0, .dup = 0, .delay_min_us = 1000, .delay_max_us = 10000};
    w->fx = sb_fixture_new(seed, nn, &net, NULL);
    assert_non_null(w->fx);
    sb_fixture_tap(w->fx, tap, w);
    w->nn = nn;
    for (int i = 0; i < nn; i++) {
        node *n = &w->n[i];
        n->w = w;
        n->idx = i;
        n->ep = sb_fixture_ep(i);
    }
}

static void proc_receive(void *obj, int type, const uint8_t *p, size_t len)
{
    sb_gossip_receive(obj, type, p, len);
}

static void proc_free(void *obj)
{
    sb_gossip_free(obj);
}

static const sb_fixture_proc gossip_proc = {proc_receive, NULL, proc_free};

static void node_start(sim *w, int i)
{
    node *n = &w->n[i];
    sb_gossip_opts o;
    sb_gossip_opts_default(&o);
    o.self = n->ep;
    o.rpc = n->ep;
    o.rpc.port = 9042;
    o.host_id[0] = (uint8_t)(i + 1);
    o.seeds = &w->n[0].ep;
    o.nseeds = 1;
    o.num_tokens = NTOK;
    char err[SB_ERRMSG_SIZE] = "";
    const sb_io *io = sb_fixture_boot(w->fx, i);
    assert_non_null(io);
    n->g = sb_gossip_new(io, &o, err);
    assert_non_null(n->g);
    assert_int_equal(sb_gossip_on_event(n->g, on_event, n), 0);
    sb_fixture_attach(w->fx, i, &gossip_proc, n->g);
    sb_gossip_start(n->g);
}

/* Process death: no SHUTDOWN, its timers and in-flight messages vanish. */
static void node_crash(sim *w, int i)
{
    sb_fixture_crash(w->fx, i);
    w->n[i].g = NULL;
}

static int alive(const sim *w, int i)
{
    return w->n[i].g != NULL;
}

/* Runs until absolute virtual time `until` (ms). */
static void sim_run(sim *w, uint64_t until)
{
    uint64_t t = until * SB_FIXTURE_MS;
    if (t > sb_fixture_now_us(w->fx))
        sb_fixture_run_for(w->fx, t - sb_fixture_now_us(w->fx));
}

static void sim_free(sim *w)
{
    /* Gossip never waits for its kv writes to be durable. */
    for (int i = 0; i < w->nn; i++) {
        uint64_t puts, acked;
        dsim_node_kv_puts(sb_fixture_world(w->fx), i, &puts, &acked);
        assert_int_equal(acked, 0);
    }
    sb_fixture_free(w->fx);
    w->fx = NULL;
}

typedef struct waiting {
    sim *w;
    int (*pred)(sim *, void *);
    void *arg;
} waiting;

static int holds(sb_fixture *fx, void *arg)
{
    waiting *x = arg;
    return x->pred(x->w, x->arg);
}

/* Runs until pred holds (returns the time, ms) or until limit (ms). */
static uint64_t run_until(sim *w, int (*pred)(sim *, void *), void *arg, uint64_t limit)
{
    waiting x = {w, pred, arg};
    uint64_t now = now_ms(w);
    if (limit < now)
        return pred(w, arg) ? now : NEVER;
    if (!sb_fixture_step_until(w->fx, holds, &x, (limit - now) * SB_FIXTURE_MS))
        return NEVER;
    return now_ms(w);
}

/* --- predicates ------------------------------------------------------------ */

static int same_ring(const sb_ring *a, const sb_ring *b)
{
    if (sb_ring_ntokens(a) != sb_ring_ntokens(b) || sb_ring_nnodes(a) != sb_ring_nnodes(b))
        return 0;
    for (int i = 0; i < sb_ring_ntokens(a); i++)
        if (sb_ring_token_at(a, i) != sb_ring_token_at(b, i) ||
            !sb_ep_eq(&sb_ring_node_at(a, sb_ring_owner_at(a, i))->ep,
                      &sb_ring_node_at(b, sb_ring_owner_at(b, i))->ep))
            return 0;
    return 1;
}

/* Every live node knows every live node as up and NORMAL, and all live
 * nodes have the same ring of every node's tokens. */
static int converged(sim *w, void *arg)
{
    int ref = -1;
    for (int i = 0; i < w->nn; i++) {
        if (!alive(w, i))
            continue;
        sb_gossip *g = w->n[i].g;
        if (ref < 0)
            ref = i;
        for (int j = 0; j < w->nn; j++) {
            if (!alive(w, j))
                continue;
            const sb_member *m = sb_gossip_find(g, &w->n[j].ep);
            if (!m || !m->up || m->status != SB_STATUS_NORMAL || m->ntokens != NTOK)
                return 0;
        }
        if (sb_ring_ntokens(sb_gossip_ring(g)) != NTOK * w->nn)
            return 0;
        if (!same_ring(sb_gossip_ring(g), sb_gossip_ring(w->n[ref].g)))
            return 0;
    }
    return 1;
}

typedef struct updown {
    int who, up, lo, hi; /* observers lo..hi-1 see `who` as up/down */
} updown;

static int seen(sim *w, void *arg)
{
    const updown *u = arg;
    for (int i = u->lo; i < u->hi; i++) {
        if (i == u->who || !alive(w, i))
            continue;
        if (sb_gossip_is_up(w->n[i].g, &w->n[u->who].ep) != u->up)
            return 0;
    }
    return 1;
}

static void dump(sim *w)
{
    for (int i = 0; i < w->nn; i++) {
        if (!alive(w, i))
            continue;
        sb_gossip *g = w->n[i].g;
        fprintf(stderr, "node %d: members=%d ringtok=%d ringnodes=%d\n", i, sb_gossip_nmembers(g),
                sb_ring_ntokens(sb_gossip_ring(g)), sb_ring_nnodes(sb_gossip_ring(g)));
        for (int j = 0; j < sb_gossip_nmembers(g); j++) {
            const sb_member *m = sb_gossip_member(g, j);
            char b[64];
            fprintf(stderr, "   %s gen=%lld hb=%u st=%s up=%d tok=%d phi=%.2f\n",
                    sb_ep_str(&m->ep, b), (long long)m->generation, m->heartbeat,
                    sb_node_status_name(m->status), m->up, m->ntokens, m->phi);
        }
    }
}

static uint64_t converge(sim *w, int nn, uint64_t seed)
{
    sim_init(w, nn, seed);
    for (int i = 0; i < nn; i++) {
        sim_run(w, (uint64_t)i * 37); /* rounds do not all fall on one ms */
        node_start(w, i);
    }
    uint64_t t = run_until(w, converged, NULL, 60000);
    if (t == NEVER)
        dump(w);
    assert_true(t != NEVER);
    return t;
}

/* --- tests ------------------------------------------------------------------ */

static sim W; /* large: static */

static void check_converged_cluster(sim *w, int nn)
{
    for (int i = 0; i < nn; i++) {
        sb_gossip *g = w->n[i].g;
        assert_int_equal(sb_gossip_nmembers(g), nn);
        assert_int_equal(sb_ring_nnodes(sb_gossip_ring(g)), nn);
        /* Members sorted by ep, self flagged. */
        for (int j = 1; j < nn; j++)
            assert_true(sb_ep_cmp(&sb_gossip_member(g, j - 1)->ep, &sb_gossip_member(g, j)->ep) <
                        0);
        assert_true(sb_gossip_self(g)->is_self);
        assert_true(sb_ep_eq(&sb_gossip_self(g)->ep, &w->n[i].ep));
        /* Tokens saved as u16 count + i64s, equal to the announced ones. */
        const sb_member *s = sb_gossip_self(g);
        keylist l = {.n = 0};
        dsim_store_kv_scan(store(w, i), (const uint8_t *)"sys/tokens", 10, collect_key, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.keys[0].len, 10);
        sb_wire_reader r;
        sb_wire_reader_init(&r, l.vals[0].data, l.vals[0].len);
        assert_int_equal(sb_wire_get_u16(&r), NTOK);
        for (int t = 0; t < NTOK; t++)
            assert_true(sb_wire_get_i64(&r) == s->tokens[t]);
        assert_int_equal(r.err, 0);
        sb_buf_free(&l.keys[0]);
        sb_buf_free(&l.vals[0]);
        /* Others know our CQL address and host id. */
        const sb_member *o = sb_gossip_find(w->n[(i + 1) % nn].g, &w->n[i].ep);
        assert_int_equal(o->rpc.port, 9042);
        assert_int_equal(o->host_id[0], i + 1);
        assert_string_equal(o->dc, "datacenter1");
        /* Each node saw every other as NEW and UP once. */
        for (int j = 0; j < nn; j++)
            if (j != i) {
                assert_int_equal(w->n[i].ev[j][SB_GOSSIP_NEW], 1);
                assert_int_equal(w->n[i].ev[j][SB_GOSSIP_UP], 1);
                assert_int_equal(w->n[i].ev[j][SB_GOSSIP_DOWN], 0);
            }
    }
}

static void test_converge_3(void **state)
{
    uint64_t t = converge(&W, 3, 1);
    print_message("3 nodes from one seed: converged (all NORMAL, up, same ring) at %llu ms\n",
                  (unsigned long long)t);
    check_converged_cluster(&W, 3);
    sim_free(&W);
}

static void test_converge_10(void **state)
{
    uint64_t t = converge(&W, 10, 2);
    print_message("10 nodes from one seed: converged at %llu ms\n", (unsigned long long)t);
    check_converged_cluster(&W, 10);
    /* Staying converged: nobody flaps over the next minute. */
    sim_run(&W, now_ms(&W) + 60000);
    assert_true(converged(&W, NULL));
    sb_gossip_stats st;
    sb_gossip_get_stats(W.n[3].g, &st);
    assert_int_equal(st.marked_down, 0);
    assert_int_equal(st.rejected, 0);
    assert_true(st.rounds > 60 && st.syn_sent >= st.rounds && st.syn_received > 0);
    sim_free(&W);
}

/* Many seeds and sizes: always one ring with every token distinct (nodes
 * started together do not pick the same tokens). */
static void test_converge_seeds(void **state)
{
    uint64_t worst = 0;
    for (uint64_t seed = 100; seed < 140; seed++) {
        int nn = 2 + (int)(seed % 9);
        uint64_t t = converge(&W, nn, seed);
        worst = t > worst ? t : worst;
        sim_free(&W);
    }
    print_message("40 seeds, 2-10 nodes: slowest convergence %llu ms\n", (unsigned long long)worst);
}

static void test_crash_detect_restart(void **state)
{
    sim *w = &W;
    converge(w, 5, 3);
    int64_t gen0 = sb_gossip_self(w->n[4].g)->generation;
    int64_t tok0[NTOK];
    memcpy(tok0, sb_gossip_self(w->n[4].g)->tokens, sizeof tok0);
    uint64_t t0 = now_ms(w);
    node_crash(w, 4);
    updown d = {.who = 4, .up = 0, .lo = 0, .hi = 5};
    uint64_t t = run_until(w, seen, &d, t0 + 60000);
    assert_true(t != NEVER);
    print_message("crashed node marked down by all 4 others after %llu ms (virtual)\n",
                  (unsigned long long)(t - t0));
    /* phi > 8 takes 18.4 mean intervals; second-hand arrivals through
     * gossip come a little less often than once a round. */
    assert_true(t - t0 >= 18000 && t - t0 <= 30000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w->n[i].ev[4][SB_GOSSIP_DOWN], 1);
        /* Down, not gone: it keeps its ranges. */
        assert_int_equal(sb_ring_nnodes(sb_gossip_ring(w->n[i].g)), 5);
    }
    /* Restart 30 s later: a new generation, the same (saved) tokens. */
    sim_run(w, now_ms(w) + 30000);
    uint64_t t1 = now_ms(w);
    node_start(w, 4);
    assert_true(sb_gossip_self(w->n[4].g)->generation > gen0);
    assert_int_equal(sb_gossip_self(w->n[4].g)->status, SB_STATUS_NORMAL);
    assert_memory_equal(sb_gossip_self(w->n[4].g)->tokens, tok0, sizeof tok0);
    d.up = 1;
    t = run_until(w, seen, &d, t1 + 30000);
    assert_true(t != NEVER);
    print_message("restarted node marked up by all others after %llu ms (virtual)\n",
                  (unsigned long long)(t - t1));
    assert_true(t - t1 <= 3000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w->n[i].ev[4][SB_GOSSIP_RESTARTED], 1);
        assert_int_equal(w->n[i].ev[4][SB_GOSSIP_UP], 2);
        const sb_member *m = sb_gossip_find(w->n[i].g, &w->n[4].ep);
        assert_true(m->generation > gen0);
        assert_memory_equal(m->tokens, tok0, sizeof tok0);
    }
    assert_true(run_until(w, converged, NULL, now_ms(w) + 10000) != NEVER);
    sim_free(w);
}

static int settled(sim *w, void *arg)
{
    return sb_gossip_settled(w->n[*(int *)arg].g, NULL, 0);
}

/* A restarted node settles as soon as it hears from its saved peers, long
 * before a gossip round; with a peer dead it waits settle_ms, names it,
 * and stays settled. A lone seed settles at once. */
static void test_settle(void **state)
{
    sim *w = &W;
    converge(w, 3, 11);
    node_crash(w, 2);
    sim_run(w, now_ms(w) + 2000);
    uint64_t t1 = now_ms(w);
    node_start(w, 2);
    char why[256];
    assert_int_equal(sb_gossip_settled(w->n[2].g, why, sizeof why), 0);
    assert_non_null(strstr(why, ",")); /* both peers awaited */
    int who = 2;
    uint64_t t = run_until(w, settled, &who, t1 + 10000);
    assert_true(t != NEVER);
    print_message("restarted node settled after %llu ms (virtual)\n", (unsigned long long)(t - t1));
    /* Greeting, answer and state exchange: a few network delays (1-10 ms). */
    assert_true(t - t1 <= 100);
    assert_true(sb_gossip_is_up(w->n[2].g, &w->n[0].ep));
    assert_true(sb_gossip_is_up(w->n[2].g, &w->n[1].ep));
    assert_int_equal(sb_gossip_settled(w->n[2].g, why, sizeof why), 1);
    assert_string_equal(why, "");

    /* Node 1 dead while node 2 restarts again: settle_ms (5 s) later. */
    node_crash(w, 1);
    node_crash(w, 2);
    sim_run(w, now_ms(w) + 1000);
    t1 = now_ms(w);
    node_start(w, 2);
    t = run_until(w, settled, &who, t1 + 20000);
    assert_true(t != NEVER);
    assert_true(t - t1 >= 5000 && t - t1 <= 5300);
    assert_true(sb_gossip_is_up(w->n[2].g, &w->n[0].ep));
    assert_int_equal(sb_gossip_settled(w->n[2].g, why, sizeof why), 1);
    char eps[SB_EP_STRLEN];
    assert_string_equal(why, sb_ep_str(&w->n[1].ep, eps));
    sim_run(w, now_ms(w) + 3000);
    assert_int_equal(sb_gossip_settled(w->n[2].g, NULL, 0), 1);
    sim_free(w);

    /* A new cluster's seed has nobody to wait for. */
    sim_init(w, 1, 12);
    node_start(w, 0);
    assert_int_equal(sb_gossip_settled(w->n[0].g, NULL, 0), 1);
    sim_free(w);
}

static void test_shutdown(void **state)
{
    sim *w = &W;
    converge(w, 4, 4);
    uint64_t t0 = now_ms(w);
    sb_gossip_stop(w->n[2].g);
    updown d = {.who = 2, .up = 0, .lo = 0, .hi = 4};
    uint64_t t = run_until(w, seen, &d, t0 + 1000);
    assert_true(t != NEVER && t - t0 <= 100);
    /* The process lingers a while, then exits: nobody brings it back up. */
    sim_run(w, now_ms(w) + 5000);
    node_crash(w, 2);
    sim_run(w, now_ms(w) + 30000);
    for (int i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        const sb_member *m = sb_gossip_find(w->n[i].g, &w->n[2].ep);
        assert_int_equal(m->up, 0);
        assert_int_equal(m->status, SB_STATUS_SHUTDOWN);
        assert_int_equal(w->n[i].ev[2][SB_GOSSIP_DOWN], 1);
        assert_int_equal(sb_ring_nnodes(sb_gossip_ring(w->n[i].g)), 4);
    }
    node_start(w, 2);
    assert_true(run_until(w, converged, NULL, now_ms(w) + 10000) != NEVER);
    for (int i = 0; i < 4; i++)
        if (i != 2)
            assert_int_equal(w->n[i].ev[2][SB_GOSSIP_RESTARTED], 1);
    sim_free(w);
}

static void test_partition_heals(void **state)
{
    sim *w = &W;
    converge(w, 6, 5);
    int group[MAXN] = {0, 0, 0, 1, 1, 1};
    sb_fixture_partition(w->fx, group);
    uint64_t t0 = now_ms(w);
    uint64_t t = t0;
    for (int who = 0; who < 6; who++) {
        updown d = {.who = who, .up = 0, .lo = who < 3 ? 3 : 0, .hi = who < 3 ? 6 : 3};
        uint64_t tw = run_until(w, seen, &d, t0 + 60000);
        assert_true(tw != NEVER);
        t = tw > t ? tw : t;
    }
    print_message("partition 3|3: each side marks the other down within %llu ms\n",
                  (unsigned long long)(t - t0));
    /* Each side still sees its own members up. */
    for (int who = 0; who < 6; who++) {
        updown d = {.who = who, .up = 1, .lo = who < 3 ? 0 : 3, .hi = who < 3 ? 3 : 6};
        assert_true(seen(w, &d));
    }
    sb_fixture_heal(w->fx);
    uint64_t t1 = now_ms(w);
    t = run_until(w, converged, NULL, t1 + 60000);
    assert_true(t != NEVER);
    print_message("partition healed: all up again after %llu ms\n", (unsigned long long)(t - t1));
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if ((i < 3) != (j < 3)) {
                assert_int_equal(w->n[i].ev[j][SB_GOSSIP_DOWN], 1);
                assert_int_equal(w->n[i].ev[j][SB_GOSSIP_UP], 2);
                assert_int_equal(w->n[i].ev[j][SB_GOSSIP_RESTARTED], 0);
            }
    sim_free(w);
}

static int schema_known(sim *w, void *arg)
{
    const uint8_t *v = arg;
    for (int i = 0; i < w->nn; i++)
        if (memcmp(sb_gossip_find(w->n[i].g, &w->n[0].ep)->schema_version, v, 16))
            return 0;
    return 1;
}

static void test_schema_events(void **state)
{
    sim *w = &W;
    converge(w, 4, 6);
    uint8_t v1[16] = {1, 2, 3};
    sb_gossip_set_schema(w->n[0].g, v1);
    uint64_t t0 = now_ms(w);
    uint64_t t = run_until(w, schema_known, v1, t0 + 20000);
    assert_true(t != NEVER);
    print_message("schema version spread to 4 nodes in %llu ms\n", (unsigned long long)(t - t0));
    for (int i = 1; i < 4; i++)
        assert_int_equal(w->n[i].ev[0][SB_GOSSIP_SCHEMA], 1);
    /* The others adopt it: no further events, none at node 0. */
    for (int i = 1; i < 4; i++)
        sb_gossip_set_schema(w->n[i].g, v1);
    sim_run(w, now_ms(w) + 10000);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            assert_int_equal(w->n[i].ev[j][SB_GOSSIP_SCHEMA], i == 0 || j != 0 ? 0 : 1);
    /* Load and status travel too; LEAVING keeps the node on the ring. */
    sb_gossip_set_load(w->n[1].g, 12345);
    sb_gossip_set_status(w->n[1].g, SB_STATUS_LEAVING);
    sim_run(w, now_ms(w) + 10000);
    for (int i = 0; i < 4; i++) {
        const sb_member *m = sb_gossip_find(w->n[i].g, &w->n[1].ep);
        assert_int_equal(m->load_bytes, 12345);
        assert_int_equal(m->status, SB_STATUS_LEAVING);
        assert_int_equal(w->n[i].ev[1][SB_GOSSIP_STATUS] > 0, 1);
        assert_int_equal(sb_ring_nnodes(sb_gossip_ring(w->n[i].g)), 4);
    }
    sim_free(w);
}

static void test_ring_refs_and_removal(void **state)
{
    sim *w = &W;
    converge(w, 3, 7);
    sb_gossip *g = w->n[0].g;
    const sb_ring *old = sb_gossip_ring(g);
    sb_gossip_ring_ref(g, old);
    sb_gossip_ring_ref(g, old);
    /* LEFT is not on the ring: the ring changes. */
    sb_gossip_set_status(w->n[1].g, SB_STATUS_LEFT);
    sim_run(w, now_ms(w) + 10000);
    const sb_ring *cur = sb_gossip_ring(g);
    assert_ptr_not_equal(cur, old);
    assert_int_equal(sb_ring_nnodes(cur), 2);
    assert_int_equal(sb_ring_nnodes(old), 3); /* still readable */
    sb_gossip_ring_unref(g, old);
    assert_int_equal(sb_ring_ntokens(old), 3 * NTOK);
    sb_gossip_ring_unref(g, old); /* freed here (ASan checks) */
    /* The LEFT node goes away: once down for 30 rounds it is removed, and
     * its old state still relayed by the other node does not return it. */
    node_crash(w, 1);
    sim_run(w, now_ms(w) + 25000 + 31000);
    sim_run(w, now_ms(w) + 60000);
    for (int i = 0; i < 3; i += 2) {
        assert_int_equal(sb_gossip_nmembers(w->n[i].g), 2);
        assert_null(sb_gossip_find(w->n[i].g, &w->n[1].ep));
        assert_int_equal(w->n[i].ev[1][SB_GOSSIP_REMOVED], 1);
        assert_int_equal(w->n[i].ev[1][SB_GOSSIP_NEW], 1);
        assert_int_equal(saved_peers(w, i), 1); /* its record went with it */
    }
    /* Back with a new generation: a member again. */
    kv_clear(w, 1);
    node_start(w, 1);
    sim_run(w, now_ms(w) + 10000);
    for (int i = 0; i < 3; i += 2) {
        assert_int_equal(sb_gossip_nmembers(w->n[i].g), 3);
        assert_true(sb_gossip_is_up(w->n[i].g, &w->n[1].ep));
    }
    sim_free(w);
}

/* Builders for hand-made messages from 10.0.0.9. */
static void put_from(sb_buf *b)
{
    sb_ep e = {.family = 4, .ip = {10, 0, 0, 9}, .port = 7000};
    sb_wire_put_ep(b, &e);
}

static void put_state_hdr(sb_buf *b, int64_t gen, uint32_t hb, int nf)
{
    sb_ep e = {.family = 4, .ip = {10, 0, 0, 9}, .port = 7000};
    sb_wire_put_ep(b, &e);
    sb_wire_put_i64(b, gen);
    sb_wire_put_u32(b, hb);
    sb_wire_put_u8(b, (uint8_t)nf);
}

static void put_field_u8(sb_buf *b, int key, uint32_t ver, uint8_t v)
{
    sb_wire_put_u8(b, (uint8_t)key);
    sb_wire_put_u32(b, ver);
    sb_wire_put_bytes(b, &v, 1);
}

static uint64_t rejected(sb_gossip *g)
{
    sb_gossip_stats st;
    sb_gossip_get_stats(g, &st);
    return st.rejected;
}

static void test_garbage(void **state)
{
    sim *w = &W;
    converge(w, 2, 8);
    sb_gossip *g = w->n[0].g;
    uint64_t rej = rejected(g);
    /* Every strict prefix of real messages is refused, and changes nothing. */
    int types[] = {SB_MSG_GOSSIP_SYN, SB_MSG_GOSSIP_ACK, SB_MSG_GOSSIP_ACK2};
    for (int k = 0; k < 3; k++) {
        int ty = types[k];
        size_t len = w->lastlen[ty];
        assert_true(len > 19);
        uint8_t *copy = malloc(len);
        memcpy(copy, w->last[ty], len);
        for (size_t cut = 0; cut < len; cut++) {
            sb_gossip_receive(g, ty, copy, cut);
            assert_int_equal(rejected(g), ++rej);
        }
        free(copy);
    }

    /* A SYN from another cluster is refused and the sender not learnt. */
    sb_buf b;
    sb_buf_init(&b);
    put_from(&b);
    sb_wire_put_str(&b, "Other Cluster");
    sb_wire_put_u16(&b, 0);
    rej = rejected(g);
    int nm = sb_gossip_nmembers(g);
    sb_gossip_receive(g, SB_MSG_GOSSIP_SYN, b.data, b.len);
    assert_int_equal(rejected(g), rej + 1);
    /* Well-formed states with bad content. */
    struct {
        int status;
        uint32_t hb, ver;
        int64_t gen;
    } bad[] = {{99, 5, 1, 10}, {2, 5, 6, 10}, {2, 5, 0, 10}, {2, 5, 1, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sb_buf_reset(&b);
        put_from(&b);
        sb_wire_put_u16(&b, 1);
        put_state_hdr(&b, bad[i].gen, bad[i].hb, 1);
        put_field_u8(&b, 1, bad[i].ver, (uint8_t)bad[i].status);
        sb_wire_put_u16(&b, 0);
        sb_gossip_receive(g, SB_MSG_GOSSIP_ACK, b.data, b.len);
        assert_int_equal(rejected(g), rej + 2 + i);
    }
    /* Tokens out of order. */
    sb_buf_reset(&b);
    put_from(&b);
    sb_wire_put_u16(&b, 1);
    put_state_hdr(&b, 10, 5, 1);
    sb_wire_put_u8(&b, 2);
    sb_wire_put_u32(&b, 3);
    sb_wire_put_bytes(&b, "\0\2\0\0\0\0\0\0\0\5\0\0\0\0\0\0\0\4", 18);
    sb_gossip_receive(g, SB_MSG_GOSSIP_ACK2, b.data, b.len);
    assert_int_equal(rejected(g), rej + 6);
    assert_int_equal(sb_gossip_nmembers(g), nm);
    /* The same state, valid and with an unknown field 200: accepted. */
    sb_buf_reset(&b);
    put_from(&b);
    sb_wire_put_u16(&b, 1);
    put_state_hdr(&b, 10, 5, 2);
    put_field_u8(&b, 200, 4, 7);
    put_field_u8(&b, 1, 4, SB_STATUS_JOINING);
    sb_gossip_receive(g, SB_MSG_GOSSIP_ACK2, b.data, b.len);
    assert_int_equal(rejected(g), rej + 6);
    assert_int_equal(sb_gossip_nmembers(g), nm + 1);
    sb_buf_free(&b);
    /* And the cluster is still fine. */
    assert_true(run_until(w, converged, NULL, now_ms(w) + 5000) != NEVER);

    /* Random bytes of every type, including non-gossip ones. */
    rej = rejected(g);
    uint8_t junk[512];
    for (int i = 0; i < 2000; i++) {
        size_t n = sim_rand(w) % sizeof junk;
        for (size_t j = 0; j < n; j++)
            junk[j] = (uint8_t)sim_rand(w);
        sb_gossip_receive(g, 1 + i % 5, junk, n);
    }
    assert_true(rejected(g) > rej + 1900);
    /* Single-byte corruptions of real messages (the transport's CRC would
     * catch these; a peer sending them is believed, but nothing crashes). */
    for (int k = 0; k < 3; k++) {
        int ty = types[k];
        size_t len = w->lastlen[ty];
        uint8_t *copy = malloc(len);
        memcpy(copy, w->last[ty], len);
        for (size_t i = 0; i < len; i++) {
            uint8_t save = copy[i];
            copy[i] ^= (uint8_t)(1 + sim_rand(w) % 255);
            sb_gossip_receive(g, ty, copy, len);
            copy[i] = save;
        }
        free(copy);
    }
    sim_run(w, now_ms(w) + 30000);
    sim_free(w);
}

/* A restarted node starts with the ring it saved: every peer a member,
 * down until its heartbeat is seen rising, replaced by any real state. */
static void test_restart_knows_ring(void **state)
{
    sim *w = &W;
    converge(w, 5, 11);
    for (int i = 0; i < 5; i++)
        assert_int_equal(saved_peers(w, i), 4);
    /* Steady state: no writes. */
    uint64_t puts0 = 0, puts1 = 0;
    for (int i = 0; i < 5; i++)
        puts0 += kv_puts(w, i);
    sim_run(w, now_ms(w) + 30000);
    for (int i = 0; i < 5; i++)
        puts1 += kv_puts(w, i);
    assert_int_equal(puts1, puts0);

    /* n2 crashes; meanwhile n3 restarts (new generation), n4 leaves the
     * ring and n1 dies. */
    node_crash(w, 2);
    int64_t gen3 = sb_gossip_self(w->n[3].g)->generation;
    node_crash(w, 3);
    sim_run(w, now_ms(w) + 2000);
    node_start(w, 3);
    assert_true(sb_gossip_self(w->n[3].g)->generation > gen3);
    sb_gossip_set_status(w->n[4].g, SB_STATUS_LEFT);
    sim_run(w, now_ms(w) + 5000);
    node_crash(w, 1);
    sim_run(w, now_ms(w) + 1000);

    /* Right after sb_gossip_new (and start, which only sends): the whole
     * saved ring, every peer down with generation 0. */
    int up0[5];
    for (int j = 0; j < 5; j++)
        up0[j] = w->n[2].ev[j][SB_GOSSIP_UP];
    node_start(w, 2);
    sb_gossip *g = w->n[2].g;
    assert_int_equal(sb_gossip_nmembers(g), 5);
    assert_int_equal(sb_ring_nnodes(sb_gossip_ring(g)), 5);
    assert_int_equal(sb_ring_ntokens(sb_gossip_ring(g)), 5 * NTOK);
    for (int j = 0; j < 5; j++) {
        const sb_member *m = sb_gossip_find(g, &w->n[j].ep);
        assert_non_null(m);
        if (j == 2)
            continue;
        assert_false(m->up);
        assert_true(m->generation == 0);
        assert_int_equal(m->host_id[0], j + 1);
        assert_int_equal(m->rpc.port, 9042);
        assert_int_equal(m->status, SB_STATUS_NORMAL);
        const sb_member *real = sb_gossip_find(w->n[0].g, &w->n[j].ep);
        assert_memory_equal(m->tokens, real->tokens, sizeof m->tokens);
    }

    /* Gossip: the real states win. */
    sim_run(w, now_ms(w) + 8000);
    const sb_member *m3 = sb_gossip_find(g, &w->n[3].ep);
    assert_true(m3->generation == sb_gossip_self(w->n[3].g)->generation);
    assert_true(m3->up);
    assert_int_equal(sb_gossip_find(g, &w->n[4].ep)->status, SB_STATUS_LEFT);
    assert_true(sb_gossip_is_up(g, &w->n[0].ep));
    /* n1 is dead: relayed states of it never make it look alive, and it
     * keeps its ranges. */
    assert_false(sb_gossip_is_up(g, &w->n[1].ep));
    assert_true(sb_gossip_find(g, &w->n[1].ep)->generation > 0);
    assert_int_equal(w->n[2].ev[1][SB_GOSSIP_UP], up0[1]);
    assert_int_equal(w->n[2].ev[3][SB_GOSSIP_UP], up0[3] + 1);
    assert_int_equal(sb_ring_nnodes(sb_gossip_ring(g)), 4); /* n4 LEFT */
    assert_true(same_ring(sb_gossip_ring(g), sb_gossip_ring(w->n[0].g)));
    /* The saved records follow: n4's now says LEFT. */
    node_crash(w, 2);
    node_start(w, 2);
    assert_int_equal(sb_ring_nnodes(sb_gossip_ring(w->n[2].g)), 4);
    assert_int_equal(sb_gossip_find(w->n[2].g, &w->n[4].ep)->status, SB_STATUS_LEFT);
    sim_free(w);
}

static void test_saved_state(void **state)
{
    sim *w = &W;
    sim_init(w, 1, 9);
    node *n = &w->n[0];
    const sb_io *io = sb_fixture_boot(w->fx, 0);
    char err[SB_ERRMSG_SIZE] = "";
    sb_gossip_opts o;
    sb_gossip_opts_default(&o);
    o.self = n->ep;
    /* A saved generation in the future: the next one is last + 1. */
    uint8_t gen[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    kv_put(w, 0, "sys/generation", 14, gen, 8);
    sb_gossip *g = sb_gossip_new(io, &o, err);
    assert_non_null(g);
    assert_true(sb_gossip_self(g)->generation == ((int64_t)1 << 32) + 1);
    assert_int_equal(sb_gossip_self(g)->status, SB_STATUS_JOINING);
    sb_gossip_free(g);
    /* Malformed tokens: refused with the key named. */
    kv_put(w, 0, "sys/tokens", 10, "\0\3\1", 3);
    assert_null(sb_gossip_new(io, &o, err));
    assert_non_null(strstr(err, "sys/tokens"));
    /* A malformed saved peer is skipped (it is a cache), not fatal. */
    kv_clear(w, 0);
    uint8_t pk[26] = "sys/peers/";
    pk[10] = 7;
    kv_put(w, 0, (const char *)pk, sizeof pk, "\1\2", 2);
    g = sb_gossip_new(io, &o, err);
    assert_non_null(g);
    assert_int_equal(sb_gossip_nmembers(g), 1);
    sb_gossip_free(g);
    kv_put(w, 0, "sys/tokens", 10, "\0\3\1", 3);
    /* Bad options. */
    o.num_tokens = 0;
    assert_null(sb_gossip_new(io, &o, err));
    assert_non_null(strstr(err, "num_tokens"));
    /* A lone seed with no tokens allocates at start. */
    kv_clear(w, 0);
    sb_gossip_opts_default(&o);
    o.self = n->ep;
    o.seeds = &n->ep;
    o.nseeds = 1;
    g = sb_gossip_new(io, &o, err);
    assert_non_null(g);
    sb_gossip_start(g);
    assert_int_equal(sb_gossip_self(g)->status, SB_STATUS_NORMAL);
    assert_int_equal(sb_ring_ntokens(sb_gossip_ring(g)), 16);
    assert_int_equal(sb_gossip_on_event(g, on_event, n), 0);
    for (int i = 1; i < 8; i++)
        assert_int_equal(sb_gossip_on_event(g, on_event, n), 0);
    assert_int_equal(sb_gossip_on_event(g, on_event, n), SB_ETOOBIG);
    sb_gossip_free(g);
    sim_free(w);
}

int main(void)
{
    sb_log_set_level(SB_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converge_3),
        cmocka_unit_test(test_converge_10),
        cmocka_unit_test(test_converge_seeds),
        cmocka_unit_test(test_crash_detect_restart),
        cmocka_unit_test(test_settle),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_partition_heals),
        cmocka_unit_test(test_schema_events),
        cmocka_unit_test(test_ring_refs_and_removal),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_saved_state),
        cmocka_unit_test(test_restart_knows_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
