/*
 * CQL native protocol v4 server on the node's libuv loop.
 *
 * NOTES ON THE DESIGN OF THE SERVER
 *
 * Connection life cycle: accept -> (OPTIONS)* -> STARTUP -> READY -> any
 * requests. Before STARTUP only OPTIONS and STARTUP are accepted, and a
 * connection that has not sent READY within opts.startup_timeout_ms of
 * its accept is closed (a client that connects and never speaks, or
 * sends half a header, holds nothing for long). A frame
 * of another protocol version gets Cassandra's "Invalid or unsupported
 * protocol version" protocol error and the connection closes once it is
 * written (drivers then retry with a lower version).
 *
 * Input: bytes accumulate in conn.in until a whole frame is there; a frame
 * whose header is refused (too big, unknown opcode) is answered at once
 * and its body is skipped as it arrives (conn.skip), never buffered.
 *
 * Many requests per connection: each request gets a `req` that remembers
 * its stream id; the executor calls back exactly once, possibly later
 * (writes complete when durable), and the response goes out on that
 * stream. Responses produced while a batch of input is processed are
 * gathered in conn.out and handed to libuv in one write.
 *
 * Invariant (memory safety when clients go away): conn.refs counts the
 * open handle plus every request whose callback has not returned; the
 * connection is freed only when it drops to zero, so a callback never
 * touches freed memory. Once the handle is closing (conn.closed) responses
 * are dropped. The server itself is refcounted the same way by its
 * listener and its connections.
 *
 * Admission (admit.h): at accept the connection is counted in total and
 * per client IP; beyond either limit it is refused, which is its own small
 * state machine on the same conn: read at most one frame header (for the
 * client's version and stream), answer it with an Overloaded error frame,
 * or answer on stream 0 in v4 if no header came within REFUSE_WAIT_MS;
 * then shut down the write side and discard input until the client
 * closes or REFUSE_LINGER_MS pass, so the error is read rather than lost
 * to a reset. At most REFUSING_MAX refusals are answered at once; beyond
 * that a refused connection is closed at accept. Each conn owns one timer:
 * the startup deadline, or for a refused one the answer/linger deadline.
 *
 * Events (see events.h for what is sent when): a connection's REGISTER
 * sets its event mask; EVENT frames go into conn.out like responses. The
 * gossip listener cannot be unregistered (gossip.h has no such call), so
 * it is given a small context that outlives the server: stop clears its
 * server pointer, after which the listener does nothing. Retired contexts
 * stay on a static list until exit. Schema: whenever the store's schema
 * version differs from the last one seen (checked after every DDL result
 * and every SCHEMA_POLL_MS, which catches HTTP DDL and schemas pulled from
 * peers), the new schema is diffed against a snapshot of the old.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coord/coord.h"
#include "cqlproto/admit.h"
#include "cqlproto/cqlproto.h"
#include "cqlproto/events.h"
#include "cqlproto/frame.h"
#include "cqlproto/systables.h"
#include "util/ep.h"
#include "util/err.h"
#include "util/log.h"

/* Stop reading from a client whose responses pile up unread. */
#define OUT_HIGH_WATER (64u << 20)
/* How often the schema version is compared with the last one seen. */
#define SCHEMA_POLL_MS 250
/* Refused connections: how long to wait for the client's first frame
 * header, how long to wait for it to close after the error, how many to
 * answer at once. */
#define REFUSE_WAIT_MS 250
#define REFUSE_LINGER_MS 1000
#define REFUSING_MAX 256
/* At most one warning per kind per this period; the rest are counted. */
#define WARN_EVERY_MS 10000

typedef struct conn conn;

/* The gossip listener's argument; outlives the server (see the notes). */
typedef struct evctx {
    sb_cqlproto *srv; /* NULL once stopped */
    struct evctx *next;
} evctx;
static evctx *g_retired; /* keeps retired contexts reachable */

struct sb_cqlproto {
    uv_loop_t *loop;
    uv_tcp_t listener;
    sb_cql_engine *engine;
    sb_store *store;
    cqlp_systables *sys;
    sb_cqlproto_opts opts;
    conn *conns; /* doubly linked */
    int nconns;  /* on the list: admitted, refused and closing */
    cqlp_admit admit;
    int nrefusing; /* refused connections being answered */
    sb_cqlproto_stats stats;
    uint64_t warn_at_ms[2]; /* rate limit: refusals, startup timeouts */
    uint64_t warn_skipped[2];
    int refs; /* listener + schema timer + connections */
    int stopping;
    /* events */
    evctx *ev; /* NULL without a cluster */
    cqlp_topo topo;
    uv_timer_t schema_timer;
    uint8_t schema_seen[16];
    cqlp_schema_snap *schema_snap;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* startup deadline; when refused, answer and linger */
    uv_shutdown_t shut;
    struct sockaddr_storage peer;
    sb_cqlproto *srv;
    conn *prev, *next;
    sb_cql_session sess;
    sb_buf in;   /* unconsumed input */
    size_t skip; /* body bytes of a refused frame still to discard */
    sb_buf out;  /* responses not yet written */
    sb_buf tmp;  /* scratch for compression */
    int refs;
    int closed;
    int started;     /* STARTUP done */
    int compression; /* SB_CQLCOMP_* */
    int dispatching; /* gather responses; flush at the end */
    int close_after_write;
    int reading;
    int events; /* CQLP_EV_* registered for */
    int inflight;
    size_t writes_pending_bytes;
    int admitted; /* counted in srv->admit */
    int refused;  /* CQLP_ADMIT_* why, 0 = admitted */
    int refusing; /* counted in srv->nrefusing */
    int answered; /* the refusal's error frame is queued */
};

