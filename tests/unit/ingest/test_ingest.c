/* Line-protocol ingestion against a real store in a temporary directory. */
#include "test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "util/err.h"

typedef struct fixture {
    char dir[64];
    sb_store *s;
    char err[SB_ERRMSG_SIZE];
} fixture;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/sibyl-ingest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    sb_store_opts o;
    sb_store_opts_default(&o);
    assert_int_equal(sb_store_open(&f->s, f->dir, &o, NULL, f->err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sb_store_close(f->s);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int write_lp(fixture *f, const char *bucket, const char *prec, const char *body)
{
    f->err[0] = 0;
    return sb_ingest_write(f->s, bucket, prec, body, strlen(body), NULL, NULL, f->err);
}

#define WRITE_OK(f, b, p, body)                                                                    \
    do {                                                                                           \
        int rv_ = write_lp((f), (b), (p), (body));                                                 \
        if (rv_ != 0)                                                                              \
            fail_msg("write failed: %d %s", rv_, (f)->err);                                        \
    } while (0)

static void expect_reject(fixture *f, const char *body, int code, const char *msg)
{
    int rv = write_lp(f, "telegraf", "ns", body);
    if (rv != code || !strstr(f->err, msg))
        fail_msg("body [%s]: got %d [%s], want %d [%s]", body, rv, f->err, code, msg);
}

static const sb_table *table(fixture *f, const char *ks, const char *name)
{
    return sb_schema_table(sb_store_schema(f->s), ks, name);
}

/* One row read back: text of pk, time, and the cells by column name. */
typedef struct row {
    char pk[4][64];
    int64_t time_ms;
    int ncells;
    char cells[16][128]; /* "name=value" rendered */
    int64_t cell_ts[16];
} row;

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static void render(const sb_column *c, sb_value v, char *out, size_t size)
{
    switch (c->type.id) {
    case SB_TYPE_DOUBLE: {
        uint64_t b = (uint64_t)be64(v.p);
        double d;
        memcpy(&d, &b, 8);
        snprintf(out, size, "%s=%g", c->name, d);
        break;
    }
    case SB_TYPE_BIGINT:
        snprintf(out, size, "%s=%lldi", c->name, (long long)be64(v.p));
        break;
    case SB_TYPE_BOOLEAN:
        snprintf(out, size, "%s=%s", c->name, v.p[0] ? "true" : "false");
        break;
    default:
        snprintf(out, size, "%s=\"%.*s\"", c->name, (int)v.len, (const char *)v.p);
    }
}

/* Reads every row of ks.name (all partitions) into rows; returns count. */
static int read_all(fixture *f, const char *ks, const char *name, row *rows, int max)
{
    const sb_table *t = table(f, ks, name);
    assert_non_null(t);
    sb_read rd = {.t = t,
                  .tok_lo = INT64_MIN,
                  .tok_hi = INT64_MAX,
                  .tok_lo_inclusive = 1,
                  .now_s = time(NULL)};
    sb_iter *it;
    assert_int_equal(sb_store_iter(f->s, &rd, &it, f->err), 0);
    sb_row r;
    int n = 0, rv;
    while ((rv = sb_iter_next(it, &r)) == 1) {
        if (n++ >= max)
            continue;
        row *o = &rows[n - 1];
        memset(o, 0, sizeof(*o));
        for (int i = 0; i < t->npk && i < 4; i++)
            snprintf(o->pk[i], sizeof o->pk[i], "%.*s", (int)r.pk[i].len, (const char *)r.pk[i].p);
        o->time_ms = be64(r.ck[0].p);
        for (int i = 0; i < r.ncells && i < 16; i++) {
            const sb_column *c = sb_table_column_by_id(t, r.cells[i].col);
            assert_non_null(c);
            render(c, r.cells[i].value, o->cells[o->ncells], sizeof o->cells[0]);
            o->cell_ts[o->ncells++] = r.cells[i].ts_us;
        }
    }
    assert_int_equal(rv, 0);
    sb_iter_free(it);
    return n;
}

static int has_cell(const row *r, const char *txt)
{
    for (int i = 0; i < r->ncells; i++)
        if (strcmp(r->cells[i], txt) == 0)
            return 1;
    return 0;
}

static void test_creates_keyspace_and_table(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "telegraf", "ns",
             "cpu,region=eu,host=a usage=1.5,n=3i,ok=true,msg=\"hi \\\"x\\\"\",c=7u "
             "1700000000123456789\n");
    const sb_keyspace *k = sb_schema_keyspace(sb_store_schema(f->s), "telegraf");
    assert_non_null(k);
    assert_non_null(strstr(k->replication_json, "SimpleStrategy"));
    assert_non_null(strstr(k->replication_json, "\"replication_factor\":\"1\""));
    const sb_table *t = table(f, "telegraf", "cpu");
    assert_non_null(t);
    assert_int_equal(t->npk, 2);
    assert_int_equal(t->nck, 1);
    /* tag keys sorted, as text */
    assert_string_equal(t->cols[0].name, "host");
    assert_string_equal(t->cols[1].name, "region");
    assert_int_equal(t->cols[0].type.id, SB_TYPE_TEXT);
    assert_string_equal(t->cols[2].name, "time");
    assert_int_equal(t->cols[2].type.id, SB_TYPE_TIMESTAMP);
    assert_int_equal(t->cols[2].kind, SB_COL_CLUSTERING);
    assert_int_equal(t->ncols, 8);
    assert_int_equal(sb_table_column(t, "usage")->type.id, SB_TYPE_DOUBLE);
    assert_int_equal(sb_table_column(t, "n")->type.id, SB_TYPE_BIGINT);
    assert_int_equal(sb_table_column(t, "c")->type.id, SB_TYPE_BIGINT);
    assert_int_equal(sb_table_column(t, "ok")->type.id, SB_TYPE_BOOLEAN);
    assert_int_equal(sb_table_column(t, "msg")->type.id, SB_TYPE_TEXT);

    row rows[4];
    assert_int_equal(read_all(f, "telegraf", "cpu", rows, 4), 1);
    assert_string_equal(rows[0].pk[0], "a");
    assert_string_equal(rows[0].pk[1], "eu");
    assert_int_equal(rows[0].time_ms, 1700000000123LL); /* ns truncated to ms */
    assert_int_equal(rows[0].ncells, 5);
    assert_true(has_cell(&rows[0], "usage=1.5"));
    assert_true(has_cell(&rows[0], "n=3i"));
    assert_true(has_cell(&rows[0], "c=7i"));
    assert_true(has_cell(&rows[0], "ok=true"));
    assert_true(has_cell(&rows[0], "msg=\"hi \"x\"\""));
    /* the write timestamp is the receipt time, not the point's time */
    int64_t now_us = (int64_t)time(NULL) * 1000000;
    assert_true(rows[0].cell_ts[0] > now_us - 60000000 && rows[0].cell_ts[0] <= now_us + 1000000);

    sb_ingest_stats st;
    sb_ingest_get_stats(&st);
    assert_true(st.points >= 1);
    assert_true(st.requests >= 1);
}

static void test_new_fields_add_columns(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "telegraf", "s", "mem,host=a,dc=x used=10i 100\n");
    const sb_table *t = table(f, "telegraf", "mem");
    assert_int_equal(t->ncols, 4);
    WRITE_OK(f, "telegraf", "s",
             "mem,host=b,dc=x used=11i,free=5i,pct=0.5 101\nmem,dc=y total=99i 102\n");
    t = table(f, "telegraf", "mem");
    assert_int_equal(t->ncols, 7);
    assert_int_equal(sb_table_column(t, "free")->type.id, SB_TYPE_BIGINT);
    assert_int_equal(sb_table_column(t, "pct")->type.id, SB_TYPE_DOUBLE);
    assert_int_equal(sb_table_column(t, "total")->type.id, SB_TYPE_BIGINT);
    /* regular columns stay sorted by name */
    assert_string_equal(t->cols[0].name, "dc");
    assert_string_equal(t->cols[1].name, "host");
    assert_string_equal(t->cols[2].name, "time");
    assert_string_equal(t->cols[3].name, "free");
    assert_string_equal(t->cols[6].name, "used");
    row rows[8];
    int n = read_all(f, "telegraf", "mem", rows, 8);
    assert_int_equal(n, 3);
    int seen_missing_tag = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].time_ms == 102000) {
            /* a missing tag is stored as '' */
            assert_string_equal(rows[i].pk[0], "y");
            assert_string_equal(rows[i].pk[1], "");
            assert_true(has_cell(&rows[i], "total=99i"));
            seen_missing_tag = 1;
        }
        if (rows[i].time_ms == 101000) {
            assert_string_equal(rows[i].pk[1], "b");
            assert_int_equal(rows[i].ncells, 3);
        }
    }
    assert_true(seen_missing_tag);
    /* ... but a single-column partition key cannot be empty */
    WRITE_OK(f, "telegraf", "s", "swap,host=a used=1i 100\n");
    expect_reject(f, "swap,host=a used=1i\nswap used=2i\n", SB_EINVALID,
                  "line 2: point of measurement \"swap\" has no tag \"host\"");
    expect_reject(f, "disk free=2i\ndisk,path=/ free=1i\n", SB_EINVALID,
                  "line 1: point of measurement \"disk\" has no tag \"path\"");
    assert_null(table(f, "telegraf", "disk"));
}

