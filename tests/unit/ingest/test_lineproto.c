#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ingest/ingest.h"
#include "ingest/lineproto.h"
#include "util/buf.h"
#include "util/err.h"

/* Parses body and expects exactly one point. */
static void parse_one(sb_lp_parser *ps, const char *body, sb_lp_point *pt)
{
    char err[SB_ERRMSG_SIZE] = "";
    sb_lp_parser_free(ps); /* ps is zeroed or holds a previous parse */
    sb_lp_parser_init(ps, body, strlen(body));
    int rv = sb_lp_next(ps, pt, err);
    if (rv != 1)
        fail_msg("parse of [%s] failed: %d %s", body, rv, err);
}

/* Parses body until the first error; returns its code and message. */
static int parse_err(const char *body, char *err)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    sb_lp_parser_init(&ps, body, strlen(body));
    int rv;
    err[0] = 0;
    while ((rv = sb_lp_next(&ps, &pt, err)) == 1)
        ;
    sb_lp_parser_free(&ps);
    return rv;
}

static void expect_err(const char *body, const char *msg)
{
    char err[SB_ERRMSG_SIZE];
    int rv = parse_err(body, err);
    if (rv != SB_ESYNTAX || strncmp(err, msg, strlen(msg)) != 0)
        fail_msg("body [%s]: got %d [%s], want [%s]", body, rv, err, msg);
}

static char *unesc(sb_lp_str s, int kind)
{
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    size_t n = sb_lp_unescape(s, kind, b);
    b[n] = 0;
    return b;
}

static void test_basic_point(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps,
              "cpu,host=a,region=eu usage=1.5,n=3i,ok=true,msg=\"hi\",c=7u 1700000000000000000",
              &pt);
    assert_string_equal(unesc(pt.measurement, SB_LP_ESC_MEASUREMENT), "cpu");
    assert_int_equal(pt.ntags, 2);
    assert_string_equal(unesc(pt.tags[0].key, SB_LP_ESC_KEY), "host");
    assert_string_equal(unesc(pt.tags[0].val, SB_LP_ESC_KEY), "a");
    assert_string_equal(unesc(pt.tags[1].key, SB_LP_ESC_KEY), "region");
    assert_string_equal(unesc(pt.tags[1].val, SB_LP_ESC_KEY), "eu");
    assert_int_equal(pt.nfields, 5);
    assert_int_equal(pt.fields[0].type, SB_LP_FLOAT);
    assert_true(pt.fields[0].v.f == 1.5);
    assert_int_equal(pt.fields[1].type, SB_LP_INT);
    assert_int_equal(pt.fields[1].v.i, 3);
    assert_int_equal(pt.fields[2].type, SB_LP_BOOL);
    assert_int_equal(pt.fields[2].v.b, 1);
    assert_int_equal(pt.fields[3].type, SB_LP_STRING);
    assert_string_equal(unesc(pt.fields[3].v.s, SB_LP_ESC_STRING), "hi");
    assert_int_equal(pt.fields[4].type, SB_LP_UINT);
    assert_int_equal(pt.fields[4].v.u, 7);
    assert_true(pt.has_time);
    assert_int_equal(pt.time, 1700000000000000000LL);
    assert_int_equal(pt.line, 1);
    /* slices are zero-copy: they point into the body */
    assert_false(pt.measurement.esc);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_lp_next(&ps, &pt, err), 0);
    sb_lp_parser_free(&ps);
}

static void test_no_tags_no_time(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps, "m v=1", &pt);
    assert_int_equal(pt.ntags, 0);
    assert_int_equal(pt.nfields, 1);
    assert_false(pt.has_time);
    parse_one(&ps, "m v=1 -5", &pt);
    assert_true(pt.has_time);
    assert_int_equal(pt.time, -5);
    parse_one(&ps, "m v=1   42   ", &pt); /* extra blanks tolerated */
    assert_int_equal(pt.time, 42);
    sb_lp_parser_free(&ps);
}

