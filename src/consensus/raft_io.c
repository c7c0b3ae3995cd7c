/*
 * struct raft_io over sb_io (raft_io.h has the design notes and the
 * invariants).
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/raft_io.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define KEY_META "raft/m"
#define KEY_SNAP "raft/s"
#define KEY_LOG "raft/l/"
#define KEY_LOG_LEN 7

/* A message held until the kv writes issued before it are durable. */
typedef struct held {
    struct held *next;
    uint64_t need;
    sb_ep to;
    size_t len;
    uint8_t data[];
} held;

/* An append or snapshot put waiting for its writes' acknowledgements. */
typedef struct pending {
    struct pending *next;
    uint64_t need;
    struct raft_io_append *append;
    struct raft_io_snapshot_put *put;
} pending;

/* A callback to run from the flush timer. */
typedef struct done {
    struct done *next;
    struct raft_io_send *send;
    struct raft_io_snapshot_get *get;
    struct raft_snapshot *snapshot;
    int status;
} done;

typedef struct impl {
    struct raft_io *rio;
    sb_io io;
    sb_ep self;
    raft_id id;
    unsigned tick_ms;
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;
    sb_io_timer *tick_timer;
    sb_io_timer *flush_timer;
    uint64_t issued, acked;
    int ack_error; /* an acknowledgement failed since all were last in */
    held *hh, *ht;
    pending *ph, *pt;
    done *dh, *dt;
    raft_term term;
    raft_id vote;
    raft_index last;    /* highest entry index stored (0: none) */
    raft_index first;   /* lowest entry index stored (last + 1: none) */
    int closed;
    sb_buf scratch;
    sb_raft_io_stats st;
} impl;

