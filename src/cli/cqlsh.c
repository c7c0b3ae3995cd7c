/*
 * `sibyl cql`: an interactive CQL shell in the manner of cqlsh.
 *
 * NOTES ON THE DESIGN OF THE SHELL
 *
 * Input of every kind (the terminal through libedit, a pipe, -e text, -f
 * and SOURCE files) goes through one function, feed_line(), one line at a
 * time, so that all of them behave alike:
 *
 *   - when nothing is pending and the line starts with a shell command
 *     (CONSISTENCY, PAGING, EXPAND, DESCRIBE, SOURCE, HELP, EXIT, ...),
 *     the line is that command; a trailing ';' is optional, as in cqlsh;
 *   - otherwise the line is appended to the pending text and every
 *     complete statement in it (sb_cql_split: up to a ';' outside
 *     strings, comments and batches) is sent to the server;
 *   - at the end of non-interactive input a pending statement without ';'
 *     still runs (so `-e "SELECT ..."` works).
 *
 * Results: rows are fetched in pages of page_size (PAGING) and printed as
 * cqlsh does (table.h). On a terminal each page is shown as it arrives
 * with a ---MORE--- prompt between pages; otherwise all pages are fetched
 * and printed as one table. Errors go to stderr as "Class: message"; the
 * exit status is 1 when any statement of -e/-f/piped input failed and 2
 * when the node cannot be reached.
 *
 * The connection is re-opened (and the keyspace re-selected) on the next
 * statement when it was lost.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli.h"
#include "cli/shell_int.h"
#include "cli/table.h"
#include "cql/cql.h"
#include "cql/parse.h"
#include "util/err.h"

#define DEFAULT_PAGE_SIZE 100

void cli_error(cli_shell *sh, const char *cls, const char *fmt, ...)
{
    fflush(sh->out);
    if (sh->src_name)
        fprintf(stderr, "%s:%d:", sh->src_name, sh->src_line);
    if (cls)
        fprintf(stderr, "%s: ", cls);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    sh->failed = 1;
}

/* (Re)connects when needed. 0 or SB_EIO (displayed). */
static int ensure_connected(cli_shell *sh)
{
    if (sh->conn.fd >= 0)
        return 0;
    char err[SB_ERRMSG_SIZE];
    if (sb_cqlc_connect(&sh->conn, sh->host, sh->port, sh->timeout_ms, err)) {
        cli_error(sh, "Connection error", "%s", err);
        return SB_EIO;
    }
    if (sh->keyspace[0]) {
        sb_buf q;
        sb_buf_init(&q);
        sb_buf_printf(&q, "USE ");
        cli_put_ident(&q, sh->keyspace);
        sb_cqlc_result r;
        sb_cqlc_result_init(&r);
        int rc =
            sb_cqlc_query(&sh->conn, (char *)q.data, q.len, sh->consistency, -1, NULL, -1, &r, err);
        if (rc || r.kind == SB_CQLC_ERROR)
            sh->keyspace[0] = 0;
        sb_cqlc_result_free(&r);
        sb_buf_free(&q);
    }
    return 0;
}

/* One request; displays transport and server errors. 0 for a usable
 * non-error result. */
static int run_query(cli_shell *sh, const char *q, size_t len, int32_t page_size, const uint8_t *ps,
                     int32_t ps_len, sb_cqlc_result *r)
{
    if (ensure_connected(sh))
        return SB_EIO;
    char err[SB_ERRMSG_SIZE];
    int rc = sb_cqlc_query(&sh->conn, q, len, sh->consistency, page_size, ps, ps_len, r, err);
    if (rc) {
        cli_error(sh, rc == SB_EIO ? "Connection error" : "ProtocolError", "%s", err);
        return rc;
    }
    if (r->warnings[0]) {
        fflush(sh->out);
        fprintf(stderr, "Warnings :\n%s\n\n", r->warnings);
    }
    if (r->kind == SB_CQLC_ERROR) {
        cli_error(sh, r->err_class, "%s", r->err_msg);
        return SB_EINVALID;
    }
    return 0;
}

int cli_query_all(cli_shell *sh, const char *q, sb_cqlc_result *r)
{
    return run_query(sh, q, strlen(q), -1, NULL, -1, r);
}

/* --- result display ------------------------------------------------------ */

typedef struct rowacc {
    char **cells;
    size_t ncells, cap;
    char **stores;
    size_t nstores;
} rowacc;

