/*
 * Events for REGISTERed drivers, decided without I/O (see events.h).
 *
 * Topology: a peer is announced with NEW_NODE the first time it is seen
 * owning tokens (cqlp_member_is_peer) and with REMOVED_NODE when it stops
 * being a ring member (LEFT, or removed from gossip); the set of announced
 * peers makes both happen once. Status: gossip's UP and DOWN verdicts pass
 * straight through, and a restart seen while the peer was still up counts
 * as UP (its connections died with the old process, drivers reconnect).
 *
 * Schema: a snapshot is the sorted list of keyspaces and tables with an
 * FNV-1a hash of each definition; two snapshots are compared by a merge of
 * the two lists, so any DDL, local or pulled from a peer, yields the
 * events Cassandra would send for it.
 */
#include "cqlproto/events.h"

#include <stdlib.h>
#include <string.h>

#include "cqlproto/systables.h"
#include "util/err.h"

int cqlp_event_type(const char *name)
{
    if (!strcmp(name, "TOPOLOGY_CHANGE"))
        return CQLP_EV_TOPOLOGY;
    if (!strcmp(name, "STATUS_CHANGE"))
        return CQLP_EV_STATUS;
    if (!strcmp(name, "SCHEMA_CHANGE"))
        return CQLP_EV_SCHEMA;
    return 0;
}

/* ------------------------------------------------------------- topology */

static int topo_find(const cqlp_topo *t, const sb_ep *ep)
{
    for (int i = 0; i < t->n; i++)
        if (sb_ep_eq(&t->eps[i], ep))
            return i;
    return -1;
}

static int topo_add(cqlp_topo *t, const sb_ep *ep)
{
    if (topo_find(t, ep) >= 0)
        return 0;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 8;
        sb_ep *e = realloc(t->eps, sizeof *e * (size_t)cap);
        if (!e)
            return SB_ENOMEM;
        t->eps = e;
        t->cap = cap;
    }
    t->eps[t->n++] = *ep;
    return 0;
}

static int topo_remove(cqlp_topo *t, const sb_ep *ep)
{
    int i = topo_find(t, ep);
    if (i < 0)
        return 0;
    t->eps[i] = t->eps[--t->n];
    return 1;
}

void cqlp_topo_seed(cqlp_topo *t, const sb_member *m)
{
    if (cqlp_member_is_peer(m))
        topo_add(t, &m->ep);
}

void cqlp_topo_event(cqlp_topo *t, int ev, const sb_member *m, cqlp_node_event_fn fn, void *arg)
{
    if (m->is_self)
        return;
    sb_ep addr = cqlp_member_rpc(m);
    switch (ev) {
    case SB_GOSSIP_NEW:
    case SB_GOSSIP_STATUS:
    case SB_GOSSIP_RESTARTED:
        if (cqlp_member_is_peer(m)) {
            if (topo_find(t, &m->ep) < 0 && topo_add(t, &m->ep) == 0)
                fn(arg, CQLP_EV_TOPOLOGY, "NEW_NODE", &addr);
        } else if (m->status != 0 && topo_remove(t, &m->ep)) {
            fn(arg, CQLP_EV_TOPOLOGY, "REMOVED_NODE", &addr);
        }
        if (ev == SB_GOSSIP_RESTARTED && m->up)
            fn(arg, CQLP_EV_STATUS, "UP", &addr);
        break;
    case SB_GOSSIP_UP:
        fn(arg, CQLP_EV_STATUS, "UP", &addr);
        break;
    case SB_GOSSIP_DOWN:
        fn(arg, CQLP_EV_STATUS, "DOWN", &addr);
        break;
    case SB_GOSSIP_REMOVED:
        if (topo_remove(t, &m->ep))
            fn(arg, CQLP_EV_TOPOLOGY, "REMOVED_NODE", &addr);
        break;
    default:
        break; /* SCHEMA: the schema diff reports what actually changes */
    }
}

void cqlp_topo_free(cqlp_topo *t)
{
    free(t->eps);
    memset(t, 0, sizeof *t);
}

/* --------------------------------------------------------------- schema */

