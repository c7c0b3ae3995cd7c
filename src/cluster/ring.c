/*
 * The token ring (ring.h): an immutable snapshot of who owns which tokens,
 * the replication strategies, ownership and token allocation.
 *
 * NOTES ON THE DESIGN
 *
 * Layout. A ring is built once and never changes, so everything a lookup
 * needs is laid out at build time:
 *   - nodes sorted by endpoint (duplicate endpoints: the first one given
 *     wins), each with the tokens it actually owns on the ring, sorted;
 *   - the global token array, sorted and unique, with its owners;
 *   - per datacenter a sub-ring: the tokens of that datacenter's nodes
 *     (sorted), their owners and their index in the global array, plus
 *     the number of owning nodes and of distinct racks in it;
 *   - per node its datacenter and a ring-wide rack id ((dc, rack) pairs).
 *
 * Lookups. A replica lookup is one binary search of the token, then a
 * clockwise walk that stops as soon as the strategy is satisfied:
 *   SimpleStrategy walks the global ring for min(rf, owners) distinct
 *     nodes (the distinct check is a scan of at most rf entries);
 *   NetworkTopologyStrategy binary-searches each wanted datacenter's
 *     sub-ring and walks only that datacenter's tokens, with two stack
 *     bitmaps (nodes seen, racks seen) that are cleared word by word for
 *     the ring's size only. It follows Cassandra's rule: a node on a rack
 *     not yet used is taken; a node on a used rack is set aside while some
 *     rack of the datacenter is still unused; the moment the last rack is
 *     seen the set-aside nodes are taken in walk order, and from then on
 *     every new node is taken. Replicas of all datacenters are then merged
 *     into global walk order (a set-aside node ranks where the walk took
 *     it, as in Cassandra's insertion order).
 * Invariant: a walk never visits a token twice, so every lookup is bounded
 * by one pass over the (sub-)ring, and ends much earlier in practice.
 *
 * Plans. All keys of one range have the same replicas, so the first
 * lookup with a strategy walks once per range and caches the result per
 * token index (a "plan", up to RING_PLANS strategies per ring, published
 * with compare-and-swap so concurrent readers are safe); later lookups are
 * a binary search and a copy of at most rf entries. Strategies beyond the
 * cache, or plans too large for it, fall back to the walk.
 *
 * Allocation. The first node of a datacenter gets evenly spaced tokens
 * from a random offset. Later nodes are greedy: each token goes into a
 * range of the datacenter's most loaded node (at random among its ranges
 * at least ALLOC_NEAR as wide as its widest, so the new node's tokens
 * spread round the ring) and takes what the new node still lacks towards
 * 1/(owners + 1), spread over its remaining tokens. This balances primary
 * ownership per datacenter (bench_ring: max/min 1.065 at 5 nodes x 16
 * tokens); it does not model replication, so effective ownership at rf 3
 * is spread about as with random tokens (max/min ~1.2).
 *
 * Token arithmetic. Ranges are measured as uint64 differences modulo
 * 2^64 (a ring with one token owns the whole 2^64 space). INT64_MIN is
 * the partitioner's minimum token: no key hashes to it (murmur3.h maps it
 * to INT64_MAX), so allocation never hands it out.
 */
#include "cluster/ring.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* Bounds the lookup bitmaps on the stack and fits node indexes in the
 * uint16 plans; sb_ring_build gives NULL for more nodes. */
#define RING_MAX_NODES 16384
#define RING_PLANS 8                    /* strategies cached per ring */
#define RING_PLAN_MAX_ENTRIES (1 << 20) /* larger plans are not cached (2 MB) */
#define TWO64 18446744073709551616.0
#define QUALIFIED_PREFIX "org.apache.cassandra.locator."

typedef struct ring_dc {
    char name[SB_DC_MAX];
    int nowners; /* nodes of this dc that own at least one token */
    int nracks;  /* distinct racks among them */
    int ntok;
    int64_t *tok;  /* sorted */
    int32_t *own;  /* node index */
    int32_t *gidx; /* index in the global token array */
} ring_dc;

/* The replicas of every range for one strategy, built on first use. */
typedef struct ring_plan {
    sb_repl key;
    int stride;
    uint8_t *cnt;   /* per token index */
    uint16_t *reps; /* per token index, stride node indexes */
} ring_plan;

struct sb_ring {
    int n;
    sb_ring_node *nodes;
    int32_t *node_dc;   /* dc index of each node */
    int32_t *node_rack; /* ring-wide rack id of each node */
    int nracks;
    int nowners;
    int ntok;
    int64_t *tok;
    int32_t *own;
    int ndc;
    ring_dc *dcs;
    int64_t *storage;  /* node token slices, then dc sub-ring tokens */
    int32_t *istorage; /* dc owners and global indexes */
    _Atomic(ring_plan *) plans[RING_PLANS];
};

