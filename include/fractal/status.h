/* Error reporting: every function that can fail returns an fr_status and leaves a readable message,
 * per thread, that fr_last_error() returns until the next failure in that thread. */
#ifndef FRACTAL_STATUS_H
#define FRACTAL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_status {
  FR_OK = 0,
  FR_EINVAL,       /* an argument is invalid (shape, dtype, range) */
  FR_ENOMEM,       /* host or device memory could not be allocated */
  FR_EIO,          /* a file could not be opened, read or written */
  FR_EFORMAT,      /* a file or message is malformed, truncated or inconsistent */
  FR_EUNSUPPORTED, /* valid, but not implemented by this backend or build */
  FR_EDEVICE,      /* the GPU or its runtime failed */
  FR_EINTERNAL,    /* an invariant was broken: a bug */
  FR_ECANCELED,    /* the caller asked the run to stop (fr_run_options.cancel) */
} fr_status;

/* Short name of a status code ("invalid argument", ...). */
const char *fr_status_str(fr_status s);

/* The message of the last failure in the calling thread ("" if none). */
const char *fr_last_error(void);

/* Records a printf-style message for the calling thread and returns s (s must not be FR_OK). */
fr_status fr_fail(fr_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the calling thread's last message with "<context>: " and returns s unchanged. */
fr_status fr_fail_context(fr_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define FR_TRY(expr)                                                                                                   \
  do {                                                                                                                 \
    fr_status fr_try_s_ = (expr);                                                                                      \
    if (fr_try_s_ != FR_OK) return fr_try_s_;                                                                          \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
