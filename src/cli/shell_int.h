/*
 * Internal state of the CQL shell, shared by cqlsh.c (input, statements,
 * shell commands, output) and describe.c (DESCRIBE).
 */
#ifndef SB_CLI_SHELL_INT_H
#define SB_CLI_SHELL_INT_H

#include <stdio.h>

#include "cli/cqlclient.h"

typedef struct cli_shell {
    sb_cqlc conn;
    char host[256];
    int port;
    int timeout_ms;
    char keyspace[256]; /* after USE, as the server named it */
    int consistency;    /* SB_CL_* */
    int paging;         /* PAGING ON/OFF */
    int page_size;
    int expand;           /* EXPAND ON/OFF */
    int interactive;      /* stdin and stdout are terminals */
    int failed;           /* some statement failed */
    int exit_now;         /* EXIT / QUIT */
    const char *src_name; /* -f FILE / SOURCE: errors are FILE:LINE:... */
    int src_line;
    FILE *out;
} cli_shell;

/* Prints an error as "Class: message" (prefixed with FILE:LINE: while a
 * file runs) on stderr and marks the session failed. */
void cli_error(cli_shell *sh, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs q without paging and returns its result in r. Server errors and
 * connection failures are displayed; returns 0 only for a non-error
 * result. */
int cli_query_all(cli_shell *sh, const char *q, sb_cqlc_result *r);

/* DESCRIBE / DESC with the text after the keyword. */
void cli_describe(cli_shell *sh, const char *args);

/* Quotes an identifier for CQL when it needs it ("MyTable", "select"). */
void cli_put_ident(sb_buf *b, const char *name);

#endif
