/*
 * `sibyl sim`: drives the fleet generator (gen.h) in real time and posts
 * batches of line protocol to a node (httpc.h).
 *
 * NOTES ON THE DESIGN
 *
 * - One thread, one blocking keep-alive connection. The loop: take every
 *   reading due by now (at most --batch), send when the batch is full or
 *   has waited --flush-ms, else sleep until the next reading is due.
 * - A batch that fails with a connection error or a 5xx (the node is down,
 *   restarting or overloaded) is kept and retried with exponential backoff
 *   (100 ms doubling to 5 s), so nothing is lost across a node restart. A
 *   4xx means the batch itself is wrong: it is reported with the node's
 *   JSON error and dropped; after 10 rejected batches in a row the
 *   simulator gives up (exit 1), since every later batch would fail alike.
 * - While the node is down the generator keeps its schedule; once the node
 *   is back the backlog goes out at full speed. A backlog older than
 *   --max-backlog-s is skipped (and counted) so memory and catch-up time
 *   stay bounded.
 * - --fast runs on simulated time (no sleeping): a backfill of --duration
 *   seconds of readings as fast as the node takes them. --stdout prints the
 *   lines instead of sending them.
 * - SIGINT/SIGTERM set a flag; blocking calls return with EINTR, the loop
 *   makes one last attempt to send the open batch, prints a summary and
 *   exits 0.
 */
#include "sim/sim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/gen.h"
#include "sim/httpc.h"
#include "util/buf.h"
#include "util/err.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
    stop_flag = 1;
}

typedef struct sim_cfg {
    char target[300];
    char bucket[128];
    sb_sim_gen_opts gen;
    double duration_s;
    int batch;
    int flush_ms;
    double status_s;
    int max_backlog_s;
    int timeout_ms;
    int fast;
    int to_stdout;
} sim_cfg;

