/*
 * Row fragment codec and reconciliation; see rowcodec.h for the format and
 * the rules. Everything here is pure (no RocksDB, no clock), so the merge
 * operator, the compaction filter and the read path share it and the unit
 * tests can drive it directly.
 */
#include "storage/rowcodec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

enum { F_LIVE = 1, F_LIVE_TTL = 2, F_DEL = 4, F_VTAG = 8 };
enum { V_RAW = 0, V_INT = 1, V_DEC = 2 };

/* Powers of ten that doubles hold exactly (10^22 is the last). */
static const double pow10_tab[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
#define DEC_MAX_M (1ll << 53)

/* Values expanded from compact forms live in an arena (whose chunks never
 * move), so cells can be sorted and the cell array reallocated freely. */
#define VMEM_CHUNK_BYTES 4096

/* Varints (LEB128) used by the row codec and the key layout. */
static int rc_put_varint(sb_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return sb_buf_append(b, tmp, (size_t)n);
}

static int rc_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return SB_ECORRUPT;
        uint8_t c = *(*p)++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return SB_ECORRUPT;
}

static uint64_t zz_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t zz_dec(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

void rc_frag_init(rc_frag *f)
{
    memset(f, 0, sizeof(*f));
    sb_arena_init(&f->vmem, VMEM_CHUNK_BYTES, 0);
}

void rc_frag_free(rc_frag *f)
{
    free(f->cells);
    sb_arena_close(&f->vmem);
    rc_frag_init(f);
}

void rc_frag_clear(rc_frag *f)
{
    rc_cell *cells = f->cells;
    int cap = f->cap;
    sb_arena vm = f->vmem;
    sb_arena_reset(&vm); /* keeps one chunk */
    rc_frag_init(f);
    f->cells = cells;
    f->cap = cap;
    f->vmem = vm;
}

static void put_be(uint8_t *p, int n, uint64_t v)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int varint_len(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int rc_frag_add_cell(rc_frag *f, const rc_cell *c)
{
    if (f->ncells == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        rc_cell *n = realloc(f->cells, (size_t)cap * sizeof(*n));
        if (!n)
            return SB_ENOMEM;
        f->cells = n;
        f->cap = cap;
    }
    f->cells[f->ncells++] = *c;
    return 0;
}

int rc_frag_empty(const rc_frag *f)
{
    return !f->has_live && !f->has_del && f->ncells == 0;
}

/* Liveness: the higher timestamp wins, then the later expiry. */
static void merge_live(rc_frag *f, int64_t ts, int32_t ttl, int64_t exp)
{
    if (f->has_live) {
        int64_t fe = f->live_ttl ? f->live_exp : INT64_MAX;
        int64_t ne = ttl ? exp : INT64_MAX;
        if (ts < f->live_ts || (ts == f->live_ts && ne <= fe))
            return;
    }
    f->has_live = 1;
    f->live_ts = ts;
    f->live_ttl = ttl;
    f->live_exp = ttl ? exp : 0;
}

static void merge_del(rc_frag *f, int64_t ts, int64_t ldt)
{
    if (f->has_del && (ts < f->del_ts || (ts == f->del_ts && ldt <= f->del_ldt)))
        return;
    f->has_del = 1;
    f->del_ts = ts;
    f->del_ldt = ldt;
}

#define GETV(var)                                                                                  \
    do {                                                                                           \
        if (rc_get_varint(&p, end, &(var)))                                                        \
            return SB_ECORRUPT;                                                                    \
    } while (0)

static int get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **out, int32_t *len)
{
    uint64_t n;
    if (rc_get_varint(p, end, &n) || n > (uint64_t)(end - *p) || n > INT32_MAX)
        return SB_ECORRUPT;
    *out = *p;
    *len = (int32_t)n;
    *p += n;
    return 0;
}

/* A tagged value (rowcodec.h). */
static int get_value(rc_frag *f, uint64_t tag, const uint8_t **p, const uint8_t *end,
                     const uint8_t **out, int32_t *len)
{
    uint64_t v;
    uint64_t arg = tag >> 2;
    switch (tag & 3) {
    case V_RAW:
        if (arg > (uint64_t)(end - *p) || arg > INT32_MAX)
            return SB_ECORRUPT;
        *out = *p;
        *len = (int32_t)arg;
        *p += arg;
        return 0;
    case V_INT: {
        if (arg < 1 || arg > 8 || rc_get_varint(p, end, &v))
            return SB_ECORRUPT;
        int64_t x = zz_dec(v);
        if (arg < 8 && (x < -(1ll << (arg * 8 - 1)) || x >= (1ll << (arg * 8 - 1))))
            return SB_ECORRUPT;
        uint8_t *b = sb_arena_bytes(&f->vmem, arg);
        if (!b)
            return SB_ENOMEM;
        put_be(b, (int)arg, (uint64_t)x);
        *out = b;
        *len = (int32_t)arg;
        return 0;
    }
    case V_DEC: {
        if (arg > 15 || rc_get_varint(p, end, &v))
            return SB_ECORRUPT;
        int64_t m = zz_dec(v);
        if (m > DEC_MAX_M || m < -DEC_MAX_M)
            return SB_ECORRUPT;
        double d = (double)m / pow10_tab[arg];
        uint64_t bits;
        memcpy(&bits, &d, 8);
        uint8_t *b = sb_arena_bytes(&f->vmem, 8);
        if (!b)
            return SB_ENOMEM;
        put_be(b, 8, bits);
        *out = b;
        *len = 8;
        return 0;
    }
    }
    return SB_ECORRUPT;
}

/* One cell's metadata (everything but an untagged value). Returns 1 if a
 * value follows (its tag in *tag when tagged), 0 if none, or an error. */
static int read_cell(const uint8_t **pp, const uint8_t *end, int64_t base, int tagged,
                     uint32_t *colp, rc_cell *cp, uint64_t *tag)
{
    const uint8_t *p = *pp;
    uint64_t v, ttl, exp;
    rc_cell c = {0};
    if (p >= end)
        return SB_ECORRUPT;
    uint8_t h = *p++;
    uint64_t delta = h >> 4;
    if (delta == 15)
        GETV(delta);
    if (*colp + delta > UINT16_MAX)
        return SB_ECORRUPT;
    *colp += (uint32_t)delta;
    c.col = (uint16_t)*colp;
    c.kind = h & 3;
    c.ts = base;
    if (h & 8) {
        GETV(v);
        c.ts = base + zz_dec(v);
    }
    if (c.kind == RC_EXPIRING) {
        GETV(ttl);
        GETV(exp);
        if (ttl > INT32_MAX)
            return SB_ECORRUPT;
        c.ttl = (int32_t)ttl;
        c.ldt = (int64_t)exp;
    } else if (c.kind == RC_TOMB || c.kind == RC_CDEL) {
        GETV(v);
        c.ldt = (int64_t)v;
    }
    c.elen = -1;
    c.vlen = -1;
    if ((h & 4) && get_bytes(&p, end, &c.elem, &c.elen))
        return SB_ECORRUPT;
    int has_val = c.kind == RC_LIVE || c.kind == RC_EXPIRING;
    if (has_val && tagged)
        GETV(*tag);
    *pp = p;
    *cp = c;
    return has_val;
}

int rc_decode(rc_frag *f, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t v, ttl, exp;
    if (len == 0)
        return 0;
    uint8_t flags = *p++;
    if (flags & ~(F_LIVE | F_LIVE_TTL | F_DEL | F_VTAG))
        return SB_ECORRUPT;
    GETV(v);
    int64_t base = zz_dec(v);
    if (flags & F_LIVE) {
        ttl = exp = 0;
        if (flags & F_LIVE_TTL) {
            GETV(ttl);
            GETV(exp);
            if (ttl == 0 || ttl > INT32_MAX)
                return SB_ECORRUPT;
        }
        merge_live(f, base, (int32_t)ttl, (int64_t)exp);
    }
    if (flags & F_DEL) {
        uint64_t d, ldt;
        GETV(d);
        GETV(ldt);
        merge_del(f, base + zz_dec(d), (int64_t)ldt);
    }
    uint64_t ncells;
    GETV(ncells);
    if (ncells > len)
        return SB_ECORRUPT;
    int tagged = (flags & F_VTAG) != 0;
    const uint8_t *q = NULL; /* tagged: the payloads, after every cell's metadata */
    if (tagged) {
        const uint8_t *m = p;
        uint32_t col = 0;
        for (uint64_t i = 0; i < ncells; i++) {
            rc_cell c;
            uint64_t tag;
            int rv = read_cell(&m, end, base, 1, &col, &c, &tag);
            if (rv < 0)
                return rv;
        }
        q = m;
    }
    uint32_t col = 0;
    for (uint64_t i = 0; i < ncells; i++) {
        rc_cell c;
        uint64_t tag;
        int rv = read_cell(&p, end, base, tagged, &col, &c, &tag);
        if (rv < 0)
            return rv;
        if (rv == 1) {
            rv = tagged ? get_value(f, tag, &q, end, &c.val, &c.vlen)
                        : get_bytes(&p, end, &c.val, &c.vlen);
            if (rv)
                return rv;
        }
        if (rc_frag_add_cell(f, &c))
            return SB_ENOMEM;
    }
    if ((tagged ? q : p) != end)
        return SB_ECORRUPT;
    return 0;
}

/* Order of cells within a column: the complex deletion, then a simple
 * cell, then elements by byte order. */
static int cell_class(const rc_cell *c)
{
    if (c->kind == RC_CDEL)
        return 0;
    return c->elen < 0 ? 1 : 2;
}

static int bytes_cmp(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
    if (alen < 0 || blen < 0)
        return (alen >= 0) - (blen >= 0);
    int32_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, (size_t)n) : 0;
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

static int cell_key_cmp(const void *pa, const void *pb)
{
    const rc_cell *a = pa, *b = pb;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    int ca = cell_class(a), cb = cell_class(b);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ca == 2)
        return bytes_cmp(a->elem, a->elen, b->elem, b->elen);
    return 0;
}

