/*
 * CQL native protocol load generator.
 *
 *   bench_cql --target 127.0.0.1:9042 [--mode insert|select]
 *             [--connections 4] [--inflight 256] [--duration S] [--warmup S]
 *             [--node-pid PID] [--rate R] [--rows N] [--seed N]
 *             [--targets H:P,H:P,...] [--replication-factor N]
 *             [--consistency ONE|QUORUM|ALL|...]
 *
 * Speaks protocol v4 itself (request frames built with the client codec of
 * src/cli/cqlclient.h and the encoders of src/cqlproto/frame.h), on one
 * epoll loop with --connections sockets. It first creates keyspace `bench`
 * and table bench.t (k bigint, c int, v double, PRIMARY KEY (k, c)) if
 * missing, then PREPAREs its statement once (the node's prepared cache is
 * per node, so the id is valid on every connection).
 *
 * - insert (throughput, closed loop): EXECUTE of
 *   `INSERT INTO bench.t (k, c, v) VALUES (?, ?, ?)` at consistency ONE with
 *   --inflight requests outstanding per connection, each on its own stream
 *   id; a new one is sent as soon as one is acknowledged. Row i is
 *   (k = i / 8, c = i % 8, v = i / 2), i counting up from --seed * 2^40, so
 *   every insert is a new row. The node acknowledges a write after its
 *   commit log is fsynced (group commit), so this measures durable inserts.
 * - select (latency, open loop): first writes --rows rows as above (i from
 *   0), then EXECUTEs `SELECT v FROM bench.t WHERE k = ? AND c = ?` of
 *   random existing rows at a fixed --rate per second for --duration,
 *   regardless of how fast answers come. Latency is measured from the time
 *   a request was scheduled (not sent), so a stalled node cannot hide its
 *   queueing (no coordinated omission). Every answer must hold one row.
 *
 * With --node-pid the node's CPU time (utime+stime from /proc/PID/stat) over
 * the measured window is reported, so inserts/s per core can be given.
 * Prints a human line and a machine line:
 *   RESULT mode=... ops=... seconds=... ops_per_s=... node_cpu_s=...
 *          p50_ms=... p99_ms=... errors=...
 * Cluster options (defaults keep the one-node behaviour): --targets spreads
 * the connections round-robin over several nodes (connection k goes to
 * target k mod n; the statements are PREPAREd on every target, retried for
 * up to 30 s while the schema reaches it); --replication-factor sets the
 * SimpleStrategy factor of the keyspace it creates (default 1);
 * --consistency is the level of every QUERY and EXECUTE (default ONE).
 * Exit status 1 when any request failed, 2 on a usage or setup error.
 * Every loop is bounded by time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cqlclient.h"
#include "cqlproto/frame.h"
#include "util/buf.h"
#include "util/err.h"
#include "bench_proc.h"

enum { MAX_CONNS = 256, MAX_STREAMS = 32768, MAX_ERRORS_SHOWN = 5, MAX_TARGETS = 16 };

static const char INSERT_Q[] = "INSERT INTO bench.t (k, c, v) VALUES (?, ?, ?)";
static const char SELECT_Q[] = "SELECT v FROM bench.t WHERE k = ? AND c = ?";

typedef struct conn {
    int fd;
    int target; /* index into bench.hosts */
    sb_buf out; /* request frames not yet written */
    size_t out_off;
    sb_buf in;
    int want_out; /* EPOLLOUT registered */
    int inflight;
    int16_t *free_streams; /* stack */
    int nfree;
    double *sched_s; /* per stream: when the request was scheduled */
} conn;

typedef struct bench {
    char hosts[MAX_TARGETS][256];
    int ports[MAX_TARGETS];
    int ntargets;
    int rf;      /* replication factor of the keyspace created */
    uint16_t cl; /* consistency of every QUERY and EXECUTE */
    int mode_select;
    int nconns;
    int inflight;
    double duration, warmup, rate;
    int node_pid;
    long rows;
    uint64_t seed;
    uint8_t id[MAX_TARGETS][2][64]; /* prepared ids per target: [0] insert, [1] select */
    size_t id_len[MAX_TARGETS][2];
    int ep;
    conn *conns;
    uint64_t next_row;
    uint64_t rng;
    /* measurement */
    int measuring;
    double t0, t1;
    uint64_t ops, errors, bad_rows;
    double *lat_ms;
    size_t nlat, caplat;
    int printed_errors;
} bench;

