/* fractald's log: levels, UTC timestamps, one line per message, to stderr or a file. The level is
 * checked before anything is formatted. */
#ifndef FRACTALD_LOG_H
#define FRACTALD_LOG_H

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* level: "debug", "info", "warn", "error"; path NULL or "" logs to stderr. Returns 0 or -1. */
int log_open(const char *level, const char *path);
/* Opens the log file again by its name (after logrotate moved it; SIGHUP); keeps the old one if that fails. */
int log_reopen(void);
void log_close(void);
int log_enabled(log_level level);
void log_write(log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* An expression, so it can sit in `return LOG(...), -1;`. */
#define LOG(level, ...) (log_enabled(level) ? log_write(level, __VA_ARGS__) : (void)0)

#endif
