/* Unit tests for `sibyl status` / `sibyl ring` rendering (cli/cli.h):
 * the nodetool layouts byte for byte from a cluster view, grouping by
 * datacenter, status letters, left nodes hidden, load units, and refusal
 * of input that is not a cluster view. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/err.h"

static const char *VIEW =
    "{\"cluster_name\": \"c\", \"local\": \"127.0.0.1:7000\", \"nodes\": ["
    "{\"address\": \"127.0.0.1\", \"listen\": \"127.0.0.1:7000\", \"host_id\": "
    "\"00000000-0000-0000-0000-000000000001\", \"dc\": \"dc2\", \"rack\": \"r1\", "
    "\"status\": \"NORMAL\", \"state\": \"up\", \"load_bytes\": 1269000, \"tokens\": "
    "[\"-5\", \"100\"], \"ntokens\": 2, \"owns\": 0.5},"
    "{\"address\": \"127.0.0.2\", \"listen\": \"127.0.0.2:7000\", \"host_id\": "
    "\"00000000-0000-0000-0000-000000000002\", \"dc\": \"dc1\", \"rack\": \"rack1\", "
    "\"status\": \"JOINING\", \"state\": \"down\", \"load_bytes\": 512, \"tokens\": "
    "[\"7\"], \"ntokens\": 1, \"owns\": 0.25},"
    "{\"address\": \"127.0.0.3\", \"listen\": \"127.0.0.3:7000\", \"host_id\": "
    "\"00000000-0000-0000-0000-000000000003\", \"dc\": \"dc1\", \"rack\": \"rack2\", "
    "\"status\": \"NORMAL\", \"state\": \"up\", \"load_bytes\": 2048, \"tokens\": "
    "[\"-9000000000000000000\"], \"ntokens\": 1, \"owns\": 0.25},"
    "{\"address\": \"127.0.0.4\", \"listen\": \"127.0.0.4:7000\", \"dc\": \"dc1\", "
    "\"rack\": \"rack1\", \"status\": \"LEFT\", \"state\": \"down\", \"load_bytes\": 0, "
    "\"tokens\": [], \"ntokens\": 0, \"owns\": 0}"
    "], \"ring\": []}";

static void test_status_layout(void **state)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cli_cluster_render(VIEW, strlen(VIEW), 0, NULL, &out, errmsg), 0);
    assert_string_equal(
        sb_buf_cstr(&out),
        "Datacenter: dc1\n"
        "===============\n"
        "Status=Up/Down\n"
        "|/ State=Normal/Leaving/Joining/Moving\n"
        "--  Address    Load       Tokens  Owns   Host ID                               Rack\n"
        "DJ  127.0.0.2  512 bytes  1       25.0%  00000000-0000-0000-0000-000000000002  rack1\n"
        "UN  127.0.0.3  2.00 KiB   1       25.0%  00000000-0000-0000-0000-000000000003  rack2\n"
        "\n"
        "Datacenter: dc2\n"
        "===============\n"
        "Status=Up/Down\n"
        "|/ State=Normal/Leaving/Joining/Moving\n"
        "--  Address    Load      Tokens  Owns   Host ID                               Rack\n"
        "UN  127.0.0.1  1.21 MiB  2       50.0%  00000000-0000-0000-0000-000000000001  r1\n");
    /* with a keyspace the heading says effective */
    sb_buf_reset(&out);
    assert_int_equal(sb_cli_cluster_render(VIEW, strlen(VIEW), 0, "ks", &out, errmsg), 0);
    assert_non_null(strstr(sb_buf_cstr(&out), "Tokens  Owns (effective)  Host ID"));
    sb_buf_free(&out);
}

/* Three nodes in one datacenter with their Raft roles, as 127.0.0.2 sees
 * them; raft_json is the top-level "raft" object. */
