/*
 * Random register histories for the linearizability checker's tests and
 * benchmark (tests/unit/util/test_lincheck.c, bench/bench_lincheck.c).
 *
 * A real sequential register per key produces them: each of `processes`
 * clients issues operations one after another, each with a random call
 * time, duration and a linearization point inside its interval; applying
 * the operations to the registers in linearization-point order gives what
 * each one read or whether its cas applied. Some operations fail (they
 * never touch the register) and some are indeterminate (they took effect
 * or not, at random, and their client never learns which). Such a history
 * is linearizable by construction.
 */
#ifndef SB_TEST_LINCHECK_GEN_H
#define SB_TEST_LINCHECK_GEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/lincheck.h"

typedef struct lcgen_opts {
    uint64_t seed;
    int ops, keys, processes;
    int values;   /* written values are 1..values: few values, more ambiguity */
    int fail_pct; /* operations that fail */
    int info_pct; /* operations that end indeterminate */
    int corrupt;  /* 1: one OK read returns a value nobody wrote */
} lcgen_opts;

typedef struct lcgen_op {
    sb_lincheck_fn fn;
    sb_lincheck_outcome outcome;
    int key, process;
    int64_t value, from, to; /* 0 stands for absent */
    int applied, took_effect;
    int64_t call, ret, lp;
} lcgen_op;

static uint64_t lcgen_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int lcgen_below(uint64_t *s, int n)
{
    return (int)(lcgen_next(s) % (uint64_t)n);
}

static int lcgen_by_lp(const void *a, const void *b)
{
    const lcgen_op *x = a, *y = b;
    return x->lp < y->lp ? -1 : x->lp > y->lp;
}

static sb_lincheck_value lcgen_value(int64_t v)
{
    sb_lincheck_value r = {.kind = v ? SB_LINCHECK_INT : SB_LINCHECK_ABSENT, .i = v};
    return r;
}

/* Appends the history to h; returns the id (1-based index) of the
 * corrupted read, 0 when none, -1 on error. */
static int64_t lcgen_fill(sb_lincheck *h, const lcgen_opts *o)
{
    uint64_t rng = o->seed;
    lcgen_op *ops = calloc((size_t)o->ops, sizeof *ops);
    int64_t *clock = calloc((size_t)o->processes, sizeof *clock);
    int64_t *reg = calloc((size_t)o->keys, sizeof *reg);
    int64_t corrupted = 0;
    if (!ops || !clock || !reg) {
        free(ops);
        free(clock);
        free(reg);
        return -1;
    }
    for (int i = 0; i < o->ops; i++) {
        lcgen_op *g = &ops[i];
        g->process = i % o->processes;
        g->key = lcgen_below(&rng, o->keys);
        int r = lcgen_below(&rng, 100);
        g->fn = r < 40 ? SB_LINCHECK_READ : r < 70 ? SB_LINCHECK_WRITE : SB_LINCHECK_CAS;
        g->value = 1 + lcgen_below(&rng, o->values);
        g->from = lcgen_below(&rng, o->values + 1);
        g->to = 1 + lcgen_below(&rng, o->values);
        r = lcgen_below(&rng, 100);
        g->outcome = r < o->fail_pct                 ? SB_LINCHECK_OUT_FAIL
                     : r < o->fail_pct + o->info_pct ? SB_LINCHECK_OUT_INDETERMINATE
                                                     : SB_LINCHECK_OUT_OK;
        int64_t dur = 1 + lcgen_below(&rng, 100);
        g->call = clock[g->process] + lcgen_below(&rng, 20);
        g->ret = g->call + dur;
        g->lp = g->call + lcgen_below(&rng, (int)dur + 1);
        clock[g->process] = g->ret;
        g->took_effect = g->outcome == SB_LINCHECK_OUT_OK ||
                         (g->outcome == SB_LINCHECK_OUT_INDETERMINATE && lcgen_below(&rng, 2));
    }
    /* Run the registers in linearization-point order. */
    qsort(ops, (size_t)o->ops, sizeof *ops, lcgen_by_lp);
    for (int i = 0; i < o->ops; i++) {
        lcgen_op *g = &ops[i];
        if (!g->took_effect)
            continue;
        int64_t *v = &reg[g->key];
        if (g->fn == SB_LINCHECK_READ) {
            g->value = *v;
        } else if (g->fn == SB_LINCHECK_WRITE) {
            *v = g->value;
        } else {
            g->applied = *v == g->from;
            if (g->applied)
                *v = g->to;
        }
    }
    int victim = -1;
    for (int i = o->ops / 2; o->corrupt && i < o->ops && victim < 0; i++)
        if (ops[i].fn == SB_LINCHECK_READ && ops[i].outcome == SB_LINCHECK_OUT_OK)
            victim = i;
    if (victim >= 0) {
        ops[victim].value = 1000 + o->values; /* never written */
        corrupted = (int64_t)sb_lincheck_count(h) + victim + 1;
    }
    for (int i = 0; i < o->ops; i++) {
        const lcgen_op *g = &ops[i];
        char key[16];
        snprintf(key, sizeof key, "k%d", g->key);
        sb_lincheck_op op = {
            .process = g->process,
            .key = (const uint8_t *)key,
            .key_len = strlen(key),
            .fn = g->fn,
            .outcome = g->outcome,
            .value = lcgen_value(g->value),
            .from = lcgen_value(g->from),
            .to = lcgen_value(g->to),
            .applied = g->applied,
            .call = g->call,
            .ret = g->ret,
        };
        if (sb_lincheck_add(h, &op, NULL) < 0) {
            corrupted = -1;
            break;
        }
    }
    free(ops);
    free(clock);
    free(reg);
    return corrupted;
}

#endif
