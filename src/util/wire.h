/*
 * Node-to-node payload encoding: big-endian fixed-width integers,
 * length-prefixed byte strings, endpoints. A writer appends to an sb_buf;
 * a reader walks a byte range and latches the first error, so a decoder
 * reads every field and checks `r.err` once at the end (a truncated or
 * oversized field makes every later read return zeros and sets err to
 * SB_EBADINPUT).
 */
#ifndef SB_WIRE_H
#define SB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct sb_ep;

typedef struct sb_wire_reader {
    const uint8_t *p;
    size_t n;
    size_t off;
    int err; /* 0 or SB_EBADINPUT */
} sb_wire_reader;

void sb_wire_reader_init(sb_wire_reader *r, const uint8_t *p, size_t n);

/* Writers: 0 or SB_ENOMEM. */
int sb_wire_put_u8(sb_buf *b, uint8_t v);
int sb_wire_put_u16(sb_buf *b, uint16_t v);
int sb_wire_put_u32(sb_buf *b, uint32_t v);
int sb_wire_put_u64(sb_buf *b, uint64_t v);
int sb_wire_put_i64(sb_buf *b, int64_t v);
/* u32 length, then the bytes. */
int sb_wire_put_bytes(sb_buf *b, const void *p, size_t n);
/* u16 length, then the bytes (n <= 65535, else SB_EINVAL). */
int sb_wire_put_str(sb_buf *b, const char *s);
int sb_wire_put_ep(sb_buf *b, const struct sb_ep *e);

uint8_t sb_wire_get_u8(sb_wire_reader *r);
uint16_t sb_wire_get_u16(sb_wire_reader *r);
uint32_t sb_wire_get_u32(sb_wire_reader *r);
uint64_t sb_wire_get_u64(sb_wire_reader *r);
int64_t sb_wire_get_i64(sb_wire_reader *r);
/* Points *p into the input (no copy); *n its length. max bounds the length
 * (larger -> error). */
void sb_wire_get_bytes(sb_wire_reader *r, const uint8_t **p, size_t *n, size_t max);
/* Copies a string into buf (size bytes, NUL-terminated); longer -> error. */
void sb_wire_get_str(sb_wire_reader *r, char *buf, size_t size);
void sb_wire_get_ep(sb_wire_reader *r, struct sb_ep *e);
/* Raw fixed-size bytes (n exact). */
void sb_wire_get_raw(sb_wire_reader *r, void *out, size_t n);
int sb_wire_put_raw(sb_buf *b, const void *p, size_t n);

/* Big-endian u32 at p (4 bytes the caller has). */
static inline void sb_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t sb_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