static char *raft_view(const char *raft_json)
{
    static const char *fmt =
        "{\"local\": \"127.0.0.2:7000\", \"nodes\": ["
        "{\"address\": \"127.0.0.1\", \"host_id\": \"h1\", \"dc\": \"dc1\", \"rack\": \"r\", "
        "\"status\": \"NORMAL\", \"state\": \"up\", \"load_bytes\": 1, \"ntokens\": 1, "
        "\"owns\": 0.5, \"raft\": \"leader\"},"
        "{\"address\": \"127.0.0.2\", \"host_id\": \"h2\", \"dc\": \"dc1\", \"rack\": \"r\", "
        "\"status\": \"NORMAL\", \"state\": \"up\", \"load_bytes\": 1, \"ntokens\": 1, "
        "\"owns\": 0.25, \"raft\": \"voter\"},"
        "{\"address\": \"127.0.0.3\", \"host_id\": \"h3\", \"dc\": \"dc1\", \"rack\": \"r\", "
        "\"status\": \"NORMAL\", \"state\": \"down\", \"load_bytes\": 1, \"ntokens\": 1, "
        "\"owns\": 0.25, \"raft\": null}"
        "], \"raft\": %s, \"ring\": []}";
    size_t n = strlen(fmt) + strlen(raft_json) + 1;
    char *v = malloc(n);
    snprintf(v, n, fmt, raft_json);
    return v;
}

static void test_status_raft_column_and_summary(void **state)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    char *v = raft_view("{\"leader\": \"127.0.0.1:7000\", \"term\": 4, \"role\": \"follower\", "
                        "\"voters\": 2, \"learners\": 1}");
    assert_int_equal(sb_cli_cluster_render(v, strlen(v), 0, NULL, &out, errmsg), 0);
    assert_string_equal(sb_buf_cstr(&out),
                        "Datacenter: dc1\n"
                        "===============\n"
                        "Status=Up/Down\n"
                        "|/ State=Normal/Leaving/Joining/Moving\n"
                        "--  Address    Load     Tokens  Owns   Host ID  Rack  Raft\n"
                        "UN  127.0.0.1  1 bytes  1       50.0%  h1       r     leader\n"
                        "UN  127.0.0.2  1 bytes  1       25.0%  h2       r     voter\n"
                        "DN  127.0.0.3  1 bytes  1       25.0%  h3       r     -\n"
                        "\n"
                        "Raft: leader 127.0.0.1:7000, term 4, 2 voters, 1 learner\n");
    free(v);
    /* no leader known: the last line says so and what it means */
    sb_buf_reset(&out);
    v = raft_view("{\"leader\": null, \"term\": 9, \"role\": \"candidate\", \"voters\": 3, "
                  "\"learners\": 0}");
    assert_int_equal(sb_cli_cluster_render(v, strlen(v), 0, NULL, &out, errmsg), 0);
    assert_non_null(
        strstr(sb_buf_cstr(&out), "\nRaft: no leader known to 127.0.0.2:7000 (term 9)"));
    /* ring output has no Raft line */
    sb_buf_reset(&out);
    assert_int_equal(sb_cli_cluster_render(v, strlen(v), 1, NULL, &out, errmsg), 0);
    assert_null(strstr(sb_buf_cstr(&out), "Raft"));
    free(v);
    sb_buf_free(&out);
}

static void test_status_read_only_node(void **state)
{
    static const char *RO =
        "{\"nodes\": [{\"address\": \"127.0.0.1\", \"dc\": \"dc1\", \"rack\": \"r1\", "
        "\"status\": \"NORMAL\", \"state\": \"up\", \"load_bytes\": 0, \"tokens\": [], "
        "\"ntokens\": 0, \"owns\": 1, \"read_only\": true, \"read_only_reason\": "
        "\"disk full on 127.0.0.1:7000: /d/db: no space left on device\"}], \"ring\": []}";
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cli_cluster_render(RO, strlen(RO), 0, NULL, &out, errmsg), 0);
    assert_non_null(strstr(sb_buf_cstr(&out),
                           "\nRead-only: 127.0.0.1 refuses writes: disk full on 127.0.0.1:7000: "
                           "/d/db: no space left on device\n"));
    /* a node that takes writes gets no such line */
    sb_buf_reset(&out);
    assert_int_equal(sb_cli_cluster_render(VIEW, strlen(VIEW), 0, NULL, &out, errmsg), 0);
    assert_null(strstr(sb_buf_cstr(&out), "Read-only"));
    sb_buf_free(&out);
}

