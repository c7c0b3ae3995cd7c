/*
 * Sensor fleet generator (see gen.h for the model and its guarantees).
 *
 * NOTES ON THE DESIGN
 *
 * - Two sources of readings: the schedule (reading k at start + k*1000/rate)
 *   and a small binary min-heap of delayed readings keyed by release time.
 *   next() compares the two heads and returns the earlier; a tie goes to
 *   the delayed reading. A scheduled reading picked to be late is moved to
 *   the heap when its slot comes up, so random draws happen in schedule
 *   order whatever the caller's polling pattern.
 * - Values are computed when the reading is scheduled, from the sensor's
 *   parameters, the UTC time of day and Gaussian noise; they are rounded
 *   to the precision real sensors report (0.1 degC, 0.1 %RH, 0.1 hPa,
 *   1 lux, 0.01 ppm).
 * - The heap is bounded (SB_SIM_MAX_DELAYED); when full, a reading that
 *   would be delayed is sent on time instead.
 */
#include "sim/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/prng.h"

typedef struct delayed {
    int64_t release_ms;
    uint64_t seq; /* keeps equal release times in schedule order */
    sb_sim_reading r;
} delayed;

struct sb_sim_gen {
    sb_sim_gen_opts o;
    sb_sim_sensor *sensors;
    sb_prng rng;
    uint64_t k; /* next scheduled reading */
    delayed *heap;
    int nheap, capheap;
};

/* ---- randomness (util/prng.h, seeded with o->seed) ------------------------ */

/* uniform in [0, 1) */
static double rnd_unit(sb_sim_gen *g)
{
    return sb_prng_unit(&g->rng);
}

static double rnd_range(sb_sim_gen *g, double lo, double hi)
{
    return lo + (hi - lo) * rnd_unit(g);
}

/* standard normal (Box-Muller; one value per call keeps the stream simple) */
static double rnd_normal(sb_sim_gen *g)
{
    double u1 = rnd_unit(g), u2 = rnd_unit(g);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2);
}

/* ---- the fleet -------------------------------------------------------------- */

typedef struct place {
    const char *name;
    double temp_c, temp_amp_c, hum_pct, light_max_lux;
} place;

static const place places[] = {
    {"lab-1", 21.5, 1.5, 42, 450},          {"lab-2", 22.0, 1.2, 40, 500},
    {"office-3", 22.5, 2.5, 38, 600},       {"warehouse-a", 14.0, 5.0, 55, 250},
    {"greenhouse-b", 24.0, 7.0, 72, 20000}, {"server-room", 19.0, 0.8, 33, 300},
    {"roof", 12.0, 8.0, 65, 50000},
};
enum { NPLACES = sizeof places / sizeof places[0] };

static const char *const device_types[] = {"env", "air", "climate"};

void sb_sim_gen_opts_default(sb_sim_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sensors = 100;
    o->rate = 100;
    o->seed = 1;
    o->late_fraction = 0.02;
    o->delay_min_ms = 1000;
    o->delay_max_ms = 5000;
    o->measurement = "readings";
}

int sb_sim_gen_new(sb_sim_gen **out, const sb_sim_gen_opts *o, char *errmsg)
{
    *out = NULL;
    if (o->sensors < 1 || o->sensors > SB_SIM_MAX_SENSORS)
        return sb_seterr(errmsg, SB_EINVAL, "sensors must be 1..%d, not %d", SB_SIM_MAX_SENSORS,
                         o->sensors);
    if (!(o->rate > 0 && o->rate <= 1e7))
        return sb_seterr(errmsg, SB_EINVAL, "rate must be > 0 and <= 1e7 readings/s, not %g",
                         o->rate);
    if (!(o->late_fraction >= 0 && o->late_fraction <= 1))
        return sb_seterr(errmsg, SB_EINVAL, "late fraction must be 0..1, not %g", o->late_fraction);
    if (o->delay_min_ms < 0 || o->delay_max_ms < o->delay_min_ms)
        return sb_seterr(errmsg, SB_EINVAL, "delay range %d..%d ms is not valid", o->delay_min_ms,
                         o->delay_max_ms);
    if (o->start_ms < 0 || (o->end_ms && o->end_ms < o->start_ms))
        return sb_seterr(errmsg, SB_EINVAL, "start/end times are not valid");
    sb_sim_gen *g = calloc(1, sizeof *g);
    if (!g)
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory");
    g->o = *o;
    if (!g->o.measurement || !*g->o.measurement)
        g->o.measurement = "readings";
    g->sensors = calloc((size_t)o->sensors, sizeof *g->sensors);
    if (!g->sensors) {
        free(g);
        return sb_seterr(errmsg, SB_ENOMEM, "out of memory for %d sensors", o->sensors);
    }
    sb_prng_seed(&g->rng, o->seed);
    int width = 3;
    for (int n = o->sensors - 1; n >= 1000; n /= 10)
        width++;
    for (int i = 0; i < o->sensors; i++) {
        sb_sim_sensor *s = &g->sensors[i];
        const place *p = &places[i % NPLACES];
        snprintf(s->id, sizeof s->id, "s%0*d", width & 7, i % 10000000);
        s->location = p->name;
        s->device_type = device_types[(i / NPLACES) % 3];
        s->temp_base_c = p->temp_c + rnd_range(g, -1, 1);
        s->temp_amp_c = p->temp_amp_c * rnd_range(g, 0.8, 1.2);
        s->hum_base_pct = p->hum_pct + rnd_range(g, -4, 4);
        s->press_offset_hpa = rnd_range(g, -6, 6); /* altitude and calibration */
        s->light_max_lux = p->light_max_lux * rnd_range(g, 0.7, 1.3);
        s->gas_base = rnd_range(g, 0.2, 0.6);
        s->phase_s = rnd_range(g, -1800, 1800);
    }
    *out = g;
    return 0;
}

