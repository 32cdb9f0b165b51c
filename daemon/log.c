/* The log (see log.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static log_level min_level = LOG_INFO;
static FILE *out;
static char out_path[4096];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

int log_open(const char *level, const char *path)
{
  static const char *const names[] = {"debug", "info", "warn", "error"};
  int found = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(level, names[i]) == 0) found = i;
  if (found < 0) return -1;
  min_level = (log_level)found;
  if (path && *path) {
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    out = f;
    snprintf(out_path, sizeof out_path, "%s", path);
  }
  return 0;
}

int log_reopen(void)
{
  if (!out_path[0]) return 0;
  FILE *f = fopen(out_path, "a");
  if (!f) return -1; /* keep writing to the old file */
  setvbuf(f, NULL, _IOLBF, 0);
  pthread_mutex_lock(&mu);
  FILE *old = out;
  out = f;
  pthread_mutex_unlock(&mu);
  if (old && old != stderr) fclose(old);
  return 0;
}

void log_close(void)
{
  pthread_mutex_lock(&mu);
  if (out && out != stderr) fclose(out);
  out = NULL;
  out_path[0] = '\0';
  pthread_mutex_unlock(&mu);
}

int log_enabled(log_level level) { return level >= min_level; }

void log_write(log_level level, const char *fmt, ...)
{
  static const char *const tags[] = {"debug", "info", "warn", "error"};
  struct timespec ts;
  struct tm tm;
  char when[40], msg[2048];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' '; /* one line per message */
  pthread_mutex_lock(&mu);
  fprintf(out ? out : stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000, tags[level], msg);
  pthread_mutex_unlock(&mu);
}
