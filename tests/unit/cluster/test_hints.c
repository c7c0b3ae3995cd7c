/*
 * Hinted handoff on the cluster fixture (dsim/fixture.h): the real sb_rpc
 * and sb_hints run over node 0's simulated sb_io, whose kv writes are
 * acknowledged 20-500 us later (never synchronously) and whose timers of
 * d ms fire 1 us after d ms. Nodes 1 and 2 (the replicas) stay down: the
 * fixture's tap captures the MUTATIONs sent to them and the test answers
 * as the replica itself. Gossip is a small stand-in (sb_gossip_find /
 * sb_gossip_is_up defined below over a table of members, which is why
 * this test links only the fixture, not fixture_cluster.c) so that a test
 * decides who is up and since when.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "cluster/hints.h"
#include "cluster/rpc.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/wire.h"

/* kv writes are acknowledged at most this long after the put. */
#define KV_ACK_US 500

/* --- gossip stand-in -------------------------------------------------------
 */

struct sb_gossip {
    sb_member m[8];
    int n;
};

const sb_member *sb_gossip_find(const sb_gossip *g, const sb_ep *ep)
{
    for (int i = 0; i < g->n; i++)
        if (sb_ep_eq(&g->m[i].ep, ep))
            return &g->m[i];
    return NULL;
}

int sb_gossip_is_up(const sb_gossip *g, const sb_ep *ep)
{
    const sb_member *m = sb_gossip_find(g, ep);
    return m && m->up;
}

static sb_member *add_member(sb_gossip *g, const char *addr, int up, uint64_t since_ms)
{
    sb_member *m = &g->m[g->n++];
    memset(m, 0, sizeof(*m));
    assert_int_equal(sb_ep_parse(addr, 7000, &m->ep), 0);
    for (int i = 0; i < 16; i++)
        m->host_id[i] = (uint8_t)(0xA0 + g->n);
    m->status = SB_STATUS_NORMAL;
    m->up = up;
    m->since_ms = since_ms;
    return m;
}

/* --- harness: rpc and hints on node 0 of the fixture -----------------------
 */

/* A MUTATION node 0 sent, captured by the tap. */
typedef struct sent {
    sb_ep to;
    uint64_t at_ms; /* node 0's monotonic clock at the send */
    sb_buf p;
} sent;

typedef struct env {
    sb_fixture *fx;
    const sb_io *io;
    sb_rpc *rpc;
    sb_gossip g;
    sb_hints *h;
    sb_hints_opts o;
    sb_ep self;
    sb_member *a, *b; /* two replicas, both down since the start */
    sent msgs[4096];
    int nmsgs, taken; /* msgs[taken..nmsgs) not yet looked at */
} env;

static uint64_t mono_ms(env *e)
{
    return e->io->mono_ms(e->io->ctx);
}

static void tap(void *arg, int from, const sb_ep *to, int type, const uint8_t *p, size_t len,
                int rv)
{
    env *e = arg;
    if (from != 0 || type != SB_MSG_MUTATION || rv)
        return;
    assert_true(e->nmsgs < 4096);
    sent *s = &e->msgs[e->nmsgs++];
    s->to = *to;
    s->at_ms = mono_ms(e);
    sb_buf_init(&s->p);
    assert_int_equal(sb_buf_append(&s->p, p, len), 0);
}

/* Runs the fixture for ms milliseconds of virtual time. */
static void run_ms(env *e, uint64_t ms)
{
    sb_fixture_run_for(e->fx, ms * SB_FIXTURE_MS);
}

/* Runs the fixture until virtual time t_us (absolute). */
static void run_to(env *e, uint64_t t_us)
{
    uint64_t now = sb_fixture_now_us(e->fx);
    if (t_us > now)
        sb_fixture_run_for(e->fx, t_us - now);
}

/* Lets the kv acknowledgements of writes made so far land (and nothing
 * that waits a millisecond or more: no timer fires). */
static void land_acks(env *e)
{
    sb_fixture_run_for(e->fx, KV_ACK_US);
}

static env *env_new(void)
{
    env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    /* Three nodes: node 0 runs the hints, 1 and 2 are its replicas. */
    e->fx = sb_fixture_new(42, 3, NULL, NULL);
    assert_non_null(e->fx);
    /* Start well past time 0, as a process that has been up a while. */
    sb_fixture_run_for(e->fx, 100 * SB_FIXTURE_SEC);
    e->io = sb_fixture_boot(e->fx, 0);
    assert_non_null(e->io);
    sb_fixture_tap(e->fx, tap, e);
    e->self = sb_fixture_ep(0);
    e->rpc = sb_rpc_new(e->io, &e->self);
    e->a = add_member(&e->g, "127.0.0.2", 0, mono_ms(e));
    e->b = add_member(&e->g, "127.0.0.3", 0, mono_ms(e));
    sb_hints_opts_default(&e->o);
    return e;
}

