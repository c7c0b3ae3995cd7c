/*
 * The key layout of a table's column family (store.h):
 *
 *   token(8, BE, sign bit flipped) | pk components (keyenc) | section | ...
 *
 *   header  prefix | 0x10
 *   range   prefix | 0x20 | start incl(1) | start len(u16be) | start |
 *           end incl(1) | end len(u16be) | end | prefix len(u16be)
 *   row     prefix | 0x30 | clustering components (keyenc)
 *
 * Keyenc components are prefix-free, so "starts with prefix|section" is
 * exactly "belongs to this partition and section", and clustering bounds
 * (prefixes of clustering keys) compare against full keys with memcmp.
 * Range keys end with the prefix length so the compaction filter can find
 * the partition of a range tombstone without knowing the column types.
 */
#include <string.h>

#include "storage/store_int.h"
#include "util/err.h"

uint64_t st_token_bits(int64_t token)
{
    return (uint64_t)token ^ 0x8000000000000000ull;
}

int64_t st_token_of_bits(const uint8_t p[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)(v ^ 0x8000000000000000ull);
}

int st_key_prefix(sb_buf *out, const sb_table *t, const sb_value *pk, char *errmsg)
{
    sb_value comps[64];
    if (t->npk <= 0 || t->npk > 64)
        return sb_seterr(errmsg, SB_EINVALID, "table %s.%s has no usable partition key",
                         t->keyspace, t->name);
    if (!pk)
        return sb_seterr(errmsg, SB_EINVALID, "Missing partition key for table %s.%s", t->keyspace,
                         t->name);
    for (int i = 0; i < t->npk; i++) {
        if (pk[i].len < 0 || (pk[i].len > 0 && !pk[i].p))
            return sb_seterr(errmsg, SB_EINVALID, "Invalid null value for partition key part %s",
                             t->cols[i].name);
        if (pk[i].len > 0xffff)
            return sb_seterr(errmsg, SB_EINVALID,
                             "Partition key part %s is too long (%d bytes, max 65535)",
                             t->cols[i].name, pk[i].len);
        comps[i] = pk[i];
    }
    if (t->npk == 1 && pk[0].len == 0)
        return sb_seterr(errmsg, SB_EINVALID, "Key may not be empty");
    int64_t token = sb_token_of_key(comps, t->npk);
    int rv = sb_buf_put_u64be(out, st_token_bits(token));
    for (int i = 0; i < t->npk && !rv; i++)
        rv = sb_keyenc_append(out, t->cols[i].type, pk[i], 0);
    if (rv)
        return sb_seterr(errmsg, rv, "cannot encode partition key of %s.%s", t->keyspace, t->name);
    return 0;
}

int st_key_clustering(sb_buf *out, const sb_table *t, const sb_value *ck, int n, char *errmsg)
{
    if (n > t->nck)
        return sb_seterr(errmsg, SB_EINVALID, "too many clustering values (%d, table has %d)", n,
                         t->nck);
    for (int i = 0; i < n; i++) {
        const sb_column *c = &t->cols[t->npk + i];
        if (ck[i].len < 0)
            return sb_seterr(errmsg, SB_EINVALID, "Invalid null value for clustering key part %s",
                             c->name);
        int rv = sb_keyenc_append(out, c->type, ck[i], c->desc);
        if (rv)
            return sb_seterr(errmsg, rv, "cannot encode clustering key part %s", c->name);
    }
    return 0;
}

int st_key_range(sb_buf *out, size_t prefix_len, const uint8_t *start, size_t slen, int sincl,
                 const uint8_t *end, size_t elen, int eincl)
{
    if (slen > 0xffff || elen > 0xffff || prefix_len > 0xffff)
        return SB_ETOOBIG;
    int rv = sb_buf_putc(out, ST_SEC_RANGE);
    rv |= sb_buf_putc(out, sincl ? 1 : 0);
    rv |= sb_buf_put_u16be(out, (uint16_t)slen);
    rv |= sb_buf_append(out, start, slen);
    rv |= sb_buf_putc(out, eincl ? 1 : 0);
    rv |= sb_buf_put_u16be(out, (uint16_t)elen);
    rv |= sb_buf_append(out, end, elen);
    rv |= sb_buf_put_u16be(out, (uint16_t)prefix_len);
    return rv ? SB_ENOMEM : 0;
}

int st_key_range_parse(const uint8_t *k, size_t klen, size_t *prefix_len, const uint8_t **start,
                       size_t *slen, int *sincl, const uint8_t **end, size_t *elen, int *eincl)
{
    if (klen < 2)
        return SB_ECORRUPT;
    size_t pl = (size_t)k[klen - 2] << 8 | k[klen - 1];
    /* prefix, section, incl, len(2), ..., incl, len(2), ..., plen(2) */
    if (pl + 1 + 3 + 3 + 2 > klen || k[pl] != ST_SEC_RANGE)
        return SB_ECORRUPT;
    const uint8_t *p = k + pl + 1, *lim = k + klen - 2;
    *sincl = p[0];
    *slen = (size_t)p[1] << 8 | p[2];
    p += 3;
    if (*slen > (size_t)(lim - p) || (size_t)(lim - p) - *slen < 3)
        return SB_ECORRUPT;
    *start = p;
    p += *slen;
    *eincl = p[0];
    *elen = (size_t)p[1] << 8 | p[2];
    p += 3;
    if (*elen != (size_t)(lim - p))
        return SB_ECORRUPT;
    *end = p;
    *prefix_len = pl;
    return 0;
}

static int prefix_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c == 0 && alen < blen)
        c = -1;
    return c;
}

int st_ck_in_range(const uint8_t *ck, size_t cklen, const uint8_t *start, size_t slen, int sincl,
                   const uint8_t *end, size_t elen, int eincl)
{
    if (slen) {
        int c = prefix_cmp(ck, cklen, start, slen);
        if (c < 0 || (c == 0 && !sincl))
            return -1;
    }
    if (elen) {
        int c = prefix_cmp(ck, cklen, end, elen);
        if (c > 0 || (c == 0 && !eincl))
            return 1;
    }
    return 0;
}

int st_key_successor(sb_buf *p)
{
    while (p->len > 0) {
        if (p->data[p->len - 1] != 0xff) {
            p->data[p->len - 1]++;
            return 1;
        }
        p->len--;
    }
    return 0;
}

int st_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c == 0 && alen != blen)
        c = alen < blen ? -1 : 1;
    return c;
}
