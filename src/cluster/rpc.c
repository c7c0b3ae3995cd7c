/*
 * Request/response over sb_io.
 *
 * NOTES ON THE DESIGN
 *
 * Every pending call is one heap record in a hash table keyed by its
 * request id, with one io timer. Exactly one of three things ends a call,
 * and each first removes the record from the table, so nothing can end it
 * twice:
 *   - a matching SB_MSG_RESPONSE (same id, sent by the endpoint the
 *     request went to): the timer is stopped, cb(0, body);
 *   - its timer: cb(SB_ETIMEOUT), or cb(SB_ECLOSED) when the timer was the
 *     0 ms one started because io->send refused the message (callbacks
 *     never run inside sb_rpc_call);
 *   - sb_rpc_cancel (no callback) or sb_rpc_free (cb(SB_ECLOSED), there).
 * Ids start at a value drawn from io->random (so a restarted node does
 * not reuse the ids of its previous incarnation that may still be in
 * flight) and increase by one. The record is freed before its callback
 * runs, so a callback may issue or cancel calls freely.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/rpc.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define RPC_EP_BYTES (1 + 16 + 2)
#define RPC_INITIAL_BUCKETS 256

typedef struct rpc_call {
    sb_rpc *r;
    uint64_t id;
    sb_ep to;
    sb_rpc_cb cb;
    void *arg;
    sb_io_timer *timer;
    int fire_status; /* what the timer reports: SB_ETIMEOUT or SB_ECLOSED */
    struct rpc_call *next;
} rpc_call;

struct sb_rpc {
    const sb_io *io;
    sb_ep self;
    uint64_t next_id;
    rpc_call **buckets;
    size_t nbuckets; /* power of two */
    size_t npending;
    size_t max_pending; /* 0: no cap */
    int closing;
    sb_rpc_stats stats;
    sb_buf scratch;
};

static size_t bucket_of(const sb_rpc *r, uint64_t id)
{
    /* Ids are sequential; a multiplicative hash spreads them anyway. */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & (r->nbuckets - 1);
}

static void table_grow(sb_rpc *r)
{
    size_t nb = r->nbuckets * 2;
    rpc_call **b = sb_calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    rpc_call **old = r->buckets;
    size_t onb = r->nbuckets;
    r->buckets = b;
    r->nbuckets = nb;
    for (size_t i = 0; i < onb; i++) {
        rpc_call *c = old[i];
        while (c) {
            rpc_call *next = c->next;
            size_t k = bucket_of(r, c->id);
            c->next = b[k];
            b[k] = c;
            c = next;
        }
    }
    free(old);
}

static void table_insert(sb_rpc *r, rpc_call *c)
{
    if (r->npending + 1 > r->nbuckets * 2)
        table_grow(r);
    size_t k = bucket_of(r, c->id);
    /* Ids are unique among pending calls (chains are short). */
    for (const rpc_call *o = r->buckets[k]; o; o = o->next)
        SB_ASSERT(o->id != c->id);
    c->next = r->buckets[k];
    r->buckets[k] = c;
    r->npending++;
}

/* Unlinks and returns the call with that id, or NULL. */
static rpc_call *table_take(sb_rpc *r, uint64_t id)
{
    rpc_call **pp = &r->buckets[bucket_of(r, id)];
    for (; *pp; pp = &(*pp)->next) {
        rpc_call *c = *pp;
        if (c->id == id) {
            *pp = c->next;
            SB_ASSERT(r->npending > 0);
            r->npending--;
            return c;
        }
    }
    return NULL;
}

sb_rpc *sb_rpc_new(const sb_io *io, const sb_ep *self)
{
    sb_rpc *r = sb_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->buckets = sb_calloc(RPC_INITIAL_BUCKETS, sizeof(*r->buckets));
    if (!r->buckets) {
        free(r);
        return NULL;
    }
    r->nbuckets = RPC_INITIAL_BUCKETS;
    r->max_pending = SB_RPC_MAX_PENDING_DEFAULT;
    r->io = io;
    r->self = *self;
    /* Keep ids clear of 0 and of wrap-around for a long while. */
    r->next_id = (io->random(io->ctx) >> 2) | 1;
    sb_buf_init(&r->scratch);
    return r;
}

void sb_rpc_set_max_pending(sb_rpc *r, size_t max_pending)
{
    r->max_pending = max_pending;
}

size_t sb_rpc_max_pending(const sb_rpc *r)
{
    return r->max_pending;
}

void sb_rpc_free(sb_rpc *r)
{
    if (!r)
        return;
    r->closing = 1;
    /* One call at a time, out of the table before its callback runs: a
     * callback may cancel calls still pending (they then never run, as
     * sb_rpc_cancel promises; a proposer frees their arguments when it
     * cancels them) and cannot add any while closing. */
    for (size_t i = 0; i < r->nbuckets; i++) {
        while (r->buckets[i]) {
            rpc_call *c = r->buckets[i];
            r->buckets[i] = c->next;
            SB_ASSERT(r->npending > 0);
            r->npending--;
            r->io->timer_stop(r->io->ctx, c->timer);
            sb_rpc_cb cb = c->cb;
            void *arg = c->arg;
            free(c);
            cb(arg, SB_ECLOSED, NULL, 0);
        }
    }
    free(r->buckets);
    sb_buf_free(&r->scratch);
    free(r);
}

