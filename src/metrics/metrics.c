/*
 * Prometheus metrics registry: families, children, text exposition.
 *
 * NOTES ON THE DESIGN
 *
 * - A family owns an array of children, each with its label values and a
 *   hash of them; lookup compares hashes first. Families and children are
 *   only ever added, never removed, until sb_metrics_free: that is what
 *   lets callers keep child pointers without reference counting.
 * - Values are _Atomic uint64_t. Counters keep an integer part (the common
 *   case, one relaxed fetch_add) and a double part for fractional amounts
 *   (CAS loop on the bit pattern). Gauges and histogram sums are doubles
 *   stored as bits with CAS loops. Histogram buckets are non-cumulative
 *   counts; render accumulates them and reports the total as _count, so a
 *   scrape is always self-consistent (_count == +Inf bucket) even while
 *   other threads observe.
 * - One mutex guards the structure (family list, child arrays, collectors);
 *   updates never take it.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

struct sb_counter {
    _Atomic uint64_t n;
    _Atomic uint64_t fbits; /* double: fractional additions */
};

struct sb_gauge {
    _Atomic uint64_t bits; /* double */
};

struct sb_histogram {
    const double *bounds; /* the family's */
    int nbounds;
    _Atomic uint64_t sumbits;  /* double */
    _Atomic uint64_t counts[]; /* nbounds + 1, the last is +Inf */
};

typedef struct child {
    uint64_t hash;
    char **values; /* family's nlabels strings */
    void *metric;  /* sb_counter / sb_gauge / sb_histogram */
} child;

typedef struct family {
    sb_metric_type type;
    char *name;
    char *help;
    int nlabels;
    char *labels[SB_METRICS_MAX_LABELS];
    double bounds[SB_METRICS_MAX_BUCKETS];
    int nbounds;
    child *children;
    int nchildren, cap;
    sb_metric_fn fn; /* callback family: value computed at render */
    void *fn_arg;
    struct sb_metrics *m;
    struct family *next;
} family;

typedef struct collector {
    sb_metrics_collect_fn fn;
    void *arg;
    struct collector *next;
} collector;

struct sb_metrics {
    pthread_mutex_t mu;
    family *head, *tail;
    collector *collectors;
    char errmsg[SB_ERRMSG_SIZE];
};

/* ---- atomic doubles ------------------------------------------------------ */

