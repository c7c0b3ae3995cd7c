/* Origins and the cross-origin rule (src/http/origin.h): parsing, the
 * canonical form, the allowed list, and which origins may drive a server
 * reached at a given Host. */
#include "test.h"

#include <string.h>

#include "http/origin.h"
#include "util/err.h"

static int parse(const char *s, sb_origin *o)
{
    return sb_origin_parse(s, strlen(s), o);
}

static void test_parse_and_canonical_form(void **state)
{
    sb_origin o;
    char buf[SB_ORIGIN_STRLEN];
    assert_int_equal(parse("http://127.0.0.1:8080", &o), 0);
    assert_int_equal(o.https, 0);
    assert_string_equal(o.host, "127.0.0.1");
    assert_int_equal(o.port, 8080);
    assert_string_equal(sb_origin_str(&o, buf), "http://127.0.0.1:8080");

    assert_int_equal(parse("HTTPS://Example.COM:443/", &o), 0);
    assert_int_equal(o.https, 1);
    assert_int_equal(o.port, 443);
    assert_string_equal(sb_origin_str(&o, buf), "https://example.com");
    assert_int_equal(parse("http://example.com", &o), 0);
    assert_int_equal(o.port, 80);
    assert_int_equal(parse("http://[::1]:8080", &o), 0);
    assert_string_equal(o.host, "[::1]");
    assert_string_equal(sb_origin_str(&o, buf), "http://[::1]:8080");

    static const char *bad[] = {
        "null",
        "*",
        "",
        "http://",
        "ftp://x",
        "http://x/path",
        "http://x:0",
        "http://x:65536",
        "http://x:80a",
        "http://x:",
        "http://a b",
        "http://[::1",
        "http://[]:80",
        "http://x:123456",
        "http://user@x",
        "http://x?q",
        "//x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&o, 0x55, sizeof o);
        assert_int_equal(parse(bad[i], &o), SB_EINVAL);
        assert_int_equal(o.host[0], 0); /* cleared on failure */
    }
    /* the length given is the value: bytes after it are not read */
    assert_int_equal(sb_origin_parse("http://a.example/junk", 16, &o), 0);
    assert_string_equal(o.host, "a.example");
}

static void test_address_of_an_origin(void **state)
{
    sb_origin o;
    sb_ep ep, want;
    assert_int_equal(parse("http://localhost:8080", &o), 0);
    assert_int_equal(sb_origin_ep(&o, &ep), 0);
    assert_int_equal(sb_ep_parse("127.0.0.1:8080", 0, &want), 0);
    assert_true(sb_ep_eq(&ep, &want));
    assert_int_equal(parse("http://[::1]", &o), 0);
    assert_int_equal(sb_origin_ep(&o, &ep), 0);
    assert_int_equal(ep.family, 6);
    assert_int_equal(ep.port, 80);
    assert_int_equal(parse("http://sibyl.example:8080", &o), 0);
    assert_int_equal(sb_origin_ep(&o, &ep), SB_EINVAL); /* a DNS name is no address */
}

static void test_allowed_list(void **state)
{
    char out[256], err[SB_ERRMSG_SIZE] = "";
    assert_int_equal(sb_origin_list_canon(" http://A.example:80/,https://b.example:8443  "
                                          "http://10.1.2.3:3000",
                                          out, sizeof out, err),
                     0);
    assert_string_equal(out, "http://a.example,https://b.example:8443,http://10.1.2.3:3000");
    assert_int_equal(sb_origin_list_canon("", out, sizeof out, err), 0);
    assert_string_equal(out, "");
    assert_int_equal(sb_origin_list_canon("http://a.example,*", out, sizeof out, err), SB_EINVAL);
    assert_non_null(strstr(err, "'*' is not accepted"));
    assert_int_equal(sb_origin_list_canon("http://a.example/x", out, sizeof out, err), SB_EINVAL);
    assert_non_null(strstr(err, "'http://a.example/x' is not an origin"));
    char tiny[20];
    assert_int_equal(
        sb_origin_list_canon("http://a.example,http://b.example", tiny, sizeof tiny, err),
        SB_EINVAL);
    assert_non_null(strstr(err, "longer than 19 bytes"));

    sb_origin o;
    const char *list = "http://a.example,https://b.example:8443";
    assert_int_equal(parse("http://A.EXAMPLE:80", &o), 0);
    assert_true(sb_origin_in_list(&o, list));
    assert_int_equal(parse("https://b.example:8443", &o), 0);
    assert_true(sb_origin_in_list(&o, list));
    assert_int_equal(parse("http://b.example:8443", &o), 0); /* scheme differs */
    assert_false(sb_origin_in_list(&o, list));
    assert_int_equal(parse("http://a.exampl", &o), 0); /* a prefix is not a match */
    assert_false(sb_origin_in_list(&o, list));
    assert_false(sb_origin_in_list(&o, ""));
    assert_false(sb_origin_in_list(&o, NULL));
}