static void die(const char *msg)
{
    fprintf(stderr, "bench_cql: %s\n", msg);
    exit(2);
}

static uint64_t rng_next(bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ----------------------------------------------------------- request frames */

static size_t frame_begin(sb_buf *b, int16_t stream, int opcode)
{
    size_t off = b->len;
    uint8_t h[9] = {SB_CQLPROTO_VERSION, 0, (uint8_t)((uint16_t)stream >> 8), (uint8_t)stream,
                    (uint8_t)opcode};
    if (sb_buf_append(b, h, sizeof h))
        die("out of memory");
    return off;
}

static void frame_end(sb_buf *b, size_t off)
{
    uint32_t n = (uint32_t)(b->len - off - 9);
    b->data[off + 5] = (uint8_t)(n >> 24);
    b->data[off + 6] = (uint8_t)(n >> 16);
    b->data[off + 7] = (uint8_t)(n >> 8);
    b->data[off + 8] = (uint8_t)n;
}

/* EXECUTE of row i: the insert binds (k, c, v), the select (k, c). */
static void put_execute(bench *b, sb_buf *out, int target, int16_t stream, uint64_t i)
{
    size_t off = frame_begin(out, stream, SB_CQLOP_EXECUTE);
    int rc = sb_cql_put_short_bytes(out, b->id[target][b->mode_select],
                                    b->id_len[target][b->mode_select]);
    rc |= sb_buf_put_u16be(out, b->cl);
    rc |= sb_buf_putc(out, SB_CQLQ_VALUES | (b->mode_select ? SB_CQLQ_SKIP_METADATA : 0));
    rc |= sb_buf_put_u16be(out, b->mode_select ? 2 : 3);
    rc |= sb_buf_put_u32be(out, 8);
    rc |= sb_buf_put_u64be(out, i / 8);
    rc |= sb_buf_put_u32be(out, 4);
    rc |= sb_buf_put_u32be(out, (uint32_t)(i % 8));
    if (!b->mode_select) {
        double v = (double)i / 2;
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        rc |= sb_buf_put_u32be(out, 8);
        rc |= sb_buf_put_u64be(out, bits);
    }
    if (rc)
        die("out of memory");
    frame_end(out, off);
}

/* ------------------------------------------------------------ setup (blocking) */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* PREPAREs q on the connected (blocking) socket of c; the id goes to
 * b->id[target][which]. An ERROR answer returns -1 after printing it when
 * `quiet` is 0 (the caller may retry: the schema may not have reached this
 * node yet); a broken connection or a malformed answer exits. */
static int prepare(bench *b, sb_cqlc *c, int target, const char *q, int which, int quiet)
{
    sb_buf f;
    sb_buf_init(&f);
    size_t off = frame_begin(&f, 1, SB_CQLOP_PREPARE);
    if (sb_cql_put_long_string(&f, q, strlen(q)))
        die("out of memory");
    frame_end(&f, off);
    uint8_t h[9];
    if (write_all(c->fd, f.data, f.len) || read_all(c->fd, h, 9))
        die("PREPARE: connection failed");
    uint32_t len = be32(h + 5);
    if (len > (1u << 20))
        die("PREPARE: oversized answer");
    uint8_t *body = malloc(len + 1);
    if (!body || read_all(c->fd, body, len))
        die("PREPARE: connection failed");
    if (h[4] == SB_CQLOP_ERROR) {
        sb_cqlc_result r;
        char err[SB_ERRMSG_SIZE];
        sb_cqlc_result_init(&r);
        if (!quiet && sb_cqlc_parse_response(h[4], h[1], body, len, &r, err) == 0)
            fprintf(stderr, "bench_cql: PREPARE %s on %s:%d: %s: %s\n", q, b->hosts[target],
                    b->ports[target], r.err_class, r.err_msg);
        sb_cqlc_result_free(&r);
        free(body);
        sb_buf_free(&f);
        return -1;
    }
    /* RESULT: [int kind=4][short bytes id] ... */
    if (h[4] != SB_CQLOP_RESULT || h[1] != 0 || len < 6 || be32(body) != 4)
        die("PREPARE: unexpected answer");
    size_t n = (size_t)body[4] << 8 | body[5];
    if (n == 0 || n > sizeof b->id[target][which] || 6 + n > len)
        die("PREPARE: bad statement id");
    memcpy(b->id[target][which], body + 6, n);
    b->id_len[target][which] = n;
    free(body);
    sb_buf_free(&f);
    return 0;
}

/* PREPAREs q on target `target`, retrying every 100 ms for up to 30 s while
 * the node answers with an error (a new table not yet known there). */
static void prepare_retry(bench *b, sb_cqlc *c, int target, const char *q, int which)
{
    double deadline = mono_s() + 30;
    while (prepare(b, c, target, q, which, mono_s() < deadline) != 0) {
        if (mono_s() >= deadline)
            exit(2); /* the last error was printed */
        usleep(100000);
    }
}

static void query_or_die(bench *b, sb_cqlc *c, const char *q)
{
    sb_cqlc_result r;
    char err[SB_ERRMSG_SIZE];
    sb_cqlc_result_init(&r);
    if (sb_cqlc_query(c, q, strlen(q), b->cl, 0, NULL, 0, &r, err)) {
        fprintf(stderr, "bench_cql: %s: %s\n", q, err);
        exit(2);
    }
    if (r.kind == SB_CQLC_ERROR) {
        fprintf(stderr, "bench_cql: %s: %s: %s\n", q, r.err_class, r.err_msg);
        exit(2);
    }
    sb_cqlc_result_free(&r);
}

static void open_conn(bench *b, conn *cn, int target, sb_cqlc *setup)
{
    sb_cqlc c;
    char err[SB_ERRMSG_SIZE];
    cn->target = target;
    if (sb_cqlc_connect(&c, b->hosts[target], b->ports[target], 10000, err)) {
        fprintf(stderr, "bench_cql: %s\n", err);
        exit(2);
    }
    if (setup)
        *setup = c;
    cn->fd = c.fd;
    int one = 1;
    setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sb_buf_init(&cn->out);
    sb_buf_init(&cn->in);
    cn->free_streams = malloc(sizeof *cn->free_streams * MAX_STREAMS);
    cn->sched_s = calloc(MAX_STREAMS, sizeof *cn->sched_s);
    if (!cn->free_streams || !cn->sched_s)
        die("out of memory");
    cn->nfree = 0;
    for (int s = MAX_STREAMS - 1; s >= 2; s--) /* 0 and 1 were the handshake's */
        cn->free_streams[cn->nfree++] = (int16_t)s;
}

static void go_async(bench *b, conn *cn)
{
    /* The blocking client set receive/send timeouts; non-blocking from now. */
    fcntl(cn->fd, F_SETFL, fcntl(cn->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cn};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, cn->fd, &ev))
        die("epoll_ctl failed");
}

