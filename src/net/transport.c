/*
 * Node-to-node TCP transport (transport.h).
 *
 * NOTES ON THE DESIGN
 *
 * Peers. Every endpoint we send to (or hear from, or block) has one peer
 * record, found through an open-addressing hash, kept until
 * sb_transport_free; at most max_peers of them. A peer owns
 *   - pending: the frames not yet handed to the socket, encoded back to
 *     back in one growable buffer (one copy per message, no allocation per
 *     message once the buffer has grown);
 *   - at most one outgoing connection (out_conn), which owns the batch
 *     being written (inflight). A flush swaps pending and inflight and
 *     writes the whole batch with one uv_write, so a burst of small
 *     messages costs one system call;
 *   - a timer for the connect timeout and the reconnect backoff.
 * Queue bounds (max_queue_msgs, max_queue_bytes) apply to pending plus
 * inflight, which is all the memory a peer holds for messages.
 *
 * Peer state machine:
 *   IDLE --send--> CONNECTING --connected--> CONNECTED
 *   CONNECTING --error or timeout--> BACKOFF
 *   CONNECTED --write/read error or EOF--> BACKOFF (inflight batch dropped)
 *   BACKOFF --timer, messages pending--> CONNECTING
 *   BACKOFF --timer, nothing pending--> IDLE
 * The backoff starts at 100 ms, doubles per failure up to 5 s, and is
 * reset by a successful connect.
 *
 * Flushing is deferred to an idle handle, so every send made during one
 * loop iteration goes out in one write; the idle handle also keeps the
 * loop from blocking in poll while data waits.
 *
 * Incoming connections only receive. Each has a read buffer holding
 * data[off..len) not yet parsed; frames are delivered straight from it.
 * The header is checked as soon as its 12 bytes are in, so a frame
 * announcing a length over max_frame_bytes closes the connection before
 * its payload is buffered. A bad frame closes only its connection.
 *
 * Lifetimes. Closing libuv handles is asynchronous: out_conn and in_conn
 * free themselves in their close callbacks; peers and the transport live
 * until sb_transport_free, which requires every handle to be closed
 * (sb_transport_stop, then running the loop). t->handles counts the open
 * handles to enforce that.
 *
 * Re-entrancy: the receive callback may call sb_transport_send and
 * sb_transport_stop; the parser re-checks for a closed connection or a
 * stopped transport after every delivery.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/transport.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

#define SUB "transport"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000
#define READ_CHUNK (64 * 1024)
#define BUF_KEEP_BYTES (1u << 20) /* idle buffers larger than this are released */
#define EP_WIRE_BYTES 19          /* sb_wire_put_ep: family, 16 bytes ip, port */

enum { P_IDLE, P_CONNECTING, P_CONNECTED, P_BACKOFF };

typedef struct peer peer;
typedef struct out_conn out_conn;
typedef struct in_conn in_conn;

struct out_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    peer *p;
    sb_buf inflight;
    uint32_t inflight_msgs;
    int writing;
    char rd[64]; /* the remote never writes here; reads only detect EOF */
};

struct peer {
    sb_transport *t;
    sb_ep ep;
    int state;
    int blocked;
    int dirty;     /* listed in t->dirty */
    out_conn *out; /* set while CONNECTING or CONNECTED */
    uv_timer_t timer;
    uint32_t backoff_ms;
    sb_buf pending;
    uint32_t pending_msgs;
    uint64_t q_msgs, q_bytes; /* pending + inflight */
    uint64_t sent, received, dropped;
    int64_t offs[SB_TRANSPORT_OFFSET_SAMPLES]; /* clock offset samples, us */
    int noffs, offs_head;
};

struct in_conn {
    uv_tcp_t tcp;
    sb_transport *t;
    in_conn *prev, *next;
    sb_buf rbuf;
    size_t off;
    int closing;
    char remote[SB_EP_STRLEN];
};