int rc_cell_cmp_win(const rc_cell *a, const rc_cell *b)
{
    if (a->ts != b->ts)
        return a->ts > b->ts ? 1 : -1;
    int at = a->kind == RC_TOMB || a->kind == RC_CDEL;
    int bt = b->kind == RC_TOMB || b->kind == RC_CDEL;
    if (at != bt)
        return at ? 1 : -1;
    int64_t al = a->kind == RC_LIVE ? INT64_MAX : a->ldt;
    int64_t bl = b->kind == RC_LIVE ? INT64_MAX : b->ldt;
    if (al != bl)
        return al > bl ? 1 : -1;
    int c = bytes_cmp(a->val, a->vlen, b->val, b->vlen);
    return (c > 0) - (c < 0);
}

void rc_reconcile(rc_frag *f)
{
    if (f->ncells > 1)
        qsort(f->cells, (size_t)f->ncells, sizeof(rc_cell), cell_key_cmp);
    int out = 0;
    int64_t cdel_ts = INT64_MIN;
    int cdel_col = -1;
    for (int i = 0; i < f->ncells;) {
        int best = i, j = i + 1;
        for (; j < f->ncells && cell_key_cmp(&f->cells[i], &f->cells[j]) == 0; j++)
            if (rc_cell_cmp_win(&f->cells[j], &f->cells[best]) > 0)
                best = j;
        rc_cell c = f->cells[best];
        i = j;
        if (f->has_del && c.ts <= f->del_ts)
            continue;
        if (c.kind == RC_CDEL) {
            cdel_col = c.col;
            cdel_ts = c.ts;
        } else if (c.elen >= 0 && c.col == cdel_col && c.ts <= cdel_ts) {
            continue;
        }
        f->cells[out++] = c;
    }
    f->ncells = out;
    if (f->has_live && f->has_del && f->live_ts <= f->del_ts)
        f->has_live = 0;
}

