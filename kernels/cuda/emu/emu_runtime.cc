// The emulator's CUDA runtime: device memory (host memory handed out and tracked, so copies and frees
// are checked against real allocations), streams and events (work runs when it is queued, so a stream
// is always idle), errors and device properties.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "emu_internal.h"

struct fr_emu_stream {
  unsigned flags;
};
struct fr_emu_event {
  std::chrono::steady_clock::time_point t;
  bool recorded;
};

namespace fr_emu {

static thread_local cudaError_t last_error = cudaSuccess;
static thread_local int current_device = 0;

static std::mutex mu; // allocations, streams, reports
static std::map<uintptr_t, size_t> allocations;
static std::set<cudaStream_t> streams;
static size_t allocated_bytes;
static std::string last_report;

void set_error(cudaError_t e)
{
  if (e != cudaSuccess) last_error = e;
}

static cudaError_t fail(cudaError_t e)
{
  set_error(e);
  return e;
}

void report(const std::string &text)
{
  std::lock_guard<std::mutex> lock(mu);
  last_report = text;
  fprintf(stderr, "fractal CUDA emulator: %s\n", text.c_str());
}

static size_t env_size(const char *name, size_t dflt)
{
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  return *end ? dflt : (size_t)x;
}

static int device_count()
{
  static const int n = [] {
    size_t v = env_size("FRACTAL_EMU_DEVICES", 1);
    return (int)(v > 8 ? 8 : v);
  }();
  return n;
}

const cudaDeviceProp &device_props()
{
  static const cudaDeviceProp p = [] {
    cudaDeviceProp d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "Fractal SIMT emulator");
    d.major = 7, d.minor = 5; // the smallest target's limits
    d.multiProcessorCount = (int)sysconf(_SC_NPROCESSORS_ONLN);
    size_t ram = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    d.totalGlobalMem = env_size("FRACTAL_EMU_MEMORY_MB", ram / 2 >> 20) << 20;
    d.sharedMemPerBlock = 48 << 10;
    d.sharedMemPerBlockOptin = 64 << 10;
    d.maxThreadsPerBlock = 1024;
    d.maxThreadsDim[0] = 1024, d.maxThreadsDim[1] = 1024, d.maxThreadsDim[2] = 64;
    d.maxGridSize[0] = 0x7fffffff, d.maxGridSize[1] = 65535, d.maxGridSize[2] = 65535;
    d.warpSize = 32;
    d.regsPerBlock = 65536;
    d.l2CacheSize = 4 << 20;
    return d;
  }();
  return p;
}

bool stream_valid(cudaStream_t s)
{
  if (!s) return true;
  std::lock_guard<std::mutex> lock(mu);
  return streams.count(s) != 0;
}

// Is [p, p + n) inside one device allocation? (n = 0: is p inside or at the end of one?)
static bool is_device(const void *p, size_t n)
{
  uintptr_t a = (uintptr_t)p;
  std::lock_guard<std::mutex> lock(mu);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a >= it->first && a - it->first + n <= it->second && (n > 0 || a - it->first <= it->second);
}

} // namespace fr_emu

using namespace fr_emu;

extern "C" const char *fr_emu_last_report(void)
{
  std::lock_guard<std::mutex> lock(mu);
  static thread_local std::string copy;
  copy = last_report;
  return copy.c_str();
}

