/*
 * The proposer of lightweight transactions (coord.h "LIGHTWEIGHT
 * TRANSACTIONS"; design and invariants in docs/lwt.md).
 *
 * A round object (sb_coord_paxos) walks these states:
 *
 *   PREPARE --quorum of promises--> [REPAIR_PROPOSE -> REPAIR_COMMIT ->
 *   PREPARE again] --> [SYNC: the most recent commit to the responders
 *   that lack it] --> READY (handed to the caller) --propose--> PROPOSE
 *   --quorum of acceptances--> COMMIT --commit_cl acks--> done
 *
 * A refused prepare (a higher promise somewhere) is contention: after a
 * random backoff the round prepares again with a ballot above the
 * highest promise seen, until the deadline (write_timeout_ms from
 * begin). A refused proposal that no replica accepted is retryable: the
 * caller re-reads and decides again on a new round. A proposal some
 * replica accepted but not a quorum is indeterminate (the next round may
 * finish it), so it is a WriteTimeout of type CAS, as in Cassandra.
 *
 * Every message goes to the live participants (all replicas for SERIAL,
 * those of the local datacenter for LOCAL_SERIAL); the local replica is
 * served through the acceptor directly from a 0 ms timer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "coord/paxos_int.h"
#include "util/alloc.h"
#include "util/consistency.h"
#include "util/err.h"
#include "util/log.h"

#define PAXOS_BACKOFF_MAX_MS 100
#define PAXOS_MAX_PREPARES 64

enum { PX_PREPARE, PX_REPAIR_PROPOSE, PX_REPAIR_COMMIT, PX_SYNC, PX_READY, PX_PROPOSE, PX_COMMIT };

typedef struct plocal plocal;
typedef struct prpc prpc;

typedef struct pcall {
    int state; /* 0 idle, 1 rpc, 2 local, 3 answered, 4 failed */
    uint64_t rpc_id;
    prpc *remote;
    plocal *local;
} pcall;

/* A remote call's context (freed by its callback, or when cancelled). */
struct prpc {
    sb_coord_paxos *p;
    int idx, gen;
};

/* A message to the local acceptor: queued on a 0 ms timer, then waiting
 * for the acceptor's answer. It belongs to the coordinator (c->paxos_locals)
 * until answered, so that a round that stopped listening (p = NULL) still
 * delivers it: a commit must reach the local replica even when the caller
 * has had its answer. */
struct plocal {
    sb_coord *c;
    plocal *prev, *next;
    sb_coord_paxos *p; /* NULL: nobody waits for the answer */
    int idx, gen, type;
    sb_io_timer *timer;
    sb_buf body;
};

typedef struct pxrep {
    sb_ep ep;
    int local, up, participant;
    sb_ballot committed; /* from its prepare answer */
} pxrep;

struct sb_coord_paxos {
    sb_coord *c; /* NULL once the coordinator is gone */
    sb_coord_paxos *prev, *next;
    int state;
    int gen; /* of the current message round; older answers are dropped */
    uint8_t tid[16];
    sb_buf key;
    int serial_cl, commit_cl;
    const sb_ring *ring;
    pxrep reps[SB_MAX_REPLICAS];
    pcall calls[SB_MAX_REPLICAS];
    int nreps, nlive, required, commit_required;
    sb_ballot ballot, floor;
    int prepares;
    uint64_t deadline_ms;
    sb_io_timer *timer, *backoff;
    /* the round's answers */
    int nok, nrefused, nfailed, nsent;
    sb_ballot inprog;
    sb_buf inprog_mut;
    sb_ballot mrc;
    sb_buf mrc_mut;
    sb_buf mut; /* what PROPOSE/COMMIT carry */
    /* settling: our proposal (mine) reached some replicas but not a
     * quorum; a new prepare finds out whether it was chosen */
    int settling, settle_win;
    sb_ballot mine;
    sb_buf mine_mut;
    sb_coord_result res;
    sb_coord_paxos_cb bcb;
    sb_coord_cas_cb pcb;
    void *arg;
};

static const char *cl_str(int cl)
{
    return sb_consistency_name(cl);
}

static int quorum(int n)
{
    return n / 2 + 1;
}

