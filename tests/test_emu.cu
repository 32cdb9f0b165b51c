// The SIMT emulator itself (built only with -DFRACTAL_CUDA=emu): that it runs CUDA semantics (indices,
// barriers, shuffles, votes, atomics, dynamic shared memory, the floating-point mode), that the thread
// order really changes with FRACTAL_EMU_SCHED, that its integer tensor cores (nvcuda::wmma) give the exact
// sums, and that it reports the kernel bugs it promises to find (barrier divergence, deadlock, bad warp
// masks, bad launches, bad copies, misused wmma calls) instead of hanging.
#include <xmmintrin.h>

#include "check.h"
#include "kernels/cuda/cuda_common.cuh"

static float *dev_floats(size_t n)
{
  void *p = nullptr;
  if (cudaMalloc(&p, n * sizeof(float)) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    exit(1);
  }
  return (float *)p;
}

// A launch that must fail with `want`, and an emulator report containing `words`.
static void expect_failure(const char *what, cudaError_t want, const char *words)
{
  cudaError_t e = cudaGetLastError();
  CHECK(e == want, "%s: want %s, got %s", what, cudaGetErrorName(want), cudaGetErrorName(e));
  CHECK(strstr(fr_emu_last_report(), words) != nullptr, "%s: the report \"%s\" lacks \"%s\"", what,
        fr_emu_last_report(), words);
}

// ---- semantics ---------------------------------------------------------------------------------------
__global__ void index_kernel(unsigned *out)
{
  unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned per = blockDim.x * blockDim.y * blockDim.z;
  out[bx * per + tx] = bx * 1000 + tx;
}

static void test_indices(void)
{
  dim3 grid(3, 2, 2), block(5, 3, 2);
  unsigned n = 12 * 30, *d = nullptr, host[360];
  cudaMalloc(&d, n * sizeof(unsigned));
  FR_LAUNCH(index_kernel, grid, block, 0, 0)(d);
  CHECK(cudaGetLastError() == cudaSuccess, "index launch");
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  int bad = 0;
  for (unsigned i = 0; i < n; i++) bad += host[i] != (i / 30) * 1000 + i % 30;
  CHECK(bad == 0, "%d threads saw wrong indices", bad);
  cudaFree(d);
}