/* --- build ---------------------------------------------------------------- */

typedef struct in_node {
    const sb_ring_node *n;
    int idx;
} in_node;

typedef struct tok_pair {
    int64_t t;
    int32_t node;
} tok_pair;

static int cmp_in_node(const void *a, const void *b)
{
    const in_node *x = a, *y = b;
    int c = sb_ep_cmp(&x->n->ep, &y->n->ep);
    if (c)
        return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_tok_pair(const void *a, const void *b)
{
    const tok_pair *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Index of the first element >= t in sorted a[0..n), or n. Branch-free
 * halving: on random keys a mispredicted branch per level costs more than
 * the conditional move. */
static int lower_bound(const int64_t *a, int n, int64_t t)
{
    if (n == 0)
        return 0;
    const int64_t *base = a;
    while (n > 1) {
        int half = n / 2;
        base = base[half] < t ? base + half : base;
        n -= half;
    }
    return (int)(base - a) + (*base < t);
}

static int dc_index(const sb_ring *r, const char *dc)
{
    for (int i = 0; i < r->ndc; i++)
        if (strcmp(r->dcs[i].name, dc) == 0)
            return i;
    return -1;
}

/* Assigns datacenter and ring-wide rack ids; fills per-dc counts. */
static int index_topology(sb_ring *r, const int *ntok_of)
{
    /* (dc, rack) names of rack ids, found by linear search: topology
     * sizes are small and this runs once per build. */
    int *rack_dc = malloc(sizeof(int) * (size_t)(r->n ? r->n : 1));
    int *rack_first = malloc(sizeof(int) * (size_t)(r->n ? r->n : 1));
    if (!rack_dc || !rack_first)
        goto fail;
    for (int i = 0; i < r->n; i++) {
        const sb_ring_node *nd = &r->nodes[i];
        int d = dc_index(r, nd->dc);
        if (d < 0) {
            d = r->ndc++;
            memset(&r->dcs[d], 0, sizeof r->dcs[d]);
            memcpy(r->dcs[d].name, nd->dc, SB_DC_MAX);
        }
        r->node_dc[i] = d;
        int k;
        for (k = 0; k < r->nracks; k++)
            if (rack_dc[k] == d && strcmp(r->nodes[rack_first[k]].rack, nd->rack) == 0)
                break;
        if (k == r->nracks) {
            rack_dc[k] = d;
            rack_first[k] = i;
            r->nracks++;
        }
        r->node_rack[i] = k;
    }
    /* Only nodes that own tokens count towards a dc's nodes and racks. */
    char *rack_counted = calloc((size_t)(r->nracks ? r->nracks : 1), 1);
    if (!rack_counted)
        goto fail;
    for (int i = 0; i < r->n; i++) {
        if (!ntok_of[i])
            continue;
        ring_dc *d = &r->dcs[r->node_dc[i]];
        d->nowners++;
        r->nowners++;
        if (!rack_counted[r->node_rack[i]]) {
            rack_counted[r->node_rack[i]] = 1;
            d->nracks++;
        }
    }
    free(rack_counted);
    free(rack_dc);
    free(rack_first);
    return 0;
fail:
    free(rack_dc);
    free(rack_first);
    return SB_ENOMEM;
}

sb_ring *sb_ring_build(const sb_ring_node *nodes, int n)
{
    sb_ring *r = calloc(1, sizeof *r);
    in_node *in = NULL;
    tok_pair *pairs = NULL;
    int *ntok_of = NULL;
    if (!r || n < 0 || n > RING_MAX_NODES)
        goto fail;

    /* Nodes by endpoint; a repeated endpoint keeps its first entry. */
    in = malloc(sizeof *in * (size_t)(n ? n : 1));
    r->nodes = malloc(sizeof *r->nodes * (size_t)(n ? n : 1));
    if (!in || !r->nodes)
        goto fail;
    for (int i = 0; i < n; i++)
        in[i] = (in_node){&nodes[i], i};
    qsort(in, (size_t)n, sizeof *in, cmp_in_node);
    size_t npairs = 0;
    for (int i = 0; i < n; i++) {
        if (r->n > 0 && sb_ep_eq(&r->nodes[r->n - 1].ep, &in[i].n->ep))
            continue;
        sb_ring_node *nd = &r->nodes[r->n++];
        *nd = *in[i].n;
        nd->dc[SB_DC_MAX - 1] = 0;
        nd->rack[SB_DC_MAX - 1] = 0;
        if (nd->ntokens < 0 || (nd->ntokens > 0 && !nd->tokens))
            nd->ntokens = 0;
        npairs += (size_t)nd->ntokens;
    }

    /* Global tokens; a token claimed twice goes to the first node in ep
     * order (pairs sort by token, then node index). */
    pairs = malloc(sizeof *pairs * (npairs ? npairs : 1));
    ntok_of = calloc((size_t)(r->n ? r->n : 1), sizeof *ntok_of);
    if (!pairs || !ntok_of)
        goto fail;
    size_t np = 0;
    for (int i = 0; i < r->n; i++)
        for (int k = 0; k < r->nodes[i].ntokens; k++)
            pairs[np++] = (tok_pair){r->nodes[i].tokens[k], i};
    qsort(pairs, np, sizeof *pairs, cmp_tok_pair);
    size_t nu = 0;
    for (size_t i = 0; i < np; i++)
        if (nu == 0 || pairs[nu - 1].t != pairs[i].t)
            pairs[nu++] = pairs[i];
    r->ntok = (int)nu;
    for (size_t i = 0; i < nu; i++)
        ntok_of[pairs[i].node]++;

    /* One int64 block: global tokens, node slices, dc sub-rings (each
     * ntok long); one int32 block: global owners, dc owners, dc gidx. */
    size_t nt = nu ? nu : 1;
    r->storage = malloc(sizeof(int64_t) * nt * 3);
    r->istorage = malloc(sizeof(int32_t) * nt * 3);
    r->node_dc = malloc(sizeof(int32_t) * (size_t)(r->n ? r->n : 1));
    r->node_rack = malloc(sizeof(int32_t) * (size_t)(r->n ? r->n : 1));
    r->dcs = malloc(sizeof *r->dcs * (size_t)(r->n ? r->n : 1));
    if (!r->storage || !r->istorage || !r->node_dc || !r->node_rack || !r->dcs)
        goto fail;
    r->tok = r->storage;
    r->own = r->istorage;
    int64_t *slices = r->storage + nt;
    int64_t *dctok = r->storage + 2 * nt;
    int32_t *dcown = r->istorage + nt;
    int32_t *dcgidx = r->istorage + 2 * nt;

    int64_t **fill = malloc(sizeof *fill * (size_t)(r->n ? r->n : 1));
    if (!fill)
        goto fail;
    int64_t *p = slices;
    for (int i = 0; i < r->n; i++) {
        r->nodes[i].tokens = p;
        r->nodes[i].ntokens = ntok_of[i];
        fill[i] = p;
        p += ntok_of[i];
    }
    for (size_t i = 0; i < nu; i++) {
        r->tok[i] = pairs[i].t;
        r->own[i] = pairs[i].node;
        *fill[pairs[i].node]++ = pairs[i].t;
    }
    free(fill);

    if (index_topology(r, ntok_of) < 0)
        goto fail;
    /* Sub-rings: count per dc, then place tokens in global order. */
    int *dcpos = calloc((size_t)(r->ndc ? r->ndc : 1), sizeof *dcpos);
    if (!dcpos)
        goto fail;
    for (size_t i = 0; i < nu; i++)
        r->dcs[r->node_dc[r->own[i]]].ntok++;
    int off = 0;
    for (int d = 0; d < r->ndc; d++) {
        r->dcs[d].tok = dctok + off;
        r->dcs[d].own = dcown + off;
        r->dcs[d].gidx = dcgidx + off;
        off += r->dcs[d].ntok;
    }
    for (size_t i = 0; i < nu; i++) {
        ring_dc *d = &r->dcs[r->node_dc[r->own[i]]];
        int j = dcpos[d - r->dcs]++;
        d->tok[j] = r->tok[i];
        d->own[j] = r->own[i];
        d->gidx[j] = (int32_t)i;
    }
    free(dcpos);
    free(in);
    free(pairs);
    free(ntok_of);
    return r;
fail:
    free(in);
    free(pairs);
    free(ntok_of);
    sb_ring_free(r);
    return NULL;
}

void sb_ring_free(sb_ring *r)
{
    if (!r)
        return;
    free(r->nodes);
    free(r->node_dc);
    free(r->node_rack);
    free(r->dcs);
    free(r->storage);
    free(r->istorage);
    for (int i = 0; i < RING_PLANS; i++) {
        ring_plan *pl = atomic_load_explicit(&r->plans[i], memory_order_acquire);
        if (pl) {
            free(pl->cnt);
            free(pl->reps);
            free(pl);
        }
    }
    free(r);
}

int sb_ring_nnodes(const sb_ring *r)
{
    return r ? r->n : 0;
}

const sb_ring_node *sb_ring_node_at(const sb_ring *r, int i)
{
    SB_ASSERT(r && i >= 0 && i < r->n);
    return &r->nodes[i];
}

int sb_ring_find(const sb_ring *r, const sb_ep *ep)
{
    if (!r)
        return -1;
    int lo = 0, hi = r->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = sb_ep_cmp(&r->nodes[mid].ep, ep);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int sb_ring_ntokens(const sb_ring *r)
{
    return r ? r->ntok : 0;
}

int64_t sb_ring_token_at(const sb_ring *r, int i)
{
    SB_ASSERT(r && i >= 0 && i < r->ntok);
    return r->tok[i];
}

int sb_ring_owner_at(const sb_ring *r, int i)
{
    SB_ASSERT(r && i >= 0 && i < r->ntok);
    return r->own[i];
}

/* --- replication options -------------------------------------------------- */

/* A replication factor given as "3" or 3. */
static int parse_rf(json_t *v, const char *what, int *out, char *errmsg)
{
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strchr(s, '/'))
            return sb_seterr(errmsg, SB_ECONFIG,
                             "%s: transient replication ('%s') is not supported", what, s);
        char *end;
        if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
            goto bad;
        x = strtoll(s, &end, 10);
        if (*end)
            goto bad;
    } else {
        goto bad;
    }
    if (x < 0)
        return sb_seterr(errmsg, SB_ECONFIG, "%s must be non-negative, got %lld", what, x);
    if (x > SB_MAX_REPLICAS)
        return sb_seterr(errmsg, SB_ECONFIG, "%s %lld exceeds the maximum of %d", what, x,
                         SB_MAX_REPLICAS);
    *out = (int)x;
    return 0;
bad:
    if (json_is_string(v))
        return sb_seterr(errmsg, SB_ECONFIG, "%s must be an integer, got '%s'", what,
                         json_string_value(v));
    return sb_seterr(errmsg, SB_ECONFIG, "%s must be an integer", what);
}

static int parse_simple(json_t *o, sb_repl *out, char *errmsg)
{
    const char *key;
    json_t *v;
    int have = 0;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "class") == 0)
            continue;
        if (strcmp(key, "replication_factor") != 0)
            return sb_seterr(errmsg, SB_ECONFIG,
                             "unrecognized option '%s' for SimpleStrategy (only "
                             "replication_factor)",
                             key);
        int rc = parse_rf(v, "replication_factor", &out->rf, errmsg);
        if (rc < 0)
            return rc;
        have = 1;
    }
    if (!have)
        return sb_seterr(errmsg, SB_ECONFIG,
                         "SimpleStrategy requires a 'replication_factor' option");
    out->kind = SB_REPL_SIMPLE;
    return 0;
}