/* --- lifecycle ------------------------------------------------------------------- */

static void cancel_calls(sb_coord_paxos *p)
{
    for (int i = 0; i < p->nreps; i++) {
        pcall *k = &p->calls[i];
        if (k->state == 1 && p->c) {
            sb_rpc_cancel(p->c->rpc, k->rpc_id);
            free(k->remote);
        }
        if (k->state == 2 && k->local)
            k->local->p = NULL; /* still delivered; the answer is dropped */
        k->remote = NULL;
        k->local = NULL;
        k->state = 0;
    }
    p->gen++;
    p->nok = p->nrefused = p->nfailed = p->nsent = 0;
}

static void unlink_round(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    if (!c)
        return;
    if (p->timer)
        c->io->timer_stop(c->io->ctx, p->timer);
    if (p->backoff)
        c->io->timer_stop(c->io->ctx, p->backoff);
    p->timer = p->backoff = NULL;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->paxos = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    if (p->ring)
        sb_gossip_ring_unref(c->g, p->ring);
    p->ring = NULL;
}

void sb_coord_paxos_free(sb_coord_paxos *p)
{
    if (!p)
        return;
    cancel_calls(p);
    unlink_round(p);
    sb_buf_free(&p->key);
    sb_buf_free(&p->inprog_mut);
    sb_buf_free(&p->mrc_mut);
    sb_buf_free(&p->mut);
    sb_buf_free(&p->mine_mut);
    free(p);
}

/* Ends the round's current step with an outcome for the caller. */
static void finish(sb_coord_paxos *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(sb_coord_paxos *p, int status, const char *fmt, ...)
{
    sb_coord *c = p->c;
    cancel_calls(p);
    if (c && p->timer) {
        c->io->timer_stop(c->io->ctx, p->timer);
        p->timer = NULL;
    }
    p->res.status = status;
    p->res.message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->res.message, sizeof p->res.message, fmt, ap);
        va_end(ap);
    }
    if (c) {
        if (status == SB_ETIMEOUT)
            c->stats.lwt_timeout++;
        else if (status == SB_EUNAVAILABLE)
            c->stats.lwt_unavailable++;
    }
    if (!p->pcb) {
        sb_coord_paxos_cb cb = p->bcb;
        p->bcb = NULL;
        if (status == 0) {
            p->state = PX_READY;
            cb(p->arg, &p->res, p);
        } else {
            sb_coord_result r = p->res;
            void *arg = p->arg;
            sb_coord_paxos_free(p);
            cb(arg, &r, NULL);
        }
        return;
    }
    sb_coord_cas_cb cb = p->pcb;
    sb_coord_result r = p->res;
    void *arg = p->arg;
    sb_coord_paxos_free(p);
    cb(arg, &r, 0);
}

static void timeout(sb_coord_paxos *p)
{

    p->res.write_type = p->state == PX_COMMIT ? "SIMPLE" : "CAS";
    int commit = p->state == PX_COMMIT;
    p->res.consistency = commit ? p->commit_cl : p->serial_cl;
    p->res.received = p->nok;
    p->res.required = commit ? p->commit_required : p->required;
    finish(p, SB_ETIMEOUT, "Operation timed out - received only %d responses of %d required (%s)",
           p->nok, p->res.required, commit ? "commit" : "CAS");
}

static void on_deadline(void *arg)
{
    sb_coord_paxos *p = arg;
    p->timer = NULL;
    timeout(p);
}

static void locals_detach(sb_coord *c);

void coord_paxos_detach(sb_coord *c)
{
    locals_detach(c);
    while (c->paxos) {
        sb_coord_paxos *p = c->paxos;
        unlink_round(p);
        cancel_calls(p);
        p->c = NULL;
        if (p->state == PX_READY)
            continue; /* the caller holds it; propose will refuse */
        p->res.write_type = "CAS";
        finish(p, SB_ECLOSED, "the coordinator is shutting down");
    }
}

/* --- sending ----------------------------------------------------------------------- */

static void on_answer(sb_coord_paxos *p, int idx, int status, const uint8_t *body, size_t len);

