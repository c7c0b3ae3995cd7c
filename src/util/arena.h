/*
 * Arena: bump-pointer allocation from a list of chunks, released all at
 * once. For memory that lives exactly as long as one request, statement,
 * message or decoded fragment (h2o-style per-request pools).
 *
 * NOTES ON THE DESIGN
 *
 * - Chunks are chunk_bytes long; a request larger than that gets a chunk
 *   of its own, linked below the current one so that the current chunk's
 *   free space stays usable.
 * - Nothing in the arena ever moves: a pointer it returns stays valid
 *   until sb_arena_reset or sb_arena_close, however the arena grows.
 * - sb_arena_alloc and sb_arena_calloc return 16-byte aligned memory (any
 *   C object fits); sb_arena_bytes packs byte strings with no alignment.
 * - An arena may be capped: total chunk memory never exceeds max_bytes,
 *   and past the cap allocation fails as malloc does (NULL). Parsers of
 *   outside input use the cap so hostile input cannot take unbounded
 *   memory.
 * - Chunks come from sb_malloc (util/alloc.h), so injected allocation
 *   failures reach every arena; a failed allocation leaves the arena as
 *   it was.
 *
 * An all-zero sb_arena (static, calloc'd or memset) is a valid empty arena
 * with chunks of SB_ARENA_CHUNK_DEFAULT and no cap, as if initialised with
 * sb_arena_init(a, 0, 0). An arena is not thread-safe; one owner uses it
 * at a time.
 */
#ifndef SB_UTIL_ARENA_H
#define SB_UTIL_ARENA_H

#include <stddef.h>

struct sb_arena_chunk;

typedef struct sb_arena {
    struct sb_arena_chunk *head; /* current chunk; older ones follow */
    size_t chunk_bytes;          /* usable bytes of a regular chunk */
    size_t max_bytes;            /* cap on total_bytes; 0 = none */
    size_t total_bytes;          /* usable bytes of every chunk held */
} sb_arena;

/* Chunk size when sb_arena_init is given 0. */
#define SB_ARENA_CHUNK_DEFAULT 16384

/* Prepares an empty arena (no memory is taken until the first
 * allocation). chunk_bytes 0 means SB_ARENA_CHUNK_DEFAULT; max_bytes 0
 * means no cap. */
void sb_arena_init(sb_arena *a, size_t chunk_bytes, size_t max_bytes);
/* Frees every chunk; the arena is empty again (and may be reused). */
void sb_arena_close(sb_arena *a);
/* Forgets every allocation but keeps the current chunk for reuse. */
void sb_arena_reset(sb_arena *a);

/* n bytes, 16-byte aligned, not zeroed (n = 0 gives a valid, distinct
 * pointer); NULL when out of memory or past the cap. */
void *sb_arena_alloc(sb_arena *a, size_t n);
/* As sb_arena_alloc, zeroed. */
void *sb_arena_calloc(sb_arena *a, size_t n);
/* n bytes with no alignment, not zeroed, for byte strings. */
void *sb_arena_bytes(sb_arena *a, size_t n);
/* A copy of p[0..n) followed by a NUL byte (unaligned); NULL as above. */
char *sb_arena_memdup(sb_arena *a, const void *p, size_t n);
/* A copy of the NUL-terminated string s; NULL as above. */
char *sb_arena_strdup(sb_arena *a, const char *s);

#endif
