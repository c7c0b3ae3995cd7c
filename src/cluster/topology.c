/*
 * The committed topology (topology.h): the state machine's commands,
 * its snapshot, and the pending ranges computed from it.
 */
#include "cluster/topology.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/prng.h"
#include "util/wire.h"

#define TOPO_SNAP_VERSION 1
#define TOPO_MAX_NODES 16384 /* as many as a ring can hold */

void sb_topo_init(sb_topo *t)
{
    memset(t, 0, sizeof *t);
}

void sb_topo_close(sb_topo *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

/* Index of ep, or -(insertion point) - 1. A linear scan: a topology has
 * at most a few hundred nodes and changes a few times a day. */
static int topo_search(const sb_topo *t, const sb_ep *ep)
{
    int i = 0;
    while (i < t->n && sb_ep_cmp(&t->nodes[i].ep, ep) < 0)
        i++;
    return i < t->n && sb_ep_eq(&t->nodes[i].ep, ep) ? i : -i - 1;
}

const sb_topo_node *sb_topo_find(const sb_topo *t, const sb_ep *ep)
{
    int i = topo_search(t, ep);
    return i >= 0 ? &t->nodes[i] : NULL;
}

/* --- commands ------------------------------------------------------------------ */

int sb_topo_cmd_encode(const sb_topo_cmd *c, sb_buf *out)
{
    if (c->op < SB_TOPO_JOIN || c->op > SB_TOPO_LEFT || c->ntokens < 0 ||
        c->ntokens > SB_MAX_TOKENS)
        return SB_EINVAL;
    int rc = sb_wire_put_u8(out, (uint8_t)c->op);
    rc = rc ? rc : sb_wire_put_ep(out, &c->ep);
    if (c->op != SB_TOPO_JOIN)
        return rc;
    rc = rc ? rc : sb_wire_put_raw(out, c->host_id, 16);
    rc = rc ? rc : sb_wire_put_str(out, c->dc);
    rc = rc ? rc : sb_wire_put_str(out, c->rack);
    rc = rc ? rc : sb_wire_put_u8(out, (uint8_t)c->status);
    rc = rc ? rc : sb_wire_put_u16(out, (uint16_t)c->num_tokens);
    rc = rc ? rc : sb_wire_put_u16(out, (uint16_t)c->ntokens);
    for (int i = 0; !rc && i < c->ntokens; i++)
        rc = sb_wire_put_i64(out, c->tokens[i]);
    return rc;
}

int sb_topo_cmd_decode(const uint8_t *p, size_t len, sb_topo_cmd *c)
{
    memset(c, 0, sizeof *c);
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, len);
    c->op = sb_wire_get_u8(&r);
    sb_wire_get_ep(&r, &c->ep);
    if (c->op == SB_TOPO_JOIN) {
        sb_wire_get_raw(&r, c->host_id, 16);
        sb_wire_get_str(&r, c->dc, sizeof c->dc);
        sb_wire_get_str(&r, c->rack, sizeof c->rack);
        c->status = sb_wire_get_u8(&r);
        c->num_tokens = sb_wire_get_u16(&r);
        c->ntokens = sb_wire_get_u16(&r);
        if (c->ntokens > SB_MAX_TOKENS)
            return SB_EBADINPUT;
        for (int i = 0; i < c->ntokens; i++)
            c->tokens[i] = sb_wire_get_i64(&r);
    }
    if (r.err || r.off != len || c->op < SB_TOPO_JOIN || c->op > SB_TOPO_LEFT)
        return SB_EBADINPUT;
    return 0;
}

/* --- apply ----------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A ring of the nodes whose status passes keep (all nodes: keep NULL). */
static sb_ring *build_ring(const sb_topo *t, int (*keep)(int status))
{
    sb_ring_node *rn = calloc(t->n ? (size_t)t->n : 1, sizeof *rn);
    if (!rn)
        return NULL;
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        const sb_topo_node *x = &t->nodes[i];
        if (keep && !keep(x->status))
            continue;
        rn[n].ep = x->ep;
        memcpy(rn[n].host_id, x->host_id, 16);
        memcpy(rn[n].dc, x->dc, sizeof rn[n].dc);
        memcpy(rn[n].rack, x->rack, sizeof rn[n].rack);
        rn[n].tokens = x->tokens;
        rn[n].ntokens = x->ntokens;
        n++;
    }
    sb_ring *r = sb_ring_build(rn, n);
    free(rn);
    return r;
}