static void on_remote(void *arg, int status, const uint8_t *body, size_t len)
{
    prpc *x = arg;
    sb_coord_paxos *p = x->p;
    int idx = x->idx, gen = x->gen;
    free(x);
    if (!p || gen != p->gen)
        return;
    p->calls[idx].remote = NULL;
    p->calls[idx].state = 3;
    on_answer(p, idx, status, body, len);
}

static void local_unlink(plocal *l)
{
    sb_coord *c = l->c;
    if (l->prev)
        l->prev->next = l->next;
    else
        c->paxos_locals = l->next;
    if (l->next)
        l->next->prev = l->prev;
    sb_buf_free(&l->body);
    free(l);
}

static void local_answer(void *arg, int status, const uint8_t *body, size_t len)
{
    plocal *l = arg;
    sb_coord_paxos *p = l->p;
    int idx = l->idx, gen = l->gen;
    local_unlink(l);
    if (!p || gen != p->gen)
        return;
    p->calls[idx].local = NULL;
    p->calls[idx].state = 3;
    on_answer(p, idx, status, body, len);
}

static void on_local_timer(void *arg)
{
    plocal *l = arg;
    l->timer = NULL;
    /* The acceptor answers through local_answer, now or once durable. */
    paxos_acceptor_local(l->c->paxos_acceptor, l->type, l->body.data, l->body.len, local_answer, l);
}

/* The coordinator is going: local messages not yet handed over are
 * dropped; those the acceptor holds are orphaned there. */
static void locals_detach(sb_coord *c)
{
    while (c->paxos_locals) {
        plocal *l = c->paxos_locals;
        if (l->timer)
            c->io->timer_stop(c->io->ctx, l->timer);
        if (l->p)
            l->p->calls[l->idx].local = NULL;
        local_unlink(l);
    }
}

static int send_one(sb_coord_paxos *p, int idx, int type, const sb_buf *body)
{
    sb_coord *c = p->c;
    pcall *k = &p->calls[idx];
    if (p->reps[idx].local) {
        plocal *l = sb_calloc(1, sizeof *l);
        if (!l)
            return SB_ENOMEM;
        l->c = c;
        l->p = p;
        l->idx = idx;
        l->gen = p->gen;
        l->type = type;
        sb_buf_init(&l->body);
        if (sb_buf_append(&l->body, body->data, body->len) ||
            !(l->timer = c->io->timer_start(c->io->ctx, 0, on_local_timer, l))) {
            sb_buf_free(&l->body);
            free(l);
            return SB_ENOMEM;
        }
        l->next = c->paxos_locals;
        if (l->next)
            l->next->prev = l;
        c->paxos_locals = l;
        k->local = l;
        k->state = 2;
        return 0;
    }
    prpc *x = sb_malloc(sizeof *x);
    if (!x)
        return SB_ENOMEM;
    x->p = p;
    x->idx = idx;
    x->gen = p->gen;
    uint32_t left = (uint32_t)(p->deadline_ms > c->io->mono_ms(c->io->ctx)
                                   ? p->deadline_ms - c->io->mono_ms(c->io->ctx)
                                   : 1);
    int rc = sb_rpc_call(c->rpc, &p->reps[idx].ep, type, body->data, body->len, left, on_remote, x,
                         &k->rpc_id);
    if (rc) {
        free(x);
        return rc;
    }
    k->remote = x;
    k->state = 1;
    return 0;
}

/* Sends body to the live replicas (participants only, unless all). The
 * answers come to on_answer; a send that fails counts as failed. */
static void send_round(sb_coord_paxos *p, int type, int all)
{
    cancel_calls(p);
    sb_buf body;
    sb_buf_init(&body);
    const uint8_t *m = p->mut.data;
    size_t ml = p->mut.len;
    int rc = paxos_put_request(&body, p->tid, p->key.data, p->key.len, &p->ballot, m, ml,
                               type != SB_MSG_PAXOS_PREPARE);
    for (int i = 0; i < p->nreps; i++) {
        if (!p->reps[i].up || (!all && !p->reps[i].participant))
            continue;
        p->nsent++;
        if (rc || send_one(p, i, type, &body) != 0) {
            p->nfailed++;
            p->calls[i].state = 4;
        }
    }
    sb_buf_free(&body);
}

