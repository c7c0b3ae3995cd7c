/*
 * Hinted handoff (hints.h).
 *
 * NOTES ON THE DESIGN
 *
 * Storage. A hint is one pair of the durable kv space:
 *   key   "hint/" host-id(16) created-us(8, BE) seq(4, BE)   (33 bytes)
 *   value [target ep (sb_wire_put_ep)][MUTATION body (coord.h)]
 * so replay sends the value's tail as it is. Values are not kept in
 * memory (the total may be hundreds of MiB): replay reads one value back
 * with a kv_scan whose prefix is the whole key.
 *
 * Index. In memory there is one target per endpoint with its hints in a
 * doubly linked list in creation order ((created_us, seq) ascending), its
 * count and bytes (key + value), so pending counts are O(1) and replay
 * takes hints from the head without scanning. The index is rebuilt from
 * the kv space at sb_hints_new.
 *
 * Invariants:
 *   - every hint in the index has its kv pair written or being written;
 *     a hint leaves the index exactly when its kv_del is issued (acked,
 *     expired, unreadable) or its kv_put failed;
 *   - durability acknowledgements come in call order, so the hints not
 *     yet durable of a target are (but for clock skew) a suffix of its
 *     list; replay stops at the first one that is not durable;
 *   - a hint in flight is never freed except by sb_hints_free, which
 *     cancels its call first;
 *   - h->pending / h->pending_bytes are the sums over all targets.
 *
 * Replay state of a target: idle -> active (gossip UP event, or the
 * periodic check finds it live with hints pending) -> idle (a replay
 * failed: MUTATION error, timeout or non-zero status; or no hints left).
 * The pump sends hints of active targets round robin, at most
 * HINTS_INFLIGHT at once and at most replay_per_sec in any 1000 ms (a ring
 * of the last send times makes the limit exact, not an average).
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/hints.h"
#include "storage/mutation.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define HINT_PREFIX "hint/"
#define HINT_PREFIX_LEN 5
#define HINT_KEY_LEN (HINT_PREFIX_LEN + 16 + 8 + 4)
#define HINT_EP_LEN 19       /* sb_wire_put_ep: family, 16 ip bytes, port */
#define HINTS_INFLIGHT 4     /* replay MUTATIONs in flight, all targets */
#define HINTS_RATE_MAX 65536 /* replay_per_sec above this is capped */

typedef struct htarget htarget;
typedef struct put_ctx put_ctx;

typedef struct hint {
    struct hint *prev, *next;
    htarget *t;
    uint8_t key[HINT_KEY_LEN];
    int64_t created_us;
    uint32_t seq;
    uint32_t size; /* key + value bytes */
    int durable;
    int inflight;
    uint64_t rpc_id;
    put_ctx *put; /* while the kv_put is not acknowledged */
} hint;

struct htarget {
    htarget *next;
    sb_hints *h;
    sb_ep ep;
    hint *head, *tail;
    uint64_t count, bytes;
    int active;
};

/* The argument of a kv_put callback; outlives sb_hints_free if need be. */
struct put_ctx {
    sb_hints *h; /* NULL once detached by sb_hints_free */
    hint *hn;
    sb_write_cb cb;
    void *arg;
};

struct sb_hints {
    const sb_io *io;
    sb_rpc *rpc;
    sb_gossip *g;
    sb_hints_opts o;
    htarget *targets;
    htarget *rr; /* round-robin cursor: the target served last */
    uint64_t pending, pending_bytes;
    uint32_t next_seq;
    int inflight;
    int started;
    sb_io_timer *check_timer, *pace_timer;
    /* the last `rate` send times (mono ms), a ring */
    uint64_t *sent_ms;
    uint32_t rate, nsent, sent_head;
    sb_buf scratch;
    sb_hints_stats st;
};

static void pump(sb_hints *h);
static void arm_check(sb_hints *h);

void sb_hints_opts_default(sb_hints_opts *o)
{
    o->max_window_ms = 3 * 3600 * 1000;
    o->max_per_target = 100000;
    o->max_bytes = 256ull << 20;
    o->replay_per_sec = 1000;
    o->replay_check_ms = 1000;
    o->timeout_ms = 2000;
}

/* --- index ----------------------------------------------------------------- */

static htarget *find_target(const sb_hints *h, const sb_ep *ep)
{
    for (htarget *t = h->targets; t; t = t->next)
        if (sb_ep_eq(&t->ep, ep))
            return t;
    return NULL;
}

