/*
 * Disk space and disk failures: when the store refuses writes.
 *
 * NOTES ON THE DESIGN
 *
 * A node on a full disk must stay up, keep serving reads and tell its
 * clients why their writes fail; it must never let RocksDB run out of
 * space in the middle of a flush or a compaction if it can help it. So:
 *
 *  - A free-space reserve (min_free_bytes). Writes are admitted on the
 *    loop thread (st_disk_admit); free space is re-read with statvfs at
 *    most every CHECK_NS or after CHECK_BYTES admitted bytes, so the check
 *    costs nothing per write. Below the reserve the state is LOW and new
 *    writes are refused with SB_EDISKFULL before they reach RocksDB; the
 *    space under the reserve is left for memtable flushes, compactions
 *    and the WAL of writes already queued.
 *  - A write RocksDB fails with "No space left" (the reserve was too
 *    small, or someone else filled the file system) puts the state in
 *    FULL: writes are refused the same way. RocksDB stops writes itself
 *    after such an error and recovers on its own once space returns (its
 *    SstFileManager polls free space and resumes the database).
 *  - LOW and FULL end by themselves: every admission after CHECK_NS looks
 *    at free space again, and once it is at or above the reserve (and at
 *    least RESUME_MIN_BYTES) writes are let through. If RocksDB has not
 *    recovered yet the next write fails again and FULL comes back; a
 *    refused write costs nothing, so this probing is cheap.
 *  - Any other I/O error is a disk failure, handled by the policy
 *    (Cassandra's disk_failure_policy): ignore fails that write only;
 *    best_effort and stop make the store read-only (FAILED) until restart
 *    (stop also makes the node stop serving, see node.c); die exits.
 *
 * State machine (transitions under mu):
 *
 *   OK --free < reserve--> LOW --free >= reserve--> OK
 *   OK|LOW --ENOSPC--> FULL --free >= reserve--> OK (probe)
 *   any --EIO (policy best_effort|stop)--> FAILED (final)
 *
 * Counters: refused[state] counts writes refused at admission in each
 * state; failed counts writes RocksDB itself failed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage/store_int.h"
#include "util/err.h"
#include "util/log.h"

#define CHECK_NS (100u * 1000 * 1000)
#define CHECK_BYTES (1u << 20)
#define RESUME_MIN_BYTES (1u << 20)
#define MIB (1ull << 20)
#define OPEN_MIN_BYTES (4u << 20)

uint64_t sb_disk_default_reserve(uint64_t total_bytes)
{
    /* 256 MiB holds a few memtable flushes (at most 16 MiB each with the
     * default options) and a compaction of the small tables a node keeps
     * on a Pi; 2 % scales it to large file systems. A quarter of the file
     * system at most, so that a small one is still writable. */
    uint64_t r = 256 * MIB;
    if (total_bytes / 50 > r)
        r = total_bytes / 50;
    if (total_bytes && r > total_bytes / 4)
        r = total_bytes / 4;
    return r;
}

const char *sb_disk_state_name(sb_disk_state st)
{
    static const char *names[] = {"ok", "low", "full", "failed"};
    return st >= 0 && st < SB_DISK_NSTATES ? names[st] : "unknown";
}

static int real_statfs(void *arg, const char *dir, uint64_t *free_bytes, uint64_t *total_bytes)
{
    struct statvfs v;
    if (statvfs(dir, &v) != 0)
        return errno ? errno : EIO;
    *free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
    *total_bytes = (uint64_t)v.f_blocks * v.f_frsize;
    return 0;
}

/* Reads free space; mu held. Keeps the last values when statvfs fails. */
static void check_space(sb_store *s, st_disk *d, uint64_t now_ns)
{
    uint64_t fr = 0, tot = 0;
    int (*fn)(void *, const char *, uint64_t *, uint64_t *) =
        s->opts.statfs ? s->opts.statfs : real_statfs;
    d->checked_ns = now_ns;
    d->written_since_check = 0;
    if (fn(s->opts.fault_arg, s->dir, &fr, &tot) != 0)
        return;
    d->free_bytes = fr;
    d->total_bytes = tot;
    if (!d->reserve_fixed)
        d->min_free_bytes = sb_disk_default_reserve(tot);
}

