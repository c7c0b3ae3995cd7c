/*
 * The I/O interface of the cluster core.
 *
 * Membership, failure detection, coordination, hints and read repair talk
 * to the network, the clocks, randomness and storage only through an
 * sb_io. Production (coord/io_uv.c) plugs in libuv timers, the TCP
 * transport (net/transport.h) and the RocksDB store; the deterministic
 * simulator (dsim/) plugs in a virtual clock, a simulated network that
 * drops, delays, reorders and duplicates, and an in-memory store, so that
 * one seed replays one run exactly.
 *
 * Rules for code behind this interface:
 *   - single-threaded: every callback below runs on the caller's loop, never
 *     re-entrantly from inside the call that scheduled it (send never
 *     delivers synchronously, timer_start never fires synchronously,
 *     apply never completes synchronously);
 *   - no other clock, no other randomness, no blocking, no globals.
 */
#ifndef SB_CLUSTER_IO_H
#define SB_CLUSTER_IO_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"
#include "util/ep.h"

/* --- messages ------------------------------------------------------------
 * Node-to-node message types. The transport frames (type, payload); the
 * payload encodings belong to the modules named. Every payload starts with
 * the sender's listen endpoint (sb_wire_put_ep), so a node knows who sent
 * a message whatever socket it came on. Requests and responses carry a
 * 64-bit request id right after it (cluster/rpc.h). */
enum {
    SB_MSG_GOSSIP_SYN = 1, /* gossip.h */
    SB_MSG_GOSSIP_ACK = 2,
    SB_MSG_GOSSIP_ACK2 = 3,
    SB_MSG_SHUTDOWN = 4,       /* a node announces it is stopping */
    SB_MSG_RESPONSE = 16,      /* rpc.h: the response to any request */
    SB_MSG_MUTATION = 17,      /* coord.h: apply raw entries */
    SB_MSG_READ = 18,          /* coord.h: raw read (data or digest) */
    SB_MSG_TRUNCATE = 19,      /* coord.h: truncate a table */
    SB_MSG_SCHEMA_PUSH = 20,   /* cluster.h: here is my schema */
    SB_MSG_SCHEMA_PULL = 21,   /* cluster.h: send me your schema */
    SB_MSG_PING = 22,          /* rpc.h: echo (tests, latency) */
    SB_MSG_RAFT = 24,          /* consensus/raft_io.h: a Raft RPC */
    SB_MSG_RAFT_PROPOSE = 28,  /* consensus/group.h: a change for the leader */
    SB_MSG_PAXOS_PREPARE = 25, /* coord.h: LWT prepare (coord/paxos_int.h) */
    SB_MSG_PAXOS_PROPOSE = 26, /* coord.h: LWT propose */
    SB_MSG_PAXOS_COMMIT = 27,  /* coord.h: LWT commit */
    SB_MSG_STREAM_PULL = 29,   /* stream/stream.h: the next chunk of a range */
    SB_MSG_MAX = 32
};

/* --- timers --------------------------------------------------------------- */
typedef struct sb_io_timer sb_io_timer;
typedef void (*sb_io_timer_cb)(void *arg);

/* --- storage -------------------------------------------------------------
 * What a replica stores: raw entries (store.h "raw access") of tables
 * known by id, plus a small durable key-value space for hints and
 * cluster metadata (tokens, generation). */
typedef struct sb_io_store {
    /* Applies the entries (each merged into its key, as sb_wbatch_add_raw)
     * atomically and durably; cb on the loop, later, exactly once, unless
     * it returns non-zero (SB_EOVERLOADED, SB_ENOTFOUND for an unknown
     * table), in which case cb is never called. entries are copied. */
    int (*apply)(void *ctx, const sb_raw_mut *m, size_t n, sb_write_cb cb, void *arg);
    /* Synchronous raw read (store.h sb_store_raw_read semantics). */
    int (*read)(void *ctx, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more, char *errmsg);
    /* Truncates the table; synchronous. SB_ENOTFOUND if unknown. */
    int (*truncate)(void *ctx, const uint8_t table_id[16], char *errmsg);
    /* Durable metadata key-value space (keys are private to the cluster
     * modules; prefixes: "hint/", "sys/"). put/del are applied in call
     * order and acknowledged durable through cb (cb may be NULL). */
    int (*kv_put)(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                  sb_write_cb cb, void *arg);
    int (*kv_del)(void *ctx, const uint8_t *k, size_t klen, sb_write_cb cb, void *arg);
    /* Every pair whose key starts with prefix, in key order; emit returning
     * non-zero stops the scan (that value is returned). */
    int (*kv_scan)(void *ctx, const uint8_t *prefix, size_t plen,
                   int (*emit)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                               size_t vlen),
                   void *arg);
    /* Estimated live bytes of all tables (load, for status). */
    uint64_t (*load_bytes)(void *ctx);
} sb_io_store;

typedef struct sb_io {
    void *ctx;
    /* Wall clock, microseconds since the epoch (may be skewed in the
     * simulator): write timestamps, hint ages. */
    int64_t (*now_us)(void *ctx);
    /* Monotonic milliseconds: timeouts, heartbeat arrival times. */
    uint64_t (*mono_ms)(void *ctx);
    uint64_t (*random)(void *ctx);
    /* Queues one message for a peer (copies payload). Never delivers
     * synchronously. Delivery is best effort: a full queue or a dead peer
     * drops it (counted by the transport). Returns 0 if queued, or
     * SB_EOVERLOADED / SB_ECLOSED if dropped at once. */
    int (*send)(void *ctx, const sb_ep *to, int type, const uint8_t *payload, size_t len);
    /* One-shot timer. timer_stop on a fired or stopped timer is not
     * allowed; a timer that fired is gone (don't stop it). */
    sb_io_timer *(*timer_start)(void *ctx, uint64_t delay_ms, sb_io_timer_cb cb, void *arg);
    void (*timer_stop)(void *ctx, sb_io_timer *t);
    const sb_io_store *st;
    void *st_ctx;
} sb_io;

#endif