static htarget *get_target(sb_hints *h, const sb_ep *ep)
{
    htarget *t = find_target(h, ep);
    if (t)
        return t;
    t = sb_calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->h = h;
    t->ep = *ep;
    t->next = h->targets;
    h->targets = t;
    return t;
}

static int hint_before(const hint *a, const hint *b)
{
    if (a->created_us != b->created_us)
        return a->created_us < b->created_us;
    return a->seq < b->seq;
}

/* Inserts in creation order; walks from the tail, where new hints go. */
static void link_hint(htarget *t, hint *hn)
{
    hint *after = t->tail;
    while (after && hint_before(hn, after))
        after = after->prev;
    hn->t = t;
    hn->prev = after;
    hn->next = after ? after->next : t->head;
    if (hn->next)
        hn->next->prev = hn;
    else
        t->tail = hn;
    if (after)
        after->next = hn;
    else
        t->head = hn;
    t->count++;
    t->bytes += hn->size;
    t->h->pending++;
    t->h->pending_bytes += hn->size;
}

static void unlink_hint(hint *hn)
{
    htarget *t = hn->t;
    if (hn->prev)
        hn->prev->next = hn->next;
    else
        t->head = hn->next;
    if (hn->next)
        hn->next->prev = hn->prev;
    else
        t->tail = hn->prev;
    SB_ASSERT(t->count > 0 && t->bytes >= hn->size);
    SB_ASSERT(t->h->pending > 0 && t->h->pending_bytes >= hn->size);
    t->count--;
    t->bytes -= hn->size;
    t->h->pending--;
    t->h->pending_bytes -= hn->size;
    if (t->count == 0)
        t->active = 0;
}

/* Removes the hint from the index and from the kv space. */
static void delete_hint(sb_hints *h, hint *hn)
{
    h->io->st->kv_del(h->io->st_ctx, hn->key, HINT_KEY_LEN, NULL, NULL);
    unlink_hint(hn);
    free(hn);
}

