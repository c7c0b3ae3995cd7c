/*
 * Members (gossip_int.h): the table of known nodes, the listeners and the
 * events they get, up and down, removal, and the ring snapshots.
 *
 * Up and down. A node learned second-hand (NEW) is not up until its
 * heartbeat is seen to increase: a dead node's last state, still relayed
 * by others, never makes it look alive. Each increase is an arrival for
 * the detector; every round marks down the peers whose phi exceeds the
 * threshold. A node whose status is SHUTDOWN is down and stays down until
 * a new generation.
 *
 * Ring. The snapshot holds the nodes that own tokens and are NORMAL,
 * LEAVING or SHUTDOWN (a node that stopped cleanly still owns its ranges;
 * it is down, not gone). It is rebuilt whenever a status, token, dc, rack
 * or host id changes, before the STATUS / NEW event is delivered. Old
 * snapshots that someone holds a reference to are kept in `retired` until
 * their last unref.
 *
 * Removal. A node whose status is LEFT and that has been down for
 * GOSSIP_LEFT_ROUNDS rounds is forgotten (REMOVED) and its generation
 * quarantined: older states of it relayed by others are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_int.h"
#include "util/err.h"
#include "util/log.h"

/* --- the member table ------------------------------------------------------ */

static int node_index(const sb_gossip *g, const sb_ep *ep, int *pos)
{
    int lo = 0, hi = g->nnodes;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = sb_ep_cmp(&g->nodes[mid]->m.ep, ep);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return -1;
}

gnode *gossip_find_node(const sb_gossip *g, const sb_ep *ep)
{
    int i = node_index(g, ep, NULL);
    return i < 0 ? NULL : g->nodes[i];
}

gnode *gossip_add_node(sb_gossip *g, const sb_ep *ep)
{
    int pos = 0;
    if (g->nnodes >= GOSSIP_MAX_MEMBERS || node_index(g, ep, &pos) >= 0)
        return NULL;
    gnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->m.ep = *ep;
    memmove(&g->nodes[pos + 1], &g->nodes[pos], (size_t)(g->nnodes - pos) * sizeof *g->nodes);
    g->nodes[pos] = n;
    g->nnodes++;
    return n;
}

int sb_gossip_nmembers(const sb_gossip *g)
{
    return g->nnodes;
}

const sb_member *sb_gossip_member(const sb_gossip *g, int i)
{
    return i >= 0 && i < g->nnodes ? &g->nodes[i]->m : NULL;
}

const sb_member *sb_gossip_find(const sb_gossip *g, const sb_ep *ep)
{
    const gnode *n = gossip_find_node(g, ep);
    return n ? &n->m : NULL;
}

const sb_member *sb_gossip_self(const sb_gossip *g)
{
    return &g->self->m;
}

int sb_gossip_is_up(const sb_gossip *g, const sb_ep *ep)
{
    const gnode *n = gossip_find_node(g, ep);
    return n ? n->m.up : 0;
}

void sb_gossip_get_stats(const sb_gossip *g, sb_gossip_stats *st)
{
    *st = g->stats;
}

/* --- listeners and liveness ------------------------------------------------ */

int sb_gossip_on_event(sb_gossip *g, sb_gossip_event_fn fn, void *arg)
{
    if (g->nls >= GOSSIP_MAX_LISTENERS)
        return SB_ETOOBIG;
    g->ls[g->nls].fn = fn;
    g->ls[g->nls].arg = arg;
    g->nls++;
    return 0;
}

void gossip_emit(sb_gossip *g, int ev, const gnode *n)
{
    for (int i = 0; i < g->nls; i++)
        g->ls[i].fn(g->ls[i].arg, ev, &n->m);
}

int gossip_schema_differs(const sb_gossip *g, const gnode *n)
{
    static const uint8_t zero[16];
    return memcmp(n->m.schema_version, zero, 16) != 0 &&
           memcmp(n->m.schema_version, g->self->m.schema_version, 16) != 0;
}

void gossip_set_up(sb_gossip *g, gnode *n, int up)
{
    char eps[SB_EP_STRLEN];
    if (n->m.up == up)
        return;
    n->m.up = up;
    n->m.since_ms = gossip_now_ms(g);
    if (up) {
        g->stats.marked_up++;
        SB_INFO("gossip", "node up", "ep=%s generation=%lld", sb_ep_str(&n->m.ep, eps),
                (long long)n->m.generation);
        gossip_emit(g, SB_GOSSIP_UP, n);
        if (gossip_schema_differs(g, n))
            gossip_emit(g, SB_GOSSIP_SCHEMA, n);
    } else {
        g->stats.marked_down++;
        SB_INFO("gossip", "node down", "ep=%s phi=%.2f status=%s", sb_ep_str(&n->m.ep, eps),
                n->m.phi, sb_node_status_name(n->m.status));
        gossip_emit(g, SB_GOSSIP_DOWN, n);
    }
}

void gossip_alive(sb_gossip *g, gnode *n)
{
    if (!n->fd_started) {
        sb_fd_init(&n->fd, gossip_now_ms(g), g->o.interval_ms);
        n->fd_started = 1;
    } else {
        sb_fd_report(&n->fd, gossip_now_ms(g));
    }
    n->m.phi = 0;
    gossip_set_up(g, n, 1);
}

