/*
 * The node's hybrid logical clock: the source of server-assigned write
 * timestamps (microseconds since the epoch, as Cassandra's).
 *
 * A timestamp from sb_hlc_now is larger than every timestamp this clock
 * has issued and every one it has observed, and is the wall clock when
 * that is larger. Every node-to-node frame carries its sender's clock
 * (net/transport.h), and a receiver observes it; so a write coordinated
 * after another one anywhere in the cluster gets the larger timestamp as
 * soon as any message has gone from the first coordinator to the second,
 * gossip included, whatever their wall clocks say.
 *
 * Bounded: a remote value more than max_ahead_us ahead of the local wall
 * clock is not adopted (counted in ignored), so one node with a clock far
 * in the future cannot drag the whole cluster's timestamps there; such a
 * node stops coordinating writes instead (see docs/clocks.md).
 *
 * Thread-safe (ingestion takes timestamps on worker threads).
 */
#ifndef SB_UTIL_HLC_H
#define SB_UTIL_HLC_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct sb_hlc {
    _Atomic int64_t last;
    _Atomic int64_t max_ahead_us;
    _Atomic uint64_t ignored;
    int64_t (*wall_us)(void); /* NULL: CLOCK_REALTIME; set before use (tests) */
} sb_hlc;

void sb_hlc_init(sb_hlc *h, int64_t max_ahead_us);
/* The process's clock (one node per process), max_ahead_us 2.5 s. */
sb_hlc *sb_hlc_node(void);

int64_t sb_hlc_wall_us(const sb_hlc *h);
/* A new timestamp (see above). */
int64_t sb_hlc_now(sb_hlc *h);
/* The clock's reading without taking a timestamp: what a frame carries. */
int64_t sb_hlc_peek(const sb_hlc *h);
/* Raises the clock to ts (a timestamp this node used itself). */
void sb_hlc_update(sb_hlc *h, int64_t ts);
/* A peer's reading: adopted (0) unless it is over max_ahead_us ahead of
 * our wall clock (1, counted). */
int sb_hlc_observe(sb_hlc *h, int64_t remote);

#endif
