/*
 * System tables served to drivers through the executor's virtual-table
 * hook (sb_cql_engine_set_vtables): system.local, system.peers,
 * system.peers_v2 and the system_schema tables, generated on each read
 * from the store's current schema. Internal to cqlproto.
 */
#ifndef SB_CQLPROTO_SYSTABLES_H
#define SB_CQLPROTO_SYSTABLES_H

#include "cql/cql.h"
#include "node/config.h"
#include "storage/store.h"

/* The version we report in system.local.release_version: Cassandra 4.0,
 * so drivers read the system_schema tables (see docs/cql-protocol.md). */
#define CQLP_RELEASE_VERSION "4.0.11"

typedef struct cqlp_systables cqlp_systables;

/* store is borrowed. cfg is read during the call: data_dir (the host id
 * is created once as DATA/host_id and read back on every start),
 * cluster_name, dc, rack, listen_addr. rpc_host/rpc_port: the CQL
 * address (0.0.0.0 or :: report the listen host). 0 or SB_E* + errmsg. */
int cqlp_systables_new(cqlp_systables **out, sb_store *store, const sb_config *cfg,
                       const char *rpc_host, int rpc_port, char *errmsg);
void cqlp_systables_free(cqlp_systables *st);
/* The provider to install with sb_cql_engine_set_vtables. */
void cqlp_systables_vtables(cqlp_systables *st, sb_cql_vtables *vt);
/* Reads DATA/host_id, creating it (a random uuid, written atomically) on
 * the first start. */
int cqlp_load_host_id(const char *dir, uint8_t id[16], char *errmsg);
/* The persisted host id (16 bytes). */
const uint8_t *cqlp_systables_host_id(const cqlp_systables *st);

#endif
