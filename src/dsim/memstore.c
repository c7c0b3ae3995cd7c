/*
 * In-memory raw storage for the simulator (memstore.h).
 *
 * Invariants: every table's entries are sorted by key, keys unique; values
 * are the merge (sb_frag_merge) of everything applied to the key, so a
 * value never depends on the order entries arrived in. Sizes are small (a
 * simulated keyspace holds tens to thousands of keys), so sorted arrays
 * with binary search and memmove are fast enough and easy to check.
 */
#include <stdlib.h>
#include <string.h>

#include "dsim/memstore.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct ms_entry {
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
} ms_entry;

typedef struct ms_map {
    ms_entry *e;
    size_t n, cap;
} ms_map;

typedef struct ms_table {
    uint8_t id[16];
    ms_map m;
} ms_table;

struct dsim_store {
    ms_table *tables;
    int ntables;
    ms_map kv;
    sb_buf tmp;
};

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* First index whose key is >= k. */
static size_t lower_bound(const ms_map *m, const uint8_t *k, size_t klen)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(m->e[mid].key, m->e[mid].klen, k, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int found_at(const ms_map *m, size_t i, const uint8_t *k, size_t klen)
{
    return i < m->n && key_cmp(m->e[i].key, m->e[i].klen, k, klen) == 0;
}

static void map_clear(ms_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].val);
    }
    m->n = 0;
}

static void map_free(ms_map *m)
{
    map_clear(m);
    free(m->e);
    memset(m, 0, sizeof *m);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* Sets key k to v (replacing). */
static int map_put(ms_map *m, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    size_t i = lower_bound(m, k, klen);
    uint8_t *nv = dup_bytes(v, vlen);
    if (!nv)
        return SB_ENOMEM;
    if (found_at(m, i, k, klen)) {
        free(m->e[i].val);
        m->e[i].val = nv;
        m->e[i].vlen = vlen;
        return 0;
    }
    uint8_t *nk = dup_bytes(k, klen);
    if (!nk) {
        free(nv);
        free(nk);
        return SB_ENOMEM;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        ms_entry *ne = realloc(m->e, cap * sizeof *ne);
        if (!ne) {
            free(nv);
            free(nk);
            return SB_ENOMEM;
        }
        m->e = ne;
        m->cap = cap;
    }
    memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof *m->e);
    m->e[i] = (ms_entry){nk, klen, nv, vlen};
    m->n++;
    return 0;
}

static void map_del(ms_map *m, const uint8_t *k, size_t klen)
{
    size_t i = lower_bound(m, k, klen);
    if (!found_at(m, i, k, klen))
        return;
    free(m->e[i].key);
    free(m->e[i].val);
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof *m->e);
    m->n--;
}

dsim_store *dsim_store_new(void)
{
    dsim_store *s = calloc(1, sizeof *s);
    if (s)
        sb_buf_init(&s->tmp);
    return s;
}

void dsim_store_free(dsim_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->ntables; i++)
        map_free(&s->tables[i].m);
    free(s->tables);
    map_free(&s->kv);
    sb_buf_free(&s->tmp);
    free(s);
}

static ms_table *find_table(const dsim_store *s, const uint8_t id[16])
{
    for (int i = 0; i < s->ntables; i++)
        if (!memcmp(s->tables[i].id, id, 16))
            return &s->tables[i];
    return NULL;
}

int dsim_store_add_table(dsim_store *s, const uint8_t id[16])
{
    if (find_table(s, id))
        return 0;
    ms_table *nt = realloc(s->tables, (size_t)(s->ntables + 1) * sizeof *nt);
    if (!nt)
        return SB_ENOMEM;
    s->tables = nt;
    memset(&nt[s->ntables], 0, sizeof *nt);
    memcpy(nt[s->ntables].id, id, 16);
    s->ntables++;
    return 0;
}

int dsim_store_has_table(const dsim_store *s, const uint8_t id[16])
{
    return find_table(s, id) != NULL;
}

int dsim_store_merge(dsim_store *s, const uint8_t id[16], const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen)
{
    ms_table *t = find_table(s, id);
    if (!t)
        return SB_ENOTFOUND;
    size_t i = lower_bound(&t->m, key, klen);
    if (!found_at(&t->m, i, key, klen))
        return map_put(&t->m, key, klen, val, vlen);
    ms_entry *e = &t->m.e[i];
    int rv = sb_frag_merge(e->val, e->vlen, val, vlen, &s->tmp);
    if (rv)
        return rv;
    return map_put(&t->m, key, klen, s->tmp.data, s->tmp.len);
}

static int in_range(const ms_entry *e, const sb_buf *lo, const sb_buf *hi)
{
    if (key_cmp(e->key, e->klen, lo->data, lo->len) < 0)
        return 0;
    return hi->len == 0 || key_cmp(e->key, e->klen, hi->data, hi->len) < 0;
}

