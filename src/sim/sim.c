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
 * - Several targets (--target a,b,c): batches go round-robin over them; a
 *   batch that fails on one node is tried on the next one at once, and
 *   backoff starts only when every node failed it. The first batch goes to
 *   the first target alone, and the simulator waits (bounded) until every
 *   target has the same schema version before spreading writes, so the
 *   table is created once and not concurrently on several nodes.
 * - --replication JSON creates the bucket's keyspace with that replication
 *   on the first target before any write (CREATE KEYSPACE IF NOT EXISTS),
 *   and waits (bounded) until every target knows it; otherwise the first
 *   write creates it with replication factor 1.
 * - SIGINT/SIGTERM set a flag; blocking calls return with EINTR, the loop
 *   makes one last attempt to send the open batch, prints a summary and
 *   exits 0.
 * - A target that cannot be reached (connection refused, reset, timeout)
 *   is skipped for TARGET_DOWN_S seconds (doubling while it stays so),
 *   then tried again, so a killed node costs one failed attempt every few
 *   seconds, not one per batch. A target that answers 504 (its coordinator
 *   waited for the write timeout: a replica is cut off from it) is skipped
 *   the same way, so it does not cost every n-th batch the node's write
 *   timeout. Before a skipped target gets a batch again it must answer
 *   GET /health within PROBE_MS: a node that takes connections but does
 *   not answer (stopped, hung) costs a short probe, not --timeout-ms.
 * - --consistency passes ?consistency= with every write. --reads R reads
 *   the latest row of a random sensor R times a second through
 *   POST /api/v1/cql at --read-consistency on a thread of their own
 *   (reader.h), so a read that waits for a timeout never holds up the
 *   writes. The reader starts once the first batch was accepted (the
 *   table exists then) and is stopped and joined before the final status
 *   line. The writer thread keeps the signals, the --control poll and the
 *   status lines: sim_tick(), between writes and during the backoff waits
 *   of a failing batch.
 * - --control URL (set by `sibyl demo`): GET URL/api/v1/demo every second;
 *   its write_consistency and read_consistency replace ours from then on.
 *   A change ends the backoff wait of a failing batch at once, so the kept
 *   batch is retried at the new level. An unreachable control server
 *   changes nothing.
 * - Outcomes are counted per request: writes_ok / writes_failed (write
 *   requests, i.e. batches, answered 2xx / not), reads_ok / reads_failed;
 *   every status line carries them.
 */
#include "sim/sim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/consistency.h"
#include "sim/gen.h"
#include "net/httpc.h"
#include "sim/cap.h"
#include "sim/reader.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/num.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
    stop_flag = 1;
}

#define SIM_MAX_TARGETS 16
#define TARGET_DOWN_S 2.0
#define PROBE_MS 500
/* A node that answered 504 waited the write timeout (2 s) for a replica
 * it cannot reach; until its failure detector marks that replica down
 * (~9 s in a demo) every batch it gets costs that again: skip it longer. */
#define TARGET_SLOW_S 5.0

typedef struct sim_cfg {
    char target[300]; /* the current one (messages) */
    char targets[SIM_MAX_TARGETS][300];
    int ntargets;
    char replication[1024]; /* JSON object, "" = none */
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
    char write_cl[16]; /* "" = the node's default (ONE) */
    char read_cl[16];  /* "" = the node's default */
    double reads_per_s;
    double cap_per_s;  /* --cap: the CAP writers' rate per node (cap.h) */
    char control[300]; /* HOST:PORT of the demo control server, "" = none */
} sim_cfg;

