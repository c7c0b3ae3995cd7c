#include "metrics/node_metrics.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "ingest/ingest.h"
#include "storage/store.h"

struct node_metrics {
    sb_metrics *m;
    struct sb_store *store;
    sb_counter_vec *http_requests;
    sb_histogram_vec *http_duration;
    sb_counter_vec *cql_statements;
};

static const char *outcome_of(int status)
{
    if (status < 400)
        return "success";
    if (status == 503)
        return "overloaded";
    if (status < 500)
        return "client_error";
    return "server_error";
}

void node_metrics_observe_http(node_metrics *nm, const char *endpoint, int status, double seconds)
{
    const char *outcome = outcome_of(status);
    sb_counter_inc(sb_counter_vec_with(nm->http_requests, SB_LABELS(endpoint, outcome)));
    sb_histogram_observe(sb_histogram_vec_with(nm->http_duration, SB_LABELS(endpoint, outcome)),
                         seconds);
}

void node_metrics_add_cql(node_metrics *nm, const char *kind, int ok)
{
    sb_counter_inc(
        sb_counter_vec_with(nm->cql_statements, SB_LABELS(kind, ok ? "success" : "error")));
}

/* The reserve and write refusals (storage/disk.c); free and total bytes
 * are sibyl_storage_disk_free_bytes / _total_bytes (node_stats.c). */
static void collect_disk(sb_metrics_sink *s, struct sb_store *store)
{
    sb_disk_status ds;
    sb_store_disk_status(store, &ds);
    sb_metrics_sink_family(s, SB_METRIC_GAUGE, "sibyl_storage_min_free_bytes",
                           "Free-space reserve below which writes are refused.");
    sb_metrics_sink_sample(s, NULL, NULL, (double)ds.min_free_bytes);
    sb_metrics_sink_family(s, SB_METRIC_GAUGE, "sibyl_storage_writes_refused",
                           "1 while the node refuses writes (disk low, full or failed).");
    sb_metrics_sink_sample(s, NULL, NULL, ds.state != SB_DISK_OK ? 1.0 : 0.0);
    sb_metrics_sink_family(s, SB_METRIC_COUNTER, "sibyl_storage_write_refusals_total",
                           "Writes refused because of the disk, by cause (low: below the "
                           "reserve; full: out of space; failed: I/O error).");
    static const char *const cause[] = {"cause", NULL};
    for (int st = SB_DISK_LOW; st < SB_DISK_NSTATES; st++) {
        const char *const val[] = {sb_disk_state_name((sb_disk_state)st), NULL};
        sb_metrics_sink_sample(s, cause, val, (double)ds.refused[st]);
    }
    sb_metrics_sink_family(s, SB_METRIC_COUNTER, "sibyl_storage_write_failures_total",
                           "Writes RocksDB failed with an I/O error (out of space included).");
    sb_metrics_sink_sample(s, NULL, NULL, (double)ds.failed);
}

static void collect_storage(sb_metrics_sink *s, void *arg)
{
    node_metrics *nm = arg;
    sb_store_stats st;
    memset(&st, 0, sizeof st);
    sb_store_get_stats(nm->store, &st);
    static const struct {
        sb_metric_type type;
        const char *name, *help;
        size_t off;
        int is_double;
    } rows[] = {
        {SB_METRIC_GAUGE, "sibyl_storage_live_bytes", "Estimated size of live data.",
         offsetof(sb_store_stats, live_bytes), 0},
        {SB_METRIC_GAUGE, "sibyl_storage_sstable_bytes", "Total size of SSTable files.",
         offsetof(sb_store_stats, sst_bytes), 0},
        {SB_METRIC_GAUGE, "sibyl_storage_memtable_bytes", "Size of all memtables.",
         offsetof(sb_store_stats, memtable_bytes), 0},
        {SB_METRIC_GAUGE, "sibyl_storage_sstables", "Number of SSTable files.",
         offsetof(sb_store_stats, sst_files), 0},
        {SB_METRIC_COUNTER, "sibyl_storage_compactions_total", "Compactions completed.",
         offsetof(sb_store_stats, compactions), 0},
        {SB_METRIC_COUNTER, "sibyl_commitlog_syncs_total", "Commit-log fsyncs.",
         offsetof(sb_store_stats, wal_syncs), 0},
        {SB_METRIC_COUNTER, "sibyl_commitlog_sync_seconds_total",
         "Time spent in commit-log fsyncs.", offsetof(sb_store_stats, wal_sync_seconds), 1},
        {SB_METRIC_COUNTER, "sibyl_storage_write_batches_total", "Write batches committed.",
         offsetof(sb_store_stats, writes), 0},
        {SB_METRIC_GAUGE, "sibyl_commitlog_queue_depth", "Writes waiting for the commit thread.",
         offsetof(sb_store_stats, queued), 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *p = (const char *)&st + rows[i].off;
        double v = rows[i].is_double ? *(const double *)p : (double)*(const uint64_t *)p;
        sb_metrics_sink_family(s, rows[i].type, rows[i].name, rows[i].help);
        sb_metrics_sink_sample(s, NULL, NULL, v);
    }

    collect_disk(s, nm->store);

    sb_ingest_stats is;
    sb_ingest_get_stats(&is);
    static const struct {
        const char *name, *help;
        size_t off;
    } irows[] = {
        {"sibyl_ingest_requests_total", "Line-protocol write requests.",
         offsetof(sb_ingest_stats, requests)},
        {"sibyl_ingest_rejected_requests_total", "Line-protocol write requests rejected.",
         offsetof(sb_ingest_stats, rejected_requests)},
        {"sibyl_ingest_points_total", "Line-protocol points accepted.",
         offsetof(sb_ingest_stats, points)},
        {"sibyl_ingest_bytes_total", "Uncompressed line-protocol bytes accepted.",
         offsetof(sb_ingest_stats, bytes)},
    };
    for (size_t i = 0; i < sizeof irows / sizeof irows[0]; i++) {
        sb_metrics_sink_family(s, SB_METRIC_COUNTER, irows[i].name, irows[i].help);
        sb_metrics_sink_sample(s, NULL, NULL,
                               (double)*(const uint64_t *)((const char *)&is + irows[i].off));
    }
}

node_metrics *node_metrics_new(sb_metrics *m, struct sb_store *store)
{
    node_metrics *nm = calloc(1, sizeof *nm);
    if (!nm)
        return NULL;
    nm->m = m;
    nm->store = store;
    nm->http_requests = sb_metrics_counter_vec(m, "sibyl_http_requests_total",
                                               "HTTP requests by endpoint and outcome.",
                                               SB_LABELS("endpoint", "outcome"));
    nm->http_duration = sb_metrics_histogram_vec(m, "sibyl_http_request_duration_seconds",
                                                 "HTTP request latency by endpoint and outcome.",
                                                 SB_LABELS("endpoint", "outcome"), NULL, 0);
    nm->cql_statements =
        sb_metrics_counter_vec(m, "sibyl_cql_statements_total",
                               "CQL statements by kind and outcome.", SB_LABELS("kind", "outcome"));
    if (!nm->http_requests || !nm->http_duration || !nm->cql_statements ||
        sb_metrics_add_collector(m, collect_storage, nm) != 0 || sb_metrics_add_process(m) != 0) {
        node_metrics_free(nm);
        return NULL;
    }
    return nm;
}

void node_metrics_free(node_metrics *nm)
{
    if (!nm)
        return;
    sb_metrics_remove_collector(nm->m, collect_storage, nm);
    free(nm);
}
