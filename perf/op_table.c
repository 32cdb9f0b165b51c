/* The op cases (perf/op_cases.h explains d, flags and tags): small cases built to break kernels (sizes
 * that fit no tile, K = 1, signed zeros, NaN/Inf, subnormals), the ms-1.7b model's per-image shapes, and
 * the shapes fractal-bench times at the UNet's real batch of 32 frame-images. */
#include "op_cases.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* the fields after tags default to zero */

#define TEST TAG_TEST
#define SLOW TAG_SLOW
#define BENCH TAG_BENCH
#define IMG F_IMAGES
#define NONE FR_ACT_NONE
#define SILU FR_ACT_SILU
#define GELU FR_ACT_GELU
#define QGELU FR_ACT_QUICK_GELU
#define F32 FR_F32
#define F16 FR_F16
#define BF16 FR_BF16

/* name, op, d, weight dtype, flags, fill, tags, act, s, arg, arg2, perm */
/* clang-format off */ /* a table: one entry per line */
const op_case op_cases[] = {
  /* linear: {batch, rows, n, k} */
  {"linear_1x1x1", OP_LINEAR, {1, 1, 1, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"linear_k1_bias", OP_LINEAR, {1, 129, 65, 1}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"linear_m3_n65_k33", OP_LINEAR, {1, 3, 65, 33}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"linear_m129_f16_gelu_residual", OP_LINEAR, {3, 43, 129, 65}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST, GELU},
  {"linear_bf16_silu", OP_LINEAR, {1, 33, 3, 127}, BF16, F_BIAS, FILL_UNIFORM, TEST, SILU},
  {"linear_f16_quick_gelu", OP_LINEAR, {1, 65, 33, 129}, F16, F_BIAS, FILL_UNIFORM, TEST, QGELU},
  {"linear_signed_zero_k1", OP_LINEAR, {1, 7, 5, 1}, F32, 0, FILL_TINY, TEST},
  {"linear_signed_zero_k33", OP_LINEAR, {1, 65, 33, 33}, F32, 0, FILL_TINY, TEST},
  {"linear_signed_zero_k129_bf16", OP_LINEAR, {1, 127, 65, 129}, BF16, 0, FILL_TINY, TEST},
  {"linear_signed_zero_k65_f16", OP_LINEAR, {1, 33, 129, 65}, F16, 0, FILL_TINY, TEST},
  {"linear_signed_zero_k1027", OP_LINEAR, {1, 3, 9, 1027}, F32, 0, FILL_TINY, TEST},
  {"linear_signed_zero_128x128_k33", OP_LINEAR, {2, 64, 128, 33}, F32, 0, FILL_TINY, TEST},
  {"linear_nan_inf", OP_LINEAR, {1, 33, 65, 65}, F32, F_BIAS, FILL_SPECIAL, TEST},
  {"linear_subnormal", OP_LINEAR, {1, 33, 33, 127}, F32, 0, FILL_SUBNORMAL, TEST},
  {"linear_subnormal_bf16_residual", OP_LINEAR, {1, 65, 17, 200}, BF16, F_RESIDUAL, FILL_SUBNORMAL, TEST},
  {"linear_wide_f16_gelu", OP_LINEAR, {1, 64, 64, 64}, F16, F_BIAS, FILL_WIDE, TEST, GELU},
  {"linear_ms_time_mlp", OP_LINEAR, {1, 2, 1280, 320}, F16, F_BIAS, FILL_UNIFORM, TEST, SILU},
  {"linear_ms_attn_out_320", OP_LINEAR, {1, 1024, 320, 320}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST},
  {"linear_ms_proj_1280_t64", OP_LINEAR, {1, 64, 1280, 1280}, F16, 0, FILL_UNIFORM, TEST},
  {"linear_ms_cross_kv_320", OP_LINEAR, {1, 77, 320, 1024}, F16, 0, FILL_UNIFORM, TEST},
  {"linear_ms_cross_kv_1280", OP_LINEAR, {1, 77, 1280, 1024}, F16, 0, FILL_UNIFORM, TEST},
  {"linear_ms_geglu_proj_t128", OP_LINEAR, {1, 128, 2560, 320}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"linear_ms_ff_out_t128", OP_LINEAR, {1, 128, 320, 1280}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST},
  {"linear_clip_fc1_t16", OP_LINEAR, {1, 16, 4096, 1024}, F16, F_BIAS, FILL_UNIFORM, TEST, QGELU},
  {"linear_clip_fc2_t16", OP_LINEAR, {1, 16, 1024, 4096}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST},
  {"linear_ms_geglu_proj", OP_LINEAR, {1, 1024, 2560, 320}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"linear_clip_fc1", OP_LINEAR, {1, 77, 4096, 1024}, F16, F_BIAS, FILL_UNIFORM, SLOW, QGELU},
  {"linear_320_b32", OP_LINEAR, {32, 1024, 320, 320}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"linear_geglu_proj_320_b32", OP_LINEAR, {32, 1024, 2560, 320}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"linear_ff_out_320_b32", OP_LINEAR, {32, 1024, 320, 1280}, F16, F_BIAS | F_RESIDUAL | IMG, FILL_UNIFORM, BENCH},
  {"linear_cross_kv_320", OP_LINEAR, {2, 77, 320, 1024}, F16, 0, FILL_UNIFORM, BENCH},

  /* conv2d: {n, cin, h, w, cout, kernel, stride, pad} */
  {"conv2d_3x3_tiny", OP_CONV2D, {2, 3, 5, 7, 5, 3, 1, 1}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_3x3_odd_f16_residual", OP_CONV2D, {1, 11, 9, 13, 33, 3, 1, 1}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST},
  {"conv2d_1x1_bf16", OP_CONV2D, {2, 65, 7, 9, 129, 1, 1, 0}, BF16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_1x1_cin1_k1", OP_CONV2D, {3, 1, 11, 7, 5, 1, 1, 0}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_5x5_pad2", OP_CONV2D, {1, 3, 9, 9, 4, 5, 1, 2}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_s2_odd", OP_CONV2D, {1, 32, 17, 15, 32, 3, 2, 1}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_s2_pad0", OP_CONV2D, {2, 8, 8, 8, 8, 3, 2, 0}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_signed_zero_1x1_k33", OP_CONV2D, {1, 33, 5, 13, 17, 1, 1, 0}, F32, 0, FILL_TINY, TEST},
  {"conv2d_signed_zero_3x3_k135", OP_CONV2D, {2, 15, 7, 9, 9, 3, 1, 1}, F32, 0, FILL_TINY, TEST},
  {"conv2d_signed_zero_3x3_k63_bf16", OP_CONV2D, {1, 7, 6, 5, 65, 3, 1, 1}, BF16, 0, FILL_TINY, TEST},
  {"conv2d_signed_zero_s2_k27", OP_CONV2D, {1, 3, 9, 8, 11, 3, 2, 1}, F32, 0, FILL_TINY, TEST},
  {"conv2d_nan_inf", OP_CONV2D, {2, 9, 8, 8, 17, 3, 1, 1}, F32, F_BIAS, FILL_SPECIAL, TEST},
  {"conv2d_subnormal", OP_CONV2D, {1, 16, 8, 8, 16, 3, 1, 1}, F16, 0, FILL_SUBNORMAL, TEST},
  {"conv2d_ms_conv_in", OP_CONV2D, {1, 4, 32, 32, 320, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_ms_320_32x32_co32", OP_CONV2D, {1, 320, 32, 32, 32, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_ms_640_16x16_co64", OP_CONV2D, {1, 640, 16, 16, 64, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_ms_1280_8x8_co128", OP_CONV2D, {1, 1280, 8, 8, 128, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_ms_1280_4x4_co640", OP_CONV2D, {1, 1280, 4, 4, 640, 3, 1, 1}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST},
  {"conv2d_ms_down_320_co64", OP_CONV2D, {1, 320, 32, 32, 64, 3, 2, 1}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_ms_shortcut_640_320", OP_CONV2D, {1, 640, 16, 16, 320, 1, 1, 0}, F16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_vae_conv_out_64x64", OP_CONV2D, {1, 128, 64, 64, 3, 3, 1, 1}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"conv2d_ms_320_32x32", OP_CONV2D, {1, 320, 32, 32, 320, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv2d_ms_640_16x16", OP_CONV2D, {1, 640, 16, 16, 640, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv2d_ms_1280_8x8", OP_CONV2D, {1, 1280, 8, 8, 1280, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv2d_ms_1280_4x4", OP_CONV2D, {1, 1280, 4, 4, 1280, 3, 1, 1}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv2d_ms_down_320", OP_CONV2D, {1, 320, 32, 32, 320, 3, 2, 1}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv2d_vae_conv_out", OP_CONV2D, {1, 128, 256, 256, 3, 3, 1, 1}, F32, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv2d_3x3_320_b32", OP_CONV2D, {32, 320, 32, 32, 320, 3, 1, 1}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"conv2d_1x1_320_b32", OP_CONV2D, {32, 320, 32, 32, 320, 1, 1, 0}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"conv2d_3x3_640_b32", OP_CONV2D, {32, 640, 16, 16, 640, 3, 1, 1}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"conv2d_3x3_1280_8x8_b32", OP_CONV2D, {32, 1280, 8, 8, 1280, 3, 1, 1}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"conv2d_3x3_1280_4x4_b32", OP_CONV2D, {32, 1280, 4, 4, 1280, 3, 1, 1}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"conv2d_down_320_b32", OP_CONV2D, {32, 320, 32, 32, 320, 3, 2, 1}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},
  {"conv2d_vae_512_128x128", OP_CONV2D, {1, 512, 128, 128, 512, 3, 1, 1}, F32, F_BIAS, FILL_UNIFORM, BENCH},

  /* conv_frames: {n, cin, h, w, cout, frames} */
  {"conv_frames_tiny", OP_CONV_FRAMES, {6, 5, 3, 5, 7, 3}, F32, F_BIAS, FILL_UNIFORM, TEST},
  {"conv_frames_w3_f16_residual", OP_CONV_FRAMES, {8, 33, 4, 4, 17, 4}, F16, F_BIAS | F_RESIDUAL | F_W3, FILL_UNIFORM,
   TEST},
  {"conv_frames_f1_bf16", OP_CONV_FRAMES, {3, 9, 5, 3, 11, 1}, BF16, F_BIAS, FILL_UNIFORM, TEST},
  {"conv_frames_signed_zero_k33", OP_CONV_FRAMES, {4, 11, 3, 7, 13, 4}, F32, 0, FILL_TINY, TEST},
  {"conv_frames_nan_inf", OP_CONV_FRAMES, {4, 8, 4, 4, 8, 2}, F32, F_BIAS, FILL_SPECIAL, TEST},
  {"conv_frames_ms_320_4x4", OP_CONV_FRAMES, {16, 320, 4, 4, 320, 16}, F16, F_BIAS | F_RESIDUAL, FILL_UNIFORM, TEST},
  {"conv_frames_ms_320_8x8", OP_CONV_FRAMES, {16, 320, 8, 8, 320, 16}, F16, F_BIAS, FILL_UNIFORM, SLOW},
  {"conv_frames_320_b32", OP_CONV_FRAMES, {32, 320, 32, 32, 320, 16}, F16, F_BIAS | IMG, FILL_UNIFORM, BENCH},

  /* group_norm: {n, c, h, w, groups, frames}, eps */
  {"group_norm_tiny", OP_GROUP_NORM, {2, 32, 3, 5, 32, 1}, F16, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-6f},
  {"group_norm_silu_bf16", OP_GROUP_NORM, {4, 64, 5, 7, 32, 1}, BF16, F_AFFINE, FILL_UNIFORM, TEST, SILU, 1e-5f},
  {"group_norm_f32_g8", OP_GROUP_NORM, {3, 24, 9, 11, 8, 1}, F32, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"group_norm_no_affine_silu", OP_GROUP_NORM, {2, 16, 7, 7, 4, 1}, F32, 0, FILL_UNIFORM, TEST, SILU, 1e-6f},
  {"group_norm_frames3_silu", OP_GROUP_NORM, {6, 32, 4, 4, 8, 3}, F16, F_AFFINE, FILL_UNIFORM, TEST, SILU, 1e-6f},
  {"group_norm_frames4_no_affine", OP_GROUP_NORM, {8, 16, 3, 3, 4, 4}, F32, 0, FILL_UNIFORM, TEST, NONE, 1e-6f},
  {"group_norm_ms_frames16", OP_GROUP_NORM, {16, 320, 8, 8, 32, 16}, F16, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-6f},
  {"group_norm_ms_silu_320", OP_GROUP_NORM, {1, 320, 32, 32, 32, 1}, F16, F_AFFINE, FILL_UNIFORM, TEST, SILU, 1e-5f},
  {"group_norm_ms_1280_4x4", OP_GROUP_NORM, {2, 1280, 4, 4, 32, 1}, F16, F_AFFINE, FILL_UNIFORM, TEST, SILU, 1e-5f},
  {"group_norm_vae_512", OP_GROUP_NORM, {1, 512, 32, 32, 32, 1}, F32, F_AFFINE, FILL_UNIFORM, TEST, SILU, 1e-6f},
  {"group_norm_one_big_group", OP_GROUP_NORM, {1, 32, 40, 40, 1, 1}, F32, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"group_norm_offset", OP_GROUP_NORM, {2, 64, 9, 9, 32, 1}, F16, F_AFFINE, FILL_OFFSET, TEST, NONE, 1e-5f},
  {"group_norm_nan_inf", OP_GROUP_NORM, {2, 32, 5, 5, 8, 1}, F32, F_AFFINE, FILL_SPECIAL, TEST, SILU, 1e-5f},
  {"group_norm_subnormal_eps0", OP_GROUP_NORM, {2, 32, 4, 4, 8, 1}, F32, 0, FILL_SUBNORMAL, TEST, NONE, 0.0f},
  {"group_norm_silu_320_b32", OP_GROUP_NORM, {32, 320, 32, 32, 32, 1}, F16, F_AFFINE | IMG, FILL_UNIFORM, BENCH, SILU,
   1e-5f},
  {"group_norm_frames16_320_b32", OP_GROUP_NORM, {32, 320, 32, 32, 32, 16}, F16, F_AFFINE | IMG, FILL_UNIFORM, BENCH,
   NONE, 1e-6f},
  {"group_norm_vae_512_128x128", OP_GROUP_NORM, {1, 512, 128, 128, 32, 1}, F32, F_AFFINE, FILL_UNIFORM, BENCH, SILU,
   1e-6f},

  /* group_norm_partials and group_norm_apply: {n, c, h, w, groups} */
  {"group_norm_partials_sums", OP_GN_PARTIALS, {6, 32, 3, 5, 32}, F32, 0, FILL_UNIFORM, TEST},
  {"group_norm_partials_squares", OP_GN_PARTIALS, {3, 64, 7, 9, 8}, F32, F_MEAN, FILL_UNIFORM, TEST},
  {"group_norm_partials_ms_320", OP_GN_PARTIALS, {4, 320, 16, 16, 32}, F32, F_MEAN, FILL_UNIFORM, TEST},
  {"group_norm_partials_big_group", OP_GN_PARTIALS, {1, 8, 64, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"group_norm_partials_nan_inf", OP_GN_PARTIALS, {2, 32, 4, 4, 8}, F32, F_MEAN, FILL_SPECIAL, TEST},
  {"group_norm_partials_320_b32", OP_GN_PARTIALS, {32, 320, 32, 32, 32}, F32, F_MEAN | IMG, FILL_UNIFORM, BENCH},
  {"group_norm_apply_f16", OP_GN_APPLY, {3, 64, 7, 9, 8}, F16, F_AFFINE, FILL_UNIFORM, TEST},
  {"group_norm_apply_silu_f32", OP_GN_APPLY, {6, 32, 3, 5, 32}, F32, F_AFFINE, FILL_UNIFORM, TEST, SILU},
  {"group_norm_apply_no_affine", OP_GN_APPLY, {2, 320, 4, 4, 32}, F32, 0, FILL_UNIFORM, TEST, SILU},
  {"group_norm_apply_nan_inf", OP_GN_APPLY, {2, 32, 5, 5, 8}, BF16, F_AFFINE, FILL_SPECIAL, TEST, SILU},
  {"group_norm_apply_silu_320_b32", OP_GN_APPLY, {32, 320, 32, 32, 32}, F16, F_AFFINE | IMG, FILL_UNIFORM, BENCH, SILU},

  /* copy_region: {a, b, c, pad} */
  {"copy_region_single", OP_COPY_REGION, {1, 1, 1, 0}, F32, 0, FILL_UNIFORM, TEST},
  {"copy_region_3d", OP_COPY_REGION, {3, 7, 11, 4}, F32, 0, FILL_UNIFORM, TEST},
  {"copy_region_transposed", OP_COPY_REGION, {5, 6, 7, 2}, F32, F_TRANSPOSE, FILL_UNIFORM, TEST},
  {"copy_region_frames", OP_COPY_REGION, {16, 320, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"copy_region_nan_inf", OP_COPY_REGION, {4, 9, 33, 3}, F32, F_TRANSPOSE, FILL_SPECIAL, TEST},
  {"copy_region_frames_b32", OP_COPY_REGION, {32, 320, 1024, 1}, F32, IMG, FILL_UNIFORM, BENCH},

  /* layer_norm: shape, eps */
  {"layer_norm_1x1", OP_LAYER_NORM, {1, 1}, F32, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"layer_norm_clip_77x1024", OP_LAYER_NORM, {1, 77, 1024}, F16, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"layer_norm_300x320_bf16", OP_LAYER_NORM, {300, 320}, BF16, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"layer_norm_5x3000", OP_LAYER_NORM, {5, 3000}, F32, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"layer_norm_no_affine_1025", OP_LAYER_NORM, {7, 1025}, F32, 0, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"layer_norm_offset", OP_LAYER_NORM, {33, 320}, F16, F_AFFINE, FILL_OFFSET, TEST, NONE, 1e-5f},
  {"layer_norm_nan_inf", OP_LAYER_NORM, {9, 65}, F32, F_AFFINE, FILL_SPECIAL, TEST, NONE, 1e-5f},
  {"layer_norm_subnormal", OP_LAYER_NORM, {4, 129}, F32, F_AFFINE, FILL_SUBNORMAL, TEST, NONE, 1e-5f},
  {"layer_norm_ms_1280_t64", OP_LAYER_NORM, {1, 64, 1280}, F16, F_AFFINE, FILL_UNIFORM, TEST, NONE, 1e-5f},
  {"layer_norm_320_b32", OP_LAYER_NORM, {32, 1024, 320}, F16, F_AFFINE | IMG, FILL_UNIFORM, BENCH, NONE, 1e-5f},

  /* softmax: shape */
  {"softmax_1x1", OP_SOFTMAX, {1, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"softmax_77x77_wide", OP_SOFTMAX, {77, 77}, F32, 0, FILL_WIDE, TEST},
  {"softmax_5x3000", OP_SOFTMAX, {5, 3000}, F32, 0, FILL_UNIFORM, TEST},
  {"softmax_16x1025_wide", OP_SOFTMAX, {16, 1025}, F32, 0, FILL_WIDE, TEST},
  {"softmax_offset", OP_SOFTMAX, {4, 1024}, F32, 0, FILL_OFFSET, TEST},
  {"softmax_nan_inf", OP_SOFTMAX, {8, 33}, F32, 0, FILL_SPECIAL, TEST},
  {"softmax_subnormal", OP_SOFTMAX, {3, 100}, F32, 0, FILL_SUBNORMAL, TEST},
  {"softmax_1024_b32", OP_SOFTMAX, {32, 1024, 1024}, F32, IMG, FILL_UNIFORM, BENCH},

  /* attention: {bq, lq, lk, heads, dk, dv, kv_group} */
  {"attention_1x1", OP_ATTENTION, {1, 1, 1, 1, 8, 8, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_self_tiny", OP_ATTENTION, {2, 7, 7, 2, 8, 8, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_lk1", OP_ATTENTION, {3, 4, 1, 1, 8, 8, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_cross_77_d40", OP_ATTENTION, {2, 33, 77, 2, 40, 40, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_temporal_16", OP_ATTENTION, {64, 16, 16, 5, 64, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_causal_clip", OP_ATTENTION, {1, 77, 77, 16, 64, 64, 1}, F32, F_CAUSAL, FILL_UNIFORM, TEST},
  {"attention_causal_lk_gt_lq", OP_ATTENTION, {2, 5, 9, 3, 8, 8, 1}, F32, F_CAUSAL, FILL_UNIFORM, TEST},
  {"attention_kv_group2", OP_ATTENTION, {4, 17, 33, 2, 40, 40, 2}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_dk40_dv8", OP_ATTENTION, {2, 19, 23, 3, 40, 8, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_dk8_dv64", OP_ATTENTION, {2, 9, 65, 2, 8, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_long_keys", OP_ATTENTION, {1, 3, 1500, 1, 64, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_long_queries", OP_ATTENTION, {1, 1500, 3, 1, 64, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_nan_inf", OP_ATTENTION, {2, 9, 13, 2, 8, 8, 1}, F32, 0, FILL_SPECIAL, TEST},
  {"attention_wide", OP_ATTENTION, {2, 17, 33, 2, 64, 64, 1}, F32, 0, FILL_WIDE, TEST},
  {"attention_subnormal", OP_ATTENTION, {1, 5, 7, 1, 40, 40, 1}, F32, 0, FILL_SUBNORMAL, TEST},
  {"attention_vae_mid_dk512_16x16", OP_ATTENTION, {1, 256, 256, 1, 512, 512, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_ms_self_640_16x16", OP_ATTENTION, {1, 256, 256, 10, 64, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_ms_cross_1280_4x4", OP_ATTENTION, {16, 16, 77, 20, 64, 64, 16}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_ms_temporal_640", OP_ATTENTION, {256, 16, 16, 10, 64, 64, 1}, F32, 0, FILL_UNIFORM, TEST},
  {"attention_ms_self_320", OP_ATTENTION, {1, 1024, 1024, 5, 64, 64, 1}, F32, 0, FILL_UNIFORM, SLOW},
  {"attention_ms_cross_320", OP_ATTENTION, {16, 1024, 77, 5, 64, 64, 16}, F32, 0, FILL_UNIFORM, SLOW},
  {"attention_vae_mid_dk512", OP_ATTENTION, {1, 1024, 1024, 1, 512, 512, 1}, F32, 0, FILL_UNIFORM, SLOW | BENCH},
  {"attention_self_320_b32", OP_ATTENTION, {32, 1024, 1024, 5, 64, 64, 1}, F32, IMG, FILL_UNIFORM, BENCH},
  {"attention_cross_320_b32", OP_ATTENTION, {32, 1024, 77, 5, 64, 64, 16}, F32, IMG, FILL_UNIFORM, BENCH},
  {"attention_temporal_320_b32", OP_ATTENTION, {2048, 16, 16, 5, 64, 64, 1}, F32, IMG, FILL_UNIFORM, BENCH},
  {"attention_clip_causal", OP_ATTENTION, {1, 77, 77, 16, 64, 64, 1}, F32, F_CAUSAL, FILL_UNIFORM, BENCH},

  /* activate: shape, act */
  {"activate_none", OP_ACTIVATE, {100}, F32, 0, FILL_SPECIAL, TEST, NONE},
  {"activate_silu_wide", OP_ACTIVATE, {65537}, F32, 0, FILL_WIDE, TEST, SILU},
  {"activate_gelu_wide", OP_ACTIVATE, {3, 1000}, F32, 0, FILL_WIDE, TEST, GELU},
  {"activate_quick_gelu_wide", OP_ACTIVATE, {7, 1001}, F32, 0, FILL_WIDE, TEST, QGELU},
  {"activate_silu_nan_inf", OP_ACTIVATE, {1000}, F32, 0, FILL_SPECIAL, TEST, SILU},
  {"activate_gelu_nan_inf", OP_ACTIVATE, {1000}, F32, 0, FILL_SPECIAL, TEST, GELU},
  {"activate_quick_gelu_nan_inf", OP_ACTIVATE, {1000}, F32, 0, FILL_SPECIAL, TEST, QGELU},
  {"activate_silu_subnormal", OP_ACTIVATE, {4096}, F32, 0, FILL_SUBNORMAL, TEST, SILU},
  {"activate_gelu_subnormal", OP_ACTIVATE, {4096}, F32, 0, FILL_SUBNORMAL, TEST, GELU},
  {"activate_silu_320_b32", OP_ACTIVATE, {32, 320, 32, 32}, F32, IMG, FILL_UNIFORM, BENCH, SILU},

  /* geglu: h's shape */
  {"geglu_1x2", OP_GEGLU, {1, 2}, F32, 0, FILL_UNIFORM, TEST},
  {"geglu_3x130_wide", OP_GEGLU, {3, 130}, F32, 0, FILL_WIDE, TEST},
  {"geglu_nan_inf", OP_GEGLU, {5, 66}, F32, 0, FILL_SPECIAL, TEST},
  {"geglu_ms_t64", OP_GEGLU, {1, 64, 2560}, F32, 0, FILL_UNIFORM, TEST},
  {"geglu_320_b32", OP_GEGLU, {32, 1024, 2560}, F32, IMG, FILL_UNIFORM, BENCH},

  /* upsample_nearest: {n, c, h, w, ho, wo} */
  {"upsample_x2", OP_UPSAMPLE, {2, 3, 4, 5, 8, 10}, F32, 0, FILL_UNIFORM, TEST},
  {"upsample_5x7_to_8x11", OP_UPSAMPLE, {1, 4, 5, 7, 8, 11}, F32, 0, FILL_UNIFORM, TEST},
  {"upsample_7x5_to_3x8", OP_UPSAMPLE, {2, 2, 7, 5, 3, 8}, F32, 0, FILL_UNIFORM, TEST},
  {"upsample_1x1_to_3x2", OP_UPSAMPLE, {1, 1, 1, 1, 3, 2}, F32, 0, FILL_SPECIAL, TEST},
  {"upsample_ms_x2_1280_4x4", OP_UPSAMPLE, {1, 1280, 4, 4, 8, 8}, F32, 0, FILL_UNIFORM, TEST},
  {"upsample_x2_640_b32", OP_UPSAMPLE, {32, 640, 16, 16, 32, 32}, F32, IMG, FILL_UNIFORM, BENCH},

  /* concat: a's shape, dim (arg), b's extent along it (arg2); the element dtype */
  {"concat_dim1_skip", OP_CONCAT, {2, 320, 8, 8}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 1, 640},
  {"concat_dim0", OP_CONCAT, {2, 3, 5}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 3},
  {"concat_dim_last", OP_CONCAT, {4, 7, 9}, F32, 0, FILL_SPECIAL, TEST, NONE, 0, 2, 5},
  {"concat_f16_dim2", OP_CONCAT, {3, 4, 5, 6}, F16, 0, FILL_UNIFORM, TEST, NONE, 0, 2, 1},
  {"concat_bf16_dim1", OP_CONCAT, {2, 3, 7}, BF16, 0, FILL_UNIFORM, TEST, NONE, 0, 1, 2},
  {"concat_skip_320_b32", OP_CONCAT, {32, 320, 32, 32}, F32, IMG, FILL_UNIFORM, BENCH, NONE, 0, 1, 320},

  /* add: a's shape; b is its last arg dims, or its first with F_PREFIX (arg 0: all); b's dtype */
  {"add_same", OP_ADD, {3, 1000}, F32, 0, FILL_UNIFORM, TEST},
  {"add_suffix_positions", OP_ADD, {2, 77, 64}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 2},
  {"add_prefix_time_emb", OP_ADD, {4, 320, 8, 8}, F32, F_PREFIX, FILL_UNIFORM, TEST, NONE, 0, 2},
  {"add_f16_b", OP_ADD, {5, 129}, F16, 0, FILL_UNIFORM, TEST},
  {"add_bf16_prefix", OP_ADD, {3, 65, 7}, BF16, F_PREFIX, FILL_UNIFORM, TEST, NONE, 0, 1},
  {"add_f16_suffix_nan_inf", OP_ADD, {6, 50}, F16, 0, FILL_SPECIAL, TEST, NONE, 0, 1},
  {"add_nan_inf", OP_ADD, {1000}, F32, 0, FILL_SPECIAL, TEST},
  {"add_subnormal", OP_ADD, {1000}, F32, 0, FILL_SUBNORMAL, TEST},
  {"add_time_emb_320_b32", OP_ADD, {32, 320, 32, 32}, F32, F_PREFIX | IMG, FILL_UNIFORM, BENCH, NONE, 0, 2},

  /* scale: shape, s */
  {"scale_vae", OP_SCALE, {65537}, F32, 0, FILL_WIDE, TEST, NONE, 5.4899807f},
  {"scale_latent", OP_SCALE, {1000}, F32, 0, FILL_UNIFORM, TEST, NONE, 0.18215f},
  {"scale_nan_inf", OP_SCALE, {1000}, F32, 0, FILL_SPECIAL, TEST, NONE, 3.0f},
  {"scale_subnormal_half", OP_SCALE, {1000}, F32, 0, FILL_SUBNORMAL, TEST, NONE, 0.5f},
  {"scale_320_b32", OP_SCALE, {32, 320, 32, 32}, F32, IMG, FILL_UNIFORM, BENCH, NONE, 0.5f},

  /* permute: x's shape, perm; the element dtype */
  {"permute_identity", OP_PERMUTE, {3, 4}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 0, {0, 1}},
  {"permute_nchw_to_nhwc", OP_PERMUTE, {2, 3, 4, 5}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 0, {0, 2, 3, 1}},
  {"permute_3d_cycle", OP_PERMUTE, {3, 7, 11}, F32, 0, FILL_SPECIAL, TEST, NONE, 0, 0, 0, {2, 0, 1}},
  {"permute_5d_to_frames", OP_PERMUTE, {2, 4, 16, 3, 5}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 0, {0, 2, 1, 3, 4}},
  {"permute_f16_4d", OP_PERMUTE, {2, 5, 7, 9}, F16, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 0, {3, 1, 0, 2}},
  {"permute_bf16_5d_reverse", OP_PERMUTE, {2, 3, 4, 5, 6}, BF16, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 0, {4, 3, 2, 1, 0}},
  {"permute_vae_tokens", OP_PERMUTE, {1, 512, 256}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 0, 0, {0, 2, 1}},
  {"permute_tokens_320_b32", OP_PERMUTE, {32, 320, 1024}, F32, IMG, FILL_UNIFORM, BENCH, NONE, 0, 0, 0, {0, 2, 1}},

  /* embedding: {ids, rows, dim}; the table's dtype */
  {"embedding_tiny", OP_EMBEDDING, {5, 7, 3}, F32, 0, FILL_UNIFORM, TEST},
  {"embedding_bf16", OP_EMBEDDING, {33, 300, 65}, BF16, 0, FILL_UNIFORM, TEST},
  {"embedding_clip_tokens", OP_EMBEDDING, {77, 1000, 1024}, F16, 0, FILL_UNIFORM, TEST},
  {"embedding_clip_positions", OP_EMBEDDING, {77, 77, 1024}, F32, 0, FILL_SPECIAL, TEST},

  /* timestep_embedding: {n, dim}, shift */
  {"timestep_ms_flip", OP_TIMESTEP, {2, 320}, F32, F_FLIP, FILL_UNIFORM, TEST, NONE, 0.0f},
  {"timestep_shift1", OP_TIMESTEP, {3, 256}, F32, 0, FILL_UNIFORM, TEST, NONE, 1.0f},
  {"timestep_flip_shift1_half3", OP_TIMESTEP, {5, 6}, F32, F_FLIP, FILL_UNIFORM, TEST, NONE, 1.0f},
  {"timestep_dim2_shift1", OP_TIMESTEP, {2, 2}, F32, 0, FILL_UNIFORM, TEST, NONE, 1.0f},
  {"timestep_32x320", OP_TIMESTEP, {32, 320}, F32, F_FLIP, FILL_UNIFORM, TEST, NONE, 0.0f},

  /* fill_normal: shape; stream (arg) */
  {"fill_normal_1", OP_FILL_NORMAL, {1}, F32, 0, FILL_UNIFORM, TEST},
  {"fill_normal_7", OP_FILL_NORMAL, {7}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 5},
  {"fill_normal_65537", OP_FILL_NORMAL, {65537}, F32, 0, FILL_UNIFORM, TEST, NONE, 0, 1234567},
  {"fill_normal_latent", OP_FILL_NORMAL, {1, 4, 16, 32, 32}, F32, 0, FILL_UNIFORM, TEST | BENCH},

  /* guidance: shape, s */
  {"guidance_9", OP_GUIDANCE, {65537}, F32, 0, FILL_UNIFORM, TEST, NONE, 9.0f},
  {"guidance_1", OP_GUIDANCE, {1000}, F32, 0, FILL_UNIFORM, TEST, NONE, 1.0f},
  {"guidance_nan_inf", OP_GUIDANCE, {1000}, F32, 0, FILL_SPECIAL, TEST, NONE, 7.5f},
  {"guidance_320_b32", OP_GUIDANCE, {32, 320, 32, 32}, F32, IMG, FILL_UNIFORM, BENCH, NONE, 9.0f},

  /* the scheduler updates: shape */
  {"sched_ddim_eps", OP_DDIM, {4, 16, 9, 7}, F32, 0, FILL_UNIFORM, TEST},
  {"sched_ddim_eps_clip", OP_DDIM, {1000}, F32, F_CLIP, FILL_UNIFORM, TEST},
  {"sched_ddim_v", OP_DDIM, {1000}, F32, F_VPRED, FILL_UNIFORM, TEST},
  {"sched_ddim_clip_nan_inf", OP_DDIM, {1000}, F32, F_CLIP, FILL_SPECIAL, TEST},
  {"sched_dpm_x0_eps", OP_DPM_X0, {1000}, F32, 0, FILL_UNIFORM, TEST},
  {"sched_dpm_x0_v", OP_DPM_X0, {1000}, F32, F_VPRED, FILL_UNIFORM, TEST},
  {"sched_dpm_x0_nan_inf", OP_DPM_X0, {1000}, F32, 0, FILL_SPECIAL, TEST},
  {"sched_dpm_update_first", OP_DPM_UPDATE, {1000}, F32, 0, FILL_UNIFORM, TEST},
  {"sched_dpm_update_second", OP_DPM_UPDATE, {4, 16, 9, 7}, F32, F_SECOND, FILL_UNIFORM, TEST},
  {"sched_dpm_update_second_nan_inf", OP_DPM_UPDATE, {1000}, F32, F_SECOND, FILL_SPECIAL, TEST},
  {"sched_dpm_update_second_320_b32", OP_DPM_UPDATE, {32, 320, 32, 32}, F32, F_SECOND | IMG, FILL_UNIFORM, BENCH},

  /* frames_u8: {n, c, h, w} */
  {"frames_u8_rgb_v01", OP_FRAMES_U8, {2, 3, 5, 7}, F32, F_V01, FILL_UNIFORM, TEST},
  {"frames_u8_rgb_wide", OP_FRAMES_U8, {2, 3, 16, 16}, F32, 0, FILL_WIDE, TEST},
  {"frames_u8_gray", OP_FRAMES_U8, {3, 1, 4, 6}, F32, 0, FILL_UNIFORM, TEST},
  {"frames_u8_gray_v01", OP_FRAMES_U8, {1, 1, 3, 3}, F32, F_V01, FILL_UNIFORM, TEST},
  {"frames_u8_rgba_v01", OP_FRAMES_U8, {1, 4, 3, 5}, F32, F_V01, FILL_UNIFORM, TEST},
  {"frames_u8_nan_inf_v01", OP_FRAMES_U8, {1, 3, 9, 9}, F32, F_V01, FILL_SPECIAL, TEST},
  {"frames_u8_256x256", OP_FRAMES_U8, {16, 3, 256, 256}, F32, F_V01, FILL_UNIFORM, BENCH},
};
/* clang-format on */

const int op_case_count = (int)(sizeof op_cases / sizeof op_cases[0]);
