/*
 * Coordination: any node coordinates any request with a consistency
 * level, and serves as a replica for the others.
 *
 * WRITES (sb_coord_write). The entries are grouped by the replica set of
 * their token (ring.h, the table's keyspace replication). For each group:
 *   blockfor = the level's count: ANY 1 (a hint counts), ONE 1, TWO 2,
 *   THREE 3, QUORUM rf/2+1 (rf summed over datacenters), ALL rf,
 *   LOCAL_ONE 1 and LOCAL_QUORUM rf(local dc)/2+1 counting only replicas
 *   in the coordinator's datacenter, EACH_QUORUM rf(dc)/2+1 in every dc.
 * If fewer live replicas (per the failure detector) than blockfor are
 * known before sending (per datacenter for EACH_QUORUM, in the local dc
 * for LOCAL_*), the write fails at once with SB_EUNAVAILABLE (required =
 * blockfor, alive = live count) and nothing is sent. Otherwise the
 * entries go to every live replica (the local one through io->st->apply,
 * others as MUTATION requests) and a hint is stored for every replica
 * that is down or does not answer in time. The write succeeds once every
 * group has blockfor acknowledgements (for ANY, a durable hint counts
 * too); if write_timeout_ms passes first it fails with SB_ETIMEOUT
 * (received = the fewest acks of any group, blockfor). A result is given
 * exactly once; late acks only count for metrics.
 *
 * READS (sb_coord_read) of a raw query (store.h):
 *   single partition (q->head_lo non-empty): the replicas of its token,
 *     sorted live local-dc first (the local node first), then by endpoint.
 *     Too few live ones -> SB_EUNAVAILABLE. The first blockfor replicas are
 *     asked: the first for data, the others for a digest (SHA-256-free:
 *     64-bit FNV-1a over the entries, keys and values). All agree -> the
 *     data is the answer. A mismatch -> full data from all blockfor
 *     replicas, reconciled per key with sb_frag_merge; every replica
 *     whose entries differ from the reconciled ones gets a MUTATION with
 *     the reconciled values of the differing keys (blocking read repair:
 *     the answer waits for those acks, within the timeout). No answer
 *     from blockfor replicas within read_timeout_ms -> SB_ETIMEOUT
 *     (received, blockfor, data_present).
 *   token range (head_lo empty): the range [lo, hi) is split at the
 *     ring's tokens; each piece is read like a partition (data from
 *     blockfor replicas, reconciled and repaired, no digests), in token
 *     order, until q->max_entries entries are gathered (more = 1 then).
 *
 * TRUNCATE: every node must be up (else SB_EUNAVAILABLE with required =
 * all, alive); each truncates its table; waits for all (else SB_ETIMEOUT).
 */
#ifndef SB_CLUSTER_COORD_H
#define SB_CLUSTER_COORD_H

#include <stdint.h>

#include "cluster/gossip.h"
#include "cluster/hints.h"
#include "cluster/io.h"
#include "cluster/ring.h"
#include "cluster/rpc.h"

typedef struct sb_coord_opts {
    uint32_t write_timeout_ms;    /* default 2000 */
    uint32_t read_timeout_ms;     /* default 5000 */
    uint32_t range_timeout_ms;    /* default 10000 */
    uint32_t truncate_timeout_ms; /* default 60000 */
    /* The replication of the keyspace of a table; SB_ENOTFOUND if the
     * table is unknown. */
    int (*table_repl)(void *arg, const uint8_t table_id[16], sb_repl *out);
    void *table_repl_arg;
    /* Completion observers (may be NULL), for metrics. on_request is
     * called exactly once per request the coordinator accepted (every
     * sb_coord_write/read/truncate that returned 0), just before its
     * callback, with op "write", "read" (single partition), "range"
     * (token range) or "truncate", the level (SB_CL_*; ALL for
     * truncate), the result's status and the seconds since the call
     * (io->now_us; negative clock steps count as 0). on_replica is
     * called once per MUTATION, READ or TRUNCATE request received from
     * a coordinator (op "mutation", "read", "truncate"), when its answer
     * is sent (a mutation: once durable), with its status: 0 or a
     * negative SB_E* code. A mutation whose apply is still in flight
     * when the coordinator is freed is not observed. The local
     * replica's share of the coordinator's own requests is not a replica
     * request. op strings are static. */
    void (*on_request)(void *arg, const char *op, int cl, int status, double seconds);
    void (*on_replica)(void *arg, const char *op, int status, double seconds);
    void *observer_arg;
} sb_coord_opts;

