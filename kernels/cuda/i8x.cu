// The GEMM-class ops of the exact-integer profile i8x-v1 on the GPU (fractal/i8x.h, docs/numerics.md,
// the CPU's kernels/cpu/i8x.c): linear, conv2d, the frame conv and attention on int8 tensor cores.
//
// Every op is a product of operand vectors: C[i][j] = result(sum_k A_i[k] B_j[k]), A_i an activation
// vector (a token's row, a conv patch, a frame window, a row of q or of p), B_j a quantized weight row or
// a row of k or column of v. Each vector has its own exponent (fr_i8x_exponent of its largest magnitude):
// a first kernel finds the activation vectors' exponents (one warp per vector; an integer maximum has no
// order), then the product kernel quantizes the operands as it loads them (fr_i8x_quantize), and sums
// exactly: each value A (|A| <= 2^14 - 1) is hi * 2^7 + lo with hi = A >> 7 in [-128, 127] and lo = A & 127
// in [0, 127], so
//   S = (sum hi_a hi_b) 2^14 + (sum hi_a lo_b + sum lo_a hi_b) 2^7 + sum lo_a lo_b,
// four int8 products on the tensor cores (wmma m16n16k16, signed char operands, int accumulators) in three
// int32 accumulators, each exact for K <= 65536 (|sum hi lo| + |sum lo hi| <= K * 2 * 128 * 127 < 2^31),
// combined in int64. Integer sums have no order, so the tiles, the k steps and the fragment layouts change
// no bit. Widths past 14 bits (B = 15, only for quality studies) or K past 65536 take a plain int64 loop
// instead. Then the result (fr_i8x_dot_result, the one rounding) and the f32-v1 epilogue as on the CPU:
// v = y + b; v = act(v); v = v + r (linear; the convs have no act); attention's scores s = result * scale,
// its output o = result / l.
//
// Attention runs per chunk of (batch, head) pairs through a scratch of scores: the score product, then one
// warp per query row for the maximum over the keys it sees, p = fr_dexp(s - m) in place (masked keys +0),
// the running sum l over ascending keys (one lane, as the CPU), and p's exponent over all Lk keys; then the
// P.V product over all Lk keys, v's columns quantized per column over all keys.
#include <stdlib.h>

#include "cuda_common.cuh"
#include "fractal/act.h"
#include "fractal/dmath.h"
#include "fractal/i8x.h"
#ifndef FR_CUDA_EMU
#include <mma.h>
#endif

namespace wmma = nvcuda::wmma;

#define TILE 64         // A vectors and B vectors per block
#define KSTEP 32        // k per shared-memory step (two wmma k16 steps)
#define TC_THREADS 128  // 4 warps, each 32 x 32 outputs
#define TC_MAX_K 65536  // the int32 accumulators are exact up to here
#define TC_MAX_BITS 14  // values split into two int8 slices
#define EXP_THREADS 256 // the exponent kernel: a warp per vector

enum src_mode { S_Q16, S_F32, S_IM2COL, S_FRAMES };
enum epi_mode { E_OUT, E_SCORES, E_PV };

// One side of a product: vector v, element k of batch item z.
//   S_Q16     int16 q[off + v * ld + k] (a quantized weight; e[v] its rows' exponents)
//   S_F32     float x[off + v * ld + k * ks], quantized with the vector's exponent e[eoff + v]
//   S_IM2COL  conv2d patch of output pixel v of image z: k = (ci * kh + ky) * kw + kx, +0 off the image
//   S_FRAMES  frame-conv window of pixel v of frame z: k = ci * 3 + t (frame z + t - 1), +0 off the video
// Batch item z (global, or the chunk's own index when `local`) is (b, h) = (z / heads, z % heads); its
// data starts at (b / group) * zs_b + h * zs_h and its exponents at ((b / group) * heads + h) * e_b.
typedef struct operand {
  int mode, local, heads, group;
  const void *p;
  const int32_t *e;
  int64_t ld, ks, zs_b, zs_h, e_b;
  int64_t cin, h, w, wo, kh, kw, frames; // S_IM2COL, S_FRAMES
  int stride, pad;
} operand;

