#include "util/arena.h"

#include <stdint.h>
#include <string.h>

#include "util/alloc.h"

#define ALIGN 16

struct sb_arena_chunk {
    struct sb_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(ALIGN) unsigned char data[];
};

void sb_arena_init(sb_arena *a, size_t chunk_bytes, size_t max_bytes)
{
    a->head = NULL;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : SB_ARENA_CHUNK_DEFAULT;
    a->max_bytes = max_bytes;
    a->total_bytes = 0;
}

static void free_chain(struct sb_arena_chunk *c)
{
    while (c) {
        struct sb_arena_chunk *next = c->next;
        sb_free(c);
        c = next;
    }
}

void sb_arena_close(sb_arena *a)
{
    free_chain(a->head);
    a->head = NULL;
    a->total_bytes = 0;
}

void sb_arena_reset(sb_arena *a)
{
    struct sb_arena_chunk *c = a->head;
    if (!c)
        return;
    free_chain(c->next);
    c->next = NULL;
    c->used = 0;
    a->total_bytes = c->size;
}

/* Room for n bytes at alignment align (1 or ALIGN), from the current chunk
 * or a new one. */
static void *take(sb_arena *a, size_t n, size_t align)
{
    struct sb_arena_chunk *c = a->head;
    if (c) {
        size_t off = (c->used + align - 1) & ~(align - 1);
        if (off <= c->size && c->size - off >= n) {
            c->used = off + n;
            return c->data + off;
        }
    }
    size_t regular = a->chunk_bytes ? a->chunk_bytes : SB_ARENA_CHUNK_DEFAULT;
    size_t size = n > regular ? n : regular;
    if (n > SIZE_MAX / 2 ||
        (a->max_bytes && (size > a->max_bytes || a->total_bytes > a->max_bytes - size)))
        return NULL;
    struct sb_arena_chunk *nc = sb_malloc(sizeof *nc + size);
    if (!nc)
        return NULL;
    nc->size = size;
    nc->used = n;
    a->total_bytes += size;
    if (c && n > regular) {
        /* A chunk of its own, below the current one, whose free space
         * stays usable. */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        a->head = nc;
    }
    return nc->data;
}

void *sb_arena_alloc(sb_arena *a, size_t n)
{
    /* Round up so that the next aligned allocation needs no padding, and
     * so that n = 0 still gives a distinct pointer. */
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    n = n ? (n + ALIGN - 1) & ~(size_t)(ALIGN - 1) : ALIGN;
    return take(a, n, ALIGN);
}

void *sb_arena_calloc(sb_arena *a, size_t n)
{
    void *p = sb_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *sb_arena_bytes(sb_arena *a, size_t n)
{
    return take(a, n ? n : 1, 1);
}

char *sb_arena_memdup(sb_arena *a, const void *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = sb_arena_bytes(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

char *sb_arena_strdup(sb_arena *a, const char *s)
{
    return sb_arena_memdup(a, s, strlen(s));
}
