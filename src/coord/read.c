/*
 * Coordinated reads: digests, reconciliation, blocking read repair, ranges.
 *
 * NOTES ON THE DESIGN
 *
 * Single partition: PH_DIGEST asks the first chosen replica (the closest)
 * for data and the others for a digest of what they would return. All
 * equal -> the data is the answer. Otherwise PH_DATA asks all of them for
 * data, the copies are reconciled key by key with sb_frag_merge, and
 * PH_REPAIR sends each replica that differs the reconciled values of the
 * keys it got wrong; the answer waits for those acknowledgements.
 *
 * Token ranges: the range is cut at the ring's tokens into pieces whose
 * keys share one replica set (consecutive ring ranges with the same
 * replicas make one piece); each piece is a PH_DATA round (and maybe a
 * PH_REPAIR round), one after the other in token order, until the range
 * ends or the limits are reached.
 *
 * Limits: replicas stop at q->max_entries / max_bytes of the partition's
 * rows (the head is always whole) and say `more`. Copies cut at
 * different keys are complete only up to the nearest cut (the smallest
 * last key, or the largest when reversed): entries past it are dropped
 * from the answer and from repair, and the answer says more = 1.
 * Answers are in ascending key order, also for reversed queries.
 */
#include <stdlib.h>
#include <string.h>

#include "coord/coord_int.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c == 0 && an != bn)
        c = an < bn ? -1 : 1;
    return c;
}

static int raw_cmp(const sb_raw *a, const sb_raw *b)
{
    return key_cmp(a->key, a->klen, b->key, b->klen);
}

static int buf_cmp(const sb_raw *a, const sb_buf *b)
{
    return key_cmp(a->key, a->klen, b->data, b->len);
}

/* An entry of the main range (not of the partition head). */
static int is_main(const creq *rq, const sb_raw *e)
{
    if (!rq->q.head_lo.len)
        return 1;
    return buf_cmp(e, &rq->q.head_lo) < 0 || buf_cmp(e, &rq->q.head_hi) >= 0;
}

static cphase *phase_from_reps(creq *rq, int kind)
{
    cphase *ph = coord_phase_new(rq, kind, rq->nreps);
    if (!ph) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return NULL;
    }
    SB_ASSERT(rq->nreps >= 0 && rq->nreps <= SB_MAX_REPLICAS + 1);
    for (int i = 0; i < rq->nreps; i++) {
        ph->t[i].ep = rq->reps[i].ep;
        ph->t[i].dc = rq->reps[i].dc;
        ph->t[i].local = rq->reps[i].local;
        ph->t[i].up = rq->reps[i].up;
    }
    return ph;
}

void coord_read_start(creq *rq)
{
    sb_repl *p;
    int ri = coord_lookup_repl(rq, rq->q.table_id, &p);
    if (ri < 0) {
        coord_table_unknown(rq, ri, rq->q.table_id);
        return;
    }
    creplica reps[SB_MAX_REPLICAS];
    int64_t tok = sb_raw_token(rq->q.head_lo.data, rq->q.head_lo.len);
    int n = coord_replicas(rq, p, tok, reps, 1);
    if (coord_choose_read(rq, p, reps, n))
        return;
    cphase *ph = phase_from_reps(rq, PH_DIGEST);
    if (!ph)
        return;
    if (sb_rawq_encode(&rq->q, &ph->qbody)) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return;
    }
    for (int i = 1; i < ph->nt; i++)
        ph->t[i].want_digest = 1;
    coord_send_reads(rq, ph, coord_remaining_ms(rq));
}

/* --- reconciliation ------------------------------------------------------ */

typedef struct rent {
    const sb_raw *e;
    int t;
} rent;

