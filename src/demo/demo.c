/*
 * `sibyl demo`: starts N `sibyl node` processes on 127.0.0.1..N (ccm's
 * convention: every node has the same ports on its own loopback address),
 * then `sibyl sim` writing through all of them, prints where everything
 * is, and a one-line summary every few seconds.
 *
 * NOTES ON THE DESIGN
 *
 * - Children are this same binary (/proc/self/exe). Each one asks the
 *   kernel for SIGTERM when the demo dies (PR_SET_PDEATHSIG) and runs in
 *   its own process group, so a Ctrl-C in the terminal reaches only the
 *   demo, which then stops the simulator first and the nodes after it, in
 *   order. Nothing outlives the demo, even if it is SIGKILLed.
 * - Start-up is sequential, as Cassandra wants for joining nodes: node 1
 *   (the seed) until /health answers, then each next node once the
 *   previous one reports itself NORMAL (GET /api/v1/cluster), every wait
 *   bounded. A node without cluster support reports a one-node view that
 *   is NORMAL at once, so the demo also works with such nodes.
 * - The keyspace gets replication factor min(3, N) (SimpleStrategy; with
 *   several datacenters NetworkTopologyStrategy with min(3, nodes in the
 *   dc) per dc), created by the simulator (--replication) before it
 *   writes round-robin through every node (--target a,b,c).
 * - The simulator's stderr comes through a pipe: its status lines feed
 *   the demo's summary, other lines (errors, failover) are shown as they
 *   come.
 * - Stop: SIGTERM to the simulator (bounded wait, then SIGKILL), then to
 *   every node (bounded wait, then SIGKILL). Exit 0.
 * - Control (control.h): an HTTP server on --control (default
 *   127.0.0.1:<8079+offset>) served from the same poll loop as the
 *   simulator's pipe. It stops a node (SIGKILL, or SIGTERM with a bounded
 *   wait) and starts it again with the same arguments, and holds the
 *   simulator's consistency levels: the simulator polls GET /api/v1/demo
 *   every second (--control) and adopts them, so a change needs no restart
 *   and loses no writes. The simulator's counters in that document come
 *   from its status lines. Each node gets --demo-control so that the
 *   dashboard it serves can find the control server.
 * - A node stopped through the control server stays stopped (pid 0,
 *   stopped = 1) until it is started again; one that exits by itself is
 *   reported and can be started the same way.
 * - Failure detection is tuned for a presenter: every node (restarts
 *   too) gets --gossip-interval-ms 500 unless told otherwise, so a stopped
 *   node is marked down in about 9 s (phi 8 = 18.4 mean heartbeat
 *   intervals of silence) instead of about 18 s with the production
 *   default of 1000 ms; --phi-threshold is passed through when given.
 */
#include "demo/demo.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/fault.h"
#include "util/consistency.h"
#include "demo/control.h"
#include "net/httpc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/num.h"

#define DEMO_MAX_NODES 32

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    stop_flag = 1;
}

typedef struct demo_node {
    int i; /* 1-based */
    char dc[16], rack[16];
    char listen[64], cql[64], http[64];
    char data[1100], log[1100];
    pid_t pid;
    int exited;
    int stopped; /* through the control server */
    /* the simulator's CAP writers aimed at this node (sim/cap.h) */
    uint64_t ap_ok, ap_failed, cp_ok, cp_failed, cp_value;
} demo_node;

typedef struct demo {
    int nnodes, ndcs, sensors, port_offset;
    double seconds, rate, status_s;
    char data[1024];
    char bucket[64];
    char exe[1024];
    demo_node nodes[DEMO_MAX_NODES];
    pid_t sim_pid;
    int sim_fd; /* read end of the simulator's stderr, -1 when closed */
    sb_buf sim_line;
    uint64_t sim_sent, sim_writes_ok, sim_writes_failed, sim_reads_ok, sim_reads_failed;
    char sim_final[512];
    char control[128];     /* HOST:PORT of the control server */
    char control_url[160]; /* http://HOST:PORT */
    char write_cl[16], read_cl[16];
    double reads;                /* simulator reads per second */
    char gossip_interval_ms[16]; /* passed to every node */
    char phi_threshold[32];      /* "" = the node's default */
    sb_demo_ctl *ctl;
    int partitioned;                        /* a partition is in place */
    unsigned char minority[DEMO_MAX_NODES]; /* node k+1 on the minority side */
} demo;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl demo [options]\n"
               "\n"
               "Starts a local cluster (node i on 127.0.0.i with the same ports on every node,\n"
               "as ccm does) and the sensor simulator writing through all nodes.\n"
               "\n"
               "  --nodes N        nodes (default 3, at most 32)\n"
               "  --dcs D          datacenters dc1..dcD, nodes assigned round-robin (default 1)\n"
               "  --data DIR       data directories DIR/node<i>, logs DIR/node<i>.log\n"
               "                   (default sibyl-demo)\n"
               "  --seconds S      stop after S seconds (default: run until Ctrl-C)\n"
               "  --sensors K      simulated sensors (default 100)\n"
               "  --rate R         readings per second, whole fleet (default 100)\n"
               "  --bucket NAME    keyspace the simulator writes to (default sensors)\n"
               "  --status S       seconds between summary lines (default 5, 0 = none)\n"
               "  --port-offset K  add K to every port (7000, 9042, 8080), to run beside\n"
               "                   another demo (default 0)\n"
               "  --control HOST:PORT  the demo's control server (default\n"
               "                   127.0.0.1:<8079 + port offset>)\n"
               "  --consistency CL the simulator's write consistency (default QUORUM)\n"
               "  --read-consistency CL  the simulator's read consistency (default QUORUM)\n"
               "  --reads R        simulator reads per second (default 2, 0 = none)\n"
               "  --gossip-interval-ms MS  every node's gossip interval (default 500, half\n"
               "                   the node's 1000, so a stopped node is marked down in\n"
               "                   about 9 s instead of 18 s)\n"
               "  --phi-threshold X  every node's failure detector threshold (1..100;\n"
               "                   default: the node's, 8)\n");
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    if (sb_parse_double(s, lo, hi, out) == 0)
        return 0;
    fprintf(stderr, "sibyl demo: %s: '%s' is not a number in %g..%g\n", opt, s ? s : "", lo, hi);
    return -1;
}