static void test_escapes_measurement(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps, "my\\,meas\\ ure=x v=1", &pt);
    assert_true(pt.measurement.esc);
    /* '=' is not special in a measurement, and "\=" stays as written */
    assert_string_equal(unesc(pt.measurement, SB_LP_ESC_MEASUREMENT), "my,meas ure=x");
    parse_one(&ps, "a\\=b\\x v=1", &pt);
    assert_string_equal(unesc(pt.measurement, SB_LP_ESC_MEASUREMENT), "a\\=b\\x");
    sb_lp_parser_free(&ps);
}

static void test_escapes_tags_and_keys(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps, "m,t\\ k\\,1\\=x=v\\ a\\,l\\=ue,p=C:\\path f\\ k\\=\\,=1", &pt);
    assert_int_equal(pt.ntags, 2);
    assert_string_equal(unesc(pt.tags[0].key, SB_LP_ESC_KEY), "t k,1=x");
    assert_string_equal(unesc(pt.tags[0].val, SB_LP_ESC_KEY), "v a,l=ue");
    /* a backslash before an ordinary byte is a literal backslash */
    assert_string_equal(unesc(pt.tags[1].val, SB_LP_ESC_KEY), "C:\\path");
    assert_string_equal(unesc(pt.fields[0].key, SB_LP_ESC_KEY), "f k=,");
    /* "\\" does not escape in names; the pair is kept, and the comma after
     * it is a real delimiter */
    parse_one(&ps, "m,a=x\\\\,b=y v=1", &pt);
    assert_int_equal(pt.ntags, 2);
    assert_string_equal(unesc(pt.tags[0].val, SB_LP_ESC_KEY), "x\\\\");
    assert_string_equal(unesc(pt.tags[1].key, SB_LP_ESC_KEY), "b");
    sb_lp_parser_free(&ps);
}

static void test_escapes_string(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps, "m s=\"say \\\"hi\\\" c:\\\\dir \\n, a=b\",t=\"\"", &pt);
    assert_int_equal(pt.nfields, 2);
    assert_int_equal(pt.fields[0].type, SB_LP_STRING);
    assert_true(pt.fields[0].v.s.esc);
    assert_string_equal(unesc(pt.fields[0].v.s, SB_LP_ESC_STRING), "say \"hi\" c:\\dir \\n, a=b");
    assert_int_equal(pt.fields[1].type, SB_LP_STRING);
    assert_int_equal(pt.fields[1].v.s.len, 0);
    sb_lp_parser_free(&ps);
}

static void test_floats(void **state)
{
    struct {
        const char *txt;
        double want;
    } cases[] = {
        {"1", 1},
        {"1.5", 1.5},
        {"-1e3", -1000},
        {"1E+2", 100},
        {"2.5e-3", 0.0025},
        {".5", 0.5},
        {"5.", 5},
        {"-0", -0.0},
        {"0.1", 0.1},
        {"123456789012345678901234567890", 123456789012345678901234567890.0},
        {"0.12345678901234567890123", 0.12345678901234567890123},
        {"1e300", 1e300},
        {"1e-320", 1e-320},
        {"9007199254740993", 9007199254740993.0},
        {"3.141592653589793", 3.141592653589793},
    };
    char body[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sb_lp_parser ps = {0};
        sb_lp_point pt;
        snprintf(body, sizeof body, "m v=%s", cases[i].txt);
        parse_one(&ps, body, &pt);
        assert_int_equal(pt.fields[0].type, SB_LP_FLOAT);
        if (pt.fields[0].v.f != cases[i].want)
            fail_msg("%s: got %.17g want %.17g", cases[i].txt, pt.fields[0].v.f, cases[i].want);
        assert_int_equal(signbit(pt.fields[0].v.f), signbit(cases[i].want));
        sb_lp_parser_free(&ps);
    }
    const char *bad[] = {"m v=1.5.5", "m v=abc", "m v=1e", "m v=--1", "m v=+1",  "m v=0x10",
                         "m v=nan",   "m v=inf", "m v=.",  "m v=-",   "m v=1e+", "m v=1_000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[SB_ERRMSG_SIZE];
        int rv = parse_err(bad[i], err);
        assert_int_equal(rv, SB_ESYNTAX);
        if (!strstr(err, "line 1: invalid") || !strstr(err, "(column 5)"))
            fail_msg("%s: %s", bad[i], err);
    }
    expect_err("m v=1e400", "line 1: float value out of range");
    expect_err("m v=-1e400", "line 1: float value out of range");
}