static int acc_add(rowacc *a, const sb_cqlc_result *r)
{
    char **cells, *store;
    if (sb_cli_format_cells(r, &cells, &store))
        return SB_ENOMEM;
    size_t n = (size_t)r->nrows * (size_t)r->ncols;
    char **ns = realloc(a->stores, (a->nstores + 1) * sizeof *ns);
    if (ns)
        a->stores = ns;
    if (a->ncells + n > a->cap) {
        size_t cap = (a->ncells + n) * 2 + 16;
        char **nc = realloc(a->cells, cap * sizeof *nc);
        if (nc) {
            a->cells = nc;
            a->cap = cap;
        }
    }
    if (!ns || a->ncells + n > a->cap) {
        free(cells);
        free(store);
        return SB_ENOMEM;
    }
    a->stores[a->nstores++] = store;
    if (n)
        memcpy(a->cells + a->ncells, cells, n * sizeof *cells);
    a->ncells += n;
    free(cells);
    return 0;
}

static void acc_free(rowacc *a)
{
    for (size_t i = 0; i < a->nstores; i++)
        free(a->stores[i]);
    free(a->stores);
    free(a->cells);
    memset(a, 0, sizeof *a);
}

static void print_rows(cli_shell *sh, const sb_cqlc_result *r, rowacc *a, int first_row)
{
    const char **names = calloc((size_t)r->ncols + 1, sizeof *names);
    if (!names)
        return;
    for (int i = 0; i < r->ncols; i++)
        names[i] = r->cols[i].name;
    int nrows = r->ncols ? (int)(a->ncells / (size_t)r->ncols) : 0;
    sb_buf out;
    sb_buf_init(&out);
    if (sh->expand)
        sb_cli_table_render_expanded(&out, r->ncols, names, nrows, (const char *const *)a->cells,
                                     first_row);
    else
        sb_cli_table_render(&out, r->ncols, names, nrows, (const char *const *)a->cells);
    fwrite(out.data, 1, out.len, sh->out);
    sb_buf_free(&out);
    free(names);
}

/* Asks whether to show the next page. 0 = stop. */
static int more_prompt(cli_shell *sh)
{
    fputs("---MORE---", sh->out);
    fflush(sh->out);
    char line[256];
    if (!fgets(line, sizeof line, stdin)) {
        fputc('\n', sh->out);
        return 0;
    }
    return !(line[0] == 'q' || line[0] == 'Q');
}

static void show_rows(cli_shell *sh, const char *q, size_t len, sb_cqlc_result *first)
{
    int32_t ps = sh->paging ? sh->page_size : -1;
    int per_page = sh->interactive && sh->paging;
    rowacc a = {0};
    sb_cqlc_result cur, next;
    sb_cqlc_result_init(&next);
    cur = *first; /* takes over first's memory */
    sb_cqlc_result_init(first);
    long total = 0;
    int ncols = cur.ncols;
    fputc('\n', sh->out);
    for (;;) {
        if (acc_add(&a, &cur)) {
            cli_error(sh, NULL, "out of memory formatting the result");
            break;
        }
        total += cur.nrows;
        if (per_page) {
            print_rows(sh, &cur, &a, (int)(total - cur.nrows + 1));
            acc_free(&a);
        }
        if (!cur.has_more)
            break;
        if (per_page && !more_prompt(sh))
            break;
        if (run_query(sh, q, len, ps, cur.paging_state, cur.paging_state_len, &next))
            break;
        if (next.kind != SB_CQLC_ROWS || next.ncols != ncols) {
            cli_error(sh, "ProtocolError", "next page is not a matching rows result");
            break;
        }
        sb_cqlc_result_free(&cur);
        cur = next;
        sb_cqlc_result_init(&next);
    }
    if (!per_page)
        print_rows(sh, &cur, &a, 1);
    else if (total == 0)
        print_rows(sh, &cur, &a, 1);
    fprintf(sh->out, "\n(%ld rows)\n", total);
    if (sh->interactive)
        fputc('\n', sh->out);
    fflush(sh->out);
    acc_free(&a);
    sb_cqlc_result_free(&cur);
    sb_cqlc_result_free(&next);
}

static void run_cql(cli_shell *sh, const char *q, size_t len)
{
    sb_cqlc_result r;
    sb_cqlc_result_init(&r);
    int32_t ps = sh->paging ? sh->page_size : -1;
    if (run_query(sh, q, len, ps, NULL, -1, &r) == 0) {
        if (r.kind == SB_CQLC_ROWS)
            show_rows(sh, q, len, &r);
        else if (r.kind == SB_CQLC_SET_KEYSPACE)
            snprintf(sh->keyspace, sizeof sh->keyspace, "%s", r.keyspace);
    }
    sb_cqlc_result_free(&r);
}

