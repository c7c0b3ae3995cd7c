/*
 * `sibyl lincheck FILE`: reads a JSON-lines history (format in
 * cli/lincheck.h and docs/lincheck.md) and runs util/lincheck's checker
 * on it. Each line is parsed alone with jansson, so an error names its
 * line, and then the member that is wrong.
 */
#include "cli/lincheck.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"

/* Biggest history file read, in bytes. */
#define FILE_MAX ((size_t)1 << 30)

/* Each parse_* helper returns 0 or SB_EBADINPUT with errmsg set to
 * "line N: field \"NAME\": what is wrong". */
static int bad_field(char *errmsg, long line, const char *field, const char *what)
{
    return sb_seterr(errmsg, SB_EBADINPUT, "line %ld: field \"%s\": %s", line, field, what);
}

/* *v = obj[field] as a register value: null, an integer or a string. A
 * string value points into obj and lives as long as it. */
static int parse_value(json_t *obj, const char *field, long line, sb_lincheck_value *v,
                       char *errmsg)
{
    json_t *j = json_object_get(obj, field);
    memset(v, 0, sizeof *v);
    if (!j)
        return bad_field(errmsg, line, field, "missing");
    if (json_is_null(j)) {
        v->kind = SB_LINCHECK_ABSENT;
    } else if (json_is_integer(j)) {
        v->kind = SB_LINCHECK_INT;
        v->i = json_integer_value(j);
    } else if (json_is_string(j)) {
        v->kind = SB_LINCHECK_BYTES;
        v->bytes = (const uint8_t *)json_string_value(j);
        v->len = json_string_length(j);
        if (v->len > SB_LINCHECK_BYTES_MAX)
            return bad_field(errmsg, line, field, "string longer than 1024 bytes");
    } else {
        return bad_field(errmsg, line, field, "expected null, an integer or a string");
    }
    return 0;
}

static int parse_int(json_t *obj, const char *field, long line, int64_t *out, char *errmsg)
{
    json_t *j = json_object_get(obj, field);
    if (!j)
        return bad_field(errmsg, line, field, "missing");
    if (!json_is_integer(j))
        return bad_field(errmsg, line, field, "expected an integer");
    *out = json_integer_value(j);
    return 0;
}

/* *out = the index of obj[field] in names[0..n), a string one of them. */
static int parse_enum(json_t *obj, const char *field, long line, const char *const *names, int n,
                      int *out, char *errmsg)
{
    const char *s = json_string_value(json_object_get(obj, field));
    for (int i = 0; s && i < n; i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "expected \"%s\", \"%s\" or \"%s\"", names[0], names[1], names[2]);
    return bad_field(errmsg, line, field, json_object_get(obj, field) ? what : "missing");
}

/* The key: a string, or an integer taken as its decimal text. */
static int parse_key(json_t *obj, long line, sb_lincheck_op *op, char *buf, size_t bufsize,
                     char *errmsg)
{
    json_t *j = json_object_get(obj, "key");
    if (json_is_integer(j)) {
        snprintf(buf, bufsize, "%" PRId64, (int64_t)json_integer_value(j));
        op->key = (const uint8_t *)buf;
        op->key_len = strlen(buf);
        return 0;
    }
    if (!json_is_string(j))
        return bad_field(errmsg, line, "key", j ? "expected a string or an integer" : "missing");
    op->key = (const uint8_t *)json_string_value(j);
    op->key_len = json_string_length(j);
    if (op->key_len > SB_LINCHECK_KEY_MAX)
        return bad_field(errmsg, line, "key", "longer than 1024 bytes");
    return 0;
}