int dsim_store_read(dsim_store *s, const sb_rawq *q, sb_raw_emit emit, void *arg, int *more,
                    char *errmsg)
{
    *more = 0;
    ms_table *t = find_table(s, q->table_id);
    if (!t)
        return sb_seterr(errmsg, SB_ENOTFOUND, "no table with that id in the simulated store");
    const ms_map *m = &t->m;
    int rv;
    if (q->head_lo.len > 0) {
        size_t i = lower_bound(m, q->head_lo.data, q->head_lo.len);
        for (; i < m->n && in_range(&m->e[i], &q->head_lo, &q->head_hi); i++) {
            if (m->e[i].vlen == 0)
                continue; /* an empty fragment: nothing known, readers skip it */
            sb_raw r = {m->e[i].key, m->e[i].klen, m->e[i].val, m->e[i].vlen};
            if ((rv = emit(arg, &r)))
                return rv;
        }
    }
    size_t start = lower_bound(m, q->lo.data, q->lo.len);
    size_t end = q->hi.len ? lower_bound(m, q->hi.data, q->hi.len) : m->n;
    uint64_t count = 0, bytes = 0;
    for (size_t k = 0; start + k < end; k++) {
        size_t i = q->reversed ? end - 1 - k : start + k;
        const ms_entry *e = &m->e[i];
        if (e->vlen == 0)
            continue;
        uint64_t sz = e->klen + e->vlen;
        if (count > 0 && ((q->max_entries && count >= q->max_entries) ||
                          (q->max_bytes && bytes + sz > q->max_bytes))) {
            *more = 1;
            return 0;
        }
        sb_raw r = {e->key, e->klen, e->val, e->vlen};
        if ((rv = emit(arg, &r)))
            return rv;
        count++;
        bytes += sz;
    }
    return 0;
}

int dsim_store_truncate(dsim_store *s, const uint8_t id[16], char *errmsg)
{
    ms_table *t = find_table(s, id);
    if (!t)
        return sb_seterr(errmsg, SB_ENOTFOUND, "no table with that id in the simulated store");
    map_clear(&t->m);
    return 0;
}

size_t dsim_store_count(const dsim_store *s, const uint8_t id[16])
{
    ms_table *t = find_table(s, id);
    return t ? t->m.n : 0;
}

int dsim_store_entry(const dsim_store *s, const uint8_t id[16], size_t i, sb_raw *out)
{
    ms_table *t = find_table(s, id);
    if (!t || i >= t->m.n)
        return SB_ENOTFOUND;
    const ms_entry *e = &t->m.e[i];
    *out = (sb_raw){e->key, e->klen, e->val, e->vlen};
    return 0;
}

int dsim_store_get(const dsim_store *s, const uint8_t id[16], const uint8_t *key, size_t klen,
                   sb_raw *out)
{
    ms_table *t = find_table(s, id);
    if (!t)
        return 0;
    size_t i = lower_bound(&t->m, key, klen);
    if (!found_at(&t->m, i, key, klen))
        return 0;
    const ms_entry *e = &t->m.e[i];
    *out = (sb_raw){e->key, e->klen, e->val, e->vlen};
    return 1;
}

int dsim_store_kv_put(dsim_store *s, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    return map_put(&s->kv, k, klen, v, vlen);
}

int dsim_store_kv_del(dsim_store *s, const uint8_t *k, size_t klen)
{
    map_del(&s->kv, k, klen);
    return 0;
}

int dsim_store_kv_scan(dsim_store *s, const uint8_t *prefix, size_t plen,
                       int (*emit)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                                   size_t vlen),
                       void *arg)
{
    /* Snapshot the matching pairs first: emit may put or delete (a loader
     * that drops stale records while scanning). */
    ms_map snap = {0};
    int rv = 0;
    for (size_t i = lower_bound(&s->kv, prefix, plen); i < s->kv.n && !rv; i++) {
        const ms_entry *e = &s->kv.e[i];
        if (e->klen < plen || (plen && memcmp(e->key, prefix, plen)))
            break;
        rv = map_put(&snap, e->key, e->klen, e->val, e->vlen);
    }
    for (size_t i = 0; i < snap.n && !rv; i++)
        rv = emit(arg, snap.e[i].key, snap.e[i].klen, snap.e[i].val, snap.e[i].vlen);
    map_free(&snap);
    return rv;
}

size_t dsim_store_kv_count(const dsim_store *s)
{
    return s->kv.n;
}

uint64_t dsim_store_load_bytes(const dsim_store *s)
{
    uint64_t n = 0;
    for (int t = 0; t < s->ntables; t++)
        for (size_t i = 0; i < s->tables[t].m.n; i++)
            n += s->tables[t].m.e[i].klen + s->tables[t].m.e[i].vlen;
    return n;
}
