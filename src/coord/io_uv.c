/*
 * The production sb_io (cluster/io.h): libuv timers on the node's loop,
 * the TCP transport, the RocksDB store, the system clocks and a PRNG
 * seeded from the kernel.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "net/transport.h"
#include "coord/coord.h"
#include "util/alloc.h"
#include "util/err.h"

struct sb_io_timer {
    uv_timer_t h;
    sb_io_timer_cb cb;
    void *arg;
};

static int64_t io_now_us(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t io_mono_ms(void *ctx)
{
    return uv_hrtime() / 1000000;
}

static uint64_t io_random(void *ctx)
{
    sb_node_io *n = ctx;
    return sb_prng_next(&n->rng);
}

static int io_send(void *ctx, const sb_ep *to, int type, const uint8_t *p, size_t len)
{
    sb_node_io *n = ctx;
    if (!n->transport)
        return SB_ECLOSED;
    return sb_transport_send(n->transport, to, type, p, len);
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void timer_fired(uv_timer_t *h)
{
    sb_io_timer *t = h->data;
    sb_io_timer_cb cb = t->cb;
    void *arg = t->arg;
    uv_close((uv_handle_t *)&t->h, timer_closed);
    cb(arg);
}

static sb_io_timer *io_timer_start(void *ctx, uint64_t delay_ms, sb_io_timer_cb cb, void *arg)
{
    sb_node_io *n = ctx;
    sb_io_timer *t = sb_malloc(sizeof *t);
    if (!t)
        return NULL;
    t->cb = cb;
    t->arg = arg;
    uv_timer_init(n->loop, &t->h);
    t->h.data = t;
    uv_timer_start(&t->h, timer_fired, delay_ms, 0);
    return t;
}

static void io_timer_stop(void *ctx, sb_io_timer *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, timer_closed);
}

/* ---------------------------------------------------------------- store */

static int st_apply(void *ctx, const sb_raw_mut *m, size_t n, sb_write_cb cb, void *arg)
{
    sb_node_io *ni = ctx;
    char msg[SB_ERRMSG_SIZE];
    return sb_store_apply(ni->store, m, n, cb, arg, msg);
}

static int st_read(void *ctx, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more,
                   char *errmsg)
{
    sb_node_io *ni = ctx;
    return sb_store_raw_read(ni->store, q, emit, arg, more, errmsg);
}

static int st_truncate(void *ctx, const uint8_t id[16], char *errmsg)
{
    sb_node_io *ni = ctx;
    return sb_store_truncate_id(ni->store, id, errmsg);
}

static void kv_done_noop(void *arg, int status) {}

static int st_kv_put(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                     sb_write_cb cb, void *arg)
{
    sb_node_io *ni = ctx;
    sb_wbatch *b = sb_wbatch_new();
    if (!b)
        return SB_ENOMEM;
    int rc = sb_wbatch_kv_put(b, k, klen, v, vlen);
    if (rc != 0) {
        sb_wbatch_free(b);
        return rc;
    }
    return sb_store_write(ni->store, b, cb ? cb : kv_done_noop, arg);
}

static int st_kv_del(void *ctx, const uint8_t *k, size_t klen, sb_write_cb cb, void *arg)
{
    sb_node_io *ni = ctx;
    sb_wbatch *b = sb_wbatch_new();
    if (!b)
        return SB_ENOMEM;
    int rc = sb_wbatch_kv_del(b, k, klen);
    if (rc != 0) {
        sb_wbatch_free(b);
        return rc;
    }
    return sb_store_write(ni->store, b, cb ? cb : kv_done_noop, arg);
}

static int st_kv_scan(void *ctx, const uint8_t *prefix, size_t plen,
                      int (*emit)(void *, const uint8_t *, size_t, const uint8_t *, size_t),
                      void *arg)
{
    sb_node_io *ni = ctx;
    return sb_store_kv_scan(ni->store, prefix, plen, emit, arg);
}

static uint64_t st_load(void *ctx)
{
    sb_node_io *ni = ctx;
    return sb_store_load_bytes(ni->store);
}

static const sb_io_store store_ops = {
    .apply = st_apply,
    .read = st_read,
    .truncate = st_truncate,
    .kv_put = st_kv_put,
    .kv_del = st_kv_del,
    .kv_scan = st_kv_scan,
    .load_bytes = st_load,
};

void sb_node_io_init(sb_node_io *n, uv_loop_t *loop, sb_store *store,
                     struct sb_transport *transport)
{
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->store = store;
    n->transport = transport;
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = uv_hrtime();
    sb_prng_seed(&n->rng, seed);
    n->io.ctx = n;
    n->io.now_us = io_now_us;
    n->io.mono_ms = io_mono_ms;
    n->io.random = io_random;
    n->io.send = io_send;
    n->io.timer_start = io_timer_start;
    n->io.timer_stop = io_timer_stop;
    n->io.st = &store_ops;
    n->io.st_ctx = n;
}