void gossip_check_fd(sb_gossip *g)
{
    uint64_t now = gossip_now_ms(g);
    for (int i = 0; i < g->nnodes; i++) {
        gnode *n = g->nodes[i];
        if (n == g->self || !n->fd_started)
            continue;
        n->m.phi = sb_fd_phi(&n->fd, now);
        if (n->m.up && n->m.phi > g->o.phi_threshold)
            gossip_set_up(g, n, 0);
    }
}

/* Forgets nodes that left the ring and have been down for a while; their
 * (ep, generation) is remembered so that peers still relaying the old
 * state do not bring them back (a new generation is a new node). */
void gossip_expire_left(sb_gossip *g)
{
    uint64_t now = gossip_now_ms(g);
    uint64_t after = (uint64_t)GOSSIP_LEFT_ROUNDS * (uint64_t)g->o.interval_ms;
    for (int i = 0; i < g->nnodes; i++) {
        gnode *n = g->nodes[i];
        if (n == g->self || n->m.status != SB_STATUS_LEFT || n->m.up || now - n->m.since_ms < after)
            continue;
        char eps[SB_EP_STRLEN];
        SB_INFO("gossip", "node removed", "ep=%s", sb_ep_str(&n->m.ep, eps));
        g->removed[g->nremoved % GOSSIP_MAX_REMOVED].ep = n->m.ep;
        g->removed[g->nremoved % GOSSIP_MAX_REMOVED].gen = n->m.generation;
        g->nremoved++;
        memmove(&g->nodes[i], &g->nodes[i + 1], (size_t)(g->nnodes - i - 1) * sizeof *g->nodes);
        g->nnodes--;
        gossip_forget_peer(g, n->m.host_id, n);
        gossip_rebuild_ring(g);
        gossip_emit(g, SB_GOSSIP_REMOVED, n);
        free(n);
        i--;
    }
}

/* --- the ring -------------------------------------------------------------- */

static void retire_ring(sb_gossip *g)
{
    if (!g->ring)
        return;
    if (g->ring_refs == 0) {
        sb_ring_free(g->ring);
    } else {
        ringref *nr = realloc(g->retired, (size_t)(g->nretired + 1) * sizeof *nr);
        if (!nr) {
            /* Cannot track it: leak rather than free under a holder. */
            SB_ERROR("gossip", "cannot retire ring", "refs=%d", g->ring_refs);
        } else {
            g->retired = nr;
            g->retired[g->nretired++] = (ringref){g->ring, g->ring_refs};
        }
    }
    g->ring = NULL;
    g->ring_refs = 0;
}

/* 0, or SB_ENOMEM with the previous ring kept. */
int gossip_rebuild_ring(sb_gossip *g)
{
    sb_ring_node *rn = calloc((size_t)g->nnodes + 1, sizeof *rn);
    if (!rn)
        return SB_ENOMEM;
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const sb_member *m = &g->nodes[i]->m;
        if (!gossip_in_ring(m))
            continue;
        rn[k].ep = m->ep;
        memcpy(rn[k].host_id, m->host_id, 16);
        memcpy(rn[k].dc, m->dc, SB_DC_MAX);
        memcpy(rn[k].rack, m->rack, SB_DC_MAX);
        rn[k].tokens = m->tokens;
        rn[k].ntokens = m->ntokens;
        k++;
    }
    sb_ring *r = sb_ring_build(rn, k);
    free(rn);
    if (!r) {
        SB_ERROR("gossip", "ring rebuild failed", "nodes=%d", k);
        return SB_ENOMEM;
    }
    retire_ring(g);
    g->ring = r;
    return 0;
}

void gossip_ring_changed(sb_gossip *g, gnode *n)
{
    gossip_rebuild_ring(g);
    gossip_save_peer(g, n);
    gossip_emit(g, SB_GOSSIP_STATUS, n);
}

const sb_ring *sb_gossip_ring(sb_gossip *g)
{
    return g->ring;
}

void sb_gossip_ring_ref(sb_gossip *g, const sb_ring *r)
{
    if (r == g->ring) {
        g->ring_refs++;
        return;
    }
    for (int i = 0; i < g->nretired; i++)
        if (g->retired[i].r == r) {
            g->retired[i].refs++;
            return;
        }
    SB_ASSERT(!"sb_gossip_ring_ref: not a ring of this gossip");
}

void sb_gossip_ring_unref(sb_gossip *g, const sb_ring *r)
{
    if (r == g->ring) {
        SB_ASSERT(g->ring_refs > 0);
        g->ring_refs--;
        return;
    }
    for (int i = 0; i < g->nretired; i++)
        if (g->retired[i].r == r) {
            SB_ASSERT(g->retired[i].refs > 0);
            if (--g->retired[i].refs == 0) {
                sb_ring_free(g->retired[i].r);
                g->retired[i] = g->retired[--g->nretired];
            }
            return;
        }
    SB_ASSERT(!"sb_gossip_ring_unref: not a ring of this gossip");
}
