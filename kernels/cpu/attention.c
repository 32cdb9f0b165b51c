/* Multi-head attention on the CPU. Canonical order, per (batch, head, query row i):
 *   s_j = dot(q_i, k_j) * scale, the dot product one fp32 accumulator from +0.0f, fmaf over ascending d;
 *   m = max_j s_j (exact; NaN scores are skipped); p_j = exp(s_j - m);
 *   l = sum of p_j over ascending j, one accumulator from +0.0f;
 *   o_d = (sum_j p_j v_jd, one accumulator from +0.0f, fmaf over ascending j) / l.
 * Only keys j <= i take part when causal. The denominator is a running sum (not the norms' tree)
 * because a GPU kernel that streams keys in order produces exactly this sum without keeping a row of
 * probabilities; the division by l comes last for the same reason.
 *
 * Non-causal attention runs as two blocked products through the GEMM micro-kernel (gemm.h), whose
 * accumulators are exactly these dot products: S = Q K^T for a block of queries against every key,
 * the row maxima, exponentials and running sums, then O = P V. Causal attention, where each row has
 * its own number of keys (a padded key would turn -0 into +0), runs row by row. */
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "fractal/dmath.h"
#include "gemm.h"

#define QROWS 16  /* query rows per task of the row-by-row path (causal attention) */
#define QBLOCK 96 /* query rows per task of the blocked path: 16 micro-kernel row panels */

typedef struct attn_job {
  const fr_attn_dims *d;
  const fr_attn_params *p;
  const float *q, *k, *v;
  float *y;
  fr_pool *pool;
  int64_t row_blocks;
} attn_job;

static size_t attention_scratch(const fr_attn_dims *d)
{
  return sizeof(float) * (size_t)(d->dk * d->lk + d->lk + d->dv);
}

FR_CPU_HOT static void attention_task(void *ctx, int64_t task, int thread)
{
  const attn_job *job = (const attn_job *)ctx;
  const fr_attn_dims *d = job->d;
  int64_t qb = task / (d->heads * job->row_blocks), rem = task % (d->heads * job->row_blocks);
  int64_t h = rem / job->row_blocks, i0 = (rem % job->row_blocks) * QROWS;
  int64_t kb = qb / job->p->kv_group;
  float *kt = (float *)fr_pool_scratch(job->pool, thread); /* [dk][lk]: this head's keys, transposed */
  float *s = kt + d->dk * d->lk;                           /* [lk]: one row of scores, then of p */
  float *o = s + d->lk;                                    /* [dv] */
  const float *kh = job->k + kb * d->lk * d->heads * d->dk + h * d->dk;
  const float *vh = job->v + kb * d->lk * d->heads * d->dv + h * d->dv;
  for (int64_t j = 0; j < d->lk; j++)
    for (int64_t c = 0; c < d->dk; c++) kt[c * d->lk + j] = kh[j * d->heads * d->dk + c];

  for (int64_t i = i0; i < i0 + QROWS && i < d->lq; i++) {
    const float *qi = job->q + (qb * d->lq + i) * d->heads * d->dk + h * d->dk;
    int64_t keys = job->p->causal ? i + 1 : d->lk;
    for (int64_t j = 0; j < keys; j++) s[j] = 0.0f;
    for (int64_t c = 0; c < d->dk; c++) {
      const float *kc = kt + c * d->lk;
      for (int64_t j = 0; j < keys; j++) s[j] = fmaf(qi[c], kc[j], s[j]);
    }
    float m = -INFINITY;
    for (int64_t j = 0; j < keys; j++) {
      s[j] = s[j] * job->p->scale;
      if (s[j] > m) m = s[j];
    }
    float l = 0.0f;
    for (int64_t j = 0; j < keys; j++) {
      s[j] = fr_dexp(s[j] - m);
      l = l + s[j];
    }
    for (int64_t c = 0; c < d->dv; c++) o[c] = 0.0f;
    for (int64_t j = 0; j < keys; j++) {
      const float *vj = vh + j * d->heads * d->dv;
      for (int64_t c = 0; c < d->dv; c++) o[c] = fmaf(s[j], vj[c], o[c]);
    }
    float *yi = job->y + (qb * d->lq + i) * d->heads * d->dv + h * d->dv;
    for (int64_t c = 0; c < d->dv; c++) yi[c] = o[c] / l;
  }
}

/* ---- the blocked path ---- */

static int64_t round16(int64_t n) { return (n + FR_GEMM_NR - 1) / FR_GEMM_NR * FR_GEMM_NR; }

static size_t blocked_scratch(const fr_attn_dims *d)
{
  int64_t lk16 = round16(d->lk), dv16 = round16(d->dv);
  return sizeof(float) * (size_t)(d->dk * lk16 + d->lk * dv16 + QBLOCK * d->dk + QBLOCK * lk16 + QBLOCK * d->lk +
                                  QBLOCK + FR_GEMM_MR * dv16);
}

/* dst[k][c] = src[k * ld + col0 + c] for c < 16 (zero past `cols`): 16 columns of a row-major matrix. */
static void pack_columns(const float *src, int64_t ld, int64_t rows, int64_t col0, int64_t cols, float *dst)
{
  int64_t n = cols - col0 < FR_GEMM_NR ? cols - col0 : FR_GEMM_NR;
  for (int64_t k = 0; k < rows; k++) {
    memcpy(dst + k * FR_GEMM_NR, src + k * ld + col0, sizeof(float) * (size_t)n);
    for (int64_t c = n; c < FR_GEMM_NR; c++) dst[k * FR_GEMM_NR + c] = 0.0f;
  }
}

