/*
 * The acceptor of lightweight transactions: the replica side of PREPARE,
 * PROPOSE and COMMIT (paxos_int.h has the forms, docs/lwt.md the design).
 *
 * State lives in two places. The durable copy is one kv pair per
 * partition (PAXOS_KV_PREFIX) in the node's store; the in-memory table
 * here is authoritative for every partition touched since start, because
 * a kv_put is durable only once its callback runs and a second request
 * for the partition may arrive before that. A request is decided on the
 * in-memory state at once (single-threaded loop: decisions are ordered),
 * and answered only once every write it caused is durable, so an answer
 * never promises what a crash could take back. Entries with no write in
 * flight are evicted beyond PAXOS_CACHE_MAX; the next request for them
 * reads the durable copy again.
 */
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "coord/paxos_int.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define PAXOS_CACHE_MAX 4096
#define PAXOS_BUCKETS 1024

/* --- ballots ---------------------------------------------------------------- */

int paxos_ballot_cmp(const sb_ballot *a, const sb_ballot *b)
{
    if (a->us != b->us)
        return a->us < b->us ? -1 : 1;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    return 0;
}

int paxos_ballot_is_zero(const sb_ballot *b)
{
    return b->us == 0 && b->node == 0;
}

sb_ballot paxos_ballot_next(sb_ballot *last, const sb_ballot *floor, int64_t now_us, uint64_t node)
{
    int64_t us = now_us;
    if (us <= last->us)
        us = last->us + 1;
    if (floor && us <= floor->us)
        us = floor->us + 1;
    sb_ballot b = {us, node};
    *last = b;
    return b;
}

int paxos_put_ballot(sb_buf *b, const sb_ballot *x)
{
    int rc = sb_wire_put_i64(b, x->us);
    return rc ? rc : sb_wire_put_u64(b, x->node);
}

void paxos_get_ballot(sb_wire_reader *r, sb_ballot *x)
{
    x->us = sb_wire_get_i64(r);
    x->node = sb_wire_get_u64(r);
}

/* --- state and its rules ------------------------------------------------------ */

void paxos_state_init(paxos_state *s)
{
    memset(s, 0, sizeof *s);
    sb_buf_init(&s->accepted_mut);
    sb_buf_init(&s->committed_mut);
}

void paxos_state_free(paxos_state *s)
{
    sb_buf_free(&s->accepted_mut);
    sb_buf_free(&s->committed_mut);
}

#define STATE_VERSION 1

int paxos_state_encode(const paxos_state *s, sb_buf *out)
{
    int rc = sb_wire_put_u8(out, STATE_VERSION);
    rc = rc ? rc : paxos_put_ballot(out, &s->promised);
    rc = rc ? rc : paxos_put_ballot(out, &s->accepted);
    rc = rc ? rc : sb_wire_put_bytes(out, s->accepted_mut.data, s->accepted_mut.len);
    rc = rc ? rc : paxos_put_ballot(out, &s->committed);
    return rc ? rc : sb_wire_put_bytes(out, s->committed_mut.data, s->committed_mut.len);
}

int paxos_state_decode(paxos_state *s, const uint8_t *p, size_t n)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, n);
    const uint8_t *am, *cm;
    size_t al, cl;
    sb_ballot pr, ac, co;
    uint8_t v = sb_wire_get_u8(&r);
    paxos_get_ballot(&r, &pr);
    paxos_get_ballot(&r, &ac);
    sb_wire_get_bytes(&r, &am, &al, n);
    paxos_get_ballot(&r, &co);
    sb_wire_get_bytes(&r, &cm, &cl, n);
    if (r.err || r.off != n || v != STATE_VERSION)
        return SB_EBADINPUT;
    sb_buf_reset(&s->accepted_mut);
    sb_buf_reset(&s->committed_mut);
    if (sb_buf_append(&s->accepted_mut, am, al) || sb_buf_append(&s->committed_mut, cm, cl))
        return SB_ENOMEM;
    s->promised = pr;
    s->accepted = ac;
    s->committed = co;
    return 0;
}