static void on_timer(void *arg)
{
    rpc_call *c = arg;
    sb_rpc *r = c->r;
    rpc_call *t = table_take(r, c->id);
    SB_ASSERT(t == c);
    int status = c->fire_status;
    if (status == SB_ETIMEOUT)
        r->stats.timeouts++;
    sb_rpc_cb cb = c->cb;
    void *cbarg = c->arg;
    free(c);
    cb(cbarg, status, NULL, 0);
}

static int build(sb_buf *out, const sb_ep *self, uint64_t id, const uint8_t *body, size_t len)
{
    sb_buf_reset(out);
    int rc = sb_wire_put_ep(out, self);
    if (!rc)
        rc = sb_wire_put_u64(out, id);
    if (!rc && len)
        rc = sb_buf_append(out, body, len);
    return rc;
}

int sb_rpc_call(sb_rpc *r, const sb_ep *to, int type, const uint8_t *body, size_t len,
                uint32_t timeout_ms, sb_rpc_cb cb, void *arg, uint64_t *id)
{
    if (r->closing)
        return SB_ECLOSED;
    if (r->max_pending && r->npending >= r->max_pending) {
        r->stats.overloaded++;
        return SB_EOVERLOADED;
    }
    rpc_call *c = sb_calloc(1, sizeof(*c));
    if (!c)
        return SB_ENOMEM;
    c->r = r;
    c->id = r->next_id++;
    c->to = *to;
    c->cb = cb;
    c->arg = arg;
    c->fire_status = SB_ETIMEOUT;
    int rc = build(&r->scratch, &r->self, c->id, body, len);
    if (rc) {
        free(c);
        return rc;
    }
    c->timer = r->io->timer_start(r->io->ctx, timeout_ms, on_timer, c);
    if (!c->timer) {
        free(c);
        return SB_ENOMEM;
    }
    table_insert(r, c);
    r->stats.calls++;
    if (id)
        *id = c->id;
    rc = r->io->send(r->io->ctx, to, type, r->scratch.data, r->scratch.len);
    if (rc) {
        /* Not queued: report it from a 0 ms timer, never from here. */
        r->io->timer_stop(r->io->ctx, c->timer);
        c->fire_status = SB_ECLOSED;
        c->timer = r->io->timer_start(r->io->ctx, 0, on_timer, c);
        if (!c->timer) {
            table_take(r, c->id);
            free(c);
            return SB_ENOMEM;
        }
    }
    return 0;
}

void sb_rpc_cancel(sb_rpc *r, uint64_t id)
{
    rpc_call *c = table_take(r, id);
    if (!c)
        return;
    r->io->timer_stop(r->io->ctx, c->timer);
    free(c);
}

int sb_rpc_reply(sb_rpc *r, const sb_ep *to, uint64_t id, const uint8_t *body, size_t len)
{
    int rc = build(&r->scratch, &r->self, id, body, len);
    if (rc)
        return rc;
    return r->io->send(r->io->ctx, to, SB_MSG_RESPONSE, r->scratch.data, r->scratch.len);
}

int sb_rpc_parse(const uint8_t *payload, size_t len, sb_ep *from, uint64_t *id,
                 const uint8_t **body, size_t *blen)
{
    sb_wire_reader rd;
    sb_wire_reader_init(&rd, payload, len);
    sb_wire_get_ep(&rd, from);
    *id = sb_wire_get_u64(&rd);
    if (rd.err) {
        *body = NULL;
        *blen = 0;
        return SB_EBADINPUT;
    }
    *body = payload + rd.off;
    *blen = len - rd.off;
    return 0;
}

int sb_msg_build(sb_buf *out, const sb_ep *self, const uint8_t *body, size_t len)
{
    int rc = sb_wire_put_ep(out, self);
    if (!rc && len)
        rc = sb_buf_append(out, body, len);
    return rc;
}

int sb_msg_parse(const uint8_t *payload, size_t len, sb_ep *from, const uint8_t **body,
                 size_t *blen)
{
    sb_wire_reader rd;
    sb_wire_reader_init(&rd, payload, len);
    sb_wire_get_ep(&rd, from);
    if (rd.err) {
        *body = NULL;
        *blen = 0;
        return SB_EBADINPUT;
    }
    *body = payload + rd.off;
    *blen = len - rd.off;
    return 0;
}

void sb_rpc_receive_response(sb_rpc *r, const uint8_t *payload, size_t len)
{
    sb_ep from;
    uint64_t id;
    const uint8_t *body;
    size_t blen;
    if (sb_rpc_parse(payload, len, &from, &id, &body, &blen)) {
        SB_WARN("rpc", "malformed response dropped", "len=%zu", len);
        return;
    }
    rpc_call **pp = &r->buckets[bucket_of(r, id)];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    rpc_call *c = *pp;
    if (!c || !sb_ep_eq(&c->to, &from) || c->fire_status != SB_ETIMEOUT) {
        /* Finished, cancelled, unknown, or already failed to send. */
        r->stats.late_responses++;
        return;
    }
    *pp = c->next;
    SB_ASSERT(r->npending > 0);
    r->npending--;
    r->io->timer_stop(r->io->ctx, c->timer);
    sb_rpc_cb cb = c->cb;
    void *arg = c->arg;
    free(c);
    cb(arg, 0, body, blen);
}

void sb_rpc_get_stats(const sb_rpc *r, sb_rpc_stats *st)
{
    *st = r->stats;
    st->pending = r->npending;
}
