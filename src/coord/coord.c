/*
 * Coordination: requests, replicas, consistency levels, writes, truncate.
 *
 * NOTES ON THE DESIGN
 *
 * A request (creq) lives from sb_coord_write/read/truncate until it has
 * delivered its result AND nothing it started is still in flight. It runs
 * in phases (cphase): a write has one (PH_WRITE); a read has a digest
 * phase, then on a mismatch a data phase, then a repair phase; a range
 * read a data (and maybe repair) phase per piece of the ring; a truncate
 * one. A phase has one target per replica asked (ctarget), and a target
 * has at most one operation in flight at a time (its state, CT_*):
 *   CT_RPC   a request to a peer; cancellable (sb_rpc_cancel);
 *   CT_TIMER a local read or truncate run from a 0 ms timer (so that no
 *            answer is ever synchronous); cancellable;
 *   CT_APPLY a local io->st->apply; NOT cancellable;
 *   CT_HINT  a hint whose durability a write at ANY waits for; NOT
 *            cancellable.
 * rq->pending counts them. The result is recorded once (coord_finish;
 * later outcomes are ignored); while the request is still being set up
 * inside the API call it is delivered from a 0 ms timer instead. Reads
 * and truncates cancel what they can once finished; writes let the
 * remaining replicas answer (or time out) so that the ones that don't
 * get a hint. coord_settle, called last by every entry point, frees the
 * request when it has delivered and pending is 0. sb_coord_free ends
 * requests with SB_ECLOSED and orphans those with uncancellable work in
 * flight (rq->c = NULL): their callbacks only count down and free.
 *
 * Invariants: exactly one result per request; a request holds a reference
 * on the ring snapshot it started with; memory is per request (entries,
 * responses, an arena for merged values) and freed with it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/topology.h"
#include "coord/coord_int.h"
#include "util/alloc.h"
#include "util/consistency.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/wire.h"

static const char *cl_name(int cl)
{
    static const char *const names[] = {"ANY",    "ONE",          "TWO",          "THREE",
                                        "QUORUM", "ALL",          "LOCAL_QUORUM", "EACH_QUORUM",
                                        "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE"};
    return cl >= 0 && cl <= SB_CL_LOCAL_ONE ? names[cl] : "?";
}

void sb_coord_opts_default(sb_coord_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->write_timeout_ms = 2000;
    o->read_timeout_ms = 5000;
    o->range_timeout_ms = 10000;
    o->truncate_timeout_ms = 60000;
    o->max_inflight = SB_COORD_MAX_INFLIGHT_DEFAULT;
}

/* FNV-1a over an endpoint: a node's ballot bits. */
static uint64_t ep_bits(const sb_ep *e)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint8_t b[19];
    memcpy(b, e->ip, 16);
    b[16] = (uint8_t)(e->port >> 8);
    b[17] = (uint8_t)e->port;
    b[18] = e->family;
    for (size_t i = 0; i < sizeof b; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

sb_coord *sb_coord_new(const sb_io *io, sb_rpc *rpc, sb_gossip *g, sb_hints *h,
                       const sb_coord_opts *o)
{
    sb_coord *c = sb_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->io = io;
    c->rpc = rpc;
    c->g = g;
    c->h = h;
    if (o)
        c->o = *o;
    else
        sb_coord_opts_default(&c->o);
    const sb_member *self = sb_gossip_self(g);
    c->self = self->ep;
    snprintf(c->local_dc, sizeof(c->local_dc), "%s", self->dc);
    sb_buf_init(&c->scratch);
    /* Ballot bits: the node's address, so that two proposers' ballots of
     * the same microsecond still differ and order. */
    c->paxos_node = ep_bits(&c->self);
    c->paxos_acceptor = paxos_acceptor_new(c);
    if (!c->paxos_acceptor) {
        sb_buf_free(&c->scratch);
        free(c);
        return NULL;
    }
    return c;
}

static void req_free(creq *rq);
static void deliver(creq *rq);

/* One operation of rq ended: the deliver timer (t NULL), or target t's,
 * which was in state `from` (CT_*). */
static void op_ended(creq *rq, ctarget *t, int from)
{
    SB_ASSERT(rq->pending > 0);
    rq->pending--;
    if (t) {
        SB_ASSERT(t->state == from);
        t->state = CT_FAILED;
    }
}

void sb_coord_set_pending(sb_coord *c, struct sb_topo_pending *pd)
{
    sb_topo_pending_free(c->pending);
    c->pending = pd;
}

void sb_coord_free(sb_coord *c)
{
    if (!c)
        return;
    sb_coord_set_pending(c, NULL);
    while (c->reqs) {
        creq *rq = c->reqs;
        rq->starting = 0;
        if (rq->deliver_timer) {
            /* A result waiting for its timer goes out now. */
            c->io->timer_stop(c->io->ctx, rq->deliver_timer);
            rq->deliver_timer = NULL;
            op_ended(rq, NULL, 0);
            deliver(rq);
        }
        coord_finish(rq, SB_ECLOSED, "the coordinator is shutting down");
        coord_cancel_all(rq);
        if (rq->timer) {
            c->io->timer_stop(c->io->ctx, rq->timer);
            rq->timer = NULL;
        }
        c->reqs = rq->next;
        if (rq->next)
            rq->next->prev = NULL;
        rq->prev = rq->next = NULL;
        sb_gossip_ring_unref(c->g, rq->ring);
        rq->ring = NULL;
        rq->c = NULL;
        if (rq->pending == 0)
            req_free(rq);
    }
    coord_replica_detach(c);
    /* The acceptor first: its orphaned answers then never reach the
     * proposer's local messages, which go next. */
    paxos_acceptor_free(c->paxos_acceptor);
    c->paxos_acceptor = NULL;
    coord_paxos_detach(c);
    sb_buf_free(&c->scratch);
    free(c);
}

void sb_coord_get_stats(const sb_coord *c, sb_coord_stats *st)
{
    *st = c->stats;
    st->inflight = c->ninflight;
}

/* --- consistency levels ------------------------------------------------------ */

static int quorum(int rf)
{
    return rf / 2 + 1;
}

int sb_coord_blockfor(const sb_ring *r, const sb_repl *p, const int *replicas, int n, int cl,
                      const char *local_dc)
{
    if (p->kind == SB_REPL_LOCAL)
        return 1;
    int total = sb_repl_total(p);
    switch (cl) {
    case SB_CL_ANY:
    case SB_CL_ONE:
    case SB_CL_LOCAL_ONE:
        return 1;
    case SB_CL_TWO:
        return 2;
    case SB_CL_THREE:
        return 3;
    case SB_CL_QUORUM:
    case SB_CL_SERIAL:
        return quorum(total);
    case SB_CL_ALL:
        return total;
    case SB_CL_LOCAL_QUORUM:
    case SB_CL_LOCAL_SERIAL:
        return quorum(sb_repl_dc(p, local_dc ? local_dc : ""));
    case SB_CL_EACH_QUORUM:
        if (p->kind == SB_REPL_NTS) {
            int sum = 0;
            for (int i = 0; i < p->ndcs; i++)
                if (p->dcs[i].rf > 0)
                    sum += quorum(p->dcs[i].rf);
            return sum;
        }
        return quorum(total);
    default:
        return total;
    }
}

static int is_local_cl(int cl)
{
    return cl == SB_CL_LOCAL_ONE || cl == SB_CL_LOCAL_QUORUM;
}

static int each_quorum_nts(const creq *rq, const sb_repl *p)
{
    return rq->cl == SB_CL_EACH_QUORUM && p->kind == SB_REPL_NTS;
}

/* --- replicas ---------------------------------------------------------------- */

static int rep_class(const sb_coord *c, const creplica *r)
{
    if (r->local)
        return 0;
    return strcmp(r->dc, c->local_dc) == 0 ? 1 : 2;
}

static int rep_cmp(const sb_coord *c, const creplica *x, const creplica *y)
{
    int cx = rep_class(c, x), cy = rep_class(c, y);
    if (cx != cy)
        return cx < cy ? -1 : 1;
    return sb_ep_cmp(&x->ep, &y->ep);
}

/* Insertion sort by (class, ep): n <= SB_MAX_REPLICAS. */
static void sort_replicas(const sb_coord *c, creplica *r, int n)
{
    for (int i = 1; i < n; i++) {
        creplica x = r[i];
        int j = i;
        while (j > 0 && rep_cmp(c, &r[j - 1], &x) > 0) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
}

int coord_replicas(creq *rq, const sb_repl *p, int64_t tok, creplica *out, int sorted)
{
    sb_coord *c = rq->c;
    if (p->kind == SB_REPL_LOCAL) {
        out[0].ep = c->self;
        out[0].dc = c->local_dc;
        out[0].local = 1;
        out[0].up = 1;
        return 1;
    }
    int idx[SB_MAX_REPLICAS];
    int n = sb_ring_replicas(rq->ring, p, tok, idx, SB_MAX_REPLICAS);
    SB_ASSERT(n >= 0 && n <= SB_MAX_REPLICAS);
    for (int i = 0; i < n; i++) {
        SB_ASSERT(idx[i] >= 0 && idx[i] < sb_ring_nnodes(rq->ring));
        const sb_ring_node *nd = sb_ring_node_at(rq->ring, idx[i]);
        out[i].ep = nd->ep;
        out[i].dc = nd->dc;
        out[i].local = sb_ep_eq(&nd->ep, &c->self);
        out[i].up = out[i].local || sb_gossip_is_up(c->g, &nd->ep);
    }
    if (sorted)
        sort_replicas(c, out, n);
    return n;
}

static void unavailable(creq *rq, int required, int alive)
{
    rq->res.required = required;
    rq->res.alive = alive;
    coord_finish(rq, SB_EUNAVAILABLE, "Cannot achieve consistency level %s (%d required, %d alive)",
                 cl_name(rq->cl), required, alive);
}

int coord_choose_read(creq *rq, const sb_repl *p, const creplica *reps, int n)
{
    sb_coord *c = rq->c;
    rq->blockfor = sb_coord_blockfor(rq->ring, p, NULL, 0, rq->cl, c->local_dc);
    rq->nreps = 0;
    if (each_quorum_nts(rq, p)) {
        int take[SB_MAX_REPLICAS + 1] = {0};
        for (int d = 0; d < p->ndcs; d++) {
            int need = p->dcs[d].rf > 0 ? quorum(p->dcs[d].rf) : 0, got = 0;
            for (int i = 0; i < n && got < need; i++)
                if (reps[i].up && strcmp(reps[i].dc, p->dcs[d].dc) == 0) {
                    take[i] = 1;
                    got++;
                }
            if (got < need) {
                unavailable(rq, need, got);
                return SB_EUNAVAILABLE;
            }
        }
        for (int i = 0; i < n; i++)
            if (take[i])
                rq->reps[rq->nreps++] = reps[i];
        return 0;
    }
    int alive = 0;
    for (int i = 0; i < n; i++) {
        if (!reps[i].up || (is_local_cl(rq->cl) && strcmp(reps[i].dc, c->local_dc) != 0))
            continue;
        alive++;
        if (rq->nreps < rq->blockfor)
            rq->reps[rq->nreps++] = reps[i];
    }
    if (alive < rq->blockfor) {
        unavailable(rq, rq->blockfor, alive);
        return SB_EUNAVAILABLE;
    }
    return 0;
}

/* --- requests ------------------------------------------------------------------ */

static void on_req_timeout(void *arg);

creq *coord_req_new(sb_coord *c, int kind, int cl, uint32_t timeout_ms)
{
    creq *rq = sb_calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->c = c;
    rq->kind = kind;
    rq->cl = cl;
    rq->starting = 1;
    rq->res.consistency = cl;
    rq->start_us = c->io->now_us(c->io->ctx);
    sb_rawq_init(&rq->q);
    sb_buf_init(&rq->cursor);
    sb_buf_init(&rq->piece_hi);
    sb_arena_init(&rq->arena, 16384, 0);
    rq->deadline_ms = c->io->mono_ms(c->io->ctx) + timeout_ms;
    rq->timer = c->io->timer_start(c->io->ctx, timeout_ms, on_req_timeout, rq);
    if (!rq->timer) {
        free(rq);
        return NULL;
    }
    rq->ring = sb_gossip_ring(c->g);
    sb_gossip_ring_ref(c->g, rq->ring);
    rq->next = c->reqs;
    if (rq->next)
        rq->next->prev = rq;
    c->reqs = rq;
    return rq;
}

uint32_t coord_remaining_ms(creq *rq)
{
    uint64_t now = rq->c->io->mono_ms(rq->c->io->ctx);
    return rq->deadline_ms > now ? (uint32_t)(rq->deadline_ms - now) : 1;
}

static void target_free(ctarget *t)
{
    free(t->muts);
    sb_buf_free(&t->body);
    free(t->resp.ents);
}

static void req_free(creq *rq)
{
    SB_ASSERT(rq->pending == 0 && !rq->deliver_timer);
    sb_coord *c = rq->c;
    if (c) {
        if (rq->prev)
            rq->prev->next = rq->next;
        else
            c->reqs = rq->next;
        if (rq->next)
            rq->next->prev = rq->prev;
        if (rq->timer)
            c->io->timer_stop(c->io->ctx, rq->timer);
        sb_gossip_ring_unref(c->g, rq->ring);
        if (rq->counted) {
            SB_ASSERT(c->ninflight > 0);
            c->ninflight--;
        }
    }
    sb_topo_pending_free(rq->pend); /* pending targets' dc pointed into it */
    while (rq->phases) {
        cphase *ph = rq->phases;
        rq->phases = ph->next;
        for (int i = 0; i < ph->nt; i++)
            target_free(&ph->t[i]);
        free(ph->t);
        sb_buf_free(&ph->qbody);
        free(ph);
    }
    sb_arena_close(&rq->arena);
    free(rq->repls);
    sb_buf_free(&rq->mut);
    free(rq->ents);
    free(rq->groups);
    free(rq->out);
    sb_rawq_free(&rq->q);
    sb_buf_free(&rq->cursor);
    sb_buf_free(&rq->piece_hi);
    free(rq);
}

double coord_elapsed_s(const sb_coord *c, int64_t start_us)
{
    int64_t d = c->io->now_us(c->io->ctx) - start_us;
    return d > 0 ? (double)d / 1e6 : 0.0;
}

static void observe(creq *rq)
{
    sb_coord *c = rq->c;
    if (!c->o.on_request)
        return;
    static const char *const ops[] = {"write", "read", "range", "truncate"};
    c->o.on_request(c->o.observer_arg, ops[rq->kind], rq->cl, rq->res.status,
                    coord_elapsed_s(c, rq->start_us));
}

static void deliver(creq *rq)
{
    sb_coord *c = rq->c;
    /* Exactly one result per request. */
    SB_ASSERT(rq->finished && !rq->delivered);
    rq->delivered = 1;
    int st = rq->res.status;
    observe(rq);
    if (rq->kind == RQ_WRITE || rq->kind == RQ_TRUNCATE) {
        if (st == 0)
            c->stats.writes_ok++;
        else if (st == SB_EUNAVAILABLE)
            c->stats.writes_unavailable++;
        else if (st == SB_ETIMEOUT)
            c->stats.writes_timeout++;
        else
            c->stats.writes_other++;
        rq->wcb(rq->arg, &rq->res);
        return;
    }
    if (st == 0)
        c->stats.reads_ok++;
    else if (st == SB_EUNAVAILABLE)
        c->stats.reads_unavailable++;
    else if (st == SB_ETIMEOUT)
        c->stats.reads_timeout++;
    else
        c->stats.reads_other++;
    if (st == 0)
        rq->rcb(rq->arg, &rq->res, rq->out, rq->nout, rq->more);
    else
        rq->rcb(rq->arg, &rq->res, NULL, 0, 0);
}

static void on_deliver(void *arg)
{
    creq *rq = arg;
    rq->deliver_timer = NULL;
    op_ended(rq, NULL, 0);
    deliver(rq);
    coord_settle(rq);
}

void coord_finish(creq *rq, int status, const char *fmt, ...)
{
    if (rq->finished)
        return;
    rq->finished = 1;
    rq->res.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rq->res.message, sizeof(rq->res.message), fmt, ap);
    va_end(ap);
    sb_coord *c = rq->c;
    if (rq->kind != RQ_WRITE) {
        /* Nobody waits for the rest of a read or truncate. */
        coord_cancel_all(rq);
        if (rq->timer) {
            c->io->timer_stop(c->io->ctx, rq->timer);
            rq->timer = NULL;
        }
    }
    if (rq->starting) {
        rq->deliver_timer = c->io->timer_start(c->io->ctx, 0, on_deliver, rq);
        if (rq->deliver_timer) {
            rq->pending++;
            return;
        }
    }
    deliver(rq);
}

void coord_settle(creq *rq)
{
    SB_ASSERT(rq->pending >= 0);
    if (rq->starting || !rq->delivered || rq->pending > 0)
        return;
    req_free(rq);
}

void coord_cancel_all(creq *rq)
{
    sb_coord *c = rq->c;
    for (cphase *ph = rq->phases; ph; ph = ph->next) {
        for (int i = 0; i < ph->nt; i++) {
            ctarget *t = &ph->t[i];
            if (t->state == CT_RPC) {
                sb_rpc_cancel(c->rpc, t->rpc_id);
            } else if (t->state == CT_TIMER) {
                c->io->timer_stop(c->io->ctx, t->timer);
                t->timer = NULL;
            } else {
                continue;
            }
            op_ended(rq, t, t->state);
        }
    }
}

cphase *coord_phase_new(creq *rq, int kind, int nt)
{
    cphase *ph = sb_calloc(1, sizeof(*ph));
    if (!ph)
        return NULL;
    ph->t = sb_calloc(nt ? (size_t)nt : 1, sizeof(*ph->t));
    if (!ph->t) {
        free(ph);
        return NULL;
    }
    ph->kind = kind;
    ph->nt = nt;
    sb_buf_init(&ph->qbody);
    for (int i = 0; i < nt; i++) {
        ph->t[i].req = rq;
        ph->t[i].ph = ph;
        sb_buf_init(&ph->t[i].body);
    }
    ph->next = rq->phases;
    rq->phases = ph;
    rq->cur = ph;
    return ph;
}

int coord_lookup_repl(creq *rq, const uint8_t table_id[16], sb_repl **out)
{
    for (int i = 0; i < rq->nrepls; i++)
        if (memcmp(rq->repls[i].table_id, table_id, 16) == 0) {
            *out = &rq->repls[i].p;
            return i;
        }
    sb_coord *c = rq->c;
    crepl *n = sb_realloc(rq->repls, (size_t)(rq->nrepls + 1) * sizeof(*n));
    if (!n)
        return SB_ENOMEM;
    rq->repls = n;
    crepl *r = &n[rq->nrepls];
    memset(r, 0, sizeof(*r));
    memcpy(r->table_id, table_id, 16);
    int rc = c->o.table_repl ? c->o.table_repl(c->o.table_repl_arg, table_id, &r->p) : SB_ENOTFOUND;
    if (rc)
        return rc;
    *out = &r->p;
    return rq->nrepls++;
}

void coord_table_unknown(creq *rq, int rc, const uint8_t id[16])
{
    if (rc == SB_ENOTFOUND) {
        char hex[33];
        sb_hex_encode(hex, id, 16);
        coord_finish(rq, SB_ENOTFOUND, "unknown table %s", hex);
    } else {
        coord_finish(rq, SB_ESERVER, "cannot find the replication of a table: %s", sb_strerror(rc));
    }
}

/* --- sending ---------------------------------------------------------------- */

static void target_result(ctarget *t, int status, const uint8_t *body, size_t len);

static void on_rpc(void *arg, int status, const uint8_t *body, size_t len)
{
    ctarget *t = arg;
    creq *rq = t->req;
    op_ended(rq, t, CT_RPC);
    target_result(t, status, body, len);
    coord_settle(rq);
}

static void on_apply(void *arg, int status)
{
    ctarget *t = arg;
    creq *rq = t->req;
    op_ended(rq, t, CT_APPLY);
    if (!rq->c) {
        if (rq->pending == 0)
            req_free(rq);
        return;
    }
    sb_buf b;
    sb_buf_init(&b);
    if (coord_put_status(&b, status) == 0)
        target_result(t, 0, b.data, b.len);
    else
        target_result(t, SB_ENOMEM, NULL, 0);
    sb_buf_free(&b);
    coord_settle(rq);
}

/* A local read or truncate, off the caller's stack. */
static void on_local(void *arg)
{
    ctarget *t = arg;
    creq *rq = t->req;
    sb_coord *c = rq->c;
    t->timer = NULL;
    op_ended(rq, t, CT_TIMER);
    sb_buf b;
    sb_buf_init(&b);
    int rc = 0;
    if (t->ph->kind == PH_TRUNCATE) {
        char errmsg[SB_ERRMSG_SIZE];
        coord_put_status(&b, c->io->st->truncate(c->io->st_ctx, rq->q.table_id, errmsg));
    } else {
        c->stats.replica_reads++;
        /* A request that cannot be built is no answer (not a malformed one). */
        rc = sb_buf_putc(&b, t->want_digest ? COORD_READ_DIGEST : 0);
        if (!rc)
            rc = sb_buf_append(&b, t->ph->qbody.data, t->ph->qbody.len);
        if (!rc) {
            sb_buf req = b;
            sb_buf_init(&b);
            coord_serve_read(c->io, req.data, req.len, &b);
            sb_buf_free(&req);
        }
    }
    if (rc)
        target_result(t, rc, NULL, 0);
    else
        target_result(t, 0, b.data, b.len);
    sb_buf_free(&b);
    coord_settle(rq);
}

static void send_failed(ctarget *t, int rc)
{
    target_result(t, rc, NULL, 0);
}

static int start_local(ctarget *t)
{
    creq *rq = t->req;
    SB_ASSERT(t->state == CT_IDLE);
    t->timer = rq->c->io->timer_start(rq->c->io->ctx, 0, on_local, t);
    if (!t->timer)
        return SB_ENOMEM;
    t->state = CT_TIMER;
    rq->pending++;
    return 0;
}

static int start_rpc(ctarget *t, int type, const uint8_t *body, size_t len, uint32_t timeout)
{
    creq *rq = t->req;
    SB_ASSERT(t->state == CT_IDLE);
    int rc = sb_rpc_call(rq->c->rpc, &t->ep, type, body, len, timeout, on_rpc, t, &t->rpc_id);
    if (rc)
        return rc;
    t->state = CT_RPC;
    rq->pending++;
    return 0;
}

/* Reads stop at the first failure that finishes the request. */
static int stop_sending(creq *rq)
{
    return rq->finished && rq->kind != RQ_WRITE;
}

void coord_send_mutations(creq *rq, cphase *ph, uint32_t timeout_ms)
{
    sb_coord *c = rq->c;
    for (int i = 0; i < ph->nt && !stop_sending(rq); i++) {
        ctarget *t = &ph->t[i];
        if (t->state != CT_IDLE)
            continue;
        int rc;
        if (t->local) {
            rc = c->io->st->apply(c->io->st_ctx, t->muts, t->nmuts, on_apply, t);
            if (!rc) {
                t->state = CT_APPLY;
                rq->pending++;
            }
        } else if (t->whole) {
            /* The statement's own mutation, not a byte re-encoded. */
            rc = start_rpc(t, SB_MSG_MUTATION, rq->mut.data, rq->mut.len, timeout_ms);
        } else {
            sb_buf_reset(&c->scratch);
            rc = sb_mutation_encode(&c->scratch, t->muts, t->nmuts);
            if (!rc)
                rc = start_rpc(t, SB_MSG_MUTATION, c->scratch.data, c->scratch.len, timeout_ms);
        }
        if (rc) {
            t->state = CT_FAILED;
            send_failed(t, rc);
            coord_send_refused(rq, rc);
        }
    }
}

void coord_send_reads(creq *rq, cphase *ph, uint32_t timeout_ms)
{
    sb_coord *c = rq->c;
    for (int i = 0; i < ph->nt && !stop_sending(rq); i++) {
        ctarget *t = &ph->t[i];
        int rc;
        if (t->local) {
            rc = start_local(t);
        } else {
            sb_buf_reset(&c->scratch);
            rc = sb_buf_putc(&c->scratch, t->want_digest ? COORD_READ_DIGEST : 0);
            if (!rc)
                rc = sb_buf_append(&c->scratch, ph->qbody.data, ph->qbody.len);
            if (!rc)
                rc = start_rpc(t, SB_MSG_READ, c->scratch.data, c->scratch.len, timeout_ms);
        }
        if (rc) {
            t->state = CT_FAILED;
            send_failed(t, rc);
            coord_send_refused(rq, rc);
        }
    }
}

/* --- writes ------------------------------------------------------------------- */

static void write_result(ctarget *t, int status);
static void truncate_result(ctarget *t, int status);

/* Routes an answer (or a failure) of a target to its phase's logic. */
static void target_result(ctarget *t, int status, const uint8_t *body, size_t len)
{
    SB_ASSERT(t->state == CT_FAILED); /* its operation has ended */
    int kind = t->ph->kind;
    if (kind == PH_DIGEST || kind == PH_DATA) {
        coord_read_on_response(t, status, body, len);
        return;
    }
    if (status == 0)
        status = sb_coord_status_decode(body, len);
    if (kind == PH_WRITE)
        write_result(t, status);
    else if (kind == PH_REPAIR)
        coord_read_on_repair_ack(t, status);
    else
        truncate_result(t, status);
}

/* How many acknowledgements of group g count for the level; *ok when
 * they satisfy it. */
static int group_received(creq *rq, const cgroup *g, int *ok)
{
    const sb_repl *p = &rq->repls[g->repl].p;
    ctarget *ts = rq->phases ? rq->cur->t : NULL;
    sb_coord *c = rq->c;
    if (each_quorum_nts(rq, p)) {
        int recv = 0;
        *ok = 1;
        for (int d = 0; d < p->ndcs; d++) {
            if (p->dcs[d].rf <= 0)
                continue;
            int need = quorum(p->dcs[d].rf), got = 0;
            for (int i = 0; i < g->ntg; i++) {
                const ctarget *t = &ts[g->tg[i]];
                if (t->acked && strcmp(t->dc, p->dcs[d].dc) == 0)
                    got++;
            }
            recv += got < need ? got : need;
            if (got < need)
                *ok = 0;
        }
        return recv;
    }
    int recv = 0;
    for (int i = 0; i < g->ntg; i++) {
        const ctarget *t = &ts[g->tg[i]];
        if (is_local_cl(rq->cl) && strcmp(t->dc, c->local_dc) != 0)
            continue;
        if (t->acked || (rq->cl == SB_CL_ANY && t->hint_durable))
            recv++;
    }
    *ok = recv >= g->blockfor;
    return recv;
}

static void write_check(creq *rq)
{
    if (rq->finished)
        return;
    for (int i = 0; i < rq->ngroups; i++) {
        int ok;
        group_received(rq, &rq->groups[i], &ok);
        if (!ok)
            return;
    }
    coord_finish(rq, 0, "ok");
}

static void on_hint_durable(void *arg, int status)
{
    ctarget *t = arg;
    creq *rq = t->req;
    op_ended(rq, t, CT_HINT);
    if (!rq->c) {
        if (rq->pending == 0)
            req_free(rq);
        return;
    }
    if (status == 0) {
        t->hint_durable = 1;
        write_check(rq);
    }
    coord_settle(rq);
}

/* A replica that is down or did not acknowledge gets a hint (the local
 * node never hints itself). */
static void hint(ctarget *t)
{
    creq *rq = t->req;
    sb_coord *c = rq->c;
    if (!c->h || t->local || t->nmuts == 0)
        return;
    int any = rq->cl == SB_CL_ANY && !rq->finished;
    int rc = sb_hints_store(c->h, &t->ep, t->muts, t->nmuts, any ? on_hint_durable : NULL,
                            any ? t : NULL);
    if (rc) {
        char e[SB_EP_STRLEN];
        SB_DEBUG("coord", "hint refused", "target=%s err=%s", sb_ep_str(&t->ep, e), sb_errname(rc));
        return;
    }
    c->stats.hints_written++;
    if (any) {
        SB_ASSERT(t->state == CT_FAILED);
        t->state = CT_HINT;
        rq->pending++;
    }
}

/* A replica refused the write (its disk is full or failed): it will not
 * acknowledge, so when too few replicas are left for a group to reach its
 * consistency level the client learns why now rather than at the write
 * timeout (Cassandra's WriteFailure). */
static void write_refused_check(creq *rq, const ctarget *failed)
{
    if (rq->finished || rq->cl == SB_CL_ANY)
        return;
    for (int i = 0; i < rq->ngroups; i++) {
        const cgroup *g = &rq->groups[i];
        if (each_quorum_nts(rq, &rq->repls[g->repl].p))
            continue; /* per-DC counts: left to the timeout */
        int possible = 0, ok;
        for (int k = 0; k < g->ntg; k++) {
            const ctarget *t = &rq->cur->t[g->tg[k]];
            if (is_local_cl(rq->cl) && strcmp(t->dc, rq->c->local_dc) != 0)
                continue;
            possible += !t->refused;
        }
        if (possible >= g->blockfor)
            continue;
        rq->res.received = group_received(rq, g, &ok);
        rq->res.required = g->blockfor;
        char e[SB_EP_STRLEN], why[512] = "";
        if (failed->local && rq->c->o.local_refusal)
            rq->c->o.local_refusal(rq->c->o.local_refusal_arg, why, sizeof why);
        if (!why[0])
            snprintf(why, sizeof why, "%s on %s",
                     failed->refused == SB_EDISKFULL ? "disk full" : "disk failure",
                     sb_ep_str(&failed->ep, e));
        coord_finish(rq, failed->refused,
                     "%s (the replica refused the write; %d of %d required "
                     "replicas can still acknowledge at %s)",
                     why, possible, g->blockfor, cl_name(rq->cl));
        return;
    }
}

static void write_result(ctarget *t, int status)
{
    creq *rq = t->req;
    if (status == 0) {
        SB_ASSERT(!t->acked); /* one acknowledgement per replica */
        t->state = CT_DONE;
        t->acked = 1;
        write_check(rq);
        return;
    }
    t->state = CT_FAILED;
    if (status == SB_EDISKFULL || status == SB_EIO) {
        t->refused = status;
        write_refused_check(t->req, t);
    }
    hint(t);
}

static void write_on_timeout(creq *rq)
{
    if (!rq->finished) {
        int minrecv = -1, bf = 0;
        for (int i = 0; i < rq->ngroups; i++) {
            int ok, r = group_received(rq, &rq->groups[i], &ok);
            if (!ok && (minrecv < 0 || r < minrecv)) {
                minrecv = r;
                bf = rq->groups[i].blockfor;
            }
        }
        rq->res.received = minrecv < 0 ? 0 : minrecv;
        rq->res.required = bf;
        coord_finish(rq, SB_ETIMEOUT,
                     "Operation timed out - received only %d responses of %d required (%s)",
                     rq->res.received, bf, cl_name(rq->cl));
    }
    /* Replicas that did not answer in time get a hint. */
    cphase *ph = rq->cur;
    for (int i = 0; ph && i < ph->nt; i++) {
        ctarget *t = &ph->t[i];
        if (t->state != CT_RPC)
            continue;
        sb_rpc_cancel(rq->c->rpc, t->rpc_id);
        op_ended(rq, t, CT_RPC);
        hint(t);
    }
}

static int find_target(cphase *ph, int *nt, const creplica *r)
{
    for (int i = 0; i < *nt; i++)
        if (sb_ep_eq(&ph->t[i].ep, &r->ep))
            return i;
    SB_ASSERT(*nt < ph->nt); /* a phase has room for every ring node */
    ctarget *t = &ph->t[*nt];
    t->ep = r->ep;
    t->dc = r->dc;
    t->local = r->local;
    t->up = r->up;
    return (*nt)++;
}

static int find_group(creq *rq, int repl, const int *tg, int ntg)
{
    for (int i = 0; i < rq->ngroups; i++) {
        cgroup *g = &rq->groups[i];
        if (g->repl == repl && g->ntg == ntg && memcmp(g->tg, tg, sizeof(int) * ntg) == 0)
            return i;
    }
    SB_ASSERT((size_t)rq->ngroups < (rq->nents ? rq->nents : 1)); /* one per entry at most */
    cgroup *g = &rq->groups[rq->ngroups];
    g->repl = repl;
    g->ntg = ntg;
    memcpy(g->tg, tg, sizeof(int) * ntg);
    return rq->ngroups++;
}

/* Availability of a group before anything is sent. */
static int group_available(creq *rq, cgroup *g)
{
    const sb_repl *p = &rq->repls[g->repl].p;
    ctarget *ts = rq->cur->t;
    sb_coord *c = rq->c;
    if (rq->cl == SB_CL_ANY && c->h && g->ntg > 0)
        return 1;
    if (each_quorum_nts(rq, p)) {
        for (int d = 0; d < p->ndcs; d++) {
            if (p->dcs[d].rf <= 0)
                continue;
            int need = quorum(p->dcs[d].rf), alive = 0;
            for (int i = 0; i < g->ntg; i++)
                if (ts[g->tg[i]].up && strcmp(ts[g->tg[i]].dc, p->dcs[d].dc) == 0)
                    alive++;
            if (alive < need) {
                unavailable(rq, need, alive);
                return 0;
            }
        }
        return 1;
    }
    if (g->ntg == 0) {
        unavailable(rq, g->blockfor, 0);
        return 0;
    }
    int alive = 0;
    for (int i = 0; i < g->ntg; i++) {
        const ctarget *t = &ts[g->tg[i]];
        if (t->up && (!is_local_cl(rq->cl) || strcmp(t->dc, c->local_dc) == 0))
            alive++;
    }
    if (alive < g->blockfor) {
        unavailable(rq, g->blockfor, alive);
        return 0;
    }
    return 1;
}

/* Views of the mutation's entries (pointing into rq->mut: no copy). */
static int view_entries(creq *rq)
{
    int rc = sb_mutation_decode(rq->mut.data, rq->mut.len, &rq->ents, &rq->nents);
    return rc == SB_EBADINPUT ? SB_EINVAL : rc;
}

/* Appends the token's pending replicas, and its replicas under the
 * topology's current ring, that are not among reps (this coordinator's
 * ring, which gossip updates and may lag or lead the topology) to reps
 * (room for SB_MAX_REPLICAS) and returns how many acknowledgements they
 * add to the level's count: all of them, or for a LOCAL_* level the local
 * datacenter's (EACH_QUORUM counts per datacenter over reps only). While
 * the rings agree only the pending replicas are added. */
static int add_pending(creq *rq, const sb_repl *p, int64_t tok, creplica *reps, int *nr)
{
    sb_coord *c = rq->c;
    sb_ep pe[SB_MAX_REPLICAS];
    int np = sb_topo_write_eps(rq->pend, p, tok, pe, SB_MAX_REPLICAS), extra = 0;
    for (int k = 0; k < np && *nr < SB_MAX_REPLICAS; k++) {
        int dup = 0;
        for (int j = 0; j < *nr && !dup; j++)
            dup = sb_ep_eq(&reps[j].ep, &pe[k]);
        if (dup)
            continue;
        creplica *r = &reps[(*nr)++];
        r->ep = pe[k];
        r->dc = sb_topo_pending_dc(rq->pend, &pe[k]);
        r->local = sb_ep_eq(&pe[k], &c->self);
        r->up = r->local || sb_gossip_is_up(c->g, &pe[k]);
        if (!is_local_cl(rq->cl) || strcmp(r->dc, c->local_dc) == 0)
            extra++;
    }
    return each_quorum_nts(rq, p) ? 0 : extra;
}

static void write_start(creq *rq)
{
    sb_coord *c = rq->c;
    rq->pend = c->pending;
    sb_topo_pending_ref(rq->pend);
    int nnodes = sb_ring_nnodes(rq->ring) + 1 + sb_topo_pending_njoining(rq->pend);
    int *eg = NULL;
    cphase *ph = NULL;
    int rc = view_entries(rq);
    if (rc == SB_EINVAL) {
        coord_finish(rq, SB_EINVALID, "malformed mutation");
        goto out;
    }
    size_t n = rq->nents;
    if (rc || !(eg = sb_calloc(n ? n : 1, sizeof(int))) ||
        !(rq->groups = sb_calloc(n ? n : 1, sizeof(*rq->groups))) ||
        !(ph = coord_phase_new(rq, PH_WRITE, nnodes))) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        goto out;
    }
    int nt = 0;
    for (size_t i = 0; i < n; i++) {
        const sb_raw_mut *e = &rq->ents[i];
        sb_repl *p;
        int ri = coord_lookup_repl(rq, e->table_id, &p);
        if (ri < 0) {
            coord_table_unknown(rq, ri, e->table_id);
            goto out;
        }
        creplica reps[SB_MAX_REPLICAS];
        int64_t tok = sb_raw_token(e->e.key, e->e.klen);
        int nr = coord_replicas(rq, p, tok, reps, 0);
        int extra = add_pending(rq, p, tok, reps, &nr);
        int tg[SB_MAX_REPLICAS];
        for (int k = 0; k < nr; k++)
            tg[k] = find_target(ph, &nt, &reps[k]);
        eg[i] = find_group(rq, ri, tg, nr);
        cgroup *g = &rq->groups[eg[i]];
        g->blockfor = sb_coord_blockfor(rq->ring, p, NULL, 0, rq->cl, c->local_dc) + extra;
    }
    ph->nt = nt; /* the rest of the array stays unused */
    for (int i = 0; i < rq->ngroups; i++)
        if (!group_available(rq, &rq->groups[i]))
            goto out;
    /* Each target gets the entries of every group it belongs to. */
    for (int ti = 0; ti < nt; ti++) {
        ctarget *t = &ph->t[ti];
        size_t cnt = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                cgroup *g = &rq->groups[eg[i]];
                for (int k = 0; k < g->ntg; k++)
                    if (g->tg[k] == ti) {
                        if (pass)
                            t->muts[t->nmuts++] = rq->ents[i];
                        else
                            cnt++;
                        break;
                    }
            }
            if (!pass && !(t->muts = sb_calloc(cnt ? cnt : 1, sizeof(*t->muts)))) {
                coord_finish(rq, SB_ESERVER, "out of memory");
                goto out;
            }
        }
        SB_ASSERT(t->nmuts <= n);
        t->whole = t->nmuts == n;
    }
    for (int ti = 0; ti < nt; ti++)
        if (!ph->t[ti].up) {
            ph->t[ti].state = CT_FAILED;
            hint(&ph->t[ti]);
        }
    coord_send_mutations(rq, ph, c->o.write_timeout_ms);
    if (n == 0)
        coord_finish(rq, 0, "ok (nothing to write)");
