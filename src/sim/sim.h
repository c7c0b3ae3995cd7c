/*
 * `sibyl sim`: a sensor fleet simulator that writes InfluxDB line protocol
 * to a node over HTTP (POST /api/v2/write?bucket=B&precision=ms).
 * See docs/simulator.md. The generator itself is sim/gen.h; the HTTP
 * client net/httpc.h.
 */
#ifndef SB_SIM_H
#define SB_SIM_H

/* argv[0] = "sim". Returns the process exit status: 0 after a clean end
 * (duration reached or SIGINT/SIGTERM), 1 when the node keeps rejecting
 * batches, 2 on bad usage. */
int sb_sim_main(int argc, char **argv);

#endif
