/* Multi-head attention on the CPU. Canonical order, per (batch, head, query row i):
 *   s_j = dot(q_i, k_j) * scale, the dot product one fp32 accumulator from +0.0f, fmaf over ascending d;
 *   m = max_j s_j (exact; NaN scores are skipped); p_j = exp(s_j - m);
 *   l = sum of p_j over ascending j, one accumulator from +0.0f;
 *   o_d = (sum_j p_j v_jd, one accumulator from +0.0f, fmaf over ascending j) / l.
 * Only keys j <= i take part when causal. The denominator is a running sum (not the norms' tree)
 * because a GPU kernel that streams keys in order produces exactly this sum without keeping a row of
 * probabilities; the division by l comes last for the same reason. */
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "fractal/dmath.h"

#define QROWS 16 /* query rows per task; they share one transposed copy of the head's keys */

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

fr_status fr_cpu_attention(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                           const fr_tensor *v, const fr_attn_params *p, fr_tensor *y)
{
  FR_TRY(fr_pool_reserve(be->pool, attention_scratch(d)));
  attn_job job = {d, p, (const float *)q->data, (const float *)k->data, (const float *)v->data, (float *)y->data,
                  be->pool, (d->lq + QROWS - 1) / QROWS};
  fr_pool_run(be->pool, d->bq * d->heads * job.row_blocks, attention_task, &job);
  return FR_OK;
}