typedef struct req {
    conn *c;
    int16_t stream;
    int skip_metadata;
} req;

typedef struct wreq {
    uv_write_t w;
    conn *c;
    sb_buf data;
} wreq;

void sb_cqlproto_opts_default(sb_cqlproto_opts *o)
{
    o->max_frame_bytes = 16u << 20;
    o->max_inflight = 4096;
    o->max_connections = 1024;
    o->max_connections_per_ip = -1;
    o->startup_timeout_ms = 10000;
    o->cluster = NULL;
    o->schema_version = NULL;
    o->schema_version_arg = NULL;
}

static const char *const g_compressions[] = {"lz4", "snappy"};

/* ------------------------------------------------------------ lifetimes */

static void srv_unref(sb_cqlproto *s)
{
    if (--s->refs > 0)
        return;
    cqlp_systables_free(s->sys);
    cqlp_topo_free(&s->topo);
    cqlp_schema_snap_free(s->schema_snap);
    cqlp_admit_close(&s->admit);
    free(s);
}

static void conn_unref(conn *c)
{
    if (--c->refs > 0)
        return;
    sb_buf_free(&c->in);
    sb_buf_free(&c->out);
    sb_buf_free(&c->tmp);
    sb_cqlproto *s = c->srv;
    free(c);
    srv_unref(s);
}

static void on_conn_close(uv_handle_t *h)
{
    conn *c = h->data;
    sb_cqlproto *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->admitted)
        cqlp_admit_release(&s->admit, (const struct sockaddr *)&c->peer);
    if (c->refusing)
        s->nrefusing--;
    conn_unref(c);
}

