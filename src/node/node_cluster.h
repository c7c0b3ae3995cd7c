/*
 * The node's cluster wiring (node_cluster.c): the transport, the
 * cluster side (coord/coord.h) and the CQL backend over the node's
 * store.
 */
#ifndef SB_NODE_NODE_CLUSTER_H
#define SB_NODE_NODE_CLUSTER_H

#include "coord/coord.h"

/* --- node wiring (node_cluster.c) ---------------------------------------- */
struct sb_node;
/* Starts the transport and the cluster and fills eo with the
 * coordinator's reads and writes. */
int sb_node_cluster_start(struct sb_node *n, const uint8_t host_id[16], sb_cql_engine_opts *eo,
                          char *errmsg);
/* Starts the cluster (gossip, the Raft group) once the CQL engine exists:
 * the group's state machine runs schema changes on it. */
void sb_node_cluster_run(struct sb_node *n);
/* The arg of the coordinator's write function (sb_cql_glue_write), for
 * ingestion. */
void *sb_node_cluster_write_arg(void);
/* The schema's content version (equal on nodes that agree). */
int sb_node_schema_version(void *arg, uint8_t out[16]);
void sb_node_cluster_stop(struct sb_node *n);
void sb_node_cluster_free(struct sb_node *n);

#endif