raft_id sb_raft_id_of(const sb_ep *ep)
{
    if (ep->family == 4) {
        uint64_t ip = (uint64_t)ep->ip[0] << 24 | (uint64_t)ep->ip[1] << 16 |
                      (uint64_t)ep->ip[2] << 8 | ep->ip[3];
        return ip << 16 | ep->port | (uint64_t)1 << 48;
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a over address and port */
    for (int i = 0; i < 16; i++)
        h = (h ^ ep->ip[i]) * 1099511628211ull;
    h = (h ^ ep->port) * 1099511628211ull;
    return h ? h : 1;
}

/* ------------------------------------------------------------- kv writes */

static void log_key(uint8_t k[KEY_LOG_LEN + 8], raft_index index)
{
    memcpy(k, KEY_LOG, KEY_LOG_LEN);
    for (int i = 0; i < 8; i++)
        k[KEY_LOG_LEN + i] = (uint8_t)(index >> (56 - 8 * i));
}

static void progress(impl *s);

static void on_ack(void *arg, int status)
{
    impl *s = arg;
    s->acked++;
    SB_ASSERT(s->acked <= s->issued);
    if (status) {
        s->ack_error = status;
        s->st.write_errors++;
    }
    progress(s);
}

static int kv_put(impl *s, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    int rc = s->io.st->kv_put(s->io.st_ctx, k, klen, v, vlen, on_ack, s);
    if (rc == 0)
        s->issued++;
    else
        s->st.write_errors++;
    return rc;
}

static int kv_del(impl *s, const uint8_t *k, size_t klen)
{
    int rc = s->io.st->kv_del(s->io.st_ctx, k, klen, on_ack, s);
    if (rc == 0)
        s->issued++;
    else
        s->st.write_errors++;
    return rc;
}

static int put_meta(impl *s)
{
    uint8_t v[16];
    for (int i = 0; i < 8; i++) {
        v[i] = (uint8_t)(s->term >> (56 - 8 * i));
        v[8 + i] = (uint8_t)(s->vote >> (56 - 8 * i));
    }
    return kv_put(s, (const uint8_t *)KEY_META, strlen(KEY_META), v, sizeof v);
}

static int put_entry(impl *s, raft_index index, const struct raft_entry *e)
{
    uint8_t k[KEY_LOG_LEN + 8];
    log_key(k, index);
    sb_buf_reset(&s->scratch);
    int rc = sb_wire_put_u64(&s->scratch, e->term);
    rc = rc ? rc : sb_wire_put_u8(&s->scratch, (uint8_t)e->type);
    rc = rc ? rc : sb_wire_put_bytes(&s->scratch, e->buf.base, e->buf.len);
    rc = rc ? rc : kv_put(s, k, sizeof k, s->scratch.data, s->scratch.len);
    if (rc == 0)
        s->st.entries_written++;
    return rc;
}

static int del_entries(impl *s, raft_index from, raft_index to)
{
    for (raft_index i = from; i <= to && i != 0; i++) {
        uint8_t k[KEY_LOG_LEN + 8];
        log_key(k, i);
        int rc = kv_del(s, k, sizeof k);
        if (rc)
            return rc;
        s->st.entries_deleted++;
    }
    return 0;
}

/* ---------------------------------------------------- completions, sends */

static void on_flush(void *arg);

static void schedule_flush(impl *s)
{
    if (!s->flush_timer && !s->closed)
        s->flush_timer = s->io.timer_start(s->io.ctx, 0, on_flush, s);
}

static void push_done(impl *s, done *d)
{
    d->next = NULL;
    if (s->dt)
        s->dt->next = d;
    else
        s->dh = d;
    s->dt = d;
    schedule_flush(s);
}

static void run_done(done *d, int status)
{
    if (d->send) {
        if (d->send->cb)
            d->send->cb(d->send, status ? status : d->status);
    } else if (d->get) {
        if (status && d->snapshot) {
            for (unsigned i = 0; i < d->snapshot->n_bufs; i++)
                raft_free(d->snapshot->bufs[i].base);
            raft_free(d->snapshot->bufs);
            raft_configuration_close(&d->snapshot->configuration);
            raft_free(d->snapshot);
            d->snapshot = NULL;
        }
        d->get->cb(d->get, d->snapshot, status ? status : d->status);
    }
    free(d);
}

static void on_flush(void *arg)
{
    impl *s = arg;
    s->flush_timer = NULL;
    done *d = s->dh;
    s->dh = s->dt = NULL;
    while (d) {
        done *next = d->next;
        run_done(d, 0);
        d = next;
    }
    progress(s);
}

static void transmit(impl *s, const sb_ep *to, const uint8_t *p, size_t n)
{
    int rc = s->io.send(s->io.ctx, to, SB_MSG_RAFT, p, n);
    if (rc)
        s->st.send_errors++;
    else
        s->st.sent++;
}

/* Releases what the acknowledgements allow: appends and snapshot puts
 * whose writes are in, messages held behind them. */
static void progress(impl *s)
{
    while (s->ph && s->ph->need <= s->acked) {
        pending *p = s->ph;
        s->ph = p->next;
        if (!s->ph)
            s->pt = NULL;
        int status = s->ack_error ? RAFT_IOERR : 0;
        if (!s->closed) {
            if (p->append)
                p->append->cb(p->append, status);
            else if (p->put->cb)
                p->put->cb(p->put, status);
        }
        free(p);
    }
    while (s->hh && s->hh->need <= s->acked) {
        held *h = s->hh;
        s->hh = h->next;
        if (!s->hh)
            s->ht = NULL;
        if (!s->closed)
            transmit(s, &h->to, h->data, h->len);
        free(h);
    }
    if (s->acked == s->issued)
        s->ack_error = 0;
}

static int push_pending(impl *s, struct raft_io_append *a, struct raft_io_snapshot_put *put)
{
    pending *p = sb_calloc(1, sizeof *p);
    if (!p)
        return RAFT_NOMEM;
    p->need = s->issued;
    p->append = a;
    p->put = put;
    if (s->pt)
        s->pt->next = p;
    else
        s->ph = p;
    s->pt = p;
    /* Nothing left to wait for: complete from the flush timer. */
    if (p->need <= s->acked)
        schedule_flush(s);
    return 0;
}

/* -------------------------------------------------------- raft_io methods */

static int m_init(struct raft_io *rio, raft_id id, const char *address)
{
    impl *s = rio->impl;
    s->id = id;
    (void)address;
    return 0;
}

typedef struct load_state {
    int err;
    int have_meta;
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap;
    struct raft_entry *e;
    raft_index *idx;
    size_t n, cap;
    size_t bytes;
} load_state;

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int decode_snapshot(const uint8_t *v, size_t vlen, struct raft_snapshot **out)
{
    sb_wire_reader r;
    sb_wire_reader_init(&r, v, vlen);
    struct raft_snapshot *sn = raft_calloc(1, sizeof *sn);
    if (!sn)
        return SB_ENOMEM;
    sn->index = sb_wire_get_u64(&r);
    sn->term = sb_wire_get_u64(&r);
    int rc = r.err ? SB_EBADINPUT : sb_raft_conf_decode(&r, &sn->configuration);
    if (rc) {
        raft_free(sn);
        return rc;
    }
    sn->configuration_index = sb_wire_get_u64(&r);
    const uint8_t *d;
    size_t dlen;
    sb_wire_get_bytes(&r, &d, &dlen, SIZE_MAX);
    sn->bufs = raft_calloc(1, sizeof *sn->bufs);
    if (r.err || !sn->bufs || !(sn->bufs[0].base = raft_malloc(dlen ? dlen : 1))) {
        if (sn->bufs)
            raft_free(sn->bufs);
        raft_configuration_close(&sn->configuration);
        raft_free(sn);
        return r.err ? SB_EBADINPUT : SB_ENOMEM;
    }
    if (dlen)
        memcpy(sn->bufs[0].base, d, dlen);
    sn->bufs[0].len = dlen;
    sn->n_bufs = 1;
    *out = sn;
    return 0;
}

static void snapshot_free(struct raft_snapshot *sn)
{
    if (!sn)
        return;
    for (unsigned i = 0; i < sn->n_bufs; i++)
        raft_free(sn->bufs[i].base);
    raft_free(sn->bufs);
    raft_configuration_close(&sn->configuration);
    raft_free(sn);
}

static int load_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    load_state *ls = arg;
    if (klen == strlen(KEY_META) && memcmp(k, KEY_META, klen) == 0) {
        if (vlen != 16)
            return ls->err = SB_ECORRUPT;
        ls->term = be64(v);
        ls->vote = be64(v + 8);
        ls->have_meta = 1;
        return 0;
    }
    if (klen == strlen(KEY_SNAP) && memcmp(k, KEY_SNAP, klen) == 0) {
        int rc = decode_snapshot(v, vlen, &ls->snap);
        return rc ? (ls->err = rc == SB_EBADINPUT ? SB_ECORRUPT : rc) : 0;
    }
    if (klen != KEY_LOG_LEN + 8 || memcmp(k, KEY_LOG, KEY_LOG_LEN) != 0)
        return 0;
    raft_index index = be64(k + KEY_LOG_LEN);
    /* Keys come in index order; stop at the first gap. */
    if (ls->n && index != ls->idx[ls->n - 1] + 1)
        return 0;
    sb_wire_reader r;
    sb_wire_reader_init(&r, v, vlen);
    struct raft_entry e = {0};
    e.term = sb_wire_get_u64(&r);
    e.type = sb_wire_get_u8(&r);
    const uint8_t *d;
    size_t dlen;
    sb_wire_get_bytes(&r, &d, &dlen, SIZE_MAX);
    if (r.err || r.off != r.n)
        return ls->err = SB_ECORRUPT;
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 64;
        struct raft_entry *ne = realloc(ls->e, cap * sizeof *ne);
        if (!ne)
            return ls->err = SB_ENOMEM;
        ls->e = ne;
        raft_index *ni = realloc(ls->idx, cap * sizeof *ni);
        if (!ni)
            return ls->err = SB_ENOMEM;
        ls->idx = ni;
        ls->cap = cap;
    }
    e.buf.base = malloc(dlen ? dlen : 1);
    if (!e.buf.base)
        return ls->err = SB_ENOMEM;
    memcpy(e.buf.base, d, dlen);
    e.buf.len = dlen;
    ls->idx[ls->n] = index;
    ls->e[ls->n++] = e;
    ls->bytes += dlen;
    return 0;
}