static void test_type_conflict_writes_nothing(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "telegraf", "ns", "cpu,host=a usage=1 1000000000\n");
    /* conflict between lines of one request: nothing of it is written, not
     * even the good first line or the new table of line 1 */
    expect_reject(f,
                  "disk,host=a free=1i 2000000000\ncpu,host=b load=2 2000000000\ncpu,host=c "
                  "load=3i 2000000000\n",
                  SB_EINVALID,
                  "line 3: field type conflict: field \"load\" of measurement \"cpu\" is integer "
                  "here but float in line 2");
    assert_null(table(f, "telegraf", "disk"));
    row rows[4];
    assert_int_equal(read_all(f, "telegraf", "cpu", rows, 4), 1);
    /* conflict with the existing column */
    expect_reject(f, "cpu,host=a usage=\"high\"", SB_EINVALID,
                  "line 1: field type conflict: field \"usage\" of measurement \"cpu\" is string, "
                  "but column telegraf.cpu.usage has type double");
    /* a new field with a bad line later: no ALTER happened */
    expect_reject(f, "cpu,host=a usage=1,extra=1i\ncpu v=", SB_ESYNTAX,
                  "line 2: missing field value");
    assert_null(sb_table_column(table(f, "telegraf", "cpu"), "extra"));
    assert_int_equal(read_all(f, "telegraf", "cpu", rows, 4), 1);
    /* integer and unsigned share bigint */
    WRITE_OK(f, "telegraf", "ns", "cpu,host=a count=1i\ncpu,host=a count=2u\n");
    expect_reject(f, "cpu,host=a count=18446744073709551615u", SB_EINVALID,
                  "line 1: unsigned value 18446744073709551615 of field \"count\" does not fit");
}