static int parse_args(demo *d, int argc, char **argv)
{
    d->nnodes = 3;
    d->ndcs = 1;
    d->sensors = 100;
    d->rate = 100;
    d->status_s = 5;
    snprintf(d->data, sizeof d->data, "sibyl-demo");
    snprintf(d->bucket, sizeof d->bucket, "sensors");
    snprintf(d->write_cl, sizeof d->write_cl, "QUORUM");
    snprintf(d->read_cl, sizeof d->read_cl, "QUORUM");
    d->reads = 2;
    snprintf(d->gossip_interval_ms, sizeof d->gossip_interval_ms, "500");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "sibyl demo: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return -1;
        }
        i++;
        if (!strcmp(a, "--nodes")) {
            if (parse_num(a, v, 1, DEMO_MAX_NODES, &x))
                return -1;
            d->nnodes = (int)x;
        } else if (!strcmp(a, "--dcs")) {
            if (parse_num(a, v, 1, 16, &x))
                return -1;
            d->ndcs = (int)x;
        } else if (!strcmp(a, "--data")) {
            if (!*v || strlen(v) >= 900) {
                fprintf(stderr, "sibyl demo: --data: empty or too long\n");
                return -1;
            }
            snprintf(d->data, sizeof d->data, "%s", v);
        } else if (!strcmp(a, "--seconds")) {
            if (parse_num(a, v, 0, 1e9, &d->seconds))
                return -1;
        } else if (!strcmp(a, "--sensors")) {
            if (parse_num(a, v, 1, 1000000, &x))
                return -1;
            d->sensors = (int)x;
        } else if (!strcmp(a, "--rate")) {
            if (parse_num(a, v, 0.001, 1e7, &d->rate))
                return -1;
        } else if (!strcmp(a, "--status")) {
            if (parse_num(a, v, 0, 86400, &d->status_s))
                return -1;
        } else if (!strcmp(a, "--port-offset")) {
            if (parse_num(a, v, 0, 50000, &x))
                return -1;
            d->port_offset = (int)x;
        } else if (!strcmp(a, "--bucket")) {
            if (!*v || strlen(v) >= sizeof d->bucket || strpbrk(v, "&?#%\"' ")) {
                fprintf(stderr, "sibyl demo: --bucket: '%s' is not a valid keyspace name\n", v);
                return -1;
            }
            snprintf(d->bucket, sizeof d->bucket, "%s", v);
        } else if (!strcmp(a, "--control")) {
            if (!*v || strlen(v) >= sizeof d->control || !strchr(v, ':') || strpbrk(v, "/ ")) {
                fprintf(stderr, "sibyl demo: --control: '%s' is not HOST:PORT\n", v);
                return -1;
            }
            snprintf(d->control, sizeof d->control, "%s", v);
        } else if (!strcmp(a, "--consistency") || !strcmp(a, "--read-consistency")) {
            int cl = 0;
            if (sb_consistency_parse(v, strlen(v), &cl) != 0) {
                fprintf(stderr, "sibyl demo: %s: '%s' is not a consistency level\n", a, v);
                return -1;
            }
            snprintf(a[2] == 'c' ? d->write_cl : d->read_cl, sizeof d->write_cl, "%s",
                     sb_consistency_name(cl));
        } else if (!strcmp(a, "--reads")) {
            if (parse_num(a, v, 0, 1000, &d->reads))
                return -1;
        } else if (!strcmp(a, "--gossip-interval-ms")) {
            /* the node's own bounds (gossip_interval_in_ms) */
            if (parse_num(a, v, 10, 60000, &x))
                return -1;
            snprintf(d->gossip_interval_ms, sizeof d->gossip_interval_ms, "%d", (int)x);
        } else if (!strcmp(a, "--phi-threshold")) {
            if (parse_num(a, v, 1, 100, &x))
                return -1;
            snprintf(d->phi_threshold, sizeof d->phi_threshold, "%g", x);
        } else {
            fprintf(stderr, "sibyl demo: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (d->ndcs > d->nnodes) {
        fprintf(stderr, "sibyl demo: --dcs %d needs at least as many nodes (--nodes %d)\n", d->ndcs,
                d->nnodes);
        return -1;
    }
    if (!d->control[0])
        snprintf(d->control, sizeof d->control, "127.0.0.1:%d", 8079 + d->port_offset);
    snprintf(d->control_url, sizeof d->control_url, "http://%s", d->control);
    return 0;
}

