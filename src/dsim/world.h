/*
 * The simulated world: virtual time, one seeded random stream, one event
 * queue, a faulty network and N nodes, each with an sb_io (cluster/io.h)
 * of its own and an in-memory store (memstore.h) that survives crashes.
 *
 * Internal to dsim/. Everything is derived from the seed; nothing reads a
 * real clock, so a seed replays exactly.
 *
 * NOTES ON THE DESIGN
 *
 *   Events. One binary heap ordered by (time, sequence): node timers,
 *   message deliveries, storage completions and the harness's own
 *   callbacks. Ties run in scheduling order.
 *
 *   Incarnations. A node's life between boot and crash is an incarnation
 *   with its own sb_io (so the sb_cluster built on it may keep the
 *   pointer). Every node event records the incarnation it belongs to;
 *   after a crash the incarnation is dead and its events are dropped when
 *   they come up (lazy deletion, so an sb_io_timer stays valid memory
 *   until its time passes and timer_stop on it is always safe). Messages
 *   to a dead incarnation, and those a crashed one sent that are still in
 *   flight, are lost, as on a reset connection (a clean stop lets what it
 *   sent arrive); a dead incarnation's sends and writes are refused; an
 *   apply that has not completed is lost (its data never reaches the
 *   store); kv writes are applied at once and acknowledged later (durable
 *   before the acknowledgement, which the contract allows).
 *
 *   Network. Each message is dropped with probability loss, else
 *   delivered after a random delay in [delay_min, delay_max] (so messages
 *   reorder), and with probability dup delivered a second time later.
 *   Partitions put nodes in groups; messages between groups are dropped
 *   at send and at delivery. Sends never deliver synchronously.
 *
 *   Clocks. World time is microseconds from 0. A node's now_us is an
 *   epoch base plus world time plus its skew; its mono_ms starts at a
 *   random offset per incarnation (a new process has a new monotonic
 *   clock).
 */
#ifndef SB_DSIM_WORLD_H
#define SB_DSIM_WORLD_H

#include <stdint.h>
#include <stdio.h>

#include "cluster/io.h"
#include "dsim/memstore.h"

#define DSIM_MAX_NODES 16
#define DSIM_EPOCH_US 1700000000000000ll /* 2023-11-14: now_us base */

typedef struct dsim_world dsim_world;

/* Messages for a node go to this hook (the harness hands them to the
 * node's sb_cluster). */
typedef void (*dsim_recv_fn)(void *arg, int node, int type, const uint8_t *payload, size_t len);

typedef struct dsim_net {
    double loss; /* 0..1 */
    double dup;  /* 0..1 */
    uint32_t delay_min_us;
    uint32_t delay_max_us;
} dsim_net;

typedef struct dsim_stats {
    uint64_t events;
    uint64_t msgs_sent, msgs_delivered, msgs_lost, msgs_cut, msgs_dup, msgs_dead;
    uint64_t applies, applies_lost;
    uint64_t timers;
} dsim_stats;

dsim_world *dsim_world_new(uint64_t seed, int nnodes, FILE *trace);
void dsim_world_free(dsim_world *w);

/* Random numbers (util/prng.h: xoshiro256** seeded by splitmix64 from the seed). */
uint64_t dsim_rand(dsim_world *w);
/* Uniform in [lo, hi] (inclusive). */
uint64_t dsim_rand_range(dsim_world *w, uint64_t lo, uint64_t hi);
/* 1 with probability p. */
int dsim_chance(dsim_world *w, double p);