// A shared-memory tree sum with its barriers: the same answer in every thread order.
__global__ void tree_kernel(const float *x, float *out)
{
  __shared__ float p[256];
  unsigned t = threadIdx.x;
  p[t] = x[blockIdx.x * 256 + t];
  __syncthreads();
  for (unsigned s = 128; s >= 1; s /= 2) {
    if (t < s) p[t] = p[t] + p[t + s];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = p[0];
}

// The same tree with the barrier inside the loop removed: a race whose outcome follows the thread order.
__global__ void racy_tree_kernel(const float *x, float *out)
{
  __shared__ float p[256];
  unsigned t = threadIdx.x;
  p[t] = x[blockIdx.x * 256 + t];
  __syncthreads();
  for (unsigned s = 128; s >= 1; s /= 2)
    if (t < s) p[t] = p[t] + p[t + s];
  __syncthreads();
  if (t == 0) out[blockIdx.x] = p[0];
}

static void test_order_exposes_races(void)
{
  const int blocks = 4;
  float host[blocks * 256], want[blocks], got[blocks], racy[blocks];
  for (int i = 0; i < blocks * 256; i++) host[i] = (float)(i % 7) - 3.0f + 0.25f * (float)(i % 3);
  for (int b = 0; b < blocks; b++) { // the same tree on the host
    float p[256];
    memcpy(p, host + b * 256, sizeof p);
    for (int s = 128; s >= 1; s /= 2)
      for (int t = 0; t < s; t++) p[t] = p[t] + p[t + s];
    want[b] = p[0];
  }
  float *x = dev_floats(blocks * 256), *y = dev_floats(blocks);
  cudaMemcpy(x, host, sizeof host, cudaMemcpyHostToDevice);
  FR_LAUNCH(tree_kernel, blocks, 256, 0, 0)(x, y);
  cudaMemcpy(got, y, sizeof got, cudaMemcpyDeviceToHost);
  CHECK(memcmp(got, want, sizeof got) == 0, "the tree sum differs from the host's: %g vs %g", (double)got[0],
        (double)want[0]);
  FR_LAUNCH(racy_tree_kernel, blocks, 256, 0, 0)(x, y);
  cudaMemcpy(racy, y, sizeof racy, cudaMemcpyDeviceToHost);
  // forward order: thread 0 runs its whole loop before thread 1 starts, so it adds stale partials
  const char *order = fr_emu_sched_name();
  if (!strcmp(order, "fwd")) CHECK(memcmp(racy, want, sizeof racy) != 0, "the racy tree matched in the forward order");
  if (!strcmp(order, "rev")) CHECK(memcmp(racy, want, sizeof racy) == 0, "the racy tree differs in reverse order");
  cudaFree(x), cudaFree(y);
}

__global__ void shuffle_kernel(int *out)
{
  int lane = (int)(threadIdx.x % 32), w = (int)(threadIdx.x / 32);
  int *o = out + w * 32 * 8 + lane * 8;
  o[0] = __shfl_sync(0xffffffffu, lane * 10, 31 - lane);
  o[1] = __shfl_down_sync(0xffffffffu, lane * 10, 3);
  o[2] = __shfl_up_sync(0xffffffffu, lane * 10, 5);
  o[3] = __shfl_xor_sync(0xffffffffu, lane * 10, 6);
  o[4] = __shfl_down_sync(0xffffffffu, lane * 10, 3, 16);
  o[5] = (int)__ballot_sync(0xffffffffu, lane % 3 == 0);
  o[6] = __any_sync(0xffffffffu, lane == 17) + 2 * __all_sync(0xffffffffu, lane < 32);
  if (lane < 16) o[7] = (int)__shfl_sync(0x0000ffffu, (float)lane, 2, 8); // half warps, groups of 8 lanes
  else o[7] = -(int)__shfl_sync(0xffff0000u, (float)lane, 1, 8);
}

static void test_shuffles_and_votes(void)
{
  int *d = nullptr, h[2 * 32 * 8];
  cudaMalloc(&d, sizeof h);
  FR_LAUNCH(shuffle_kernel, 1, 64, 0, 0)(d);
  CHECK(cudaGetLastError() == cudaSuccess, "shuffle launch: %s", fr_emu_last_report());
  cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  int bad = 0;
  for (int w = 0; w < 2; w++)
    for (int l = 0; l < 32; l++) {
      const int *o = h + w * 256 + l * 8;
      int want[8] = {(31 - l) * 10,
                     l + 3 < 32 ? (l + 3) * 10 : l * 10,
                     l >= 5 ? (l - 5) * 10 : l * 10,
                     (l ^ 6) * 10,
                     (l % 16) + 3 < 16 ? (l + 3) * 10 : l * 10,
                     (int)ballot,
                     3,
                     l < 16 ? (l / 8) * 8 + 2 : -((l / 8) * 8 + 1)};
      for (int k = 0; k < 8; k++)
        if (o[k] != want[k]) {
          if (bad++ < 5) fprintf(stderr, "warp %d lane %d result %d: want %d, got %d\n", w, l, k, want[k], o[k]);
        }
    }
  CHECK(bad == 0, "%d shuffle or vote results are wrong", bad);
  cudaFree(d);
}

__global__ void dynamic_smem_kernel(float *out, int n)
{
  FR_DYNAMIC_SHARED(float, buf);
  for (int i = (int)threadIdx.x; i < n; i += (int)blockDim.x) buf[i] = (float)i * 0.5f;
  __syncthreads();
  for (int i = (int)threadIdx.x; i < n; i += (int)blockDim.x) out[i] = buf[n - 1 - i];
}

__global__ void count_kernel(int *counter) { atomicAdd(counter, 1); }

static void test_dynamic_smem_and_atomics(void)
{
  int n = 16000; // 64000 bytes: past the 48 KiB default, within sm_75's 64 KiB opt-in
  float *d = dev_floats((size_t)n);
  FR_LAUNCH(dynamic_smem_kernel, 1, 128, (size_t)n * 4, 0)(d, n);
  expect_failure("64000 bytes without opting in", cudaErrorInvalidConfiguration, "cudaFuncSetAttribute");
  CHECK(cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 70000) ==
            cudaErrorInvalidValue,
        "70000 bytes of shared memory accepted");
  cudaGetLastError();
  CHECK(cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n * 4) == cudaSuccess,
        "opting in to 64000 bytes");
  FR_LAUNCH(dynamic_smem_kernel, 1, 128, (size_t)n * 4, 0)(d, n);
  CHECK(cudaGetLastError() == cudaSuccess, "dynamic shared memory launch: %s", fr_emu_last_report());
  float *h = (float *)malloc((size_t)n * 4);
  cudaMemcpy(h, d, (size_t)n * 4, cudaMemcpyDeviceToHost);
  int bad = 0;
  for (int i = 0; i < n; i++) bad += h[i] != (float)(n - 1 - i) * 0.5f;
  CHECK(bad == 0, "%d values came back wrong through dynamic shared memory", bad);
  free(h);
  cudaFree(d);

  int *c = nullptr, got = 0;
  cudaMalloc(&c, sizeof(int));
  cudaMemset(c, 0, sizeof(int));
  FR_LAUNCH(count_kernel, dim3(37, 3), 96, 0, 0)(c);
  cudaMemcpy(&got, c, sizeof got, cudaMemcpyDeviceToHost);
  CHECK(got == 37 * 3 * 96, "atomicAdd counted %d threads, want %d", got, 37 * 3 * 96);
  cudaFree(c);
}