static void on_timer_close(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void conn_close(conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

/* --------------------------------------------------------------- output */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void refuse_linger(conn *c);

static void set_reading(conn *c, int on)
{
    if (c->closed || c->reading == on)
        return;
    c->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static void on_write(uv_write_t *w, int status)
{
    wreq *wr = (wreq *)w;
    conn *c = wr->c;
    c->writes_pending_bytes -= wr->data.len;
    sb_buf_free(&wr->data);
    free(wr);
    if (status < 0)
        conn_close(c);
    else if (c->refused && c->writes_pending_bytes == 0)
        refuse_linger(c);
    else if (c->close_after_write && c->writes_pending_bytes == 0)
        conn_close(c);
    else if (!c->close_after_write && c->writes_pending_bytes < OUT_HIGH_WATER / 2)
        set_reading(c, 1);
    conn_unref(c);
}

static void flush(conn *c)
{
    if (c->closed || c->out.len == 0)
        return;
    wreq *wr = calloc(1, sizeof *wr);
    if (!wr) {
        conn_close(c);
        return;
    }
    wr->c = c;
    wr->data = c->out;
    sb_buf_init(&c->out);
    uv_buf_t b = uv_buf_init((char *)wr->data.data, (unsigned)wr->data.len);
    c->refs++;
    c->writes_pending_bytes += wr->data.len;
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        c->writes_pending_bytes -= wr->data.len;
        sb_buf_free(&wr->data);
        free(wr);
        c->refs--;
        conn_close(c);
        return;
    }
    if (c->writes_pending_bytes > OUT_HIGH_WATER)
        set_reading(c, 0);
}

/* Frames written into c->out from `start` get compressed in place when the
 * connection negotiated compression (READY itself is never compressed). */
static void compress_tail(conn *c, size_t start)
{
    if (c->compression == SB_CQLCOMP_NONE || c->out.len <= start + SB_CQLFRAME_HEADER_SIZE)
        return;
    uint8_t *f = c->out.data + start;
    size_t blen = c->out.len - start - SB_CQLFRAME_HEADER_SIZE;
    sb_buf_reset(&c->tmp);
    if (sb_cql_compress(c->compression, f + SB_CQLFRAME_HEADER_SIZE, blen, &c->tmp) != 0)
        return; /* send it uncompressed: the flag is per frame */
    c->out.len = start + SB_CQLFRAME_HEADER_SIZE;
    if (sb_buf_append(&c->out, c->tmp.data, c->tmp.len) != 0) {
        c->out.len = start; /* lost: the client times the request out */
        return;
    }
    c->out.data[start + 1] |= SB_CQLFLAG_COMPRESSION;
    sb_cqlframe_end(&c->out, start);
}

static void sent(conn *c, size_t start, int rc)
{
    if (rc != 0) {
        c->out.len = start;
        SB_WARN("cqlproto", "cannot encode response", "error=%s", sb_strerror(rc));
        return;
    }
    compress_tail(c, start);
    if (!c->dispatching)
        flush(c);
}

static void send_error(conn *c, int16_t stream, int code, const char *msg)
{
    if (c->closed)
        return;
    size_t start = c->out.len;
    sent(c, start, sb_cqlframe_put_error_msg(&c->out, stream, code, msg));
}

static void send_result(conn *c, int16_t stream, const sb_cql_result *r, int skip_metadata)
{
    if (c->closed)
        return;
    size_t start = c->out.len;
    sent(c, start, sb_cqlframe_put_result(&c->out, stream, r, skip_metadata));
}

/* --------------------------------------------------------------- events */

/* Appends one encoded EVENT frame to every connection registered for
 * type. */
static void push_event(sb_cqlproto *s, int type, const sb_buf *frame)
{
    for (conn *c = s->conns; c; c = c->next) {
        if (c->closed || !(c->events & type))
            continue;
        size_t start = c->out.len;
        sent(c, start, sb_buf_append(&c->out, frame->data, frame->len) != 0 ? SB_ENOMEM : 0);
    }
}

static void on_node_event(void *arg, int type, const char *change, const sb_ep *addr)
{
    sb_cqlproto *s = arg;
    char eps[SB_EP_STRLEN];
    const char *name = type == CQLP_EV_TOPOLOGY ? "TOPOLOGY_CHANGE" : "STATUS_CHANGE";
    SB_INFO("cqlproto", "event", "type=%s change=%s node=%s", name, change, sb_ep_str(addr, eps));
    sb_buf f;
    sb_buf_init(&f);
    if (sb_cqlframe_put_event_node(&f, name, change, addr->ip, addr->family == 6 ? 16 : 4,
                                   addr->port) == 0)
        push_event(s, type, &f);
    sb_buf_free(&f);
}

static void on_gossip(void *arg, int event, const sb_member *m)
{
    evctx *x = arg;
    if (!x->srv || x->srv->stopping)
        return;
    cqlp_topo_event(&x->srv->topo, event, m, on_node_event, x->srv);
}

static void on_schema_event(void *arg, const char *change, const char *target, const char *ks,
                            const char *name)
{
    sb_cqlproto *s = arg;
    SB_INFO("cqlproto", "event", "type=SCHEMA_CHANGE change=%s target=%s keyspace=%s name=%s",
            change, target, ks, name ? name : "");
    sb_buf f;
    sb_buf_init(&f);
    if (sb_cqlframe_put_event_schema(&f, change, target, ks, name) == 0)
        push_event(s, CQLP_EV_SCHEMA, &f);
    sb_buf_free(&f);
}

/* Diffs the schema against the last snapshot if its version moved. */
static void schema_check(sb_cqlproto *s)
{
    const sb_schema *sc = sb_store_schema(s->store);
    if (s->stopping || (s->schema_snap && !memcmp(sc->version, s->schema_seen, 16)))
        return;
    cqlp_schema_snap *snap = cqlp_schema_snap_new(sc);
    if (!snap)
        return; /* out of memory: the next check retries */
    if (s->schema_snap)
        cqlp_schema_diff(s->schema_snap, snap, on_schema_event, s);
    cqlp_schema_snap_free(s->schema_snap);
    s->schema_snap = snap;
    memcpy(s->schema_seen, sc->version, 16);
}

static void on_schema_timer(uv_timer_t *t)
{
    schema_check(t->data);
}

static void do_register(conn *c, int16_t stream, const sb_cqlmsg *m)
{
    int mask = 0;
    for (int i = 0; i < m->nopts; i++) {
        int t = cqlp_event_type(m->keys[i]);
        if (!t) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "Invalid value '%.200s' for Event.Type (expected TOPOLOGY_CHANGE, "
                     "STATUS_CHANGE or SCHEMA_CHANGE)",
                     m->keys[i]);
            send_error(c, stream, SB_CQL_ERR_PROTOCOL, msg);
            return;
        }
        mask |= t;
    }
    c->events |= mask;
    size_t start = c->out.len;
    sent(c, start, sb_cqlframe_put_ready(&c->out, stream));
}

/* ------------------------------------------------------------- requests */

static void on_result(void *arg, sb_cql_result *res)
{
    req *q = arg;
    conn *c = q->c;
    send_result(c, q->stream, res, q->skip_metadata);
    if (res->kind == SB_CQL_RESULT_SCHEMA_CHANGE)
        schema_check(c->srv); /* push the events now, not at the next poll */
    sb_cql_result_free(res);
    c->inflight--;
    free(q);
    conn_unref(c);
}

