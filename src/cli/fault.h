/*
 * `sibyl fault`: cut and heal the network between a node and its peers
 * (fault.c, docs/cluster-cli.md).
 */
#ifndef SB_CLI_FAULT_H
#define SB_CLI_FAULT_H

/* argv[0] is "fault". 0 done, 1 node unreachable or request refused, 2 bad
 * usage. */
int sb_cli_fault_main(int argc, char **argv);

/* POST /api/v1/fault {"action": action, "peers": [...]} to the node at
 * target (HOST:PORT, its HTTP address) and print the node's answer (the
 * peers it now blocks) or the error. n 0 with "heal": every peer. 0 done,
 * 1 unreachable or refused (printed to stderr). */
int sb_cli_fault_post(const char *target, const char *action, const char *const *peers, int n);

#endif