/* --- rounds -------------------------------------------------------------------------- */

static void prepare(sb_coord_paxos *p);

static void on_backoff(void *arg)
{
    sb_coord_paxos *p = arg;
    p->backoff = NULL;
    prepare(p);
}

/* Contention at prepare: try again after a random pause, if time is left. */
static void contended(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    cancel_calls(p);
    c->stats.lwt_contention++;
    uint64_t pause = 1 + c->io->random(c->io->ctx) % PAXOS_BACKOFF_MAX_MS;
    if (p->prepares >= PAXOS_MAX_PREPARES || c->io->mono_ms(c->io->ctx) + pause >= p->deadline_ms) {
        timeout(p);
        return;
    }
    p->backoff = c->io->timer_start(c->io->ctx, pause, on_backoff, p);
    if (!p->backoff)
        finish(p, SB_ESERVER, "out of memory");
}

static void prepare(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    p->prepares++;
    p->state = PX_PREPARE;
    p->ballot =
        paxos_ballot_next(&c->paxos_last, &p->floor, c->io->now_us(c->io->ctx), c->paxos_node);
    p->inprog = p->mrc = (sb_ballot){0, 0};
    sb_buf_reset(&p->inprog_mut);
    sb_buf_reset(&p->mrc_mut);
    for (int i = 0; i < p->nreps; i++)
        p->reps[i].committed = (sb_ballot){0, 0};
    send_round(p, SB_MSG_PAXOS_PREPARE, 0);
    if (p->nsent - p->nfailed < p->required)
        timeout(p);
}

/* A quorum promised. Finish an in-progress proposal, or bring the
 * responders up to the most recent commit, or hand the round over. */
static void settle_decide(sb_coord_paxos *p);
static void retry_now(sb_coord_paxos *p);

static void prepared(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    if (p->settling) {
        settle_decide(p);
        return;
    }
    if (p->ballot.us <= p->mrc.us) {
        /* Our ballot beats the latest commit on the node bits alone. Its
         * microseconds are the cells' write time, so ours would tie with
         * what that commit wrote and last-write-wins would pick by value:
         * prepare again, later than the commit. */
        p->floor = p->mrc;
        cancel_calls(p);
        prepare(p);
        return;
    }
    if (paxos_ballot_cmp(&p->inprog, &p->mrc) > 0) {
        /* Someone's proposal may have been chosen: finish it under our
         * ballot before anything else (Paxos's "adopt the highest
         * accepted value"). */
        c->stats.lwt_repairs++;
        sb_buf_reset(&p->mut);
        if (sb_buf_append(&p->mut, p->inprog_mut.data, p->inprog_mut.len)) {
            finish(p, SB_ESERVER, "out of memory");
            return;
        }
        p->state = PX_REPAIR_PROPOSE;
        send_round(p, SB_MSG_PAXOS_PROPOSE, 0);
        return;
    }
    int lagging = 0;
    for (int i = 0; i < p->nreps; i++)
        if (p->calls[i].state == 3 && p->reps[i].participant &&
            paxos_ballot_cmp(&p->reps[i].committed, &p->mrc) < 0)
            lagging = 1;
    if (lagging && !paxos_ballot_is_zero(&p->mrc)) {
        /* A quorum must hold the latest commit before the caller reads at
         * quorum; send it to the responders that lack it. */
        int mark[SB_MAX_REPLICAS] = {0};
        for (int i = 0; i < p->nreps; i++)
            mark[i] = p->calls[i].state == 3 && p->reps[i].participant &&
                      paxos_ballot_cmp(&p->reps[i].committed, &p->mrc) < 0;
        cancel_calls(p);
        sb_buf_reset(&p->mut);
        sb_buf body;
        sb_buf_init(&body);
        int rc = sb_buf_append(&p->mut, p->mrc_mut.data, p->mrc_mut.len);
        rc = rc ? rc
                : paxos_put_request(&body, p->tid, p->key.data, p->key.len, &p->mrc, p->mut.data,
                                    p->mut.len, 1);
        p->state = PX_SYNC;
        for (int i = 0; i < p->nreps; i++) {
            if (!mark[i])
                continue;
            p->nsent++;
            if (rc || send_one(p, i, SB_MSG_PAXOS_COMMIT, &body) != 0) {
                p->nfailed++;
                p->calls[i].state = 4;
            }
        }
        sb_buf_free(&body);
        if (p->nfailed == p->nsent)
            timeout(p);
        return;
    }
    finish(p, 0, NULL);
}

