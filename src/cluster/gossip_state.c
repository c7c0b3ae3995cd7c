/*
 * Endpoint states (gossip_int.h): the local node's application states,
 * each stamped with the heartbeat it changed at, and the merge of states
 * received from peers.
 *
 * Merging. A state whose generation is older than the known one is
 * ignored; a newer generation of a known node is a restart (fields are
 * replaced, the detector window reset, the node is up at once: RESTARTED,
 * then UP if it was down); within one generation every field whose
 * version is newer replaces the known value. Our own state is only ever
 * changed by us.
 *
 * A node learned second-hand (NEW) is not up until its heartbeat is seen
 * to increase; each increase is an arrival for its failure detector (see
 * "Up and down" in gossip_members.c). A state that adopts a placeholder
 * loaded from sys/peers/ (gossip_store.c) is a first sighting too, not a
 * restart. A removed node's states of its last generation or an older one
 * are ignored (quarantine).
 */
#include <string.h>

#include "cluster/gossip_int.h"
#include "util/log.h"

/* --- local states ---------------------------------------------------------- */

/* Changes a local field: bumps the heartbeat and stamps the field. The
 * caller has already written the value into self->m. */
void gossip_touch_self(sb_gossip *g, int k)
{
    g->self->m.heartbeat++;
    g->self->ver[k] = g->self->m.heartbeat;
}

void sb_gossip_set_schema(sb_gossip *g, const uint8_t version[16])
{
    if (!memcmp(g->self->m.schema_version, version, 16))
        return;
    memcpy(g->self->m.schema_version, version, 16);
    gossip_touch_self(g, F_SCHEMA);
}

void sb_gossip_set_load(sb_gossip *g, uint64_t bytes)
{
    if (g->self->m.load_bytes == bytes)
        return;
    g->self->m.load_bytes = bytes;
    gossip_touch_self(g, F_LOAD);
}

void sb_gossip_set_status(sb_gossip *g, int status)
{
    if (status < SB_STATUS_JOINING || status > SB_STATUS_SHUTDOWN || g->self->m.status == status)
        return;
    g->self->m.status = status;
    gossip_touch_self(g, F_STATUS);
    gossip_ring_changed(g, g->self);
}

/* --- merging remote states ------------------------------------------------- */

/* Copies field k of src into dst; returns 1 if the value changed. */
static int copy_field(sb_member *dst, const sb_member *src, int k)
{
    switch (k) {
#define CP(f)                                                                                      \
    do {                                                                                           \
        if (!memcmp(&dst->f, &src->f, sizeof dst->f))                                              \
            return 0;                                                                              \
        memcpy(&dst->f, &src->f, sizeof dst->f);                                                   \
        return 1;                                                                                  \
    } while (0)
    case F_STATUS:
        CP(status);
    case F_TOKENS:
        if (dst->ntokens == src->ntokens &&
            !memcmp(dst->tokens, src->tokens, (size_t)src->ntokens * sizeof *src->tokens))
            return 0;
        dst->ntokens = src->ntokens;
        memcpy(dst->tokens, src->tokens, (size_t)src->ntokens * sizeof *src->tokens);
        return 1;
    case F_DC:
        CP(dc);
    case F_RACK:
        CP(rack);
    case F_HOST_ID:
        CP(host_id);
    case F_RPC:
        CP(rpc);
    case F_HTTP:
        CP(http);
    case F_SCHEMA:
        CP(schema_version);
    case F_LOAD:
        CP(load_bytes);
    case F_RELEASE:
        CP(release_version);
#undef CP
    }
    return 0;
}

#define RINGF                                                                                      \
    ((1u << F_STATUS) | (1u << F_TOKENS) | (1u << F_DC) | (1u << F_RACK) | (1u << F_HOST_ID))

/* Applies the fields of s newer than n's; returns the mask of fields whose
 * value changed. */
static unsigned merge_fields(gnode *n, const gstate *s)
{
    unsigned changed = 0;
    for (int k = 1; k < F_COUNT; k++) {
        if (s->ver[k] == 0 || s->ver[k] <= n->ver[k])
            continue;
        n->ver[k] = s->ver[k];
        if (copy_field(&n->m, &s->v, k))
            changed |= 1u << k;
    }
    return changed;
}

static void apply_new(sb_gossip *g, const gstate *s)
{
    char eps[SB_EP_STRLEN];
    gnode *n = gossip_add_node(g, &s->ep);
    if (!n) {
        gossip_reject(g, 0, &s->ep,
                      g->nnodes >= GOSSIP_MAX_MEMBERS ? "too many members" : "no memory");
        return;
    }
    n->m.generation = s->gen;
    n->m.heartbeat = s->hb;
    n->m.since_ms = gossip_now_ms(g);
    merge_fields(n, s);
    gossip_save_peer(g, n);
    SB_INFO("gossip", "new node", "ep=%s generation=%lld status=%s tokens=%d",
            sb_ep_str(&n->m.ep, eps), (long long)n->m.generation, sb_node_status_name(n->m.status),
            n->m.ntokens);
    int in = gossip_in_ring(&n->m);
    if (in)
        gossip_rebuild_ring(g);
    gossip_emit(g, SB_GOSSIP_NEW, n);
    if (in)
        gossip_emit(g, SB_GOSSIP_STATUS, n);
}