typedef struct sim_stats {
    uint64_t points_sent, requests, errors, rejected_batches, rejected_points, late, skipped;
    uint64_t last_points;
    double last_status_s;
    double start_s;
    int consecutive_rejects;
    int node_up;
    char last_error[SB_ERRMSG_SIZE];
    uint64_t writes_ok, writes_failed, reads_ok, reads_failed;
    int reads_failing;  /* reported; cleared by the next good read */
    int writes_failing; /* a node answered 5xx; cleared by the next accepted batch */
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
    fprintf(f,
            "usage: sibyl sim [options]\n"
            "\n"
            "Simulates a fleet of sensors and writes their readings to a Sibyl node as\n"
            "InfluxDB line protocol (POST /api/v2/write?bucket=B&precision=ms).\n"
            "\n"
            "  --target HOST:PORT[,HOST:PORT...]  node HTTP address(es), written to\n"
            "                       round-robin (default 127.0.0.1:8080; alias --http)\n"
            "  --replication JSON   create the keyspace first with this replication, e.g.\n"
            "                       '{\"class\": \"SimpleStrategy\", \"replication_factor\": 3}'\n"
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
            "600)\n"
            "  --consistency CL     write consistency level (?consistency=; default: the\n"
            "                       node's, ONE)\n"
            "  --reads R            also read the latest row of a random sensor R times\n"
            "                       per second (POST /api/v1/cql; default 0)\n"
            "  --read-consistency CL  consistency level of those reads\n"
            "  --cap R              CAP writers (docs/cap.md): per node, R plain writes\n"
            "                       at ONE and R compare-and-set LWTs per second, counted\n"
            "                       per node in 'sim: cap' lines (default 0)\n"
            "  --control URL        poll URL/api/v1/demo every second and adopt its\n"
            "                       write_consistency and read_consistency (sibyl demo)\n");
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    if (sb_parse_double(s, lo, hi, out) == 0)
        return 0;
    fprintf(stderr, "sibyl sim: --%s: '%s' is not a number in %g..%g\n", opt, s, lo, hi);
    return -1;
}

static int parse_args(int argc, char **argv, sim_cfg *c)
{
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'},
        {"http", required_argument, 0, 't'},
        {"replication", required_argument, 0, 'R'},
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
        {"consistency", required_argument, 0, 'C'},
        {"read-consistency", required_argument, 0, 'Q'},
        {"reads", required_argument, 0, 'X'},
        {"cap", required_argument, 0, 'P'},
        {"control", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(c, 0, sizeof *c);
    snprintf(c->targets[0], sizeof c->targets[0], "127.0.0.1:8080");
    c->ntargets = 1;
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
        case 't': {
            c->ntargets = 0;
            char *list = strdup(optarg), *save = NULL;
            for (char *t = list ? strtok_r(list, ",", &save) : NULL; t;
                 t = strtok_r(NULL, ",", &save)) {
                if (c->ntargets == SIM_MAX_TARGETS || strlen(t) >= sizeof c->targets[0]) {
                    fprintf(stderr, "sibyl sim: --target: at most %d addresses of < 300 bytes\n",
                            SIM_MAX_TARGETS);
                    free(list);
                    return -1;
                }
                snprintf(c->targets[c->ntargets++], sizeof c->targets[0], "%s", t);
            }
            free(list);
            if (c->ntargets == 0) {
                fprintf(stderr, "sibyl sim: --target: no address in '%s'\n", optarg);
                return -1;
            }
            break;
        }
        case 'R':
            if (strlen(optarg) >= sizeof c->replication) {
                fprintf(stderr, "sibyl sim: --replication: longer than %zu bytes\n",
                        sizeof c->replication - 1);
                return -1;
            }
            snprintf(c->replication, sizeof c->replication, "%s", optarg);
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
        case 'C':
        case 'Q': {
            int cl = 0;
            if (sb_consistency_parse(optarg, strlen(optarg), &cl) != 0) {
                fprintf(stderr,
                        "sibyl sim: --%s: '%s' is not a consistency level (ONE, QUORUM, "
                        "ALL, ...)\n",
                        name, optarg);
                return -1;
            }
            snprintf(ch == 'C' ? c->write_cl : c->read_cl, sizeof c->write_cl, "%s",
                     sb_consistency_name(cl));
            break;
        }
        case 'X':
            if (parse_num(name, optarg, 0, 1000, &c->reads_per_s))
                return -1;
            break;
        case 'P':
            if (parse_num(name, optarg, 0, 100, &c->cap_per_s))
                return -1;
            break;
        case 'K': {
            const char *u = optarg;
            if (!strncmp(u, "http://", 7))
                u += 7;
            size_t l = strcspn(u, "/");
            if (l == 0 || l >= sizeof c->control || !memchr(u, ':', l) ||
                (u[l] && strcmp(u + l, "/"))) {
                fprintf(stderr, "sibyl sim: --control: expected http://HOST:PORT, got '%s'\n",
                        optarg);
                return -1;
            }
            snprintf(c->control, sizeof c->control, "%.*s", (int)l, u);
            break;
        }
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
            "late=%" PRIu64 ", errors=%" PRIu64 ", rejected=%" PRIu64
            " points%s, writes_ok=%" PRIu64 " writes_failed=%" PRIu64 " reads_ok=%" PRIu64
            " reads_failed=%" PRIu64 " consistency=%s/%s\n",
            state, st->points_sent, st->requests, rate, st->late, st->errors, st->rejected_points,
            skipped, st->writes_ok, st->writes_failed, st->reads_ok, st->reads_failed,
            c->write_cl[0] ? c->write_cl : "default", c->read_cl[0] ? c->read_cl : "default");
    if (!st->node_up && st->last_error[0] && !final)
        fprintf(stderr, "sim: last error: %s\n", st->last_error);
    st->last_points = st->points_sent;
    st->last_status_s = now_s;
}