out:
    free(eg);
}

/* Counts rq against max_inflight; 0 when admitted, else finishes rq
 * with SB_EOVERLOADED (delivered from its 0 ms timer). */
static int admit(creq *rq)
{
    sb_coord *c = rq->c;
    if (c->o.max_inflight && c->ninflight >= c->o.max_inflight) {
        c->stats.overloaded++;
        coord_finish(rq, SB_EOVERLOADED,
                     "Overloaded: the coordinator holds %u requests in flight (max_inflight %u)",
                     c->ninflight, c->o.max_inflight);
        return SB_EOVERLOADED;
    }
    c->ninflight++;
    rq->counted = 1;
    return 0;
}

void coord_send_refused(creq *rq, int rc)
{
    if (rc != SB_EOVERLOADED || rq->finished)
        return;
    sb_coord *c = rq->c;
    sb_rpc_stats st;
    sb_rpc_get_stats(c->rpc, &st);
    c->stats.overloaded++;
    coord_finish(rq, SB_EOVERLOADED,
                 "Overloaded: %llu rpc calls pending on this node (rpc max_pending %zu)",
                 (unsigned long long)st.pending, sb_rpc_max_pending(c->rpc));
}

static int valid_cl(int cl)
{
    return cl >= SB_CL_ANY && cl <= SB_CL_LOCAL_ONE;
}