static req *req_new(conn *c, int16_t stream)
{
    if (c->inflight >= c->srv->opts.max_inflight) {
        send_error(c, stream, SB_CQL_ERR_OVERLOADED,
                   "Overloaded: too many requests in flight on this connection");
        return NULL;
    }
    req *q = calloc(1, sizeof *q);
    if (!q) {
        send_error(c, stream, SB_CQL_ERR_SERVER, "out of memory");
        return NULL;
    }
    q->c = c;
    q->stream = stream;
    c->refs++;
    c->inflight++;
    return q;
}

/* The executor could not even allocate an error result. */
static void req_failed(req *q, int rc)
{
    conn *c = q->c;
    send_error(c, q->stream, SB_CQL_ERR_SERVER, sb_strerror(rc));
    c->inflight--;
    free(q);
    conn_unref(c);
}

static void to_opts(const sb_cqlparams *p, sb_cql_opts *o)
{
    sb_cql_opts_default(o);
    o->consistency = p->consistency;
    o->serial_consistency = p->serial_consistency;
    o->page_size = (p->flags & SB_CQLQ_PAGE_SIZE) ? p->page_size : 0;
    if (p->paging_state_len >= 0) {
        o->paging_state = p->paging_state;
        o->paging_state_len = (size_t)p->paging_state_len;
    }
    o->has_timestamp = p->has_timestamp;
    o->timestamp_us = p->timestamp_us;
    o->bind_names = p->names;
}

static void do_startup(conn *c, int16_t stream, const sb_cqlmsg *m)
{
    int comp = SB_CQLCOMP_NONE;
    for (int i = 0; i < m->nopts; i++) {
        if (!strcmp(m->keys[i], "COMPRESSION")) {
            if (!strcasecmp(m->vals[i], "lz4"))
                comp = SB_CQLCOMP_LZ4;
            else if (!strcasecmp(m->vals[i], "snappy"))
                comp = SB_CQLCOMP_SNAPPY;
            else if (m->vals[i][0]) {
                char msg[300];
                snprintf(msg, sizeof msg, "Unknown compression algorithm: %.200s", m->vals[i]);
                send_error(c, stream, SB_CQL_ERR_PROTOCOL, msg);
                return;
            }
        } else if (!strcmp(m->keys[i], "CQL_VERSION") && m->vals[i][0] != '3') {
            char msg[300];
            snprintf(msg, sizeof msg, "Invalid or unsupported CQL version %.200s; supported: 3.4.5",
                     m->vals[i]);
            send_error(c, stream, SB_CQL_ERR_PROTOCOL, msg);
            return;
        }
    }
    size_t start = c->out.len;
    sent(c, start, sb_cqlframe_put_ready(&c->out, stream)); /* never compressed */
    c->started = 1;
    uv_timer_stop(&c->timer); /* the startup deadline is met */
    c->compression = comp;
}

static void do_query(conn *c, int16_t stream, const sb_cqlmsg *m)
{
    req *q = req_new(c, stream);
    if (!q)
        return;
    sb_cql_opts o;
    to_opts(&m->params, &o);
    int rc = sb_cql_execute(c->srv->engine, &c->sess, m->query, m->query_len, m->params.values,
                            m->params.nvalues, &o, on_result, q);
    if (rc != 0)
        req_failed(q, rc);
}

static void do_execute(conn *c, int16_t stream, const sb_cqlmsg *m)
{
    req *q = req_new(c, stream);
    if (!q)
        return;
    q->skip_metadata = (m->params.flags & SB_CQLQ_SKIP_METADATA) != 0;
    sb_cql_opts o;
    to_opts(&m->params, &o);
    int rc = sb_cql_execute_prepared(c->srv->engine, &c->sess, m->id, m->id_len, m->params.values,
                                     m->params.nvalues, &o, on_result, q);
    if (rc != 0)
        req_failed(q, rc);
}

static void do_prepare(conn *c, int16_t stream, const sb_cqlmsg *m)
{
    const sb_cql_prepared *p = NULL;
    char msg[SB_ERRMSG_SIZE] = "";
    int rc = sb_cql_prepare(c->srv->engine, &c->sess, m->query, m->query_len, &p, msg);
    if (rc != 0) {
        send_error(c, stream, sb_err_cql_code(rc), msg);
        return;
    }
    size_t start = c->out.len;
    sent(c, start, sb_cqlframe_put_prepared(&c->out, stream, p));
}

/* Trailing blanks and semicolons of one statement inside a batch. */
static size_t trim_stmt(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ';' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        n--;
    return n;
}

/* A protocol BATCH becomes one BEGIN ... APPLY BATCH statement: the
 * statements' texts (prepared ones from the cache) joined in order, and
 * their bind values concatenated, so the executor applies it atomically
 * as one sb_wbatch. */