static void test_integers(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps, "m a=9223372036854775807i,b=-9223372036854775808i,c=0i,d=-0i", &pt);
    assert_int_equal(pt.fields[0].type, SB_LP_INT);
    assert_true(pt.fields[0].v.i == INT64_MAX);
    assert_true(pt.fields[1].v.i == INT64_MIN);
    assert_true(pt.fields[2].v.i == 0);
    assert_true(pt.fields[3].v.i == 0);
    parse_one(&ps, "m a=18446744073709551615u,b=0u", &pt);
    assert_int_equal(pt.fields[0].type, SB_LP_UINT);
    assert_true(pt.fields[0].v.u == UINT64_MAX);
    assert_true(pt.fields[1].v.u == 0);
    sb_lp_parser_free(&ps);

    expect_err("m a=9223372036854775808i", "line 1: integer value out of range (column 5)");
    expect_err("m a=-9223372036854775809i", "line 1: integer value out of range");
    expect_err("m a=99999999999999999999999i", "line 1: integer value out of range");
    expect_err("m a=18446744073709551616u", "line 1: unsigned value out of range");
    expect_err("m a=-1u", "line 1: invalid unsigned integer");
    expect_err("m a=1.5i", "line 1: invalid integer");
    expect_err("m a=i", "line 1: invalid integer");
    expect_err("m a=1x2i", "line 1: invalid integer");
    expect_err("m a=u", "line 1: invalid unsigned integer");
}

static void test_booleans(void **state)
{
    const char *yes[] = {"t", "T", "true", "True", "TRUE"};
    const char *no[] = {"f", "F", "false", "False", "FALSE"};
    char body[64];
    for (int i = 0; i < 5; i++) {
        sb_lp_parser ps = {0};
        sb_lp_point pt;
        snprintf(body, sizeof body, "m a=%s,b=%s", yes[i], no[i]);
        parse_one(&ps, body, &pt);
        assert_int_equal(pt.fields[0].type, SB_LP_BOOL);
        assert_int_equal(pt.fields[0].v.b, 1);
        assert_int_equal(pt.fields[1].type, SB_LP_BOOL);
        assert_int_equal(pt.fields[1].v.b, 0);
        sb_lp_parser_free(&ps);
    }
    expect_err("m a=tRUE", "line 1: invalid boolean");
    expect_err("m a=yes1", "line 1: invalid number");
    expect_err("m a=falsey", "line 1: invalid boolean");
}