struct sb_transport {
    uv_loop_t *loop;
    sb_transport_opts o;
    uv_tcp_t listener;
    uv_idle_t flusher;
    int handles;
    int stopped;
    int free_on_close; /* start failed after handles were opened */
    peer **peers;      /* npeers used, cap_peers allocated; dirty has the same cap */
    uint32_t npeers, cap_peers;
    uint32_t *slots; /* hash: peer index + 1, 0 empty; nslots a power of two */
    uint32_t nslots;
    peer **dirty;
    uint32_t ndirty;
    in_conn *in_head;
    uint32_t nin;
    uint64_t bad_frames;
    char addr[SB_EP_STRLEN];
};

/* --- frames --------------------------------------------------------------- */

void sb_transport_put_header(uint8_t h[SB_TRANSPORT_HEADER], int type, const uint8_t *payload,
                             uint32_t len, int64_t hlc_us, int64_t wall_us)
{
    h[0] = SB_TRANSPORT_MAGIC;
    h[1] = SB_TRANSPORT_VERSION;
    h[2] = (uint8_t)type;
    h[3] = 0;
    sb_be32_put(h + 4, len);
    sb_be32_put(h + 8, sb_crc32c(0, payload, len));
    sb_be32_put(h + 12, (uint32_t)((uint64_t)hlc_us >> 32));
    sb_be32_put(h + 16, (uint32_t)hlc_us);
    sb_be32_put(h + 20, (uint32_t)((uint64_t)wall_us >> 32));
    sb_be32_put(h + 24, (uint32_t)wall_us);
}

void sb_transport_header_clocks(const uint8_t h[SB_TRANSPORT_HEADER], int64_t *hlc_us,
                                int64_t *wall_us)
{
    *hlc_us = (int64_t)(((uint64_t)sb_be32_get(h + 12) << 32) | sb_be32_get(h + 16));
    *wall_us = (int64_t)(((uint64_t)sb_be32_get(h + 20) << 32) | sb_be32_get(h + 24));
}

int sb_transport_parse_header(const uint8_t h[SB_TRANSPORT_HEADER], uint32_t max_frame, int *type,
                              uint32_t *len, uint32_t *crc, char *errmsg)
{
    if (h[0] != SB_TRANSPORT_MAGIC)
        return sb_seterr(errmsg, SB_EBADINPUT, "bad magic byte 0x%02X (expected 0x%02X)", h[0],
                         SB_TRANSPORT_MAGIC);
    if (h[1] != SB_TRANSPORT_VERSION)
        return sb_seterr(errmsg, SB_EBADINPUT, "unsupported version %u (expected %u)", h[1],
                         SB_TRANSPORT_VERSION);
    if (h[3] != 0)
        return sb_seterr(errmsg, SB_EBADINPUT, "unknown flags 0x%02X (expected 0)", h[3]);
    uint32_t n = sb_be32_get(h + 4);
    if (n > max_frame)
        return sb_seterr(errmsg, SB_EBADINPUT, "payload length %u over the limit of %u bytes", n,
                         max_frame);
    *type = h[2];
    *len = n;
    *crc = sb_be32_get(h + 8);
    return 0;
}

/* --- helpers -------------------------------------------------------------- */

static int ep_to_sa(const sb_ep *e, struct sockaddr_storage *ss, socklen_t *sl)
{
    memset(ss, 0, sizeof *ss);
    if (e->family == 4) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(e->port);
        memcpy(&s->sin_addr, e->ip, 4);
        *sl = sizeof *s;
        return 0;
    }
    if (e->family == 6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(e->port);
        memcpy(&s->sin6_addr, e->ip, 16);
        *sl = sizeof *s;
        return 0;
    }
    return SB_EINVAL;
}

static void sa_str(const struct sockaddr_storage *ss, char *buf)
{
    char h[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, h, sizeof h);
        snprintf(buf, SB_EP_STRLEN, "%s:%u", h, ntohs(s->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof h);
        snprintf(buf, SB_EP_STRLEN, "[%s]:%u", h, ntohs(s->sin6_port));
    } else {
        snprintf(buf, SB_EP_STRLEN, "?");
    }
}

/* Keeps a buffer's memory for reuse unless a burst made it large. */
static void buf_recycle(sb_buf *b)
{
    if (b->cap > BUF_KEEP_BYTES)
        sb_buf_free(b);
    else
        sb_buf_reset(b);
}

/* --- peer table ----------------------------------------------------------- */

