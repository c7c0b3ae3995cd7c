/*
 * Hinted handoff over a fake sb_io: a virtual clock with one-shot timers,
 * a queue of sent messages, an in-memory kv space sorted by key whose
 * writes are acknowledged from a 0 ms timer (never synchronously). The
 * real sb_rpc runs on top; gossip is a small stand-in (sb_gossip_find /
 * sb_gossip_is_up defined below over a table of members) so that a test
 * decides who is up and since when.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "cluster/hints.h"
#include "cluster/rpc.h"
#include "util/err.h"
#include "util/wire.h"

/* --- fake io ----------------------------------------------------------------
 */

struct sb_io_timer {
    uint64_t due;
    uint64_t order;
    sb_io_timer_cb cb;
    void *arg;
    struct sb_io_timer *next;
};

typedef struct kvpair {
    uint8_t *k, *v;
    size_t klen, vlen;
} kvpair;

typedef struct sent {
    sb_ep to;
    int type;
    uint8_t *p;
    size_t len;
} sent;

typedef struct kv_ack {
    sb_write_cb cb;
    void *arg;
    int status;
} kv_ack;

typedef struct fake {
    uint64_t now_ms;
    int64_t wall_base_us;
    uint64_t rnd;
    uint64_t timer_order;
    struct sb_io_timer *timers;
    kvpair kv[4096];
    int nkv;
    int fail_puts; /* kv_put acks report SB_EIO while set */
    sent msgs[4096];
    int nmsgs, taken; /* msgs[taken..nmsgs) not yet looked at */
} fake;

static int64_t f_now_us(void *ctx)
{
    fake *f = ctx;
    return f->wall_base_us + (int64_t)f->now_ms * 1000;
}

static uint64_t f_mono_ms(void *ctx)
{
    return ((fake *)ctx)->now_ms;
}

static uint64_t f_random(void *ctx)
{
    fake *f = ctx;
    f->rnd = f->rnd * 6364136223846793005ull + 1442695040888963407ull;
    return f->rnd;
}

static int f_send(void *ctx, const sb_ep *to, int type, const uint8_t *p, size_t len)
{
    fake *f = ctx;
    assert_true(f->nmsgs < 4096);
    sent *s = &f->msgs[f->nmsgs++];
    s->to = *to;
    s->type = type;
    s->p = malloc(len ? len : 1);
    memcpy(s->p, p, len);
    s->len = len;
    return 0;
}

static sb_io_timer *f_timer_start(void *ctx, uint64_t delay_ms, sb_io_timer_cb cb, void *arg)
{
    fake *f = ctx;
    struct sb_io_timer *t = calloc(1, sizeof(*t));
    t->due = f->now_ms + delay_ms;
    t->order = f->timer_order++;
    t->cb = cb;
    t->arg = arg;
    t->next = f->timers;
    f->timers = t;
    return t;
}

static void f_timer_stop(void *ctx, sb_io_timer *t)
{
    fake *f = ctx;
    for (struct sb_io_timer **pp = &f->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            free(t);
            return;
        }
    }
    fail_msg("timer_stop of a timer that is not pending");
}

static int kv_find(fake *f, const uint8_t *k, size_t klen, int *found)
{
    int lo = 0, hi = f->nkv;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        size_t m = klen < f->kv[mid].klen ? klen : f->kv[mid].klen;
        int c = memcmp(f->kv[mid].k, k, m);
        if (c == 0)
            c = f->kv[mid].klen < klen ? -1 : f->kv[mid].klen > klen;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < f->nkv && f->kv[lo].klen == klen && memcmp(f->kv[lo].k, k, klen) == 0;
    return lo;
}

static void kv_ack_fire(void *arg)
{
    kv_ack *a = arg;
    if (a->cb)
        a->cb(a->arg, a->status);
    free(a);
}

static void queue_ack(fake *f, sb_write_cb cb, void *arg, int status)
{
    kv_ack *a = calloc(1, sizeof(*a));
    a->cb = cb;
    a->arg = arg;
    a->status = status;
    f_timer_start(f, 0, kv_ack_fire, a);
}

