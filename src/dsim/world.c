/*
 * The simulated world (world.h): event heap, random stream, network,
 * clocks, per-node sb_io and storage semantics around memstore.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dsim/world.h"
#include "util/err.h"
#include "util/prng.h"

enum { EV_HARNESS, EV_TIMER, EV_MSG, EV_APPLY, EV_KVACK };

/* Every queued event; the io's timer handle is one of these. */
struct sb_io_timer {
    uint64_t t, seq;
    int kind;
    int node;
    uint32_t inc; /* incarnation the event belongs to (node events) */
    int cancelled;
    void (*fn)(void *arg); /* EV_HARNESS, EV_TIMER */
    sb_write_cb wcb;       /* EV_APPLY, EV_KVACK */
    void *arg;
    int from; /* EV_MSG */
    uint32_t from_inc;
    int type;
    size_t len;     /* EV_MSG payload / EV_APPLY entries bytes */
    size_t n;       /* EV_APPLY entry count */
    uint8_t data[]; /* EV_MSG payload; EV_APPLY entries */
};
typedef struct sb_io_timer ev;

typedef struct node_inc {
    dsim_world *w;
    int node;
    uint32_t inc;
    uint64_t mono_base_ms;
    sb_io io;
} node_inc;

typedef struct dnode {
    node_inc *cur;  /* the live incarnation, NULL while down */
    node_inc *dead; /* crashed, kept until dsim_node_release */
    uint32_t inc;
    int64_t skew_us;
    int group;
    dsim_store *store;
    int send_error;
    uint32_t drop_in;
    int kv_put_error;
    uint64_t kv_puts, kv_puts_acked;
} dnode;

struct dsim_world {
    sb_prng rng;
    uint64_t now;
    uint64_t seq;
    ev **heap;
    size_t nheap, capheap;
    int nnodes;
    dnode nodes[DSIM_MAX_NODES];
    dsim_net net;
    int partitioned;
    dsim_recv_fn recv;
    void *recv_arg;
    dsim_tap_fn tap;
    void *tap_arg;
    FILE *trace;
    double lose_applies;
    double overload;
    dsim_stats stats;
    uint64_t hash;
};

/* --- randomness ---------------------------------------------------------- */

uint64_t dsim_rand(dsim_world *w)
{
    return sb_prng_next(&w->rng);
}

uint64_t dsim_rand_range(dsim_world *w, uint64_t lo, uint64_t hi)
{
    return sb_prng_range(&w->rng, lo, hi);
}

int dsim_chance(dsim_world *w, double p)
{
    if (p <= 0)
        return 0;
    return sb_prng_unit(&w->rng) < p;
}

/* --- trace ----------------------------------------------------------------- */

static void mix(dsim_world *w, uint64_t v)
{
    w->hash = (w->hash ^ v) * 0x100000001b3ull;
    w->hash ^= w->hash >> 29;
}

void dsim_log(dsim_world *w, const char *fmt, ...)
{
    if (!w->trace)
        return;
    fprintf(w->trace, "[%5llu.%06llu] ", (unsigned long long)(w->now / 1000000),
            (unsigned long long)(w->now % 1000000));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(w->trace, fmt, ap);
    va_end(ap);
    fputc('\n', w->trace);
}

static const char *msg_name(int type)
{
    switch (type) {
    case SB_MSG_GOSSIP_SYN:
        return "GOSSIP_SYN";
    case SB_MSG_GOSSIP_ACK:
        return "GOSSIP_ACK";
    case SB_MSG_GOSSIP_ACK2:
        return "GOSSIP_ACK2";
    case SB_MSG_SHUTDOWN:
        return "SHUTDOWN";
    case SB_MSG_RESPONSE:
        return "RESPONSE";
    case SB_MSG_MUTATION:
        return "MUTATION";
    case SB_MSG_READ:
        return "READ";
    case SB_MSG_TRUNCATE:
        return "TRUNCATE";
    case SB_MSG_SCHEMA_PUSH:
        return "SCHEMA_PUSH";
    case SB_MSG_SCHEMA_PULL:
        return "SCHEMA_PULL";
    case SB_MSG_PING:
        return "PING";
    case SB_MSG_PAXOS_PREPARE:
        return "PAXOS_PREPARE";
    case SB_MSG_PAXOS_PROPOSE:
        return "PAXOS_PROPOSE";
    case SB_MSG_PAXOS_COMMIT:
        return "PAXOS_COMMIT";
    default:
        return "?";
    }
}