static int parse_nts(json_t *o, sb_repl *out, char *errmsg)
{
    const char *key;
    json_t *v;
    int total = 0;
    out->kind = SB_REPL_NTS;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "class") == 0)
            continue;
        if (strcmp(key, "replication_factor") == 0)
            return sb_seterr(errmsg, SB_ECONFIG,
                             "NetworkTopologyStrategy takes a replication factor per "
                             "datacenter ({\"dc1\": \"3\"}), not 'replication_factor'");
        if (!*key)
            return sb_seterr(errmsg, SB_ECONFIG, "empty datacenter name in replication options");
        if (strlen(key) >= SB_DC_MAX)
            return sb_seterr(errmsg, SB_ECONFIG, "datacenter name '%.40s...' is longer than %d",
                             key, SB_DC_MAX - 1);
        if (out->ndcs == SB_MAX_DCS)
            return sb_seterr(errmsg, SB_ECONFIG, "more than %d datacenters in replication options",
                             SB_MAX_DCS);
        char what[SB_DC_MAX + 48];
        snprintf(what, sizeof what, "replication factor of datacenter '%s'", key);
        int rf;
        int rc = parse_rf(v, what, &rf, errmsg);
        if (rc < 0)
            return rc;
        total += rf;
        if (total > SB_MAX_REPLICAS)
            return sb_seterr(errmsg, SB_ECONFIG,
                             "total replication factor exceeds the maximum of %d", SB_MAX_REPLICAS);
        snprintf(out->dcs[out->ndcs].dc, SB_DC_MAX, "%s", key);
        out->dcs[out->ndcs].rf = rf;
        out->ndcs++;
    }
    return 0;
}

