/*
 * `sibyl stream`: asks a node (--http) to pull token ranges of some
 * tables from a peer (POST /api/v1/streams), then follows the session
 * (GET /api/v1/streams every half second) and prints its progress until
 * it ends. The node does the work; stopping this tool does not stop the
 * session.
 *
 *   sibyl stream --from HOST:PORT [--range START:END]... [--keyspace KS
 *                [--table T]] [--http HOST[:PORT]] [--no-wait]
 *                [--timeout-s N]
 *
 * Exit status: 0 done, 1 unreachable / refused / failed / timed out, 2
 * bad usage.
 */
#include "cli/stream.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/httpc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"

#define TIMEOUT_MS 10000
#define POLL_MS 500
#define MAX_RANGES 256

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl stream --from HOST:PORT [--range START:END]... [--keyspace KS\n"
               "                    [--table T]] [--http HOST[:PORT]] [--no-wait]\n"
               "                    [--timeout-s N]\n"
               "\n"
               "Copies every row of token ranges (START, END] from the node whose\n"
               "node-to-node address is --from into the node at --http, with write\n"
               "times, TTLs and tombstones (last write wins where both have a row).\n"
               "\n"
               "  --from HOST:PORT     the source's listen address (node-to-node port)\n"
               "  --range START:END    a token range; repeat for more; START >= END wraps;\n"
               "                       none: the whole ring\n"
               "  --keyspace KS        only this keyspace's tables (default: all tables)\n"
               "  --table T            only this table of KS\n"
               "  --http HOST[:PORT]   the receiving node's HTTP address (default\n"
               "                       127.0.0.1:8080)\n"
               "  --no-wait            start the session and exit\n"
               "  --timeout-s N        stop following after N seconds (default 86400)\n");
}

static int request(const char *target, const char *method, const sb_buf *body, sb_http_resp *resp)
{
    char msg[SB_ERRMSG_SIZE];
    sb_httpc c;
    memset(resp, 0, sizeof(*resp));
    int rv = sb_httpc_init(&c, target, TIMEOUT_MS, msg);
    if (rv == 0) {
        rv = sb_httpc_request(&c, method, "/api/v1/streams", body ? "application/json" : NULL,
                              body ? body->data : NULL, body ? body->len : 0, resp, msg);
        sb_httpc_close(&c);
    }
    if (rv)
        fprintf(stderr, "sibyl stream: cannot reach the node at %s: %s\n", target, msg);
    return rv;
}

/* The node's error message, or the raw body. */
static void refused(const sb_http_resp *resp)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)resp->body.data, resp->body.len, 0, &jerr);
    json_t *err = root ? json_object_get(root, "error") : NULL;
    const char *m = json_string_value(json_object_get(err, "message"));
    fprintf(stderr, "sibyl stream: HTTP %d: %.*s\n", resp->status,
            m ? (int)strlen(m) : (int)(resp->body.len > 300 ? 300 : resp->body.len),
            m ? m : (const char *)resp->body.data);
    json_decref(root);
}

static int build_body(sb_buf *b, const char *from, char **ranges, int nranges, const char *ks,
                      const char *table)
{
    sb_buf_printf(b, "{\"from\": ");
    sb_json_append_cstr(b, from);
    if (ks) {
        sb_buf_printf(b, ", \"keyspace\": ");
        sb_json_append_cstr(b, ks);
    }
    if (table) {
        sb_buf_printf(b, ", \"table\": ");
        sb_json_append_cstr(b, table);
    }
    if (nranges)
        sb_buf_printf(b, ", \"ranges\": [");
    for (int i = 0; i < nranges; i++) {
        /* START may be negative: the separator is the first ':' after it */
        char *colon = strchr(ranges[i] + 1, ':');
        if (!colon || colon[1] == 0) {
            fprintf(stderr, "sibyl stream: --range %s: expected START:END (two tokens)\n",
                    ranges[i]);
            return 2;
        }
        sb_buf_printf(b, "%s[", i ? ", " : "");
        sb_json_append_string(b, ranges[i], (size_t)(colon - ranges[i]));
        sb_buf_printf(b, ", ");
        sb_json_append_cstr(b, colon + 1);
        sb_buf_printf(b, "]");
    }
    sb_buf_printf(b, "%s}", nranges ? "]" : "");
    return b->data ? 0 : 1;
}