/* The HTTP clients, one per target, and which one sends next. */
typedef struct sim_conns {
    sb_httpc h[SIM_MAX_TARGETS]; /* writes */
    double down_until_s[SIM_MAX_TARGETS];
    double down_for_s[SIM_MAX_TARGETS]; /* grows while it stays unreachable */
    int down_reported[SIM_MAX_TARGETS];
    int n;
    int cur;
    int spread; /* round-robin (after schema agreement) */
    /* --control */
    sb_httpc ctl;
    int has_ctl, ctl_failing;
    int cl_changed; /* set by a poll that changed a level; cleared by send_batch */
    double next_poll_s;
    const sb_sim_gen *gen;
    sb_sim_reader *reader; /* --reads, once started */
    sb_sim_cap *cap;       /* --cap, once started */
    int cap_failed;
    int reader_failed; /* could not start it (said once) */
} sim_conns;

/* The target after from, skipping those marked unreachable (unless all
 * are). */
static int next_target(const sim_conns *cs, int from)
{
    double now = mono_s();
    for (int k = 1; k <= cs->n; k++) {
        int j = (from + k) % cs->n;
        if (cs->down_until_s[j] <= now)
            return j;
    }
    return (from + 1) % cs->n;
}

/* Skips target i for a while: first_s, doubling while it stays
 * unreachable or slow, at most 5 * TARGET_DOWN_S. */
static void mark_down(sim_conns *cs, int i, double first_s)
{
    double d = cs->down_for_s[i];
    d = d <= 0 ? first_s : d * 2 > 5 * TARGET_DOWN_S ? 5 * TARGET_DOWN_S : d * 2;
    cs->down_for_s[i] = d;
    cs->down_until_s[i] = mono_s() + d;
}

/* Target i answered (whatever the status); keep_skipping: it answered
 * 504, keep the doubling going (mark_down follows). */
static void mark_up(sim_conns *cs, int i, int keep_skipping)
{
    if (!keep_skipping)
        cs->down_for_s[i] = 0;
    if (cs->down_reported[i])
        fprintf(stderr, "sim: node %s:%s answers again\n", cs->h[i].host, cs->h[i].port);
    cs->down_reported[i] = 0;
}

/* Before a batch goes to a target that failed its last one: 1 when it
 * answers GET /health within PROBE_MS. A node that accepts connections
 * but does not answer (SIGSTOPped, hung) then costs PROBE_MS, not a whole
 * --timeout-ms with the batch waiting. */