int sb_repl_parse(const char *json, sb_repl *out, char *errmsg)
{
    memset(out, 0, sizeof *out);
    if (!json)
        return sb_seterr(errmsg, SB_ECONFIG, "replication options missing");
    json_error_t jerr;
    json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return sb_seterr(errmsg, SB_ECONFIG,
                         "replication options: bad JSON at line %d column %d: %s", jerr.line,
                         jerr.column, jerr.text);
    int rc;
    if (!json_is_object(o)) {
        rc = sb_seterr(errmsg, SB_ECONFIG, "replication options must be a JSON object");
        goto done;
    }
    json_t *cls = json_object_get(o, "class");
    if (!cls) {
        rc = sb_seterr(errmsg, SB_ECONFIG, "replication options need a 'class'");
        goto done;
    }
    if (!json_is_string(cls)) {
        rc = sb_seterr(errmsg, SB_ECONFIG, "replication 'class' must be a string");
        goto done;
    }
    const char *name = json_string_value(cls);
    if (strncmp(name, QUALIFIED_PREFIX, strlen(QUALIFIED_PREFIX)) == 0)
        name += strlen(QUALIFIED_PREFIX);
    if (strcmp(name, "SimpleStrategy") == 0) {
        rc = parse_simple(o, out, errmsg);
    } else if (strcmp(name, "NetworkTopologyStrategy") == 0) {
        rc = parse_nts(o, out, errmsg);
    } else if (strcmp(name, "LocalStrategy") == 0) {
        out->kind = SB_REPL_LOCAL;
        rc = 0;
    } else {
        rc = sb_seterr(errmsg, SB_ECONFIG,
                       "unknown replication class '%s' (expected SimpleStrategy, "
                       "NetworkTopologyStrategy or LocalStrategy)",
                       json_string_value(cls));
    }
done:
    json_decref(o);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int sb_repl_total(const sb_repl *p)
{
    switch (p->kind) {
    case SB_REPL_SIMPLE:
        return p->rf;
    case SB_REPL_NTS: {
        int t = 0;
        for (int i = 0; i < p->ndcs; i++)
            t += p->dcs[i].rf;
        return t;
    }
    case SB_REPL_LOCAL:
        return 1;
    }
    return 0;
}

int sb_repl_dc(const sb_repl *p, const char *dc)
{
    switch (p->kind) {
    case SB_REPL_SIMPLE:
        return p->rf;
    case SB_REPL_NTS:
        for (int i = 0; i < p->ndcs; i++)
            if (strcmp(p->dcs[i].dc, dc) == 0)
                return p->dcs[i].rf;
        return 0;
    case SB_REPL_LOCAL:
        return 1;
    }
    return 0;
}

/* --- replica lookup ------------------------------------------------------- */

/* Index of the token owning t: the first token >= t, wrapping to 0. */
static int start_index(const int64_t *tok, int n, int64_t t)
{
    int i = lower_bound(tok, n, t);
    return i == n ? 0 : i;
}

static int replicas_simple(const sb_ring *r, int rf, int s, int *out, int max)
{
    int want = rf < r->nowners ? rf : r->nowners;
    if (want > max)
        want = max;
    int cnt = 0;
    for (int step = 0, i = s; step < r->ntok && cnt < want; step++) {
        int o = r->own[i];
        int k = 0;
        while (k < cnt && out[k] != o)
            k++;
        if (k == cnt)
            out[cnt++] = o;
        if (++i == r->ntok)
            i = 0;
    }
    return cnt;
}

typedef struct taken {
    int dist; /* global ring distance from the start token at which taken */
    int seq;  /* order within its datacenter */
    int node;
} taken;

#define BIT_WORDS(n) (((n) + 63) / 64)
#define BIT_TEST(b, i) (((b)[(i) >> 6] >> ((i)&63)) & 1)
#define BIT_SET(b, i) ((b)[(i) >> 6] |= (uint64_t)1 << ((i)&63))

/* Cassandra's rack-aware walk of one datacenter's sub-ring. Appends to
 * tk (at most cap entries in total); returns the new count. */
static int walk_dc(const sb_ring *r, const ring_dc *d, int rf, int64_t token, int gs,
                   uint64_t *seen, uint64_t *rack_seen, taken *tk, int cnt, int cap)
{
    int left = rf < d->nowners ? rf : d->nowners;
    if (left <= 0 || d->ntok == 0)
        return cnt;
    int skipped[SB_MAX_REPLICAS];
    int nskip = 0, racks = 0, seq = 0;
    int j = start_index(d->tok, d->ntok, token);
    for (int step = 0; step < d->ntok && left > 0 && cnt < cap; step++) {
        int o = d->own[j];
        int g = d->gidx[j];
        if (++j == d->ntok)
            j = 0;
        if (BIT_TEST(seen, o))
            continue;
        BIT_SET(seen, o);
        int dist = g >= gs ? g - gs : g - gs + r->ntok;
        int rk = r->node_rack[o];
        if (!BIT_TEST(rack_seen, rk)) {
            BIT_SET(rack_seen, rk);
            racks++;
            tk[cnt++] = (taken){dist, seq++, o};
            left--;
            if (racks == d->nracks)
                for (int k = 0; k < nskip && left > 0 && cnt < cap; k++, left--)
                    tk[cnt++] = (taken){dist, seq++, skipped[k]};
        } else if (racks < d->nracks) {
            /* Only the first `left` set-aside nodes can ever be taken. */
            if (nskip < left && nskip < SB_MAX_REPLICAS)
                skipped[nskip++] = o;
        } else {
            tk[cnt++] = (taken){dist, seq++, o};
            left--;
        }
    }
    return cnt;
}

static int replicas_nts(const sb_ring *r, const sb_repl *p, int64_t token, int gs, int *out,
                        int max)
{
    uint64_t seen[BIT_WORDS(RING_MAX_NODES)], rack_seen[BIT_WORDS(RING_MAX_NODES)];
    memset(seen, 0, sizeof(uint64_t) * (size_t)BIT_WORDS(r->n));
    memset(rack_seen, 0, sizeof(uint64_t) * (size_t)BIT_WORDS(r->nracks));
    taken tk[SB_MAX_REPLICAS];
    int cnt = 0;
    for (int k = 0; k < p->ndcs && k < SB_MAX_DCS; k++) {
        int d = dc_index(r, p->dcs[k].dc);
        if (d < 0)
            continue;
        cnt = walk_dc(r, &r->dcs[d], p->dcs[k].rf, token, gs, seen, rack_seen, tk, cnt,
                      SB_MAX_REPLICAS);
    }
    /* Merge datacenters into walk order (insertion sort: cnt <= 32). */
    for (int i = 1; i < cnt; i++) {
        taken x = tk[i];
        int k = i;
        while (k > 0 &&
               (tk[k - 1].dist > x.dist || (tk[k - 1].dist == x.dist && tk[k - 1].seq > x.seq))) {
            tk[k] = tk[k - 1];
            k--;
        }
        tk[k] = x;
    }
    if (cnt > max)
        cnt = max;
    for (int i = 0; i < cnt; i++)
        out[i] = tk[i].node;
    return cnt;
}

/* Replicas of range s (token lies in it), by walking the ring. */
static int replicas_walk(const sb_ring *r, const sb_repl *p, int64_t token, int s, int *out,
                         int max)
{
    if (p->kind == SB_REPL_SIMPLE)
        return replicas_simple(r, p->rf, s, out, max);
    return replicas_nts(r, p, token, s, out, max);
}

static int repl_same(const sb_repl *a, const sb_repl *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == SB_REPL_SIMPLE)
        return a->rf == b->rf;
    if (a->ndcs != b->ndcs)
        return 0;
    for (int i = 0; i < a->ndcs && i < SB_MAX_DCS; i++)
        if (a->dcs[i].rf != b->dcs[i].rf || strncmp(a->dcs[i].dc, b->dcs[i].dc, SB_DC_MAX) != 0)
            return 0;
    return 1;
}