void rc_shadow(rc_frag *f, int64_t del_ts)
{
    if (f->has_live && f->live_ts <= del_ts)
        f->has_live = 0;
    int out = 0;
    for (int i = 0; i < f->ncells; i++)
        if (f->cells[i].ts > del_ts)
            f->cells[out++] = f->cells[i];
    f->ncells = out;
}

static int purgeable(int64_t ldt, int64_t now_s, int32_t gc_grace_s)
{
    return ldt <= now_s - (int64_t)gc_grace_s;
}

int rc_purge(rc_frag *f, int64_t now_s, int32_t gc_grace_s)
{
    int changed = 0;
    /* An expired row marker shadows nothing: with the key's whole history
     * in hand it can go right away. */
    if (f->has_live && f->live_ttl && f->live_exp <= now_s) {
        f->has_live = 0;
        changed = 1;
    }
    if (f->has_del && purgeable(f->del_ldt, now_s, gc_grace_s)) {
        f->has_del = 0;
        changed = 1;
    }
    int out = 0;
    for (int i = 0; i < f->ncells; i++) {
        rc_cell c = f->cells[i];
        if (c.kind == RC_EXPIRING && c.ldt <= now_s) {
            /* An expired cell is a tombstone from its expiry on. */
            c.kind = RC_TOMB;
            c.ttl = 0;
            c.val = NULL;
            c.vlen = -1;
            changed = 1;
        }
        if ((c.kind == RC_TOMB || c.kind == RC_CDEL) && purgeable(c.ldt, now_s, gc_grace_s)) {
            changed = 1;
            continue;
        }
        f->cells[out++] = c;
    }
    f->ncells = out;
    return changed;
}

