/*
 * sibyl dsim: runs deterministic cluster simulations (dsim.h) over a set
 * of seeds and prints one line per failing seed (with the command that
 * replays it) and a summary line. Exit status 0 when every seed held
 * every invariant, 1 when one did not, 2 on a usage error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsim/dsim.h"
#include "util/err.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sibyl dsim [--seed N | --seeds A..B | --count N] [--nodes N] [--dcs D]\n"
            "                  [--chaos-s S] [--patient-clients] [--twice] [-v]\n"
            "\n"
            "  --seed N      run seed N (default 1)\n"
            "  --seeds A..B  run seeds A to B inclusive\n"
            "  --count N     run N seeds, from --seed (default 1)\n"
            "  --nodes N     nodes per cluster, 2-16 (default: 3-5 chosen by the seed)\n"
            "  --dcs D       datacenters, 1 or 2 (default: chosen by the seed)\n"
            "  --chaos-s S   virtual seconds of workload with faults (default 120)\n"
            "  --patient-clients  clients use a node only once its ring holds every node\n"
            "                (the default is eager: any live node; --eager-clients is accepted)\n"
            "  --twice       run each seed twice and check both runs took the same path\n"
            "  -v            trace every event of the run (and the nodes' logs) to stderr\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sb_dsim_main(int argc, char **argv)
{
    uint64_t first = 1, last = 1, count = 0, v;
    int have_seed = 0, have_range = 0, twice = 0, verbose = 0;
    sb_dsim_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--eager-clients")) {
            o.patient_clients = 0; /* the default */
        } else if (!strcmp(a, "--patient-clients")) {
            o.patient_clients = 1;
        } else if (!strcmp(a, "--twice")) {
            twice = 1;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(val, &first)) {
                fprintf(stderr, "sibyl dsim: --seed needs a number, got '%s'\n", val ? val : "");
                return 2;
            }
            last = first;
            have_seed = 1;
            i++;
        } else if (!strcmp(a, "--seeds")) {
            const char *dots = val ? strstr(val, "..") : NULL;
            char lo[32];
            if (!dots || (size_t)(dots - val) >= sizeof lo) {
                fprintf(stderr, "sibyl dsim: --seeds needs A..B, got '%s'\n", val ? val : "");
                return 2;
            }
            memcpy(lo, val, (size_t)(dots - val));
            lo[dots - val] = '\0';
            if (parse_u64(lo, &first) || parse_u64(dots + 2, &last) || last < first) {
                fprintf(stderr, "sibyl dsim: --seeds needs A..B with A <= B, got '%s'\n", val);
                return 2;
            }
            have_range = 1;
            i++;
        } else if (!strcmp(a, "--count")) {
            if (parse_u64(val, &count) || count == 0) {
                fprintf(stderr, "sibyl dsim: --count needs a positive number, got '%s'\n",
                        val ? val : "");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--nodes")) {
            if (parse_u64(val, &v) || v < 2 || v > 16) {
                fprintf(stderr, "sibyl dsim: --nodes needs 2..16, got '%s'\n", val ? val : "");
                return 2;
            }
            o.nodes = (int)v;
            i++;
        } else if (!strcmp(a, "--dcs")) {
            if (parse_u64(val, &v) || v < 1 || v > 2) {
                fprintf(stderr, "sibyl dsim: --dcs needs 1 or 2, got '%s'\n", val ? val : "");
                return 2;
            }
            o.dcs = (int)v;
            i++;
        } else if (!strcmp(a, "--chaos-s")) {
            if (parse_u64(val, &v) || v < 1 || v > 86400) {
                fprintf(stderr, "sibyl dsim: --chaos-s needs 1..86400, got '%s'\n", val ? val : "");
                return 2;
            }
            o.chaos_s = (int)v;
            i++;
        } else {
            fprintf(stderr, "sibyl dsim: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (have_range && (have_seed || count)) {
        fprintf(stderr, "sibyl dsim: --seeds cannot be combined with --seed or --count\n");
        return 2;
    }
    if (count)
        last = first + count - 1;
    /* The trace and the modules' logs share stderr, so they interleave
     * in order; without -v the modules stay quiet (faults make them
     * complain by design). */
    o.trace = verbose ? stderr : NULL;
    sb_log_set_level(verbose ? SB_LOG_INFO : SB_LOG_ERROR + 1);

    char extra[96] = "";
    size_t off = 0;
    if (o.nodes)
        off += (size_t)snprintf(extra + off, sizeof extra - off, " --nodes %d", o.nodes);
    if (o.dcs)
        off += (size_t)snprintf(extra + off, sizeof extra - off, " --dcs %d", o.dcs);
    if (o.chaos_s)
        off += (size_t)snprintf(extra + off, sizeof extra - off, " --chaos-s %d", o.chaos_s);
    if (o.patient_clients)
        snprintf(extra + off, sizeof extra - off, " --patient-clients");

    double t0 = wall_s();
    uint64_t seeds = 0, ops = 0, ok = 0, faults = 0, vus = 0, failed = 0;
    for (uint64_t seed = first;; seed++) {
        sb_dsim_result r;
        o.seed = seed;
        int rv = sb_dsim_run(&o, &r);
        seeds++;
        ops += r.ops;
        ok += r.ops_ok;
        faults += r.faults;
        vus += r.virtual_us;
        if (rv == 0 && twice) {
            sb_dsim_result r2;
            sb_dsim_opts o2 = o;
            o2.trace = NULL;
            sb_dsim_run(&o2, &r2);
            if (r2.trace_hash != r.trace_hash) {
                rv = SB_ESERVER;
                snprintf(r.first_failure, sizeof r.first_failure,
                         "determinism: a second run of the seed took another path");
                r.failures = 1;
            }
        }
        if (rv) {
            failed++;
            if (rv == SB_ESERVER)
                printf("dsim: seed %llu FAILED (%d violation%s, %d nodes, %d dc): %s\n"
                       "  replay: build/sibyl dsim --seed %llu%s -v\n",
                       (unsigned long long)seed, r.failures, r.failures == 1 ? "" : "s", r.nodes,
                       r.dcs, r.first_failure, (unsigned long long)seed, extra);
            else
                printf("dsim: seed %llu could not run: %s\n", (unsigned long long)seed,
                       sb_strerror(rv));
            fflush(stdout);
        }
        if (seed == last)
            break;
    }
    double wall = wall_s() - t0;
    printf("dsim: %llu seed%s (%llu..%llu), %llu ops (%llu ok), %llu faults injected, "
           "%llu failed, virtual %.1f s, wall %.2f s\n",
           (unsigned long long)seeds, seeds == 1 ? "" : "s", (unsigned long long)first,
           (unsigned long long)last, (unsigned long long)ops, (unsigned long long)ok,
           (unsigned long long)faults, (unsigned long long)failed, (double)vus / 1e6, wall);
    return failed ? 1 : 0;
}