static ring_plan *plan_build(const sb_ring *r, const sb_repl *p)
{
    int stride = 0;
    if (p->kind == SB_REPL_SIMPLE) {
        stride = p->rf < r->nowners ? p->rf : r->nowners;
    } else {
        for (int k = 0; k < p->ndcs && k < SB_MAX_DCS; k++) {
            int d = dc_index(r, p->dcs[k].dc);
            if (d >= 0)
                stride += p->dcs[k].rf < r->dcs[d].nowners ? p->dcs[k].rf : r->dcs[d].nowners;
        }
    }
    if (stride > SB_MAX_REPLICAS)
        stride = SB_MAX_REPLICAS;
    if (stride < 1)
        stride = 1;
    if ((size_t)r->ntok * (size_t)stride > RING_PLAN_MAX_ENTRIES)
        return NULL;
    ring_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    pl->key = *p;
    pl->stride = stride;
    pl->cnt = malloc((size_t)r->ntok);
    pl->reps = malloc(sizeof *pl->reps * (size_t)r->ntok * (size_t)stride);
    if (!pl->cnt || !pl->reps) {
        free(pl->cnt);
        free(pl->reps);
        free(pl);
        return NULL;
    }
    for (int i = 0; i < r->ntok; i++) {
        int tmp[SB_MAX_REPLICAS];
        int n = replicas_walk(r, p, r->tok[i], i, tmp, stride);
        pl->cnt[i] = (uint8_t)n;
        for (int k = 0; k < n; k++)
            pl->reps[(size_t)i * (size_t)stride + (size_t)k] = (uint16_t)tmp[k];
    }
    return pl;
}