static void load_state_free(load_state *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        free(ls->e[i].buf.base);
    free(ls->e);
    free(ls->idx);
    snapshot_free(ls->snap);
}

static int m_load(struct raft_io *rio, raft_term *term, raft_id *voted_for,
                  struct raft_snapshot **snapshot, raft_index *start_index,
                  struct raft_entry *entries[], size_t *n_entries)
{
    impl *s = rio->impl;
    load_state ls = {0};
    s->io.st->kv_scan(s->io.st_ctx, (const uint8_t *)"raft/", 5, load_emit, &ls);
    if (ls.err) {
        snprintf(rio->errmsg, sizeof rio->errmsg, "raft log in the store: %s",
                 sb_strerror(ls.err));
        load_state_free(&ls);
        return ls.err == SB_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
    }
    struct raft_entry *out = NULL;
    if (ls.n) {
        out = raft_calloc(ls.n, sizeof *out);
        uint8_t *batch = raft_malloc(ls.bytes ? ls.bytes : 1);
        if (!out || !batch) {
            raft_free(out);
            raft_free(batch);
            load_state_free(&ls);
            return RAFT_NOMEM;
        }
        size_t at = 0;
        for (size_t i = 0; i < ls.n; i++) {
            out[i].term = ls.e[i].term;
            out[i].type = ls.e[i].type;
            out[i].buf.base = batch + at;
            out[i].buf.len = ls.e[i].buf.len;
            out[i].batch = batch;
            memcpy(batch + at, ls.e[i].buf.base, ls.e[i].buf.len);
            at += ls.e[i].buf.len;
        }
    }
    s->term = ls.term;
    s->vote = ls.vote;
    *term = ls.term;
    *voted_for = ls.vote;
    *snapshot = ls.snap;
    *entries = out;
    *n_entries = ls.n;
    if (ls.n) {
        *start_index = ls.idx[0];
        s->first = ls.idx[0];
        s->last = ls.idx[ls.n - 1];
    } else {
        *start_index = ls.snap ? ls.snap->index + 1 : 1;
        s->first = *start_index;
        s->last = *start_index - 1;
    }
    ls.snap = NULL; /* handed over */
    load_state_free(&ls);
    return 0;
}

