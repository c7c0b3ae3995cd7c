/*
 * Linearizability checker for histories of keyed registers (the Wing-Gong
 * search with memoisation, as Lowe and Porcupine refine it). See
 * docs/lincheck.md.
 *
 * A history is a set of operations on registers named by a key. Each
 * register starts absent (never written); an operation reads it, writes it
 * (a write of absent is a delete) or compares-and-sets it, so that
 * `INSERT ... IF NOT EXISTS` is cas(absent -> v) and `UPDATE ... IF v = a`
 * is cas(a -> b). Values are absent, an int64 or a short byte string.
 *
 * Every operation has a call time and an outcome:
 *
 *   OK             it took effect between its call and its return time;
 *                  reads carry the value read, cas whether it applied
 *                  (and, if it did not, optionally the value it saw);
 *   FAIL           it certainly did not take effect (the server refused
 *                  it before doing anything): the checker ignores it;
 *   INDETERMINATE  it may or may not have taken effect, at any instant
 *                  after its call (a timeout, a lost connection, a crash):
 *                  its return time is +infinity. An indeterminate read
 *                  tells nothing and is ignored.
 *
 * The history is linearizable if every key's operations can be put in one
 * order that (1) respects real time: when A returned before B was called,
 * A comes first; (2) contains every OK operation, any subset of the
 * indeterminate ones and no failed one; (3) is a legal run of a register:
 * each read returns the latest value written, each cas applies exactly
 * when the register held its expected value. Registers are independent
 * (linearizability is compositional), so each key is searched alone.
 *
 * Times are int64 in any unit (nanoseconds of a monotonic clock, a
 * simulator's virtual time); two operations whose intervals touch (one
 * returns at the instant the other is called) count as concurrent, which
 * can only make the checker more lenient, never report a false violation.
 *
 * The search is exponential in the worst case, so it is bounded by steps
 * per key and by wall-clock time; exceeding a bound answers UNKNOWN, never
 * a wrong verdict. Its memo is bounded in memory: when full it starts
 * over, which costs steps but never changes a verdict. A simulator should
 * bound by steps only, so that a seed replays with the same answer.
 *
 * Ownership: the history copies every key and value it is given; nothing
 * passed in needs to outlive the call. A report's explanation is owned by
 * the report until sb_lincheck_report_free.
 */
#ifndef SB_UTIL_LINCHECK_H
#define SB_UTIL_LINCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Longest key and longest byte-string value, in bytes. */
#define SB_LINCHECK_KEY_MAX 1024
#define SB_LINCHECK_BYTES_MAX 1024
/* Most operations one history holds. */
#define SB_LINCHECK_MAX_OPS (1 << 24)

typedef enum sb_lincheck_kind {
    SB_LINCHECK_ABSENT = 0, /* the key was never written, or was deleted */
    SB_LINCHECK_INT,
    SB_LINCHECK_BYTES,
} sb_lincheck_kind;

/* A value as the caller passes it; bytes need live only during the call. */
typedef struct sb_lincheck_value {
    sb_lincheck_kind kind;
    int64_t i;            /* SB_LINCHECK_INT */
    const uint8_t *bytes; /* SB_LINCHECK_BYTES: len bytes, any content */
    size_t len;
} sb_lincheck_value;

typedef enum sb_lincheck_fn {
    SB_LINCHECK_READ = 0,
    SB_LINCHECK_WRITE,
    SB_LINCHECK_CAS,
} sb_lincheck_fn;

typedef enum sb_lincheck_outcome {
    SB_LINCHECK_OUT_OK = 0,
    SB_LINCHECK_OUT_FAIL,
    SB_LINCHECK_OUT_INDETERMINATE,
} sb_lincheck_outcome;

/* One operation. Which fields count depends on fn and outcome:
 *   read  OK:            value = the value read (ABSENT: nothing there)
 *   write:               value = the value written (ABSENT: a delete)
 *   cas:                 from = expected, to = new value
 *   cas   OK:            applied = 1 or 0; if 0 and has_value, value is
 *                        what the register held (Cassandra answers it)
 * ret is ignored unless outcome is OK. */
