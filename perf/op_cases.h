/* One table of op cases, shared by the bitwise backend test (tests/test_cuda.c) and fractal-bench's op mode:
 * a case builds its inputs on any backend from the same deterministic host bytes, runs one op, downloads
 * its outputs, and knows its work (FLOPs, minimum bytes moved) and, for the GEMM-class ops, its GEMMs. */
#ifndef FRACTAL_PERF_OP_CASES_H
#define FRACTAL_PERF_OP_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/backend.h"

typedef enum op_kind {
  OP_LINEAR,
  OP_CONV2D,
  OP_CONV_FRAMES,
  OP_GROUP_NORM,
  OP_GN_PARTIALS,
  OP_GN_APPLY,
  OP_COPY_REGION,
  OP_LAYER_NORM,
  OP_SOFTMAX,
  OP_ATTENTION,
  OP_ACTIVATE,
  OP_GEGLU,
  OP_UPSAMPLE,
  OP_CONCAT,
  OP_ADD,
  OP_SCALE,
  OP_PERMUTE,
  OP_EMBEDDING,
  OP_TIMESTEP,
  OP_FILL_NORMAL,
  OP_GUIDANCE,
  OP_DDIM,
  OP_DPM_X0,
  OP_DPM_UPDATE,
  OP_FRAMES_U8,
  OP_KIND_COUNT
} op_kind;

/* How input values are drawn. "Data" are activations (x, q, k, v, a, ...); "weights" are w, b, gamma, beta,
 * embedding tables and the given GroupNorm statistics. */
typedef enum op_fill {
  FILL_UNIFORM,   /* both uniform in [-1, 1) */
  FILL_WIDE,      /* data uniform in [-40, 40): exp under- and overflow, saturated activations */
  FILL_OFFSET,    /* data 300 + uniform [-1, 1): a large mean against the norms' variance pass */
  FILL_TINY,      /* both +-1e-30: every product underflows to a signed zero (F16 weights become +-0) */
  FILL_SUBNORMAL, /* data subnormal (+-2^-126 .. 2^-149), weights uniform: subnormal products */
  FILL_SPECIAL,   /* both uniform with NaN, +Inf, -Inf, -0, +0, a subnormal and FLT_MAX at a few places */
} op_fill;

/* Case flags. */
enum {
  F_BIAS = 1 << 0,       /* linear, conv: a bias */
  F_RESIDUAL = 1 << 1,   /* linear, conv: a residual */
  F_AFFINE = 1 << 2,     /* norms: gamma and beta */
  F_CAUSAL = 1 << 3,     /* attention */
  F_MEAN = 1 << 4,       /* group_norm_partials: squared deviations from a given mean */
  F_V01 = 1 << 5,        /* frames_u8: also the clamped values */
  F_FLIP = 1 << 6,       /* timestep_embedding: flip_sin_to_cos */
  F_VPRED = 1 << 7,      /* scheduler ops: v-prediction */
  F_CLIP = 1 << 8,       /* DDIM: clip x0 to [-1, 1] */
  F_SECOND = 1 << 9,     /* DPM update: second order (m1) */
  F_W3 = 1 << 10,        /* conv_frames: w [Cout, Cin, 3] instead of [Cout, Cin, 3, 1, 1] */
  F_TRANSPOSE = 1 << 11, /* copy_region: the destination is the region transposed */
  F_PREFIX = 1 << 12,    /* add: b is a prefix of a's shape (else a suffix, or all of it) */
  F_IMAGES = 1 << 13,    /* d[0] is the batch of OP_BENCH_IMAGES frame-images: -n scales it in proportion */
};

enum { TAG_TEST = 1, TAG_SLOW = 2, TAG_BENCH = 4 };

#define OP_BENCH_IMAGES 32 /* the UNet's batch: guidance halves x 16 frames */

