/*
 * `sibyl stream`: pull token ranges from a peer into a node (stream.c,
 * docs/streaming.md).
 */
#ifndef SB_CLI_STREAM_H
#define SB_CLI_STREAM_H

/* argv[0] is "stream". 0 the session completed (or was started, with
 * --no-wait), 1 node unreachable, request refused or session failed, 2
 * bad usage. */
int sb_cli_stream_main(int argc, char **argv);

#endif
