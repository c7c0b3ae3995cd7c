/*
 * Node configuration loading. The YAML file is a flat mapping of scalar
 * keys (Cassandra-style names where Cassandra has one):
 *
 *   data_directory: /var/lib/sibyl
 *   listen_address: 127.0.0.1:7000
 *   native_transport_address: 127.0.0.1:9042
 *   http_address: 127.0.0.1:8080
 *   seeds: "127.0.0.1:7000,127.0.0.2:7000"
 *   dc: dc1
 *   rack: rack1
 *   cluster_name: Sibyl
 *   commitlog_sync: group            # or periodic
 *   commitlog_sync_period_in_ms: 10000
 *   max_request_bytes: 67108864
 *   max_json_request_bytes: 1048576
 *   log_level: info
 *   num_tokens: 16
 *   phi_convict_threshold: 8
 *   gossip_interval_in_ms: 1000
 *   gossip_settle_timeout_in_ms: 5000   # longest wait for known peers at start
 *   cluster:
 *     max_clock_offset_in_ms: 500        # warn above (docs/clocks.md)
 *     max_clock_offset_hard_in_ms: 2500  # refuse to coordinate writes above
 *   write_request_timeout_in_ms: 2000
 *   read_request_timeout_in_ms: 5000
 *   range_request_timeout_in_ms: 10000
 *   max_hint_window_in_ms: 10800000
 *   hinted_handoff_throttle_per_second: 1000
 *   stream_throughput_mb_per_sec: 0     # range streaming; 0 = unthrottled
 *   max_coordinator_requests_in_flight: 4096
 *   max_pending_rpc_calls: 65536
 *   native_transport_max_frame_bytes: 16777216
 *   native_transport_max_concurrent_connections: 1024       # -1: no limit
 *   native_transport_max_concurrent_connections_per_ip: -1  # -1: no limit
 *   native_transport_startup_timeout_in_ms: 10000           # 0: none
 *   demo_control: http://127.0.0.1:8079   # set by `sibyl demo` (GET /health)
 *   http:
 *     cors_allowed_origins: [https://grafana.example.com]
 *
 * One level of sections (http: above) is read as dotted keys
 * (http.cors_allowed_origins); http.cors_allowed_origins takes a YAML
 * list, whose items are joined with commas, or a comma-separated string.
 */
#include "node/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "http/origin.h"
#include "util/ep.h"
#include "util/err.h"
#include "util/log.h"

void sb_config_default(sb_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "./sibyl-data");
    snprintf(c->listen_addr, sizeof c->listen_addr, "127.0.0.1:7000");
    snprintf(c->cql_addr, sizeof c->cql_addr, "127.0.0.1:9042");
    snprintf(c->http_addr, sizeof c->http_addr, "127.0.0.1:8080");
    snprintf(c->dc, sizeof c->dc, "datacenter1");
    snprintf(c->rack, sizeof c->rack, "rack1");
    snprintf(c->cluster_name, sizeof c->cluster_name, "Sibyl Cluster");
    c->sync_mode = SB_SYNC_GROUP;
    c->sync_period_ms = 10000;
    c->max_request_bytes = 64u << 20;
    c->max_json_request_bytes = 1u << 20;
    c->log_level = SB_LOG_INFO;
    c->num_tokens = 16;
    c->phi_convict_threshold = 8.0;
    c->gossip_interval_ms = 1000;
    c->settle_timeout_ms = 5000;
    c->max_clock_offset_ms = 500;
    c->write_timeout_ms = 2000;
    c->read_timeout_ms = 5000;
    c->range_timeout_ms = 10000;
    c->max_hint_window_ms = 3L * 3600 * 1000;
    c->hints_per_second = 1000;
    c->max_inflight = 4096;
    c->rpc_max_pending = 65536;
    c->max_frame_bytes = (size_t)16 << 20;
    c->max_connections = 1024;
    c->max_connections_per_ip = -1;
    c->startup_timeout_ms = 10000;
    c->min_free_bytes = -1;
    c->disk_failure_policy = SB_DISK_POLICY_STOP;
}

static int set_addr(char *dst, const char *key, const char *v, int default_port, char *errmsg)
{
    char host[SB_ADDR_MAX];
    int port;
    if (sb_parse_hostport(v, default_port, host, sizeof host, &port) != 0)
        return sb_seterr(errmsg, SB_ECONFIG, "%s: invalid address '%s' (expected HOST:PORT)", key,
                         v);
    if (strlen(host) + 8 > SB_ADDR_MAX)
        return sb_seterr(errmsg, SB_ECONFIG, "%s: address too long", key);
    snprintf(dst, SB_ADDR_MAX, "%.100s:%d", host, port);
    return 0;
}