static int f_kv_put(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                    sb_write_cb cb, void *arg)
{
    fake *f = ctx;
    if (f->fail_puts) {
        queue_ack(f, cb, arg, SB_EIO);
        return 0;
    }
    int found;
    int i = kv_find(f, k, klen, &found);
    if (!found) {
        assert_true(f->nkv < 4096);
        memmove(&f->kv[i + 1], &f->kv[i], (size_t)(f->nkv - i) * sizeof(kvpair));
        f->nkv++;
        f->kv[i].k = malloc(klen);
        memcpy(f->kv[i].k, k, klen);
        f->kv[i].klen = klen;
    } else {
        free(f->kv[i].v);
    }
    f->kv[i].v = malloc(vlen ? vlen : 1);
    memcpy(f->kv[i].v, v, vlen);
    f->kv[i].vlen = vlen;
    queue_ack(f, cb, arg, 0);
    return 0;
}

static int f_kv_del(void *ctx, const uint8_t *k, size_t klen, sb_write_cb cb, void *arg)
{
    fake *f = ctx;
    int found;
    int i = kv_find(f, k, klen, &found);
    if (found) {
        free(f->kv[i].k);
        free(f->kv[i].v);
        memmove(&f->kv[i], &f->kv[i + 1], (size_t)(f->nkv - i - 1) * sizeof(kvpair));
        f->nkv--;
    }
    queue_ack(f, cb, arg, 0);
    return 0;
}

static int f_kv_scan(void *ctx, const uint8_t *prefix, size_t plen,
                     int (*emit)(void *, const uint8_t *, size_t, const uint8_t *, size_t),
                     void *arg)
{
    fake *f = ctx;
    int found;
    for (int i = kv_find(f, prefix, plen, &found); i < f->nkv; i++) {
        if (f->kv[i].klen < plen || memcmp(f->kv[i].k, prefix, plen) != 0)
            break;
        int rc = emit(arg, f->kv[i].k, f->kv[i].klen, f->kv[i].v, f->kv[i].vlen);
        if (rc)
            return rc;
    }
    return 0;
}

static const sb_io_store f_store = {
    .kv_put = f_kv_put,
    .kv_del = f_kv_del,
    .kv_scan = f_kv_scan,
};

/* Fires every timer due at or before now_ms + ms, in (due, start) order,
 * moving the clock to each. */
static void step(fake *f, uint64_t ms)
{
    uint64_t end = f->now_ms + ms;
    for (;;) {
        struct sb_io_timer *best = NULL, **bestpp = NULL;
        for (struct sb_io_timer **pp = &f->timers; *pp; pp = &(*pp)->next) {
            struct sb_io_timer *t = *pp;
            if (t->due <= end &&
                (!best || t->due < best->due || (t->due == best->due && t->order < best->order))) {
                best = t;
                bestpp = pp;
            }
        }
        if (!best)
            break;
        *bestpp = best->next;
        if (best->due > f->now_ms)
            f->now_ms = best->due;
        sb_io_timer_cb cb = best->cb;
        void *arg = best->arg;
        free(best);
        cb(arg);
    }
    f->now_ms = end;
}

static int hint_keys(const fake *f)
{
    int n = 0;
    for (int i = 0; i < f->nkv; i++)
        n += f->kv[i].klen >= 5 && memcmp(f->kv[i].k, "hint/", 5) == 0;
    return n;
}

static void fake_free(fake *f)
{
    while (f->timers) {
        struct sb_io_timer *t = f->timers;
        f->timers = t->next;
        if (t->cb == kv_ack_fire)
            free(t->arg);
        free(t);
    }
    for (int i = 0; i < f->nkv; i++) {
        free(f->kv[i].k);
        free(f->kv[i].v);
    }
    for (int i = 0; i < f->nmsgs; i++)
        free(f->msgs[i].p);
    free(f);
}

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

/* --- fixture ---------------------------------------------------------------
 */

typedef struct env {
    fake *f;
    sb_io io;
    sb_rpc *rpc;
    sb_gossip g;
    sb_hints *h;
    sb_hints_opts o;
    sb_ep self;
    sb_member *a, *b; /* two replicas, both down since t=0 */
} env;

static env *env_new(void)
{
    env *e = calloc(1, sizeof(*e));
    e->f = calloc(1, sizeof(*e->f));
    e->f->now_ms = 100000;
    e->f->wall_base_us = 1700000000000000ll;
    e->f->rnd = 42;
    e->io = (sb_io){.ctx = e->f,
                    .now_us = f_now_us,
                    .mono_ms = f_mono_ms,
                    .random = f_random,
                    .send = f_send,
                    .timer_start = f_timer_start,
                    .timer_stop = f_timer_stop,
                    .st = &f_store,
                    .st_ctx = e->f};
    assert_int_equal(sb_ep_parse("127.0.0.1:7000", 7000, &e->self), 0);
    e->rpc = sb_rpc_new(&e->io, &e->self);
    e->a = add_member(&e->g, "127.0.0.2", 0, e->f->now_ms);
    e->b = add_member(&e->g, "127.0.0.3", 0, e->f->now_ms);
    sb_hints_opts_default(&e->o);
    return e;
}

