// The CUDA backend: one device, one stream, device memory, and the op table (every op of
// fractal/backend.h has its CUDA twin).
#include <stdio.h>
#include <stdlib.h>

#include "cuda_common.cuh"

extern "C" {
}

static void cuda_close(fr_backend *be)
{
  fr_cuda *c = cuda_of(be);
  if (c) {
    cudaSetDevice(be->device);
    cudaStreamSynchronize(c->stream);
    cudaStreamDestroy(c->stream);
    cudaFree(c->stage);
    cudaFree(c->work);
    free(c);
  }
  free(be);
}

static fr_status cuda_alloc(fr_backend *be, size_t nbytes, void **ptr)
{
  *ptr = NULL;
  cudaError_t e = cudaMalloc(ptr, nbytes ? nbytes : 256);
  if (e != cudaSuccess) {
    *ptr = NULL;
    cudaGetLastError(); // clear the sticky-free error so later calls work
    return fr_fail(e == cudaErrorMemoryAllocation ? FR_ENOMEM : FR_EDEVICE, "cudaMalloc of %zu bytes on %s: %s", nbytes,
                   be->name, cudaGetErrorString(e));
  }
  return FR_OK;
}

static void cuda_free(fr_backend *be, void *ptr) { cudaFree(ptr); }

static fr_status cuda_upload(fr_backend *be, void *dst, const void *src, size_t nbytes)
{
  if (!nbytes) return FR_OK;
  CUDA_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, cuda_of(be)->stream));
  CUDA_TRY(cudaStreamSynchronize(cuda_of(be)->stream)); // the host buffer may be reused at once
  return FR_OK;
}

static fr_status cuda_download(fr_backend *be, void *dst, const void *src, size_t nbytes)
{
  if (!nbytes) return FR_OK;
  CUDA_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, cuda_of(be)->stream));
  CUDA_TRY(cudaStreamSynchronize(cuda_of(be)->stream));
  return FR_OK;
}

static fr_status cuda_copy(fr_backend *be, void *dst, const void *src, size_t nbytes)
{
  if (nbytes) CUDA_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
  return FR_OK;
}

static fr_status cuda_sync(fr_backend *be)
{
  CUDA_TRY(cudaStreamSynchronize(cuda_of(be)->stream));
  return FR_OK;
}

fr_status fr_cuda_stage(fr_backend *be, const void *host, size_t bytes, void **dev)
{
  fr_cuda *c = cuda_of(be);
  if (bytes > c->stage_bytes) { // grow: wait until no queued kernel reads the old buffer
    CUDA_TRY(cudaStreamSynchronize(c->stream));
    cudaFree(c->stage);
    c->stage = NULL, c->stage_bytes = 0;
    size_t want = bytes < 4096 ? 4096 : bytes;
    FR_TRY(cuda_alloc(be, want, &c->stage));
    c->stage_bytes = want;
  }
  // from pageable memory the copy is staged before it returns, so the caller may reuse `host` at once
  if (bytes) CUDA_TRY(cudaMemcpyAsync(c->stage, host, bytes, cudaMemcpyHostToDevice, c->stream));
  *dev = c->stage;
  return FR_OK;
}

fr_status fr_cuda_workspace(fr_backend *be, size_t bytes, void **dev)
{
  fr_cuda *c = cuda_of(be);
  if (bytes > c->work_bytes) { // grow: wait until no queued kernel uses the old buffer
    CUDA_TRY(cudaStreamSynchronize(c->stream));
    cudaFree(c->work);
    c->work = NULL, c->work_bytes = 0;
    FR_TRY(cuda_alloc(be, bytes, &c->work));
    c->work_bytes = bytes;
  }
  *dev = c->work;
  return FR_OK;
}

static fr_backend_ops make_ops(void)
{
  fr_backend_ops o = {};
  o.close = cuda_close;
  o.alloc = cuda_alloc;
  o.free = cuda_free;
  o.upload = cuda_upload;
  o.download = cuda_download;
  o.copy = cuda_copy;
  o.sync = cuda_sync;
  o.linear = fr_cuda_linear;
  o.conv2d = fr_cuda_conv2d;
  o.conv_frames = fr_cuda_conv_frames;
  o.attention = fr_cuda_attention;
  o.linear_i8x = fr_cuda_linear_i8x;
  o.conv2d_i8x = fr_cuda_conv2d_i8x;
  o.conv_frames_i8x = fr_cuda_conv_frames_i8x;
  o.attention_i8x = fr_cuda_attention_i8x;
  o.upsample_nearest = fr_cuda_upsample_nearest;
  o.concat = fr_cuda_concat;
  o.permute = fr_cuda_permute;
  o.embedding = fr_cuda_embedding;
  o.timestep_embedding = fr_cuda_timestep_embedding;
  o.frames_u8 = fr_cuda_frames_u8;
  o.group_norm = fr_cuda_group_norm;
  o.layer_norm = fr_cuda_layer_norm;
  o.group_norm_partials = fr_cuda_group_norm_partials;
  o.group_norm_apply = fr_cuda_group_norm_apply;
  o.copy_region = fr_cuda_copy_region;
  o.softmax = fr_cuda_softmax;
  o.activate = fr_cuda_activate;
  o.geglu = fr_cuda_geglu;
  o.add = fr_cuda_add;
  o.scale = fr_cuda_scale;
  o.fill_normal = fr_cuda_fill_normal;
  o.guidance = fr_cuda_guidance;
  o.sched = fr_cuda_sched;
  return o;
}

static const fr_backend_ops cuda_ops = make_ops();

extern "C" int fr_cuda_backend_device_count(void)
{
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

extern "C" fr_status fr_cuda_backend_open(int device, int threads, fr_backend **out)
{
  *out = NULL;
  int count = fr_cuda_backend_device_count();
  if (device < 0 || device >= count)
    return fr_fail(FR_EDEVICE, "CUDA device %d is not available (%d device%s found)", device, count,
                   count == 1 ? "" : "s");
  fr_backend *be = (fr_backend *)calloc(1, sizeof *be);
  fr_cuda *c = (fr_cuda *)calloc(1, sizeof *c);
  if (!be || !c) {
    free(be);
    free(c);
    return fr_fail(FR_ENOMEM, "out of memory");
  }
  be->ops = &cuda_ops;
  be->device = device;
  be->impl = c;
  be->threads = threads > 0 ? threads : 1;
  fr_status st = FR_OK;
  cudaError_t e = cudaSuccess;
  if (st == FR_OK && (e = cudaSetDevice(device)) == cudaSuccess &&
      (e = cudaGetDeviceProperties(&c->prop, device)) == cudaSuccess)
    e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
  if (st == FR_OK && e != cudaSuccess)
    st = fr_fail(FR_EDEVICE, "opening CUDA device %d: %s", device, cudaGetErrorString(e));
  if (st == FR_OK && c->prop.major * 10 + c->prop.minor < 75)
    st = fr_fail(FR_EUNSUPPORTED, "CUDA device %d (%s) is sm_%d%d; Fractal needs sm_75 or newer", device, c->prop.name,
                 c->prop.major, c->prop.minor);
  if (st != FR_OK) {
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
    free(be);
    return st;
  }
#ifdef FR_CUDA_EMU
  snprintf(be->name, sizeof be->name, "cuda:%d (%s, sm_%d%d limits, %s order)", device, c->prop.name, c->prop.major,
           c->prop.minor, fr_emu_sched_name());
#else
  snprintf(be->name, sizeof be->name, "cuda:%d (%s, sm_%d%d)", device, c->prop.name, c->prop.major, c->prop.minor);
#endif
  *out = be;
  return FR_OK;
}