static int rent_cmp(const void *a, const void *b)
{
    const rent *x = a, *y = b;
    int c = raw_cmp(x->e, y->e);
    if (c)
        return c;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int add_repair(creq *rq, ctarget *t, const sb_raw *key, const uint8_t *val, size_t vlen)
{
    if (t->nmuts == t->capmuts) {
        size_t cap = t->capmuts ? t->capmuts * 2 : 8;
        sb_raw_mut *m = sb_realloc(t->muts, cap * sizeof(*m));
        if (!m)
            return SB_ENOMEM;
        t->muts = m;
        t->capmuts = cap;
    }
    sb_raw_mut *m = &t->muts[t->nmuts++];
    m->table_id = rq->q.table_id;
    m->e.key = key->key;
    m->e.klen = key->klen;
    m->e.val = val;
    m->e.vlen = vlen;
    return 0;
}

static int out_push(creq *rq, const sb_raw *key, const uint8_t *val, size_t vlen)
{
    if (rq->nout == rq->capout) {
        size_t cap = rq->capout ? rq->capout * 2 : 64;
        sb_raw *o = sb_realloc(rq->out, cap * sizeof(*o));
        if (!o)
            return SB_ENOMEM;
        rq->out = o;
        rq->capout = cap;
    }
    rq->out[rq->nout++] = (sb_raw){key->key, key->klen, val, vlen};
    return 0;
}

static int same_val(const sb_raw *a, const uint8_t *v, size_t vlen)
{
    return a->vlen == vlen && (vlen == 0 || memcmp(a->val, v, vlen) == 0);
}

/* Merges the copies v[a..b) of one key: *val points into a response or
 * the arena. */
static int merge_copies(creq *rq, const rent *v, size_t a, size_t b, const uint8_t **val,
                        size_t *vlen)
{
    *val = v[a].e->val;
    *vlen = v[a].e->vlen;
    size_t i = a + 1;
    while (i < b && same_val(v[i].e, *val, *vlen))
        i++;
    if (i == b)
        return 0;
    sb_buf acc, tmp;
    sb_buf_init(&acc);
    sb_buf_init(&tmp);
    int rc = sb_buf_append(&acc, *val, *vlen) ? SB_ENOMEM : 0;
    for (i = a + 1; i < b && !rc; i++) {
        rc = sb_frag_merge(acc.data, acc.len, v[i].e->val, v[i].e->vlen, &tmp);
        sb_buf x = acc;
        acc = tmp;
        tmp = x;
    }
    if (!rc) {
        uint8_t *p = sb_arena_bytes(&rq->arena, acc.len);
        if (!p)
            rc = SB_ENOMEM;
        else {
            if (acc.len)
                memcpy(p, acc.data, acc.len);
            *val = p;
            *vlen = acc.len;
        }
    }
    sb_buf_free(&acc);
    sb_buf_free(&tmp);
    return rc;
}

/* Keeps at most `keep` main entries of out[from..nout) (the first ones,
 * or the last ones when reversed); returns whether any were dropped. */
static int trim_main(creq *rq, size_t from, size_t keep)
{
    size_t nmain = 0;
    for (size_t i = from; i < rq->nout; i++)
        nmain += is_main(rq, &rq->out[i]);
    if (nmain <= keep)
        return 0;
    size_t drop = nmain - keep, w = from;
    if (!rq->q.reversed) {
        /* Main entries follow the head: drop the last ones. */
        rq->nout -= drop;
        return 1;
    }
    for (size_t i = from; i < rq->nout; i++) {
        if (drop && is_main(rq, &rq->out[i])) {
            drop--;
            continue;
        }
        rq->out[w++] = rq->out[i];
    }
    rq->nout = w;
    return 1;
}

/* Reconciles the data of ph->t[0..nt) into rq->out and plans repairs
 * (each target's muts). *more: the answer stops at a limit. 0, or an
 * error after finishing the request. */
static int reconcile(creq *rq, cphase *ph, int nt, int *more)
{
    const sb_raw *cut = NULL;
    int cut_all = 0, truncated = 0;
    size_t total = 0;
    for (int i = 0; i < nt; i++) {
        const coord_read_resp *r = &ph->t[i].resp;
        total += r->nents;
        if (!r->more)
            continue;
        truncated = 1;
        const sb_raw *last = r->nents ? &r->ents[r->nents - 1] : NULL;
        if (!last || !is_main(rq, last)) {
            cut_all = 1;
            continue;
        }
        if (!cut || (rq->q.reversed ? raw_cmp(last, cut) > 0 : raw_cmp(last, cut) < 0))
            cut = last;
    }
    rent *v = sb_malloc((total ? total : 1) * sizeof(*v));
    if (!v) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return SB_ENOMEM;
    }
    size_t k = 0;
    for (int i = 0; i < nt; i++) {
        const coord_read_resp *r = &ph->t[i].resp;
        for (size_t j = 0; j < r->nents; j++) {
            const sb_raw *e = &r->ents[j];
            if (is_main(rq, e) &&
                (cut_all || (cut && (rq->q.reversed ? raw_cmp(e, cut) < 0 : raw_cmp(e, cut) > 0))))
                continue; /* beyond what every copy covers */
            v[k++] = (rent){e, i};
        }
    }
    qsort(v, k, sizeof(*v), rent_cmp);
    size_t from = rq->nout;
    int rc = 0;
    for (size_t a = 0; a < k && !rc;) {
        size_t b = a + 1;
        while (b < k && raw_cmp(v[b].e, v[a].e) == 0)
            b++;
        const uint8_t *val;
        size_t vlen;
        rc = merge_copies(rq, v, a, b, &val, &vlen);
        if (!rc)
            rc = out_push(rq, v[a].e, val, vlen);
        /* Every replica whose copy is missing or differs is repaired. */
        size_t g = a;
        for (int i = 0; i < nt && !rc; i++) {
            while (g < b && v[g].t < i)
                g++;
            if (g < b && v[g].t == i && same_val(v[g].e, val, vlen))
                continue;
            rc = add_repair(rq, &ph->t[i], v[a].e, val, vlen);
        }
        a = b;
    }
    free(v);
    if (rc) {
        coord_finish(rq, rc == SB_ENOMEM ? SB_ESERVER : rc,
                     rc == SB_ECORRUPT ? "a replica returned a corrupt value" : "out of memory");
        return rc;
    }
    int trimmed = 0;
    if (rq->q.max_entries) {
        size_t left = rq->q.max_entries > rq->nmain_out ? rq->q.max_entries - rq->nmain_out : 0;
        trimmed = trim_main(rq, from, left);
    }
    for (size_t i = from; i < rq->nout; i++) {
        rq->nmain_out += is_main(rq, &rq->out[i]);
        rq->out_bytes += rq->out[i].klen + rq->out[i].vlen;
    }
    *more = truncated || trimmed;
    return 0;
}

