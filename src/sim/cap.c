/*
 * The CAP writers (cap.h has the design).
 */
#include "sim/cap.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/httpc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"

#define CAP_MAX_TARGETS 16

typedef struct cap_writer {
    struct sb_sim_cap *owner;
    int index; /* 1-based, names the node's key and register */
    char target[128];
    pthread_t thread;
    int started;
    _Atomic uint64_t ap_ok, ap_failed, cp_ok, cp_failed, cp_value;
} cap_writer;

struct sb_sim_cap {
    cap_writer w[CAP_MAX_TARGETS];
    int n;
    double period_s;
    int timeout_ms;
    char bucket[64];
    atomic_int stop;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until deadline in steps of at most 50 ms, so a stop is seen. */
static void sleep_until(sb_sim_cap *c, double deadline)
{
    for (int i = 0; i < 1000 && !atomic_load(&c->stop); i++) {
        double left = deadline - now_s();
        if (left <= 0)
            return;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* POST /api/v1/cql {"query": q[, "consistency": cl]}; the status (0 when
 * the node was not reached) and, on 200, the parsed answer in *root. */
static int cql(sb_httpc *h, const char *q, const char *cl, json_t **root)
{
    sb_buf body;
    sb_buf_init(&body);
    sb_buf_printf(&body, "{\"query\": ");
    sb_json_append_string(&body, q, strlen(q));
    if (cl)
        sb_buf_printf(&body, ", \"consistency\": \"%s\"", cl);
    sb_buf_printf(&body, "}");
    sb_http_resp resp;
    char errmsg[SB_ERRMSG_SIZE];
    int rv = sb_httpc_request(h, "POST", "/api/v1/cql", "application/json", body.data, body.len,
                              &resp, errmsg);
    sb_buf_free(&body);
    if (rv) {
        sb_httpc_close(h); /* reconnect on the next request */
        return 0;
    }
    if (root)
        *root = resp.status == 200
                    ? json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL)
                    : NULL;
    sb_buf_free(&resp.body);
    return resp.status;
}

/* An LWT's answer: [applied] and the register's value (the new one when
 * applied, the current one when not). -1 when the answer has no
 * [applied] column. */
static int lwt_answer(json_t *root, int64_t proposed, int64_t *value)
{
    json_t *cols = json_object_get(root, "columns");
    json_t *row = json_array_get(json_object_get(root, "rows"), 0);
    int applied = -1;
    size_t i;
    json_t *col;
    json_array_foreach(cols, i, col)
    {
        const char *name = json_string_value(col);
        json_t *cell = json_array_get(row, i);
        if (name && !strcmp(name, "[applied]") && json_is_boolean(cell))
            applied = json_is_true(cell);
        else if (name && !strcmp(name, "v") && json_is_integer(cell))
            *value = json_integer_value(cell);
    }
    if (applied == 1)
        *value = proposed;
    return applied;
}

static void *writer_main(void *arg)
{
    cap_writer *w = arg;
    sb_sim_cap *c = w->owner;
    sb_httpc h;
    char errmsg[SB_ERRMSG_SIZE], q[512];
    if (sb_httpc_init(&h, w->target, c->timeout_ms, errmsg) != 0)
        return NULL;
    /* the tables: created through the Raft group by whichever writer
     * gets there first (IF NOT EXISTS: the others' are no-ops) */
    int ready = 0;
    for (int tries = 0; tries < 600 && !ready && !atomic_load(&c->stop); tries++) {
        snprintf(q, sizeof q, "CREATE TABLE IF NOT EXISTS %s.cap_ap (k text PRIMARY KEY, n bigint)",
                 c->bucket);
        ready = cql(&h, q, NULL, NULL) == 200;
        snprintf(q, sizeof q, "CREATE TABLE IF NOT EXISTS %s.cap_cp (k text PRIMARY KEY, v bigint)",
                 c->bucket);
        ready = ready && cql(&h, q, NULL, NULL) == 200;
        if (!ready)
            sleep_until(c, now_s() + 0.5);
    }
    int64_t seq = 0, value = -1; /* -1: the register's value is not known */
    double next = now_s();
    /* bounded: stops at the flag, or after a very long run */
    for (uint64_t round = 0; round < UINT64_C(1) << 40 && !atomic_load(&c->stop); round++) {
        snprintf(q, sizeof q, "UPDATE %s.cap_ap SET n = %lld WHERE k = 'node-%d'", c->bucket,
                 (long long)++seq, w->index);
        if (cql(&h, q, "ONE", NULL) == 200)
            atomic_fetch_add(&w->ap_ok, 1);
        else
            atomic_fetch_add(&w->ap_failed, 1);
        if (value < 0)
            snprintf(q, sizeof q, "INSERT INTO %s.cap_cp (k, v) VALUES ('reg-%d', 0) IF NOT EXISTS",
                     c->bucket, w->index);
        else
            snprintf(q, sizeof q, "UPDATE %s.cap_cp SET v = %lld WHERE k = 'reg-%d' IF v = %lld",
                     c->bucket, (long long)(value + 1), w->index, (long long)value);
        json_t *root = NULL;
        int64_t proposed = value < 0 ? 0 : value + 1;
        if (cql(&h, q, NULL, &root) == 200 && root && lwt_answer(root, proposed, &value) >= 0) {
            atomic_fetch_add(&w->cp_ok, 1);
            atomic_store(&w->cp_value, (uint64_t)(value < 0 ? 0 : value));
        } else {
            atomic_fetch_add(&w->cp_failed, 1);
            value = -1; /* indeterminate: learn the value from the next LWT */
        }
        json_decref(root);
        next += c->period_s;
        if (next < now_s())
            next = now_s(); /* after a stall, go on at the rate */
        sleep_until(c, next);
    }
    sb_httpc_close(&h);
    return NULL;
}

int sb_sim_cap_start(sb_sim_cap **out, const char *const *targets, int ntargets, double ops_per_s,
                     const char *bucket, int timeout_ms, char *errmsg)
{
    *out = NULL;
    if (ntargets < 1 || ntargets > CAP_MAX_TARGETS || !(ops_per_s > 0) || ops_per_s > 1000)
        return sb_seterr(errmsg, SB_EINVAL, "cap writers: 1..%d targets, 0 < rate <= 1000",
                         CAP_MAX_TARGETS);
    sb_sim_cap *c = calloc(1, sizeof *c);
    if (!c)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    c->n = ntargets;
    c->period_s = 1.0 / ops_per_s;
    c->timeout_ms = timeout_ms;
    snprintf(c->bucket, sizeof c->bucket, "%s", bucket);
    for (int i = 0; i < ntargets; i++) {
        cap_writer *w = &c->w[i];
        w->owner = c;
        w->index = i + 1;
        snprintf(w->target, sizeof w->target, "%s", targets[i]);
        if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
            sb_sim_cap_stop(c);
            return sb_seterr(errmsg, SB_EIO, "cannot start a CAP writer thread");
        }
        w->started = 1;
    }
    *out = c;
    return 0;
}

void sb_sim_cap_counts_of(sb_sim_cap *c, int i, sb_sim_cap_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!c || i < 0 || i >= c->n)
        return;
    cap_writer *w = &c->w[i];
    out->ap_ok = atomic_load(&w->ap_ok);
    out->ap_failed = atomic_load(&w->ap_failed);
    out->cp_ok = atomic_load(&w->cp_ok);
    out->cp_failed = atomic_load(&w->cp_failed);
    out->cp_value = atomic_load(&w->cp_value);
}

void sb_sim_cap_stop(sb_sim_cap *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, 1);
    for (int i = 0; i < c->n; i++)
        if (c->w[i].started)
            pthread_join(c->w[i].thread, NULL);
    free(c);
}