static void test_errors_name_line(void **state)
{
    /* comments and blank lines count as lines */
    expect_err("# comment\n\ncpu value=1\ncpu value 2\n",
               "line 4: invalid field format (column 5)");
    expect_err("cpu v=1\ncpu\n", "line 2: missing fields");
    expect_err("cpu v=1\ncpu,host=a\n", "line 2: missing fields");
    expect_err("cpu v=1\ncpu \n", "line 2: missing fields");
    expect_err("a v=1\nb v=1\nc v=1\nd v=1\ne v=99999999999999999999i\n",
               "line 5: integer value out of range");
    expect_err(",t=1 v=1", "line 1: missing measurement (column 1)");
    expect_err(" v=1", "line 1: missing fields"); /* leading blanks are skipped */
    expect_err("m,=x v=1", "line 1: missing tag key (column 3)");
    expect_err("m,t v=1", "line 1: missing tag value");
    expect_err("m,t= v=1", "line 1: missing tag value (column 5)");
    expect_err("m,t=a=b v=1", "line 1: invalid tag format");
    expect_err("m,t=a, v=1", "line 1: missing tag key");
    expect_err("m =1", "line 1: missing field key");
    expect_err("m v=", "line 1: missing field value");
    expect_err("m v=,w=1", "line 1: missing field value");
    expect_err("m v=1,", "line 1: invalid field format");
    expect_err("m v=1,w", "line 1: invalid field format");
    expect_err("m v=\"abc", "line 1: unbalanced quotes");
    expect_err("m v=\"abc\\\"", "line 1: unbalanced quotes");
    expect_err("m v=\"abc\"x", "line 1: invalid field format");
    expect_err("m v=1 12a", "line 1: bad timestamp (column 7)");
    expect_err("m v=1 1.5", "line 1: bad timestamp");
    expect_err("m v=1 1 2", "line 1: bad timestamp");
    expect_err("m v=1 99999999999999999999", "line 1: timestamp out of range");
    expect_err("m\xff v=1", "line 1: invalid UTF-8 (column 2)");
    expect_err("m,t=\xc3\x28 v=1", "line 1: invalid UTF-8 (column 5)");
    expect_err("m,t=\xed\xa0\x80 v=1", "line 1: invalid UTF-8"); /* surrogate */
    expect_err("m,t=\xc0\xaf v=1", "line 1: invalid UTF-8");     /* overlong */
    /* a value with a newline: the line ends there */
    expect_err("m v=\"a\nb\"", "line 1: unbalanced quotes");
}

static void test_nul_in_names(void **state)
{
    const char body[] = "m\0x v=1";
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    char err[SB_ERRMSG_SIZE];
    sb_lp_parser_init(&ps, body, sizeof(body) - 1);
    assert_int_equal(sb_lp_next(&ps, &pt, err), SB_ESYNTAX);
    assert_string_equal(err, "line 1: NUL byte in measurement (column 1)");
    sb_lp_parser_free(&ps);
    /* NUL in a string value is data */
    const char body2[] = "m v=\"a\0b\"";
    sb_lp_parser_init(&ps, body2, sizeof(body2) - 1);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(pt.fields[0].v.s.len, 3);
    sb_lp_parser_free(&ps);
}

static void test_crlf_comments_blank(void **state)
{
    const char *body = "# header\r\n\r\n  \t \ncpu v=1 10\r\n   # indented comment\nmem v=2i\r\n";
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    char err[SB_ERRMSG_SIZE];
    sb_lp_parser_init(&ps, body, strlen(body));
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(pt.line, 4);
    assert_int_equal(pt.time, 10);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(pt.line, 6);
    assert_string_equal(unesc(pt.measurement, SB_LP_ESC_MEASUREMENT), "mem");
    assert_int_equal(pt.fields[0].v.i, 2);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 0);
    sb_lp_parser_free(&ps);
}

static void test_continue_after_error(void **state)
{
    const char *body = "a v=1\nb v=\nc v=3";
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    char err[SB_ERRMSG_SIZE];
    sb_lp_parser_init(&ps, body, strlen(body));
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(sb_lp_next(&ps, &pt, err), SB_ESYNTAX);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(pt.line, 3);
    assert_true(pt.fields[0].v.f == 3);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 0);
    sb_lp_parser_free(&ps);
}

