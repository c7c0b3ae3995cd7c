/*
 * Prometheus metrics registry.
 *
 * A registry (sb_metrics) holds metric families, each a counter, gauge or
 * histogram with a fixed list of label names. A family hands out one child
 * per distinct tuple of label values (sb_*_vec_with); a family without
 * labels has exactly one child (sb_metrics_counter() etc. return it).
 * sb_metrics_render() writes everything in the Prometheus text exposition
 * format 0.0.4.
 *
 * Updates are lock-free (relaxed atomics), so children may be updated from
 * the event loop and from worker threads alike; callers on hot paths look a
 * child up once and keep the pointer. Registration, child lookup and render
 * take the registry's mutex. Children live until sb_metrics_free, so the
 * pointers handed out stay valid that long. Every update function accepts
 * NULL and does nothing, so a failed registration (bad name, cardinality
 * bound reached) degrades to "not counted" instead of a crash.
 *
 * Callback metrics (sb_metrics_gauge_fn) and collectors
 * (sb_metrics_add_collector) are evaluated at render time, under the
 * registry mutex: they must not register metrics themselves. They let
 * engine statistics and process figures be exported without polling.
 *
 * Naming follows Prometheus conventions and is checked at registration:
 * metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; counter names end in
 * "_total"; histograms may not use the label "le". Registering the same
 * name twice with the same type and labels returns the existing family;
 * any other clash fails.
 */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct sb_metrics sb_metrics;
typedef struct sb_counter_vec sb_counter_vec;
typedef struct sb_gauge_vec sb_gauge_vec;
typedef struct sb_histogram_vec sb_histogram_vec;
typedef struct sb_counter sb_counter;
typedef struct sb_gauge sb_gauge;
typedef struct sb_histogram sb_histogram;

/* NULL-terminated string array literal for label names and values:
 *   sb_metrics_counter_vec(m, "x_total", "...", SB_LABELS("endpoint", "outcome")) */
#define SB_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Most children one family may have (bounds memory when label values come
 * from outside); lookups beyond it return NULL. */
#define SB_METRICS_MAX_CHILDREN 10000
/* Most label names per family and most histogram buckets. */
#define SB_METRICS_MAX_LABELS 8
#define SB_METRICS_MAX_BUCKETS 64

typedef enum sb_metric_type {
    SB_METRIC_COUNTER,
    SB_METRIC_GAUGE,
    SB_METRIC_HISTOGRAM,
} sb_metric_type;

/* NULL when out of memory. */
sb_metrics *sb_metrics_new(void);
/* Frees the registry and every family and child; pointers die with it. */
void sb_metrics_free(sb_metrics *m);
/* Reason for the last failed registration or lookup (for logs and tests);
 * valid until the next call on m. */
const char *sb_metrics_errmsg(sb_metrics *m);

/* --- families -------------------------------------------------------------
 * label_names is NULL-terminated (SB_LABELS) or NULL for none; the strings
 * are copied. Each returns NULL on a bad name or clash (see errmsg). */
sb_counter_vec *sb_metrics_counter_vec(sb_metrics *m, const char *name, const char *help,
                                       const char *const *label_names);
sb_gauge_vec *sb_metrics_gauge_vec(sb_metrics *m, const char *name, const char *help,
                                   const char *const *label_names);
/* bounds: strictly increasing finite upper bounds (the +Inf bucket is
 * implicit); NULL/0 for sb_metrics_default_buckets (latency in seconds). */
sb_histogram_vec *sb_metrics_histogram_vec(sb_metrics *m, const char *name, const char *help,
                                           const char *const *label_names, const double *bounds,
                                           int nbounds);

/* The child for these label values (one per label name, NULL-terminated
 * array, copied), created on first use. NULL on a wrong count or when the
 * family has SB_METRICS_MAX_CHILDREN children already. */
sb_counter *sb_counter_vec_with(sb_counter_vec *v, const char *const *label_values);
sb_gauge *sb_gauge_vec_with(sb_gauge_vec *v, const char *const *label_values);
sb_histogram *sb_histogram_vec_with(sb_histogram_vec *v, const char *const *label_values);

/* Families without labels: return their only child. */
sb_counter *sb_metrics_counter(sb_metrics *m, const char *name, const char *help);
sb_gauge *sb_metrics_gauge(sb_metrics *m, const char *name, const char *help);
sb_histogram *sb_metrics_histogram(sb_metrics *m, const char *name, const char *help,
                                   const double *bounds, int nbounds);


/* --- updates (thread-safe, lock-free, NULL-safe) ------------------------- */
void sb_counter_inc(sb_counter *c);
void sb_counter_add(sb_counter *c, uint64_t n);
/* Fractional amounts (e.g. seconds spent); negative values are ignored. */
void sb_counter_add_f(sb_counter *c, double v);
double sb_counter_value(const sb_counter *c);

void sb_gauge_set(sb_gauge *g, double v);
void sb_gauge_add(sb_gauge *g, double v); /* negative to subtract */
double sb_gauge_value(const sb_gauge *g);

/* One observation (for latencies: seconds). NaN is ignored. */
void sb_histogram_observe(sb_histogram *h, double v);
uint64_t sb_histogram_count(const sb_histogram *h);
double sb_histogram_sum(const sb_histogram *h);

/* --- values computed at render time -------------------------------------- */
typedef double (*sb_metric_fn)(void *arg);

/* An unlabelled gauge / counter whose value is fn(arg) at each render.
 * 0 or SB_EINVAL (bad name, clash; see errmsg) / SB_ENOMEM. */
int sb_metrics_gauge_fn(sb_metrics *m, const char *name, const char *help, sb_metric_fn fn,
                        void *arg);

/* A collector writes any number of families at render time through the
 * sink: sb_metrics_sink_family() starts a family, sb_metrics_sink_sample()
 * adds one sample to it. Use it when several values come from one call (a
 * stats struct, one read of /proc). Collector output follows the
 * registered families; the collector must not reuse their names. */
typedef struct sb_metrics_sink sb_metrics_sink;
typedef void (*sb_metrics_collect_fn)(sb_metrics_sink *s, void *arg);

int sb_metrics_add_collector(sb_metrics *m, sb_metrics_collect_fn fn, void *arg);
/* Removes the collector registered with exactly (fn, arg); 0 or SB_ENOTFOUND.
 * Call before freeing what arg points to. */
int sb_metrics_remove_collector(sb_metrics *m, sb_metrics_collect_fn fn, void *arg);

/* type is SB_METRIC_COUNTER or SB_METRIC_GAUGE. Names are checked as at
 * registration; a bad family is skipped with its samples. */
void sb_metrics_sink_family(sb_metrics_sink *s, sb_metric_type type, const char *name,
                            const char *help);
/* label_names/values NULL-terminated (or NULL for none) */
void sb_metrics_sink_sample(sb_metrics_sink *s, const char *const *label_names,
                            const char *const *label_values, double value);

/* Registers process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_cpu_seconds_total, process_start_time_seconds, process_open_fds
 * and process_max_fds, read from /proc/self at render time. */
int sb_metrics_add_process(sb_metrics *m);

/* Appends the exposition (text format 0.0.4; Content-Type
 * SB_METRICS_CONTENT_TYPE) to out. 0 or SB_ENOMEM. */
#define SB_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
int sb_metrics_render(sb_metrics *m, sb_buf *out);

#endif
