/*
 * Deterministic simulation of a Sibyl cluster (issue 4, item 7).
 *
 * sb_dsim_run builds a world (world.h) of N nodes from one seed, each an
 * sb_cluster (coord/coord.h) over simulated I/O, drives a workload of
 * writes and reads at every consistency level through random
 * coordinators while injecting faults (message loss, delay, reordering,
 * duplication, partitions, crashes and clean restarts, clock skew), then
 * heals everything, lets the cluster settle and checks:
 *
 *   (a) reads see acknowledged writes: a successful read at a level whose
 *       replica count R satisfies W + R > RF for an earlier acknowledged
 *       write at W returns that write or a newer one (checked during the
 *       faults too); after healing, a QUORUM read of every key returns a
 *       value at least as new as every acknowledged write;
 *   (b) convergence: after hints drain and every key is read at ALL (read
 *       repair), every replica of every key holds identical bytes and
 *       non-replicas hold nothing, and all nodes agree on the ring;
 *   (c) every request gets exactly one outcome;
 *   (d) nothing crashes or leaks (run it under ASan).
 * Any read must also return only values that were written, with the
 * timestamps they were written with.
 *
 * `sibyl dsim --seed N -v` replays one seed with an event trace.
 */
#ifndef SB_DSIM_H
#define SB_DSIM_H

#include <stdint.h>
#include <stdio.h>

typedef struct sb_dsim_opts {
    uint64_t seed;
    int nodes;   /* 2..16; 0: chosen by the seed (3-5) */
    int dcs;     /* 1 or 2; 0: chosen by the seed */
    int chaos_s; /* virtual seconds of workload with faults; 0: 120 */
    FILE *trace; /* event trace (-v) or NULL */
    /* Clients wait until a node's ring holds every node before using it
     * (the old workaround, from before gossip saved its peers in the kv
     * space). By default they use any live node at once: a restarted node
     * starts with the whole ring it saved. */
    int patient_clients;
    /* Tests of the checkers only: the fraction of storage applies that
     * are acknowledged but not kept (a broken store). 0 normally. */
    double sabotage_lose_applies;
} sb_dsim_opts;

#define SB_DSIM_MSG 512

typedef struct sb_dsim_result {
    int nodes, dcs;
    uint64_t ops, ops_ok;
    uint64_t faults;
    uint64_t messages;
    uint64_t virtual_us;
    uint64_t trace_hash; /* equal across runs of one seed */
    int failures;        /* invariant violations */
    char first_failure[SB_DSIM_MSG];
} sb_dsim_result;

/* Runs one seed. 0 when every invariant held, SB_ESERVER when one did not
 * (r->first_failure says which and where), another negative code when the
 * simulation could not be set up. */
int sb_dsim_run(const sb_dsim_opts *o, sb_dsim_result *r);

/* sibyl dsim [--seed N | --seeds A..B | --count N] [--nodes N] [--dcs D]
 *            [--chaos-s S] [-v] */
int sb_dsim_main(int argc, char **argv);

#endif