/* --------------------------------------------------------------- the loop */

static void record_latency(bench *b, double ms)
{
    if (b->nlat == b->caplat) {
        size_t cap = b->caplat ? b->caplat * 2 : 4096;
        double *p = realloc(b->lat_ms, cap * sizeof *p);
        if (!p)
            return;
        b->lat_ms = p;
        b->caplat = cap;
    }
    b->lat_ms[b->nlat++] = ms;
}

static void set_out_interest(bench *b, conn *cn, int want)
{
    if (cn->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = cn};
    epoll_ctl(b->ep, EPOLL_CTL_MOD, cn->fd, &ev);
    cn->want_out = want;
}

static void flush(bench *b, conn *cn)
{
    while (cn->out_off < cn->out.len) {
        ssize_t w = write(cn->fd, cn->out.data + cn->out_off, cn->out.len - cn->out_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            perror("bench_cql: write");
            exit(1);
        }
        cn->out_off += (size_t)w;
    }
    if (cn->out_off == cn->out.len) {
        sb_buf_reset(&cn->out);
        cn->out_off = 0;
    }
    set_out_interest(b, cn, cn->out_off < cn->out.len);
}

/* Queues one request for row i, scheduled at time `sched`. 0, or -1 when
 * the connection has no free stream. */
static int send_one(bench *b, conn *cn, uint64_t i, double sched)
{
    if (cn->nfree == 0)
        return -1;
    int16_t s = cn->free_streams[--cn->nfree];
    cn->sched_s[s] = sched;
    cn->inflight++;
    put_execute(b, &cn->out, cn->target, s, i);
    return 0;
}