static uint32_t ep_hash(const sb_ep *e)
{
    uint32_t h = 2166136261u;
    h = (h ^ e->family) * 16777619u;
    for (int i = 0; i < 16; i++)
        h = (h ^ e->ip[i]) * 16777619u;
    h = (h ^ (e->port & 0xFF)) * 16777619u;
    h = (h ^ (e->port >> 8)) * 16777619u;
    return h;
}

static int ep_same(const sb_ep *a, const sb_ep *b)
{
    return a->family == b->family && a->port == b->port && !memcmp(a->ip, b->ip, 16);
}

static peer *peer_find(const sb_transport *t, const sb_ep *e)
{
    if (!t->nslots)
        return NULL;
    uint32_t mask = t->nslots - 1;
    for (uint32_t i = ep_hash(e) & mask;; i = (i + 1) & mask) {
        uint32_t s = t->slots[i];
        if (!s)
            return NULL;
        if (ep_same(&t->peers[s - 1]->ep, e))
            return t->peers[s - 1];
    }
}

static void slots_insert(uint32_t *slots, uint32_t nslots, const sb_ep *e, uint32_t idx)
{
    uint32_t mask = nslots - 1;
    uint32_t i = ep_hash(e) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = idx + 1;
}

static int table_grow(sb_transport *t)
{
    uint32_t cap = t->cap_peers ? t->cap_peers * 2 : 16;
    peer **np = realloc(t->peers, cap * sizeof *np);
    if (!np)
        return SB_ENOMEM;
    t->peers = np;
    peer **nd = realloc(t->dirty, cap * sizeof *nd);
    if (!nd)
        return SB_ENOMEM;
    t->dirty = nd;
    uint32_t nslots = cap * 2;
    uint32_t *ns = calloc(nslots, sizeof *ns);
    if (!ns)
        return SB_ENOMEM;
    for (uint32_t i = 0; i < t->npeers; i++)
        slots_insert(ns, nslots, &t->peers[i]->ep, i);
    free(t->slots);
    t->slots = ns;
    t->nslots = nslots;
    t->cap_peers = cap;
    return 0;
}

static void on_timer(uv_timer_t *h);

/* The peer for e, created if new; NULL when the table is full (max_peers),
 * memory is short or the transport is stopped. */
static peer *peer_get(sb_transport *t, const sb_ep *e)
{
    peer *p = peer_find(t, e);
    if (p || t->stopped || t->npeers >= t->o.max_peers)
        return p;
    if (e->family != 4 && e->family != 6)
        return NULL;
    if (t->npeers == t->cap_peers && table_grow(t))
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->t = t;
    p->ep = *e;
    p->state = P_IDLE;
    p->backoff_ms = BACKOFF_MIN_MS;
    sb_buf_init(&p->pending);
    uv_timer_init(t->loop, &p->timer);
    p->timer.data = p;
    t->handles++;
    t->peers[t->npeers] = p;
    slots_insert(t->slots, t->nslots, e, t->npeers);
    t->npeers++;
    return p;
}

/* Drops the frames not yet handed to a socket. */
static void peer_drop_pending(peer *p)
{
    p->dropped += p->pending_msgs;
    p->q_msgs -= p->pending_msgs;
    p->q_bytes -= p->pending.len;
    p->pending_msgs = 0;
    buf_recycle(&p->pending);
}

/* --- outgoing ------------------------------------------------------------- */

static void on_out_closed(uv_handle_t *h)
{
    out_conn *oc = h->data;
    oc->p->t->handles--;
    sb_buf_free(&oc->inflight);
    free(oc);
}