static int set_int(long *out, const char *key, const char *v, long min, long max, char *errmsg)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max)
        return sb_seterr(errmsg, SB_ECONFIG, "%s: expected an integer in [%ld, %ld], got '%s'", key,
                         min, max, v);
    *out = x;
    return 0;
}

static int set_str(char *dst, size_t size, const char *key, const char *v, char *errmsg)
{
    if (strlen(v) >= size)
        return sb_seterr(errmsg, SB_ECONFIG, "%s: value too long (max %zu bytes)", key, size - 1);
    snprintf(dst, size, "%s", v);
    return 0;
}

/* Applies one key = value, whether from YAML or from a flag. */
static int apply(sb_config *c, const char *key, const char *v, char *errmsg)
{
    long n;
    int rv;
    if (!strcmp(key, "data_directory") || !strcmp(key, "data"))
        return set_str(c->data_dir, sizeof c->data_dir, key, v, errmsg);
    if (!strcmp(key, "listen_address") || !strcmp(key, "listen"))
        return set_addr(c->listen_addr, key, v, 7000, errmsg);
    if (!strcmp(key, "native_transport_address") || !strcmp(key, "cql"))
        return set_addr(c->cql_addr, key, v, 9042, errmsg);
    if (!strcmp(key, "http_address") || !strcmp(key, "http"))
        return set_addr(c->http_addr, key, v, 8080, errmsg);
    if (!strcmp(key, "seeds"))
        return set_str(c->seeds, sizeof c->seeds, key, v, errmsg);
    if (!strcmp(key, "dc"))
        return set_str(c->dc, sizeof c->dc, key, v, errmsg);
    if (!strcmp(key, "rack"))
        return set_str(c->rack, sizeof c->rack, key, v, errmsg);
    if (!strcmp(key, "cluster_name"))
        return set_str(c->cluster_name, sizeof c->cluster_name, key, v, errmsg);
    if (!strcmp(key, "commitlog_sync")) {
        if (!strcmp(v, "group") || !strcmp(v, "batch"))
            c->sync_mode = SB_SYNC_GROUP;
        else if (!strcmp(v, "periodic"))
            c->sync_mode = SB_SYNC_PERIODIC;
        else
            return sb_seterr(errmsg, SB_ECONFIG, "%s: expected 'group' or 'periodic', got '%s'",
                             key, v);
        return 0;
    }
    if (!strcmp(key, "commitlog_sync_period_in_ms")) {
        if ((rv = set_int(&n, key, v, 1, 3600000, errmsg)))
            return rv;
        c->sync_period_ms = (int)n;
        return 0;
    }
    if (!strcmp(key, "max_request_bytes")) {
        if ((rv = set_int(&n, key, v, 1024, 1L << 30, errmsg)))
            return rv;
        c->max_request_bytes = (size_t)n;
        return 0;
    }
    if (!strcmp(key, "max_json_request_bytes")) {
        if ((rv = set_int(&n, key, v, 1024, 1L << 30, errmsg)))
            return rv;
        c->max_json_request_bytes = (size_t)n;
        return 0;
    }
    if (!strcmp(key, "native_transport_max_concurrent_connections") ||
        !strcmp(key, "native_transport_max_concurrent_connections_per_ip")) {
        /* Cassandra's -1 for "no limit"; 0 would refuse every client. */
        if ((rv = set_int(&n, key, v, -1, 1L << 24, errmsg)))
            return rv;
        if (n == 0)
            return sb_seterr(errmsg, SB_ECONFIG,
                             "%s: expected -1 (no limit) or a positive integer, got '%s'", key, v);
        if (strstr(key, "_per_ip"))
            c->max_connections_per_ip = (int)n;
        else
            c->max_connections = (int)n;
        return 0;
    }
    static const struct {
        const char *key;
        long min, max;
        size_t off;
        int size; /* sizeof the field: int, long or size_t */
    } ints[] = {
        {"num_tokens", 1, 256, offsetof(sb_config, num_tokens), sizeof(int)},
        {"gossip_interval_in_ms", 10, 60000, offsetof(sb_config, gossip_interval_ms), sizeof(int)},
        {"gossip_settle_timeout_in_ms", 0, 600000, offsetof(sb_config, settle_timeout_ms),
         sizeof(int)},
        {"cluster.max_clock_offset_in_ms", 1, 3600000, offsetof(sb_config, max_clock_offset_ms),
         sizeof(int)},
        {"cluster.max_clock_offset_hard_in_ms", 0, 36000000,
         offsetof(sb_config, max_clock_offset_hard_ms), sizeof(int)},
        {"write_request_timeout_in_ms", 10, 600000, offsetof(sb_config, write_timeout_ms),
         sizeof(int)},
        {"read_request_timeout_in_ms", 10, 600000, offsetof(sb_config, read_timeout_ms),
         sizeof(int)},
        {"range_request_timeout_in_ms", 10, 600000, offsetof(sb_config, range_timeout_ms),
         sizeof(int)},
        {"max_hint_window_in_ms", 0, 30L * 86400 * 1000, offsetof(sb_config, max_hint_window_ms),
         sizeof(long)},
        {"hinted_handoff_throttle_per_second", 1, 1000000, offsetof(sb_config, hints_per_second),
         sizeof(int)},
        {"stream_throughput_mb_per_sec", 0, 100000, offsetof(sb_config, stream_mb_per_sec),
         sizeof(int)},
        {"max_coordinator_requests_in_flight", 0, 1L << 24, offsetof(sb_config, max_inflight),
         sizeof(int)},
        {"max_pending_rpc_calls", 0, 1L << 24, offsetof(sb_config, rpc_max_pending),
         sizeof(size_t)},
        {"native_transport_max_frame_bytes", 1024, 1L << 30, offsetof(sb_config, max_frame_bytes),
         sizeof(size_t)},
        {"native_transport_startup_timeout_in_ms", 0, 3600000,
         offsetof(sb_config, startup_timeout_ms), sizeof(int)},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        if (strcmp(key, ints[k].key) != 0)
            continue;
        if ((rv = set_int(&n, key, v, ints[k].min, ints[k].max, errmsg)))
            return rv;
        char *f = (char *)c + ints[k].off;
        if (ints[k].size == sizeof(int))
            *(int *)f = (int)n;
        else if (ints[k].size == sizeof(size_t))
            *(size_t *)f = (size_t)n;
        else
            *(long *)f = n;
        return 0;
    }
    if (!strcmp(key, "phi_convict_threshold")) {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || *end || end == v || d < 1 || d > 100)
            return sb_seterr(errmsg, SB_ECONFIG, "%s: expected a number in [1, 100], got '%s'", key,
                             v);
        c->phi_convict_threshold = d;
        return 0;
    }
    if (!strcmp(key, "demo_control")) {
        /* shown by GET /health to the dashboard: a plain http(s) URL only */
        if (*v && ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) ||
                   strpbrk(v, " \t\"'<>\\") || strlen(v) >= sizeof c->demo_control))
            return sb_seterr(errmsg, SB_ECONFIG,
                             "%s: expected an http:// URL of under %zu bytes, got '%.100s'", key,
                             sizeof c->demo_control, v);
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return sb_seterr(errmsg, SB_ECONFIG, "%s: control character in the URL", key);
        snprintf(c->demo_control, sizeof c->demo_control, "%s", v);
        return 0;
    }
    if (!strcmp(key, "http.cors_allowed_origins") || !strcmp(key, "cors_allowed_origins")) {
        char sub[SB_ERRMSG_SIZE];
        if (sb_origin_list_canon(v, c->cors_allowed_origins, sizeof c->cors_allowed_origins, sub) !=
            0)
            return sb_seterr(errmsg, SB_ECONFIG, "%s: %s", key, sub);
        return 0;
    }
    if (!strcmp(key, "storage.min_free_bytes") || !strcmp(key, "min_free_bytes")) {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || *end || end == v || x < -1)
            return sb_seterr(errmsg, SB_ECONFIG,
                             "%s: expected a number of bytes (-1 = default, 0 = no reserve), "
                             "got '%s'",
                             key, v);
        c->min_free_bytes = x;
        return 0;
    }
    if (!strcmp(key, "disk_failure_policy")) {
        static const char *names[] = {"stop", "best_effort", "die", "ignore"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(v, names[i])) {
                c->disk_failure_policy = (sb_disk_policy)i;
                return 0;
            }
        return sb_seterr(errmsg, SB_ECONFIG, "%s: expected stop|best_effort|die|ignore, got '%s'",
                         key, v);
    }
    if (!strcmp(key, "log_level")) {
        static const char *names[] = {"debug", "info", "warn", "error"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(v, names[i])) {
                c->log_level = i;
                return 0;
            }
        return sb_seterr(errmsg, SB_ECONFIG, "%s: expected debug|info|warn|error, got '%s'", key,
                         v);
    }
    return sb_seterr(errmsg, SB_ECONFIG, "unknown setting '%s'", key);
}

