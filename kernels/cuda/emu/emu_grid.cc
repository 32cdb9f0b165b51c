// The emulator's grids: a launch's configuration checked against the emulated device's limits, its
// blocks shared out (in the thread order in force) to a pool of host threads, one grid at a time.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu_internal.h"

namespace fr_emu {

// ---- grids ----------------------------------------------------------------------------------------
struct grid_run {
  const launch_info *li;
  void (*body)(void *);
  void *ctx;
  uint64_t nblocks, stride, offset; // block k runs as (k * stride + offset) mod nblocks
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error;
};

static uint64_t gcd(uint64_t a, uint64_t b)
{
  while (b) {
    uint64_t t = a % b;
    a = b, b = t;
  }
  return a;
}

static void work_on(grid_run &g)
{
  worker &w = this_worker();
  w.li = g.li, w.body = g.body, w.ctx = g.ctx;
  const order_mode &m = sched_mode();
  for (;;) {
    uint64_t k = g.next.fetch_add(1);
    if (k >= g.nblocks || g.failed.load()) break;
    uint64_t b = m.kind == ORDER_FWD   ? k
                 : m.kind == ORDER_REV ? g.nblocks - 1 - k
                                       : (k * g.stride + g.offset) % g.nblocks;
    w.error.clear();
    if (!run_block(w, b)) {
      std::lock_guard<std::mutex> lock(g.mu);
      if (!g.failed.exchange(true)) g.error = w.error;
    }
  }
  cur_block = nullptr;
}

// A pool of host threads that help the launching thread run blocks; one grid at a time.
struct pool {
  std::mutex mu;
  std::condition_variable wake, done;
  grid_run *job = nullptr;
  uint64_t generation = 0;
  int busy = 0;
  std::vector<std::thread> threads;
  std::mutex launch_mu;

  pool()
  {
    const char *v = getenv("FRACTAL_EMU_THREADS");
    long n = v && *v ? strtol(v, nullptr, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    for (long i = 1; i < n; i++) threads.emplace_back([this] { loop(); });
  }

  void loop()
  {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr); // signals belong to the application's threads
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return generation != seen; });
      seen = generation;
      if (!job) return; // shutdown
      grid_run *g = job;
      lock.unlock();
      work_on(*g);
      lock.lock();
      if (--busy == 0) done.notify_all();
    }
  }

  void run(grid_run &g)
  {
    std::lock_guard<std::mutex> one_grid(launch_mu);
    {
      std::lock_guard<std::mutex> lock(mu);
      job = &g, generation++, busy = (int)threads.size();
    }
    wake.notify_all();
    work_on(g);
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return busy == 0; });
    job = nullptr;
  }

  ~pool()
  {
    {
      std::lock_guard<std::mutex> lock(mu);
      job = nullptr, generation++;
    }
    wake.notify_all();
    for (std::thread &t : threads) t.join();
  }
};

static pool &the_pool()
{
  static pool p;
  return p;
}

static std::mutex attr_mu;
static std::vector<std::pair<const void *, int>> max_smem; // kernels that opted in to more dynamic smem

cudaError_t set_max_dynamic_smem(const void *kernel, int bytes)
{
  if (bytes < 0 || (size_t)bytes > device_props().sharedMemPerBlockOptin) {
    set_error(cudaErrorInvalidValue);
    return cudaErrorInvalidValue;
  }
  std::lock_guard<std::mutex> lock(attr_mu);
  for (auto &e : max_smem)
    if (e.first == kernel) {
      e.second = bytes;
      return cudaSuccess;
    }
  max_smem.emplace_back(kernel, bytes);
  return cudaSuccess;
}

static size_t smem_limit(const void *kernel)
{
  std::lock_guard<std::mutex> lock(attr_mu);
  for (auto &e : max_smem)
    if (e.first == kernel) return (size_t)e.second;
  return device_props().sharedMemPerBlock;
}

static std::string launch_name(const launch_info &li)
{
  return std::string("kernel ") + li.name + " launched at " + where(site{li.file, li.line}) + " with grid " +
         coords(li.grid) + ", block " + coords(li.block) + ", " + std::to_string(li.smem) +
         " bytes of dynamic shared memory";
}

static std::string check_config(const launch_info &li)
{
  const cudaDeviceProp &p = device_props();
  uint64_t threads = (uint64_t)li.block.x * li.block.y * li.block.z;
  if (!li.block.x || !li.block.y || !li.block.z || !li.grid.x || !li.grid.y || !li.grid.z) return "a zero dimension";
  if (li.block.x > (unsigned)p.maxThreadsDim[0] || li.block.y > (unsigned)p.maxThreadsDim[1] ||
      li.block.z > (unsigned)p.maxThreadsDim[2])
    return "a block dimension over the device's limit (1024, 1024, 64)";
  if (threads > (uint64_t)p.maxThreadsPerBlock) return std::to_string(threads) + " threads per block (at most 1024)";
  if (li.grid.x > (unsigned)p.maxGridSize[0] || li.grid.y > (unsigned)p.maxGridSize[1] ||
      li.grid.z > (unsigned)p.maxGridSize[2])
    return "a grid dimension over the device's limit (2^31 - 1, 65535, 65535)";
  if (li.smem > smem_limit(li.kernel))
    return std::to_string(li.smem) + " bytes of dynamic shared memory (the limit is " +
           std::to_string(smem_limit(li.kernel)) + "; more needs cudaFuncSetAttribute, up to " +
           std::to_string(p.sharedMemPerBlockOptin) + " on sm_75)";
  if (!stream_valid(li.stream)) return "a stream that does not exist";
  return "";
}

void run_grid(const launch_info &li, void (*body)(void *), void *ctx)
{
  if (me && me->cur) // no dynamic parallelism: fail the launching kernel's grid
    fail_block(*me, *me->cur, "launched kernel %s at %s:%d from inside a kernel", li.name, li.file, li.line);
  std::string bad = check_config(li);
  if (!bad.empty()) {
    report(launch_name(li) + ": invalid configuration: " + bad);
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  grid_run g;
  g.li = &li, g.body = body, g.ctx = ctx;
  g.nblocks = (uint64_t)li.grid.x * li.grid.y * li.grid.z;
  const order_mode &m = sched_mode();
  g.stride = 1, g.offset = 0;
  if (m.kind == ORDER_RAND && g.nblocks > 1) { // a random permutation of the blocks: k -> k*stride + offset
    uint64_t s = splitmix(m.seed ^ g.nblocks);
    g.stride = s % g.nblocks;
    while (gcd(g.stride, g.nblocks) != 1) g.stride = (g.stride + 1) % g.nblocks;
    g.offset = splitmix(s) % g.nblocks;
  }
  the_pool().run(g);
  if (g.failed.load()) {
    report(launch_name(li) + ": " + g.error);
    set_error(cudaErrorLaunchFailure);
  }
}

} // namespace fr_emu

extern "C" const char *fr_emu_sched_name(void) { return fr_emu::sched_mode().name; }

#ifdef FR_EMU_ASAN
// AddressSanitizer names host stack frames; this adds which CUDA thread of which kernel made the access.
static void say_cuda_thread(void)
{
  using namespace fr_emu;
  if (!me || !me->cur || !me->li) return;
  fprintf(stderr, "fractal CUDA emulator: the access above was made by CUDA thread %s of block %s in %s\n",
          coords(me->cur->ts.thread_idx).c_str(), coords(me->blk.block_idx).c_str(), launch_name(*me->li).c_str());
}

__attribute__((constructor)) static void install_asan_callback(void)
{
  __sanitizer_set_death_callback(say_cuda_thread);
}
#endif
