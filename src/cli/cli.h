/*
 * Command-line tools that talk to a running node.
 *
 *   sibyl cql [HOST[:PORT]] [-e STATEMENT] [-f FILE]   the CQL shell
 *
 * See docs/shell.md.
 */
#ifndef SB_CLI_H
#define SB_CLI_H

/* Entry point of `sibyl cql`; argv[0] is "cql". Returns the process exit
 * status: 0, 1 when a statement failed (-e, -f, piped input), 2 for usage
 * and connection errors. */
int sb_cli_cql_main(int argc, char **argv);

#endif
