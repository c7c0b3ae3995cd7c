/*
 * libFuzzer target for the line-protocol parser and the bounded gunzip.
 *
 * Every input is parsed as a body to the end (continuing after bad lines);
 * each slice must lie inside the input, unescape to at most its length,
 * and be valid UTF-8. Inputs starting with the gzip magic also go through
 * sb_ingest_gunzip with a 1 MiB limit and the result is parsed too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "ingest/lineproto.h"
#include "util/err.h"

static char scratch[1 << 20];

static void check_str(sb_lp_str s, int kind, const char *lo, const char *hi)
{
    if (s.p < lo || s.p + s.len > hi)
        abort();
    if (s.len > sizeof scratch)
        return;
    size_t n = sb_lp_unescape(s, kind, scratch);
    if (n > s.len)
        abort();
    if (!sb_lp_utf8_valid((const uint8_t *)scratch, n))
        abort();
}

static void parse_all(const char *body, size_t len)
{
    sb_lp_parser ps;
    sb_lp_point pt;
    char err[SB_ERRMSG_SIZE];
    sb_lp_parser_init(&ps, body, len);
    int rv, last_line = 0;
    while ((rv = sb_lp_next(&ps, &pt, err)) != 0) {
        if (rv < 0) {
            if (rv != SB_ESYNTAX || strncmp(err, "line ", 5) != 0)
                abort();
            continue;
        }
        if (pt.line <= last_line || pt.nfields < 1)
            abort();
        last_line = pt.line;
        check_str(pt.measurement, SB_LP_ESC_MEASUREMENT, body, body + len);
        if (pt.measurement.len == 0)
            abort();
        for (int i = 0; i < pt.ntags; i++) {
            check_str(pt.tags[i].key, SB_LP_ESC_KEY, body, body + len);
            check_str(pt.tags[i].val, SB_LP_ESC_KEY, body, body + len);
        }
        for (int i = 0; i < pt.nfields; i++) {
            check_str(pt.fields[i].key, SB_LP_ESC_KEY, body, body + len);
            if (pt.fields[i].type == SB_LP_STRING)
                check_str(pt.fields[i].v.s, SB_LP_ESC_STRING, body, body + len);
        }
    }
    sb_lp_parser_free(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_all((const char *)data, size);
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        sb_buf out;
        sb_buf_init(&out);
        char err[SB_ERRMSG_SIZE];
        int rv = sb_ingest_gunzip(data, size, 1 << 20, &out, err);
        if (rv == 0)
            parse_all((const char *)out.data, out.len);
        else if (out.len != 0)
            abort();
        if (out.cap > (1 << 20) + 2)
            abort();
        sb_buf_free(&out);
    }
    return 0;
}