static int probe(sim_conns *cs, int i, char *errmsg)
{
    sb_httpc p;
    char addr[300];
    snprintf(addr, sizeof addr, "%s%s%s:%s", strchr(cs->h[i].host, ':') ? "[" : "", cs->h[i].host,
             strchr(cs->h[i].host, ':') ? "]" : "", cs->h[i].port);
    if (sb_httpc_init(&p, addr, PROBE_MS, errmsg) != 0)
        return 0;
    p.stop = &stop_flag;
    sb_http_resp resp;
    int ok = sb_httpc_request(&p, "GET", "/health", NULL, NULL, 0, &resp, errmsg) == 0;
    sb_buf_free(&resp.body);
    sb_httpc_close(&p);
    return ok;
}

/* Drops trailing whitespace (the node's JSON errors end with a newline). */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = 0;
}

/* GET <control>/api/v1/demo and adopt its consistency levels. */
static void poll_control(sim_cfg *c, sim_conns *cs)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_http_resp resp;
    int rv = sb_httpc_request(&cs->ctl, "GET", "/api/v1/demo", NULL, NULL, 0, &resp, errmsg);
    json_t *doc = NULL;
    if (rv == 0 && resp.status == 200)
        doc = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
    else if (rv == 0)
        snprintf(errmsg, sizeof errmsg, "HTTP %d", resp.status);
    sb_buf_free(&resp.body);
    if (!doc) {
        if (!cs->ctl_failing)
            fprintf(stderr, "sim: control server %s: %s; keeping consistency %s/%s\n", c->control,
                    rv == 0 && resp.status == 200 ? "unparseable answer" : errmsg,
                    c->write_cl[0] ? c->write_cl : "default",
                    c->read_cl[0] ? c->read_cl : "default");
        cs->ctl_failing = 1;
        return;
    }
    cs->ctl_failing = 0;
    static const char *const keys[] = {"write_consistency", "read_consistency"};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(doc, keys[k]);
        char *dst = k ? c->read_cl : c->write_cl;
        int cl = 0;
        if (!json_is_string(v) ||
            sb_consistency_parse(json_string_value(v), json_string_length(v), &cl) != 0)
            continue;
        const char *name = sb_consistency_name(cl);
        if (strcmp(dst, name) != 0) {
            fprintf(stderr, "sim: %s consistency is now %s (was %s)\n", k ? "read" : "write", name,
                    dst[0] ? dst : "the node's default");
            snprintf(dst, sizeof c->write_cl, "%s", name);
            if (k)
                sb_sim_reader_set_consistency(cs->reader, name);
            cs->cl_changed = 1;
        }
    }
    json_decref(doc);
}

/* Starts the read thread once the table exists (the first batch was
 * accepted and the schema agreed). */
static void start_reader(sim_cfg *c, sim_conns *cs)
{
    const char *targets[SIM_MAX_TARGETS];
    for (int i = 0; i < cs->n; i++)
        targets[i] = c->targets[i];
    sb_sim_reader_opts o = {.targets = targets,
                            .ntargets = cs->n,
                            .timeout_ms = c->timeout_ms,
                            .reads_per_s = c->reads_per_s,
                            .bucket = c->bucket,
                            .measurement = c->gen.measurement,
                            .read_cl = c->read_cl,
                            .gen = cs->gen,
                            .seed = c->gen.seed};
    char errmsg[SB_ERRMSG_SIZE];
    if (sb_sim_reader_start(&cs->reader, &o, errmsg) != 0) {
        fprintf(stderr, "sim: cannot start the reads: %s; writing only\n", errmsg);
        cs->reader_failed = 1;
    }
}

static void start_cap(sim_cfg *c, sim_conns *cs)
{
    const char *targets[SIM_MAX_TARGETS];
    for (int i = 0; i < cs->n; i++)
        targets[i] = c->targets[i];
    char errmsg[SB_ERRMSG_SIZE];
    /* a short timeout: an LWT on a minority node fails within it */
    if (sb_sim_cap_start(&cs->cap, targets, cs->n, c->cap_per_s, c->bucket, 3000, errmsg) != 0) {
        fprintf(stderr, "sim: cannot start the CAP writers: %s\n", errmsg);
        cs->cap_failed = 1;
    }
}

