/*
 * The cluster test fixture: a simulated world (world.h) of N nodes that
 * a test drives one step at a time, in the manner of canonical raft's
 * raft_fixture. The cluster unit tests, the fuzz targets, the simulator
 * tests (tests/sim/) and `sibyl dsim` (run.c) all build on it, so there is
 * one fake network, one virtual clock and one in-memory store to trust.
 *
 * NOTES ON THE DESIGN
 *
 *   Nodes and processes. Node i is 127.0.0.(i+1):7000. sb_fixture_boot
 *   starts a new incarnation of a node and returns its sb_io. What runs
 *   on that io is the node's "process": either a whole sb_cluster
 *   (sb_fixture_start_cluster, fixture_cluster.c) or whatever pieces a
 *   test builds itself (gossip alone, rpc and hints, ...) and hands over
 *   with sb_fixture_attach. The fixture delivers the node's messages to
 *   its process and ends it on crash or stop; a node with no process
 *   attached drops what arrives.
 *
 *   Invariants.
 *     - Everything derives from the seed: a seed replays exactly; nothing
 *       reads a real clock.
 *     - Virtual time only moves inside sb_fixture_step, _step_until and
 *       _run_for; calls into a process from the test run at the current
 *       virtual instant and nothing they schedule runs before the next
 *       step (sb_io's "never synchronous" rule).
 *     - A crashed node's process is freed before sb_fixture_crash
 *       returns; its timers never fire, messages it had in flight are
 *       lost, messages to it are lost, applies it had not completed are
 *       lost (world.h "Incarnations"); what memstore holds survives and
 *       the next boot sees it.
 *     - A stopped node (sb_fixture_stop) first runs its process's stop
 *       hook (a clean shutdown, e.g. gossip SHUTDOWN), and what it sent
 *       is still delivered.
 *     - Timers: a timer of d ms fires 1 us after d ms of virtual time
 *       have passed, so "at d ms" has not fired and "d ms + 1 us" has.
 *
 * Ownership: the fixture owns the world, the per-node sb_io (valid until
 * the node crashes or stops, or the fixture is freed) and every attached
 * process (freed on crash, stop and sb_fixture_free).
 */
#ifndef SB_DSIM_FIXTURE_H
#define SB_DSIM_FIXTURE_H

#include <stdint.h>
#include <stdio.h>

#include "cluster/ring.h"
#include "dsim/world.h"
#include "storage/store.h"

#define SB_FIXTURE_MS 1000ull /* virtual time is in microseconds */
#define SB_FIXTURE_SEC 1000000ull

typedef struct sb_fixture sb_fixture;

/* A node's process: the receive hook gets every message the network
 * delivers to the node; stop (may be NULL) is a clean shutdown that may
 * still send; free releases it. */
typedef struct sb_fixture_proc {
    void (*receive)(void *obj, int type, const uint8_t *payload, size_t len);
    void (*stop)(void *obj);
    void (*free)(void *obj);
} sb_fixture_proc;

/* A world of nnodes (1..DSIM_MAX_NODES) nodes from seed, none booted.
 * net NULL: the world's default (no loss, 100-2000 us delays). trace:
 * an event log, or NULL. NULL on bad arguments or no memory. */
sb_fixture *sb_fixture_new(uint64_t seed, int nnodes, const dsim_net *net, FILE *trace);
/* Frees every process still running (stop hooks not run), then the world. */
void sb_fixture_free(sb_fixture *f);

/* The world underneath: randomness, stores, statistics, trace hash. */
dsim_world *sb_fixture_world(sb_fixture *f);
int sb_fixture_nnodes(const sb_fixture *f);
uint64_t sb_fixture_now_us(const sb_fixture *f);
sb_ep sb_fixture_ep(int node);
/* The node's io while it is up, else NULL. */
const sb_io *sb_fixture_io(sb_fixture *f, int node);
int sb_fixture_alive(const sb_fixture *f, int node);

/* --- lifecycle ----------------------------------------------------------- */

/* Boots the node (a restart, if it ran before) and returns its io; the
 * node's io if it is already up. NULL: no memory. */
