/*
 * coord/: everything a request travels through between a client-facing
 * edge (CQL, HTTP, ingestion) and the replicas' stores. This header is
 * the subsystem's whole interface.
 *
 *   coord.c        the coordinator: requests, replica sets, writes,
 *                  truncate, hints for replicas that do not answer
 *   read.c         reads: digests, reconciliation, blocking read repair,
 *                  token-range scans
 *   replica.c      the replica side of MUTATION, READ and TRUNCATE and
 *                  the wire forms of their answers
 *   paxos.c        lightweight transactions: the proposer (coordinator)
 *   paxos_replica.c  ... and the acceptor (replica side), docs/lwt.md
 *   cluster.c      a node's cluster side: gossip, rpc, hints and the
 *                  coordinator over one sb_io, schema agreement
 *   cql_backend.c  the CQL engine's writes and reads through the
 *                  coordinator, the schema as a blob
 *   io_uv.c        the production sb_io: libuv, TCP transport, RocksDB
 *
 * Layers: coord/ uses cluster/ (membership, ring, rpc, hints, the
 * MUTATION codec), cql/ and storage/; node/, http/, cqlproto/ and the
 * simulator (dsim/) use coord/. Nothing below includes it.
 */
#ifndef SB_COORD_COORD_H
#define SB_COORD_COORD_H

#include <stdint.h>
#include <uv.h>

#include "cluster/gossip.h"
#include "cluster/hints.h"
#include "cluster/io.h"
#include "storage/mutation.h"
#include "cluster/ring.h"
#include "cluster/rpc.h"
#include "cluster/topology.h"
#include "consensus/group.h"
#include "cql/cql.h"
#include "storage/store.h"
#include "util/prng.h"

struct sb_transport;

/* ======================================================= the coordinator */

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
 *     (received, blockfor, data_present). A replica that answers with an
 *     error, or one the coordinator cannot ask or whose answer it cannot
 *     keep (no memory), ends the read at once, not at the timeout: "read
 *     failed on replica ...", SB_ESERVER (the replica's SB_ENOTFOUND or
 *     SB_EOVERLOADED passed on).
 *   token range (head_lo empty): the range [lo, hi) is split at the
 *     ring's tokens; each piece is read like a partition (data from
 *     blockfor replicas, reconciled and repaired, no digests), in token
 *     order, until q->max_entries entries are gathered (more = 1 then).
 *
 * TRUNCATE: every node must be up (else SB_EUNAVAILABLE with required =
 * all, alive); each truncates its table; waits for all (else SB_ETIMEOUT).
 *
 * OVERLOAD: two caps bound the memory of requests in flight. A request
 * arriving while max_inflight requests are held ends with SB_EOVERLOADED
 * ("... max_inflight N") before anything is sent; a request whose rpc
 * call is refused because the rpc holds its max pending calls (rpc.h)
 * ends with SB_EOVERLOADED ("... rpc max_pending N"). Both are counted in
 * sb_coord_stats.overloaded. The CQL edge answers Overloaded (0x1001),
 * HTTP 503.
 */

#define SB_COORD_MAX_INFLIGHT_DEFAULT 4096

typedef struct sb_coord_opts {
    uint32_t write_timeout_ms;    /* default 2000 */
    uint32_t read_timeout_ms;     /* default 5000 */
    uint32_t range_timeout_ms;    /* default 10000 */
    uint32_t truncate_timeout_ms; /* default 60000 */
    /* Requests this coordinator holds at once (accepted, not yet freed:
     * a write stays until its last replica answered or timed out). A
     * request beyond it is refused: its callback gets SB_EOVERLOADED
     * (from a 0 ms timer, nothing sent) with a message naming the limit.
     * Default SB_COORD_MAX_INFLIGHT_DEFAULT; 0 = no cap. */
    uint32_t max_inflight;
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
    /* Why the local replica refuses writes ("disk full on <node>: <path>:
     * ..."), written into buf; "" when it does not. Used for the message
     * of a write the local replica refused. NULL: the message names the
     * node only. */
    void (*local_refusal)(void *arg, char *buf, size_t size);
    void *local_refusal_arg;
} sb_coord_opts;

void sb_coord_opts_default(sb_coord_opts *o);

typedef struct sb_coord sb_coord;

sb_coord *sb_coord_new(const sb_io *io, sb_rpc *rpc, sb_gossip *g, sb_hints *h,
                       const sb_coord_opts *o);
void sb_coord_free(sb_coord *c);

