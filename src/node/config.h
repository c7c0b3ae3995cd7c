/*
 * Node configuration: defaults, then the YAML file (--config), then flags.
 * Flags always win over the file. The file is a mapping of settings; a
 * setting may sit in a section one level down (http: {cors_allowed_origins:
 * ...} is the setting http.cors_allowed_origins), which takes a YAML list
 * or a comma-separated string. Unknown keys or flags, bad addresses and
 * bad numbers are errors that name the key (and the file line).
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include "storage/store.h"
#include "util/ep.h"

typedef struct sb_config {
    char data_dir[1024];
    char listen_addr[SB_ADDR_MAX]; /* node-to-node, default 127.0.0.1:7000 */
    char cql_addr[SB_ADDR_MAX];    /* default 127.0.0.1:9042 */
    char http_addr[SB_ADDR_MAX];   /* default 127.0.0.1:8080 */
    char seeds[1024];              /* comma-separated HOST:PORT list */
    char dc[64];
    char rack[64];
    char cluster_name[128];
    sb_sync_mode sync_mode;        /* commitlog_sync: group | periodic */
    int sync_period_ms;            /* commitlog_sync_period_in_ms */
    size_t max_request_bytes;      /* HTTP body limit (the line-protocol write endpoint) */
    size_t max_json_request_bytes; /* every other HTTP endpoint, default 1 MiB */
    int log_level;
    /* cluster (docs/configuration.md) */
    int num_tokens;               /* default 16 */
    double phi_convict_threshold; /* default 8 */
    int gossip_interval_ms;       /* default 1000 */
    int max_clock_offset_ms;      /* cluster.max_clock_offset_in_ms, 500 */
    int max_clock_offset_hard_ms; /* cluster.max_clock_offset_hard_in_ms, 0 -> 5 x the above */
    int settle_timeout_ms;        /* gossip_settle_timeout_in_ms, 5000; 0 = serve at once */
    int write_timeout_ms;         /* write_request_timeout_in_ms, default 2000 */
    int read_timeout_ms;          /* read_request_timeout_in_ms, default 5000 */
    int range_timeout_ms;         /* range_request_timeout_in_ms, default 10000 */
    long max_hint_window_ms;      /* default 3 h */
    int hints_per_second;         /* hint replay rate, default 1000 */
    int stream_mb_per_sec;        /* stream_throughput_mb_per_sec, 0 = unthrottled */
    int max_inflight;             /* max_coordinator_requests_in_flight, 4096; 0 = no cap */
    size_t rpc_max_pending;       /* max_pending_rpc_calls, 65536; 0 = no cap */
    size_t max_frame_bytes;       /* native_transport_max_frame_bytes, default 16 MiB */
    int max_connections;          /* native_transport_max_concurrent_connections, 1024; -1 = none */
    int max_connections_per_ip;   /* ..._per_ip, default -1 (no limit) */
    int startup_timeout_ms;       /* native_transport_startup_timeout_in_ms, 10000; 0 = none */
    char demo_control[256];       /* URL of the `sibyl demo` control server, "" = none */
    /* http.cors_allowed_origins: the origins besides the node's own and its
     * cluster's that may use the HTTP API from a browser, canonical and
     * comma-separated (http/origin.h); "" = none */
    char cors_allowed_origins[2048];
    /* storage.min_free_bytes: the free-space reserve below which writes
     * are refused; -1 = the default (store.h), 0 = none */
    long long min_free_bytes;
    sb_disk_policy disk_failure_policy; /* disk_failure_policy, default stop */
} sb_config;

void sb_config_default(sb_config *c);
/* Loads a YAML file over c. */
int sb_config_load_yaml(sb_config *c, const char *path, char *errmsg);
/* Parses argv (argv[0] is the subcommand name). --config is applied first
 * wherever it appears, then the other flags. Returns 0, SB_ECONFIG, or 1
 * when --help was printed. */
int sb_config_from_args(sb_config *c, int argc, char **argv, char *errmsg);

#endif
