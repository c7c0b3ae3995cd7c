#include <string.h>

#include "util/ep.h"
#include "util/err.h"
#include "util/wire.h"

void sb_wire_reader_init(sb_wire_reader *r, const uint8_t *p, size_t n)
{
    r->p = p;
    r->n = n;
    r->off = 0;
    r->err = 0;
}

int sb_wire_put_u8(sb_buf *b, uint8_t v)
{
    return sb_buf_putc(b, v);
}

int sb_wire_put_u16(sb_buf *b, uint16_t v)
{
    return sb_buf_put_u16be(b, v);
}

int sb_wire_put_u32(sb_buf *b, uint32_t v)
{
    return sb_buf_put_u32be(b, v);
}

int sb_wire_put_u64(sb_buf *b, uint64_t v)
{
    return sb_buf_put_u64be(b, v);
}

int sb_wire_put_i64(sb_buf *b, int64_t v)
{
    return sb_buf_put_u64be(b, (uint64_t)v);
}

int sb_wire_put_raw(sb_buf *b, const void *p, size_t n)
{
    return sb_buf_append(b, p, n);
}

int sb_wire_put_bytes(sb_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX)
        return SB_EINVAL;
    int rc = sb_buf_put_u32be(b, (uint32_t)n);
    return rc ? rc : sb_buf_append(b, p, n);
}

int sb_wire_put_str(sb_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 65535)
        return SB_EINVAL;
    int rc = sb_buf_put_u16be(b, (uint16_t)n);
    return rc ? rc : sb_buf_append(b, s, n);
}

int sb_wire_put_ep(sb_buf *b, const sb_ep *e)
{
    int rc = sb_buf_putc(b, e->family);
    if (!rc)
        rc = sb_buf_append(b, e->ip, 16);
    if (!rc)
        rc = sb_buf_put_u16be(b, e->port);
    return rc;
}

/* Claims n bytes; NULL (and the error latched) if they are not there. */
static const uint8_t *take(sb_wire_reader *r, size_t n)
{
    if (r->err || r->n - r->off < n) {
        r->err = SB_EBADINPUT;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_be(sb_wire_reader *r, size_t n)
{
    const uint8_t *p = take(r, n);
    uint64_t v = 0;
    if (!p)
        return 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

uint8_t sb_wire_get_u8(sb_wire_reader *r)
{
    return (uint8_t)get_be(r, 1);
}

uint16_t sb_wire_get_u16(sb_wire_reader *r)
{
    return (uint16_t)get_be(r, 2);
}

uint32_t sb_wire_get_u32(sb_wire_reader *r)
{
    return (uint32_t)get_be(r, 4);
}

uint64_t sb_wire_get_u64(sb_wire_reader *r)
{
    return get_be(r, 8);
}

int64_t sb_wire_get_i64(sb_wire_reader *r)
{
    return (int64_t)get_be(r, 8);
}

void sb_wire_get_bytes(sb_wire_reader *r, const uint8_t **p, size_t *n, size_t max)
{
    size_t len = sb_wire_get_u32(r);
    *p = NULL;
    *n = 0;
    if (r->err)
        return;
    if (len > max) {
        r->err = SB_EBADINPUT;
        return;
    }
    const uint8_t *q = take(r, len);
    if (q) {
        *p = q;
        *n = len;
    }
}

void sb_wire_get_str(sb_wire_reader *r, char *buf, size_t size)
{
    size_t len = sb_wire_get_u16(r);
    buf[0] = '\0';
    if (r->err)
        return;
    if (len >= size) {
        r->err = SB_EBADINPUT;
        return;
    }
    const uint8_t *q = take(r, len);
    if (q) {
        memcpy(buf, q, len);
        buf[len] = '\0';
    }
}

void sb_wire_get_ep(sb_wire_reader *r, sb_ep *e)
{
    memset(e, 0, sizeof *e);
    e->family = sb_wire_get_u8(r);
    sb_wire_get_raw(r, e->ip, 16);
    e->port = sb_wire_get_u16(r);
    if (!r->err && e->family != 4 && e->family != 6)
        r->err = SB_EBADINPUT;
}

void sb_wire_get_raw(sb_wire_reader *r, void *out, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}
