/*
 * What the edges and the observers of a running node see of it: its
 * identity and its parts. node/ fills one sb_node_view as it builds the
 * node and hands it (borrowed) to the HTTP API (http/) and to the
 * observers here (stats, metrics, events); none of them reaches the rest
 * of the node. Every pointer stays valid until the node stops its HTTP
 * server and event sources; a part the node has not built is NULL.
 */
#ifndef SB_METRICS_NODE_VIEW_H
#define SB_METRICS_NODE_VIEW_H

#include <uv.h>

#include "storage/store.h"

struct sb_cql_error;

struct sb_cql_engine;
struct sb_metrics;
struct sb_cluster;
struct sb_stream;
struct sb_transport;
struct sb_cqlproto;
struct node_metrics;
struct node_stats;
struct sb_node_events;

typedef struct sb_node_view {
    /* Identity: strings owned by the node's configuration. */
    const char *listen_addr; /* node-to-node HOST:PORT */
    const char *http_addr;
    const char *cql_addr;
    const char *data_dir;
    const char *cluster_name;
    const char *dc;
    const char *rack;
    const char *demo_control; /* URL of the demo's control server, "" = none */
    /* http.cors_allowed_origins: canonical origins, comma-separated (http/
     * origin.h), "" = none */
    const char *cors_allowed_origins;
    double start_time_s; /* wall clock at start */
    /* Serving: set once gossip has settled (gossip.h sb_gossip_settled) and
     * the CQL port is open; /health answers 503 before. settle_note names
     * the peers not heard from when settling timed out ("" = none). */
    int ready;
    int clock_refusing; /* node/clocks.h: its clock is off, writes refused */
    /* disk_failure_policy=stop after a disk failure: the CQL port and
     * gossip are closed, /health answers 503 (node.c) */
    int disk_stopped;
    char settle_note[256];
    uv_loop_t *loop;
    /* Parts. */
    struct sb_store *store;
    struct sb_cql_engine *cql;
    struct sb_metrics *metrics;
    struct node_metrics *m;         /* the node's own metric handles */
    struct sb_cluster *cluster;     /* gossip, coordination, hints */
    struct sb_transport *transport; /* node-to-node TCP on --listen */
    struct sb_stream *stream;       /* range streaming (stream/stream.h) */
    struct sb_cqlproto *cqlproto;   /* the CQL server; NULL before start, after stop */
    struct node_stats *stats;       /* live request/cluster statistics */
    struct sb_node_events *events;  /* event timeline */
    /* Ingestion writes through the coordinator (store.h sb_write_fn). */
    sb_write_fn cluster_write;
    void *cluster_write_arg;
    /* Schema changes through the metadata Raft group (cql.h
     * sb_cql_engine_opts.ddl; coord.h sb_cql_glue_ddl): the keyspaces,
     * tables and columns that ingestion needs. NULL: made locally. */
    int (*ddl)(void *arg, const char *keyspace, const char *text, size_t len,
               void (*done)(void *arg, int status, const struct sb_cql_error *detail),
               void *done_arg);
    void *ddl_arg;
} sb_node_view;

#endif