typedef struct zpos {
  int64_t off, eoff, z;
} zpos;

__device__ __forceinline__ zpos locate(const operand &o, int64_t zg, int64_t zl)
{
  int64_t z = o.local ? zl : zg, b = z / o.heads, h = z % o.heads, bb = b / o.group;
  zpos r = {bb * o.zs_b + h * o.zs_h, (bb * o.heads + h) * o.e_b, z};
  return r;
}

// The float at (v, k) of a float operand, +0 for padding.
__device__ __forceinline__ float fetch_f32(const operand &o, const zpos &zp, int64_t v, int64_t k)
{
  const float *x = (const float *)o.p;
  if (o.mode == S_IM2COL) { // (k, v, the image's sides below 2^31: checked by conv_run)
    int kk = (int)k, taps = (int)(o.kh * o.kw), kw = (int)o.kw, wo = (int)o.wo, p = (int)v;
    int ci = kk / taps, ky = kk % taps / kw, kx = kk % kw;
    int iy = p / wo * o.stride - o.pad + ky, ix = p % wo * o.stride - o.pad + kx;
    if (iy < 0 || iy >= (int)o.h || ix < 0 || ix >= (int)o.w) return 0.0f;
    return x[zp.off + ((int64_t)ci * o.h + iy) * o.w + ix];
  }
  if (o.mode == S_FRAMES) {
    int kk = (int)k, ci = kk / 3, t = kk % 3, f = (int)(zp.z % o.frames) + t - 1;
    if (f < 0 || f >= (int)o.frames) return 0.0f;
    return x[zp.off + (t - 1) * o.zs_b + (int64_t)ci * o.h * o.w + v];
  }
  return x[zp.off + v * o.ld + k * o.ks];
}

// The quantized value at (v, k) for v < vectors, k < K.
__device__ __forceinline__ int32_t fetch_q(const operand &o, const zpos &zp, int64_t v, int64_t k, int bits)
{
  if (o.mode == S_Q16) return ((const int16_t *)o.p)[zp.off + v * o.ld + k];
  int32_t e = o.e[zp.eoff + v];
  if (e == FR_I8X_NONFINITE) return 0; // the result is NaN whatever the sum
  return fr_i8x_quantize(fetch_f32(o, zp, v, k), e, bits);
}

// ---- the exponents of the activation vectors: a warp per vector ----
__global__ void __launch_bounds__(EXP_THREADS)
    exponent_kernel(operand o, int64_t batches, int64_t vectors, int64_t k, int32_t *e)
{
  int64_t gv = ((int64_t)blockIdx.x * EXP_THREADS + threadIdx.x) / 32; // one vector per warp (whole warps)
  int lane = (int)(threadIdx.x % 32);
  int64_t z = gv / vectors, v = gv % vectors;
  uint32_t m = 0;
  zpos zp = {0, 0, 0};
  if (z < batches) {
    zp = locate(o, z, z);
    for (int64_t kk = lane; kk < k; kk += 32) {
      uint32_t a = fr_i8x_absbits(fetch_f32(o, zp, v, kk));
      m = a > m ? a : m;
    }
  }
  for (int off = 16; off >= 1; off /= 2) {
    uint32_t t = __shfl_xor_sync(0xffffffffu, m, off);
    m = t > m ? t : m;
  }
  if (z < batches && lane == 0) e[zp.eoff + v] = fr_i8x_exponent(m);
}

// ---- the product and its epilogue ----
typedef struct igemm {
  operand a, b;
  int64_t m, n, k; // A vectors, B vectors, their length
  int bits, epi;
  int64_t z0; // the global batch item of the launch's blockIdx.z = 0
  // where C[i][j] of item z goes: y[(z / y_heads) * y_zb + (z % y_heads) * y_zh + i * rs + j * cs]
  float *y;
  int y_local, y_heads;
  int64_t y_zb, y_zh, rs, cs;
  const void *bias; // E_OUT: bias[j], act, residual at y's index
  fr_dtype bias_dt;
  fr_act act;
  const float *res;
  float scale;    // E_SCORES
  const float *l; // E_PV: o / l[zl * m + i]
} igemm;

