/*
 * The node's live statistics (node_stats.h, docs/metrics.md).
 *
 * NOTES ON THE DESIGN
 *
 * - Requests: one slot per (op, consistency, outcome) for the coordinator
 *   and per (op, outcome) for the replica side, created on first use.
 *   A slot keeps its own count, sum and per-bucket counts for the JSON
 *   document, plus the registry children (counter and histogram) it
 *   feeds, looked up once. Both are updated by the same observation, so
 *   /metrics and /api/v1/stats always agree. Slots are touched on the loop
 *   thread only (the observers and the readers run there).
 * - Everything else is read from its owner when asked (gossip members,
 *   hints and coordinator stats, transport per-peer stats, store stats,
 *   statvfs of the data directory, /proc): nothing is polled.
 * - Label values of peers are listen addresses ("127.0.0.2:7000"), which
 *   gossip bounds (members) and the transport bounds (max_peers).
 */
#include "metrics/node_stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "coord/coord.h"
#include "cql/cql.h"
#include "cqlproto/cqlproto.h"
#include "util/json.h"
#include "ingest/ingest.h"
#include "metrics/metrics.h"
#include "net/transport.h"
#include "metrics/node_view.h"
#include "storage/store.h"
#include "util/err.h"
#include "util/hlc.h"

#define SIBYL_VERSION "0.1.0" /* as `sibyl version` prints */

static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define NB ((int)(sizeof bounds / sizeof bounds[0]))

enum { NOPS = 4, NCL = SB_CL_LOCAL_ONE + 1, NOUT = 4, NROPS = 3, NROUT = 2 };
static const char *const ops[NOPS] = {"write", "read", "range", "truncate"};
static const char *const rops[NROPS] = {"mutation", "read", "truncate"};
static const char *const outcomes[NOUT] = {"success", "unavailable", "timeout", "failure"};

typedef struct slot {
    int seen;
    uint64_t count;
    double sum;
    uint64_t b[NB + 1]; /* per bucket, not cumulative; the last is +Inf */
    sb_counter *ctr;
    sb_histogram *h;
} slot;

struct node_stats {
    sb_node_view *n;
    sb_metrics *m;
    sb_counter_vec *req_total;
    sb_histogram_vec *req_dur;
    sb_counter_vec *rep_total;
    sb_histogram_vec *rep_dur;
    slot req[NOPS][NCL][NOUT];
    slot rep[NROPS][NROUT];
};

