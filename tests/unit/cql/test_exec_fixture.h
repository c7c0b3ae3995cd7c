/* Helpers shared by the CQL executor tests: a real store in a temporary
 * directory with a uv loop (writes complete asynchronously and the helpers
 * run the loop until the callback fires), a controllable clock, and
 * functions that run one statement and check its result. */
#ifndef SB_TEST_EXEC_FIXTURE_H
#define SB_TEST_EXEC_FIXTURE_H

#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cql/cql.h"
#include "storage/store.h"
#include "util/err.h"

static char fx_dir[256];
static uv_loop_t fx_loop;
static sb_store *fx_store;
static sb_cql_engine *fx_eng;
static sb_cql_session fx_sess;
static int64_t fx_now_us; /* 0 = system clock */

static int64_t fx_clock(void *arg)
{
    (void)arg;
    if (fx_now_us)
        return fx_now_us;
    uv_update_time(&fx_loop);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fx_setup(void **state)
{
    (void)state;
    snprintf(fx_dir, sizeof fx_dir, "/tmp/sibyl-cql-XXXXXX");
    if (!mkdtemp(fx_dir))
        return -1;
    uv_loop_init(&fx_loop);
    char err[SB_ERRMSG_SIZE];
    sb_store_opts o;
    sb_store_opts_default(&o);
    if (sb_store_open(&fx_store, fx_dir, &o, &fx_loop, err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    sb_cql_engine_opts eo;
    sb_cql_engine_opts_default(&eo);
    eo.clock_us = fx_clock;
    fx_eng = sb_cql_engine_new(fx_store, &eo);
    sb_cql_session_init(&fx_sess);
    fx_now_us = 0;
    return fx_eng ? 0 : -1;
}

static int fx_teardown(void **state)
{
    (void)state;
    sb_cql_engine_free(fx_eng);
    sb_store_close(fx_store);
    uv_run(&fx_loop, UV_RUN_NOWAIT);
    uv_loop_close(&fx_loop);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx_dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct fx_wait {
    sb_cql_result *res;
    int calls;
} fx_wait;

static void fx_cb(void *arg, sb_cql_result *r)
{
    fx_wait *w = arg;
    w->res = r;
    w->calls++;
}

static sb_cql_result *fx_wait_for(fx_wait *w)
{
    while (w->calls == 0)
        uv_run(&fx_loop, UV_RUN_ONCE);
    assert_int_equal(w->calls, 1);
    return w->res;
}

static sb_cql_result *fx_exec_opts(const char *q, const sb_value *binds, int nbinds,
                                   const sb_cql_opts *o)
{
    fx_wait w = {0};
    assert_int_equal(sb_cql_execute(fx_eng, &fx_sess, q, strlen(q), binds, nbinds, o, fx_cb, &w),
                     0);
    return fx_wait_for(&w);
}

static sb_cql_result *fx_exec(const char *q)
{
    return fx_exec_opts(q, NULL, 0, NULL);
}

/* Runs q and fails the test (with the message) if it errs. */
static void fx_ok(const char *q)
{
    sb_cql_result *r = fx_exec(q);
    if (r->kind == SB_CQL_RESULT_ERROR)
        fail_msg("%s\n  -> %s: %s", q, r->err.name, r->err.message);
    sb_cql_result_free(r);
}

/* Runs q, expects an error of class `cls` whose message contains `msg`. */
static void fx_err(const char *q, const char *cls, const char *msg)
{
    sb_cql_result *r = fx_exec(q);
    if (r->kind != SB_CQL_RESULT_ERROR)
        fail_msg("%s\n  -> expected an error containing \"%s\", got success", q, msg);
    if (strcmp(r->err.name, cls) != 0 || !strstr(r->err.message, msg))
        fail_msg("%s\n  -> expected %s \"%s\", got %s \"%s\"", q, cls, msg, r->err.name,
                 r->err.message);
    sb_cql_result_free(r);
}

/* The "rows" array of a result's JSON rendering; caller frees. */
static char *fx_rows_json(const sb_cql_result *r)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_cql_result_to_json(r, &b), 0);
    char *s = sb_buf_cstr(&b);
    char *p = strstr(s, "\"rows\": ");
    assert_non_null(p);
    p += 8;
    int depth = 0, instr = 0;
    char *q = p;
    for (; *q; q++) {
        if (instr) {
            if (*q == '\\')
                q++;
            else if (*q == '"')
                instr = 0;
            continue;
        }
        if (*q == '"')
            instr = 1;
        else if (*q == '[' || *q == '{')
            depth++;
        else if ((*q == ']' || *q == '}') && --depth == 0) {
            q++;
            break;
        }
    }
    char *out = strndup(p, (size_t)(q - p));
    sb_buf_free(&b);
    return out;
}

/* Runs q and compares its rows (as JSON) with `want`. */
static void fx_rows(const char *q, const char *want)
{
    sb_cql_result *r = fx_exec(q);
    if (r->kind == SB_CQL_RESULT_ERROR)
        fail_msg("%s\n  -> %s: %s", q, r->err.name, r->err.message);
    assert_int_equal(r->kind, SB_CQL_RESULT_ROWS);
    char *got = fx_rows_json(r);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  want %s\n  got  %s", q, want, got);
    free(got);
    sb_cql_result_free(r);
}

static void fx_schema(void)
{
    fx_ok("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 1}");
    fx_ok("USE ks");
}

#endif
