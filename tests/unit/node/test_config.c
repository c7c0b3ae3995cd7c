/* Node configuration: defaults, YAML file, flags over file, errors. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/config.h"
#include "node/node.h"
#include "util/err.h"
#include "util/log.h"

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof path, "/tmp/sibyl-cfg-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_defaults(void **state)
{
    sb_config c;
    sb_config_default(&c);
    assert_string_equal(c.cql_addr, "127.0.0.1:9042");
    assert_string_equal(c.listen_addr, "127.0.0.1:7000");
    assert_string_equal(c.http_addr, "127.0.0.1:8080");
    assert_int_equal(c.sync_mode, SB_SYNC_GROUP);
}

static void test_yaml_then_flags_override(void **state)
{
    sb_config c;
    char err[SB_ERRMSG_SIZE] = "";
    write_file("data_directory: /tmp/x\nhttp_address: 127.0.0.5:9000\n"
               "commitlog_sync: periodic\ncommitlog_sync_period_in_ms: 50\n"
               "seeds: \"127.0.0.1:7000,127.0.0.2:7000\"\ndc: dc2\nlog_level: warn\n");
    sb_config_default(&c);
    char *argv[] = {"node", "--http", "127.0.0.9:1234", "--config", path, "--rack=r7", NULL};
    assert_int_equal(sb_config_from_args(&c, 6, argv, err), 0);
    assert_string_equal(c.data_dir, "/tmp/x");
    assert_string_equal(c.http_addr, "127.0.0.9:1234"); /* flag wins wherever it stands */
    assert_int_equal(c.sync_mode, SB_SYNC_PERIODIC);
    assert_int_equal(c.sync_period_ms, 50);
    assert_string_equal(c.seeds, "127.0.0.1:7000,127.0.0.2:7000");
    assert_string_equal(c.dc, "dc2");
    assert_string_equal(c.rack, "r7");
    assert_int_equal(c.log_level, SB_LOG_WARN);
    unlink(path);
}

static void test_errors_name_the_setting_and_line(void **state)
{
    sb_config c;
    char err[SB_ERRMSG_SIZE] = "";
    write_file("dc: a\ncommitlog_sync: sometimes\n");
    sb_config_default(&c);
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, "commitlog_sync"));

    write_file("bogus_key: 1\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "unknown setting 'bogus_key'"));

    write_file("seeds: [a, b]\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "comma-separated"));

    write_file("http_address: \"x\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, path));
    unlink(path);

    assert_int_equal(sb_config_load_yaml(&c, "/nonexistent/sibyl.yaml", err), SB_ECONFIG);
    assert_non_null(strstr(err, "cannot open config file"));

    char *a1[] = {"node", "--nope", NULL};
    assert_int_equal(sb_config_from_args(&c, 2, a1, err), SB_ECONFIG);
    assert_non_null(strstr(err, "unknown option '--nope'"));
    char *a2[] = {"node", "--http", NULL};
    assert_int_equal(sb_config_from_args(&c, 2, a2, err), SB_ECONFIG);
    assert_non_null(strstr(err, "needs a value"));
    char *a3[] = {"node", "--cql", "127.0.0.1:99999", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, a3, err), SB_ECONFIG);
    assert_non_null(strstr(err, "invalid address"));
    char *a4[] = {"node", "--commitlog-sync-period-ms", "0", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, a4, err), SB_ECONFIG);
}

static void test_native_transport_connection_limits(void **state)
{
    sb_config c;
    char err[SB_ERRMSG_SIZE] = "";
    sb_config_default(&c);
    assert_int_equal(c.max_connections, 1024); /* the server's long-standing cap */
    assert_int_equal(c.max_connections_per_ip, -1);
    assert_int_equal(c.startup_timeout_ms, 10000);
    assert_int_equal(c.max_json_request_bytes, 1u << 20);
    write_file("native_transport_max_concurrent_connections: -1\n"
               "native_transport_max_concurrent_connections_per_ip: 8\n"
               "native_transport_startup_timeout_in_ms: 0\n"
               "max_json_request_bytes: 4096\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), 0);
    assert_int_equal(c.max_connections, -1);
    assert_int_equal(c.max_connections_per_ip, 8);
    assert_int_equal(c.startup_timeout_ms, 0);
    assert_int_equal(c.max_json_request_bytes, 4096);
    char *argv[] = {"node",
                    "--config",
                    path,
                    "--max-connections=50",
                    "--max-connections-per-ip",
                    "2",
                    "--startup-timeout-ms",
                    "1500",
                    NULL};
    assert_int_equal(sb_config_from_args(&c, 8, argv, err), 0);
    assert_int_equal(c.max_connections, 50);
    assert_int_equal(c.max_connections_per_ip, 2);
    assert_int_equal(c.startup_timeout_ms, 1500);
    /* 0 would refuse every client: an error, as are other negatives */
    write_file("native_transport_max_concurrent_connections_per_ip: 0\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "native_transport_max_concurrent_connections_per_ip: expected -1"));
    char *a1[] = {"node", "--max-connections", "-2", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, a1, err), SB_ECONFIG);
    assert_non_null(strstr(err, "--max-connections"));
    char *a2[] = {"node", "--startup-timeout-ms", "-1", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, a2, err), SB_ECONFIG);
    unlink(path);
}

