/*
 * Line-protocol ingestion: points -> DDL + one write batch. The mapping and
 * the batch semantics are described in ingest.h and docs/ingest.md.
 *
 * NOTES ON THE DESIGN
 *
 * A request runs in two passes over one per-request context (struct req):
 *
 * Pass 1 parses every line and resolves it against a per-request plan: one
 * `mplan` per measurement (found by a hash of its unescaped name, or by
 * comparing the raw bytes with the previous line's measurement, which is
 * what a Telegraf batch usually repeats), and inside it one `slot` per
 * tag/field name. Each mplan caches the slots of the previous point's tags
 * and fields by position, so a stream of same-shaped points resolves a name
 * with one memcmp and no hashing. Slots carry everything the write needs:
 * a tag's position in the partition key, a field's column id and type.
 * All checks happen here: syntax, names, type conflicts with the table and
 * with earlier lines, tag keys outside the partition key.
 *
 * A point whose table and columns all exist already is encoded into the
 * write batch at once (the steady state: no copy, no allocation per point).
 * Any other point (new table, new field) is kept as a compact record in
 * `recs`, with its values already converted to their CQL serialization.
 *
 * If any line fails, the batch is dropped: nothing was written and no DDL
 * ran. Otherwise the DDL runs (keyspace, CREATE TABLE, ALTER TABLE ADD),
 * the slots of the new columns get their ids, the records are encoded
 * (pass 2), and the one batch is handed to the store.
 *
 * Invariants:
 * - a slot's kind (tag or field) and a field slot's CQL type never change
 *   within a request; every point that used the slot agrees with it.
 * - write timestamps handed out are strictly increasing across requests:
 *   base_us > every timestamp of earlier requests (the node's hybrid
 *   clock, util/hlc.h, is raised past each request's last one).
 * - every string a record or the batch points to lives in the body or in
 *   the request's chunk arena, whose chunks never move.
 */
#include "ingest/ingest.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ingest/lineproto.h"
#include "storage/schema.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/hlc.h"

#define NAME_MAX_BYTES 256
#define TAG_VALUE_MAX_BYTES 65535
#define SERIES_COL "series"
#define TIME_COL "time"
#define KEYSPACE_REPLICATION "{\"class\":\"SimpleStrategy\",\"replication_factor\":\"1\"}"

enum { PREC_NS, PREC_US, PREC_MS, PREC_S };
enum { SLOT_TAG, SLOT_FIELD };

static _Atomic uint64_t st_requests, st_rejected, st_points, st_bytes;

/* --- small helpers ------------------------------------------------------ */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *s = p;
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static int str_eq(sb_lp_str a, sb_lp_str b)
{
    return a.len == b.len && a.p && memcmp(a.p, b.p, a.len) == 0;
}

/* Open-addressing index over an array of structs that start with `named`;
 * it stores indices, so the array may be reallocated. */
typedef struct named {
    char *name; /* NUL-terminated, owned */
    uint32_t len;
    uint32_t hash;
} named;

typedef struct nindex {
    int32_t *tab; /* entry index + 1; 0 = empty */
    uint32_t cap;
    uint32_t n;
} nindex;

static const named *nat(const void *base, size_t stride, int32_t i)
{
    return (const named *)((const char *)base + (size_t)i * stride);
}

static int nindex_find(const nindex *ix, const void *base, size_t stride, const char *name,
                       uint32_t len, uint32_t hash)
{
    if (!ix->cap)
        return -1;
    for (uint32_t i = hash & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        int32_t e = ix->tab[i];
        if (!e)
            return -1;
        const named *nm = nat(base, stride, e - 1);
        if (nm->hash == hash && nm->len == len && memcmp(nm->name, name, len) == 0)
            return e - 1;
    }
}

static void nindex_put(int32_t *tab, uint32_t cap, uint32_t hash, int32_t e)
{
    uint32_t i = hash & (cap - 1);
    while (tab[i])
        i = (i + 1) & (cap - 1);
    tab[i] = e;
}

static int nindex_add(nindex *ix, const void *base, size_t stride, int32_t idx)
{
    if ((ix->n + 1) * 2 > ix->cap) {
        uint32_t cap = ix->cap ? ix->cap * 2 : 16;
        int32_t *tab = calloc(cap, sizeof(int32_t));
        if (!tab)
            return SB_ENOMEM;
        for (uint32_t i = 0; i < ix->cap; i++)
            if (ix->tab[i])
                nindex_put(tab, cap, nat(base, stride, ix->tab[i] - 1)->hash, ix->tab[i]);
        free(ix->tab);
        ix->tab = tab;
        ix->cap = cap;
    }
    nindex_put(ix->tab, ix->cap, nat(base, stride, idx)->hash, idx + 1);
    ix->n++;
    return 0;
}

/* --- per-request state -------------------------------------------------- */

/* A tag or field name of one measurement. */
typedef struct slot {
    named nm;
    uint8_t kind;   /* SLOT_TAG / SLOT_FIELD */
    uint8_t type;   /* field: sb_type_id of its column */
    uint8_t lptype; /* field: line-protocol type where first seen */
    uint8_t exists; /* the column exists in the table as it was at parse time */
    int first_line;
    int pk_pos;      /* tag: position in the partition key (once known) */
    uint16_t col_id; /* field: column id (once known) */
    uint32_t stamp;  /* sequence number of the last point that used it */
    uint32_t stamp_pos;
} slot;

/* Position cache entry: the raw name a point had at this position. */
typedef struct pcache {
    sb_lp_str raw;
    int32_t slot;
} pcache;

/* One measurement of the request. */
typedef struct mplan {
    named nm;
    const sb_table *t; /* table at parse time; NULL: it will be created */
    slot *slots;
    int nslots, slots_cap;
    nindex ix;
    pcache *tc, *fc; /* by position: tags, fields */
    int tc_cap, fc_cap;
    int new_cols; /* fields without a column yet */
    int ntagslots;
    int first_line;
    int notag_line; /* first line of a point without tags */
} mplan;

