/*
 * The linearizability checker (util/lincheck.h) on histories whose answer
 * is known: small hand-written ones, each showing one rule, and random ones
 * produced by a real register (lincheck_gen.h), intact and corrupted.
 */
#include "test.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/lincheck.h"

#include "lincheck_gen.h"

/* ---- building histories ------------------------------------------------ */

#define ABSENT 0  /* as a value argument below: the register holds nothing */
#define INFO (-1) /* as a return time below: the outcome is indeterminate */
#define FAIL (-2) /* as a return time below: the operation failed */

static sb_lincheck_value val(int64_t v)
{
    return lcgen_value(v);
}

/* Records one operation on key; ret INFO or FAIL sets the outcome. */
static void add(sb_lincheck *h, int process, const char *key, sb_lincheck_fn fn, int64_t value,
                int64_t from, int64_t to, int applied, int64_t call, int64_t ret)
{
    sb_lincheck_op op = {
        .process = process,
        .key = (const uint8_t *)key,
        .key_len = strlen(key),
        .fn = fn,
        .outcome = ret == INFO   ? SB_LINCHECK_OUT_INDETERMINATE
                   : ret == FAIL ? SB_LINCHECK_OUT_FAIL
                                 : SB_LINCHECK_OUT_OK,
        .value = val(value),
        .from = val(from),
        .to = val(to),
        .applied = applied,
        .call = call,
        .ret = ret,
    };
    char err[SB_ERRMSG_SIZE];
    int rv = sb_lincheck_add(h, &op, err);
    if (rv < 0)
        fail_msg("sb_lincheck_add: %s", err);
}

static void rd(sb_lincheck *h, int p, const char *key, int64_t v, int64_t call, int64_t ret)
{
    add(h, p, key, SB_LINCHECK_READ, v, 0, 0, 0, call, ret);
}

static void wr(sb_lincheck *h, int p, const char *key, int64_t v, int64_t call, int64_t ret)
{
    add(h, p, key, SB_LINCHECK_WRITE, v, 0, 0, 0, call, ret);
}

static void cas(sb_lincheck *h, int p, const char *key, int64_t from, int64_t to, int applied,
                int64_t call, int64_t ret)
{
    add(h, p, key, SB_LINCHECK_CAS, 0, from, to, applied, call, ret);
}

/* Checks h with the default limits; the report's explanation is kept in
 * `explained` (for the assertions on it) and printed on a violation. */
static char explained[16384];

static sb_lincheck_result check_with(const sb_lincheck *h, const sb_lincheck_limits *lim)
{
    sb_lincheck_report rep;
    assert_int_equal(sb_lincheck_check(h, lim, &rep), 0);
    snprintf(explained, sizeof explained, "%s", rep.explanation ? rep.explanation : "");
    if (rep.result == SB_LINCHECK_LINEARIZABLE)
        assert_null(rep.explanation);
    else
        assert_non_null(rep.explanation);
    sb_lincheck_result r = rep.result;
    sb_lincheck_report_free(&rep);
    return r;
}

static sb_lincheck_result check(const sb_lincheck *h)
{
    return check_with(h, NULL);
}

static void assert_explains(const char *needle)
{
    if (!strstr(explained, needle))
        fail_msg("explanation lacks \"%s\":\n%s", needle, explained);
}

/* ---- the rules, one history each -------------------------------------- */

static void test_empty_and_sequential(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    wr(h, 1, "k", 1, 0, 10);
    rd(h, 2, "k", 1, 20, 30);
    cas(h, 1, "k", 1, 2, 1, 40, 50);
    rd(h, 2, "k", 2, 60, 70);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);
}

static void test_stale_read_after_completed_write(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 10);
    wr(h, 1, "k", 2, 20, 30);
    rd(h, 2, "k", 1, 40, 50); /* the write of 2 had completed */
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("key \"k\": NOT linearizable");
    assert_explains("#3 process 2: read -> 1  [40, 50]");
    assert_explains("the register held 2, but the read returned 1");
    assert_explains("2. #2 process 1: write 2");
    sb_lincheck_free(h);
}

