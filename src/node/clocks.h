/*
 * The node's watch over clocks (node/clocks.c): once a second it reads
 * each live peer's clock offset (net/transport.h), warns when one is over
 * cluster.max_clock_offset_in_ms, and stops coordinating writes while its
 * own clock is over the hard limit (5 x that by default) off from a
 * majority of the live peers it can measure. docs/clocks.md.
 */
#ifndef SB_NODE_CLOCKS_H
#define SB_NODE_CLOCKS_H

#include <stdint.h>

struct sb_node;

/* The verdict of one check, from the offsets (us) of the live peers. */
typedef struct sb_clock_verdict {
    int nfar;         /* peers over the hard limit */
    int64_t worst_us; /* largest |offset| */
    int refuse;       /* 1: this node is the one that is off */
} sb_clock_verdict;
sb_clock_verdict sb_clock_judge(const int64_t *offsets_us, int n, int64_t hard_us);

void sb_node_clocks_start(struct sb_node *n);
void sb_node_clocks_stop(struct sb_node *n);

#endif