static void on_error(bench *b, const uint8_t *body, size_t len, int flags)
{
    b->errors++;
    if (b->printed_errors++ >= MAX_ERRORS_SHOWN)
        return;
    sb_cqlc_result r;
    char err[SB_ERRMSG_SIZE];
    sb_cqlc_result_init(&r);
    if (sb_cqlc_parse_response(SB_CQLOP_ERROR, flags, body, len, &r, err) == 0)
        fprintf(stderr, "bench_cql: error %s (0x%04x): %s\n", r.err_class, r.err_code, r.err_msg);
    else
        fprintf(stderr, "bench_cql: undecodable error: %s\n", err);
    sb_cqlc_result_free(&r);
}

/* A RESULT body: insert expects Void, select Rows with exactly one row.
 * Returns 1 when the answer is the expected one. */
static int check_result(bench *b, const uint8_t *body, size_t len, int flags)
{
    if (flags & SB_CQLFLAG_WARNING)
        return 1; /* not decoded here; the kind check is the one that matters */
    if (len < 4)
        return 0;
    uint32_t kind = be32(body);
    if (!b->mode_select)
        return kind == 1;
    if (kind != 2)
        return 0;
    /* Rows with skip_metadata: [int flags][int columns_count] (no
     * metadata, no paging state when none) then [int rows_count]. */
    if (len < 16)
        return 0;
    uint32_t mflags = be32(body + 4);
    size_t p = 12;
    if (mflags & 0x0002) { /* has_more_pages: [bytes] paging state */
        if (p + 4 > len)
            return 0;
        int32_t n = (int32_t)be32(body + p);
        p += 4 + (n > 0 ? (size_t)n : 0);
    }
    if (!(mflags & 0x0004)) /* metadata present despite skip_metadata */
        return 1;
    return p + 4 <= len && be32(body + p) == 1;
}

static void on_readable(bench *b, conn *cn, double now)
{
    for (;;) {
        if (sb_buf_reserve(&cn->in, 65536))
            die("out of memory");
        ssize_t r = read(cn->fd, cn->in.data + cn->in.len, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0) {
            fprintf(stderr, "bench_cql: the node closed a connection (%s)\n",
                    r == 0 ? "EOF" : strerror(errno));
            exit(1);
        }
        cn->in.len += (size_t)r;
        if ((size_t)r < 65536)
            break;
    }
    size_t p = 0;
    while (cn->in.len - p >= 9) {
        const uint8_t *h = cn->in.data + p;
        uint32_t len = be32(h + 5);
        if (len > SB_CQLC_MAX_BODY)
            die("oversized response frame");
        if (cn->in.len - p - 9 < len)
            break;
        int16_t s = (int16_t)(h[2] << 8 | h[3]);
        const uint8_t *body = h + 9;
        if (s < 2 || cn->sched_s[s] == 0) {
            fprintf(stderr, "bench_cql: response on unexpected stream %d\n", s);
            exit(1);
        }
        int ok = 0;
        if (h[4] == SB_CQLOP_ERROR)
            on_error(b, body, len, h[1]);
        else if (h[4] == SB_CQLOP_RESULT && check_result(b, body, len, h[1]))
            ok = 1;
        else {
            b->errors++;
            b->bad_rows++;
        }
        double sched = cn->sched_s[s];
        if (b->measuring && sched >= b->t0 && ok) {
            b->ops++;
            record_latency(b, (now - sched) * 1000.0);
        }
        cn->sched_s[s] = 0;
        cn->free_streams[cn->nfree++] = s;
        cn->inflight--;
        p += 9 + len;
    }
    memmove(cn->in.data, cn->in.data + p, cn->in.len - p);
    cn->in.len -= p;
}