static void do_batch(conn *c, int16_t stream, const sb_cqlmsg *m)
{
    sb_buf text, vals;
    sb_buf_init(&text);
    sb_buf_init(&vals);
    sb_cql_session sess = c->sess;
    int rc = sb_buf_printf(&text, "BEGIN %sBATCH\n",
                           m->batch_type == 1   ? "UNLOGGED "
                           : m->batch_type == 2 ? "COUNTER "
                                                : "");
    int nvals = 0;
    for (int i = 0; i < m->nstmts && !rc; i++) {
        const sb_cqlbatch_stmt *st = &m->stmts[i];
        const char *qs = st->query;
        size_t qn = st->query_len;
        if (st->prepared) {
            const sb_cql_prepared *p = sb_cql_prepared_find(c->srv->engine, st->id, st->id_len);
            if (!p) {
                sb_cql_error e;
                memset(&e, 0, sizeof e);
                e.code = SB_CQL_ERR_UNPREPARED;
                snprintf(e.message, sizeof e.message,
                         "Prepared query with ID %d of the batch not found (either the query was "
                         "not prepared on this host (maybe the host has been restarted?) or you "
                         "have prepared too many queries and it has been evicted from the "
                         "internal cache)",
                         i);
                memcpy(e.unprepared_id, st->id, st->id_len < 16 ? st->id_len : 16);
                size_t start = c->out.len;
                sent(c, start, sb_cqlframe_put_error(&c->out, stream, &e));
                goto done;
            }
            qs = p->query;
            qn = strlen(p->query);
            if (!sess.keyspace[0] && p->keyspace && p->keyspace[0])
                snprintf(sess.keyspace, sizeof sess.keyspace, "%s", p->keyspace);
        }
        rc = sb_buf_append(&text, qs, trim_stmt(qs, qn));
        rc = rc ? rc : sb_buf_append(&text, ";\n", 2);
        rc = rc ? rc : sb_buf_append(&vals, st->values, sizeof *st->values * (size_t)st->nvalues);
        nvals += st->nvalues;
    }
    rc = rc ? rc : sb_buf_append(&text, "APPLY BATCH", 11);
    if (rc) {
        send_error(c, stream, SB_CQL_ERR_SERVER, "out of memory");
        goto done;
    }
    req *q = req_new(c, stream);
    if (!q)
        goto done;
    sb_cql_opts o;
    to_opts(&m->params, &o);
    o.bind_names = NULL;
    rc = sb_cql_execute(c->srv->engine, &sess, (const char *)text.data, text.len,
                        (const sb_value *)vals.data, nvals, &o, on_result, q);
    if (rc != 0)
        req_failed(q, rc);
done:
    sb_buf_free(&text);
    sb_buf_free(&vals);
}

static void dispatch(conn *c, const sb_cqlframe_hdr *h, const uint8_t *body, size_t len)
{
    char msg[SB_ERRMSG_SIZE] = "";
    if (h->flags & SB_CQLFLAG_COMPRESSION) {
        if (c->compression == SB_CQLCOMP_NONE) {
            send_error(c, h->stream, SB_CQL_ERR_PROTOCOL,
                       "frame is flagged compressed but no compression was negotiated");
            return;
        }
        sb_buf_reset(&c->tmp);
        int rc = sb_cql_decompress(c->compression, body, len, c->srv->opts.max_frame_bytes, &c->tmp,
                                   msg);
        if (rc) {
            send_error(c, h->stream, rc == SB_ENOMEM ? SB_CQL_ERR_SERVER : SB_CQL_ERR_PROTOCOL,
                       msg);
            return;
        }
        /* tmp is reused by compression of responses: take it over. */
        sb_buf plain = c->tmp;
        sb_buf_init(&c->tmp);
        sb_cqlframe_hdr h2 = *h;
        h2.flags &= (uint8_t)~SB_CQLFLAG_COMPRESSION;
        dispatch(c, &h2, plain.data, plain.len);
        sb_buf_free(&plain);
        return;
    }
    if (!c->started && h->opcode != SB_CQLOP_OPTIONS && h->opcode != SB_CQLOP_STARTUP) {
        snprintf(msg, sizeof msg, "Unexpected message %s, expecting STARTUP or OPTIONS",
                 h->opcode == SB_CQLOP_QUERY     ? "QUERY"
                 : h->opcode == SB_CQLOP_PREPARE ? "PREPARE"
                 : h->opcode == SB_CQLOP_EXECUTE ? "EXECUTE"
                 : h->opcode == SB_CQLOP_BATCH   ? "BATCH"
                                                 : "REGISTER");
        send_error(c, h->stream, SB_CQL_ERR_PROTOCOL, msg);
        return;
    }
    sb_cqlmsg m;
    int rc = sb_cqlmsg_parse(h->opcode, h->flags, body, len, &m, msg);
    if (rc) {
        send_error(c, h->stream, rc == SB_ENOMEM ? SB_CQL_ERR_SERVER : SB_CQL_ERR_PROTOCOL, msg);
        return;
    }
    switch (h->opcode) {
    case SB_CQLOP_OPTIONS: {
        size_t start = c->out.len;
        sent(c, start, sb_cqlframe_put_supported(&c->out, h->stream, g_compressions, 2));
        break;
    }
    case SB_CQLOP_STARTUP:
        if (c->started)
            send_error(c, h->stream, SB_CQL_ERR_PROTOCOL,
                       "Unexpected message STARTUP, the connection is already started");
        else
            do_startup(c, h->stream, &m);
        break;
    case SB_CQLOP_REGISTER:
        do_register(c, h->stream, &m);
        break;
    case SB_CQLOP_QUERY:
        do_query(c, h->stream, &m);
        break;
    case SB_CQLOP_PREPARE:
        do_prepare(c, h->stream, &m);
        break;
    case SB_CQLOP_EXECUTE:
        do_execute(c, h->stream, &m);
        break;
    case SB_CQLOP_BATCH:
        do_batch(c, h->stream, &m);
        break;
    default:
        send_error(c, h->stream, SB_CQL_ERR_PROTOCOL,
                   "Unexpected message AUTH_RESPONSE: authentication is not enabled");
        break;
    }
    sb_cqlmsg_free(&m);
}