/* Pending ranges (cluster/topology.h) while nodes join or leave: a write
 * then also goes to the token's pending replicas, and its consistency
 * level needs that many more acknowledgements (Cassandra's rule: the
 * level's count over the current replicas plus the number of pending
 * ones; LOCAL_* levels add only the local datacenter's pending ones).
 * Reads use the current replicas only. Takes over the caller's reference
 * (pd may be NULL: nothing pending); the previous set is released, and
 * writes in flight keep the set they started with. */
void sb_coord_set_pending(sb_coord *c, sb_topo_pending *pd);

/* Outcome of a request, with the native protocol's error fields
 * (store.h). */
typedef sb_write_result sb_coord_result;

typedef void (*sb_coord_write_cb)(void *arg, const sb_coord_result *r);
typedef void (*sb_coord_read_cb)(void *arg, const sb_coord_result *r, const sb_raw *entries,
                                 size_t n, int more);

/* Writes a mutation (storage/mutation.h). The coordinator takes mut in
 * every case (mut is left empty; it is freed with the request): replicas
 * that get all of it are sent its bytes as they are, and the local
 * replica applies views into it, so the write is never copied on the
 * way. write_type: "SIMPLE", "BATCH", "UNLOGGED_BATCH", ... (static
 * string). cb exactly once, never synchronously; a malformed mutation
 * ends with SB_EINVALID. Levels SERIAL / LOCAL_SERIAL are refused with
 * SB_EINVALID. */
int sb_coord_write_mutation(sb_coord *c, sb_buf *mut, int cl, const char *write_type,
                            sb_coord_write_cb cb, void *arg);
/* While why is not NULL or "", every write this node would coordinate
 * ends at once with SB_ESERVER and that message (a node whose clock is far
 * off: docs/clocks.md); NULL or "" coordinates writes again. */
void sb_coord_refuse_writes(sb_coord *c, const char *why);
/* The same for entries the caller keeps: they are encoded into a
 * mutation first (tests, tools). */
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
    uint64_t overloaded; /* requests refused by max_inflight or the rpc cap */
    /* Lightweight transactions (paxos.c; applied / not applied are
     * counted by the edge that decides, sb_coord_lwt_outcome): */
    uint64_t lwt_applied, lwt_not_applied, lwt_unavailable, lwt_timeout;
    uint64_t lwt_contention; /* ballot retries: refused prepares and proposals */
    uint64_t lwt_repairs;    /* in-progress proposals of others finished */
    uint64_t inflight;       /* requests held now (sb_coord_get_stats fills it) */
} sb_coord_stats;
void sb_coord_get_stats(const sb_coord *c, sb_coord_stats *st);

/* ============================================ lightweight transactions */

/*
 * LIGHTWEIGHT TRANSACTIONS (compare-and-set on one partition) by
 * per-partition Paxos among the partition's replicas, as Cassandra does
 * (design and invariants: docs/lwt.md). A conditional statement runs in
 * two steps around its own read and decision:
 *
 *   sb_coord_paxos_begin   prepares a fresh ballot on a quorum of the
 *       partition's replicas (SERIAL: of all replicas; LOCAL_SERIAL: of
 *       those in this node's datacenter), first finishing any proposal a
 *       replica accepted that is newer than the latest commit, and making
 *       sure the responders hold the latest commit. Contention (a higher
 *       promise) is retried with a higher ballot after a random backoff
 *       of up to 100 ms, within write_timeout_ms. cb exactly once, never
 *       synchronously: status 0 and a round p that the caller owns, or
 *       an error and p NULL: SB_EUNAVAILABLE (fewer live participants
 *       than the quorum; required, alive), SB_ETIMEOUT (write type "CAS";
 *       received, required), SB_ENOTFOUND (unknown table), SB_ECLOSED.
 *   then the caller reads the partition at sb_coord_paxos_read_cl and
 *       decides; its mutation's cells carry sb_coord_paxos_timestamp.
 *   sb_coord_paxos_propose proposes the mutation with the round's ballot;
 *       once a quorum accepts, it is committed on every live replica and
 *       cb waits for commit_cl of them (ANY: none). cb exactly once,
 *       never synchronously: status 0 (committed), or retry = 1 when
 *       every asked replica refused and none accepted (a newer ballot got
 *       in; the caller may begin again: the coordinator has already
 *       waited a random backoff), or an error: SB_ETIMEOUT with write
 *       type "CAS" (no quorum accepted in time, or some accepted but not
 *       a quorum: the outcome is unknown and a later round may finish
 *       it) or "SIMPLE" (accepted, commit_cl not reached in time).
 *   sb_coord_paxos_free    drops a round the caller will not propose
 *       (a condition that did not hold, a SERIAL read).
 *
 * key is the partition's header key (a raw query's head_lo); mutations
 * are the storage/mutation.h wire form.
 */
