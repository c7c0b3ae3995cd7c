/*
 * A Sibyl node: one libuv loop that owns the storage engine, the CQL
 * engine and the HTTP API.
 *
 * Life cycle: sb_node_main parses flags and the config file, takes the
 * data-directory lock, opens the store (replaying RocksDB's WAL), starts
 * the cluster and the HTTP API, opens the CQL port once gossip has settled
 * (it has heard from the peers it knows, or waited settle_ms: gossip.h),
 * and runs the loop until SIGINT or SIGTERM; then it stops accepting,
 * drains queued writes to disk and exits 0.
 */
#ifndef SB_NODE_H
#define SB_NODE_H

#include <uv.h>

#include "metrics/node_view.h"
#include "node/config.h"

typedef struct sb_node sb_node;
struct sb_http;
struct sb_cqlproto;

struct sb_node {
    sb_config cfg;
    sb_node_view v; /* identity and parts (metrics/node_view.h) */
    struct sb_http *http;
    struct sb_cqlproto *cqlproto; /* native protocol server */
    int lock_fd;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_timer_t ready_timer; /* polls gossip until settled, then opens CQL */
    uv_timer_t clock_timer; /* node/clocks.c */
    sb_ep clock_warned[64]; /* peers whose offset is over the limit (warned) */
    sb_ep clock_warned_now[64];
    int nclock_warned;
    uv_timer_t disk_timer; /* watches the store's disk state (log, policy) */
    sb_disk_state disk_seen;
    int stopping;
    int exit_code;
};

/* `sibyl node ...` (argv[0] = "node"). Returns the process exit status. */
int sb_node_main(int argc, char **argv);

/* Takes an exclusive lock on DIR/sibyl.lock (creating DIR). On conflict
 * returns SB_ELOCKED with the holder's pid in errmsg. */
int sb_node_lock_dir(const char *dir, int *fd_out, char *errmsg);

#endif
