/*
 * A Sibyl node: one libuv loop that owns the storage engine, the CQL
 * engine and the HTTP API.
 *
 * Life cycle: sb_node_main parses flags and the config file, takes the
 * data-directory lock, opens the store (replaying RocksDB's WAL), starts
 * listening, and runs the loop until SIGINT or SIGTERM; then it stops
 * accepting, drains queued writes to disk and exits 0.
 */
#ifndef SB_NODE_H
#define SB_NODE_H

#include <uv.h>

#include "node/config.h"

typedef struct sb_node sb_node;
struct sb_store;
struct sb_cql_engine;
struct sb_metrics;
struct sb_cqlproto;
struct sb_cluster;
struct sb_transport;

struct sb_node {
    sb_config cfg;
    uv_loop_t *loop;
    struct sb_store *store;
    struct sb_cql_engine *cql;
    struct sb_metrics *metrics;
    struct sb_http *http;
    struct sb_cqlproto *cqlproto;   /* native protocol server */
    struct node_metrics *m;         /* the node's own metric handles */
    struct sb_cluster *cluster;     /* gossip, coordination, hints */
    struct sb_transport *transport; /* node-to-node TCP on --listen */
    struct node_stats *stats;       /* live request/cluster statistics (node_stats.h) */
    struct sb_node_events *events;  /* event timeline (node_events.h) */
    /* Ingestion writes through the coordinator (ingest.h sb_ingest_write_fn);
     * NULL: the local store. */
    int (*cluster_write)(void *arg, struct sb_wbatch *b, int consistency,
                         void (*cb)(void *arg, int status), void *cb_arg);
    int lock_fd;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    int stopping;
    double start_time_s;
};

/* `sibyl node ...` (argv[0] = "node"). Returns the process exit status. */
int sb_node_main(int argc, char **argv);

/* Takes an exclusive lock on DIR/sibyl.lock (creating DIR). On conflict
 * returns SB_ELOCKED with the holder's pid in errmsg. */
int sb_node_lock_dir(const char *dir, int *fd_out, char *errmsg);

/* Records one HTTP request in the node's metrics. */
void sb_node_observe_http(sb_node *n, const char *endpoint, int status, double seconds);

#endif