static void layout(demo *d)
{
    for (int k = 0; k < d->nnodes; k++) {
        demo_node *n = &d->nodes[k];
        n->i = k + 1;
        /* round-robin over datacenters; within one, one rack per node up
         * to three, so NetworkTopologyStrategy has racks to spread over */
        snprintf(n->dc, sizeof n->dc, "dc%d", k % d->ndcs + 1);
        snprintf(n->rack, sizeof n->rack, "rack%d", (k / d->ndcs) % 3 + 1);
        snprintf(n->listen, sizeof n->listen, "127.0.0.%d:%d", n->i, 7000 + d->port_offset);
        snprintf(n->cql, sizeof n->cql, "127.0.0.%d:%d", n->i, 9042 + d->port_offset);
        snprintf(n->http, sizeof n->http, "127.0.0.%d:%d", n->i, 8080 + d->port_offset);
        snprintf(n->data, sizeof n->data, "%s/node%d", d->data, n->i);
        snprintf(n->log, sizeof n->log, "%s/node%d.log", d->data, n->i);
    }
}

/* --- processes ---------------------------------------------------------------- */

/* Forks and execs the demo's own binary with args. stdout and stderr go to
 * log_path (appended), or stderr to err_fd when err_fd >= 0. */
static pid_t spawn(const demo *d, char **args, const char *log_path, int err_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the demo died before prctl */
        _exit(127);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0)
        dup2(in, 0);
    int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
        dup2(out, 1);
        dup2(err_fd >= 0 ? err_fd : out, 2);
    }
    execv(d->exe, args);
    fprintf(stderr, "sibyl demo: cannot run %s: %s\n", d->exe, strerror(errno));
    _exit(127);
}

static pid_t start_node(demo *d, demo_node *n)
{
    char seeds[64];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", 7000 + d->port_offset);
    char *args[] = {d->exe,
                    "node",
                    "--data",
                    n->data,
                    "--listen",
                    n->listen,
                    "--cql",
                    n->cql,
                    "--http",
                    n->http,
                    "--seeds",
                    seeds,
                    "--dc",
                    n->dc,
                    "--rack",
                    n->rack,
                    "--demo-control",
                    d->control_url,
                    "--gossip-interval-ms",
                    d->gossip_interval_ms,
                    d->phi_threshold[0] ? "--phi-threshold" : NULL,
                    d->phi_threshold,
                    NULL};
    n->exited = 0;
    n->pid = spawn(d, args, n->log, -1);
    return n->pid;
}

/* Notes children that ended (without blocking). */
static void reap(demo *d)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char how[64];
        if (WIFEXITED(status))
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        else
            snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
        if (pid == d->sim_pid) {
            d->sim_pid = 0;
            if (!stop_flag)
                printf("demo: the simulator %s\n", how);
            continue;
        }
        for (int k = 0; k < d->nnodes; k++) {
            demo_node *n = &d->nodes[k];
            if (n->pid == pid) {
                n->exited = 1;
                n->pid = 0;
                if (!stop_flag)
                    printf("demo: node%d (%s) %s; log: %s\n", n->i, n->http, how, n->log);
            }
        }
    }
    fflush(stdout);
}

/* SIGTERM to the given pids, then waits up to timeout_s, then SIGKILL. */
static void stop_pids(demo *d, pid_t *pids, int n, double timeout_s)
{
    for (int k = 0; k < n; k++)
        if (pids[k] > 0)
            kill(pids[k], SIGTERM);
    double deadline = mono_s() + timeout_s;
    for (;;) {
        int alive = 0;
        for (int k = 0; k < n; k++) {
            if (pids[k] <= 0)
                continue;
            int status;
            pid_t r = waitpid(pids[k], &status, WNOHANG);
            if (r == pids[k] || (r < 0 && errno == ECHILD))
                pids[k] = 0;
            else
                alive++;
        }
        if (!alive)
            return;
        if (mono_s() >= deadline)
            break;
        sleep_ms(50);
    }
    for (int k = 0; k < n; k++) {
        if (pids[k] > 0) {
            fprintf(stderr, "demo: pid %d did not stop in %.0f s; killing it\n", (int)pids[k],
                    timeout_s);
            kill(pids[k], SIGKILL);
            waitpid(pids[k], NULL, 0);
        }
    }
}

/* --- waiting for nodes ------------------------------------------------------------ */

static int health_ok(const char *hostport)
{
    sb_httpc c;
    char errmsg[SB_ERRMSG_SIZE];
    if (sb_httpc_init(&c, hostport, 1000, errmsg))
        return 0;
    sb_http_resp resp;
    int ok = sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &resp, errmsg) == 0 &&
             resp.status == 200;
    sb_buf_free(&resp.body);
    sb_httpc_close(&c);
    return ok;
}

/* The cluster view of the node at hostport, parsed; NULL if unreachable. */
static json_t *fetch_view(const char *hostport)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf body;
    if (sb_httpc_fetch_cluster(hostport, NULL, NULL, 2000, &body, errmsg) != 0)
        return NULL;
    json_t *root = json_loadb((const char *)body.data, body.len, 0, NULL);
    sb_buf_free(&body);
    return root;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* 1 when the node at n->http reports itself NORMAL. */
