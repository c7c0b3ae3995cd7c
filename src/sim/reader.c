/*
 * The simulator's read thread (see reader.h).
 *
 * NOTES ON THE DESIGN
 *
 * - The thread owns everything it touches except the three shared items
 *   in struct sb_sim_reader marked "shared": the level (mutex), the
 *   counters and the stop flag (atomics). Its HTTP clients carry the
 *   eventfd as wake_fd, and its sleeps poll the same fd, so stopping never
 *   waits for a node's timeout.
 * - The thread is created with every signal blocked, so SIGINT/SIGTERM
 *   keep landing on the writer thread, whose blocking calls they interrupt
 *   as before.
 * - Targets round-robin; one that cannot be reached (no answer at all) is
 *   skipped for 2 s, doubling up to 10 s while it stays so, said once per
 *   outage. A target that answers with an error is not skipped: at QUORUM
 *   or ALL every coordinator answers alike, and the failures are what the
 *   presenter wants to see counted.
 */
#include "sim/reader.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net/httpc.h"
#include "util/err.h"
#include "util/prng.h"

#define READER_MAX_TARGETS 16
#define DOWN_S 2.0

struct sb_sim_reader {
    pthread_t thread;
    int wake_fd;
    /* shared */
    atomic_int stop;
    atomic_uint_fast64_t ok, failed;
    pthread_mutex_t mu;
    char read_cl[16]; /* under mu */
    /* the reader thread's own */
    sb_httpc h[READER_MAX_TARGETS];
    char targets[READER_MAX_TARGETS][300];
    double down_until_s[READER_MAX_TARGETS], down_for_s[READER_MAX_TARGETS];
    int down_reported[READER_MAX_TARGETS];
    int n, cur, failing;
    double period_s;
    char bucket[128], measurement[128];
    const sb_sim_gen *gen;
    sb_prng rng; /* which sensor to read: not the writer's stream */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The target after from that is not being skipped (from + 1 if all are). */
static int next_target(const sb_sim_reader *r, int from)
{
    double now = mono_s();
    for (int k = 1; k <= r->n; k++) {
        int j = (from + k) % r->n;
        if (r->down_until_s[j] <= now)
            return j;
    }
    return (from + 1) % r->n;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = 0;
}

/* One read of the latest row of a random sensor. */
static void read_one(sb_sim_reader *r)
{
    int n = sb_sim_gen_sensors(r->gen);
    const sb_sim_sensor *s =
        sb_sim_gen_sensor(r->gen, (int)sb_prng_range(&r->rng, 0, (uint64_t)n - 1));
    char q[1024], cl[16];
    snprintf(q, sizeof q,
             "SELECT * FROM \"%s\".\"%s\" WHERE device_type = '%s' AND location = '%s' AND "
             "sensor_id = '%s' ORDER BY time DESC LIMIT 1",
             r->bucket, r->measurement, s->device_type, s->location, s->id);
    pthread_mutex_lock(&r->mu);
    memcpy(cl, r->read_cl, sizeof cl);
    pthread_mutex_unlock(&r->mu);
    json_t *req = json_pack("{s:s}", "query", q);
    if (cl[0])
        json_object_set_new(req, "consistency", json_string(cl));
    char *body = json_dumps(req, 0);
    json_decref(req);
    int i = r->cur;
    r->cur = next_target(r, i);
    char errmsg[SB_ERRMSG_SIZE];
    sb_http_resp resp;
    int rv = sb_httpc_request(&r->h[i], "POST", "/api/v1/cql", "application/json", body,
                              body ? strlen(body) : 0, &resp, errmsg);
    free(body);
    const char *what = cl[0] ? cl : "the default consistency";
    if (atomic_load(&r->stop)) {
        /* abandoned: neither a success nor the node's failure */
    } else if (rv != 0) {
        atomic_fetch_add(&r->failed, 1);
        double d = r->down_for_s[i];
        d = d <= 0 ? DOWN_S : d * 2 > 5 * DOWN_S ? 5 * DOWN_S : d * 2;
        r->down_for_s[i] = d;
        r->down_until_s[i] = mono_s() + d;
        if (!r->down_reported[i])
            fprintf(stderr, "sim: read through %s failed (%s); skipping it for reads for a while\n",
                    r->targets[i], errmsg);
        r->down_reported[i] = 1;
    } else {
        r->down_for_s[i] = 0;
        if (r->down_reported[i])
            fprintf(stderr, "sim: node %s answers reads again\n", r->targets[i]);
        r->down_reported[i] = 0;
        if (resp.status == 200) {
            atomic_fetch_add(&r->ok, 1);
            if (r->failing)
                fprintf(stderr, "sim: reads at %s succeed again\n", what);
            r->failing = 0;
        } else {
            atomic_fetch_add(&r->failed, 1);
            snprintf(errmsg, sizeof errmsg, "HTTP %d %.*s", resp.status,
                     (int)(resp.body.len > 300 ? 300 : resp.body.len),
                     resp.body.data ? (const char *)resp.body.data : "");
            rtrim(errmsg);
            if (!r->failing)
                fprintf(stderr, "sim: read at %s through %s failed: %s\n", what, r->targets[i],
                        errmsg);
            r->failing = 1;
        }
    }
    sb_buf_free(&resp.body);
}

static void *run(void *arg)
{
    sb_sim_reader *r = arg;
    double next = mono_s();
    while (!atomic_load(&r->stop)) {
        double wait_s = next - mono_s();
        if (wait_s > 0) {
            /* wakes at once when stopped: the eventfd stays readable */
            struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
            poll(&p, 1, (int)(wait_s * 1000) + 1);
            continue;
        }
        read_one(r);
        next += r->period_s;
        /* after a stall (a read that waited for a timeout), go on at the
         * rate instead of catching up */
        if (next < mono_s())
            next = mono_s() + r->period_s;
    }
    return NULL;
}

static void reader_free(sb_sim_reader *r)
{
    for (int i = 0; i < r->n; i++)
        sb_httpc_close(&r->h[i]);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int sb_sim_reader_start(sb_sim_reader **out, const sb_sim_reader_opts *o, char *errmsg)
{
    *out = NULL;
    if (o->ntargets < 1 || o->ntargets > READER_MAX_TARGETS || !(o->reads_per_s > 0) || !o->gen ||
        sb_sim_gen_sensors(o->gen) < 1)
        return sb_seterr(errmsg, SB_EINVAL, "reader: bad options");
    sb_sim_reader *r = calloc(1, sizeof *r);
    if (!r)
        return sb_seterr(errmsg, SB_ENOMEM, "reader: out of memory");
    pthread_mutex_init(&r->mu, NULL);
    atomic_init(&r->stop, 0);
    atomic_init(&r->ok, 0);
    atomic_init(&r->failed, 0);
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) {
        reader_free(r);
        return sb_seterr(errmsg, SB_EIO, "reader: eventfd: %s", strerror(errno));
    }
    int rv = 0;
    for (int i = 0; i < o->ntargets; i++) {
        if (strlen(o->targets[i]) >= sizeof r->targets[i]) {
            rv = sb_seterr(errmsg, SB_EINVAL, "reader: target address too long");
            goto fail;
        }
        snprintf(r->targets[i], sizeof r->targets[i], "%s", o->targets[i]);
        if ((rv = sb_httpc_init(&r->h[i], o->targets[i], o->timeout_ms, errmsg)) != 0)
            goto fail;
        r->h[i].wake_fd = r->wake_fd;
        r->n++;
    }
    snprintf(r->bucket, sizeof r->bucket, "%s", o->bucket);
    snprintf(r->measurement, sizeof r->measurement, "%s", o->measurement);
    snprintf(r->read_cl, sizeof r->read_cl, "%s", o->read_cl ? o->read_cl : "");
    r->period_s = 1 / o->reads_per_s;
    r->gen = o->gen;
    /* not the writer's stream: the reads must not change the readings */
    sb_prng_seed(&r->rng, o->seed * 0x9E3779B97F4A7C15ull + 1);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&r->thread, NULL, run, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        rv = sb_seterr(errmsg, SB_EIO, "reader: pthread_create: %s", strerror(e));
        goto fail;
    }
    *out = r;
    return 0;
fail:
    reader_free(r);
    return rv;
}

void sb_sim_reader_set_consistency(sb_sim_reader *r, const char *cl)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    snprintf(r->read_cl, sizeof r->read_cl, "%s", cl);
    pthread_mutex_unlock(&r->mu);
}

void sb_sim_reader_counts(sb_sim_reader *r, uint64_t *ok, uint64_t *failed)
{
    *ok = r ? (uint64_t)atomic_load(&r->ok) : 0;
    *failed = r ? (uint64_t)atomic_load(&r->failed) : 0;
}

void sb_sim_reader_stop(sb_sim_reader *r, uint64_t *ok, uint64_t *failed)
{
    uint64_t k = 0, f = 0;
    if (r) {
        atomic_store(&r->stop, 1);
        uint64_t one = 1;
        if (write(r->wake_fd, &one, sizeof one) != (ssize_t)sizeof one)
            fprintf(stderr, "sim: cannot wake the reader: %s\n", strerror(errno));
        pthread_join(r->thread, NULL);
        sb_sim_reader_counts(r, &k, &f);
        reader_free(r);
    }
    if (ok)
        *ok = k;
    if (failed)
        *failed = f;
}