/* m with m / 10^s == d bit for bit, for the smallest such s; -1 if none. */
static int decimal_of(uint64_t bits, int64_t *m)
{
    /* Rounds to nearest (even) below 2^51 with two additions: no libm call
     * and no switch of the FP environment on the write path. */
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    const double lim = 2251799813685248.0;   /* 2^51 */
    double d;
    memcpy(&d, &bits, 8);
    if (bits == 0) {
        *m = 0;
        return 0;
    }
    /* NaN, infinities, too large, or too small for 15 decimals (this also
     * keeps subnormals, e.g. small integers seen as doubles, away from the
     * slow arithmetic path). */
    if (!(fabs(d) <= lim) || !(fabs(d) >= 1e-15))
        return -1;
    for (int s = 0; s < 16; s++) {
        double x = d * pow10_tab[s];
        if (fabs(x) > lim)
            return -1;
        double r = (x + magic) - magic;
        /* A decimal with s digits lands within a few ulps of an integer;
         * only then is the exact check (a division) worth doing. */
        if (fabs(x - r) > fabs(x) * 0x1p-49)
            continue;
        int64_t mi = (int64_t)r;
        double back = (double)mi / pow10_tab[s]; /* exactly what decoding does */
        uint64_t bb;
        memcpy(&bb, &back, 8);
        if (bb == bits) {
            *m = mi;
            return s;
        }
    }
    return -1;
}

/* The shortest tagged form that decodes to the same bytes: its tag and,
 * for the integer forms, the varint argument. */
static uint64_t value_form(const uint8_t *val, int32_t n, uint64_t *argp)
{
    uint64_t tag = (uint64_t)n << 2 | V_RAW, arg = 0;
    int best = varint_len(tag) + n;
    if (n >= 1 && n <= 8) {
        uint64_t u = get_be(val, n);
        int64_t x = n < 8 && (u >> (n * 8 - 1)) ? (int64_t)(u | (~0ull << (n * 8))) : (int64_t)u;
        int l = 1 + varint_len(zz_enc(x));
        if (l < best) {
            best = l;
            tag = (uint64_t)n << 2 | V_INT;
            arg = zz_enc(x);
        }
        int64_t m;
        int s = n == 8 && best > 2 ? decimal_of(u, &m) : -1;
        if (s >= 0 && 1 + varint_len(zz_enc(m)) < best) {
            tag = (uint64_t)s << 2 | V_DEC;
            arg = zz_enc(m);
        }
    }
    *argp = arg;
    return tag;
}