/* --- shell commands ------------------------------------------------------ */

static int word_is(const char *s, const char *w, const char **rest)
{
    size_t n = strlen(w);
    if (strncasecmp(s, w, n) || (s[n] && !isspace((unsigned char)s[n]) && s[n] != ';'))
        return 0;
    s += n;
    while (isspace((unsigned char)*s))
        s++;
    if (rest)
        *rest = s;
    return 1;
}

static const char *const shell_words[] = {"CONSISTENCY", "PAGING", "EXPAND", "DESCRIBE", "DESC",
                                          "SOURCE",      "HELP",   "?",      "EXIT",     "QUIT",
                                          "CLEAR",       "CLS",    "SHOW"};

static int is_shell_command(const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    for (size_t i = 0; i < sizeof shell_words / sizeof *shell_words; i++)
        if (word_is(line, shell_words[i], NULL))
            return 1;
    return 0;
}

static void run_file(cli_shell *sh, const char *path);

static void cmd_consistency(cli_shell *sh, const char *arg)
{
    if (!*arg) {
        fprintf(sh->out, "Current consistency level is %s.\n",
                sb_consistency_name(sh->consistency));
        return;
    }
    int cl;
    if (sb_consistency_parse(arg, strlen(arg), &cl) || cl == SB_CL_SERIAL ||
        cl == SB_CL_LOCAL_SERIAL) {
        cli_error(sh, "Improper CONSISTENCY command",
                  "'%s' is not a consistency level (ANY, ONE, TWO, THREE, QUORUM, ALL, "
                  "LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE)",
                  arg);
        return;
    }
    sh->consistency = cl;
    fprintf(sh->out, "Consistency level set to %s.\n", sb_consistency_name(cl));
}

static void cmd_paging(cli_shell *sh, const char *arg)
{
    if (!*arg) {
        if (sh->paging)
            fprintf(sh->out,
                    "Query paging is currently enabled. Use PAGING OFF to disable\nPage size: "
                    "%d\n",
                    sh->page_size);
        else
            fprintf(sh->out, "Query paging is currently disabled. Use PAGING ON to enable.\n");
    } else if (!strcasecmp(arg, "ON")) {
        sh->paging = 1;
        fprintf(sh->out, "Now Query paging is enabled\nPage size: %d\n", sh->page_size);
    } else if (!strcasecmp(arg, "OFF")) {
        sh->paging = 0;
        fprintf(sh->out, "Disabled Query paging.\n");
    } else {
        char *end;
        long n = strtol(arg, &end, 10);
        if (*end || n <= 0 || n > 1000000) {
            cli_error(sh, "Improper PAGING command",
                      "expected ON, OFF or a page size from 1 to 1000000, got '%s'", arg);
            return;
        }
        sh->paging = 1;
        sh->page_size = (int)n;
        fprintf(sh->out, "Page size: %d\n", sh->page_size);
    }
}

static void cmd_expand(cli_shell *sh, const char *arg)
{
    if (!*arg)
        fprintf(sh->out, "Expanded output is currently %s. Use EXPAND %s to %s.\n",
                sh->expand ? "enabled" : "disabled", sh->expand ? "OFF" : "ON",
                sh->expand ? "disable" : "enable");
    else if (!strcasecmp(arg, "ON")) {
        sh->expand = 1;
        fprintf(sh->out, "Now Expanded output is enabled\n");
    } else if (!strcasecmp(arg, "OFF")) {
        sh->expand = 0;
        fprintf(sh->out, "Disabled Expanded output.\n");
    } else
        cli_error(sh, "Improper EXPAND command", "expected ON or OFF, got '%s'", arg);
}

