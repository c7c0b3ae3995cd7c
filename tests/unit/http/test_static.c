/* The embedded dashboard (src/http/static.c, build/gen/web/assets.c): the
 * web build ran, every file the page loads is in the table with the right
 * Content-Type, and lookups are exact. */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "http/static.h"

static const sb_web_asset *find(const char *name)
{
    return sb_web_asset_find(name, strlen(name));
}

static void test_page_files_present(void **state)
{
    static const struct {
        const char *name, *type;
    } want[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"app.css", "text/css; charset=utf-8"},
        {"uPlot.min.css", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const sb_web_asset *a = find(want[i].name);
        assert_non_null(a);
        assert_string_equal(a->content_type, want[i].type);
        assert_true(a->len > 100);
        assert_int_equal(a->data[a->len], 0); /* NUL after the bytes */
    }
}

/* Every /assets/<file> the page references is in the table, and the page
 * carries every data-testid the browser tests rely on. */
static void test_index_references(void **state)
{
    const sb_web_asset *idx = find("index.html");
    assert_non_null(idx);
    const char *html = (const char *)idx->data;
    int refs = 0;
    for (const char *p = strstr(html, "/assets/"); p; p = strstr(p + 1, "/assets/")) {
        const char *name = p + 8;
        size_t len = strcspn(name, "\"'");
        assert_non_null(sb_web_asset_find(name, len));
        refs++;
    }
    assert_int_equal(refs, 3);
    static const char *ids[] = {"ring",         "sensor-chart", "sensor-select", "latency-panel",
                                "replica-view", "replica-key",  "events",        "cl-write",
                                "cl-read",      "conn-status"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char attr[64];
        snprintf(attr, sizeof attr, "data-testid=\"%s\"", ids[i]);
        assert_non_null(strstr(html, attr));
    }
    /* Ids created by the script (one per node, replica, event). */
    const sb_web_asset *js = find("app.js");
    assert_non_null(js);
    static const char *dyn[] = {"node-row",
                                "node-stop",
                                "node-start",
                                "node-cut",
                                "node-heal",
                                "replica-row",
                                "data-latest-writetime",
                                "data-writes-per-s"};
    for (size_t i = 0; i < sizeof dyn / sizeof dyn[0]; i++)
        assert_non_null(memmem(js->data, js->len, dyn[i], strlen(dyn[i])));
}

static void test_lookup_is_exact(void **state)
{
    assert_null(find(""));
    assert_null(find("app"));
    assert_null(find("app.js.map"));
    assert_null(find("../app.js"));
    assert_null(find("APP.JS"));
    assert_non_null(sb_web_asset_find("app.jsX", 6)); /* length bounds the name */
    for (size_t i = 0; i < sb_web_assets_count; i++)
        assert_null(strchr(sb_web_assets[i].name, '/'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_files_present),
        cmocka_unit_test(test_index_references),
        cmocka_unit_test(test_lookup_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
