/*
 * `sibyl node`: wiring of one node.
 *
 * Everything runs on one libuv loop. Slow work never does: the store's
 * commit thread fsyncs, RocksDB's background threads compact and flush,
 * and completions come back to the loop through uv_async (see store.h).
 *
 * Shutdown (SIGINT/SIGTERM): stop accepting HTTP, stop the loop, close the
 * store (which drains and syncs every queued write), release the lock.
 */
#include "node/node.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cql/cql.h"
#include "net/transport.h"
#include "coord/coord.h"
#include "cqlproto/cqlproto.h"
#include "cqlproto/systables.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "node/clocks.h"
#include "node/node_cluster.h"
#include "metrics/node_metrics.h"
#include "metrics/node_stats.h"
#include "storage/store.h"
#include "util/err.h"
#include "util/log.h"

static int mkdir_p(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int sb_node_lock_dir(const char *dir, int *fd_out, char *errmsg)
{
    char path[1100];
    if (mkdir_p(dir) != 0)
        return sb_seterr(errmsg, SB_EIO, "cannot create data directory %s: %s", dir,
                         strerror(errno));
    snprintf(path, sizeof path, "%s/sibyl.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sb_seterr(errmsg, SB_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        return sb_seterr(errmsg, SB_ELOCKED,
                         "data directory %s is in use by another sibyl process (pid %s); stop "
                         "it or choose another --data directory",
                         dir, pid[0] ? pid : "unknown");
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        close(fd);
        return sb_seterr(errmsg, SB_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    *fd_out = fd;
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    sb_node *n = s->data;
    if (n->stopping)
        return;
    n->stopping = 1;
    SB_INFO("node", "shutting down", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_stop(n->v.loop);
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- ready: CQL opens once gossip has settled ------------------------------ */

#define READY_POLL_MS 10

static int open_cql(sb_node *n, char *errmsg)
{
    sb_cqlproto_opts po;
    sb_cqlproto_opts_default(&po);
    po.max_frame_bytes = n->cfg.max_frame_bytes;
    po.max_connections = n->cfg.max_connections;
    po.max_connections_per_ip = n->cfg.max_connections_per_ip;
    po.startup_timeout_ms = n->cfg.startup_timeout_ms;
    po.cluster = n->v.cluster;
    po.schema_version = sb_node_schema_version;
    po.schema_version_arg = NULL;
    sb_cqlproto_ident id = {.data_dir = n->cfg.data_dir,
                            .cluster_name = n->cfg.cluster_name,
                            .dc = n->cfg.dc,
                            .rack = n->cfg.rack,
                            .listen_addr = n->cfg.listen_addr};
    int rv = sb_cqlproto_start(&n->cqlproto, n->v.loop, n->cfg.cql_addr, n->v.cql, n->v.store, &id,
                               &po, errmsg);
    if (rv == 0)
        n->v.cqlproto = n->cqlproto;
    return rv;
}

static void on_ready_poll(uv_timer_t *t)
{
    sb_node *n = t->data;
    char errmsg[SB_ERRMSG_SIZE];
    if (n->v.ready || n->stopping || n->v.disk_stopped ||
        !sb_gossip_settled(sb_cluster_gossip(n->v.cluster), n->v.settle_note,
                           sizeof n->v.settle_note))
        return;
    uv_timer_stop(t);
    if (open_cql(n, errmsg) != 0) {
        SB_ERROR("node", "cannot open the CQL port", "addr=%s error=%s", n->cfg.cql_addr, errmsg);
        fprintf(stderr, "sibyl node: %s\n", errmsg);
        n->stopping = 1;
        n->exit_code = 1;
        uv_stop(n->v.loop);
        return;
    }
    n->v.ready = 1;
    SB_INFO("node", "ready", "cql=%s http=%s ready_ms=%.1f%s%s", n->cfg.cql_addr, n->cfg.http_addr,
            (wall_s() - n->v.start_time_s) * 1000.0,
            n->v.settle_note[0] ? " not_heard_at_start=" : "", n->v.settle_note);
}

#define DISK_POLL_MS 250

/* Logs changes of the store's disk state and applies
 * disk_failure_policy=stop: after a disk failure the node stops serving
 * (CQL port and gossip closed) but stays up for inspection over HTTP, as
 * Cassandra's stop keeps JMX. */
static void on_disk_poll(uv_timer_t *t)
{
    sb_node *n = t->data;
    sb_disk_status ds;
    sb_store_disk_status(n->v.store, &ds);
    if (ds.state == n->disk_seen)
        return;
    n->disk_seen = ds.state;
    if (ds.state == SB_DISK_OK)
        SB_INFO("node", "accepting writes", "free_bytes=%llu", (unsigned long long)ds.free_bytes);
    else
        SB_WARN("node",
                ds.read_only_at_start ? "read-only: started on a full disk"
                                      : "read-only: refusing writes",
                "disk=%s reason=\"%s\"", sb_disk_state_name(ds.state), ds.reason);
    if (ds.state == SB_DISK_FAILED && n->cfg.disk_failure_policy == SB_DISK_POLICY_STOP &&
        !n->v.disk_stopped) {
        SB_ERROR("node",
                 "disk failure: stopping the CQL port and gossip (disk_failure_policy=stop)",
                 "reason=\"%s\"", ds.reason);
        n->v.disk_stopped = 1;
        n->v.cqlproto = NULL;
        if (n->cqlproto)
            sb_cqlproto_stop(n->cqlproto);
        n->cqlproto = NULL;
        if (n->v.cluster)
            sb_node_cluster_stop(n);
    }
}

int sb_node_main(int argc, char **argv)
{
    static sb_node node; /* one per process; static so signal data outlives main's frame */
    sb_node *n = &node;
    char errmsg[SB_ERRMSG_SIZE] = "";
    char dbdir[4200];
    int rv;

    memset(n, 0, sizeof *n);
    n->lock_fd = -1;
    n->v.start_time_s = wall_s();
    sb_config_default(&n->cfg);
    rv = sb_config_from_args(&n->cfg, argc, argv, errmsg);
    n->v.listen_addr = n->cfg.listen_addr;
    n->v.http_addr = n->cfg.http_addr;
    n->v.cql_addr = n->cfg.cql_addr;
    n->v.data_dir = n->cfg.data_dir;
    n->v.cluster_name = n->cfg.cluster_name;
    n->v.dc = n->cfg.dc;
    n->v.rack = n->cfg.rack;
    n->v.demo_control = n->cfg.demo_control;
    n->v.cors_allowed_origins = n->cfg.cors_allowed_origins;
    if (rv == 1)
        return 0;
    if (rv) {
        fprintf(stderr, "sibyl node: %s\n", errmsg);
        return 2;
    }
    sb_log_set_level(n->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    if ((rv = sb_node_lock_dir(n->cfg.data_dir, &n->lock_fd, errmsg))) {
        fprintf(stderr, "sibyl node: %s\n", errmsg);
        return 1;
    }
    n->v.loop = uv_default_loop();

    sb_store_opts so;
    sb_store_opts_default(&so);
    so.sync_mode = n->cfg.sync_mode;
    so.sync_period_ms = n->cfg.sync_period_ms;
    so.min_free_bytes = n->cfg.min_free_bytes;
    so.disk_failure_policy = n->cfg.disk_failure_policy;
    so.node_name = n->cfg.listen_addr;
    n->v.metrics = sb_metrics_new();
    if (n->v.metrics) {
        so.on_sync = node_stats_observe_sync;
        so.on_sync_arg = node_stats_sync_histogram(n->v.metrics);
    }
    snprintf(dbdir, sizeof dbdir, "%.*s/db", (int)sizeof n->cfg.data_dir, n->cfg.data_dir);
    if ((rv = sb_store_open(&n->v.store, dbdir, &so, n->v.loop, errmsg))) {
        fprintf(stderr, "sibyl node: cannot open storage in %s: %s\n", dbdir, errmsg);
        goto fail;
    }
    if (!n->v.metrics || !(n->v.m = node_metrics_new(n->v.metrics, n->v.store))) {
        fprintf(stderr, "sibyl node: out of memory\n");
        rv = SB_ENOMEM;
        goto fail;
    }
    uint8_t host_id[16];
    if ((rv = cqlp_load_host_id(n->cfg.data_dir, host_id, errmsg))) {
        fprintf(stderr, "sibyl node: %s\n", errmsg);
        goto fail;
    }
    sb_cql_engine_opts eo;
    sb_cql_engine_opts_default(&eo);
    if ((rv = sb_node_cluster_start(n, host_id, &eo, errmsg))) {
        fprintf(stderr, "sibyl node: %s\n", errmsg);
        goto fail;
    }
    n->v.cluster_write = sb_cql_glue_write;
    n->v.cluster_write_arg = sb_node_cluster_write_arg();
    n->v.ddl = sb_cql_glue_ddl; /* ingestion's schema changes through the Raft group */
    n->v.ddl_arg = sb_node_cluster_write_arg();
    n->v.cql = sb_cql_engine_new(n->v.store, &eo);
    if (!n->v.cql) {
        fprintf(stderr, "sibyl node: out of memory\n");
        rv = SB_ENOMEM;
        goto fail;
    }
    sb_node_cluster_run(n);
    sb_node_clocks_start(n);
    if ((rv = sb_http_start(&n->http, n->v.loop, n->cfg.http_addr, n->cfg.max_request_bytes,
                            n->cfg.max_json_request_bytes, &n->v, errmsg))) {
        fprintf(stderr, "sibyl node: %s\n", errmsg);
        goto fail;
    }
    uv_signal_init(n->v.loop, &n->sigint);
    uv_signal_init(n->v.loop, &n->sigterm);
    n->sigint.data = n->sigterm.data = n;
    uv_signal_start(&n->sigint, on_signal, SIGINT);
    uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    uv_timer_init(n->v.loop, &n->ready_timer);
    n->ready_timer.data = n;
    SB_INFO("node", "started", "http=%s data=%s commitlog_sync=%s startup_ms=%.1f",
            n->cfg.http_addr, n->cfg.data_dir,
            n->cfg.sync_mode == SB_SYNC_GROUP ? "group" : "periodic",
            (wall_s() - n->v.start_time_s) * 1000.0);
    uv_timer_init(n->v.loop, &n->disk_timer);
    n->disk_timer.data = n;
    n->disk_seen = SB_DISK_OK;
    on_disk_poll(&n->disk_timer);
    uv_timer_start(&n->disk_timer, on_disk_poll, DISK_POLL_MS, DISK_POLL_MS);
    on_ready_poll(&n->ready_timer);
    if (!n->v.ready && !n->stopping)
        uv_timer_start(&n->ready_timer, on_ready_poll, READY_POLL_MS, READY_POLL_MS);

    uv_run(n->v.loop, UV_RUN_DEFAULT);
    rv = n->exit_code;
fail:
    /* Stop accepting, then drain the commit queue: its completions answer
     * their clients through the still-open connections. */
    if (n->http)
        sb_http_stop(n->http);
    n->v.cqlproto = NULL;
    if (n->cqlproto)
        sb_cqlproto_stop(n->cqlproto);
    /* Tell the peers we are going (gossip SHUTDOWN), let the transport
     * send it, then close the transport. The store drains next: its
     * completions still reach the coordinator, which is freed after it,
     * and the engine last (coordinator callbacks may run statements). */
    if (n->v.cluster && !n->v.disk_stopped) {
        sb_node_cluster_stop(n);
        for (int i = 0; i < 3; i++)
            uv_run(n->v.loop, UV_RUN_NOWAIT);
    }
    if (n->v.transport) {
        sb_transport_stop(n->v.transport);
        for (int i = 0; i < 3; i++)
            uv_run(n->v.loop, UV_RUN_NOWAIT);
    }
    if (n->v.store)
        sb_store_close(n->v.store);
    sb_node_cluster_free(n);
    if (n->v.cql)
        sb_cql_engine_free(n->v.cql);
    if (n->sigint.loop) {
        uv_close((uv_handle_t *)&n->sigint, NULL);
        uv_close((uv_handle_t *)&n->sigterm, NULL);
        uv_close((uv_handle_t *)&n->ready_timer, NULL);
        uv_close((uv_handle_t *)&n->disk_timer, NULL);
    }
    sb_node_clocks_stop(n);
    if (n->v.loop)
        for (int i = 0; i < 3; i++)
            uv_run(n->v.loop, UV_RUN_NOWAIT);
    if (n->v.transport)
        sb_transport_free(n->v.transport);
    n->v.transport = NULL;
    if (n->v.m)
        node_metrics_free(n->v.m);
    if (n->v.metrics)
        sb_metrics_free(n->v.metrics);
    if (n->lock_fd >= 0)
        close(n->lock_fd);
    if (rv == 0)
        SB_INFO("node", "stopped", NULL);
    return rv == 0 ? 0 : 1;
}