static void cmd_help(cli_shell *sh)
{
    fputs("\nCQL statements end with ';' and may span several lines: SELECT, INSERT,\n"
          "UPDATE, DELETE, BATCH, CREATE/ALTER/DROP KEYSPACE|TABLE, TRUNCATE, USE.\n"
          "\n"
          "Shell commands (no ';' needed):\n"
          "  CONSISTENCY [level]       show or set the consistency level (default ONE)\n"
          "  PAGING [ON|OFF|N]         show, switch or size result paging (default 100)\n"
          "  EXPAND [ON|OFF]           one block per row instead of a table\n"
          "  DESCRIBE KEYSPACES        names of the keyspaces\n"
          "  DESCRIBE TABLES           names of the tables (of the current keyspace)\n"
          "  DESCRIBE KEYSPACE [ks]    CQL that recreates a keyspace and its tables\n"
          "  DESCRIBE TABLE [ks.]t     CQL that recreates a table\n"
          "  DESCRIBE SCHEMA           CQL for every user keyspace\n"
          "  DESCRIBE CLUSTER          cluster name and partitioner\n"
          "  SOURCE 'file'             run the statements of a file\n"
          "  HELP                      this text\n"
          "  EXIT, QUIT                leave the shell (or Ctrl-D)\n\n",
          sh->out);
}

static void strip_quotes(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        memmove(s, s + 1, n - 2);
        s[n - 2] = 0;
    }
}

static void run_shell_command(cli_shell *sh, const char *line)
{
    char buf[4096];
    while (isspace((unsigned char)*line))
        line++;
    snprintf(buf, sizeof buf, "%s", line);
    size_t n = strlen(buf);
    while (n && (isspace((unsigned char)buf[n - 1]) || buf[n - 1] == ';'))
        buf[--n] = 0;
    const char *arg;
    if (word_is(buf, "CONSISTENCY", &arg))
        cmd_consistency(sh, arg);
    else if (word_is(buf, "PAGING", &arg))
        cmd_paging(sh, arg);
    else if (word_is(buf, "EXPAND", &arg))
        cmd_expand(sh, arg);
    else if (word_is(buf, "DESCRIBE", &arg) || word_is(buf, "DESC", &arg))
        cli_describe(sh, arg);
    else if (word_is(buf, "SOURCE", &arg)) {
        char path[4096];
        snprintf(path, sizeof path, "%s", arg);
        strip_quotes(path);
        if (!path[0])
            cli_error(sh, "Improper SOURCE command", "expected SOURCE 'file'");
        else
            run_file(sh, path);
    } else if (word_is(buf, "HELP", &arg) || word_is(buf, "?", &arg))
        cmd_help(sh);
    else if (word_is(buf, "EXIT", &arg) || word_is(buf, "QUIT", &arg))
        sh->exit_now = 1;
    else if (word_is(buf, "CLEAR", &arg) || word_is(buf, "CLS", &arg)) {
        if (sh->interactive)
            fputs("\033[H\033[2J", sh->out);
    } else if (word_is(buf, "SHOW", &arg)) {
        if (!strncasecmp(arg, "HOST", 4))
            fprintf(sh->out, "Connected to %s:%d.\n", sh->host, sh->port);
        else if (!strncasecmp(arg, "VERSION", 7))
            fprintf(sh->out, "[sibyl 0.1.0 | CQL spec 3.4.5 | Native protocol v4]\n");
        else
            cli_error(sh, "Improper SHOW command", "expected SHOW HOST or SHOW VERSION");
    }
    fflush(sh->out);
}

/* --- input --------------------------------------------------------------- */

typedef struct input {
    sb_buf pending;
    int start_line; /* line where the pending statement starts */
} input;

/* sb_cql_is_blank for a possibly empty (NULL) buffer. */
static int blank(const void *p, size_t len)
{
    return len == 0 || sb_cql_is_blank((const char *)p, len);
}

static void run_statement(cli_shell *sh, const char *s, size_t len)
{
    if (blank(s, len))
        return;
    if (is_shell_command(s)) { /* e.g. "USE ks; DESCRIBE TABLES" on one line */
        char *copy = strndup(s, len);
        if (copy)
            run_shell_command(sh, copy);
        free(copy);
        return;
    }
    run_cql(sh, s, len);
}

static int count_lines(const uint8_t *p, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\n';
    return k;
}

