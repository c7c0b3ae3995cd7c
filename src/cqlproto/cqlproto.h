/*
 * CQL native protocol v4 server: the whole interface of src/cqlproto/.
 *
 * The server runs on the node's libuv loop and executes statements
 * through the CQL executor (cql/cql.h), one sb_cql_session per
 * connection. It also installs the executor's virtual-table provider for
 * the system tables drivers read on connect (system.local, system.peers,
 * system.peers_v2, system_schema.*), see docs/cql-protocol.md.
 *
 * Events: connections that sent REGISTER get EVENT frames (stream -1) for
 * the types they asked for: TOPOLOGY_CHANGE (NEW_NODE when a peer first
 * owns tokens, REMOVED_NODE when it leaves) and STATUS_CHANGE (UP, DOWN)
 * from gossip, addressed by the node's CQL address; SCHEMA_CHANGE for
 * every keyspace or table created, altered or dropped, whether by this
 * node's CQL, its HTTP API or a schema pulled from a peer (the server
 * diffs the schema whenever its version changes).
 */
#ifndef SB_CQLPROTO_H
#define SB_CQLPROTO_H

#include <stddef.h>
#include <uv.h>

#include "cql/cql.h"
#include "storage/store.h"

typedef struct sb_cqlproto sb_cqlproto;
struct sb_cluster;

/* Who this node is, for system.local and system.peers. The strings are
 * read during sb_cqlproto_start / cqlp_systables_new only. */
typedef struct sb_cqlproto_ident {
    const char *data_dir; /* holds the persisted host id (DATA/host_id) */
    const char *cluster_name;
    const char *dc;
    const char *rack;
    const char *listen_addr; /* node-to-node HOST:PORT */
} sb_cqlproto_ident;

typedef struct sb_cqlproto_opts {
    size_t max_frame_bytes; /* body limit; larger frames are refused
                               unread. default 16 MiB */
    int max_inflight;       /* requests in flight per connection before
                               Overloaded errors; default 4096 */
    /* Admission (docs/cql-protocol.md#connections): connections beyond
     * either limit get an Overloaded error frame and are closed; -1 = no
     * limit. Cassandra's native_transport_max_concurrent_connections and
     * ..._per_ip. Defaults 1024 and -1. */
    int max_connections;
    int max_connections_per_ip;
    /* A connection that has not sent READY this long after its accept is
     * closed; 0 = never. Default 10000. */
    int startup_timeout_ms;
    /* The node's cluster (borrowed; must outlive the server's stop, and
     * the gossip listener the server registers stays registered until the
     * cluster is freed: after stop it does nothing). NULL = a single node:
     * no peers, no topology or status events. With a cluster,
     * system.local/peers come from gossip and registered connections get
     * TOPOLOGY_CHANGE and STATUS_CHANGE events. */
    struct sb_cluster *cluster;
    /* system.local.schema_version (a content hash, equal on every node
     * once schemas agree); NULL = the store's schema version. 0 or a
     * negative code (then the store's version is reported). */
    int (*schema_version)(void *arg, uint8_t out[16]);
    void *schema_version_arg;
} sb_cqlproto_opts;

void sb_cqlproto_opts_default(sb_cqlproto_opts *o);

/* Listens on addr ("HOST:PORT") on loop. engine and store are borrowed and
 * must outlive sb_cqlproto_stop; id is read during the call. Installs
 * the system-table provider on engine. opts may be NULL. 0, or an SB_E*
 * code with errmsg ("cannot listen on 127.0.0.1:9042: address already in
 * use"). */
int sb_cqlproto_start(sb_cqlproto **out, uv_loop_t *loop, const char *addr, sb_cql_engine *engine,
                      sb_store *store, const sb_cqlproto_ident *id, const sb_cqlproto_opts *opts,
                      char *errmsg);

/* Stops accepting and closes every connection. Requests still in flight
 * complete later (their responses are dropped); memory is released once
 * the last one has called back and the loop has run the close callbacks.
 * Uninstalls the system-table provider. NULL is fine. */
void sb_cqlproto_stop(sb_cqlproto *p);

/* Connection counters since start (the node exports them in /metrics). */
typedef struct sb_cqlproto_stats {
    int connections;           /* admitted and open now */
    uint64_t startup_timeouts; /* closed for not completing STARTUP in time */
    uint64_t refused_total;    /* refused: max_connections reached (or out of memory) */
    uint64_t refused_per_ip;   /* refused: max_connections_per_ip reached */
} sb_cqlproto_stats;

/* Fills out; p must be started and not stopped. */
void sb_cqlproto_get_stats(const sb_cqlproto *p, sb_cqlproto_stats *out);

/* Frame body compression (the STARTUP "COMPRESSION" option). */
enum { SB_CQLCOMP_NONE = 0, SB_CQLCOMP_LZ4 = 1, SB_CQLCOMP_SNAPPY = 2 };

/* Appends the compressed form of in to out: lz4 is the 4-byte big-endian
 * uncompressed length then an LZ4 block (as Cassandra frames it), snappy a
 * raw snappy block. 0 or SB_ENOMEM. */
int sb_cql_compress(int algo, const uint8_t *in, size_t n, sb_buf *out);
/* Appends the decompressed body to out, refusing anything that would
 * decompress to more than max bytes. 0, SB_EBADINPUT or SB_ETOOBIG (errmsg
 * says which), or SB_ENOMEM. */
int sb_cql_decompress(int algo, const uint8_t *in, size_t n, size_t max, sb_buf *out, char *errmsg);

#endif
