/*
 * Start-up time and idle memory of `sibyl node`.
 *
 *   bench_startup --sibyl build/sibyl --http-port P --cql-port Q --listen-port R
 *                 [--runs 10] [--idle-ms 1000]
 *
 * Each run: a fresh data directory, fork+exec `sibyl node`, then GET /health
 * every millisecond until it answers 200: the time from fork to that answer
 * is the start-to-accepting time. The node then idles --idle-ms and its
 * VmRSS is read from /proc/PID/status. SIGTERM, wait (at most 10 s, then
 * SIGKILL), remove the directory. Reports the median (and range) of both.
 * Prints a human line per figure and
 *   RESULT startup_ms_median=... rss_bytes_median=... runs=...
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/httpc.h"
#include "util/err.h"

enum { MAX_RUNS = 100 };

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static long vm_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static void stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) { /* 10 s */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *sibyl = "build/sibyl";
    int http = 0, cql = 0, listen_port = 0, runs = 10, idle_ms = 1000;
    static const struct option opts[] = {
        {"sibyl", 1, 0, 's'},
        {"http-port", 1, 0, 'h'},
        {"cql-port", 1, 0, 'c'},
        {"listen-port", 1, 0, 'l'},
        {"runs", 1, 0, 'r'},
        {"idle-ms", 1, 0, 'i'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            sibyl = optarg;
            break;
        case 'h':
            http = atoi(optarg);
            break;
        case 'c':
            cql = atoi(optarg);
            break;
        case 'l':
            listen_port = atoi(optarg);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'i':
            idle_ms = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_startup --sibyl PATH --http-port P --cql-port Q "
                            "--listen-port R [--runs N] [--idle-ms MS]\n");
            return 2;
        }
    }
    if (!http || !cql || !listen_port || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr,
                "bench_startup: --http-port, --cql-port, --listen-port are required; "
                "runs 1..%d\n",
                MAX_RUNS);
        return 2;
    }
    char a_http[64], a_cql[64], a_listen[64], target[64];
    snprintf(a_http, sizeof a_http, "127.0.0.1:%d", http);
    snprintf(a_cql, sizeof a_cql, "127.0.0.1:%d", cql);
    snprintf(a_listen, sizeof a_listen, "127.0.0.1:%d", listen_port);
    snprintf(target, sizeof target, "127.0.0.1:%d", http);
    double start_ms[MAX_RUNS], rss_b[MAX_RUNS];
    for (int run = 0; run < runs; run++) {
        char dir[] = "/tmp/sibyl-bench-startup-XXXXXX";
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 2;
        }
        char log[128];
        snprintf(log, sizeof log, "%s.log", dir);
        double t0 = mono_ms();
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(sibyl, sibyl, "node", "--data", dir, "--http", a_http, "--cql", a_cql, "--listen",
                  a_listen, (char *)NULL);
            _exit(127);
        }
        double ready = -1;
        char errmsg[SB_ERRMSG_SIZE];
        sb_httpc c;
        sb_httpc_init(&c, target, 1000, errmsg);
        while (mono_ms() - t0 < 10000) {
            sb_http_resp r;
            int rv = sb_httpc_request(&c, "GET", "/health", NULL, NULL, 0, &r, errmsg);
            int status = rv ? 0 : r.status;
            sb_buf_free(&r.body);
            if (status == 200) {
                ready = mono_ms() - t0;
                break;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                fprintf(stderr, "bench_startup: the node exited during start-up; see %s\n", log);
                return 1;
            }
            usleep(1000);
        }
        sb_httpc_close(&c);
        if (ready < 0) {
            fprintf(stderr, "bench_startup: no 200 from /health within 10 s; see %s\n", log);
            stop_child(pid);
            return 1;
        }
        usleep((useconds_t)idle_ms * 1000);
        long kb = vm_rss_kb(pid);
        stop_child(pid);
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        unlink(log);
        start_ms[run] = ready;
        rss_b[run] = kb * 1024.0;
        fprintf(stderr, "bench_startup: run %d: %.1f ms to ready, VmRSS %.1f MB\n", run + 1, ready,
                kb / 1024.0);
    }
    qsort(start_ms, (size_t)runs, sizeof(double), cmp);
    qsort(rss_b, (size_t)runs, sizeof(double), cmp);
    double med_ms = start_ms[runs / 2], med_rss = rss_b[runs / 2];
    printf("startup: %.1f ms median from spawn to GET /health 200 (%d runs, min %.1f, max %.1f)\n",
           med_ms, runs, start_ms[0], start_ms[runs - 1]);
    printf("idle rss: %.1f MB median VmRSS %d ms after start (%d runs, min %.1f, max %.1f)\n",
           med_rss / 1048576, idle_ms, runs, rss_b[0] / 1048576, rss_b[runs - 1] / 1048576);
    printf("RESULT startup_ms_median=%.1f rss_bytes_median=%.0f runs=%d\n", med_ms, med_rss, runs);
    return 0;
}