static uint64_t prng_next(void *arg)
{
    return sb_prng_next(arg);
}

/* Tokens for a JOIN that asked the state machine for them: from the ring
 * of every node in the topology, seeded by index and host id so that all
 * nodes compute the same ones. */
static int allocate(const sb_topo *t, uint64_t index, sb_topo_cmd *c, char *errmsg)
{
    if (c->num_tokens < 1 || c->num_tokens > SB_MAX_TOKENS)
        return sb_seterr(errmsg, SB_EINVALID, "num_tokens %d out of 1..%d", c->num_tokens,
                         SB_MAX_TOKENS);
    sb_ring *all = build_ring(t, NULL);
    if (!all)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    uint64_t seed = index * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 16; i++)
        seed = (seed ^ c->host_id[i]) * 0x100000001b3ULL;
    sb_prng pr;
    sb_prng_seed(&pr, seed);
    int rc = sb_ring_allocate(all, c->dc, c->num_tokens, prng_next, &pr, c->tokens);
    sb_ring_free(all);
    if (rc)
        return sb_seterr(errmsg, rc, "token allocation failed");
    c->ntokens = c->num_tokens;
    return 0;
}

/* SB_EEXISTS if another node than skip holds one of c's tokens. */
static int tokens_free(const sb_topo *t, const sb_topo_cmd *c, int skip, char *errmsg)
{
    for (int i = 0; i < t->n; i++) {
        if (i == skip)
            continue;
        const sb_topo_node *x = &t->nodes[i];
        for (int k = 0; k < c->ntokens; k++)
            if (bsearch(&c->tokens[k], x->tokens, (size_t)x->ntokens, sizeof(int64_t), cmp_i64)) {
                char e[SB_EP_STRLEN];
                return sb_seterr(errmsg, SB_EEXISTS, "token %lld is held by %s",
                                 (long long)c->tokens[k], sb_ep_str(&x->ep, e));
            }
    }
    return 0;
}

static int apply_join(sb_topo *t, uint64_t index, const sb_topo_cmd *in, char *errmsg)
{
    char e[SB_EP_STRLEN];
    sb_ep_str(&in->ep, e);
    if (in->status != SB_STATUS_JOINING && in->status != SB_STATUS_NORMAL)
        return sb_seterr(errmsg, SB_EINVALID, "a node joins as JOINING or NORMAL, not %s",
                         sb_node_status_name(in->status));
    int at = topo_search(t, &in->ep);
    if (at >= 0) {
        if (memcmp(t->nodes[at].host_id, in->host_id, 16) != 0)
            return sb_seterr(errmsg, SB_EEXISTS, "%s is already a member with another host id", e);
        return 0; /* a retried proposal: the node is in already */
    }
    if (t->n >= TOPO_MAX_NODES)
        return sb_seterr(errmsg, SB_EINVALID, "the topology holds %d nodes already", t->n);
    sb_topo_cmd c = *in;
    if (c.ntokens == 0) {
        int rc = allocate(t, index, &c, errmsg);
        if (rc)
            return rc;
    }
    qsort(c.tokens, (size_t)c.ntokens, sizeof(int64_t), cmp_i64);
    for (int k = 1; k < c.ntokens; k++)
        if (c.tokens[k] == c.tokens[k - 1])
            return sb_seterr(errmsg, SB_EINVALID, "token %lld given twice", (long long)c.tokens[k]);
    int rc = tokens_free(t, &c, -1, errmsg);
    if (rc)
        return rc;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 8;
        sb_topo_node *nn = realloc(t->nodes, sizeof *nn * (size_t)cap);
        if (!nn)
            return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
        t->nodes = nn;
        t->cap = cap;
    }
    at = -at - 1;
    memmove(&t->nodes[at + 1], &t->nodes[at], sizeof *t->nodes * (size_t)(t->n - at));
    t->n++;
    sb_topo_node *x = &t->nodes[at];
    memset(x, 0, sizeof *x);
    x->ep = c.ep;
    memcpy(x->host_id, c.host_id, 16);
    snprintf(x->dc, sizeof x->dc, "%s", c.dc);
    snprintf(x->rack, sizeof x->rack, "%s", c.rack);
    x->status = c.status;
    x->ntokens = c.ntokens;
    memcpy(x->tokens, c.tokens, sizeof(int64_t) * (size_t)c.ntokens);
    sb_seterr(errmsg, 0, "%s joined as %s with %d tokens", e, sb_node_status_name(c.status),
              c.ntokens);
    return 0;
}