static void env_open(env *e)
{
    e->h = sb_hints_new(e->io, e->rpc, &e->g, &e->o);
    assert_non_null(e->h);
    sb_hints_start(e->h);
}

static void env_free(env *e)
{
    sb_hints_free(e->h);
    sb_rpc_free(e->rpc);
    sb_fixture_free(e->fx);
    for (int i = 0; i < e->nmsgs; i++)
        sb_buf_free(&e->msgs[i].p);
    free(e);
}

/* --- the kv space of node 0 ------------------------------------------------
 */

typedef struct kvcopy {
    int n;
    sb_buf k, v; /* the first pair seen */
} kvcopy;

static int copy_kv(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    kvcopy *c = arg;
    if (c->n++ == 0) {
        sb_buf_append(&c->k, k, klen);
        sb_buf_append(&c->v, v, vlen);
    }
    return 0;
}

/* The hints in the kv space: how many, and the first in key order. */
static int scan_hints(env *e, kvcopy *c)
{
    memset(c, 0, sizeof(*c));
    sb_buf_init(&c->k);
    sb_buf_init(&c->v);
    dsim_store_kv_scan(sb_fixture_store(e->fx, 0), (const uint8_t *)"hint/", 5, copy_kv, c);
    return c->n;
}

static void kvcopy_free(kvcopy *c)
{
    sb_buf_free(&c->k);
    sb_buf_free(&c->v);
}

static int hint_keys(env *e)
{
    kvcopy c;
    int n = scan_hints(e, &c);
    kvcopy_free(&c);
    return n;
}

static void kv_plant(env *e, const char *k, size_t klen, const char *v, size_t vlen)
{
    assert_int_equal(dsim_store_kv_put(sb_fixture_store(e->fx, 0), (const uint8_t *)k, klen,
                                       (const uint8_t *)v, vlen),
                     0);
}

static const uint8_t table1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

typedef struct acks {
    int n, last;
} acks;

static void on_stored(void *arg, int status)
{
    acks *a = arg;
    a->n++;
    a->last = status;
}

/* Stores one hint whose single entry has key "k<i>" (zero padded). */
static int store_one(env *e, const sb_member *target, int i, acks *a)
{
    char key[16], val[32];
    snprintf(key, sizeof(key), "k%04d", i);
    snprintf(val, sizeof(val), "value-%d", i);
    sb_raw_mut m = {.table_id = table1,
                    .e = {.key = (const uint8_t *)key,
                          .klen = strlen(key),
                          .val = (const uint8_t *)val,
                          .vlen = strlen(val)}};
    return sb_hints_store(e->h, &target->ep, &m, 1, a ? on_stored : NULL, a);
}

/* A MUTATION node 0 sent. */
typedef struct mut_seen {
    sb_ep to;
    uint64_t id;
    int index;      /* i of "k<i>" */
    uint64_t at_ms; /* node 0's monotonic clock at the send */
} mut_seen;

/* Takes the next unseen MUTATION message, if any. */
static int next_mutation(env *e, mut_seen *out)
{
    while (e->taken < e->nmsgs) {
        sent *s = &e->msgs[e->taken++];
        sb_ep from;
        const uint8_t *body;
        size_t blen;
        assert_int_equal(sb_rpc_parse(s->p.data, s->p.len, &from, &out->id, &body, &blen), 0);
        assert_true(sb_ep_eq(&from, &e->self));
        sb_raw_mut *m;
        size_t n;
        assert_int_equal(sb_mutation_decode(body, blen, &m, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(m[0].table_id, table1, 16);
        assert_int_equal(m[0].e.klen, 5);
        char key[6];
        memcpy(key, m[0].e.key, 5);
        key[5] = 0;
        out->index = atoi(key + 1);
        char want[32];
        snprintf(want, sizeof(want), "value-%d", out->index);
        assert_int_equal(m[0].e.vlen, strlen(want));
        assert_memory_equal(m[0].e.val, want, strlen(want));
        free(m);
        out->to = s->to;
        out->at_ms = s->at_ms;
        return 1;
    }
    return 0;
}

/* The replica's answer: i32 status (0 = applied), straight to the rpc. */
static void respond(env *e, const mut_seen *m, int32_t status)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_wire_put_ep(&b, &m->to), 0);
    assert_int_equal(sb_wire_put_u64(&b, m->id), 0);
    assert_int_equal(sb_wire_put_u32(&b, (uint32_t)status), 0);
    sb_rpc_receive_response(e->rpc, b.data, b.len);
    sb_buf_free(&b);
}

