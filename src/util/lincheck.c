/*
 * NOTES ON THE DESIGN OF THE CHECKER (lincheck.h says what it checks)
 *
 * A history is an array of lc_op in the order added. Keys and values are
 * interned to small ids (value id 0 is absent), so a register's state is
 * one uint32_t and comparing values is comparing ids.
 *
 * sb_lincheck_check partitions the operations by key and searches each key
 * alone (check_key); failed operations and indeterminate reads are left
 * out, they constrain nothing, and so are indeterminate writes whose value
 * nothing could have seen (drop_unseen says why that is sound).
 *
 * The search is Wing and Gong's. Each operation has a call event and, if
 * it returned, a return event; the events of one key, sorted by time
 * (calls before returns at equal times), form a doubly linked list. The
 * operations that may come next in a linearization are exactly those
 * whose call lies before the first return still in the list, so walking
 * the list from its head tries each candidate in turn. Placing one
 * (lift) unlinks its events and restarts the walk; meeting a return event
 * means that operation returned before any order of the placed ones let
 * it take effect, so the last placed operation is taken back (unlift, in
 * the reverse order of the lifts, as in dancing links) and the walk goes
 * on after its call. Invariants of search_run:
 *
 *  - the ops on the stack, bottom to top, are a legal sequential run of
 *    the register from absent to `state`;
 *  - the list holds exactly the events of the unplaced ops, in time order;
 *  - an indeterminate op has no return event: the walk never has to place
 *    it, and leaving it unplaced is the history in which it never took
 *    effect; placing it is the history in which it did, at that point;
 *  - the memo holds every (set of placed ops, state) the search entered.
 *    What can follow depends on nothing else, and the search returns as
 *    soon as one succeeds, so meeting one again is a known dead end
 *    (Lowe's memoisation, which makes the search usable in practice);
 *  - the search succeeds when no OK op is unplaced.
 *
 * Each step (a candidate tried, or a backtrack) counts against the key's
 * step budget, and a wall-clock deadline covers the whole check; hitting
 * one answers UNKNOWN. The memo has a memory budget too: when full it
 * forgets everything and the search goes on (it only saves work). Its
 * entries are compact (lc_set), so it seldom fills.
 *
 * For the explanation the search remembers its furthest point: the latest
 * return event it met with that op unplaced, the order placed then, and
 * the register's value.
 */
#include "util/lincheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/json.h"

/* How many placed and how many concurrent operations an explanation
 * lists at most. */
#define EXPLAIN_ORDER_MAX 20
#define EXPLAIN_CONCURRENT_MAX 20

/* ---- interned byte strings ------------------------------------------- */

