/*
 * Membership and failure detection.
 *
 * Every node keeps an endpoint state per known node: generation (the
 * start time of that incarnation, seconds; strictly increasing across
 * restarts of one host), heartbeat version (incremented every gossip
 * round by its owner) and application states, each with the heartbeat
 * version it was last changed at: status, tokens, dc, rack, host id,
 * addresses, schema version, load, release version.
 *
 * Every interval_ms a node increments its heartbeat and gossips with one
 * random live peer, with one random unreachable peer with probability
 * unreachable/(live+1), and with a seed if the peer chosen was not one (or
 * if it knows no live peer), in Cassandra's three messages:
 *   SYN  (cluster name, digests: ep, generation, max version per node)
 *   ACK  (the states the sender of SYN lacks; digests of what it lacks)
 *   ACK2 (the states asked for).
 * A state replaces a known one if its (generation, version) is newer.
 *
 * Failure detection is phi accrual (Hayashibara et al.) over the arrival
 * times of heartbeat increases of each peer, as Cassandra computes it:
 * an exponential model of inter-arrival times over the last 1000 samples,
 * phi = (now - last) / mean * log10(e); a peer is down while phi exceeds
 * phi_threshold (default 8). A new generation from a known host is a
 * restart: its window is reset and it is up again at once. A SHUTDOWN
 * message marks its sender down immediately.
 *
 * Tokens: a node started with saved tokens (kv "sys/tokens") announces
 * them and is NORMAL at once. A new node that is its own seed, or that
 * hears nothing from a seed for ring_delay_ms, allocates tokens from what
 * it knows; otherwise it waits until it has gossiped with a seed and then
 * ring_delay_ms more (so it learns the ring), allocates num_tokens with
 * sb_ring_allocate, saves them, and goes JOINING -> NORMAL (there is no
 * data streaming yet). With a join_hook (the Raft topology, coord's
 * cluster.c) the tokens come from the committed topology instead, through
 * sb_gossip_adopt_tokens: JOINING with them, then NORMAL.
 */
#ifndef SB_CLUSTER_GOSSIP_H
#define SB_CLUSTER_GOSSIP_H

#include <stdint.h>

#include "cluster/io.h"
#include "cluster/ring.h"

typedef enum sb_node_status {
    SB_STATUS_JOINING = 1,
    SB_STATUS_NORMAL,
    SB_STATUS_LEAVING,
    SB_STATUS_LEFT,
    SB_STATUS_SHUTDOWN, /* announced a clean stop */
} sb_node_status;

const char *sb_node_status_name(int status); /* "NORMAL", ... */

/* --- phi accrual failure detector --------------------------------------- */
#define SB_FD_WINDOW 1000
typedef struct sb_fd {
    uint64_t last_ms;
    double intervals[SB_FD_WINDOW];
    int n, head;
    double sum;
} sb_fd;

/* Starts the window at now with one assumed interval of expect_ms. */
void sb_fd_init(sb_fd *fd, uint64_t now_ms, double expect_ms);
void sb_fd_report(sb_fd *fd, uint64_t now_ms);
double sb_fd_phi(const sb_fd *fd, uint64_t now_ms);

/* --- members -------------------------------------------------------------- */
typedef struct sb_member {
    sb_ep ep;   /* node-to-node address: identity */
    sb_ep rpc;  /* CQL address */
    sb_ep http; /* HTTP address */
    uint8_t host_id[16];
    char dc[SB_DC_MAX];
    char rack[SB_DC_MAX];
    char release_version[32];
    int64_t generation;
    uint32_t heartbeat;
    int status; /* sb_node_status; 0 = not known yet */
    int up;     /* failure detector verdict; the local node is always up */
    double phi;
    int64_t tokens[SB_MAX_TOKENS];
    int ntokens;
    uint8_t schema_version[16];
    uint64_t load_bytes;
    int is_self;
    uint64_t since_ms; /* mono time of the last up/down change */
} sb_member;

typedef struct sb_gossip_opts {
    char cluster_name[64]; /* gossip with other cluster names is refused */
    sb_ep self;
    sb_ep rpc;
    sb_ep http;
    uint8_t host_id[16];
    char dc[SB_DC_MAX];
    char rack[SB_DC_MAX];
    const sb_ep *seeds; /* copied */
    int nseeds;
    int num_tokens;       /* default 16 */
    int interval_ms;      /* default 1000 */
    double phi_threshold; /* default 8 */
    int ring_delay_ms;    /* default 2 * interval_ms */
    int settle_ms;        /* longest wait for peers at start; default 5000, 0: none */
    char release_version[32];
    /* Called every round while this node is JOINING without tokens and
     * ready to take them: 1 when the caller takes care of the join (the
     * Raft topology allocates the tokens and calls sb_gossip_adopt_tokens),
     * 0 to allocate them here (the gossip-only path). NULL: always here. */
    int (*join_hook)(void *arg);
    void *join_arg;
} sb_gossip_opts;