/* ---------------------------------------------------------------- input */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[64 * 1024]; /* one loop thread; data is copied out at once */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof slab);
}

/* Handles every complete frame in c->in. */
static void process_input(conn *c)
{
    size_t off = 0;
    c->dispatching = 1;
    while (!c->closed && !c->close_after_write) {
        if (c->skip) {
            size_t k = c->in.len - off < c->skip ? c->in.len - off : c->skip;
            off += k;
            c->skip -= k;
            if (c->skip)
                break;
            continue;
        }
        sb_cqlframe_hdr h;
        if (!sb_cqlframe_header(c->in.data + off, c->in.len - off, &h))
            break;
        char msg[SB_ERRMSG_SIZE];
        int rc = sb_cqlframe_check(&h, c->srv->opts.max_frame_bytes, msg);
        if (rc == SB_EUNSUPPORTED) {
            send_error(c, h.stream, SB_CQL_ERR_PROTOCOL, msg);
            c->close_after_write = 1;
            break;
        }
        if (rc) {
            send_error(c, h.stream, SB_CQL_ERR_PROTOCOL, msg);
            off += SB_CQLFRAME_HEADER_SIZE;
            c->skip = h.length;
            continue;
        }
        if (c->in.len - off < SB_CQLFRAME_HEADER_SIZE + (size_t)h.length)
            break;
        dispatch(c, &h, c->in.data + off + SB_CQLFRAME_HEADER_SIZE, h.length);
        off += SB_CQLFRAME_HEADER_SIZE + (size_t)h.length;
    }
    if (off) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
    }
    c->dispatching = 0;
    flush(c);
    if (c->close_after_write && c->writes_pending_bytes == 0)
        conn_close(c);
}

static void refused_input(conn *c, const uint8_t *p, size_t len);

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn *c = st->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (c->refused) {
        refused_input(c, (const uint8_t *)buf->base, (size_t)n);
        return;
    }
    if (n == 0 || c->closed || c->close_after_write)
        return;
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)n;
    /* Discard the body of a refused frame without buffering it. */
    if (c->skip && c->in.len == 0) {
        size_t k = len < c->skip ? len : c->skip;
        c->skip -= k;
        p += k;
        len -= k;
    }
    if (len && sb_buf_append(&c->in, p, len) != 0) {
        SB_WARN("cqlproto", "out of memory reading a request; closing the connection", NULL);
        conn_close(c);
        return;
    }
    c->refs++; /* dispatch may run callbacks that drop the last other reference */
    process_input(c);
    conn_unref(c);
}

/* ------------------------------------------------------------ admission */

enum { WARN_REFUSED, WARN_STARTUP };

/* Logs one warning of a kind a misbehaving client can cause thousands of
 * times a second at most every WARN_EVERY_MS, with how many it skipped. */
static void warn_limited(sb_cqlproto *s, int kind, const char *msg, const conn *c,
                         const char *detail)
{
    uint64_t now = uv_now(s->loop);
    if (s->warn_at_ms[kind] && now < s->warn_at_ms[kind] + WARN_EVERY_MS) {
        s->warn_skipped[kind]++;
        return;
    }
    char host[64] = "?";
    uv_ip_name((const struct sockaddr *)&c->peer, host, sizeof host);
    SB_WARN("cqlproto", msg, "client=%s %s similar_since_last=%llu", host, detail,
            (unsigned long long)s->warn_skipped[kind]);
    s->warn_at_ms[kind] = now ? now : 1;
    s->warn_skipped[kind] = 0;
}

static void on_startup_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    sb_cqlproto *s = c->srv;
    if (c->closed || c->started)
        return;
    s->stats.startup_timeouts++;
    char detail[64];
    snprintf(detail, sizeof detail, "timeout_ms=%d", s->opts.startup_timeout_ms);
    warn_limited(s, WARN_STARTUP, "connection did not complete STARTUP in time; closing", c,
                 detail);
    conn_close(c);
}

