/*
 * System tables served to drivers through the executor's virtual-table
 * hook (sb_cql_engine_set_vtables): system.local, system.peers,
 * system.peers_v2 and the system_schema tables, generated on each read
 * from the store's current schema. Internal to cqlproto.
 */
#ifndef SB_CQLPROTO_SYSTABLES_H
#define SB_CQLPROTO_SYSTABLES_H

#include "cluster/gossip.h"
#include "cql/cql.h"
#include "cqlproto/cqlproto.h"
#include "storage/store.h"

/* The version we report in system.local.release_version: Cassandra 4.0,
 * so drivers read the system_schema tables (see docs/cql-protocol.md). */
#define CQLP_RELEASE_VERSION "4.0.11"

typedef struct cqlp_systables cqlp_systables;

/* store is borrowed. id is read during the call: data_dir (the host id
 * is created once as DATA/host_id and read back on every start),
 * cluster_name, dc, rack, listen_addr. rpc_host/rpc_port: the CQL
 * address (0.0.0.0 or :: report the listen host). 0 or SB_E* + errmsg. */
int cqlp_systables_new(cqlp_systables **out, sb_store *store, const sb_cqlproto_ident *id,
                       const char *rpc_host, int rpc_port, char *errmsg);
void cqlp_systables_free(cqlp_systables *st);
/* The provider to install with sb_cql_engine_set_vtables. */
void cqlp_systables_vtables(cqlp_systables *st, sb_cql_vtables *vt);
/* Reads DATA/host_id, creating it (a random uuid, written atomically) on
 * the first start. */
int cqlp_load_host_id(const char *dir, uint8_t id[16], char *errmsg);

/* Makes the tables cluster-aware: system.local takes tokens, addresses,
 * dc and rack from gossip's own member (once it has tokens), and
 * system.peers / peers_v2 list the other members. schema_version, when
 * not NULL, gives system.local.schema_version (the cluster's content hash
 * of the schema); otherwise the store's version is reported. g (borrowed)
 * must outlive st or be detached with g = NULL first. */
void cqlp_systables_set_cluster(cqlp_systables *st, sb_gossip *g,
                                int (*schema_version)(void *arg, uint8_t out[16]), void *arg);

/* A member belongs in system.peers: not the local node, and it owns tokens
 * (NORMAL, LEAVING, or a cleanly stopped SHUTDOWN owner). Down members
 * stay listed, as in Cassandra: drivers learn liveness from events. */
int cqlp_member_is_peer(const sb_member *m);
/* A member's CQL address (IP and port); a wildcard or unknown one stands
 * for its node-to-node IP (port 9042 if unknown). */
sb_ep cqlp_member_rpc(const sb_member *m);

/* Emits the system.peers (v2 = 0) or system.peers_v2 (v2 = 1) rows of the
 * peers among members[0..n-1], in system.peers column order (see
 * cqlp_systables_vtables' lookup for the table). 0 or what emit returned,
 * or SB_ENOMEM. */
int cqlp_scan_peers(cqlp_systables *st, int v2, const sb_member *const *members, int n,
                    sb_cql_emit_fn emit, void *ctx);

#endif