int rc_encode(const rc_frag *f, sb_buf *out)
{
    enum { FORM_CACHE = 32 }; /* forms of the first cells, computed once */
    uint64_t form_tag[FORM_CACHE], form_arg[FORM_CACHE];
    int rv = 0;
    if (rc_frag_empty(f))
        return 0;
    uint8_t flags = 0;
    int64_t base = 0;
    if (f->has_live) {
        flags |= F_LIVE;
        base = f->live_ts;
        if (f->live_ttl)
            flags |= F_LIVE_TTL;
    } else if (f->has_del) {
        base = f->del_ts;
    } else if (f->ncells) {
        base = f->cells[0].ts;
    }
    if (f->has_del)
        flags |= F_DEL;
    flags |= F_VTAG;
    rv |= sb_buf_putc(out, flags);
    rv |= rc_put_varint(out, zz_enc(base));
    if (f->has_live && f->live_ttl) {
        rv |= rc_put_varint(out, (uint64_t)f->live_ttl);
        rv |= rc_put_varint(out, (uint64_t)f->live_exp);
    }
    if (f->has_del) {
        rv |= rc_put_varint(out, zz_enc(f->del_ts - base));
        rv |= rc_put_varint(out, (uint64_t)f->del_ldt);
    }
    rv |= rc_put_varint(out, (uint64_t)f->ncells);
    uint16_t prev = 0;
    for (int i = 0; i < f->ncells && !rv; i++) {
        const rc_cell *c = &f->cells[i];
        SB_ASSERT(c->col >= prev);
        uint32_t delta = (uint32_t)(c->col - prev);
        prev = c->col;
        uint8_t h = (uint8_t)(c->kind | (c->elen >= 0 ? 4 : 0) | (c->ts != base ? 8 : 0) |
                              ((delta < 15 ? delta : 15) << 4));
        rv |= sb_buf_putc(out, h);
        if (delta >= 15)
            rv |= rc_put_varint(out, delta);
        if (c->ts != base)
            rv |= rc_put_varint(out, zz_enc(c->ts - base));
        if (c->kind == RC_EXPIRING) {
            rv |= rc_put_varint(out, (uint64_t)c->ttl);
            rv |= rc_put_varint(out, (uint64_t)c->ldt);
        } else if (c->kind == RC_TOMB || c->kind == RC_CDEL) {
            rv |= rc_put_varint(out, (uint64_t)c->ldt);
        }
        if (c->elen >= 0) {
            rv |= rc_put_varint(out, (uint64_t)c->elen);
            rv |= sb_buf_append(out, c->elem, (size_t)c->elen);
        }
        if (c->kind == RC_LIVE || c->kind == RC_EXPIRING) {
            uint64_t arg;
            uint64_t tag = value_form(c->val, c->vlen < 0 ? 0 : c->vlen, &arg);
            if (i < FORM_CACHE) {
                form_tag[i] = tag;
                form_arg[i] = arg;
            }
            rv |= rc_put_varint(out, tag);
        }
    }
    /* Payloads after all the metadata: rows of one table then share one
     * long identical run (headers and tags) that block compression finds. */
    for (int i = 0; i < f->ncells && !rv; i++) {
        const rc_cell *c = &f->cells[i];
        if (c->kind != RC_LIVE && c->kind != RC_EXPIRING)
            continue;
        int32_t n = c->vlen < 0 ? 0 : c->vlen;
        uint64_t arg, tag;
        if (i < FORM_CACHE) {
            tag = form_tag[i];
            arg = form_arg[i];
        } else {
            tag = value_form(c->val, n, &arg);
        }
        if ((tag & 3) == V_RAW)
            rv |= sb_buf_append(out, c->val, (size_t)n);
        else
            rv |= rc_put_varint(out, arg);
    }
    return rv ? SB_ENOMEM : 0;
}