typedef struct sim_stats {
    uint64_t points_sent, requests, errors, rejected_batches, rejected_points, late, skipped;
    uint64_t last_points;
    double last_status_s;
    double start_s;
    int consecutive_rejects;
    int node_up;
    char last_error[SB_ERRMSG_SIZE];
} sim_stats;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL); /* EINTR on SIGINT is what we want */
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl sim [options]\n"
               "\n"
               "Simulates a fleet of sensors and writes their readings to a Sibyl node as\n"
               "InfluxDB line protocol (POST /api/v2/write?bucket=B&precision=ms).\n"
               "\n"
               "  --target HOST:PORT   node HTTP address (default 127.0.0.1:8080)\n"
               "  --bucket NAME        bucket = keyspace to write to (default sensors)\n"
               "  --measurement NAME   measurement = table (default readings)\n"
               "  --sensors N          number of sensors (default 100)\n"
               "  --rate R             readings per second, whole fleet (default 100)\n"
               "  --duration S         seconds to run, 0 = until interrupted (default 0)\n"
               "  --seed N             random seed; same seed, same readings (default 1)\n"
               "  --batch N            most points per request (default 500)\n"
               "  --flush-ms MS        send a partial batch after this long (default 1000)\n"
               "  --late F             fraction of readings sent late (default 0.02)\n"
               "  --delay-ms MIN:MAX   how late, in ms (default 1000:5000)\n"
               "  --start MS           timestamp of the first reading, Unix ms (default now)\n"
               "  --fast               do not wait for real time: backfill --duration seconds\n"
               "                       of readings as fast as the node accepts them\n"
               "  --stdout             print the line protocol instead of sending it\n"
               "  --status S           seconds between status lines (default 5, 0 = none)\n"
               "  --timeout-ms MS      per-request I/O timeout (default 10000)\n"
               "  --max-backlog-s S    skip readings older than this after an outage (default "
               "600)\n");
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "sibyl sim: --%s: '%s' is not a number in %g..%g\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, sim_cfg *c)
{
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'},
        {"bucket", required_argument, 0, 'b'},
        {"measurement", required_argument, 0, 'm'},
        {"sensors", required_argument, 0, 'n'},
        {"rate", required_argument, 0, 'r'},
        {"duration", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 's'},
        {"batch", required_argument, 0, 'B'},
        {"flush-ms", required_argument, 0, 'F'},
        {"late", required_argument, 0, 'L'},
        {"delay-ms", required_argument, 0, 'D'},
        {"start", required_argument, 0, 'S'},
        {"fast", no_argument, 0, 'f'},
        {"stdout", no_argument, 0, 'o'},
        {"status", required_argument, 0, 'T'},
        {"timeout-ms", required_argument, 0, 'O'},
        {"max-backlog-s", required_argument, 0, 'M'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(c, 0, sizeof *c);
    snprintf(c->target, sizeof c->target, "127.0.0.1:8080");
    snprintf(c->bucket, sizeof c->bucket, "sensors");
    sb_sim_gen_opts_default(&c->gen);
    c->gen.start_ms = -1;
    c->batch = 500;
    c->flush_ms = 1000;
    c->status_s = 5;
    c->max_backlog_s = 600;
    c->timeout_ms = 10000;
    optind = 1;
    opterr = 0;
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *name = "";
        for (int i = 0; opts[i].name; i++)
            if (opts[i].val == ch)
                name = opts[i].name;
        switch (ch) {
        case 't':
            snprintf(c->target, sizeof c->target, "%s", optarg);
            break;
        case 'b':
            if (!*optarg || strlen(optarg) >= sizeof c->bucket || strpbrk(optarg, "&?#% ")) {
                fprintf(stderr, "sibyl sim: --bucket: '%s' is not a valid bucket name\n", optarg);
                return -1;
            }
            snprintf(c->bucket, sizeof c->bucket, "%s", optarg);
            break;
        case 'm':
            c->gen.measurement = optarg;
            break;
        case 'n':
            if (parse_num(name, optarg, 1, SB_SIM_MAX_SENSORS, &v))
                return -1;
            c->gen.sensors = (int)v;
            break;
        case 'r':
            if (parse_num(name, optarg, 0.001, 1e7, &v))
                return -1;
            c->gen.rate = v;
            break;
        case 'd':
            if (parse_num(name, optarg, 0, 1e9, &c->duration_s))
                return -1;
            break;
        case 's':
            if (parse_num(name, optarg, 0, 1.8e19, &v))
                return -1;
            c->gen.seed = strtoull(optarg, NULL, 10);
            break;
        case 'B':
            if (parse_num(name, optarg, 1, 1000000, &v))
                return -1;
            c->batch = (int)v;
            break;
        case 'F':
            if (parse_num(name, optarg, 1, 3600000, &v))
                return -1;
            c->flush_ms = (int)v;
            break;
        case 'L':
            if (parse_num(name, optarg, 0, 1, &c->gen.late_fraction))
                return -1;
            break;
        case 'D': {
            int lo, hi;
            char extra;
            if (sscanf(optarg, "%d:%d%c", &lo, &hi, &extra) != 2 || lo < 0 || hi < lo) {
                fprintf(stderr, "sibyl sim: --delay-ms: expected MIN:MAX in ms, got '%s'\n",
                        optarg);
                return -1;
            }
            c->gen.delay_min_ms = lo;
            c->gen.delay_max_ms = hi;
            break;
        }
        case 'S':
            if (parse_num(name, optarg, 0, 9e15, &v))
                return -1;
            c->gen.start_ms = (int64_t)v;
            break;
        case 'f':
            c->fast = 1;
            break;
        case 'o':
            c->to_stdout = 1;
            break;
        case 'T':
            if (parse_num(name, optarg, 0, 86400, &c->status_s))
                return -1;
            break;
        case 'O':
            if (parse_num(name, optarg, 1, 3600000, &v))
                return -1;
            c->timeout_ms = (int)v;
            break;
        case 'M':
            if (parse_num(name, optarg, 1, 86400 * 365, &v))
                return -1;
            c->max_backlog_s = (int)v;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "sibyl sim: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sibyl sim: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (c->fast && c->duration_s <= 0 && !c->to_stdout) {
        fprintf(stderr, "sibyl sim: --fast needs --duration (seconds of readings to backfill)\n");
        return -1;
    }
    if (c->to_stdout && c->duration_s <= 0 && c->fast) {
        fprintf(stderr, "sibyl sim: --stdout --fast needs --duration\n");
        return -1;
    }
    return 0;
}

static void print_status(const sim_cfg *c, sim_stats *st, double now_s, int final)
{
    /* the last interval's rate; the whole run's in the final line */
    double dt = now_s - (final ? st->start_s : st->last_status_s);
    double rate = dt > 0 ? (double)(st->points_sent - (final ? 0 : st->last_points)) / dt : 0;
    const char *state = final          ? "done:"
                        : c->to_stdout ? "stdout:"
                        : st->node_up  ? "node up:"
                                       : "node DOWN:";
    char skipped[64] = "";
    if (st->skipped)
        snprintf(skipped, sizeof skipped, ", skipped=%" PRIu64 " (backlog)", st->skipped);
    fprintf(stderr,
            "sim: %s sent=%" PRIu64 " points in %" PRIu64 " requests, rate=%.1f points/s, "
            "late=%" PRIu64 ", errors=%" PRIu64 ", rejected=%" PRIu64 " points%s\n",
            state, st->points_sent, st->requests, rate, st->late, st->errors, st->rejected_points,
            skipped);
    if (!st->node_up && st->last_error[0] && !final)
        fprintf(stderr, "sim: last error: %s\n", st->last_error);
    st->last_points = st->points_sent;
    st->last_status_s = now_s;
}

/* Sends one batch until it is accepted, rejected (4xx) or we are stopping.
 * Returns 0 when done with the batch, -1 when the simulator should give up. */
static int send_batch(const sim_cfg *c, sb_httpc *h, const char *path, sb_buf *body, int npoints,
                      sim_stats *st, int last_try)
{
    int backoff_ms = 100;
    char errmsg[SB_ERRMSG_SIZE];
    for (;;) {
        sb_http_resp resp;
        int rv = sb_httpc_request(h, "POST", path, "text/plain; charset=utf-8", body->data,
                                  body->len, &resp, errmsg);
        st->requests++;
        if (rv == 0 && resp.status >= 200 && resp.status < 300) {
            st->points_sent += (uint64_t)npoints;
            st->consecutive_rejects = 0;
            if (!st->node_up)
                fprintf(stderr, "sim: node %s is accepting writes\n", c->target);
            st->node_up = 1;
            sb_buf_free(&resp.body);
            return 0;
        }
        if (rv == 0 && resp.status >= 400 && resp.status < 500) {
            st->node_up = 1;
            st->rejected_batches++;
            st->rejected_points += (uint64_t)npoints;
            fprintf(stderr, "sim: node rejected a batch of %d points: HTTP %d %.*s\n", npoints,
                    resp.status, (int)(resp.body.len > 2000 ? 2000 : resp.body.len),
                    resp.body.data ? (const char *)resp.body.data : "");
            sb_buf_free(&resp.body);
            if (++st->consecutive_rejects >= 10) {
                fprintf(stderr, "sim: giving up after 10 rejected batches in a row\n");
                return -1;
            }
            return 0;
        }
        st->errors++;
        if (rv == 0)
            snprintf(st->last_error, sizeof st->last_error, "HTTP %d %.*s", resp.status,
                     (int)(resp.body.len > 400 ? 400 : resp.body.len),
                     resp.body.data ? (const char *)resp.body.data : "");
        else
            snprintf(st->last_error, sizeof st->last_error, "%s", errmsg);
        sb_buf_free(&resp.body);
        if (st->node_up)
            fprintf(stderr, "sim: write failed (%s); retrying with backoff\n", st->last_error);
        st->node_up = 0;
        if (stop_flag || last_try)
            return 0;
        sleep_ms(backoff_ms);
        if (stop_flag)
            return 0;
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
}

int sb_sim_main(int argc, char **argv)
{
    sim_cfg c;
    if (parse_args(argc, argv, &c) != 0)
        return 2;
    int64_t start = c.gen.start_ms >= 0 ? c.gen.start_ms : wall_ms();
    c.gen.start_ms = start;
    c.gen.end_ms = c.duration_s > 0 ? start + (int64_t)(c.duration_s * 1000) : 0;
    /* Without --fast the simulation follows the clock: a --start in the
     * past means "now plays the reading at --start"; keep an offset. */
    int64_t clock_offset_ms = start - wall_ms();

    char errmsg[SB_ERRMSG_SIZE];
    sb_sim_gen *g;
    if (sb_sim_gen_new(&g, &c.gen, errmsg) != 0) {
        fprintf(stderr, "sibyl sim: %s\n", errmsg);
        return 2;
    }
    sb_httpc h;
    if (sb_httpc_init(&h, c.target, c.timeout_ms, errmsg) != 0) {
        fprintf(stderr, "sibyl sim: %s\n", errmsg);
        sb_sim_gen_free(g);
        return 2;
    }
    h.stop = &stop_flag;
    char path[256];
    snprintf(path, sizeof path, "/api/v2/write?bucket=%s&precision=ms", c.bucket);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!c.to_stdout)
        fprintf(stderr, "sim: %d sensors, %.1f readings/s, writing to http://%s%s%s\n",
                c.gen.sensors, c.gen.rate, c.target, path, c.fast ? " (fast backfill)" : "");

    sim_stats st;
    memset(&st, 0, sizeof st);
    st.node_up = 1;
    st.last_status_s = st.start_s = mono_s();
    sb_buf body;
    sb_buf_init(&body);
    int npoints = 0, rc = 0;
    double batch_started_s = 0;
    while (!stop_flag) {
        int64_t now = c.fast ? sb_sim_gen_next_due_ms(g) : wall_ms() + clock_offset_ms;
        if (!c.fast && now - sb_sim_gen_next_due_ms(g) > (int64_t)c.max_backlog_s * 1000)
            st.skipped += sb_sim_gen_skip_to(g, now - (int64_t)c.max_backlog_s * 1000);
        sb_sim_reading r;
        /* --fast: simulated time jumps to each next reading, filling the batch */
        while (npoints < c.batch && (c.fast ? (now = sb_sim_gen_next_due_ms(g)) != INT64_MAX : 1) &&
               sb_sim_gen_next(g, now, &r)) {
            if (npoints == 0)
                batch_started_s = mono_s();
            if (sb_sim_format_line(g, &r, &body)) {
                fprintf(stderr, "sibyl sim: out of memory\n");
                rc = 1;
                goto done;
            }
            npoints++;
            st.late += (uint64_t)r.late;
        }
        int done = sb_sim_gen_done(g);
        double now_s = mono_s();
        int flush = npoints >= c.batch || (npoints > 0 && (c.fast || done)) ||
                    (npoints > 0 && (now_s - batch_started_s) * 1000 >= c.flush_ms);
        if (flush) {
            if (c.to_stdout) {
                if (fwrite(body.data, 1, body.len, stdout) != body.len) {
                    rc = 1;
                    goto done;
                }
                st.points_sent += (uint64_t)npoints;
            } else if (send_batch(&c, &h, path, &body, npoints, &st, 0) != 0) {
                rc = 1;
                goto done;
            }
            sb_buf_reset(&body);
            npoints = 0;
        }
        if (c.status_s > 0 && now_s - st.last_status_s >= c.status_s)
            print_status(&c, &st, now_s, 0);
        if (done && npoints == 0)
            break;
        if (!c.fast && !flush) {
            int64_t wait = sb_sim_gen_next_due_ms(g) - now;
            if (npoints > 0) {
                int64_t flush_wait = (int64_t)(c.flush_ms - (now_s - batch_started_s) * 1000);
                if (flush_wait < wait)
                    wait = flush_wait;
            }
            sleep_ms(wait > 1000 ? 1000 : wait < 1 ? 1 : wait);
        }
    }
    if (npoints > 0) {
        if (c.to_stdout) {
            fwrite(body.data, 1, body.len, stdout);
            st.points_sent += (uint64_t)npoints;
        } else {
            send_batch(&c, &h, path, &body, npoints, &st, 1);
        }
    }
done:
    fflush(stdout);
    if (c.status_s > 0 || stop_flag || !c.to_stdout)
        print_status(&c, &st, mono_s(), 1);
    sb_buf_free(&body);
    sb_httpc_close(&h);
    sb_sim_gen_free(g);
    return rc;
}