static void env_open(env *e)
{
    e->h = sb_hints_new(&e->io, e->rpc, &e->g, &e->o);
    assert_non_null(e->h);
    sb_hints_start(e->h);
}

static void env_free(env *e)
{
    sb_hints_free(e->h);
    sb_rpc_free(e->rpc);
    fake_free(e->f);
    free(e);
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

/* A MUTATION seen on the fake network. */
typedef struct mut_seen {
    sb_ep to;
    uint64_t id;
    int index; /* i of "k<i>" */
    uint64_t at_ms;
} mut_seen;

/* Takes the next unseen MUTATION message, if any. */
static int next_mutation(env *e, mut_seen *out)
{
    fake *f = e->f;
    while (f->taken < f->nmsgs) {
        sent *s = &f->msgs[f->taken++];
        if (s->type != SB_MSG_MUTATION)
            continue;
        sb_ep from;
        const uint8_t *body;
        size_t blen;
        assert_int_equal(sb_rpc_parse(s->p, s->len, &from, &out->id, &body, &blen), 0);
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
        out->at_ms = f->now_ms;
        return 1;
    }
    return 0;
}

/* The replica's answer: i32 status (0 = applied). */
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
    m->since_ms = e->f->now_ms;
    sb_hints_target_up(e->h, &m->ep);
}

/* --- tests -----------------------------------------------------------------
 */

static void test_store_is_durable_and_survives_restart(void **state)
{
    env *e = env_new();
    env_open(e);
    acks a = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_one(e, e->a, i, &a), 0);
    assert_int_equal(store_one(e, e->b, 100, &a), 0);
    /* Durability is acknowledged later, never from inside the call. */
    assert_int_equal(a.n, 0);
    step(e->f, 0);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.last, 0);

    /* The layout: "hint/" host id, created us, seq; value [ep][body]. */
    assert_int_equal(hint_keys(e->f), 4);
    const kvpair *p = &e->f->kv[0];
    assert_int_equal(p->klen, 5 + 16 + 8 + 4);
    assert_memory_equal(p->k, "hint/", 5);
    assert_memory_equal(p->k + 5, e->a->host_id, 16);
    uint64_t created = 0;
    for (int i = 0; i < 8; i++)
        created = created << 8 | p->k[21 + i];
    assert_int_equal((int64_t)created, f_now_us(e->f));
    sb_wire_reader r;
    sb_wire_reader_init(&r, p->v, p->vlen);
    sb_ep ep;
    sb_wire_get_ep(&r, &ep);
    assert_int_equal(r.err, 0);
    assert_true(sb_ep_eq(&ep, &e->a->ep));
    sb_raw_mut *m;
    size_t n;
    assert_int_equal(sb_mutation_decode(p->v + r.off, p->vlen - r.off, &m, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(m[0].e.key, "k0000", 5);
    free(m);

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
    assert_int_equal(hint_keys(e->f), 1);
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
    step(e->f, 0);
    assert_int_equal(a.n, 3); /* never for the refused one */
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.stored, 3);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.dropped_full, 1);
    assert_int_equal(st.pending, 3);
    assert_int_equal(hint_keys(e->f), 3);
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
    step(e->f, 0);
    env_free(e);
}

static void test_window_refuses_long_dead_target(void **state)
{
    env *e = env_new();
    e->o.max_window_ms = 60000;
    env_open(e);
    step(e->f, 59000);
    assert_int_equal(store_one(e, e->a, 0, NULL), 0); /* down 59 s */
    step(e->f, 2000);
    assert_int_equal(store_one(e, e->a, 1, NULL), SB_ETIMEOUT); /* down 61 s */
    /* A node up (but slow to answer) always gets its hint. */
    e->b->up = 1;
    assert_int_equal(store_one(e, e->b, 2, NULL), 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.dropped_window, 1);
    assert_int_equal(st.stored, 2);
    step(e->f, 0);
    env_free(e);
}