static void set_state(st_disk *d, sb_disk_state to, const char *dir, const char *cause)
{
    if (d->state == to)
        return;
    sb_disk_state from = d->state;
    d->state = to;
    if (to == SB_DISK_OK) {
        d->reason[0] = 0;
        SB_INFO("storage", "writes resume", "from=%s free_bytes=%llu reserve_bytes=%llu",
                sb_disk_state_name(from), (unsigned long long)d->free_bytes,
                (unsigned long long)d->min_free_bytes);
        return;
    }
    /* Bounded parts: node, path and cause always fit the reason. */
    snprintf(d->reason, sizeof d->reason, "disk %s on %.64s: %.256s: %.160s",
             to == SB_DISK_FAILED ? "failure" : "full", d->node, dir, cause);
    SB_ERROR("storage", "refusing writes", "state=%s reason=\"%s\" free_bytes=%llu",
             sb_disk_state_name(to), d->reason, (unsigned long long)d->free_bytes);
}

/* Moves between OK, LOW and FULL after a space check; mu held. */
static void update_state(sb_store *s, st_disk *d)
{
    char cause[128];
    uint64_t resume = d->min_free_bytes > RESUME_MIN_BYTES ? d->min_free_bytes : RESUME_MIN_BYTES;
    switch (d->state) {
    case SB_DISK_OK:
        if (d->free_bytes < d->min_free_bytes) {
            snprintf(cause, sizeof cause, "%llu bytes free, below the reserve of %llu",
                     (unsigned long long)d->free_bytes, (unsigned long long)d->min_free_bytes);
            set_state(d, SB_DISK_LOW, s->dir, cause);
        }
        break;
    case SB_DISK_LOW:
        if (d->free_bytes >= d->min_free_bytes)
            set_state(d, SB_DISK_OK, s->dir, NULL);
        break;
    case SB_DISK_FULL:
        if (d->free_bytes >= resume)
            set_state(d, SB_DISK_OK, s->dir, NULL);
        break;
    default:
        break;
    }
}

void st_disk_init(sb_store *s, const sb_store_opts *o)
{
    st_disk *d = &s->disk;
    pthread_mutex_init(&d->mu, NULL);
    snprintf(d->node, sizeof d->node, "%s", o && o->node_name ? o->node_name : "this node");
    d->reserve_fixed = s->opts.min_free_bytes >= 0;
    d->min_free_bytes = d->reserve_fixed ? (uint64_t)s->opts.min_free_bytes : 0;
    pthread_mutex_lock(&d->mu);
    check_space(s, d, st_mono_ns());
    update_state(s, d);
    pthread_mutex_unlock(&d->mu);
}

void st_disk_destroy(sb_store *s)
{
    pthread_mutex_destroy(&s->disk.mu);
}

int st_disk_healthy(sb_store *s)
{
    st_disk *d = &s->disk;
    pthread_mutex_lock(&d->mu);
    int ok = !d->read_only_at_start && (d->state == SB_DISK_OK || d->state == SB_DISK_LOW);
    pthread_mutex_unlock(&d->mu);
    return ok;
}

int st_disk_room_to_open(sb_store *s)
{
    /* Opening for writes replays the WAL into SSTs and writes a new WAL,
     * MANIFEST and OPTIONS file: about the WAL's size plus a little. */
    uint64_t need = OPEN_MIN_BYTES;
    DIR *dp = opendir(s->dir);
    if (!dp)
        return 1; /* a new database */
    struct dirent *e;
    int has_db = 0;
    for (int n = 0; n < 100000 && (e = readdir(dp)); n++) {
        size_t len = strlen(e->d_name);
        has_db |= strcmp(e->d_name, "CURRENT") == 0;
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) {
            struct stat st;
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
            if (stat(path, &st) == 0)
                need += (uint64_t)st.st_size;
        }
    }
    closedir(dp);
    st_disk *d = &s->disk;
    pthread_mutex_lock(&d->mu);
    int ok = !has_db || d->free_bytes >= need;
    pthread_mutex_unlock(&d->mu);
    return ok;
}

void st_disk_set_read_only(sb_store *s, const char *cause)
{
    st_disk *d = &s->disk;
    pthread_mutex_lock(&d->mu);
    d->read_only_at_start = 1;
    snprintf(d->reason, sizeof d->reason, "disk full on %.64s: %.256s: %.160s", d->node, s->dir,
             cause);
    pthread_mutex_unlock(&d->mu);
}