static int trusted(const char *origin, const char *host, const sb_ep *eps, int n,
                   const char *allowed)
{
    sb_origin o;
    if (parse(origin, &o) != 0)
        return -1;
    return sb_origin_trusted(&o, host, host ? strlen(host) : 0, eps, n, allowed);
}

static void test_trust_rule(void **state)
{
    sb_ep eps[3];
    assert_int_equal(sb_ep_parse("127.0.0.1:8080", 0, &eps[0]), 0);
    assert_int_equal(sb_ep_parse("127.0.0.2:8080", 0, &eps[1]), 0);
    assert_int_equal(sb_ep_parse("0.0.0.0:8080", 0, &eps[2]), 0);

    /* the server itself, by address or as localhost */
    assert_int_equal(trusted("http://127.0.0.1:8080", "127.0.0.1:8080", eps, 3, NULL), 1);
    assert_int_equal(trusted("http://localhost:8080", "localhost:8080", eps, 3, NULL), 1);
    /* a cluster member's page, whatever Host the request carries */
    assert_int_equal(trusted("http://127.0.0.2:8080", "127.0.0.1:8080", eps, 3, NULL), 1);
    assert_int_equal(trusted("http://localhost:8080", "127.0.0.2:8080", eps, 3, NULL), 1);
    /* Origin = Host with an IP: a node listening on every interface */
    assert_int_equal(trusted("http://192.168.1.5:8080", "192.168.1.5:8080", NULL, 0, NULL), 1);
    assert_int_equal(trusted("http://[::1]:8080", "[::1]:8080", NULL, 0, NULL), 1);
    assert_int_equal(trusted("http://192.168.1.5", "192.168.1.5:80", NULL, 0, NULL), 1);

    /* another port or host of the same machine is another site */
    assert_int_equal(trusted("http://127.0.0.1:3000", "127.0.0.1:8080", eps, 3, NULL), 0);
    assert_int_equal(trusted("http://127.0.0.3:8080", "127.0.0.1:8080", eps, 3, NULL), 0);
    assert_int_equal(trusted("http://evil.example", "127.0.0.1:8080", eps, 3, NULL), 0);
    /* the wildcard address stands for no origin */
    assert_int_equal(trusted("http://0.0.0.0:8080", "127.0.0.1:8080", eps, 3, NULL), 0);
    /* DNS rebinding: a name resolving to the node carries its own Host */
    assert_int_equal(trusted("http://evil.example:8080", "evil.example:8080", eps, 3, NULL), 0);
    assert_int_equal(trusted("http://127.0.0.1:8080", NULL, NULL, 0, NULL), 0);

    /* the allowed list, names included */
    assert_int_equal(
        trusted("http://evil.example", "127.0.0.1:8080", eps, 3, "http://evil.example"), 1);
    assert_int_equal(
        trusted("https://grafana.example", "127.0.0.1:8080", eps, 3, "http://grafana.example"), 0);
}

static void test_member_address(void **state)
{
    sb_ep http, listen, out, want;
    assert_int_equal(sb_ep_parse("0.0.0.0:8080", 0, &http), 0);
    assert_int_equal(sb_ep_parse("10.0.0.7:7000", 0, &listen), 0);
    sb_origin_member_ep(&http, &listen, &out);
    assert_int_equal(sb_ep_parse("10.0.0.7:8080", 0, &want), 0);
    assert_true(sb_ep_eq(&out, &want));
    assert_int_equal(sb_ep_parse("10.0.0.9:8081", 0, &http), 0);
    sb_origin_member_ep(&http, &listen, &out);
    assert_true(sb_ep_eq(&out, &http));
}

static void test_json_content_type(void **state)
{
    static const char *yes[] = {"application/json", "Application/JSON",
                                "application/json; charset=utf-8", " application/json ;x=y"};
    static const char *no[] = {"text/plain",
                               "application/x-www-form-urlencoded",
                               "multipart/form-data; boundary=x",
                               "application/jsonx",
                               "application/json-seq",
                               "",
                               "text/plain; application/json"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(sb_content_type_is_json(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(sb_content_type_is_json(no[i], strlen(no[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_canonical_form),
        cmocka_unit_test(test_address_of_an_origin),
        cmocka_unit_test(test_allowed_list),
        cmocka_unit_test(test_trust_rule),
        cmocka_unit_test(test_member_address),
        cmocka_unit_test(test_json_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
