/*
 * Sensor fleet generator: the deterministic core of `sibyl sim`.
 *
 * A fleet of n sensors, each with an id (s000, s001, ...), a location and a
 * device type, emits readings (temperature, humidity, pressure, light, gas)
 * that follow daily cycles over the UTC time of day, plus Gaussian noise.
 * Reading k is due at start_ms + k * 1000 / rate and belongs to sensor
 * k mod n, so the fleet as a whole produces `rate` readings per second and
 * each sensor one every n / rate seconds.
 *
 * A fraction of readings (late_fraction) is held back for a random delay
 * (delay_min_ms..delay_max_ms) and released later with its original
 * timestamp: these are the late, out-of-order readings a real fleet sends
 * after a network hiccup.
 *
 * Determinism: all randomness comes from one PRNG seeded with `seed` and
 * drawn in schedule order, and sb_sim_gen_next() always releases the
 * earliest due item, so the sequence of readings depends only on the
 * options, never on how often or at which times the caller polls.
 */
#ifndef SB_SIM_GEN_H
#define SB_SIM_GEN_H

#include <stdint.h>

#include "util/buf.h"

typedef struct sb_sim_gen sb_sim_gen;

typedef struct sb_sim_gen_opts {
    int sensors;             /* default 100 */
    double rate;             /* readings per second for the whole fleet; default 100 */
    uint64_t seed;           /* default 1 */
    int64_t start_ms;        /* timestamp of the first reading (Unix ms) */
    int64_t end_ms;          /* no reading scheduled at or after it; 0 = never */
    double late_fraction;    /* default 0.02 */
    int delay_min_ms;        /* default 1000 */
    int delay_max_ms;        /* default 5000 */
    const char *measurement; /* default "readings"; not copied, must outlive the generator */
} sb_sim_gen_opts;

typedef struct sb_sim_sensor {
    char id[16];
    const char *location;
    const char *device_type;
    /* per-sensor model parameters */
    double temp_base_c, temp_amp_c, hum_base_pct, press_offset_hpa, light_max_lux, gas_base;
    double phase_s; /* shift of this sensor's daily cycle */
} sb_sim_sensor;

typedef struct sb_sim_reading {
    int sensor;
    int64_t ts_ms;
    double temperature_c; /* one decimal */
    double humidity_pct;  /* one decimal, 0..100 */
    double pressure_hpa;  /* one decimal */
    int64_t light_lux;    /* >= 0 */
    double gas;           /* two decimals, >= 0 (VOC concentration, ppm) */
    int late;             /* released after later readings */
} sb_sim_reading;

enum { SB_SIM_MAX_SENSORS = 1000000, SB_SIM_MAX_DELAYED = 65536 };

void sb_sim_gen_opts_default(sb_sim_gen_opts *o);
/* Checks the options; 0 or SB_EINVAL with the reason in errmsg. */
int sb_sim_gen_new(sb_sim_gen **out, const sb_sim_gen_opts *o, char *errmsg);
void sb_sim_gen_free(sb_sim_gen *g);

/* Fills *r with the earliest reading due at or before now_ms and returns
 * 1; returns 0 when none is due yet (or the generator is done). */
int sb_sim_gen_next(sb_sim_gen *g, int64_t now_ms, sb_sim_reading *r);
/* When the next reading becomes due; INT64_MAX when done. */
int64_t sb_sim_gen_next_due_ms(const sb_sim_gen *g);
/* 1 once every scheduled reading (and every delayed one) was returned. */
int sb_sim_gen_done(const sb_sim_gen *g);
/* Drops scheduled readings due before now_ms (a simulator that fell far
 * behind skips ahead instead of bursting); returns how many. */
uint64_t sb_sim_gen_skip_to(sb_sim_gen *g, int64_t now_ms);

const sb_sim_sensor *sb_sim_gen_sensor(const sb_sim_gen *g, int i);
int sb_sim_gen_sensors(const sb_sim_gen *g);

/* Appends one line of InfluxDB line protocol with a newline:
 *   readings,location=lab-1,device_type=env,sensor_id=s042 temperature=21.4,
 *   humidity=40.2,pressure=1013.2,light=350i,gas=0.41 1732200000000
 * (timestamp in ms). 0 or SB_ENOMEM. */
int sb_sim_format_line(const sb_sim_gen *g, const sb_sim_reading *r, sb_buf *out);

#endif