/* One task: QBLOCK query rows of one (batch, head) against all its keys. */
FR_CPU_HOT static void blocked_task(void *ctx, int64_t task, int thread)
{
  const attn_job *job = (const attn_job *)ctx;
  const fr_attn_dims *d = job->d;
  const int64_t H = d->heads, dk = d->dk, dv = d->dv, lk = d->lk, lk16 = round16(lk), dv16 = round16(dv);
  int64_t qb = task / (H * job->row_blocks), rem = task % (H * job->row_blocks);
  int64_t h = rem / job->row_blocks, i0 = (rem % job->row_blocks) * QBLOCK;
  int64_t rows = d->lq - i0 < QBLOCK ? d->lq - i0 : QBLOCK, panels = (rows + FR_GEMM_MR - 1) / FR_GEMM_MR;
  int64_t kb = qb / job->p->kv_group;
  const float *qh = job->q + (qb * d->lq + i0) * H * dk + h * dk;
  const float *kh = job->k + kb * lk * H * dk + h * dk, *vh = job->v + kb * lk * H * dv + h * dv;
  float *kp = (float *)fr_pool_scratch(job->pool, thread); /* K^T panels: [lk16 / 16][dk][16] */
  float *vp = kp + dk * lk16;                              /* V panels: [dv16 / 16][lk][16] */
  float *qp = vp + lk * dv16;                              /* Q panels: [panels][dk][MR] */
  float *sc = qp + QBLOCK * dk;                            /* scores: [QBLOCK][lk16] */
  float *pp = sc + QBLOCK * lk16;                          /* P panels: [panels][lk][MR] */
  float *l = pp + QBLOCK * lk, *acc = l + QBLOCK;
  const fr_ukernels *u = fr_gemm_ukernels();
  for (int64_t c = 0; c < lk16; c += FR_GEMM_NR)
    fr_pack_rows(kh, FR_F32, H * dk, lk, c, 0, dk, FR_GEMM_NR, kp + c * dk);
  for (int64_t c = 0; c < dv16; c += FR_GEMM_NR) pack_columns(vh, H * dv, lk, c, dv, vp + c * lk);
  for (int64_t r = 0; r < panels; r++)
    fr_pack_rows(qh, FR_F32, H * dk, rows, r * FR_GEMM_MR, 0, dk, FR_GEMM_MR, qp + r * dk * FR_GEMM_MR);
  /* S = Q K^T: one accumulator per score, d ascending from +0 */
  for (int64_t r = 0; r < panels; r++)
    fr_ukernel_row(u, dk, qp + r * dk * FR_GEMM_MR, kp, sc + r * FR_GEMM_MR * lk16, lk16, lk16 / FR_GEMM_NR, 0);
  /* per row: scale, maximum, exponentials, the running sum; P stored as the next product's A panels */
  memset(pp, 0, sizeof(float) * (size_t)(panels * lk * FR_GEMM_MR));
  for (int64_t i = 0; i < rows; i++) {
    float *s = sc + i * lk16, m = -INFINITY, sum = 0.0f;
    for (int64_t j = 0; j < lk; j++) {
      s[j] = s[j] * job->p->scale;
      if (s[j] > m) m = s[j];
    }
    for (int64_t j = 0; j < lk; j++) s[j] = fr_dexp(s[j] - m);
    for (int64_t j = 0; j < lk; j++) sum = sum + s[j];
    l[i] = sum;
    float *panel = pp + (i / FR_GEMM_MR) * lk * FR_GEMM_MR + i % FR_GEMM_MR;
    for (int64_t j = 0; j < lk; j++) panel[j * FR_GEMM_MR] = s[j];
  }
  /* O = P V: one accumulator per output, keys ascending from +0; then y = o / l */
  float *yq = job->y + (qb * d->lq + i0) * H * dv + h * dv;
  for (int64_t r = 0; r < panels; r++) {
    fr_ukernel_row(u, lk, pp + r * lk * FR_GEMM_MR, vp, acc, dv16, dv16 / FR_GEMM_NR, 0);
    for (int64_t i = r * FR_GEMM_MR; i < rows && i < (r + 1) * FR_GEMM_MR; i++)
      for (int64_t cc = 0; cc < dv; cc++) yq[i * H * dv + cc] = acc[(i - r * FR_GEMM_MR) * dv16 + cc] / l[i];
  }
}

fr_status fr_cpu_attention(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                           const fr_tensor *v, const fr_attn_params *p, fr_tensor *y)
{
  attn_job job = {
      d, p, (const float *)q->data, (const float *)k->data, (const float *)v->data, (float *)y->data, cpu_pool(be), 0};
  if (!p->causal) {
    FR_TRY(fr_pool_reserve(cpu_pool(be), blocked_scratch(d)));
    job.row_blocks = (d->lq + QBLOCK - 1) / QBLOCK;
    fr_pool_run(cpu_pool(be), d->bq * d->heads * job.row_blocks, blocked_task, &job);
    return FR_OK;
  }
  FR_TRY(fr_pool_reserve(cpu_pool(be), attention_scratch(d)));
  job.row_blocks = (d->lq + QROWS - 1) / QROWS;
  fr_pool_run(cpu_pool(be), d->bq * d->heads * job.row_blocks, attention_task, &job);
  return FR_OK;
}
