/*
 * The node's cluster glue:
 *   cluster_io.c   the production sb_io (libuv timers, TCP transport,
 *                  RocksDB store)
 *   cluster_cql.c  the CQL engine's writes and reads through the
 *                  coordinator, the schema as a blob for agreement
 */
#ifndef SB_NODE_CLUSTER_IO_H
#define SB_NODE_CLUSTER_IO_H

#include <uv.h>

#include "cluster/cluster.h"
#include "cql/cql.h"
#include "storage/store.h"

struct sb_transport;

typedef struct sb_node_io {
    sb_io io;
    uv_loop_t *loop;
    sb_store *store;
    struct sb_transport *transport;
    uint64_t rng;
} sb_node_io;

void sb_node_io_init(sb_node_io *n, uv_loop_t *loop, sb_store *store,
                     struct sb_transport *transport);

/* --- CQL through the coordinator ----------------------------------------- */

typedef struct sb_cql_glue {
    sb_store *store;
    sb_cluster *cluster;
    sb_io *io;
    uint32_t fetch_entries; /* raw entries per read round, default 5000 */
    uint32_t fetch_bytes;   /* default 4 MiB */
    int64_t ts;             /* schema timestamp (cached kv "sys/schema_ts") */
    int ts_loaded;
    /* The store's schema version once this node's DDL was spread, or a
     * remote schema applied: another version means local DDL outside CQL
     * (ingestion) still to spread. */
    uint8_t seen_version[16];
    /* The schema blob and version, cached per (store version, timestamp). */
    sb_buf cache_blob;
    uint8_t cache_key[16];
    int64_t cache_ts;
    uint8_t cache_version[16];
    int cache_ok;
} sb_cql_glue;

/* Fills the engine options' write hook and reader. g must outlive the
 * engine. */
void sb_cql_glue_install(sb_cql_glue *g, sb_cql_engine_opts *o);

/* The write hook (sb_cql_write_fn) on its own, for ingestion. */
int sb_cql_glue_write(void *arg, sb_wbatch *b, int cl, const char *write_type, sb_cql_write_done cb,
                      void *cb_arg);

/* Schema agreement hooks (cluster.h) over the store. The schema blob is
 * JSON: {"ts": N, "keyspaces": [{keyspace}, ...], "tables": [{table}, ...]}
 * with keyspaces and tables in name order, in the store's own JSON forms;
 * the version is the first 16 bytes of its SHA-256. */
void sb_cql_glue_schema_ops(sb_cql_glue *g, sb_cluster_schema_ops *ops);
/* The schema's content version (cached; rebuilt only after a change). */
int sb_cql_glue_schema_version(sb_cql_glue *g, uint8_t out[16]);
/* Records a local DDL (timestamp now) and tells the cluster. */
void sb_cql_glue_schema_changed(sb_cql_glue *g);

/* The replication of a table's keyspace (sb_coord_opts.table_repl). */
int sb_cql_glue_table_repl(void *arg, const uint8_t table_id[16], sb_repl *out);

/* --- node wiring (node_cluster.c) ---------------------------------------- */
struct sb_node;
/* Starts the transport and the cluster and fills eo with the
 * coordinator's reads and writes. */
int sb_node_cluster_start(struct sb_node *n, const uint8_t host_id[16], sb_cql_engine_opts *eo,
                          char *errmsg);
/* Ingestion writes through the coordinator (ingest.h sb_ingest_write_fn). */
int sb_node_cluster_write(void *arg, sb_wbatch *b, int consistency, sb_write_cb cb, void *cb_arg);
/* The schema's content version (equal on nodes that agree). */
int sb_node_schema_version(void *arg, uint8_t out[16]);
void sb_node_cluster_stop(struct sb_node *n);
void sb_node_cluster_free(struct sb_node *n);

#endif
