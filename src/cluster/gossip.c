/*
 * Membership and failure detection (gossip.h): options, lifecycle, joining
 * the ring and the round timer. The design note and the invariants that
 * every file of gossip keeps are in gossip_int.h.
 *
 * Joining. A node with no saved tokens starts JOINING and allocates them
 * at the first round after its ready time: at once if it is its own seed,
 * else ring_delay_ms after it first heard from a seed, or ring_delay_ms
 * after start if no seed answered. So that nodes started together do not
 * compute the same tokens from the same ring, a node also waits while
 * JOINING nodes with smaller endpoints (not known dead) are still
 * allocating, as long as one of them finished within the last 4 ring
 * delays.
 *
 * Rounds. Every interval_ms the timer runs one round (gossip_msg.c), then
 * the failure detector's verdicts and the removal of departed nodes
 * (gossip_members.c), then the join check above.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_int.h"
#include "cluster/rpc.h"
#include "util/err.h"
#include "util/log.h"

static const char *const status_names[] = {"?", "JOINING", "NORMAL", "LEAVING", "LEFT", "SHUTDOWN"};

const char *sb_node_status_name(int status)
{
    if (status >= SB_STATUS_JOINING && status <= SB_STATUS_SHUTDOWN)
        return status_names[status];
    return "UNKNOWN";
}

void sb_gossip_opts_default(sb_gossip_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->cluster_name, sizeof o->cluster_name, "Sibyl Cluster");
    snprintf(o->dc, sizeof o->dc, "datacenter1");
    snprintf(o->rack, sizeof o->rack, "rack1");
    snprintf(o->release_version, sizeof o->release_version, "4.0.11");
    o->num_tokens = 16;
    o->interval_ms = 1000;
    o->phi_threshold = 8;
    o->ring_delay_ms = 0; /* 0: 2 * interval_ms */
    o->settle_ms = 5000;
}

/* --- joining and the round timer ------------------------------------------- */

/* Whether a JOINING node with a smaller endpoint, not known dead, is still
 * choosing its tokens (see Joining at the top of this file). */
static int joiners_ahead(const sb_gossip *g)
{
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *n = g->nodes[i];
        if (sb_ep_cmp(&n->m.ep, &g->o.self) >= 0)
            break;
        k += gossip_known(n) && n->m.status == SB_STATUS_JOINING && !(n->fd_started && !n->m.up);
    }
    return k;
}

int sb_gossip_adopt_tokens(sb_gossip *g, const int64_t *t, int n, int status)
{
    if (n < 1 || n > SB_MAX_TOKENS || (status != SB_STATUS_JOINING && status != SB_STATUS_NORMAL))
        return SB_EINVAL;
    if (status == SB_STATUS_NORMAL) {
        int rc = gossip_save_tokens(g, t, n);
        if (rc) {
            SB_ERROR("gossip", "cannot save tokens", "rc=%s", sb_errname(rc));
            return rc;
        }
    }
    sb_member *m = &g->self->m;
    memcpy(m->tokens, t, (size_t)n * sizeof *t);
    m->ntokens = n;
    gossip_touch_self(g, F_TOKENS);
    m->status = status;
    gossip_touch_self(g, F_STATUS);
    SB_INFO("gossip", status == SB_STATUS_NORMAL ? "joined the ring" : "joining the ring",
            "tokens=%d ring_nodes=%d", m->ntokens, sb_ring_nnodes(g->ring));
    gossip_ring_changed(g, g->self);
    return 0;
}

static void join(sb_gossip *g)
{
    int64_t toks[SB_MAX_TOKENS];
    int rc = sb_ring_allocate(g->ring, g->o.dc, g->o.num_tokens, g->io->random, g->io->ctx, toks);
    if (rc) {
        SB_ERROR("gossip", "token allocation failed", "rc=%s", sb_errname(rc));
        return;
    }
    sb_gossip_adopt_tokens(g, toks, g->o.num_tokens, SB_STATUS_NORMAL);
}

static void maybe_join(sb_gossip *g)
{
    if (g->self->m.status != SB_STATUS_JOINING)
        return;
    uint64_t now = gossip_now_ms(g);
    uint64_t ready =
        (g->seed_contact_ms ? g->seed_contact_ms : g->start_ms) + (uint64_t)g->o.ring_delay_ms;
    if (now < ready)
        return;
    /* The committed topology allocates the tokens (join_hook). */
    if (g->o.join_hook && g->o.join_hook(g->o.join_arg))
        return;
    /* Wait for the joiners ahead while they make progress (one of them
     * finished within the last 4 ring delays). */
    int ahead = joiners_ahead(g);
    if (ahead != g->join_ahead) {
        g->join_ahead = ahead;
        g->join_progress_ms = now;
    }
    uint64_t since = g->join_progress_ms > ready ? g->join_progress_ms : ready;
    if (ahead > 0 && now < since + 4 * (uint64_t)g->o.ring_delay_ms)
        return;
    join(g);
}