__device__ __forceinline__ void finish(const igemm &g, int64_t zl, int64_t i, int64_t j, int64_t s)
{
  int64_t zg = g.z0 + zl;
  zpos pa = locate(g.a, zg, zl), pb = locate(g.b, zg, zl);
  float v = fr_i8x_dot_result(s, g.a.e[pa.eoff + i], g.b.e[pb.eoff + j], g.bits);
  int64_t z = g.y_local ? zl : zg;
  int64_t at = z / g.y_heads * g.y_zb + z % g.y_heads * g.y_zh + i * g.rs + j * g.cs;
  if (g.epi == E_SCORES) {
    v = v * g.scale;
  } else if (g.epi == E_PV) {
    v = v / g.l[zl * g.m + i];
  } else {
    if (g.bias) v = v + load_weight(g.bias_dt, g.bias, j);
    if (g.act != FR_ACT_NONE) v = fr_act_apply(g.act, v);
    if (g.res) v = v + g.res[at];
  }
  g.y[at] = v;
}

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> frag_b;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, int> frag_c;

// Quantizes the KSTEP-wide slab k0.. of TILE vectors from v0 of one operand into shared memory as int8
// slices: hi[k / 16][v][k % 16] and lo likewise (k past K and vectors past the end as 0). Consecutive
// threads take consecutive k where the operand's k is contiguous, consecutive vectors otherwise.
template <int MODE>
__device__ __forceinline__ void load_slab(const operand &o, const zpos &zp, int64_t vectors, int64_t k, int64_t v0,
                                          int64_t k0, int bits, signed char (*shi)[TILE][16],
                                          signed char (*slo)[TILE][16])
{
  int kfast = MODE == S_Q16 || (MODE == S_F32 && o.ks == 1);
  for (int e = (int)threadIdx.x; e < TILE * KSTEP; e += TC_THREADS) {
    int v = kfast ? e / KSTEP : e % TILE, kk = kfast ? e % KSTEP : e / TILE;
    int32_t q = v0 + v < vectors && k0 + kk < k ? fetch_q(o, zp, v0 + v, k0 + kk, bits) : 0;
    shi[kk / 16][v][kk % 16] = (signed char)(q >> 7); // arithmetic shift: floor(q / 128) in [-128, 127]
    slo[kk / 16][v][kk % 16] = (signed char)(q & 127);
  }
}

