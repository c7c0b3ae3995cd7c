/*
 * Token ring: ownership balance of sb_ring_allocate and replica-lookup cost.
 *
 *   bench_ring [--seed 42] [--lookups 2000000]
 *
 * Balance: nodes join one at a time (each allocating num_tokens against the
 * ring of the nodes before it, as gossip does); after 3, 5 and 10 nodes it
 * prints each node's primary ownership as min, max, max/min and the
 * standard deviation relative to the mean (%), for num_tokens 16 and 256,
 * for random tokens (what Cassandra did before its allocator) for
 * comparison (with 4+ nodes also the effective ownership under
 * SimpleStrategy rf 3, which the allocator does not optimise directly),
 * and for two datacenters joined alternately (ownership within
 * each datacenter, i.e. effective ownership under NTS {dc1: 1, dc2: 1}).
 * Lookup: ns per sb_ring_replicas call over random tokens on a 10-node ring
 * (3 racks) for SimpleStrategy rf 3 and NTS with rf 3 in each of 2 dcs.
 * Ends with
 *   RESULT spread16_3=... spread16_5=... spread16_10=... lookup_simple_ns=...
 *          lookup_nts_ns=...
 * (spread = max/min ownership).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/ring.h"
#include "util/err.h"

#define MAX_NODES 10

static uint64_t splitmix(void *arg)
{
    uint64_t *s = arg;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct cluster {
    sb_ring_node nodes[MAX_NODES];
    int64_t tokens[MAX_NODES][SB_MAX_TOKENS];
    int n;
} cluster;

static void add_node(cluster *c, const char *dc, const char *rack)
{
    sb_ring_node *nd = &c->nodes[c->n];
    memset(nd, 0, sizeof *nd);
    nd->ep.family = 4;
    nd->ep.ip[0] = 127;
    nd->ep.ip[3] = (uint8_t)(c->n + 1);
    nd->ep.port = 7000;
    snprintf(nd->dc, sizeof nd->dc, "%s", dc);
    snprintf(nd->rack, sizeof nd->rack, "%s", rack);
    nd->tokens = c->tokens[c->n];
    c->n++;
}

typedef struct stats {
    double min, max, ratio, stdev_pct;
} stats;

static stats spread(const double *own, const int *which, int n)
{
    stats s = {1e300, 0, 0, 0};
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        double v = own[which[i]];
        s.min = v < s.min ? v : s.min;
        s.max = v > s.max ? v : s.max;
        sum += v;
    }
    double mean = sum / n;
    for (int i = 0; i < n; i++)
        sq += (own[which[i]] - mean) * (own[which[i]] - mean);
    s.ratio = s.min > 0 ? s.max / s.min : INFINITY;
    s.stdev_pct = 100.0 * sqrt(sq / n) / mean;
    return s;
}

/* Joins node c->n-1 (already added, no tokens yet): allocated or random. */
static void join(cluster *c, int num_tokens, int random_tokens, uint64_t *seed)
{
    sb_ring_node *nd = &c->nodes[c->n - 1];
    if (random_tokens) {
        for (int i = 0; i < num_tokens; i++)
            c->tokens[c->n - 1][i] = (int64_t)splitmix(seed);
        nd->ntokens = num_tokens;
        return;
    }
    sb_ring *r = sb_ring_build(c->nodes, c->n - 1);
    if (!r || sb_ring_allocate(r, nd->dc, num_tokens, splitmix, seed, c->tokens[c->n - 1]) < 0) {
        fprintf(stderr, "bench_ring: allocation failed\n");
        exit(1);
    }
    nd->ntokens = num_tokens;
    sb_ring_free(r);
}

static void print_stats(const char *what, int nodes, int num_tokens, stats s)
{
    printf("  %-22s %2d nodes, num_tokens %3d: min %6.2f%%  max %6.2f%%  max/min %.3f  "
           "stdev %5.2f%%\n",
           what, nodes, num_tokens, 100 * s.min, 100 * s.max, s.ratio, s.stdev_pct);
}

/* One datacenter: returns max/min at 3, 5 and 10 nodes in ratio[]. */
static void balance_one_dc(int num_tokens, int random_tokens, uint64_t seed, double ratio[3])
{
    cluster *c = calloc(1, sizeof *c);
    int which[MAX_NODES];
    for (int i = 0; i < MAX_NODES; i++)
        which[i] = i;
    int k = 0;
    for (int i = 0; i < MAX_NODES; i++) {
        add_node(c, "dc1", "rack1");
        join(c, num_tokens, random_tokens, &seed);
        if (c->n != 3 && c->n != 5 && c->n != 10)
            continue;
        sb_ring *r = sb_ring_build(c->nodes, c->n);
        double own[MAX_NODES];
        sb_ring_ownership(r, NULL, own);
        stats s = spread(own, which, c->n);
        print_stats(random_tokens ? "random tokens" : "allocated", c->n, num_tokens, s);
        ratio[k++] = s.ratio;
        if (c->n > 3) {
            sb_repl p = {.kind = SB_REPL_SIMPLE, .rf = 3};
            sb_ring_ownership(r, &p, own);
            print_stats(random_tokens ? "  effective, rf 3" : "  effective, rf 3", c->n, num_tokens,
                        spread(own, which, c->n));
        }
        sb_ring_free(r);
    }
    free(c);
}