// x = 2^-126 * 0.75 is subnormal; x + x and x * 0.5 must keep it (no flush-to-zero), and 1 + 2^-24 is a
// tie that rounds to even (1.0): round-to-nearest, whatever mode the launching host thread is in.
__global__ void fp_mode_kernel(const float *in, float *out)
{
  float x = in[0];
  out[0] = x * 0.5f;
  out[1] = in[1] + in[2];
  out[2] = in[1] + in[3];
}

static void test_fp_mode_is_the_contracts(void)
{
  float in[4] = {0x1.8p-127f, 1.0f, 0x1p-24f, 0x1.8p-24f}, out[3], want[3];
  volatile float v0 = in[0], v1 = in[1], v2 = in[2], v3 = in[3];
  want[0] = v0 * 0.5f, want[1] = v1 + v2, want[2] = v1 + v3;
  float *d = dev_floats(4), *o = dev_floats(3);
  cudaMemcpy(d, in, sizeof in, cudaMemcpyHostToDevice);
  unsigned saved = _mm_getcsr();
  _mm_setcsr((saved & ~0x6000u) | 0x8040u | 0x4000u); // flush-to-zero, denormals-are-zero, round up
  FR_LAUNCH(fp_mode_kernel, 1, 1, 0, 0)(d, o);
  _mm_setcsr(saved);
  cudaMemcpy(out, o, sizeof out, cudaMemcpyDeviceToHost);
  CHECK(memcmp(out, want, sizeof out) == 0,
        "kernel arithmetic followed the host thread's mode: %a %a %a (want %a %a %a)", (double)out[0], (double)out[1],
        (double)out[2], (double)want[0], (double)want[1], (double)want[2]);
  CHECK(want[0] != 0.0f && want[1] == 1.0f && want[2] > 1.0f, "the test's expectations are wrong");
  cudaFree(d), cudaFree(o);
}