template <int AMODE, int BMODE> __global__ void __launch_bounds__(TC_THREADS) tc_kernel(igemm g)
{
  __shared__ __align__(32) signed char ahi[KSTEP / 16][TILE][16], alo[KSTEP / 16][TILE][16];
  __shared__ __align__(32) signed char bhi[KSTEP / 16][TILE][16], blo[KSTEP / 16][TILE][16];
  __shared__ __align__(32) int sums[TC_THREADS / 32][3][16 * 16];
  int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32, wr = warp / 2, wc = warp % 2;
  int64_t i0 = (int64_t)blockIdx.x * TILE, j0 = (int64_t)blockIdx.y * TILE, zl = blockIdx.z, zg = g.z0 + zl;
  zpos pa = locate(g.a, zg, zl), pb = locate(g.b, zg, zl);

  frag_c hh[2][2], mid[2][2], ll[2][2];
  FR_UNROLL
  for (int i = 0; i < 2; i++) {
    FR_UNROLL
    for (int j = 0; j < 2; j++) {
      wmma::fill_fragment(hh[i][j], 0);
      wmma::fill_fragment(mid[i][j], 0);
      wmma::fill_fragment(ll[i][j], 0);
    }
  }
  for (int64_t k0 = 0; k0 < g.k; k0 += KSTEP) {
    __syncthreads(); // the previous step's fragments are loaded
    load_slab<AMODE>(g.a, pa, g.m, g.k, i0, k0, g.bits, ahi, alo);
    load_slab<BMODE>(g.b, pb, g.n, g.k, j0, k0, g.bits, bhi, blo);
    __syncthreads();
    FR_UNROLL
    for (int s = 0; s < KSTEP / 16; s++) {
      frag_a a_hi[2], a_lo[2];
      frag_b b_hi[2], b_lo[2];
      FR_UNROLL
      for (int i = 0; i < 2; i++) {
        wmma::load_matrix_sync(a_hi[i], &ahi[s][wr * 32 + i * 16][0], 16);
        wmma::load_matrix_sync(a_lo[i], &alo[s][wr * 32 + i * 16][0], 16);
        wmma::load_matrix_sync(b_hi[i], &bhi[s][wc * 32 + i * 16][0], 16);
        wmma::load_matrix_sync(b_lo[i], &blo[s][wc * 32 + i * 16][0], 16);
      }
      FR_UNROLL
      for (int i = 0; i < 2; i++) {
        FR_UNROLL
        for (int j = 0; j < 2; j++) {
          wmma::mma_sync(hh[i][j], a_hi[i], b_hi[j], hh[i][j]);
          wmma::mma_sync(mid[i][j], a_hi[i], b_lo[j], mid[i][j]);
          wmma::mma_sync(mid[i][j], a_lo[i], b_hi[j], mid[i][j]);
          wmma::mma_sync(ll[i][j], a_lo[i], b_lo[j], ll[i][j]);
        }
      }
    }
  }

  // each 16 x 16 block of the warp's outputs through shared memory: S = hh 2^14 + mid 2^7 + ll
  FR_UNROLL
  for (int i = 0; i < 2; i++) {
    FR_UNROLL
    for (int j = 0; j < 2; j++) {
      wmma::store_matrix_sync(sums[warp][0], hh[i][j], 16, wmma::mem_row_major);
      wmma::store_matrix_sync(sums[warp][1], mid[i][j], 16, wmma::mem_row_major);
      wmma::store_matrix_sync(sums[warp][2], ll[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        int64_t gi = i0 + wr * 32 + i * 16 + e / 16, gj = j0 + wc * 32 + j * 16 + e % 16;
        if (gi >= g.m || gj >= g.n) continue;
        int64_t s = (int64_t)sums[warp][0][e] * 16384 + (int64_t)sums[warp][1][e] * 128 + (int64_t)sums[warp][2][e];
        finish(g, zl, gi, gj, s);
      }
      __syncwarp(); // read before the next block overwrites them
    }
  }
}

// The plain exact loop, one output per thread: widths past 14 bits and K past TC_MAX_K.
template <int AMODE, int BMODE> __global__ void __launch_bounds__(256) plain_kernel(igemm g)
{
  int64_t i = (int64_t)blockIdx.x * 16 + threadIdx.x / 16, j = (int64_t)blockIdx.y * 16 + threadIdx.x % 16;
  int64_t zl = blockIdx.z, zg = g.z0 + zl;
  if (i >= g.m || j >= g.n) return;
  zpos pa = locate(g.a, zg, zl), pb = locate(g.b, zg, zl);
  int64_t s = 0;
  for (int64_t k = 0; k < g.k; k++) s += (int64_t)fetch_q(g.a, pa, i, k, g.bits) * fetch_q(g.b, pb, j, k, g.bits);
  finish(g, zl, i, j, s);
}

template <int AMODE, int BMODE> static fr_status run_product(fr_backend *be, const igemm &g, int64_t batch)
{
  if (g.m == 0 || g.n == 0 || batch == 0) return FR_OK;
  if (batch > 65535) return fr_fail(FR_EUNSUPPORTED, "an i8x product over %lld batch items", (long long)batch);
  cudaStream_t st = cuda_of(be)->stream;
  if (g.bits <= TC_MAX_BITS && g.k <= TC_MAX_K) {
    dim3 grid((unsigned)((g.m + TILE - 1) / TILE), (unsigned)((g.n + TILE - 1) / TILE), (unsigned)batch);
    if ((g.n + TILE - 1) / TILE > 65535)
      return fr_fail(FR_EUNSUPPORTED, "an i8x product of %lld columns", (long long)g.n);
    void (*tc_a_b)(igemm) = tc_kernel<AMODE, BMODE>; // (a template's commas would split the macro)
    FR_LAUNCH(tc_a_b, grid, TC_THREADS, 0, st)(g);
  } else {
    dim3 grid((unsigned)((g.m + 15) / 16), (unsigned)((g.n + 15) / 16), (unsigned)batch);
    if ((g.n + 15) / 16 > 65535) return fr_fail(FR_EUNSUPPORTED, "an i8x product of %lld columns", (long long)g.n);
    void (*plain_a_b)(igemm) = plain_kernel<AMODE, BMODE>;
    FR_LAUNCH(plain_a_b, grid, 256, 0, st)(g);
  }
  CUDA_LAUNCHED();
  return FR_OK;
}

// The exponents of `vectors` vectors of length k of each of `batches` items of o into e.
static fr_status run_exponents(fr_backend *be, operand o, int64_t batches, int64_t vectors, int64_t k, int32_t *e)
{
  int64_t total = batches * vectors, per = EXP_THREADS / 32, blocks = (total + per - 1) / per;
  if (!total) return FR_OK;
  if (blocks > 0x7fffffff) return fr_fail(FR_EUNSUPPORTED, "%lld i8x vectors", (long long)total);
  o.local = 0, o.group = 1;
  FR_LAUNCH(exponent_kernel, dim3((unsigned)blocks), EXP_THREADS, 0, cuda_of(be)->stream)(o, batches, vectors, k, e);
  CUDA_LAUNCHED();
  return FR_OK;
}

static operand weight_operand(const fr_qweight *w, int64_t k)
{
  operand o;
  memset(&o, 0, sizeof o);
  o.mode = S_Q16, o.heads = 1, o.group = 1, o.p = w->q.data, o.e = (const int32_t *)w->e.data, o.ld = k;
  return o;
}

static size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// ---- linear ----
fr_status fr_cuda_linear_i8x(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_qweight *w,
                             const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y)
{
  if (d->m == 0 || d->n == 0) return FR_OK;
  void *ws;
  FR_TRY(fr_cuda_workspace(be, sizeof(int32_t) * (size_t)d->m, &ws));
  igemm g;
  memset(&g, 0, sizeof g);
  g.a.mode = S_F32, g.a.heads = 1, g.a.group = 1, g.a.p = x->data, g.a.e = (const int32_t *)ws, g.a.ld = d->k;
  g.a.ks = 1;
  FR_TRY(run_exponents(be, g.a, 1, d->m, d->k, (int32_t *)ws));
  g.b = weight_operand(w, d->k);
  g.m = d->m, g.n = d->n, g.k = d->k, g.bits = w->bits, g.epi = E_OUT;
  g.y = (float *)y->data, g.y_heads = 1, g.rs = d->n, g.cs = 1;
  g.bias = b ? b->data : NULL, g.bias_dt = b ? b->dtype : FR_F32, g.act = act;
  g.res = residual ? (const float *)residual->data : NULL;
  return run_product<S_F32, S_Q16>(be, g, 1);
}

// ---- conv2d and the frame conv: A is the patches of image z ----
static fr_status conv_run(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                          const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  int64_t pixels = d->ho * d->wo, k = d->frames ? 3 * d->cin : d->cin * d->kh * d->kw;
  if (d->n == 0 || pixels == 0 || d->cout == 0) return FR_OK;
  if (k > INT32_MAX || pixels > INT32_MAX || d->h * d->w > INT32_MAX)
    return fr_fail(FR_EUNSUPPORTED, "an i8x conv of %lld pixels and K = %lld", (long long)pixels, (long long)k);
  void *ws;
  FR_TRY(fr_cuda_workspace(be, sizeof(int32_t) * (size_t)(d->n * pixels), &ws));
  igemm g;
  memset(&g, 0, sizeof g);
  operand &a = g.a;
  a.mode = d->frames ? S_FRAMES : S_IM2COL, a.heads = 1, a.group = 1, a.p = x->data, a.e = (const int32_t *)ws;
  a.zs_b = d->cin * d->h * d->w, a.e_b = pixels;
  a.cin = d->cin, a.h = d->h, a.w = d->w, a.wo = d->wo, a.kh = d->kh, a.kw = d->kw, a.frames = d->frames;
  a.stride = d->stride, a.pad = d->pad;
  FR_TRY(run_exponents(be, a, d->n, pixels, k, (int32_t *)ws));
  g.b = weight_operand(w, k);
  g.m = pixels, g.n = d->cout, g.k = k, g.bits = w->bits, g.epi = E_OUT;
  g.y = (float *)y->data, g.y_heads = 1, g.y_zb = d->cout * pixels, g.rs = 1, g.cs = pixels;
  g.bias = b ? b->data : NULL, g.bias_dt = b ? b->dtype : FR_F32, g.act = FR_ACT_NONE;
  g.res = residual ? (const float *)residual->data : NULL;
  if (d->frames) return run_product<S_FRAMES, S_Q16>(be, g, d->n);
  return run_product<S_IM2COL, S_Q16>(be, g, d->n);
}

fr_status fr_cuda_conv2d_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                             const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  return conv_run(be, d, x, w, b, residual, y);
}

