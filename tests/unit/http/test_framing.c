/* Framing fields of raw request heads (http/framing.h): what is counted,
 * where the head ends, and that nothing past n is read. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "http/framing.h"

static int scan(const char *s, int *cl, int *te)
{
    /* an exact-size heap copy, so ASan sees any read past the end */
    size_t n = strlen(s);
    char *b = malloc(n ? n : 1);
    assert_non_null(b);
    memcpy(b, s, n);
    int rc = sb_http_framing_fields(b, n, cl, te);
    free(b);
    return rc;
}

static void test_counts_both_fields_case_blind(void **state)
{
    int cl, te;
    assert_int_equal(scan("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          "content-LENGTH: 6\r\nTransfer-Encoding: chunked\r\n\r\nbody",
                          &cl, &te),
                     0);
    assert_int_equal(cl, 2);
    assert_int_equal(te, 1);
    assert_int_equal(scan("GET / HTTP/1.1\nHost: x\n\n", &cl, &te), 0); /* bare LF */
    assert_int_equal(cl + te, 0);
}

static void test_only_whole_field_names_count(void **state)
{
    int cl, te;
    assert_int_equal(scan("POST / HTTP/1.1\r\nX-Content-Length: 5\r\nContent-Lengths: 1\r\n"
                          "Content-Length 5\r\nTransfer-Encoding-X: chunked\r\n\r\n",
                          &cl, &te),
                     0);
    assert_int_equal(cl, 0);
    assert_int_equal(te, 0);
    /* the request line is never a field, whatever it holds */
    assert_int_equal(scan("Content-Length: 1\r\n\r\n", &cl, &te), 0);
    assert_int_equal(cl, 0);
}

static void test_body_after_the_head_is_not_scanned(void **state)
{
    int cl, te;
    assert_int_equal(scan("POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\n"
                          "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n",
                          &cl, &te),
                     0);
    assert_int_equal(cl, 1);
    assert_int_equal(te, 0);
}

static void test_incomplete_heads(void **state)
{
    int cl, te;
    assert_int_equal(scan("", &cl, &te), -1);
    assert_int_equal(scan("POST / HTTP/1.1", &cl, &te), -1);
    assert_int_equal(scan("POST / HTTP/1.1\r\nContent-Length: 5\r\n", &cl, &te), -1);
    assert_int_equal(cl, 1);
    assert_int_equal(scan("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r", &cl, &te), -1);
    /* every prefix of a head is incomplete, and is read within bounds */
    const char *h = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    char buf[64];
    for (size_t i = 0; i < strlen(h); i++) {
        memcpy(buf, h, i);
        buf[i] = 0;
        assert_int_equal(scan(buf, &cl, &te), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_both_fields_case_blind),
        cmocka_unit_test(test_only_whole_field_names_count),
        cmocka_unit_test(test_body_after_the_head_is_not_scanned),
        cmocka_unit_test(test_incomplete_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
