// The emulator's fibers: one per CUDA thread of a block, each with its own stack, switched by a few
// instructions (x86-64; ucontext elsewhere), with AddressSanitizer told about every switch.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "emu_internal.h"

// ---- context switch ------------------------------------------------------------------------------
// x86-64 System V: save the callee-saved registers on the old stack, switch stacks, restore them from
// the new one. The floating-point mode (MXCSR) is the host thread's, which run_block sets to the
// contract's (round to nearest, no flush-to-zero) for as long as the block's fibers run.
#if defined(__x86_64__)
extern "C" void fr_emu_switch(void **save_sp, void *next_sp);
extern "C" void fr_emu_trampoline(void);
asm(R"(
  .text
  .p2align 4
  .globl fr_emu_switch
  .hidden fr_emu_switch
  .type fr_emu_switch,@function
fr_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size fr_emu_switch, .-fr_emu_switch

  .p2align 4
  .globl fr_emu_trampoline
  .hidden fr_emu_trampoline
  .type fr_emu_trampoline,@function
fr_emu_trampoline:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size fr_emu_trampoline, .-fr_emu_trampoline
)");
#endif

namespace fr_emu {

__thread thread_state *cur_thread;
__thread block_state *cur_block;
thread_local worker *me;

worker &this_worker()
{
  static thread_local worker w;
  if (!me) {
    w.page = (size_t)sysconf(_SC_PAGESIZE);
    me = &w;
  }
  return *me;
}

worker::~worker()
{
  for (fiber &f : fibers) {
    if (!f.stack) continue;
#ifdef FR_EMU_ASAN
    // an ended fiber's last frames never return, so their redzones stay poisoned: clear them, or the
    // next mapping at this address (another thread's stack or TLS) inherits false reports
    __asan_unpoison_memory_region(f.stack, f.stack_size);
#endif
    munmap(f.stack - page, f.stack_size + page);
  }
  free(smem);
}

size_t stack_bytes()
{
#ifdef FR_EMU_ASAN
  size_t dflt = 512;
#else
  size_t dflt = 64;
#endif
  const char *v = getenv("FRACTAL_EMU_STACK_KB");
  size_t kb = v && *v ? strtoull(v, nullptr, 10) : dflt;
  return (kb < 16 ? 16 : kb) << 10;
}

static void asan_enter_fiber(worker &w, fiber &f)
{
#ifdef FR_EMU_ASAN
  __sanitizer_start_switch_fiber(&w.sched_fake, f.stack, f.stack_size);
#else
  (void)w, (void)f;
#endif
}

static void asan_back_in_scheduler(worker &w)
{
#ifdef FR_EMU_ASAN
  __sanitizer_finish_switch_fiber(w.sched_fake, nullptr, nullptr);
#else
  (void)w;
#endif
}

static void asan_back_in_fiber(worker &w, fiber &f)
{
#ifdef FR_EMU_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake, &w.sched_bottom, &w.sched_size);
#else
  (void)w, (void)f;
#endif
}

static void asan_leave_fiber(worker &w, fiber &f, bool exiting)
{
#ifdef FR_EMU_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &f.asan_fake, w.sched_bottom, w.sched_size);
#else
  (void)w, (void)f, (void)exiting;
#endif
}

// Where a new fiber starts: it tells ASan it arrived, then runs its CUDA thread.
static void fiber_entry(fiber *f)
{
  asan_back_in_fiber(*me, *f);
  fiber_main(f);
}

#if !defined(__x86_64__)
static void fiber_entry_uc(unsigned hi, unsigned lo) { fiber_entry((fiber *)(((uintptr_t)hi << 32) | lo)); }
#endif

bool fiber_prepare(worker &w, fiber &f)
{
  if (!f.stack) {
    size_t size = stack_bytes();
    void *mem =
        mmap(nullptr, size + w.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return false;
    mprotect(mem, w.page, PROT_NONE); // a guard page below the stack
    f.stack = (char *)mem + w.page, f.stack_size = size;
  }
#ifdef FR_EMU_ASAN
  __asan_unpoison_memory_region(f.stack, f.stack_size); // a fiber abandoned mid-frame leaves poison behind
#endif
  f.asan_fake = nullptr;
#if defined(__x86_64__)
  // The frame fr_emu_switch pops: r15, r14, r13 (entry), r12 (its argument), rbx, rbp, and the return
  // address (the trampoline, entered with a 16-byte aligned stack). Each fiber's stack top is moved by
  // a different number of cache lines, so that the hot tops of a thousand stacks do not all fall into
  // the same cache sets.
  uintptr_t top = ((uintptr_t)(f.stack + f.stack_size) & ~(uintptr_t)15) - 16 - (f.linear % 61) * 64;
  uint64_t *frame = (uint64_t *)(top - 56);
  frame[0] = 0, frame[1] = 0;                  // r15, r14
  frame[2] = (uint64_t)(uintptr_t)fiber_entry; // r13
  frame[3] = (uint64_t)(uintptr_t)&f;          // r12
  frame[4] = 0, frame[5] = 0;                  // rbx, rbp
  frame[6] = (uint64_t)(uintptr_t)fr_emu_trampoline;
  f.sp = frame;
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = f.stack;
  f.uc.uc_stack.ss_size = f.stack_size;
  f.uc.uc_link = nullptr;
  uintptr_t p = (uintptr_t)&f;
  makecontext(&f.uc, (void (*)())fiber_entry_uc, 2, (unsigned)(p >> 32), (unsigned)p);
#endif
  return true;
}

// Scheduler -> fiber f, until f blocks or ends.
void resume(worker &w, fiber &f)
{
  w.cur = &f;
  cur_thread = &f.ts;
  asan_enter_fiber(w, f);
#if defined(__x86_64__)
  fr_emu_switch(&w.sched_sp, f.sp);
#else
  swapcontext(&w.sched_uc, &f.uc);
#endif
  asan_back_in_scheduler(w);
  w.cur = nullptr;
  cur_thread = nullptr;
}

// Fiber f -> scheduler.
void suspend(worker &w, fiber &f, bool exiting)
{
  asan_leave_fiber(w, f, exiting);
#if defined(__x86_64__)
  fr_emu_switch(&f.sp, w.sched_sp);
#else
  swapcontext(&f.uc, &w.sched_uc);
#endif
  asan_back_in_fiber(w, f);
}

} // namespace fr_emu