/* --- rounds --------------------------------------------------------------- */

static void range_next_piece(creq *rq);

/* The partition or piece is answered (and repaired). */
static void piece_done(creq *rq)
{
    if (rq->kind == RQ_READ) {
        rq->more = rq->piece_more;
        coord_finish(rq, 0, "ok");
        return;
    }
    if (rq->piece_more) {
        rq->more = 1;
        coord_finish(rq, 0, "ok");
        return;
    }
    int at_end = rq->piece_hi.len == 0 ||
                 (rq->q.hi.len &&
                  key_cmp(rq->piece_hi.data, rq->piece_hi.len, rq->q.hi.data, rq->q.hi.len) >= 0);
    if (at_end) {
        coord_finish(rq, 0, "ok");
        return;
    }
    if ((rq->q.max_entries && rq->nmain_out >= rq->q.max_entries) ||
        (rq->q.max_bytes && rq->out_bytes >= rq->q.max_bytes)) {
        rq->more = 1;
        coord_finish(rq, 0, "ok");
        return;
    }
    sb_buf x = rq->cursor;
    rq->cursor = rq->piece_hi;
    rq->piece_hi = x;
    sb_buf_reset(&rq->piece_hi);
    range_next_piece(rq);
}

static void data_done(creq *rq, cphase *ph, int nt)
{
    int more;
    if (reconcile(rq, ph, nt, &more))
        return;
    rq->piece_more = more;
    int nrep = 0;
    for (int i = 0; i < nt; i++)
        nrep += ph->t[i].nmuts > 0;
    if (nrep == 0) {
        piece_done(rq);
        return;
    }
    cphase *rp = coord_phase_new(rq, PH_REPAIR, nrep);
    if (!rp) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return;
    }
    for (int i = 0, j = 0; i < nt; i++) {
        ctarget *s = &ph->t[i];
        if (!s->nmuts)
            continue;
        ctarget *d = &rp->t[j++];
        d->ep = s->ep;
        d->dc = s->dc;
        d->local = s->local;
        d->up = s->up;
        d->muts = s->muts;
        d->nmuts = s->nmuts;
        d->capmuts = s->capmuts;
        s->muts = NULL;
        s->nmuts = s->capmuts = 0;
    }
    rq->c->stats.read_repairs += (uint64_t)nrep;
    coord_send_mutations(rq, rp, coord_remaining_ms(rq));
}