int sb_raft_io_empty(const sb_io *io)
{
    load_state ls = {0};
    io->st->kv_scan(io->st_ctx, (const uint8_t *)"raft/", 5, load_emit, &ls);
    int empty = !ls.err && !ls.have_meta && !ls.n && !ls.snap;
    load_state_free(&ls);
    return empty;
}

static void on_tick(void *arg)
{
    impl *s = arg;
    s->tick_timer = s->io.timer_start(s->io.ctx, s->tick_ms, on_tick, s);
    if (s->tick && !s->closed)
        s->tick(s->rio);
}

static int m_start(struct raft_io *rio, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    impl *s = rio->impl;
    s->tick_ms = msecs ? msecs : 1;
    s->tick = tick;
    s->recv = recv;
    s->tick_timer = s->io.timer_start(s->io.ctx, s->tick_ms, on_tick, s);
    return s->tick_timer ? 0 : RAFT_NOMEM;
}

static int m_bootstrap(struct raft_io *rio, const struct raft_configuration *conf)
{
    impl *s = rio->impl;
    if (s->term != 0 || s->last != 0 || !sb_raft_io_empty(&s->io))
        return RAFT_CANTBOOTSTRAP;
    struct raft_entry e = {.term = 1, .type = RAFT_CHANGE};
    int rv = raft_configuration_encode(conf, &e.buf);
    if (rv)
        return rv;
    int rc = put_entry(s, 1, &e);
    raft_free(e.buf.base);
    if (rc)
        return RAFT_IOERR;
    s->term = 1;
    s->vote = 0;
    s->first = 1;
    s->last = 1;
    return put_meta(s) ? RAFT_IOERR : 0;
}

static int m_recover(struct raft_io *rio, const struct raft_configuration *conf)
{
    (void)conf;
    snprintf(rio->errmsg, sizeof rio->errmsg, "forced recovery is not supported");
    return RAFT_IOERR;
}

static int m_set_term(struct raft_io *rio, raft_term term)
{
    impl *s = rio->impl;
    s->term = term;
    s->vote = 0;
    return put_meta(s) ? RAFT_IOERR : 0;
}

static int m_set_vote(struct raft_io *rio, raft_id server_id)
{
    impl *s = rio->impl;
    s->vote = server_id;
    return put_meta(s) ? RAFT_IOERR : 0;
}