void sb_coord_refuse_writes(sb_coord *c, const char *why)
{
    snprintf(c->write_refusal, sizeof c->write_refusal, "%s", why ? why : "");
}

int sb_coord_write_mutation(sb_coord *c, sb_buf *mut, int cl, const char *write_type,
                            sb_coord_write_cb cb, void *arg)
{
    if (!valid_cl(cl) || cl == SB_CL_SERIAL || cl == SB_CL_LOCAL_SERIAL) {
        sb_buf_free(mut);
        return SB_EINVALID;
    }
    creq *rq = coord_req_new(c, RQ_WRITE, cl, c->o.write_timeout_ms);
    if (!rq) {
        sb_buf_free(mut);
        return SB_ENOMEM;
    }
    rq->mut = *mut; /* ownership moves to the request */
    sb_buf_init(mut);
    rq->wcb = cb;
    rq->arg = arg;
    rq->res.write_type = write_type;
    if (c->write_refusal[0])
        coord_finish(rq, SB_ESERVER, "%s", c->write_refusal);
    else if (admit(rq) == 0)
        write_start(rq);
    rq->starting = 0;
    coord_settle(rq);
    return 0;
}

int sb_coord_write(sb_coord *c, const sb_raw_mut *m, size_t n, int cl, const char *write_type,
                   sb_coord_write_cb cb, void *arg)
{
    sb_buf mut;
    sb_buf_init(&mut);
    int rc = sb_mutation_encode(&mut, m, n);
    if (rc) {
        sb_buf_free(&mut);
        return rc;
    }
    return sb_coord_write_mutation(c, &mut, cl, write_type, cb, arg);
}