static void on_prepare_answer(sb_coord_paxos *p, int idx, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    sb_ballot promise, acc, com;
    const uint8_t *am, *cm;
    size_t al, cl;
    uint8_t ok = sb_wire_get_u8(&r);
    paxos_get_ballot(&r, &promise);
    paxos_get_ballot(&r, &acc);
    sb_wire_get_bytes(&r, &am, &al, len);
    paxos_get_ballot(&r, &com);
    sb_wire_get_bytes(&r, &cm, &cl, len);
    if (r.err || r.off != len) {
        p->nfailed++;
        return;
    }
    if (!ok) {
        p->nrefused++;
        if (paxos_ballot_cmp(&promise, &p->floor) > 0)
            p->floor = promise;
        return;
    }
    p->nok++;
    p->reps[idx].committed = com;
    if (paxos_ballot_cmp(&acc, &p->inprog) > 0) {
        p->inprog = acc;
        sb_buf_reset(&p->inprog_mut);
        if (sb_buf_append(&p->inprog_mut, am, al))
            p->nfailed++;
    }
    if (paxos_ballot_cmp(&com, &p->mrc) > 0) {
        p->mrc = com;
        sb_buf_reset(&p->mrc_mut);
        if (sb_buf_append(&p->mrc_mut, cm, cl))
            p->nfailed++;
    }
}

static void on_propose_answer(sb_coord_paxos *p, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    sb_ballot promise;
    uint8_t ok = sb_wire_get_u8(&r);
    paxos_get_ballot(&r, &promise);
    if (r.err || r.off != len) {
        p->nfailed++;
        return;
    }
    if (ok) {
        p->nok++;
        return;
    }
    p->nrefused++;
    if (paxos_ballot_cmp(&promise, &p->floor) > 0)
        p->floor = promise;
}

static void commit(sb_coord_paxos *p, int state)
{
    p->state = state;
    send_round(p, SB_MSG_PAXOS_COMMIT, 1);
    if (p->nsent - p->nfailed < p->commit_required)
        timeout(p);
}

static void on_retry_pause(void *arg)
{
    sb_coord_paxos *p = arg;
    p->backoff = NULL;
    sb_coord_cas_cb cb = p->pcb;
    sb_coord_result r = p->res;
    void *cbarg = p->arg;
    sb_coord_paxos_free(p);
    cb(cbarg, &r, 1);
}

/* The proposal was refused. Retryable only if certainly accepted nowhere:
 * every replica asked answered, and none accepted. */
static void propose_refused(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    if (p->nok > 0 || p->nfailed > 0) {
        /* Some replica may hold our proposal: it may yet be chosen by
         * whoever prepares next. Prepare again ourselves to find out. */
        p->settling = 1;
        p->mine = p->ballot;
        sb_buf_reset(&p->mine_mut);
        if (sb_buf_append(&p->mine_mut, p->mut.data, p->mut.len)) {
            timeout(p);
            return;
        }
        contended(p);
        return;
    }
    c->stats.lwt_contention++;
    cancel_calls(p);
    uint64_t pause = 1 + c->io->random(c->io->ctx) % PAXOS_BACKOFF_MAX_MS;
    if (c->io->mono_ms(c->io->ctx) + pause >= p->deadline_ms) {
        timeout(p);
        return;
    }
    if (p->timer) {
        c->io->timer_stop(c->io->ctx, p->timer);
        p->timer = NULL;
    }
    p->res.status = 0;
    p->backoff = c->io->timer_start(c->io->ctx, pause, on_retry_pause, p);
    if (!p->backoff)
        finish(p, SB_ESERVER, "out of memory");
}

