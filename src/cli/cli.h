/*
 * Command-line tools that talk to a running node.
 *
 *   sibyl cql [HOST[:PORT]] [-e STATEMENT] [-f FILE]   the CQL shell
 *   sibyl status [HOST[:PORT]] [--keyspace KS]         nodes, as nodetool status
 *   sibyl ring [HOST[:PORT]]                           tokens, as nodetool ring
 *
 * See docs/shell.md and docs/cluster-cli.md.
 */
#ifndef SB_CLI_H
#define SB_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Entry point of `sibyl cql`; argv[0] is "cql". Returns the process exit
 * status: 0, 1 when a statement failed (-e, -f, piped input), 2 for usage
 * and connection errors. */
int sb_cli_cql_main(int argc, char **argv);

/* --- status.c ----------------------------------------------------------- */

/* `sibyl status` / `sibyl ring` (argv[0] is the command). 0 printed, 1 the
 * node is unreachable or answered an error, 2 bad usage. */
int sb_cli_status_main(int argc, char **argv);
int sb_cli_ring_main(int argc, char **argv);

/* Appends the status (ring = 0) or ring (ring = 1) tables for the JSON
 * cluster view to out. keyspace only changes the Owns heading. 0 or
 * SB_EINVAL (not a cluster view) / SB_ENOMEM. */
int sb_cli_cluster_render(const char *json, size_t len, int ring, const char *keyspace, sb_buf *out,
                          char *errmsg);
/* "512 bytes", "1.21 MiB" (binary units, two decimals). */
void sb_cli_format_bytes(uint64_t bytes, char *out, size_t outlen);

#endif