const char *cudaGetErrorName(cudaError_t e)
{
  switch (e) {
  case cudaSuccess: return "cudaSuccess";
  case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
  case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
  case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
  case cudaErrorNoDevice: return "cudaErrorNoDevice";
  case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
  case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
  case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e)
{
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorLaunchFailure: return "unspecified launch failure (the emulator's report is on stderr)";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError(void)
{
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

cudaError_t cudaGetDeviceCount(int *n)
{
  if (!n) return fail(cudaErrorInvalidValue);
  *n = device_count();
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
  if (!device) return fail(cudaErrorInvalidValue);
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device)
{
  if (!p) return fail(cudaErrorInvalidValue);
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  *p = device_props();
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v)
{
  if (!v) return fail(cudaErrorInvalidValue);
  *v = 0; // no driver
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v)
{
  if (!v) return fail(cudaErrorInvalidValue);
  *v = 0;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
  std::lock_guard<std::mutex> lock(mu);
  size_t total = device_props().totalGlobalMem;
  if (free_bytes) *free_bytes = total > allocated_bytes ? total - allocated_bytes : 0;
  if (total_bytes) *total_bytes = total;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n)
{
  if (!p) return fail(cudaErrorInvalidValue);
  *p = nullptr;
  size_t size = n ? n : 1;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (size > device_props().totalGlobalMem - allocated_bytes) return fail(cudaErrorMemoryAllocation);
  }
  void *mem = nullptr;
  if (posix_memalign(&mem, 256, (size + 255) / 256 * 256) != 0) return fail(cudaErrorMemoryAllocation);
  // Device memory starts as garbage on a GPU: here it is all-ones bytes (a NaN in every float), so a
  // kernel that reads what nobody wrote poisons its results instead of reading lucky zeros.
  memset(mem, 0xff, size);
  std::lock_guard<std::mutex> lock(mu);
  allocations[(uintptr_t)mem] = size;
  allocated_bytes += size;
  *p = mem;
  return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) {
      set_error(cudaErrorInvalidValue);
      return cudaErrorInvalidValue;
    }
    allocated_bytes -= it->second;
    allocations.erase(it);
  }
  free(p);
  return cudaSuccess;
}

static cudaError_t check_copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
  if (!n) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  bool dd = is_device(dst, n), sd = is_device(src, n);
  bool ok = true;
  const char *want = "";
  switch (kind) {
  case cudaMemcpyHostToHost: ok = !dd && !sd, want = "host to host"; break;
  case cudaMemcpyHostToDevice: ok = dd && !sd, want = "host to device"; break;
  case cudaMemcpyDeviceToHost: ok = !dd && sd, want = "device to host"; break;
  case cudaMemcpyDeviceToDevice: ok = dd && sd, want = "device to device"; break;
  case cudaMemcpyDefault: break;
  default: return fail(cudaErrorInvalidMemcpyDirection);
  }
  if (!ok) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "cudaMemcpy of %zu bytes marked %s, but the destination is %s memory and the source %s memory", n, want,
             dd ? "device" : "host (or not a whole device allocation)",
             sd ? "device" : "host (or not a whole device allocation)");
    report(msg);
    return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
  cudaError_t e = check_copy(dst, src, n, kind);
  if (e == cudaSuccess && n) memmove(dst, src, n);
  return e;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s)
{
  if (!stream_valid(s)) return fail(cudaErrorInvalidResourceHandle);
  return cudaMemcpy(dst, src, n, kind);
}

cudaError_t cudaMemset(void *p, int value, size_t n)
{
  if (!n) return cudaSuccess;
  if (!is_device(p, n)) {
    report("cudaMemset outside any device allocation");
    return fail(cudaErrorInvalidValue);
  }
  memset(p, value, n);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t s)
{
  if (!stream_valid(s)) return fail(cudaErrorInvalidResourceHandle);
  return cudaMemset(p, value, n);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
  if (!s) return fail(cudaErrorInvalidValue);
  *s = new fr_emu_stream{flags};
  std::lock_guard<std::mutex> lock(mu);
  streams.insert(*s);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!s || !streams.erase(s)) {
      set_error(cudaErrorInvalidResourceHandle);
      return cudaErrorInvalidResourceHandle;
    }
  }
  delete s;
  return cudaSuccess;
}

// Work runs when it is queued, so waiting only reports a kernel failure that was not yet collected.
cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
  if (!stream_valid(s)) return fail(cudaErrorInvalidResourceHandle);
  return last_error;
}

cudaError_t cudaDeviceSynchronize(void) { return last_error; }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
  if (!e) return fail(cudaErrorInvalidValue);
  *e = new fr_emu_event{std::chrono::steady_clock::now(), false};
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
  if (!e || !stream_valid(s)) return fail(cudaErrorInvalidResourceHandle);
  e->t = std::chrono::steady_clock::now(), e->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e ? cudaSuccess : fail(cudaErrorInvalidResourceHandle); }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
  if (!ms || !start || !end || !start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}