static int m_send(struct raft_io *rio, struct raft_io_send *req, const struct raft_message *m,
                  raft_io_send_cb cb)
{
    impl *s = rio->impl;
    if (s->closed)
        return RAFT_CANCELED;
    sb_ep to;
    if (sb_ep_parse(m->server_address, 0, &to) != 0)
        return RAFT_NOCONNECTION;
    done *d = sb_calloc(1, sizeof *d);
    if (!d)
        return RAFT_NOMEM;
    if (sb_raft_wire_encode(&s->scratch, &s->self, s->id, m) != 0) {
        free(d);
        return RAFT_NOMEM;
    }
    req->cb = cb;
    d->send = req;
    if (s->acked >= s->issued) {
        transmit(s, &to, s->scratch.data, s->scratch.len);
    } else {
        held *h = sb_malloc(sizeof *h + s->scratch.len);
        if (!h) {
            free(d);
            return RAFT_NOMEM;
        }
        h->next = NULL;
        h->need = s->issued;
        h->to = to;
        h->len = s->scratch.len;
        memcpy(h->data, s->scratch.data, s->scratch.len);
        if (s->ht)
            s->ht->next = h;
        else
            s->hh = h;
        s->ht = h;
        s->st.held++;
    }
    push_done(s, d);
    return 0;
}

static int m_append(struct raft_io *rio, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    impl *s = rio->impl;
    if (s->closed)
        return RAFT_CANCELED;
    req->cb = cb;
    for (unsigned i = 0; i < n; i++)
        if (put_entry(s, s->last + 1 + i, &entries[i]) != 0)
            return RAFT_IOERR; /* earlier puts of this append stay: load stops at them */
    s->last += n;
    return push_pending(s, req, NULL) ? RAFT_NOMEM : 0;
}

static int m_truncate(struct raft_io *rio, raft_index index)
{
    impl *s = rio->impl;
    if (index == 0 || index > s->last + 1)
        return 0;
    int rc = del_entries(s, index > s->first ? index : s->first, s->last);
    s->last = index - 1;
    return rc ? RAFT_IOERR : 0;
}

static int m_snapshot_put(struct raft_io *rio, unsigned trailing, struct raft_io_snapshot_put *req,
                          const struct raft_snapshot *sn, raft_io_snapshot_put_cb cb)
{
    impl *s = rio->impl;
    if (s->closed)
        return RAFT_CANCELED;
    req->cb = cb;
    sb_buf b;
    sb_buf_init(&b);
    size_t dlen = 0;
    for (unsigned i = 0; i < sn->n_bufs; i++)
        dlen += sn->bufs[i].len;
    int rc = sb_wire_put_u64(&b, sn->index);
    rc = rc ? rc : sb_wire_put_u64(&b, sn->term);
    rc = rc ? rc : sb_raft_conf_encode(&b, &sn->configuration);
    rc = rc ? rc : sb_wire_put_u64(&b, sn->configuration_index);
    rc = rc ? rc : sb_wire_put_u32(&b, (uint32_t)dlen);
    for (unsigned i = 0; rc == 0 && i < sn->n_bufs; i++)
        rc = sb_buf_append(&b, sn->bufs[i].base, sn->bufs[i].len);
    rc = rc ? rc : kv_put(s, (const uint8_t *)KEY_SNAP, strlen(KEY_SNAP), b.data, b.len);
    sb_buf_free(&b);
    if (rc)
        return RAFT_IOERR;
    if (trailing == 0) {
        rc = del_entries(s, s->first, s->last);
        s->first = sn->index + 1;
        s->last = sn->index;
    } else if (sn->index > trailing && sn->index - trailing >= s->first) {
        raft_index upto = sn->index - trailing;
        rc = del_entries(s, s->first, upto);
        s->first = upto + 1;
    }
    if (rc)
        return RAFT_IOERR;
    return push_pending(s, NULL, req) ? RAFT_NOMEM : 0;
}

static int snap_emit(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    struct raft_snapshot **out = arg;
    if (klen != strlen(KEY_SNAP) || memcmp(k, KEY_SNAP, klen) != 0)
        return 0;
    return decode_snapshot(v, vlen, out) ? 1 : 0;
}