static void mark_up(env *e, sb_member *m)
{
    m->up = 1;
    m->since_ms = mono_ms(e);
    sb_hints_target_up(e->h, &m->ep);
}

/* --- tests -----------------------------------------------------------------
 */

static void test_store_is_durable_and_survives_restart(void **state)
{
    env *e = env_new();
    env_open(e);
    acks a = {0};
    int64_t stored_us = e->io->now_us(e->io->ctx);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_one(e, e->a, i, &a), 0);
    assert_int_equal(store_one(e, e->b, 100, &a), 0);
    /* Durability is acknowledged later, never from inside the call. */
    assert_int_equal(a.n, 0);
    land_acks(e);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.last, 0);

    /* The layout: "hint/" host id, created us, seq; value [ep][body]. */
    kvcopy p;
    assert_int_equal(scan_hints(e, &p), 4);
    assert_int_equal(p.k.len, 5 + 16 + 8 + 4);
    assert_memory_equal(p.k.data, "hint/", 5);
    assert_memory_equal(p.k.data + 5, e->a->host_id, 16);
    uint64_t created = 0;
    for (int i = 0; i < 8; i++)
        created = created << 8 | p.k.data[21 + i];
    assert_int_equal((int64_t)created, stored_us);
    sb_wire_reader r;
    sb_wire_reader_init(&r, p.v.data, p.v.len);
    sb_ep ep;
    sb_wire_get_ep(&r, &ep);
    assert_int_equal(r.err, 0);
    assert_true(sb_ep_eq(&ep, &e->a->ep));
    sb_raw_mut *m;
    size_t n;
    assert_int_equal(sb_mutation_decode(p.v.data + r.off, p.v.len - r.off, &m, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(m[0].e.key, "k0000", 5);
    free(m);
    kvcopy_free(&p);

    sb_hints_stats st, st2;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.stored, 4);
    assert_int_equal(st.pending, 4);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 3);
    assert_int_equal(sb_hints_pending(e->h, &e->b->ep), 1);
    assert_int_equal(sb_hints_pending(e->h, &e->self), 0);

    /* A restart: a new sb_hints over the same kv space finds them all. */
    sb_hints_free(e->h);
    env_open(e);
    sb_hints_get_stats(e->h, &st2);
    assert_int_equal(st2.pending, 4);
    assert_int_equal(st2.pending_bytes, st.pending_bytes);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 3);
    assert_int_equal(sb_hints_pending(e->h, &e->b->ep), 1);

    /* ... and replays them, in creation order, to the right node. */
    mark_up(e, e->a);
    mut_seen ms;
    for (int i = 0; i < 3; i++) {
        assert_true(next_mutation(e, &ms));
        assert_int_equal(ms.index, i);
        assert_true(sb_ep_eq(&ms.to, &e->a->ep));
        respond(e, &ms, 0);
    }
    assert_false(next_mutation(e, &ms));
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    assert_int_equal(sb_hints_pending(e->h, &e->b->ep), 1);
    assert_int_equal(hint_keys(e), 1);
    env_free(e);
}

static void test_per_target_bound(void **state)
{
    env *e = env_new();
    e->o.max_per_target = 2;
    env_open(e);
    acks a = {0};
    assert_int_equal(store_one(e, e->a, 0, &a), 0);
    assert_int_equal(store_one(e, e->a, 1, &a), 0);
    assert_int_equal(store_one(e, e->a, 2, &a), SB_EOVERLOADED);
    /* Another target has a bound of its own. */
    assert_int_equal(store_one(e, e->b, 3, &a), 0);
    land_acks(e);
    assert_int_equal(a.n, 3); /* never for the refused one */
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.stored, 3);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.dropped_full, 1);
    assert_int_equal(st.pending, 3);
    assert_int_equal(hint_keys(e), 3);
    env_free(e);
}

