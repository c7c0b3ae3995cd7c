/*
 * Connection admission (admit.h).
 *
 * The per-address counts live in an open-addressing table with linear
 * probing, kept at most half full. A slot whose count drops to zero is
 * removed by shifting later members of its probe run back (no tombstones),
 * so lookups never walk over dead slots however many clients came and
 * went.
 */
#include "cqlproto/admit.h"

#include <netinet/in.h>
#include <string.h>

#include "util/alloc.h"

#define MIN_CAP 16

static void key_of(const struct sockaddr *sa, uint8_t key[17])
{
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static size_t hash_of(const uint8_t key[17])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const cqlp_admit *a, const uint8_t key[17])
{
    size_t mask = a->cap - 1, i = hash_of(key) & mask;
    while (a->slots[i].count > 0 && memcmp(a->slots[i].key, key, 17) != 0)
        i = (i + 1) & mask; /* ends: the table is never more than half full */
    return i;
}

static int grow(cqlp_admit *a)
{
    size_t ncap = a->cap ? a->cap * 2 : MIN_CAP;
    cqlp_addr_slot *ns = sb_calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    cqlp_addr_slot *old = a->slots;
    size_t ocap = a->cap;
    a->slots = ns;
    a->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].count > 0)
            a->slots[find(a, old[i].key)] = old[i];
    sb_free(old);
    return 0;
}

void cqlp_admit_init(cqlp_admit *a, int max_total, int max_per_ip)
{
    memset(a, 0, sizeof *a);
    a->max_total = max_total;
    a->max_per_ip = max_per_ip;
}

void cqlp_admit_close(cqlp_admit *a)
{
    sb_free(a->slots);
    memset(a, 0, sizeof *a);
}

int cqlp_admit_count(const cqlp_admit *a, const struct sockaddr *addr)
{
    if (!a->cap)
        return 0;
    uint8_t key[17];
    key_of(addr, key);
    return a->slots[find(a, key)].count;
}

int cqlp_admit_open(cqlp_admit *a, const struct sockaddr *addr)
{
    if (a->max_total >= 0 && a->total >= a->max_total)
        return CQLP_ADMIT_TOTAL;
    uint8_t key[17];
    key_of(addr, key);
    int have = a->cap ? a->slots[find(a, key)].count : 0;
    if (a->max_per_ip >= 0 && have >= a->max_per_ip)
        return CQLP_ADMIT_PER_IP;
    if (!have && (a->used + 1) * 2 > a->cap && grow(a) != 0)
        return CQLP_ADMIT_NOMEM;
    cqlp_addr_slot *s = &a->slots[find(a, key)];
    if (s->count == 0) {
        memcpy(s->key, key, 17);
        a->used++;
    }
    s->count++;
    a->total++;
    return CQLP_ADMIT_OK;
}

void cqlp_admit_release(cqlp_admit *a, const struct sockaddr *addr)
{
    if (!a->cap)
        return;
    uint8_t key[17];
    key_of(addr, key);
    size_t mask = a->cap - 1, i = find(a, key);
    if (a->slots[i].count == 0)
        return; /* not admitted: nothing to forget */
    a->total--;
    if (--a->slots[i].count > 0)
        return;
    a->used--;
    /* Backward-shift deletion: move later members of the run into the
     * hole when their home slot does not lie between the hole and them. */
    for (size_t j = (i + 1) & mask; a->slots[j].count > 0; j = (j + 1) & mask) {
        size_t home = hash_of(a->slots[j].key) & mask;
        int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between)
            continue;
        a->slots[i] = a->slots[j];
        a->slots[j].count = 0;
        i = j;
    }
}
