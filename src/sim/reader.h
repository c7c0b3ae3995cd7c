/*
 * The simulator's reads (`sibyl sim --reads R`) on a thread of their own.
 *
 * A read that waits for a timeout (QUORUM or ALL while a replica is cut
 * off but not yet marked down: the coordinator's 5 s read timeout) must
 * not hold up the writes, so the reads run on one thread with their own
 * HTTP connections (one per target), their own round-robin and their own
 * memory of unreachable targets. The writer thread shares only:
 *
 * - the read consistency (sb_sim_reader_set_consistency, under a mutex),
 * - the outcome counters (atomics, sb_sim_reader_counts),
 * - the stop request (an eventfd every blocking wait of the reader also
 *   polls, so sb_sim_reader_stop returns within milliseconds even while a
 *   read is waiting for a node).
 *
 * One request at a time: at most one read is in flight whatever the rate,
 * and a slow read delays only the reads behind it (after a stall the
 * reader goes on at its rate instead of catching up).
 */
#ifndef SB_SIM_READER_H
#define SB_SIM_READER_H

#include <stdint.h>

#include "sim/gen.h"

typedef struct sb_sim_reader sb_sim_reader;

typedef struct sb_sim_reader_opts {
    const char *const *targets; /* HOST:PORT each; copied */
    int ntargets;               /* 1..16 */
    int timeout_ms;             /* per-request I/O timeout */
    double reads_per_s;         /* > 0 */
    const char *bucket;         /* keyspace; copied */
    const char *measurement;    /* table; copied */
    const char *read_cl;        /* "" = the node's default; copied */
    /* The sensors to pick from. Only sb_sim_gen_sensor() is called, whose
     * table does not change after sb_sim_gen_new: the generator may go on
     * being used by the writer thread. Must outlive the reader. */
    const sb_sim_gen *gen;
    uint64_t seed;
} sb_sim_reader_opts;

/* Starts the reader thread (SIGINT and SIGTERM stay with the calling
 * thread). 0, or SB_EINVAL / SB_ENOMEM / SB_EIO with the reason in
 * errmsg. */
int sb_sim_reader_start(sb_sim_reader **out, const sb_sim_reader_opts *o, char *errmsg);
/* The consistency level of the next reads ("" = the node's default). */
void sb_sim_reader_set_consistency(sb_sim_reader *r, const char *cl);
/* Reads answered 200 / not so far. r may be NULL (zeros). */
void sb_sim_reader_counts(sb_sim_reader *r, uint64_t *ok, uint64_t *failed);
/* Ends the read in flight, joins the thread and frees r; *ok and *failed
 * (either may be NULL) get the final counts. r NULL: zeros. */
void sb_sim_reader_stop(sb_sim_reader *r, uint64_t *ok, uint64_t *failed);

#endif