static void test_total_bytes_bound(void **state)
{
    env *e = env_new();
    env_open(e);
    assert_int_equal(store_one(e, e->a, 0, NULL), 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    uint64_t one = st.pending_bytes;
    assert_true(one > 33);
    sb_hints_free(e->h);

    e->o.max_bytes = 3 * one; /* the hint already stored counts */
    env_open(e);
    assert_int_equal(store_one(e, e->b, 1, NULL), 0);
    assert_int_equal(store_one(e, e->a, 2, NULL), 0);
    assert_int_equal(store_one(e, e->b, 3, NULL), SB_EOVERLOADED);
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.pending_bytes, 3 * one);
    assert_int_equal(st.dropped_full, 1);
    land_acks(e);
    env_free(e);
}

static void test_window_refuses_long_dead_target(void **state)
{
    env *e = env_new();
    e->o.max_window_ms = 60000;
    env_open(e);
    run_ms(e, 59000);
    assert_int_equal(store_one(e, e->a, 0, NULL), 0); /* down 59 s */
    run_ms(e, 2000);
    assert_int_equal(store_one(e, e->a, 1, NULL), SB_ETIMEOUT); /* down 61 s */
    /* A node up (but slow to answer) always gets its hint. */
    e->b->up = 1;
    assert_int_equal(store_one(e, e->b, 2, NULL), 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.dropped_window, 1);
    assert_int_equal(st.stored, 2);
    land_acks(e);
    env_free(e);
}

static void test_replay_order_ack_failure_retry(void **state)
{
    env *e = env_new();
    e->o.replay_check_ms = 500;
    env_open(e);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(store_one(e, e->a, i, NULL), 0);
        run_ms(e, 1); /* distinct creation times, each durable */
    }
    mut_seen ms;
    run_ms(e, 2000);
    assert_false(next_mutation(e, &ms)); /* down: nothing sent */

    mark_up(e, e->a);
    /* A few in flight at once, not all ten. */
    mut_seen first[10];
    int n = 0;
    while (next_mutation(e, &first[n]))
        n++;
    assert_true(n >= 1 && n < 10);
    for (int i = 0; i < n; i++)
        assert_int_equal(first[i].index, i);
    /* The first is refused (status 1): kept, and the target pauses. */
    respond(e, &first[0], 1);
    for (int i = 1; i < n; i++)
        respond(e, &first[i], 0);
    assert_false(next_mutation(e, &ms));
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), (uint64_t)(10 - (n - 1)));
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.replay_failed, 1);
    assert_int_equal(st.replayed, (uint64_t)(n - 1));

    /* The next check (every 500 ms + 1 us since the first store, which
     * armed it) resumes with hint 0, then the rest in order. Hint 5 gets
     * no answer the first time: it times out, is kept, and is the only
     * one sent again after the next check. */
    run_ms(e, 500);
    int seq[32], nseq = 0, dropped5 = 0;
    for (int round = 0; round < 100 && sb_hints_pending(e->h, &e->a->ep); round++) {
        while (next_mutation(e, &ms)) {
            assert_true(nseq < 32);
            seq[nseq++] = ms.index;
            if (ms.index == 5 && !dropped5) {
                dropped5 = 1;
                continue;
            }
            respond(e, &ms, 0);
        }
        run_ms(e, 100);
    }
    assert_int_equal(nseq, 10 - (n - 1) + 1);
    assert_int_equal(seq[0], 0);
    for (int i = 1; i < nseq - 1; i++)
        assert_true(seq[i] > seq[i - 1]);
    assert_int_equal(seq[nseq - 1], 5);
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.replay_failed, 2);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    assert_int_equal(hint_keys(e), 0);
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.replayed, 10);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.pending_bytes, 0);
    env_free(e);
}

static void test_periodic_check_replays_live_target(void **state)
{
    env *e = env_new();
    e->o.replay_check_ms = 1000;
    env_open(e);
    uint64_t t0 = sb_fixture_now_us(e->fx); /* the first store arms the check */
    assert_int_equal(store_one(e, e->a, 7, NULL), 0);
    land_acks(e);
    /* Up without an UP event reaching hints: the check notices, and a
     * 1000 ms timer fires 1 us after 1000 ms (fixture.h). */
    e->a->up = 1;
    mut_seen ms;
    run_to(e, t0 + 1000 * SB_FIXTURE_MS);
    assert_false(next_mutation(e, &ms));
    run_to(e, t0 + 1000 * SB_FIXTURE_MS + 1);
    assert_true(next_mutation(e, &ms));
    assert_int_equal(ms.index, 7);
    respond(e, &ms, 0);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    env_free(e);
}

