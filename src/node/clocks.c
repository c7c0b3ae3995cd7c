/* Clock offsets watched, writes refused while this node's clock is off
 * (clocks.h). */
#include "node/clocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip.h"
#include "coord/coord.h"
#include "net/transport.h"
#include "node/node.h"
#include "util/hlc.h"
#include "util/log.h"

#define CHECK_MS 1000
#define MAX_PEERS 1024

sb_clock_verdict sb_clock_judge(const int64_t *offsets_us, int n, int64_t hard_us)
{
    sb_clock_verdict v = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        int64_t a = offsets_us[i] < 0 ? -offsets_us[i] : offsets_us[i];
        if (a > v.worst_us)
            v.worst_us = a;
        v.nfar += a > hard_us;
    }
    /* Off from more than half of the peers it can measure: with the
     * others agreeing among themselves, the odd one out is this node. */
    v.refuse = n > 0 && 2 * v.nfar > n;
    return v;
}

static int64_t hard_us(const sb_node *n)
{
    int ms = n->cfg.max_clock_offset_hard_ms;
    return (int64_t)(ms ? ms : 5 * n->cfg.max_clock_offset_ms) * 1000;
}

static void check(uv_timer_t *t)
{
    sb_node *n = t->data;
    sb_gossip *g = sb_cluster_gossip(n->v.cluster);
    sb_transport_peer_stats *ps = calloc(MAX_PEERS, sizeof *ps);
    int64_t *offs = calloc(MAX_PEERS, sizeof *offs);
    if (!ps || !offs) {
        free(ps);
        free(offs);
        return;
    }
    int np = sb_transport_stats(n->v.transport, ps, MAX_PEERS), k = 0;
    int64_t warn_us = (int64_t)n->cfg.max_clock_offset_ms * 1000;
    char eps[SB_EP_STRLEN];
    int nwarn = 0;
    for (int i = 0; i < np; i++) {
        if (!ps[i].has_offset || !sb_gossip_is_up(g, &ps[i].peer))
            continue;
        int64_t off = ps[i].offset_us;
        offs[k++] = off;
        int over = off > warn_us || off < -warn_us;
        if (over && nwarn < (int)(sizeof n->clock_warned / sizeof n->clock_warned[0]))
            n->clock_warned_now[nwarn++] = ps[i].peer;
        int was = 0;
        for (int j = 0; j < n->nclock_warned; j++)
            was |= sb_ep_eq(&n->clock_warned[j], &ps[i].peer);
        if (over && !was)
            SB_WARN("clock", "peer clock offset over the limit",
                    "peer=%s offset_ms=%.1f max_clock_offset_ms=%d", sb_ep_str(&ps[i].peer, eps),
                    (double)off / 1000.0, n->cfg.max_clock_offset_ms);
        else if (!over && was)
            SB_INFO("clock", "peer clock offset back within the limit", "peer=%s offset_ms=%.1f",
                    sb_ep_str(&ps[i].peer, eps), (double)off / 1000.0);
    }
    memcpy(n->clock_warned, n->clock_warned_now, sizeof n->clock_warned);
    n->nclock_warned = nwarn;
    sb_clock_verdict v = sb_clock_judge(offs, k, hard_us(n));
    if (v.refuse && !n->v.clock_refusing) {
        char why[512];
        snprintf(why, sizeof why,
                 "not coordinating writes: the clock of node %s is off by up to %.1f s from %d of "
                 "the %d live peers it measures (hard limit %.1f s); fix its time (NTP)",
                 n->cfg.listen_addr, (double)v.worst_us / 1e6, v.nfar, k, (double)hard_us(n) / 1e6);
        sb_coord_refuse_writes(sb_cluster_coord(n->v.cluster), why);
        n->v.clock_refusing = 1;
        SB_ERROR("clock", "clock too far off: refusing to coordinate writes",
                 "worst_offset_ms=%.1f far_peers=%d live_peers=%d hard_limit_ms=%d",
                 (double)v.worst_us / 1000.0, v.nfar, k, (int)(hard_us(n) / 1000));
    } else if (!v.refuse && n->v.clock_refusing) {
        sb_coord_refuse_writes(sb_cluster_coord(n->v.cluster), NULL);
        n->v.clock_refusing = 0;
        SB_INFO("clock", "clock back within the hard limit: coordinating writes", NULL);
    }
    free(ps);
    free(offs);
}

void sb_node_clocks_start(sb_node *n)
{
    atomic_store(&sb_hlc_node()->max_ahead_us, hard_us(n));
    uv_timer_init(n->v.loop, &n->clock_timer);
    n->clock_timer.data = n;
    uv_timer_start(&n->clock_timer, check, CHECK_MS, CHECK_MS);
}

void sb_node_clocks_stop(sb_node *n)
{
    if (n->clock_timer.loop) {
        uv_timer_stop(&n->clock_timer);
        uv_close((uv_handle_t *)&n->clock_timer, NULL);
    }
}
