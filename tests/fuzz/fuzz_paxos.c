/*
 * libFuzzer target for the acceptor of lightweight transactions: PREPARE,
 * PROPOSE and COMMIT bodies (coord/paxos_int.h) arriving at a node
 * (coord/paxos_replica.c through sb_cluster_receive).
 *
 * Input: records [u8 op][u16 big-endian length][body]. op % 4 picks
 * PREPARE, PROPOSE or COMMIT (the body goes behind a valid rpc header from
 * node 1, so decoding starts at the body), or runs the cluster fixture for
 * 1 s of virtual time (durable writes complete, answers go out). Node 0 is
 * under test; node 1 never boots.
 * Checks: no crash or sanitizer report; every answer node 0 sends is an
 * rpc RESPONSE (or gossip) within a bound: a status, a flag, three ballots
 * and two mutations no longer than the longest input body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "dsim/fixture.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

static void tap(void *arg, int from, const sb_ep *to, int type, const uint8_t *p, size_t len,
                int rv)
{
    if (type == SB_MSG_RESPONSE && len > 2 * 65536 + 256)
        abort();
    if (type >= SB_MSG_PAXOS_PREPARE && type <= SB_MSG_PAXOS_COMMIT)
        abort(); /* an acceptor never proposes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        sb_log_set_level(SB_LOG_ERROR);
        quiet = 1;
    }
    sb_fixture *fx = sb_fixture_new(1, 2, NULL, NULL);
    if (!fx)
        abort();
    sb_fixture_tap(fx, tap, NULL);
    sb_cluster_opts o;
    sb_cluster_opts_default(&o);
    o.gossip.self = sb_fixture_ep(0);
    o.gossip.rpc = o.gossip.self;
    sb_ep seed = sb_fixture_ep(1);
    o.gossip.seeds = &seed;
    o.gossip.nseeds = 1;
    char err[SB_ERRMSG_SIZE];
    if (sb_fixture_start_cluster(fx, 0, &o, err) != 0)
        abort();
    sb_cluster *c = sb_fixture_cluster(fx, 0);
    sb_ep from = sb_fixture_ep(1);
    sb_buf msg;
    sb_buf_init(&msg);
    static const int types[] = {SB_MSG_PAXOS_PREPARE, SB_MSG_PAXOS_PROPOSE, SB_MSG_PAXOS_COMMIT};
    size_t off = 0;
    uint64_t id = 1;
    while (off + 3 <= size) {
        int op = data[off] % 4;
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        if (op == 3) {
            sb_fixture_run_for(fx, SB_FIXTURE_SEC);
        } else {
            sb_buf_reset(&msg);
            if (sb_wire_put_ep(&msg, &from) || sb_wire_put_u64(&msg, id++) ||
                sb_wire_put_raw(&msg, data + off, len))
                abort();
            sb_cluster_receive(c, types[op], msg.data, msg.len);
        }
        off += len;
    }
    sb_fixture_run_for(fx, SB_FIXTURE_SEC);
    sb_buf_free(&msg);
    sb_fixture_free(fx);
    return 0;
}