static int outcome_index(int status)
{
    return status == 0 ? 0 : status == SB_EUNAVAILABLE ? 1 : status == SB_ETIMEOUT ? 2 : 3;
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static void slot_observe(slot *sl, double seconds)
{
    if (!(seconds >= 0)) /* NaN too */
        seconds = 0;
    int i = 0;
    while (i < NB && seconds > bounds[i])
        i++;
    sl->b[i]++;
    sl->count++;
    sl->sum += seconds;
    sb_counter_inc(sl->ctr);
    sb_histogram_observe(sl->h, seconds);
}

/* The observers node_stats_install hooks into the coordinator (arg =
 * node_stats). */
static void node_stats_on_request(void *arg, const char *op, int cl, int status, double seconds)
{
    node_stats *s = arg;
    int o = index_of(ops, NOPS, op);
    const char *cln = sb_consistency_name(cl);
    if (o < 0 || cl < 0 || cl >= NCL || !cln)
        return;
    int oc = outcome_index(status);
    slot *sl = &s->req[o][cl][oc];
    if (!sl->seen) {
        sl->seen = 1;
        sl->ctr = sb_counter_vec_with(s->req_total, SB_LABELS(op, cln, outcomes[oc]));
        sl->h = sb_histogram_vec_with(s->req_dur, SB_LABELS(op, cln, outcomes[oc]));
    }
    slot_observe(sl, seconds);
}

static void node_stats_on_replica(void *arg, const char *op, int status, double seconds)
{
    node_stats *s = arg;
    int o = index_of(rops, NROPS, op);
    if (o < 0)
        return;
    int oc = status == 0 ? 0 : 1;
    slot *sl = &s->rep[o][oc];
    if (!sl->seen) {
        sl->seen = 1;
        const char *out = oc ? "failure" : "success";
        sl->ctr = sb_counter_vec_with(s->rep_total, SB_LABELS(op, out));
        sl->h = sb_histogram_vec_with(s->rep_dur, SB_LABELS(op, out));
    }
    slot_observe(sl, seconds);
}

void node_stats_install(node_stats *s, sb_coord_opts *o)
{
    o->on_request = node_stats_on_request;
    o->on_replica = node_stats_on_replica;
    o->observer_arg = s;
}

/* --- figures read on demand --------------------------------------------------- */

typedef struct disk_figures {
    double free_bytes, total_bytes;
    int ok;
} disk_figures;

static disk_figures disk_of(const char *dir)
{
    disk_figures d = {0, 0, 0};
    struct statvfs v;
    if (statvfs(dir, &v) == 0) {
        d.free_bytes = (double)v.f_bavail * (double)v.f_frsize;
        d.total_bytes = (double)v.f_blocks * (double)v.f_frsize;
        d.ok = 1;
    }
    return d;
}

/* The transport's counters for ep (zeros if it never talked to it). */
static const sb_transport_peer_stats *peer_stats(const sb_transport_peer_stats *ps, int n,
                                                 const sb_ep *ep)
{
    for (int i = 0; i < n; i++)
        if (sb_ep_eq(&ps[i].peer, ep))
            return &ps[i];
    return NULL;
}

#define MAX_PEERS 1024

/* Reads the transport's per-peer stats into a malloc'd array (*n). */
static sb_transport_peer_stats *transport_peers(sb_node_view *n, int *count)
{
    *count = 0;
    if (!n->transport)
        return NULL;
    sb_transport_peer_stats *ps = calloc(MAX_PEERS, sizeof *ps);
    if (ps)
        *count = sb_transport_stats(n->transport, ps, MAX_PEERS);
    return ps;
}

static double finite_phi(double v)
{
    if (isnan(v))
        return 0;
    if (v > 1e9)
        return 1e9; /* phi of a long-dead peer: "very large" is enough */
    return v;
}

/* The node's listen address as gossip spells it ("127.0.0.1:7000"). */
static const char *self_name(sb_node_view *n, char buf[SB_EP_STRLEN])
{
    return sb_ep_str(&sb_gossip_self(sb_cluster_gossip(n->cluster))->ep, buf);
}

/* --- Prometheus collector ------------------------------------------------------- */

static void family1(sb_metrics_sink *k, sb_metric_type t, const char *name, const char *help,
                    double v)
{
    sb_metrics_sink_family(k, t, name, help);
    sb_metrics_sink_sample(k, NULL, NULL, v);
}

static void collect_cluster(sb_metrics_sink *k, sb_node_view *n)
{
    sb_gossip *g = sb_cluster_gossip(n->cluster);
    sb_hints *h = sb_cluster_hints(n->cluster);
    sb_hints_stats hs;
    memset(&hs, 0, sizeof hs);
    sb_hints_get_stats(h, &hs);
    family1(k, SB_METRIC_COUNTER, "sibyl_hints_stored_total", "Hints stored for down replicas.",
            (double)hs.stored);
    family1(k, SB_METRIC_COUNTER, "sibyl_hints_replayed_total",
            "Hints delivered to their replica and deleted.", (double)hs.replayed);
    sb_metrics_sink_family(k, SB_METRIC_COUNTER, "sibyl_hints_dropped_total",
                           "Hints dropped, by reason.");
    uint64_t known = hs.dropped_full + hs.dropped_window + hs.dropped_expired + hs.dropped_disk;
    uint64_t other = hs.dropped >= known ? hs.dropped - known : 0;
    const struct {
        const char *reason;
        uint64_t v;
    } dr[] = {{"full", hs.dropped_full},
              {"window", hs.dropped_window},
              {"expired", hs.dropped_expired},
              {"disk", hs.dropped_disk},
              {"failed", other}};
    for (size_t i = 0; i < sizeof dr / sizeof dr[0]; i++)
        sb_metrics_sink_sample(k, SB_LABELS("reason"), SB_LABELS(dr[i].reason), (double)dr[i].v);
    family1(k, SB_METRIC_GAUGE, "sibyl_hints_pending_bytes", "Bytes of hints waiting for replay.",
            (double)hs.pending_bytes);

    sb_coord_stats cs;
    memset(&cs, 0, sizeof cs);
    sb_coord_get_stats(sb_cluster_coord(n->cluster), &cs);
    family1(k, SB_METRIC_COUNTER, "sibyl_read_repairs_total",
            "Read-repair mutations sent to stale replicas.", (double)cs.read_repairs);
    family1(k, SB_METRIC_COUNTER, "sibyl_digest_mismatches_total",
            "Reads whose replica digests disagreed.", (double)cs.digest_mismatches);
    sb_metrics_sink_family(k, SB_METRIC_COUNTER, "sibyl_lwt_total",
                           "Lightweight transactions coordinated here, by outcome.");
    const struct {
        const char *outcome;
        uint64_t v;
    } lw[] = {{"applied", cs.lwt_applied},
              {"not_applied", cs.lwt_not_applied},
              {"unavailable", cs.lwt_unavailable},
              {"timeout", cs.lwt_timeout}};
    for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++)
        sb_metrics_sink_sample(k, SB_LABELS("outcome"), SB_LABELS(lw[i].outcome), (double)lw[i].v);
    family1(k, SB_METRIC_COUNTER, "sibyl_lwt_contention_total",
            "Paxos ballots retried because another round got in first.", (double)cs.lwt_contention);
    family1(k, SB_METRIC_COUNTER, "sibyl_lwt_repairs_total",
            "In-progress Paxos proposals of other coordinators finished here.",
            (double)cs.lwt_repairs);

    sb_gossip_stats gs;
    memset(&gs, 0, sizeof gs);
    sb_gossip_get_stats(g, &gs);
    family1(k, SB_METRIC_COUNTER, "sibyl_gossip_rounds_total", "Gossip rounds run.",
            (double)gs.rounds);
    family1(k, SB_METRIC_COUNTER, "sibyl_gossip_marked_down_total",
            "Times the failure detector marked a peer down.", (double)gs.marked_down);
    family1(k, SB_METRIC_COUNTER, "sibyl_gossip_marked_up_total",
            "Times a peer was marked up again.", (double)gs.marked_up);

    int nm = sb_gossip_nmembers(g);
    char ep[SB_EP_STRLEN];
    sb_metrics_sink_family(k, SB_METRIC_GAUGE, "sibyl_gossip_peer_up",
                           "1 while the failure detector holds the peer up.");
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        if (!m->is_self)
            sb_metrics_sink_sample(k, SB_LABELS("peer"), SB_LABELS(sb_ep_str(&m->ep, ep)),
                                   m->up ? 1 : 0);
    }
    sb_metrics_sink_family(k, SB_METRIC_GAUGE, "sibyl_gossip_peer_phi",
                           "Phi accrual suspicion level of the peer.");
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        if (!m->is_self)
            sb_metrics_sink_sample(k, SB_LABELS("peer"), SB_LABELS(sb_ep_str(&m->ep, ep)),
                                   finite_phi(m->phi));
    }
    sb_metrics_sink_family(k, SB_METRIC_GAUGE, "sibyl_hints_pending",
                           "Hints waiting for replay, per target.");
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        uint64_t p = m->is_self ? 0 : sb_hints_pending(h, &m->ep);
        if (p)
            sb_metrics_sink_sample(k, SB_LABELS("peer"), SB_LABELS(sb_ep_str(&m->ep, ep)),
                                   (double)p);
    }
}