void sb_sim_gen_free(sb_sim_gen *g)
{
    if (!g)
        return;
    free(g->sensors);
    free(g->heap);
    free(g);
}

const sb_sim_sensor *sb_sim_gen_sensor(const sb_sim_gen *g, int i)
{
    return i >= 0 && i < g->o.sensors ? &g->sensors[i] : NULL;
}

int sb_sim_gen_sensors(const sb_sim_gen *g)
{
    return g->o.sensors;
}

static int64_t sched_ms(const sb_sim_gen *g, uint64_t k)
{
    return g->o.start_ms + (int64_t)floor((double)k * 1000.0 / g->o.rate);
}

static int sched_done(const sb_sim_gen *g)
{
    return g->o.end_ms && sched_ms(g, g->k) >= g->o.end_ms;
}

static double round_to(double v, double unit)
{
    return round(v / unit) * unit + 0.0; /* + 0.0 turns -0.0 into 0.0 */
}

/* The physical model. tod: seconds since UTC midnight, shifted per sensor. */
static void compute(sb_sim_gen *g, sb_sim_reading *r)
{
    const sb_sim_sensor *s = &g->sensors[r->sensor];
    double t_s = (double)r->ts_ms / 1000.0;
    double tod = fmod(t_s + s->phase_s, 86400.0);
    if (tod < 0)
        tod += 86400;
    double day = 2 * M_PI * tod / 86400.0;
    /* Temperature peaks mid-afternoon (15:00), lowest around 03:00. */
    double diurnal = sin(day - 2 * M_PI * 9.0 / 24.0);
    double temp = s->temp_base_c + s->temp_amp_c * diurnal + 0.15 * rnd_normal(g);
    /* Relative humidity falls as the air warms. */
    double hum = s->hum_base_pct - 2.0 * (temp - s->temp_base_c) + 0.6 * rnd_normal(g);
    /* Weather fronts: a slow ~3-day swing plus the semidiurnal tide. */
    double press = 1013.25 + s->press_offset_hpa + 6.0 * sin(2 * M_PI * t_s / (3 * 86400.0)) +
                   0.6 * sin(2 * day) + 0.05 * rnd_normal(g);
    /* Daylight 06:00-18:00; indoor lights 08:00-18:00 add a fixed level. */
    double sun = sin(M_PI * (tod - 6 * 3600.0) / (12 * 3600.0));
    double light = sun > 0 ? s->light_max_lux * sun : 0;
    int office_hours = tod >= 8 * 3600.0 && tod < 18 * 3600.0;
    if (office_hours && s->light_max_lux < 1000)
        light = light * 0.5 + 0.5 * s->light_max_lux;
    light += light > 0 ? 0.03 * light * rnd_normal(g) : 0.4 * fabs(rnd_normal(g));
    /* VOCs rise while people are around. */
    double gas = s->gas_base + (office_hours ? 0.15 : 0) + 0.03 * rnd_normal(g);

    r->temperature_c = round_to(temp, 0.1);
    r->humidity_pct = round_to(hum < 0 ? 0 : hum > 100 ? 100 : hum, 0.1);
    r->pressure_hpa = round_to(press, 0.1);
    r->light_lux = light < 0 ? 0 : (int64_t)llround(light);
    r->gas = round_to(gas < 0 ? 0 : gas, 0.01);
}

/* ---- the delay heap ------------------------------------------------------------ */

static int heap_less(const delayed *a, const delayed *b)
{
    return a->release_ms < b->release_ms || (a->release_ms == b->release_ms && a->seq < b->seq);
}

