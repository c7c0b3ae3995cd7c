/*
 * `sibyl lincheck`: the history-file reader (every field, every error
 * naming its line and field) and the command's exit status on files that
 * are linearizable, not linearizable, undecided and malformed.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/lincheck.h"
#include "util/err.h"
#include "util/lincheck.h"

/* Parses text; returns the parse result, err holding the message. */
static char err[SB_ERRMSG_SIZE];

static int parse(sb_lincheck *h, const char *text)
{
    err[0] = 0;
    return sb_cli_lincheck_parse(text, strlen(text), h, err);
}

static void test_every_field(void **state)
{
    const char *text =
        "{\"process\":1,\"key\":\"k1\",\"f\":\"cas\",\"from\":null,\"to\":5,\"call\":100,"
        "\"return\":200,\"outcome\":\"ok\",\"applied\":true}\n"
        "\n"
        "   \r\n"
        "{\"process\":2,\"key\":\"k1\",\"f\":\"cas\",\"from\":null,\"to\":6,\"call\":110,"
        "\"return\":210,\"outcome\":\"ok\",\"applied\":false,\"value\":5}\r\n"
        "{\"process\":3,\"key\":\"k1\",\"f\":\"read\",\"value\":5,\"call\":300,\"return\":310,"
        "\"outcome\":\"ok\",\"error\":null,\"node\":\"127.0.0.2\"}\n"
        "{\"process\":4,\"key\":\"k1\",\"f\":\"write\",\"value\":7,\"call\":320,\"outcome\":"
        "\"info\"}\n"
        "{\"process\":4,\"key\":\"k1\",\"f\":\"write\",\"value\":8,\"call\":330,\"return\":null,"
        "\"outcome\":\"fail\"}\n"
        "{\"process\":3,\"key\":\"k1\",\"f\":\"read\",\"value\":7,\"call\":400,\"return\":410,"
        "\"outcome\":\"ok\"}\n"
        "{\"process\":3,\"key\":12,\"f\":\"write\",\"value\":\"text\",\"call\":400,\"return\":410,"
        "\"outcome\":\"ok\"}\n"
        "{\"process\":3,\"key\":\"12\",\"f\":\"read\",\"value\":\"text\",\"call\":420,\"return\":"
        "430,"
        "\"outcome\":\"ok\"}";
    sb_lincheck *h = sb_lincheck_new();
    assert_int_equal(parse(h, text), 0);
    assert_int_equal(sb_lincheck_count(h), 8);
    sb_lincheck_report rep;
    assert_int_equal(sb_lincheck_check(h, NULL, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_LINEARIZABLE);
    assert_int_equal(rep.keys, 2); /* the integer key 12 is the string "12" */
    assert_int_equal(rep.ops_failed, 1);
    assert_int_equal(rep.ops_indeterminate, 1);
    sb_lincheck_report_free(&rep);

    /* The written form reads back to the same history. */
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_lincheck_write_jsonl(h, &out), 0);
    sb_lincheck *again = sb_lincheck_new();
    assert_int_equal(sb_cli_lincheck_parse((const char *)out.data, out.len, again, err), 0);
    sb_buf out2;
    sb_buf_init(&out2);
    assert_int_equal(sb_lincheck_write_jsonl(again, &out2), 0);
    assert_int_equal(out.len, out2.len);
    assert_memory_equal(out.data, out2.data, out.len);
    sb_buf_free(&out);
    sb_buf_free(&out2);
    sb_lincheck_free(again);
    sb_lincheck_free(h);
}

/* A report names an operation by its line in the file. */
static void test_ops_named_by_line(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    assert_int_equal(parse(h, "\n"
                              "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"value\":1,\"call\":0,"
                              "\"return\":10,\"outcome\":\"ok\"}\n"
                              "\n"
                              "{\"process\":2,\"key\":\"k\",\"f\":\"read\",\"value\":2,\"call\":20,"
                              "\"return\":30,\"outcome\":\"ok\"}\n"),
                     0);
    sb_lincheck_report rep;
    assert_int_equal(sb_lincheck_check(h, NULL, &rep), 0);
    assert_int_equal(rep.result, SB_LINCHECK_VIOLATION);
    assert_non_null(strstr(rep.explanation, "#4 process 2: read -> 2  [20, 30]"));
    assert_non_null(strstr(rep.explanation, "1. #2 process 1: write 1  [0, 10]"));
    sb_lincheck_report_free(&rep);
    sb_lincheck_free(h);
}