typedef struct lc_intern {
    sb_buf data;     /* the strings, back to back */
    size_t *off;     /* id -> offset in data */
    uint32_t *len;   /* id -> length */
    size_t n, cap;   /* ids used, allocated */
    uint32_t *slots; /* open addressing: id + 1, 0 empty */
    size_t nslots;   /* a power of two, at least twice n */
} lc_intern;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void intern_free(lc_intern *t)
{
    sb_buf_free(&t->data);
    free(t->off);
    free(t->len);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static const uint8_t *intern_get(const lc_intern *t, uint32_t id, size_t *len)
{
    *len = t->len[id];
    return t->data.data + t->off[id];
}

static int intern_rehash(lc_intern *t)
{
    size_t nslots = t->nslots ? t->nslots * 2 : 64;
    uint32_t *slots = sb_calloc(nslots, sizeof *slots);
    if (!slots)
        return SB_ENOMEM;
    for (size_t id = 0; id < t->n; id++) {
        size_t len;
        const uint8_t *p = intern_get(t, (uint32_t)id, &len);
        size_t i = hash_bytes(p, len) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* *id = the id of p[0..n), adding it if new. 0 or SB_ENOMEM. */
static int intern(lc_intern *t, const uint8_t *p, size_t n, uint32_t *id)
{
    if ((t->n + 1) * 2 > t->nslots && intern_rehash(t) != 0)
        return SB_ENOMEM;
    size_t i = hash_bytes(p, n) & (t->nslots - 1);
    for (; t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
        size_t len;
        const uint8_t *q = intern_get(t, t->slots[i] - 1, &len);
        if (len == n && memcmp(p, q, n) == 0) {
            *id = t->slots[i] - 1;
            return 0;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        size_t *off = sb_realloc(t->off, cap * sizeof *off);
        if (!off)
            return SB_ENOMEM;
        t->off = off;
        uint32_t *len = sb_realloc(t->len, cap * sizeof *len);
        if (!len)
            return SB_ENOMEM;
        t->len = len;
        t->cap = cap;
    }
    size_t at = t->data.len;
    if (sb_buf_append(&t->data, p, n) != 0)
        return SB_ENOMEM;
    t->off[t->n] = at;
    t->len[t->n] = (uint32_t)n;
    t->slots[i] = (uint32_t)t->n + 1;
    *id = (uint32_t)t->n++;
    return 0;
}

/* ---- the history -------------------------------------------------------- */

typedef struct lc_op {
    int64_t process, call, ret, id;
    uint32_t key, value, from, to; /* value ids; 0 is absent */
    uint8_t fn, outcome, applied, has_value;
    uint8_t pending; /* invoked, not completed yet */
} lc_op;

struct sb_lincheck {
    lc_op *ops;
    size_t n, cap;
    lc_intern keys;
    lc_intern values; /* value id v > 0 is intern id v - 1 */
};

sb_lincheck *sb_lincheck_new(void)
{
    return sb_calloc(1, sizeof(sb_lincheck));
}

void sb_lincheck_free(sb_lincheck *h)
{
    if (!h)
        return;
    free(h->ops);
    intern_free(&h->keys);
    intern_free(&h->values);
    free(h);
}

size_t sb_lincheck_count(const sb_lincheck *h)
{
    return h->n;
}

/* 0 if v is a value the history can hold, else SB_EINVAL naming what. */
static int check_value(const sb_lincheck_value *v, const char *what, char *errmsg)
{
    if ((unsigned)v->kind > SB_LINCHECK_BYTES)
        return sb_seterr(errmsg, SB_EINVAL, "%s: unknown value kind %d", what, (int)v->kind);
    if (v->kind == SB_LINCHECK_BYTES && v->len > SB_LINCHECK_BYTES_MAX)
        return sb_seterr(errmsg, SB_EINVAL, "%s: %zu bytes, more than %d", what, v->len,
                         SB_LINCHECK_BYTES_MAX);
    if (v->kind == SB_LINCHECK_BYTES && v->len && !v->bytes)
        return sb_seterr(errmsg, SB_EINVAL, "%s: no bytes", what);
    return 0;
}

/* Interns a value check_value accepted. Values are kept as a tag byte and
 * their content: 'i' and the int64, or 'b' and the bytes, so 5 and "5"
 * stay different values. 0 or SB_ENOMEM. */
static int intern_value(sb_lincheck *h, const sb_lincheck_value *v, uint32_t *id, char *errmsg)
{
    uint8_t enc[1 + SB_LINCHECK_BYTES_MAX];
    size_t n;
    if (v->kind == SB_LINCHECK_ABSENT) {
        *id = 0;
        return 0;
    }
    if (v->kind == SB_LINCHECK_INT) {
        enc[0] = 'i';
        memcpy(enc + 1, &v->i, sizeof v->i);
        n = 1 + sizeof v->i;
    } else {
        enc[0] = 'b';
        if (v->len)
            memcpy(enc + 1, v->bytes, v->len);
        n = 1 + v->len;
    }
    if (intern(&h->values, enc, n, id) != 0)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    *id += 1;
    return 0;
}

/* Fills o from op, interning its key and the values its fn uses. Checks
 * everything before interning anything, so a refused op leaves no trace. */
static int op_from_caller(sb_lincheck *h, const sb_lincheck_op *op, lc_op *o, char *errmsg)
{
    memset(o, 0, sizeof *o);
    if ((unsigned)op->fn > SB_LINCHECK_CAS)
        return sb_seterr(errmsg, SB_EINVAL, "unknown operation %d", (int)op->fn);
    if (op->key_len > SB_LINCHECK_KEY_MAX)
        return sb_seterr(errmsg, SB_EINVAL, "key: %zu bytes, more than %d", op->key_len,
                         SB_LINCHECK_KEY_MAX);
    if (op->key_len && !op->key)
        return sb_seterr(errmsg, SB_EINVAL, "key: no bytes");
    if (h->n >= SB_LINCHECK_MAX_OPS)
        return sb_seterr(errmsg, SB_ETOOBIG, "more than %d operations", SB_LINCHECK_MAX_OPS);
    int rv = 0, cas = op->fn == SB_LINCHECK_CAS;
    if (cas && ((rv = check_value(&op->from, "from", errmsg)) != 0 ||
                (rv = check_value(&op->to, "to", errmsg)) != 0))
        return rv;
    if (op->fn == SB_LINCHECK_WRITE && (rv = check_value(&op->value, "value", errmsg)) != 0)
        return rv;
    if (intern(&h->keys, op->key ? op->key : (const uint8_t *)"", op->key_len, &o->key) != 0)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    if (cas && ((rv = intern_value(h, &op->from, &o->from, errmsg)) != 0 ||
                (rv = intern_value(h, &op->to, &o->to, errmsg)) != 0))
        return rv;
    if (op->fn == SB_LINCHECK_WRITE && (rv = intern_value(h, &op->value, &o->value, errmsg)) != 0)
        return rv;
    o->fn = (uint8_t)op->fn;
    o->process = op->process;
    o->call = op->call;
    o->ret = INT64_MAX;
    o->id = op->id ? op->id : (int64_t)h->n + 1;
    return 0;
}

/* 1 if an OK op of fn reports a value: what a read returned, or what a
 * cas that did not apply saw. */
static int observes(int fn, int applied, int has_value)
{
    return fn == SB_LINCHECK_READ || (fn == SB_LINCHECK_CAS && !applied && has_value);
}

/* 0 if fn called at call can end so, else SB_EINVAL saying why. */
static int check_outcome(int fn, int64_t call, sb_lincheck_outcome outcome, int64_t ret,
                         int applied, int has_value, const sb_lincheck_value *value, char *errmsg)
{
    if ((unsigned)outcome > SB_LINCHECK_OUT_INDETERMINATE)
        return sb_seterr(errmsg, SB_EINVAL, "unknown outcome %d", (int)outcome);
    if (outcome != SB_LINCHECK_OUT_OK)
        return 0;
    if (ret < call)
        return sb_seterr(errmsg, SB_EINVAL, "returned at %" PRId64 ", before its call at %" PRId64,
                         ret, call);
    if (fn == SB_LINCHECK_READ && !value)
        return sb_seterr(errmsg, SB_EINVAL, "an OK read needs the value read");
    return observes(fn, applied, has_value) ? check_value(value, "value", errmsg) : 0;
}

/* Sets the outcome of o, which check_outcome accepted, and what it
 * observed. 0 or SB_ENOMEM. */
static int op_complete(sb_lincheck *h, lc_op *o, sb_lincheck_outcome outcome, int64_t ret,
                       int applied, int has_value, const sb_lincheck_value *value, char *errmsg)
{
    o->outcome = (uint8_t)outcome;
    if (outcome != SB_LINCHECK_OUT_OK)
        return 0;
    o->ret = ret;
    o->applied = o->fn == SB_LINCHECK_CAS && applied;
    o->has_value = o->fn == SB_LINCHECK_CAS && observes(o->fn, applied, has_value);
    return observes(o->fn, applied, has_value) ? intern_value(h, value, &o->value, errmsg) : 0;
}

static int push_op(sb_lincheck *h, const lc_op *o)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        lc_op *ops = sb_realloc(h->ops, cap * sizeof *ops);
        if (!ops)
            return SB_ENOMEM;
        h->ops = ops;
        h->cap = cap;
    }
    h->ops[h->n] = *o;
    return (int)h->n++;
}

int sb_lincheck_add(sb_lincheck *h, const sb_lincheck_op *op, char *errmsg)
{
    lc_op o;
    int rv = check_outcome(op->fn, op->call, op->outcome, op->ret, op->applied, op->has_value,
                           &op->value, errmsg);
    if (rv == 0)
        rv = op_from_caller(h, op, &o, errmsg);
    if (rv == 0)
        rv = op_complete(h, &o, op->outcome, op->ret, op->applied, op->has_value, &op->value,
                         errmsg);
    if (rv != 0)
        return rv;
    rv = push_op(h, &o);
    return rv < 0 ? sb_seterr(errmsg, rv, "out of memory") : rv;
}

int sb_lincheck_invoke(sb_lincheck *h, const sb_lincheck_op *op, char *errmsg)
{
    lc_op o;
    int rv = op_from_caller(h, op, &o, errmsg);
    if (rv != 0)
        return rv;
    o.outcome = SB_LINCHECK_OUT_INDETERMINATE;
    o.pending = 1;
    rv = push_op(h, &o);
    return rv < 0 ? sb_seterr(errmsg, rv, "out of memory") : rv;
}

int sb_lincheck_complete(sb_lincheck *h, int index, sb_lincheck_outcome outcome, int64_t ret,
                         int applied, const sb_lincheck_value *value, char *errmsg)
{
    if (index < 0 || (size_t)index >= h->n || !h->ops[index].pending)
        return sb_seterr(errmsg, SB_EINVAL, "operation %d is not waiting for its outcome", index);
    lc_op o = h->ops[index];
    int rv = check_outcome(o.fn, o.call, outcome, ret, applied, value != NULL, value, errmsg);
    if (rv == 0)
        rv = op_complete(h, &o, outcome, ret, applied, value != NULL, value, errmsg);
    if (rv != 0)
        return rv;
    o.pending = 0;
    h->ops[index] = o;
    return 0;
}

const char *sb_lincheck_result_name(sb_lincheck_result r)
{
    switch (r) {
    case SB_LINCHECK_LINEARIZABLE:
        return "linearizable";
    case SB_LINCHECK_VIOLATION:
        return "NOT linearizable";
    default:
        return "unknown";
    }
}

/* ---- printing ----------------------------------------------------------- */

/* Appends value id v as in the file format: null, an integer or a string. */
static int put_value(sb_buf *b, const sb_lincheck *h, uint32_t v)
{
    if (v == 0)
        return sb_buf_printf(b, "null");
    size_t len;
    const uint8_t *p = intern_get(&h->values, v - 1, &len);
    if (p[0] == 'i') {
        int64_t i;
        memcpy(&i, p + 1, sizeof i);
        return sb_buf_printf(b, "%" PRId64, i);
    }
    return sb_json_append_string(b, (const char *)p + 1, len - 1);
}

static int put_key(sb_buf *b, const sb_lincheck *h, uint32_t key)
{
    size_t len;
    const uint8_t *p = intern_get(&h->keys, key, &len);
    return sb_json_append_string(b, (const char *)p, len);
}

/* "#12 p3 cas(4 -> 6) applied [118, 140]": one operation for a human. */
static int put_op(sb_buf *b, const sb_lincheck *h, const lc_op *o)
{
    int rv = sb_buf_printf(b, "#%" PRId64 " process %" PRId64 ": ", o->id, o->process);
    switch (o->fn) {
    case SB_LINCHECK_READ:
        rv |= sb_buf_printf(b, "read");
        if (o->outcome == SB_LINCHECK_OUT_OK) {
            rv |= sb_buf_printf(b, " -> ");
            rv |= put_value(b, h, o->value);
        }
        break;
    case SB_LINCHECK_WRITE:
        rv |= sb_buf_printf(b, "write ");
        rv |= put_value(b, h, o->value);
        break;
    default:
        rv |= sb_buf_printf(b, "cas(");
        rv |= put_value(b, h, o->from);
        rv |= sb_buf_printf(b, " -> ");
        rv |= put_value(b, h, o->to);
        rv |= sb_buf_printf(b, ")");
        if (o->outcome == SB_LINCHECK_OUT_OK)
            rv |= sb_buf_printf(b, o->applied ? " applied" : " not applied");
        if (o->outcome == SB_LINCHECK_OUT_OK && o->has_value) {
            rv |= sb_buf_printf(b, ", saw ");
            rv |= put_value(b, h, o->value);
        }
        break;
    }
    if (o->outcome == SB_LINCHECK_OUT_OK)
        rv |= sb_buf_printf(b, "  [%" PRId64 ", %" PRId64 "]", o->call, o->ret);
    else if (o->outcome == SB_LINCHECK_OUT_FAIL)
        rv |= sb_buf_printf(b, "  failed, called at %" PRId64, o->call);
    else
        rv |= sb_buf_printf(b, "  indeterminate [%" PRId64 ", +inf)", o->call);
    return rv ? SB_ENOMEM : 0;
}

static const char *fn_name(int fn)
{
    return fn == SB_LINCHECK_READ ? "read" : fn == SB_LINCHECK_WRITE ? "write" : "cas";
}

static const char *outcome_name(int outcome)
{
    return outcome == SB_LINCHECK_OUT_OK ? "ok" : outcome == SB_LINCHECK_OUT_FAIL ? "fail" : "info";
}

int sb_lincheck_write_jsonl(const sb_lincheck *h, sb_buf *out)
{
    int rv = 0;
    for (size_t i = 0; i < h->n && rv == 0; i++) {
        const lc_op *o = &h->ops[i];
        rv |= sb_buf_printf(out, "{\"process\":%" PRId64 ",\"key\":", o->process);
        rv |= put_key(out, h, o->key);
        rv |= sb_buf_printf(out, ",\"f\":\"%s\"", fn_name(o->fn));
        if (o->fn == SB_LINCHECK_CAS) {
            rv |= sb_buf_printf(out, ",\"from\":");
            rv |= put_value(out, h, o->from);
            rv |= sb_buf_printf(out, ",\"to\":");
            rv |= put_value(out, h, o->to);
        }
        int ok = o->outcome == SB_LINCHECK_OUT_OK;
        if (o->fn == SB_LINCHECK_WRITE || (ok && o->fn == SB_LINCHECK_READ) ||
            (ok && o->has_value)) {
            rv |= sb_buf_printf(out, ",\"value\":");
            rv |= put_value(out, h, o->value);
        }
        rv |= sb_buf_printf(out, ",\"call\":%" PRId64, o->call);
        if (ok)
            rv |= sb_buf_printf(out, ",\"return\":%" PRId64, o->ret);
        rv |= sb_buf_printf(out, ",\"outcome\":\"%s\"", outcome_name(o->outcome));
        if (ok && o->fn == SB_LINCHECK_CAS)
            rv |= sb_buf_printf(out, ",\"applied\":%s", o->applied ? "true" : "false");
        rv |= sb_buf_printf(out, "}\n");
    }
    return rv ? SB_ENOMEM : 0;
}

/* ---- the memo: (set of placed ops, state) pairs seen ----------------- */

/* A set of placed ops is two bitsets: the key's OK ops, numbered in call
 * order, and its indeterminate ops. Deep in a long history the first is
 * all ones up to a short window of concurrent ops, and zeros after it, so
 * the memo keeps only that window (words lo .. hi) and the second bitset:
 * tens of bytes per entry rather than a bit per op of the key. */
typedef struct lc_set {
    const uint64_t *ok;
    size_t lo, hi; /* ok[w] is all ones for w < lo and 0 for w >= hi */
    const uint64_t *info;
    size_t winfo;
} lc_set;

typedef struct lc_entry {
    uint64_t hash;
    size_t off; /* its words in the arena: ok[lo .. hi), then info */
    uint32_t state, lo, len;
} lc_entry;

typedef struct lc_memo {
    uint32_t *slots; /* entry + 1, 0 empty */
    size_t nslots;   /* twice cap */
    lc_entry *e;
    size_t n, cap;
    uint64_t *arena;
    size_t used, arena_cap; /* in words */
    size_t max_bytes;
    uint64_t resets; /* times it was full and forgot everything */
} lc_memo;

static void memo_free(lc_memo *mm)
{
    free(mm->slots);
    free(mm->e);
    free(mm->arena);
}

static size_t memo_bytes(size_t cap, size_t arena_cap)
{
    return cap * (sizeof(lc_entry) + 2 * sizeof(uint32_t)) + arena_cap * sizeof(uint64_t);
}

/* Makes room for one more entry of len words: grows the memo, or, past
 * its budget, empties it. Forgetting is sound, the memo only saves work
 * (the step budget still bounds the search). 0 or SB_ENOMEM. */
static int memo_make_room(lc_memo *mm, size_t len)
{
    size_t cap = mm->n < mm->cap ? mm->cap : mm->cap ? mm->cap * 2 : 256;
    size_t arena_cap = mm->arena_cap ? mm->arena_cap : 4096;
    while (arena_cap < mm->used + len)
        arena_cap *= 2;
    if (mm->cap && memo_bytes(cap, arena_cap) > mm->max_bytes) {
        mm->n = mm->used = 0;
        memset(mm->slots, 0, mm->nslots * sizeof *mm->slots);
        mm->resets++;
        cap = mm->cap;
        arena_cap = mm->arena_cap;
        while (arena_cap < len)
            arena_cap *= 2;
    }
    if (arena_cap != mm->arena_cap) {
        uint64_t *arena = sb_realloc(mm->arena, arena_cap * sizeof *arena);
        if (!arena)
            return SB_ENOMEM;
        mm->arena = arena;
        mm->arena_cap = arena_cap;
    }
    if (cap == mm->cap)
        return 0;
    lc_entry *e = sb_realloc(mm->e, cap * sizeof *e);
    if (!e)
        return SB_ENOMEM;
    mm->e = e;
    size_t nslots = cap * 2;
    uint32_t *slots = sb_calloc(nslots, sizeof *slots);
    if (!slots)
        return SB_ENOMEM;
    for (size_t k = 0; k < mm->n; k++) {
        size_t i = mm->e[k].hash & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)k + 1;
    }
    free(mm->slots);
    mm->slots = slots;
    mm->nslots = nslots;
    mm->cap = cap;
    return 0;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Adds (set, state), set_hash being the hash of set: 0 added, 1 already
 * there, SB_ENOMEM. */
static int memo_add(lc_memo *mm, const lc_set *set, uint32_t state, uint64_t set_hash)
{
    size_t nok = set->hi - set->lo, len = nok + set->winfo;
    if (mm->n == mm->cap || mm->used + len > mm->arena_cap) {
        int rv = memo_make_room(mm, len);
        if (rv != 0)
            return rv;
    }
    uint64_t h = mix64(set_hash ^ ((uint64_t)state * 0x9e3779b97f4a7c15ull));
    size_t i = h & (mm->nslots - 1);
    for (; mm->slots[i]; i = (i + 1) & (mm->nslots - 1)) {
        const lc_entry *e = &mm->e[mm->slots[i] - 1];
        const uint64_t *w = mm->arena + e->off;
        if (e->hash == h && e->state == state && e->lo == set->lo && e->len == len &&
            memcmp(w, set->ok + set->lo, nok * sizeof *w) == 0 &&
            memcmp(w + nok, set->info, set->winfo * sizeof *w) == 0)
            return 1;
    }
    lc_entry *e = &mm->e[mm->n];
    *e = (lc_entry){
        .hash = h, .off = mm->used, .state = state, .lo = (uint32_t)set->lo, .len = (uint32_t)len};
    memcpy(mm->arena + mm->used, set->ok + set->lo, nok * sizeof *mm->arena);
    memcpy(mm->arena + mm->used + nok, set->info, set->winfo * sizeof *mm->arena);
    mm->used += len;
    mm->slots[i] = (uint32_t)mm->n++ + 1;
    return 0;
}

/* ---- the search over one key ------------------------------------------- */

typedef struct lc_event {
    int64_t t;
    uint32_t ret; /* 0 call, 1 return: calls sort first at equal times */
    uint32_t op;
} lc_event;

static int event_cmp(const void *a, const void *b)
{
    const lc_event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->ret != y->ret)
        return x->ret < y->ret ? -1 : 1;
    return x->op < y->op ? -1 : x->op > y->op;
}

enum { SEARCH_OK, SEARCH_VIOLATION, SEARCH_STEPS, SEARCH_TIME };

typedef struct lc_search {
    const sb_lincheck *h;
    const uint32_t *gop; /* local op -> index in h->ops: OK ops first */
    size_t m, m_ok;
    /* The event list: node 0 is the sentinel (head and tail), event i of
     * the sorted order is node i + 1, so node order is time order. */
    uint32_t *next, *prev, *node_op;
    uint8_t *node_ret;
    uint32_t *call_node, *ret_node; /* local op -> node; ret_node 0: none */
    /* The placed ops (lc_set): local op o < m_ok is bit o of okb, another
     * bit o - m_ok of infob; set_hash is the xor of their zobrist keys. */
    uint64_t *okb, *infob, *zobrist, set_hash;
    size_t wok, winfo, ok_lo, ok_hi;
    uint32_t state;
    uint32_t *stack_op, *stack_state;
    size_t depth, remaining;
    lc_memo memo;
    uint64_t steps, max_steps;
    int64_t deadline_ns; /* 0: none */
    /* The furthest point: the op whose return event was met unplaced
     * (best_node), the order placed then and the register's value. */
    uint32_t best_node, *best_order, best_state;
    size_t best_depth;
} lc_search;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const lc_op *sop(const lc_search *s, uint32_t o)
{
    return &s->h->ops[s->gop[o]];
}

/* Can o take effect with the register at state? *next gets the state after. */
static int model_step(const lc_op *o, uint32_t state, uint32_t *next)
{
    *next = state;
    switch (o->fn) {
    case SB_LINCHECK_READ:
        return state == o->value;
    case SB_LINCHECK_WRITE:
        *next = o->value;
        return 1;
    default:
        if (o->outcome == SB_LINCHECK_OUT_OK && !o->applied)
            return state != o->from && (!o->has_value || state == o->value);
        /* Applied, or indeterminate taken as applied: an indeterminate cas
         * that did not apply changes nothing, which leaving it unplaced
         * already covers. */
        if (state != o->from)
            return 0;
        *next = o->to;
        return 1;
    }
}

static void lift(lc_search *s, uint32_t o)
{
    uint32_t c = s->call_node[o], r = s->ret_node[o];
    s->next[s->prev[c]] = s->next[c];
    s->prev[s->next[c]] = s->prev[c];
    if (r) {
        s->next[s->prev[r]] = s->next[r];
        s->prev[s->next[r]] = s->prev[r];
    }
}

static void unlift(lc_search *s, uint32_t o)
{
    uint32_t c = s->call_node[o], r = s->ret_node[o];
    if (r) {
        s->next[s->prev[r]] = r;
        s->prev[s->next[r]] = r;
    }
    s->next[s->prev[c]] = c;
    s->prev[s->next[c]] = c;
}

static void note_progress(lc_search *s, uint32_t node)
{
    if (node < s->best_node || (node == s->best_node && s->depth <= s->best_depth))
        return;
    s->best_node = node;
    s->best_depth = s->depth;
    s->best_state = s->state;
    memcpy(s->best_order, s->stack_op, s->depth * sizeof *s->stack_op);
}

/* Marks local op o placed or not, keeping ok_lo and ok_hi. */
static void mark(lc_search *s, uint32_t o, int placed)
{
    if (o >= s->m_ok) {
        uint32_t i = o - (uint32_t)s->m_ok;
        uint64_t bit = 1ull << (i % 64);
        s->infob[i / 64] = placed ? s->infob[i / 64] | bit : s->infob[i / 64] & ~bit;
        return;
    }
    size_t w = o / 64;
    uint64_t bit = 1ull << (o % 64);
    if (placed) {
        s->okb[w] |= bit;
        while (s->ok_lo < s->wok && s->okb[s->ok_lo] == ~0ull)
            s->ok_lo++;
        if (s->ok_hi < w + 1)
            s->ok_hi = w + 1;
    } else {
        s->okb[w] &= ~bit;
        if (s->ok_lo > w)
            s->ok_lo = w;
        while (s->ok_hi > 0 && s->okb[s->ok_hi - 1] == 0)
            s->ok_hi--;
    }
}

/* Tries to place op o at the current point: 1 placed, 0 not (the register
 * forbids it, or the memo knows where it leads) or SB_ENOMEM. */
static int try_place(lc_search *s, uint32_t o)
{
    uint32_t next_state;
    if (!model_step(sop(s, o), s->state, &next_state))
        return 0;
    uint64_t hash = s->set_hash ^ s->zobrist[o];
    mark(s, o, 1);
    lc_set set = {s->okb, s->ok_lo, s->ok_hi, s->infob, s->winfo};
    int rv = memo_add(&s->memo, &set, next_state, hash);
    if (rv != 0) {
        mark(s, o, 0);
        return rv == 1 ? 0 : rv;
    }
    s->stack_op[s->depth] = o;
    s->stack_state[s->depth] = s->state;
    s->depth++;
    s->state = next_state;
    s->set_hash = hash;
    lift(s, o);
    if (o < s->m_ok)
        s->remaining--;
    return 1;
}

/* Takes back the last placed op; returns it. */
static uint32_t take_back(lc_search *s)
{
    uint32_t o = s->stack_op[--s->depth];
    s->state = s->stack_state[s->depth];
    mark(s, o, 0);
    s->set_hash ^= s->zobrist[o];
    unlift(s, o);
    if (o < s->m_ok)
        s->remaining++;
    return o;
}

/* SEARCH_* or SB_ENOMEM. */
static int search_run(lc_search *s)
{
    uint32_t node = s->next[0];
    while (s->remaining > 0) {
        /* An unplaced OK op has its return event ahead, so the walk meets
         * a return before it wraps around to the sentinel. */
        SB_ASSERT(node != 0);
        if (++s->steps > s->max_steps)
            return SEARCH_STEPS;
        if ((s->steps & 4095) == 1 && s->deadline_ns && now_ns() > s->deadline_ns)
            return SEARCH_TIME;
        uint32_t o = s->node_op[node];
        if (!s->node_ret[node]) {
            int rv = try_place(s, o);
            if (rv == 1)
                node = s->next[0];
            else if (rv == 0)
                node = s->next[node];
            else
                return rv;
            continue;
        }
        /* o returned before any order of the placed ops let it in. */
        note_progress(s, node);
        if (s->depth == 0)
            return SEARCH_VIOLATION;
        node = s->next[s->call_node[take_back(s)]];
    }
    return SEARCH_OK;
}

static void search_free(lc_search *s)
{
    free(s->next);
    free(s->prev);
    free(s->node_op);
    free(s->node_ret);
    free(s->call_node);
    free(s->ret_node);
    free(s->okb);
    free(s->infob);
    free(s->zobrist);
    free(s->stack_op);
    free(s->stack_state);
    free(s->best_order);
    memo_free(&s->memo);
}

typedef struct lc_sortop {
    int64_t call;
    uint32_t g, info;
} lc_sortop;

static int sortop_cmp(const void *a, const void *b)
{
    const lc_sortop *x = a, *y = b;
    if (x->info != y->info)
        return x->info < y->info ? -1 : 1;
    if (x->call != y->call)
        return x->call < y->call ? -1 : 1;
    return x->g < y->g ? -1 : x->g > y->g;
}

/* Puts gop[0..m) in the order the search numbers its ops: OK ops by call
 * time, then indeterminate ones (see lc_set). Returns how many are OK, or
 * -1 when out of memory. */
static long number_ops(const sb_lincheck *h, uint32_t *gop, size_t m)
{
    lc_sortop *t = sb_malloc((m ? m : 1) * sizeof *t);
    if (!t)
        return -1;
    long m_ok = 0;
    for (size_t i = 0; i < m; i++) {
        const lc_op *o = &h->ops[gop[i]];
        t[i] = (lc_sortop){o->call, gop[i], o->outcome != SB_LINCHECK_OUT_OK};
        m_ok += o->outcome == SB_LINCHECK_OUT_OK;
    }
    qsort(t, m, sizeof *t, sortop_cmp);
    for (size_t i = 0; i < m; i++)
        gop[i] = t[i].g;
    free(t);
    return m_ok;
}

/* Builds the event list of the m ops gop[0..m), of which the first m_ok
 * are OK ops, the rest indeterminate. 0 or SB_ENOMEM. */
static int search_init(lc_search *s, const sb_lincheck *h, const uint32_t *gop, size_t m,
                       size_t m_ok)
{
    memset(s, 0, sizeof *s);
    s->h = h;
    s->gop = gop;
    s->m = m;
    s->m_ok = m_ok;
    s->wok = (m_ok + 63) / 64;
    s->winfo = (m - m_ok + 63) / 64;
    size_t nev = 0;
    lc_event *ev = sb_malloc((2 * m + 1) * sizeof *ev);
    s->next = sb_malloc((2 * m + 1) * sizeof *s->next);
    s->prev = sb_malloc((2 * m + 1) * sizeof *s->prev);
    s->node_op = sb_malloc((2 * m + 1) * sizeof *s->node_op);
    s->node_ret = sb_malloc((2 * m + 1) * sizeof *s->node_ret);
    s->call_node = sb_calloc(m + 1, sizeof *s->call_node);
    s->ret_node = sb_calloc(m + 1, sizeof *s->ret_node);
    s->okb = sb_calloc(s->wok + 1, sizeof *s->okb);
    s->infob = sb_calloc(s->winfo + 1, sizeof *s->infob);
    s->zobrist = sb_malloc((m + 1) * sizeof *s->zobrist);
    s->stack_op = sb_malloc((m + 1) * sizeof *s->stack_op);
    s->stack_state = sb_malloc((m + 1) * sizeof *s->stack_state);
    s->best_order = sb_malloc((m + 1) * sizeof *s->best_order);
    if (!ev || !s->next || !s->prev || !s->node_op || !s->node_ret || !s->call_node ||
        !s->ret_node || !s->okb || !s->infob || !s->zobrist || !s->stack_op || !s->stack_state ||
        !s->best_order) {
        free(ev);
        search_free(s);
        return SB_ENOMEM;
    }
    for (uint32_t o = 0; o < m; o++) {
        const lc_op *op = sop(s, o);
        ev[nev++] = (lc_event){op->call, 0, o};
        if (op->outcome == SB_LINCHECK_OUT_OK) {
            ev[nev++] = (lc_event){op->ret, 1, o};
            s->remaining++;
        }
        s->zobrist[o] = mix64(((uint64_t)o + 1) * 0x9e3779b97f4a7c15ull);
    }
    qsort(ev, nev, sizeof *ev, event_cmp);
    s->next[0] = nev ? 1 : 0;
    s->prev[0] = (uint32_t)nev;
    for (size_t i = 0; i < nev; i++) {
        uint32_t node = (uint32_t)i + 1;
        s->next[node] = i + 1 < nev ? node + 1 : 0;
        s->prev[node] = node - 1;
        s->node_op[node] = ev[i].op;
        s->node_ret[node] = (uint8_t)ev[i].ret;
        if (ev[i].ret)
            s->ret_node[ev[i].op] = node;
        else
            s->call_node[ev[i].op] = node;
    }
    free(ev);
    return 0;
}

/* ---- explanations ------------------------------------------------------ */

/* Why o cannot follow the order found, with the register at state. */
static int put_reason(sb_buf *b, const sb_lincheck *h, const lc_op *o, uint32_t state)
{
    uint32_t next;
    if (model_step(o, state, &next))
        return sb_buf_printf(b, "  after which it could take effect, but then the operations "
                                "after it have no legal order\n");
    int rv = sb_buf_printf(b, "  after which the register held ");
    rv |= put_value(b, h, state);
    if (o->fn == SB_LINCHECK_READ) {
        rv |= sb_buf_printf(b, ", but the read returned ");
        rv |= put_value(b, h, o->value);
    } else if (o->applied) {
        rv |= sb_buf_printf(b, ", but the cas applied, so it must have held ");
        rv |= put_value(b, h, o->from);
    } else if (state == o->from) {
        rv |= sb_buf_printf(b, ", the value the cas expected, but it did not apply");
    } else {
        rv |= sb_buf_printf(b, ", but the cas that did not apply saw ");
        rv |= put_value(b, h, o->value);
    }
    rv |= sb_buf_printf(b, "\n");
    return rv ? SB_ENOMEM : 0;
}

static int explain_violation(const lc_search *s, sb_buf *b)
{
    const sb_lincheck *h = s->h;
    uint32_t x = s->node_op[s->best_node];
    const lc_op *xo = sop(s, x);
    int rv = sb_buf_printf(b, "key ");
    rv |= put_key(b, h, xo->key);
    rv |= sb_buf_printf(b, ": NOT linearizable (%zu operations of this key checked)\n", s->m);
    rv |= sb_buf_printf(b, "  no legal order of its operations gets past the return of:\n    ");
    rv |= put_op(b, h, xo);
    rv |= sb_buf_printf(b,
                        "\n  the longest legal order the search found at that point "
                        "(%zu operation(s)):\n",
                        s->best_depth);
    size_t first = s->best_depth > EXPLAIN_ORDER_MAX ? s->best_depth - EXPLAIN_ORDER_MAX : 0;
    if (first)
        rv |= sb_buf_printf(b, "    ... %zu earlier operation(s)\n", first);
    for (size_t i = first; i < s->best_depth; i++) {
        rv |= sb_buf_printf(b, "    %zu. ", i + 1);
        rv |= put_op(b, h, sop(s, s->best_order[i]));
        rv |= sb_buf_printf(b, "\n");
    }
    rv |= put_reason(b, h, xo, s->best_state);

    /* The ops it could have been ordered around: those whose interval
     * overlaps its own (an indeterminate op's never ends). */
    uint8_t *placed = sb_calloc(s->m ? s->m : 1, 1);
    if (!placed)
        return SB_ENOMEM;
    for (size_t i = 0; i < s->best_depth; i++)
        placed[s->best_order[i]] = 1;
    size_t shown = 0, more = 0;
    for (uint32_t o = 0; o < s->m; o++) {
        const lc_op *op = sop(s, o);
        if (o == x || op->call > xo->ret || op->ret < xo->call)
            continue;
        if (shown == 0)
            rv |= sb_buf_printf(b, "  operations concurrent with it:\n");
        if (shown++ >= EXPLAIN_CONCURRENT_MAX) {
            more++;
            continue;
        }
        rv |= sb_buf_printf(b, "    ");
        rv |= put_op(b, h, op);
        rv |= sb_buf_printf(b, placed[o] ? "  (in the order above)\n" : "\n");
    }
    free(placed);
    if (more)
        rv |= sb_buf_printf(b, "    ... and %zu more\n", more);
    if (shown == 0)
        rv |= sb_buf_printf(b, "  no other operation was concurrent with it\n");
    return rv ? SB_ENOMEM : 0;
}

static int explain_unknown(const lc_search *s, uint32_t key, int why, sb_buf *b)
{
    int rv = sb_buf_printf(b, "key ");
    rv |= put_key(b, s->h, key);
    if (why == SEARCH_STEPS)
        rv |=
            sb_buf_printf(b, ": gave up after %" PRIu64 " search steps (the limit)", s->max_steps);
    else
        rv |= sb_buf_printf(b, ": gave up when the time limit passed");
    rv |= sb_buf_printf(b, "; %zu operation(s), %zu search states remembered", s->m, s->memo.n);
    if (s->memo.resets)
        rv |= sb_buf_printf(b, ", %" PRIu64 " times the memo filled its %zu bytes and started over",
                            s->memo.resets, s->memo.max_bytes);
    rv |= sb_buf_printf(b, "\n");
    return rv ? SB_ENOMEM : 0;
}

/* ---- the check ------------------------------------------------------- */

/* Ops that constrain the history: OK ones, and indeterminate writes and
 * cas (which may have changed the register). */
static int counted(const lc_op *o)
{
    return o->outcome == SB_LINCHECK_OUT_OK ||
           (o->outcome == SB_LINCHECK_OUT_INDETERMINATE && o->fn != SB_LINCHECK_READ);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The value an indeterminate write or cas leaves if it takes effect. */
static uint32_t effect_value(const lc_op *o)
{
    return o->fn == SB_LINCHECK_WRITE ? o->value : o->to;
}

/* Leaves out the indeterminate ops of gop[0..m) whose effect no op could
 * see; returns how many ops remain (kept in order at the front of gop).
 *
 * Why it is sound: say X left the register at v and no OK read returned
 * v, no OK cas applied from v or saw v, and no cas (OK or indeterminate)
 * might apply from v. Then in a linearization with X, the ops between X
 * and the next write or applied cas all ran with the register at v, so
 * none can be there, except a cas that did not apply and reported no
 * value (it only needs the register to differ from its expected value):
 * with such a cas in the key nothing is left out. Otherwise X can be
 * removed and the rest stays legal. Removing ops can make more values
 * unseen, hence the passes. This matters: a real test's timeouts leave
 * many indeterminate writes, each of which the search would otherwise try
 * at every point after its call. SB_ENOMEM leaves gop as it was. */
static int drop_unseen(const sb_lincheck *h, uint32_t *gop, size_t *m)
{
    uint32_t *seen = sb_malloc((*m ? *m : 1) * sizeof *seen);
    if (!seen)
        return SB_ENOMEM;
    for (int pass = 0, changed = 1; changed && pass < 8; pass++) {
        size_t nseen = 0, kept = 0;
        for (size_t i = 0; i < *m; i++) {
            const lc_op *o = &h->ops[gop[i]];
            int ok = o->outcome == SB_LINCHECK_OUT_OK;
            if (ok && o->fn == SB_LINCHECK_CAS && !o->applied && !o->has_value) {
                free(seen);
                return 0; /* a blind cas: every value may matter */
            }
            if (ok && (o->fn == SB_LINCHECK_READ || o->has_value))
                seen[nseen++] = o->value;
            else if (o->fn == SB_LINCHECK_CAS && (!ok || o->applied))
                seen[nseen++] = o->from;
        }
        qsort(seen, nseen, sizeof *seen, u32_cmp);
        for (size_t i = 0; i < *m; i++) {
            const lc_op *o = &h->ops[gop[i]];
            uint32_t v = effect_value(o);
            if (o->outcome == SB_LINCHECK_OUT_INDETERMINATE &&
                !bsearch(&v, seen, nseen, sizeof *seen, u32_cmp))
                continue;
            gop[kept++] = gop[i];
        }
        changed = kept < *m;
        *m = kept;
    }
    free(seen);
    return 0;
}

typedef struct lc_check {
    const sb_lincheck *h;
    uint64_t max_steps;
    size_t max_memo_bytes;
    int64_t deadline_ns;
    sb_lincheck_report *rep;
    sb_buf violation, unknown; /* the first explanation of each kind */
} lc_check;

/* Searches the m ops gop[0..m) of key; 0 or SB_ENOMEM. */
static int check_key(lc_check *c, uint32_t key, uint32_t *gop, size_t m)
{
    lc_search s;
    long m_ok = drop_unseen(c->h, gop, &m) == 0 ? number_ops(c->h, gop, m) : -1;
    if (m_ok < 0 || search_init(&s, c->h, gop, m, (size_t)m_ok) != 0)
        return SB_ENOMEM;
    s.max_steps = c->max_steps;
    s.deadline_ns = c->deadline_ns;
    s.memo.max_bytes = c->max_memo_bytes;
    int rv = 0, why = search_run(&s);
    c->rep->steps += s.steps;
    if (why == SEARCH_VIOLATION) {
        c->rep->keys_violated++;
        if (c->violation.len == 0)
            rv = explain_violation(&s, &c->violation);
    } else if (why != SEARCH_OK && why >= 0) {
        c->rep->keys_unknown++;
        if (c->unknown.len == 0)
            rv = explain_unknown(&s, key, why, &c->unknown);
    } else if (why < 0) {
        rv = why;
    }
    search_free(&s);
    return rv;
}

/* The counted ops grouped by key: byk[start[k] .. start[k + 1]) are key
 * k's, in the order added. *nkeys gets the number of keys with an op
 * (a key interned for an op refused for lack of memory has none). */
static int group_by_key(const sb_lincheck *h, size_t **start_out, uint32_t **byk_out, size_t *nkeys)
{
    size_t nk = h->keys.n;
    size_t *start = sb_calloc(nk + 2, sizeof *start);
    uint32_t *byk = sb_malloc((h->n ? h->n : 1) * sizeof *byk);
    uint8_t *used = sb_calloc(nk ? nk : 1, 1);
    if (!start || !byk || !used) {
        free(start);
        free(byk);
        free(used);
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < h->n; i++) {
        *nkeys += !used[h->ops[i].key];
        used[h->ops[i].key] = 1;
        if (counted(&h->ops[i]))
            start[h->ops[i].key + 2]++;
    }
    free(used);
    for (size_t k = 0; k < nk; k++)
        start[k + 2] += start[k + 1];
    for (size_t i = 0; i < h->n; i++)
        if (counted(&h->ops[i]))
            byk[start[h->ops[i].key + 1]++] = (uint32_t)i;
    *start_out = start;
    *byk_out = byk;
    return 0;
}

int sb_lincheck_check(const sb_lincheck *h, const sb_lincheck_limits *limits,
                      sb_lincheck_report *report)
{
    memset(report, 0, sizeof *report);
    int64_t t0 = now_ns();
    lc_check c = {.h = h, .rep = report};
    c.max_steps =
        limits && limits->max_steps_per_key ? limits->max_steps_per_key : SB_LINCHECK_DEFAULT_STEPS;
    c.max_memo_bytes =
        limits && limits->max_memo_bytes ? limits->max_memo_bytes : SB_LINCHECK_DEFAULT_MEMO_BYTES;
    c.deadline_ns = limits && limits->max_ms ? t0 + (int64_t)limits->max_ms * 1000000 : 0;
    sb_buf_init(&c.violation);
    sb_buf_init(&c.unknown);

    report->ops = h->n;
    for (size_t i = 0; i < h->n; i++) {
        int out = h->ops[i].outcome;
        report->ops_ok += out == SB_LINCHECK_OUT_OK;
        report->ops_failed += out == SB_LINCHECK_OUT_FAIL;
        report->ops_indeterminate += out == SB_LINCHECK_OUT_INDETERMINATE;
    }
    size_t *start = NULL;
    uint32_t *byk = NULL;
    int rv = group_by_key(h, &start, &byk, &report->keys);
    for (size_t k = 0; k < h->keys.n && rv == 0; k++)
        rv = check_key(&c, (uint32_t)k, byk + start[k], start[k + 1] - start[k]);
    free(start);
    free(byk);
    if (rv == 0) {
        sb_buf *expl = c.violation.len ? &c.violation : c.unknown.len ? &c.unknown : NULL;
        if (expl && report->keys_violated + report->keys_unknown > 1)
            rv = sb_buf_printf(expl, "(%zu key(s) not linearizable, %zu undecided)\n",
                               report->keys_violated, report->keys_unknown);
        if (expl && rv == 0) {
            report->explanation = sb_buf_cstr(expl);
            if (!report->explanation)
                rv = SB_ENOMEM;
            else
                sb_buf_init(expl);
        }
    }
    sb_buf_free(&c.violation);
    sb_buf_free(&c.unknown);
    if (rv != 0) {
        free(report->explanation);
        memset(report, 0, sizeof *report);
        return rv;
    }
    report->result = report->keys_violated  ? SB_LINCHECK_VIOLATION
                     : report->keys_unknown ? SB_LINCHECK_UNKNOWN
                                            : SB_LINCHECK_LINEARIZABLE;
    report->elapsed_ms = (double)(now_ns() - t0) / 1e6;
    return 0;
}

void sb_lincheck_report_free(sb_lincheck_report *report)
{
    free(report->explanation);
    report->explanation = NULL;
}
