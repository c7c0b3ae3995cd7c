/*
 * libFuzzer target for gossip message decoding (sb_gossip_receive).
 *
 * Input: records [u8 type][u16 big-endian length][payload], delivered in
 * order to one fresh node (so a record can introduce a member that a later
 * one updates). Type 0xFF instead runs the cluster fixture (dsim/fixture.h)
 * for 1 s of virtual time: the pending gossip round (detector, joining,
 * SYN building on fuzzed state) and the kv writes it makes.
 * Checks: no crash or sanitizer report, every outgoing payload within the
 * message bound, members sorted and bounded, a ring always present.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/log.h"

/* Every send node 0 makes: within the message bound, of a gossip type. */
static void tap(void *arg, int from, const sb_ep *to, int type, const uint8_t *p, size_t len,
                int rv)
{
    /* 64 KB of states, plus one state, plus 1024 digests at most. */
    if (len > 160 * 1024 || type < SB_MSG_GOSSIP_SYN || type > SB_MSG_SHUTDOWN)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        sb_log_set_level(SB_LOG_ERROR);
        quiet = 1;
    }
    /* Node 0 under test; its seed, node 1, never boots, so all it hears
     * is the input. */
    sb_fixture *fx = sb_fixture_new(1, 2, NULL, NULL);
    if (!fx)
        abort();
    sb_fixture_tap(fx, tap, NULL);
    const sb_io *io = sb_fixture_boot(fx, 0);
    sb_gossip_opts o;
    sb_gossip_opts_default(&o);
    o.self = sb_fixture_ep(0);
    sb_ep seed = sb_fixture_ep(1);
    o.seeds = &seed;
    o.nseeds = 1;
    char err[SB_ERRMSG_SIZE];
    sb_gossip *g = io ? sb_gossip_new(io, &o, err) : NULL;
    if (!g)
        abort();
    sb_gossip_start(g);
    size_t off = 0;
    while (off + 3 <= size) {
        int type = data[off];
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        if (type == 0xFF)
            sb_fixture_run_for(fx, SB_FIXTURE_SEC);
        else
            sb_gossip_receive(g, type, data + off, len);
        /* gossip keeps one round timer, and a greeting timer until it has
         * settled (gossip.h, Settling) */
        int settled = sb_gossip_settled(g, NULL, 0); /* may stop the greeting timer */
        if (sb_fixture_timers(fx, 0) > (settled ? 1 : 2))
            abort();
        off += len;
    }
    int n = sb_gossip_nmembers(g);
    if (n < 1 || n > 1024 || !sb_gossip_ring(g) || !sb_gossip_self(g)->is_self)
        abort();
    for (int i = 1; i < n; i++)
        if (sb_ep_cmp(&sb_gossip_member(g, i - 1)->ep, &sb_gossip_member(g, i)->ep) >= 0)
            abort();
    sb_gossip_free(g);
    sb_fixture_free(fx);
    return 0;
}