static void test_memory_rules(void)
{
  float *d = dev_floats(8), host[8];
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  uint32_t bits;
  memcpy(&bits, &host[3], 4);
  CHECK(bits == 0xffffffffu, "fresh device memory reads 0x%08x, want the NaN fill 0xffffffff", bits);
  CHECK(cudaMemcpy(host, d, sizeof host, cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
        "a device-to-host copy marked host-to-device was accepted");
  expect_failure("copy direction", cudaErrorInvalidValue, "marked host to device");
  CHECK(cudaMemcpy(d, host, 64, cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
        "a copy past the allocation was accepted");
  cudaGetLastError();
  CHECK(cudaFree(host) == cudaErrorInvalidValue, "cudaFree of host memory was accepted");
  cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && free_b < total_b, "cudaMemGetInfo");
  cudaFree(d);
}

// ---- the bugs it must find ---------------------------------------------------------------------
__global__ void divergent_barrier_kernel(float *y)
{
  if (threadIdx.x < 16) __syncthreads();
  else __syncthreads();
  y[threadIdx.x] = 1.0f;
}

__global__ void uneven_barrier_count_kernel(float *y)
{
  for (unsigned i = 0; i < 1 + threadIdx.x % 2; i++) __syncthreads();
  y[threadIdx.x] = 1.0f;
}

__global__ void exit_before_barrier_kernel(float *y)
{
  if (threadIdx.x == 5) return;
  __syncthreads();
  y[threadIdx.x] = 1.0f;
}

__global__ void warp_deadlock_kernel(float *y)
{
  if (threadIdx.x < 16) y[threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 0);
  else __syncthreads();
}

__global__ void short_warp_kernel(float *y) { y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1); }

__global__ void exited_lane_kernel(float *y)
{
  if (threadIdx.x == 3) return;
  y[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, 1);
}

__global__ void mask_without_self_kernel(float *y) { y[threadIdx.x] = __shfl_sync(0x1u, 2.0f, 0); }

__global__ void reads_outside_mask_kernel(float *y) { y[threadIdx.x] = __shfl_sync(0x0000ffffu, 2.0f, 20); }

__global__ void nested_launch_kernel(float *y)
{
  if (threadIdx.x == 0) FR_LAUNCH(short_warp_kernel, 1, 32, 0, 0)(y);
}