static void tick(void *arg)
{
    sb_gossip *g = arg;
    g->timer = NULL;
    gossip_round(g);
    gossip_check_fd(g);
    gossip_expire_left(g);
    maybe_join(g);
    if (!g->stopped)
        g->timer = g->io->timer_start(g->io->ctx, (uint64_t)g->o.interval_ms, tick, g);
}

/* --- settling ---------------------------------------------------------------- */

#define GREET_MS 200

/* The awaited peers not heard yet, comma-separated, into out; how many. */
static int unheard(const sb_gossip *g, char *out, size_t size)
{
    int k = 0;
    size_t at = 0;
    if (size)
        out[0] = '\0';
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *n = g->nodes[i];
        if (!n->awaited || n->m.up)
            continue;
        if (out && at + SB_EP_STRLEN + 2 < size) {
            char eps[SB_EP_STRLEN];
            at += (size_t)snprintf(out + at, size - at, "%s%s", k ? "," : "",
                                   sb_ep_str(&n->m.ep, eps));
        }
        k++;
    }
    /* A new node that is not a seed has to hear from one to join anyway. */
    int seeds = g->o.nseeds > 0 && !gossip_is_seed(g, &g->o.self);
    if (k == 0 && seeds && !g->seed_contact_ms && g->nnodes == 1) {
        if (out && size)
            snprintf(out, size, "a seed");
        k = 1;
    }
    return k;
}

int sb_gossip_settled(sb_gossip *g, char *why, size_t whysize)
{
    if (why && whysize)
        why[0] = '\0';
    if (g->settled) {
        if (why && whysize && g->settle_timed_out)
            snprintf(why, whysize, "%s", g->settle_missed);
        return 1;
    }
    if (!g->started)
        return 0;
    char missed[sizeof g->settle_missed];
    int k = unheard(g, missed, sizeof missed);
    uint64_t now = gossip_now_ms(g);
    if (k > 0 && now < g->start_ms + (uint64_t)g->o.settle_ms) {
        if (why && whysize)
            snprintf(why, whysize, "%s", missed);
        return 0;
    }
    g->settled = 1;
    if (g->greet_timer) {
        g->io->timer_stop(g->io->ctx, g->greet_timer);
        g->greet_timer = NULL;
    }
    if (k > 0) {
        g->settle_timed_out = 1;
        snprintf(g->settle_missed, sizeof g->settle_missed, "%s", missed);
        SB_WARN("gossip", "settled without hearing from every peer", "waited_ms=%llu not_heard=%s",
                (unsigned long long)(now - g->start_ms), missed);
        if (why && whysize)
            snprintf(why, whysize, "%s", missed);
    } else {
        SB_INFO("gossip", "settled", "after_ms=%llu", (unsigned long long)(now - g->start_ms));
    }
    return 1;
}

static void greet_tick(void *arg)
{
    sb_gossip *g = arg;
    g->greet_timer = NULL;
    if (g->stopped || sb_gossip_settled(g, NULL, 0))
        return;
    gossip_greet(g);
    g->greet_timer = g->io->timer_start(g->io->ctx, GREET_MS, greet_tick, g);
}

/* Marks the saved peers to wait for and greets them with the seeds. */
static void start_settling(sb_gossip *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        gnode *n = g->nodes[i];
        n->awaited =
            n != g->self && n->m.status != SB_STATUS_SHUTDOWN && n->m.status != SB_STATUS_LEFT;
    }
    if (g->o.settle_ms == 0 || sb_gossip_settled(g, NULL, 0))
        return;
    gossip_greet(g);
    g->greet_timer = g->io->timer_start(g->io->ctx, GREET_MS, greet_tick, g);
}

/* --- lifecycle ------------------------------------------------------------- */

static int check_opts(const sb_gossip_opts *o, char *errmsg)
{
    if (o->self.family != 4 && o->self.family != 6)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: no listen address");
    if (!o->cluster_name[0])
        return sb_seterr(errmsg, SB_EINVAL, "gossip: empty cluster name");
    if (o->num_tokens < 1 || o->num_tokens > SB_MAX_TOKENS)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: num_tokens %d not in 1..%d", o->num_tokens,
                         SB_MAX_TOKENS);
    if (o->settle_ms < 0)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: settle_ms is negative");
    if (o->interval_ms <= 0 || o->ring_delay_ms < 0)
        return sb_seterr(errmsg, SB_EINVAL, "gossip: interval_ms/ring_delay_ms not positive");
    if (!(o->phi_threshold > 0))
        return sb_seterr(errmsg, SB_EINVAL, "gossip: phi_threshold must be positive");
    if (o->nseeds < 0 || o->nseeds > GOSSIP_MAX_SEEDS || (o->nseeds && !o->seeds))
        return sb_seterr(errmsg, SB_EINVAL, "gossip: %d seeds (at most %d)", o->nseeds,
                         GOSSIP_MAX_SEEDS);
    return 0;
}

