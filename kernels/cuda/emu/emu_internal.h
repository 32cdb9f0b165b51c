// Shared inside the emulator: its runtime (emu_runtime.cc), fibers (emu_fiber.cc), scheduler (emu_sched.cc)
// and grids (emu_grid.cc).
#ifndef FRACTAL_CUDA_EMU_INTERNAL_H
#define FRACTAL_CUDA_EMU_INTERNAL_H

#include <cstdint>
#include <string>
#include <vector>

#include "emu.h"

namespace fr_emu {

// The calling host thread's last error (what cudaGetLastError returns and clears).
void set_error(cudaError_t e);
// Records a kernel bug found by the scheduler: printed once to stderr and kept for fr_emu_last_report.
void report(const std::string &text);
// The emulated device's limits (cudaGetDeviceProperties of device 0).
const cudaDeviceProp &device_props();
// Checks that a stream handle is 0 or one cudaStreamCreate made.
bool stream_valid(cudaStream_t s);

} // namespace fr_emu

// ---- fibers, warps and the host thread's worker ------------------------------------------------------
#if defined(__SANITIZE_ADDRESS__)
#define FR_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FR_EMU_ASAN 1
#endif
#endif
#ifdef FR_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace fr_emu {

enum fiber_state { F_READY, F_BARRIER, F_WARP, F_EXITED };

struct fiber {
  thread_state ts;
  unsigned linear; // x + y*bx + z*bx*by: lane = linear % 32
  fiber_state state;
  site where;        // the barrier or collective it waits at
  uint64_t barriers; // barriers passed so far
  warp_op op;        // pending collective
  unsigned mask;
  uint64_t value, result;
  int arg, width;
  char *stack; // usable [stack, stack + stack_size)
  size_t stack_size;
#if defined(__x86_64__)
  void *sp;
#else
  ucontext_t uc;
#endif
  void *asan_fake;
};

enum { ORDER_FWD, ORDER_REV, ORDER_RAND };
struct order_mode {
  int kind;
  uint64_t seed;
  char name[48];
};

// The thread order in force (FRACTAL_EMU_SCHED), and the mixing function of the random orders.
const order_mode &sched_mode();
uint64_t splitmix(uint64_t x);

// A warp's lanes: those the block has, those that ended, those waiting in a collective (and the
// collective the first of them called).
struct warp_state {
  unsigned exist, exited, pending;
  warp_op op;
  unsigned mask;
  int width;
};

// The host thread's fibers and the block it runs.
struct worker {
  std::vector<warp_state> warps;
  std::vector<fiber> fibers;
  size_t page = 4096;
#if defined(__x86_64__)
  void *sched_sp = nullptr;
#else
  ucontext_t sched_uc;
#endif
  const void *sched_bottom = nullptr;
  size_t sched_size = 0;
  void *sched_fake = nullptr;
  fiber *cur = nullptr;
  std::vector<unsigned> ready, next;
  block_state blk;
  unsigned char *smem = nullptr;
  size_t smem_cap = 0;
  unsigned nthreads = 0;
  // the block's threads by state (the ready ones are in `ready`/`next`), and the first barrier arrival
  unsigned n_barrier = 0, n_warp = 0, n_exited = 0;
  const fiber *first_at_barrier = nullptr, *first_exited = nullptr, *mismatched = nullptr;
  const launch_info *li = nullptr;
  void (*body)(void *) = nullptr;
  void *ctx = nullptr;
  std::string error; // set: the block failed and is abandoned
  ~worker();
};

// The calling host thread's worker (created on first use); `me` is null on threads that never ran a block.
extern thread_local worker *me;
worker &this_worker();

// Fibers (emu_fiber.cc): a fresh fiber for f's thread of the next block, and the two switches.
size_t stack_bytes();
bool fiber_prepare(worker &w, fiber &f);
void resume(worker &w, fiber &f);                // scheduler -> f, until f blocks or ends
void suspend(worker &w, fiber &f, bool exiting); // f -> scheduler
void fiber_main(fiber *f);                       // a fiber's body (emu_sched.cc)

// Stops the block from inside its running fiber, with a report about thread `who` (emu_sched.cc).
[[noreturn]] __attribute__((format(printf, 3, 4))) void fail_block(worker &w, const fiber &who, const char *fmt, ...);

// Blocks (emu_sched.cc): runs one block to its end; false, with w.error set, if the kernel broke a rule.
bool run_block(worker &w, uint64_t linear_block);

// Reports (emu_sched.cc).
std::string where(site s);
std::string coords(const uint3 &v);
std::string coords(const dim3 &v);

} // namespace fr_emu

#endif