static inline uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, d2u(u2d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* ---- name checks ---------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int valid_label_name(const char *s)
{
    if (!s || !*s || (s[0] == '_' && s[1] == '_'))
        return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

/* Names that are not in base units, which Prometheus' linter rejects. */
static const char *const non_base_units[] = {
    "milliseconds", "microseconds", "nanoseconds", "minutes",   "hours",
    "days",         "kilobytes",    "megabytes",   "gigabytes", NULL,
};

static int check_metric_name(sb_metrics *m, const char *name, sb_metric_type type)
{
    if (!name || !*name)
        return sb_seterr(m->errmsg, SB_EINVAL, "metric name is empty");
    for (const char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || *p == '_' || *p == ':' ||
                 (p > name && *p >= '0' && *p <= '9');
        if (!ok)
            return sb_seterr(m->errmsg, SB_EINVAL,
                             "metric name '%s': character '%c' at %d is not allowed (use "
                             "lower-case snake_case: [a-z_:][a-z0-9_:]*)",
                             name, *p, (int)(p - name));
    }
    if (type == SB_METRIC_COUNTER && !ends_with(name, "_total"))
        return sb_seterr(m->errmsg, SB_EINVAL, "counter name '%s' must end in _total", name);
    if (type != SB_METRIC_COUNTER && ends_with(name, "_total"))
        return sb_seterr(m->errmsg, SB_EINVAL, "only counter names may end in _total ('%s')", name);
    if (ends_with(name, "_bucket") || ends_with(name, "_sum") || ends_with(name, "_count"))
        return sb_seterr(m->errmsg, SB_EINVAL,
                         "metric name '%s' ends in a suffix reserved for histograms", name);
    for (int i = 0; non_base_units[i]; i++) {
        const char *u = non_base_units[i];
        size_t k = strlen(u);
        for (const char *p = strstr(name, u); p; p = strstr(p + 1, u)) {
            if ((p == name || p[-1] == '_') && (p[k] == '\0' || p[k] == '_'))
                return sb_seterr(m->errmsg, SB_EINVAL,
                                 "metric name '%s' uses unit '%s'; use base units (seconds, "
                                 "bytes)",
                                 name, u);
        }
    }
    return 0;
}

/* ---- registry --------------------------------------------------------------- */

sb_metrics *sb_metrics_new(void)
{
    sb_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void family_free(family *f)
{
    for (int i = 0; i < f->nchildren; i++) {
        for (int j = 0; j < f->nlabels; j++)
            free(f->children[i].values[j]);
        free(f->children[i].values);
        free(f->children[i].metric);
    }
    free(f->children);
    for (int j = 0; j < f->nlabels; j++)
        free(f->labels[j]);
    free(f->name);
    free(f->help);
    free(f);
}

void sb_metrics_free(sb_metrics *m)
{
    if (!m)
        return;
    for (family *f = m->head, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    for (collector *c = m->collectors, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *sb_metrics_errmsg(sb_metrics *m)
{
    return m->errmsg;
}

/* The default histogram bounds (seconds, 0.5 ms .. 10 s) and their count. */
static const double *sb_metrics_default_buckets(int *nbounds)
{
    static const double b[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    *nbounds = (int)(sizeof b / sizeof b[0]);
    return b;
}

static int count_strings(const char *const *v)
{
    int n = 0;
    while (v && v[n])
        n++;
    return n;
}

static family *find_family(sb_metrics *m, const char *name)
{
    for (family *f = m->head; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static int same_shape(const family *f, sb_metric_type type, const char *const *labels, int nl,
                      const double *bounds, int nb, sb_metric_fn fn)
{
    if (f->type != type || f->nlabels != nl || (f->fn != NULL) != (fn != NULL) || fn)
        return 0;
    for (int i = 0; i < nl; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return 0;
    if (type == SB_METRIC_HISTOGRAM) {
        if (nb != f->nbounds)
            return 0;
        for (int i = 0; i < nb; i++)
            if (bounds[i] != f->bounds[i])
                return 0;
    }
    return 1;
}

/* Registers (or finds) a family; called with m->mu held. */
static family *register_family(sb_metrics *m, sb_metric_type type, const char *name,
                               const char *help, const char *const *labels, const double *bounds,
                               int nb, sb_metric_fn fn, void *fn_arg)
{
    if (check_metric_name(m, name, type))
        return NULL;
    int nl = count_strings(labels);
    if (nl > SB_METRICS_MAX_LABELS) {
        sb_seterr(m->errmsg, SB_EINVAL, "metric '%s': %d labels, at most %d", name, nl,
                  SB_METRICS_MAX_LABELS);
        return NULL;
    }
    for (int i = 0; i < nl; i++) {
        if (!valid_label_name(labels[i])) {
            sb_seterr(m->errmsg, SB_EINVAL, "metric '%s': bad label name '%s'", name, labels[i]);
            return NULL;
        }
        if (type == SB_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0) {
            sb_seterr(m->errmsg, SB_EINVAL, "histogram '%s' may not have a label 'le'", name);
            return NULL;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0) {
                sb_seterr(m->errmsg, SB_EINVAL, "metric '%s': label '%s' given twice", name,
                          labels[i]);
                return NULL;
            }
    }
    if (type == SB_METRIC_HISTOGRAM) {
        if (!bounds || nb <= 0)
            bounds = sb_metrics_default_buckets(&nb);
        if (nb > SB_METRICS_MAX_BUCKETS) {
            sb_seterr(m->errmsg, SB_EINVAL, "histogram '%s': %d buckets, at most %d", name, nb,
                      SB_METRICS_MAX_BUCKETS);
            return NULL;
        }
        for (int i = 0; i < nb; i++)
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
                sb_seterr(m->errmsg, SB_EINVAL,
                          "histogram '%s': bucket bounds must be finite and strictly "
                          "increasing (bound %d)",
                          name, i);
                return NULL;
            }
    }
    family *f = find_family(m, name);
    if (f) {
        if (same_shape(f, type, labels, nl, bounds, nb, fn))
            return f;
        sb_seterr(m->errmsg, SB_EEXISTS,
                  "metric '%s' is already registered with another type, labels or buckets", name);
        return NULL;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        goto nomem;
    f->type = type;
    f->m = m;
    f->fn = fn;
    f->fn_arg = fn_arg;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help)
        goto nomem;
    for (int i = 0; i < nl; i++) {
        if (!(f->labels[i] = strdup(labels[i])))
            goto nomem;
        f->nlabels = i + 1;
    }
    if (type == SB_METRIC_HISTOGRAM) {
        memcpy(f->bounds, bounds, (size_t)nb * sizeof *bounds);
        f->nbounds = nb;
    }
    if (m->tail)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    return f;
nomem:
    if (f)
        family_free(f);
    sb_seterr(m->errmsg, SB_ENOMEM, "out of memory registering '%s'", name);
    return NULL;
}

static uint64_t hash_values(const char *const *v, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        for (const char *p = v[i]; *p; p++)
            h = (h ^ (uint8_t)*p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return h;
}

static void *new_metric(const family *f)
{
    switch (f->type) {
    case SB_METRIC_COUNTER:
        return calloc(1, sizeof(sb_counter));
    case SB_METRIC_GAUGE:
        return calloc(1, sizeof(sb_gauge));
    case SB_METRIC_HISTOGRAM: {
        sb_histogram *h =
            calloc(1, sizeof *h + (size_t)(f->nbounds + 1) * sizeof(_Atomic uint64_t));
        if (h) {
            h->bounds = f->bounds;
            h->nbounds = f->nbounds;
        }
        return h;
    }
    }
    return NULL;
}

/* Finds or creates the child for values; called with m->mu held. */
static void *family_child(family *f, const char *const *values)
{
    sb_metrics *m = f->m;
    int n = count_strings(values);
    if (n != f->nlabels) {
        sb_seterr(m->errmsg, SB_EINVAL, "metric '%s' has %d labels, %d values given", f->name,
                  f->nlabels, n);
        return NULL;
    }
    uint64_t h = hash_values(values, n);
    for (int i = 0; i < f->nchildren; i++) {
        child *c = &f->children[i];
        if (c->hash != h)
            continue;
        int j = 0;
        while (j < n && strcmp(c->values[j], values[j]) == 0)
            j++;
        if (j == n)
            return c->metric;
    }
    if (f->nchildren >= SB_METRICS_MAX_CHILDREN) {
        sb_seterr(m->errmsg, SB_EOVERLOADED, "metric '%s' has %d label sets already (the bound)",
                  f->name, f->nchildren);
        return NULL;
    }
    if (f->nchildren == f->cap) {
        int cap = f->cap ? f->cap * 2 : 4;
        child *p = realloc(f->children, (size_t)cap * sizeof *p);
        if (!p)
            goto nomem;
        f->children = p;
        f->cap = cap;
    }
    child c = {.hash = h};
    c.values = calloc((size_t)(n ? n : 1), sizeof(char *));
    c.metric = new_metric(f);
    if (!c.values || !c.metric)
        goto fail;
    for (int j = 0; j < n; j++)
        if (!(c.values[j] = strdup(values[j])))
            goto fail;
    f->children[f->nchildren++] = c;
    return c.metric;
fail:
    if (c.values)
        for (int j = 0; j < n; j++)
            free(c.values[j]);
    free(c.values);
    free(c.metric);
nomem:
    sb_seterr(m->errmsg, SB_ENOMEM, "out of memory adding a label set to '%s'", f->name);
    return NULL;
}

static family *reg(sb_metrics *m, sb_metric_type type, const char *name, const char *help,
                   const char *const *labels, const double *bounds, int nb)
{
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->mu);
    family *f = register_family(m, type, name, help, labels, bounds, nb, NULL, NULL);
    pthread_mutex_unlock(&m->mu);
    return f;
}

static void *with(family *f, const char *const *values)
{
    if (!f)
        return NULL;
    pthread_mutex_lock(&f->m->mu);
    void *c = family_child(f, values);
    pthread_mutex_unlock(&f->m->mu);
    return c;
}

sb_counter_vec *sb_metrics_counter_vec(sb_metrics *m, const char *name, const char *help,
                                       const char *const *label_names)
{
    return (sb_counter_vec *)reg(m, SB_METRIC_COUNTER, name, help, label_names, NULL, 0);
}

sb_gauge_vec *sb_metrics_gauge_vec(sb_metrics *m, const char *name, const char *help,
                                   const char *const *label_names)
{
    return (sb_gauge_vec *)reg(m, SB_METRIC_GAUGE, name, help, label_names, NULL, 0);
}

sb_histogram_vec *sb_metrics_histogram_vec(sb_metrics *m, const char *name, const char *help,
                                           const char *const *label_names, const double *bounds,
                                           int nbounds)
{
    return (sb_histogram_vec *)reg(m, SB_METRIC_HISTOGRAM, name, help, label_names, bounds,
                                   nbounds);
}

sb_counter *sb_counter_vec_with(sb_counter_vec *v, const char *const *label_values)
{
    return with((family *)v, label_values);
}

sb_gauge *sb_gauge_vec_with(sb_gauge_vec *v, const char *const *label_values)
{
    return with((family *)v, label_values);
}

sb_histogram *sb_histogram_vec_with(sb_histogram_vec *v, const char *const *label_values)
{
    return with((family *)v, label_values);
}

static const char *const no_values[] = {NULL};

sb_counter *sb_metrics_counter(sb_metrics *m, const char *name, const char *help)
{
    return sb_counter_vec_with(sb_metrics_counter_vec(m, name, help, NULL), no_values);
}

sb_gauge *sb_metrics_gauge(sb_metrics *m, const char *name, const char *help)
{
    return sb_gauge_vec_with(sb_metrics_gauge_vec(m, name, help, NULL), no_values);
}

sb_histogram *sb_metrics_histogram(sb_metrics *m, const char *name, const char *help,
                                   const double *bounds, int nbounds)
{
    return sb_histogram_vec_with(sb_metrics_histogram_vec(m, name, help, NULL, bounds, nbounds),
                                 no_values);
}

static int reg_fn(sb_metrics *m, sb_metric_type type, const char *name, const char *help,
                  sb_metric_fn fn, void *arg)
{
    if (!fn)
        return sb_seterr(m->errmsg, SB_EINVAL, "metric '%s': no callback", name ? name : "?");
    pthread_mutex_lock(&m->mu);
    family *f = register_family(m, type, name, help, NULL, NULL, 0, fn, arg);
    pthread_mutex_unlock(&m->mu);
    return f ? 0 : SB_EINVAL;
}

int sb_metrics_gauge_fn(sb_metrics *m, const char *name, const char *help, sb_metric_fn fn,
                        void *arg)
{
    return reg_fn(m, SB_METRIC_GAUGE, name, help, fn, arg);
}

int sb_metrics_add_collector(sb_metrics *m, sb_metrics_collect_fn fn, void *arg)
{
    collector *c = calloc(1, sizeof *c);
    if (!c)
        return SB_ENOMEM;
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&m->mu);
    collector **pp = &m->collectors;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int sb_metrics_remove_collector(sb_metrics *m, sb_metrics_collect_fn fn, void *arg)
{
    int rv = SB_ENOTFOUND;
    pthread_mutex_lock(&m->mu);
    for (collector **pp = &m->collectors; *pp; pp = &(*pp)->next) {
        if ((*pp)->fn == fn && (*pp)->arg == arg) {
            collector *c = *pp;
            *pp = c->next;
            free(c);
            rv = 0;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

/* ---- updates ---------------------------------------------------------------- */

void sb_counter_inc(sb_counter *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->n, 1, memory_order_relaxed);
}

void sb_counter_add(sb_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->n, n, memory_order_relaxed);
}

void sb_counter_add_f(sb_counter *c, double v)
{
    if (c && v > 0 && isfinite(v))
        atomic_add_double(&c->fbits, v);
}

double sb_counter_value(const sb_counter *c)
{
    if (!c)
        return 0;
    sb_counter *mc = (sb_counter *)c;
    return (double)atomic_load_explicit(&mc->n, memory_order_relaxed) +
           u2d(atomic_load_explicit(&mc->fbits, memory_order_relaxed));
}

void sb_gauge_set(sb_gauge *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, d2u(v), memory_order_relaxed);
}

void sb_gauge_add(sb_gauge *g, double v)
{
    if (g)
        atomic_add_double(&g->bits, v);
}

double sb_gauge_value(const sb_gauge *g)
{
    if (!g)
        return 0;
    return u2d(atomic_load_explicit(&((sb_gauge *)g)->bits, memory_order_relaxed));
}

void sb_histogram_observe(sb_histogram *h, double v)
{
    if (!h || isnan(v))
        return;
    /* Binary search for the first bound >= v (buckets are "le"). */
    int lo = 0, hi = h->nbounds;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sumbits, v);
}

uint64_t sb_histogram_count(const sb_histogram *h)
{
    if (!h)
        return 0;
    uint64_t n = 0;
    for (int i = 0; i <= h->nbounds; i++)
        n += atomic_load_explicit(&((sb_histogram *)h)->counts[i], memory_order_relaxed);
    return n;
}

double sb_histogram_sum(const sb_histogram *h)
{
    if (!h)
        return 0;
    return u2d(atomic_load_explicit(&((sb_histogram *)h)->sumbits, memory_order_relaxed));
}

/* ---- rendering ------------------------------------------------------------------ */

/* Formats v as the exposition format wants: NaN, +Inf, -Inf, integers without
 * exponent when exact, otherwise the shortest decimal that round-trips. */
static void fmt_value(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
    } else {
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(buf, size, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
}

static int put_escaped(sb_buf *out, const char *s, int quote)
{
    int rv = 0;
    for (const char *p = s; *p && !rv; p++) {
        if (*p == '\\')
            rv = sb_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rv = sb_buf_append(out, "\\n", 2);
        else if (quote && *p == '"')
            rv = sb_buf_append(out, "\\\"", 2);
        else
            rv = sb_buf_putc(out, (uint8_t)*p);
    }
    return rv;
}

static int put_header(sb_buf *out, const char *name, const char *help, sb_metric_type type)
{
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    int rv = sb_buf_printf(out, "# HELP %s ", name);
    rv = rv ? rv : put_escaped(out, help, 0);
    return rv ? rv : sb_buf_printf(out, "\n# TYPE %s %s\n", name, tname[type]);
}

/* name{l1="v1",...,extra_name="extra_value"} value\n */
static int put_sample(sb_buf *out, const char *name, const char *suffix, char *const *labels,
                      char *const *values, int n, const char *extra_name, const char *extra_value,
                      double v)
{
    int rv = sb_buf_printf(out, "%s%s", name, suffix);
    if (n > 0 || extra_name) {
        rv = rv ? rv : sb_buf_putc(out, '{');
        for (int i = 0; i < n && !rv; i++) {
            rv = sb_buf_printf(out, "%s%s=\"", i ? "," : "", labels[i]);
            rv = rv ? rv : put_escaped(out, values[i], 1);
            rv = rv ? rv : sb_buf_putc(out, '"');
        }
        if (extra_name && !rv)
            rv = sb_buf_printf(out, "%s%s=\"%s\"", n ? "," : "", extra_name, extra_value);
        rv = rv ? rv : sb_buf_putc(out, '}');
    }
    char num[40];
    fmt_value(num, sizeof num, v);
    return rv ? rv : sb_buf_printf(out, " %s\n", num);
}

static int render_histogram(sb_buf *out, const family *f, const child *c)
{
    sb_histogram *h = c->metric;
    uint64_t cum = 0;
    int rv = 0;
    char le[40];
    for (int i = 0; i <= h->nbounds && !rv; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbounds)
            fmt_value(le, sizeof le, h->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        rv = put_sample(out, f->name, "_bucket", f->labels, c->values, f->nlabels, "le", le,
                        (double)cum);
    }
    rv = rv ? rv
            : put_sample(out, f->name, "_sum", f->labels, c->values, f->nlabels, NULL, NULL,
                         sb_histogram_sum(h));
    return rv ? rv
              : put_sample(out, f->name, "_count", f->labels, c->values, f->nlabels, NULL, NULL,
                           (double)cum);
}

static int render_family(sb_buf *out, const family *f)
{
    if (!f->fn && f->nchildren == 0)
        return 0; /* nothing observed yet: no samples, no header */
    int rv = put_header(out, f->name, f->help, f->type);
    if (f->fn)
        return rv ? rv : put_sample(out, f->name, "", NULL, NULL, 0, NULL, NULL, f->fn(f->fn_arg));
    for (int i = 0; i < f->nchildren && !rv; i++) {
        const child *c = &f->children[i];
        if (f->type == SB_METRIC_HISTOGRAM)
            rv = render_histogram(out, f, c);
        else
            rv = put_sample(out, f->name, "", f->labels, c->values, f->nlabels, NULL, NULL,
                            f->type == SB_METRIC_COUNTER ? sb_counter_value(c->metric)
                                                         : sb_gauge_value(c->metric));
    }
    return rv;
}

struct sb_metrics_sink {
    sb_metrics *m;
    sb_buf *out;
    char name[128];
    int skip; /* current family invalid: drop its samples */
    int rv;
};

void sb_metrics_sink_family(sb_metrics_sink *s, sb_metric_type type, const char *name,
                            const char *help)
{
    if (s->rv)
        return;
    if (strcmp(s->name, name) == 0 && !s->skip)
        return; /* continuing the same family */
    s->skip = type == SB_METRIC_HISTOGRAM || strlen(name) >= sizeof s->name ||
              check_metric_name(s->m, name, type) != 0;
    snprintf(s->name, sizeof s->name, "%s", name);
    if (!s->skip)
        s->rv = put_header(s->out, name, help ? help : "", type);
}

void sb_metrics_sink_sample(sb_metrics_sink *s, const char *const *label_names,
                            const char *const *label_values, double value)
{
    if (s->rv || s->skip || !s->name[0])
        return;
    int n = count_strings(label_names);
    if (n != count_strings(label_values) || n > SB_METRICS_MAX_LABELS)
        return;
    for (int i = 0; i < n; i++)
        if (!valid_label_name(label_names[i]))
            return;
    s->rv = put_sample(s->out, s->name, "", (char *const *)label_names, (char *const *)label_values,
                       n, NULL, NULL, value);
}

int sb_metrics_render(sb_metrics *m, sb_buf *out)
{
    int rv = 0;
    pthread_mutex_lock(&m->mu);
    for (const family *f = m->head; f && !rv; f = f->next)
        rv = render_family(out, f);
    for (const collector *c = m->collectors; c && !rv; c = c->next) {
        sb_metrics_sink s = {.m = m, .out = out};
        c->fn(&s, c->arg);
        rv = s.rv;
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}