const sb_io *sb_fixture_boot(sb_fixture *f, int node);
/* Hands the node's process to the fixture (replacing none: the node must
 * have none). obj is freed through ops->free on crash, stop or free. */
void sb_fixture_attach(sb_fixture *f, int node, const sb_fixture_proc *ops, void *obj);
/* The attached process object and its hooks, or NULL. */
void *sb_fixture_proc_obj(sb_fixture *f, int node);
const sb_fixture_proc *sb_fixture_proc_ops(const sb_fixture *f, int node);
/* Process death: no clean shutdown, the process is freed, in-flight
 * messages it sent and its incomplete applies are lost. A no-op for a
 * node that is down. */
void sb_fixture_crash(sb_fixture *f, int node);
/* Clean stop: the process's stop hook, then it is freed; what it sent
 * still arrives. */
void sb_fixture_stop(sb_fixture *f, int node);

/* --- running --------------------------------------------------------------- */

/* Runs one event; 0 when nothing is queued. */
int sb_fixture_step(sb_fixture *f);
/* Runs every event within the next us of virtual time; time then stands
 * exactly us later. */
void sb_fixture_run_for(sb_fixture *f, uint64_t us);
/* Runs events until pred(f, arg) holds, checked before the first event
 * and after each one, or until max_us of virtual time have passed.
 * Returns 1 with time standing at the event that made pred true, or 0
 * with time at the start plus max_us. */
int sb_fixture_step_until(sb_fixture *f, int (*pred)(sb_fixture *f, void *arg), void *arg,
                          uint64_t max_us);

/* --- faults ---------------------------------------------------------------- */

void sb_fixture_set_net(sb_fixture *f, const dsim_net *net);
/* group[i] per node; messages between groups are dropped. */
void sb_fixture_partition(sb_fixture *f, const int *group);
/* Cuts one node off from all others. */
void sb_fixture_isolate(sb_fixture *f, int node);
void sb_fixture_heal(sb_fixture *f);
void sb_fixture_set_skew(sb_fixture *f, int node, int64_t skew_us);
/* Messages of these types (bit 1 << type) arriving at node are dropped. */
void sb_fixture_drop_in(sb_fixture *f, int node, uint32_t type_mask);
/* The node's sends fail at once with rv while rv != 0. */
void sb_fixture_refuse_sends(sb_fixture *f, int node, int rv);
/* The node's kv_put calls fail (acknowledged with rv) while rv != 0. */
void sb_fixture_fail_kv_puts(sb_fixture *f, int node, int rv);

/* --- observation ------------------------------------------------------------ */

/* Every send any node makes (world.h dsim_tap_fn). One tap at a time. */
void sb_fixture_tap(sb_fixture *f, dsim_tap_fn fn, void *arg);
/* The node's pending (started, not fired, not stopped) timers. */
int sb_fixture_timers(const sb_fixture *f, int node);
dsim_store *sb_fixture_store(sb_fixture *f, int node);

/* --- whole clusters (fixture_cluster.c) --------------------------------------
 * Kept in a file of their own so that a test that builds only some
 * cluster pieces (and stands in for others) does not link them all. */

struct sb_cluster;
struct sb_cluster_opts;
/* Boots the node and runs an sb_cluster (coord/coord.h) over its io,
 * built from o and started. 0, SB_ENOMEM, or sb_cluster_new's error
 * (errmsg says why). */
int sb_fixture_start_cluster(sb_fixture *f, int node, const struct sb_cluster_opts *o,
                             char *errmsg);
/* The node's sb_cluster, NULL if it is down or runs something else. */
struct sb_cluster *sb_fixture_cluster(sb_fixture *f, int node);

/* Options for node's sb_cluster in a fixture cluster called name (after
 * sb_cluster_opts_default): gossip at sb_fixture_ep(node), rpc on port
 * 9042 and http on 8080 of its address, host id "<name>-host" with
 * node + 1 in its last byte, dc1 and rack1, node 0 the only seed
 * (o->gossip.seeds points at static storage). Change what a test needs
 * before sb_fixture_start_cluster. */
void sb_fixture_cluster_opts(int node, const char *name, struct sb_cluster_opts *o);
/* A step_until predicate (arg unused): every node runs an sb_cluster
 * whose ring holds every node and which sees every other node up. */
