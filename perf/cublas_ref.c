/* cuBLAS and copy-bandwidth references for fractal-bench (perf/cublas_ref.h); built only with real CUDA.
 * Row-major C[m][n] = A[m][k] op(B) is the column-major C^T = op(B)^T A^T, so B goes first. */
#include "cublas_ref.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdlib.h>

struct cublas_ref {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  cudaEvent_t start, stop;
};

static fr_status cuda_ok(cudaError_t e, const char *what)
{
  if (e == cudaSuccess) return FR_OK;
  cudaGetLastError(); /* clear it, so later calls work */
  return fr_fail(e == cudaErrorMemoryAllocation ? FR_ENOMEM : FR_EDEVICE, "%s: %s", what, cudaGetErrorString(e));
}

static fr_status blas_ok(cublasStatus_t s, const char *what)
{
  return s == CUBLAS_STATUS_SUCCESS ? FR_OK : fr_fail(FR_EDEVICE, "%s: %s", what, cublasGetStatusString(s));
}

fr_status cublas_ref_open(int device, cublas_ref **out)
{
  *out = NULL;
  cublas_ref *r = (cublas_ref *)calloc(1, sizeof *r);
  if (!r) return fr_fail(FR_ENOMEM, "out of memory");
  r->device = device;
  fr_status st = cuda_ok(cudaSetDevice(device), "cudaSetDevice");
  if (st == FR_OK) st = cuda_ok(cudaStreamCreate(&r->stream), "cudaStreamCreate");
  if (st == FR_OK) st = cuda_ok(cudaEventCreate(&r->start), "cudaEventCreate");
  if (st == FR_OK) st = cuda_ok(cudaEventCreate(&r->stop), "cudaEventCreate");
  if (st == FR_OK) st = blas_ok(cublasCreate(&r->blas), "cublasCreate");
  if (st == FR_OK) st = blas_ok(cublasSetStream(r->blas, r->stream), "cublasSetStream");
  if (st == FR_OK) st = blas_ok(cublasSetMathMode(r->blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode"); /* no TF32 */
  if (st != FR_OK) {
    cublas_ref_close(r);
    return fr_fail_context(st, "the cuBLAS and bandwidth references on CUDA device %d", device);
  }
  *out = r;
  return FR_OK;
}

void cublas_ref_close(cublas_ref *r)
{
  if (!r) return;
  if (r->blas) cublasDestroy(r->blas);
  if (r->start) cudaEventDestroy(r->start);
  if (r->stop) cudaEventDestroy(r->stop);
  if (r->stream) cudaStreamDestroy(r->stream);
  free(r);
}

static int cmp_float(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

static cublasStatus_t gemm(cublas_ref *r, const op_gemm *g, const float *a, const float *b, float *c)
{
  const float one = 1.0f, zero = 0.0f;
  int m = (int)g->m, n = (int)g->n, k = (int)g->k;
  cublasOperation_t tb = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = g->trans_b ? k : n;
  if (g->batch == 1) return cublasSgemm(r->blas, tb, CUBLAS_OP_N, n, m, k, &one, b, ldb, a, k, &zero, c, n);
  return cublasSgemmStridedBatched(r->blas, tb, CUBLAS_OP_N, n, m, k, &one, b, ldb, (long long)k * n, a, k,
                                   g->a_shared ? 0 : (long long)m * k, &zero, c, n, (long long)m * n, (int)g->batch);
}

/* Times run(ctx) repeat times after a warm-up, with events on the reference's stream: median ms. */
static fr_status time_events(cublas_ref *r, fr_status (*run)(cublas_ref *, void *), void *ctx, int repeat, double *ms)
{
  float t[1000];
  if (repeat < 1 || repeat > 1000) return fr_fail(FR_EINVAL, "repeat %d is not 1..1000", repeat);
  FR_TRY(run(r, ctx));
  for (int i = 0; i < repeat; i++) {
    FR_TRY(cuda_ok(cudaEventRecord(r->start, r->stream), "cudaEventRecord"));
    FR_TRY(run(r, ctx));
    FR_TRY(cuda_ok(cudaEventRecord(r->stop, r->stream), "cudaEventRecord"));
    FR_TRY(cuda_ok(cudaEventSynchronize(r->stop), "cudaEventSynchronize"));
    FR_TRY(cuda_ok(cudaEventElapsedTime(&t[i], r->start, r->stop), "cudaEventElapsedTime"));
  }
  qsort(t, (size_t)repeat, sizeof t[0], cmp_float);
  *ms = (double)t[repeat / 2];
  return FR_OK;
}

/* The same product with half-precision operands (t: CUDA_R_16F or CUDA_R_16BF), fp32 output and accumulation. */
static cublasStatus_t gemm_half(cublas_ref *r, const op_gemm *g, cudaDataType t, const void *a, const void *b, float *c)
{
  const float one = 1.0f, zero = 0.0f;
  int m = (int)g->m, n = (int)g->n, k = (int)g->k;
  cublasOperation_t tb = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = g->trans_b ? k : n;
  if (g->batch == 1)
    return cublasGemmEx(r->blas, tb, CUBLAS_OP_N, n, m, k, &one, b, t, ldb, a, t, k, &zero, c, CUDA_R_32F, n,
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  return cublasGemmStridedBatchedEx(r->blas, tb, CUBLAS_OP_N, n, m, k, &one, b, t, ldb, (long long)k * n, a, t, k,
                                    g->a_shared ? 0 : (long long)m * k, &zero, c, CUDA_R_32F, n, (long long)m * n,
                                    (int)g->batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

typedef struct gemm_job {
  const op_gemm *g;
  int n;
  float *a[2], *b[2], *c[2];
  int half; /* 0: fp32 (sgemm); else the operands' cudaDataType */
} gemm_job;

static fr_status run_gemms(cublas_ref *r, void *ctx)
{
  gemm_job *j = (gemm_job *)ctx;
  for (int i = 0; i < j->n; i++)
    FR_TRY(blas_ok(j->half ? gemm_half(r, &j->g[i], (cudaDataType)j->half, j->a[i], j->b[i], j->c[i])
                           : gemm(r, &j->g[i], j->a[i], j->b[i], j->c[i]),
                   j->half ? "cuBLAS GemmEx" : "cuBLAS sgemm"));
  return FR_OK;
}

/* A device buffer of n floats, every byte 0x3c (each float about 0.0115: no zeros to run fast on). */
static fr_status buffer(int64_t n, float **p)
{
  FR_TRY(cuda_ok(cudaMalloc((void **)p, (size_t)n * sizeof(float)), "cudaMalloc"));
  return cuda_ok(cudaMemset(*p, 0x3c, (size_t)n * sizeof(float)), "cudaMemset");
}

static fr_status gemm_ms(cublas_ref *r, const op_gemm *g, int n, int half, int repeat, double *ms)
{
  gemm_job j = {g, n, {NULL, NULL}, {NULL, NULL}, {NULL, NULL}, half};
  fr_status st = n >= 1 && n <= 2 ? FR_OK : fr_fail(FR_EINVAL, "%d GEMMs, want 1 or 2", n);
  FR_TRY(cuda_ok(cudaSetDevice(r->device), "cudaSetDevice"));
  for (int i = 0; st == FR_OK && i < n; i++) {
    st = buffer(g[i].m * g[i].k * (g[i].a_shared ? 1 : g[i].batch), &j.a[i]);
    if (st == FR_OK) st = buffer(g[i].k * g[i].n * g[i].batch, &j.b[i]);
    if (st == FR_OK) st = buffer(g[i].m * g[i].n * g[i].batch, &j.c[i]);
  }
  if (st == FR_OK) st = time_events(r, run_gemms, &j, repeat, ms);
  for (int i = 0; i < 2; i++) cudaFree(j.a[i]), cudaFree(j.b[i]), cudaFree(j.c[i]);
  return st;
}

fr_status cublas_ref_gemm_ms(cublas_ref *r, const op_gemm *g, int n, int repeat, double *ms)
{
  return gemm_ms(r, g, n, 0, repeat, ms);
}

/* (the fp32 buffers are reused as half-precision ones: twice the room, the same 0x3c bytes, a finite value) */
fr_status cublas_ref_gemm_half_ms(cublas_ref *r, const op_gemm *g, int n, fr_dtype dtype, int repeat, double *ms)
{
  if (dtype != FR_F16 && dtype != FR_BF16) return fr_fail(FR_EINVAL, "half-precision GEMM: want F16 or BF16");
  FR_TRY(blas_ok(cublasSetMathMode(r->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
  fr_status st = gemm_ms(r, g, n, dtype == FR_F16 ? (int)CUDA_R_16F : (int)CUDA_R_16BF, repeat, ms);
  fr_status back = blas_ok(cublasSetMathMode(r->blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
  return st != FR_OK ? st : back;
}

typedef struct copy_job {
  void *src, *dst;
  size_t n;
} copy_job;

static fr_status run_copy(cublas_ref *r, void *ctx)
{
  copy_job *j = (copy_job *)ctx;
  return cuda_ok(cudaMemcpyAsync(j->dst, j->src, j->n, cudaMemcpyDeviceToDevice, r->stream), "cudaMemcpyAsync");
}

fr_status cublas_ref_copy_gbps(cublas_ref *r, int repeat, double *gbps)
{
  copy_job j = {NULL, NULL, (size_t)1 << 30};
  double ms = 0;
  FR_TRY(cuda_ok(cudaSetDevice(r->device), "cudaSetDevice"));
  fr_status st = cuda_ok(cudaMalloc(&j.src, j.n), "cudaMalloc of 1 GiB");
  if (st == FR_OK) st = cuda_ok(cudaMalloc(&j.dst, j.n), "cudaMalloc of 1 GiB");
  if (st == FR_OK) st = cuda_ok(cudaMemset(j.src, 0x3c, j.n), "cudaMemset");
  if (st == FR_OK) st = time_events(r, run_copy, &j, repeat, &ms);
  cudaFree(j.src), cudaFree(j.dst);
  if (st == FR_OK) *gbps = 2.0 * (double)j.n / (ms * 1e-3) * 1e-9;
  return st;
}