/* The outgoing connection failed or was lost: close it, retry later. */
static void conn_fail(peer *p, int status, const char *what)
{
    sb_transport *t = p->t;
    out_conn *oc = p->out;
    char ep[SB_EP_STRLEN];
    sb_ep_str(&p->ep, ep);
    if (p->state == P_CONNECTED)
        SB_INFO(SUB, "connection lost", "peer=%s op=%s error=\"%s\" retry_ms=%u", ep, what,
                uv_strerror(status), p->backoff_ms);
    else
        SB_DEBUG(SUB, "cannot connect", "peer=%s op=%s error=\"%s\" retry_ms=%u", ep, what,
                 uv_strerror(status), p->backoff_ms);
    p->out = NULL;
    if (oc)
        uv_close((uv_handle_t *)&oc->tcp, on_out_closed);
    p->state = P_BACKOFF;
    if (t->stopped)
        return;
    uv_timer_start(&p->timer, on_timer, p->backoff_ms, 0);
    uint32_t next = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
    /* Retries are logged at debug level; say once, loudly, when a peer has
     * stayed unreachable long enough for the backoff to reach its cap. */
    if (next == BACKOFF_MAX_MS && p->backoff_ms < BACKOFF_MAX_MS)
        SB_WARN(SUB, "peer unreachable; retrying every 5 s", "peer=%s error=\"%s\" queued=%" PRIu64,
                ep, uv_strerror(status), p->q_msgs);
    p->backoff_ms = next;
}

static void on_write(uv_write_t *req, int status);

/* Hands everything pending to the socket as one write, unless a write is
 * already in flight (its completion flushes again). */
static void flush(peer *p)
{
    out_conn *oc = p->out;
    if (p->state != P_CONNECTED || oc->writing || !p->pending.len)
        return;
    sb_buf tmp = oc->inflight;
    oc->inflight = p->pending;
    p->pending = tmp;
    sb_buf_reset(&p->pending);
    oc->inflight_msgs = p->pending_msgs;
    p->pending_msgs = 0;
    uv_buf_t b = uv_buf_init((char *)oc->inflight.data, (unsigned)oc->inflight.len);
    oc->writing = 1;
    int rc = uv_write(&oc->wreq, (uv_stream_t *)&oc->tcp, &b, 1, on_write);
    if (rc < 0) {
        oc->writing = 0;
        p->dropped += oc->inflight_msgs;
        p->q_msgs -= oc->inflight_msgs;
        p->q_bytes -= oc->inflight.len;
        oc->inflight_msgs = 0;
        buf_recycle(&oc->inflight);
        conn_fail(p, rc, "write");
    }
}

static void on_write(uv_write_t *req, int status)
{
    out_conn *oc = req->data;
    peer *p = oc->p;
    oc->writing = 0;
    p->q_msgs -= oc->inflight_msgs;
    p->q_bytes -= oc->inflight.len;
    if (status == 0)
        p->sent += oc->inflight_msgs;
    else
        p->dropped += oc->inflight_msgs; /* partly delivered at most; we cannot tell */
    oc->inflight_msgs = 0;
    buf_recycle(&oc->inflight);
    if (p->out != oc)
        return; /* closed already (stop, block, lost) */
    if (status < 0)
        conn_fail(p, status, "write");
    else
        flush(p);
}

static void on_flush(uv_idle_t *h)
{
    sb_transport *t = h->data;
    /* flush never adds to the list, so walking it while flushing is safe. */
    for (uint32_t i = 0; i < t->ndirty; i++) {
        peer *p = t->dirty[i];
        p->dirty = 0;
        flush(p);
    }
    t->ndirty = 0;
    uv_idle_stop(h);
}

static void mark_dirty(peer *p)
{
    sb_transport *t = p->t;
    if (p->dirty)
        return;
    p->dirty = 1;
    t->dirty[t->ndirty++] = p;
    if (t->ndirty == 1)
        uv_idle_start(&t->flusher, on_flush);
}

static void out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    out_conn *oc = h->data;
    *buf = uv_buf_init(oc->rd, sizeof oc->rd);
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    out_conn *oc = s->data;
    if (nread < 0 && oc->p->out == oc)
        conn_fail(oc->p, (int)nread, "read");
}

static void on_connect(uv_connect_t *req, int status)
{
    out_conn *oc = req->data;
    peer *p = oc->p;
    if (p->out != oc)
        return; /* timed out or stopped; the handle is closing */
    if (status < 0) {
        conn_fail(p, status, "connect");
        return;
    }
    uv_timer_stop(&p->timer);
    p->state = P_CONNECTED;
    p->backoff_ms = BACKOFF_MIN_MS;
    /* Notices a peer machine that vanished while we had nothing to send. */
    uv_tcp_keepalive(&oc->tcp, 1, 60);
    char ep[SB_EP_STRLEN];
    SB_DEBUG(SUB, "connected", "peer=%s", sb_ep_str(&p->ep, ep));
    int rc = uv_read_start((uv_stream_t *)&oc->tcp, out_alloc, out_read);
    if (rc < 0) {
        conn_fail(p, rc, "read");
        return;
    }
    flush(p);
}