static void test_two_inserts_if_not_exists_both_applied(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    /* Concurrent: one of them must see the other's value. */
    cas(h, 1, "k", ABSENT, 1, 1, 0, 100);
    cas(h, 2, "k", ABSENT, 2, 1, 10, 90);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("cas(null -> ");
    assert_explains("applied, so it must have held null");
    sb_lincheck_free(h);

    /* One applied and one not: fine, whichever came first. */
    h = sb_lincheck_new();
    cas(h, 1, "k", ABSENT, 1, 0, 0, 100);
    cas(h, 2, "k", ABSENT, 2, 1, 10, 90);
    rd(h, 3, "k", 2, 200, 210);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);
}

static void test_lost_write(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    /* Both writes done; the register may end at 1 or 2 but cannot flip
     * back and forth without another write. */
    wr(h, 1, "k", 1, 0, 100);
    wr(h, 2, "k", 2, 0, 100);
    rd(h, 3, "k", 2, 110, 120);
    rd(h, 3, "k", 1, 130, 140);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("#4 process 3: read -> 1");
    sb_lincheck_free(h);

    /* A cas chain that skips a value it acknowledged. */
    h = sb_lincheck_new();
    cas(h, 1, "k", ABSENT, 1, 1, 0, 10);
    cas(h, 1, "k", 1, 2, 1, 20, 30);
    cas(h, 2, "k", 1, 3, 1, 40, 50); /* 2 was lost */
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("#3 process 2: cas(1 -> 3) applied");
    sb_lincheck_free(h);
}

static void test_concurrent_ops_linearize_one_way_only(void **state)
{
    /* A write overlapping two reads: absent then 1 is an order... */
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 100);
    rd(h, 2, "k", ABSENT, 10, 20);
    rd(h, 2, "k", 1, 30, 40);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    /* ...but once a reader saw 1, a later read cannot see absent. */
    h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 100);
    rd(h, 2, "k", 1, 10, 20);
    rd(h, 2, "k", ABSENT, 30, 40);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("#3 process 2: read -> null");
    assert_explains("#1 process 1: write 1  [0, 100]");
    sb_lincheck_free(h);

    /* Three overlapping cas: only the order 1 -> 2 -> 3 -> 4 works, the
     * reverse of how they were called. */
    h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 5);
    cas(h, 2, "k", 3, 4, 1, 10, 100);
    cas(h, 3, "k", 2, 3, 1, 11, 100);
    cas(h, 4, "k", 1, 2, 1, 12, 100);
    rd(h, 1, "k", 4, 110, 120);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);
}

static void test_touching_intervals_are_concurrent(void **state)
{
    /* The read is called at the instant the write returns: either order. */
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 10);
    rd(h, 2, "k", ABSENT, 10, 20);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    rd(h, 2, "k", ABSENT, 11, 20); /* strictly after: must see 1 */
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    sb_lincheck_free(h);
}

static void test_indeterminate_must_have_happened(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k", 7, 0, INFO); /* timed out, yet a reader saw 7 */
    rd(h, 2, "k", 7, 1000, 1010);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    /* It may take effect long after its client gave up: 1, then 2 (the
     * indeterminate write), then a read of 1 again is impossible. */
    h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 10);
    wr(h, 2, "k", 2, 5, INFO);
    rd(h, 3, "k", 1, 20, 30);
    rd(h, 3, "k", 2, 40, 50);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    rd(h, 3, "k", 1, 60, 70);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("#5 process 3: read -> 1");
    assert_explains("#2 process 2: write 2  indeterminate [5, +inf)");
    sb_lincheck_free(h);

    /* An indeterminate insert seen later. */
    h = sb_lincheck_new();
    cas(h, 1, "k", ABSENT, 5, 0, 0, INFO);
    rd(h, 2, "k", ABSENT, 10, 20);
    rd(h, 2, "k", 5, 30, 40);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    /* Nothing can explain a value written only after the read returned. */
    h = sb_lincheck_new();
    rd(h, 2, "k", 5, 0, 10);
    wr(h, 1, "k", 5, 20, INFO);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    sb_lincheck_free(h);
}