void sb_gossip_opts_default(sb_gossip_opts *o);

typedef enum sb_gossip_event {
    SB_GOSSIP_NEW = 1, /* a node seen for the first time */
    SB_GOSSIP_UP,
    SB_GOSSIP_DOWN,
    SB_GOSSIP_RESTARTED, /* new generation of a known host */
    SB_GOSSIP_STATUS,    /* status or tokens changed (the ring was rebuilt) */
    SB_GOSSIP_REMOVED,
    SB_GOSSIP_SCHEMA, /* a live peer announces a schema version unlike ours */
} sb_gossip_event;

typedef void (*sb_gossip_event_fn)(void *arg, int event, const sb_member *m);

typedef struct sb_gossip sb_gossip;

/* Loads saved tokens and the last generation from the kv space; the
 * generation is max(now seconds, last + 1) and is saved. Peers saved in
 * the kv space ("sys/peers/") are members at once, down and with
 * generation 0 until gossip brings their real state, so the ring is
 * complete right after a restart. NULL on failure (errmsg says why). */
sb_gossip *sb_gossip_new(const sb_io *io, const sb_gossip_opts *o, char *errmsg);
void sb_gossip_start(sb_gossip *g);
/* Sends SHUTDOWN to live peers and stops the timers. */
void sb_gossip_stop(sb_gossip *g);
void sb_gossip_free(sb_gossip *g);
/* Listeners are called in registration order (at most 8). */
int sb_gossip_on_event(sb_gossip *g, sb_gossip_event_fn fn, void *arg);
/* GOSSIP_SYN/ACK/ACK2 and SHUTDOWN messages. */
void sb_gossip_receive(sb_gossip *g, int type, const uint8_t *payload, size_t len);

/* Local application states, gossiped from the next round. */
void sb_gossip_set_schema(sb_gossip *g, const uint8_t version[16]);
void sb_gossip_set_load(sb_gossip *g, uint64_t bytes);
void sb_gossip_set_status(sb_gossip *g, int status);
/* Takes tokens decided elsewhere (the committed topology) with status
 * JOINING (announced, not saved: a restart asks the topology again) or
 * NORMAL (saved in "sys/tokens", as the gossip-only path does). 0, or
 * SB_EINVAL / the store's error. */
int sb_gossip_adopt_tokens(sb_gossip *g, const int64_t *t, int n, int status);
/* A gossip exchange with every live peer now, not at the next round: for a
 * change every node should learn at once (a new schema version, which
 * drivers wait to see everywhere). */
void sb_gossip_announce(sb_gossip *g);

/* Settling. At start a node greets (SYN) every peer it knows from its
 * store (not SHUTDOWN or LEFT there) and its seeds, again every 200 ms,
 * and a peer it hears from directly is up at once. It is settled when
 * every such peer is up and, with seeds and no saved peers, a seed has
 * answered; or when settle_ms has passed since start (then it says which
 * peers were not heard, in why). A node serves clients only once settled,
 * so that right after a restart it does not count live replicas as down.
 * Once settled it stays settled. Returns 1 settled, 0 not yet; why (may
 * be NULL) gets the peers still awaited, comma-separated. */
int sb_gossip_settled(sb_gossip *g, char *why, size_t whysize);

/* The current ring (NORMAL and LEAVING nodes with tokens, and SHUTDOWN
 * ones that own tokens: a cleanly stopped node is down, not gone); never
 * NULL after sb_gossip_new; valid until the
 * next event of kind STATUS / NEW / REMOVED or sb_gossip_free: holders keep
 * it only for the duration of one callback, or take a reference. */
const sb_ring *sb_gossip_ring(sb_gossip *g);
void sb_gossip_ring_ref(sb_gossip *g, const sb_ring *r);
void sb_gossip_ring_unref(sb_gossip *g, const sb_ring *r);

/* Members (the local node included), sorted by ep. */
int sb_gossip_nmembers(const sb_gossip *g);
const sb_member *sb_gossip_member(const sb_gossip *g, int i);
const sb_member *sb_gossip_find(const sb_gossip *g, const sb_ep *ep);
const sb_member *sb_gossip_self(const sb_gossip *g);
/* Up per the failure detector (the local node: always). */
int sb_gossip_is_up(const sb_gossip *g, const sb_ep *ep);

typedef struct sb_gossip_stats {
    uint64_t rounds;
    uint64_t syn_sent, syn_received;
    uint64_t marked_down, marked_up;
    uint64_t rejected; /* malformed or foreign messages refused (logged) */
} sb_gossip_stats;
void sb_gossip_get_stats(const sb_gossip *g, sb_gossip_stats *st);

#endif
