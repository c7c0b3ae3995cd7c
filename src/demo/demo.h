/*
 * `sibyl demo`: a whole local cluster and the sensor simulator in one
 * command (docs/cluster-cli.md).
 */
#ifndef SB_DEMO_H
#define SB_DEMO_H

/* argv[0] = "demo". Returns the process exit status: 0 after a clean end
 * (Ctrl-C, SIGTERM or --seconds), 1 when the cluster could not be started,
 * 2 on bad usage. */
int sb_demo_main(int argc, char **argv);

#endif