static void test_indeterminate_must_not_have_happened(void **state)
{
    /* The indeterminate insert cannot have applied: the other one did. */
    sb_lincheck *h = sb_lincheck_new();
    cas(h, 1, "k", ABSENT, 1, 0, 0, INFO);
    cas(h, 2, "k", ABSENT, 2, 1, 10, 20);
    rd(h, 3, "k", 2, 30, 40);
    rd(h, 3, "k", 2, 50, 60);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    /* An indeterminate write never seen, with reads all around it. */
    h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 10);
    wr(h, 2, "k", 9, 20, INFO);
    for (int i = 0; i < 10; i++)
        rd(h, 3, "k", 1, 30 + 10 * i, 35 + 10 * i);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    /* An indeterminate read says nothing, even about a value never written. */
    h = sb_lincheck_new();
    rd(h, 1, "k", 42, 0, INFO);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);
}

/* Indeterminate ops nobody could observe are left out of the search (see
 * drop_unseen in lincheck.c): many of them cost nothing... */
static void test_many_unseen_indeterminate_writes(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 0, "k", 1, 0, 10);
    for (int i = 0; i < 60; i++)
        wr(h, i, "k", 100 + i, 20 + i, INFO); /* timeouts, never read back */
    for (int i = 0; i < 30; i++)
        rd(h, 61, "k", 1, 100 + 10 * i, 105 + 10 * i);
    rd(h, 61, "k", 2, 500, 510); /* nobody wrote 2 */
    sb_lincheck_limits lim = {.max_steps_per_key = 100000};
    assert_int_equal(check_with(h, &lim), SB_LINCHECK_VIOLATION);
    assert_explains("#92 process 61: read -> 2");
    sb_lincheck_free(h);
}

/* ...but not when a cas that did not apply, and did not say what it saw,
 * needs one of them to have happened. */
static void test_unseen_write_explains_blind_cas(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 10);
    wr(h, 2, "k", 9, 20, INFO);
    cas(h, 3, "k", 1, 2, 0, 30, 40); /* the register held something else */
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    h = sb_lincheck_new();
    wr(h, 1, "k", 1, 0, 10);
    cas(h, 3, "k", 1, 2, 0, 30, 40);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    sb_lincheck_free(h);
}

static void test_failed_ops_ignored(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k", 9, 0, FAIL);
    cas(h, 1, "k", ABSENT, 8, 0, 5, FAIL);
    rd(h, 2, "k", ABSENT, 20, 30);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    /* A failed insert whose value shows up anyway is a violation. */
    h = sb_lincheck_new();
    cas(h, 1, "k", ABSENT, 7, 1, 0, FAIL);
    rd(h, 2, "k", 7, 20, 30);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    sb_lincheck_free(h);
}

static void test_reads_of_absent_and_deletes(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    rd(h, 1, "k", ABSENT, 0, 10);
    wr(h, 1, "k", 3, 20, 30);
    wr(h, 1, "k", ABSENT, 40, 50); /* a delete */
    rd(h, 2, "k", ABSENT, 60, 70);
    cas(h, 2, "k", ABSENT, 4, 1, 80, 90);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);

    h = sb_lincheck_new();
    wr(h, 1, "k", 3, 0, 10);
    rd(h, 2, "k", ABSENT, 20, 30);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("the register held 3, but the read returned null");
    sb_lincheck_free(h);
}

static void test_cas_not_applied(void **state)
{
    /* Not applied while the register held the expected value. */
    sb_lincheck *h = sb_lincheck_new();
    cas(h, 1, "k", ABSENT, 1, 0, 0, 10);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("the value the cas expected, but it did not apply");
    sb_lincheck_free(h);

    /* Cassandra returns the current value with [applied] = False. */
    h = sb_lincheck_new();
    wr(h, 1, "k", 3, 0, 10);
    sb_lincheck_op op = {.process = 2,
                         .key = (const uint8_t *)"k",
                         .key_len = 1,
                         .fn = SB_LINCHECK_CAS,
                         .from = val(1),
                         .to = val(2),
                         .has_value = 1,
                         .value = val(3),
                         .call = 20,
                         .ret = 30};
    assert_int_equal(sb_lincheck_add(h, &op, NULL), 1);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    op.value = val(4); /* not what was there */
    op.call = 40;
    op.ret = 50;
    assert_int_equal(sb_lincheck_add(h, &op, NULL), 2);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("not applied, saw 4");
    assert_explains("but the cas that did not apply saw 4");
    sb_lincheck_free(h);
}