uint64_t dsim_now_us(const dsim_world *w);
int dsim_nnodes(const dsim_world *w);
FILE *dsim_trace(const dsim_world *w); /* NULL unless verbose */
/* Prints "[   12.345678] " and the message when tracing. */
void dsim_log(dsim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Harness callbacks: fn(arg) after delay_us of virtual time. */
int dsim_at(dsim_world *w, uint64_t delay_us, void (*fn)(void *arg), void *arg);
/* Runs one event; 0 when the queue is empty. */
int dsim_step(dsim_world *w);
/* Time of the next queued event, UINT64_MAX when none. */
uint64_t dsim_next_us(const dsim_world *w);
/* Runs events up to and including time t_us; world time ends at t_us. */
void dsim_run_until(dsim_world *w, uint64_t t_us);

void dsim_set_receiver(dsim_world *w, dsim_recv_fn fn, void *arg);
void dsim_set_net(dsim_world *w, const dsim_net *n);
const dsim_net *dsim_get_net(const dsim_world *w);
/* group[i] for each node; nodes in different groups cannot talk. */
void dsim_partition(dsim_world *w, const int *group);
void dsim_heal(dsim_world *w);
int dsim_partitioned(const dsim_world *w);
void dsim_set_skew(dsim_world *w, int node, int64_t skew_us);
/* For tests of the checkers: this fraction of applies is acknowledged
 * without being kept (a broken store). 0 by default. */
void dsim_set_sabotage(dsim_world *w, double lose_applies);
/* This fraction of applies is refused with SB_EOVERLOADED (a full commit
 * queue). 0 by default. */
void dsim_set_overload(dsim_world *w, double p);

/* --- fault injection and observation (fixture.h builds on these) ---
 * Each node starts with none of them. */

/* Every send a live node makes, before the network decides its fate
 * (refused sends included, with the error they get). */
typedef void (*dsim_tap_fn)(void *arg, int from, const sb_ep *to, int type, const uint8_t *payload,
                            size_t len, int rv);
void dsim_set_tap(dsim_world *w, dsim_tap_fn fn, void *arg);
/* The node's sends fail at once with rv (SB_EOVERLOADED, SB_ECLOSED) while
 * rv != 0, as a transport with a full queue would refuse them. */
void dsim_set_send_error(dsim_world *w, int node, int rv);
/* Messages of these types (bit 1 << type) are dropped on arrival at the
 * node, after the network delivered them. */
void dsim_set_drop_in(dsim_world *w, int node, uint32_t type_mask);
/* The node's kv_put calls keep nothing and are acknowledged with rv (a
 * failing disk) while rv != 0. */
void dsim_set_kv_put_error(dsim_world *w, int node, int rv);
/* Timers the node's live incarnation has started that have neither fired
 * nor been stopped. */
int dsim_node_timers(const dsim_world *w, int node);
/* kv_put calls of the node since the world began, and how many of them
 * asked for an acknowledgement (a non-NULL cb). */
void dsim_node_kv_puts(const dsim_world *w, int node, uint64_t *puts, uint64_t *acked);

/* Node endpoints: node i is 127.0.0.(i+1):7000. -1 if ep is no node. */
sb_ep dsim_node_ep(int node);
int dsim_node_of(const dsim_world *w, const sb_ep *ep);

/* Starts a new incarnation of the node and returns its sb_io (valid until
 * the node crashes and dsim_node_release is called, or the world is
 * freed). */
const sb_io *dsim_node_boot(dsim_world *w, int node);
/* The node dies: its pending events, in-flight messages and incomplete
 * applies are lost from now on; callbacks of incomplete applies and kv
 * writes run at once with SB_ECLOSED. The io stays valid (sends are dropped)
 * until dsim_node_release, so the harness can free its sb_cluster. */
void dsim_node_crash(dsim_world *w, int node);
/* A clean stop: like a crash, except that messages already sent are
 * still delivered (the harness calls sb_cluster_stop first). */
void dsim_node_stop(dsim_world *w, int node);
void dsim_node_release(dsim_world *w, int node);
int dsim_node_alive(const dsim_world *w, int node);
uint32_t dsim_node_incarnation(const dsim_world *w, int node);
dsim_store *dsim_node_store(dsim_world *w, int node);

void dsim_get_stats(const dsim_world *w, dsim_stats *st);
/* A running hash of every event run (time, kind, node, payload): equal
 * for two runs of one seed iff they took the same path. */
uint64_t dsim_trace_hash(const dsim_world *w);

#endif