/* One line per target: what its AP and CP writers got so far. */
static void print_cap(const sim_cfg *c, sim_conns *cs)
{
    for (int i = 0; cs->cap && i < cs->n; i++) {
        sb_sim_cap_counts k;
        sb_sim_cap_counts_of(cs->cap, i, &k);
        fprintf(stderr,
                "sim: cap target=%s ap_ok=%" PRIu64 " ap_failed=%" PRIu64 " cp_ok=%" PRIu64
                " cp_failed=%" PRIu64 " cp_value=%" PRIu64 "\n",
                c->targets[i], k.ap_ok, k.ap_failed, k.cp_ok, k.cp_failed, k.cp_value);
    }
}

/* Between writes: the status line, the control poll, starting the reads. */
static void sim_tick(sim_cfg *c, sim_conns *cs, sim_stats *st)
{
    double now = mono_s();
    /* here too, so that the counters move while a batch keeps failing */
    if (c->status_s > 0 && now - st->last_status_s >= c->status_s) {
        sb_sim_reader_counts(cs->reader, &st->reads_ok, &st->reads_failed);
        print_status(c, st, now, 0);
        print_cap(c, cs);
    }
    if (cs->has_ctl && now >= cs->next_poll_s) {
        poll_control(c, cs);
        cs->next_poll_s = mono_s() + 1;
    }
    if (c->reads_per_s > 0 && cs->spread && st->points_sent > 0 && !stop_flag && !cs->reader &&
        !cs->reader_failed)
        start_reader(c, cs);
    if (c->cap_per_s > 0 && cs->spread && st->points_sent > 0 && !stop_flag && !cs->cap &&
        !cs->cap_failed)
        start_cap(c, cs);
}

/* Sleeps ms (polling meanwhile); returns early on a stop or a consistency
 * change. */
static void wait_ticking(sim_cfg *c, sim_conns *cs, sim_stats *st, int ms)
{
    double end = mono_s() + ms / 1000.0;
    while (!stop_flag && !cs->cl_changed) {
        sim_tick(c, cs, st);
        double left = end - mono_s();
        if (left <= 0)
            return;
        sleep_ms(left > 0.05 ? 50 : (int64_t)(left * 1000) + 1);
    }
}

/* Sends one batch until it is accepted, rejected (4xx) or we are stopping:
 * a failed attempt moves to the next target at once; backoff starts when
 * every target failed. Returns 0 when done with the batch, -1 when the
 * simulator should give up. */
