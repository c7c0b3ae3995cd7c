/*
 * The committed topology: who owns which tokens, as the cluster's Raft
 * group decided it, and the pending ranges that follow from it.
 *
 * NOTES ON THE DESIGN
 *
 *   State machine. Every node applies the same topology commands in log
 *   order (consensus/group.h), so every node holds the same sb_topo. A
 *   node's life in it:
 *
 *       JOIN ----> JOINING --JOINED--> NORMAL --LEAVE--> LEAVING
 *                     |                  |                  |
 *                     +------LEFT--------+-------LEFT-------+--> (gone)
 *
 *   JOIN may also enter a node as NORMAL at once: that adopts a node whose
 *   tokens came from the older gossip-only path (a store that predates the
 *   group, a single node without one), so such nodes keep their tokens.
 *
 *   Tokens. A JOIN either names its tokens (adoption, or a restart that
 *   re-announces saved ones) or asks for num_tokens and lets the state
 *   machine allocate them with sb_ring_allocate over every node in the
 *   topology, JOINING ones included, and a PRNG seeded from the log index
 *   and the host id. So two nodes joining at once are serialised by the
 *   log: the second allocation sees the first node's tokens and can never
 *   take them, and every node computes the same tokens. A JOIN naming a
 *   token another node holds is refused (SB_EEXISTS) and changes nothing.
 *
 *   Refusals never fail the log entry: sb_topo_apply returns the code and
 *   a message for the proposer and leaves the state unchanged.
 *
 *   Pending ranges. While nodes are JOINING or LEAVING, writes go to the
 *   current replicas (ring of NORMAL and LEAVING nodes) and to the pending
 *   ones: the replicas a token will have once the changes complete, that
 *   it does not have now. Cassandra computes them per joining node and
 *   for all changes together; sb_topo_pending does the same (the union of
 *   both), so a node that finishes its join before another one never
 *   owns a range whose writes it did not receive. Reads use only the
 *   current ring.
 *
 * Invariants
 *   - no token is held by two nodes of the topology;
 *   - nodes are kept sorted by endpoint, each at most once;
 *   - index only grows (the log index of the last command applied).
 */
#ifndef SB_CLUSTER_TOPOLOGY_H
#define SB_CLUSTER_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip.h"
#include "cluster/ring.h"
#include "util/buf.h"

typedef struct sb_topo_node {
    sb_ep ep;
    uint8_t host_id[16];
    char dc[SB_DC_MAX];
    char rack[SB_DC_MAX];
    int status; /* SB_STATUS_JOINING, NORMAL or LEAVING */
    int ntokens;
    int64_t tokens[SB_MAX_TOKENS]; /* sorted */
} sb_topo_node;

typedef struct sb_topo {
    sb_topo_node *nodes; /* sorted by ep; owned */
    int n, cap;
    uint64_t index;   /* log index of the last command applied, 0: none */
    uint64_t changes; /* commands that changed the state */
} sb_topo;

void sb_topo_init(sb_topo *t);
void sb_topo_close(sb_topo *t);
/* The node with that endpoint, or NULL; valid until the next change. */
const sb_topo_node *sb_topo_find(const sb_topo *t, const sb_ep *ep);

/* --- commands -------------------------------------------------------------- */
typedef enum sb_topo_op {
    SB_TOPO_JOIN = 1, /* node (ep, host id, dc, rack, tokens) -> status */
    SB_TOPO_JOINED,   /* JOINING -> NORMAL */
    SB_TOPO_LEAVE,    /* NORMAL -> LEAVING */
    SB_TOPO_LEFT,     /* any -> removed (left or removenode) */
} sb_topo_op;

typedef struct sb_topo_cmd {
    int op;
    sb_ep ep;
    /* JOIN only: */
    uint8_t host_id[16];
    char dc[SB_DC_MAX];
    char rack[SB_DC_MAX];
    int status;     /* JOINING (a bootstrap) or NORMAL (adoption) */
    int num_tokens; /* with ntokens 0: the state machine allocates these */
    int ntokens;
    int64_t tokens[SB_MAX_TOKENS];
} sb_topo_cmd;

/* Appends the command to out (0 or SB_ENOMEM / SB_EINVAL). */
int sb_topo_cmd_encode(const sb_topo_cmd *c, sb_buf *out);
/* 0 or SB_EBADINPUT (truncated, unknown op, too many tokens). */
int sb_topo_cmd_decode(const uint8_t *p, size_t len, sb_topo_cmd *c);

