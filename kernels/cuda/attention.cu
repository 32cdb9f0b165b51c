// Multi-head attention on the GPU, in the CPU's canonical order (kernels/cpu/attention.c):
//   s_j = dot(q_i, k_j) * scale (one accumulator from +0.0f, fmaf over ascending d); m = max_j s_j
//   (NaN scores skipped); p_j = exp(s_j - m); l = p_0 + p_1 + ... in ascending j from +0.0f;
//   o = (sum_j fmaf(p_j, v_j, .) in ascending j from +0.0f) / l; causal rows see keys j <= i only.
// The CPU takes the maximum over all keys before the first exp, so there is no online rescaling:
// pass 1 streams the key tiles for the row maxima, pass 2 streams them again (the scores come out with
// the same bits) for the probabilities, the running sums and P.V. Masked keys are skipped, never
// multiplied by zero (a fmaf(0, v, -0) would turn -0 into +0).
//
// A block owns BQ = 16*RI query rows of one (batch, head) and DVC = 16*RC output columns; its 256
// threads are 16 x 16, thread (tx, ty) holding rows ty + 16i, keys tx + 16j and columns tx + 16c.
// Scores are computed over head-dim chunks of DC through shared memory; a key tile's probabilities
// and values sit in shared memory while each row's thread adds up its l and every thread its P.V.
#include "cuda_common.cuh"
#include "fractal/dmath.h"

#define ATT_THREADS 256
#define DC 16

typedef struct attn_args {
  const float *q, *k, *v;
  float *y;
  int64_t lq, lk, heads, dk, dv, dv_chunks;
  int kv_group, causal;
  float scale;
} attn_args;

template <int RI, int RJ> struct att_smem {
  float q[DC][16 * RI + 1];
  float k[DC][16 * RJ + 1];
};

// s[i][j] = scale * dot(q row, k row) for the thread's rows and keys of the tile starting at key j0.
template <int RI, int RJ>
__device__ __forceinline__ void scores(const attn_args &a, att_smem<RI, RJ> &sm, const float *qb, const float *kb,
                                       int64_t q0, int64_t j0, float (*s)[RJ])
{
  const int BQ = 16 * RI, BKV = 16 * RJ;
  int t = (int)threadIdx.x, tx = t % 16, ty = t / 16;
  int64_t stride = a.heads * a.dk;
  FR_UNROLL
  for (int i = 0; i < RI; i++) {
    FR_UNROLL
    for (int j = 0; j < RJ; j++) s[i][j] = 0.0f;
  }
  for (int64_t d0 = 0; d0 < a.dk; d0 += DC) {
    for (int e = t; e < BQ * DC; e += ATT_THREADS) {
      int r = e / DC, dd = e % DC;
      int64_t row = q0 + r, d = d0 + dd;
      sm.q[dd][r] = row < a.lq && d < a.dk ? qb[row * stride + d] : 0.0f;
    }
    for (int e = t; e < BKV * DC; e += ATT_THREADS) {
      int r = e / DC, dd = e % DC;
      int64_t key = j0 + r, d = d0 + dd;
      sm.k[dd][r] = key < a.lk && d < a.dk ? kb[key * stride + d] : 0.0f;
    }
    __syncthreads();
    int dmax = a.dk - d0 < DC ? (int)(a.dk - d0) : DC; // exactly the head dim: no zero-padded terms
    for (int dd = 0; dd < dmax; dd++) {
      float qv[RI], kv[RJ];
      FR_UNROLL
      for (int i = 0; i < RI; i++) qv[i] = sm.q[dd][ty + 16 * i];
      FR_UNROLL
      for (int j = 0; j < RJ; j++) kv[j] = sm.k[dd][tx + 16 * j];
      FR_UNROLL
      for (int i = 0; i < RI; i++) {
        FR_UNROLL
        for (int j = 0; j < RJ; j++) s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
      }
    }
    __syncthreads();
  }
  FR_UNROLL
  for (int i = 0; i < RI; i++) {
    FR_UNROLL
    for (int j = 0; j < RJ; j++) s[i][j] = s[i][j] * a.scale;
  }
}

// Keys query row i sees.
__device__ __forceinline__ int64_t keys_of(const attn_args &a, int64_t i)
{
  return a.causal ? (i + 1 < a.lk ? i + 1 : a.lk) : a.lk;
}