static void test_tag_mismatch_rejected(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "telegraf", "ns", "net,host=a,iface=eth0 rx=1i\n");
    expect_reject(f, "net,host=a rx=2i\nnet,host=a,dc=x rx=3i\n", SB_EINVALID,
                  "line 2: tag key \"dc\" is not in the partition key of table telegraf.net "
                  "(host, iface); a partition key cannot be altered");
    expect_reject(f, "net,host=a,host=b rx=2i", SB_EINVALID, "line 1: duplicate tag key \"host\"");
    /* a field named like a tag */
    expect_reject(f, "net,host=a host=1i", SB_EINVALID,
                  "line 1: field key \"host\" of measurement \"net\" is also used as a tag");
    expect_reject(f, "net,host=a rx=1i\nnet iface=\"x\"", SB_EINVALID,
                  "line 2: field \"iface\" of measurement \"net\" has the name of a tag key");
    /* the time column */
    expect_reject(f, "x time=1", SB_EINVALID, "line 1: field key \"time\" is not allowed");
    expect_reject(f, "x,time=a v=1", SB_EINVALID, "line 1: tag key \"time\" is not allowed");
    /* a field named like an existing tag column, in a later request */
    WRITE_OK(f, "telegraf", "ns", "m2,t=a,u=b v=1");
    expect_reject(f, "m2,u=b t=1", SB_EINVALID,
                  "line 1: field \"t\" of measurement \"m2\" has the name of a tag key");
}

static void test_no_tags_and_quoted_names(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "telegraf", "ms", "uptime v=1i 5\nuptime v=2i 6\n");
    const sb_table *t = table(f, "telegraf", "uptime");
    assert_int_equal(t->npk, 1);
    assert_string_equal(t->cols[0].name, "series");
    row rows[4];
    assert_int_equal(read_all(f, "telegraf", "uptime", rows, 4), 2);
    assert_string_equal(rows[0].pk[0], "uptime"); /* the measurement name */
    assert_int_equal(rows[0].time_ms, 5);
    /* a tag on a tagless table is a partition key change */
    expect_reject(f, "uptime,host=a v=1i", SB_EINVALID, "not in the partition key");
    /* a field named series on a new tagless table */
    expect_reject(f, "uptime2 series=1", SB_EINVALID,
                  "line 1: field \"series\" of measurement \"uptime2\" collides");
    /* names are stored exactly as given, escapes removed */
    WRITE_OK(f, "telegraf", "ns", "Weather,Station\\ Id=X\\,1 Temp\\=C=21.5,\"q\"=1i\n");
    t = table(f, "telegraf", "Weather");
    assert_non_null(t);
    assert_string_equal(t->cols[0].name, "Station Id");
    assert_non_null(sb_table_column(t, "Temp=C"));
    assert_non_null(sb_table_column(t, "\"q\""));
    assert_int_equal(read_all(f, "telegraf", "Weather", rows, 4), 1);
    assert_string_equal(rows[0].pk[0], "X,1");
    /* measurements must be valid table names */
    expect_reject(f, "a.b v=1", SB_EINVALID, "line 1: measurement \"a.b\" cannot be a table name");
}