typedef struct sb_lincheck_op {
    int64_t id;      /* printed in reports as #id; 0: the op's index + 1
                      * (`sibyl lincheck` passes the file's line number) */
    int64_t process; /* client id, for reports only */
    const uint8_t *key;
    size_t key_len;
    sb_lincheck_fn fn;
    sb_lincheck_outcome outcome;
    sb_lincheck_value value;
    sb_lincheck_value from, to;
    int applied;
    int has_value;
    int64_t call, ret;
} sb_lincheck_op;

typedef enum sb_lincheck_result {
    SB_LINCHECK_LINEARIZABLE = 0,
    SB_LINCHECK_VIOLATION = 1,
    SB_LINCHECK_UNKNOWN = 2,
} sb_lincheck_result;

typedef struct sb_lincheck_limits {
    uint64_t max_steps_per_key; /* 0: SB_LINCHECK_DEFAULT_STEPS */
    uint64_t max_ms;            /* wall clock for the whole check; 0: none */
    size_t max_memo_bytes;      /* the memo's memory, per key, before it starts
                                 * over; 0: SB_LINCHECK_DEFAULT_MEMO_BYTES */
} sb_lincheck_limits;

#define SB_LINCHECK_DEFAULT_STEPS 20000000ULL
#define SB_LINCHECK_DEFAULT_MEMO_BYTES ((size_t)512 << 20)

typedef struct sb_lincheck_report {
    sb_lincheck_result result;
    size_t ops, ops_ok, ops_failed, ops_indeterminate;
    size_t keys, keys_violated, keys_unknown;
    uint64_t steps;    /* search steps over all keys */
    double elapsed_ms; /* wall clock of the check */
    /* NULL when linearizable; else a human explanation, several lines
     * ending in '\n': for a violation the first violating key, the
     * operation that could not be placed, the longest legal order the
     * search found before it and the operations concurrent with it; for
     * UNKNOWN which bound was hit on which key. Owned by the report. */
    char *explanation;
} sb_lincheck_report;

typedef struct sb_lincheck sb_lincheck;

/* A new empty history, or NULL when out of memory. */
sb_lincheck *sb_lincheck_new(void);
void sb_lincheck_free(sb_lincheck *h);

/* Appends a complete operation (copied). Returns its index (>= 0), or
 * SB_EINVAL with errmsg (SB_ERRMSG_SIZE bytes, may be NULL) saying what
 * is wrong (ret before call, a key or value too long, a bad enum), or
 * SB_ENOMEM, or SB_ETOOBIG past SB_LINCHECK_MAX_OPS. */
int sb_lincheck_add(sb_lincheck *h, const sb_lincheck_op *op, char *errmsg);

/* Two-step recording, for a client that learns the outcome later: invoke
 * records op (its outcome, applied, value and ret are ignored) as
 * indeterminate and returns its index; complete sets the outcome, the
 * return time and, for an OK read or cas, the value read or applied flag
 * (value is ignored otherwise and may be NULL). An operation never
 * completed stays indeterminate, which is what a client that timed out
 * or crashed knows about it. Same errors as sb_lincheck_add; complete of
 * an index that is not an invoked, uncompleted op is SB_EINVAL. */
int sb_lincheck_invoke(sb_lincheck *h, const sb_lincheck_op *op, char *errmsg);
int sb_lincheck_complete(sb_lincheck *h, int index, sb_lincheck_outcome outcome, int64_t ret,
                         int applied, const sb_lincheck_value *value, char *errmsg);

/* Number of operations recorded. */
size_t sb_lincheck_count(const sb_lincheck *h);

/* Checks the history. limits may be NULL (the defaults). Returns 0 with
 * *report filled (free it with sb_lincheck_report_free), or SB_ENOMEM
 * (then *report holds nothing to free). */
int sb_lincheck_check(const sb_lincheck *h, const sb_lincheck_limits *limits,
                      sb_lincheck_report *report);
void sb_lincheck_report_free(sb_lincheck_report *report);

/* "linearizable", "NOT linearizable", "unknown". */
const char *sb_lincheck_result_name(sb_lincheck_result r);

/* Appends the history as JSON lines, one operation per line, in the file
 * format of docs/lincheck.md (what `sibyl lincheck` reads). Byte strings
 * are written as JSON strings, so they should be UTF-8 text to read back.
 * 0 or SB_ENOMEM. */
int sb_lincheck_write_jsonl(const sb_lincheck *h, sb_buf *out);

#endif