int paxos_on_prepare(paxos_state *s, const sb_ballot *b, int *ok)
{
    *ok = paxos_ballot_cmp(b, &s->promised) > 0;
    if (!*ok)
        return 0;
    s->promised = *b;
    return 1;
}

int paxos_on_propose(paxos_state *s, const sb_ballot *b, const uint8_t *mut, size_t len, int *ok,
                     int *err)
{
    *err = 0;
    *ok = paxos_ballot_cmp(b, &s->promised) >= 0;
    if (!*ok)
        return 0;
    sb_buf_reset(&s->accepted_mut);
    if (sb_buf_append(&s->accepted_mut, mut, len)) {
        /* Nothing half-done stays: the acceptance is refused as a whole. */
        s->accepted = (sb_ballot){0, 0};
        *ok = 0;
        *err = SB_ENOMEM;
        return 1;
    }
    s->promised = *b;
    s->accepted = *b;
    return 1;
}

int paxos_on_commit(paxos_state *s, const sb_ballot *b, const uint8_t *mut, size_t len, int *err)
{
    *err = 0;
    if (paxos_ballot_cmp(b, &s->committed) <= 0)
        return 0;
    sb_buf_reset(&s->committed_mut);
    if (sb_buf_append(&s->committed_mut, mut, len)) {
        *err = SB_ENOMEM;
        return 0;
    }
    s->committed = *b;
    if (paxos_ballot_cmp(&s->accepted, b) <= 0) {
        s->accepted = (sb_ballot){0, 0};
        sb_buf_reset(&s->accepted_mut);
    }
    return 1;
}

int paxos_kv_key(sb_buf *out, const uint8_t table_id[16], const uint8_t *key, size_t klen)
{
    int rc = sb_buf_append(out, PAXOS_KV_PREFIX, strlen(PAXOS_KV_PREFIX));
    rc = rc ? rc : sb_wire_put_raw(out, table_id, 16);
    return rc ? rc : sb_wire_put_bytes(out, key, klen);
}

int paxos_put_request(sb_buf *out, const uint8_t table_id[16], const uint8_t *key, size_t klen,
                      const sb_ballot *b, const uint8_t *mut, size_t mlen, int with_mut)
{
    int rc = sb_wire_put_raw(out, table_id, 16);
    rc = rc ? rc : sb_wire_put_bytes(out, key, klen);
    rc = rc ? rc : paxos_put_ballot(out, b);
    if (!rc && with_mut)
        rc = sb_wire_put_bytes(out, mut, mlen);
    return rc;
}

/* --- the acceptor --------------------------------------------------------------- */

typedef struct pentry {
    struct pentry *hnext;         /* bucket chain */
    struct pentry *lprev, *lnext; /* all entries, oldest use first */
    uint8_t *kvkey;               /* the durable key (owned) */
    size_t kvlen;
    uint64_t hash;
    int writes; /* kv puts (and applies) in flight */
    paxos_state st;
} pentry;

/* One answer waiting for durability. */
typedef struct pwait {
    paxos_acceptor *a; /* NULL once orphaned */
    pentry *e;
    int type;
    sb_ep from;
    uint64_t id;
    paxos_local_done done; /* the local proposer's hook, else an rpc reply */
    void *done_arg;
    int pending; /* durable writes still to come */
    int status;
    sb_buf reply;     /* the answer's body after its status */
    sb_ballot ballot; /* COMMIT: recorded once the mutation is durable */
    sb_buf mut;
    sb_buf state;
    struct pwait *prev, *next;
} pwait;