static int self_normal(const demo_node *n)
{
    json_t *v = fetch_view(n->http);
    int ok = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(v, "nodes"), i, m)
    {
        if (!strcmp(jstr(m, "listen"), jstr(v, "local")))
            ok = !strcmp(jstr(m, "status"), "NORMAL");
    }
    json_decref(v);
    return ok;
}

/* Counts the nodes node 1 sees up and NORMAL; *ring: tokens known. */
static int seen_normal(const demo *d, int *ring)
{
    json_t *v = fetch_view(d->nodes[0].http);
    int count = 0;
    size_t i;
    json_t *m;
    *ring = json_array_size(json_object_get(v, "ring")) > 0;
    json_array_foreach(json_object_get(v, "nodes"), i, m)
    {
        count += !strcmp(jstr(m, "status"), "NORMAL") && !strcmp(jstr(m, "state"), "up");
    }
    json_decref(v);
    return count;
}

/* Waits until ready(n) or the node exits, the demo is stopped or
 * timeout_s passes. 0 ready, -1 otherwise (printed). */
static int wait_node(demo *d, demo_node *n, int (*ready)(const demo_node *), const char *what,
                     double timeout_s)
{
    double deadline = mono_s() + timeout_s;
    while (!stop_flag) {
        if (ready(n))
            return 0;
        reap(d);
        if (n->exited) {
            fprintf(stderr, "demo: node%d failed to start; its log (%s) ends with:\n", n->i,
                    n->log);
            char cmd[1200];
            snprintf(cmd, sizeof cmd, "tail -n 15 '%s' >&2", n->log);
            if (system(cmd) != 0)
                fprintf(stderr, "(cannot read the log)\n");
            return -1;
        }
        if (mono_s() >= deadline) {
            fprintf(stderr, "demo: node%d (%s) not %s after %.0f s; log: %s\n", n->i, n->http, what,
                    timeout_s, n->log);
            return -1;
        }
        sleep_ms(100);
    }
    return -1;
}

static int node_healthy(const demo_node *n)
{
    return health_ok(n->http);
}

/* --- the simulator ------------------------------------------------------------------ */

static int nodes_in_dc(const demo *d, const char *dc)
{
    int c = 0;
    for (int k = 0; k < d->nnodes; k++)
        c += !strcmp(d->nodes[k].dc, dc);
    return c;
}

static void replication_json(const demo *d, char *out, size_t outlen)
{
    if (d->ndcs == 1) {
        snprintf(out, outlen, "{\"class\": \"SimpleStrategy\", \"replication_factor\": %d}",
                 d->nnodes < 3 ? d->nnodes : 3);
        return;
    }
    size_t o = (size_t)snprintf(out, outlen, "{\"class\": \"NetworkTopologyStrategy\"");
    for (int k = 0; k < d->ndcs && o < outlen; k++) {
        char dc[16];
        snprintf(dc, sizeof dc, "dc%d", k + 1);
        int n = nodes_in_dc(d, dc);
        o += (size_t)snprintf(out + o, outlen - o, ", \"%s\": %d", dc, n < 3 ? n : 3);
    }
    if (o < outlen)
        snprintf(out + o, outlen - o, "}");
}