static void retry_now(sb_coord_paxos *p)
{
    sb_coord_cas_cb cb = p->pcb;
    sb_coord_result r = p->res;
    r.status = 0;
    void *cbarg = p->arg;
    sb_coord_paxos_free(p);
    cb(cbarg, &r, 1);
}

/* After a prepare that followed our partly accepted proposal `mine`:
 *   the latest commit is mine (or carries our mutation: a repairer
 *       finished it)                        -> applied;
 *   a newer accepted proposal is in flight  -> finish it under our ballot;
 *       applied if it carries our mutation, else ours is now beyond
 *       choosing (a quorum accepted a higher ballot) -> retry;
 *   nothing in flight, latest commit older  -> make ours unchoosable by
 *       having a quorum accept an empty proposal, then retry;
 *   nothing in flight, latest commit newer  -> ours may have been chosen
 *       and then overtaken: the outcome is unknown -> WriteTimeout CAS. */
static void settle_decide(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    /* A repairer commits our mutation under its own ballot; the bytes
     * tell, as they carry our ballot's time in every cell. */
    if (paxos_ballot_cmp(&p->mrc, &p->mine) == 0 ||
        (p->mrc_mut.len == p->mine_mut.len &&
         !memcmp(p->mrc_mut.data, p->mine_mut.data, p->mine_mut.len))) {
        finish(p, 0, NULL);
        return;
    }
    if (paxos_ballot_cmp(&p->mrc, &p->mine) > 0) {
        /* A commit newer than ours: ours may have been chosen, committed
         * and then overtaken, leaving no trace in the state a prepare
         * sees. Whatever is in flight now, the outcome is unknown. */
        timeout(p);
        return;
    }
    sb_buf_reset(&p->mut);
    if (paxos_ballot_cmp(&p->inprog, &p->mrc) > 0) {
        p->settle_win = paxos_ballot_cmp(&p->inprog, &p->mine) == 0 ||
                        (p->inprog_mut.len == p->mine_mut.len &&
                         !memcmp(p->inprog_mut.data, p->mine_mut.data, p->mine_mut.len));
        if (sb_buf_append(&p->mut, p->inprog_mut.data, p->inprog_mut.len)) {
            timeout(p);
            return;
        }
        c->stats.lwt_repairs++;
    } else {
        p->settle_win = 0;
        if (sb_mutation_init(&p->mut)) {
            timeout(p);
            return;
        }
    }
    p->state = PX_REPAIR_PROPOSE;
    send_round(p, SB_MSG_PAXOS_PROPOSE, 0);
    if (p->nsent - p->nfailed < p->required)
        timeout(p);
}

static void on_answer(sb_coord_paxos *p, int idx, int status, const uint8_t *body, size_t len)
{
    if (status == 0 && len < 4)
        status = SB_EBADINPUT;
    if (status == 0)
        status = (int32_t)sb_be32_get(body);
    if (status != 0) {
        p->nfailed++;
    } else if (p->state == PX_PREPARE) {
        on_prepare_answer(p, idx, body + 4, len - 4);
    } else if (p->state == PX_PROPOSE || p->state == PX_REPAIR_PROPOSE) {
        on_propose_answer(p, body + 4, len - 4);
    } else {
        p->nok++; /* a commit: durable on that replica */
    }
    int answered = p->nok + p->nrefused + p->nfailed;
    switch (p->state) {
    case PX_PREPARE:
        if (p->nrefused > 0)
            contended(p);
        else if (p->nok >= p->required)
            prepared(p);
        else if (p->nsent - p->nfailed < p->required)
            timeout(p);
        break;
    case PX_REPAIR_PROPOSE:
        if (p->nok >= p->required)
            commit(p, PX_REPAIR_COMMIT);
        else if (p->nrefused > 0)
            contended(p);
        else if (p->nsent - p->nfailed < p->required)
            timeout(p);
        break;
    case PX_REPAIR_COMMIT:
        if (p->nok >= p->required && p->settling && p->settle_win)
            finish(p, 0, NULL); /* what got committed is our proposal */
        else if (p->nok >= p->required && p->settling)
            retry_now(p); /* ours can no longer be chosen: decide again */
        else if (p->nok >= p->required)
            prepare(p); /* the next round starts from the repaired state */
        else if (p->nsent - p->nfailed < p->required)
            timeout(p);
        break;
    case PX_SYNC:
        if (answered == p->nsent) {
            if (p->nfailed)
                timeout(p);
            else
                finish(p, 0, NULL);
        }
        break;
    case PX_PROPOSE:
        if (p->nok >= p->required)
            commit(p, PX_COMMIT);
        else if (answered == p->nsent)
            propose_refused(p);
        break;
    case PX_COMMIT:
        if (p->nok >= p->commit_required)
            finish(p, 0, NULL);
        else if (p->nsent - p->nfailed < p->commit_required)
            timeout(p);
        break;
    default:
        break;
    }
}

