/*
 * The token ring: Murmur3 tokens (int64), vnodes, replication strategies.
 *
 * An sb_ring is an immutable snapshot built from the members that own
 * tokens (status NORMAL or LEAVING); membership builds a new one whenever
 * tokens or statuses change, so a request uses one consistent ring from
 * start to end.
 *
 * Token ranges: with the ring's tokens sorted t0 < t1 < ... < tn-1, the
 * node owning ti owns the range (ti-1, ti]; the first range wraps:
 * (tn-1, +inf) and [-inf, t0]. The replicas of a token are found by
 * walking clockwise from the first ring token >= the token:
 *   SimpleStrategy: the next rf distinct nodes.
 *   NetworkTopologyStrategy: per datacenter, the next rf(dc) distinct
 *     nodes of that datacenter, preferring nodes on racks not yet used in
 *     that datacenter (as Cassandra does: a node on an already used rack
 *     is taken only when no unused rack remains).
 * LocalStrategy (system keyspaces): only the local node.
 */
#ifndef SB_CLUSTER_RING_H
#define SB_CLUSTER_RING_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/io.h"

#define SB_DC_MAX 64
#define SB_MAX_TOKENS 256 /* num_tokens limit per node */
#define SB_MAX_DCS 16

typedef struct sb_ring_node {
    sb_ep ep; /* node-to-node address: the node's identity on the ring */
    uint8_t host_id[16];
    char dc[SB_DC_MAX];
    char rack[SB_DC_MAX];
    const int64_t *tokens; /* copied by sb_ring_build */
    int ntokens;
} sb_ring_node;

typedef struct sb_ring sb_ring;

/* Builds a ring from n nodes (copied; tokens too). Duplicate tokens: the
 * node that comes first in ep order keeps it. NULL on allocation failure.
 * n = 0 gives an empty ring (no replicas for anything). */
sb_ring *sb_ring_build(const sb_ring_node *nodes, int n);
void sb_ring_free(sb_ring *r);

int sb_ring_nnodes(const sb_ring *r);
/* Node i (sorted by ep); pointers valid for the ring's life. */
const sb_ring_node *sb_ring_node_at(const sb_ring *r, int i);
/* Index of the node with that endpoint, or -1. */
int sb_ring_find(const sb_ring *r, const sb_ep *ep);

/* Sorted ring tokens and their owners: range i is (token[i-1], token[i]]
 * (range 0 wraps). */
int sb_ring_ntokens(const sb_ring *r);
int64_t sb_ring_token_at(const sb_ring *r, int i);
int sb_ring_owner_at(const sb_ring *r, int i); /* node index */

/* --- replication strategies ------------------------------------------- */
typedef enum sb_repl_kind {
    SB_REPL_SIMPLE,
    SB_REPL_NTS,
    SB_REPL_LOCAL,
} sb_repl_kind;

typedef struct sb_repl {
    sb_repl_kind kind;
    int rf; /* SIMPLE */
    int ndcs;
    struct {
        char dc[SB_DC_MAX];
        int rf;
    } dcs[SB_MAX_DCS]; /* NTS */
} sb_repl;

/* Parses a keyspace's replication map as stored in the schema
 * ({"class": "SimpleStrategy", "replication_factor": "3"} or
 * {"class": "NetworkTopologyStrategy", "dc1": "3", "dc2": "2"}; class may
 * be qualified "org.apache.cassandra.locator..."; "LocalStrategy").
 * SB_ECONFIG with the reason in errmsg. */
int sb_repl_parse(const char *json, sb_repl *out, char *errmsg);
/* Total replication factor (sum over dcs for NTS; 1 for LOCAL). */
int sb_repl_total(const sb_repl *p);
/* Replication factor in one datacenter (SIMPLE: rf, whatever dc). */
int sb_repl_dc(const sb_repl *p, const char *dc);

/* Replicas of a token as node indexes, in ring-walk order, at most max
 * (SB_MAX_REPLICAS is enough). Returns the count (fewer than rf when the
 * ring is small). LOCAL: returns 0 (callers use the local node). */
#define SB_MAX_REPLICAS 32
int sb_ring_replicas(const sb_ring *r, const sb_repl *p, int64_t token, int *out, int max);

/* --- token allocation and ownership ------------------------------------ */

/* Chooses num_tokens tokens for a node joining ring r (r may be NULL or
 * empty) in datacenter dc, so that ownership stays balanced: on an empty
 * ring (or an empty dc), evenly spaced tokens from a random offset; then
 * each token splits the largest range owned in that datacenter by the
 * currently most loaded node. rnd gives randomness (io->random). out
 * gets num_tokens distinct tokens not on the ring, sorted. 0 or
 * SB_EINVAL. */
int sb_ring_allocate(const sb_ring *r, const char *dc, int num_tokens,
                     uint64_t (*rnd)(void *), void *rarg, int64_t *out);

/* Fraction of the token space (0..1) each node owns, indexed by node:
 * primary ranges when p is NULL; with p, the fraction of data each node
 * holds a replica of (sums to the replication factor, as nodetool's
 * "Owns (effective)"). out has sb_ring_nnodes entries. */
void sb_ring_ownership(const sb_ring *r, const sb_repl *p, double *out);

#endif