static void test_rate_limit(void **state)
{
    env *e = env_new();
    e->o.replay_per_sec = 5;
    env_open(e);
    for (int i = 0; i < 23; i++)
        assert_int_equal(store_one(e, e->a, i, NULL), 0);
    land_acks(e);
    uint64_t t0 = mono_ms(e);
    mark_up(e, e->a);
    uint64_t at[23];
    int n = 0;
    mut_seen ms;
    for (int ms_step = 0; ms_step < 10000; ms_step++) {
        while (next_mutation(e, &ms)) {
            assert_int_equal(ms.index, n);
            at[n++] = ms.at_ms;
            respond(e, &ms, 0);
        }
        run_ms(e, 1);
    }
    assert_int_equal(n, 23);
    /* At most 5 in any 1000 ms window of node 0's monotonic clock (which
     * the rate limit reads), yet no idling: 23 take 4 s + a bit. */
    for (int i = 5; i < n; i++)
        assert_true(at[i] - at[i - 5] >= 1000);
    assert_true(at[22] - t0 <= 4000 + 10);
    /* Per virtual second since the UP event. */
    int per_sec[8] = {0};
    for (int i = 0; i < n; i++)
        per_sec[(at[i] - t0) / 1000]++;
    for (int s = 0; s < 8; s++)
        assert_true(per_sec[s] <= 5);
    assert_int_equal(per_sec[0], 5);
    env_free(e);
}

static void test_expired_hints_dropped(void **state)
{
    env *e = env_new();
    e->o.max_window_ms = 10000;
    e->o.replay_check_ms = 100000; /* keep the check out of the way */
    env_open(e);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_one(e, e->a, i, NULL), 0);
    run_ms(e, 5000);
    assert_int_equal(store_one(e, e->a, 3, NULL), 0); /* younger */
    run_ms(e, 5500);
    /* 10.5 s: the first three are too old, the fourth is 5.5 s old. */
    mark_up(e, e->a);
    mut_seen ms;
    assert_true(next_mutation(e, &ms));
    assert_int_equal(ms.index, 3);
    assert_false(next_mutation(e, &ms));
    respond(e, &ms, 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.dropped_expired, 3);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.replayed, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(hint_keys(e), 0);
    env_free(e);
}

static void test_expired_dropped_by_check_for_dead_target(void **state)
{
    env *e = env_new();
    e->o.max_window_ms = 10000;
    e->o.replay_check_ms = 1000;
    env_open(e);
    assert_int_equal(store_one(e, e->a, 0, NULL), 0);
    /* The checks fire every 1000 ms + 1 us from the store (fixture.h):
     * none of the first nine finds the hint older than the window. */
    run_ms(e, 10000);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 1);
    run_ms(e, 1000);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    assert_int_equal(hint_keys(e), 0);
    /* Nothing pending: the check timer is no longer armed. */
    assert_int_equal(sb_fixture_timers(e->fx, 0), 0);
    env_free(e);
}

static void test_failed_kv_write_is_reported(void **state)
{
    env *e = env_new();
    env_open(e);
    sb_fixture_fail_kv_puts(e->fx, 0, SB_EIO);
    acks a = {0};
    assert_int_equal(store_one(e, e->a, 0, &a), 0);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 1);
    land_acks(e);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last, SB_EIO);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.pending_bytes, 0);
    env_free(e);
}

/* A full local disk: hints are dropped and counted, nothing is kept in
 * memory waiting for a write that cannot happen. */
static void test_disk_full_drops_hints(void **state)
{
    env *e = env_new();
    env_open(e);
    sb_fixture_fail_kv_puts(e->fx, 0, SB_EDISKFULL);
    acks a = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_one(e, e->a, i, &a), 0);
    land_acks(e);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.last, SB_EDISKFULL);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.dropped_disk, 3);
    assert_int_equal(st.pending_bytes, 0);
    env_free(e);
}

static void test_malformed_stored_hint_deleted_at_load(void **state)
{
    env *e = env_new();
    /* A short key, and a good key whose value is truncated. */
    kv_plant(e, "hint/x", 6, "v", 1);
    char key[33] = "hint/";
    kv_plant(e, key, 33, "\x04\x7f", 2);
    kv_plant(e, "sys/tokens", 10, "t", 1);
    env_open(e);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(hint_keys(e), 0);
    /* other prefixes untouched */
    assert_int_equal(dsim_store_kv_count(sb_fixture_store(e->fx, 0)), 1);
    land_acks(e);
    env_free(e);
}