sb_gossip *sb_gossip_new(const sb_io *io, const sb_gossip_opts *o, char *errmsg)
{
    if (check_opts(o, errmsg))
        return NULL;
    sb_gossip *g = calloc(1, sizeof *g);
    if (!g) {
        sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory");
        return NULL;
    }
    g->io = io;
    g->o = *o;
    g->o.cluster_name[sizeof g->o.cluster_name - 1] = '\0';
    if (g->o.ring_delay_ms == 0)
        g->o.ring_delay_ms = 2 * g->o.interval_ms;
    if (o->nseeds)
        memcpy(g->seeds, o->seeds, (size_t)o->nseeds * sizeof *o->seeds);
    g->o.seeds = g->seeds;
    sb_buf_init(&g->body);
    sb_buf_init(&g->out);
    sb_buf_init(&g->fbuf);
    g->nodes = calloc(GOSSIP_MAX_MEMBERS, sizeof *g->nodes);
    g->digs = calloc(GOSSIP_MAX_MEMBERS, sizeof *g->digs);
    if (!g->nodes || !g->digs) {
        sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory");
        goto fail;
    }
    if (gossip_init_self(g, errmsg))
        goto fail;
    if (gossip_rebuild_ring(g)) {
        sb_seterr(errmsg, SB_ENOMEM, "gossip: out of memory building the ring");
        goto fail;
    }
    return g;
fail:
    sb_gossip_free(g);
    return NULL;
}

void sb_gossip_start(sb_gossip *g)
{
    if (g->started)
        return;
    g->started = 1;
    g->start_ms = gossip_now_ms(g);
    char eps[SB_EP_STRLEN];
    SB_INFO("gossip", "starting", "ep=%s generation=%lld status=%s seeds=%d",
            sb_ep_str(&g->o.self, eps), (long long)g->self->m.generation,
            sb_node_status_name(g->self->m.status), g->o.nseeds);
    if (g->self->m.status == SB_STATUS_JOINING && gossip_is_seed(g, &g->o.self))
        join(g);
    else if (g->self->m.status == SB_STATUS_NORMAL)
        gossip_ring_changed(g, g->self);
    start_settling(g);
    tick(g);
}

void sb_gossip_stop(sb_gossip *g)
{
    if (g->stopped)
        return;
    g->stopped = 1;
    if (g->timer) {
        g->io->timer_stop(g->io->ctx, g->timer);
        g->timer = NULL;
    }
    if (g->greet_timer) {
        g->io->timer_stop(g->io->ctx, g->greet_timer);
        g->greet_timer = NULL;
    }
    if (!g->started)
        return;
    g->self->m.status = SB_STATUS_SHUTDOWN;
    gossip_touch_self(g, F_STATUS);
    gossip_ring_changed(g, g->self);
    sb_buf_reset(&g->body);
    if (gossip_put_state(g, &g->body, g->self, 0) != 0) {
        SB_ERROR("gossip", "out of memory building SHUTDOWN", NULL);
        return;
    }
    int sent = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (g->nodes[i] == g->self || !g->nodes[i]->m.up)
            continue;
        gossip_send_body(g, &g->nodes[i]->m.ep, SB_MSG_SHUTDOWN);
        sent++;
    }
    SB_INFO("gossip", "stopped", "shutdown_sent=%d", sent);
}

void sb_gossip_free(sb_gossip *g)
{
    if (!g)
        return;
    if (g->timer)
        g->io->timer_stop(g->io->ctx, g->timer);
    if (g->greet_timer)
        g->io->timer_stop(g->io->ctx, g->greet_timer);
    if (g->nodes)
        for (int i = 0; i < g->nnodes; i++)
            free(g->nodes[i]);
    free(g->nodes);
    free(g->digs);
    if (g->ring)
        sb_ring_free(g->ring);
    for (int i = 0; i < g->nretired; i++)
        sb_ring_free(g->retired[i].r);
    free(g->retired);
    sb_buf_free(&g->body);
    sb_buf_free(&g->out);
    sb_buf_free(&g->fbuf);
    free(g);
}