static int heap_push(sb_sim_gen *g, const delayed *d)
{
    if (g->nheap == g->capheap) {
        if (g->capheap >= SB_SIM_MAX_DELAYED)
            return -1;
        int cap = g->capheap ? g->capheap * 2 : 64;
        delayed *p = realloc(g->heap, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        g->heap = p;
        g->capheap = cap;
    }
    int i = g->nheap++;
    g->heap[i] = *d;
    while (i > 0 && heap_less(&g->heap[i], &g->heap[(i - 1) / 2])) {
        delayed t = g->heap[i];
        g->heap[i] = g->heap[(i - 1) / 2];
        g->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static void heap_pop(sb_sim_gen *g, delayed *out)
{
    *out = g->heap[0];
    g->heap[0] = g->heap[--g->nheap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < g->nheap && heap_less(&g->heap[l], &g->heap[m]))
            m = l;
        if (r < g->nheap && heap_less(&g->heap[r], &g->heap[m]))
            m = r;
        if (m == i)
            break;
        delayed t = g->heap[i];
        g->heap[i] = g->heap[m];
        g->heap[m] = t;
        i = m;
    }
}

/* ---- iteration ------------------------------------------------------------------- */

int sb_sim_gen_next(sb_sim_gen *g, int64_t now_ms, sb_sim_reading *r)
{
    for (;;) {
        int64_t sched = sched_done(g) ? INT64_MAX : sched_ms(g, g->k);
        if (g->nheap > 0 && g->heap[0].release_ms <= sched) {
            if (g->heap[0].release_ms > now_ms)
                return 0;
            delayed d;
            heap_pop(g, &d);
            *r = d.r;
            return 1;
        }
        if (sched > now_ms)
            return 0;
        memset(r, 0, sizeof *r);
        r->sensor = (int)(g->k % (uint64_t)g->o.sensors);
        r->ts_ms = sched;
        uint64_t seq = g->k++;
        compute(g, r);
        if (g->o.late_fraction > 0 && rnd_unit(g) < g->o.late_fraction) {
            delayed d = {.seq = seq, .r = *r};
            d.r.late = 1;
            d.release_ms =
                sched + (int64_t)llround(rnd_range(g, g->o.delay_min_ms, g->o.delay_max_ms));
            if (heap_push(g, &d) == 0)
                continue; /* comes out later, from the heap */
        }
        return 1;
    }
}

int64_t sb_sim_gen_next_due_ms(const sb_sim_gen *g)
{
    int64_t sched = sched_done(g) ? INT64_MAX : sched_ms(g, g->k);
    if (g->nheap > 0 && g->heap[0].release_ms < sched)
        return g->heap[0].release_ms;
    return sched;
}

int sb_sim_gen_done(const sb_sim_gen *g)
{
    return sched_done(g) && g->nheap == 0;
}

uint64_t sb_sim_gen_skip_to(sb_sim_gen *g, int64_t now_ms)
{
    if (now_ms <= g->o.start_ms)
        return 0;
    /* first k with sched_ms(k) >= now_ms */
    uint64_t k = (uint64_t)ceil((double)(now_ms - g->o.start_ms) * g->o.rate / 1000.0);
    while (k > 0 && sched_ms(g, k - 1) >= now_ms)
        k--;
    while (sched_ms(g, k) < now_ms)
        k++;
    if (k <= g->k)
        return 0;
    /* Keep each sensor's cadence: only whole rounds are skipped. */
    uint64_t n = (uint64_t)g->o.sensors;
    uint64_t skipped = (k - g->k) / n * n;
    g->k += skipped;
    return skipped;
}

/* ---- line protocol ------------------------------------------------------------------ */

/* Measurements escape commas and spaces; tag keys and values also '='. */
static int put_escaped(sb_buf *out, const char *s, int is_measurement)
{
    for (const char *p = s; *p; p++) {
        if (*p == ',' || *p == ' ' || (!is_measurement && *p == '=')) {
            if (sb_buf_putc(out, '\\'))
                return SB_ENOMEM;
        }
        if (sb_buf_putc(out, (uint8_t)*p))
            return SB_ENOMEM;
    }
    return 0;
}

int sb_sim_format_line(const sb_sim_gen *g, const sb_sim_reading *r, sb_buf *out)
{
    const sb_sim_sensor *s = &g->sensors[r->sensor];
    int rv = put_escaped(out, g->o.measurement, 1);
    rv = rv ? rv : sb_buf_append(out, ",location=", 10);
    rv = rv ? rv : put_escaped(out, s->location, 0);
    rv = rv ? rv : sb_buf_append(out, ",device_type=", 13);
    rv = rv ? rv : put_escaped(out, s->device_type, 0);
    rv = rv ? rv : sb_buf_append(out, ",sensor_id=", 11);
    rv = rv ? rv : put_escaped(out, s->id, 0);
    /* %.1f of a value already rounded to 0.1 prints it exactly */
    return rv ? rv
              : sb_buf_printf(out,
                              " temperature=%.1f,humidity=%.1f,pressure=%.1f,light=%lldi,"
                              "gas=%.2f %lld\n",
                              r->temperature_c, r->humidity_pct, r->pressure_hpa,
                              (long long)r->light_lux, r->gas, (long long)r->ts_ms);
}