int sb_topo_apply(sb_topo *t, uint64_t index, const sb_topo_cmd *c, char *errmsg)
{
    errmsg[0] = 0;
    int rc = 0;
    if (c->op == SB_TOPO_JOIN) {
        rc = apply_join(t, index, c, errmsg);
    } else {
        char e[SB_EP_STRLEN];
        sb_ep_str(&c->ep, e);
        int at = topo_search(t, &c->ep);
        if (at < 0)
            return sb_seterr(errmsg, SB_ENOTFOUND, "%s is not in the topology", e);
        sb_topo_node *x = &t->nodes[at];
        int from = c->op == SB_TOPO_JOINED ? SB_STATUS_JOINING : SB_STATUS_NORMAL;
        int to = c->op == SB_TOPO_JOINED ? SB_STATUS_NORMAL : SB_STATUS_LEAVING;
        if (c->op == SB_TOPO_LEFT) {
            memmove(x, x + 1, sizeof *x * (size_t)(t->n - at - 1));
            t->n--;
            sb_seterr(errmsg, 0, "%s left the ring", e);
        } else if (c->op != SB_TOPO_JOINED && c->op != SB_TOPO_LEAVE) {
            return sb_seterr(errmsg, SB_EINVALID, "unknown topology command %d", c->op);
        } else if (x->status == to) {
            return 0; /* a retried proposal */
        } else if (x->status != from) {
            return sb_seterr(errmsg, SB_EINVALID, "%s is %s, not %s", e,
                             sb_node_status_name(x->status), sb_node_status_name(from));
        } else {
            x->status = to;
            sb_seterr(errmsg, 0, "%s is %s", e, sb_node_status_name(to));
        }
    }
    if (rc == 0) {
        if (index > t->index)
            t->index = index;
        if (errmsg[0])
            t->changes++;
    }
    return rc;
}

/* --- snapshot -------------------------------------------------------------------- */

int sb_topo_snapshot(const sb_topo *t, sb_buf *out)
{
    int rc = sb_wire_put_u8(out, TOPO_SNAP_VERSION);
    rc = rc ? rc : sb_wire_put_u64(out, t->index);
    rc = rc ? rc : sb_wire_put_u64(out, t->changes);
    rc = rc ? rc : sb_wire_put_u32(out, (uint32_t)t->n);
    for (int i = 0; !rc && i < t->n; i++) {
        const sb_topo_node *x = &t->nodes[i];
        sb_topo_cmd c;
        memset(&c, 0, sizeof c);
        c.op = SB_TOPO_JOIN;
        c.ep = x->ep;
        memcpy(c.host_id, x->host_id, 16);
        memcpy(c.dc, x->dc, sizeof c.dc);
        memcpy(c.rack, x->rack, sizeof c.rack);
        c.status = x->status;
        c.ntokens = x->ntokens;
        memcpy(c.tokens, x->tokens, sizeof(int64_t) * (size_t)x->ntokens);
        sb_buf one;
        sb_buf_init(&one);
        rc = sb_topo_cmd_encode(&c, &one);
        rc = rc ? rc : sb_wire_put_bytes(out, one.data, one.len);
        sb_buf_free(&one);
    }
    return rc;
}

