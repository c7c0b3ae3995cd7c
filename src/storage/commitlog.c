/*
 * The commit thread: durability without blocking the event loop.
 *
 * NOTES ON THE DESIGN
 *
 * sb_store_write (loop thread) appends the batch to a bounded queue and
 * returns; beyond opts.max_queued_writes batches it fails with
 * SB_EOVERLOADED instead of queueing. The commit thread takes everything
 * queued at once (a "round"), applies each batch to RocksDB with the WAL on
 * and sync off, and then:
 *   group mode:    one rocksdb_flush_wal(sync) for the whole round, then
 *                  the round's writes complete. Writes that arrive while
 *                  one fsync runs share the next one, so the fsync rate
 *                  stays bounded whatever the write rate (group commit).
 *   periodic mode: the round completes right away; a second thread fsyncs
 *                  the WAL every sync_period_ms (Cassandra's default).
 * Completions go to a "done" list and a uv_async_t wakes the loop, which
 * runs the callbacks there. The async handle is referenced only while
 * writes are outstanding, so an idle store does not keep the loop alive.
 *
 * Invariants: every accepted batch gets exactly one callback; a callback
 * with status 0 in group mode means its batch is in an fsynced WAL;
 * sb_store_close applies and completes everything queued before closing.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "storage/store_int.h"
#include "util/err.h"
#include "util/log.h"

typedef struct citem {
    sb_wbatch *b;
    sb_write_cb cb;
    void *arg;
    int status;
    struct citem *next;
} citem;

struct st_commit {
    sb_store *s;
    pthread_t thr, sync_thr;
    int has_sync_thr;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_idle, cv_sync;
    citem *qhead, *qtail;
    uint64_t qlen;
    uint64_t applying;
    citem *dhead, *dtail;
    int stop;
    uv_async_t *async;
    uint64_t outstanding; /* loop thread only */
};

/* Counts one fsync that started at t0. */
static void count_sync(sb_store *s, uint64_t t0)
{
    uint64_t ns = st_mono_ns() - t0;
    atomic_fetch_add(&s->wal_sync_ns, ns);
    atomic_fetch_add(&s->wal_syncs, 1);
    if (s->opts.on_sync)
        s->opts.on_sync(s->opts.on_sync_arg, (double)ns / 1e9);
}

static void sync_wal(sb_store *s, char **err)
{
    uint64_t t0 = st_mono_ns();
    rocksdb_flush_wal(s->db, 1, err);
    count_sync(s, t0);
}

static void release_batch(citem *it)
{
    sb_wbatch_free(it->b);
    it->b = NULL;
}

static void apply_round(struct st_commit *cl, citem *list)
{
    sb_store *s = cl->s;
    int applied = 0, nospace = 0;
    uint64_t n = 0;
    for (citem *it = list; it; it = it->next, n++) {
        char *fault = st_disk_fault(s), *err = NULL;
        if (fault) {
            SB_ERROR("storage", "write failed", "err=\"%s\"", fault);
            it->status = st_disk_write_failed(s, fault);
            free(fault);
            release_batch(it);
            continue;
        }
        rocksdb_write(s->db, s->wo_async, it->b->wb, &err);
        if (err) {
            SB_ERROR("storage", "write failed", "err=\"%s\"", err);
            it->status = st_disk_write_failed(s, err);
            nospace |= it->status == SB_EDISKFULL;
            rocksdb_free(err);
        } else {
            it->status = 0;
            applied = 1;
        }
        release_batch(it);
    }
    if (nospace) {
        /* The WAL file saw an error: syncing it again would only repeat
         * the error (and trips an assertion in RocksDB's debug builds).
         * The writes applied before it are not known durable: fail them
         * too; the client may retry once space returns. */
        for (citem *it = list; it; it = it->next)
            if (it->status == 0)
                it->status = SB_EDISKFULL;
    } else if (applied && s->opts.sync_mode == SB_SYNC_GROUP) {
        char *err = NULL;
        sync_wal(s, &err);
        if (err) {
            SB_ERROR("storage", "WAL sync failed", "err=\"%s\"", err);
            int st = st_disk_write_failed(s, err);
            rocksdb_free(err);
            for (citem *it = list; it; it = it->next)
                it->status = st;
        }
    }
    atomic_fetch_add(&s->writes, n);
}