/* The metadata Raft group (consensus/group.h). */
static void collect_raft(sb_metrics_sink *k, sb_node_view *n)
{
    sb_group *g = sb_cluster_group(n->cluster);
    if (!g)
        return;
    sb_group_status st;
    sb_group_get_status(g, &st);
    family1(k, SB_METRIC_GAUGE, "sibyl_raft_term", "Current Raft term of the metadata group.",
            (double)st.term);
    sb_metrics_sink_family(k, SB_METRIC_GAUGE, "sibyl_raft_role",
                           "1 for this node's role in the metadata Raft group.");
    static const char *const roles[] = {"leader", "follower", "candidate", "learner", "none"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        sb_metrics_sink_sample(k, SB_LABELS("role"), SB_LABELS(roles[i]),
                               strcmp(st.role, roles[i]) == 0);
    family1(k, SB_METRIC_GAUGE, "sibyl_raft_commit_index", "Highest Raft log index committed.",
            (double)st.commit_index);
    family1(k, SB_METRIC_GAUGE, "sibyl_raft_applied_index",
            "Highest Raft log index applied to the metadata state machine.",
            (double)st.applied_index);
    family1(k, SB_METRIC_GAUGE, "sibyl_raft_last_index", "Highest Raft log index stored.",
            (double)st.last_index);
    family1(k, SB_METRIC_GAUGE, "sibyl_raft_voters", "Voters in the metadata group.",
            (double)st.nvoters);
    family1(k, SB_METRIC_GAUGE, "sibyl_raft_has_leader", "1 when this node knows a Raft leader.",
            st.has_leader);
    family1(k, SB_METRIC_COUNTER, "sibyl_raft_elections_won_total",
            "Times this node became the Raft leader.", (double)st.elections_won);
    family1(k, SB_METRIC_COUNTER, "sibyl_raft_proposals_total",
            "Changes this node appended to the Raft log as leader.", (double)st.proposals);
    family1(k, SB_METRIC_COUNTER, "sibyl_raft_proposals_failed_total",
            "Proposals answered with a Raft failure (no leader, lost leadership, timeout).",
            (double)st.proposals_failed);
    family1(k, SB_METRIC_COUNTER, "sibyl_raft_forwarded_total",
            "Proposals this node forwarded to the leader.", (double)st.forwarded);
    family1(k, SB_METRIC_COUNTER, "sibyl_raft_configuration_changes_total",
            "Configuration changes this node made as leader.", (double)st.changes);
}

static void collect_transport(sb_metrics_sink *k, sb_node_view *n)
{
    int np;
    sb_transport_peer_stats *ps = transport_peers(n, &np);
    if (!ps)
        return;
    static const struct {
        sb_metric_type type;
        const char *name, *help;
        int field;
    } rows[] = {
        {SB_METRIC_COUNTER, "sibyl_messages_sent_total", "Node-to-node messages sent.", 0},
        {SB_METRIC_COUNTER, "sibyl_messages_received_total", "Node-to-node messages received.", 1},
        {SB_METRIC_COUNTER, "sibyl_messages_dropped_total",
         "Node-to-node messages dropped (queue full, peer blocked, connection lost).", 2},
        {SB_METRIC_GAUGE, "sibyl_message_queue_messages", "Messages waiting to be sent.", 3},
        {SB_METRIC_GAUGE, "sibyl_peer_blocked", "1 while fault injection blocks the peer.", 4},
    };
    char ep[SB_EP_STRLEN];
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        sb_metrics_sink_family(k, rows[r].type, rows[r].name, rows[r].help);
        for (int i = 0; i < np; i++) {
            const sb_transport_peer_stats *p = &ps[i];
            double v = rows[r].field == 0   ? (double)p->sent
                       : rows[r].field == 1 ? (double)p->received
                       : rows[r].field == 2 ? (double)p->dropped
                       : rows[r].field == 3 ? (double)p->queued_msgs
                                            : (p->blocked ? 1 : 0);
            sb_metrics_sink_sample(k, SB_LABELS("peer"), SB_LABELS(sb_ep_str(&p->peer, ep)), v);
        }
    }
    sb_metrics_sink_family(k, SB_METRIC_GAUGE, "sibyl_clock_offset_seconds",
                           "The peer's wall clock minus this node's, from the clocks its "
                           "frames carry (docs/clocks.md).");
    for (int i = 0; i < np; i++)
        if (ps[i].has_offset)
            sb_metrics_sink_sample(k, SB_LABELS("peer"), SB_LABELS(sb_ep_str(&ps[i].peer, ep)),
                                   (double)ps[i].offset_us / 1e6);
    free(ps);
    family1(k, SB_METRIC_GAUGE, "sibyl_clock_writes_refused",
            "1 while this node's clock is over the hard limit off from most live peers and it "
            "coordinates no writes.",
            n->clock_refusing ? 1 : 0);
    family1(k, SB_METRIC_COUNTER, "sibyl_clock_remote_ignored_total",
            "Peers' hybrid clock readings not adopted: over the hard limit ahead of this node's "
            "wall clock.",
            (double)atomic_load(&sb_hlc_node()->ignored));
}