static void test_keys_are_independent(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    /* Read from "b" alone would be legal as "a"'s history, and vice versa. */
    wr(h, 1, "a", 1, 0, 10);
    rd(h, 2, "a", 1, 20, 30);
    wr(h, 1, "b", 2, 0, 10);
    rd(h, 2, "b", 1, 20, 30);
    rd(h, 2, "c", ABSENT, 20, 30);
    sb_lincheck_report rep;
    assert_int_equal(sb_lincheck_check(h, NULL, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_VIOLATION);
    assert_int_equal(rep.keys, 3);
    assert_int_equal(rep.keys_violated, 1);
    assert_int_equal(rep.ops, 5);
    assert_int_equal(rep.ops_ok, 5);
    assert_non_null(strstr(rep.explanation, "key \"b\""));
    assert_null(strstr(rep.explanation, "key \"a\""));
    sb_lincheck_report_free(&rep);
    sb_lincheck_free(h);
}

static void test_byte_string_values(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    sb_lincheck_op op = {
        .key = (const uint8_t *)"k",
        .key_len = 1,
        .fn = SB_LINCHECK_WRITE,
        .value = {.kind = SB_LINCHECK_BYTES, .bytes = (const uint8_t *)"5", .len = 1},
        .call = 0,
        .ret = 10};
    assert_int_equal(sb_lincheck_add(h, &op, NULL), 0);
    rd(h, 2, "k", 5, 20, 30); /* the integer 5 is not the string "5" */
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    assert_explains("write \"5\"");
    sb_lincheck_free(h);
}

/* ---- recording in two steps ------------------------------------------ */

static void test_invoke_complete(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    char err[SB_ERRMSG_SIZE];
    sb_lincheck_op w = {.process = 1,
                        .key = (const uint8_t *)"k",
                        .key_len = 1,
                        .fn = SB_LINCHECK_WRITE,
                        .value = val(1),
                        .call = 0};
    sb_lincheck_op c = {.process = 2,
                        .key = (const uint8_t *)"k",
                        .key_len = 1,
                        .fn = SB_LINCHECK_CAS,
                        .from = val(1),
                        .to = val(2),
                        .call = 5};
    sb_lincheck_op r = {.process = 3,
                        .key = (const uint8_t *)"k",
                        .key_len = 1,
                        .fn = SB_LINCHECK_READ,
                        .call = 50};
    int iw = sb_lincheck_invoke(h, &w, err);
    int ic = sb_lincheck_invoke(h, &c, err); /* never completed: indeterminate */
    int ir = sb_lincheck_invoke(h, &r, err);
    assert_true(iw == 0 && ic == 1 && ir == 2);
    assert_int_equal(sb_lincheck_complete(h, iw, SB_LINCHECK_OUT_OK, 10, 0, NULL, err), 0);
    sb_lincheck_value two = val(2);
    assert_int_equal(sb_lincheck_complete(h, ir, SB_LINCHECK_OUT_OK, 60, 0, &two, err), 0);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);

    /* Completing twice, or an op never invoked, is refused. */
    assert_int_equal(sb_lincheck_complete(h, iw, SB_LINCHECK_OUT_OK, 10, 0, NULL, err), SB_EINVAL);
    assert_non_null(strstr(err, "not waiting"));
    assert_int_equal(sb_lincheck_complete(h, 7, SB_LINCHECK_OUT_OK, 10, 0, NULL, err), SB_EINVAL);
    /* An OK read without its value, or returning before its call. */
    int ir2 = sb_lincheck_invoke(h, &r, err);
    assert_int_equal(sb_lincheck_complete(h, ir2, SB_LINCHECK_OUT_OK, 60, 0, NULL, err), SB_EINVAL);
    assert_int_equal(sb_lincheck_complete(h, ir2, SB_LINCHECK_OUT_OK, 49, 0, &two, err), SB_EINVAL);
    assert_non_null(strstr(err, "before its call"));
    /* Failing it is fine, and then it constrains nothing. */
    assert_int_equal(sb_lincheck_complete(h, ir2, SB_LINCHECK_OUT_FAIL, 60, 0, NULL, err), 0);
    assert_int_equal(check(h), SB_LINCHECK_LINEARIZABLE);
    sb_lincheck_free(h);
}

