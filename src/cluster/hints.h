/*
 * Hinted handoff.
 *
 * When a replica of a write is down (per the failure detector) or does
 * not acknowledge in time, the coordinator stores the write as a hint for
 * that replica: durably, in the kv space under
 *   "hint/" target-host-id(16) created-us(8, big-endian) seq(4)
 * whose value is [target ep][entries: table id, key, value ...]. Hints are
 * bounded per target (max_per_target) and in total bytes (max_bytes);
 * beyond the bounds a hint is dropped (counted), as it is when the target
 * has been down for longer than max_window_ms (Cassandra's
 * max_hint_window). Hints older than max_window_ms are dropped at replay.
 *
 * Replay: when the failure detector marks a target up (and every
 * replay_check_ms while hints are pending for a live target), its hints
 * are sent as MUTATION requests in creation order, at most
 * replay_per_sec per second and a few in flight; each acknowledged hint
 * is deleted. A target that fails a replay is retried on the next check.
 * Hints are loaded from the kv space at start, so they survive a
 * coordinator restart.
 */
#ifndef SB_CLUSTER_HINTS_H
#define SB_CLUSTER_HINTS_H

#include <stdint.h>

#include "cluster/gossip.h"
#include "cluster/io.h"
#include "cluster/rpc.h"

typedef struct sb_hints_opts {
    int64_t max_window_ms;    /* default 3 h */
    uint32_t max_per_target;  /* default 100000 */
    uint64_t max_bytes;       /* default 256 MiB */
    uint32_t replay_per_sec;  /* default 1000 hints/s */
    uint32_t replay_check_ms; /* default 1000 */
    uint32_t timeout_ms;      /* replay MUTATION timeout, default 2000 */
} sb_hints_opts;

/* Zero fields given to sb_hints_new keep their defaults; replay_per_sec
 * is capped at 65536. */
void sb_hints_opts_default(sb_hints_opts *o);

typedef struct sb_hints sb_hints;

sb_hints *sb_hints_new(const sb_io *io, sb_rpc *rpc, sb_gossip *g, const sb_hints_opts *o);
void sb_hints_start(sb_hints *h); /* timers; call after gossip start */
/* Cancels replay calls; stores not yet durable get cb(SB_ECLOSED),
 * synchronously, here (as sb_rpc_free does). */
void sb_hints_free(sb_hints *h);

/* Stores a hint of entries m[0..n) for the replica at ep. cb (may be
 * NULL) gets 0 once the hint is durable, or an error; returns non-zero
 * (and never calls cb) when the hint is refused at once: SB_EOVERLOADED
 * (bounds), SB_ETIMEOUT (target down longer than the window). */
int sb_hints_store(sb_hints *h, const sb_ep *target, const sb_raw_mut *m, size_t n, sb_write_cb cb,
                   void *arg);
/* The gossip UP event of a target: start replaying its hints now. */
void sb_hints_target_up(sb_hints *h, const sb_ep *target);

typedef struct sb_hints_stats {
    uint64_t stored, replayed, dropped, pending, pending_bytes;
    /* dropped = dropped_full (bounds) + dropped_window (target down too
     * long) + dropped_expired (too old at replay) + dropped_disk (the
     * local disk is full or failed: hints stop growing) + other failed kv
     * writes */
    uint64_t dropped_full, dropped_window, dropped_expired, dropped_disk;
    uint64_t replay_failed; /* MUTATIONs that failed, timed out or were refused */
} sb_hints_stats;
void sb_hints_get_stats(const sb_hints *h, sb_hints_stats *st);
/* Pending hints for one target. */
uint64_t sb_hints_pending(const sb_hints *h, const sb_ep *target);

#endif