/* The CQL server's connection admission (docs/cql-protocol.md#connections). */
static void collect_native(sb_metrics_sink *k, sb_node_view *n)
{
    if (!n->cqlproto)
        return;
    sb_cqlproto_stats st;
    sb_cqlproto_get_stats(n->cqlproto, &st);
    family1(k, SB_METRIC_GAUGE, "sibyl_cql_connections",
            "Open CQL client connections (admitted ones).", (double)st.connections);
    family1(k, SB_METRIC_COUNTER, "sibyl_cql_startup_timeouts_total",
            "CQL connections closed for not completing STARTUP within the startup timeout.",
            (double)st.startup_timeouts);
    sb_metrics_sink_family(k, SB_METRIC_COUNTER, "sibyl_cql_connections_refused_total",
                           "CQL connections refused at accept, by the limit that refused them.");
    sb_metrics_sink_sample(k, SB_LABELS("limit"), SB_LABELS("total"), (double)st.refused_total);
    sb_metrics_sink_sample(k, SB_LABELS("limit"), SB_LABELS("per_ip"), (double)st.refused_per_ip);
}

static void collect(sb_metrics_sink *k, void *arg)
{
    node_stats *s = arg;
    sb_node_view *n = s->n;
    collect_cluster(k, n);
    collect_native(k, n);
    collect_raft(k, n);
    collect_transport(k, n);
    disk_figures d = disk_of(n->data_dir);
    if (d.ok) {
        family1(k, SB_METRIC_GAUGE, "sibyl_storage_disk_free_bytes",
                "Bytes available to the node on the data directory's file system.", d.free_bytes);
        family1(k, SB_METRIC_GAUGE, "sibyl_storage_disk_total_bytes",
                "Size of the data directory's file system.", d.total_bytes);
    }
    sb_metrics_sink_family(k, SB_METRIC_GAUGE, "sibyl_node_info",
                           "Constant 1, labelled with the node's identity.");
    char self[SB_EP_STRLEN];
    sb_metrics_sink_sample(k, SB_LABELS("node", "dc", "rack", "version"),
                           SB_LABELS(self_name(n, self), n->dc, n->rack, SIBYL_VERSION), 1);
}

