/*
 * The linearizability checker (util/lincheck.h) on random register
 * histories that a real register produced (tests/unit/util/lincheck_gen.h):
 * how long a check takes, and how many search steps it needs.
 *
 *   bench_lincheck [--runs 5]
 *
 * Histories (seed 1, values 1..5, 3% failed and 3% indeterminate ops):
 *   small   2,000 ops over 10 keys from 8 clients (the size issue 11 names)
 *   large  20,000 ops over 10 keys from 8 clients
 *   hot     2,000 ops on 1 key from 8 clients (all contention on one key)
 *   bad     the small one with one read corrupted (a violation to find)
 * For each, the median wall time of --runs checks. Ends with
 *   RESULT small_ms=... large_ms=... hot_ms=... bad_ms=... small_steps=...
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/lincheck.h"

#include "../tests/unit/util/lincheck_gen.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ms of runs checks of the history o describes; *steps gets the
 * search steps of one, *result its verdict. */
static double measure(const lcgen_opts *o, int runs, uint64_t *steps, sb_lincheck_result *result)
{
    sb_lincheck *h = sb_lincheck_new();
    if (!h || lcgen_fill(h, o) < 0) {
        fprintf(stderr, "bench_lincheck: out of memory\n");
        exit(1);
    }
    double ms[64];
    for (int i = 0; i < runs; i++) {
        sb_lincheck_report rep;
        if (sb_lincheck_check(h, NULL, &rep) != 0) {
            fprintf(stderr, "bench_lincheck: out of memory\n");
            exit(1);
        }
        ms[i] = rep.elapsed_ms;
        *steps = rep.steps;
        *result = rep.result;
        sb_lincheck_report_free(&rep);
    }
    sb_lincheck_free(h);
    qsort(ms, (size_t)runs, sizeof ms[0], cmp_double);
    return ms[runs / 2];
}

int main(int argc, char **argv)
{
    int runs = 5;
    static const struct option longopts[] = {{"runs", required_argument, NULL, 'r'}, {0}};
    for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        if (c != 'r' || (runs = atoi(optarg)) < 1 || runs > 64) {
            fprintf(stderr, "usage: bench_lincheck [--runs 1..64]\n");
            return 2;
        }
    }
    static const struct {
        const char *name;
        int ops, keys, corrupt;
        sb_lincheck_result want;
    } cases[] = {
        {"small", 2000, 10, 0, SB_LINCHECK_LINEARIZABLE},
        {"large", 20000, 10, 0, SB_LINCHECK_LINEARIZABLE},
        {"hot", 2000, 1, 0, SB_LINCHECK_LINEARIZABLE},
        {"bad", 2000, 10, 1, SB_LINCHECK_VIOLATION},
    };
    double ms[4];
    uint64_t steps[4];
    for (int i = 0; i < 4; i++) {
        lcgen_opts o = {.seed = 1,
                        .ops = cases[i].ops,
                        .keys = cases[i].keys,
                        .processes = 8,
                        .values = 5,
                        .fail_pct = 3,
                        .info_pct = 3,
                        .corrupt = cases[i].corrupt};
        sb_lincheck_result r;
        ms[i] = measure(&o, runs, &steps[i], &r);
        printf("%-6s %6d ops, %2d key(s), 8 clients: %8.2f ms, %9" PRIu64 " steps, %s\n",
               cases[i].name, cases[i].ops, cases[i].keys, ms[i], steps[i],
               sb_lincheck_result_name(r));
        if (r != cases[i].want) {
            fprintf(stderr, "bench_lincheck: %s: expected %s\n", cases[i].name,
                    sb_lincheck_result_name(cases[i].want));
            return 1;
        }
    }
    printf("RESULT small_ms=%.2f large_ms=%.2f hot_ms=%.2f bad_ms=%.2f small_steps=%" PRIu64 "\n",
           ms[0], ms[1], ms[2], ms[3], steps[0]);
    return 0;
}