static void test_utf8_names(void **state)
{
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    parse_one(&ps, "temp\xc3\xa9rature,lieu=z\xc3\xbcrich \xe2\x84\x83=21.5,s=\"\xf0\x9f\x8c\xa1\"",
              &pt);
    assert_string_equal(unesc(pt.measurement, SB_LP_ESC_MEASUREMENT), "temp\xc3\xa9rature");
    assert_string_equal(unesc(pt.tags[0].val, SB_LP_ESC_KEY), "z\xc3\xbcrich");
    assert_string_equal(unesc(pt.fields[0].key, SB_LP_ESC_KEY), "\xe2\x84\x83");
    sb_lp_parser_free(&ps);
    assert_true(sb_lp_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
    assert_false(sb_lp_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(sb_lp_utf8_valid((const uint8_t *)"\xe2\x84", 2));         /* truncated */
}

static void test_huge_lines(void **state)
{
    /* 4000 fields, a 1 MiB tag value and a 1 MiB string on one line */
    sb_buf b;
    sb_buf_init(&b);
    assert_int_equal(sb_buf_printf(&b, "m,big="), 0);
    for (int i = 0; i < (1 << 20); i++)
        assert_int_equal(sb_buf_putc(&b, 'x'), 0);
    assert_int_equal(sb_buf_printf(&b, " s=\""), 0);
    for (int i = 0; i < (1 << 20); i++)
        assert_int_equal(sb_buf_putc(&b, i % 2 ? 'y' : ' '), 0);
    assert_int_equal(sb_buf_putc(&b, '"'), 0);
    for (int i = 0; i < 4000; i++)
        assert_int_equal(sb_buf_printf(&b, ",f%d=%di", i, i), 0);
    assert_int_equal(sb_buf_printf(&b, " 7\n"), 0);
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    char err[SB_ERRMSG_SIZE];
    sb_lp_parser_init(&ps, (const char *)b.data, b.len);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(pt.tags[0].val.len, 1 << 20);
    assert_int_equal(pt.fields[0].v.s.len, 1 << 20);
    assert_int_equal(pt.nfields, 4001);
    assert_int_equal(pt.fields[4000].v.i, 3999);
    assert_int_equal(pt.time, 7);
    sb_lp_parser_free(&ps);

    /* too many fields is an error, not an allocation spree */
    sb_buf_reset(&b);
    assert_int_equal(sb_buf_printf(&b, "ok v=1\nm "), 0);
    for (int i = 0; i < SB_LP_MAX_ITEMS + 10; i++)
        assert_int_equal(sb_buf_printf(&b, "%sf%d=1", i ? "," : "", i), 0);
    sb_lp_parser_init(&ps, (const char *)b.data, b.len);
    assert_int_equal(sb_lp_next(&ps, &pt, err), 1);
    assert_int_equal(sb_lp_next(&ps, &pt, err), SB_ESYNTAX);
    assert_non_null(strstr(err, "line 2: too many fields"));
    sb_lp_parser_free(&ps);
    sb_buf_free(&b);
}

static void test_many_lines(void **state)
{
    sb_buf b;
    sb_buf_init(&b);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(sb_buf_printf(&b, "cpu,host=h%d usage=%d.5,n=%di %d\n", i % 7, i, i, i),
                         0);
    sb_lp_parser ps = {0};
    sb_lp_point pt;
    char err[SB_ERRMSG_SIZE];
    sb_lp_parser_init(&ps, (const char *)b.data, b.len);
    int n = 0, rv;
    while ((rv = sb_lp_next(&ps, &pt, err)) == 1) {
        assert_int_equal(pt.time, n);
        assert_int_equal(pt.fields[1].v.i, n);
        n++;
    }
    assert_int_equal(rv, 0);
    assert_int_equal(n, 100000);
    sb_lp_parser_free(&ps);
    sb_buf_free(&b);
}

/* --- gzip ------------------------------------------------------------- */

static void gzip_into(sb_buf *out, const void *p, size_t n)
{
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t bound = deflateBound(&zs, n) + 64;
    assert_int_equal(sb_buf_reserve(out, bound), 0);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len += bound - zs.avail_out;
    deflateEnd(&zs);
}

static void test_gzip_round_trip(void **state)
{
    sb_buf plain, gz, out;
    sb_buf_init(&plain);
    sb_buf_init(&gz);
    sb_buf_init(&out);
    for (int i = 0; i < 50000; i++)
        assert_int_equal(sb_buf_printf(&plain, "cpu,host=h%d usage=%d.25 %d\n", i % 3, i, i), 0);
    gzip_into(&gz, plain.data, plain.len);
    assert_true(gz.len < plain.len / 3);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len, SB_INGEST_MAX_BODY_BYTES, &out, err), 0);
    assert_int_equal(out.len, plain.len);
    assert_memory_equal(out.data, plain.data, plain.len);

    /* two concatenated members inflate to both bodies */
    sb_buf_reset(&gz);
    sb_buf_reset(&out);
    gzip_into(&gz, "a v=1\n", 6);
    gzip_into(&gz, "b v=2\n", 6);
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len, 1024, &out, err), 0);
    assert_int_equal(out.len, 12);
    assert_memory_equal(out.data, "a v=1\nb v=2\n", 12);

    /* exactly at the limit is fine, one byte over is not */
    sb_buf_reset(&out);
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len, 12, &out, err), 0);
    sb_buf_reset(&out);
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len, 11, &out, err), SB_ETOOBIG);
    assert_int_equal(out.len, 0);
    sb_buf_free(&plain);
    sb_buf_free(&gz);
    sb_buf_free(&out);
}