static void test_replay_order_ack_failure_retry(void **state)
{
    env *e = env_new();
    e->o.replay_check_ms = 500;
    env_open(e);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(store_one(e, e->a, i, NULL), 0);
        step(e->f, 1); /* distinct creation times */
    }
    mut_seen ms;
    step(e->f, 2000);
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

    /* The next check resumes with hint 0, then the rest in order. Hint 5
     * gets no answer the first time: it times out, is kept, and is the
     * only one sent again after the next check. */
    step(e->f, 500);
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
        step(e->f, 100);
    }
    assert_int_equal(nseq, 10 - (n - 1) + 1);
    assert_int_equal(seq[0], 0);
    for (int i = 1; i < nseq - 1; i++)
        assert_true(seq[i] > seq[i - 1]);
    assert_int_equal(seq[nseq - 1], 5);
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.replay_failed, 2);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    assert_int_equal(hint_keys(e->f), 0);
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
    assert_int_equal(store_one(e, e->a, 7, NULL), 0);
    step(e->f, 0);
    /* Up without an UP event reaching hints: the check notices. */
    e->a->up = 1;
    mut_seen ms;
    step(e->f, 999);
    assert_false(next_mutation(e, &ms));
    step(e->f, 1);
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
    step(e->f, 0);
    uint64_t t0 = e->f->now_ms;
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
        step(e->f, 1);
    }
    assert_int_equal(n, 23);
    /* At most 5 in any 1000 ms window, yet no idling: 23 take 4 s + a bit. */
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
    step(e->f, 5000);
    assert_int_equal(store_one(e, e->a, 3, NULL), 0); /* younger */
    step(e->f, 5500);
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
    assert_int_equal(hint_keys(e->f), 0);
    env_free(e);
}

static void test_expired_dropped_by_check_for_dead_target(void **state)
{
    env *e = env_new();
    e->o.max_window_ms = 10000;
    e->o.replay_check_ms = 1000;
    env_open(e);
    assert_int_equal(store_one(e, e->a, 0, NULL), 0);
    step(e->f, 10000);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 1);
    step(e->f, 1000);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    assert_int_equal(hint_keys(e->f), 0);
    /* Nothing pending: the check timer is no longer armed. */
    assert_null(e->f->timers);
    env_free(e);
}

static void test_failed_kv_write_is_reported(void **state)
{
    env *e = env_new();
    env_open(e);
    e->f->fail_puts = 1;
    acks a = {0};
    assert_int_equal(store_one(e, e->a, 0, &a), 0);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 1);
    step(e->f, 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last, SB_EIO);
    assert_int_equal(sb_hints_pending(e->h, &e->a->ep), 0);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.pending_bytes, 0);
    env_free(e);
}

static void test_malformed_stored_hint_deleted_at_load(void **state)
{
    env *e = env_new();
    /* A short key, and a good key whose value is truncated. */
    assert_int_equal(
        f_kv_put(e->f, (const uint8_t *)"hint/x", 6, (const uint8_t *)"v", 1, NULL, NULL), 0);
    uint8_t key[33] = "hint/";
    assert_int_equal(f_kv_put(e->f, key, 33, (const uint8_t *)"\x04\x7f", 2, NULL, NULL), 0);
    assert_int_equal(
        f_kv_put(e->f, (const uint8_t *)"sys/tokens", 10, (const uint8_t *)"t", 1, NULL, NULL), 0);
    env_open(e);
    sb_hints_stats st;
    sb_hints_get_stats(e->h, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(hint_keys(e->f), 0);
    assert_int_equal(e->f->nkv, 1); /* other prefixes untouched */
    step(e->f, 0);
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
    step(e->f, 0);
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
        step(e->f, 10);
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
    step(e->f, 0);
    assert_int_equal(sb_hints_pending(e->h, &stranger), 1);
    /* Kept (not known up), keyed under a zero host id, replayed once up. */
    static const uint8_t zero[16];
    assert_memory_equal(e->f->kv[0].k + 5, zero, 16);
    step(e->f, 5000);
    mut_seen ms;
    assert_false(next_mutation(e, &ms));
    /* Gossip learns of it, up. */
    add_member(&e->g, "10.9.9.9", 1, e->f->now_ms);
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
    step(e->f, 0);
    mark_up(e, e->a);
    acks a = {0};
    assert_int_equal(store_one(e, e->b, 9, &a), 0); /* kv ack pending */
    mut_seen ms;
    assert_true(next_mutation(e, &ms));
    sb_hints_free(e->h);
    e->h = NULL;
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last, SB_ECLOSED);
    step(e->f, 10000); /* late kv ack and rpc timers: no callbacks into freed memory */
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
        cmocka_unit_test(test_malformed_stored_hint_deleted_at_load),
        cmocka_unit_test(test_targets_served_round_robin),
        cmocka_unit_test(test_target_unknown_to_gossip),
        cmocka_unit_test(test_free_with_work_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