/* Settings that take a YAML list (joined with commas). seeds stays a
 * comma-separated string, as it always was. */
static int is_list_key(const char *key)
{
    return !strcmp(key, "http.cors_allowed_origins") || !strcmp(key, "cors_allowed_origins");
}

/* The YAML reader's state between events. */
typedef struct yaml_state {
    int depth;        /* mappings open: 1 = settings, 2 = a section's settings */
    char section[64]; /* the section being read ("" at depth 1) */
    char key[192];    /* the setting whose value comes next, dotted in a section */
    int have_key;
    int in_list;     /* reading the items of key's list */
    char list[4096]; /* the items so far, comma-separated */
    size_t list_len;
} yaml_state;

/* One parser event. 0, or SB_ECONFIG with errmsg (path:line: ...). */
static int yaml_event(sb_config *c, yaml_state *st, const yaml_event_t *ev, const char *path,
                      char *errmsg)
{
    size_t line = ev->start_mark.line + 1;
    char sub[SB_ERRMSG_SIZE];
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT:
        if (st->depth == 0) {
            st->depth = 1;
        } else if (st->depth == 1 && st->have_key && !st->in_list) {
            snprintf(st->section, sizeof st->section, "%.63s", st->key);
            st->have_key = 0;
            st->depth = 2;
        } else {
            return sb_seterr(errmsg, SB_ECONFIG,
                             "%s:%zu: sections nest one level deep at most (section: "
                             "{setting: value}), and list items are plain values",
                             path, line);
        }
        return 0;
    case YAML_MAPPING_END_EVENT:
        if (st->depth-- == 2)
            st->section[0] = 0;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
        if (!st->have_key || st->in_list)
            return sb_seterr(errmsg, SB_ECONFIG, "%s:%zu: expected a mapping of settings", path,
                             line);
        if (!is_list_key(st->key))
            return sb_seterr(errmsg, SB_ECONFIG,
                             "%s:%zu: %s takes one value, not a list (seeds is a "
                             "comma-separated string)",
                             path, line, st->key);
        st->in_list = 1;
        st->list_len = 0;
        st->list[0] = 0;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
        st->in_list = 0;
        st->have_key = 0;
        if (apply(c, st->key, st->list, sub) != 0)
            return sb_seterr(errmsg, SB_ECONFIG, "%s:%zu: %s", path, line, sub);
        return 0;
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t n = ev->data.scalar.length;
        if (st->in_list) {
            if (st->list_len + n + 2 > sizeof st->list)
                return sb_seterr(errmsg, SB_ECONFIG, "%s:%zu: %s: list longer than %zu bytes", path,
                                 line, st->key, sizeof st->list - 1);
            if (st->list_len)
                st->list[st->list_len++] = ',';
            memcpy(st->list + st->list_len, s, n + 1);
            st->list_len += n;
        } else if (st->depth < 1) {
            return sb_seterr(errmsg, SB_ECONFIG, "%s:%zu: expected a mapping of settings", path,
                             line);
        } else if (!st->have_key) {
            if (st->section[0])
                snprintf(st->key, sizeof st->key, "%s.%.127s", st->section, s);
            else
                snprintf(st->key, sizeof st->key, "%.127s", s);
            st->have_key = 1;
        } else {
            st->have_key = 0;
            if (apply(c, st->key, s, sub) != 0)
                return sb_seterr(errmsg, SB_ECONFIG, "%s:%zu: %s", path, line, sub);
        }
        return 0;
    }
    default:
        return 0;
    }
}