fr_status fr_cuda_conv_frames_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                                  const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  return conv_run(be, d, x, w, b, residual, y);
}

// ---- attention ----
// One warp per query row of the chunk: the maximum over the keys the row sees, p = fr_dexp(s - m) in
// place (+0 for masked keys), l = p_0 + p_1 + ... from +0.0f (lane 0, ascending keys), and the exponent
// of the row of p over all lk keys.
__global__ void __launch_bounds__(EXP_THREADS)
    softmax_rows_kernel(float *s, int64_t rows, int64_t lq, int64_t lk, int causal, float *l, int32_t *ep)
{
  int64_t row = ((int64_t)blockIdx.x * EXP_THREADS + threadIdx.x) / 32;
  int lane = (int)(threadIdx.x % 32);
  int live = row < rows;
  int64_t i = live ? row % lq : 0, keys = causal ? (i + 1 < lk ? i + 1 : lk) : lk;
  float *sr = s + (live ? row : 0) * lk;
  float m = -INFINITY;
  if (live)
    for (int64_t j = lane; j < keys; j += 32)
      if (sr[j] > m) m = sr[j]; // NaN never wins a comparison
  for (int off = 16; off >= 1; off /= 2) {
    float o = __shfl_xor_sync(0xffffffffu, m, off);
    if (o > m) m = o;
  }
  uint32_t mx = 0;
  if (live)
    for (int64_t j = lane; j < lk; j += 32) {
      float p = j < keys ? fr_dexp(sr[j] - m) : 0.0f;
      sr[j] = p;
      uint32_t a = fr_i8x_absbits(p);
      mx = a > mx ? a : mx;
    }
  for (int off = 16; off >= 1; off /= 2) {
    uint32_t t = __shfl_xor_sync(0xffffffffu, mx, off);
    mx = t > mx ? t : mx;
  }
  __syncwarp(); // the lanes' p are written before lane 0 adds them up
  if (live && lane == 0) {
    float sum = 0.0f;
    for (int64_t j = 0; j < keys; j++) sum = sum + sr[j];
    l[row] = sum;
    ep[row] = fr_i8x_exponent(mx);
  }
}