static void *commit_main(void *arg)
{
    struct st_commit *cl = arg;
    pthread_mutex_lock(&cl->mu);
    for (;;) {
        while (!cl->qhead && !cl->stop)
            pthread_cond_wait(&cl->cv_work, &cl->mu);
        if (!cl->qhead)
            break;
        citem *list = cl->qhead, *tail = cl->qtail;
        SB_ASSERT(cl->applying == 0 && cl->qlen > 0); /* one round at a time */
        cl->applying = cl->qlen;
        cl->qhead = cl->qtail = NULL;
        cl->qlen = 0;
        pthread_mutex_unlock(&cl->mu);

        apply_round(cl, list);

        pthread_mutex_lock(&cl->mu);
        if (cl->dtail)
            cl->dtail->next = list;
        else
            cl->dhead = list;
        cl->dtail = tail;
        cl->applying = 0;
        pthread_cond_broadcast(&cl->cv_idle);
        if (cl->async)
            uv_async_send(cl->async);
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

static void *sync_main(void *arg)
{
    struct st_commit *cl = arg;
    pthread_mutex_lock(&cl->mu);
    while (!cl->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)cl->s->opts.sync_period_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&cl->cv_sync, &cl->mu, &ts);
        if (cl->stop)
            break;
        pthread_mutex_unlock(&cl->mu);
        char *err = NULL;
        if (st_disk_healthy(cl->s))
            sync_wal(cl->s, &err);
        if (err) {
            SB_ERROR("storage", "periodic WAL sync failed", "err=\"%s\"", err);
            rocksdb_free(err);
        }
        pthread_mutex_lock(&cl->mu);
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

/* Runs the callbacks of completed writes; loop thread. */
static void deliver(struct st_commit *cl)
{
    pthread_mutex_lock(&cl->mu);
    citem *list = cl->dhead;
    cl->dhead = cl->dtail = NULL;
    pthread_mutex_unlock(&cl->mu);
    while (list) {
        citem *next = list->next;
        SB_ASSERT(cl->outstanding > 0); /* every queued write was counted */
        if (cl->outstanding > 0 && --cl->outstanding == 0 && cl->async)
            uv_unref((uv_handle_t *)cl->async);
        list->cb(list->arg, list->status);
        free(list);
        list = next;
    }
}

static void on_async(uv_async_t *h)
{
    deliver(h->data);
}

static void on_async_closed(uv_handle_t *h)
{
    free(h);
}

int st_commit_start(sb_store *s, char *errmsg)
{
    struct st_commit *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return sb_seterr(errmsg, SB_ENOMEM, "cannot allocate the commit queue");
    cl->s = s;
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cv_work, NULL);
    pthread_cond_init(&cl->cv_idle, NULL);
    pthread_cond_init(&cl->cv_sync, NULL);
    cl->async = calloc(1, sizeof(uv_async_t));
    if (!cl->async || uv_async_init(s->loop, cl->async, on_async)) {
        free(cl->async);
        free(cl);
        return sb_seterr(errmsg, SB_EIO, "cannot create the commit completion handle");
    }
    cl->async->data = cl;
    uv_unref((uv_handle_t *)cl->async);
    if (pthread_create(&cl->thr, NULL, commit_main, cl)) {
        uv_close((uv_handle_t *)cl->async, on_async_closed);
        free(cl);
        return sb_seterr(errmsg, SB_EIO, "cannot start the commit thread");
    }
    if (s->opts.sync_mode == SB_SYNC_PERIODIC) {
        if (pthread_create(&cl->sync_thr, NULL, sync_main, cl) == 0)
            cl->has_sync_thr = 1;
        else
            SB_WARN("storage", "cannot start the periodic sync thread; syncing per write", NULL);
        if (!cl->has_sync_thr)
            s->opts.sync_mode = SB_SYNC_GROUP;
    }
    s->cl = cl;
    return 0;
}

void st_commit_stop(sb_store *s)
{
    struct st_commit *cl = s->cl;
    if (!cl)
        return;
    pthread_mutex_lock(&cl->mu);
    cl->stop = 1;
    pthread_cond_broadcast(&cl->cv_work);
    pthread_cond_broadcast(&cl->cv_sync);
    pthread_mutex_unlock(&cl->mu);
    pthread_join(cl->thr, NULL);
    if (cl->has_sync_thr)
        pthread_join(cl->sync_thr, NULL);
    /* Everything queued has been applied; make it durable before the
     * callbacks say so. */
    char *err = NULL;
    if (st_disk_healthy(s))
        sync_wal(s, &err);
    if (err) {
        SB_ERROR("storage", "WAL sync at close failed", "err=\"%s\"", err);
        rocksdb_free(err);
    }
    deliver(cl);
    uv_close((uv_handle_t *)cl->async, on_async_closed);
    pthread_mutex_destroy(&cl->mu);
    pthread_cond_destroy(&cl->cv_work);
    pthread_cond_destroy(&cl->cv_idle);
    pthread_cond_destroy(&cl->cv_sync);
    free(cl);
    s->cl = NULL;
}

int st_commit_submit(sb_store *s, sb_wbatch *b, sb_write_cb cb, void *arg)
{
    struct st_commit *cl = s->cl;
    citem *it = malloc(sizeof(*it));
    if (!it) {
        sb_wbatch_free(b);
        return SB_ENOMEM;
    }
    *it = (citem){b, cb, arg, 0, NULL};
    pthread_mutex_lock(&cl->mu);
    if (cl->qlen >= (uint64_t)s->opts.max_queued_writes) {
        pthread_mutex_unlock(&cl->mu);
        free(it);
        sb_wbatch_free(b);
        return SB_EOVERLOADED;
    }
    if (cl->qtail)
        cl->qtail->next = it;
    else
        cl->qhead = it;
    cl->qtail = it;
    cl->qlen++;
    pthread_cond_signal(&cl->cv_work);
    pthread_mutex_unlock(&cl->mu);
    if (cl->outstanding++ == 0)
        uv_ref((uv_handle_t *)cl->async);
    return 0;
}

void st_commit_drain(sb_store *s)
{
    struct st_commit *cl = s->cl;
    if (!cl)
        return;
    pthread_mutex_lock(&cl->mu);
    while (cl->qhead || cl->applying)
        pthread_cond_wait(&cl->cv_idle, &cl->mu);
    pthread_mutex_unlock(&cl->mu);
}

uint64_t st_commit_queued(sb_store *s)
{
    struct st_commit *cl = s->cl;
    if (!cl)
        return 0;
    pthread_mutex_lock(&cl->mu);
    uint64_t n = cl->qlen + cl->applying;
    pthread_mutex_unlock(&cl->mu);
    return n;
}

int st_apply_sync(sb_store *s, rocksdb_writebatch_t *wb, char *errmsg)
{
    char *err = NULL;
    uint64_t t0 = st_mono_ns();
    rocksdb_write(s->db, s->wo_sync, wb, &err);
    count_sync(s, t0);
    if (err) {
        int rv = sb_seterr(errmsg, st_disk_write_failed(s, err), "write failed: %s", err);
        rocksdb_free(err);
        return rv;
    }
    return 0;
}