int st_disk_admit(sb_store *s, size_t bytes)
{
    st_disk *d = &s->disk;
    pthread_mutex_lock(&d->mu);
    uint64_t now = st_mono_ns();
    d->written_since_check += bytes;
    if (now - d->checked_ns >= CHECK_NS ||
        (d->state == SB_DISK_OK && d->written_since_check >= CHECK_BYTES)) {
        check_space(s, d, now);
        update_state(s, d);
    }
    int rv = 0;
    if (d->read_only_at_start) {
        rv = SB_EDISKFULL;
        d->refused[SB_DISK_FULL]++;
    } else if (d->state != SB_DISK_OK) {
        rv = d->state == SB_DISK_FAILED ? SB_EIO : SB_EDISKFULL;
        d->refused[d->state]++;
    }
    pthread_mutex_unlock(&d->mu);
    return rv;
}

static int is_nospace(const char *err)
{
    return strstr(err, "No space left") || strstr(err, "NoSpace") || strstr(err, "no space");
}

int st_disk_write_failed(sb_store *s, const char *err)
{
    st_disk *d = &s->disk;
    int rv;
    pthread_mutex_lock(&d->mu);
    d->failed++;
    if (is_nospace(err)) {
        check_space(s, d, st_mono_ns());
        set_state(d, SB_DISK_FULL, s->dir, "no space left on device");
        rv = SB_EDISKFULL;
    } else {
        rv = SB_EIO;
        switch (s->opts.disk_failure_policy) {
        case SB_DISK_POLICY_IGNORE:
            SB_ERROR("storage", "write failed; disk_failure_policy=ignore", "dir=%s err=\"%s\"",
                     s->dir, err);
            break;
        case SB_DISK_POLICY_DIE:
            SB_ERROR("storage", "disk failure; disk_failure_policy=die: exiting",
                     "dir=%s err=\"%s\"", s->dir, err);
            /* No unwinding: other threads hold RocksDB; what was
             * acknowledged is in the synced WAL. */
            _exit(3);
        default:
            set_state(d, SB_DISK_FAILED, s->dir, err);
            break;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return rv;
}

void sb_store_inject_write_error(sb_store *s, int err, int writes)
{
    st_disk *d = &s->disk;
    pthread_mutex_lock(&d->mu);
    d->inject_errno = err;
    d->inject_left = err ? writes : 0;
    pthread_mutex_unlock(&d->mu);
}

/* The injected errno for the next batch, 0 for none. */
static int injected(sb_store *s)
{
    st_disk *d = &s->disk;
    int e = 0;
    pthread_mutex_lock(&d->mu);
    if (d->inject_errno && d->inject_left != 0) {
        e = d->inject_errno;
        if (d->inject_left > 0 && --d->inject_left == 0)
            d->inject_errno = 0;
    }
    pthread_mutex_unlock(&d->mu);
    if (!e && s->opts.write_fault)
        e = s->opts.write_fault(s->opts.fault_arg);
    return e;
}

char *st_disk_fault(sb_store *s)
{
    int e = injected(s);
    if (!e)
        return NULL;
    char msg[160];
    snprintf(msg, sizeof msg, "IO error: injected: %s", strerror(e));
    return strdup(msg);
}

void sb_store_disk_status(sb_store *s, sb_disk_status *st)
{
    st_disk *d = &s->disk;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&d->mu);
    uint64_t now = st_mono_ns();
    if (now - d->checked_ns >= CHECK_NS) {
        check_space(s, d, now);
        update_state(s, d);
    }
    st->state = d->read_only_at_start ? SB_DISK_FULL : d->state;
    st->read_only_at_start = d->read_only_at_start;
    st->free_bytes = d->free_bytes;
    st->total_bytes = d->total_bytes;
    st->min_free_bytes = d->min_free_bytes;
    memcpy(st->refused, d->refused, sizeof st->refused);
    st->failed = d->failed;
    snprintf(st->reason, sizeof st->reason, "%s", d->reason);
    pthread_mutex_unlock(&d->mu);
}

void sb_store_disk_why(sb_store *s, char *buf, size_t size)
{
    st_disk *d = &s->disk;
    pthread_mutex_lock(&d->mu);
    snprintf(buf, size, "%s", d->read_only_at_start || d->state != SB_DISK_OK ? d->reason : "");
    pthread_mutex_unlock(&d->mu);
}