static void test_gzip_bomb(void **state)
{
    /* 256 MiB of zeros compresses to ~250 KiB; the limit is 1 MiB */
    size_t n = (size_t)256 << 20;
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    static uint8_t zeros[1 << 16];
    sb_buf gz;
    sb_buf_init(&gz);
    assert_int_equal(sb_buf_reserve(&gz, 1 << 20), 0);
    size_t fed = 0;
    int zr;
    do {
        if (zs.avail_in == 0 && fed < n) {
            zs.next_in = zeros;
            zs.avail_in = sizeof zeros;
            fed += sizeof zeros;
        }
        if (gz.cap - gz.len < 4096)
            assert_int_equal(sb_buf_reserve(&gz, gz.cap), 0);
        zs.next_out = gz.data + gz.len;
        zs.avail_out = (uInt)(gz.cap - gz.len - 1);
        uInt before = zs.avail_out;
        zr = deflate(&zs, fed >= n ? Z_FINISH : Z_NO_FLUSH);
        gz.len += before - zs.avail_out;
    } while (zr != Z_STREAM_END);
    deflateEnd(&zs);

    sb_buf out;
    sb_buf_init(&out);
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len, 1 << 20, &out, err), SB_ETOOBIG);
    assert_string_equal(err, "gzip body inflates to more than 1048576 bytes");
    assert_true(out.cap <= (1 << 20) + 2); /* never allocated beyond the limit */
    sb_buf_free(&out);
    sb_buf_free(&gz);
}

static void test_gzip_corrupt(void **state)
{
    sb_buf gz, out;
    sb_buf_init(&gz);
    sb_buf_init(&out);
    char err[SB_ERRMSG_SIZE];
    const char *txt = "cpu v=1\ncpu v=2\ncpu v=3\n";
    gzip_into(&gz, txt, strlen(txt));
    /* truncated */
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len - 10, 1024, &out, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(out.len, 0);
    /* not gzip at all */
    assert_int_equal(sb_ingest_gunzip("cpu v=1\n", 8, 1024, &out, err), SB_EBADINPUT);
    assert_non_null(strstr(err, "invalid gzip body"));
    /* flipped bytes in the middle: bad data or checksum */
    gz.data[gz.len / 2] ^= 0xff;
    gz.data[gz.len - 6] ^= 0xff;
    assert_int_equal(sb_ingest_gunzip(gz.data, gz.len, 1024, &out, err), SB_EBADINPUT);
    /* empty */
    assert_int_equal(sb_ingest_gunzip("", 0, 1024, &out, err), SB_EBADINPUT);
    sb_buf_free(&gz);
    sb_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_point),
        cmocka_unit_test(test_no_tags_no_time),
        cmocka_unit_test(test_escapes_measurement),
        cmocka_unit_test(test_escapes_tags_and_keys),
        cmocka_unit_test(test_escapes_string),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_errors_name_line),
        cmocka_unit_test(test_nul_in_names),
        cmocka_unit_test(test_crlf_comments_blank),
        cmocka_unit_test(test_continue_after_error),
        cmocka_unit_test(test_utf8_names),
        cmocka_unit_test(test_huge_lines),
        cmocka_unit_test(test_many_lines),
        cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_gzip_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