static void test_hostport(void **state)
{
    char host[64];
    int port;
    assert_int_equal(sb_parse_hostport("127.0.0.2:7001", 1, host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.2");
    assert_int_equal(port, 7001);
    assert_int_equal(sb_parse_hostport("10.0.0.1", 9042, host, sizeof host, &port), 0);
    assert_int_equal(port, 9042);
    assert_int_equal(sb_parse_hostport("[::1]:80", 1, host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(sb_parse_hostport(":80", 1, host, sizeof host, &port), SB_EINVAL);
    assert_int_equal(sb_parse_hostport("h:x", 1, host, sizeof host, &port), SB_EINVAL);
    assert_int_equal(sb_parse_hostport("[::1", 1, host, sizeof host, &port), SB_EINVAL);
}

static void test_demo_control(void **state)
{
    sb_config c;
    char err[SB_ERRMSG_SIZE] = "";
    sb_config_default(&c);
    assert_string_equal(c.demo_control, ""); /* /health says null */
    write_file("demo_control: http://127.0.0.1:8079\n");
    char *argv[] = {"node", "--config", path, NULL};
    assert_int_equal(sb_config_from_args(&c, 3, argv, err), 0);
    assert_string_equal(c.demo_control, "http://127.0.0.1:8079");
    unlink(path);
    char *flag[] = {"node", "--demo-control", "http://127.0.0.1:18079", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, flag, err), 0);
    assert_string_equal(c.demo_control, "http://127.0.0.1:18079");
    char *bad[] = {"node", "--demo-control", "javascript:alert(1)", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, bad, err), SB_ECONFIG);
    assert_non_null(strstr(err, "--demo-control"));
    assert_non_null(strstr(err, "http:// URL"));
    char *quote[] = {"node", "--demo-control", "http://x/\"><b>", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, quote, err), SB_ECONFIG);
}

/* http.cors_allowed_origins: a section with a YAML list, a comma string,
 * the flag; origins come out canonical; bad items name themselves. */
static void test_cors_allowed_origins(void **state)
{
    sb_config c;
    char err[SB_ERRMSG_SIZE] = "";
    sb_config_default(&c);
    assert_string_equal(c.cors_allowed_origins, ""); /* none by default */
    write_file("dc: d1\nhttp:\n  cors_allowed_origins:\n    - HTTPS://Grafana.Example.com:443/\n"
               "    - http://10.0.0.5:3000\nrack: r2\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), 0);
    assert_string_equal(c.cors_allowed_origins, "https://grafana.example.com,http://10.0.0.5:3000");
    assert_string_equal(c.dc, "d1");
    assert_string_equal(c.rack, "r2"); /* the section ended: back at the top level */

    write_file("http:\n  cors_allowed_origins: \"http://a.example, http://b.example:81\"\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), 0);
    assert_string_equal(c.cors_allowed_origins, "http://a.example,http://b.example:81");
    write_file("http.cors_allowed_origins: [http://c.example]\nhttp: 127.0.0.3:8080\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), 0);
    assert_string_equal(c.cors_allowed_origins, "http://c.example");
    assert_string_equal(c.http_addr, "127.0.0.3:8080"); /* http: HOST:PORT still works */

    write_file("http:\n  cors_allowed_origins: [\"*\"]\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, "'*' is not accepted"));
    write_file("http:\n  cors_allowed_origins: [http://ok.example, ftp://x]\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "'ftp://x' is not an origin"));
    write_file("http:\n  cors_allowed_origins: http://x.example/path\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "without a path"));
    write_file("http:\n  bogus: 1\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "unknown setting 'http.bogus'"));
    write_file("http:\n  tls:\n    cert: x\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "one level deep"));
    write_file("dc: [a, b]\n");
    assert_int_equal(sb_config_load_yaml(&c, path, err), SB_ECONFIG);
    assert_non_null(strstr(err, "dc takes one value, not a list"));
    unlink(path);

    char *flag[] = {"node", "--cors-allowed-origins", "http://127.0.0.1:3000", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, flag, err), 0);
    assert_string_equal(c.cors_allowed_origins, "http://127.0.0.1:3000");
    char *bad[] = {"node", "--cors-allowed-origins", "null", NULL};
    assert_int_equal(sb_config_from_args(&c, 3, bad, err), SB_ECONFIG);
    assert_non_null(strstr(err, "--cors-allowed-origins"));
    assert_non_null(strstr(err, "'null' is not an origin"));
}

static void test_directory_lock(void **state)
{
    char dir[64], err[SB_ERRMSG_SIZE];
    int fd1 = -1, fd2 = -1;
    snprintf(dir, sizeof dir, "/tmp/sibyl-lock-%d/a/b", (int)getpid());
    assert_int_equal(sb_node_lock_dir(dir, &fd1, err), 0);
    /* flock locks belong to the open file description: a second open in
     * the same process conflicts like a second process would. */
    assert_int_equal(sb_node_lock_dir(dir, &fd2, err), SB_ELOCKED);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)getpid());
    assert_non_null(strstr(err, pid));
    close(fd1);
    assert_int_equal(sb_node_lock_dir(dir, &fd2, err), 0);
    close(fd2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/sibyl-lock-%d", (int)getpid());
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_yaml_then_flags_override),
        cmocka_unit_test(test_errors_name_the_setting_and_line),
        cmocka_unit_test(test_native_transport_connection_limits),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_demo_control),
        cmocka_unit_test(test_cors_allowed_origins),
        cmocka_unit_test(test_directory_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