/* Runs the loop until `until`; in insert mode keeps every connection at
 * --inflight outstanding requests while `refill` and i < limit. Select mode
 * sends on schedule at --rate. Returns when the time is up, or earlier once
 * nothing is in flight and nothing more is to be sent (!refill, or all of
 * the `limit` rows sent). */
static void run_loop(bench *b, double until, uint64_t limit, int refill)
{
    struct epoll_event evs[64];
    double next_sched = mono_s();
    uint64_t rr = 0;
    for (;;) {
        double now = mono_s();
        if (now >= until)
            return;
        if (refill && !b->mode_select) {
            for (int k = 0; k < b->nconns; k++) {
                conn *cn = &b->conns[k];
                while (cn->inflight < b->inflight && b->next_row < limit &&
                       send_one(b, cn, b->next_row, now) == 0)
                    b->next_row++;
                if (cn->out.len > cn->out_off)
                    flush(b, cn);
            }
        } else if (refill) {
            while (next_sched <= now) {
                conn *cn = &b->conns[rr++ % (uint64_t)b->nconns];
                uint64_t i = rng_next(b) % (uint64_t)b->rows;
                if (send_one(b, cn, i, next_sched) != 0)
                    die("ran out of stream ids: the node is not keeping up with --rate");
                next_sched += 1.0 / b->rate;
            }
            for (int k = 0; k < b->nconns; k++)
                if (b->conns[k].out.len > b->conns[k].out_off)
                    flush(b, &b->conns[k]);
        }
        double wait_s = until - now;
        if (refill && b->mode_select && next_sched - now < wait_s)
            wait_s = next_sched - now;
        if (wait_s < 0)
            wait_s = 0;
        if (wait_s > 0.1)
            wait_s = 0.1;
        /* Nanosecond timeout, so the open loop sends on time without
         * spinning; epoll_wait's milliseconds where the kernel lacks it. */
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait_s * 1e9)};
        int n = epoll_pwait2(b->ep, evs, 64, &ts, NULL);
        if (n < 0 && errno == ENOSYS)
            n = epoll_wait(b->ep, evs, 64, (int)(wait_s * 1000.0));
        if (n < 0 && errno != EINTR)
            die("epoll_wait failed");
        now = mono_s();
        for (int e = 0; e < n; e++) {
            conn *cn = evs[e].data.ptr;
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(b, cn, now);
            if (evs[e].events & EPOLLOUT)
                flush(b, cn);
        }
        if (!refill || (!b->mode_select && b->next_row >= limit)) {
            int left = 0;
            for (int k = 0; k < b->nconns; k++)
                left += b->conns[k].inflight;
            if (left == 0)
                return;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const bench *b, double q)
{
    if (b->nlat == 0)
        return 0;
    size_t i = (size_t)(q * (double)(b->nlat - 1) + 0.5);
    return b->lat_ms[i];
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cql --target HOST:PORT [--mode insert|select] [--connections N]\n"
                    "                 [--inflight N] [--duration S] [--warmup S] [--node-pid PID]\n"
                    "                 [--rate R] [--rows N] [--seed N]\n"
                    "                 [--targets H:P,H:P,...] [--replication-factor N]\n"
                    "                 [--consistency ANY|ONE|TWO|THREE|QUORUM|ALL|LOCAL_QUORUM|"
                    "EACH_QUORUM|LOCAL_ONE]\n");
    exit(2);
}

/* Consistency level codes of the native protocol. */
static int parse_consistency(const char *s)
{
    static const struct {
        const char *name;
        int code;
    } cls[] = {{"ANY", 0}, {"ONE", 1},          {"TWO", 2},         {"THREE", 3},     {"QUORUM", 4},
               {"ALL", 5}, {"LOCAL_QUORUM", 6}, {"EACH_QUORUM", 7}, {"LOCAL_ONE", 10}};
    for (size_t k = 0; k < sizeof cls / sizeof cls[0]; k++)
        if (strcasecmp(s, cls[k].name) == 0)
            return cls[k].code;
    return -1;
}