/* --- event heap -------------------------------------------------------------- */

static int ev_before(const ev *a, const ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static ev *ev_new(dsim_world *w, int kind, uint64_t delay_us, size_t extra)
{
    ev *e = calloc(1, sizeof *e + extra);
    if (!e)
        return NULL;
    e->kind = kind;
    e->t = w->now + delay_us;
    e->seq = w->seq++;
    e->node = -1;
    return e;
}

static int heap_push(dsim_world *w, ev *e)
{
    if (w->nheap == w->capheap) {
        size_t cap = w->capheap ? w->capheap * 2 : 256;
        ev **nh = realloc(w->heap, cap * sizeof *nh);
        if (!nh) {
            free(e);
            return SB_ENOMEM;
        }
        w->heap = nh;
        w->capheap = cap;
    }
    size_t i = w->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(e, w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = e;
    return 0;
}

static ev *heap_pop(dsim_world *w)
{
    if (!w->nheap)
        return NULL;
    ev *top = w->heap[0];
    ev *last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const ev *best = last;
        if (l < n && ev_before(w->heap[l], best)) {
            m = l;
            best = w->heap[l];
        }
        if (r < n && ev_before(w->heap[r], best))
            m = r;
        if (m == i)
            break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

/* --- world ------------------------------------------------------------------- */

dsim_world *dsim_world_new(uint64_t seed, int nnodes, FILE *trace)
{
    if (nnodes < 1 || nnodes > DSIM_MAX_NODES)
        return NULL;
    dsim_world *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    sb_prng_seed(&w->rng, seed);
    w->nnodes = nnodes;
    w->trace = trace;
    w->hash = 0xcbf29ce484222325ull;
    w->net = (dsim_net){0, 0, 100, 2000};
    for (int i = 0; i < nnodes; i++) {
        w->nodes[i].store = dsim_store_new();
        if (!w->nodes[i].store) {
            dsim_world_free(w);
            return NULL;
        }
    }
    return w;
}

void dsim_world_free(dsim_world *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nheap; i++)
        free(w->heap[i]);
    free(w->heap);
    for (int i = 0; i < w->nnodes; i++) {
        free(w->nodes[i].cur);
        free(w->nodes[i].dead);
        dsim_store_free(w->nodes[i].store);
    }
    free(w);
}

uint64_t dsim_now_us(const dsim_world *w)
{
    return w->now;
}

int dsim_nnodes(const dsim_world *w)
{
    return w->nnodes;
}

FILE *dsim_trace(const dsim_world *w)
{
    return w->trace;
}

int dsim_at(dsim_world *w, uint64_t delay_us, void (*fn)(void *arg), void *arg)
{
    ev *e = ev_new(w, EV_HARNESS, delay_us, 0);
    if (!e)
        return SB_ENOMEM;
    e->fn = fn;
    e->arg = arg;
    return heap_push(w, e);
}

void dsim_set_receiver(dsim_world *w, dsim_recv_fn fn, void *arg)
{
    w->recv = fn;
    w->recv_arg = arg;
}

void dsim_set_net(dsim_world *w, const dsim_net *n)
{
    w->net = *n;
    if (w->net.delay_min_us < 1)
        w->net.delay_min_us = 1; /* never synchronous, never at the same instant */
    if (w->net.delay_max_us < w->net.delay_min_us)
        w->net.delay_max_us = w->net.delay_min_us;
    dsim_log(w, "net: loss %.3f dup %.3f delay %u..%u us", n->loss, n->dup, w->net.delay_min_us,
             w->net.delay_max_us);
}

const dsim_net *dsim_get_net(const dsim_world *w)
{
    return &w->net;
}

void dsim_partition(dsim_world *w, const int *group)
{
    char desc[128];
    size_t off = 0;
    for (int i = 0; i < w->nnodes; i++) {
        w->nodes[i].group = group[i];
        off += (size_t)snprintf(desc + off, sizeof desc - off, " n%d:%d", i + 1, group[i]);
        if (off >= sizeof desc)
            off = sizeof desc - 1;
    }
    w->partitioned = 1;
    dsim_log(w, "partition:%s", desc);
}

void dsim_heal(dsim_world *w)
{
    for (int i = 0; i < w->nnodes; i++)
        w->nodes[i].group = 0;
    w->partitioned = 0;
    dsim_log(w, "partition healed");
}

int dsim_partitioned(const dsim_world *w)
{
    return w->partitioned;
}

void dsim_set_sabotage(dsim_world *w, double lose_applies)
{
    w->lose_applies = lose_applies;
}

void dsim_set_overload(dsim_world *w, double p)
{
    w->overload = p;
}

void dsim_set_skew(dsim_world *w, int node, int64_t skew_us)
{
    w->nodes[node].skew_us = skew_us;
}

void dsim_set_tap(dsim_world *w, dsim_tap_fn fn, void *arg)
{
    w->tap = fn;
    w->tap_arg = arg;
}

void dsim_set_send_error(dsim_world *w, int node, int rv)
{
    w->nodes[node].send_error = rv;
}

void dsim_set_drop_in(dsim_world *w, int node, uint32_t type_mask)
{
    w->nodes[node].drop_in = type_mask;
}

void dsim_set_kv_put_error(dsim_world *w, int node, int rv)
{
    w->nodes[node].kv_put_error = rv;
}

int dsim_node_timers(const dsim_world *w, int node)
{
    const dnode *d = &w->nodes[node];
    int n = 0;
    if (!d->cur)
        return 0;
    for (size_t i = 0; i < w->nheap; i++) {
        const ev *e = w->heap[i];
        n += e->kind == EV_TIMER && e->node == node && e->inc == d->inc && !e->cancelled;
    }
    return n;
}

void dsim_node_kv_puts(const dsim_world *w, int node, uint64_t *puts, uint64_t *acked)
{
    *puts = w->nodes[node].kv_puts;
    *acked = w->nodes[node].kv_puts_acked;
}

sb_ep dsim_node_ep(int node)
{
    sb_ep e;
    memset(&e, 0, sizeof e);
    e.family = 4;
    e.ip[0] = 127;
    e.ip[3] = (uint8_t)(node + 1);
    e.port = 7000;
    return e;
}

int dsim_node_of(const dsim_world *w, const sb_ep *ep)
{
    if (ep->family != 4 || ep->port != 7000 || ep->ip[0] != 127 || ep->ip[1] || ep->ip[2])
        return -1;
    int i = ep->ip[3] - 1;
    return i >= 0 && i < w->nnodes ? i : -1;
}

int dsim_node_alive(const dsim_world *w, int node)
{
    return w->nodes[node].cur != NULL;
}

uint32_t dsim_node_incarnation(const dsim_world *w, int node)
{
    return w->nodes[node].inc;
}

dsim_store *dsim_node_store(dsim_world *w, int node)
{
    return w->nodes[node].store;
}

void dsim_get_stats(const dsim_world *w, dsim_stats *st)
{
    *st = w->stats;
}

uint64_t dsim_trace_hash(const dsim_world *w)
{
    return w->hash;
}

/* Is this incarnation the node's live one? */
static int inc_live(const dsim_world *w, int node, uint32_t inc)
{
    return w->nodes[node].cur && w->nodes[node].inc == inc;
}

/* --- sb_io of a node ------------------------------------------------------- */

static int64_t io_now_us(void *ctx)
{
    node_inc *ni = ctx;
    return DSIM_EPOCH_US + (int64_t)ni->w->now + ni->w->nodes[ni->node].skew_us;
}

static uint64_t io_mono_ms(void *ctx)
{
    node_inc *ni = ctx;
    return ni->mono_base_ms + ni->w->now / 1000;
}

static uint64_t io_random(void *ctx)
{
    node_inc *ni = ctx;
    return dsim_rand(ni->w);
}

static int schedule_msg(dsim_world *w, int from, uint32_t from_inc, int to, int type,
                        const uint8_t *payload, size_t len)
{
    uint64_t delay = dsim_rand_range(w, w->net.delay_min_us, w->net.delay_max_us);
    ev *e = ev_new(w, EV_MSG, delay, len);
    if (!e)
        return SB_ENOMEM;
    e->node = to;
    e->inc = w->nodes[to].inc;
    e->from = from;
    e->from_inc = from_inc;
    e->type = type;
    e->len = len;
    if (len)
        memcpy(e->data, payload, len);
    return heap_push(w, e);
}

static int io_send(void *ctx, const sb_ep *to, int type, const uint8_t *payload, size_t len)
{
    node_inc *ni = ctx;
    dsim_world *w = ni->w;
    if (!inc_live(w, ni->node, ni->inc))
        return SB_ECLOSED; /* a dead process sends nothing */
    int refused = w->nodes[ni->node].send_error;
    if (w->tap)
        w->tap(w->tap_arg, ni->node, to, type, payload, len, refused);
    if (refused)
        return refused;
    w->stats.msgs_sent++;
    int dst = dsim_node_of(w, to);
    if (dst < 0 || !w->nodes[dst].cur) {
        w->stats.msgs_dead++;
        dsim_log(w, "n%d -> %s %s %zuB: no such live node", ni->node + 1, dst < 0 ? "?" : "down",
                 msg_name(type), len);
        return 0;
    }
    if (w->nodes[dst].group != w->nodes[ni->node].group) {
        w->stats.msgs_cut++;
        dsim_log(w, "n%d -> n%d %s %zuB: cut by partition", ni->node + 1, dst + 1, msg_name(type),
                 len);
        return 0;
    }
    if (dsim_chance(w, w->net.loss)) {
        w->stats.msgs_lost++;
        dsim_log(w, "n%d -> n%d %s %zuB: lost", ni->node + 1, dst + 1, msg_name(type), len);
        return 0;
    }
    int rv = schedule_msg(w, ni->node, ni->inc, dst, type, payload, len);
    if (!rv && dsim_chance(w, w->net.dup)) {
        w->stats.msgs_dup++;
        rv = schedule_msg(w, ni->node, ni->inc, dst, type, payload, len);
    }
    return rv ? SB_EOVERLOADED : 0;
}

static sb_io_timer *io_timer_start(void *ctx, uint64_t delay_ms, sb_io_timer_cb cb, void *arg)
{
    node_inc *ni = ctx;
    dsim_world *w = ni->w;
    ev *e = ev_new(w, EV_TIMER, delay_ms * 1000 + 1, 0);
    if (!e)
        return NULL;
    e->node = ni->node;
    e->inc = ni->inc;
    e->fn = cb;
    e->arg = arg;
    if (heap_push(w, e))
        return NULL;
    w->stats.timers++;
    return e;
}

static void io_timer_stop(void *ctx, sb_io_timer *t)
{
    if (t)
        t->cancelled = 1;
}

/* --- storage of a node --------------------------------------------------------- */

static dsim_store *st_of(void *ctx)
{
    node_inc *ni = ctx;
    return ni->w->nodes[ni->node].store;
}

static int st_apply(void *ctx, const sb_raw_mut *m, size_t n, sb_write_cb cb, void *arg)
{
    node_inc *ni = ctx;
    dsim_world *w = ni->w;
    dsim_store *s = st_of(ctx);
    size_t bytes = 0;
    if (!inc_live(w, ni->node, ni->inc))
        return SB_ECLOSED; /* a dead process writes nothing */
    if (dsim_chance(w, w->overload)) {
        dsim_log(w, "n%d apply refused: overloaded", ni->node + 1);
        return SB_EOVERLOADED;
    }
    for (size_t i = 0; i < n; i++) {
        if (!dsim_store_has_table(s, m[i].table_id))
            return SB_ENOTFOUND;
        bytes += 16 + 8 + m[i].e.klen + m[i].e.vlen;
    }
    ev *e = ev_new(w, EV_APPLY, dsim_rand_range(w, 20, 1500), bytes);
    if (!e)
        return SB_EOVERLOADED;
    e->node = ni->node;
    e->inc = ni->inc;
    e->wcb = cb;
    e->arg = arg;
    e->n = n;
    e->len = bytes;
    uint8_t *p = e->data;
    for (size_t i = 0; i < n; i++) {
        uint32_t kl = (uint32_t)m[i].e.klen, vl = (uint32_t)m[i].e.vlen;
        memcpy(p, m[i].table_id, 16);
        memcpy(p + 16, &kl, 4);
        memcpy(p + 20, &vl, 4);
        p += 24;
        if (kl)
            memcpy(p, m[i].e.key, kl);
        p += kl;
        if (vl)
            memcpy(p, m[i].e.val, vl);
        p += vl;
    }
    w->stats.applies++;
    return heap_push(w, e) ? SB_EOVERLOADED : 0;
}

static int st_read(void *ctx, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more,
                   char *errmsg)
{
    return dsim_store_read(st_of(ctx), q, emit, arg, more, errmsg);
}

static int st_truncate(void *ctx, const uint8_t table_id[16], char *errmsg)
{
    return dsim_store_truncate(st_of(ctx), table_id, errmsg);
}

static int kv_ack(node_inc *ni, sb_write_cb cb, void *arg, int status)
{
    if (!cb)
        return 0;
    dsim_world *w = ni->w;
    ev *e = ev_new(w, EV_KVACK, dsim_rand_range(w, 20, 500), 0);
    if (!e)
        return SB_ENOMEM;
    e->node = ni->node;
    e->inc = ni->inc;
    e->wcb = cb;
    e->arg = arg;
    e->type = status; /* what the acknowledgement reports */
    return heap_push(w, e);
}

static int dead(void *ctx)
{
    node_inc *ni = ctx;
    return !inc_live(ni->w, ni->node, ni->inc);
}

static int st_kv_put(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                     sb_write_cb cb, void *arg)
{
    if (dead(ctx))
        return SB_ECLOSED;
    node_inc *ni = ctx;
    dnode *d = &ni->w->nodes[ni->node];
    d->kv_puts++;
    d->kv_puts_acked += cb != NULL;
    if (d->kv_put_error)
        return kv_ack(ctx, cb, arg, d->kv_put_error);
    int rv = dsim_store_kv_put(st_of(ctx), k, klen, v, vlen);
    return rv ? rv : kv_ack(ctx, cb, arg, 0);
}

static int st_kv_del(void *ctx, const uint8_t *k, size_t klen, sb_write_cb cb, void *arg)
{
    if (dead(ctx))
        return SB_ECLOSED;
    int rv = dsim_store_kv_del(st_of(ctx), k, klen);
    return rv ? rv : kv_ack(ctx, cb, arg, 0);
}

static int st_kv_scan(void *ctx, const uint8_t *prefix, size_t plen,
                      int (*emit)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                                  size_t vlen),
                      void *arg)
{
    return dsim_store_kv_scan(st_of(ctx), prefix, plen, emit, arg);
}

static uint64_t st_load_bytes(void *ctx)
{
    return dsim_store_load_bytes(st_of(ctx));
}

static const sb_io_store store_ops = {
    .apply = st_apply,
    .read = st_read,
    .truncate = st_truncate,
    .kv_put = st_kv_put,
    .kv_del = st_kv_del,
    .kv_scan = st_kv_scan,
    .load_bytes = st_load_bytes,
};

/* --- node lifecycle ------------------------------------------------------------ */

const sb_io *dsim_node_boot(dsim_world *w, int node)
{
    dnode *d = &w->nodes[node];
    if (d->cur)
        return &d->cur->io;
    node_inc *ni = calloc(1, sizeof *ni);
    if (!ni)
        return NULL;
    d->inc++;
    ni->w = w;
    ni->node = node;
    ni->inc = d->inc;
    ni->mono_base_ms = dsim_rand_range(w, 1000, 1000000000);
    ni->io = (sb_io){
        .ctx = ni,
        .now_us = io_now_us,
        .mono_ms = io_mono_ms,
        .random = io_random,
        .send = io_send,
        .timer_start = io_timer_start,
        .timer_stop = io_timer_stop,
        .st = &store_ops,
        .st_ctx = ni,
    };
    d->cur = ni;
    dsim_log(w, "n%d boots (incarnation %u)", node + 1, ni->inc);
    return &ni->io;
}

static void node_down(dsim_world *w, int node, int hard)
{
    dnode *d = &w->nodes[node];
    if (!d->cur)
        return;
    if (hard) {
        /* What the dead process had not yet put on the wire is gone. */
        for (size_t i = 0; i < w->nheap; i++) {
            ev *e = w->heap[i];
            if (e->kind == EV_MSG && e->from == node && e->from_inc == d->inc)
                e->cancelled = 1;
        }
    }
    free(d->dead);
    d->dead = d->cur;
    d->cur = NULL;
    dsim_log(w, "n%d %s", node + 1, hard ? "crashes" : "has stopped");
    /* Storage completions still owed to the dead process fail now, before
     * the harness frees its sb_cluster (a real process would take its
     * memory with it; here the contract "cb exactly once" keeps the
     * modules' bookkeeping honest and ASan's leak check meaningful). The
     * unapplied data is lost. */
    for (size_t i = 0; i < w->nheap; i++) {
        ev *e = w->heap[i];
        if ((e->kind != EV_APPLY && e->kind != EV_KVACK) || e->node != node || e->inc != d->inc ||
            e->cancelled)
            continue;
        e->cancelled = 1;
        if (e->kind == EV_APPLY)
            w->stats.applies_lost++;
        if (e->wcb)
            e->wcb(e->arg, SB_ECLOSED);
    }
}

void dsim_node_crash(dsim_world *w, int node)
{
    node_down(w, node, 1);
}

void dsim_node_stop(dsim_world *w, int node)
{
    node_down(w, node, 0);
}

void dsim_node_release(dsim_world *w, int node)
{
    free(w->nodes[node].dead);
    w->nodes[node].dead = NULL;
}

/* --- running --------------------------------------------------------------------- */

static void run_apply(dsim_world *w, ev *e)
{
    dsim_store *s = w->nodes[e->node].store;
    const uint8_t *p = e->data;
    int rv = 0;
    if (dsim_chance(w, w->lose_applies)) {
        /* Sabotage (tests of the checker): acknowledged, never kept. */
        dsim_log(w, "n%d apply acknowledged but dropped (sabotage)", e->node + 1);
        if (e->wcb)
            e->wcb(e->arg, 0);
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        uint32_t kl, vl;
        memcpy(&kl, p + 16, 4);
        memcpy(&vl, p + 20, 4);
        int r = dsim_store_merge(s, p, p + 24, kl, p + 24 + kl, vl);
        if (r && !rv)
            rv = r;
        p += 24 + kl + vl;
    }
    if (rv)
        dsim_log(w, "n%d apply failed: %s", e->node + 1, sb_strerror(rv));
    if (e->wcb)
        e->wcb(e->arg, rv);
}

int dsim_step(dsim_world *w)
{
    ev *e = heap_pop(w);
    if (!e)
        return 0;
    if (e->t > w->now)
        w->now = e->t;
    w->stats.events++;
    int live = e->kind == EV_HARNESS || inc_live(w, e->node, e->inc);
    if (!live || e->cancelled) {
        if (e->kind == EV_MSG)
            w->stats.msgs_dead++;
        free(e);
        return 1;
    }
    mix(w, e->t);
    mix(w, (uint64_t)e->kind << 32 | (uint32_t)e->node);
    switch (e->kind) {
    case EV_HARNESS:
    case EV_TIMER:
        e->fn(e->arg);
        break;
    case EV_MSG:
        if (w->nodes[e->from].group != w->nodes[e->node].group) {
            w->stats.msgs_cut++;
            dsim_log(w, "n%d -> n%d %s %zuB: cut by partition in flight", e->from + 1, e->node + 1,
                     msg_name(e->type), e->len);
            break;
        }
        if (e->type >= 0 && e->type < 32 && (w->nodes[e->node].drop_in & (1u << e->type))) {
            w->stats.msgs_lost++;
            dsim_log(w, "n%d -> n%d %s %zuB: dropped on arrival", e->from + 1, e->node + 1,
                     msg_name(e->type), e->len);
            break;
        }
        w->stats.msgs_delivered++;
        for (size_t i = 0; i < e->len; i++)
            mix(w, e->data[i]);
        dsim_log(w, "n%d -> n%d %s %zuB", e->from + 1, e->node + 1, msg_name(e->type), e->len);
        if (w->recv)
            w->recv(w->recv_arg, e->node, e->type, e->data, e->len);
        break;
    case EV_APPLY:
        run_apply(w, e);
        break;
    case EV_KVACK:
        e->wcb(e->arg, e->type);
        break;
    }
    free(e);
    return 1;
}

uint64_t dsim_next_us(const dsim_world *w)
{
    return w->nheap ? w->heap[0]->t : UINT64_MAX;
}

void dsim_run_until(dsim_world *w, uint64_t t_us)
{
    while (w->nheap && w->heap[0]->t <= t_us)
        dsim_step(w);
    if (w->now < t_us)
        w->now = t_us;
}