/* The cached plan for p, building and publishing it on first use; NULL
 * when it cannot be cached (no memory, all slots used, too large). Safe
 * for concurrent readers: a slot is filled once by compare-and-swap and
 * never changes until sb_ring_free. */
static const ring_plan *plan_get(const sb_ring *cr, const sb_repl *p)
{
    sb_ring *r = (sb_ring *)cr; /* the cache is invisible to callers */
    for (int i = 0; i < RING_PLANS; i++) {
        ring_plan *pl = atomic_load_explicit(&r->plans[i], memory_order_acquire);
        if (!pl) {
            ring_plan *fresh = plan_build(r, p);
            if (!fresh)
                return NULL;
            ring_plan *expect = NULL;
            if (atomic_compare_exchange_strong_explicit(&r->plans[i], &expect, fresh,
                                                        memory_order_acq_rel, memory_order_acquire))
                return fresh;
            free(fresh->cnt);
            free(fresh->reps);
            free(fresh);
            pl = expect; /* another thread filled the slot */
        }
        if (repl_same(&pl->key, p))
            return pl;
    }
    return NULL;
}

int sb_ring_replicas(const sb_ring *r, const sb_repl *p, int64_t token, int *out, int max)
{
    if (!r || !p || r->ntok == 0 || max <= 0 || p->kind == SB_REPL_LOCAL)
        return 0;
    if (p->kind != SB_REPL_SIMPLE && p->kind != SB_REPL_NTS)
        return 0;
    int s = start_index(r->tok, r->ntok, token);
    const ring_plan *pl = plan_get(r, p);
    if (!pl)
        return replicas_walk(r, p, token, s, out, max);
    int n = pl->cnt[s] < max ? pl->cnt[s] : max;
    const uint16_t *src = pl->reps + (size_t)s * (size_t)pl->stride;
    for (int k = 0; k < n; k++)
        out[k] = src[k];
    return n;
}

