/*
 * Range streaming (stream/stream.h) in the simulated world: node 0 holds
 * a few thousand rows (live cells, TTL'd cells, row tombstones); node 1
 * pulls two ranges (one wrapping) over a network that loses, duplicates
 * and reorders messages. Mid-stream the source crashes: the session fails
 * with a timeout naming the source; the source restarts and a second
 * session resumes from the destination's records instead of starting
 * over. Afterwards node 1 holds, for every key in the ranges, exactly the
 * source's value merged with what node 1 had (last write wins), and
 * nothing outside them.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/rpc.h"
#include "dsim/fixture.h"
#include "dsim/memstore.h"
#include "storage/rowcodec.h"
#include "stream/stream.h"
#include "util/err.h"

#define MS SB_FIXTURE_MS
#define SEC SB_FIXTURE_SEC
#define NROWS 3000

static const uint8_t TABLE[16] = {0x5b, 0x5b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

typedef struct proc {
    sb_rpc *rpc;
    sb_stream *stream;
} proc;

static void proc_receive(void *obj, int type, const uint8_t *payload, size_t len)
{
    proc *p = obj;
    if (type == SB_MSG_RESPONSE)
        sb_rpc_receive_response(p->rpc, payload, len);
    else
        sb_stream_receive(p->stream, type, payload, len);
}

static void proc_free(void *obj)
{
    proc *p = obj;
    sb_stream_free(p->stream);
    sb_rpc_free(p->rpc);
    free(p);
}

static const sb_fixture_proc OPS = {proc_receive, NULL, proc_free};

static proc *boot_with(sb_fixture *f, int node, const sb_stream_opts *o)
{
    const sb_io *io = sb_fixture_boot(f, node);
    assert_non_null(io);
    proc *p = calloc(1, sizeof(*p));
    sb_ep self = sb_fixture_ep(node);
    p->rpc = sb_rpc_new(io, &self);
    p->stream = sb_stream_new(io, p->rpc, &self, o);
    assert_true(p->rpc && p->stream);
    sb_fixture_attach(f, node, &OPS, p);
    return p;
}

static void test_opts(sb_stream_opts *o)
{
    sb_stream_opts_default(o);
    o->chunk_rows = 64; /* many chunks for few rows */
    o->timeout_ms = 200;
    o->retries = 6;
    o->window = 3;
}

static proc *boot(sb_fixture *f, int node)
{
    sb_stream_opts o;
    test_opts(&o);
    return boot_with(f, node, &o);
}

/* Bytes of each live cell's value (the throttle test raises it). */
static int32_t value_len = 8;

/* Row i's value: live, expiring (TTL) or a row tombstone, at ts. */
static void value(sb_buf *out, int i, int64_t ts)
{
    rc_frag fr;
    rc_frag_init(&fr);
    uint8_t v[1024] = {0};
    v[0] = (uint8_t)(i >> 24);
    v[1] = (uint8_t)(i >> 16);
    v[2] = (uint8_t)(i >> 8);
    v[3] = (uint8_t)i;
    if (i % 5 == 0) {
        fr.has_del = 1;
        fr.del_ts = ts;
        fr.del_ldt = 1700000000;
    } else {
        fr.has_live = 1;
        fr.live_ts = ts;
        rc_cell c = {.col = 1, .kind = RC_LIVE, .ts = ts, .elen = -1, .val = v, .vlen = value_len};
        if (i % 3 == 0) {
            c.kind = RC_EXPIRING;
            c.ttl = 3600;
            c.ldt = 1700003600;
        }
        assert_int_equal(rc_frag_add_cell(&fr, &c), 0);
    }
    sb_buf_reset(out);
    assert_int_equal(rc_encode(&fr, out), 0);
    rc_frag_free(&fr);
}

static void put(dsim_store *st, int i, int64_t ts)
{
    sb_buf k, v;
    sb_buf_init(&k);
    sb_buf_init(&v);
    assert_int_equal(sb_fixture_kv_rowkey(&k, i), 0);
    value(&v, i, ts);
    assert_int_equal(dsim_store_merge(st, TABLE, k.data, k.len, v.data, v.len), 0);
    sb_buf_free(&k);
    sb_buf_free(&v);
}

typedef struct outcome {
    int calls, status;
    char errmsg[SB_ERRMSG_SIZE];
} outcome;

static void on_done(void *arg, uint64_t id, int status, const char *errmsg)
{
    outcome *o = arg;
    o->calls++;
    o->status = status;
    snprintf(o->errmsg, sizeof o->errmsg, "%s", errmsg);
}

static int finished(sb_fixture *f, void *arg)
{
    (void)f;
    return ((outcome *)arg)->calls > 0;
}

static const sb_stream_range RANGES[2] = {
    {INT64_MIN / 2, INT64_MAX / 4}, {INT64_MAX / 2, INT64_MIN + INT64_MAX / 4}, /* wraps */
};

static int in_ranges(int64_t t)
{
    return (t > RANGES[0].start && t <= RANGES[0].end) || t > RANGES[1].start || t <= RANGES[1].end;
}

