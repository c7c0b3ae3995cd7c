/*
 * `sibyl fault`: cut and heal the network between a node and its peers
 * (fault.c, docs/cluster-cli.md).
 */
#ifndef SB_CLI_FAULT_H
#define SB_CLI_FAULT_H

/* argv[0] is "fault". 0 done, 1 node unreachable or request refused, 2 bad
 * usage. */
int sb_cli_fault_main(int argc, char **argv);

#endif