static void conn_start(peer *p)
{
    sb_transport *t = p->t;
    struct sockaddr_storage ss;
    socklen_t sl;
    out_conn *oc = calloc(1, sizeof *oc);
    if (!oc) {
        conn_fail(p, UV_ENOMEM, "connect");
        return;
    }
    uv_tcp_init(t->loop, &oc->tcp);
    t->handles++;
    oc->tcp.data = oc->creq.data = oc->wreq.data = oc;
    oc->p = p;
    sb_buf_init(&oc->inflight);
    p->out = oc;
    p->state = P_CONNECTING;
    ep_to_sa(&p->ep, &ss, &sl); /* peers are created with valid families only */
    uv_tcp_nodelay(&oc->tcp, 1);
    int rc = uv_tcp_connect(&oc->creq, &oc->tcp, (struct sockaddr *)&ss, on_connect);
    if (rc < 0) {
        conn_fail(p, rc, "connect");
        return;
    }
    uv_timer_start(&p->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
}

static void on_timer(uv_timer_t *h)
{
    peer *p = h->data;
    if (p->state == P_CONNECTING) {
        conn_fail(p, UV_ETIMEDOUT, "connect");
    } else if (p->state == P_BACKOFF) {
        if (p->pending_msgs)
            conn_start(p);
        else
            p->state = P_IDLE;
    }
}

int sb_transport_send(sb_transport *t, const sb_ep *to, int type, const uint8_t *payload,
                      size_t len)
{
    if (!t || t->stopped)
        return SB_ECLOSED;
    peer *p = peer_get(t, to);
    if (!p)
        return (to->family == 4 || to->family == 6) ? SB_EOVERLOADED : SB_EINVAL;
    if (type < 0 || type > 255) {
        p->dropped++;
        return SB_EINVAL;
    }
    if (p->blocked) {
        p->dropped++;
        return SB_ECLOSED;
    }
    if (len > t->o.max_frame_bytes) {
        p->dropped++;
        return SB_ETOOBIG;
    }
    size_t frame = SB_TRANSPORT_HEADER + len;
    if (p->q_msgs + 1 > t->o.max_queue_msgs || p->q_bytes + frame > t->o.max_queue_bytes ||
        sb_buf_reserve(&p->pending, frame)) {
        p->dropped++;
        return SB_EOVERLOADED;
    }
    uint8_t *w = p->pending.data + p->pending.len;
    int64_t hlc = 0, wall = 0;
    if (t->o.hlc) {
        hlc = sb_hlc_peek(t->o.hlc);
        wall = sb_hlc_wall_us(t->o.hlc);
    }
    sb_transport_put_header(w, type, payload, (uint32_t)len, hlc, wall);
    if (len)
        memcpy(w + SB_TRANSPORT_HEADER, payload, len);
    p->pending.len += frame;
    p->pending_msgs++;
    p->q_msgs++;
    p->q_bytes += frame;
    if (p->state == P_IDLE)
        conn_start(p);
    else if (p->state == P_CONNECTED)
        mark_dirty(p);
    return 0;
}

/* --- incoming ------------------------------------------------------------- */

static void on_in_closed(uv_handle_t *h)
{
    in_conn *c = h->data;
    c->t->handles--;
    sb_buf_free(&c->rbuf);
    free(c);
}

static void in_close(in_conn *c)
{
    sb_transport *t = c->t;
    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->in_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    t->nin--;
    uv_close((uv_handle_t *)&c->tcp, on_in_closed);
}

static void bad_frame(in_conn *c, const char *reason)
{
    c->t->bad_frames++;
    SB_WARN(SUB, "bad frame; closing the connection", "peer=%s reason=\"%s\"", c->remote, reason);
    in_close(c);
}

/* Hands one frame to the receiver, unless its sender is blocked. */
/* A sample of p's clock offset, and its hybrid clock into ours. */
static void observe_clocks(sb_transport *t, peer *p, const uint8_t *h)
{
    int64_t hlc, wall;
    sb_transport_header_clocks(h, &hlc, &wall);
    if (!t->o.hlc || wall == 0)
        return;
    if (hlc)
        sb_hlc_observe(t->o.hlc, hlc);
    if (!p)
        return;
    p->offs[p->offs_head] = wall - sb_hlc_wall_us(t->o.hlc);
    p->offs_head = (p->offs_head + 1) % SB_TRANSPORT_OFFSET_SAMPLES;
    if (p->noffs < SB_TRANSPORT_OFFSET_SAMPLES)
        p->noffs++;
}

static void deliver(sb_transport *t, const uint8_t *h, int type, const uint8_t *payload,
                    uint32_t len)
{
    peer *p = NULL;
    if (len >= EP_WIRE_BYTES) {
        sb_wire_reader r;
        sb_ep from;
        sb_wire_reader_init(&r, payload, len);
        sb_wire_get_ep(&r, &from);
        if (!r.err)
            p = peer_get(t, &from);
    }
    if (p && p->blocked) {
        p->dropped++;
        return;
    }
    if (p)
        p->received++;
    observe_clocks(t, p, h);
    if (t->o.recv)
        t->o.recv(t->o.recv_arg, type, payload, len);
}

static void in_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    in_conn *c = h->data;
    sb_buf *b = &c->rbuf;
    if (c->off) {
        memmove(b->data, b->data + c->off, b->len - c->off);
        b->len -= c->off;
        c->off = 0;
    }
    /* Room for the rest of a large frame at once, so it arrives in place. */
    size_t want = READ_CHUNK;
    if (b->len >= SB_TRANSPORT_HEADER) {
        /* The parser checked this header against max_frame_bytes and
         * consumed every complete frame, so this is the rest of one. */
        size_t flen = (size_t)SB_TRANSPORT_HEADER + sb_be32_get(b->data + 4);
        if (flen > b->len && flen - b->len > want &&
            flen <= (size_t)SB_TRANSPORT_HEADER + c->t->o.max_frame_bytes)
            want = flen - b->len;
    }
    if (sb_buf_reserve(b, want)) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)b->data + b->len, (unsigned)(b->cap - b->len - 1));
}