/* Fills op from the object of one line; pointers in op point into obj. */
static int parse_op(json_t *obj, long line, sb_lincheck_op *op, char *keybuf, size_t keybufsize,
                    char *errmsg)
{
    static const char *const fns[] = {"read", "write", "cas"};
    static const char *const outcomes[] = {"ok", "fail", "info"};
    int fn, outcome, rv;
    memset(op, 0, sizeof *op);
    op->id = line;
    if ((rv = parse_int(obj, "process", line, &op->process, errmsg)) != 0 ||
        (rv = parse_key(obj, line, op, keybuf, keybufsize, errmsg)) != 0 ||
        (rv = parse_enum(obj, "f", line, fns, 3, &fn, errmsg)) != 0 ||
        (rv = parse_enum(obj, "outcome", line, outcomes, 3, &outcome, errmsg)) != 0 ||
        (rv = parse_int(obj, "call", line, &op->call, errmsg)) != 0)
        return rv;
    op->fn = (sb_lincheck_fn)fn;
    op->outcome = (sb_lincheck_outcome)outcome;
    int ok = op->outcome == SB_LINCHECK_OUT_OK;
    json_t *ret = json_object_get(obj, "return");
    if (ok || (ret && !json_is_null(ret))) {
        if ((rv = parse_int(obj, "return", line, &op->ret, errmsg)) != 0)
            return rv;
    }
    if (ok && op->ret < op->call)
        return bad_field(errmsg, line, "return", "earlier than \"call\"");
    if (op->fn == SB_LINCHECK_CAS) {
        if ((rv = parse_value(obj, "from", line, &op->from, errmsg)) != 0 ||
            (rv = parse_value(obj, "to", line, &op->to, errmsg)) != 0)
            return rv;
        json_t *applied = json_object_get(obj, "applied");
        if (ok && !json_is_boolean(applied))
            return bad_field(errmsg, line, "applied",
                             applied ? "expected true or false" : "missing");
        op->applied = ok && json_is_true(applied);
        op->has_value = ok && !op->applied && json_object_get(obj, "value");
        if (op->has_value && (rv = parse_value(obj, "value", line, &op->value, errmsg)) != 0)
            return rv;
    } else if (op->fn == SB_LINCHECK_WRITE || ok) {
        if ((rv = parse_value(obj, "value", line, &op->value, errmsg)) != 0)
            return rv;
    }
    return 0;
}

static int parse_line(const char *p, size_t n, long line, sb_lincheck *h, char *errmsg)
{
    if (n > SB_CLI_LINCHECK_LINE_MAX)
        return sb_seterr(errmsg, SB_EBADINPUT, "line %ld: longer than %d bytes", line,
                         SB_CLI_LINCHECK_LINE_MAX);
    json_error_t jerr;
    json_t *obj = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return sb_seterr(errmsg, SB_EBADINPUT, "line %ld, column %d: not JSON: %s", line,
                         jerr.column, jerr.text);
    int rv;
    sb_lincheck_op op;
    char keybuf[32], err[SB_ERRMSG_SIZE];
    if (!json_is_object(obj))
        rv = sb_seterr(errmsg, SB_EBADINPUT, "line %ld: expected a JSON object", line);
    else if ((rv = parse_op(obj, line, &op, keybuf, sizeof keybuf, errmsg)) == 0 &&
             (rv = sb_lincheck_add(h, &op, err)) < 0)
        rv = rv == SB_ENOMEM ? sb_seterr(errmsg, rv, "out of memory")
                             : sb_seterr(errmsg, SB_EBADINPUT, "line %ld: %s", line, err);
    json_decref(obj);
    return rv < 0 ? rv : 0;
}

int sb_cli_lincheck_parse(const char *text, size_t len, sb_lincheck *h, char *errmsg)
{
    long line = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        line++;
        size_t i = 0;
        while (i < n && strchr(" \t\r", text[at + i]))
            i++;
        if (i < n) {
            int rv = parse_line(text + at, n, line, h, errmsg);
            if (rv != 0)
                return rv;
        }
        at += n + 1;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sibyl lincheck [options] FILE\n"
            "\n"
            "Checks a history of register operations (JSON lines, one operation per line;\n"
            "see docs/lincheck.md) for linearizability. FILE - reads standard input.\n"
            "\n"
            "  --max-steps N     search steps per key before answering unknown (default %llu)\n"
            "  --timeout-ms MS   wall-clock limit for the whole check (default 60000; 0: none)\n"
            "  --memo-mb MB      memory of the search's memo per key (default %zu)\n"
            "  -q, --quiet       print only the result line\n"
            "\n"
            "Exit status: 0 linearizable, 1 not linearizable, 2 unknown or bad input.\n",
            (unsigned long long)SB_LINCHECK_DEFAULT_STEPS, SB_LINCHECK_DEFAULT_MEMO_BYTES >> 20);
}

