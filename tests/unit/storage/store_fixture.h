/* Helpers shared by the storage unit tests: a temporary store, a sensor
 * table, value constructors and a "read everything" helper. */
#ifndef SB_STORE_FIXTURE_H
#define SB_STORE_FIXTURE_H

#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/store.h"
#include "util/err.h"

static char fx_dir[256];

static inline void fx_mkdir(void)
{
    snprintf(fx_dir, sizeof(fx_dir), "/tmp/sibyl-store-XXXXXX");
    assert_non_null(mkdtemp(fx_dir));
}

static inline void fx_rmdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx_dir);
    assert_int_equal(system(cmd), 0);
}

static inline sb_store *fx_open(uv_loop_t *loop, const sb_store_opts *o)
{
    sb_store *s = NULL;
    char err[SB_ERRMSG_SIZE];
    int rv = sb_store_open(&s, fx_dir, o, loop, err);
    if (rv)
        fail_msg("open: %s", err);
    return s;
}

static inline void fx_col(sb_column *c, const char *name, uint8_t type, sb_col_kind kind, int pos,
                          int desc)
{
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    c->type.id = type;
    c->kind = kind;
    c->position = pos;
    c->desc = desc;
}

/* sensors(sensor text, ts bigint [DESC], v double, s text static,
 *         m map<text, int>, PRIMARY KEY (sensor, ts)) */
static inline sb_table *fx_table(const char *ks, const char *name, int desc, int32_t gc_grace_s)
{
    sb_table *t = calloc(1, sizeof(*t));
    t->keyspace = strdup(ks);
    t->name = strdup(name);
    t->ncols = 5;
    t->cols = calloc(5, sizeof(sb_column));
    fx_col(&t->cols[0], "sensor", SB_TYPE_TEXT, SB_COL_PARTITION, 0, 0);
    fx_col(&t->cols[1], "ts", SB_TYPE_BIGINT, SB_COL_CLUSTERING, 0, desc);
    fx_col(&t->cols[2], "m", SB_TYPE_MAP, SB_COL_REGULAR, 0, 0);
    t->cols[2].type.a = SB_TYPE_TEXT;
    t->cols[2].type.b = SB_TYPE_INT;
    fx_col(&t->cols[3], "s", SB_TYPE_TEXT, SB_COL_STATIC, 0, 0);
    fx_col(&t->cols[4], "v", SB_TYPE_DOUBLE, SB_COL_REGULAR, 0, 0);
    t->npk = 1;
    t->nck = 1;
    t->compaction = SB_COMPACTION_LCS;
    t->gc_grace_s = gc_grace_s;
    return t;
}

static inline sb_keyspace *fx_keyspace(const char *name)
{
    sb_keyspace *k = calloc(1, sizeof(*k));
    k->name = strdup(name);
    k->replication_json = strdup("{\"class\":\"SimpleStrategy\",\"replication_factor\":\"1\"}");
    k->durable_writes = 1;
    return k;
}

/* Creates ks.t and returns the store's table. */
static inline const sb_table *fx_setup(sb_store *s, const char *ks, const char *name, int desc,
                                       int32_t gc_grace_s)
{
    char err[SB_ERRMSG_SIZE];
    if (!sb_schema_keyspace(sb_store_schema(s), ks))
        assert_int_equal(sb_store_create_keyspace(s, fx_keyspace(ks), err), 0);
    int rv = sb_store_create_table(s, fx_table(ks, name, desc, gc_grace_s), err);
    if (rv)
        fail_msg("create table: %s", err);
    const sb_table *t = sb_schema_table(sb_store_schema(s), ks, name);
    assert_non_null(t);
    return t;
}

static inline uint16_t fx_colid(const sb_table *t, const char *name)
{
    sb_column *c = sb_table_column(t, name);
    assert_non_null(c);
    return c->id;
}

/* Value storage for tests: a ring of small buffers. */
static uint8_t fx_vals[256][16];
static int fx_vi;

static inline sb_value fx_text(const char *s)
{
    return (sb_value){(const uint8_t *)s, (int32_t)strlen(s)};
}

static inline sb_value fx_bigint(int64_t v)
{
    uint8_t *p = fx_vals[fx_vi++ % 256];
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    return (sb_value){p, 8};
}