/* --- ownership ------------------------------------------------------------ */

/* Size of range i, (tok[i-1], tok[i]], as a fraction of the ring. */
static double range_frac(const int64_t *tok, int n, int i)
{
    if (n == 1)
        return 1.0;
    uint64_t prev = (uint64_t)tok[i == 0 ? n - 1 : i - 1];
    return (double)((uint64_t)tok[i] - prev) / TWO64;
}

void sb_ring_ownership(const sb_ring *r, const sb_repl *p, double *out)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        out[i] = 0;
    /* LocalStrategy keeps each node's data on that node only: report the
     * primary ranges, which sum to its total factor of 1. */
    if (p && p->kind == SB_REPL_LOCAL)
        p = NULL;
    int reps[SB_MAX_REPLICAS];
    for (int i = 0; i < r->ntok; i++) {
        double f = range_frac(r->tok, r->ntok, i);
        if (!p) {
            out[r->own[i]] += f;
            continue;
        }
        /* Every token of range i has the replicas of its end token. */
        int n = sb_ring_replicas(r, p, r->tok[i], reps, SB_MAX_REPLICAS);
        for (int k = 0; k < n; k++)
            out[reps[k]] += f;
    }
}

/* --- token allocation ----------------------------------------------------- */

/* The datacenter's tokens while a node joins: sorted, owners (the new
 * node is index `n`). */
typedef struct alloc_ring {
    int64_t *tok;
    int *own;
    int len;
} alloc_ring;

static int on_ring(const sb_ring *r, int64_t t)
{
    if (!r || r->ntok == 0)
        return 0;
    int i = lower_bound(r->tok, r->ntok, t);
    return i < r->ntok && r->tok[i] == t;
}

static int taken_already(const sb_ring *r, const int64_t *out, int nout, int64_t t)
{
    if (t == INT64_MIN || on_ring(r, t))
        return 1;
    for (int i = 0; i < nout; i++)
        if (out[i] == t)
            return 1;
    return 0;
}

static void allocate_even(const sb_ring *r, int k, uint64_t offset, int64_t *out)
{
    uint64_t step = UINT64_MAX / (uint64_t)k;
    for (int i = 0; i < k; i++) {
        int64_t t = (int64_t)(offset + (uint64_t)i * step);
        while (taken_already(r, out, i, t))
            t = (int64_t)((uint64_t)t + 1);
        out[i] = t;
    }
}

/* Fraction-of-2^64 width of range j of a (the range ending at tok[j]). */
static double alloc_width(const alloc_ring *a, int j)
{
    if (a->len == 1)
        return TWO64;
    return (double)((uint64_t)a->tok[j] - (uint64_t)a->tok[j == 0 ? a->len - 1 : j - 1]);
}