static void test_bugs_are_reported(void)
{
  float *y = dev_floats(64);
  FR_LAUNCH(divergent_barrier_kernel, 2, 32, 0, 0)(y);
  expect_failure("two barriers", cudaErrorLaunchFailure, "barrier divergence");
  FR_LAUNCH(uneven_barrier_count_kernel, 1, 32, 0, 0)(y);
  expect_failure("uneven barrier counts", cudaErrorLaunchFailure, "barrier divergence");
  FR_LAUNCH(exit_before_barrier_kernel, 1, 32, 0, 0)(y);
  expect_failure("exit before a barrier", cudaErrorLaunchFailure, "thread (5,0,0) has exited");
  FR_LAUNCH(warp_deadlock_kernel, 1, 32, 0, 0)(y);
  expect_failure("shuffle against a barrier", cudaErrorLaunchFailure, "deadlock");
  FR_LAUNCH(short_warp_kernel, 1, 20, 0, 0)(y);
  expect_failure("mask beyond the block", cudaErrorLaunchFailure, "does not exist");
  FR_LAUNCH(exited_lane_kernel, 1, 32, 0, 0)(y);
  expect_failure("mask naming an exited lane", cudaErrorLaunchFailure, "exited");
  FR_LAUNCH(mask_without_self_kernel, 1, 32, 0, 0)(y);
  expect_failure("mask without the caller", cudaErrorLaunchFailure, "does not name the calling lane");
  FR_LAUNCH(reads_outside_mask_kernel, 1, 16, 0, 0)(y);
  expect_failure("shuffle from outside the mask", cudaErrorLaunchFailure, "not in the mask");
  FR_LAUNCH(nested_launch_kernel, 1, 32, 0, 0)(y);
  expect_failure("a launch inside a kernel", cudaErrorLaunchFailure, "from inside a kernel");

  FR_LAUNCH(short_warp_kernel, 1, dim3(32, 33), 0, 0)(y);
  expect_failure("1056 threads", cudaErrorInvalidConfiguration, "1056 threads per block");
  FR_LAUNCH(short_warp_kernel, 1, 1025, 0, 0)(y);
  expect_failure("block.x 1025", cudaErrorInvalidConfiguration, "block dimension");
  FR_LAUNCH(short_warp_kernel, 1, dim3(1, 1, 65), 0, 0)(y);
  expect_failure("block.z 65", cudaErrorInvalidConfiguration, "block dimension");
  FR_LAUNCH(short_warp_kernel, dim3(1, 70000), 32, 0, 0)(y);
  expect_failure("grid.y 70000", cudaErrorInvalidConfiguration, "grid dimension");
  FR_LAUNCH(short_warp_kernel, 0, 32, 0, 0)(y);
  expect_failure("an empty grid", cudaErrorInvalidConfiguration, "zero dimension");
  FR_LAUNCH(short_warp_kernel, 1, 32, 0, (cudaStream_t)y)(y);
  expect_failure("a made-up stream", cudaErrorInvalidConfiguration, "stream");

  // a failure is not sticky: the next good launch works
  FR_LAUNCH(short_warp_kernel, 2, 32, 0, 0)(y);
  CHECK(cudaGetLastError() == cudaSuccess, "a good launch after failures: %s", fr_emu_last_report());
  cudaFree(y);
}

// ---- integer tensor cores (nvcuda::wmma, signed and unsigned char operands, int accumulators) ----------
namespace wmma = nvcuda::wmma;

