/* sibyl_stream_* families from sb_stream_get_stats (stream_metrics.h). */
#include <stddef.h>

#include "metrics/stream_metrics.h"

static void collect(sb_metrics_sink *sink, void *arg)
{
    sb_stream_stats st;
    sb_stream_get_stats(arg, &st);
    static const struct {
        sb_metric_type type;
        const char *name, *help;
        size_t off;
    } rows[] = {
        {SB_METRIC_COUNTER, "sibyl_stream_sent_bytes_total",
         "Key and value bytes this node sent as a stream source.",
         offsetof(sb_stream_stats, bytes_sent)},
        {SB_METRIC_COUNTER, "sibyl_stream_sent_rows_total",
         "Raw entries this node sent as a stream source.", offsetof(sb_stream_stats, rows_sent)},
        {SB_METRIC_COUNTER, "sibyl_stream_received_bytes_total",
         "Key and value bytes this node received by streaming.",
         offsetof(sb_stream_stats, bytes_received)},
        {SB_METRIC_COUNTER, "sibyl_stream_received_rows_total",
         "Raw entries this node received by streaming.", offsetof(sb_stream_stats, rows_received)},
        {SB_METRIC_GAUGE, "sibyl_stream_sessions_active", "Stream sessions running.",
         offsetof(sb_stream_stats, sessions_active)},
        {SB_METRIC_COUNTER, "sibyl_stream_sessions_completed_total",
         "Stream sessions that copied every range.", offsetof(sb_stream_stats, sessions_completed)},
        {SB_METRIC_COUNTER, "sibyl_stream_sessions_failed_total",
         "Stream sessions that failed (source timed out, table missing, apply error).",
         offsetof(sb_stream_stats, sessions_failed)},
        {SB_METRIC_COUNTER, "sibyl_stream_retries_total",
         "Chunk pulls sent again after a timeout or a bad chunk.",
         offsetof(sb_stream_stats, retries)},
        {SB_METRIC_COUNTER, "sibyl_stream_bad_chunks_total",
         "Chunks refused by the decoder (checksum, order, range).",
         offsetof(sb_stream_stats, bad_chunks)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sb_metrics_sink_family(sink, rows[i].type, rows[i].name, rows[i].help);
        uint64_t v = *(const uint64_t *)((const char *)&st + rows[i].off);
        sb_metrics_sink_sample(sink, NULL, NULL, (double)v);
    }
}

int sb_stream_metrics_install(sb_metrics *m, sb_stream *s)
{
    return sb_metrics_add_collector(m, collect, s);
}

void sb_stream_metrics_remove(sb_metrics *m, sb_stream *s)
{
    if (m)
        sb_metrics_remove_collector(m, collect, s);
}