/* A converted tag or field value of a point. */
typedef struct item {
    int32_t slot;
    int32_t len;
    union {
        const char *p;  /* tags, text fields: body or arena */
        uint8_t inl[8]; /* other fields: serialized value */
    } v;
} item;

/* A point kept for pass 2; followed by ntags + nfields items. */
typedef struct rec {
    int32_t mp;
    uint16_t ntags, nfields;
    int32_t line;
    int32_t pad;
    int64_t time_ms;
    int64_t ts_us;
} rec;

typedef struct req {
    sb_store *s;
    int to_hook; /* written through a write hook: build only the mutation */
    const char *ks;
    int prec;
    const sb_schema *schema; /* at parse time */
    int ks_exists;
    mplan *mps;
    int nmps, mps_cap;
    nindex ix;
    int last_mp;
    sb_lp_str last_raw;
    sb_arena strs; /* unescaped strings: addresses never move */
    item *items;   /* the current point */
    int items_cap;
    sb_buf recs;
    size_t nrecs;
    sb_buf *ddl_out; /* schema changes as CQL instead of made here */
    sb_wbatch *b;
    uint64_t *dd; /* hashes of (series, ms) seen; 0 = empty */
    uint32_t *dd_cnt;
    uint32_t dd_cap, dd_n;
    uint32_t max_bump;
    int64_t base_us, now_ms, now_s;
    uint32_t seq;
    size_t npoints;
    sb_value *pk;
    int pk_cap;
    sb_cell *cells;
    int cells_cap;
    char *errmsg;
} req;

