/*
 * What the server pushes to REGISTERed connections, decided without I/O:
 * gossip events become TOPOLOGY_CHANGE / STATUS_CHANGE events, and two
 * schema snapshots become SCHEMA_CHANGE events. Internal to cqlproto.
 */
#ifndef SB_CQLPROTO_EVENTS_H
#define SB_CQLPROTO_EVENTS_H

#include "cluster/gossip.h"
#include "storage/schema.h"

/* Event types a connection registers for (bit mask). */
enum { CQLP_EV_TOPOLOGY = 1, CQLP_EV_STATUS = 2, CQLP_EV_SCHEMA = 4 };

/* "TOPOLOGY_CHANGE" -> CQLP_EV_TOPOLOGY, ...; 0 if unknown. */
int cqlp_event_type(const char *name);

/* --- topology and status ------------------------------------------------ */

/* The peers announced to drivers as ring members (so that NEW_NODE and
 * REMOVED_NODE are sent once each). Zero-initialise; free with
 * cqlp_topo_free. */
typedef struct cqlp_topo {
    sb_ep *eps;
    int n, cap;
} cqlp_topo;

/* type: CQLP_EV_TOPOLOGY or CQLP_EV_STATUS; change: "NEW_NODE",
 * "REMOVED_NODE", "UP", "DOWN"; addr: the node's CQL address. */
typedef void (*cqlp_node_event_fn)(void *arg, int type, const char *change, const sb_ep *addr);

/* Records members already in the ring when the server starts (no event). */
void cqlp_topo_seed(cqlp_topo *t, const sb_member *m);
/* Maps one gossip event (sb_gossip_event) about m to zero or more
 * protocol events. The local node never produces events. */
void cqlp_topo_event(cqlp_topo *t, int gossip_event, const sb_member *m, cqlp_node_event_fn fn,
                     void *arg);
void cqlp_topo_free(cqlp_topo *t);

/* --- schema ------------------------------------------------------------- */

typedef struct cqlp_schema_snap cqlp_schema_snap;

/* A copy of what drivers see of s: keyspaces and tables with a hash of
 * their definitions. NULL when out of memory. */
cqlp_schema_snap *cqlp_schema_snap_new(const sb_schema *s);
void cqlp_schema_snap_free(cqlp_schema_snap *snap);

/* change: "CREATED", "UPDATED", "DROPPED"; target "KEYSPACE" (name NULL)
 * or "TABLE". */
typedef void (*cqlp_schema_event_fn)(void *arg, const char *change, const char *target,
                                     const char *ks, const char *name);
/* Calls fn for each difference from old to new: a created keyspace and
 * then each of its tables, a dropped keyspace once (not its tables),
 * tables created, altered or dropped, keyspaces altered. */
void cqlp_schema_diff(const cqlp_schema_snap *old, const cqlp_schema_snap *new,
                      cqlp_schema_event_fn fn, void *arg);

#endif