typedef struct snap_item {
    char *ks;
    char *table; /* NULL: the keyspace itself */
    uint64_t hash;
} snap_item;

struct cqlp_schema_snap {
    snap_item *items; /* sorted by (ks, table), the keyspace before its tables */
    int n;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "\xff", 1);
}

static uint64_t fnv_int(uint64_t h, int64_t v)
{
    return fnv(h, &v, sizeof v);
}

static uint64_t table_hash(const sb_table *t)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, t->id, 16);
    for (int i = 0; i < t->ncols; i++) {
        const sb_column *c = &t->cols[i];
        char tn[256];
        h = fnv_str(h, c->name);
        h = fnv_str(h, sb_type_name(c->type, tn, sizeof tn));
        h = fnv_int(h, c->kind);
        h = fnv_int(h, c->position);
        h = fnv_int(h, c->desc);
    }
    h = fnv_int(h, t->compaction);
    h = fnv_str(h, t->compaction_json);
    h = fnv_int(h, t->default_ttl_s);
    h = fnv_int(h, t->gc_grace_s);
    return fnv_str(h, t->comment);
}

static int item_cmp(const void *a, const void *b)
{
    const snap_item *x = a, *y = b;
    int c = strcmp(x->ks, y->ks);
    if (c)
        return c;
    if (!x->table || !y->table)
        return x->table ? 1 : y->table ? -1 : 0;
    return strcmp(x->table, y->table);
}

cqlp_schema_snap *cqlp_schema_snap_new(const sb_schema *s)
{
    cqlp_schema_snap *snap = calloc(1, sizeof *snap);
    if (!snap)
        return NULL;
    size_t n = 0;
    for (int i = 0; i < s->nks; i++)
        n += 1 + (size_t)s->ks[i]->ntables;
    snap->items = calloc(n ? n : 1, sizeof *snap->items);
    if (!snap->items)
        goto fail;
    for (int i = 0; i < s->nks; i++) {
        const sb_keyspace *k = s->ks[i];
        snap_item *it = &snap->items[snap->n++];
        uint64_t h = fnv_str(1469598103934665603ull, k->replication_json);
        it->hash = fnv_int(h, k->durable_writes);
        if (!(it->ks = strdup(k->name)))
            goto fail;
        for (int j = 0; j < k->ntables; j++) {
            it = &snap->items[snap->n++];
            it->hash = table_hash(k->tables[j]);
            if (!(it->ks = strdup(k->name)) || !(it->table = strdup(k->tables[j]->name)))
                goto fail;
        }
    }
    qsort(snap->items, (size_t)snap->n, sizeof *snap->items, item_cmp);
    return snap;
fail:
    cqlp_schema_snap_free(snap);
    return NULL;
}

void cqlp_schema_snap_free(cqlp_schema_snap *snap)
{
    if (!snap)
        return;
    for (int i = 0; i < snap->n; i++) {
        free(snap->items[i].ks);
        free(snap->items[i].table);
    }
    free(snap->items);
    free(snap);
}

static void report(const snap_item *it, const char *change, cqlp_schema_event_fn fn, void *arg)
{
    fn(arg, change, it->table ? "TABLE" : "KEYSPACE", it->ks, it->table);
}

void cqlp_schema_diff(const cqlp_schema_snap *old, const cqlp_schema_snap *new,
                      cqlp_schema_event_fn fn, void *arg)
{
    int i = 0, j = 0;
    const char *dropped_ks = NULL; /* its tables go without an event */
    while (i < old->n || j < new->n) {
        const snap_item *a = i < old->n ? &old->items[i] : NULL;
        const snap_item *b = j < new->n ? &new->items[j] : NULL;
        int c = !a ? 1 : !b ? -1 : item_cmp(a, b);
        if (c < 0) {
            if (!a->table)
                dropped_ks = a->ks;
            if (!(a->table && dropped_ks && !strcmp(dropped_ks, a->ks)))
                report(a, "DROPPED", fn, arg);
            i++;
        } else if (c > 0) {
            report(b, "CREATED", fn, arg);
            j++;
        } else {
            if (a->hash != b->hash)
                report(b, "UPDATED", fn, arg);
            i++;
            j++;
        }
    }
}
