/* What a build is: every binary prints it for --version and fractald's /metrics carries it. */
#ifndef FRACTAL_VERSION_H
#define FRACTAL_VERSION_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_build {
  const char *version;    /* the project's version, e.g. "0.1.0" */
  const char *commit;     /* the source commit (12 hex digits, "-dirty" with uncommitted changes), or "unknown" */
  const char *build_type; /* CMAKE_BUILD_TYPE: Release, Debug, ... */
  const char *cuda;       /* the CUDA backend: "off", "on" or "emulated" */
  const char *cuda_archs; /* the CUDA architectures compiled for ("" without CUDA) */
} fr_build;

const fr_build *fr_build_info(void);

/* "PROG 0.1.0 (commit 1a2b3c4d5e6f, Release, CUDA on: 75;80;86;89;90)" and a newline, on f. */
static inline void fr_print_version(FILE *f, const char *prog)
{
  const fr_build *b = fr_build_info();
  fprintf(f, "%s %s (commit %s, %s, CUDA %s%s%s)\n", prog, b->version, b->commit, b->build_type, b->cuda,
          b->cuda_archs[0] ? ": " : "", b->cuda_archs);
}

#ifdef __cplusplus
}
#endif
#endif
