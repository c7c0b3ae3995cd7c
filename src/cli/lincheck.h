/*
 * `sibyl lincheck FILE`: checks a recorded history of register operations
 * for linearizability (util/lincheck.h; the file format and the output are
 * in docs/lincheck.md).
 *
 * The file is JSON lines, one operation per line:
 *
 *   {"process":3,"key":"k1","f":"cas","from":null,"to":5,
 *    "call":12345,"return":12400,"outcome":"ok","applied":true}
 *   {"process":1,"key":"k1","f":"read","value":5,"call":12500,"return":12510,"outcome":"ok"}
 *   {"process":2,"key":"k1","f":"write","value":7,"call":12600,"outcome":"info"}
 *
 *   process   integer, the client (for reports)
 *   key       string or integer, the register
 *   f         "read", "write" or "cas"
 *   value     read: the value read; write: the value written; cas that did
 *             not apply: what the register held, if the server said
 *   from, to  cas: the expected and the new value
 *   call      integer time the client sent it (any unit, one clock)
 *   return    integer time the answer came; needed when outcome is "ok"
 *   outcome   "ok", "fail" (certainly not done) or "info" (unknown: a
 *             timeout, a lost connection)
 *   applied   cas with outcome "ok": true or false
 *
 * A value is null (absent: never written, or deleted), an integer or a
 * string. Other members are ignored, blank lines skipped. Reports call an
 * operation #N after its line number.
 */
#ifndef SB_CLI_LINCHECK_H
#define SB_CLI_LINCHECK_H

#include <stddef.h>

#include "util/lincheck.h"

/* Longest line of a history file, in bytes. */
#define SB_CLI_LINCHECK_LINE_MAX 65536

/* Parses the JSON-lines text[0..len) into h (operations appended in line
 * order, each with its line number as id). Returns 0, SB_EBADINPUT with
 * errmsg (SB_ERRMSG_SIZE bytes) naming the line and the field ("line 3:
 * field \"call\": expected an integer"), or SB_ENOMEM. On an error h
 * keeps the lines before the bad one. */
int sb_cli_lincheck_parse(const char *text, size_t len, sb_lincheck *h, char *errmsg);

/* Entry point of `sibyl lincheck`; argv[0] is "lincheck". Exit status: 0
 * linearizable, 1 not linearizable, 2 unknown (a bound was hit), bad
 * input or bad usage. */
int sb_cli_lincheck_main(int argc, char **argv);

#endif