/* Feeds one line (without its newline); lineno is its 1-based number. */
static void feed_line(cli_shell *sh, input *in, const char *line, int lineno)
{
    if (blank(in->pending.data, in->pending.len)) {
        sb_buf_reset(&in->pending);
        if (is_shell_command(line)) {
            /* The command ends at the first ';' outside quotes; what
             * follows is fed on as more input. */
            const char *p = line;
            char q = 0;
            for (; *p && (q || *p != ';'); p++)
                if (q ? *p == q : (*p == '\'' || *p == '"'))
                    q = q ? 0 : *p;
            char *cmd = strndup(line, (size_t)(p - line));
            sh->src_line = lineno;
            if (cmd)
                run_shell_command(sh, cmd);
            free(cmd);
            if (*p == ';' && !sh->exit_now && !blank(p + 1, strlen(p + 1)))
                feed_line(sh, in, p + 1, lineno);
            return;
        }
        in->start_line = lineno;
    }
    if (sb_buf_append(&in->pending, line, strlen(line)) || sb_buf_putc(&in->pending, '\n')) {
        cli_error(sh, NULL, "out of memory");
        return;
    }
    size_t n;
    while (!sh->exit_now && in->pending.len &&
           sb_cql_split((const char *)in->pending.data, in->pending.len, &n)) {
        /* The statement starts at its first non-blank byte. */
        size_t lead = 0;
        while (lead < n && isspace(in->pending.data[lead]))
            lead++;
        sh->src_line = in->start_line + count_lines(in->pending.data, lead);
        run_statement(sh, (const char *)in->pending.data, n);
        in->start_line += count_lines(in->pending.data, n);
        memmove(in->pending.data, in->pending.data + n, in->pending.len - n);
        in->pending.len -= n;
    }
    if (blank(in->pending.data, in->pending.len))
        sb_buf_reset(&in->pending);
}

/* End of non-interactive input: a statement without ';' still runs. */
static void flush_input(cli_shell *sh, input *in)
{
    if (!sh->exit_now && !blank(in->pending.data, in->pending.len)) {
        size_t lead = 0;
        while (lead < in->pending.len && isspace(in->pending.data[lead]))
            lead++;
        sh->src_line = in->start_line + count_lines(in->pending.data, lead);
        run_statement(sh, (const char *)in->pending.data, in->pending.len);
    }
    sb_buf_reset(&in->pending);
}

static void run_stream(cli_shell *sh, FILE *f)
{
    input in = {.start_line = 1};
    sb_buf_init(&in.pending);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while (!sh->exit_now && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        feed_line(sh, &in, line, lineno);
    }
    flush_input(sh, &in);
    free(line);
    sb_buf_free(&in.pending);
}

static void run_text(cli_shell *sh, const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) {
        cli_error(sh, NULL, "cannot read the statement: %s", strerror(errno));
        return;
    }
    run_stream(sh, f);
    fclose(f);
}

static void run_file(cli_shell *sh, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error(sh, NULL, "cannot open '%s': %s", path, strerror(errno));
        return;
    }
    const char *saved = sh->src_name;
    int saved_line = sh->src_line;
    sh->src_name = path;
    run_stream(sh, f);
    sh->src_name = saved;
    sh->src_line = saved_line;
    fclose(f);
}

static char g_history[4096];
static volatile sig_atomic_t g_sigint;

static void on_sigint(int sig)
{
    g_sigint = 1;
}

/* libedit's character source. Ending the line on Ctrl-C here (rather than
 * relying on read() returning EINTR) also covers a Ctrl-C that arrives
 * while libedit is still setting up the terminal. */
static int getc_or_interrupt(FILE *f)
{
    for (;;) {
        if (g_sigint)
            return EOF;
        unsigned char c;
        ssize_t n = read(fileno(f), &c, 1);
        if (n == 1)
            return c;
        if (n < 0 && errno == EINTR)
            continue;
        return EOF;
    }
}

static void run_interactive(cli_shell *sh)
{
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(g_history, sizeof g_history, "%s/.sibyl_history", home);
        read_history(g_history);
    }
    stifle_history(1000);
    /* Ctrl-C drops the statement being typed instead of ending the shell
     * (no SA_RESTART, so readline returns). */
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    rl_getc_function = getc_or_interrupt;
    rl_catch_signals = 0;
    fprintf(sh->out,
            "Connected to Sibyl at %s:%d.\n"
            "[sibyl 0.1.0 | CQL spec 3.4.5 | Native protocol v4]\n"
            "Use HELP for help.\n",
            sh->host, sh->port);
    input in = {.start_line = 1};
    sb_buf_init(&in.pending);
    int lineno = 0;
    while (!sh->exit_now) {
        char prompt[300];
        if (in.pending.len)
            snprintf(prompt, sizeof prompt, "   ... ");
        else if (sh->keyspace[0])
            snprintf(prompt, sizeof prompt, "cql:%s> ", sh->keyspace);
        else
            snprintf(prompt, sizeof prompt, "cql> ");
        g_sigint = 0;
        char *line = readline(prompt);
        if (g_sigint) {
            free(line);
            sb_buf_reset(&in.pending);
            fputc('\n', sh->out);
            continue;
        }
        if (!line) {
            fputc('\n', sh->out);
            break;
        }
        if (*line) {
            add_history(line);
            if (g_history[0])
                write_history(g_history);
        }
        feed_line(sh, &in, line, ++lineno);
        free(line);
    }
    sb_buf_free(&in.pending);
}