/* One of the donor's widest ranges, at random among those at least
 * ALLOC_NEAR of the widest: always taking the first widest range would put
 * all of a new node's tokens in one arc of the ring (widths tie after
 * every even split), which lengthens rack-aware walks and unbalances
 * replicated ownership. */
#define ALLOC_NEAR 0.75
static int pick_range(const alloc_ring *a, int donor, uint64_t (*rnd)(void *), void *rarg)
{
    double wmax = 0;
    for (int j = 0; j < a->len; j++)
        if (a->own[j] == donor && alloc_width(a, j) > wmax)
            wmax = alloc_width(a, j);
    int ncand = 0;
    for (int j = 0; j < a->len; j++)
        if (a->own[j] == donor && alloc_width(a, j) >= wmax * ALLOC_NEAR)
            ncand++;
    int pick = (int)(rnd(rarg) % (uint64_t)ncand);
    for (int j = 0; j < a->len; j++)
        if (a->own[j] == donor && alloc_width(a, j) >= wmax * ALLOC_NEAR && pick-- == 0)
            return j;
    SB_ASSERT(0);
}

static int allocate_greedy(const sb_ring *r, alloc_ring *a, int nowners, int k,
                           uint64_t (*rnd)(void *), void *rarg, int64_t *out)
{
    int newn = r->n;
    double *load = calloc((size_t)r->n + 1, sizeof *load);
    if (!load)
        return SB_ENOMEM;
    double target = TWO64 / (nowners + 1);
    double got = 0;
    for (int s = 0; s < k; s++) {
        for (int i = 0; i <= r->n; i++)
            load[i] = 0;
        for (int j = 0; j < a->len; j++)
            load[a->own[j]] += alloc_width(a, j);
        int donor = -1;
        for (int i = 0; i < r->n; i++)
            if (donor < 0 || load[i] > load[donor])
                donor = i;
        int best = pick_range(a, donor, rnd, rarg);
        double w = alloc_width(a, best);
        /* Spread what the new node still lacks over its remaining tokens;
         * never take the whole range (the donor keeps its token). */
        double want = (target - got) / (k - s);
        if (want < w / 64)
            want = w / 64;
        if (want > w * 0.999)
            want = w * 0.999;
        uint64_t x = (uint64_t)want;
        if (x == 0)
            x = 1;
        uint64_t prev = (uint64_t)a->tok[best == 0 ? a->len - 1 : best - 1];
        int64_t t = (int64_t)(prev + x);
        while (taken_already(r, out, s, t) && t != a->tok[best])
            t = (int64_t)((uint64_t)t + 1);
        if (t == a->tok[best]) {
            free(load);
            return SB_EINVAL; /* a fully packed range: cannot happen in practice */
        }
        got += (double)((uint64_t)t - prev);
        out[s] = t;
        int pos = lower_bound(a->tok, a->len, t);
        memmove(a->tok + pos + 1, a->tok + pos, sizeof *a->tok * (size_t)(a->len - pos));
        memmove(a->own + pos + 1, a->own + pos, sizeof *a->own * (size_t)(a->len - pos));
        a->tok[pos] = t;
        a->own[pos] = newn;
        a->len++;
    }
    free(load);
    return 0;
}

int sb_ring_allocate(const sb_ring *r, const char *dc, int num_tokens, uint64_t (*rnd)(void *),
                     void *rarg, int64_t *out)
{
    if (!dc || !rnd || !out || num_tokens < 1 || num_tokens > SB_MAX_TOKENS)
        return SB_EINVAL;
    if (r && r->ntok + num_tokens >= INT32_MAX / 2)
        return SB_EINVAL;
    int d = r ? dc_index(r, dc) : -1;
    if (d < 0 || r->dcs[d].ntok == 0) {
        allocate_even(r, num_tokens, rnd(rarg), out);
    } else {
        const ring_dc *rd = &r->dcs[d];
        alloc_ring a;
        a.len = rd->ntok;
        a.tok = malloc(sizeof *a.tok * (size_t)(rd->ntok + num_tokens));
        a.own = malloc(sizeof *a.own * (size_t)(rd->ntok + num_tokens));
        if (!a.tok || !a.own) {
            free(a.tok);
            free(a.own);
            return SB_ENOMEM;
        }
        memcpy(a.tok, rd->tok, sizeof *a.tok * (size_t)rd->ntok);
        for (int j = 0; j < rd->ntok; j++)
            a.own[j] = rd->own[j];
        int rc = allocate_greedy(r, &a, rd->nowners, num_tokens, rnd, rarg, out);
        free(a.tok);
        free(a.own);
        if (rc < 0)
            return rc;
    }
    qsort(out, (size_t)num_tokens, sizeof *out, cmp_i64);
    return 0;
}