static void test_precision_and_time(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "p", "s", "t,k=s v=1 1700000000\n");
    WRITE_OK(f, "p", "ms", "t,k=ms v=1 1700000000001\n");
    WRITE_OK(f, "p", "us", "t,k=us v=1 1700000000002999\n");
    WRITE_OK(f, "p", NULL, "t,k=ns v=1 1700000000003999999\n");
    WRITE_OK(f, "p", "ns", "t,k=neg v=1 -1\n");
    WRITE_OK(f, "p", "ns", "t,k=now v=1\n");
    row rows[8];
    int n = read_all(f, "p", "t", rows, 8);
    assert_int_equal(n, 6);
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    for (int i = 0; i < n; i++) {
        const char *k = rows[i].pk[0];
        int64_t t = rows[i].time_ms;
        if (!strcmp(k, "s"))
            assert_int_equal(t, 1700000000000LL);
        else if (!strcmp(k, "ms"))
            assert_int_equal(t, 1700000000001LL);
        else if (!strcmp(k, "us"))
            assert_int_equal(t, 1700000000002LL);
        else if (!strcmp(k, "ns"))
            assert_int_equal(t, 1700000000003LL);
        else if (!strcmp(k, "neg"))
            assert_int_equal(t, -1); /* floor, not toward zero */
        else if (!strcmp(k, "now"))
            assert_true(t > now_ms - 60000 && t < now_ms + 60000);
        else
            fail_msg("unexpected key %s", k);
    }
    assert_int_equal(write_lp(f, "p", "h", "t v=1"), SB_EINVALID);
    assert_string_equal(f->err, "invalid precision \"h\": must be ns, us, ms or s");
    assert_int_equal(write_lp(f, "p", "s", "t,k=x v=1 9223372036854776"), SB_EINVALID);
    assert_non_null(strstr(f->err, "line 1: timestamp 9223372036854776 is out of range"));
}

static void test_same_point_last_wins(void **state)
{
    fixture *f = *state;
    /* same series and millisecond twice in one request: the last line wins,
     * even though its value is the smaller one */
    WRITE_OK(f, "telegraf", "ns",
             "sw,b=2,a=1 v=9,w=\"z\" 5000001\nsw,a=1,b=2 v=1,w=\"a\" 5000002\n");
    row rows[4];
    assert_int_equal(read_all(f, "telegraf", "sw", rows, 4), 1);
    assert_true(has_cell(&rows[0], "v=1"));
    assert_true(has_cell(&rows[0], "w=\"a\""));
    /* a later request overwrites it */
    WRITE_OK(f, "telegraf", "ns", "sw,a=1,b=2 v=0.5 5000000\n");
    assert_int_equal(read_all(f, "telegraf", "sw", rows, 4), 1);
    assert_true(has_cell(&rows[0], "v=0.5"));
    assert_true(has_cell(&rows[0], "w=\"a\""));
    /* a repeated field in one line: the last one wins */
    WRITE_OK(f, "telegraf", "ns", "sw,a=1,b=2 v=7,v=3 5000000\n");
    assert_int_equal(read_all(f, "telegraf", "sw", rows, 4), 1);
    assert_true(has_cell(&rows[0], "v=3"));
}

static void test_bad_requests(void **state)
{
    fixture *f = *state;
    assert_int_equal(write_lp(f, "", "ns", "m v=1"), SB_EINVALID);
    assert_non_null(strstr(f->err, "missing bucket"));
    assert_int_equal(write_lp(f, "my-bucket", "ns", "m v=1"), SB_EINVALID);
    assert_non_null(strstr(f->err, "invalid bucket \"my-bucket\""));
    assert_int_equal(write_lp(f, "system_schema", "ns", "m v=1"), SB_EINVALID);
    assert_non_null(strstr(f->err, "system keyspace"));
    assert_int_equal(write_lp(f, "b", "ns", "# only a comment\n\n"), SB_EINVALID);
    assert_string_equal(f->err, "no points in request body");
    assert_int_equal(write_lp(f, "b", "ns", "m v=1\nm v=2\nm,x v=3\n"), SB_ESYNTAX);
    assert_string_equal(f->err, "line 3: missing tag value (column 4)");
    /* nothing of it: not even the keyspace */
    assert_null(sb_schema_keyspace(sb_store_schema(f->s), "b"));
    sb_ingest_stats st;
    sb_ingest_get_stats(&st);
    assert_true(st.rejected_requests >= 5);
}