static inline sb_value fx_int(int32_t v)
{
    uint8_t *p = fx_vals[fx_vi++ % 256];
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)((uint32_t)v >> (24 - 8 * i));
    return (sb_value){p, 4};
}

static inline sb_value fx_double(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return fx_bigint((int64_t)u);
}

static inline int64_t fx_get_bigint(sb_value v)
{
    assert_int_equal(v.len, 8);
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | v.p[i];
    return (int64_t)u;
}

static inline double fx_get_double(sb_value v)
{
    int64_t i = fx_get_bigint(v);
    double d;
    memcpy(&d, &i, 8);
    return d;
}

static inline sb_cell fx_cell(uint16_t col, int64_t ts, int32_t ttl, sb_value v)
{
    sb_cell c = {.col = col, .ts_us = ts, .ttl_s = ttl, .elem = SB_VALUE_NULL, .value = v};
    if (v.len < 0)
        c.flags = SB_CELL_TOMBSTONE;
    return c;
}

/* Writes one row (sensor, ts) with v = val at write time wts. */
static inline void fx_put(sb_store *s, const sb_table *t, const char *sensor, int64_t ts,
                          double val, int64_t wts, int32_t ttl, int64_t now_s)
{
    char err[SB_ERRMSG_SIZE];
    sb_wbatch *b = sb_wbatch_new();
    sb_value pk = fx_text(sensor), ck = fx_bigint(ts);
    sb_cell c = fx_cell(fx_colid(t, "v"), wts, ttl, fx_double(val));
    int rv = sb_wbatch_upsert(b, t, &pk, &ck, wts, ttl, &c, 1, now_s, err);
    if (rv)
        fail_msg("upsert: %s", err);
    rv = sb_store_write_sync(s, b, err);
    if (rv)
        fail_msg("write: %s", err);
}

static inline void fx_write(sb_store *s, sb_wbatch *b)
{
    char err[SB_ERRMSG_SIZE];
    int rv = sb_store_write_sync(s, b, err);
    if (rv)
        fail_msg("write: %s", err);
}

/* Reads a partition (sensor != NULL) or the whole token range; returns
 * the number of rows and fills ts[] / v[] (v = NAN if absent). */
typedef struct fx_rows {
    int n;
    int64_t ts[1024];
    double v[1024];
    int64_t token[1024];
    char sensor[1024][32];
    int ncells[1024];
    int64_t liveness[1024];
} fx_rows;

static inline void fx_read(sb_store *s, const sb_table *t, const char *sensor,
                           const sb_bound *start, const sb_bound *end, int reversed, int64_t now_s,
                           fx_rows *out)
{
    char err[SB_ERRMSG_SIZE];
    sb_value pk = sensor ? fx_text(sensor) : SB_VALUE_NULL;
    sb_read r = {.t = t,
                 .pk = sensor ? &pk : NULL,
                 .tok_lo = INT64_MIN,
                 .tok_hi = INT64_MAX,
                 .tok_lo_inclusive = 1,
                 .reversed = reversed,
                 .now_s = now_s};
    if (start)
        r.start = *start;
    if (end)
        r.end = *end;
    sb_iter *it;
    int rv = sb_store_iter(s, &r, &it, err);
    if (rv)
        fail_msg("iter: %s", err);
    sb_row row;
    uint16_t vid = fx_colid(t, "v");
    out->n = 0;
    while ((rv = sb_iter_next(it, &row)) == 1) {
        assert_true(out->n < 1024);
        int i = out->n++;
        out->ts[i] = row.ck[0].len < 0 ? INT64_MIN : fx_get_bigint(row.ck[0]);
        out->v[i] = NAN;
        out->token[i] = row.token;
        out->ncells[i] = row.ncells;
        out->liveness[i] = row.liveness_ts;
        snprintf(out->sensor[i], 32, "%.*s", row.pk[0].len, (const char *)row.pk[0].p);
        for (int c = 0; c < row.ncells; c++)
            if (row.cells[c].col == vid)
                out->v[i] = fx_get_double(row.cells[c].value);
    }
    assert_int_equal(rv, 0);
    sb_iter_free(it);
}

#endif