static void test_bad_operations_refused(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    char err[SB_ERRMSG_SIZE], big[SB_LINCHECK_KEY_MAX + 1];
    memset(big, 'x', sizeof big);
    sb_lincheck_op op = {.key = (const uint8_t *)big,
                         .key_len = sizeof big,
                         .fn = SB_LINCHECK_WRITE,
                         .value = val(1),
                         .call = 0,
                         .ret = 1};
    assert_int_equal(sb_lincheck_add(h, &op, err), SB_EINVAL);
    assert_non_null(strstr(err, "key"));
    op.key_len = 1;
    op.value = (sb_lincheck_value){
        .kind = SB_LINCHECK_BYTES, .bytes = (const uint8_t *)big, .len = SB_LINCHECK_BYTES_MAX + 1};
    assert_int_equal(sb_lincheck_add(h, &op, err), SB_EINVAL);
    assert_non_null(strstr(err, "value"));
    op.value = val(1);
    op.fn = (sb_lincheck_fn)9;
    assert_int_equal(sb_lincheck_add(h, &op, err), SB_EINVAL);
    op.fn = SB_LINCHECK_WRITE;
    op.ret = -1;
    assert_int_equal(sb_lincheck_add(h, &op, err), SB_EINVAL);
    assert_non_null(strstr(err, "before its call"));
    assert_int_equal(sb_lincheck_count(h), 0);
    sb_lincheck_free(h);
}

static void test_write_jsonl(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    wr(h, 1, "k\"1", 5, 0, 10);
    rd(h, 2, "k\"1", ABSENT, 1, 2);
    cas(h, 3, "k2", ABSENT, 4, 1, 3, 4);
    cas(h, 3, "k2", 1, 2, 0, 5, INFO);
    wr(h, 4, "k2", 6, 7, FAIL);
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_lincheck_write_jsonl(h, &out), 0);
    assert_string_equal(
        sb_buf_cstr(&out),
        "{\"process\":1,\"key\":\"k\\\"1\",\"f\":\"write\",\"value\":5,\"call\":0,\"return\":10,"
        "\"outcome\":\"ok\"}\n"
        "{\"process\":2,\"key\":\"k\\\"1\",\"f\":\"read\",\"value\":null,\"call\":1,\"return\":2,"
        "\"outcome\":\"ok\"}\n"
        "{\"process\":3,\"key\":\"k2\",\"f\":\"cas\",\"from\":null,\"to\":4,\"call\":3,\"return\":"
        "4,"
        "\"outcome\":\"ok\",\"applied\":true}\n"
        "{\"process\":3,\"key\":\"k2\",\"f\":\"cas\",\"from\":1,\"to\":2,\"call\":5,"
        "\"outcome\":\"info\"}\n"
        "{\"process\":4,\"key\":\"k2\",\"f\":\"write\",\"value\":6,\"call\":7,"
        "\"outcome\":\"fail\"}\n");
    sb_buf_free(&out);
    sb_lincheck_free(h);
}

/* ---- random histories from a real register ----------------------------- */

static void test_random_register_histories(void **state)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        lcgen_opts o = {.seed = seed,
                        .ops = 300,
                        .keys = 3,
                        .processes = 6,
                        .values = 4,
                        .fail_pct = 5,
                        .info_pct = 5};
        sb_lincheck *h = sb_lincheck_new();
        assert_int_equal(lcgen_fill(h, &o), 0);
        if (check(h) != SB_LINCHECK_LINEARIZABLE)
            fail_msg("seed %llu: a real register's history failed:\n%s", (unsigned long long)seed,
                     explained);
        sb_lincheck_free(h);

        o.corrupt = 1;
        h = sb_lincheck_new();
        int64_t victim = lcgen_fill(h, &o);
        assert_true(victim > 0);
        if (check(h) != SB_LINCHECK_VIOLATION)
            fail_msg("seed %llu: corrupted read #%lld passed", (unsigned long long)seed,
                     (long long)victim);
        char want[64];
        snprintf(want, sizeof want, "#%lld process", (long long)victim);
        assert_explains(want);
        assert_explains("read -> 1004");
        sb_lincheck_free(h);
    }
}

/* The size the brief names: 2,000 operations over 10 keys from 8 clients.
 * Timing belongs to bench/bench_lincheck.c; this only checks the verdict
 * and that the search stays small. */