/* --- reads ------------------------------------------------------------------ */

int sb_coord_read(sb_coord *c, const sb_rawq *q, int cl, sb_coord_read_cb cb, void *arg)
{
    if (!valid_cl(cl) || cl == SB_CL_ANY)
        return SB_EINVALID;
    int range = q->head_lo.len == 0;
    creq *rq = coord_req_new(c, range ? RQ_RANGE : RQ_READ, cl,
                             range ? c->o.range_timeout_ms : c->o.read_timeout_ms);
    if (!rq)
        return SB_ENOMEM;
    rq->rcb = cb;
    rq->arg = arg;
    memcpy(rq->q.table_id, q->table_id, 16);
    rq->q.reversed = q->reversed;
    rq->q.max_entries = q->max_entries;
    rq->q.max_bytes = q->max_bytes;
    if (sb_buf_append(&rq->q.head_lo, q->head_lo.data, q->head_lo.len) ||
        sb_buf_append(&rq->q.head_hi, q->head_hi.data, q->head_hi.len) ||
        sb_buf_append(&rq->q.lo, q->lo.data, q->lo.len) ||
        sb_buf_append(&rq->q.hi, q->hi.data, q->hi.len))
        coord_finish(rq, SB_ESERVER, "out of memory");
    else if (admit(rq) == 0 && range) /* a refused one is finished already */
        coord_range_start(rq);
    else if (rq->counted)
        coord_read_start(rq);
    rq->starting = 0;
    coord_settle(rq);
    return 0;
}

