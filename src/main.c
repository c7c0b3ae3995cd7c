/*
 * sibyl: one binary, one subcommand per job.
 *
 *   sibyl node   run a database node
 *   sibyl sim    run the sensor-fleet simulator against a node
 *   sibyl demo   a local cluster and the simulator writing through it
 *   sibyl status nodes of the cluster (as nodetool status)
 *   sibyl ring   token ownership (as nodetool ring)
 *   sibyl fault  cut or heal a node's network (fault injection)
 *   sibyl stream pull token ranges from a peer into a node
 *   sibyl lincheck  check a recorded history for linearizability
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/fault.h"
#include "cli/stream.h"
#include "cli/lincheck.h"
#include "demo/demo.h"
#include "dsim/dsim.h"
#include "node/node.h"
#include "sim/sim.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl <command> [options]\n"
               "\n"
               "commands:\n"
               "  node    run a database node (sibyl node --help)\n"
               "  cql     interactive CQL shell (sibyl cql [HOST[:PORT]] [-e STMT] [-f FILE])\n"
               "  sim     run the sensor simulator against a node (sibyl sim --help)\n"
               "  demo    a local cluster plus the simulator (sibyl demo --help)\n"
               "  status  the nodes of the cluster (sibyl status [HOST[:PORT]])\n"
               "  ring    the token ring (sibyl ring [HOST[:PORT]])\n"
               "  fault   cut or heal a node's network (sibyl fault --help)\n"
               "  stream  pull token ranges from a peer into a node (sibyl stream --help)\n"
               "  dsim    deterministic cluster simulation (sibyl dsim --help)\n"
               "  lincheck  check a history file for linearizability (sibyl lincheck --help)\n"
               "  version print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "node"))
        return sb_node_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "cql"))
        return sb_cli_cql_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "sim") == 0)
        return sb_sim_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo"))
        return sb_demo_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "status"))
        return sb_cli_status_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "ring"))
        return sb_cli_ring_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "fault"))
        return sb_cli_fault_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "stream"))
        return sb_cli_stream_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "dsim"))
        return sb_dsim_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "lincheck"))
        return sb_cli_lincheck_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("sibyl 0.1.0\n");
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sibyl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