static void encode_key(uint8_t *key, const uint8_t host_id[16], int64_t created_us, uint32_t seq)
{
    memcpy(key, HINT_PREFIX, HINT_PREFIX_LEN);
    memcpy(key + HINT_PREFIX_LEN, host_id, 16);
    uint64_t c = (uint64_t)created_us;
    for (int i = 0; i < 8; i++)
        key[HINT_PREFIX_LEN + 16 + i] = (uint8_t)(c >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[HINT_PREFIX_LEN + 24 + i] = (uint8_t)(seq >> (24 - 8 * i));
}

static void decode_key(const uint8_t *key, int64_t *created_us, uint32_t *seq)
{
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c = c << 8 | key[HINT_PREFIX_LEN + 16 + i];
    uint32_t s = 0;
    for (int i = 0; i < 4; i++)
        s = s << 8 | key[HINT_PREFIX_LEN + 24 + i];
    *created_us = (int64_t)c;
    *seq = s;
}

static int target_up(const sb_hints *h, const sb_ep *ep)
{
    return h->g ? sb_gossip_is_up(h->g, ep) : 1;
}

static int expired(const sb_hints *h, const hint *hn, int64_t now_us)
{
    return now_us - hn->created_us > h->o.max_window_ms * 1000;
}

/* --- loading --------------------------------------------------------------- */

typedef struct load_state {
    sb_hints *h;
    sb_buf bad; /* keys of malformed pairs, each HINT_KEY_LEN or length-prefixed */
    int rc;
} load_state;

static int load_one(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    load_state *ls = arg;
    sb_hints *h = ls->h;
    sb_ep ep;
    sb_wire_reader r;
    sb_wire_reader_init(&r, v, vlen);
    sb_wire_get_ep(&r, &ep);
    if (klen != HINT_KEY_LEN || r.err || vlen < HINT_EP_LEN + 4) {
        SB_WARN("hints", "malformed hint deleted", "key_len=%zu value_len=%zu", klen, vlen);
        if (sb_wire_put_bytes(&ls->bad, k, klen))
            return ls->rc = SB_ENOMEM;
        return 0;
    }
    hint *hn = sb_calloc(1, sizeof(*hn));
    htarget *t = hn ? get_target(h, &ep) : NULL;
    if (!t) {
        free(hn);
        return ls->rc = SB_ENOMEM;
    }
    memcpy(hn->key, k, HINT_KEY_LEN);
    decode_key(k, &hn->created_us, &hn->seq);
    hn->size = (uint32_t)(klen + vlen);
    hn->durable = 1;
    if (hn->seq >= h->next_seq)
        h->next_seq = hn->seq + 1;
    link_hint(t, hn);
    return 0;
}

static int load(sb_hints *h)
{
    load_state ls = {.h = h};
    sb_buf_init(&ls.bad);
    int rc = h->io->st->kv_scan(h->io->st_ctx, (const uint8_t *)HINT_PREFIX, HINT_PREFIX_LEN,
                                load_one, &ls);
    if (rc == 0)
        rc = ls.rc;
    sb_wire_reader r;
    sb_wire_reader_init(&r, ls.bad.data, ls.bad.len);
    while (rc == 0 && r.off < r.n) {
        const uint8_t *k;
        size_t klen;
        sb_wire_get_bytes(&r, &k, &klen, r.n);
        h->io->st->kv_del(h->io->st_ctx, k, klen, NULL, NULL);
    }
    sb_buf_free(&ls.bad);
    return rc;
}

/* --- lifecycle ------------------------------------------------------------- */

sb_hints *sb_hints_new(const sb_io *io, sb_rpc *rpc, sb_gossip *g, const sb_hints_opts *o)
{
    sb_hints *h = sb_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->io = io;
    h->rpc = rpc;
    h->g = g;
    sb_hints_opts_default(&h->o);
    if (o) {
        /* Zero fields keep their defaults. */
        if (o->max_window_ms > 0)
            h->o.max_window_ms = o->max_window_ms;
        if (o->max_per_target)
            h->o.max_per_target = o->max_per_target;
        if (o->max_bytes)
            h->o.max_bytes = o->max_bytes;
        if (o->replay_per_sec)
            h->o.replay_per_sec = o->replay_per_sec;
        if (o->replay_check_ms)
            h->o.replay_check_ms = o->replay_check_ms;
        if (o->timeout_ms)
            h->o.timeout_ms = o->timeout_ms;
    }
    h->rate = h->o.replay_per_sec < HINTS_RATE_MAX ? h->o.replay_per_sec : HINTS_RATE_MAX;
    h->sent_ms = sb_calloc(h->rate, sizeof(*h->sent_ms));
    sb_buf_init(&h->scratch);
    if (!h->sent_ms || load(h) != 0) {
        SB_ERROR("hints", "cannot load hints", NULL);
        sb_hints_free(h);
        return NULL;
    }
    if (h->pending)
        SB_INFO("hints", "hints loaded", "pending=%llu bytes=%llu", (unsigned long long)h->pending,
                (unsigned long long)h->pending_bytes);
    return h;
}

void sb_hints_start(sb_hints *h)
{
    h->started = 1;
    arm_check(h);
}

void sb_hints_free(sb_hints *h)
{
    if (!h)
        return;
    if (h->check_timer)
        h->io->timer_stop(h->io->ctx, h->check_timer);
    if (h->pace_timer)
        h->io->timer_stop(h->io->ctx, h->pace_timer);
    htarget *t = h->targets;
    while (t) {
        htarget *next = t->next;
        hint *hn = t->head;
        while (hn) {
            hint *hnext = hn->next;
            if (hn->inflight)
                sb_rpc_cancel(h->rpc, hn->rpc_id);
            if (hn->put) {
                /* The kv_put callback comes later; it frees the context. */
                put_ctx *pc = hn->put;
                pc->h = NULL;
                pc->hn = NULL;
                if (pc->cb)
                    pc->cb(pc->arg, SB_ECLOSED);
                pc->cb = NULL;
            }
            free(hn);
            hn = hnext;
        }
        free(t);
        t = next;
    }
    free(h->sent_ms);
    sb_buf_free(&h->scratch);
    free(h);
}

/* --- storing --------------------------------------------------------------- */

static void put_done(void *arg, int status)
{
    put_ctx *pc = arg;
    sb_hints *h = pc->h;
    hint *hn = pc->hn;
    sb_write_cb cb = pc->cb;
    void *cb_arg = pc->arg;
    free(pc);
    if (!h)
        return; /* sb_hints_free answered already */
    hn->put = NULL;
    if (status != 0) {
        SB_WARN("hints", "hint not stored", "error=%s", sb_errname(status));
        h->st.dropped++;
        if (status == SB_EDISKFULL || status == SB_EIO)
            h->st.dropped_disk++;
        unlink_hint(hn);
        free(hn);
    } else {
        hn->durable = 1;
        if (hn->t->active)
            pump(h);
    }
    if (cb)
        cb(cb_arg, status);
}

int sb_hints_store(sb_hints *h, const sb_ep *target, const sb_raw_mut *m, size_t n, sb_write_cb cb,
                   void *arg)
{
    const sb_member *mem = h->g ? sb_gossip_find(h->g, target) : NULL;
    if (mem && !mem->up &&
        (int64_t)(h->io->mono_ms(h->io->ctx) - mem->since_ms) > h->o.max_window_ms) {
        h->st.dropped++;
        h->st.dropped_window++;
        return SB_ETIMEOUT;
    }
    htarget *t = find_target(h, target);
    if (t && t->count >= h->o.max_per_target) {
        h->st.dropped++;
        h->st.dropped_full++;
        return SB_EOVERLOADED;
    }

    sb_buf *v = &h->scratch;
    sb_buf_reset(v);
    int rc = sb_wire_put_ep(v, target);
    if (rc == 0)
        rc = sb_mutation_encode(v, m, n);
    if (rc != 0)
        return rc;
    uint64_t size = HINT_KEY_LEN + v->len;
    if (h->pending_bytes + size > h->o.max_bytes || size > UINT32_MAX) {
        h->st.dropped++;
        h->st.dropped_full++;
        return SB_EOVERLOADED;
    }

    hint *hn = sb_calloc(1, sizeof(*hn));
    put_ctx *pc = sb_calloc(1, sizeof(*pc));
    if (!t)
        t = get_target(h, target);
    if (!hn || !pc || !t) {
        free(hn);
        free(pc);
        return SB_ENOMEM;
    }
    static const uint8_t zero_id[16];
    hn->created_us = h->io->now_us(h->io->ctx);
    hn->seq = h->next_seq++;
    hn->size = (uint32_t)size;
    encode_key(hn->key, mem ? mem->host_id : zero_id, hn->created_us, hn->seq);
    pc->h = h;
    pc->hn = hn;
    pc->cb = cb;
    pc->arg = arg;
    rc = h->io->st->kv_put(h->io->st_ctx, hn->key, HINT_KEY_LEN, v->data, v->len, put_done, pc);
    if (rc != 0) {
        /* A full disk refuses the hint up front: count it as dropped
         * rather than let hints grow on a disk that has no room. */
        if (rc == SB_EDISKFULL || rc == SB_EIO) {
            h->st.dropped++;
            h->st.dropped_disk++;
        }
        free(hn);
        free(pc);
        return rc;
    }
    hn->put = pc;
    link_hint(t, hn);
    h->st.stored++;
    arm_check(h);
    return 0;
}

/* --- replay ---------------------------------------------------------------- */

static void replay_failed(sb_hints *h, hint *hn, const char *why)
{
    if (hn->t->active) {
        char eps[SB_EP_STRLEN];
        SB_DEBUG("hints", "replay paused", "target=%s reason=%s pending=%llu",
                 sb_ep_str(&hn->t->ep, eps), why, (unsigned long long)hn->t->count);
    }
    hn->t->active = 0;
    h->st.replay_failed++;
}

static void replay_done(void *arg, int status, const uint8_t *body, size_t len)
{
    hint *hn = arg;
    sb_hints *h = hn->t->h;
    SB_ASSERT(hn->inflight && h->inflight > 0);
    hn->inflight = 0;
    h->inflight--;
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    uint32_t applied = status == 0 ? sb_wire_get_u32(&r) : 1;
    if (status != 0)
        replay_failed(h, hn, sb_errname(status));
    else if (r.err || applied != 0)
        replay_failed(h, hn, "refused");
    else {
        h->st.replayed++;
        delete_hint(h, hn);
    }
    pump(h);
}

/* The first hint of t that can be sent now; drops expired ones on the
 * way. NULL when none (all in flight, or the rest not yet durable). */
static hint *next_hint(sb_hints *h, htarget *t, int64_t now_us)
{
    hint *hn = t->head;
    while (hn && hn->durable) {
        hint *next = hn->next;
        if (!hn->inflight) {
            if (!expired(h, hn, now_us))
                return hn;
            h->st.dropped++;
            h->st.dropped_expired++;
            delete_hint(h, hn);
        }
        hn = next;
    }
    return NULL;
}

/* Reads the hint's value and sends it. 0 if sent (or dropped because its
 * value is gone or malformed); non-zero if the call failed. */
static int read_value(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    sb_buf *b = arg;
    if (klen != HINT_KEY_LEN)
        return 0;
    sb_buf_reset(b);
    return sb_buf_append(b, v, vlen) == 0 ? 1 : SB_ENOMEM;
}

static int send_hint(sb_hints *h, hint *hn)
{
    sb_buf *b = &h->scratch;
    sb_buf_reset(b);
    int rc = h->io->st->kv_scan(h->io->st_ctx, hn->key, HINT_KEY_LEN, read_value, b);
    if (rc != 1) {
        if (rc < 0)
            return rc;
        SB_WARN("hints", "hint vanished from storage", NULL);
        unlink_hint(hn);
        free(hn);
        return 0;
    }
    sb_ep ep;
    sb_wire_reader r;
    sb_wire_reader_init(&r, b->data, b->len);
    sb_wire_get_ep(&r, &ep);
    if (r.err) {
        SB_WARN("hints", "malformed hint deleted", "value_len=%zu", b->len);
        delete_hint(h, hn);
        return 0;
    }
    rc = sb_rpc_call(h->rpc, &hn->t->ep, SB_MSG_MUTATION, b->data + r.off, b->len - r.off,
                     h->o.timeout_ms, replay_done, hn, &hn->rpc_id);
    if (rc != 0)
        return rc;
    hn->inflight = 1;
    h->inflight++;
    return 0;
}

static void pace_fired(void *arg)
{
    sb_hints *h = arg;
    h->pace_timer = NULL;
    pump(h);
}

/* 0 if one more send fits the rate now; else the ms to wait. */
static uint64_t rate_wait(sb_hints *h, uint64_t now_ms)
{
    if (h->nsent < h->rate)
        return 0;
    uint64_t oldest = h->sent_ms[h->sent_head];
    return now_ms - oldest >= 1000 ? 0 : 1000 - (now_ms - oldest);
}

static void rate_note(sb_hints *h, uint64_t now_ms)
{
    if (h->nsent < h->rate) {
        h->sent_ms[(h->sent_head + h->nsent) % h->rate] = now_ms;
        h->nsent++;
    } else {
        h->sent_ms[h->sent_head] = now_ms;
        h->sent_head = (h->sent_head + 1) % h->rate;
    }
}

/* A hint to send next: the first one of the next active target after the
 * round-robin cursor that has one. */
static hint *pick(sb_hints *h, int64_t now_us)
{
    htarget *start = h->rr && h->rr->next ? h->rr->next : h->targets;
    htarget *t = start;
    if (!t)
        return NULL;
    do {
        if (t->active) {
            if (!target_up(h, &t->ep)) {
                t->active = 0;
            } else {
                hint *hn = next_hint(h, t, now_us);
                if (hn)
                    return hn;
            }
        }
        t = t->next ? t->next : h->targets;
    } while (t != start);
    return NULL;
}

static void pump(sb_hints *h)
{
    while (h->inflight < HINTS_INFLIGHT) {
        hint *hn = pick(h, h->io->now_us(h->io->ctx));
        if (!hn)
            return;
        uint64_t now_ms = h->io->mono_ms(h->io->ctx);
        uint64_t wait = rate_wait(h, now_ms);
        if (wait) {
            if (!h->pace_timer)
                h->pace_timer = h->io->timer_start(h->io->ctx, wait, pace_fired, h);
            return;
        }
        h->rr = hn->t;
        rate_note(h, now_ms);
        int rc = send_hint(h, hn);
        if (rc != 0)
            replay_failed(h, hn, sb_errname(rc));
    }
}

void sb_hints_target_up(sb_hints *h, const sb_ep *target)
{
    htarget *t = find_target(h, target);
    if (!t || t->count == 0)
        return;
    t->active = 1;
    pump(h);
}

/* Every replay_check_ms while hints are pending: expire old hints of every
 * target, (re)start live targets, pump. */
static void check_fired(void *arg)
{
    sb_hints *h = arg;
    h->check_timer = NULL;
    int64_t now_us = h->io->now_us(h->io->ctx);
    for (htarget *t = h->targets; t; t = t->next) {
        hint *hn = t->head;
        while (hn && hn->durable && !hn->inflight && expired(h, hn, now_us)) {
            hint *next = hn->next;
            h->st.dropped++;
            h->st.dropped_expired++;
            delete_hint(h, hn);
            hn = next;
        }
        if (t->count && !t->active && target_up(h, &t->ep))
            t->active = 1;
    }
    pump(h);
    arm_check(h);
}

static void arm_check(sb_hints *h)
{
    if (h->started && !h->check_timer && h->pending)
        h->check_timer = h->io->timer_start(h->io->ctx, h->o.replay_check_ms, check_fired, h);
}

/* --- stats ----------------------------------------------------------------- */

void sb_hints_get_stats(const sb_hints *h, sb_hints_stats *st)
{
    *st = h->st;
    st->pending = h->pending;
    st->pending_bytes = h->pending_bytes;
}

uint64_t sb_hints_pending(const sb_hints *h, const sb_ep *target)
{
    const htarget *t = find_target(h, target);
    return t ? t->count : 0;
}