/* d by op (a "shape" is up to 6 dims ended by the first 0):
 *   linear          {batch, rows, n, k}: x [batch, rows, k], w [n, k]
 *   conv2d          {n, cin, h, w, cout, kernel, stride, pad}
 *   conv_frames     {n, cin, h, w, cout, frames}
 *   group_norm      {n, c, h, w, groups, frames}        eps = s
 *   gn_partials     {n, c, h, w, groups}
 *   gn_apply        {n, c, h, w, groups}
 *   copy_region     {a, b, c, pad}: an [a, b, c] block of a [a+pad, b+pad, c+pad] source, into [a, b, c]
 *                   (F_TRANSPOSE: written as [c, b, a])
 *   layer_norm      shape, normalised over the last dim; eps = s
 *   softmax, activate, scale (by s), guidance (s), ddim, dpm_x0, dpm_update: shape
 *   fill_normal     shape; seed: a hash of the name, stream = arg
 *   attention       {bq, lq, lk, heads, dk, dv, kv_group}
 *   geglu           h's shape (last dim even)
 *   upsample        {n, c, h, w, ho, wo}
 *   concat          a's shape; b has arg2 along dim arg
 *   add             a's shape; b is a's last arg dims, or its first arg dims with F_PREFIX (arg 0: a's shape)
 *   permute         x's shape, perm
 *   embedding       {ids, rows, dim}
 *   timestep        {n, dim}; shift = s, max_period 10000
 *   frames_u8       {n, c, h, w} */
typedef struct op_case {
  const char *name;
  op_kind op;
  int64_t d[8];
  fr_dtype wdt; /* the weights' dtype (also add's b); the element dtype of concat and permute */
  unsigned flags;
  op_fill fill;
  unsigned tags;
  fr_act act;
  float s;
  int arg, arg2;
  int perm[FR_MAX_DIMS];
} op_case;

extern const op_case op_cases[];
extern const int op_case_count;

const char *op_kind_name(op_kind k); /* "linear", "conv2d", ... */

#define OP_MAX_IN 5
#define OP_MAX_OUT 2

/* A case set up on one backend. */
typedef struct op_inst {
  const op_case *c;
  fr_backend *be;
  int64_t d[8];                             /* the case's d with the batch scaled to the images asked for */
  int frames;                               /* conv_frames, group_norm: frames per video, fitted to the batch */
  int kv_group;                             /* attention */
  fr_tensor in[OP_MAX_IN], out[OP_MAX_OUT]; /* on be; absent ones have no data */
  fr_tensor ids;                            /* embedding: host I32 */
  float *t;                                 /* timestep: host times */
  int64_t src_strides[3], dst_strides[3], src_off, dst_off; /* copy_region */
  int i8x_bits;                                             /* > 0: GEMM-class ops run in i8x (op_use_i8x) */
  fr_qweight qw;                                            /* linear and convs under i8x: in[1] quantized */
} op_inst;

/* Host copies of an instance's outputs. */
typedef struct op_result {
  int n;
  fr_dtype dtype[OP_MAX_OUT];
  int64_t count[OP_MAX_OUT];
  void *data[OP_MAX_OUT];
} op_result;

/* Allocates and fills case c's inputs on be (and its outputs with a fixed pattern); images > 0 rescales
 * the batch of an F_IMAGES case to that many frame-images. On failure nothing stays allocated. be NULL
 * only describes the case: every tensor's dtype and shape without data, enough for op_shape, op_gemms and
 * op_flops (fractal-bench --list); not for op_run. */
fr_status op_setup(const op_case *c, fr_backend *be, int images, op_inst *r);
fr_status op_run(op_inst *r); /* the op, queued on the backend */
/* From now on a GEMM-class case (linear, conv2d, conv_frames, attention) runs its i8x op with `bits` (the
 * weights quantized here, once, as a model load does); other cases are unchanged. */
fr_status op_use_i8x(op_inst *r, int bits);
fr_status op_fetch(const op_inst *r, op_result *res);
void op_result_free(op_result *res);
void op_free(op_inst *r);

/* Bitwise equality of two results of the same case; NaN equals any NaN, -0 differs from +0. On a
 * difference returns 0 and writes the first one into msg (output, index, want, got, hex). */
int op_same_bits(const op_result *want, const op_result *got, char *msg, size_t n);

double op_flops(const op_inst *r); /* useful floating-point work of one call */
double op_bytes(const op_inst *r); /* minimum bytes read and written by one call */
const char *op_shape(const op_inst *r, char *buf, size_t n);

/* Row-major C[m][n] = A[m][k] op(B), B [k][n], or [n][k] with trans_b; batch of them, A shared by the
 * batch with a_shared (a convolution's weights). */
typedef struct op_gemm {
  int64_t m, n, k, batch;
  int trans_b, a_shared;
} op_gemm;

/* The GEMMs a cuBLAS implementation of the case would run (linear: one; conv: one per image;
 * attention: QK^T and P.V per head and batch), or 0 for an op that is not GEMM-class. */
int op_gemms(const op_inst *r, op_gemm g[2]);

#endif