// Warp 0: D = C + A0 B0 + A1 B1 with A row-major and B column-major, D stored row-major; warp 1 the same
// tiles read the other way round (A column-major, B row-major, C and D column-major). a, b: two 16 x 16
// tiles each (256 bytes apart, ldm 16); c, d: per warp a 16 x 16 int tile (ldm 16).
__global__ void wmma_s8_kernel(const signed char *a, const signed char *b, const int *c, int *d)
{
  int w = (int)threadIdx.x / 32;
  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc;
  if (w == 0) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> fb;
    wmma::load_matrix_sync(acc, c, 16, wmma::mem_row_major);
    for (int s = 0; s < 2; s++) {
      wmma::load_matrix_sync(fa, a + 256 * s, 16);
      wmma::load_matrix_sync(fb, b + 256 * s, 16);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
  } else {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::col_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::row_major> fb;
    wmma::load_matrix_sync(acc, c + 256, 16, wmma::mem_col_major);
    for (int s = 0; s < 2; s++) {
      wmma::load_matrix_sync(fa, a + 256 * s, 16);
      wmma::load_matrix_sync(fb, b + 256 * s, 16);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(d + 256, acc, 16, wmma::mem_col_major);
  }
}

// D = A B + (fill 7) on unsigned char operands.
__global__ void wmma_u8_kernel(const unsigned char *a, const unsigned char *b, int *d)
{
  wmma::fragment<wmma::matrix_a, 16, 16, 16, unsigned char, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, unsigned char, wmma::row_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc;
  wmma::fill_fragment(acc, 7);
  wmma::load_matrix_sync(fa, a, 16);
  wmma::load_matrix_sync(fb, b, 16);
  wmma::mma_sync(acc, fa, fb, acc);
  wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
}

// Element (r, c) of a 16 x 16 tile with leading dimension 16.
static int at16(int col_major, int r, int c) { return col_major ? c * 16 + r : r * 16 + c; }

static void test_integer_mma(void)
{
  signed char a[512], b[512];
  int c[512], want[512], got[512];
  uint64_t x = 0x2545f4914f6cdd1dull;
  for (int i = 0; i < 512; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    a[i] = (signed char)(x >> 8), b[i] = (signed char)(x >> 24), c[i] = (int)(x >> 40) - (1 << 23);
  }
  // the extremes: rows / columns of -128 and of 127 in both k tiles, whatever the layout reads
  for (int i = 0; i < 512; i++) {
    int tile = i / 256, r = i % 256 / 16, q = i % 16;
    if (r == 15 || q == 15) a[i] = 127, b[i] = tile ? -128 : 127;
    if (r == 0 || q == 0) a[i] = -128, b[i] = -128;
  }
  for (int w = 0; w < 2; w++) // warp 1 reads A column-major and B row-major: the transposed tiles
    for (int r = 0; r < 16; r++)
      for (int q = 0; q < 16; q++) {
        int64_t sum = c[256 * w + at16(w, r, q)];
        for (int s = 0; s < 2; s++)
          for (int k = 0; k < 16; k++) sum += (int64_t)a[256 * s + at16(w, r, k)] * b[256 * s + at16(!w, k, q)];
        want[256 * w + at16(w, r, q)] = (int)sum;
      }
  int64_t corner = 0; // warp 0, (0, 0): row 0 of A and column 0 of B are all -128
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 16; k++) corner += (int64_t)a[256 * s + k] * b[256 * s + 16 * 0 + k];
  CHECK(corner == 32 * 16384, "the test's corner is %lld, want 2^19", (long long)corner);
  signed char *da = nullptr, *db = nullptr;
  int *dc = nullptr, *dd = nullptr;
  cudaMalloc(&da, sizeof a), cudaMalloc(&db, sizeof b), cudaMalloc(&dc, sizeof c), cudaMalloc(&dd, sizeof got);
  cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b, sizeof b, cudaMemcpyHostToDevice);
  cudaMemcpy(dc, c, sizeof c, cudaMemcpyHostToDevice);
  FR_LAUNCH(wmma_s8_kernel, 1, 64, 0, 0)(da, db, dc, dd);
  CHECK(cudaGetLastError() == cudaSuccess, "integer mma launch: %s", fr_emu_last_report());
  cudaMemcpy(got, dd, sizeof got, cudaMemcpyDeviceToHost);
  int bad = 0;
  for (int i = 0; i < 512; i++)
    if (got[i] != want[i] && bad++ < 5) fprintf(stderr, "wmma s8: element %d: want %d, got %d\n", i, want[i], got[i]);
  CHECK(bad == 0, "%d integer mma sums are wrong", bad);

  unsigned char ua[256], ub[256];
  for (int i = 0; i < 256; i++) ua[i] = (unsigned char)(i % 16 == 3 ? 255 : i * 7), ub[i] = (unsigned char)(255 - i);
  for (int i = 0; i < 16; i++) ub[i * 16 + 5] = 255; // column 5 of B all 255
  unsigned char *dua = nullptr, *dub = nullptr;
  cudaMalloc(&dua, 256), cudaMalloc(&dub, 256);
  cudaMemcpy(dua, ua, 256, cudaMemcpyHostToDevice);
  cudaMemcpy(dub, ub, 256, cudaMemcpyHostToDevice);
  FR_LAUNCH(wmma_u8_kernel, 1, 32, 0, 0)(dua, dub, dd);
  CHECK(cudaGetLastError() == cudaSuccess, "unsigned mma launch: %s", fr_emu_last_report());
  cudaMemcpy(got, dd, 256 * sizeof(int), cudaMemcpyDeviceToHost);
  bad = 0;
  for (int r = 0; r < 16; r++)
    for (int q = 0; q < 16; q++) {
      int64_t sum = 7;
      for (int k = 0; k < 16; k++) sum += (int64_t)ua[r * 16 + k] * ub[k * 16 + q];
      bad += got[r * 16 + q] != sum;
    }
  CHECK(bad == 0, "%d unsigned mma sums are wrong", bad);
  cudaFree(da), cudaFree(db), cudaFree(dc), cudaFree(dd), cudaFree(dua), cudaFree(dub);
}

