/* The CPU reference backend: host memory, a worker pool, and the op table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#include "cpu.h"
#include "gemm.h"

static void cpu_close(fr_backend *be)
{
  fr_pool_free(cpu_pool(be));
  free(be);
}

static fr_status cpu_alloc(fr_backend *be, size_t nbytes, void **ptr)
{
  size_t size = (nbytes + 63) / 64 * 64;
  *ptr = aligned_alloc(64, size ? size : 64);
  if (!*ptr) return fr_fail(FR_ENOMEM, "out of host memory allocating %zu bytes", nbytes);
  return FR_OK;
}

static void cpu_free(fr_backend *be, void *ptr) { free(ptr); }

static fr_status cpu_copy(fr_backend *be, void *dst, const void *src, size_t nbytes)
{
  if (nbytes) memmove(dst, src, nbytes);
  return FR_OK;
}

static fr_status cpu_sync(fr_backend *be) { return FR_OK; }

static const fr_backend_ops cpu_ops = {
    .close = cpu_close,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .linear = fr_cpu_linear,
    .conv2d = fr_cpu_conv2d,
    .conv_frames = fr_cpu_conv_frames,
    .linear_i8x = fr_cpu_linear_i8x,
    .conv2d_i8x = fr_cpu_conv2d_i8x,
    .conv_frames_i8x = fr_cpu_conv_frames_i8x,
    .attention_i8x = fr_cpu_attention_i8x,
    .group_norm = fr_cpu_group_norm,
    .layer_norm = fr_cpu_layer_norm,
    .group_norm_partials = fr_cpu_group_norm_partials,
    .group_norm_apply = fr_cpu_group_norm_apply,
    .copy_region = fr_cpu_copy_region,
    .attention = fr_cpu_attention,
    .softmax = fr_cpu_softmax,
    .activate = fr_cpu_activate,
    .geglu = fr_cpu_geglu,
    .upsample_nearest = fr_cpu_upsample_nearest,
    .concat = fr_cpu_concat,
    .add = fr_cpu_add,
    .scale = fr_cpu_scale,
    .permute = fr_cpu_permute,
    .embedding = fr_cpu_embedding,
    .fill_normal = fr_cpu_fill_normal,
    .timestep_embedding = fr_cpu_timestep_embedding,
    .frames_u8 = fr_cpu_frames_u8,
    .guidance = fr_cpu_guidance,
    .sched = fr_cpu_sched,
};

/* The contract assumes IEEE default floating-point state: round to nearest, subnormals kept. A
 * library built with fast-math can switch on flush-to-zero for the whole process; refuse to run then. */
static fr_status check_fp_state(void)
{
#if defined(__x86_64__) || defined(_M_X64)
  unsigned csr = _mm_getcsr();
  if (csr & 0x8040u)
    return fr_fail(FR_EUNSUPPORTED,
                   "the CPU flushes subnormals (MXCSR FTZ/DAZ set, 0x%04x): "
                   "something in this process was built with fast-math",
                   csr);
  if (csr & 0x6000u)
    return fr_fail(FR_EUNSUPPORTED, "the CPU rounding mode is not round-to-nearest (MXCSR 0x%04x)", csr);
#endif
  return FR_OK;
}

fr_status fr_cpu_backend_open(int threads, fr_backend **out)
{
  *out = NULL;
  FR_TRY(check_fp_state());
  if (threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (int)n : 1;
  }
  fr_backend *be = (fr_backend *)calloc(1, sizeof *be);
  if (!be) return fr_fail(FR_ENOMEM, "out of memory");
  be->ops = &cpu_ops;
  be->device = FR_DEVICE_CPU;
  be->threads = threads;
  fr_pool *pool = NULL;
  fr_status st = fr_pool_create(threads, &pool);
  be->impl = pool;
  if (st == FR_OK) st = fr_pool_reserve(pool, fr_gemm_scratch_bytes());
  if (st != FR_OK) {
    fr_pool_free(cpu_pool(be));
    free(be);
    return st;
  }
  snprintf(be->name, sizeof be->name, "cpu (%d thread%s, %s)", threads, threads == 1 ? "" : "s", fr_gemm_isa());
  *out = be;
  return FR_OK;
}