static void test_foreign_table_rejected(void **state)
{
    fixture *f = *state;
    WRITE_OK(f, "ks", "ns", "seed v=1");
    /* a table not made for line protocol: int partition key, no time */
    sb_table *t = calloc(1, sizeof(*t));
    t->keyspace = strdup("ks");
    t->name = strdup("other");
    t->compaction_json = strdup("{\"class\":\"SizeTieredCompactionStrategy\"}");
    t->comment = strdup("");
    t->gc_grace_s = 864000;
    t->cols = calloc(2, sizeof(sb_column));
    t->cols[0] =
        (sb_column){.name = strdup("id"), .type = {SB_TYPE_INT, 0, 0, 0}, .kind = SB_COL_PARTITION};
    t->cols[1] =
        (sb_column){.name = strdup("v"), .type = {SB_TYPE_DOUBLE, 0, 0, 0}, .kind = SB_COL_REGULAR};
    t->ncols = 2;
    t->npk = 1;
    assert_int_equal(sb_store_create_table(f->s, t, f->err), 0);
    assert_int_equal(write_lp(f, "ks", "ns", "other v=1"), SB_EINVALID);
    assert_non_null(strstr(f->err, "line 1: table ks.other exists but is not a line-protocol"));
}

static void test_many_points(void **state)
{
    fixture *f = *state;
    sb_buf b;
    sb_buf_init(&b);
    int n = 100000;
    for (int i = 0; i < n; i++)
        assert_int_equal(sb_buf_printf(&b,
                                       "cpu,cpu=cpu%d,host=h%d usage_user=%d.5,usage_system=0.%d,"
                                       "usage_idle=97.1,n=%di %d000000000\n",
                                       i % 4, i % 25, i, i, i, 1700000000 + i / 100),
                         0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rv = sb_ingest_write(f->s, "bulk", "ns", (const char *)b.data, b.len, NULL, NULL, f->err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rv)
        fail_msg("%s", f->err);
    double first = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* again, now the table exists: the direct path */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rv = sb_ingest_write(f->s, "bulk", "ns", (const char *)b.data, b.len, NULL, NULL, f->err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rv)
        fail_msg("%s", f->err);
    double second = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ingest (asan build): %d points: first write %.0f points/s, steady %.0f points/s\n", n,
           n / first, n / second);
    static row rows[1];
    /* rows: 100 distinct seconds x (4 cpus x 25 hosts -> 100 series) but
     * i%4 and i%25 pair up: 100 series, each point its own (series, ms) */
    int cnt = read_all(f, "bulk", "cpu", rows, 1);
    assert_int_equal(cnt, n);
    sb_buf_free(&b);
}

static void on_written(void *arg, int status)
{
    int *done = arg;
    *done = status == 0 ? 1 : status;
}

static void test_async_write_with_loop(void **state)
{
    char dir[] = "/tmp/sibyl-ingest-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    sb_store *s;
    sb_store_opts o;
    sb_store_opts_default(&o);
    o.sync_mode = SB_SYNC_GROUP;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_store_open(&s, dir, &o, &loop, err), 0);
    int done = 0;
    const char *body = "cpu,host=a v=1 1000000\ncpu,host=b v=2 1000000\n";
    assert_int_equal(sb_ingest_write(s, "async", "ns", body, strlen(body), on_written, &done, err),
                     0);
    for (int i = 0; i < 1000 && !done; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(done, 1);
    /* a rejected request never calls back */
    done = 0;
    assert_int_equal(
        sb_ingest_write(s, "async", "ns", "cpu,host=a v=\"x\"", 16, on_written, &done, err),
        SB_EINVALID);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(done, 0);
    fixture f = {.s = s};
    row rows[4];
    assert_int_equal(read_all(&f, "async", "cpu", rows, 4), 2);
    sb_store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_creates_keyspace_and_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_fields_add_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_conflict_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tag_mismatch_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_tags_and_quoted_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precision_and_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_point_last_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_table_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_points, setup, teardown),
        cmocka_unit_test(test_async_write_with_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