static int rows_received(sb_fixture *f, void *arg)
{
    proc *p = sb_fixture_proc_obj(f, 1);
    sb_stream_stats st;
    sb_stream_get_stats(p->stream, &st);
    return st.rows_received >= *(uint64_t *)arg;
}

static void test_stream_with_loss_and_source_crash(void **state)
{
    (void)state;
    dsim_net net = {.loss = 0.05, .dup = 0.05, .delay_min_us = 100, .delay_max_us = 5000};
    sb_fixture *f = sb_fixture_new(7, 2, &net, NULL);
    assert_non_null(f);
    dsim_store *src = sb_fixture_store(f, 0), *dst = sb_fixture_store(f, 1);
    assert_int_equal(dsim_store_add_table(src, TABLE), 0);
    assert_int_equal(dsim_store_add_table(dst, TABLE), 0);
    for (int i = 0; i < NROWS; i++)
        put(src, i, 1000 + i);
    /* The destination already has newer writes of some keys, older of others. */
    for (int i = 0; i < NROWS; i += 97)
        put(dst, i + 1, i % 2 ? 5000000 : 10);
    size_t dst_before = dsim_store_count(dst, TABLE);
    boot(f, 0);
    proc *d = boot(f, 1);
    sb_ep src_ep = sb_fixture_ep(0);

    outcome o1 = {0};
    char errmsg[SB_ERRMSG_SIZE];
    assert_int_equal(
        sb_stream_start(d->stream, &src_ep, RANGES, 2, &TABLE, 1, on_done, &o1, NULL, errmsg), 0);
    /* Crash the source a third of the way through. */
    uint64_t third = NROWS / 3;
    assert_true(sb_fixture_step_until(f, rows_received, &third, 60 * SEC));
    sb_fixture_crash(f, 0);
    assert_true(sb_fixture_step_until(f, finished, &o1, 60 * SEC));
    assert_int_equal(o1.calls, 1);
    assert_int_equal(o1.status, SB_ETIMEOUT);
    assert_non_null(strstr(o1.errmsg, "127.0.0.1:7000"));
    sb_stream_stats st;
    sb_stream_get_stats(d->stream, &st);
    assert_int_equal(st.sessions_failed, 1);
    uint64_t rows_first = st.rows_received;

    /* The source comes back; a new session resumes. */
    boot(f, 0);
    outcome o2 = {0};
    uint64_t id2 = 0;
    assert_int_equal(
        sb_stream_start(d->stream, &src_ep, RANGES, 2, &TABLE, 1, on_done, &o2, &id2, errmsg), 0);
    assert_true(sb_fixture_step_until(f, finished, &o2, 120 * SEC));
    assert_int_equal(o2.status, 0);
    sb_stream_info info;
    assert_int_equal(sb_stream_session(d->stream, sb_stream_nsessions(d->stream) - 1, &info), 0);
    assert_int_equal(info.id, id2);
    assert_int_equal(info.state, SB_STREAM_DONE);
    assert_int_equal(info.parts_done, info.parts);
    assert_true(info.resumed_parts > 0);
    sb_stream_get_stats(d->stream, &st);
    assert_int_equal(st.sessions_completed, 1);

    /* Compare: every source key in the ranges, merged with what the
     * destination had; nothing else arrived. */
    size_t in = 0;
    sb_buf merged;
    sb_buf_init(&merged);
    for (size_t i = 0; i < dsim_store_count(src, TABLE); i++) {
        sb_raw se, de;
        assert_int_equal(dsim_store_entry(src, TABLE, i, &se), 0);
        int64_t t = sb_raw_token(se.key, se.klen);
        int has = dsim_store_get(dst, TABLE, se.key, se.klen, &de);
        if (!in_ranges(t))
            continue;
        in++;
        assert_int_equal(has, 1);
        /* the destination's own older/newer value merged in: recompute */
        assert_int_equal(sb_frag_merge(se.val, se.vlen, de.val, de.vlen, &merged), 0);
        assert_int_equal(merged.len, de.vlen);
        assert_memory_equal(merged.data, de.val, de.vlen);
    }
    assert_true(in > NROWS / 3 && in < NROWS);
    size_t pre_in = 0;
    for (size_t i = 0; i < dsim_store_count(dst, TABLE); i++) {
        sb_raw de;
        dsim_store_entry(dst, TABLE, i, &de);
        pre_in += in_ranges(sb_raw_token(de.key, de.klen));
    }
    assert_int_equal(pre_in, in);
    assert_true(dsim_store_count(dst, TABLE) <= in + dst_before);
    /* The second session did not start over. */
    assert_true(st.rows_received - rows_first < in);
    /* Finished sessions leave no resume records behind. */
    assert_int_equal(dsim_store_kv_count(dst), 0);
    sb_buf_free(&merged);
    sb_fixture_free(f);
}

