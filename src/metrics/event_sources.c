/*
 * What feeds the node's event ring (node_events.h).
 *
 * NOTES ON THE DESIGN
 *
 * - Membership: a gossip listener turns NEW / UP / DOWN / RESTARTED /
 *   REMOVED into node_new / node_up / node_down / node_restarted /
 *   node_removed, at once.
 * - Everything else is sampled by a 1 s timer that diffs counters, so a
 *   burst of thousands of hints is one event per target per second, not
 *   thousands:
 *     hints: per peer, the change of sb_hints_pending; a rise is
 *       hints_stored (count = the rise), a fall while the replayed total
 *       rose is hints_replayed (count = the fall, capped by the replayed
 *       total). Stores the per-peer diff cannot attribute (a hint stored
 *       and replayed within the same second) are one hints_stored event
 *       without a peer.
 *     read repairs: the change of sb_coord_get_stats().read_repairs is
 *       one read_repair event.
 *     schema: the store's schema version is compared with the last one
 *       seen and, when it moved, the two snapshots are diffed (the same
 *       diff that drives the native protocol's SCHEMA_CHANGE events), so
 *       local DDL, DDL pulled from peers and tables created by ingestion
 *       all show, one schema_change event per keyspace or table changed.
 * - Raft: the group's event hook (sb_group_opts.on_event, installed by
 *   the node before the cluster starts) turns each election won, each
 *   leadership lost and each committed configuration change into a
 *   raft_<what> event at once (raft_elected, raft_stepped_down,
 *   raft_added, raft_learner, raft_promoted, raft_demoted, raft_removed).
 *   Elections are reported by the winner, changes by the leader that made
 *   them, so each is on one node's timeline once.
 * - One node per process: the state is file-static, like the cluster
 *   glue in node_cluster.c. Everything runs on the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "coord/coord.h"
#include "cqlproto/events.h"
#include "metrics/node_view.h"
#include "metrics/events.h"
#include "storage/store.h"
#include "util/err.h"

#define MAX_TRACKED 256

typedef struct tracked_peer {
    sb_ep ep;
    uint64_t pending;
} tracked_peer;

static struct {
    sb_node_view *node;
    uv_timer_t timer;
    int timer_on;
    tracked_peer peers[MAX_TRACKED];
    int npeers;
    uint64_t stored, replayed, read_repairs;
    uint8_t schema_seen[16];
    cqlp_schema_snap *snap;
} src;

static void on_gossip(void *arg, int event, const sb_member *m)
{
    sb_node_view *n = arg;
    char ep[SB_EP_STRLEN];
    if (!n->events || m->is_self)
        return;
    sb_ep_str(&m->ep, ep);
    int64_t now = sb_node_events_now_ms();
    switch (event) {
    case SB_GOSSIP_NEW:
        sb_node_events_add(n->events, now, "node_new", ep, 0, "%s joined the cluster (%s/%s)", ep,
                           m->dc[0] ? m->dc : "?", m->rack[0] ? m->rack : "?");
        break;
    case SB_GOSSIP_UP:
        sb_node_events_add(n->events, now, "node_up", ep, 0, "%s is up", ep);
        break;
    case SB_GOSSIP_DOWN:
        if (m->status == SB_STATUS_SHUTDOWN)
            sb_node_events_add(n->events, now, "node_down", ep, 0,
                               "%s is down (announced shutdown)", ep);
        else
            sb_node_events_add(n->events, now, "node_down", ep, 0, "%s is down (phi %.1f)", ep,
                               m->phi);
        break;
    case SB_GOSSIP_RESTARTED:
        sb_node_events_add(n->events, now, "node_restarted", ep, 0,
                           "%s restarted (generation %lld)", ep, (long long)m->generation);
        break;
    case SB_GOSSIP_REMOVED:
        sb_node_events_add(n->events, now, "node_removed", ep, 0, "%s was removed", ep);
        break;
    default:
        break;
    }
}

void sb_node_events_on_raft(void *arg, const sb_group_event *ev)
{
    sb_node_view *n = arg;
    if (!n->events)
        return;
    char ep[SB_EP_STRLEN], type[SB_NODE_EVENT_TYPE_MAX];
    sb_ep_str(&ev->peer, ep);
    snprintf(type, sizeof type, "raft_%s", sb_group_event_name(ev->kind));
    unsigned long long term = (unsigned long long)ev->term;
    int64_t now = sb_node_events_now_ms();
    switch (ev->kind) {
    case SB_GROUP_ELECTED:
        sb_node_events_add(n->events, now, type, ep, 0, "%s elected Raft leader (term %llu)", ep,
                           term);
        break;
    case SB_GROUP_STEPPED_DOWN:
        sb_node_events_add(n->events, now, type, ep, 0, "%s lost Raft leadership (term %llu)", ep,
                           term);
        break;
    case SB_GROUP_ADDED:
        sb_node_events_add(n->events, now, type, ep, 0, "%s added to the Raft group", ep);
        break;
    case SB_GROUP_LEARNER:
        sb_node_events_add(n->events, now, type, ep, 0, "%s is a Raft learner", ep);
        break;
    case SB_GROUP_PROMOTED:
        sb_node_events_add(n->events, now, type, ep, 0,
                           "Raft voter %s promoted (%d voters, term %llu)", ep, ev->nvoters, term);
        break;
    case SB_GROUP_DEMOTED:
        sb_node_events_add(n->events, now, type, ep, 0,
                           "Raft voter %s demoted to learner (%d voters, term %llu)", ep,
                           ev->nvoters, term);
        break;
    case SB_GROUP_REMOVED:
        sb_node_events_add(n->events, now, type, ep, 0, "%s removed from the Raft group", ep);
        break;
    }
}

static tracked_peer *track(const sb_ep *ep)
{
    for (int i = 0; i < src.npeers; i++)
        if (sb_ep_eq(&src.peers[i].ep, ep))
            return &src.peers[i];
    if (src.npeers == MAX_TRACKED)
        return NULL;
    tracked_peer *t = &src.peers[src.npeers++];
    t->ep = *ep;
    t->pending = 0;
    return t;
}

static void sample_hints(sb_node_view *n, int64_t now)
{
    sb_gossip *g = sb_cluster_gossip(n->cluster);
    sb_hints *h = sb_cluster_hints(n->cluster);
    if (!h)
        return;
    sb_hints_stats st;
    sb_hints_get_stats(h, &st);
    uint64_t stored = st.stored - src.stored, replayed = st.replayed - src.replayed;
    src.stored = st.stored;
    src.replayed = st.replayed;
    uint64_t attributed = 0;
    int nm = sb_gossip_nmembers(g);
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        if (m->is_self)
            continue;
        tracked_peer *t = track(&m->ep);
        if (!t)
            continue;
        uint64_t p = sb_hints_pending(h, &m->ep);
        char ep[SB_EP_STRLEN];
        sb_ep_str(&m->ep, ep);
        if (p > t->pending) {
            uint64_t d = p - t->pending;
            attributed += d;
            sb_node_events_add(n->events, now, "hints_stored", ep, d,
                               "%llu hint%s stored for %s (%llu pending)", (unsigned long long)d,
                               d == 1 ? "" : "s", ep, (unsigned long long)p);
        } else if (p < t->pending && replayed > 0) {
            uint64_t d = t->pending - p;
            if (d > replayed)
                d = replayed;
            replayed -= d;
            sb_node_events_add(n->events, now, "hints_replayed", ep, d,
                               "%llu hint%s replayed to %s (%llu pending)", (unsigned long long)d,
                               d == 1 ? "" : "s", ep, (unsigned long long)p);
        }
        t->pending = p;
    }
    if (stored > attributed)
        sb_node_events_add(n->events, now, "hints_stored", NULL, stored - attributed,
                           "%llu hint%s stored and replayed within a second",
                           (unsigned long long)(stored - attributed),
                           stored - attributed == 1 ? "" : "s");
}

static void sample_read_repairs(sb_node_view *n, int64_t now)
{
    sb_coord *c = sb_cluster_coord(n->cluster);
    if (!c)
        return;
    sb_coord_stats st;
    sb_coord_get_stats(c, &st);
    if (st.read_repairs > src.read_repairs) {
        uint64_t d = st.read_repairs - src.read_repairs;
        sb_node_events_add(n->events, now, "read_repair", NULL, d,
                           "%llu read repair mutation%s sent to stale replicas",
                           (unsigned long long)d, d == 1 ? "" : "s");
    }
    src.read_repairs = st.read_repairs;
}

static void on_schema_diff(void *arg, const char *change, const char *target, const char *ks,
                           const char *name)
{
    sb_node_view *n = arg;
    char lower[16];
    snprintf(lower, sizeof lower, "%s", change);
    for (char *p = lower; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if (name)
        sb_node_events_add(n->events, sb_node_events_now_ms(), "schema_change", NULL, 0,
                           "table %s.%s %s", ks, name, lower);
    else
        sb_node_events_add(n->events, sb_node_events_now_ms(), "schema_change", NULL, 0,
                           "keyspace %s %s", ks, lower);
}

static void sample_schema(sb_node_view *n)
{
    const sb_schema *s = sb_store_schema(n->store);
    if (src.snap && !memcmp(s->version, src.schema_seen, 16))
        return;
    cqlp_schema_snap *snap = cqlp_schema_snap_new(s);
    if (!snap)
        return; /* out of memory: try again next second */
    if (src.snap)
        cqlp_schema_diff(src.snap, snap, on_schema_diff, n);
    cqlp_schema_snap_free(src.snap);
    src.snap = snap;
    memcpy(src.schema_seen, s->version, 16);
}