static void in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    in_conn *c = s->data;
    sb_transport *t = c->t;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS)
            SB_WARN(SUB, "out of memory reading a frame; closing the connection", "peer=%s",
                    c->remote);
        else if (c->rbuf.len > c->off)
            SB_INFO(SUB, "connection closed in the middle of a frame", "peer=%s error=\"%s\"",
                    c->remote, uv_strerror((int)nread));
        in_close(c);
        return;
    }
    sb_buf *b = &c->rbuf;
    b->len += (size_t)nread;
    char err[SB_ERRMSG_SIZE];
    while (!c->closing && !t->stopped && b->len - c->off >= SB_TRANSPORT_HEADER) {
        const uint8_t *h = b->data + c->off;
        int type;
        uint32_t len, crc;
        if (sb_transport_parse_header(h, t->o.max_frame_bytes, &type, &len, &crc, err)) {
            bad_frame(c, err);
            return;
        }
        if (b->len - c->off - SB_TRANSPORT_HEADER < len)
            break;
        uint32_t got = sb_crc32c(0, h + SB_TRANSPORT_HEADER, len);
        if (got != crc) {
            snprintf(err, sizeof err,
                     "checksum mismatch: payload of %u bytes has CRC32C 0x%08X, header says 0x%08X",
                     len, got, crc);
            bad_frame(c, err);
            return;
        }
        c->off += SB_TRANSPORT_HEADER + len;
        deliver(t, h, type, h + SB_TRANSPORT_HEADER, len);
    }
    /* A partial header: refuse what is plainly not a frame (an HTTP
     * request, a stray client) without waiting for 28 bytes that may
     * never come. */
    size_t avail = b->len - c->off;
    if (!c->closing && !t->stopped && avail > 0 && avail < SB_TRANSPORT_HEADER) {
        uint8_t h[SB_TRANSPORT_HEADER];
        memset(h, 0, sizeof h);
        memcpy(h, b->data + c->off, avail);
        if (avail < 2)
            h[1] = SB_TRANSPORT_VERSION;
        if (avail < 4)
            h[3] = 0;
        int type;
        uint32_t len, crc;
        if (sb_transport_parse_header(h, UINT32_MAX, &type, &len, &crc, err)) {
            bad_frame(c, err);
            return;
        }
    }
    if (c->off == b->len) {
        c->off = 0;
        buf_recycle(b);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    sb_transport *t = server->data;
    if (status < 0) {
        SB_WARN(SUB, "accept failed", "error=\"%s\"", uv_strerror(status));
        return;
    }
    in_conn *c = calloc(1, sizeof *c);
    if (!c) {
        SB_WARN(SUB, "out of memory accepting a connection", NULL);
        return;
    }
    uv_tcp_init(t->loop, &c->tcp);
    t->handles++;
    c->tcp.data = c;
    c->t = t;
    sb_buf_init(&c->rbuf);
    strcpy(c->remote, "?");
    c->next = t->in_head;
    if (t->in_head)
        t->in_head->prev = c;
    t->in_head = c;
    t->nin++;
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        SB_WARN(SUB, "accept failed", "error=\"%s\"", uv_strerror(rc));
        in_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        sa_str(&ss, c->remote);
    /* Each peer keeps one connection to us, plus a few briefly while one
     * is being replaced. */
    if (t->nin > t->o.max_peers * 2) {
        SB_WARN(SUB, "too many incoming connections; refusing", "peer=%s max=%u", c->remote,
                t->o.max_peers * 2);
        in_close(c);
        return;
    }
    rc = uv_read_start((uv_stream_t *)&c->tcp, in_alloc, in_read);
    if (rc < 0)
        in_close(c);
}