static void digest_done(creq *rq, cphase *ph)
{
    const coord_read_resp *d = &ph->t[0].resp;
    uint64_t dg = coord_digest(d->ents, d->nents, d->more);
    int mismatch = 0;
    for (int i = 1; i < ph->nt; i++) {
        const coord_read_resp *r = &ph->t[i].resp;
        uint64_t x =
            r->kind == COORD_RESP_DIGEST ? r->digest : coord_digest(r->ents, r->nents, r->more);
        mismatch |= x != dg;
    }
    if (!mismatch) {
        data_done(rq, ph, 1);
        return;
    }
    rq->c->stats.digest_mismatches++;
    cphase *dp = phase_from_reps(rq, PH_DATA);
    if (!dp)
        return;
    if (sb_buf_append(&dp->qbody, ph->qbody.data, ph->qbody.len)) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return;
    }
    coord_send_reads(rq, dp, coord_remaining_ms(rq));
}

/* A target of a DIGEST or DATA round failed without an answer, so the
 * round cannot complete (it waits for every target it asks). A timeout or
 * a closed connection is left to the request's timer; a refusal at the
 * rpc's cap is answered by coord_send_refused (Overloaded). Any other
 * failure (no memory to send the READ, to run the local read or to keep
 * the answer) ends the request now rather than at its timeout. */
static void target_failed(creq *rq, const ctarget *t, int status)
{
    if (status == SB_ETIMEOUT || status == SB_ECLOSED || status == SB_EOVERLOADED)
        return;
    char e[SB_EP_STRLEN];
    coord_finish(rq, SB_ESERVER, "read failed on replica %s: %s", sb_ep_str(&t->ep, e),
                 sb_strerror(status));
}

void coord_read_on_response(ctarget *t, int status, const uint8_t *body, size_t len)
{
    creq *rq = t->req;
    cphase *ph = t->ph;
    if (rq->finished || ph != rq->cur)
        return;
    if (status) {
        target_failed(rq, t, status);
        return;
    }
    char e[SB_EP_STRLEN];
    int rc = sb_buf_append(&t->body, body, len);
    if (!rc)
        rc = coord_parse_read_resp(t->body.data, t->body.len, &t->resp);
    if (rc == SB_ENOMEM) {
        target_failed(rq, t, rc);
        return;
    }
    if (rc || (!t->want_digest && t->resp.status == 0 && t->resp.kind != COORD_RESP_DATA)) {
        SB_WARN("coord", "malformed READ response ignored", "from=%s len=%zu", sb_ep_str(&t->ep, e),
                len);
        return;
    }
    if (t->resp.status) {
        int st = t->resp.status;
        coord_finish(rq, st == SB_ENOTFOUND || st == SB_EOVERLOADED ? st : SB_ESERVER,
                     "read failed on replica %s: %s", sb_ep_str(&t->ep, e), sb_strerror(st));
        return;
    }
    t->state = CT_DONE;
    if (!t->want_digest)
        rq->data_present = 1;
    if (++ph->nresp < ph->nt)
        return;
    if (ph->kind == PH_DIGEST)
        digest_done(rq, ph);
    else
        data_done(rq, ph, ph->nt);
}

void coord_read_on_repair_ack(ctarget *t, int status)
{
    creq *rq = t->req;
    cphase *ph = t->ph;
    if (rq->finished || ph != rq->cur)
        return;
    /* A replica whose disk is full refuses the repair as it refuses
     * every write: the read still answers (reads keep working on a
     * cluster with a full node) and the stale replica stays stale until a
     * later repair. The rows read are on the replicas that answered. */
    if (status && status != SB_EDISKFULL) {
        char e[SB_EP_STRLEN];
        SB_DEBUG("coord", "read repair not acknowledged", "replica=%s err=%s", sb_ep_str(&t->ep, e),
                 sb_errname(status));
        return; /* the request's timer decides */
    }
    t->state = CT_DONE;
    if (++ph->nresp == ph->nt)
        piece_done(rq);
}

void coord_read_on_timeout(creq *rq)
{
    if (rq->finished)
        return;
    cphase *ph = rq->cur;
    rq->res.required = rq->blockfor;
    rq->res.received = !ph ? 0 : ph->kind == PH_REPAIR ? rq->blockfor : ph->nresp;
    rq->res.data_present = rq->data_present;
    coord_finish(rq, SB_ETIMEOUT,
                 "Operation timed out - received only %d responses of %d required%s",
                 rq->res.received, rq->blockfor,
                 ph && ph->kind == PH_REPAIR ? " (read repair not acknowledged)" : "");
}

