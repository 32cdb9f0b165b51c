// linear, conv2d (implicit GEMM) and the frame-axis conv on the GPU: one register-tiled fp32 SIMT GEMM
// (kernels/cpu/gemm.h has the canonical order it must reproduce).
//
//   C[M][N] = A[M][K] B[K][N]: every output has one accumulator, starting at +0.0f, that takes
//   acc = fmaf(A[i][k], B[k][j], acc) for k = 0 .. K-1 in ascending order. Tiles of outputs are free;
//   along k the block walks ascending tiles of BK and the thread's registers carry the accumulators, so
//   nothing is split, reordered or padded: the last k tile runs only to K (a fmaf(0, 0, -0) would turn
//   -0 into +0). Zero padding of a convolution is a real +0.0f operand, as on the CPU.
//   Epilogue, as on the CPU: v = acc + bias; v = act(v); v = v + residual.
//
// A block computes a T x T tile of C with 256 threads, each an (T/16) x (T/16) register tile split into
// two halves per axis (rows ty*T/32 + i and T/2 + ty*T/32 + i, likewise columns), so that a warp's shared
// memory reads fall in distinct banks. A and B tiles of BK = 8 go through double-buffered shared memory:
// the next tile's global loads (vectorised where the layout allows) are in flight while the current one
// is multiplied, and one barrier per k tile separates the buffers.
//
//   op           A (M x K)              B (K x N)                                      batch (grid.z)
//   linear       x [M][K] f32           w^T: B[k][n] = w[n][k] (f32/f16/bf16)          1
//   conv2d       w [Cout][Cin*kh*kw]    im2col of image z: B[(ci*kh+ky)*kw+kx][p]      images
//   conv 1x1     w [Cout][Cin]          image z's planes: B[ci][p] = x[z][ci][p]       images
//   conv_frames  w [Cout][Cin*3]        B[ci*3+t][p] = x[z+t-1][ci][p], 0 off the video images
#include "cuda_common.cuh"
#include "fractal/act.h"

#define BK 8
#define GEMM_THREADS 256

enum b_mode { B_ROWS, B_PLANES, B_IM2COL, B_FRAMES };

typedef struct gemm_params {
  int64_t m, n, k;
  const void *a; // shared by every batch item (weights, or the one x of linear)
  fr_dtype adt;
  const void *b;
  fr_dtype bdt;
  int64_t b_batch;
  float *c;
  int64_t c_batch;
  const void *bias;
  fr_dtype bias_dt;
  int bias_per_row; // conv: bias[i]; linear: bias[j]
  fr_act act;
  const float *res; // same layout as C
  int a_vec, b_vec; // whole-chunk vector loads are aligned and in range
  // conv geometry (B_IM2COL, B_FRAMES)
  int64_t h, w, wo, kh, kw, frames;
  int stride, pad;
} gemm_params;

// Loads `count` consecutive elements (a multiple-of-count offset `idx`) of a f32/f16/bf16 array, `valid`
// of them in range (the rest read as +0.0f); whole aligned chunks as one vector load.
template <int COUNT>
__device__ __forceinline__ void load_chunk(const void *base, fr_dtype dt, int64_t idx, int valid, int vec, float *out)
{
  if (vec && valid == COUNT) {
    if (dt == FR_F32) {
      fr_load_f32s<COUNT>((const float *)base + idx, out);
    } else {
      uint16_t h[COUNT];
      fr_load_u16s<COUNT>((const uint16_t *)base + idx, h);
      FR_UNROLL
      for (int e = 0; e < COUNT; e++) out[e] = dt == FR_F16 ? fr_f16_to_f32(h[e]) : fr_bf16_to_f32(h[e]);
    }
    return;
  }
  FR_UNROLL
  for (int e = 0; e < COUNT; e++) out[e] = e < valid ? load_weight(dt, base, idx + e) : 0.0f;
}

template <int T> struct tile {
  static const int TM = T / 16;       // outputs per thread along each axis
  static const int KP = T * BK / 256; // elements each thread loads per tile of A (and of B)
  static const int ROW_LOADERS = BK / KP;
};

