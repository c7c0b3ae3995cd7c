/*
 * Process metrics from /proc/self, in the names every Prometheus client
 * library uses (process_*), so standard dashboards and alerts work.
 *
 * One collector reads /proc/self/stat once per scrape; start time needs
 * the boot time from /proc/stat (read once, it does not change). On a
 * system without /proc the collector emits nothing rather than zeros.
 */
#include "metrics/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/err.h"

typedef struct proc_stat {
    double utime_ticks, stime_ticks, start_ticks;
    double vsize_bytes, rss_pages;
} proc_stat;

/* Parses /proc/self/stat. The command name (field 2) may hold spaces and
 * parentheses, so fields are counted from the last ')'. */
static int read_proc_stat(proc_stat *ps)
{
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* after ')': field 3 (state) is the first token */
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        double v = strtod(tok, NULL);
        switch (field) {
        case 14:
            ps->utime_ticks = v;
            break;
        case 15:
            ps->stime_ticks = v;
            break;
        case 22:
            ps->start_ticks = v;
            break;
        case 23:
            ps->vsize_bytes = v;
            break;
        case 24:
            ps->rss_pages = v;
            return 0;
        }
    }
    return -1;
}

static double boot_time_s(void)
{
    static double btime = -1;
    if (btime >= 0)
        return btime;
    FILE *fp = fopen("/proc/stat", "r");
    if (!fp)
        return 0;
    char line[256];
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "btime ", 6) == 0)
            btime = strtod(line + 6, NULL);
    fclose(fp);
    return btime < 0 ? 0 : btime;
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void collect_process(sb_metrics_sink *s, void *arg)
{
    proc_stat ps;
    memset(&ps, 0, sizeof ps);
    if (read_proc_stat(&ps) != 0)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    sb_metrics_sink_family(s, SB_METRIC_COUNTER, "process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.");
    sb_metrics_sink_sample(s, NULL, NULL, (ps.utime_ticks + ps.stime_ticks) / hz);
    sb_metrics_sink_family(s, SB_METRIC_GAUGE, "process_resident_memory_bytes",
                           "Resident memory size in bytes.");
    sb_metrics_sink_sample(s, NULL, NULL, ps.rss_pages * page);
    sb_metrics_sink_family(s, SB_METRIC_GAUGE, "process_virtual_memory_bytes",
                           "Virtual memory size in bytes.");
    sb_metrics_sink_sample(s, NULL, NULL, ps.vsize_bytes);
    sb_metrics_sink_family(s, SB_METRIC_GAUGE, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.");
    sb_metrics_sink_sample(s, NULL, NULL, boot_time_s() + ps.start_ticks / hz);
    int fds = count_open_fds();
    if (fds >= 0) {
        sb_metrics_sink_family(s, SB_METRIC_GAUGE, "process_open_fds",
                               "Number of open file descriptors.");
        sb_metrics_sink_sample(s, NULL, NULL, fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        sb_metrics_sink_family(s, SB_METRIC_GAUGE, "process_max_fds",
                               "Maximum number of open file descriptors.");
        sb_metrics_sink_sample(s, NULL, NULL, (double)rl.rlim_cur);
    }
}

int sb_metrics_add_process(sb_metrics *m)
{
    return sb_metrics_add_collector(m, collect_process, NULL);
}
