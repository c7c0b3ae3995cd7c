/* Request parsing of the node endpoints: POST /api/v1/fault bodies and the
 * text form of partition-key values (/api/v1/replicas, /api/v1/local). */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/fault_api.h"
#include "util/err.h"

static int parse(const char *body, sb_fault_req *r, char *err)
{
    err[0] = 0;
    return sb_fault_parse((const uint8_t *)body, strlen(body), r, err);
}

static void test_fault_valid(void **state)
{
    static sb_fault_req r;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(
        parse("{\"action\": \"cut\", \"peers\": [\"127.0.0.2:7000\", \"127.0.0.3\"]}", &r, err), 0);
    assert_int_equal(r.action, SB_FAULT_CUT);
    assert_int_equal(r.npeers, 2);
    assert_string_equal(r.peers[0], "127.0.0.2:7000");
    assert_string_equal(r.peers[1], "127.0.0.3");
    assert_int_equal(parse("{\"action\": \"heal\"}", &r, err), 0);
    assert_int_equal(r.action, SB_FAULT_HEAL);
    assert_int_equal(r.npeers, 0);
    assert_int_equal(parse("{\"action\": \"cut\", \"peers\": []}", &r, err), 0);
    assert_int_equal(r.npeers, 0);
    assert_int_equal(parse("{\"action\": \"heal\", \"peers\": null}", &r, err), 0);
    assert_int_equal(parse("{\"peers\": [\"[::1]:7000\"], \"action\": \"cut\"}", &r, err), 0);
    assert_string_equal(r.peers[0], "[::1]:7000");
}

static void expect_error(const char *body, const char *needle)
{
    static sb_fault_req r;
    char err[SB_ERRMSG_SIZE];
    assert_int_equal(parse(body, &r, err), SB_EBADINPUT);
    if (!strstr(err, needle))
        fail_msg("error for %s was \"%s\", expected it to mention \"%s\"", body, err, needle);
}

static void test_fault_errors(void **state)
{
    expect_error("", "invalid JSON at line");
    expect_error("{\"action\": ", "invalid JSON at line 1");
    expect_error("[1]", "expected an object");
    expect_error("{}", "action: expected \"cut\" or \"heal\" (missing)");
    expect_error("{\"action\": \"drop\"}", "got \"drop\"");
    expect_error("{\"action\": 3}", "action: expected");
    expect_error("{\"action\": \"cut\", \"peers\": \"127.0.0.2\"}", "peers: expected an array");
    expect_error("{\"action\": \"cut\", \"peers\": [\"127.0.0.2\", 7]}",
                 "peers[1]: expected a string");
    expect_error("{\"action\": \"cut\", \"peers\": [\"node2\"]}",
                 "peers[0]: \"node2\" is not an IP");
    expect_error("{\"action\": \"cut\", \"peers\": [\"127.0.0.2:99999\"]}", "peers[0]");
    expect_error("{\"action\": \"cut\", \"peer\": []}", "unknown field \"peer\"");
    expect_error("{\"action\": \"cut\", \"action\": \"heal\"}", "invalid JSON");
    char big[SB_FAULT_MAX_PEERS * 20 + 100];
    size_t o = (size_t)snprintf(big, sizeof big, "{\"action\": \"cut\", \"peers\": [");
    for (int i = 0; i <= SB_FAULT_MAX_PEERS; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s\"10.0.0.%d\"", i ? "," : "", i % 250);
    snprintf(big + o, sizeof big - o, "]}");
    expect_error(big, "at most 64");
}

static void test_disk_fault_parse(void **state)
{
    char err[SB_ERRMSG_SIZE];
    int e = -1, w = 0;
    const char *ok = "{\"error\": \"enospc\", \"writes\": -1}";
    assert_int_equal(sb_disk_fault_parse((const uint8_t *)ok, strlen(ok), &e, &w, err), 0);
    assert_int_equal(e, ENOSPC);
    assert_int_equal(w, -1);
    const char *one = "{\"error\": \"eio\"}";
    assert_int_equal(sb_disk_fault_parse((const uint8_t *)one, strlen(one), &e, &w, err), 0);
    assert_int_equal(e, EIO);
    assert_int_equal(w, 1);
    const char *none = "{\"error\": \"none\"}";
    assert_int_equal(sb_disk_fault_parse((const uint8_t *)none, strlen(none), &e, &w, err), 0);
    assert_int_equal(e, 0);
    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"[]", "expected {"},
        {"not json", "expected {"},
        {"{\"error\": \"ebusy\"}", "error: expected"},
        {"{}", "error: expected"},
        {"{\"error\": \"eio\", \"writes\": 0}", "writes: expected"},
        {"{\"error\": \"eio\", \"writes\": \"2\"}", "writes: expected"},
        {"{\"error\": \"eio\", \"disk\": 1}", "unknown field \"disk\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(
            sb_disk_fault_parse((const uint8_t *)bad[i].body, strlen(bad[i].body), &e, &w, err),
            SB_EBADINPUT);
        assert_non_null(strstr(err, bad[i].needle));
    }
}

static void key_ok(const char *type, const char *text, const char *hex)
{
    sb_type t;
    sb_buf b;
    char err[SB_ERRMSG_SIZE] = "", got[256] = "";
    assert_int_equal(sb_type_parse(type, &t), 0);
    sb_buf_init(&b);
    int rv = sb_http_key_value(t, text, &b, err);
    if (rv != 0)
        fail_msg("%s '%s': %s", type, text, err);
    for (size_t i = 0; i < b.len && i < 100; i++)
        snprintf(got + 2 * i, 3, "%02x", b.data[i]);
    assert_string_equal(got, hex);
    sb_buf_free(&b);
}

static void key_bad(const char *type, const char *text, const char *needle)
{
    sb_type t;
    sb_buf b;
    char err[SB_ERRMSG_SIZE] = "";
    assert_int_equal(sb_type_parse(type, &t), 0);
    sb_buf_init(&b);
    assert_int_equal(sb_http_key_value(t, text, &b, err), SB_EINVALID);
    assert_int_equal(b.len, 0);
    if (!strstr(err, needle))
        fail_msg("%s '%s': error \"%s\" should mention \"%s\"", type, text, err, needle);
    sb_buf_free(&b);
}

static void test_key_values(void **state)
{
    key_ok("text", "s1", "7331");
    key_ok("text", "", "");
    key_ok("int", "42", "0000002a");
    key_ok("int", "-1", "ffffffff");
    key_ok("bigint", "1", "0000000000000001");
    key_ok("double", "1.5", "3ff8000000000000");
    key_ok("double", "2", "4000000000000000");
    key_ok("boolean", "true", "01");
    key_ok("timestamp", "1970-01-01T00:00:01.000Z", "00000000000003e8");
    key_ok("timestamp", "1000", "00000000000003e8");
    key_ok("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567e89b12d3a456426614174000");
    key_ok("blob", "0xcafe", "cafe");
    key_bad("int", "4x", "is not an integer");
    key_bad("int", "3000000000", "out of range");
    key_bad("double", "1.5.2", "is not a number");
    key_bad("boolean", "yes", "boolean");
    key_bad("blob", "cafe", "expected 0x");
    key_bad("uuid", "nope", "");
    key_bad("timestamp", "yesterday", "");
    key_bad("list<int>", "[1]", "cannot be given as text");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_valid),
        cmocka_unit_test(test_fault_errors),
        cmocka_unit_test(test_disk_fault_parse),
        cmocka_unit_test(test_key_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