struct paxos_acceptor {
    sb_coord *c;
    pentry *buckets[PAXOS_BUCKETS];
    pentry *lru_head, *lru_tail;
    size_t nentries;
    pwait *waits;
    sb_buf scratch;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

paxos_acceptor *paxos_acceptor_new(sb_coord *c)
{
    paxos_acceptor *a = sb_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->c = c;
    sb_buf_init(&a->scratch);
    return a;
}

static void lru_unlink(paxos_acceptor *a, pentry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        a->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        a->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push(paxos_acceptor *a, pentry *e)
{
    e->lprev = a->lru_tail;
    e->lnext = NULL;
    if (a->lru_tail)
        a->lru_tail->lnext = e;
    else
        a->lru_head = e;
    a->lru_tail = e;
}

static void entry_free(pentry *e)
{
    paxos_state_free(&e->st);
    free(e->kvkey);
    free(e);
}

static void entry_remove(paxos_acceptor *a, pentry *e)
{
    pentry **pp = &a->buckets[e->hash % PAXOS_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(a, e);
    a->nentries--;
    entry_free(e);
}

void paxos_acceptor_free(paxos_acceptor *a)
{
    if (!a)
        return;
    for (pwait *w = a->waits; w; w = w->next) {
        w->a = NULL;
        w->e = NULL;
    }
    while (a->lru_head)
        entry_remove(a, a->lru_head);
    sb_buf_free(&a->scratch);
    free(a);
}

static int load_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    pentry *e = arg;
    if (klen != e->kvlen)
        return 0; /* cannot happen: the key's length is part of it */
    return paxos_state_decode(&e->st, v, vlen) ? SB_ECORRUPT : 1;
}

/* The partition's entry, loaded from the durable copy on first use. */
static int entry_get(paxos_acceptor *a, const uint8_t *tid, const uint8_t *key, size_t klen,
                     pentry **out)
{
    sb_buf_reset(&a->scratch);
    if (paxos_kv_key(&a->scratch, tid, key, klen))
        return SB_ENOMEM;
    uint64_t h = hash_bytes(a->scratch.data, a->scratch.len);
    for (pentry *e = a->buckets[h % PAXOS_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && e->kvlen == a->scratch.len &&
            !memcmp(e->kvkey, a->scratch.data, e->kvlen)) {
            lru_unlink(a, e);
            lru_push(a, e);
            *out = e;
            return 0;
        }
    pentry *e = sb_calloc(1, sizeof *e);
    if (!e)
        return SB_ENOMEM;
    paxos_state_init(&e->st);
    e->kvkey = sb_malloc(a->scratch.len);
    if (!e->kvkey) {
        entry_free(e);
        return SB_ENOMEM;
    }
    memcpy(e->kvkey, a->scratch.data, a->scratch.len);
    e->kvlen = a->scratch.len;
    e->hash = h;
    const sb_io *io = a->c->io;
    int rc = io->st->kv_scan(io->st_ctx, e->kvkey, e->kvlen, load_emit, e);
    if (rc < 0) {
        SB_WARN("paxos", "partition state unreadable", "err=%s", sb_errname(rc));
        entry_free(e);
        return rc;
    }
    /* Evict the least recently used entries that have nothing in flight. */
    for (pentry *x = a->lru_head, *nx; x && a->nentries >= PAXOS_CACHE_MAX; x = nx) {
        nx = x->lnext;
        if (x->writes == 0)
            entry_remove(a, x);
    }
    e->hnext = a->buckets[h % PAXOS_BUCKETS];
    a->buckets[h % PAXOS_BUCKETS] = e;
    lru_push(a, e);
    a->nentries++;
    *out = e;
    return 0;
}

static void wait_unlink(pwait *w)
{
    paxos_acceptor *a = w->a;
    if (!a)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        a->waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
}

static void wait_free(pwait *w)
{
    sb_buf_free(&w->reply);
    sb_buf_free(&w->state);
    sb_buf_free(&w->mut);
    free(w);
}

static void answer(paxos_acceptor *a, const sb_ep *to, uint64_t id, int status, const sb_buf *rest)
{
    sb_buf out;
    sb_buf_init(&out);
    if (coord_put_status(&out, status) == 0 &&
        (status != 0 || !rest || sb_buf_append(&out, rest->data, rest->len) == 0))
        sb_rpc_reply(a->c->rpc, to, id, out.data, out.len);
    sb_buf_free(&out);
}

static void answer_local(pwait *w)
{
    sb_buf out;
    sb_buf_init(&out);
    int rc = coord_put_status(&out, w->status);
    if (!rc && !w->status)
        rc = sb_buf_append(&out, w->reply.data, w->reply.len);
    if (rc)
        w->done(w->done_arg, SB_ENOMEM, NULL, 0);
    else
        w->done(w->done_arg, 0, out.data, out.len);
    sb_buf_free(&out);
}

/* One of w's durable writes ended. */
static void wait_step(pwait *w, int status)
{
    if (status && !w->status)
        w->status = status;
    if (w->e)
        w->e->writes--;
    if (--w->pending > 0)
        return;
    if (w->a) {
        wait_unlink(w);
        if (w->done)
            answer_local(w);
        else
            answer(w->a, &w->from, w->id, w->status, &w->reply);
    }
    wait_free(w);
}

static void on_durable(void *arg, int status)
{
    wait_step(arg, status);
}

static int persist(paxos_acceptor *a, pentry *e, pwait *w)
{
    sb_buf_reset(&w->state);
    int rc = paxos_state_encode(&e->st, &w->state);
    if (rc)
        return rc;
    const sb_io *io = a->c->io;
    rc = io->st->kv_put(io->st_ctx, e->kvkey, e->kvlen, w->state.data, w->state.len, on_durable, w);
    if (rc)
        return rc;
    w->pending++;
    e->writes++;
    return 0;
}

static void on_commit_applied(void *arg, int status)
{
    pwait *w = arg;
    /* The commit is recorded (in memory, then durably) only once its data
     * is durable: until then the replica still shows the accepted
     * proposal, and a round that sees it finishes it again (harmless:
     * cells merge). A replica that crashed in between is in that state. */
    if (status == 0 && w->a && w->e) {
        int err = 0;
        if (paxos_on_commit(&w->e->st, &w->ballot, w->mut.data, w->mut.len, &err)) {
            sb_buf_reset(&w->state);
            const sb_io *io = w->a->c->io;
            int rc = paxos_state_encode(&w->e->st, &w->state);
            rc = rc ? rc
                    : io->st->kv_put(io->st_ctx, w->e->kvkey, w->e->kvlen, w->state.data,
                                     w->state.len, on_durable, w);
            if (rc == 0) {
                w->pending++;
                w->e->writes++;
            } else {
                status = rc;
            }
        } else if (err) {
            status = err;
        }
    }
    wait_step(w, status);
}

static pwait *wait_new(paxos_acceptor *a, pentry *e, int type, const sb_ep *from, uint64_t id)
{
    pwait *w = sb_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->a = a;
    w->e = e;
    w->type = type;
    w->from = *from;
    w->id = id;
    sb_buf_init(&w->reply);
    sb_buf_init(&w->state);
    sb_buf_init(&w->mut);
    return w;
}

static void wait_link(paxos_acceptor *a, pwait *w)
{
    w->next = a->waits;
    if (w->next)
        w->next->prev = w;
    a->waits = w;
}

static int prepare_reply(sb_buf *out, const paxos_state *s, int ok)
{
    int rc = sb_wire_put_u8(out, (uint8_t)ok);
    rc = rc ? rc : paxos_put_ballot(out, &s->promised);
    rc = rc ? rc : paxos_put_ballot(out, &s->accepted);
    rc = rc ? rc : sb_wire_put_bytes(out, s->accepted_mut.data, s->accepted_mut.len);
    rc = rc ? rc : paxos_put_ballot(out, &s->committed);
    return rc ? rc : sb_wire_put_bytes(out, s->committed_mut.data, s->committed_mut.len);
}

static int serve(paxos_acceptor *a, int type, pwait *w, const sb_ballot *b, const uint8_t *mut,
                 size_t mlen)
{
    pentry *e = w->e;
    int ok = 0, err = 0, changed = 0;
    switch (type) {
    case SB_MSG_PAXOS_PREPARE:
        changed = paxos_on_prepare(&e->st, b, &ok);
        if (prepare_reply(&w->reply, &e->st, ok))
            return SB_ENOMEM;
        break;
    case SB_MSG_PAXOS_PROPOSE:
        changed = paxos_on_propose(&e->st, b, mut, mlen, &ok, &err);
        if (err)
            return err;
        if (sb_wire_put_u8(&w->reply, (uint8_t)ok) || paxos_put_ballot(&w->reply, &e->st.promised))
            return SB_ENOMEM;
        break;
    default: { /* COMMIT: apply the data first, then record the commit */
        sb_raw_mut *m = NULL;
        size_t n = 0;
        int rc = sb_mutation_decode(mut, mlen, &m, &n);
        if (rc)
            return rc;
        if (n == 0) {
            free(m); /* nothing to apply: an empty proposal */
            changed = paxos_on_commit(&e->st, b, mut, mlen, &err);
            if (err)
                return err;
            break;
        }
        w->ballot = *b;
        if (sb_buf_append(&w->mut, mut, mlen)) {
            free(m);
            return SB_ENOMEM;
        }
        const sb_io *io = a->c->io;
        rc = io->st->apply(io->st_ctx, m, n, on_commit_applied, w);
        free(m);
        if (rc)
            return rc;
        w->pending++;
        e->writes++;
        return 0;
    }
    }
    return changed ? persist(a, e, w) : 0;
}

/* Decodes a request and starts serving it; w's answer goes out once
 * every write it caused is durable. */
static void receive(paxos_acceptor *a, int type, const sb_ep *from, uint64_t id,
                    paxos_local_done done, void *done_arg, const uint8_t *body, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, body, len);
    uint8_t tid[16];
    const uint8_t *key = NULL, *mut = NULL;
    size_t klen = 0, mlen = 0;
    sb_ballot b;
    sb_wire_get_raw(&r, tid, 16);
    sb_wire_get_bytes(&r, &key, &klen, len);
    paxos_get_ballot(&r, &b);
    if (type != SB_MSG_PAXOS_PREPARE)
        sb_wire_get_bytes(&r, &mut, &mlen, len);
    int rc = r.err || r.off != len || klen == 0 ? SB_EBADINPUT : 0;
    if (rc)
        SB_WARN("paxos", "malformed request refused", "type=%d len=%zu", type, len);
    pentry *e = NULL;
    rc = rc ? rc : entry_get(a, tid, key, klen, &e);
    pwait *w = rc ? NULL : wait_new(a, e, type, from, id);
    if (!w) {
        rc = rc ? rc : SB_ENOMEM;
        if (done)
            done(done_arg, rc, NULL, 0);
        else
            answer(a, from, id, rc, NULL);
        return;
    }
    w->done = done;
    w->done_arg = done_arg;
    /* Held until serve has started every write, so that a write that
     * completes early cannot answer before the others are queued. */
    w->pending = 1;
    e->writes++;
    wait_link(a, w);
    rc = serve(a, type, w, &b, mut, mlen);
    wait_step(w, rc);
}

void paxos_acceptor_receive(paxos_acceptor *a, int type, const sb_ep *from, uint64_t id,
                            const uint8_t *body, size_t len)
{
    receive(a, type, from, id, NULL, NULL, body, len);
}

void paxos_acceptor_local(paxos_acceptor *a, int type, const uint8_t *body, size_t len,
                          paxos_local_done done, void *arg)
{
    receive(a, type, &a->c->self, 0, done, arg, body, len);
}
