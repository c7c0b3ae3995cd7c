/*
 * Allocation with failure injection, for the write and read paths
 * (coord/, cluster/rpc.c, hints.c, mutation.c, util/buf.c, util/wire.c).
 *
 * sb_malloc, sb_calloc, sb_realloc and sb_strdup behave as the libc
 * functions they call, and what they return is freed with free() (or
 * sb_free, the same). A test may arm a one-shot failure: after
 * sb_alloc_fail_after(n), the next n allocations through these functions
 * succeed and the one after returns NULL (as if memory ran out), then
 * allocation is normal again. The countdown is process-global and meant
 * for single-threaded tests only; production code never arms it, and
 * then the only cost is one atomic load per allocation.
 *
 * The macros record the call site of an injected failure
 * (sb_alloc_failed_at), so a sweep can report which sites it reached.
 */
#ifndef SB_UTIL_ALLOC_H
#define SB_UTIL_ALLOC_H

#include <stddef.h>
#include <stdlib.h>

#define sb_malloc(n) sb_alloc_malloc((n), __FILE__, __LINE__)
#define sb_calloc(n, size) sb_alloc_calloc((n), (size), __FILE__, __LINE__)
#define sb_realloc(p, n) sb_alloc_realloc((p), (n), __FILE__, __LINE__)
#define sb_strdup(s) sb_alloc_strdup((s), __FILE__, __LINE__)
#define sb_free free

void *sb_alloc_malloc(size_t n, const char *file, int line);
void *sb_alloc_calloc(size_t n, size_t size, const char *file, int line);
void *sb_alloc_realloc(void *p, size_t n, const char *file, int line);
char *sb_alloc_strdup(const char *s, const char *file, int line);

/* Tests only: the allocation after the next n fails once (n = 0: the
 * very next one). */
void sb_alloc_fail_after(long n);
/* Tests only: disarms the countdown and clears the record. */
void sb_alloc_reset(void);
/* Allocations counted since the last arm or reset. */
long sb_alloc_count(void);
/* 1 if a failure was injected since the last arm or reset; *file and
 * *line (may be NULL) get its call site. */
int sb_alloc_failed_at(const char **file, int *line);

#endif