/* --- truncate --------------------------------------------------------------- */

static void truncate_result(ctarget *t, int status)
{
    creq *rq = t->req;
    cphase *ph = t->ph;
    if (status == 0 || status == SB_ENOTFOUND) {
        /* A node that does not know the table has nothing to truncate. */
        t->state = CT_DONE;
        if (++ph->nresp == ph->nt)
            coord_finish(rq, 0, "ok");
        return;
    }
    if (status == SB_ETIMEOUT || status == SB_ECLOSED)
        return; /* the request's timer decides */
    char e[SB_EP_STRLEN];
    coord_finish(rq, SB_ESERVER, "truncate failed on %s: %s", sb_ep_str(&t->ep, e),
                 sb_strerror(status));
}

int sb_coord_truncate(sb_coord *c, const uint8_t table_id[16], sb_coord_write_cb cb, void *arg)
{
    creq *rq = coord_req_new(c, RQ_TRUNCATE, SB_CL_ALL, c->o.truncate_timeout_ms);
    if (!rq)
        return SB_ENOMEM;
    rq->wcb = cb;
    rq->arg = arg;
    rq->res.write_type = "TRUNCATE";
    memcpy(rq->q.table_id, table_id, 16);
    sb_repl *p;
    int rc = coord_lookup_repl(rq, table_id, &p);
    int nn = sb_ring_nnodes(rq->ring);
    cphase *ph = NULL;
    if (admit(rq)) {
        /* refused: finished with SB_EOVERLOADED */
    } else if (rc < 0) {
        coord_table_unknown(rq, rc, table_id);
    } else if (!(ph = coord_phase_new(rq, PH_TRUNCATE, nn + 1))) {
        coord_finish(rq, SB_ESERVER, "out of memory");
    } else {
        int nt = 0, alive = 0, self_in = 0;
        for (int i = 0; i < nn; i++) {
            const sb_ring_node *nd = sb_ring_node_at(rq->ring, i);
            creplica r = {nd->ep, nd->dc, sb_ep_eq(&nd->ep, &c->self), 0};
            r.up = r.local || sb_gossip_is_up(c->g, &nd->ep);
            self_in |= r.local;
            find_target(ph, &nt, &r);
        }
        if (!self_in) {
            creplica r = {c->self, c->local_dc, 1, 1};
            find_target(ph, &nt, &r);
        }
        ph->nt = nt;
        for (int i = 0; i < nt; i++)
            alive += ph->t[i].up;
        if (alive < nt) {
            unavailable(rq, nt, alive);
        } else {
            for (int i = 0; i < nt && !rq->finished; i++) {
                ctarget *t = &ph->t[i];
                rc = t->local
                         ? start_local(t)
                         : start_rpc(t, SB_MSG_TRUNCATE, table_id, 16, c->o.truncate_timeout_ms);
                if (rc) {
                    t->state = CT_FAILED;
                    coord_send_refused(rq, rc);
                    truncate_result(t, rc);
                }
            }
        }
    }
    rq->starting = 0;
    coord_settle(rq);
    return 0;
}

/* --- the request timer ------------------------------------------------------- */

static void on_req_timeout(void *arg)
{
    creq *rq = arg;
    rq->timer = NULL;
    if (rq->kind == RQ_WRITE) {
        write_on_timeout(rq);
    } else if (rq->kind == RQ_TRUNCATE) {
        int got = rq->cur ? rq->cur->nresp : 0;
        rq->res.received = got;
        rq->res.required = rq->cur ? rq->cur->nt : 0;
        coord_finish(rq, SB_ETIMEOUT, "Truncate timed out - received %d of %d responses", got,
                     rq->res.required);
    } else {
        coord_read_on_timeout(rq);
    }
    coord_settle(rq);
}
