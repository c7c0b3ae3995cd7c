/*
 * sibyl_stream_* metrics (docs/metrics.md): the node's range streaming
 * counters (stream/stream.h), read at each render.
 */
#ifndef SB_STREAM_METRICS_H
#define SB_STREAM_METRICS_H

#include "metrics/metrics.h"
#include "stream/stream.h"

/* Registers a collector over s; 0 or SB_ENOMEM. s must stay valid until
 * sb_stream_metrics_remove. */
int sb_stream_metrics_install(sb_metrics *m, sb_stream *s);
void sb_stream_metrics_remove(sb_metrics *m, sb_stream *s);

#endif