static int start_sim(demo *d, const char *replication)
{
    char targets[DEMO_MAX_NODES * 64] = "", sensors[32], rate[32], log[1100];
    size_t o = 0;
    for (int k = 0; k < d->nnodes; k++)
        o += (size_t)snprintf(targets + o, sizeof targets - o, "%s%s", k ? "," : "",
                              d->nodes[k].http);
    snprintf(sensors, sizeof sensors, "%d", d->sensors);
    snprintf(rate, sizeof rate, "%g", d->rate);
    snprintf(log, sizeof log, "%s/sim.log", d->data);
    char reads[32];
    snprintf(reads, sizeof reads, "%g", d->reads);
    char *args[] = {d->exe,
                    "sim",
                    "--target",
                    targets,
                    "--replication",
                    (char *)replication,
                    "--bucket",
                    d->bucket,
                    "--sensors",
                    sensors,
                    "--rate",
                    rate,
                    "--status",
                    "1",
                    "--consistency",
                    d->write_cl,
                    "--read-consistency",
                    d->read_cl,
                    "--reads",
                    reads,
                    "--control",
                    d->control_url,
                    "--cap",
                    "2",
                    NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        fprintf(stderr, "demo: pipe: %s\n", strerror(errno));
        return -1;
    }
    /* the child's copy of the write end survives exec through dup2 */
    d->sim_pid = spawn(d, args, log, p[1]);
    close(p[1]);
    if (d->sim_pid < 0) {
        close(p[0]);
        fprintf(stderr, "demo: fork: %s\n", strerror(errno));
        return -1;
    }
    d->sim_fd = p[0];
    fcntl(d->sim_fd, F_SETFL, fcntl(d->sim_fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* The number after key (" sent=") in line into *out, if present. */
static void sim_counter(const char *line, const char *key, uint64_t *out)
{
    const char *p = strstr(line, key);
    if (p)
        *out = strtoull(p + strlen(key), NULL, 10);
}

/* "sim: cap target=HTTP ap_ok=N ...": that node's CAP writer counts. */
static void sim_cap_line(demo *d, const char *line)
{
    const char *t = line + strlen("sim: cap target=");
    size_t tl = strcspn(t, " ");
    for (int k = 0; k < d->nnodes; k++) {
        demo_node *n = &d->nodes[k];
        if (strlen(n->http) != tl || memcmp(n->http, t, tl))
            continue;
        sim_counter(line, " ap_ok=", &n->ap_ok);
        sim_counter(line, " ap_failed=", &n->ap_failed);
        sim_counter(line, " cp_ok=", &n->cp_ok);
        sim_counter(line, " cp_failed=", &n->cp_failed);
        sim_counter(line, " cp_value=", &n->cp_value);
    }
}

static void sim_line(demo *d, const char *line)
{
    if (!strncmp(line, "sim: cap target=", 16)) {
        sim_cap_line(d, line);
        return;
    }
    const char *sent = strstr(line, " sent=");
    sim_counter(line, " sent=", &d->sim_sent);
    sim_counter(line, " writes_ok=", &d->sim_writes_ok);
    sim_counter(line, " writes_failed=", &d->sim_writes_failed);
    sim_counter(line, " reads_ok=", &d->sim_reads_ok);
    sim_counter(line, " reads_failed=", &d->sim_reads_failed);
    if (!strncmp(line, "sim: done:", 10)) {
        snprintf(d->sim_final, sizeof d->sim_final, "%s", line);
        return;
    }
    /* status lines feed the summary; anything else is news, except the
     * last-error line the simulator repeats under each status line while
     * writes fail (its first "write failed" line said it already) */
    if ((sent && !strncmp(line, "sim: node", 9)) || !strncmp(line, "sim: last error:", 16))
        return;
    printf("%s\n", line);
    fflush(stdout);
}

/* Reads what the simulator wrote (the pipe is non-blocking). */
static void read_sim(demo *d)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(d->sim_fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            close(d->sim_fd);
            d->sim_fd = -1;
            break;
        }
        if (r < 0)
            break;
        for (ssize_t k = 0; k < r; k++) {
            if (buf[k] == '\n') {
                sim_line(d, sb_buf_cstr(&d->sim_line));
                sb_buf_reset(&d->sim_line);
            } else if (d->sim_line.len < 8192) {
                sb_buf_putc(&d->sim_line, (uint8_t)buf[k]);
            }
        }
    }
}

/* Reads what the simulator wrote, waiting up to wait_ms. */
static void pump_sim(demo *d, int wait_ms)
{
    if (d->sim_fd < 0) {
        if (wait_ms > 0)
            sleep_ms(wait_ms);
        return;
    }
    struct pollfd p = {.fd = d->sim_fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) > 0)
        read_sim(d);
}

/* The main loop's wait: the simulator's pipe and the control server. */
static void demo_wait(demo *d, int wait_ms)
{
    struct pollfd fds[2 + SB_DEMO_MAX_CONNS];
    int n = 0, sim_i = -1;
    if (d->sim_fd >= 0) {
        sim_i = n;
        fds[n++] = (struct pollfd){.fd = d->sim_fd, .events = POLLIN};
    }
    int ctl_first = n;
    if (d->ctl)
        n += sb_demo_ctl_pollfds(d->ctl, fds + n, (int)(sizeof fds / sizeof fds[0]) - n);
    if (n == 0) {
        sleep_ms(wait_ms);
        return;
    }
    if (poll(fds, (nfds_t)n, wait_ms) < 0)
        for (int k = 0; k < n; k++)
            fds[k].revents = 0;
    if (sim_i >= 0 && fds[sim_i].revents)
        read_sim(d);
    if (d->ctl)
        sb_demo_ctl_service(d->ctl, fds + ctl_first, n - ctl_first);
}

/* --- summary ---------------------------------------------------------------------- */

static void print_summary(demo *d, double elapsed_s, double rate)
{
    json_t *v = NULL;
    for (int k = 0; k < d->nnodes && !v; k++)
        if (d->nodes[k].pid > 0)
            v = fetch_view(d->nodes[k].http);
    sb_buf line;
    sb_buf_init(&line);
    sb_buf_printf(&line, "[%5.0fs]", elapsed_s);
    uint64_t load = 0, hints = 0;
    if (!v) {
        sb_buf_printf(&line, " no node answers");
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(v, "nodes"), i, m)
        {
            const char *st = jstr(m, "status");
            char code = !strcmp(st, "NORMAL") || !strcmp(st, "SHUTDOWN") ? 'N'
                        : !strcmp(st, "JOINING")                         ? 'J'
                        : !strcmp(st, "LEAVING")                         ? 'L'
                                                                         : '?';
            sb_buf_printf(&line, " %s %c%c", jstr(m, "address"),
                          !strcmp(jstr(m, "state"), "up") ? 'U' : 'D', code);
            load += (uint64_t)json_integer_value(json_object_get(m, "load_bytes"));
            hints += (uint64_t)json_integer_value(json_object_get(m, "hints_pending"));
        }
    }
    char lb[32];
    sb_cli_format_bytes(load, lb, sizeof lb);
    sb_buf_printf(&line, " | load %s | hints pending %" PRIu64, lb, hints);
    for (int pass = 0; pass < 2; pass++) {
        int any = 0;
        for (int k = 0; k < d->nnodes; k++) {
            const demo_node *n = &d->nodes[k];
            if (n->pid <= 0 && (pass ? !n->stopped : n->stopped))
                sb_buf_printf(&line, "%s%d",
                              any++  ? ","
                              : pass ? " | exited: node"
                                     : " | stopped: node",
                              n->i);
        }
    }
    sb_buf_printf(&line,
                  " | sim: %" PRIu64 " points sent, %.1f/s, CL %s/%s, writes failed %" PRIu64
                  ", reads %" PRIu64 " ok %" PRIu64 " failed\n",
                  d->sim_sent, rate, d->write_cl, d->read_cl, d->sim_writes_failed, d->sim_reads_ok,
                  d->sim_reads_failed);
    fwrite(line.data, 1, line.len, stdout);
    fflush(stdout);
    sb_buf_free(&line);
    json_decref(v);
}

