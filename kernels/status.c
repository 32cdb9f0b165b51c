/* Per-thread error messages behind fr_status return codes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fractal/status.h"

#define FR_ERRMSG_MAX 8192
static _Thread_local char last_error[FR_ERRMSG_MAX];

const char *fr_status_str(fr_status s)
{
  switch (s) {
  case FR_OK: return "ok";
  case FR_EINVAL: return "invalid argument";
  case FR_ENOMEM: return "out of memory";
  case FR_EIO: return "I/O error";
  case FR_EFORMAT: return "malformed input";
  case FR_EUNSUPPORTED: return "unsupported";
  case FR_EDEVICE: return "device error";
  case FR_EINTERNAL: return "internal error";
  case FR_ECANCELED: return "canceled";
  }
  return "unknown status";
}

const char *fr_last_error(void) { return last_error; }

fr_status fr_fail(fr_status s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return s;
}

fr_status fr_fail_context(fr_status s, const char *fmt, ...)
{
  char prefix[FR_ERRMSG_MAX], old[FR_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, last_error, sizeof old);
  snprintf(last_error, sizeof last_error, "%.1000s: %.7000s", prefix, old);
  return s;
}