static int send_batch(sim_cfg *c, sim_conns *cs, sb_buf *body, int npoints, sim_stats *st,
                      int last_try)
{
    int backoff_ms = 100, failed_in_cycle = 0;
    char errmsg[SB_ERRMSG_SIZE], path[256];
    for (;;) {
        /* the level may change between attempts (--control) */
        snprintf(path, sizeof path, "/api/v2/write?bucket=%s&precision=ms%s%s", c->bucket,
                 c->write_cl[0] ? "&consistency=" : "", c->write_cl);
        cs->cl_changed = 0;
        int i = cs->cur;
        sb_httpc *h = &cs->h[i];
        memcpy(c->target, c->targets[i], sizeof c->target);
        sb_http_resp resp;
        sb_buf_init(&resp.body);
        int rv, probed_out = cs->down_for_s[i] > 0 && !probe(cs, i, errmsg);
        if (probed_out) {
            rv = SB_EIO; /* as unreachable, but no write was attempted */
        } else {
            rv = sb_httpc_request(h, "POST", path, "text/plain; charset=utf-8", body->data,
                                  body->len, &resp, errmsg);
            st->requests++;
        }
        if (rv == 0 && resp.status >= 200 && resp.status < 300) {
            st->points_sent += (uint64_t)npoints;
            st->writes_ok++;
            st->consecutive_rejects = 0;
            if (cs->down_reported[i] || st->writes_failing)
                fprintf(stderr, "sim: node %s is accepting writes%s%s\n", c->target,
                        c->write_cl[0] ? " at " : "", c->write_cl);
            cs->down_reported[i] = 0;
            cs->down_for_s[i] = 0;
            st->writes_failing = 0;
            st->node_up = 1;
            sb_buf_free(&resp.body);
            if (cs->spread)
                cs->cur = next_target(cs, i);
            return 0;
        }
        if (!probed_out)
            st->writes_failed++;
        if (rv == 0)
            mark_up(cs, i, resp.status == 504);
        if (rv == 0 && resp.status >= 400 && resp.status < 500) {
            st->node_up = 1;
            st->rejected_batches++;
            st->rejected_points += (uint64_t)npoints;
            fprintf(stderr, "sim: node rejected a batch of %d points: HTTP %d %.*s%s%s\n", npoints,
                    resp.status, (int)(resp.body.len > 2000 ? 2000 : resp.body.len),
                    resp.body.data ? (const char *)resp.body.data : "", cs->n > 1 ? " from " : "",
                    cs->n > 1 ? c->target : "");
            sb_buf_free(&resp.body);
            if (++st->consecutive_rejects >= 10) {
                fprintf(stderr, "sim: giving up after 10 rejected batches in a row\n");
                return -1;
            }
            return 0;
        }
        st->errors++;
        if (rv == 0)
            snprintf(st->last_error, sizeof st->last_error, "%s: HTTP %d %.*s", c->target,
                     resp.status, (int)(resp.body.len > 400 ? 400 : resp.body.len),
                     resp.body.data ? (const char *)resp.body.data : "");
        else
            snprintf(st->last_error, sizeof st->last_error, "%s", errmsg);
        rtrim(st->last_error);
        sb_buf_free(&resp.body);
        const char *next =
            cs->spread && cs->n > 1 ? "trying the next node" : "retrying with backoff";
        if (rv == 0 && resp.status == 504)
            mark_down(cs, i, TARGET_SLOW_S); /* it answers, slowly: skip it too */
        if (rv != 0) {
            /* unreachable: skip it for a while */
            mark_down(cs, i, TARGET_DOWN_S);
            if (!cs->down_reported[i])
                fprintf(stderr, "sim: write failed (%s); %s\n", st->last_error, next);
            cs->down_reported[i] = 1;
        } else if (!st->writes_failing) {
            fprintf(stderr, "sim: write failed (%s); %s\n", st->last_error, next);
            st->writes_failing = 1;
        }
        st->node_up = 0;
        if (stop_flag)
            return 0;
        if (cs->spread && cs->n > 1) {
            cs->cur = next_target(cs, i);
            if (++failed_in_cycle < cs->n)
                continue;
        }
        failed_in_cycle = 0;
        if (last_try)
            return 0;
        wait_ticking(c, cs, st, backoff_ms);
        if (stop_flag)
            return 0;
        backoff_ms = cs->cl_changed ? 100 : backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
}

/* --replication: {"class": "...", "replication_factor": 3} as a CQL map
 * literal. 0 or -1 with the reason printed. */
static int replication_cql(const char *json, sb_buf *out)
{
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    if (!json_is_object(o)) {
        fprintf(stderr, "sibyl sim: --replication: expected a JSON object%s%s\n", o ? "" : ": ",
                o ? "" : jerr.text);
        json_decref(o);
        return -1;
    }
    const char *k;
    json_t *v;
    int first = 1;
    sb_buf_printf(out, "{");
    json_object_foreach(o, k, v)
    {
        char num[64];
        const char *val = json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            val = num;
        }
        if (!val || strchr(k, '\'') || strchr(val, '\'')) {
            fprintf(stderr, "sibyl sim: --replication: \"%s\" must be a string or an integer\n", k);
            json_decref(o);
            return -1;
        }
        sb_buf_printf(out, "%s'%s': '%s'", first ? "" : ", ", k, val);
        first = 0;
    }
    sb_buf_printf(out, "}");
    json_decref(o);
    return 0;
}

static int wait_s(double deadline_s)
{
    if (stop_flag || mono_s() >= deadline_s)
        return 0;
    sleep_ms(200);
    return 1;
}

/* Creates the keyspace on the first target (retrying while it is
 * unreachable) and waits until every target knows it. */