int sb_topo_restore(sb_topo *t, const uint8_t *p, size_t len)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, p, len);
    sb_topo nt;
    sb_topo_init(&nt);
    int version = sb_wire_get_u8(&r);
    uint64_t index = sb_wire_get_u64(&r);
    uint64_t changes = sb_wire_get_u64(&r);
    uint32_t n = sb_wire_get_u32(&r);
    int rc = r.err || version != TOPO_SNAP_VERSION || n > TOPO_MAX_NODES ? SB_EBADINPUT : 0;
    sb_topo_cmd *c = rc ? NULL : malloc(sizeof *c);
    if (!rc && !c)
        rc = SB_ENOMEM;
    for (uint32_t i = 0; !rc && i < n; i++) {
        const uint8_t *q;
        size_t qlen;
        sb_wire_get_bytes(&r, &q, &qlen, len);
        char err[SB_ERRMSG_SIZE];
        if (r.err || sb_topo_cmd_decode(q, qlen, c) != 0 || c->op != SB_TOPO_JOIN ||
            (c->status != SB_STATUS_JOINING && c->status != SB_STATUS_NORMAL &&
             c->status != SB_STATUS_LEAVING))
            rc = SB_EBADINPUT;
        int status = c->status;
        if (!rc && status == SB_STATUS_LEAVING)
            c->status = SB_STATUS_NORMAL;
        /* Refused: a node without tokens (that would ask for an
         * allocation), one listed twice (applied with nothing changed) or
         * one whose tokens another holds. */
        if (!rc && (c->ntokens == 0 || sb_topo_apply(&nt, 0, c, err) != 0 || !err[0]))
            rc = SB_EBADINPUT;
        if (!rc)
            nt.nodes[topo_search(&nt, &c->ep)].status = status;
    }
    free(c);
    if (!rc && (r.err || r.off != len))
        rc = SB_EBADINPUT;
    if (rc) {
        sb_topo_close(&nt);
        return rc;
    }
    nt.index = index;
    nt.changes = changes;
    sb_topo_close(t);
    *t = nt;
    return 0;
}

/* --- rings and pending ranges ------------------------------------------------------ */

static int is_current(int status)
{
    return status == SB_STATUS_NORMAL || status == SB_STATUS_LEAVING;
}

static int is_future(int status)
{
    return status == SB_STATUS_NORMAL || status == SB_STATUS_JOINING;
}

sb_ring *sb_topo_current_ring(const sb_topo *t)
{
    return build_ring(t, is_current);
}

sb_ring *sb_topo_future_ring(const sb_topo *t)
{
    return build_ring(t, is_future);
}

struct sb_topo_pending {
    int refs;
    int njoining;
    sb_ring *cur;
    int nrings;
    sb_ring **rings; /* the future ring, then NORMAL + each joining node */
};

void sb_topo_pending_ref(sb_topo_pending *pd)
{
    if (pd)
        pd->refs++;
}

int sb_topo_pending_njoining(const sb_topo_pending *pd)
{
    return pd ? pd->njoining : 0;
}

void sb_topo_pending_free(sb_topo_pending *pd)
{
    if (!pd || --pd->refs > 0)
        return;
    sb_ring_free(pd->cur);
    for (int i = 0; i < pd->nrings; i++)
        sb_ring_free(pd->rings[i]);
    free(pd->rings);
    free(pd);
}

int sb_topo_pending_new(const sb_topo *t, sb_topo_pending **out)
{
    *out = NULL;
    int njoining = 0, nchanging = 0;
    for (int i = 0; i < t->n; i++) {
        njoining += t->nodes[i].status == SB_STATUS_JOINING;
        nchanging += t->nodes[i].status != SB_STATUS_NORMAL;
    }
    if (nchanging == 0)
        return 0;
    sb_topo_pending *pd = calloc(1, sizeof *pd);
    if (!pd || !(pd->rings = calloc((size_t)njoining + 1, sizeof *pd->rings)))
        goto fail;
    pd->refs = 1;
    pd->njoining = njoining;
    if (!(pd->cur = sb_topo_current_ring(t)) || !(pd->rings[pd->nrings++] = sb_topo_future_ring(t)))
        goto fail;
    if (njoining > 1) {
        /* one joining node at a time: it may finish before the others */
        sb_topo one = *t;
        one.nodes = malloc(sizeof *one.nodes * (size_t)t->n);
        if (!one.nodes)
            goto fail;
        for (int j = 0; j < t->n; j++) {
            if (t->nodes[j].status != SB_STATUS_JOINING)
                continue;
            one.n = 0;
            for (int i = 0; i < t->n; i++)
                if (t->nodes[i].status == SB_STATUS_NORMAL || i == j)
                    one.nodes[one.n++] = t->nodes[i];
            sb_ring *r = build_ring(&one, NULL);
            if (!r) {
                free(one.nodes);
                goto fail;
            }
            pd->rings[pd->nrings++] = r;
        }
        free(one.nodes);
    }
    *out = pd;
    return 0;
fail:
    sb_topo_pending_free(pd);
    return SB_ENOMEM;
}