static void test_errors_name_line_and_field(void **state)
{
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"{\"key\":\"k\",\"f\":\"read\",\"call\":0,\"return\":1,\"outcome\":\"ok\",\"value\":1}",
         "line 2: field \"process\": missing"},
        {"{\"process\":\"p1\",\"key\":\"k\"}", "line 2: field \"process\": expected an integer"},
        {"{\"process\":1,\"key\":[1],\"f\":\"read\"}",
         "line 2: field \"key\": expected a string or an integer"},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"get\"}",
         "line 2: field \"f\": expected \"read\", \"write\" or \"cas\""},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"read\",\"outcome\":\"timeout\"}",
         "line 2: field \"outcome\": expected \"ok\", \"fail\" or \"info\""},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"read\",\"outcome\":\"ok\",\"call\":1.5}",
         "line 2: field \"call\": expected an integer"},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"read\",\"outcome\":\"ok\",\"call\":1,\"value\":1}",
         "line 2: field \"return\": missing"},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"read\",\"outcome\":\"ok\",\"call\":5,\"return\":4,"
         "\"value\":1}",
         "line 2: field \"return\": earlier than \"call\""},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"read\",\"outcome\":\"ok\",\"call\":1,\"return\":2}",
         "line 2: field \"value\": missing"},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"call\":1,\"return\":2,"
         "\"value\":true}",
         "line 2: field \"value\": expected null, an integer or a string"},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"cas\",\"outcome\":\"ok\",\"call\":1,\"return\":2,"
         "\"to\":1}",
         "line 2: field \"from\": missing"},
        {"{\"process\":1,\"key\":\"k\",\"f\":\"cas\",\"outcome\":\"ok\",\"call\":1,\"return\":2,"
         "\"from\":1,\"to\":2,\"applied\":1}",
         "line 2: field \"applied\": expected true or false"},
        {"[]", "line 2: expected a JSON object"},
        {"{\"process\":1,", "line 2, column"},
        {"{\"process\":1,\"process\":2}", "duplicate"},
        {"{\"process\":99999999999999999999}", "line 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"value\":1,\"call\":0,"
                 "\"return\":1,\"outcome\":\"ok\"}\n%s\n{}\n",
                 cases[i].line);
        sb_lincheck *h = sb_lincheck_new();
        assert_int_equal(parse(h, text), SB_EBADINPUT);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
        assert_int_equal(sb_lincheck_count(h), 1); /* the lines before the bad one */
        sb_lincheck_free(h);
    }
}

static void test_limits(void **state)
{
    sb_lincheck *h = sb_lincheck_new();
    size_t n = SB_CLI_LINCHECK_LINE_MAX + 10;
    char *text = malloc(n + 1);
    memset(text, ' ', n);
    text[0] = '{';
    text[n - 1] = '}';
    text[n] = 0;
    assert_int_equal(parse(h, text), SB_EBADINPUT);
    assert_non_null(strstr(err, "line 1: longer than"));
    free(text);

    char key[1100];
    memset(key, 'k', sizeof key);
    key[sizeof key - 1] = 0;
    char line[1400];
    snprintf(line, sizeof line,
             "{\"process\":1,\"key\":\"%s\",\"f\":\"write\",\"value\":1,\"call\":0,\"return\":1,"
             "\"outcome\":\"ok\"}",
             key);
    assert_int_equal(parse(h, line), SB_EBADINPUT);
    assert_non_null(strstr(err, "line 1: field \"key\": longer than 1024 bytes"));
    /* A NUL inside the text is bad JSON, not the end of the input. */
    assert_int_equal(sb_cli_lincheck_parse("{\"a\":\0}", 7, h, err), SB_EBADINPUT);
    assert_int_equal(sb_lincheck_count(h), 0);
    sb_lincheck_free(h);
}

/* ---- the command --------------------------------------------------------- */

/* Writes text to a temporary file and runs `sibyl lincheck [opt] FILE`
 * with its output silenced; returns the exit status. */
static int run(const char *text, const char *opt)
{
    char path[] = "/tmp/sibyl-lincheck-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fflush(stdout);
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    char *argv[] = {"lincheck", (char *)(opt ? opt : "-q"), opt ? "1000" : path, path, NULL};
    int argc = opt ? 4 : 3;
    int rv = sb_cli_lincheck_main(argc, argv);
    fclose(stdout);
    stdout = saved;
    unlink(path);
    return rv;
}

static void test_command_exit_status(void **state)
{
    const char *w = "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"value\":1,\"call\":0,"
                    "\"return\":10,\"outcome\":\"ok\"}\n";
    char text[4096];
    snprintf(text, sizeof text,
             "%s{\"process\":2,\"key\":\"k\",\"f\":\"read\",\"value\":1,\"call\":20,"
             "\"return\":30,\"outcome\":\"ok\"}\n",
             w);
    assert_int_equal(run(text, NULL), 0);
    snprintf(text, sizeof text,
             "%s{\"process\":2,\"key\":\"k\",\"f\":\"read\",\"value\":null,\"call\":20,"
             "\"return\":30,\"outcome\":\"ok\"}\n",
             w);
    assert_int_equal(run(text, NULL), 1);
    assert_int_equal(run("{\"process\":1}\n", NULL), 2);
    assert_int_equal(run("", NULL), 0); /* nothing happened: linearizable */

    /* 14 concurrent writes and a read of a value none wrote: undecided
     * within 1000 steps. */
    size_t at = 0;
    for (int i = 0; i < 14; i++)
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "{\"process\":%d,\"key\":\"k\",\"f\":\"write\",\"value\":%d,"
                               "\"call\":0,\"return\":100,\"outcome\":\"ok\"}\n",
                               i, i);
    snprintf(text + at, sizeof text - at,
             "{\"process\":99,\"key\":\"k\",\"f\":\"read\",\"value\":99,\"call\":200,"
             "\"return\":210,\"outcome\":\"ok\"}\n");
    assert_int_equal(run(text, "--max-steps"), 2);
    assert_int_equal(run(text, NULL), 1); /* the default budget decides it */

    char *bad_opt[] = {"lincheck", "--max-steps", "ten", "x", NULL};
    assert_int_equal(sb_cli_lincheck_main(4, bad_opt), 2);
    char *two_files[] = {"lincheck", "a", "b", NULL};
    assert_int_equal(sb_cli_lincheck_main(3, two_files), 2);
    char *missing[] = {"lincheck", "/nonexistent/history.jsonl", NULL};
    assert_int_equal(sb_cli_lincheck_main(2, missing), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_ops_named_by_line),
        cmocka_unit_test(test_errors_name_line_and_field),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_command_exit_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