// The bugs: lanes that skip the call, other arguments per lane, a fragment never loaded, an int32
// overflow, a misaligned tile, a partial warp, lanes that feed different A fragments.
__global__ void wmma_bug_kernel(const signed char *a, int *d, int bug)
{
  int lane = (int)threadIdx.x % 32;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> fa[2];
  wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc;
  if (bug == 1 && lane >= 16) return;
  if (bug == 2 && lane >= 16) {
    __syncthreads();
    return;
  }
  wmma::load_matrix_sync(fa[0], a + (bug == 3 ? 32 * (lane % 2) : 0), 16);
  wmma::load_matrix_sync(fa[1], a + 256, 16);
  wmma::load_matrix_sync(fb, a + (bug == 6 ? 1 : 0), 16);
  if (bug != 4) wmma::fill_fragment(acc, bug == 5 ? 2147483000 : 0);
  wmma::mma_sync(acc, fa[bug == 8 ? lane % 2 : 0], fb, acc);
  wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
  if (bug == 2) __syncthreads();
}

static void test_integer_mma_bugs(void)
{
  signed char a[512];
  for (int i = 0; i < 512; i++) a[i] = (signed char)(i % 2 ? 127 : i / 2 % 7);
  signed char *da = nullptr;
  int *dd = nullptr;
  cudaMalloc(&da, sizeof a), cudaMalloc(&dd, 256 * sizeof(int));
  cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice);
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 0);
  CHECK(cudaGetLastError() == cudaSuccess, "the bug kernel without a bug: %s", fr_emu_last_report());
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 1);
  expect_failure("half a warp in wmma", cudaErrorLaunchFailure, "exited");
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 2);
  expect_failure("half a warp at a barrier", cudaErrorLaunchFailure, "deadlock");
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 3);
  expect_failure("a pointer per lane", cudaErrorLaunchFailure, "passes other arguments");
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 4);
  expect_failure("an accumulator never filled", cudaErrorLaunchFailure, "never loaded");
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 5);
  expect_failure("an int32 overflow", cudaErrorLaunchFailure, "outside int32");
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 6);
  expect_failure("a misaligned tile", cudaErrorLaunchFailure, "256-bit aligned");
  FR_LAUNCH(wmma_bug_kernel, 1, 48, 0, 0)(da, dd, 0);
  expect_failure("a partial warp", cudaErrorLaunchFailure, "does not exist");
  FR_LAUNCH(wmma_bug_kernel, 1, 32, 0, 0)(da, dd, 8);
  expect_failure("lanes with different A fragments", cudaErrorLaunchFailure, "holds another A fragment");
  cudaFree(da), cudaFree(dd);
}

// With AddressSanitizer: an out-of-bounds read, reported with the CUDA thread that made it.
__global__ void out_of_bounds_kernel(const float *x, float *y) { y[threadIdx.x] = x[threadIdx.x + 60]; }

int main(int argc, char **argv)
{
  if (argc > 1 && !strcmp(argv[1], "--out-of-bounds")) {
    float *x = dev_floats(64), *y = dev_floats(64);
    FR_LAUNCH(out_of_bounds_kernel, dim3(1, 2), 8, 0, 0)(x, y);
    printf("no out-of-bounds report (this build has no AddressSanitizer)\n");
    return 1;
  }
  printf("emulator thread order: %s\n", fr_emu_sched_name());
  test_indices();
  test_order_exposes_races();
  test_shuffles_and_votes();
  test_dynamic_smem_and_atomics();
  test_fp_mode_is_the_contracts();
  test_memory_rules();
  test_bugs_are_reported();
  test_integer_mma();
  test_integer_mma_bugs();
  return check_done("test_emu");
}