static int m_snapshot_get(struct raft_io *rio, struct raft_io_snapshot_get *req,
                          raft_io_snapshot_get_cb cb)
{
    impl *s = rio->impl;
    if (s->closed)
        return RAFT_CANCELED;
    done *d = sb_calloc(1, sizeof *d);
    if (!d)
        return RAFT_NOMEM;
    req->cb = cb;
    d->get = req;
    s->io.st->kv_scan(s->io.st_ctx, (const uint8_t *)KEY_SNAP, strlen(KEY_SNAP), snap_emit,
                      &d->snapshot);
    d->status = d->snapshot ? 0 : RAFT_NOTFOUND;
    push_done(s, d);
    return 0;
}

static raft_time m_time(struct raft_io *rio)
{
    impl *s = rio->impl;
    return s->io.mono_ms(s->io.ctx);
}

static int m_random(struct raft_io *rio, int min, int max)
{
    impl *s = rio->impl;
    if (max <= min)
        return min;
    return min + (int)(s->io.random(s->io.ctx) % (uint64_t)(max - min + 1));
}

static void m_close(struct raft_io *rio, raft_io_close_cb cb)
{
    impl *s = rio->impl;
    s->closed = 1;
    if (s->tick_timer)
        s->io.timer_stop(s->io.ctx, s->tick_timer);
    if (s->flush_timer)
        s->io.timer_stop(s->io.ctx, s->flush_timer);
    s->tick_timer = s->flush_timer = NULL;
    /* Every request still open gets its callback, cancelled. */
    while (s->ph) {
        pending *p = s->ph;
        s->ph = p->next;
        if (p->append)
            p->append->cb(p->append, RAFT_CANCELED);
        else if (p->put->cb)
            p->put->cb(p->put, RAFT_CANCELED);
        free(p);
    }
    s->pt = NULL;
    while (s->dh) {
        done *d = s->dh;
        s->dh = d->next;
        run_done(d, RAFT_CANCELED);
    }
    s->dt = NULL;
    while (s->hh) {
        held *h = s->hh;
        s->hh = h->next;
        free(h);
    }
    s->ht = NULL;
    if (cb)
        cb(rio);
}

int sb_raft_io_init(struct raft_io *rio, const sb_io *io, const sb_ep *self)
{
    memset(rio, 0, sizeof *rio);
    impl *s = sb_calloc(1, sizeof *s);
    if (!s)
        return SB_ENOMEM;
    s->rio = rio;
    s->io = *io;
    s->self = *self;
    s->id = sb_raft_id_of(self);
    s->first = 1;
    sb_buf_init(&s->scratch);
    rio->version = 1;
    rio->impl = s;
    rio->init = m_init;
    rio->close = m_close;
    rio->load = m_load;
    rio->start = m_start;
    rio->bootstrap = m_bootstrap;
    rio->recover = m_recover;
    rio->set_term = m_set_term;
    rio->set_vote = m_set_vote;
    rio->send = m_send;
    rio->append = m_append;
    rio->truncate = m_truncate;
    rio->snapshot_put = m_snapshot_put;
    rio->snapshot_get = m_snapshot_get;
    rio->time = m_time;
    rio->random = m_random;
    return 0;
}

void sb_raft_io_free(struct raft_io *rio)
{
    impl *s = rio ? rio->impl : NULL;
    if (!s)
        return;
    if (!s->closed)
        m_close(rio, NULL);
    sb_buf_free(&s->scratch);
    free(s);
    rio->impl = NULL;
}

void sb_raft_io_receive(struct raft_io *rio, const uint8_t *payload, size_t len)
{
    impl *s = rio->impl;
    if (!s || s->closed || !s->recv)
        return;
    struct raft_message m;
    sb_ep from;
    char addr[SB_EP_STRLEN];
    if (sb_raft_wire_decode(payload, len, &m, &from, addr) != 0) {
        s->st.malformed++;
        return;
    }
    s->st.received++;
    s->recv(rio, &m); /* libraft owns the entries and snapshot data now */
}

int sb_raft_io_settled(const struct raft_io *rio)
{
    const impl *s = rio->impl;
    return s->acked == s->issued;
}

void sb_raft_io_get_stats(const struct raft_io *rio, sb_raft_io_stats *st)
{
    const impl *s = rio->impl;
    memset(st, 0, sizeof *st);
    if (s)
        *st = s->st;
}