/* Parses one HOST:PORT into target slot k of b. */
static void parse_target(bench *b, int k, const char *t, size_t n)
{
    const char *colon = memrchr(t, ':', n);
    if (!colon || colon == t || (size_t)(colon - t) >= sizeof b->hosts[k] || colon + 1 == t + n) {
        fprintf(stderr, "bench_cql: target '%.*s' must be HOST:PORT\n", (int)n, t);
        exit(2);
    }
    memcpy(b->hosts[k], t, (size_t)(colon - t));
    b->hosts[k][colon - t] = '\0';
    char port[16];
    size_t pn = (size_t)(t + n - colon - 1);
    if (pn >= sizeof port) {
        fprintf(stderr, "bench_cql: target '%.*s': bad port\n", (int)n, t);
        exit(2);
    }
    memcpy(port, colon + 1, pn);
    port[pn] = '\0';
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 1 || p > 65535) {
        fprintf(stderr, "bench_cql: target '%.*s': bad port\n", (int)n, t);
        exit(2);
    }
    b->ports[k] = (int)p;
}

int main(int argc, char **argv)
{
    bench b = {.nconns = 4,
               .inflight = 256,
               .duration = 10,
               .warmup = 2,
               .rate = 2000,
               .rows = 100000,
               .rf = 1,
               .cl = 1,
               .rng = 0x9e3779b97f4a7c15ull};
    const char *target = NULL, *targets = NULL;
    static const struct option opts[] = {
        {"target", 1, 0, 't'},      {"mode", 1, 0, 'm'},
        {"connections", 1, 0, 'c'}, {"inflight", 1, 0, 'i'},
        {"duration", 1, 0, 'd'},    {"warmup", 1, 0, 'w'},
        {"node-pid", 1, 0, 'p'},    {"rate", 1, 0, 'r'},
        {"rows", 1, 0, 'n'},        {"seed", 1, 0, 's'},
        {"targets", 1, 0, 'T'},     {"replication-factor", 1, 0, 'R'},
        {"consistency", 1, 0, 'C'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            target = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "insert") && strcmp(optarg, "select"))
                usage();
            b.mode_select = strcmp(optarg, "select") == 0;
            break;
        case 'c':
            b.nconns = atoi(optarg);
            break;
        case 'i':
            b.inflight = atoi(optarg);
            break;
        case 'd':
            b.duration = atof(optarg);
            break;
        case 'w':
            b.warmup = atof(optarg);
            break;
        case 'p':
            b.node_pid = atoi(optarg);
            break;
        case 'r':
            b.rate = atof(optarg);
            break;
        case 'n':
            b.rows = atol(optarg);
            break;
        case 's':
            b.seed = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            targets = optarg;
            break;
        case 'R':
            b.rf = atoi(optarg);
            if (b.rf < 1 || b.rf > 100)
                die("--replication-factor must be 1..100");
            break;
        case 'C': {
            int cl = parse_consistency(optarg);
            if (cl < 0) {
                fprintf(stderr, "bench_cql: --consistency %s: unknown level\n", optarg);
                usage();
            }
            b.cl = (uint16_t)cl;
            break;
        }
        default:
            usage();
        }
    }
    if (target && targets)
        die("give --target or --targets, not both");
    if (!target && !targets)
        usage();
    if (target) {
        parse_target(&b, 0, target, strlen(target));
        b.ntargets = 1;
    } else {
        const char *p = targets;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            if (b.ntargets == MAX_TARGETS)
                die("--targets: too many (at most 16)");
            parse_target(&b, b.ntargets++, p, n);
            p += n + (comma ? 1 : 0);
        }
        if (b.ntargets == 0)
            die("--targets: empty list");
    }
    if (b.nconns < 1 || b.nconns > MAX_CONNS || b.inflight < 1 || b.inflight > MAX_STREAMS - 2 ||
        b.duration <= 0 || b.warmup < 0 || b.rate <= 0 || b.rows < 1 || b.duration > 3600 ||
        b.warmup > 600)
        usage();
    b.rng ^= b.seed * 0x2545f4914f6cdd1dull;
    if (b.nconns < b.ntargets)
        die("--connections must be at least the number of --targets");

    /* Schema, statement, connections. */
    b.conns = calloc((size_t)b.nconns, sizeof *b.conns);
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!b.conns || b.ep < 0)
        die("out of memory");
    sb_cqlc setup;
    open_conn(&b, &b.conns[0], 0, &setup);
    char ddl[256];
    snprintf(ddl, sizeof ddl,
             "CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
             "{'class': 'SimpleStrategy', 'replication_factor': %d}",
             b.rf);
    query_or_die(&b, &setup, ddl);
    query_or_die(&b, &setup,
                 "CREATE TABLE IF NOT EXISTS bench.t "
                 "(k bigint, c int, v double, PRIMARY KEY (k, c))");
    prepare_retry(&b, &setup, 0, INSERT_Q, 0);
    prepare_retry(&b, &setup, 0, SELECT_Q, 1);
    /* Every other target prepares on its first connection (the prepared
     * cache is per node). */
    for (int k = 1; k < b.nconns; k++) {
        int t = k % b.ntargets;
        if (k < b.ntargets) {
            open_conn(&b, &b.conns[k], t, &setup);
            prepare_retry(&b, &setup, t, INSERT_Q, 0);
            prepare_retry(&b, &setup, t, SELECT_Q, 1);
        } else {
            open_conn(&b, &b.conns[k], t, NULL);
        }
    }
    for (int k = 0; k < b.nconns; k++)
        go_async(&b, &b.conns[k]);

    if (b.mode_select) {
        /* Load the rows the selects will read, as fast as the node takes them. */
        b.mode_select = 0;
        b.next_row = 0;
        double t = mono_s();
        run_loop(&b, t + 600, (uint64_t)b.rows, 1);
        if (b.next_row < (uint64_t)b.rows)
            die("loading the rows took over 600 s");
        run_loop(&b, mono_s() + 60, 0, 0);
        if (b.errors)
            die("loading the rows failed");
        fprintf(stderr, "bench_cql: loaded %ld rows in %.1f s\n", b.rows, mono_s() - t);
        b.mode_select = 1;
    }
    b.next_row = b.seed << 40;

    double start = mono_s();
    run_loop(&b, start + b.warmup, UINT64_MAX, 1);
    double cpu0 = b.node_pid ? proc_cpu_s(b.node_pid) : 0;
    b.measuring = 1;
    b.t0 = mono_s();
    b.nlat = 0;
    run_loop(&b, b.t0 + b.duration, UINT64_MAX, 1);
    b.t1 = mono_s();
    double cpu1 = b.node_pid ? proc_cpu_s(b.node_pid) : 0;
    b.measuring = 0;
    run_loop(&b, mono_s() + 10, 0, 0); /* let in-flight requests finish */
    int left = 0;
    for (int k = 0; k < b.nconns; k++)
        left += b.conns[k].inflight;

    double secs = b.t1 - b.t0;
    double node_cpu = (b.node_pid && cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : 0;
    qsort(b.lat_ms, b.nlat, sizeof *b.lat_ms, cmp_double);
    const char *mode = b.mode_select ? "select" : "insert";
    printf("%s: %" PRIu64
           " in %.2f s = %.0f/s over %d connections to %d node(s) (%s); node CPU %.2f s;"
           " latency p50 %.3f ms p99 %.3f ms; %" PRIu64 " errors\n",
           mode, b.ops, secs, (double)b.ops / secs, b.nconns, b.ntargets,
           b.mode_select ? "open loop" : "closed loop", node_cpu, pct(&b, 0.50), pct(&b, 0.99),
           b.errors);
    printf("RESULT mode=%s ops=%" PRIu64 " seconds=%.3f ops_per_s=%.0f node_cpu_s=%.2f "
           "p50_ms=%.3f p99_ms=%.3f errors=%" PRIu64 "\n",
           mode, b.ops, secs, (double)b.ops / secs, node_cpu, pct(&b, 0.50), pct(&b, 0.99),
           b.errors);
    if (left)
        fprintf(stderr, "bench_cql: %d requests still unanswered after 10 s\n", left);
    for (int k = 0; k < b.nconns; k++) {
        close(b.conns[k].fd);
        sb_buf_free(&b.conns[k].out);
        sb_buf_free(&b.conns[k].in);
        free(b.conns[k].free_streams);
        free(b.conns[k].sched_s);
    }
    free(b.conns);
    free(b.lat_ms);
    close(b.ep);
    return (b.errors || left) ? 1 : 0;
}