/* --- lifecycle ------------------------------------------------------------ */

void sb_transport_opts_default(sb_transport_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_frame_bytes = 64u << 20;
    o->max_queue_msgs = 65536;
    o->max_queue_bytes = 64ull << 20;
    o->max_peers = 1024;
}

static void on_t_closed(uv_handle_t *h)
{
    sb_transport *t = h->data;
    t->handles--;
    if (t->free_on_close && !t->handles)
        sb_transport_free(t);
}

/* Binds and listens with plain sockets, so that the common failures
 * (address in use, bad address) leave no libuv handle to close. */
static int listen_fd(const sb_ep *e, char *errmsg)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char addr[SB_EP_STRLEN];
    sb_ep_str(e, addr);
    if (ep_to_sa(e, &ss, &sl))
        return sb_seterr(errmsg, SB_EINVAL, "listen address %s: bad address family", addr);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sb_seterr(errmsg, SB_EIO, "listen on %s: socket: %s", addr, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
        int rc = sb_seterr(errmsg, SB_EIO, "listen on %s: %s", addr, strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

int sb_transport_start(sb_transport **out, uv_loop_t *loop, const sb_transport_opts *o,
                       char *errmsg)
{
    sb_transport_opts d;
    sb_transport_opts_default(&d);
    *out = NULL;
    sb_transport *t = calloc(1, sizeof *t);
    if (!t)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory starting the transport");
    t->loop = loop;
    t->o = *o;
    if (!t->o.max_frame_bytes)
        t->o.max_frame_bytes = d.max_frame_bytes;
    if (!t->o.max_queue_msgs)
        t->o.max_queue_msgs = d.max_queue_msgs;
    if (!t->o.max_queue_bytes)
        t->o.max_queue_bytes = d.max_queue_bytes;
    if (!t->o.max_peers)
        t->o.max_peers = d.max_peers;
    /* One write hands over at most the whole queue; uv_buf_t lengths are
     * 32-bit in libuv's API. */
    if (t->o.max_queue_bytes > UINT32_MAX)
        t->o.max_queue_bytes = UINT32_MAX;
    if (t->o.max_frame_bytes > UINT32_MAX - READ_CHUNK)
        t->o.max_frame_bytes = UINT32_MAX - READ_CHUNK;
    sb_ep_str(&o->listen, t->addr);
    int fd = listen_fd(&o->listen, errmsg);
    if (fd < 0) {
        free(t);
        return fd;
    }
    uv_idle_init(loop, &t->flusher);
    uv_tcp_init(loop, &t->listener);
    t->flusher.data = t->listener.data = t;
    t->handles = 2;
    int rc = uv_tcp_open(&t->listener, fd);
    if (rc < 0)
        close(fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
    if (rc < 0) {
        sb_seterr(errmsg, SB_EIO, "listen on %s: %s", t->addr, uv_strerror(rc));
        t->stopped = t->free_on_close = 1;
        uv_close((uv_handle_t *)&t->listener, on_t_closed);
        uv_close((uv_handle_t *)&t->flusher, on_t_closed);
        return SB_EIO;
    }
    SB_INFO(SUB, "listening", "addr=%s max_frame_bytes=%u", t->addr, t->o.max_frame_bytes);
    *out = t;
    return 0;
}

static void on_peer_timer_closed(uv_handle_t *h)
{
    peer *p = h->data;
    p->t->handles--;
}

void sb_transport_stop(sb_transport *t)
{
    if (!t || t->stopped)
        return;
    t->stopped = 1;
    uv_close((uv_handle_t *)&t->listener, on_t_closed);
    uv_close((uv_handle_t *)&t->flusher, on_t_closed);
    while (t->in_head)
        in_close(t->in_head);
    for (uint32_t i = 0; i < t->npeers; i++) {
        peer *p = t->peers[i];
        peer_drop_pending(p);
        p->dirty = 0;
        if (p->out) {
            uv_close((uv_handle_t *)&p->out->tcp, on_out_closed);
            p->out = NULL;
        }
        p->state = P_IDLE;
        uv_close((uv_handle_t *)&p->timer, on_peer_timer_closed);
    }
    t->ndirty = 0;
    SB_INFO(SUB, "stopped", "addr=%s", t->addr);
}

void sb_transport_free(sb_transport *t)
{
    if (!t)
        return;
    /* Freeing with open handles would leave libuv pointing into freed
     * memory: stop, run the loop, then free. */
    SB_ASSERT(t->handles == 0);
    for (uint32_t i = 0; i < t->npeers; i++) {
        sb_buf_free(&t->peers[i]->pending);
        free(t->peers[i]);
    }
    free(t->peers);
    free(t->dirty);
    free(t->slots);
    free(t);
}

/* --- fault injection and stats -------------------------------------------- */

void sb_transport_block(sb_transport *t, const sb_ep *peer_ep, int blocked)
{
    char ep[SB_EP_STRLEN];
    sb_ep_str(peer_ep, ep);
    peer *p = blocked ? peer_get(t, peer_ep) : peer_find(t, peer_ep);
    if (!p) {
        if (blocked)
            SB_WARN(SUB, "cannot block peer (peer table full or bad address)", "peer=%s", ep);
        return;
    }
    if (p->blocked == !!blocked)
        return;
    p->blocked = !!blocked;
    /* A partition loses what was waiting to cross it. */
    if (blocked)
        peer_drop_pending(p);
    SB_INFO(SUB, blocked ? "peer blocked (fault injection)" : "peer unblocked", "peer=%s", ep);
}

int sb_transport_blocked(const sb_transport *t, const sb_ep *peer_ep)
{
    const peer *p = peer_find(t, peer_ep);
    return p && p->blocked;
}

int sb_transport_stats(const sb_transport *t, sb_transport_peer_stats *out, int max)
{
    int n = 0;
    for (uint32_t i = 0; i < t->npeers && n < max; i++, n++) {
        const peer *p = t->peers[i];
        sb_transport_peer_stats *s = &out[n];
        s->peer = p->ep;
        s->sent = p->sent;
        s->received = p->received;
        s->dropped = p->dropped;
        s->queued_msgs = p->q_msgs;
        s->queued_bytes = p->q_bytes;
        s->connected = p->state == P_CONNECTED;
        s->blocked = p->blocked;
        s->has_offset = p->noffs > 0;
        s->offset_us = 0;
        for (int k = 0; k < p->noffs; k++)
            if (k == 0 || p->offs[k] > s->offset_us)
                s->offset_us = p->offs[k];
    }
    return n;
}

uint64_t sb_transport_bad_frames(const sb_transport *t)
{
    return t->bad_frames;
}