static void on_timer(uv_timer_t *t)
{
    sb_node_view *n = t->data;
    if (!n->events)
        return;
    int64_t now = sb_node_events_now_ms();
    sample_hints(n, now);
    sample_read_repairs(n, now);
    sample_schema(n);
}

int sb_node_events_start_sources(sb_node_view *n)
{
    n->events = sb_node_events_new(SB_NODE_EVENTS_CAPACITY);
    if (!n->events)
        return SB_ENOMEM;
    memset(&src, 0, sizeof src);
    src.node = n;
    /* Baselines: what happened before the node started is not an event. */
    sb_hints_stats hs;
    sb_coord_stats cs;
    if (sb_cluster_hints(n->cluster)) {
        sb_hints_get_stats(sb_cluster_hints(n->cluster), &hs);
        src.stored = hs.stored;
        src.replayed = hs.replayed;
    }
    if (sb_cluster_coord(n->cluster)) {
        sb_coord_get_stats(sb_cluster_coord(n->cluster), &cs);
        src.read_repairs = cs.read_repairs;
    }
    sb_gossip *g = sb_cluster_gossip(n->cluster);
    sb_hints *h = sb_cluster_hints(n->cluster);
    for (int i = 0; h && i < sb_gossip_nmembers(g); i++) {
        const sb_member *m = sb_gossip_member(g, i);
        tracked_peer *t = m->is_self ? NULL : track(&m->ep);
        if (t)
            t->pending = sb_hints_pending(h, &m->ep);
    }
    sb_gossip_on_event(g, on_gossip, n);
    sample_schema(n);
    uv_timer_init(n->loop, &src.timer);
    src.timer.data = n;
    uv_timer_start(&src.timer, on_timer, 1000, 1000);
    src.timer_on = 1;
    return 0;
}

void sb_node_events_stop_sources(sb_node_view *n)
{
    if (src.timer_on) {
        uv_timer_stop(&src.timer);
        uv_close((uv_handle_t *)&src.timer, NULL);
        src.timer_on = 0;
    }
}

void sb_node_events_free_sources(sb_node_view *n)
{
    cqlp_schema_snap_free(src.snap);
    src.snap = NULL;
    sb_node_events_free(n->events);
    n->events = NULL;
}
