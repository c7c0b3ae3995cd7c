/*
 * The node's live statistics for the dashboard and Prometheus
 * (docs/metrics.md): coordinator and replica request counts and latency
 * histograms (fed by the coordinator's completion observers, coord.h),
 * and at read time hints, read repairs, gossip, per-peer failure
 * detector and transport figures, storage and disk, ingestion, process.
 *
 * The same numbers feed both outputs: GET /metrics (families registered
 * on the node's registry plus a collector) and GET /api/v1/stats
 * (node_stats_json). Every histogram uses one fixed set of bounds,
 * 100 us .. 10 s (bounds[] in node_stats.c).
 *
 * Threads: the observers, the collector (rendered by the HTTP server on
 * the loop) and node_stats_json all run on the node's loop thread; the
 * commit-log sync observer runs on the store's commit thread and only
 * touches a registry histogram (lock-free atomics).
 */
#ifndef SB_NODE_STATS_H
#define SB_NODE_STATS_H

#include <stdint.h>

#include "coord/coord.h"
#include "util/buf.h"

typedef struct sb_node_view sb_node_view;
struct sb_metrics;
struct sb_histogram;
typedef struct node_stats node_stats;

/* Registers the families and the collector on n->metrics. The node's
 * cluster, transport and store are looked up through n when read, so it
 * may be created before them. NULL when out of memory or on a clash. */
node_stats *node_stats_new(sb_node_view *n);
/* Removes the collector; call after the cluster is freed (its observers
 * may run until then) and before the registry is freed. */
void node_stats_free(node_stats *s);

/* Points o's completion observers at s. */
void node_stats_install(node_stats *s, sb_coord_opts *o);




/* Appends the GET /api/v1/stats document (docs/metrics.md). 0 or
 * SB_ENOMEM. */
int node_stats_json(node_stats *s, sb_buf *out);

/* sibyl_commitlog_sync_duration_seconds, registered on m (with the
 * bounds above); NULL on failure. Its observer (arg = the histogram) is
 * called by the store's commit thread after each fsync. */
struct sb_histogram *node_stats_sync_histogram(struct sb_metrics *m);
void node_stats_observe_sync(void *hist, double seconds);

#endif