static void test_ring_layout(void **state)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    assert_int_equal(sb_cli_cluster_render(VIEW, strlen(VIEW), 1, NULL, &out, errmsg), 0);
    assert_string_equal(sb_buf_cstr(&out),
                        "Datacenter: dc1\n"
                        "===============\n"
                        "Address    Rack   Status  State    Load       Owns    "
                        "               Token\n"
                        "                                                      "
                        "                   7\n"
                        "127.0.0.3  rack2  Up      Normal   2.00 KiB   25.00%  "
                        "-9000000000000000000\n"
                        "127.0.0.2  rack1  Down    Joining  512 bytes  25.00%  "
                        "                   7\n"
                        "\n"
                        "Datacenter: dc2\n"
                        "===============\n"
                        "Address    Rack  Status  State   Load      Owns    Token\n"
                        "                                                     100\n"
                        "127.0.0.1  r1    Up      Normal  1.21 MiB  50.00%     -5\n"
                        "127.0.0.1  r1    Up      Normal  1.21 MiB  50.00%    100\n");
    sb_buf_free(&out);
}

static void test_bad_views_are_refused(void **state)
{
    char errmsg[SB_ERRMSG_SIZE];
    sb_buf out;
    sb_buf_init(&out);
    const char *notjson = "<html>";
    assert_int_equal(sb_cli_cluster_render(notjson, strlen(notjson), 0, NULL, &out, errmsg),
                     SB_EINVAL);
    assert_non_null(strstr(errmsg, "not JSON"));
    const char *nonodes = "{\"ring\": []}";
    assert_int_equal(sb_cli_cluster_render(nonodes, strlen(nonodes), 0, NULL, &out, errmsg),
                     SB_EINVAL);
    assert_non_null(strstr(errmsg, "\"nodes\""));
    const char *badtok = "{\"nodes\": [{\"address\": \"a\", \"dc\": \"d\", \"tokens\": [5]}]}";
    assert_int_equal(sb_cli_cluster_render(badtok, strlen(badtok), 1, NULL, &out, errmsg),
                     SB_EINVAL);
    assert_non_null(strstr(errmsg, "node a"));
    /* missing fields render as "?" rather than crash */
    const char *sparse = "{\"nodes\": [{}]}";
    sb_buf_reset(&out);
    assert_int_equal(sb_cli_cluster_render(sparse, strlen(sparse), 0, NULL, &out, errmsg), 0);
    assert_non_null(strstr(sb_buf_cstr(&out), "D?  ?"));
    sb_buf_free(&out);
}

static void test_format_bytes(void **state)
{
    char b[32];
    sb_cli_format_bytes(0, b, sizeof b);
    assert_string_equal(b, "0 bytes");
    sb_cli_format_bytes(1023, b, sizeof b);
    assert_string_equal(b, "1023 bytes");
    sb_cli_format_bytes(1024, b, sizeof b);
    assert_string_equal(b, "1.00 KiB");
    sb_cli_format_bytes(1269000, b, sizeof b);
    assert_string_equal(b, "1.21 MiB");
    sb_cli_format_bytes(5ull << 40, b, sizeof b);
    assert_string_equal(b, "5.00 TiB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_layout),
        cmocka_unit_test(test_status_raft_column_and_summary),
        cmocka_unit_test(test_status_read_only_node),
        cmocka_unit_test(test_ring_layout),
        cmocka_unit_test(test_bad_views_are_refused),
        cmocka_unit_test(test_format_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