/* --- token ranges ----------------------------------------------------------- */

static void token_key(int64_t t, uint8_t out[8])
{
    uint64_t u = (uint64_t)t ^ 0x8000000000000000ull;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(u >> (56 - 8 * i));
}

/* Index of the first ring token >= tok (ntokens if none). */
static int ring_lower_bound(const sb_ring *r, int64_t tok)
{
    int lo = 0, hi = sb_ring_ntokens(r);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sb_ring_token_at(r, mid) < tok)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int same_replicas(const creplica *a, int na, const creplica *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (!sb_ep_eq(&a[i].ep, &b[i].ep) || a[i].up != b[i].up)
            return 0;
    return 1;
}

/* Where the piece starting at token tok ends: rq->piece_hi (empty: the
 * end of the table), extended over following ring ranges with the same
 * replicas, cut at q->hi. */
static int piece_end(creq *rq, const sb_repl *p, int64_t tok, const creplica *reps, int n)
{
    sb_buf_reset(&rq->piece_hi);
    if (p->kind != SB_REPL_LOCAL) {
        int ntok = sb_ring_ntokens(rq->ring);
        int i = ring_lower_bound(rq->ring, tok);
        for (; i < ntok; i++) {
            int64_t end = sb_ring_token_at(rq->ring, i);
            if (end == INT64_MAX)
                break;
            uint8_t k[8];
            token_key(end + 1, k);
            if (rq->q.hi.len && key_cmp(k, 8, rq->q.hi.data, rq->q.hi.len) >= 0)
                break;
            creplica next[SB_MAX_REPLICAS];
            int nn = coord_replicas(rq, p, end + 1, next, 1);
            if (!same_replicas(reps, n, next, nn)) {
                if (sb_buf_append(&rq->piece_hi, k, 8))
                    return SB_ENOMEM;
                return 0;
            }
        }
    }
    if (rq->q.hi.len && sb_buf_append(&rq->piece_hi, rq->q.hi.data, rq->q.hi.len))
        return SB_ENOMEM;
    return 0;
}

static void range_next_piece(creq *rq)
{
    sb_repl *p;
    int ri = coord_lookup_repl(rq, rq->q.table_id, &p);
    if (ri < 0) {
        coord_table_unknown(rq, ri, rq->q.table_id);
        return;
    }
    if (rq->q.hi.len &&
        key_cmp(rq->cursor.data, rq->cursor.len, rq->q.hi.data, rq->q.hi.len) >= 0) {
        coord_finish(rq, 0, "ok");
        return;
    }
    int64_t tok = sb_raw_token(rq->cursor.data, rq->cursor.len);
    creplica reps[SB_MAX_REPLICAS];
    int n = coord_replicas(rq, p, tok, reps, 1);
    if (coord_choose_read(rq, p, reps, n))
        return;
    if (piece_end(rq, p, tok, reps, n)) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return;
    }
    cphase *ph = phase_from_reps(rq, PH_DATA);
    if (!ph)
        return;
    sb_rawq pq;
    sb_rawq_init(&pq);
    memcpy(pq.table_id, rq->q.table_id, 16);
    pq.reversed = rq->q.reversed;
    if (rq->q.max_entries)
        pq.max_entries = rq->q.max_entries - (uint32_t)rq->nmain_out;
    if (rq->q.max_bytes)
        pq.max_bytes = rq->q.max_bytes - (uint32_t)rq->out_bytes;
    int rc = sb_buf_append(&pq.lo, rq->cursor.data, rq->cursor.len) ||
             sb_buf_append(&pq.hi, rq->piece_hi.data, rq->piece_hi.len) ||
             sb_rawq_encode(&pq, &ph->qbody);
    sb_rawq_free(&pq);
    if (rc) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return;
    }
    coord_send_reads(rq, ph, coord_remaining_ms(rq));
}

void coord_range_start(creq *rq)
{
    if (sb_buf_append(&rq->cursor, rq->q.lo.data, rq->q.lo.len)) {
        coord_finish(rq, SB_ESERVER, "out of memory");
        return;
    }
    range_next_piece(rq);
}
