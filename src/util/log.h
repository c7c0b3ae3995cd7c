/*
 * Structured logging: one line per event, logfmt style
 *   ts=2026-11-21T15:04:05.123Z level=info sub=node msg="listening" addr=127.0.0.1:8080
 * written to stderr. Thread-safe (each line is a single write(2)).
 */
#ifndef SB_LOG_H
#define SB_LOG_H

enum { SB_LOG_DEBUG, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERROR };

void sb_log_set_level(int level);
/* fmt produces the key=value pairs after msg; may be NULL. */
void sb_log(int level, const char *sub, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SB_DEBUG(sub, msg, ...) sb_log(SB_LOG_DEBUG, (sub), (msg), __VA_ARGS__)
#define SB_INFO(sub, msg, ...) sb_log(SB_LOG_INFO, (sub), (msg), __VA_ARGS__)
#define SB_WARN(sub, msg, ...) sb_log(SB_LOG_WARN, (sub), (msg), __VA_ARGS__)
#define SB_ERROR(sub, msg, ...) sb_log(SB_LOG_ERROR, (sub), (msg), __VA_ARGS__)

#endif