/* Applies a committed command at log index. 0: applied (errmsg says what
 * changed, or is empty when nothing did: a repeated JOIN of the same
 * node); otherwise the state is unchanged and the code is SB_EEXISTS (a
 * token held by another node, another host at that endpoint),
 * SB_ENOTFOUND (no such node), SB_EINVALID (a transition the diagram has
 * not got, bad fields) or SB_ENOMEM. */
int sb_topo_apply(sb_topo *t, uint64_t index, const sb_topo_cmd *c, char *errmsg);

/* The whole state (for the group's snapshot) / replaced by one; restore
 * leaves t unchanged on SB_EBADINPUT or SB_ENOMEM. */
int sb_topo_snapshot(const sb_topo *t, sb_buf *out);
int sb_topo_restore(sb_topo *t, const uint8_t *p, size_t len);

/* --- rings and pending ranges ------------------------------------------------ */

/* Rings built from the topology (NULL on allocation failure):
 *   current: NORMAL and LEAVING nodes (reads and writes);
 *   future:  NORMAL and JOINING nodes, what the ring becomes once every
 *            change in flight completes. */
sb_ring *sb_topo_current_ring(const sb_topo *t);
sb_ring *sb_topo_future_ring(const sb_topo *t);

/* The pending set of a topology: NULL when nothing is in flight. */
typedef struct sb_topo_pending sb_topo_pending;
/* Builds it from the topology (current ring, future ring and one ring per
 * joining node); *out NULL when no node is JOINING or LEAVING. 0 or
 * SB_ENOMEM. Reference counted (one event loop, no atomics): the caller
 * holds one reference; _ref adds one, _free drops one and frees the set
 * with the last (NULL is ignored by both). */
int sb_topo_pending_new(const sb_topo *t, sb_topo_pending **out);
void sb_topo_pending_ref(sb_topo_pending *pd);
void sb_topo_pending_free(sb_topo_pending *pd);
/* Nodes that can be pending (JOINING ones; 0 for NULL): a bound on the
 * endpoints sb_topo_pending_eps adds to a request beyond the current ring. */
int sb_topo_pending_njoining(const sb_topo_pending *pd);
/* Endpoints that must get writes for token under strategy p on top of
 * its current replicas; at most max, in endpoint order. Returns the count
 * (0 when pd is NULL or for LOCAL). */
int sb_topo_pending_eps(const sb_topo_pending *pd, const sb_repl *p, int64_t token, sb_ep *out,
                        int max);
/* What a coordinator whose own ring may lag the topology sends a write
 * to on top of its ring's replicas: the token's replicas under the
 * topology's current ring and its pending ones, at most max, in endpoint
 * order (0 when pd is NULL or for LOCAL). A coordinator that adds those
 * missing from its replicas, and requires one more acknowledgement for
 * each, covers every view of the ring in flight. */
int sb_topo_write_eps(const sb_topo_pending *pd, const sb_repl *p, int64_t token, sb_ep *out,
                      int max);
/* The pending endpoint's dc (for LOCAL_* consistency levels), or ""; valid
 * while the caller holds its reference to pd. */
const char *sb_topo_pending_dc(const sb_topo_pending *pd, const sb_ep *ep);

/* --- the bootstrap hook -------------------------------------------------------- */

/* A range a joining node gains, (start, end], and the current replicas it
 * can copy it from. */
typedef struct sb_topo_range {
    int64_t start, end;
    int nsources;
    sb_ep sources[SB_MAX_REPLICAS];
} sb_topo_range;

/* Ranges node ep gains under strategy p when the topology's changes
 * complete (its replica set in the future ring minus the current one),
 * with their current replicas as sources. *out is malloc'd (caller
 * frees), *n its length. 0 or SB_ENOMEM. */
int sb_topo_gains(const sb_topo *t, const sb_repl *p, const sb_ep *ep, sb_topo_range **out, int *n);

/* Called on a node when it turns JOINING (and again after a restart or a
 * failed attempt while it still is): it gets the topology and its own
 * endpoint (sb_topo_gains gives the ranges it gains per keyspace's
 * strategy, with their sources) and must call done(done_arg, 0) once it
 * holds their data, or done(done_arg, SB_E*) to give up this attempt (it
 * is retried). done may be called from inside the call. Streaming plugs
 * in here; the default, sb_topo_bootstrap_now, calls done at once. t is
 * valid only during the call. */
typedef void (*sb_topo_join_done_fn)(void *done_arg, int status);
typedef void (*sb_topo_bootstrap_fn)(void *arg, const sb_topo *t, const sb_ep *self,
                                     sb_topo_join_done_fn done, void *done_arg);
void sb_topo_bootstrap_now(void *arg, const sb_topo *t, const sb_ep *self,
                           sb_topo_join_done_fn done, void *done_arg);

#endif
