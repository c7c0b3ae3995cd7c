/*
 * A node's cluster side: membership (gossip.h), rpc (rpc.h), hints
 * (hints.h) and coordination (coord.h) over one sb_io, plus schema
 * agreement. Production builds it in node/ over libuv and RocksDB; the
 * simulator (dsim/) builds N of them over simulated I/O.
 *
 * Schema agreement: the schema travels as an opaque blob with a 16-byte
 * version (a hash of its contents, so equal schemas have equal versions
 * on every node) and a timestamp (microseconds of the DDL that made it).
 * After a local DDL the node pushes its schema to every live peer; when
 * gossip shows a live peer with another version the node pulls that
 * peer's schema (at most once per interval per peer). A received schema
 * replaces the local one when its timestamp is newer (ties: the larger
 * version). Concurrent DDL on two nodes resolves to the later one.
 */
#ifndef SB_CLUSTER_CLUSTER_H
#define SB_CLUSTER_CLUSTER_H

#include "cluster/coord.h"
#include "cluster/gossip.h"
#include "cluster/hints.h"
#include "cluster/io.h"
#include "cluster/rpc.h"

typedef struct sb_cluster sb_cluster;

/* Schema hooks (NULL: no schema exchange, as in the simulator). */
typedef struct sb_cluster_schema_ops {
    /* The local schema: blob, version, timestamp. */
    int (*get)(void *arg, sb_buf *blob, uint8_t version[16], int64_t *ts_us);
    /* Replace the local schema with this one (already known newer). */
    int (*put)(void *arg, const uint8_t *blob, size_t len, char *errmsg);
    void *arg;
} sb_cluster_schema_ops;

typedef struct sb_cluster_opts {
    sb_gossip_opts gossip;
    sb_coord_opts coord;
    sb_hints_opts hints;
    sb_cluster_schema_ops schema;
} sb_cluster_opts;

void sb_cluster_opts_default(sb_cluster_opts *o);

sb_cluster *sb_cluster_new(const sb_io *io, const sb_cluster_opts *o, char *errmsg);
void sb_cluster_start(sb_cluster *c);
/* Announces shutdown, stops timers; pending requests end with
 * SB_ECLOSED-style errors. */
void sb_cluster_stop(sb_cluster *c);
void sb_cluster_free(sb_cluster *c);

/* Every message that arrives for this node. */
void sb_cluster_receive(sb_cluster *c, int type, const uint8_t *payload, size_t len);

/* The local schema changed (after DDL): gossip the new version, push it. */
void sb_cluster_schema_changed(sb_cluster *c);

sb_gossip *sb_cluster_gossip(sb_cluster *c);
sb_coord *sb_cluster_coord(sb_cluster *c);
sb_hints *sb_cluster_hints(sb_cluster *c);
sb_rpc *sb_cluster_rpc(sb_cluster *c);

#endif