static void apply_restart(sb_gossip *g, gnode *n, const gstate *s)
{
    char eps[SB_EP_STRLEN];
    sb_member old = n->m;
    int was_up = n->m.up;
    /* A placeholder loaded from sys/peers/ meets its real state: the
     * first sighting of the node, second-hand as far as we know, so it is
     * not up until its heartbeat rises (as apply_new). */
    int adopt = !gossip_known(n);
    /* A new incarnation: nothing of the old state carries over. */
    memset(&n->m, 0, sizeof n->m);
    memset(n->ver, 0, sizeof n->ver);
    n->m.ep = old.ep;
    n->m.up = old.up;
    n->m.since_ms = old.since_ms;
    n->m.generation = s->gen;
    n->m.heartbeat = s->hb;
    merge_fields(n, s);
    n->m.phi = 0;
    if (adopt) {
        SB_INFO("gossip", "saved node seen", "ep=%s generation=%lld status=%s tokens=%d",
                sb_ep_str(&n->m.ep, eps), (long long)s->gen, sb_node_status_name(n->m.status),
                n->m.ntokens);
    } else {
        sb_fd_init(&n->fd, gossip_now_ms(g), g->o.interval_ms);
        n->fd_started = 1;
        SB_INFO("gossip", "node restarted", "ep=%s generation=%lld old_generation=%lld",
                sb_ep_str(&n->m.ep, eps), (long long)s->gen, (long long)old.generation);
    }
    if (memcmp(old.host_id, n->m.host_id, 16))
        gossip_forget_peer(g, old.host_id, n);
    gossip_save_peer(g, n);
    int ringdiff = old.status != n->m.status || old.ntokens != n->m.ntokens ||
                   memcmp(old.tokens, n->m.tokens, (size_t)old.ntokens * sizeof *old.tokens) ||
                   strcmp(old.dc, n->m.dc) || strcmp(old.rack, n->m.rack) ||
                   memcmp(old.host_id, n->m.host_id, 16);
    if (ringdiff)
        gossip_rebuild_ring(g);
    gossip_emit(g, adopt ? SB_GOSSIP_NEW : SB_GOSSIP_RESTARTED, n);
    if (ringdiff)
        gossip_emit(g, SB_GOSSIP_STATUS, n);
    if (n->m.status == SB_STATUS_SHUTDOWN) {
        gossip_set_up(g, n, 0);
    } else if (adopt) {
        /* up when its heartbeat rises */
    } else if (!was_up) {
        gossip_set_up(g, n, 1);
    } else if (gossip_schema_differs(g, n) && memcmp(old.schema_version, n->m.schema_version, 16)) {
        gossip_emit(g, SB_GOSSIP_SCHEMA, n);
    }
}

static int quarantined(const sb_gossip *g, const gstate *s)
{
    for (int i = 0; i < GOSSIP_MAX_REMOVED; i++)
        if (g->removed[i].gen >= s->gen && sb_ep_eq(&g->removed[i].ep, &s->ep))
            return 1;
    return 0;
}

void gossip_apply_state(sb_gossip *g, const gstate *s)
{
    if (sb_ep_eq(&s->ep, &g->o.self))
        return; /* only we change our own state */
    gnode *n = gossip_find_node(g, &s->ep);
    if (!n) {
        if (!quarantined(g, s))
            apply_new(g, s);
        return;
    }
    if (s->gen < n->m.generation)
        return; /* an old incarnation, still relayed */
    if (s->gen > n->m.generation) {
        apply_restart(g, n, s);
        return;
    }
    int beat = s->hb > n->m.heartbeat;
    if (beat)
        n->m.heartbeat = s->hb;
    uint8_t old_id[16];
    memcpy(old_id, n->m.host_id, 16);
    unsigned changed = merge_fields(n, s);
    if (changed & (1u << F_HOST_ID))
        gossip_forget_peer(g, old_id, n);
    if (changed & RINGF)
        gossip_ring_changed(g, n);
    else if (changed & ((1u << F_RPC) | (1u << F_HTTP)))
        gossip_save_peer(g, n);
    if (n->m.status == SB_STATUS_SHUTDOWN) {
        gossip_set_up(g, n, 0);
        return;
    }
    int was_up = n->m.up;
    if (beat)
        gossip_alive(g, n); /* emits SCHEMA itself when it comes up */
    if (was_up && (changed & (1u << F_SCHEMA)) && gossip_schema_differs(g, n))
        gossip_emit(g, SB_GOSSIP_SCHEMA, n);
}