// A tile (T rows x BK) from a row-major [rows][K] matrix into registers: thread -> row tid / (BK/KP),
// KP consecutive k. Rows past the end read as zeros (their outputs are never stored).
template <int T>
__device__ __forceinline__ void load_rows(const void *src, fr_dtype dt, int64_t rows, int64_t k, int64_t row0,
                                          int64_t k0, int vec, float *r)
{
  const int KP = tile<T>::KP;
  int t = (int)threadIdx.x, row = t / tile<T>::ROW_LOADERS, kk = (t % tile<T>::ROW_LOADERS) * KP;
  int64_t gr = row0 + row, gk = k0 + kk;
  int valid = gr < rows ? (int)(k - gk < KP ? (k - gk > 0 ? k - gk : 0) : KP) : 0;
  load_chunk<KP>(src, dt, gr * k + gk, valid, vec, r);
}

template <int T> __device__ __forceinline__ void store_rows(float (*s)[T], const float *r)
{
  const int KP = tile<T>::KP;
  int t = (int)threadIdx.x, row = t / tile<T>::ROW_LOADERS, kk = (t % tile<T>::ROW_LOADERS) * KP;
  FR_UNROLL
  for (int e = 0; e < KP; e++) s[kk + e][row] = r[e];
}

// B tile (BK x T columns) for the pixel modes: thread -> k row tid / 32, KP consecutive pixels.
template <int MODE, int T>
__device__ __forceinline__ void load_pixels(const gemm_params &g, int64_t z, int64_t k0, int64_t col0,
                                            const int64_t *iy0, const int64_t *ix0, float *r)
{
  const int NP = tile<T>::KP;
  int t = (int)threadIdx.x, kr = t / 32, pc = (t % 32) * NP;
  int64_t gk = k0 + kr, p = col0 + pc;
  const float *x = (const float *)g.b;
  int64_t plane = g.h * g.w;
  if (gk >= g.k) {
    FR_UNROLL
    for (int e = 0; e < NP; e++) r[e] = 0.0f;
    return;
  }
  int valid = (int)(g.n - p < NP ? (g.n - p > 0 ? g.n - p : 0) : NP);
  if (MODE == B_PLANES) {
    load_chunk<NP>(x, FR_F32, z * g.b_batch + gk * plane + p, valid, g.b_vec, r);
  } else if (MODE == B_FRAMES) {
    int64_t ci = gk / 3, tt = gk % 3, f = z % g.frames + tt - 1;
    if (f < 0 || f >= g.frames) valid = 0;
    load_chunk<NP>(x, FR_F32, (z + tt - 1) * g.b_batch + ci * plane + p, valid, g.b_vec, r);
  } else { // B_IM2COL
    int64_t taps = g.kh * g.kw, ci = gk / taps, ky = gk % taps / g.kw, kx = gk % g.kw;
    const float *chan = x + z * g.b_batch + ci * plane;
    FR_UNROLL
    for (int e = 0; e < NP; e++) {
      int64_t iy = iy0[e] + ky, ix = ix0[e] + kx;
      r[e] = e < valid && iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? chan[iy * g.w + ix] : 0.0f;
    }
  }
}

template <int T> __device__ __forceinline__ void store_pixels(float (*s)[T], const float *r)
{
  const int NP = tile<T>::KP;
  int t = (int)threadIdx.x, kr = t / 32, pc = (t % 32) * NP;
  FR_UNROLL
  for (int e = 0; e < NP; e++) s[kr][pc + e] = r[e];
}

// Output row (or column) i of the thread's tile, within the block's T: two halves of TM/2.
template <int T> __device__ __forceinline__ int tile_pos(int lane16, int i)
{
  const int H = tile<T>::TM / 2;
  return i < H ? lane16 * H + i : T / 2 + lane16 * H + (i - H);
}