static int lfail(req *r, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int lfail(req *r, int code, int line, const char *fmt, ...)
{
    int n = line > 0 ? snprintf(r->errmsg, SB_ERRMSG_SIZE, "line %d: ", line) : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg + n, SB_ERRMSG_SIZE - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

static int nomem(req *r)
{
    return sb_seterr(r->errmsg, SB_ENOMEM, "out of memory");
}

static int grow_arr(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return SB_ENOMEM;
    memset((char *)n + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = n;
    *cap = ncap;
    return 0;
}

static const char *lptype_name(int t)
{
    static const char *names[] = {"float", "integer", "unsigned", "string", "boolean"};
    return names[t];
}

static uint8_t cql_of(int lptype)
{
    switch (lptype) {
    case SB_LP_FLOAT:
        return SB_TYPE_DOUBLE;
    case SB_LP_INT:
    case SB_LP_UINT:
        return SB_TYPE_BIGINT;
    case SB_LP_STRING:
        return SB_TYPE_TEXT;
    default:
        return SB_TYPE_BOOLEAN;
    }
}

static const char *cql_name(uint8_t id)
{
    const char *n = sb_type_id_name(id);
    return n ? n : "?";
}

/* --- measurements and names ---------------------------------------------- */

/* The table exists: is it one line protocol can write? */
static int table_fits(const sb_table *t)
{
    if (t->nck != 1 || t->npk < 1)
        return 0;
    const sb_column *ck = &t->cols[t->npk];
    if (strcmp(ck->name, TIME_COL) != 0 || ck->type.id != SB_TYPE_TIMESTAMP)
        return 0;
    for (int i = 0; i < t->npk; i++)
        if (t->cols[i].type.id != SB_TYPE_TEXT)
            return 0;
    return 1;
}

/* "a, b, c": the partition key column names of t. */
static void pk_names(const sb_table *t, char *out, size_t size)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < t->npk && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", t->cols[i].name);
}

/* Table names follow Cassandra's rule (they also name files there). */
static int valid_table_name(const char *n, uint32_t len)
{
    if (len == 0 || len > 48)
        return 0;
    for (uint32_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static int new_mplan(req *r, const char *name, uint32_t len, uint32_t hash, int line)
{
    if (!valid_table_name(name, len))
        return lfail(r, SB_EINVALID, line,
                     "measurement \"%.64s\" cannot be a table name: use 1 to 48 letters, digits "
                     "or underscores",
                     name);
    if (grow_arr((void **)&r->mps, &r->mps_cap, r->nmps + 1, sizeof(mplan)))
        return nomem(r);
    mplan *mp = &r->mps[r->nmps];
    memset(mp, 0, sizeof(*mp));
    mp->nm.name = malloc(len + 1);
    if (!mp->nm.name)
        return nomem(r);
    memcpy(mp->nm.name, name, len);
    mp->nm.name[len] = 0;
    mp->nm.len = len;
    mp->nm.hash = hash;
    mp->first_line = line;
    r->nmps++;
    if (nindex_add(&r->ix, r->mps, sizeof(mplan), r->nmps - 1))
        return nomem(r);
    if (r->ks_exists)
        mp->t = sb_schema_table(r->schema, r->ks, mp->nm.name);
    if (mp->t && !table_fits(mp->t))
        return lfail(r, SB_EINVALID, line,
                     "table %s.%s exists but is not a line-protocol table (it needs text "
                     "partition key columns and one clustering column \"time\" of type timestamp)",
                     r->ks, mp->nm.name);
    return r->nmps - 1;
}

/* Unescapes a name into buf (2 * NAME_MAX_BYTES) and checks its length. */
static int name_of(req *r, sb_lp_str raw, int kind, const char *what, int line, char *buf,
                   uint32_t *len)
{
    if (raw.len > 2 * NAME_MAX_BYTES ||
        (*len = (uint32_t)sb_lp_unescape(raw, kind, buf)) > NAME_MAX_BYTES)
        return lfail(r, SB_EINVALID, line, "%s is too long (more than %d bytes)", what,
                     NAME_MAX_BYTES);
    buf[*len] = 0;
    return 0;
}

static int measurement_of(req *r, const sb_lp_point *pt)
{
    if (r->last_mp >= 0 && str_eq(r->last_raw, pt->measurement))
        return r->last_mp;
    char buf[2 * NAME_MAX_BYTES + 1];
    uint32_t len = 0;
    int rv =
        name_of(r, pt->measurement, SB_LP_ESC_MEASUREMENT, "measurement name", pt->line, buf, &len);
    if (rv)
        return rv;
    uint32_t h = (uint32_t)hash_bytes(buf, len, 1);
    int idx = nindex_find(&r->ix, r->mps, sizeof(mplan), buf, len, h);
    if (idx < 0 && (idx = new_mplan(r, buf, len, h, pt->line)) < 0)
        return idx;
    r->last_mp = idx;
    r->last_raw = pt->measurement;
    return idx;
}

/* Checks a new name against the table (if any) and adds its slot. */
static int new_slot(req *r, mplan *mp, const char *name, uint32_t len, uint32_t h, int kind,
                    int lptype, int line)
{
    const char *what = kind == SLOT_TAG ? "tag key" : "field key";
    if (strcmp(name, TIME_COL) == 0)
        return lfail(r, SB_EINVALID, line,
                     "%s \"time\" is not allowed in measurement \"%s\": \"time\" is the "
                     "timestamp column",
                     what, mp->nm.name);
    slot sl = {.nm = {NULL, len, h}, .kind = (uint8_t)kind, .first_line = line, .pk_pos = -1};
    if (kind == SLOT_FIELD) {
        sl.type = cql_of(lptype);
        sl.lptype = (uint8_t)lptype;
    }
    const sb_column *c = mp->t ? sb_table_column(mp->t, name) : NULL;
    char pks[SB_ERRMSG_SIZE / 2];
    if (mp->t && kind == SLOT_TAG) {
        if (!c || c->kind != SB_COL_PARTITION) {
            pk_names(mp->t, pks, sizeof pks);
            return lfail(r, SB_EINVALID, line,
                         "tag key \"%s\" is not in the partition key of table %s.%s (%s); a "
                         "partition key cannot be altered",
                         name, r->ks, mp->nm.name, pks);
        }
        sl.exists = 1;
        sl.pk_pos = c->position;
    } else if (mp->t && c) {
        if (c->kind == SB_COL_PARTITION)
            return lfail(r, SB_EINVALID, line,
                         "field \"%s\" of measurement \"%s\" has the name of a tag key "
                         "(partition key column of table %s.%s)",
                         name, mp->nm.name, r->ks, mp->nm.name);
        if (c->kind != SB_COL_REGULAR)
            return lfail(r, SB_EINVALID, line,
                         "field \"%s\" of measurement \"%s\": column %s of table %s.%s is not "
                         "a regular column",
                         name, mp->nm.name, name, r->ks, mp->nm.name);
        if (c->type.id != sl.type)
            return lfail(r, SB_EINVALID, line,
                         "field type conflict: field \"%s\" of measurement \"%s\" is %s, but "
                         "column %s.%s.%s has type %s",
                         name, mp->nm.name, lptype_name(lptype), r->ks, mp->nm.name, name,
                         cql_name(c->type.id));
        sl.exists = 1;
        sl.col_id = c->id;
    } else if (kind == SLOT_FIELD) {
        mp->new_cols++;
    }
    if (kind == SLOT_TAG)
        mp->ntagslots++;
    if (grow_arr((void **)&mp->slots, &mp->slots_cap, mp->nslots + 1, sizeof(slot)) ||
        !(sl.nm.name = malloc(len + 1)))
        return nomem(r);
    memcpy(sl.nm.name, name, len + 1);
    mp->slots[mp->nslots++] = sl;
    if (nindex_add(&mp->ix, mp->slots, sizeof(slot), mp->nslots - 1))
        return nomem(r);
    return mp->nslots - 1;
}

/* The slot of the name at position pos of the point (tags or fields). */
static int slot_of(req *r, mplan *mp, int kind, int pos, sb_lp_str raw, int lptype, int line)
{
    pcache **cache = kind == SLOT_TAG ? &mp->tc : &mp->fc;
    int *cap = kind == SLOT_TAG ? &mp->tc_cap : &mp->fc_cap;
    if (pos < *cap && str_eq((*cache)[pos].raw, raw))
        return (*cache)[pos].slot;
    char buf[2 * NAME_MAX_BYTES + 1];
    uint32_t len = 0;
    const char *what = kind == SLOT_TAG ? "tag key" : "field key";
    int rv = name_of(r, raw, SB_LP_ESC_KEY, what, line, buf, &len);
    if (rv)
        return rv;
    uint32_t h = (uint32_t)hash_bytes(buf, len, 2);
    int idx = nindex_find(&mp->ix, mp->slots, sizeof(slot), buf, len, h);
    if (idx < 0) {
        if ((idx = new_slot(r, mp, buf, len, h, kind, lptype, line)) < 0)
            return idx;
    } else if (mp->slots[idx].kind != kind) {
        return lfail(r, SB_EINVALID, line,
                     "%s \"%s\" of measurement \"%s\" is also used as a %s (line %d); a name "
                     "is either a tag or a field",
                     what, buf, mp->nm.name, kind == SLOT_TAG ? "field" : "tag",
                     mp->slots[idx].first_line);
    }
    if (grow_arr((void **)cache, cap, pos + 1, sizeof(pcache)))
        return nomem(r);
    (*cache)[pos].raw = raw;
    (*cache)[pos].slot = idx;
    return idx;
}

/* --- pass 1: one point --------------------------------------------------- */

static const char *unescaped(req *r, sb_lp_str s, int kind, int32_t *len)
{
    if (!s.esc) {
        *len = (int32_t)s.len;
        return s.p;
    }
    char *p = sb_arena_bytes(&r->strs, s.len);
    if (!p)
        return NULL;
    *len = (int32_t)sb_lp_unescape(s, kind, p);
    return p;
}

static int to_ms(req *r, const sb_lp_point *pt, int64_t *out)
{
    if (!pt->has_time) {
        *out = r->now_ms;
        return 0;
    }
    int64_t t = pt->time, d;
    switch (r->prec) {
    case PREC_MS:
        *out = t;
        return 0;
    case PREC_S:
        if (t > INT64_MAX / 1000 || t < INT64_MIN / 1000)
            return lfail(r, SB_EINVALID, pt->line, "timestamp %lld is out of range for precision s",
                         (long long)t);
        *out = t * 1000;
        return 0;
    default:
        d = r->prec == PREC_NS ? 1000000 : 1000;
        /* floor division: -1 ns is in the millisecond before the epoch */
        *out = t / d - (t % d < 0);
        return 0;
    }
}

/* How many times this (series, ms) came before in the request. */
static int dedupe(req *r, uint64_t h, uint32_t *bump)
{
    if (h == 0)
        h = 1;
    if ((r->dd_n + 1) * 2 > r->dd_cap) {
        uint32_t cap = r->dd_cap ? r->dd_cap * 2 : 1024;
        uint64_t *dd = calloc(cap, sizeof(uint64_t));
        uint32_t *cnt = calloc(cap, sizeof(uint32_t));
        if (!dd || !cnt) {
            free(dd);
            free(cnt);
            return nomem(r);
        }
        for (uint32_t i = 0; i < r->dd_cap; i++) {
            if (!r->dd[i])
                continue;
            uint32_t j = (uint32_t)r->dd[i] & (cap - 1);
            while (dd[j])
                j = (j + 1) & (cap - 1);
            dd[j] = r->dd[i];
            cnt[j] = r->dd_cnt[i];
        }
        free(r->dd);
        free(r->dd_cnt);
        r->dd = dd;
        r->dd_cnt = cnt;
        r->dd_cap = cap;
    }
    uint32_t j = (uint32_t)h & (r->dd_cap - 1);
    while (r->dd[j] && r->dd[j] != h)
        j = (j + 1) & (r->dd_cap - 1);
    if (r->dd[j]) {
        *bump = ++r->dd_cnt[j];
        if (*bump > r->max_bump)
            r->max_bump = *bump;
    } else {
        r->dd[j] = h;
        r->dd_n++;
        *bump = 0;
    }
    return 0;
}

/* A tagless table's only key column holds the measurement name. */
static int is_series_table(const sb_table *t)
{
    return t->npk == 1 && strcmp(t->cols[0].name, SERIES_COL) == 0;
}

static int empty_key_error(req *r, const mplan *mp, const char *tag, int line)
{
    return lfail(r, SB_EINVALID, line,
                 "point of measurement \"%s\" has no tag \"%s\": it is the whole partition "
                 "key of table %s.%s and a partition key cannot be empty",
                 mp->nm.name, tag, r->ks, mp->nm.name);
}

/* Encodes one resolved point into the batch. t is the table to write. */
static int emit(req *r, const mplan *mp, const sb_table *t, const item *items, int ntags,
                int nfields, int64_t time_ms, int64_t ts_us, int line)
{
    if (grow_arr((void **)&r->pk, &r->pk_cap, t->npk, sizeof(sb_value)) ||
        grow_arr((void **)&r->cells, &r->cells_cap, nfields, sizeof(sb_cell)))
        return nomem(r);
    sb_value dflt = {(const uint8_t *)"", 0};
    if (is_series_table(t))
        dflt = (sb_value){(const uint8_t *)mp->nm.name, (int32_t)mp->nm.len};
    for (int i = 0; i < t->npk; i++)
        r->pk[i] = dflt;
    for (int i = 0; i < ntags; i++)
        r->pk[mp->slots[items[i].slot].pk_pos] =
            (sb_value){(const uint8_t *)items[i].v.p, items[i].len};
    uint8_t ck[8];
    put_be64(ck, (uint64_t)time_ms);
    sb_value ckv = {ck, 8};
    for (int i = 0; i < nfields; i++) {
        const item *it = &items[ntags + i];
        const slot *sl = &mp->slots[it->slot];
        sb_cell *c = &r->cells[i];
        c->col = sl->col_id;
        c->flags = 0;
        c->ts_us = ts_us;
        c->ttl_s = 0;
        c->elem = SB_VALUE_NULL;
        c->value = sl->type == SB_TYPE_TEXT ? (sb_value){(const uint8_t *)it->v.p, it->len}
                                            : (sb_value){it->v.inl, it->len};
    }
    char msg[SB_ERRMSG_SIZE];
    int rv = sb_wbatch_upsert(r->b, t, r->pk, &ckv, -1, 0, r->cells, nfields, r->now_s, msg);
    if (rv)
        return lfail(r, rv, line, "%s", msg);
    return 0;
}

static int add_point(req *r, const sb_lp_point *pt)
{
    int mpi = measurement_of(r, pt);
    if (mpi < 0)
        return mpi;
    mplan *mp = &r->mps[mpi];
    int line = pt->line;
    if (grow_arr((void **)&r->items, &r->items_cap, pt->ntags + pt->nfields, sizeof(item)))
        return nomem(r);
    uint32_t seq = ++r->seq;
    int ready = mp->t != NULL;
    if (pt->ntags == 0) {
        if (!mp->notag_line)
            mp->notag_line = line;
        if (mp->t && mp->t->npk == 1 && !is_series_table(mp->t))
            return empty_key_error(r, mp, mp->t->cols[0].name, line);
    }
    uint64_t series = hash_bytes(&mpi, sizeof mpi, 3);
    int n = 0;
    for (int i = 0; i < pt->ntags; i++) {
        const sb_lp_tag *tg = &pt->tags[i];
        int si = slot_of(r, mp, SLOT_TAG, i, tg->key, 0, line);
        if (si < 0)
            return si;
        slot *sl = &mp->slots[si];
        if (sl->stamp == seq)
            return lfail(r, SB_EINVALID, line, "duplicate tag key \"%s\"", sl->nm.name);
        sl->stamp = seq;
        if (tg->val.len > TAG_VALUE_MAX_BYTES)
            return lfail(r, SB_EINVALID, line, "value of tag \"%s\" is longer than %d bytes",
                         sl->nm.name, TAG_VALUE_MAX_BYTES);
        item *it = &r->items[n++];
        it->slot = si;
        if (!(it->v.p = unescaped(r, tg->val, SB_LP_ESC_KEY, &it->len)))
            return nomem(r);
        ready &= sl->exists;
        /* a sum, so the order the tags were written in does not matter */
        series += hash_bytes(it->v.p, (size_t)it->len, (uint64_t)si + 17);
    }
    int ntags = n;
    for (int i = 0; i < pt->nfields; i++) {
        const sb_lp_field *f = &pt->fields[i];
        int si = slot_of(r, mp, SLOT_FIELD, i, f->key, (int)f->type, line);
        if (si < 0)
            return si;
        slot *sl = &mp->slots[si];
        if (sl->type != cql_of((int)f->type)) {
            if (sl->exists)
                return lfail(r, SB_EINVALID, line,
                             "field type conflict: field \"%s\" of measurement \"%s\" is %s, "
                             "but column %s.%s.%s has type %s",
                             sl->nm.name, mp->nm.name, lptype_name((int)f->type), r->ks,
                             mp->nm.name, sl->nm.name, cql_name(sl->type));
            return lfail(r, SB_EINVALID, line,
                         "field type conflict: field \"%s\" of measurement \"%s\" is %s here "
                         "but %s in line %d",
                         sl->nm.name, mp->nm.name, lptype_name((int)f->type),
                         lptype_name(sl->lptype), sl->first_line);
        }
        item *it;
        if (sl->stamp == seq) {
            it = &r->items[sl->stamp_pos]; /* repeated field: the last one wins */
        } else {
            sl->stamp = seq;
            sl->stamp_pos = (uint32_t)n;
            it = &r->items[n++];
        }
        it->slot = si;
        switch (f->type) {
        case SB_LP_FLOAT: {
            uint64_t bits;
            memcpy(&bits, &f->v.f, 8);
            put_be64(it->v.inl, bits);
            it->len = 8;
            break;
        }
        case SB_LP_INT:
            put_be64(it->v.inl, (uint64_t)f->v.i);
            it->len = 8;
            break;
        case SB_LP_UINT:
            if (f->v.u > (uint64_t)INT64_MAX)
                return lfail(r, SB_EINVALID, line,
                             "unsigned value %llu of field \"%s\" does not fit the bigint "
                             "column (max 9223372036854775807)",
                             (unsigned long long)f->v.u, sl->nm.name);
            put_be64(it->v.inl, f->v.u);
            it->len = 8;
            break;
        case SB_LP_BOOL:
            it->v.inl[0] = (uint8_t)(f->v.b != 0);
            it->len = 1;
            break;
        case SB_LP_STRING:
            if (!(it->v.p = unescaped(r, f->v.s, SB_LP_ESC_STRING, &it->len)))
                return nomem(r);
            break;
        }
        ready &= sl->exists;
    }
    int nfields = n - ntags;
    int64_t time_ms = 0;
    uint32_t bump = 0;
    int rv = to_ms(r, pt, &time_ms);
    if (!rv)
        rv = dedupe(r, hash_bytes(&time_ms, 8, series), &bump);
    if (rv)
        return rv;
    int64_t ts_us = r->base_us + bump;
    r->npoints++;
    if (ready)
        return emit(r, mp, mp->t, r->items, ntags, nfields, time_ms, ts_us, line);
    /* kept for pass 2, after the DDL */
    size_t sz = sizeof(rec) + (size_t)n * sizeof(item);
    if (sb_buf_reserve(&r->recs, sz))
        return nomem(r);
    rec h = {mpi, (uint16_t)ntags, (uint16_t)nfields, line, 0, time_ms, ts_us};
    memcpy(r->recs.data + r->recs.len, &h, sizeof h);
    memcpy(r->recs.data + r->recs.len + sizeof h, r->items, (size_t)n * sizeof(item));
    r->recs.len += sz;
    r->nrecs++;
    return 0;
}

/* --- planning and DDL ---------------------------------------------------- */

static int cmp_slot_idx(const void *a, const void *b, void *arg)
{
    const slot *s = arg;
    return strcmp(s[*(const int *)a].nm.name, s[*(const int *)b].nm.name);
}

static int cmp_col_name(const void *a, const void *b)
{
    return strcmp(((const sb_column *)a)->name, ((const sb_column *)b)->name);
}

/* Indices of mp's slots of one kind, sorted by name; caller frees. */
static int *sorted_slots(const mplan *mp, int kind, int *n)
{
    int *idx = malloc(sizeof(int) * (size_t)(mp->nslots + 1));
    if (!idx)
        return NULL;
    *n = 0;
    for (int i = 0; i < mp->nslots; i++)
        if (mp->slots[i].kind == kind && !mp->slots[i].exists)
            idx[(*n)++] = i;
    qsort_r(idx, (size_t)*n, sizeof(int), cmp_slot_idx, mp->slots);
    return idx;
}

static int set_col(sb_column *c, const char *name, uint8_t type, sb_col_kind kind, int pos)
{
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    c->type = (sb_type){type, 0, 0, 0};
    c->kind = kind;
    c->position = pos;
    return c->name ? 0 : SB_ENOMEM;
}

/* Checks that only end-of-request facts can reveal. */
static int check_plan(req *r)
{
    for (int m = 0; m < r->nmps; m++) {
        mplan *mp = &r->mps[m];
        if (!mp->t && mp->ntagslots == 1 && mp->notag_line) {
            const slot *tag = &mp->slots[0];
            for (int i = 0; tag->kind != SLOT_TAG; i++)
                tag = &mp->slots[i];
            if (strcmp(tag->nm.name, SERIES_COL) != 0)
                return empty_key_error(r, mp, tag->nm.name, mp->notag_line);
        }
        if (mp->t || mp->ntagslots)
            continue;
        for (int i = 0; i < mp->nslots; i++)
            if (strcmp(mp->slots[i].nm.name, SERIES_COL) == 0)
                return lfail(r, SB_EINVALID, mp->slots[i].first_line,
                             "field \"series\" of measurement \"%s\" collides with the "
                             "partition key column \"series\" of measurements without tags",
                             mp->nm.name);
    }
    return 0;
}

static int create_table(req *r, mplan *mp)
{
    int ntag, nfield;
    int *tags = sorted_slots(mp, SLOT_TAG, &ntag);
    int *fields = sorted_slots(mp, SLOT_FIELD, &nfield);
    sb_table *t = calloc(1, sizeof(*t));
    int npk = ntag ? ntag : 1;
    if (!tags || !fields || !t)
        goto fail;
    t->keyspace = strdup(r->ks);
    t->name = strdup(mp->nm.name);
    t->compaction = SB_COMPACTION_STCS;
    t->compaction_json = strdup("{\"class\":\"SizeTieredCompactionStrategy\"}");
    t->comment = strdup("");
    t->gc_grace_s = 864000;
    t->cols = calloc((size_t)(npk + 1 + nfield), sizeof(sb_column));
    if (!t->keyspace || !t->name || !t->compaction_json || !t->comment || !t->cols)
        goto fail;
    t->npk = npk;
    t->nck = 1;
    for (int i = 0; i < npk; i++, t->ncols++)
        if (set_col(&t->cols[i], ntag ? mp->slots[tags[i]].nm.name : SERIES_COL, SB_TYPE_TEXT,
                    SB_COL_PARTITION, i))
            goto fail;
    if (set_col(&t->cols[t->ncols++], TIME_COL, SB_TYPE_TIMESTAMP, SB_COL_CLUSTERING, 0))
        goto fail;
    for (int i = 0; i < nfield; i++, t->ncols++)
        if (set_col(&t->cols[t->ncols], mp->slots[fields[i]].nm.name, mp->slots[fields[i]].type,
                    SB_COL_REGULAR, 0))
            goto fail;
    free(tags);
    free(fields);
    return sb_store_create_table(r->s, t, r->errmsg);
fail:
    free(tags);
    free(fields);
    sb_table_free(t);
    return nomem(r);
}

static int alter_table(req *r, mplan *mp)
{
    const sb_table *cur = sb_schema_table(sb_store_schema(r->s), r->ks, mp->nm.name);
    if (!cur)
        return sb_seterr(r->errmsg, SB_ESERVER, "table %s.%s vanished", r->ks, mp->nm.name);
    int nfield;
    int *fields = sorted_slots(mp, SLOT_FIELD, &nfield);
    sb_table *t = sb_table_clone(cur);
    sb_column *cols = t ? realloc(t->cols, sizeof(sb_column) * (size_t)(t->ncols + nfield)) : NULL;
    if (!fields || !cols) {
        free(fields);
        sb_table_free(t);
        return nomem(r);
    }
    t->cols = cols;
    for (int i = 0; i < nfield; i++, t->ncols++) {
        if (set_col(&t->cols[t->ncols], mp->slots[fields[i]].nm.name, mp->slots[fields[i]].type,
                    SB_COL_REGULAR, 0)) {
            free(fields);
            sb_table_free(t);
            return nomem(r);
        }
    }
    free(fields);
    int first = t->npk + t->nck;
    qsort(t->cols + first, (size_t)(t->ncols - first), sizeof(sb_column), cmp_col_name);
    return sb_store_alter_table(r->s, t, r->errmsg);
}

/* --- schema changes as CQL (through the cluster's metadata group) ------ */

static int put_ident(sb_buf *b, const char *name)
{
    int rc = sb_buf_putc(b, '"');
    for (const char *p = name; rc == 0 && *p; p++)
        rc = *p == '"' ? sb_buf_append(b, "\"\"", 2) : sb_buf_putc(b, (uint8_t)*p);
    return rc ? rc : sb_buf_putc(b, '"');
}

/* Ends one statement in r->ddl_out (statements are NUL-terminated). */
static int end_stmt(sb_buf *b)
{
    return sb_buf_putc(b, 0);
}

/* The keyspace, tables and columns this request needs, as CQL statements
 * that make exactly what run_ddl would (IF NOT EXISTS: another request may
 * have made them meanwhile). */
static int plan_cql(req *r)
{
    sb_buf *b = r->ddl_out;
    int rc = 0;
    if (!r->ks_exists) {
        rc = sb_buf_printf(b, "CREATE KEYSPACE IF NOT EXISTS ");
        rc = rc ? rc : put_ident(b, r->ks);
        rc = rc ? rc
                : sb_buf_printf(b, " WITH replication = {'class': 'SimpleStrategy', "
                                   "'replication_factor': '1'}");
        rc = rc ? rc : end_stmt(b);
    }
    for (int m = 0; rc == 0 && m < r->nmps; m++) {
        mplan *mp = &r->mps[m];
        if (!mp->t) {
            int ntag, nfield;
            int *tags = sorted_slots(mp, SLOT_TAG, &ntag);
            int *fields = sorted_slots(mp, SLOT_FIELD, &nfield);
            if (!tags || !fields) {
                free(tags);
                free(fields);
                return nomem(r);
            }
            rc = sb_buf_printf(b, "CREATE TABLE IF NOT EXISTS ");
            rc = rc ? rc : put_ident(b, r->ks);
            rc = rc ? rc : sb_buf_putc(b, '.');
            rc = rc ? rc : put_ident(b, mp->nm.name);
            rc = rc ? rc : sb_buf_printf(b, " (");
            for (int i = 0; rc == 0 && i < ntag; i++) {
                rc = put_ident(b, mp->slots[tags[i]].nm.name);
                rc = rc ? rc : sb_buf_printf(b, " text, ");
            }
            if (rc == 0 && ntag == 0)
                rc = sb_buf_printf(b, "\"%s\" text, ", SERIES_COL);
            rc = rc ? rc : sb_buf_printf(b, "\"%s\" timestamp", TIME_COL);
            for (int i = 0; rc == 0 && i < nfield; i++) {
                rc = sb_buf_printf(b, ", ");
                rc = rc ? rc : put_ident(b, mp->slots[fields[i]].nm.name);
                rc = rc ? rc : sb_buf_printf(b, " %s", sb_type_id_name(mp->slots[fields[i]].type));
            }
            rc = rc ? rc : sb_buf_printf(b, ", PRIMARY KEY ((");
            for (int i = 0; rc == 0 && i < ntag; i++) {
                rc = i ? sb_buf_printf(b, ", ") : 0;
                rc = rc ? rc : put_ident(b, mp->slots[tags[i]].nm.name);
            }
            if (rc == 0 && ntag == 0)
                rc = sb_buf_printf(b, "\"%s\"", SERIES_COL);
            rc = rc ? rc
                    : sb_buf_printf(b,
                                    "), \"%s\")) WITH compaction = {'class': "
                                    "'SizeTieredCompactionStrategy'} AND "
                                    "gc_grace_seconds = 864000",
                                    TIME_COL);
            rc = rc ? rc : end_stmt(b);
            free(tags);
            free(fields);
        } else if (mp->new_cols) {
            int nfield;
            int *fields = sorted_slots(mp, SLOT_FIELD, &nfield);
            if (!fields)
                return nomem(r);
            for (int i = 0; rc == 0 && i < nfield; i++) {
                rc = sb_buf_printf(b, "ALTER TABLE ");
                rc = rc ? rc : put_ident(b, r->ks);
                rc = rc ? rc : sb_buf_putc(b, '.');
                rc = rc ? rc : put_ident(b, mp->nm.name);
                rc = rc ? rc : sb_buf_printf(b, " ADD ");
                rc = rc ? rc : put_ident(b, mp->slots[fields[i]].nm.name);
                rc = rc ? rc : sb_buf_printf(b, " %s", sb_type_id_name(mp->slots[fields[i]].type));
                rc = rc ? rc : end_stmt(b);
            }
            free(fields);
        }
    }
    return rc ? nomem(r) : 0;
}

static int run_ddl(req *r)
{
    int rv;
    if (!r->ks_exists) {
        sb_keyspace *k = calloc(1, sizeof(*k));
        if (!k || !(k->name = strdup(r->ks)) ||
            !(k->replication_json = strdup(KEYSPACE_REPLICATION))) {
            sb_keyspace_free(k);
            return nomem(r);
        }
        k->durable_writes = 1;
        if ((rv = sb_store_create_keyspace(r->s, k, r->errmsg)))
            return rv;
    }
    for (int m = 0; m < r->nmps; m++) {
        mplan *mp = &r->mps[m];
        if (!mp->t)
            rv = create_table(r, mp);
        else if (mp->new_cols)
            rv = alter_table(r, mp);
        else
            continue;
        if (rv)
            return rv;
    }
    /* Every schema pointer may have changed: look the tables up again and
     * give the new slots their column ids and key positions. */
    const sb_schema *sc = sb_store_schema(r->s);
    for (int m = 0; m < r->nmps; m++) {
        mplan *mp = &r->mps[m];
        mp->t = sb_schema_table(sc, r->ks, mp->nm.name);
        if (!mp->t)
            return sb_seterr(r->errmsg, SB_ESERVER, "table %s.%s missing after DDL", r->ks,
                             mp->nm.name);
        for (int i = 0; i < mp->nslots; i++) {
            slot *sl = &mp->slots[i];
            const sb_column *c = sb_table_column(mp->t, sl->nm.name);
            sb_col_kind want = sl->kind == SLOT_TAG ? SB_COL_PARTITION : SB_COL_REGULAR;
            if (!c || c->kind != want)
                return sb_seterr(r->errmsg, SB_ESERVER,
                                 "column %s of table %s.%s missing after DDL", sl->nm.name, r->ks,
                                 mp->nm.name);
            sl->pk_pos = c->position;
            sl->col_id = c->id;
        }
    }
    return 0;
}

static int replay(req *r)
{
    size_t off = 0;
    for (size_t i = 0; i < r->nrecs; i++) {
        rec h;
        memcpy(&h, r->recs.data + off, sizeof h);
        const item *items = (const item *)(r->recs.data + off + sizeof h);
        const mplan *mp = &r->mps[h.mp];
        int rv = emit(r, mp, mp->t, items, h.ntags, h.nfields, h.time_ms, h.ts_us, h.line);
        if (rv)
            return rv;
        off += sizeof h + (size_t)(h.ntags + h.nfields) * sizeof(item);
    }
    return 0;
}

/* --- entry point --------------------------------------------------------- */

static int check_bucket(const char *b, char *errmsg)
{
    size_t n = b ? strlen(b) : 0;
    if (n == 0)
        return sb_seterr(errmsg, SB_EINVALID, "missing bucket (the keyspace to write to)");
    int ok = n <= 48;
    for (size_t i = 0; ok && i < n; i++) {
        char c = b[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (!ok)
        return sb_seterr(errmsg, SB_EINVALID,
                         "invalid bucket \"%.64s\": a bucket is a keyspace name, 1 to 48 "
                         "letters, digits or underscores",
                         b);
    if (strncasecmp(b, "system", 6) == 0)
        return sb_seterr(errmsg, SB_EINVALID,
                         "bucket \"%s\" is a system keyspace; line protocol cannot write to it", b);
    return 0;
}

static int parse_precision(const char *p, int *out, char *errmsg)
{
    if (!p || !*p || strcmp(p, "ns") == 0)
        *out = PREC_NS;
    else if (strcmp(p, "us") == 0)
        *out = PREC_US;
    else if (strcmp(p, "ms") == 0)
        *out = PREC_MS;
    else if (strcmp(p, "s") == 0)
        *out = PREC_S;
    else
        return sb_seterr(errmsg, SB_EINVALID,
                         "invalid precision \"%.32s\": must be ns, us, ms or s", p);
    return 0;
}

static void req_free(req *r)
{
    for (int m = 0; m < r->nmps; m++) {
        mplan *mp = &r->mps[m];
        for (int i = 0; i < mp->nslots; i++)
            free(mp->slots[i].nm.name);
        free(mp->slots);
        free(mp->ix.tab);
        free(mp->tc);
        free(mp->fc);
        free(mp->nm.name);
    }
    free(r->mps);
    free(r->ix.tab);
    sb_arena_close(&r->strs);
    free(r->items);
    sb_buf_free(&r->recs);
    free(r->dd);
    free(r->dd_cnt);
    free(r->pk);
    free(r->cells);
    if (r->b)
        sb_wbatch_free(r->b);
}

/* Receipt time; write timestamps strictly increase across requests. */
static void take_time(req *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    r->now_ms = now_us / 1000;
    r->now_s = ts.tv_sec;
    r->base_us = sb_hlc_now(sb_hlc_node()); /* the node's hybrid clock */
}

static int ingest(req *r, const char *body, size_t len)
{
    int rv;
    if (len > SB_INGEST_MAX_BODY_BYTES)
        return sb_seterr(r->errmsg, SB_ETOOBIG, "request body is larger than %zu bytes",
                         SB_INGEST_MAX_BODY_BYTES);
    r->schema = sb_store_schema(r->s);
    r->ks_exists = sb_schema_keyspace(r->schema, r->ks) != NULL;
    if (!(r->b = r->to_hook ? sb_wbatch_new_mutation() : sb_wbatch_new()))
        return nomem(r);
    take_time(r);
    sb_lp_parser ps;
    sb_lp_point pt;
    sb_lp_parser_init(&ps, body, len);
    while ((rv = sb_lp_next(&ps, &pt, r->errmsg)) == 1)
        if ((rv = add_point(r, &pt)))
            break;
    sb_lp_parser_free(&ps);
    if (rv)
        return rv;
    if (r->npoints == 0)
        return sb_seterr(r->errmsg, SB_EINVALID, "no points in request body");
    if ((rv = check_plan(r)))
        return rv;
    if (r->nrecs && r->ddl_out) {
        /* the schema changes go through the cluster first; nothing is
         * written this round */
        sb_buf_reset(r->ddl_out);
        return (rv = plan_cql(r)) ? rv : SB_INGEST_NEEDS_SCHEMA;
    }
    if (r->nrecs) {
        if ((rv = run_ddl(r)) || (rv = replay(r)))
            return rv;
    }
    /* Later requests start above every timestamp this one used. */
    sb_hlc_update(sb_hlc_node(), r->base_us + r->max_bump);
    return 0;
}

/* A request's state, counted; parse() then fills r->b for the caller to
 * send, and finish() counts the outcome and frees the rest. */
static void prepare(req *r, sb_store *s, const char *bucket, char *errmsg)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->ks = bucket;
    r->last_mp = -1;
    r->errmsg = errmsg;
    sb_buf_init(&r->recs);
    sb_arena_init(&r->strs, 65536, 0);
    atomic_fetch_add(&st_requests, 1);
}

static int parse(req *r, const char *bucket, const char *precision, const char *body, size_t len)
{
    int rv = check_bucket(bucket, r->errmsg);
    if (!rv)
        rv = parse_precision(precision, &r->prec, r->errmsg);
    if (!rv)
        rv = ingest(r, body, len);
    return rv;
}

static int finish(req *r, int rv, size_t len)
{
    if (rv == SB_INGEST_NEEDS_SCHEMA) {
        /* counted when it is sent again */
    } else if (rv) {
        atomic_fetch_add(&st_rejected, 1);
    } else {
        atomic_fetch_add(&st_points, r->npoints);
        atomic_fetch_add(&st_bytes, len);
    }
    req_free(r);
    return rv;
}

int sb_ingest_write(sb_store *s, const char *bucket, const char *precision, const char *body,
                    size_t len, sb_write_cb cb, void *arg, char *errmsg)
{
    req r;
    prepare(&r, s, bucket, errmsg);
    int rv = parse(&r, bucket, precision, body, len);
    if (!rv) {
        sb_wbatch *b = r.b;
        r.b = NULL; /* the store owns it from here, whatever happens */
        if (cb) {
            rv = sb_store_write(s, b, cb, arg);
            if (rv == SB_EOVERLOADED)
                sb_seterr(errmsg, rv, "overloaded: the commit queue is full, retry later");
            else if (rv)
                sb_seterr(errmsg, rv, "write failed: %s", sb_strerror(rv));
        } else {
            rv = sb_store_write_sync(s, b, errmsg);
        }
    }
    return finish(&r, rv, len);
}

int sb_ingest_write_to(sb_store *s, sb_write_fn fn, void *fn_arg, int consistency,
                       const char *bucket, const char *precision, const char *body, size_t len,
                       sb_write_done_fn cb, void *arg, char *errmsg)
{
    return sb_ingest_write_cluster(s, fn, fn_arg, consistency, bucket, precision, body, len, NULL,
                                   cb, arg, errmsg);
}

int sb_ingest_write_cluster(sb_store *s, sb_write_fn fn, void *fn_arg, int consistency,
                            const char *bucket, const char *precision, const char *body, size_t len,
                            sb_buf *ddl, sb_write_done_fn cb, void *arg, char *errmsg)
{
    req r;
    prepare(&r, s, bucket, errmsg);
    r.ddl_out = ddl;
    r.to_hook = 1; /* only the mutation: the replicas build the RocksDB batches */
    int rv = parse(&r, bucket, precision, body, len);
    if (!rv) {
        sb_wbatch *b = r.b;
        r.b = NULL; /* fn takes it, whatever happens */
        rv = fn(fn_arg, b, consistency, "UNLOGGED_BATCH", cb, arg);
        if (rv == SB_EOVERLOADED)
            sb_seterr(errmsg, rv, "overloaded: too many writes in flight, retry later");
        else if (rv)
            sb_seterr(errmsg, rv, "write failed: %s", sb_strerror(rv));
    }
    return finish(&r, rv, len);
}

void sb_ingest_get_stats(sb_ingest_stats *st)
{
    st->requests = atomic_load(&st_requests);
    st->rejected_requests = atomic_load(&st_rejected);
    st->points = atomic_load(&st_points);
    st->bytes = atomic_load(&st_bytes);
}
