/* Transport tests over real loopback sockets: ordered delivery with payload
 * integrity, reconnect with backoff to a peer that starts late, bounded
 * queues, bad frames from raw TCP clients, fault injection, clean stop,
 * and the CRC32C and header codecs. Every wait is bounded in time. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/io.h"
#include "net/transport.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wire.h"

uint32_t net_crc32c_sw(uint32_t crc, const void *p, size_t n); /* net/crc32c.c */

static uv_loop_t loop;

/* --- loop helpers ----------------------------------------------------------- */

static void on_tick(uv_timer_t *h) {}

/* Runs the loop until pred(arg) or timeout_ms pass; returns pred's value. */
static int run_until(int (*pred)(void *), void *arg, uint64_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 2, 2);
    uv_update_time(&loop);
    uint64_t deadline = uv_now(&loop) + timeout_ms;
    int ok;
    while (!(ok = pred ? pred(arg) : 0) && uv_now(&loop) < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
}

static void run_for(uint64_t ms)
{
    run_until(NULL, NULL, ms);
}

static int setup(void **state)
{
    sb_log_set_level(SB_LOG_ERROR + 1); /* bad frames are expected here */
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    /* Every handle must have been closed: the loop ends by itself. */
    int rc = uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(rc, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static sb_ep ep_of(uint16_t port)
{
    sb_ep e;
    char s[64];
    snprintf(s, sizeof s, "127.0.0.1:%u", port);
    assert_int_equal(sb_ep_parse(s, 0, &e), 0);
    return e;
}

/* --- receiver ---------------------------------------------------------------
 * Test payloads: sender endpoint, u32 sequence number, then body_len(seq)
 * bytes of a pattern derived from seq. The receiver checks order and
 * content per sender. */

#define BIG_SEQ 777u

static size_t body_len(uint32_t seq)
{
    return seq == BIG_SEQ ? (size_t)(3u << 20) : seq % 700;
}

static uint8_t body_byte(uint32_t seq, size_t i)
{
    return (uint8_t)(seq * 31u + i * 7u + (i >> 8));
}

typedef struct rx {
    uint32_t n;    /* frames received */
    uint32_t next; /* next expected sequence number */
    uint32_t bad;  /* order or content violations */
    uint32_t raw;  /* payloads not in the test format */
    int last_type;
    sb_buf last_raw;
    sb_ep from;
} rx;

static void on_recv(void *arg, int type, const uint8_t *payload, size_t len)
{
    rx *r = arg;
    sb_wire_reader rd;
    sb_ep from;
    r->n++;
    r->last_type = type;
    sb_wire_reader_init(&rd, payload, len);
    sb_wire_get_ep(&rd, &from);
    uint32_t seq = sb_wire_get_u32(&rd);
    if (rd.err) {
        r->raw++;
        sb_buf_reset(&r->last_raw);
        sb_buf_append(&r->last_raw, payload, len);
        return;
    }
    r->from = from;
    size_t bl = len - rd.off;
    if (seq != r->next || bl != body_len(seq)) {
        r->bad++;
    } else {
        const uint8_t *b = payload + rd.off;
        for (size_t i = 0; i < bl; i++)
            if (b[i] != body_byte(seq, i)) {
                r->bad++;
                break;
            }
    }
    r->next = seq + 1;
}

static int send_seq(sb_transport *t, const sb_ep *self, const sb_ep *to, uint32_t seq)
{
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_wire_put_ep(&b, self), 0);
    assert_int_equal(sb_wire_put_u32(&b, seq), 0);
    size_t bl = body_len(seq);
    assert_int_equal(sb_buf_reserve(&b, bl), 0);
    for (size_t i = 0; i < bl; i++)
        b.data[b.len++] = body_byte(seq, i);
    int rc = sb_transport_send(t, to, SB_MSG_PING, b.data, b.len);
    sb_buf_free(&b);
    return rc;
}

typedef struct node {
    sb_transport *t;
    sb_ep ep;
    rx r;
} node;

static void node_start_opts(node *n, uint16_t port, sb_transport_opts *o)
{
    char err[SB_ERRMSG_SIZE] = "";
    memset(&n->r, 0, sizeof n->r);
    sb_buf_init(&n->r.last_raw);
    n->ep = ep_of(port);
    o->listen = n->ep;
    o->recv = on_recv;
    o->recv_arg = &n->r;
    int rc = sb_transport_start(&n->t, &loop, o, err);
    if (rc)
        fail_msg("start on port %u: %s", port, err);
}

static void node_start(node *n, uint16_t port)
{
    sb_transport_opts o;
    sb_transport_opts_default(&o);
    node_start_opts(n, port, &o);
}

/* Stops, lets the loop release the handles, frees. */
static void node_stop(node *n)
{
    sb_transport_stop(n->t);
    uv_run(&loop, UV_RUN_NOWAIT);
    run_for(5);
    sb_transport_free(n->t);
    n->t = NULL;
    sb_buf_free(&n->r.last_raw);
}

static sb_transport_peer_stats peer_stats(const sb_transport *t, const sb_ep *e)
{
    sb_transport_peer_stats s[16];
    int n = sb_transport_stats(t, s, 16);
    for (int i = 0; i < n; i++)
        if (sb_ep_eq(&s[i].peer, e))
            return s[i];
    sb_transport_peer_stats none;
    memset(&none, 0, sizeof none);
    return none;
}

typedef struct want {
    rx *r;
    uint32_t n;
} want;

static int got_n(void *arg)
{
    want *w = arg;
    return w->r->n >= w->n;
}

/* --- codec tests ------------------------------------------------------------ */

static void test_crc32c_vectors(void **state)
{
    uint8_t b[32];
    assert_int_equal(sb_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sb_crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) B.4 test vectors. */
    memset(b, 0, sizeof b);
    assert_int_equal(sb_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xFF, sizeof b);
    assert_int_equal(sb_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(sb_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(sb_crc32c(0, b, 32), 0x113FDB5Cu);
    assert_int_equal(net_crc32c_sw(0, "123456789", 9), 0xE3069283u);

    /* Chaining, and software against hardware, at every alignment. */
    uint8_t big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 131 + 7);
    uint32_t whole = sb_crc32c(0, big, sizeof big);
    assert_int_equal(net_crc32c_sw(0, big, sizeof big), whole);
    for (size_t cut = 0; cut <= 40; cut++) {
        uint32_t c = sb_crc32c(sb_crc32c(0, big, cut), big + cut, sizeof big - cut);
        assert_int_equal(c, whole);
        assert_int_equal(sb_crc32c(0, big + cut, 100), net_crc32c_sw(0, big + cut, 100));
    }
    big[500] ^= 1;
    assert_int_not_equal(sb_crc32c(0, big, sizeof big), whole);
}

static void test_header_codec(void **state)
{
    uint8_t h[SB_TRANSPORT_HEADER];
    char err[SB_ERRMSG_SIZE];
    int type;
    uint32_t len, crc;
    sb_transport_put_header(h, 17, (const uint8_t *)"hello", 5, 1234567, -7);
    assert_int_equal(h[0], 0x5B);
    assert_int_equal(h[1], 2);
    assert_int_equal(h[2], 17);
    assert_int_equal(h[3], 0);
    assert_memory_equal(h + 4, "\0\0\0\5", 4);
    assert_int_equal(sb_transport_parse_header(h, 100, &type, &len, &crc, err), 0);
    assert_int_equal(type, 17);
    assert_int_equal(len, 5);
    assert_int_equal(crc, sb_crc32c(0, "hello", 5));
    int64_t hlc, wall;
    sb_transport_header_clocks(h, &hlc, &wall);
    assert_true(hlc == 1234567 && wall == -7);

    assert_int_equal(sb_transport_parse_header(h, 4, &type, &len, &crc, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "length 5 over the limit of 4"));
    h[0] = 0x5C;
    assert_int_equal(sb_transport_parse_header(h, 100, &type, &len, &crc, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "magic"));
    h[0] = 0x5B;
    h[1] = 1;
    assert_int_equal(sb_transport_parse_header(h, 100, &type, &len, &crc, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "version 1"));
    h[1] = 2;
    h[3] = 0x80;
    assert_int_equal(sb_transport_parse_header(h, 100, &type, &len, &crc, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "flags"));
}

/* --- traffic tests ---------------------------------------------------------- */

static void test_exchange_in_order(void **state)
{
    node a, b;
    node_start(&a, free_port());
    node_start(&b, free_port());
    const uint32_t na = 20000, nb = 5000; /* a's stream includes one 3 MiB message */
    uint32_t ia = 0, ib = 0;
    /* Send in bursts while the loop runs, so batches form and drain. */
    while (ia < na || ib < nb) {
        for (int k = 0; k < 500 && ia < na; k++, ia++)
            assert_int_equal(send_seq(a.t, &a.ep, &b.ep, ia), 0);
        for (int k = 0; k < 200 && ib < nb; k++, ib++)
            assert_int_equal(send_seq(b.t, &b.ep, &a.ep, ib), 0);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    want wb = {&b.r, na}, wa = {&a.r, nb};
    assert_true(run_until(got_n, &wb, 20000));
    assert_true(run_until(got_n, &wa, 20000));
    assert_int_equal(b.r.n, na);
    assert_int_equal(b.r.bad, 0);
    assert_int_equal(b.r.raw, 0);
    assert_int_equal(b.r.last_type, SB_MSG_PING);
    assert_true(sb_ep_eq(&b.r.from, &a.ep));
    assert_int_equal(a.r.n, nb);
    assert_int_equal(a.r.bad, 0);

    sb_transport_peer_stats s = peer_stats(a.t, &b.ep);
    assert_int_equal(s.sent, na);
    assert_int_equal(s.received, nb); /* attributed by the payload's endpoint */
    assert_int_equal(s.dropped, 0);
    assert_int_equal(s.queued_msgs, 0);
    assert_int_equal(s.queued_bytes, 0);
    assert_int_equal(s.connected, 1);
    s = peer_stats(b.t, &a.ep);
    assert_int_equal(s.sent, nb);
    assert_int_equal(s.received, na);
    assert_int_equal(sb_transport_bad_frames(a.t) + sb_transport_bad_frames(b.t), 0);
    node_stop(&a);
    node_stop(&b);
}

static int64_t wall_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ahead_60s(void)
{
    return wall_real() + 60000000;
}

static int64_t wall_ahead_1s(void)
{
    return wall_real() + 1000000;
}

/* Frames carry the sender's clocks: the receiver's estimate of the peer's
 * offset is about the true one (loopback transit is well under 50 ms), a
 * hybrid clock 1 s ahead drags the receiver's along, one 60 s ahead (over
 * max_ahead_us) does not and is counted. */
static void test_clocks_and_offsets(void **state)
{
    sb_hlc ha, hb, hc;
    sb_hlc_init(&ha, 2500000);
    sb_hlc_init(&hb, 2500000);
    sb_hlc_init(&hc, 2500000);
    hb.wall_us = wall_ahead_60s;
    hc.wall_us = wall_ahead_1s;
    node a, b, c;
    sb_transport_opts o;
    sb_transport_opts_default(&o);
    o.hlc = &ha;
    node_start_opts(&a, free_port(), &o);
    o.hlc = &hb;
    node_start_opts(&b, free_port(), &o);
    o.hlc = &hc;
    node_start_opts(&c, free_port(), &o);
    sb_hlc_now(&hb);
    sb_hlc_now(&hc);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(send_seq(b.t, &b.ep, &a.ep, i), 0);
        assert_int_equal(send_seq(c.t, &c.ep, &a.ep, i), 0);
        assert_int_equal(send_seq(a.t, &a.ep, &b.ep, i), 0);
    }
    want wa = {&a.r, 10}, wb = {&b.r, 5};
    assert_true(run_until(got_n, &wa, 5000));
    assert_true(run_until(got_n, &wb, 5000));
    sb_transport_peer_stats s = peer_stats(a.t, &b.ep);
    assert_true(s.has_offset);
    assert_true(s.offset_us > 60000000 - 50000 && s.offset_us <= 60000000);
    s = peer_stats(b.t, &a.ep);
    assert_true(s.has_offset);
    assert_true(s.offset_us < -60000000 + 50000 && s.offset_us >= -60000000 - 50000);
    s = peer_stats(a.t, &c.ep);
    assert_true(s.offset_us > 1000000 - 50000 && s.offset_us <= 1000000);
    /* a adopted c's clock (1 s ahead), not b's (60 s ahead). */
    int64_t t = sb_hlc_now(&ha);
    assert_true(t > wall_real() + 900000 && t < wall_real() + 1100000);
    assert_true(atomic_load(&ha.ignored) >= 5);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
}

static void test_late_peer_gets_queued_messages(void **state)
{
    node a, b;
    uint16_t pb = free_port();
    node_start(&a, free_port());
    sb_ep eb = ep_of(pb);
    for (uint32_t i = 0; i < 50; i++)
        assert_int_equal(send_seq(a.t, &a.ep, &eb, i), 0);
    run_for(350); /* refused at 0, retried after 100 and 200 ms */
    sb_transport_peer_stats s = peer_stats(a.t, &eb);
    assert_int_equal(s.connected, 0);
    assert_int_equal(s.queued_msgs, 50);
    assert_true(s.queued_bytes > 50 * SB_TRANSPORT_HEADER);
    assert_int_equal(s.sent, 0);

    node_start(&b, pb);
    want w = {&b.r, 50};
    /* Retries at 0, 100, 300, 700 ms...: the next one comes ~350 ms after b
     * started (a 5 s cap reached too early would miss this). */
    assert_true(run_until(got_n, &w, 1500));
    assert_int_equal(b.r.n, 50);
    assert_int_equal(b.r.bad, 0);
    s = peer_stats(a.t, &eb);
    assert_int_equal(s.sent, 50);
    assert_int_equal(s.queued_msgs, 0);
    assert_int_equal(s.connected, 1);
    node_stop(&a);
    node_stop(&b);
}

static int disconnected(void *arg)
{
    node **nn = arg;
    return !peer_stats(nn[0]->t, &nn[1]->ep).connected;
}

static void test_reconnect_after_peer_restart(void **state)
{
    node a, b;
    uint16_t pb = free_port();
    node_start(&a, free_port());
    node_start(&b, pb);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(send_seq(a.t, &a.ep, &b.ep, i), 0);
    want w = {&b.r, 10};
    assert_true(run_until(got_n, &w, 5000));
    node_stop(&b);
    node *nn[2] = {&a, &b};
    assert_true(run_until(disconnected, nn, 5000)); /* EOF seen on the outgoing side */

    for (uint32_t i = 10; i < 20; i++)
        assert_int_equal(send_seq(a.t, &a.ep, &b.ep, i), 0);
    run_for(150);
    node_start(&b, pb);
    b.r.next = 10;
    w.r = &b.r;
    assert_true(run_until(got_n, &w, 10000));
    assert_int_equal(b.r.n, 10);
    assert_int_equal(b.r.bad, 0);
    assert_int_equal(peer_stats(a.t, &b.ep).sent, 20);
    node_stop(&a);
    node_stop(&b);
}

static void test_queue_overflow(void **state)
{
    node a;
    sb_transport_opts o;
    sb_transport_opts_default(&o);
    o.max_queue_msgs = 5;
    o.max_queue_bytes = 1000;
    o.max_frame_bytes = 600;
    node_start_opts(&a, free_port(), &o);
    sb_ep nobody = ep_of(free_port());
    uint8_t p[600] = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(sb_transport_send(a.t, &nobody, 1, p, 10), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sb_transport_send(a.t, &nobody, 1, p, 10), SB_EOVERLOADED);
    sb_transport_peer_stats s = peer_stats(a.t, &nobody);
    assert_int_equal(s.queued_msgs, 5);
    assert_int_equal(s.queued_bytes, 5 * (SB_TRANSPORT_HEADER + 10));
    assert_int_equal(s.dropped, 3);

    /* Byte bound: 2 frames of 512 bytes exceed 1000. */
    sb_ep other = ep_of(free_port());
    assert_int_equal(sb_transport_send(a.t, &other, 1, p, 500), 0);
    assert_int_equal(sb_transport_send(a.t, &other, 1, p, 500), SB_EOVERLOADED);
    assert_int_equal(sb_transport_send(a.t, &other, 1, p, 400), 0);
    assert_int_equal(sb_transport_send(a.t, &other, 1, p, 601), SB_ETOOBIG);
    assert_int_equal(sb_transport_send(a.t, &other, 300, p, 1), SB_EINVAL);
    s = peer_stats(a.t, &other);
    assert_int_equal(s.queued_msgs, 2);
    assert_int_equal(s.queued_bytes, 900 + 2 * SB_TRANSPORT_HEADER);
    assert_int_equal(s.dropped, 3);

    /* Peer table bound. */
    sb_transport_stop(a.t);
    assert_int_equal(sb_transport_send(a.t, &other, 1, p, 1), SB_ECLOSED);
    run_for(5);
    sb_transport_free(a.t);
    sb_buf_free(&a.r.last_raw);
}

static void test_max_peers(void **state)
{
    node a;
    sb_transport_opts o;
    sb_transport_opts_default(&o);
    o.max_peers = 2;
    node_start_opts(&a, free_port(), &o);
    sb_ep e1 = ep_of(1), e2 = ep_of(2), e3 = ep_of(3);
    uint8_t p[1] = {0};
    assert_int_equal(sb_transport_send(a.t, &e1, 1, p, 1), 0);
    assert_int_equal(sb_transport_send(a.t, &e2, 1, p, 1), 0);
    assert_int_equal(sb_transport_send(a.t, &e3, 1, p, 1), SB_EOVERLOADED);
    assert_int_equal(sb_transport_send(a.t, &e1, 1, p, 1), 0);
    sb_transport_peer_stats s[4];
    assert_int_equal(sb_transport_stats(a.t, s, 4), 2);
    assert_int_equal(sb_transport_stats(a.t, s, 1), 1);
    node_stop(&a);
}

/* --- raw clients and bad frames ------------------------------------------- */

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static size_t frame(uint8_t *out, int type, const void *payload, uint32_t len)
{
    sb_transport_put_header(out, type, payload, len, 0, 0);
    memcpy(out + SB_TRANSPORT_HEADER, payload, len);
    return SB_TRANSPORT_HEADER + len;
}

/* True once the server closed the raw connection (EOF or reset). */
static int raw_closed(void *arg)
{
    int fd = *(int *)arg;
    char c;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 0) != 1)
        return 0;
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

typedef struct bad_case {
    const char *name;
    uint8_t bytes[64];
    size_t n;
} bad_case;

static void test_bad_frames_close_only_that_connection(void **state)
{
    node a, b;
    node_start(&a, free_port());
    node_start(&b, free_port());
    uint16_t pa = a.ep.port;

    bad_case cases[6];
    memset(cases, 0, sizeof cases);
    cases[0].name = "garbage";
    memcpy(cases[0].bytes, "GET / HTTP/1.1\r\n\r\n", 18);
    cases[0].n = 18;
    cases[1].name = "wrong version";
    cases[1].n = frame(cases[1].bytes, 1, "abc", 3);
    cases[1].bytes[1] = 9;
    cases[2].name = "huge length";
    cases[2].n = frame(cases[2].bytes, 1, "abc", 3);
    cases[2].bytes[4] = 0x7F; /* ~2 GiB, only the header is sent */
    cases[2].n = SB_TRANSPORT_HEADER;
    cases[3].name = "wrong crc";
    cases[3].n = frame(cases[3].bytes, 1, "abc", 3);
    cases[3].bytes[11] ^= 0x01;
    cases[4].name = "flags";
    cases[4].n = frame(cases[4].bytes, 1, "abc", 3);
    cases[4].bytes[3] = 1;
    cases[5].name = "corrupted payload after a good frame";
    cases[5].n = frame(cases[5].bytes, 5, "good", 4);
    cases[5].n += frame(cases[5].bytes + cases[5].n, 1, "abcd", 4);
    cases[5].bytes[cases[5].n - 1] ^= 0x20;

    /* A healthy connection from b stays up through all of it. */
    uint32_t seq = 0;
    assert_int_equal(send_seq(b.t, &b.ep, &a.ep, seq++), 0);
    want w = {&a.r, 1};
    assert_true(run_until(got_n, &w, 5000));

    for (int i = 0; i < 6; i++) {
        uint64_t before = sb_transport_bad_frames(a.t);
        uint32_t raw_before = a.r.raw;
        int fd = raw_connect(pa);
        raw_send(fd, cases[i].bytes, cases[i].n);
        if (!run_until(raw_closed, &fd, 5000))
            fail_msg("case '%s': connection not closed", cases[i].name);
        assert_int_equal(sb_transport_bad_frames(a.t), before + 1);
        if (i == 5) {
            /* The good frame before the bad one was delivered. */
            assert_int_equal(a.r.raw, raw_before + 1);
            assert_int_equal(a.r.last_type, 5);
            assert_int_equal(a.r.last_raw.len, 4);
            assert_memory_equal(a.r.last_raw.data, "good", 4);
        } else {
            assert_int_equal(a.r.raw, raw_before);
        }
        close(fd);

        assert_int_equal(send_seq(b.t, &b.ep, &a.ep, seq++), 0);
        w.n = a.r.n + 1;
        if (!run_until(got_n, &w, 5000))
            fail_msg("case '%s': healthy peer no longer served", cases[i].name);
    }
    assert_int_equal(a.r.bad, 0);
    assert_int_equal(peer_stats(b.t, &a.ep).sent, seq);
    assert_int_equal(peer_stats(a.t, &b.ep).received, seq);
    node_stop(&a);
    node_stop(&b);
}

static void test_partial_and_coalesced_frames(void **state)
{
    node a;
    node_start(&a, free_port());
    int fd = raw_connect(a.ep.port);
    uint8_t buf[256];
    size_t n = frame(buf, 7, "split-me", 8);
    for (size_t i = 0; i < n; i++) {
        raw_send(fd, buf + i, 1);
        run_for(2);
        assert_int_equal(a.r.n, i + 1 == n ? 1 : 0);
    }
    assert_int_equal(a.r.last_type, 7);
    assert_memory_equal(a.r.last_raw.data, "split-me", 8);
    /* Three frames in one segment, one of them empty. */
    n = frame(buf, 1, "x", 1);
    n += frame(buf + n, 2, "", 0);
    n += frame(buf + n, 3, "zz", 2);
    raw_send(fd, buf, n);
    want w = {&a.r, 4};
    assert_true(run_until(got_n, &w, 5000));
    assert_int_equal(a.r.last_type, 3);
    assert_int_equal(a.r.last_raw.len, 2);
    assert_int_equal(sb_transport_bad_frames(a.t), 0);
    /* A client hanging up mid-frame is not a bad frame. */
    raw_send(fd, buf, 5);
    close(fd);
    run_for(50);
    assert_int_equal(sb_transport_bad_frames(a.t), 0);
    assert_int_equal(a.r.n, 4);
    node_stop(&a);
}

static void test_block_and_unblock(void **state)
{
    node a, b;
    node_start(&a, free_port());
    node_start(&b, free_port());
    uint32_t sa = 0, sb = 0;
    assert_int_equal(send_seq(a.t, &a.ep, &b.ep, sa++), 0);
    assert_int_equal(send_seq(b.t, &b.ep, &a.ep, sb++), 0);
    want wa = {&a.r, 1}, wb = {&b.r, 1};
    assert_true(run_until(got_n, &wa, 5000));
    assert_true(run_until(got_n, &wb, 5000));

    sb_transport_block(a.t, &b.ep, 1);
    assert_true(sb_transport_blocked(a.t, &b.ep));
    assert_false(sb_transport_blocked(b.t, &a.ep));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(send_seq(a.t, &a.ep, &b.ep, sa++), SB_ECLOSED);
        assert_int_equal(send_seq(b.t, &b.ep, &a.ep, sb++), 0); /* b does not know */
    }
    run_for(300);
    assert_int_equal(a.r.n, 1);
    assert_int_equal(b.r.n, 1);
    sb_transport_peer_stats s = peer_stats(a.t, &b.ep);
    assert_int_equal(s.blocked, 1);
    assert_int_equal(s.dropped, 10); /* 5 outgoing refused, 5 incoming dropped */
    assert_int_equal(s.received, 1);
    assert_int_equal(peer_stats(b.t, &a.ep).sent, 6);

    sb_transport_block(a.t, &b.ep, 0);
    assert_false(sb_transport_blocked(a.t, &b.ep));
    /* Traffic resumes; sequence numbers jumped over what was dropped. */
    a.r.next = sb;
    b.r.next = sa;
    assert_int_equal(send_seq(a.t, &a.ep, &b.ep, sa++), 0);
    assert_int_equal(send_seq(b.t, &b.ep, &a.ep, sb++), 0);
    wa.n = 2;
    wb.n = 2;
    assert_true(run_until(got_n, &wa, 5000));
    assert_true(run_until(got_n, &wb, 5000));
    assert_int_equal(a.r.bad, 0);
    assert_int_equal(b.r.bad, 0);
    assert_int_equal(peer_stats(a.t, &b.ep).received, 2);
    node_stop(&a);
    node_stop(&b);
}