/* --- the interface ------------------------------------------------------------------ */

int sb_coord_paxos_read_cl(int serial_cl)
{
    return serial_cl == SB_CL_LOCAL_SERIAL ? SB_CL_LOCAL_QUORUM : SB_CL_QUORUM;
}

int64_t sb_coord_paxos_timestamp(const sb_coord_paxos *p)
{
    return p->ballot.us;
}

static void on_begin_deliver(void *arg)
{
    sb_coord_paxos *p = arg;
    p->backoff = NULL;
    sb_coord_paxos_cb cb = p->bcb;
    sb_coord_result r = p->res;
    void *cbarg = p->arg;
    sb_coord_paxos_free(p);
    cb(cbarg, &r, NULL);
}

/* An outcome known before anything was sent, delivered from a 0 ms timer
 * (callbacks never run synchronously). */
static int fail_early(sb_coord_paxos *p, int status, const char *msg)
{
    sb_coord *c = p->c;
    p->res.status = status;
    snprintf(p->res.message, sizeof p->res.message, "%s", msg);
    if (p->timer) {
        c->io->timer_stop(c->io->ctx, p->timer);
        p->timer = NULL;
    }
    p->backoff = c->io->timer_start(c->io->ctx, 0, on_begin_deliver, p);
    if (!p->backoff) {
        sb_coord_paxos_free(p);
        return SB_ENOMEM;
    }
    return 0;
}

/* The partition's replicas, who takes part, and the quorum. 0, or an
 * early failure already arranged. */
static int place(sb_coord_paxos *p)
{
    sb_coord *c = p->c;
    sb_repl repl;
    int rc = c->o.table_repl ? c->o.table_repl(c->o.table_repl_arg, p->tid, &repl) : SB_ENOTFOUND;
    if (rc)
        return fail_early(p, rc == SB_ENOTFOUND ? SB_ENOTFOUND : SB_ESERVER,
                          "unknown table (no replication known for it)");
    p->ring = sb_gossip_ring(c->g);
    sb_gossip_ring_ref(c->g, p->ring);
    if (repl.kind == SB_REPL_LOCAL) {
        p->nreps = 1;
        p->reps[0] = (pxrep){.ep = c->self, .local = 1, .up = 1, .participant = 1};
    } else {
        int idx[SB_MAX_REPLICAS];
        int64_t tok = sb_raw_token(p->key.data, p->key.len);
        int n = sb_ring_replicas(p->ring, &repl, tok, idx, SB_MAX_REPLICAS);
        SB_ASSERT(n >= 0 && n <= SB_MAX_REPLICAS);
        for (int i = 0; i < n; i++) {
            const sb_ring_node *nd = sb_ring_node_at(p->ring, idx[i]);
            pxrep *x = &p->reps[i];
            memset(x, 0, sizeof *x);
            x->ep = nd->ep;
            x->local = sb_ep_eq(&nd->ep, &c->self);
            x->up = x->local || sb_gossip_is_up(c->g, &nd->ep);
            x->participant = p->serial_cl != SB_CL_LOCAL_SERIAL || !strcmp(nd->dc, c->local_dc);
        }
        p->nreps = n;
    }
    int participants = 0;
    p->nlive = 0;
    for (int i = 0; i < p->nreps; i++) {
        participants += p->reps[i].participant;
        p->nlive += p->reps[i].participant && p->reps[i].up;
    }
    p->required = quorum(participants);
    p->res.consistency = p->serial_cl;
    if (p->nlive < p->required) {
        char msg[160];
        p->res.required = p->required;
        p->res.alive = p->nlive;
        snprintf(msg, sizeof msg, "Cannot achieve consistency level %s (%d required, %d alive)",
                 cl_str(p->serial_cl), p->required, p->nlive);
        c->stats.lwt_unavailable++;
        return fail_early(p, SB_EUNAVAILABLE, msg);
    }
    return 1;
}