int sb_fixture_clusters_formed(sb_fixture *f, void *arg);

/* --- a key-value table on whole clusters (fixture_kv.c) ----------------------
 * One table, <keyspace>.kv (k bigint PRIMARY KEY, v blob), whose rows
 * hold an 8-byte big-endian value in v, replicated as the test says. The
 * simulator's workload (run.c) and the coordinator tests write and read
 * it through sb_coord. */

/* The table points into the struct: describe it in place, never copy it. */
typedef struct sb_fixture_kv {
    sb_table table; /* keyspace.kv; its id */
    sb_column cols[2];
    char keyspace[32];
    sb_repl repl; /* what sb_fixture_kv_table_repl answers */
} sb_fixture_kv;

/* Describes the table: keyspace (copied, cut at 31 bytes), its 16-byte
 * id, its replication (copied). */
void sb_fixture_kv_init(sb_fixture_kv *kv, const char *keyspace, const uint8_t id[16],
                        const sb_repl *repl);
/* Gives every node's memstore the table. 0 or SB_ENOMEM. */
int sb_fixture_kv_add(sb_fixture *f, const sb_fixture_kv *kv);
/* sb_coord_opts.table_repl for the table; arg is the sb_fixture_kv. */
int sb_fixture_kv_table_repl(void *arg, const uint8_t id[16], sb_repl *out);
/* Starts an sb_cluster named after the keyspace on every node
 * (sb_fixture_cluster_opts, the table's replication, then tune(node, o)
 * if tune is not NULL) and runs until sb_fixture_clusters_formed, at most
 * max_us. kv must outlive the clusters. 0, SB_ETIMEOUT, or the error of
 * sb_fixture_kv_add or sb_fixture_start_cluster (errmsg says why). */
int sb_fixture_kv_start(sb_fixture *f, sb_fixture_kv *kv,
                        void (*tune)(int node, struct sb_cluster_opts *o), uint64_t max_us,
                        char *errmsg);

/* The row key of partition k (store.h key layout). 0 or SB_ENOMEM. */
int sb_fixture_kv_rowkey(sb_buf *out, int64_t k);
/* A row value: v = value, written at ts. 0 or SB_ENOMEM. */
int sb_fixture_kv_value(sb_buf *out, int64_t ts, uint64_t value);
/* Decodes a row value: 1 with *ts and *value when v is live, 0 when the
 * row holds no live v, < 0 when the bytes are not a row of the table. */
int sb_fixture_kv_parse(const uint8_t *p, size_t n, int64_t *ts, uint64_t *value);
/* The raw query of partition k (sb_coord_read's q). 0 or the error of
 * sb_read_rawq (errmsg says why). */
int sb_fixture_kv_query(const sb_fixture_kv *kv, int64_t k, sb_rawq *q, char *errmsg);

/* One request through a node's coordinator, as its callback saw it. */
typedef struct sb_fixture_kv_res {
    sb_fixture *f;
    int calls;         /* times the callback ran */
    int status;        /* the (last) callback's */
    char message[160]; /* ... and its message */
    uint64_t start_us; /* fixture time of the call */
    uint64_t done_us;  /* ... and of the (last) callback */
    int found;         /* reads: a live v came back */
    int64_t ts;        /* ... written at ts */
    uint64_t value;    /* ... with this value */
} sb_fixture_kv_res;

/* Writes v = value to partition k at level cl through node's sb_cluster,
 * timestamped with the node's clock. x is reset, then filled by the
 * callback: it must stay valid until then (or until the node's cluster is
 * freed). The call's code: sb_coord_write's, SB_ENOMEM when the mutation
 * cannot be built, SB_EINVAL when the node runs no sb_cluster. */
int sb_fixture_kv_write(sb_fixture *f, int node, const sb_fixture_kv *kv, int64_t k, uint64_t value,
                        int cl, sb_fixture_kv_res *x);
/* Reads partition k at level cl through node's sb_cluster; as
 * sb_fixture_kv_write, with sb_coord_read's codes. */
int sb_fixture_kv_read(sb_fixture *f, int node, const sb_fixture_kv *kv, int64_t k, int cl,
                       sb_fixture_kv_res *x);

#endif