static void test_block_drops_queued(void **state)
{
    node a;
    node_start(&a, free_port());
    sb_ep nobody = ep_of(free_port());
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(send_seq(a.t, &a.ep, &nobody, i), 0);
    sb_transport_block(a.t, &nobody, 1);
    sb_transport_peer_stats s = peer_stats(a.t, &nobody);
    assert_int_equal(s.queued_msgs, 0);
    assert_int_equal(s.queued_bytes, 0);
    assert_int_equal(s.dropped, 4);
    node_stop(&a);
}

static void test_stop_with_traffic_in_flight(void **state)
{
    node a, b;
    node_start(&a, free_port());
    node_start(&b, free_port());
    sb_ep nobody = ep_of(free_port());
    for (uint32_t i = 0; i < 3000; i++) {
        assert_int_equal(send_seq(a.t, &a.ep, &b.ep, i), 0);
        assert_int_equal(send_seq(b.t, &b.ep, &a.ep, i), 0);
    }
    assert_int_equal(send_seq(a.t, &a.ep, &nobody, 0), 0);
    run_for(3); /* some of it connected and in flight, some queued */
    sb_transport_stop(a.t);
    sb_transport_stop(a.t); /* idempotent */
    assert_int_equal(send_seq(a.t, &a.ep, &b.ep, 0), SB_ECLOSED);
    sb_transport_stop(b.t);
    run_for(10);
    sb_transport_peer_stats s = peer_stats(a.t, &b.ep);
    assert_int_equal(s.queued_msgs, 0);
    assert_int_equal(s.sent + s.dropped, 3000);
    sb_transport_free(a.t);
    sb_transport_free(b.t);
    sb_buf_free(&a.r.last_raw);
    sb_buf_free(&b.r.last_raw);
}

static void test_listen_errors(void **state)
{
    node a;
    node_start(&a, free_port());
    sb_transport_opts o;
    sb_transport_opts_default(&o);
    o.listen = a.ep;
    sb_transport *t = NULL;
    char err[SB_ERRMSG_SIZE] = "";
    assert_int_equal(sb_transport_start(&t, &loop, &o, err), SB_EIO);
    assert_null(t);
    assert_non_null(strstr(err, "listen on 127.0.0.1:"));
    o.listen.family = 0;
    assert_int_equal(sb_transport_start(&t, &loop, &o, err), SB_EINVAL);
    assert_null(t);
    node_stop(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_header_codec),
        cmocka_unit_test_setup_teardown(test_exchange_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_peer_gets_queued_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clocks_and_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_peer_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_peers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_frames_close_only_that_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_partial_and_coalesced_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_and_unblock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_drops_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_traffic_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