static int create_keyspace(const sim_cfg *c, sim_conns *cs)
{
    sb_buf map, q;
    sb_buf_init(&map);
    sb_buf_init(&q);
    int rv = -1;
    if (replication_cql(c->replication, &map))
        goto done;
    json_t *req = json_object();
    sb_buf_printf(&q, "CREATE KEYSPACE IF NOT EXISTS \"%s\" WITH replication = %s", c->bucket,
                  sb_buf_cstr(&map));
    json_object_set_new(req, "query", json_string(sb_buf_cstr(&q)));
    char *body = json_dumps(req, 0);
    json_decref(req);
    char errmsg[SB_ERRMSG_SIZE];
    double deadline = mono_s() + 30;
    for (;;) {
        sb_http_resp resp;
        int r = sb_httpc_request(&cs->h[0], "POST", "/api/v1/cql", "application/json", body,
                                 body ? strlen(body) : 0, &resp, errmsg);
        if (r == 0 && resp.status == 200) {
            sb_buf_free(&resp.body);
            break;
        }
        if (r == 0)
            snprintf(errmsg, sizeof errmsg, "HTTP %d %.*s", resp.status,
                     (int)(resp.body.len > 400 ? 400 : resp.body.len),
                     resp.body.data ? (const char *)resp.body.data : "");
        sb_buf_free(&resp.body);
        if ((r == 0 && resp.status < 500) || !wait_s(deadline)) {
            fprintf(stderr, "sibyl sim: cannot create keyspace %s on %s: %s\n", c->bucket,
                    c->targets[0], errmsg);
            free(body);
            goto done;
        }
    }
    free(body);
    fprintf(stderr, "sim: keyspace %s has replication %s\n", c->bucket, sb_buf_cstr(&map));
    deadline = mono_s() + 15; /* for all targets together */
    for (int i = 1; i < c->ntargets; i++) {
        for (;;) {
            sb_buf view;
            if (sb_httpc_fetch_cluster(c->targets[i], c->bucket, NULL, 2000, &view, errmsg) == 0) {
                sb_buf_free(&view);
                break;
            }
            if (!wait_s(deadline)) {
                fprintf(stderr, "sim: %s does not know keyspace %s yet (%s); going on\n",
                        c->targets[i], c->bucket, errmsg);
                break;
            }
        }
    }
    rv = 0;
done:
    sb_buf_free(&map);
    sb_buf_free(&q);
    return rv;
}

/* After the first batch created the table on the first target: wait until
 * every target's schema has it (bounded), then spread the writes. */