int sb_coord_paxos_begin(sb_coord *c, const uint8_t table_id[16], const uint8_t *key, size_t klen,
                         int serial_cl, sb_coord_paxos_cb cb, void *arg)
{
    if ((serial_cl != SB_CL_SERIAL && serial_cl != SB_CL_LOCAL_SERIAL) || klen == 0)
        return SB_EINVALID;
    sb_coord_paxos *p = sb_calloc(1, sizeof *p);
    if (!p)
        return SB_ENOMEM;
    p->c = c;
    sb_buf_init(&p->key);
    sb_buf_init(&p->inprog_mut);
    sb_buf_init(&p->mrc_mut);
    sb_buf_init(&p->mut);
    if (sb_buf_append(&p->key, key, klen)) {
        sb_coord_paxos_free(p);
        return SB_ENOMEM;
    }
    memcpy(p->tid, table_id, 16);
    p->serial_cl = serial_cl;
    p->bcb = cb;
    p->arg = arg;
    p->res.write_type = "CAS";
    p->next = c->paxos;
    if (p->next)
        p->next->prev = p;
    c->paxos = p;
    p->deadline_ms = c->io->mono_ms(c->io->ctx) + c->o.write_timeout_ms;
    p->timer = c->io->timer_start(c->io->ctx, c->o.write_timeout_ms, on_deadline, p);
    if (!p->timer) {
        sb_coord_paxos_free(p);
        return SB_ENOMEM;
    }
    int rc = place(p);
    if (rc <= 0)
        return rc;
    prepare(p);
    return 0;
}

int sb_coord_paxos_propose(sb_coord_paxos *p, sb_buf *mut, int commit_cl, sb_coord_cas_cb cb,
                           void *arg)
{
    sb_coord *c = p->c;
    if (!c || p->state != PX_READY) {
        sb_buf_free(mut);
        sb_coord_paxos_free(p);
        return SB_ECLOSED;
    }
    if (commit_cl == SB_CL_SERIAL || commit_cl == SB_CL_LOCAL_SERIAL || commit_cl < SB_CL_ANY ||
        commit_cl > SB_CL_LOCAL_ONE) {
        sb_buf_free(mut);
        sb_coord_paxos_free(p);
        return SB_EINVALID;
    }
    sb_buf_free(&p->mut);
    p->mut = *mut;
    sb_buf_init(mut);
    p->commit_cl = commit_cl;
    p->pcb = cb;
    p->arg = arg;
    memset(&p->res, 0, sizeof p->res);
    p->res.write_type = "CAS";
    p->res.consistency = p->serial_cl;
    /* The commit waits for the statement's level among the live replicas
     * (ANY: none beyond the acceptances). */
    sb_repl repl;
    int need = 0;
    if (commit_cl != SB_CL_ANY && c->o.table_repl &&
        c->o.table_repl(c->o.table_repl_arg, p->tid, &repl) == 0)
        need = sb_coord_blockfor(p->ring, &repl, NULL, 0, commit_cl, c->local_dc);
    p->commit_required = need;
    p->deadline_ms = c->io->mono_ms(c->io->ctx) + c->o.write_timeout_ms;
    p->timer = c->io->timer_start(c->io->ctx, c->o.write_timeout_ms, on_deadline, p);
    if (!p->timer) {
        sb_coord_paxos_free(p);
        return SB_ENOMEM;
    }
    p->state = PX_PROPOSE;
    send_round(p, SB_MSG_PAXOS_PROPOSE, 0);
    if (p->nsent - p->nfailed < p->required)
        timeout(p);
    return 0;
}

void sb_coord_lwt_outcome(sb_coord *c, int applied)
{
    if (applied)
        c->stats.lwt_applied++;
    else
        c->stats.lwt_not_applied++;
}