/* Two nodes, the table on both, NROWS rows on node 0; node 1 runs with o. */
static sb_fixture *two_nodes(const sb_stream_opts *o, proc **dst)
{
    sb_fixture *f = sb_fixture_new(11, 2, NULL, NULL);
    assert_non_null(f);
    assert_int_equal(dsim_store_add_table(sb_fixture_store(f, 0), TABLE), 0);
    assert_int_equal(dsim_store_add_table(sb_fixture_store(f, 1), TABLE), 0);
    for (int i = 0; i < NROWS; i++)
        put(sb_fixture_store(f, 0), i, 1000 + i);
    boot(f, 0);
    *dst = boot_with(f, 1, o);
    return f;
}

/* Virtual microseconds a whole-ring stream takes; *bytes gets its size. */
static uint64_t timed_stream(uint32_t mb_per_sec, uint64_t *bytes)
{
    sb_stream_opts o;
    test_opts(&o);
    o.chunk_bytes = 64u << 10;
    o.chunk_rows = 4096;
    o.throughput_mb_per_sec = mb_per_sec;
    proc *d;
    sb_fixture *f = two_nodes(&o, &d);
    sb_stream_range whole = {INT64_MIN, INT64_MIN};
    outcome out = {0};
    char errmsg[SB_ERRMSG_SIZE];
    sb_ep src = sb_fixture_ep(0);
    uint64_t t0 = sb_fixture_now_us(f);
    assert_int_equal(
        sb_stream_start(d->stream, &src, &whole, 1, &TABLE, 1, on_done, &out, NULL, errmsg), 0);
    assert_true(sb_fixture_step_until(f, finished, &out, 600 * SEC));
    assert_int_equal(out.status, 0);
    uint64_t took = sb_fixture_now_us(f) - t0;
    sb_stream_stats st;
    sb_stream_get_stats(d->stream, &st);
    assert_int_equal(st.rows_received, NROWS);
    assert_int_equal(dsim_store_count(sb_fixture_store(f, 1), TABLE), NROWS);
    *bytes = st.bytes_received;
    sb_fixture_free(f);
    return took;
}

/* With a throttle the session takes at least bytes / rate (less one
 * chunk of credit); without one it is far quicker. */
static void test_throttle(void **state)
{
    (void)state;
    uint64_t bytes, fast_bytes;
    value_len = 1000; /* about 3 MB */
    uint64_t slow_us = timed_stream(1, &bytes);
    uint64_t fast_us = timed_stream(0, &fast_bytes);
    value_len = 8;
    assert_int_equal(bytes, fast_bytes);
    assert_true(bytes > 2000000);
    uint64_t floor_us = (bytes - (64u << 10)) * 1000000ull / 1048576ull;
    assert_true(slow_us >= floor_us);
    print_message("throttle: %llu bytes in %llu us at 1 MB/s, %llu us unthrottled\n",
                  (unsigned long long)bytes, (unsigned long long)slow_us,
                  (unsigned long long)fast_us);
    assert_true(fast_us * 3 < slow_us);
}

/* A table the source does not have fails the session at once (no
 * retries) with SB_ENOTFOUND; the callback never runs inside start; an
 * empty range completes. */
static void test_unknown_table_and_empty_range(void **state)
{
    (void)state;
    sb_stream_opts o;
    test_opts(&o);
    proc *d;
    sb_fixture *f = two_nodes(&o, &d);
    static const uint8_t other[16] = {0xee};
    assert_int_equal(dsim_store_add_table(sb_fixture_store(f, 1), other), 0);
    sb_ep src = sb_fixture_ep(0);
    sb_stream_range all = {INT64_MIN, INT64_MIN};
    outcome o1 = {0}, o2 = {0};
    char errmsg[SB_ERRMSG_SIZE];
    assert_int_equal(
        sb_stream_start(d->stream, &src, &all, 1, &other, 1, on_done, &o1, NULL, errmsg), 0);
    assert_int_equal(o1.calls, 0);
    assert_true(sb_fixture_step_until(f, finished, &o1, 10 * SEC));
    assert_int_equal(o1.status, SB_ENOTFOUND);
    assert_non_null(strstr(o1.errmsg, "no such table"));
    sb_stream_stats st;
    sb_stream_get_stats(d->stream, &st);
    assert_int_equal(st.retries, 0);
    /* (0, 1]: almost surely no key has a token in it */
    sb_stream_range tiny = {0, 1};
    assert_int_equal(
        sb_stream_start(d->stream, &src, &tiny, 1, &TABLE, 1, on_done, &o2, NULL, errmsg), 0);
    assert_int_equal(o2.calls, 0);
    assert_true(sb_fixture_step_until(f, finished, &o2, 10 * SEC));
    assert_int_equal(o2.status, 0);
    /* no tables at all is refused up front */
    assert_int_equal(
        sb_stream_start(d->stream, &src, &tiny, 1, NULL, 0, on_done, &o2, NULL, errmsg), SB_EINVAL);
    sb_fixture_run_for(f, SEC);
    assert_int_equal(o2.calls, 1);
    sb_fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_with_loss_and_source_crash),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_unknown_table_and_empty_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