// One k of the tile: acc[i][j] = fmaf(A[row i][k], B[k][col j], acc[i][j]) for the thread's outputs.
template <int T>
__device__ __forceinline__ void multiply_add(const float *a_k, const float *b_k, int tx, int ty,
                                             float (*acc)[tile<T>::TM])
{
  const int TM = tile<T>::TM;
  float a[TM], b[TM];
  FR_UNROLL
  for (int i = 0; i < TM; i++) a[i] = a_k[tile_pos<T>(ty, i)], b[i] = b_k[tile_pos<T>(tx, i)];
  FR_UNROLL
  for (int i = 0; i < TM; i++) {
    FR_UNROLL
    for (int j = 0; j < TM; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
  }
}

template <int MODE, int T> __global__ void __launch_bounds__(GEMM_THREADS) gemm_kernel(gemm_params g)
{
  const int TM = tile<T>::TM, KP = tile<T>::KP;
  __shared__ __align__(16) float as[2][BK][T];
  __shared__ __align__(16) float bs[2][BK][T];
  int tx = (int)threadIdx.x % 16, ty = (int)threadIdx.x / 16;
  int64_t row0 = (int64_t)blockIdx.x * T, col0 = (int64_t)blockIdx.y * T, z = blockIdx.z;

  int64_t iy0[KP], ix0[KP]; // im2col: the thread's pixels' top-left input positions (fixed for the block)
  if (MODE == B_IM2COL) {
    FR_UNROLL
    for (int e = 0; e < KP; e++) {
      int64_t p = col0 + ((int)threadIdx.x % 32) * KP + e;
      iy0[e] = p < g.n ? (p / g.wo) * g.stride - g.pad : 0;
      ix0[e] = p < g.n ? (p % g.wo) * g.stride - g.pad : 0;
    }
  }

  float acc[TM][TM];
  FR_UNROLL
  for (int i = 0; i < TM; i++) {
    FR_UNROLL
    for (int j = 0; j < TM; j++) acc[i][j] = 0.0f;
  }

  float ra[KP], rb[KP];
  load_rows<T>(g.a, g.adt, g.m, g.k, row0, 0, g.a_vec, ra);
  if (MODE == B_ROWS) load_rows<T>(g.b, g.bdt, g.n, g.k, col0, 0, g.b_vec, rb);
  else load_pixels<MODE, T>(g, z, 0, col0, iy0, ix0, rb);
  store_rows<T>(as[0], ra);
  if (MODE == B_ROWS) store_rows<T>(bs[0], rb);
  else store_pixels<T>(bs[0], rb);
  __syncthreads();

  int buf = 0;
  for (int64_t k0 = 0; k0 < g.k; k0 += BK) {
    int more = k0 + BK < g.k;
    if (more) { // the next tile's loads overlap this tile's arithmetic
      load_rows<T>(g.a, g.adt, g.m, g.k, row0, k0 + BK, g.a_vec, ra);
      if (MODE == B_ROWS) load_rows<T>(g.b, g.bdt, g.n, g.k, col0, k0 + BK, g.b_vec, rb);
      else load_pixels<MODE, T>(g, z, k0 + BK, col0, iy0, ix0, rb);
    }
    int kmax = g.k - k0 < BK ? (int)(g.k - k0) : BK;
    if (kmax == BK) {
      FR_UNROLL
      for (int kk = 0; kk < BK; kk++) multiply_add<T>(as[buf][kk], bs[buf][kk], tx, ty, acc);
    } else { // the last, partial tile: exactly k0 .. K-1
      for (int kk = 0; kk < kmax; kk++) multiply_add<T>(as[buf][kk], bs[buf][kk], tx, ty, acc);
    }
    if (more) {
      store_rows<T>(as[buf ^ 1], ra);
      if (MODE == B_ROWS) store_rows<T>(bs[buf ^ 1], rb);
      else store_pixels<T>(bs[buf ^ 1], rb);
    }
    __syncthreads();
    buf ^= 1;
  }

  float *c = g.c + z * g.c_batch;
  const float *res = g.res ? g.res + z * g.c_batch : NULL;
  FR_UNROLL
  for (int i = 0; i < TM; i++) {
    int64_t gi = row0 + tile_pos<T>(ty, i);
    if (gi >= g.m) continue;
    FR_UNROLL
    for (int j = 0; j < TM; j++) {
      int64_t gj = col0 + tile_pos<T>(tx, j);
      if (gj >= g.n) continue;
      float v = acc[i][j];
      if (g.bias) v = v + load_weight(g.bias_dt, g.bias, g.bias_per_row ? gi : gj);
      if (g.act != FR_ACT_NONE) v = fr_act_apply(g.act, v);
      if (res) v = v + res[gi * g.n + gj];
      c[gi * g.n + gj] = v;
    }
  }
}

static int aligned(const void *p, size_t bytes) { return ((uintptr_t)p % bytes) == 0; }

template <int MODE, int T> static fr_status launch(fr_backend *be, gemm_params g, int64_t batch)
{
  const int KP = tile<T>::KP;
  size_t aes = fr_dtype_size(g.adt), bes = fr_dtype_size(g.bdt);
  g.a_vec = g.k % KP == 0 && aligned(g.a, KP * aes);
  if (MODE == B_ROWS) g.b_vec = g.k % KP == 0 && aligned(g.b, KP * bes);
  else g.b_vec = MODE != B_IM2COL && (g.h * g.w) % KP == 0 && aligned(g.b, KP * bes);
  dim3 grid((unsigned)((g.m + T - 1) / T), (unsigned)((g.n + T - 1) / T), (unsigned)batch);
  if (grid.y > 65535 || grid.z > 65535)
    return fr_fail(FR_EUNSUPPORTED, "GEMM of %lld x %lld over %lld images does not fit the grid", (long long)g.m,
                   (long long)g.n, (long long)batch);
  void (*gemm_kernel_mode_tile)(gemm_params) = gemm_kernel<MODE, T>; // (a template's commas would split the macro)
  FR_LAUNCH(gemm_kernel_mode_tile, grid, GEMM_THREADS, 0, cuda_of(be)->stream)(g);
  CUDA_LAUNCHED();
  return FR_OK;
}

// The 128 x 128 tile where there are enough outputs to keep it busy, 64 x 64 otherwise.
template <int MODE> static fr_status run(fr_backend *be, const gemm_params &g, int64_t batch)
{
  if (g.m == 0 || g.n == 0 || batch == 0) return FR_OK;
  if (g.m >= 128 && g.n >= 128) return launch<MODE, 128>(be, g, batch);
  return launch<MODE, 64>(be, g, batch);
}

static gemm_params params(const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y)
{
  gemm_params g;
  memset(&g, 0, sizeof g);
  g.c = (float *)y->data;
  g.bias = b ? b->data : NULL;
  g.bias_dt = b ? b->dtype : FR_F32;
  g.act = act;
  g.res = residual ? (const float *)residual->data : NULL;
  return g;
}

fr_status fr_cuda_linear(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_tensor *w,
                         const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y)
{
  gemm_params g = params(b, act, residual, y);
  g.m = d->m, g.n = d->n, g.k = d->k;
  g.a = x->data, g.adt = FR_F32, g.b = w->data, g.bdt = w->dtype, g.bias_per_row = 0;
  return run<B_ROWS>(be, g, 1);
}

static gemm_params conv_params(const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b,
                               const fr_tensor *residual, fr_tensor *y)
{
  gemm_params g = params(b, FR_ACT_NONE, residual, y);
  g.m = d->cout, g.n = d->ho * d->wo, g.a = w->data, g.adt = w->dtype;
  g.b = x->data, g.bdt = FR_F32, g.b_batch = d->cin * d->h * d->w, g.c_batch = d->cout * g.n, g.bias_per_row = 1;
  g.h = d->h, g.w = d->w, g.wo = d->wo, g.kh = d->kh, g.kw = d->kw, g.stride = d->stride, g.pad = d->pad;
  g.frames = d->frames;
  return g;
}

fr_status fr_cuda_conv2d(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                         const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  gemm_params g = conv_params(d, x, w, b, residual, y);
  g.k = d->cin * d->kh * d->kw;
  if (d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0) return run<B_PLANES>(be, g, d->n);
  return run<B_IM2COL>(be, g, d->n);
}

fr_status fr_cuda_conv_frames(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                              const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  gemm_params g = conv_params(d, x, w, b, residual, y);
  g.k = d->cin * 3;
  return run<B_FRAMES>(be, g, d->n);
}