/* --- life cycle ------------------------------------------------------------------- */

node_stats *node_stats_new(sb_node_view *n)
{
    node_stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n = n;
    s->m = n->metrics;
    s->req_total = sb_metrics_counter_vec(
        s->m, "sibyl_coordinator_requests_total",
        "Requests coordinated by this node, by operation, consistency level and outcome.",
        SB_LABELS("op", "consistency", "outcome"));
    s->req_dur =
        sb_metrics_histogram_vec(s->m, "sibyl_coordinator_request_duration_seconds",
                                 "Latency of coordinated requests, from the call to the answer.",
                                 SB_LABELS("op", "consistency", "outcome"), bounds, NB);
    s->rep_total =
        sb_metrics_counter_vec(s->m, "sibyl_replica_requests_total",
                               "Requests served for other coordinators, by operation and outcome.",
                               SB_LABELS("op", "outcome"));
    s->rep_dur = sb_metrics_histogram_vec(
        s->m, "sibyl_replica_request_duration_seconds",
        "Latency of replica requests, from arrival to the answer (mutations: durable).",
        SB_LABELS("op", "outcome"), bounds, NB);
    if (!s->req_total || !s->req_dur || !s->rep_total || !s->rep_dur ||
        sb_metrics_add_collector(s->m, collect, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void node_stats_free(node_stats *s)
{
    if (!s)
        return;
    sb_metrics_remove_collector(s->m, collect, s);
    free(s);
}

sb_histogram *node_stats_sync_histogram(sb_metrics *m)
{
    return sb_metrics_histogram(m, "sibyl_commitlog_sync_duration_seconds",
                                "Duration of each commit-log fsync.", bounds, NB);
}

void node_stats_observe_sync(void *hist, double seconds)
{
    sb_histogram_observe(hist, seconds);
}

/* --- GET /api/v1/stats ------------------------------------------------------------------ */

static void put_str(sb_buf *b, const char *s)
{
    sb_json_append_string(b, s, strlen(s));
}

static void put_slot(sb_buf *b, const slot *sl)
{
    sb_buf_printf(b, "\"count\": %" PRIu64 ", \"sum_seconds\": %.6f, \"buckets\": [", sl->count,
                  sl->sum);
    uint64_t cum = 0;
    for (int i = 0; i <= NB; i++) {
        cum += sl->b[i];
        sb_buf_printf(b, "%s%" PRIu64, i ? ", " : "", cum);
    }
    sb_buf_printf(b, "]}");
}

static void put_requests(sb_buf *b, const node_stats *s)
{
    int first = 1;
    sb_buf_printf(b, ", \"requests\": [");
    for (int o = 0; o < NOPS; o++)
        for (int cl = 0; cl < NCL; cl++)
            for (int oc = 0; oc < NOUT; oc++) {
                const slot *sl = &s->req[o][cl][oc];
                if (!sl->seen)
                    continue;
                sb_buf_printf(b,
                              "%s{\"op\": \"%s\", \"consistency\": \"%s\", \"outcome\": \"%s\", ",
                              first ? "" : ", ", ops[o], sb_consistency_name(cl), outcomes[oc]);
                put_slot(b, sl);
                first = 0;
            }
    first = 1;
    sb_buf_printf(b, "], \"replica\": [");
    for (int o = 0; o < NROPS; o++)
        for (int oc = 0; oc < NROUT; oc++) {
            const slot *sl = &s->rep[o][oc];
            if (!sl->seen)
                continue;
            sb_buf_printf(b, "%s{\"op\": \"%s\", \"outcome\": \"%s\", ", first ? "" : ", ", rops[o],
                          oc ? "failure" : "success");
            put_slot(b, sl);
            first = 0;
        }
    sb_buf_printf(b, "]");
}

static void put_cluster(sb_buf *b, sb_node_view *n)
{
    sb_hints_stats hs;
    sb_coord_stats cs;
    sb_gossip_stats gs;
    memset(&hs, 0, sizeof hs);
    memset(&cs, 0, sizeof cs);
    memset(&gs, 0, sizeof gs);
    sb_gossip *g = sb_cluster_gossip(n->cluster);
    sb_hints *h = sb_cluster_hints(n->cluster);
    sb_hints_get_stats(h, &hs);
    sb_coord_get_stats(sb_cluster_coord(n->cluster), &cs);
    sb_gossip_get_stats(g, &gs);
    sb_buf_printf(b,
                  ", \"hints\": {\"stored\": %" PRIu64 ", \"replayed\": %" PRIu64
                  ", \"dropped\": %" PRIu64 ", \"pending\": %" PRIu64
                  ", \"pending_bytes\": %" PRIu64 "}, \"read_repairs\": %" PRIu64
                  ", \"digest_mismatches\": %" PRIu64 ", \"gossip\": {\"rounds\": %" PRIu64
                  ", \"marked_down\": %" PRIu64 ", \"marked_up\": %" PRIu64 "}",
                  hs.stored, hs.replayed, hs.dropped, hs.pending, hs.pending_bytes, cs.read_repairs,
                  cs.digest_mismatches, gs.rounds, gs.marked_down, gs.marked_up);
    sb_buf_printf(b,
                  ", \"lwt\": {\"applied\": %" PRIu64 ", \"not_applied\": %" PRIu64
                  ", \"unavailable\": %" PRIu64 ", \"timeout\": %" PRIu64
                  ", \"contention\": %" PRIu64 ", \"repairs\": %" PRIu64 "}, \"peers\": [",
                  cs.lwt_applied, cs.lwt_not_applied, cs.lwt_unavailable, cs.lwt_timeout,
                  cs.lwt_contention, cs.lwt_repairs);
    int np = 0;
    sb_transport_peer_stats *ps = transport_peers(n, &np);
    int nm = sb_gossip_nmembers(g), first = 1;
    for (int i = 0; i < nm; i++) {
        const sb_member *m = sb_gossip_member(g, i);
        if (m->is_self)
            continue;
        char ep[SB_EP_STRLEN];
        static const sb_transport_peer_stats none;
        const sb_transport_peer_stats *p = ps ? peer_stats(ps, np, &m->ep) : NULL;
        if (!p)
            p = &none;
        sb_buf_printf(b, "%s{\"peer\": ", first ? "" : ", ");
        put_str(b, sb_ep_str(&m->ep, ep));
        sb_buf_printf(b,
                      ", \"up\": %s, \"phi\": %.3f, \"sent\": %" PRIu64 ", \"received\": %" PRIu64
                      ", \"dropped\": %" PRIu64 ", \"queued\": %" PRIu64
                      ", \"connected\": %s, \"blocked\": %s, \"hints_pending\": %" PRIu64 "}",
                      m->up ? "true" : "false", finite_phi(m->phi), p->sent, p->received,
                      p->dropped, p->queued_msgs, p->connected ? "true" : "false",
                      p->blocked ? "true" : "false", h ? sb_hints_pending(h, &m->ep) : 0);
        first = 0;
    }
    free(ps);
    sb_buf_printf(b, "]");
}

static void process_figures(double *rss, double *cpu)
{
    *rss = 0;
    *cpu = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long size = 0, res = 0;
        if (fscanf(f, "%lu %lu", &size, &res) == 2)
            *rss = (double)res * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int node_stats_json(node_stats *s, sb_buf *b)
{
    sb_node_view *n = s->n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    char self[SB_EP_STRLEN];
    sb_buf_printf(b, "{\"node\": ");
    put_str(b, self_name(n, self));
    sb_buf_printf(b, ", \"http\": ");
    put_str(b, n->http_addr);
    sb_buf_printf(b, ", \"dc\": ");
    put_str(b, n->dc);
    sb_buf_printf(b, ", \"rack\": ");
    put_str(b, n->rack);
    sb_buf_printf(b, ", \"time_ms\": %" PRId64 ", \"uptime_seconds\": %.3f, \"bounds\": [",
                  (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, now - n->start_time_s);
    for (int i = 0; i < NB; i++)
        sb_buf_printf(b, "%s%g", i ? ", " : "", bounds[i]);
    sb_buf_printf(b, "]");
    put_requests(b, s);
    put_cluster(b, n);

    sb_store_stats st;
    memset(&st, 0, sizeof st);
    if (n->store)
        sb_store_get_stats(n->store, &st);
    disk_figures d = disk_of(n->data_dir);
    sb_buf_printf(b,
                  ", \"storage\": {\"live_bytes\": %" PRIu64 ", \"sstable_bytes\": %" PRIu64
                  ", \"memtable_bytes\": %" PRIu64 ", \"sstables\": %" PRIu64
                  ", \"compactions\": %" PRIu64 ", \"commitlog_syncs\": %" PRIu64
                  ", \"commitlog_sync_seconds\": %.6f, \"disk_free_bytes\": %.0f"
                  ", \"disk_total_bytes\": %.0f",
                  st.live_bytes, st.sst_bytes, st.memtable_bytes, st.sst_files, st.compactions,
                  st.wal_syncs, st.wal_sync_seconds, d.free_bytes, d.total_bytes);
    /* Whether the node refuses writes (storage/disk.c), for the dashboard. */
    sb_disk_status ds;
    memset(&ds, 0, sizeof ds);
    if (n->store)
        sb_store_disk_status(n->store, &ds);
    sb_buf_printf(b,
                  ", \"disk_state\": \"%s\", \"min_free_bytes\": %" PRIu64 ", \"refuses_writes\": ",
                  sb_disk_state_name(ds.state), ds.min_free_bytes);
    if (ds.state != SB_DISK_OK)
        sb_json_append_string(b, ds.reason, strlen(ds.reason));
    else
        sb_buf_printf(b, "null");
    sb_buf_printf(b, "}");
    sb_ingest_stats is;
    memset(&is, 0, sizeof is);
    sb_ingest_get_stats(&is);
    double rss, cpu;
    process_figures(&rss, &cpu);
    sb_buf_printf(b,
                  ", \"ingest\": {\"requests\": %" PRIu64 ", \"points\": %" PRIu64
                  ", \"rejected_requests\": %" PRIu64 "}, \"process\": {\"resident_bytes\": %.0f"
                  ", \"cpu_seconds\": %.3f}}\n",
                  is.requests, is.points, is.rejected_requests, rss, cpu);
    return b->data ? 0 : SB_ENOMEM;
}