/* Replicas of token in ring r as endpoints. */
static int replica_eps(const sb_ring *r, const sb_repl *p, int64_t token, sb_ep *out)
{
    int idx[SB_MAX_REPLICAS];
    int n = sb_ring_replicas(r, p, token, idx, SB_MAX_REPLICAS);
    for (int i = 0; i < n; i++)
        out[i] = sb_ring_node_at(r, idx[i])->ep;
    return n;
}

static int has_ep(const sb_ep *v, int n, const sb_ep *ep)
{
    for (int i = 0; i < n; i++)
        if (sb_ep_eq(&v[i], ep))
            return 1;
    return 0;
}

/* Inserts ep into the sorted set out (n entries, room for max). */
static int add_sorted(sb_ep *out, int n, int max, const sb_ep *ep)
{
    if (n >= max || has_ep(out, n, ep))
        return n;
    int j = n++;
    while (j > 0 && sb_ep_cmp(&out[j - 1], ep) > 0) {
        out[j] = out[j - 1];
        j--;
    }
    out[j] = *ep;
    return n;
}

int sb_topo_write_eps(const sb_topo_pending *pd, const sb_repl *p, int64_t token, sb_ep *out,
                      int max)
{
    if (!pd || p->kind == SB_REPL_LOCAL)
        return 0;
    sb_ep cur[SB_MAX_REPLICAS];
    int nc = replica_eps(pd->cur, p, token, cur);
    int n = sb_topo_pending_eps(pd, p, token, out, max);
    for (int i = 0; i < nc; i++)
        n = add_sorted(out, n, max, &cur[i]);
    return n;
}

int sb_topo_pending_eps(const sb_topo_pending *pd, const sb_repl *p, int64_t token, sb_ep *out,
                        int max)
{
    if (!pd || p->kind == SB_REPL_LOCAL)
        return 0;
    sb_ep cur[SB_MAX_REPLICAS], fut[SB_MAX_REPLICAS];
    int nc = replica_eps(pd->cur, p, token, cur), n = 0;
    for (int k = 0; k < pd->nrings; k++) {
        int nf = replica_eps(pd->rings[k], p, token, fut);
        for (int i = 0; i < nf; i++)
            if (!has_ep(cur, nc, &fut[i]))
                n = add_sorted(out, n, max, &fut[i]);
    }
    return n;
}

const char *sb_topo_pending_dc(const sb_topo_pending *pd, const sb_ep *ep)
{
    for (int k = -1; pd && k < pd->nrings; k++) {
        const sb_ring *r = k < 0 ? pd->cur : pd->rings[k];
        int i = sb_ring_find(r, ep);
        if (i >= 0)
            return sb_ring_node_at(r, i)->dc;
    }
    return "";
}

/* --- the bootstrap hook ------------------------------------------------------------- */

int sb_topo_gains(const sb_topo *t, const sb_repl *p, const sb_ep *ep, sb_topo_range **out, int *n)
{
    *out = NULL;
    *n = 0;
    sb_ring *cur = sb_topo_current_ring(t), *fut = sb_topo_future_ring(t);
    sb_topo_range *v = NULL;
    int rc = SB_ENOMEM;
    if (!cur || !fut)
        goto out;
    int nt = sb_ring_ntokens(fut);
    v = calloc(nt ? (size_t)nt : 1, sizeof *v);
    if (!v)
        goto out;
    for (int i = 0; i < nt; i++) {
        int64_t end = sb_ring_token_at(fut, i);
        sb_ep f[SB_MAX_REPLICAS];
        int nf = replica_eps(fut, p, end, f);
        if (!has_ep(f, nf, ep))
            continue;
        sb_topo_range *g = &v[*n];
        g->nsources = replica_eps(cur, p, end, g->sources);
        if (has_ep(g->sources, g->nsources, ep))
            continue; /* it holds this range already */
        g->start = sb_ring_token_at(fut, i == 0 ? nt - 1 : i - 1);
        g->end = end;
        (*n)++;
    }
    *out = v;
    v = NULL;
    rc = 0;
out:
    free(v);
    sb_ring_free(cur);
    sb_ring_free(fut);
    return rc;
}

void sb_topo_bootstrap_now(void *arg, const sb_topo *t, const sb_ep *self,
                           sb_topo_join_done_fn done, void *done_arg)
{
    done(done_arg, 0);
}