/* Prints the session's line; returns its state ("running", ...) or NULL. */
static const char *show(json_t *doc, json_int_t id, char *state, size_t statelen)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "sessions"), i, s)
    {
        if (json_integer_value(json_object_get(s, "id")) != id)
            continue;
        snprintf(state, statelen, "%s", json_string_value(json_object_get(s, "state")));
        printf("session %lld from %s: %s, %lld/%lld parts, %lld rows, %.1f MB, %.2f MB/s\n",
               (long long)id, json_string_value(json_object_get(s, "peer")), state,
               (long long)json_integer_value(json_object_get(s, "parts_done")),
               (long long)json_integer_value(json_object_get(s, "parts")),
               (long long)json_integer_value(json_object_get(s, "rows")),
               (double)json_integer_value(json_object_get(s, "bytes")) / 1048576.0,
               json_number_value(json_object_get(s, "rate_bytes_per_sec")) / 1048576.0);
        const char *err = json_string_value(json_object_get(s, "error"));
        if (err && *err)
            fprintf(stderr, "sibyl stream: %s\n", err);
        fflush(stdout);
        return state;
    }
    return NULL;
}

static int follow(const char *target, json_int_t id, long timeout_s)
{
    struct timespec delay = {0, POLL_MS * 1000000L};
    char state[32] = "running";
    for (long polls = 0; polls <= timeout_s * 1000 / POLL_MS; polls++) {
        sb_http_resp resp;
        if (request(target, "GET", NULL, &resp)) {
            sb_buf_free(&resp.body);
            return 1;
        }
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
        const char *st = doc && resp.status == 200 ? show(doc, id, state, sizeof state) : NULL;
        json_decref(doc);
        sb_buf_free(&resp.body);
        if (!st) {
            fprintf(stderr, "sibyl stream: the node no longer lists session %lld\n", (long long)id);
            return 1;
        }
        if (strcmp(st, "running"))
            return strcmp(st, "done") ? 1 : 0;
        nanosleep(&delay, NULL);
    }
    fprintf(stderr, "sibyl stream: still running after %ld s (the node goes on)\n", timeout_s);
    return 1;
}

int sb_cli_stream_main(int argc, char **argv)
{
    const char *target = "127.0.0.1:8080", *from = NULL, *ks = NULL, *table = NULL;
    char *ranges[MAX_RANGES];
    int nranges = 0, wait = 1;
    long timeout_s = 86400;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-wait")) {
            wait = 0;
        } else if (has && !strcmp(a, "--from")) {
            from = argv[++i];
        } else if (has && !strcmp(a, "--http")) {
            target = argv[++i];
        } else if (has && !strcmp(a, "--keyspace")) {
            ks = argv[++i];
        } else if (has && !strcmp(a, "--table")) {
            table = argv[++i];
        } else if (has && !strcmp(a, "--timeout-s")) {
            timeout_s = strtol(argv[++i], NULL, 10);
        } else if (has && !strcmp(a, "--range") && nranges < MAX_RANGES) {
            ranges[nranges++] = argv[++i];
        } else {
            fprintf(stderr, "sibyl stream: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!from || timeout_s <= 0) {
        usage(stderr);
        return 2;
    }
    sb_buf body;
    sb_buf_init(&body);
    int rv = build_body(&body, from, ranges, nranges, ks, table);
    sb_http_resp resp;
    if (!rv && request(target, "POST", &body, &resp))
        rv = 1;
    sb_buf_free(&body);
    if (rv)
        return rv;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
    json_int_t id = json_integer_value(json_object_get(doc, "id"));
    json_decref(doc);
    if (resp.status != 202 || id <= 0) {
        refused(&resp);
        sb_buf_free(&resp.body);
        return 1;
    }
    sb_buf_free(&resp.body);
    printf("session %lld started on %s\n", (long long)id, target);
    return wait ? follow(target, id, timeout_s) : 0;
}