static void test_targets_served_round_robin(void **state)
{
    env *e = env_new();
    env_open(e);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(store_one(e, e->a, i, NULL), 0);
        assert_int_equal(store_one(e, e->b, 100 + i, NULL), 0);
    }
    land_acks(e);
    e->a->up = 1;
    e->b->up = 1;
    sb_hints_target_up(e->h, &e->a->ep);
    sb_hints_target_up(e->h, &e->b->ep);
    /* Whatever the interleaving, each target sees its own hints in
     * creation order, and neither waits for the other to finish. */
    int next_a = 0, next_b = 100, first_b_at = -1, sends = 0;
    mut_seen ms;
    for (int round = 0; round < 100 && (next_a < 8 || next_b < 108); round++) {
        while (next_mutation(e, &ms)) {
            if (sb_ep_eq(&ms.to, &e->a->ep)) {
                assert_int_equal(ms.index, next_a++);
            } else {
                assert_true(sb_ep_eq(&ms.to, &e->b->ep));
                assert_int_equal(ms.index, next_b++);
                if (first_b_at < 0)
                    first_b_at = sends;
            }
            sends++;
            respond(e, &ms, 0);
        }
        run_ms(e, 10);
    }
    assert_int_equal(next_a, 8);
    assert_int_equal(next_b, 108);
    /* b's first hint goes out as soon as one of a's first (in flight
     * together) is answered. */
    assert_true(first_b_at >= 1 && first_b_at <= 4);
    env_free(e);
}

static void test_target_unknown_to_gossip(void **state)
{
    env *e = env_new();
    env_open(e);
    sb_ep stranger;
    assert_int_equal(sb_ep_parse("10.9.9.9:7000", 7000, &stranger), 0);
    sb_raw_mut m = {.table_id = table1,
                    .e = {(const uint8_t *)"k0042", 5, (const uint8_t *)"value-42", 8}};
    assert_int_equal(sb_hints_store(e->h, &stranger, &m, 1, NULL, NULL), 0);
    land_acks(e);
    assert_int_equal(sb_hints_pending(e->h, &stranger), 1);
    /* Kept (not known up), keyed under a zero host id, replayed once up. */
    static const uint8_t zero[16];
    kvcopy p;
    assert_int_equal(scan_hints(e, &p), 1);
    assert_memory_equal(p.k.data + 5, zero, 16);
    kvcopy_free(&p);
    run_ms(e, 5000);
    mut_seen ms;
    assert_false(next_mutation(e, &ms));
    /* Gossip learns of it, up. */
    add_member(&e->g, "10.9.9.9", 1, mono_ms(e));
    sb_hints_target_up(e->h, &stranger);
    assert_true(next_mutation(e, &ms));
    assert_int_equal(ms.index, 42);
    assert_true(sb_ep_eq(&ms.to, &stranger));
    env_free(e);
}

static void test_free_with_work_in_flight(void **state)
{
    env *e = env_new();
    env_open(e);
    for (int i = 0; i < 6; i++)
        assert_int_equal(store_one(e, e->a, i, NULL), 0);
    land_acks(e);
    mark_up(e, e->a);
    acks a = {0};
    assert_int_equal(store_one(e, e->b, 9, &a), 0); /* kv ack pending */
    mut_seen ms;
    assert_true(next_mutation(e, &ms));
    sb_hints_free(e->h);
    e->h = NULL;
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last, SB_ECLOSED);
    run_ms(e, 10000); /* late kv ack and rpc timers: no callbacks into freed memory */
    assert_int_equal(a.n, 1);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_is_durable_and_survives_restart),
        cmocka_unit_test(test_per_target_bound),
        cmocka_unit_test(test_total_bytes_bound),
        cmocka_unit_test(test_window_refuses_long_dead_target),
        cmocka_unit_test(test_replay_order_ack_failure_retry),
        cmocka_unit_test(test_periodic_check_replays_live_target),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_expired_hints_dropped),
        cmocka_unit_test(test_expired_dropped_by_check_for_dead_target),
        cmocka_unit_test(test_failed_kv_write_is_reported),
        cmocka_unit_test(test_disk_full_drops_hints),
        cmocka_unit_test(test_malformed_stored_hint_deleted_at_load),
        cmocka_unit_test(test_targets_served_round_robin),
        cmocka_unit_test(test_target_unknown_to_gossip),
        cmocka_unit_test(test_free_with_work_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
