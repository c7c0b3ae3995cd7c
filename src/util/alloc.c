/*
 * Allocation with failure injection (alloc.h). A countdown of -1 means
 * disarmed; armed at n, each allocation takes one from it and the one
 * that finds 0 fails and disarms it.
 */
#include "util/alloc.h"

#include <stdatomic.h>
#include <string.h>

static _Atomic long countdown = -1;
static _Atomic long counted;
static const char *failed_file;
static int failed_line;
static int failed;

/* 1 when this allocation is to fail. */
static int inject(const char *file, int line)
{
    if (atomic_load_explicit(&countdown, memory_order_relaxed) < 0)
        return 0;
    atomic_fetch_add(&counted, 1);
    long left = atomic_fetch_sub(&countdown, 1);
    if (left > 0)
        return 0;
    if (left < 0) {
        atomic_store(&countdown, -1); /* raced past a failure */
        return 0;
    }
    atomic_store(&countdown, -1);
    failed = 1;
    failed_file = file;
    failed_line = line;
    return 1;
}

void *sb_alloc_malloc(size_t n, const char *file, int line)
{
    return inject(file, line) ? NULL : malloc(n);
}

void *sb_alloc_calloc(size_t n, size_t size, const char *file, int line)
{
    return inject(file, line) ? NULL : calloc(n, size);
}

void *sb_alloc_realloc(void *p, size_t n, const char *file, int line)
{
    return inject(file, line) ? NULL : realloc(p, n);
}

char *sb_alloc_strdup(const char *s, const char *file, int line)
{
    return inject(file, line) ? NULL : strdup(s);
}

void sb_alloc_fail_after(long n)
{
    sb_alloc_reset();
    atomic_store(&countdown, n < 0 ? 0 : n);
}

void sb_alloc_reset(void)
{
    atomic_store(&countdown, -1);
    atomic_store(&counted, 0);
    failed = 0;
    failed_file = NULL;
    failed_line = 0;
}

long sb_alloc_count(void)
{
    return atomic_load(&counted);
}

int sb_alloc_failed_at(const char **file, int *line)
{
    if (file)
        *file = failed_file;
    if (line)
        *line = failed_line;
    return failed;
}
