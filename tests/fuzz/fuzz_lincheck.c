/*
 * libFuzzer target for the history-file parser (cli/lincheck.c) and the
 * linearizability checker (util/lincheck.c).
 *
 * Every input is parsed as a history file: an error must name its line.
 * Whatever parsed is checked with small bounds; the report must agree
 * with itself. The history is then written back as JSON lines
 * (sb_lincheck_write_jsonl), which must parse again into as many
 * operations and get the same verdict: the writer and the reader speak
 * the same format, and the checker is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/lincheck.h"
#include "util/err.h"
#include "util/lincheck.h"

static const sb_lincheck_limits limits = {.max_steps_per_key = 20000, .max_memo_bytes = 8 << 20};

/* Checks h; aborts if the report contradicts itself. Returns the verdict. */
static sb_lincheck_result check(const sb_lincheck *h)
{
    sb_lincheck_report rep;
    if (sb_lincheck_check(h, &limits, &rep) != 0)
        abort();
    if (rep.ops != sb_lincheck_count(h) ||
        rep.ops_ok + rep.ops_failed + rep.ops_indeterminate != rep.ops || rep.keys > rep.ops)
        abort();
    if ((rep.result == SB_LINCHECK_LINEARIZABLE) != (rep.explanation == NULL))
        abort();
    if ((rep.result == SB_LINCHECK_VIOLATION) != (rep.keys_violated > 0))
        abort();
    if (rep.result == SB_LINCHECK_UNKNOWN && rep.keys_unknown == 0)
        abort();
    sb_lincheck_result r = rep.result;
    sb_lincheck_report_free(&rep);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SB_ERRMSG_SIZE];
    sb_lincheck *h = sb_lincheck_new();
    if (!h)
        abort();
    int rv = sb_cli_lincheck_parse((const char *)data, size, h, err);
    if (rv != 0 && (rv != SB_EBADINPUT || strncmp(err, "line ", 5) != 0))
        abort();
    sb_lincheck_result first = check(h);

    sb_buf out;
    sb_buf_init(&out);
    if (sb_lincheck_write_jsonl(h, &out) != 0)
        abort();
    sb_lincheck *again = sb_lincheck_new();
    if (!again || sb_cli_lincheck_parse((const char *)out.data, out.len, again, err) != 0)
        abort();
    if (sb_lincheck_count(again) != sb_lincheck_count(h) || check(again) != first)
        abort();
    sb_lincheck_free(again);
    sb_buf_free(&out);
    sb_lincheck_free(h);
    return 0;
}