static void print_banner(demo *d, const char *replication)
{
    char cwd[1024], exe[1100];
    /* show the binary as the user would type it */
    size_t cl = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (cl && !strncmp(d->exe, cwd, cl) && d->exe[cl] == '/')
        snprintf(exe, sizeof exe, "%s", d->exe + cl + 1);
    else
        snprintf(exe, sizeof exe, "%s", d->exe);
    printf("\nSibyl demo: %d node%s in %d datacenter%s (data and logs in %s/)\n\n", d->nnodes,
           d->nnodes > 1 ? "s" : "", d->ndcs, d->ndcs > 1 ? "s" : "", d->data);
    for (int k = 0; k < d->nnodes; k++) {
        demo_node *n = &d->nodes[k];
        printf("  node%-2d %-4s %-6s http://%-22s cql %-18s pid %d\n", n->i, n->dc, n->rack,
               n->http, n->cql, (int)n->pid);
    }
    printf("\n  dashboard: http://%s/   <- open in a browser: ring, live data, replicas,\n"
           "             latency by consistency level, events; stop, cut and heal nodes\n",
           d->nodes[0].http);
    printf("  control: %s/api/v1/demo  (stop node 2: curl -s -X POST "
           "%s/api/v1/demo/nodes/2/stop)\n",
           d->control_url, d->control_url);
    printf("\n  Cluster status:     %s status %s\n", exe, d->nodes[0].http);
    printf("  Effective owns:     %s status %s --keyspace %s\n", exe, d->nodes[0].http, d->bucket);
    printf("  Token ring:         %s ring %s\n", exe, d->nodes[0].http);
    printf("  CQL shell:          %s cql %s\n", exe, d->nodes[0].cql);
    printf("  CQL contact points:");
    for (int k = 0; k < d->nnodes; k++)
        printf("%s%s", k ? "," : " ", d->nodes[k].cql);
    printf("\n  Query over HTTP:    curl -s http://%s/api/v1/cql -d '{\"query\": \"SELECT "
           "count(*) FROM %s.readings\"}'\n",
           d->nodes[0].http, d->bucket);
    printf("  Cluster view:       curl -s http://%s/api/v1/cluster\n", d->nodes[0].http);
    printf("\nThe simulator writes %d sensors at %g readings/s through all nodes\n"
           "(keyspace %s, replication %s) at %s and reads %g rows/s at %s.\n",
           d->sensors, d->rate, d->bucket, replication, d->write_cl, d->reads, d->read_cl);
    /* phi = silence / mean heartbeat interval * log10(e) (src/cluster/fd.c) */
    double phi = d->phi_threshold[0] ? strtod(d->phi_threshold, NULL) : 8;
    printf("Nodes gossip every %s ms: a stopped node is marked down after about %.0f s.\n",
           d->gossip_interval_ms, phi / 0.4342944819 * atoi(d->gossip_interval_ms) / 1000);
    if (d->seconds > 0)
        printf("Stopping after %g s (Ctrl-C stops earlier).\n\n", d->seconds);
    else
        printf("Press Ctrl-C to stop.\n\n");
    fflush(stdout);
}

/* --- control ------------------------------------------------------------------- */

/* The GET /api/v1/demo document into out. */
static int render_doc(const demo *d, sb_buf *out)
{
    json_t *nodes = json_array();
    for (int k = 0; k < d->nnodes; k++) {
        const demo_node *n = &d->nodes[k];
        json_t *cap =
            json_pack("{s:I,s:I,s:I,s:I,s:I}", "ap_ok", (json_int_t)n->ap_ok, "ap_failed",
                      (json_int_t)n->ap_failed, "cp_ok", (json_int_t)n->cp_ok, "cp_failed",
                      (json_int_t)n->cp_failed, "cp_value", (json_int_t)n->cp_value);
        json_array_append_new(nodes,
                              json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:o,s:o}", "i", n->i,
                                        "listen", n->listen, "http", n->http, "cql", n->cql, "dc",
                                        n->dc, "rack", n->rack, "running", n->pid > 0, "state",
                                        n->pid > 0   ? "running"
                                        : n->stopped ? "stopped"
                                                     : "exited",
                                        "pid", n->pid > 0 ? json_integer(n->pid) : json_null(),
                                        "cap", cap ? cap : json_null()));
    }
    json_t *doc = json_pack(
        "{s:o,s:s,s:s,s:{s:b,s:I,s:I,s:I,s:I,s:I,s:f},s:s,s:s,s:s}", "nodes", nodes,
        "write_consistency", d->write_cl, "read_consistency", d->read_cl, "sim", "running",
        d->sim_pid > 0, "sent", (json_int_t)d->sim_sent, "writes_ok", (json_int_t)d->sim_writes_ok,
        "writes_failed", (json_int_t)d->sim_writes_failed, "reads_ok", (json_int_t)d->sim_reads_ok,
        "reads_failed", (json_int_t)d->sim_reads_failed, "reads_per_second", d->reads, "keyspace",
        d->bucket, "table", "readings", "control", d->control_url);
    json_t *part = json_null();
    if (d->partitioned) {
        json_t *m = json_array(), *rest = json_array();
        for (int k = 0; k < d->nnodes; k++)
            json_array_append_new(d->minority[k] ? m : rest, json_integer(k + 1));
        part = json_pack("{s:o,s:o}", "minority", m, "majority", rest);
    }
    if (doc)
        json_object_set_new(doc, "partition", part);
    else
        json_decref(part);
    char *s = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    json_decref(doc);
    if (!s)
        return SB_ENOMEM;
    int rv = sb_buf_append(out, s, strlen(s)) || sb_buf_putc(out, '\n') ? SB_ENOMEM : 0;
    free(s);
    return rv;
}