static void balance_two_dcs(int num_tokens, uint64_t seed)
{
    cluster *c = calloc(1, sizeof *c);
    sb_repl p = {.kind = SB_REPL_NTS, .ndcs = 2};
    snprintf(p.dcs[0].dc, SB_DC_MAX, "dc1");
    snprintf(p.dcs[1].dc, SB_DC_MAX, "dc2");
    p.dcs[0].rf = p.dcs[1].rf = 1;
    for (int i = 0; i < MAX_NODES; i++) {
        add_node(c, i % 2 ? "dc2" : "dc1", "rack1");
        join(c, num_tokens, 0, &seed);
    }
    sb_ring *r = sb_ring_build(c->nodes, c->n);
    double own[MAX_NODES];
    sb_ring_ownership(r, &p, own);
    for (int d = 0; d < 2; d++) {
        int which[MAX_NODES], n = 0;
        for (int i = 0; i < c->n; i++)
            if (strcmp(sb_ring_node_at(r, i)->dc, p.dcs[d].dc) == 0)
                which[n++] = i;
        char what[32];
        snprintf(what, sizeof what, "allocated, in %s", p.dcs[d].dc);
        print_stats(what, n, num_tokens, spread(own, which, n));
    }
    sb_ring_free(r);
    free(c);
}

static double lookup_ns(const sb_ring *r, const sb_repl *p, const int64_t *keys, int nkeys)
{
    int out[SB_MAX_REPLICAS];
    long sum = 0;
    double t0 = now_s();
    for (int i = 0; i < nkeys; i++)
        sum += sb_ring_replicas(r, p, keys[i], out, SB_MAX_REPLICAS) + out[0];
    double dt = now_s() - t0;
    if (sum == 42) /* keep the loop */
        printf(" ");
    return dt * 1e9 / nkeys;
}

static void lookups(int num_tokens, uint64_t seed, int nkeys, double *simple_ns, double *nts_ns)
{
    cluster *c = calloc(1, sizeof *c);
    static const char *racks[] = {"r1", "r2", "r3"};
    for (int i = 0; i < MAX_NODES; i++) {
        add_node(c, i % 2 ? "dc2" : "dc1", racks[(i / 2) % 3]);
        join(c, num_tokens, 0, &seed);
    }
    sb_ring *r = sb_ring_build(c->nodes, c->n);
    int64_t *keys = malloc(sizeof *keys * (size_t)nkeys);
    for (int i = 0; i < nkeys; i++)
        keys[i] = (int64_t)splitmix(&seed);
    sb_repl simple = {.kind = SB_REPL_SIMPLE, .rf = 3};
    sb_repl nts = {.kind = SB_REPL_NTS, .ndcs = 2};
    snprintf(nts.dcs[0].dc, SB_DC_MAX, "dc1");
    snprintf(nts.dcs[1].dc, SB_DC_MAX, "dc2");
    nts.dcs[0].rf = nts.dcs[1].rf = 3;
    lookup_ns(r, &simple, keys, nkeys / 10); /* warm up */
    *simple_ns = lookup_ns(r, &simple, keys, nkeys);
    *nts_ns = lookup_ns(r, &nts, keys, nkeys);
    printf("  lookup, 10 nodes x %3d tokens: SimpleStrategy rf 3 %.1f ns/call, "
           "NTS {dc1: 3, dc2: 3} (3 racks) %.1f ns/call\n",
           num_tokens, *simple_ns, *nts_ns);
    free(keys);
    sb_ring_free(r);
    free(c);
}

int main(int argc, char **argv)
{
    uint64_t seed = 42;
    int nkeys = 2000000;
    static const struct option opts[] = {
        {"seed", required_argument, 0, 's'}, {"lookups", required_argument, 0, 'l'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 's')
            seed = strtoull(optarg, NULL, 10);
        else if (ch == 'l')
            nkeys = atoi(optarg);
        else
            return 2;
    }
    if (nkeys < 10)
        nkeys = 10;
    printf("ring balance (seed %llu): nodes join one by one; primary ownership per node\n",
           (unsigned long long)seed);
    double r16[3], r256[3], rr[3];
    balance_one_dc(16, 0, seed, r16);
    balance_one_dc(256, 0, seed, r256);
    balance_one_dc(16, 1, seed, rr);
    balance_one_dc(256, 1, seed, rr);
    balance_two_dcs(16, seed);
    balance_two_dcs(256, seed);
    double s16, n16, s256, n256;
    lookups(16, seed, nkeys, &s16, &n16);
    lookups(256, seed, nkeys, &s256, &n256);
    printf("RESULT spread16_3=%.3f spread16_5=%.3f spread16_10=%.3f spread256_10=%.3f "
           "lookup_simple_ns=%.1f lookup_nts_ns=%.1f lookup_simple256_ns=%.1f "
           "lookup_nts256_ns=%.1f\n",
           r16[0], r16[1], r16[2], r256[2], s16, n16, s256, n256);
    return 0;
}
