/*
 * The node's own metrics: HTTP requests by endpoint and outcome, storage
 * and commit-log figures (collected from sb_store_get_stats at scrape
 * time), ingestion counts, and process figures.
 */
#ifndef SB_NODE_METRICS_H
#define SB_NODE_METRICS_H

#include <stdint.h>

struct sb_metrics;
struct sb_store;
typedef struct node_metrics node_metrics;

/* Registers everything on m; NULL when out of memory. */
node_metrics *node_metrics_new(struct sb_metrics *m, struct sb_store *store);
void node_metrics_free(node_metrics *nm);

/* endpoint is one of a fixed set of literals (bounded cardinality). */
void node_metrics_observe_http(node_metrics *nm, const char *endpoint, int status, double seconds);
void node_metrics_add_cql(node_metrics *nm, const char *kind, int ok);

#endif