static int stop_node(demo *d, demo_node *n, int sig, char *errmsg)
{
    if (n->pid <= 0)
        return sb_seterr(errmsg, SB_EEXISTS, "node%d is not running", n->i);
    pid_t pid = n->pid;
    if (sig == SIGKILL) {
        kill(pid, SIGKILL);
        /* dies at once: the kernel needs no cooperation from the node */
        waitpid(pid, NULL, 0);
    } else {
        stop_pids(d, &pid, 1, 20); /* escalates to SIGKILL after 20 s */
    }
    n->pid = 0;
    n->stopped = 1;
    n->exited = 0;
    printf("demo: node%d (%s) stopped with SIG%s through the control server\n", n->i, n->http,
           sig == SIGKILL ? "KILL" : "TERM");
    fflush(stdout);
    return 0;
}

/* Cuts every running node from every node of the other side, through
 * each node's /api/v1/fault (what `sibyl fault partition` does). A node
 * stopped at the time is not cut: start it after the heal. */
static int partition(demo *d, const unsigned char *minority, char *errmsg)
{
    printf("demo: partition:");
    for (int s = 1; s >= 0; s--) {
        printf("%s", s == 0 ? " |" : "");
        for (int k = 0; k < d->nnodes; k++)
            if (minority[k] == s)
                printf(" node%d", k + 1);
    }
    printf("\n");
    fflush(stdout);
    int failed = 0;
    for (int k = 0; k < d->nnodes; k++) {
        const char *peers[DEMO_MAX_NODES];
        int np = 0;
        for (int j = 0; j < d->nnodes; j++)
            if (minority[j] != minority[k])
                peers[np++] = d->nodes[j].listen;
        if (d->nodes[k].pid > 0 && sb_cli_fault_post(d->nodes[k].http, "cut", peers, np) != 0)
            failed++;
    }
    memcpy(d->minority, minority, sizeof d->minority);
    d->partitioned = 1;
    fflush(stdout);
    return failed ? sb_seterr(errmsg, SB_EUNAVAILABLE,
                              "%d node%s did not take the cut (see the demo's output)", failed,
                              failed == 1 ? "" : "s")
                  : 0;
}

static int heal(demo *d, char *errmsg)
{
    int failed = 0;
    for (int k = 0; k < d->nnodes; k++)
        if (d->nodes[k].pid > 0 && sb_cli_fault_post(d->nodes[k].http, "heal", NULL, 0) != 0)
            failed++;
    d->partitioned = 0;
    memset(d->minority, 0, sizeof d->minority);
    printf("demo: partition healed\n");
    fflush(stdout);
    return failed ? sb_seterr(errmsg, SB_EUNAVAILABLE, "%d node%s did not heal", failed,
                              failed == 1 ? "" : "s")
                  : 0;
}

static int control_handle(void *arg, const sb_demo_action *act, sb_buf *out, char *errmsg)
{
    demo *d = arg;
    demo_node *n = act->node >= 1 && act->node <= d->nnodes ? &d->nodes[act->node - 1] : NULL;
    int rv = 0;
    switch (act->kind) {
    case SB_DEMO_ACT_STOP:
        rv = stop_node(d, n, act->sig, errmsg);
        break;
    case SB_DEMO_ACT_START:
        reap(d); /* a node that just exited by itself can be started */
        if (n->pid > 0)
            return sb_seterr(errmsg, SB_EEXISTS, "node%d is already running (pid %d)", n->i,
                             (int)n->pid);
        if (start_node(d, n) < 0)
            return sb_seterr(errmsg, SB_ESERVER, "cannot start node%d: fork: %s", n->i,
                             strerror(errno));
        n->stopped = 0;
        printf("demo: node%d (%s) started again through the control server, pid %d\n", n->i,
               n->http, (int)n->pid);
        fflush(stdout);
        break;
    case SB_DEMO_ACT_CONSISTENCY:
        if (act->write_cl[0])
            snprintf(d->write_cl, sizeof d->write_cl, "%s", act->write_cl);
        if (act->read_cl[0])
            snprintf(d->read_cl, sizeof d->read_cl, "%s", act->read_cl);
        printf("demo: the simulator now writes at %s and reads at %s\n", d->write_cl, d->read_cl);
        fflush(stdout);
        break;
    case SB_DEMO_ACT_PARTITION:
        rv = partition(d, act->side, errmsg);
        break;
    case SB_DEMO_ACT_HEAL:
        rv = heal(d, errmsg);
        break;
    default:
        break;
    }
    return rv ? rv : render_doc(d, out);
}