void sb_coord_opts_default(sb_coord_opts *o);

typedef struct sb_coord sb_coord;

sb_coord *sb_coord_new(const sb_io *io, sb_rpc *rpc, sb_gossip *g, sb_hints *h,
                       const sb_coord_opts *o);
void sb_coord_free(sb_coord *c);

/* Outcome of a request, with the native protocol's error fields. */
typedef struct sb_coord_result {
    int status;             /* 0, SB_EUNAVAILABLE, SB_ETIMEOUT, SB_EOVERLOADED,
                               SB_ENOTFOUND (unknown table), SB_ESERVER */
    int consistency;        /* SB_CL_* of the request */
    int required;           /* blockfor */
    int alive;              /* Unavailable: live replicas */
    int received;           /* timeouts: acknowledgements / responses received */
    int data_present;       /* read timeout: the data replica answered */
    const char *write_type; /* as given to sb_coord_write */
    char message[160];      /* human reason for errors */
} sb_coord_result;

typedef void (*sb_coord_write_cb)(void *arg, const sb_coord_result *r);
typedef void (*sb_coord_read_cb)(void *arg, const sb_coord_result *r, const sb_raw *entries,
                                 size_t n, int more);

/* Entries are copied. write_type: "SIMPLE", "BATCH", "UNLOGGED_BATCH",
 * ... (static string). cb exactly once, never synchronously. Levels
 * SERIAL / LOCAL_SERIAL are refused with SB_EINVALID. */
int sb_coord_write(sb_coord *c, const sb_raw_mut *m, size_t n, int cl, const char *write_type,
                   sb_coord_write_cb cb, void *arg);
/* q is copied. Entries passed to cb are sorted by key ascending (also for
 * reversed queries) and valid during the call. ANY is refused for reads
 * (SB_EINVALID) as Cassandra does. */
int sb_coord_read(sb_coord *c, const sb_rawq *q, int cl, sb_coord_read_cb cb, void *arg);
int sb_coord_truncate(sb_coord *c, const uint8_t table_id[16], sb_coord_write_cb cb, void *arg);

/* Replica side: MUTATION, READ and TRUNCATE requests. */
void sb_coord_receive(sb_coord *c, int type, const uint8_t *payload, size_t len);

/* The blockfor of a level for a replica set; exposed for tests.
 * replicas: node indexes of ring r. local_dc: the coordinator's. For
 * EACH_QUORUM returns the sum of the per-dc quorums. */
int sb_coord_blockfor(const sb_ring *r, const sb_repl *p, const int *replicas, int n, int cl,
                      const char *local_dc);

/* The MUTATION request body (cluster/mutation.c): u32 count, then per
 * entry the 16-byte table id, bytes key, bytes value (util/wire.h).
 * encode appends to out: 0, SB_ENOMEM or SB_EINVAL. decode sets *out to
 * an array of *n entries (caller frees it with free(); the entries point
 * into p, so p must outlive them): 0, SB_ENOMEM, or SB_EBADINPUT for
 * truncated, oversized or trailing input. */
int sb_mutation_encode(sb_buf *out, const sb_raw_mut *m, size_t n);
int sb_mutation_decode(const uint8_t *p, size_t len, sb_raw_mut **out, size_t *n);
/* The response body of MUTATION and TRUNCATE requests is an i32 status
 * (0 = applied durably, else a negative SB_E* code; cluster/replica.c).
 * Returns that status, or SB_EBADINPUT for a malformed body. */
int sb_coord_status_decode(const uint8_t *body, size_t len);

typedef struct sb_coord_stats {
    uint64_t writes_ok, writes_unavailable, writes_timeout, writes_other;
    uint64_t reads_ok, reads_unavailable, reads_timeout, reads_other;
    uint64_t digest_mismatches, read_repairs; /* repairs: mutations sent */
    uint64_t hints_written;
    uint64_t replica_writes, replica_reads;
} sb_coord_stats;
void sb_coord_get_stats(const sb_coord *c, sb_coord_stats *st);

#endif