int sb_config_load_yaml(sb_config *c, const char *path, char *errmsg)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_seterr(errmsg, SB_ECONFIG, "cannot open config file %s: %s", path,
                         strerror(errno));
    yaml_parser_t p;
    yaml_event_t ev;
    int rv = 0, done = 0;
    yaml_state st;
    memset(&st, 0, sizeof st);
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            rv = sb_seterr(errmsg, SB_ECONFIG, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
                           p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rv = yaml_event(c, &st, &ev, path, errmsg);
        yaml_event_delete(&ev);
        if (rv)
            break;
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rv;
}

static const struct {
    const char *flag;
    const char *key;
} flags[] = {
    {"--data", "data"},
    {"--listen", "listen"},
    {"--cql", "cql"},
    {"--http", "http"},
    {"--seeds", "seeds"},
    {"--dc", "dc"},
    {"--rack", "rack"},
    {"--cluster-name", "cluster_name"},
    {"--commitlog-sync", "commitlog_sync"},
    {"--commitlog-sync-period-ms", "commitlog_sync_period_in_ms"},
    {"--log-level", "log_level"},
    {"--num-tokens", "num_tokens"},
    {"--phi-threshold", "phi_convict_threshold"},
    {"--gossip-interval-ms", "gossip_interval_in_ms"},
    {"--write-timeout-ms", "write_request_timeout_in_ms"},
    {"--read-timeout-ms", "read_request_timeout_in_ms"},
    {"--range-timeout-ms", "range_request_timeout_in_ms"},
    {"--max-hint-window-ms", "max_hint_window_in_ms"},
    {"--settle-timeout-ms", "gossip_settle_timeout_in_ms"},
    {"--max-clock-offset-ms", "cluster.max_clock_offset_in_ms"},
    {"--max-clock-offset-hard-ms", "cluster.max_clock_offset_hard_in_ms"},
    {"--hints-per-second", "hinted_handoff_throttle_per_second"},
    {"--stream-throughput-mb-per-sec", "stream_throughput_mb_per_sec"},
    {"--max-inflight", "max_coordinator_requests_in_flight"},
    {"--max-pending-rpc", "max_pending_rpc_calls"},
    {"--max-frame-bytes", "native_transport_max_frame_bytes"},
    {"--max-connections", "native_transport_max_concurrent_connections"},
    {"--max-connections-per-ip", "native_transport_max_concurrent_connections_per_ip"},
    {"--startup-timeout-ms", "native_transport_startup_timeout_in_ms"},
    {"--demo-control", "demo_control"},
    {"--cors-allowed-origins", "cors_allowed_origins"},
    {"--min-free-bytes", "storage.min_free_bytes"},
    {"--disk-failure-policy", "disk_failure_policy"},
};