/* Queues the refusal: an Overloaded error on the client's version (3 to
 * 5, whose ERROR bodies are all alike) and stream if its first header has
 * arrived, else in v4 on stream 0. */
static void refuse_answer(conn *c)
{
    sb_cqlproto *s = c->srv;
    int version = SB_CQLPROTO_VERSION;
    int16_t stream = 0;
    if (c->in.len >= SB_CQLFRAME_HEADER_SIZE) {
        int v = c->in.data[0] & 0x7f;
        if (v >= 3 && v <= 5)
            version = v;
        stream = (int16_t)(((unsigned)c->in.data[2] << 8) | c->in.data[3]);
    }
    char host[64] = "?", msg[256];
    uv_ip_name((const struct sockaddr *)&c->peer, host, sizeof host);
    int code = SB_CQL_ERR_OVERLOADED;
    if (c->refused == CQLP_ADMIT_PER_IP)
        snprintf(msg, sizeof msg,
                 "Too many connections from %s: native_transport_max_concurrent_connections_per_ip "
                 "is %d; this connection is closed",
                 host, s->opts.max_connections_per_ip);
    else if (c->refused == CQLP_ADMIT_TOTAL)
        snprintf(msg, sizeof msg,
                 "Too many connections: native_transport_max_concurrent_connections is %d; this "
                 "connection is closed",
                 s->opts.max_connections);
    else {
        code = SB_CQL_ERR_SERVER;
        snprintf(msg, sizeof msg, "out of memory accepting the connection; it is closed");
    }
    c->answered = 1;
    size_t start = c->out.len;
    if (sb_cqlframe_put_error_msg(&c->out, stream, code, msg) != 0) {
        conn_close(c);
        return;
    }
    c->out.data[start] = (uint8_t)(0x80 | version);
    flush(c); /* on_write then lingers */
}

static void on_refuse_timer(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->closed)
        return;
    if (!c->answered)
        refuse_answer(c);
    else
        conn_close(c); /* the client did not close within the linger time */
}

static void on_refuse_shutdown(uv_shutdown_t *r, int status)
{
    conn *c = r->data;
    if (status < 0)
        conn_close(c);
    conn_unref(c);
}

/* The error is written: send FIN and wait for the client's close. */
static void refuse_linger(conn *c)
{
    if (c->closed || c->shut.handle)
        return; /* closed, or already lingering */
    c->shut.data = c;
    c->refs++;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_refuse_shutdown) != 0) {
        c->refs--;
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_refuse_timer, REFUSE_LINGER_MS, 0);
}

/* Input on a refused connection: keep its first frame header, answer
 * once it is complete, discard everything else. */
static void refused_input(conn *c, const uint8_t *p, size_t len)
{
    if (c->closed || c->answered)
        return;
    size_t want = SB_CQLFRAME_HEADER_SIZE - c->in.len;
    if (sb_buf_append(&c->in, p, len < want ? len : want) != 0) {
        conn_close(c);
        return;
    }
    if (c->in.len >= SB_CQLFRAME_HEADER_SIZE)
        refuse_answer(c);
}

static void refuse(conn *c, int why)
{
    sb_cqlproto *s = c->srv;
    c->refused = why;
    if (why == CQLP_ADMIT_PER_IP)
        s->stats.refused_per_ip++;
    else
        s->stats.refused_total++;
    char detail[96];
    snprintf(detail, sizeof detail, "reason=%s open=%d",
             why == CQLP_ADMIT_PER_IP  ? "max_concurrent_connections_per_ip"
             : why == CQLP_ADMIT_TOTAL ? "max_concurrent_connections"
                                       : "out_of_memory",
             s->admit.total);
    warn_limited(s, WARN_REFUSED, "refusing a connection", c, detail);
    if (s->nrefusing >= REFUSING_MAX) {
        conn_close(c); /* too many refusals in progress to answer this one */
        return;
    }
    c->refusing = 1;
    s->nrefusing++;
    set_reading(c, 1);
    uv_timer_start(&c->timer, on_refuse_timer, REFUSE_WAIT_MS, 0);
}

static void on_connection(uv_stream_t *ls, int status)
{
    sb_cqlproto *s = ls->data;
    if (status < 0 || s->stopping)
        return;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->srv = s;
    c->refs = 2; /* the two handles */
    c->tcp.data = c;
    c->timer.data = c;
    s->refs++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    sb_buf_init(&c->in);
    sb_buf_init(&c->out);
    sb_buf_init(&c->tmp);
    sb_cql_session_init(&c->sess);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    int len = sizeof c->peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len) != 0)
        c->peer.ss_family = AF_UNSPEC; /* counted under one shared key */
    uv_tcp_nodelay(&c->tcp, 1);
    int why = cqlp_admit_open(&s->admit, (const struct sockaddr *)&c->peer);
    if (why != CQLP_ADMIT_OK) {
        refuse(c, why);
        return;
    }
    c->admitted = 1;
    set_reading(c, 1);
    if (s->opts.startup_timeout_ms > 0)
        uv_timer_start(&c->timer, on_startup_timeout, (uint64_t)s->opts.startup_timeout_ms, 0);
}