/* --- main ----------------------------------------------------------------------- */

static int start_cluster(demo *d)
{
    for (int k = 0; k < d->nnodes && !stop_flag; k++) {
        demo_node *n = &d->nodes[k];
        if (mkdir(d->data, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "demo: cannot create %s: %s\n", d->data, strerror(errno));
            return -1;
        }
        printf("demo: starting node%d on %s (%s, %s)\n", n->i, n->http, n->dc, n->rack);
        fflush(stdout);
        if (start_node(d, n) < 0) {
            fprintf(stderr, "demo: fork: %s\n", strerror(errno));
            return -1;
        }
        if (wait_node(d, n, node_healthy, "answering /health", 30) != 0)
            return -1;
        /* the next node joins once this one has (a bounded wait: a slow
         * join is reported and the demo goes on) */
        if (k + 1 < d->nnodes && wait_node(d, n, self_normal, "NORMAL", 60) != 0 && n->exited)
            return -1;
    }
    if (stop_flag)
        return -1;
    /* with a real cluster, wait until node 1 sees everyone up */
    double deadline = mono_s() + 30;
    int ring = 0, seen = seen_normal(d, &ring);
    while (ring && seen < d->nnodes && mono_s() < deadline && !stop_flag) {
        sleep_ms(200);
        seen = seen_normal(d, &ring);
    }
    if (ring && seen < d->nnodes)
        printf("demo: node1 sees %d of %d nodes up and NORMAL so far\n", seen, d->nnodes);
    return 0;
}

int sb_demo_main(int argc, char **argv)
{
    static demo dd; /* large; one per process */
    demo *d = &dd;
    memset(d, 0, sizeof *d);
    d->sim_fd = -1;
    sb_buf_init(&d->sim_line);
    int rv = parse_args(d, argc, argv);
    if (rv)
        return rv > 0 ? 0 : 2;
    ssize_t el = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
    if (el <= 0) {
        fprintf(stderr, "sibyl demo: cannot find my own binary: %s\n", strerror(errno));
        return 1;
    }
    d->exe[el] = '\0';
    layout(d);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps and polls end at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    double t0 = mono_s();
    int rc = 0;
    char replication[512];
    replication_json(d, replication, sizeof replication);
    char errmsg[SB_ERRMSG_SIZE];
    /* before any node: the nodes are told where it is, and a taken port
     * should stop the demo before it starts anything */
    if (sb_demo_ctl_open(&d->ctl, d->control, d->nnodes, control_handle, d, errmsg) != 0) {
        fprintf(stderr, "sibyl demo: %s (choose another with --control or --port-offset)\n",
                errmsg);
        sb_buf_free(&d->sim_line);
        return 1;
    }
    /* the dashboard, served by any node, drives the control server */
    for (int i = 0; i < d->nnodes; i++)
        if (sb_demo_ctl_trust(d->ctl, d->nodes[i].http, errmsg) != 0) {
            fprintf(stderr, "sibyl demo: %s\n", errmsg);
            rc = 1;
            goto stop;
        }
    if (start_cluster(d) != 0) {
        rc = stop_flag ? 0 : 1;
        goto stop;
    }
    if (start_sim(d, replication) != 0) {
        rc = 1;
        goto stop;
    }
    print_banner(d, replication);

    double started = mono_s(), last_status = started;
    uint64_t last_sent = 0;
    while (!stop_flag) {
        double now = mono_s();
        if (d->seconds > 0 && now - started >= d->seconds)
            break;
        demo_wait(d, 200);
        reap(d);
        now = mono_s();
        if (d->status_s > 0 && now - last_status >= d->status_s) {
            double rate = (double)(d->sim_sent - last_sent) / (now - last_status);
            print_summary(d, now - started, rate);
            last_sent = d->sim_sent;
            last_status = now;
        }
    }
    printf("demo: stopping (%.0f s)\n", mono_s() - t0);
    fflush(stdout);

stop:
    if (d->sim_pid > 0) {
        pid_t p = d->sim_pid;
        stop_pids(d, &p, 1, 15);
        d->sim_pid = 0;
    }
    for (int k = 0; k < 20 && d->sim_fd >= 0; k++)
        pump_sim(d, 50);
    if (d->sim_fd >= 0)
        close(d->sim_fd);
    if (d->sim_final[0])
        printf("%s\n", d->sim_final);
    pid_t pids[DEMO_MAX_NODES];
    int np = 0;
    for (int k = 0; k < d->nnodes; k++)
        if (d->nodes[k].pid > 0)
            pids[np++] = d->nodes[k].pid;
    stop_pids(d, pids, np, 30);
    printf("demo: stopped%s\n", rc ? " (the cluster did not start)" : "");
    fflush(stdout);
    sb_buf_free(&d->sim_line);
    sb_demo_ctl_free(d->ctl);
    d->ctl = NULL;
    return rc;
}
