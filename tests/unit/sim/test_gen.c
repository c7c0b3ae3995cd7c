#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/gen.h"
#include "util/buf.h"
#include "util/err.h"

#define T0 1732147200000LL /* 2024-11-21 00:00:00 UTC */

static sb_sim_gen *make(uint64_t seed, double rate, int64_t duration_s, double late)
{
    sb_sim_gen_opts o;
    sb_sim_gen_opts_default(&o);
    o.seed = seed;
    o.rate = rate;
    o.start_ms = T0;
    o.end_ms = duration_s ? T0 + duration_s * 1000 : 0;
    o.late_fraction = late;
    char errmsg[SB_ERRMSG_SIZE];
    sb_sim_gen *g;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), 0);
    return g;
}

/* Everything g produces when polled every step_ms, as line protocol. */
static void drain(sb_sim_gen *g, int64_t step_ms, sb_buf *out)
{
    sb_sim_reading r;
    for (int64_t now = T0; !sb_sim_gen_done(g); now += step_ms)
        while (sb_sim_gen_next(g, now, &r))
            assert_int_equal(sb_sim_format_line(g, &r, out), 0);
}

static void test_deterministic(void **state)
{
    sb_buf a, b, c;
    sb_buf_init(&a);
    sb_buf_init(&b);
    sb_buf_init(&c);
    sb_sim_gen *g1 = make(42, 100, 120, 0.02), *g2 = make(42, 100, 120, 0.02);
    sb_sim_gen *g3 = make(43, 100, 120, 0.02);
    /* different polling patterns must not change the output */
    drain(g1, 1, &a);
    drain(g2, 977, &b);
    drain(g3, 1, &c);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_true(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
    sb_sim_gen_free(g1);
    sb_sim_gen_free(g2);
    sb_sim_gen_free(g3);
    sb_buf_free(&a);
    sb_buf_free(&b);
    sb_buf_free(&c);
}

static void test_every_reading_once(void **state)
{
    enum { DUR = 300, N = 100 };
    sb_sim_gen *g = make(1, 100, DUR, 0.05);
    static unsigned char seen[N][DUR];
    memset(seen, 0, sizeof seen);
    sb_sim_reading r;
    int total = 0, late = 0, out_of_order = 0;
    int64_t max_ts = 0, now = T0;
    while (!sb_sim_gen_done(g)) {
        int64_t due = sb_sim_gen_next_due_ms(g);
        assert_true(due >= now - 1000); /* never goes backwards by much */
        now = due;
        while (sb_sim_gen_next(g, now, &r)) {
            assert_true(r.ts_ms >= T0 && r.ts_ms < T0 + DUR * 1000);
            /* 100 sensors at 100/s: sensor i reports at i*10 ms past each second */
            assert_int_equal((r.ts_ms - T0) % 1000, r.sensor * 10);
            int sec = (int)((r.ts_ms - T0) / 1000);
            assert_int_equal(seen[r.sensor][sec], 0);
            seen[r.sensor][sec] = 1;
            total++;
            late += r.late;
            if (r.ts_ms < max_ts) {
                out_of_order++;
                assert_true(r.late);
                assert_true(max_ts - r.ts_ms <= 5000); /* delays are 1..5 s */
            }
            if (r.ts_ms > max_ts)
                max_ts = r.ts_ms;
        }
    }
    assert_int_equal(total, N * DUR);
    /* 5% late: 1500 expected; allow a wide statistical margin */
    assert_true(late > 1200 && late < 1800);
    assert_true(out_of_order > 1000);
    sb_sim_gen_free(g);
}

static void test_value_ranges_and_daily_cycle(void **state)
{
    /* one day, one reading per second across the fleet */
    sb_sim_gen *g = make(9, 1, 86400, 0);
    sb_sim_reading r;
    double t_sum[24] = {0}, light_sum[24] = {0};
    int n_hour[24] = {0};
    int64_t now = T0;
    while (!sb_sim_gen_done(g)) {
        now = sb_sim_gen_next_due_ms(g);
        while (sb_sim_gen_next(g, now, &r)) {
            const sb_sim_sensor *s = sb_sim_gen_sensor(g, r.sensor);
            assert_true(r.temperature_c > -20 && r.temperature_c < 50);
            assert_true(r.humidity_pct >= 0 && r.humidity_pct <= 100);
            assert_true(r.pressure_hpa > 980 && r.pressure_hpa < 1050);
            assert_true(r.light_lux >= 0 && r.light_lux < 100000);
            assert_true(r.gas >= 0 && r.gas < 3);
            /* rounded to the sensors' precision */
            assert_true(fabs(r.temperature_c * 10 - round(r.temperature_c * 10)) < 1e-6);
            assert_true(fabs(r.gas * 100 - round(r.gas * 100)) < 1e-6);
            int hour = (int)(((r.ts_ms - T0) / 1000) / 3600);
            t_sum[hour] += r.temperature_c - s->temp_base_c;
            light_sum[hour] += (double)r.light_lux;
            n_hour[hour]++;
        }
    }
    /* afternoon is warmer than the small hours; nights are dark */
    assert_true(t_sum[15] / n_hour[15] > t_sum[3] / n_hour[3] + 1.0);
    assert_true(light_sum[2] / n_hour[2] < 5);
    assert_true(light_sum[12] / n_hour[12] > 100);
    sb_sim_gen_free(g);
}

static void test_sensors_and_format(void **state)
{
    sb_sim_gen_opts o;
    sb_sim_gen_opts_default(&o);
    o.start_ms = T0;
    o.measurement = "my readings,x";
    char errmsg[SB_ERRMSG_SIZE];
    sb_sim_gen *g;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), 0);
    assert_int_equal(sb_sim_gen_sensors(g), 100);
    assert_string_equal(sb_sim_gen_sensor(g, 42)->id, "s042");
    assert_null(sb_sim_gen_sensor(g, 100));
    /* a handful of locations and device types, spread over the fleet */
    int locs = 0;
    for (int i = 0; i < 100; i++) {
        int j = 0;
        while (j < i &&
               strcmp(sb_sim_gen_sensor(g, j)->location, sb_sim_gen_sensor(g, i)->location))
            j++;
        locs += j == i;
    }
    assert_true(locs >= 4 && locs <= 10);
    sb_sim_reading r = {.sensor = 1,
                        .ts_ms = 1732200000000LL,
                        .temperature_c = 21.4,
                        .humidity_pct = 40.2,
                        .pressure_hpa = 1013.2,
                        .light_lux = 350,
                        .gas = 0.41};
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_sim_format_line(g, &r, &b), 0);
    char want[256];
    snprintf(want, sizeof want,
             "my\\ readings\\,x,location=%s,device_type=%s,sensor_id=s001 temperature=21.4,"
             "humidity=40.2,pressure=1013.2,light=350i,gas=0.41 1732200000000\n",
             sb_sim_gen_sensor(g, 1)->location, sb_sim_gen_sensor(g, 1)->device_type);
    assert_string_equal(sb_buf_cstr(&b), want);
    sb_buf_free(&b);
    sb_sim_gen_free(g);

    o.sensors = 5000;
    o.measurement = NULL;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), 0);
    assert_string_equal(sb_sim_gen_sensor(g, 7)->id, "s0007");
    sb_sim_gen_free(g);
}

