/* The CUDA backend against the CPU reference, bit for bit, on every TEST case of perf/op_table.c (NaN
 * equals any NaN; -0 and +0 differ); one line per case. An op the GPU does not implement yet fails its cases.
 * Options: --all adds the SLOW cases, --case SUBSTR keeps the cases whose name contains SUBSTR.
 * Skips (exit 77) when the build has no CUDA or the machine has no GPU. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "op_cases.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sets the case up on be, runs it and downloads its outputs. */
static fr_status run_on(const op_case *c, fr_backend *be, op_result *res)
{
  op_inst r;
  FR_TRY(op_setup(c, be, 0, &r));
  fr_status st = op_run(&r);
  if (st == FR_OK) st = op_fetch(&r, res);
  op_free(&r);
  return st;
}

/* Returns 1 when the case passes, else prints why. */
static int check_case(const op_case *c, fr_backend *cpu, fr_backend *gpu)
{
  char shape[160], msg[320];
  op_inst r;
  op_result want, got;
  double t0 = now_s();
  if (op_setup(c, cpu, 0, &r) != FR_OK) {
    printf("FAIL %-40s %s\n", c->name, fr_last_error());
    return 0;
  }
  op_shape(&r, shape, sizeof shape);
  fr_status st = op_run(&r);
  if (st == FR_OK) st = op_fetch(&r, &want);
  op_free(&r);
  if (st != FR_OK) {
    printf("FAIL %-40s %-36s CPU reference: %s\n", c->name, shape, fr_last_error());
    return 0;
  }
  st = run_on(c, gpu, &got);
  int same = 0;
  if (st == FR_EUNSUPPORTED) snprintf(msg, sizeof msg, "not implemented on the GPU: %s", fr_last_error());
  else if (st != FR_OK) snprintf(msg, sizeof msg, "%s: %s", fr_status_str(st), fr_last_error());
  else same = op_same_bits(&want, &got, msg, sizeof msg);
  if (same) printf("ok   %-40s %-36s %6.2f s\n", c->name, shape, now_s() - t0);
  else printf("FAIL %-40s %-36s %s\n", c->name, shape, msg);
  op_result_free(&want);
  if (st == FR_OK) op_result_free(&got);
  return same;
}

int main(int argc, char **argv)
{
  int all = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--all")) all = 1;
    else if (!strcmp(argv[i], "--case") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: test_cuda [--all] [--case SUBSTR]\n");
      return 2;
    }
  }
  if (fr_cuda_device_count() == 0) {
    printf("SKIP: no CUDA device (this build %s the CUDA backend); GPU parity is unverified here\n",
#ifdef FR_HAVE_CUDA
           "has"
#else
           "lacks"
#endif
    );
    return 77;
  }
  fr_backend *gpu, *cpu;
  if (fr_backend_open("cuda", 0, &gpu) != FR_OK || fr_backend_open("cpu", 0, &cpu) != FR_OK) {
    fprintf(stderr, "test_cuda: cannot open the backends: %s\n", fr_last_error());
    return 1;
  }
  printf("comparing %s with %s\n", fr_backend_name(gpu), fr_backend_name(cpu));
  unsigned tags = TAG_TEST | (all ? TAG_SLOW : 0);
  int run = 0, failed = 0;
  double t0 = now_s();
  for (int i = 0; i < op_case_count; i++) {
    const op_case *c = &op_cases[i];
    if (!(c->tags & tags) || (only && !strstr(c->name, only))) continue;
    run++;
    failed += !check_case(c, cpu, gpu);
  }
  fr_backend_close(gpu);
  fr_backend_close(cpu);
  if (!run) {
    fprintf(stderr, "test_cuda: no case matches\n");
    return 1;
  }
  printf("test_cuda: %d of %d cases %s (%.1f s)\n", failed ? failed : run, run, failed ? "FAILED" : "passed",
         now_s() - t0);
  return failed ? 1 : 0;
}
