/*
 * Growable byte buffer. The buffer owns `data`; sb_buf_free releases it.
 * Appends return 0 or SB_ENOMEM and leave the buffer valid either way.
 */
#ifndef SB_BUF_H
#define SB_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} sb_buf;

void sb_buf_init(sb_buf *b);
void sb_buf_free(sb_buf *b);
void sb_buf_reset(sb_buf *b); /* len = 0, keeps memory */
int sb_buf_reserve(sb_buf *b, size_t extra);
int sb_buf_append(sb_buf *b, const void *p, size_t n);
int sb_buf_putc(sb_buf *b, uint8_t c);
int sb_buf_printf(sb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_buf_put_u16be(sb_buf *b, uint16_t v);
int sb_buf_put_u32be(sb_buf *b, uint32_t v);
int sb_buf_put_u64be(sb_buf *b, uint64_t v);
/* NUL-terminates without counting the NUL in len; returns data as char*. */
char *sb_buf_cstr(sb_buf *b);

#endif