/* Reads all of path ("-": stdin) into out. 0 or SB_E* with errmsg (which
 * does not repeat the path). */
static int read_file(const char *path, sb_buf *out, char *errmsg)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return sb_seterr(errmsg, SB_EIO, "%s", strerror(errno));
    int rv = 0;
    while (rv == 0) {
        if (out->len >= FILE_MAX) {
            rv = sb_seterr(errmsg, SB_ETOOBIG, "larger than %zu bytes", FILE_MAX);
            break;
        }
        if (sb_buf_reserve(out, 1 << 16) != 0) {
            rv = sb_seterr(errmsg, SB_ENOMEM, "out of memory");
            break;
        }
        size_t n = fread(out->data + out->len, 1, out->cap - out->len - 1, f);
        out->len += n;
        if (n == 0) {
            if (ferror(f))
                rv = sb_seterr(errmsg, SB_EIO, "%s", strerror(errno));
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    return rv;
}

/* Parses a decimal option value; 0 or -1 (bad). */
static int option_u64(const char *name, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') {
        fprintf(stderr, "sibyl lincheck: %s: '%s' is not a number\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void print_report(const char *path, const sb_lincheck_report *rep, int quiet)
{
    if (!quiet) {
        printf("history: %s\n", path);
        printf("ops: %zu (%zu ok, %zu failed, %zu indeterminate), keys: %zu\n", rep->ops,
               rep->ops_ok, rep->ops_failed, rep->ops_indeterminate, rep->keys);
    }
    printf("result: %s\n", sb_lincheck_result_name(rep->result));
    if (!quiet) {
        printf("time: %.1f ms, %" PRIu64 " search steps\n", rep->elapsed_ms, rep->steps);
        if (rep->explanation)
            printf("\n%s", rep->explanation);
    }
}

int sb_cli_lincheck_main(int argc, char **argv)
{
    sb_lincheck_limits lim = {.max_ms = 60000};
    const char *path = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--max-steps") && i + 1 < argc) {
            if (option_u64(a, argv[++i], &lim.max_steps_per_key) != 0)
                return 2;
        } else if (!strcmp(a, "--timeout-ms") && i + 1 < argc) {
            if (option_u64(a, argv[++i], &lim.max_ms) != 0)
                return 2;
        } else if (!strcmp(a, "--memo-mb") && i + 1 < argc) {
            if (option_u64(a, argv[++i], &v) != 0)
                return 2;
            if (v == 0 || v > ((uint64_t)1 << 20)) {
                fprintf(stderr, "sibyl lincheck: --memo-mb: 1 to 1048576\n");
                return 2;
            }
            lim.max_memo_bytes = (size_t)v << 20;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sibyl lincheck: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "sibyl lincheck: one FILE only\n");
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    char err[SB_ERRMSG_SIZE];
    sb_buf text;
    sb_buf_init(&text);
    sb_lincheck *h = sb_lincheck_new();
    sb_lincheck_report rep;
    int status = 2;
    if (!h) {
        fprintf(stderr, "sibyl lincheck: out of memory\n");
    } else if (read_file(path, &text, err) != 0 ||
               sb_cli_lincheck_parse((const char *)text.data, text.len, h, err) != 0) {
        fprintf(stderr, "sibyl lincheck: %s: %s\n", strcmp(path, "-") ? path : "stdin", err);
    } else if (sb_lincheck_check(h, &lim, &rep) != 0) {
        fprintf(stderr, "sibyl lincheck: out of memory\n");
    } else {
        print_report(path, &rep, quiet);
        status = (int)rep.result;
        sb_lincheck_report_free(&rep);
    }
    sb_lincheck_free(h);
    sb_buf_free(&text);
    return status;
}
