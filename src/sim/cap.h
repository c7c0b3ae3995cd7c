/*
 * The CAP writers of `sibyl sim --cap R` (docs/cap.md): two writers per
 * target node, side by side, so that a partition shows what each kind of
 * write does on each side.
 *
 *   AP writer: UPDATE <bucket>.cap_ap SET n = <seq> WHERE k = '<node>' at
 *     ONE through POST /api/v1/cql: any live replica takes it, so it keeps
 *     succeeding on both sides of a partition (the replicas diverge, and
 *     converge after the heal through hints and repair).
 *   CP writer: a register per node, <bucket>.cap_cp k = 'reg-<node>',
 *     advanced by compare-and-set LWTs (INSERT ... IF NOT EXISTS, then
 *     UPDATE ... SET v = n+1 IF v = n): Paxos among the partition's
 *     replicas needs a majority of them, so it fails on the minority side
 *     (Unavailable, or a timeout while the failure detector has not yet
 *     convicted the other side) and goes on, linearizably, on the
 *     majority's.
 *
 * One thread per target with its own HTTP connection, so an LWT waiting
 * for its timeout on a minority node never holds up the other nodes'
 * writers. Counters are atomics; sb_sim_cap_stop sets a flag and joins
 * (each thread is back within one request timeout).
 */
#ifndef SB_SIM_CAP_H
#define SB_SIM_CAP_H

#include <stdint.h>

typedef struct sb_sim_cap sb_sim_cap;

typedef struct sb_sim_cap_counts {
    uint64_t ap_ok, ap_failed; /* AP writes answered 200 / not */
    uint64_t cp_ok, cp_failed; /* LWTs decided (applied or not) / failed */
    uint64_t cp_value;         /* the register's value as last known */
} sb_sim_cap_counts;

/* Starts one writer thread per target (HOST:PORT, at most 16; copied),
 * each doing ops_per_s AP writes and as many LWTs per second. 0, or
 * SB_EINVAL / SB_ENOMEM / SB_EIO with errmsg. */
int sb_sim_cap_start(sb_sim_cap **out, const char *const *targets, int ntargets, double ops_per_s,
                     const char *bucket, int timeout_ms, char *errmsg);
/* The counts of target i so far (zeros for a NULL c). */
void sb_sim_cap_counts_of(sb_sim_cap *c, int i, sb_sim_cap_counts *out);
/* Stops and joins every thread, frees c (NULL: nothing). */
void sb_sim_cap_stop(sb_sim_cap *c);

#endif