template <int RI, int RJ, int RC> __global__ void __launch_bounds__(ATT_THREADS) attention_kernel(attn_args a)
{
  const int BQ = 16 * RI, BKV = 16 * RJ, DVC = 16 * RC;
  __shared__ att_smem<RI, RJ> sm;
  __shared__ float ps[BKV][BQ + 1]; // probabilities of the key tile, key-major
  __shared__ float vs[BKV][DVC];    // the key tile's values, this block's columns
  __shared__ float ls[BQ];
  int t = (int)threadIdx.x, tx = t % 16, ty = t / 16;
  int64_t qtile = blockIdx.x / a.dv_chunks, chunk = blockIdx.x % a.dv_chunks;
  int64_t h = blockIdx.y, b = blockIdx.z, kbatch = b / a.kv_group;
  int64_t q0 = qtile * BQ, col0 = chunk * DVC;
  const float *qb = a.q + b * a.lq * a.heads * a.dk + h * a.dk;
  const float *kb = a.k + kbatch * a.lk * a.heads * a.dk + h * a.dk;
  const float *vb = a.v + kbatch * a.lk * a.heads * a.dv + h * a.dv;
  int64_t keys[RI];
  FR_UNROLL
  for (int i = 0; i < RI; i++) keys[i] = keys_of(a, q0 + ty + 16 * i);
  int64_t kend = keys_of(a, q0 + BQ - 1); // the most keys any row of the block sees

  // pass 1: each row's maximum score (exact in any order; NaN never wins a comparison)
  float m[RI], s[RI][RJ];
  FR_UNROLL
  for (int i = 0; i < RI; i++) m[i] = -INFINITY;
  for (int64_t j0 = 0; j0 < kend; j0 += BKV) {
    scores<RI, RJ>(a, sm, qb, kb, q0, j0, s);
    FR_UNROLL
    for (int i = 0; i < RI; i++) {
      FR_UNROLL
      for (int j = 0; j < RJ; j++)
        if (j0 + tx + 16 * j < keys[i] && s[i][j] > m[i]) m[i] = s[i][j];
    }
  }
  FR_UNROLL
  for (int i = 0; i < RI; i++) // the 16 threads of a row are one half of a warp
    for (int off = 8; off >= 1; off /= 2) {
      float o = __shfl_xor_sync(0xffffffffu, m[i], off);
      if (o > m[i]) m[i] = o;
    }

  // pass 2: probabilities, the running sum l (one thread per row), and P.V
  float l = 0.0f, o[RI][RC];
  FR_UNROLL
  for (int i = 0; i < RI; i++) {
    FR_UNROLL
    for (int c = 0; c < RC; c++) o[i][c] = 0.0f;
  }
  for (int64_t j0 = 0; j0 < kend; j0 += BKV) {
    scores<RI, RJ>(a, sm, qb, kb, q0, j0, s);
    FR_UNROLL
    for (int i = 0; i < RI; i++) {
      FR_UNROLL
      for (int j = 0; j < RJ; j++)
        ps[tx + 16 * j][ty + 16 * i] = j0 + tx + 16 * j < keys[i] ? fr_dexp(s[i][j] - m[i]) : 0.0f;
    }
    for (int e = t; e < BKV * DVC; e += ATT_THREADS) {
      int r = e / DVC, c = e % DVC;
      int64_t key = j0 + r, col = col0 + c;
      vs[r][c] = key < a.lk && col < a.dv ? vb[key * a.heads * a.dv + col] : 0.0f;
    }
    __syncthreads();
    if (t < BQ) {
      int64_t n = keys_of(a, q0 + t) - j0;
      n = n < 0 ? 0 : (n > BKV ? BKV : n);
      for (int c = 0; c < n; c++) l = l + ps[c][t];
    }
    int cmax[RI];
    FR_UNROLL
    for (int i = 0; i < RI; i++) {
      int64_t n = keys[i] - j0;
      cmax[i] = (int)(n < 0 ? 0 : (n > BKV ? BKV : n));
    }
    for (int c = 0; c < BKV; c++) {
      float vv[RC];
      FR_UNROLL
      for (int k = 0; k < RC; k++) vv[k] = vs[c][tx + 16 * k];
      FR_UNROLL
      for (int i = 0; i < RI; i++) {
        if (c >= cmax[i]) continue;
        float p = ps[c][ty + 16 * i];
        FR_UNROLL
        for (int k = 0; k < RC; k++) o[i][k] = fmaf(p, vv[k], o[i][k]);
      }
    }
    __syncthreads(); // ps and vs are refilled by the next tile
  }
  if (t < BQ) ls[t] = l;
  __syncthreads();
  FR_UNROLL
  for (int i = 0; i < RI; i++) {
    int64_t row = q0 + ty + 16 * i;
    if (row >= a.lq) continue;
    float *yr = a.y + (b * a.lq + row) * a.heads * a.dv + h * a.dv;
    FR_UNROLL
    for (int k = 0; k < RC; k++) {
      int64_t col = col0 + tx + 16 * k;
      if (col < a.dv) yr[col] = o[i][k] / ls[ty + 16 * i];
    }
  }
}

template <int RI, int RJ, int RC> static fr_status launch(fr_backend *be, attn_args a, const fr_attn_dims *d)
{
  const int BQ = 16 * RI, DVC = 16 * RC;
  a.dv_chunks = (d->dv + DVC - 1) / DVC;
  int64_t gx = (d->lq + BQ - 1) / BQ * a.dv_chunks;
  if (gx > 0x7fffffff || d->heads > 65535 || d->bq > 65535)
    return fr_fail(FR_EUNSUPPORTED, "attention over %lld batches x %lld heads does not fit the grid", (long long)d->bq,
                   (long long)d->heads);
  void (*attention_rows_keys_cols)(attn_args) = attention_kernel<RI, RJ, RC>; // (template commas split macros)
  FR_LAUNCH(attention_rows_keys_cols, dim3((unsigned)gx, (unsigned)d->heads, (unsigned)d->bq), ATT_THREADS, 0,
            cuda_of(be)->stream)
  (a);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_attention(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                            const fr_tensor *v, const fr_attn_params *p, fr_tensor *y)
{
  if (d->bq == 0 || d->lq == 0) return FR_OK;
  attn_args a;
  memset(&a, 0, sizeof a);
  a.q = (const float *)q->data, a.k = (const float *)k->data, a.v = (const float *)v->data, a.y = (float *)y->data;
  a.lq = d->lq, a.lk = d->lk, a.heads = d->heads, a.dk = d->dk, a.dv = d->dv;
  a.kv_group = p->kv_group, a.causal = p->causal, a.scale = p->scale;
  // short sequences (the temporal layers' 16 frames): 16 rows and 16 keys per tile
  if (d->lq <= 16 && d->lk <= 16) return launch<1, 1, 4>(be, a, d);
  return launch<4, 4, 4>(be, a, d);
}