static void wait_schema_agreement(const sim_cfg *c, sim_conns *cs)
{
    char errmsg[SB_ERRMSG_SIZE];
    /* GET /api/v1/cluster?keyspace=B&table=M answers 404 until the node has
     * the table */
    double deadline = mono_s() + 10;
    for (int i = 1; i < c->ntargets; i++) {
        for (;;) {
            sb_buf view;
            if (sb_httpc_fetch_cluster(c->targets[i], c->bucket, c->gen.measurement, 2000, &view,
                                       errmsg) == 0) {
                sb_buf_free(&view);
                break;
            }
            if (!wait_s(deadline)) {
                fprintf(stderr, "sim: %s has not got table %s.%s yet (%s); writing anyway\n",
                        c->targets[i], c->bucket, c->gen.measurement, errmsg);
                break;
            }
        }
    }
    cs->spread = 1;
    cs->cur = cs->n > 1 ? 1 : 0;
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
    static sim_conns cs; /* large: not on the stack */
    memset(&cs, 0, sizeof cs);
    for (int i = 0; i < c.ntargets; i++) {
        if (sb_httpc_init(&cs.h[i], c.targets[i], c.timeout_ms, errmsg) != 0) {
            fprintf(stderr, "sibyl sim: %s\n", errmsg);
            for (int j = 0; j < i; j++)
                sb_httpc_close(&cs.h[j]);
            sb_sim_gen_free(g);
            return 2;
        }
        cs.h[i].stop = &stop_flag;
        cs.n++;
    }
    cs.spread = cs.n == 1;
    cs.gen = g;
    if (c.control[0] && !c.to_stdout && !c.fast) {
        if (sb_httpc_init(&cs.ctl, c.control, 2000, errmsg) != 0) {
            fprintf(stderr, "sibyl sim: --control: %s\n", errmsg);
            for (int j = 0; j < cs.n; j++)
                sb_httpc_close(&cs.h[j]);
            sb_sim_gen_free(g);
            return 2;
        }
        cs.ctl.stop = &stop_flag;
        cs.has_ctl = 1;
    }
    if (c.to_stdout || c.fast)
        c.reads_per_s = 0;
    memcpy(c.target, c.targets[0], sizeof c.target);
    char path[256];
    snprintf(path, sizeof path, "/api/v2/write?bucket=%s&precision=ms%s%s", c.bucket,
             c.write_cl[0] ? "&consistency=" : "", c.write_cl);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!c.to_stdout) {
        char more[64] = "";
        if (c.ntargets > 1)
            snprintf(more, sizeof more, " (and %d more nodes, round-robin)", c.ntargets - 1);
        fprintf(stderr, "sim: %d sensors, %.1f readings/s, writing to http://%s%s%s%s\n",
                c.gen.sensors, c.gen.rate, c.target, path, more, c.fast ? " (fast backfill)" : "");
        if (c.reads_per_s > 0)
            fprintf(stderr, "sim: reading the latest row of a random sensor %g times/s at %s\n",
                    c.reads_per_s, c.read_cl[0] ? c.read_cl : "the node's default consistency");
        if (cs.has_ctl)
            fprintf(stderr, "sim: taking consistency levels from http://%s/api/v1/demo\n",
                    c.control);
    }

    sim_stats st;
    memset(&st, 0, sizeof st);
    st.node_up = 1;
    st.last_status_s = st.start_s = mono_s();
    sb_buf body;
    sb_buf_init(&body);
    int npoints = 0, rc = 0;
    if (!c.to_stdout && c.replication[0] && create_keyspace(&c, &cs) != 0) {
        rc = 1;
        goto done;
    }
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
            } else if (send_batch(&c, &cs, &body, npoints, &st, 0) != 0) {
                rc = 1;
                goto done;
            } else if (!cs.spread && st.points_sent > 0) {
                wait_schema_agreement(&c, &cs);
            }
            sb_buf_reset(&body);
            npoints = 0;
        }
        if (!c.to_stdout)
            sim_tick(&c, &cs, &st);
        else if (c.status_s > 0 && now_s - st.last_status_s >= c.status_s)
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
            /* control polls are due in between */
            int64_t cap = cs.has_ctl ? 50 : 1000;
            sleep_ms(wait > cap ? cap : wait < 1 ? 1 : wait);
        }
    }
    /* the reads end first (at once, even mid-request), so that the last
     * batch goes out without them and the summary has their final count */
    sb_sim_reader_stop(cs.reader, &st.reads_ok, &st.reads_failed);
    cs.reader = NULL;
    print_cap(&c, &cs);
    sb_sim_cap_stop(cs.cap);
    cs.cap = NULL;
    if (npoints > 0) {
        if (c.to_stdout) {
            fwrite(body.data, 1, body.len, stdout);
            st.points_sent += (uint64_t)npoints;
        } else {
            send_batch(&c, &cs, &body, npoints, &st, 1);
        }
    }
done:
    if (cs.reader) /* an early end (rejected batches, out of memory) */
        sb_sim_reader_stop(cs.reader, &st.reads_ok, &st.reads_failed);
    cs.reader = NULL;
    sb_sim_cap_stop(cs.cap);
    cs.cap = NULL;
    fflush(stdout);
    if (c.status_s > 0 || stop_flag || !c.to_stdout)
        print_status(&c, &st, mono_s(), 1);
    sb_buf_free(&body);
    for (int i = 0; i < cs.n; i++)
        sb_httpc_close(&cs.h[i]);
    if (cs.has_ctl)
        sb_httpc_close(&cs.ctl);
    sb_sim_gen_free(g);
    return rc;
}