static void test_bad_options(void **state)
{
    sb_sim_gen_opts o;
    char errmsg[SB_ERRMSG_SIZE];
    sb_sim_gen *g;
    sb_sim_gen_opts_default(&o);
    o.sensors = 0;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), SB_EINVAL);
    assert_non_null(strstr(errmsg, "sensors"));
    sb_sim_gen_opts_default(&o);
    o.rate = -1;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), SB_EINVAL);
    assert_non_null(strstr(errmsg, "rate"));
    sb_sim_gen_opts_default(&o);
    o.late_fraction = 1.5;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), SB_EINVAL);
    sb_sim_gen_opts_default(&o);
    o.delay_min_ms = 10;
    o.delay_max_ms = 5;
    assert_int_equal(sb_sim_gen_new(&g, &o, errmsg), SB_EINVAL);
    assert_null(g);
}

static void test_skip_to(void **state)
{
    sb_sim_gen *g = make(3, 100, 0, 0);
    sb_sim_reading r;
    assert_int_equal(sb_sim_gen_next(g, T0, &r), 1);
    assert_int_equal(r.sensor, 0);
    assert_int_equal(sb_sim_gen_next(g, T0, &r), 0);
    assert_int_equal(sb_sim_gen_next_due_ms(g), T0 + 10);
    /* fell ~1 hour behind: skip whole rounds, keeping each sensor's cadence */
    uint64_t skipped = sb_sim_gen_skip_to(g, T0 + 3600 * 1000);
    assert_true(skipped >= 359900 && skipped <= 360000);
    assert_int_equal(skipped % 100, 0);
    assert_int_equal(sb_sim_gen_next(g, T0 + 3601 * 1000, &r), 1);
    assert_int_equal(r.sensor, 1);
    assert_true(r.ts_ms >= T0 + 3599 * 1000 && r.ts_ms <= T0 + 3600 * 1000 + 10);
    assert_int_equal(sb_sim_gen_skip_to(g, T0), 0);
    sb_sim_gen_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_every_reading_once),
        cmocka_unit_test(test_value_ranges_and_daily_cycle),
        cmocka_unit_test(test_sensors_and_format),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_skip_to),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
