/*
 * libFuzzer target for gossip message decoding (sb_gossip_receive).
 *
 * Input: records [u8 type][u16 big-endian length][payload], delivered in
 * order to one fresh node (so a record can introduce a member that a later
 * one updates). Type 0xFF instead advances the clock by 1 s and runs the
 * pending gossip round (detector, joining, SYN building on fuzzed state).
 * Checks: no crash or sanitizer report, every outgoing payload within the
 * message bound, members sorted and bounded, a ring always present.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip.h"
#include "util/err.h"
#include "util/log.h"

struct sb_io_timer {
    int unused;
};

static struct {
    uint64_t now, rng;
    sb_io_timer t;
    sb_io_timer_cb cb;
    void *arg;
} F;

static int64_t f_now_us(void *ctx)
{
    return 1700000000000000LL + (int64_t)F.now * 1000;
}

static uint64_t f_mono(void *ctx)
{
    return F.now;
}

static uint64_t f_random(void *ctx)
{
    F.rng ^= F.rng << 13;
    F.rng ^= F.rng >> 7;
    F.rng ^= F.rng << 17;
    return F.rng;
}

static int f_send(void *ctx, const sb_ep *to, int type, const uint8_t *p, size_t len)
{
    /* 64 KB of states, plus one state, plus 1024 digests at most. */
    if (len > 160 * 1024 || type < SB_MSG_GOSSIP_SYN || type > SB_MSG_SHUTDOWN)
        abort();
    return 0;
}

static sb_io_timer *f_timer_start(void *ctx, uint64_t delay_ms, sb_io_timer_cb cb, void *arg)
{
    if (F.cb) /* gossip keeps one timer */
        abort();
    F.cb = cb;
    F.arg = arg;
    return &F.t;
}

static void f_timer_stop(void *ctx, sb_io_timer *t)
{
    F.cb = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        sb_log_set_level(SB_LOG_ERROR);
        quiet = 1;
    }
    memset(&F, 0, sizeof F);
    F.now = 1000;
    F.rng = 88172645463325252ULL;
    sb_io io = {.now_us = f_now_us,
                .mono_ms = f_mono,
                .random = f_random,
                .send = f_send,
                .timer_start = f_timer_start,
                .timer_stop = f_timer_stop};
    sb_gossip_opts o;
    sb_gossip_opts_default(&o);
    sb_ep_parse("127.0.0.1:7000", 7000, &o.self);
    sb_ep seed;
    sb_ep_parse("127.0.0.2:7000", 7000, &seed);
    o.seeds = &seed;
    o.nseeds = 1;
    char err[SB_ERRMSG_SIZE];
    sb_gossip *g = sb_gossip_new(&io, &o, err);
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
        if (type == 0xFF) {
            F.now += 1000;
            sb_io_timer_cb cb = F.cb;
            F.cb = NULL;
            if (cb)
                cb(F.arg);
        } else {
            sb_gossip_receive(g, type, data + off, len);
        }
        off += len;
    }
    int n = sb_gossip_nmembers(g);
    if (n < 1 || n > 1024 || !sb_gossip_ring(g) || !sb_gossip_self(g)->is_self)
        abort();
    for (int i = 1; i < n; i++)
        if (sb_ep_cmp(&sb_gossip_member(g, i - 1)->ep, &sb_gossip_member(g, i)->ep) >= 0)
            abort();
    sb_gossip_free(g);
    return 0;
}