/* --- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl cql [HOST[:PORT]] [PORT] [options]\n"
               "\n"
               "An interactive CQL shell (like cqlsh) speaking the native protocol v4.\n"
               "HOST defaults to 127.0.0.1 and PORT to 9042.\n"
               "\n"
               "options:\n"
               "  -e, --execute STATEMENT   run the statement(s) and exit\n"
               "  -f, --file FILE           run the statements of FILE and exit\n"
               "  -k, --keyspace KS         start in keyspace KS\n"
               "  --request-timeout SECONDS request timeout (default 10)\n"
               "  -h, --help                this text\n"
               "\n"
               "Exit status: 0, 1 when a statement failed, 2 for usage and connection "
               "errors.\n");
}

static int parse_host(cli_shell *sh, const char *arg)
{
    const char *colon = NULL;
    if (arg[0] == '[') { /* [v6addr]:port */
        const char *close = strchr(arg, ']');
        if (!close)
            return -1;
        snprintf(sh->host, sizeof sh->host, "%.*s", (int)(close - arg - 1), arg + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(arg, ':');
        if (colon && strchr(arg, ':') != colon)
            colon = NULL; /* bare IPv6 address */
        snprintf(sh->host, sizeof sh->host, "%.*s",
                 (int)(colon ? (size_t)(colon - arg) : strlen(arg)), arg);
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p <= 0 || p > 65535)
            return -1;
        sh->port = (int)p;
    }
    return sh->host[0] ? 0 : -1;
}

int sb_cli_cql_main(int argc, char **argv)
{
    cli_shell sh = {
        .conn = {.fd = -1},
        .port = 9042,
        .timeout_ms = 10000,
        .consistency = SB_CL_ONE,
        .paging = 1,
        .page_size = DEFAULT_PAGE_SIZE,
        .out = stdout,
    };
    snprintf(sh.host, sizeof sh.host, "127.0.0.1");
    const char *exec = NULL, *file = NULL, *ks = NULL;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if ((!strcmp(a, "-e") || !strcmp(a, "--execute")) && has_next)
            exec = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_next)
            file = argv[++i];
        else if ((!strcmp(a, "-k") || !strcmp(a, "--keyspace")) && has_next)
            ks = argv[++i];
        else if (!strcmp(a, "--request-timeout") && has_next) {
            char *end;
            double s = strtod(argv[++i], &end);
            if (*end || s <= 0 || s > 86400) {
                fprintf(stderr, "sibyl cql: --request-timeout needs seconds, got '%s'\n", argv[i]);
                return 2;
            }
            sh.timeout_ms = (int)(s * 1000);
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sibyl cql: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (npos == 0) {
            if (parse_host(&sh, a)) {
                fprintf(stderr, "sibyl cql: bad address '%s' (expected HOST[:PORT])\n", a);
                return 2;
            }
            npos++;
        } else if (npos == 1) {
            char *end;
            long p = strtol(a, &end, 10);
            if (*end || p <= 0 || p > 65535) {
                fprintf(stderr, "sibyl cql: bad port '%s'\n", a);
                return 2;
            }
            sh.port = (int)p;
            npos++;
        } else {
            fprintf(stderr, "sibyl cql: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (exec && file) {
        fprintf(stderr, "sibyl cql: give -e or -f, not both\n");
        return 2;
    }
    if (ensure_connected(&sh)) {
        return 2;
    }
    if (ks) {
        sb_buf q;
        sb_buf_init(&q);
        sb_buf_printf(&q, "USE ");
        cli_put_ident(&q, ks);
        run_cql(&sh, (const char *)q.data, q.len);
        sb_buf_free(&q);
        if (sh.failed) {
            sb_cqlc_close(&sh.conn);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (exec)
        run_text(&sh, exec);
    else if (file)
        run_file(&sh, file);
    else if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
        sh.interactive = 1;
        run_interactive(&sh);
    } else
        run_stream(&sh, stdin);
    sb_cqlc_close(&sh.conn);
    fflush(stdout);
    return sh.failed && !sh.interactive ? 1 : 0;
}
