#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "util/buf.h"
#include "util/err.h"

static char *render(sb_metrics *m, sb_buf *b)
{
    sb_buf_reset(b);
    assert_int_equal(sb_metrics_render(m, b), 0);
    return sb_buf_cstr(b);
}

static void test_counter_with_labels(void **state)
{
    sb_metrics *m = sb_metrics_new();
    sb_counter_vec *v = sb_metrics_counter_vec(m, "sibyl_http_requests_total",
                                               "HTTP requests by endpoint and outcome.",
                                               SB_LABELS("endpoint", "outcome"));
    assert_non_null(v);
    sb_counter *ok = sb_counter_vec_with(v, SB_LABELS("/api/v2/write", "success"));
    sb_counter *bad = sb_counter_vec_with(v, SB_LABELS("/api/v2/write", "client_error"));
    assert_non_null(ok);
    assert_ptr_not_equal(ok, bad);
    /* the same values give the same child */
    assert_ptr_equal(ok, sb_counter_vec_with(v, SB_LABELS("/api/v2/write", "success")));
    sb_counter_inc(ok);
    sb_counter_add(ok, 41);
    sb_counter_inc(bad);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    assert_string_equal(
        s, "# HELP sibyl_http_requests_total HTTP requests by endpoint and outcome.\n"
           "# TYPE sibyl_http_requests_total counter\n"
           "sibyl_http_requests_total{endpoint=\"/api/v2/write\",outcome=\"success\"} 42\n"
           "sibyl_http_requests_total{endpoint=\"/api/v2/write\",outcome=\"client_error\"} 1\n");
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static void test_escaping(void **state)
{
    sb_metrics *m = sb_metrics_new();
    sb_gauge_vec *v = sb_metrics_gauge_vec(m, "sibyl_test_value",
                                           "Help with \\ and\nnewline \"q\".", SB_LABELS("path"));
    sb_gauge_set(sb_gauge_vec_with(v, SB_LABELS("a\"b\\c\nd")), 0.1);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    assert_string_equal(s, "# HELP sibyl_test_value Help with \\\\ and\\nnewline \"q\".\n"
                           "# TYPE sibyl_test_value gauge\n"
                           "sibyl_test_value{path=\"a\\\"b\\\\c\\nd\"} 0.1\n");
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static void test_histogram(void **state)
{
    sb_metrics *m = sb_metrics_new();
    const double bounds[] = {0.01, 0.1, 1};
    sb_histogram *h =
        sb_metrics_histogram(m, "sibyl_request_duration_seconds", "Request latency.", bounds, 3);
    assert_non_null(h);
    sb_histogram_observe(h, 0.005);
    sb_histogram_observe(h, 0.01); /* le is inclusive */
    sb_histogram_observe(h, 0.5);
    sb_histogram_observe(h, 7);
    sb_histogram_observe(h, NAN); /* ignored */
    assert_int_equal(sb_histogram_count(h), 4);
    assert_true(fabs(sb_histogram_sum(h) - 7.515) < 1e-9);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    assert_string_equal(s, "# HELP sibyl_request_duration_seconds Request latency.\n"
                           "# TYPE sibyl_request_duration_seconds histogram\n"
                           "sibyl_request_duration_seconds_bucket{le=\"0.01\"} 2\n"
                           "sibyl_request_duration_seconds_bucket{le=\"0.1\"} 2\n"
                           "sibyl_request_duration_seconds_bucket{le=\"1\"} 3\n"
                           "sibyl_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                           "sibyl_request_duration_seconds_sum 7.515\n"
                           "sibyl_request_duration_seconds_count 4\n");
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static void test_histogram_labels_and_default_buckets(void **state)
{
    sb_metrics *m = sb_metrics_new();
    sb_histogram_vec *v =
        sb_metrics_histogram_vec(m, "sibyl_op_seconds", "Op latency.", SB_LABELS("op"), NULL, 0);
    sb_histogram_observe(sb_histogram_vec_with(v, SB_LABELS("read")), 0.003);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    assert_non_null(strstr(s, "sibyl_op_seconds_bucket{op=\"read\",le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(s, "sibyl_op_seconds_bucket{op=\"read\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(s, "sibyl_op_seconds_bucket{op=\"read\",le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(s, "sibyl_op_seconds_count{op=\"read\"} 1\n"));
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static void test_bad_names_and_clashes(void **state)
{
    sb_metrics *m = sb_metrics_new();
    assert_null(sb_metrics_counter(m, "sibyl_requests", "no _total"));
    assert_non_null(strstr(sb_metrics_errmsg(m), "_total"));
    assert_null(sb_metrics_gauge(m, "sibyl_things_total", "gauge with _total"));
    assert_null(sb_metrics_gauge(m, "9lives", "starts with a digit"));
    assert_null(sb_metrics_gauge(m, "sibylRequests", "camelCase"));
    assert_null(sb_metrics_gauge(m, "sibyl_latency_milliseconds", "not a base unit"));
    assert_non_null(strstr(sb_metrics_errmsg(m), "base units"));
    assert_null(sb_metrics_gauge(m, "sibyl_x_count", "reserved suffix"));
    assert_null(sb_metrics_gauge_vec(m, "sibyl_x", "bad label", SB_LABELS("__reserved")));
    assert_null(sb_metrics_gauge_vec(m, "sibyl_x", "bad label", SB_LABELS("a-b")));
    assert_null(sb_metrics_gauge_vec(m, "sibyl_x", "dup label", SB_LABELS("a", "a")));
    assert_null(sb_metrics_histogram_vec(m, "sibyl_h_seconds", "le", SB_LABELS("le"), NULL, 0));
    const double unsorted[] = {1, 0.5};
    assert_null(sb_metrics_histogram(m, "sibyl_h_seconds", "unsorted", unsorted, 2));
    assert_non_null(strstr(sb_metrics_errmsg(m), "increasing"));

    /* same registration twice: same family; different shape: refused */
    sb_counter_vec *a = sb_metrics_counter_vec(m, "sibyl_a_total", "A.", SB_LABELS("x"));
    assert_non_null(a);
    assert_ptr_equal(a, sb_metrics_counter_vec(m, "sibyl_a_total", "A.", SB_LABELS("x")));
    assert_null(sb_metrics_counter_vec(m, "sibyl_a_total", "A.", SB_LABELS("y")));
    assert_null(sb_metrics_counter_vec(m, "sibyl_a_total", "A.", NULL));
    assert_int_equal(sb_metrics_gauge_fn(m, "sibyl_a_total", "A.", NULL, NULL), SB_EINVAL);
    /* wrong number of label values */
    assert_null(sb_counter_vec_with(a, SB_LABELS("1", "2")));
    assert_non_null(strstr(sb_metrics_errmsg(m), "1 labels, 2 values"));
    /* NULL-safe updates */
    sb_counter_inc(NULL);
    sb_gauge_set(NULL, 1);
    sb_histogram_observe(NULL, 1);
    sb_metrics_free(m);
}

static void test_cardinality_bound(void **state)
{
    sb_metrics *m = sb_metrics_new();
    sb_counter_vec *v = sb_metrics_counter_vec(m, "sibyl_c_total", "C.", SB_LABELS("id"));
    char id[16];
    for (int i = 0; i < SB_METRICS_MAX_CHILDREN; i++) {
        snprintf(id, sizeof id, "%d", i);
        assert_non_null(sb_counter_vec_with(v, SB_LABELS(id)));
    }
    assert_null(sb_counter_vec_with(v, SB_LABELS("one-too-many")));
    assert_non_null(strstr(sb_metrics_errmsg(m), "bound"));
    /* existing ones are still found */
    assert_non_null(sb_counter_vec_with(v, SB_LABELS("17")));
    sb_metrics_free(m);
}

enum { NTHREADS = 4, NINC = 200000 };

typedef struct {
    sb_counter *c;
    sb_histogram *h;
    sb_gauge *g;
} shared;

static void *worker(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < NINC; i++) {
        sb_counter_inc(s->c);
        sb_histogram_observe(s->h, (i % 3) * 0.5);
        sb_gauge_add(s->g, 1);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    sb_metrics *m = sb_metrics_new();
    const double bounds[] = {0.25, 0.75};
    shared s = {
        .c = sb_metrics_counter(m, "sibyl_ops_total", "Ops."),
        .h = sb_metrics_histogram(m, "sibyl_ops_seconds", "Ops.", bounds, 2),
        .g = sb_metrics_gauge(m, "sibyl_ops_inflight", "Ops."),
    };
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &s), 0);
    sb_buf b;
    sb_buf_init(&b);
    for (int i = 0; i < 20; i++) /* render while others update */
        render(m, &b);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_true(sb_counter_value(s.c) == (double)NTHREADS * NINC);
    assert_int_equal(sb_histogram_count(s.h), NTHREADS * NINC);
    assert_true(sb_gauge_value(s.g) == (double)NTHREADS * NINC);
    /* each thread: i%3==1 -> 0.5, i%3==2 -> 1.0 */
    double per_thread = 0;
    for (int i = 0; i < NINC; i++)
        per_thread += (i % 3) * 0.5;
    assert_true(fabs(sb_histogram_sum(s.h) - NTHREADS * per_thread) < 1e-6);
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static double fn_value(void *arg)
{
    return *(double *)arg;
}

typedef struct {
    int calls;
} coll_state;

static void collect(sb_metrics_sink *s, void *arg)
{
    coll_state *cs = arg;
    cs->calls++;
    sb_metrics_sink_family(s, SB_METRIC_GAUGE, "sibyl_storage_sst_bytes", "SST bytes.");
    sb_metrics_sink_sample(s, SB_LABELS("table"), SB_LABELS("ks.t1"), 1024);
    sb_metrics_sink_sample(s, SB_LABELS("table"), SB_LABELS("ks.t2"), 2048);
    sb_metrics_sink_family(s, SB_METRIC_COUNTER, "sibyl_storage_compactions", "bad: no _total");
    sb_metrics_sink_sample(s, NULL, NULL, 3); /* dropped with its family */
    sb_metrics_sink_family(s, SB_METRIC_COUNTER, "sibyl_storage_wal_syncs_total", "Syncs.");
    sb_metrics_sink_sample(s, NULL, NULL, 5);
}

static void test_callbacks_and_collectors(void **state)
{
    sb_metrics *m = sb_metrics_new();
    double v = 2.5;
    assert_int_equal(sb_metrics_gauge_fn(m, "sibyl_fn_value", "Fn.", fn_value, &v), 0);
    coll_state cs = {0};
    assert_int_equal(sb_metrics_add_collector(m, collect, &cs), 0);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    assert_non_null(strstr(s, "sibyl_fn_value 2.5\n"));
    v = 3;
    s = render(m, &b);
    assert_non_null(strstr(s, "sibyl_fn_value 3\n"));
    assert_int_equal(cs.calls, 2);
    assert_non_null(strstr(s, "# TYPE sibyl_storage_sst_bytes gauge\n"
                              "sibyl_storage_sst_bytes{table=\"ks.t1\"} 1024\n"
                              "sibyl_storage_sst_bytes{table=\"ks.t2\"} 2048\n"));
    assert_null(strstr(s, "sibyl_storage_compactions"));
    assert_non_null(strstr(s, "sibyl_storage_wal_syncs_total 5\n"));
    assert_int_equal(sb_metrics_remove_collector(m, collect, &cs), 0);
    assert_int_equal(sb_metrics_remove_collector(m, collect, &cs), SB_ENOTFOUND);
    s = render(m, &b);
    assert_null(strstr(s, "sst_bytes"));
    assert_int_equal(cs.calls, 2);
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static double find_value(const char *s, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(s, key);
    assert_non_null(p);
    return strtod(p + strlen(key), NULL);
}

static void test_process_metrics(void **state)
{
    sb_metrics *m = sb_metrics_new();
    assert_int_equal(sb_metrics_add_process(m), 0);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    double rss = find_value(s, "process_resident_memory_bytes");
    assert_true(rss > 1e5 && rss < 1e11);
    double start = find_value(s, "process_start_time_seconds");
    double now = (double)time(NULL);
    assert_true(start > now - 600 && start <= now + 1);
    double cpu = find_value(s, "process_cpu_seconds_total");
    assert_true(cpu >= 0 && cpu < 600);
    double fds = find_value(s, "process_open_fds");
    assert_true(fds >= 3 && fds < 100000);
    sb_buf_free(&b);
    sb_metrics_free(m);
}

static void test_value_formatting(void **state)
{
    sb_metrics *m = sb_metrics_new();
    sb_gauge_vec *v = sb_metrics_gauge_vec(m, "sibyl_v", "V.", SB_LABELS("k"));
    sb_gauge_set(sb_gauge_vec_with(v, SB_LABELS("a")), 1e20);
    sb_gauge_set(sb_gauge_vec_with(v, SB_LABELS("b")), -0.25);
    sb_gauge_set(sb_gauge_vec_with(v, SB_LABELS("c")), INFINITY);
    sb_gauge_set(sb_gauge_vec_with(v, SB_LABELS("d")), NAN);
    sb_gauge_set(sb_gauge_vec_with(v, SB_LABELS("e")), 1.0 / 3);
    sb_buf b;
    sb_buf_init(&b);
    const char *s = render(m, &b);
    assert_non_null(strstr(s, "{k=\"a\"} 1e+20\n"));
    assert_non_null(strstr(s, "{k=\"b\"} -0.25\n"));
    assert_non_null(strstr(s, "{k=\"c\"} +Inf\n"));
    assert_non_null(strstr(s, "{k=\"d\"} NaN\n"));
    const char *e = strstr(s, "{k=\"e\"} ");
    assert_non_null(e);
    assert_true(strtod(e + 8, NULL) == 1.0 / 3);
    sb_buf_free(&b);
    sb_metrics_free(m);
}

/* Renders one registry with every kind of metric and has Prometheus' own
 * checker read it: it must parse and raise no lint problem at all. */
static void test_promtool_accepts_output(void **state)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "promtool not installed (Debian package prometheus)\n");
        fail();
    }
    sb_metrics *m = sb_metrics_new();
    sb_counter_vec *req = sb_metrics_counter_vec(m, "sibyl_http_requests_total",
                                                 "HTTP requests by endpoint and outcome.",
                                                 SB_LABELS("endpoint", "outcome"));
    sb_counter_add(sb_counter_vec_with(req, SB_LABELS("/api/v2/write", "success")), 10);
    sb_counter_inc(sb_counter_vec_with(req, SB_LABELS("/api/v2/write", "client_error")));
    sb_counter_add_f(
        sb_metrics_counter(m, "sibyl_wal_sync_seconds_total", "Time spent in commit-log fsync."),
        0.125);
    sb_gauge_set(sb_metrics_gauge(m, "sibyl_connections", "Open client connections."), 3);
    sb_histogram_vec *h =
        sb_metrics_histogram_vec(m, "sibyl_http_request_duration_seconds", "HTTP request latency.",
                                 SB_LABELS("endpoint"), NULL, 0);
    sb_histogram_observe(sb_histogram_vec_with(h, SB_LABELS("/api/v2/write")), 0.0042);
    sb_histogram_observe(sb_histogram_vec_with(h, SB_LABELS("/api/v1/cql")), 0.3);
    sb_gauge_set(sb_metrics_gauge(m, "sibyl_weird_label_values", "Escapes."), 0);
    sb_gauge_set(sb_gauge_vec_with(sb_metrics_gauge_vec(m, "sibyl_escape_check",
                                                        "Label \\ escaping.", SB_LABELS("v")),
                                   SB_LABELS("quote \" backslash \\ newline \n end")),
                 1);
    double v = 42;
    assert_int_equal(
        sb_metrics_gauge_fn(m, "sibyl_storage_live_bytes", "Estimated live bytes.", fn_value, &v),
        0);
    coll_state cs = {0};
    assert_int_equal(sb_metrics_add_collector(m, collect, &cs), 0);
    assert_int_equal(sb_metrics_add_process(m), 0);

    char path[] = "/tmp/sibyl-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    sb_buf b;
    sb_buf_init(&b);
    render(m, &b);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (rc != 0 || n != 0)
        fprintf(stderr, "promtool said (rc=%d):\n%s\n--- input:\n%s\n", rc, out, sb_buf_cstr(&b));
    assert_int_equal(rc, 0);
    assert_int_equal(n, 0);
    unlink(path);
    sb_buf_free(&b);
    sb_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_with_labels),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_labels_and_default_buckets),
        cmocka_unit_test(test_bad_names_and_clashes),
        cmocka_unit_test(test_cardinality_bound),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_callbacks_and_collectors),
        cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_value_formatting),
        cmocka_unit_test(test_promtool_accepts_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
