/* References for fractal-bench in real CUDA builds: cuBLAS fp32 GEMMs with TF32 off (CUBLAS_PEDANTIC_MATH)
 * and fp16/bf16 tensor-core GEMMs on an op case's GEMMs, and the device's copy bandwidth, all timed with CUDA
 * events. */
#ifndef FRACTAL_PERF_CUBLAS_REF_H
#define FRACTAL_PERF_CUBLAS_REF_H

#include "op_cases.h"

typedef struct cublas_ref cublas_ref;

fr_status cublas_ref_open(int device, cublas_ref **out);
void cublas_ref_close(cublas_ref *r);

/* Runs the GEMMs g[0..n-1] back to back (cublasSgemm, or cublasSgemmStridedBatched for a batch) on
 * buffers of their size: the median of repeat timed runs after one warm-up, in milliseconds. */
fr_status cublas_ref_gemm_ms(cublas_ref *r, const op_gemm *g, int n, int repeat, double *ms);

/* The same GEMMs on the tensor cores in half precision, as other video pipelines run them: dtype FR_F16 or
 * FR_BF16 operands, fp32 output and fp32 accumulation (cublasGemmEx / cublasGemmStridedBatchedEx,
 * CUBLAS_COMPUTE_32F, the default math mode). */
fr_status cublas_ref_gemm_half_ms(cublas_ref *r, const op_gemm *g, int n, fr_dtype dtype, int repeat, double *ms);

/* cudaMemcpy device to device of 1 GiB: the median of repeat copies, in GB/s counting the bytes read and
 * the bytes written (as fractal-bench counts an op's bytes). */
fr_status cublas_ref_copy_gbps(cublas_ref *r, int repeat, double *gbps);

#endif
