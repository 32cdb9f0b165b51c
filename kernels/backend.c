/* Opening backends by name, and the memory calls every backend shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_impl.h"

int fr_cuda_device_count(void)
{
#ifdef FR_HAVE_CUDA
  return fr_cuda_backend_device_count();
#else
  return 0;
#endif
}

int fr_cuda_emulated(void)
{
#ifdef FR_CUDA_EMU
  return 1;
#else
  return 0;
#endif
}

fr_status fr_backend_open(const char *spec, int threads, fr_backend **out)
{
  if (!out) return fr_fail(FR_EINVAL, "fr_backend_open: out is NULL");
  *out = NULL;
  if (!spec || !*spec || strcmp(spec, "auto") == 0) /* an emulated device proves kernels; jobs run on the CPU */
    spec = fr_cuda_device_count() > 0 && !fr_cuda_emulated() ? "cuda" : "cpu";
  if (strcmp(spec, "cpu") == 0) return fr_cpu_backend_open(threads, out);
  if (strncmp(spec, "cuda", 4) == 0 && (spec[4] == '\0' || spec[4] == ':')) {
    int device = 0;
    if (spec[4] == ':') {
      char *end;
      long v = strtol(spec + 5, &end, 10);
      if (end == spec + 5 || *end || v < 0 || v > 255) return fr_fail(FR_EINVAL, "bad backend '%s': want cuda:N", spec);
      device = (int)v;
    }
#ifdef FR_HAVE_CUDA
    return fr_cuda_backend_open(device, threads, out);
#else
    (void)device;
    return fr_fail(FR_EUNSUPPORTED,
                   "backend '%s': this build has no CUDA backend (rebuild with nvcc available and "
                   "-DFRACTAL_CUDA=on)",
                   spec);
#endif
  }
  return fr_fail(FR_EINVAL, "unknown backend '%s' (want cpu, cuda, cuda:N or auto)", spec);
}

void fr_backend_close(fr_backend *be)
{
  if (be) be->ops->close(be);
}

/* The planning twin: no memory of its own, transfers and ops that return once their arguments are checked. */
static void plan_close(fr_backend *be) { free(be); }

static fr_status plan_alloc(fr_backend *be, size_t nbytes, void **ptr)
{
  (void)nbytes, (void)ptr;
  return fr_fail(FR_EINVAL, "%s has no memory: it only plans", be->name);
}

static void plan_free(fr_backend *be, void *ptr) { (void)be, (void)ptr; }

static fr_status plan_move(fr_backend *be, void *dst, const void *src, size_t nbytes)
{
  (void)be, (void)dst, (void)src, (void)nbytes;
  return FR_OK;
}

static fr_status plan_sync(fr_backend *be)
{
  (void)be;
  return FR_OK;
}

static const fr_backend_ops plan_ops = {
    .close = plan_close,
    .alloc = plan_alloc,
    .free = plan_free,
    .upload = plan_move,
    .download = plan_move,
    .copy = plan_move,
    .sync = plan_sync,
};

fr_status fr_backend_open_plan(const fr_backend *real, fr_backend **out)
{
  fr_backend *be = (fr_backend *)calloc(1, sizeof *be);
  if (!be) return fr_fail(FR_ENOMEM, "out of memory");
  be->ops = &plan_ops;
  snprintf(be->name, sizeof be->name, "plan of %.140s", real->name);
  be->device = real->device;
  be->threads = real->threads;
  be->planning = 1;
  *out = be;
  return FR_OK;
}

int fr_backend_planning(const fr_backend *be) { return be->planning; }

const char *fr_backend_name(const fr_backend *be) { return be->name; }
int fr_backend_device(const fr_backend *be) { return be->device; }
int fr_backend_threads(const fr_backend *be) { return be->threads; }
fr_status fr_backend_sync(fr_backend *be) { return be->ops->sync(be); }

fr_status fr_tensor_alloc(fr_backend *be, fr_dtype dtype, int ndim, const int64_t *shape, fr_tensor *out)
{
  if (ndim < 0 || ndim > FR_MAX_DIMS || (unsigned)dtype >= FR_DTYPE_COUNT)
    return fr_fail(FR_EINVAL, "fr_tensor_alloc: bad dtype or %d dims", ndim);
  *out = fr_tensor_make_dims(dtype, NULL, ndim, shape);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return fr_fail(FR_EINVAL, "fr_tensor_alloc: negative dimension");
  size_t nbytes = fr_tensor_nbytes(out);
  FR_TRY(be->ops->alloc(be, nbytes, &out->data));
  out->device = be->device;
  return FR_OK;
}

void fr_tensor_free(fr_backend *be, fr_tensor *t)
{
  if (t && t->data) be->ops->free(be, t->data);
  if (t) t->data = NULL;
}

fr_status fr_tensor_upload(fr_backend *be, fr_tensor *dst, const void *host)
{
  if (dst->device != be->device) return fr_fail(FR_EINVAL, "fr_tensor_upload: tensor is not on %s", be->name);
  return be->ops->upload(be, dst->data, host, fr_tensor_nbytes(dst));
}

fr_status fr_tensor_download(fr_backend *be, const fr_tensor *src, void *host)
{
  if (src->device != be->device) return fr_fail(FR_EINVAL, "fr_tensor_download: tensor is not on %s", be->name);
  return be->ops->download(be, host, src->data, fr_tensor_nbytes(src));
}

fr_status fr_tensor_copy(fr_backend *be, const fr_tensor *src, fr_tensor *dst)
{
  if (src->device != be->device || dst->device != be->device)
    return fr_fail(FR_EINVAL, "fr_tensor_copy: tensors are not on %s", be->name);
  if (src->dtype != dst->dtype || fr_tensor_numel(src) != fr_tensor_numel(dst))
    return fr_fail(FR_EINVAL, "fr_tensor_copy: %lld %s elements into %lld %s elements", (long long)fr_tensor_numel(src),
                   fr_dtype_name(src->dtype), (long long)fr_tensor_numel(dst), fr_dtype_name(dst->dtype));
  return be->ops->copy(be, dst->data, src->data, fr_tensor_nbytes(src));
}