static void usage(void)
{
    fprintf(
        stderr,
        "usage: sibyl node [--data DIR] [--listen HOST:PORT] [--cql HOST:PORT]\n"
        "                  [--http HOST:PORT] [--seeds HOST:PORT[,HOST:PORT...]]\n"
        "                  [--dc NAME] [--rack NAME] [--config FILE]\n"
        "                  [--commitlog-sync group|periodic] [--commitlog-sync-period-ms N]\n"
        "                  [--cluster-name NAME] [--log-level debug|info|warn|error]\n"
        "                  [--num-tokens N] [--phi-threshold X] [--gossip-interval-ms N]\n"
        "                  [--write-timeout-ms N] [--read-timeout-ms N] [--range-timeout-ms N]\n"
        "                  [--max-hint-window-ms N] [--hints-per-second N] [--settle-timeout-ms "
        "N]\n"
        "                  [--max-inflight N] [--max-pending-rpc N]\n"
        "                  [--max-frame-bytes N] [--max-connections N]\n"
        "                  [--max-connections-per-ip N] [--startup-timeout-ms N]\n"
        "                  [--demo-control URL]\n"
        "                  [--cors-allowed-origins ORIGIN[,ORIGIN...]]\n"
        "                  [--min-free-bytes N] [--disk-failure-policy "
        "stop|best_effort|die|ignore]\n"
        "Flags override settings from the YAML --config file.\n");
}

int sb_config_from_args(sb_config *c, int argc, char **argv, char *errmsg)
{
    int rv;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 1;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return sb_seterr(errmsg, SB_ECONFIG, "--config needs a value");
            if ((rv = sb_config_load_yaml(c, argv[i + 1], errmsg)))
                return rv;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (!strncmp(a, "--", 2) && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
            a = name;
        }
        if (!strcmp(a, "--config")) {
            if (!v)
                i++;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (!strcmp(a, flags[k].flag))
                break;
        if (k == sizeof flags / sizeof flags[0])
            return sb_seterr(errmsg, SB_ECONFIG, "unknown option '%s' (see sibyl node --help)", a);
        if (!v) {
            if (i + 1 >= argc)
                return sb_seterr(errmsg, SB_ECONFIG, "%s needs a value", a);
            v = argv[++i];
        }
        char sub[SB_ERRMSG_SIZE];
        if ((rv = apply(c, flags[k].key, v, sub)))
            return sb_seterr(errmsg, rv, "%s: %s", a, sub);
    }
    return 0;
}