static void test_two_thousand_ops(void **state)
{
    lcgen_opts o = {.seed = 2000,
                    .ops = 2000,
                    .keys = 10,
                    .processes = 8,
                    .values = 5,
                    .fail_pct = 3,
                    .info_pct = 3};
    sb_lincheck *h = sb_lincheck_new();
    assert_int_equal(lcgen_fill(h, &o), 0);
    sb_lincheck_report rep;
    assert_int_equal(sb_lincheck_check(h, NULL, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_LINEARIZABLE);
    assert_int_equal(rep.keys, 10);
    assert_true(rep.steps < 1000000);
    print_message("2000 ops, 10 keys, 8 clients: %" PRIu64 " steps, %.1f ms (ASan build)\n",
                  rep.steps, rep.elapsed_ms);
    sb_lincheck_report_free(&rep);
    sb_lincheck_free(h);
}

/* ---- against a brute-force search --------------------------------------- */

/* A small history kept for the brute force, values 0 (absent), 1, 2. */
typedef struct bf_op {
    sb_lincheck_fn fn;
    sb_lincheck_outcome outcome;
    int value, from, to, applied, has_value;
    int64_t call, ret;
} bf_op;

/* Can op take effect with the register at state (one legal step)? */
static int bf_step(const bf_op *o, int state, int *next)
{
    *next = state;
    if (o->fn == SB_LINCHECK_READ)
        return state == o->value;
    if (o->fn == SB_LINCHECK_WRITE) {
        *next = o->value;
        return 1;
    }
    if (o->outcome == SB_LINCHECK_OUT_OK && !o->applied)
        return state != o->from && (!o->has_value || state == o->value);
    *next = o->to;
    return state == o->from;
}

/* The definition, searched without cleverness: some op may go next if no
 * other unplaced OK op returned before it was called; done when every OK
 * op is placed. Failed ops and indeterminate reads never take part. */
static int bf_linearizable(const bf_op *ops, int n, unsigned placed, int state)
{
    int all = 1;
    for (int i = 0; i < n; i++)
        if (!(placed >> i & 1) && ops[i].outcome == SB_LINCHECK_OUT_OK)
            all = 0;
    if (all)
        return 1;
    for (int c = 0; c < n; c++) {
        const bf_op *o = &ops[c];
        if (placed >> c & 1 || o->outcome == SB_LINCHECK_OUT_FAIL ||
            (o->outcome == SB_LINCHECK_OUT_INDETERMINATE && o->fn == SB_LINCHECK_READ))
            continue;
        int may = 1;
        for (int j = 0; j < n && may; j++)
            if (j != c && !(placed >> j & 1) && ops[j].outcome == SB_LINCHECK_OUT_OK &&
                ops[j].ret < o->call)
                may = 0;
        int next;
        if (may && bf_step(o, state, &next) && bf_linearizable(ops, n, placed | 1u << c, next))
            return 1;
    }
    return 0;
}

/* 4,000 random histories of up to 7 ops on one key, many of them not
 * linearizable: the checker and the brute force agree on every one. In odd
 * rounds every cas that did not apply says what it saw and values are more
 * varied, so that unseen indeterminate writes get dropped (drop_unseen). */
static void test_matches_brute_force(void **state)
{
    uint64_t rng = 11;
    int verdicts[2] = {0, 0};
    for (int round = 0; round < 4000; round++) {
        bf_op ops[7];
        int n = 1 + lcgen_below(&rng, 7), odd = round & 1, nvalues = odd ? 5 : 3;
        sb_lincheck *h = sb_lincheck_new();
        for (int i = 0; i < n; i++) {
            bf_op *o = &ops[i];
            int r = lcgen_below(&rng, 100);
            o->fn = (sb_lincheck_fn)lcgen_below(&rng, 3);
            o->outcome = r < 70   ? SB_LINCHECK_OUT_OK
                         : r < 85 ? SB_LINCHECK_OUT_INDETERMINATE
                                  : SB_LINCHECK_OUT_FAIL;
            o->value = lcgen_below(&rng, nvalues);
            o->from = lcgen_below(&rng, 3);
            o->to = lcgen_below(&rng, nvalues);
            o->applied = lcgen_below(&rng, 2);
            o->has_value = !o->applied && (odd || lcgen_below(&rng, 2));
            o->call = lcgen_below(&rng, 20);
            o->ret = o->outcome == SB_LINCHECK_OUT_OK ? o->call + lcgen_below(&rng, 10) : INT64_MAX;
            sb_lincheck_op op = {.process = i,
                                 .key = (const uint8_t *)"k",
                                 .key_len = 1,
                                 .fn = o->fn,
                                 .outcome = o->outcome,
                                 .value = val(o->value),
                                 .from = val(o->from),
                                 .to = val(o->to),
                                 .applied = o->applied,
                                 .has_value = o->has_value,
                                 .call = o->call,
                                 .ret = o->ret};
            assert_true(sb_lincheck_add(h, &op, NULL) >= 0);
        }
        int want = bf_linearizable(ops, n, 0, 0);
        sb_lincheck_result got = check(h);
        if (got != (want ? SB_LINCHECK_LINEARIZABLE : SB_LINCHECK_VIOLATION)) {
            sb_buf out;
            sb_buf_init(&out);
            sb_lincheck_write_jsonl(h, &out);
            fail_msg("round %d: brute force says %s, the checker %s:\n%s", round,
                     want ? "linearizable" : "not", sb_lincheck_result_name(got),
                     sb_buf_cstr(&out));
        }
        verdicts[want]++;
        sb_lincheck_free(h);
    }
    print_message("brute force: %d linearizable, %d not\n", verdicts[1], verdicts[0]);
    assert_true(verdicts[0] > 500 && verdicts[1] > 500);
}

/* ---- bounds --------------------------------------------------------------- */

/* n concurrent writes of distinct values and a final read of a value none
 * wrote: the search must try every subset of the writes before it can say
 * no, far more than a small budget allows. */
static sb_lincheck *hard_history(int n)
{
    sb_lincheck *h = sb_lincheck_new();
    for (int i = 0; i < n; i++)
        wr(h, i, "k", i + 1, 0, 1000);
    for (int i = 0; i < n; i++)
        wr(h, i, "k", i + 1, 0, INFO);
    rd(h, 0, "k", n + 1, 2000, 2010);
    return h;
}

static void test_budget_answers_unknown(void **state)
{
    sb_lincheck *h = hard_history(16);
    sb_lincheck_limits lim = {.max_steps_per_key = 5000};
    sb_lincheck_report rep;
    assert_int_equal(sb_lincheck_check(h, &lim, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_UNKNOWN);
    assert_int_equal(rep.keys_unknown, 1);
    assert_true(rep.steps <= 5001);
    assert_non_null(strstr(rep.explanation, "gave up after 5000 search steps"));
    sb_lincheck_report_free(&rep);

    /* A full memo starts over instead of giving up: the steps decide. */
    lim = (sb_lincheck_limits){.max_memo_bytes = 64 << 10, .max_steps_per_key = 200000};
    assert_int_equal(sb_lincheck_check(h, &lim, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_UNKNOWN);
    assert_non_null(strstr(rep.explanation, "gave up after 200000 search steps"));
    assert_non_null(strstr(rep.explanation, "the memo filled its 65536 bytes and started over"));
    sb_lincheck_report_free(&rep);

    lim = (sb_lincheck_limits){.max_ms = 20, .max_steps_per_key = UINT64_MAX};
    assert_int_equal(sb_lincheck_check(h, &lim, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_UNKNOWN);
    assert_non_null(strstr(rep.explanation, "time limit"));
    assert_true(rep.elapsed_ms < 2000);
    sb_lincheck_report_free(&rep);
    sb_lincheck_free(h);

    /* A small one of the same shape is decided, with a memo that has to
     * start over many times too. */
    h = hard_history(6);
    assert_int_equal(check(h), SB_LINCHECK_VIOLATION);
    lim = (sb_lincheck_limits){.max_memo_bytes = 1};
    assert_int_equal(check_with(h, &lim), SB_LINCHECK_VIOLATION);
    sb_lincheck_free(h);
}

/* Forgetting the memo changes how long the search takes, never its
 * verdict: a linearizable history stays so, and a violation is still
 * found or, without the memo's pruning, the steps run out. */
static void test_tiny_memo_same_verdicts(void **state)
{
    sb_lincheck_limits lim = {.max_memo_bytes = 1, .max_steps_per_key = 1000000};
    int found = 0;
    for (uint64_t seed = 100; seed < 110; seed++) {
        lcgen_opts o = {.seed = seed,
                        .ops = 200,
                        .keys = 2,
                        .processes = 5,
                        .values = 3,
                        .fail_pct = 5,
                        .info_pct = 5,
                        .corrupt = seed & 1};
        sb_lincheck *h = sb_lincheck_new();
        assert_true(lcgen_fill(h, &o) >= 0);
        sb_lincheck_result want = o.corrupt ? SB_LINCHECK_VIOLATION : SB_LINCHECK_LINEARIZABLE;
        assert_int_equal(check(h), want);
        sb_lincheck_result got = check_with(h, &lim);
        if (o.corrupt)
            assert_true(got == SB_LINCHECK_VIOLATION || got == SB_LINCHECK_UNKNOWN);
        else
            assert_int_equal(got, SB_LINCHECK_LINEARIZABLE);
        found += got == SB_LINCHECK_VIOLATION;
        sb_lincheck_free(h);
    }
    print_message("tiny memo: %d of 5 violations found within the steps\n", found);
}

/* Every allocation of adding and checking fails in turn: each call either
 * succeeds or answers SB_ENOMEM, nothing leaks, and the verdict of a
 * check that succeeds is the right one. */
static void test_allocation_failures(void **state)
{
    int injected = 0;
    for (long n = 0; n < 100000; n++) {
        sb_alloc_fail_after(n);
        sb_lincheck *h = sb_lincheck_new();
        int rv = h ? 0 : SB_ENOMEM;
        for (int i = 0; i < 40 && rv == 0; i++) {
            char key[8];
            snprintf(key, sizeof key, "k%d", i % 3);
            sb_lincheck_op op = {.key = (const uint8_t *)key,
                                 .key_len = strlen(key),
                                 .fn = SB_LINCHECK_WRITE,
                                 .value = val(i),
                                 .call = i,
                                 .ret = i};
            rv = sb_lincheck_add(h, &op, NULL);
            rv = rv < 0 ? rv : 0;
        }
        if (rv == 0) {
            sb_lincheck_op op = {.key = (const uint8_t *)"k1",
                                 .key_len = 2,
                                 .fn = SB_LINCHECK_READ,
                                 .value = val(13),
                                 .call = 50,
                                 .ret = 60};
            rv = sb_lincheck_add(h, &op, NULL);
            rv = rv < 0 ? rv : 0;
        }
        sb_lincheck_report rep;
        if (rv == 0 && (rv = sb_lincheck_check(h, NULL, &rep)) == 0) {
            assert_int_equal(rep.result, SB_LINCHECK_VIOLATION); /* the last write was 37 */
            sb_lincheck_report_free(&rep);
        }
        int failed = sb_alloc_failed_at(NULL, NULL);
        sb_alloc_reset();
        sb_lincheck_free(h);
        if (!failed) {
            assert_int_equal(rv, 0);
            break;
        }
        assert_int_equal(rv, SB_ENOMEM);
        injected++;
    }
    assert_true(injected > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_sequential),
        cmocka_unit_test(test_stale_read_after_completed_write),
        cmocka_unit_test(test_two_inserts_if_not_exists_both_applied),
        cmocka_unit_test(test_lost_write),
        cmocka_unit_test(test_concurrent_ops_linearize_one_way_only),
        cmocka_unit_test(test_touching_intervals_are_concurrent),
        cmocka_unit_test(test_indeterminate_must_have_happened),
        cmocka_unit_test(test_indeterminate_must_not_have_happened),
        cmocka_unit_test(test_many_unseen_indeterminate_writes),
        cmocka_unit_test(test_unseen_write_explains_blind_cas),
        cmocka_unit_test(test_failed_ops_ignored),
        cmocka_unit_test(test_reads_of_absent_and_deletes),
        cmocka_unit_test(test_cas_not_applied),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_byte_string_values),
        cmocka_unit_test(test_invoke_complete),
        cmocka_unit_test(test_bad_operations_refused),
        cmocka_unit_test(test_write_jsonl),
        cmocka_unit_test(test_random_register_histories),
        cmocka_unit_test(test_two_thousand_ops),
        cmocka_unit_test(test_matches_brute_force),
        cmocka_unit_test(test_budget_answers_unknown),
        cmocka_unit_test(test_tiny_memo_same_verdicts),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