void sb_cqlproto_get_stats(const sb_cqlproto *s, sb_cqlproto_stats *out)
{
    *out = s->stats;
    out->connections = s->admit.total;
}

/* ------------------------------------------------------------ start/stop */

static void on_listener_close(uv_handle_t *h)
{
    srv_unref(h->data);
}

/* Reads peers and events from the cluster's gossip. */
static int attach_cluster(sb_cqlproto *s, char *errmsg)
{
    sb_gossip *g = s->opts.cluster ? sb_cluster_gossip(s->opts.cluster) : NULL;
    cqlp_systables_set_cluster(s->sys, g, s->opts.schema_version, s->opts.schema_version_arg);
    if (!g)
        return 0;
    for (int i = 0; i < sb_gossip_nmembers(g); i++)
        cqlp_topo_seed(&s->topo, sb_gossip_member(g, i));
    if (!(s->ev = calloc(1, sizeof *s->ev)))
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    s->ev->srv = s;
    int rc = sb_gossip_on_event(g, on_gossip, s->ev);
    if (rc) {
        free(s->ev);
        s->ev = NULL;
        return sb_seterr(errmsg, rc, "cannot listen to gossip events: %s", sb_strerror(rc));
    }
    return 0;
}

/* The listener stays registered with gossip: retire its context. */
static void detach_cluster(sb_cqlproto *s)
{
    if (!s->ev)
        return;
    s->ev->srv = NULL;
    s->ev->next = g_retired;
    g_retired = s->ev;
    s->ev = NULL;
}

int sb_cqlproto_start(sb_cqlproto **out, uv_loop_t *loop, const char *addr, sb_cql_engine *engine,
                      sb_store *store, const sb_cqlproto_ident *id, const sb_cqlproto_opts *opts,
                      char *errmsg)
{
    char host[SB_ADDR_MAX];
    int port, rv;
    struct sockaddr_storage sa;
    *out = NULL;
    if (sb_parse_hostport(addr, 9042, host, sizeof host, &port) != 0)
        return sb_seterr(errmsg, SB_ECONFIG, "invalid CQL address '%s' (expected HOST:PORT)", addr);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0)
        return sb_seterr(errmsg, SB_ECONFIG, "invalid CQL address '%s': not an IP address", addr);
    sb_cqlproto *s = calloc(1, sizeof *s);
    if (!s)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    if (opts)
        s->opts = *opts;
    else
        sb_cqlproto_opts_default(&s->opts);
    cqlp_admit_init(&s->admit, s->opts.max_connections, s->opts.max_connections_per_ip);
    s->loop = loop;
    s->engine = engine;
    s->store = store;
    if ((rv = cqlp_systables_new(&s->sys, store, id, host, port, errmsg)) != 0) {
        free(s);
        return rv;
    }
    if ((rv = attach_cluster(s, errmsg)) != 0) {
        cqlp_systables_free(s->sys);
        cqlp_topo_free(&s->topo);
        free(s);
        return rv;
    }
    s->schema_snap = cqlp_schema_snap_new(sb_store_schema(store));
    memcpy(s->schema_seen, sb_store_schema(store)->version, 16);
    uv_timer_init(loop, &s->schema_timer);
    s->schema_timer.data = s;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->refs = 2; /* listener, timer */
    if ((rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0)) != 0 ||
        (rv = uv_listen((uv_stream_t *)&s->listener, 511, on_connection)) != 0) {
        sb_seterr(errmsg, SB_EIO, "cannot listen on %s (CQL): %s", addr, uv_strerror(rv));
        s->stopping = 1;
        detach_cluster(s);
        uv_close((uv_handle_t *)&s->schema_timer, on_listener_close);
        uv_close((uv_handle_t *)&s->listener, on_listener_close);
        return SB_EIO;
    }
    uv_timer_start(&s->schema_timer, on_schema_timer, SCHEMA_POLL_MS, SCHEMA_POLL_MS);
    sb_cql_vtables vt;
    cqlp_systables_vtables(s->sys, &vt);
    sb_cql_engine_set_vtables(engine, &vt);
    SB_INFO("cqlproto", "listening",
            "addr=%s max_frame_bytes=%zu max_connections=%d max_connections_per_ip=%d "
            "startup_timeout_ms=%d",
            addr, s->opts.max_frame_bytes, s->opts.max_connections, s->opts.max_connections_per_ip,
            s->opts.startup_timeout_ms);
    *out = s;
    return 0;
}

void sb_cqlproto_stop(sb_cqlproto *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    detach_cluster(s);
    cqlp_systables_set_cluster(s->sys, NULL, NULL, NULL);
    sb_cql_engine_set_vtables(s->engine, NULL);
    uv_timer_stop(&s->schema_timer);
    uv_close((uv_handle_t *)&s->schema_timer, on_listener_close);
    for (conn *c = s->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
}