// The scores of a chunk of (batch, head) pairs: 64 MiB, or FRACTAL_I8X_ATT_SCRATCH floats (tests/test_cuda.c
// makes chunks small to cover them; the bits never depend on the chunks).
static int64_t att_scratch_floats(void)
{
  const char *v = getenv("FRACTAL_I8X_ATT_SCRATCH");
  long long n = v ? atoll(v) : 0;
  return n > 0 ? (int64_t)n : (int64_t)1 << 24;
}

fr_status fr_cuda_attention_i8x(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                                const fr_tensor *v, const fr_attn_params *p, int bits, fr_tensor *y)
{
  const int64_t H = d->heads, lq = d->lq, lk = d->lk, dk = d->dk, dv = d->dv;
  if (d->bq == 0 || lq == 0) return FR_OK;
  int64_t pairs = d->bq * H, per = lq * lk, chunk = att_scratch_floats() / per;
  chunk = chunk < 1 ? 1 : chunk > pairs ? pairs : chunk > 65535 ? 65535 : chunk;
  size_t o_eq = 0, o_ek = o_eq + align256(sizeof(int32_t) * (size_t)(pairs * lq));
  size_t o_ev = o_ek + align256(sizeof(int32_t) * (size_t)(d->bk * H * lk));
  size_t o_ep = o_ev + align256(sizeof(int32_t) * (size_t)(d->bk * H * dv));
  size_t o_l = o_ep + align256(sizeof(int32_t) * (size_t)(chunk * lq));
  size_t o_s = o_l + align256(sizeof(float) * (size_t)(chunk * lq));
  size_t total = o_s + sizeof(float) * (size_t)(chunk * per);
  char *ws;
  FR_TRY(fr_cuda_workspace(be, total, (void **)&ws));
  int32_t *eq = (int32_t *)(ws + o_eq), *ek = (int32_t *)(ws + o_ek), *ev = (int32_t *)(ws + o_ev);
  int32_t *ep = (int32_t *)(ws + o_ep);
  float *l = (float *)(ws + o_l), *sc = (float *)(ws + o_s);

  operand oq, ok, ov, op;
  memset(&oq, 0, sizeof oq);
  oq.mode = S_F32, oq.heads = (int)H, oq.group = 1, oq.p = q->data, oq.e = eq, oq.ld = H * dk, oq.ks = 1;
  oq.zs_b = lq * H * dk, oq.zs_h = dk, oq.e_b = lq;
  ok = oq;
  ok.group = p->kv_group, ok.p = k->data, ok.e = ek, ok.zs_b = lk * H * dk, ok.e_b = lk;
  ov = oq; // v's columns: vector c, element (key) j at v[j * H * dv + c]
  ov.group = p->kv_group, ov.p = v->data, ov.e = ev, ov.ld = 1, ov.ks = H * dv, ov.zs_b = lk * H * dv, ov.zs_h = dv;
  ov.e_b = dv;
  op = oq; // the chunk's rows of p
  op.local = 1, op.heads = 1, op.p = sc, op.e = ep, op.ld = lk, op.zs_b = per, op.zs_h = 0, op.e_b = lq;
  FR_TRY(run_exponents(be, oq, pairs, lq, dk, eq));
  FR_TRY(run_exponents(be, ok, d->bk * H, lk, dk, ek));
  FR_TRY(run_exponents(be, ov, d->bk * H, dv, lk, ev));

  for (int64_t z0 = 0; z0 < pairs; z0 += chunk) {
    int64_t nz = pairs - z0 < chunk ? pairs - z0 : chunk;
    igemm g;
    memset(&g, 0, sizeof g);
    g.a = oq, g.b = ok, g.m = lq, g.n = lk, g.k = dk, g.bits = bits, g.epi = E_SCORES, g.z0 = z0;
    g.y = sc, g.y_local = 1, g.y_heads = 1, g.y_zb = per, g.rs = lk, g.cs = 1, g.scale = p->scale;
    FR_TRY((run_product<S_F32, S_F32>(be, g, nz)));

    int64_t rows = nz * lq, blocks = (rows + EXP_THREADS / 32 - 1) / (EXP_THREADS / 32);
    FR_LAUNCH(softmax_rows_kernel, dim3((unsigned)blocks), EXP_THREADS, 0, cuda_of(be)->stream)
    (sc, rows, lq, lk, p->causal, l, ep);
    CUDA_LAUNCHED();

    memset(&g, 0, sizeof g);
    g.a = op, g.b = ov, g.m = lq, g.n = dv, g.k = lk, g.bits = bits, g.epi = E_PV, g.z0 = z0, g.l = l;
    g.y = (float *)y->data, g.y_heads = (int)H, g.y_zb = lq * H * dv, g.y_zh = dv, g.rs = H * dv, g.cs = 1;
    FR_TRY((run_product<S_F32, S_F32>(be, g, nz)));
  }
  return FR_OK;
}