typedef struct sb_coord_paxos sb_coord_paxos;
typedef void (*sb_coord_paxos_cb)(void *arg, const sb_coord_result *r, sb_coord_paxos *p);
typedef void (*sb_coord_cas_cb)(void *arg, const sb_coord_result *r, int retry);

int sb_coord_paxos_begin(sb_coord *c, const uint8_t table_id[16], const uint8_t *key, size_t klen,
                         int serial_cl, sb_coord_paxos_cb cb, void *arg);
/* The level a round's reads use: QUORUM, or LOCAL_QUORUM for
 * LOCAL_SERIAL. */
int sb_coord_paxos_read_cl(int serial_cl);
/* The ballot's microseconds: the write time of the round's mutation. */
int64_t sb_coord_paxos_timestamp(const sb_coord_paxos *p);
/* Takes p and mut in every case. 0, or SB_EINVALID (commit_cl SERIAL or
 * LOCAL_SERIAL), SB_ECLOSED (the coordinator is gone), SB_ENOMEM: cb is
 * not called then. */
int sb_coord_paxos_propose(sb_coord_paxos *p, sb_buf *mut, int commit_cl, sb_coord_cas_cb cb,
                           void *arg);
void sb_coord_paxos_free(sb_coord_paxos *p);
/* Counts a decided LWT (applied or not) in the coordinator's stats. */
void sb_coord_lwt_outcome(sb_coord *c, int applied);

/* ================================================ a node's cluster side */

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
    /* The rpc's cap on pending calls (rpc.h); default
     * SB_RPC_MAX_PENDING_DEFAULT, 0 = no cap. */
    size_t rpc_max_pending;
    /* Run the metadata Raft group (consensus/group.h); group.self and
     * group.bootstrap are filled from gossip (bootstrap: this node is the
     * first seed, or has no seeds). Default off. */
    int raft;
    sb_group_opts group;
    /* With raft: called when this node turns JOINING in the committed
     * topology (cluster/topology.h, sb_topo_bootstrap_fn); default
     * sb_topo_bootstrap_now, which completes the join at once. */
    sb_topo_bootstrap_fn bootstrap;
    void *bootstrap_arg;
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
/* The Raft group applied a schema change (every node does): gossip the
 * new version, push nothing. */
void sb_cluster_schema_applied(sb_cluster *c);
/* Every live member gossips this node's schema version (what drivers wait
 * for after DDL). */
int sb_cluster_schema_agreed(sb_cluster *c);

/* The committed topology (empty without raft); valid until the next
 * event-loop turn. */
const sb_topo *sb_cluster_topology(sb_cluster *c);
sb_gossip *sb_cluster_gossip(sb_cluster *c);
/* The metadata Raft group, NULL when opts.raft is off. */
sb_group *sb_cluster_group(sb_cluster *c);
sb_coord *sb_cluster_coord(sb_cluster *c);
sb_hints *sb_cluster_hints(sb_cluster *c);
sb_rpc *sb_cluster_rpc(sb_cluster *c);

/* ============================================= production I/O, CQL backend */

typedef struct sb_node_io {
    sb_io io;
    uv_loop_t *loop;
    sb_store *store;
    struct sb_transport *transport;
    sb_prng rng; /* seeded from getrandom() */
} sb_node_io;

void sb_node_io_init(sb_node_io *n, uv_loop_t *loop, sb_store *store,
                     struct sb_transport *transport);

/* --- CQL through the coordinator ----------------------------------------- */

typedef struct sb_cql_glue {
    sb_store *store;
    sb_cql_engine *engine; /* runs schema changes the Raft group applies */
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

/* The write function (store.h sb_write_fn) of the CQL engine and of
 * ingestion: the batch's mutation goes to the coordinator, and cb gets the
 * coordinator's result as it is. arg: the glue. */
int sb_cql_glue_write(void *arg, sb_wbatch *b, int cl, const char *write_type, sb_write_done_fn cb,
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

/* Schema changes through the metadata Raft group: the engine's ddl hook
 * (cql.h sb_cql_engine_opts.ddl; arg: the glue) proposes the statement,
 * and the group's state machine (sb_cql_glue_fsm) runs it on every node
 * with sb_cql_apply_ddl. Snapshots are the schema blob. */
int sb_cql_glue_ddl(void *arg, const char *keyspace, const char *text, size_t len,
                    sb_cql_write_done done, void *done_arg);
void sb_cql_glue_fsm(sb_cql_glue *g, sb_group_fsm *fsm);

/* The replication of a table's keyspace (sb_coord_opts.table_repl). */
int sb_cql_glue_table_repl(void *arg, const uint8_t table_id[16], sb_repl *out);

#endif
