#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_buf_init(sb_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void sb_buf_free(sb_buf *b)
{
    free(b->data);
    sb_buf_init(b);
}

void sb_buf_reset(sb_buf *b)
{
    b->len = 0;
}

int sb_buf_reserve(sb_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    uint8_t *p = sb_realloc(b->data, cap);
    if (!p)
        return SB_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sb_buf_append(sb_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rv = sb_buf_reserve(b, n);
    if (rv)
        return rv;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int sb_buf_putc(sb_buf *b, uint8_t c)
{
    return sb_buf_append(b, &c, 1);
}

int sb_buf_printf(sb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SB_EINVAL;
    int rv = sb_buf_reserve(b, (size_t)n + 1);
    if (rv)
        return rv;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int sb_buf_put_u16be(sb_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return sb_buf_append(b, x, 2);
}

int sb_buf_put_u32be(sb_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return sb_buf_append(b, x, 4);
}

int sb_buf_put_u64be(sb_buf *b, uint64_t v)
{
    int rv = sb_buf_put_u32be(b, (uint32_t)(v >> 32));
    return rv ? rv : sb_buf_put_u32be(b, (uint32_t)v);
}

char *sb_buf_cstr(sb_buf *b)
{
    if (sb_buf_reserve(b, 1))
        return NULL;
    b->data[b->len] = 0;
    return (char *)b->data;
}
