// The emulator's scheduler: a grid's blocks are shared out to host threads; a block's CUDA threads are
// fibers on one host thread, each running until it reaches a barrier, a warp collective or its end.
// At every rendezvous the emulator checks what CUDA requires (all threads at the same barrier, warp
// masks naming live lanes that call the same collective) and reports a kernel bug instead of hanging.
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu_internal.h"

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

static const order_mode &sched_mode()
{
  static const order_mode m = [] {
    order_mode o = {ORDER_FWD, 0, "fwd"};
    const char *v = getenv("FRACTAL_EMU_SCHED");
    if (!v || !*v || !strcmp(v, "fwd")) return o;
    if (!strcmp(v, "rev")) {
      o.kind = ORDER_REV;
      snprintf(o.name, sizeof o.name, "rev");
      return o;
    }
    if (!strncmp(v, "rand", 4) && (v[4] == 0 || v[4] == ':')) {
      char *end = nullptr;
      o.kind = ORDER_RAND;
      o.seed = v[4] ? strtoull(v + 5, &end, 10) : 1;
      if (v[4] && (end == v + 5 || *end)) {
        fprintf(stderr, "fractal CUDA emulator: FRACTAL_EMU_SCHED=%s: want fwd, rev or rand:SEED\n", v);
        abort();
      }
      snprintf(o.name, sizeof o.name, "rand:%llu", (unsigned long long)o.seed);
      return o;
    }
    fprintf(stderr, "fractal CUDA emulator: FRACTAL_EMU_SCHED=%s: want fwd, rev or rand:SEED\n", v);
    abort();
  }();
  return m;
}

static uint64_t splitmix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static size_t stack_bytes()
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

  ~worker()
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
};

static thread_local worker *me;

static worker &this_worker()
{
  static thread_local worker w;
  if (!me) {
    w.page = (size_t)sysconf(_SC_PAGESIZE);
    me = &w;
  }
  return *me;
}

static std::string where(site s)
{
  const char *f = s.file ? strrchr(s.file, '/') : nullptr;
  return std::string(f ? f + 1 : (s.file ? s.file : "?")) + ":" + std::to_string(s.line);
}

static std::string coords(const uint3 &v) { return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")"; }
static std::string coords(const dim3 &v) { return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")"; }

static std::string thread_name(const fiber &f) { return "thread " + coords(f.ts.thread_idx); }

static const char *op_name(warp_op op)
{
  static const char *const names[] = {"__syncwarp", "__shfl_sync", "__shfl_up_sync", "__shfl_down_sync",
                                      "__shfl_xor_sync", "__ballot_sync", "__any_sync", "__all_sync"};
  return names[op];
}

static std::string hexmask(unsigned m)
{
  char b[16];
  snprintf(b, sizeof b, "0x%08x", m);
  return b;
}

// ---- fibers -------------------------------------------------------------------------------------
static void fiber_main(fiber *f);

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

#if !defined(__x86_64__)
static void fiber_entry_uc(unsigned hi, unsigned lo)
{
  fiber_main((fiber *)(((uintptr_t)hi << 32) | lo));
}
#endif

static bool fiber_prepare(worker &w, fiber &f)
{
  if (!f.stack) {
    size_t size = stack_bytes();
    void *mem = mmap(nullptr, size + w.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
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
  frame[0] = 0, frame[1] = 0;                 // r15, r14
  frame[2] = (uint64_t)(uintptr_t)fiber_main; // r13
  frame[3] = (uint64_t)(uintptr_t)&f;         // r12
  frame[4] = 0, frame[5] = 0;                 // rbx, rbp
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
static void resume(worker &w, fiber &f)
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
static void suspend(worker &w, fiber &f, bool exiting)
{
  asan_leave_fiber(w, f, exiting);
#if defined(__x86_64__)
  fr_emu_switch(&f.sp, w.sched_sp);
#else
  swapcontext(&f.uc, &w.sched_uc);
#endif
  asan_back_in_fiber(w, f);
}

// Stops the block: the running fiber goes back to the scheduler, which abandons every fiber (none is
// resumed) and fails the grid. `who` is the thread the report is about. The fiber's frames are never
// unwound, so nothing on its stack may own memory: the report is formatted into fixed buffers here.
[[noreturn]] __attribute__((format(printf, 3, 4))) static void fail_block(worker &w, const fiber &who, const char *fmt, ...)
{
  char text[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (w.error.empty()) {
    const uint3 &b = w.blk.block_idx, &t = who.ts.thread_idx;
    char head[96];
    snprintf(head, sizeof head, "block (%u,%u,%u), thread (%u,%u,%u): ", b.x, b.y, b.z, t.x, t.y, t.z);
    w.error.assign(head).append(text);
  }
  suspend(w, *w.cur, false);
  abort(); // never resumed
}

// "file:line" of a site, into buf.
static const char *at(site s, char *buf, size_t n)
{
  const char *f = s.file ? strrchr(s.file, '/') : nullptr;
  snprintf(buf, n, "%s:%d", f ? f + 1 : (s.file ? s.file : "?"), s.line);
  return buf;
}

static const char *tname(const fiber &f, char *buf, size_t n)
{
  snprintf(buf, n, "thread (%u,%u,%u)", f.ts.thread_idx.x, f.ts.thread_idx.y, f.ts.thread_idx.z);
  return buf;
}

static void check_exit(worker &w, fiber &f)
{
  unsigned lane = f.linear % 32, base = f.linear - lane;
  warp_state &ws = w.warps[f.linear / 32];
  for (unsigned bits = ws.pending; bits; bits &= bits - 1) {
    fiber &o = w.fibers[base + (unsigned)__builtin_ctz(bits)];
    char a[64], b[64];
    if (o.mask >> lane & 1u)
      fail_block(w, f, "exited while lane %u (%s) waits for it in %s(mask 0x%08x) at %s", o.linear % 32,
                 tname(o, a, sizeof a), op_name(o.op), o.mask, at(o.where, b, sizeof b));
  }
  ws.exited |= 1u << lane;
}

static void fiber_main(fiber *f)
{
  worker &w = *me;
  asan_back_in_fiber(w, *f);
  w.body(w.ctx);
  check_exit(w, *f);
  f->state = F_EXITED;
  if (!w.first_exited) w.first_exited = f;
  w.n_exited++;
  suspend(w, *f, true);
  abort(); // an ended fiber is never resumed
}

// ---- rendezvous points (called from kernel code) ------------------------------------------------
static fiber &current(const char *what)
{
  if (!me || !me->cur) {
    fprintf(stderr, "fractal CUDA emulator: %s called outside a kernel\n", what);
    abort();
  }
  return *me->cur;
}

void syncthreads(site s)
{
  fiber &f = current("__syncthreads");
  worker &w = *me;
  f.state = F_BARRIER, f.where = s, f.barriers++;
  if (!w.first_at_barrier) w.first_at_barrier = &f;
  else if (!w.mismatched && (f.where.file != w.first_at_barrier->where.file || f.where.line != w.first_at_barrier->where.line ||
                             f.barriers != w.first_at_barrier->barriers))
    w.mismatched = &f;
  w.n_barrier++;
  suspend(w, f, false);
}

static bool pow2_width(int width) { return width >= 1 && width <= 32 && (width & (width - 1)) == 0; }

// Source lane of a shuffle for lane j, or -1 for "its own value".
static int shuffle_source(const fiber &f, unsigned j)
{
  unsigned w = (unsigned)f.width, seg = j & ~(w - 1);
  switch (f.op) {
  case W_SHFL_IDX: return (int)(seg + ((unsigned)f.arg & (w - 1)));
  case W_SHFL_UP: return f.arg < 0 || (int)j - f.arg < (int)seg ? -1 : (int)j - f.arg;
  case W_SHFL_DOWN: return f.arg < 0 || j + (unsigned)f.arg >= seg + w ? -1 : (int)(j + (unsigned)f.arg);
  case W_SHFL_XOR: {
    unsigned src = j ^ (unsigned)f.arg;
    return src >= seg + w || src >= 32 ? -1 : (int)src;
  }
  default: return -1;
  }
}

// A warp collective completes when every lane of its mask has called it; the caller then waits (or
// runs on) like everyone else, so the thread order stays the scheduler's.
uint64_t warp_collective(warp_op op, unsigned mask, uint64_t value, int arg, int width, site s)
{
  fiber &f = current(op_name(op));
  worker &w = *me;
  unsigned lane = f.linear % 32, base = f.linear - lane;
  warp_state &ws = w.warps[f.linear / 32];
  char a[64], b[64];
#define CALL_FMT "%s(mask 0x%08x) at %s"
#define CALL_ARGS op_name(op), mask, at(s, a, sizeof a)
  if (!(mask >> lane & 1u)) fail_block(w, f, CALL_FMT ": the mask does not name the calling lane %u", CALL_ARGS, lane);
  if (op >= W_SHFL_IDX && op <= W_SHFL_XOR && !pow2_width(width))
    fail_block(w, f, CALL_FMT ": width %d is not a power of two in 1..32", CALL_ARGS, width);
  if (mask & ~ws.exist) {
    unsigned j = (unsigned)__builtin_ctz(mask & ~ws.exist);
    fail_block(w, f, CALL_FMT ": the mask names lane %u, which does not exist (the block has %u threads)", CALL_ARGS, j,
               w.nthreads);
  }
  if (mask & ws.exited) {
    unsigned j = (unsigned)__builtin_ctz(mask & ws.exited);
    fail_block(w, f, CALL_FMT ": the mask names lane %u (%s), which has exited", CALL_ARGS, j,
               tname(w.fibers[base + j], b, sizeof b));
  }
  // lanes of our mask already waiting must be in the same collective (the common case: one group)
  unsigned waiting = mask & ws.pending;
  if (waiting && !(ws.op == op && ws.mask == mask && ws.width == width && !(ws.pending & ~mask)))
    for (unsigned bits = waiting; bits; bits &= bits - 1) {
      const fiber &o = w.fibers[base + (unsigned)__builtin_ctz(bits)];
      if (o.op != op || o.mask != mask || o.width != width) {
        char c[64];
        fail_block(w, f, CALL_FMT " while lane %u waits in %s(mask 0x%08x) at %s", CALL_ARGS, o.linear % 32, op_name(o.op),
                   o.mask, at(o.where, c, sizeof c));
      }
    }
  if (!ws.pending) ws.op = op, ws.mask = mask, ws.width = width;
  ws.pending |= 1u << lane;
  f.state = F_WARP, f.where = s, f.op = op, f.mask = mask, f.value = value, f.arg = arg, f.width = width;
  w.n_warp++;
  if ((ws.pending & mask) == mask) {
    uint64_t votes = 0;
    for (unsigned bits = mask; bits; bits &= bits - 1) {
      unsigned j = (unsigned)__builtin_ctz(bits);
      if (w.fibers[base + j].value) votes |= 1ull << j;
    }
    for (unsigned bits = mask; bits; bits &= bits - 1) {
      unsigned j = (unsigned)__builtin_ctz(bits);
      fiber &o = w.fibers[base + j];
      switch (op) {
      case W_SYNC: o.result = 0; break;
      case W_BALLOT: o.result = votes; break;
      case W_ANY: o.result = votes != 0; break;
      case W_ALL: o.result = votes == mask; break;
      default: {
        int src = shuffle_source(o, j);
        if (src >= 0 && !(mask >> src & 1u))
          fail_block(w, o, CALL_FMT ": lane %u reads lane %d, which is not in the mask", CALL_ARGS, j, src);
        o.result = src < 0 ? o.value : w.fibers[base + (unsigned)src].value;
      }
      }
    }
    for (unsigned bits = mask; bits; bits &= bits - 1) {
      unsigned j = (unsigned)__builtin_ctz(bits);
      w.fibers[base + j].state = F_READY;
      w.next.push_back(base + j);
    }
    w.n_warp -= (unsigned)__builtin_popcount(mask);
    ws.pending &= ~mask;
    if (ws.pending) { // another group stays: it becomes the representative
      const fiber &o = w.fibers[base + (unsigned)__builtin_ctz(ws.pending)];
      ws.op = o.op, ws.mask = o.mask, ws.width = o.width;
    }
  }
#undef CALL_FMT
#undef CALL_ARGS
  suspend(w, f, false);
  return f.result;
}

// ---- blocks ---------------------------------------------------------------------------------------
static void order_ready(worker &w, const order_mode &m, uint64_t block, uint64_t phase)
{
  std::vector<unsigned> &r = w.ready;
  if (m.kind == ORDER_FWD) {
    if (!std::is_sorted(r.begin(), r.end())) std::sort(r.begin(), r.end());
  } else if (m.kind == ORDER_REV) {
    if (!std::is_sorted(r.begin(), r.end(), [](unsigned a, unsigned b) { return a > b; }))
      std::sort(r.begin(), r.end(), [](unsigned a, unsigned b) { return a > b; });
  } else {
    if (!std::is_sorted(r.begin(), r.end())) std::sort(r.begin(), r.end());
    uint64_t s = splitmix(m.seed ^ splitmix(block * 0x100000001b3ull + phase));
    for (size_t i = r.size(); i > 1; i--) {
      s = splitmix(s);
      std::swap(r[i - 1], r[(size_t)(s % i)]);
    }
  }
}

// Every thread of the block may run (the block's start, or a barrier every thread reached).
static void release_all(worker &w, const order_mode &m)
{
  w.n_barrier = 0, w.first_at_barrier = nullptr, w.mismatched = nullptr;
  w.ready.resize(w.nthreads);
  for (unsigned i = 0; i < w.nthreads; i++) {
    w.fibers[i].state = F_READY;
    w.ready[i] = m.kind == ORDER_REV ? w.nthreads - 1 - i : i;
  }
}

static std::string deadlock_report(worker &w)
{
  for (unsigned i = 0; i < w.nthreads; i++) {
    fiber &f = w.fibers[i];
    if (f.state != F_WARP) continue;
    unsigned base = i - i % 32;
    std::string r = thread_name(f) + " waits in " + op_name(f.op) + "(mask " + hexmask(f.mask) + ") at " + where(f.where);
    for (unsigned j = 0; j < 32; j++) {
      if (!(f.mask >> j & 1u)) continue;
      fiber &o = w.fibers[base + j];
      if (o.state == F_BARRIER) return r + ", but lane " + std::to_string(j) + " (" + thread_name(o) + ") waits at __syncthreads at " + where(o.where);
      if (o.state == F_EXITED) return r + ", but lane " + std::to_string(j) + " (" + thread_name(o) + ") has exited";
    }
    return r;
  }
  return "no thread can run";
}

// Runs one block to the end; returns false (with w.error set) if the kernel broke a rule.
static bool run_block_fibers(worker &w, uint64_t linear_block);

#if defined(__x86_64__)
static unsigned get_mxcsr(void)
{
  unsigned v;
  __asm__ volatile("stmxcsr %0" : "=m"(v));
  return v;
}
static void set_mxcsr(unsigned v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }
#endif

static bool run_block(worker &w, uint64_t linear_block)
{
#if defined(__x86_64__)
  // the contract's mode for every CUDA thread: round to nearest, no FTZ, no DAZ, exceptions masked
  unsigned saved = get_mxcsr();
  set_mxcsr(0x1f80);
  bool ok = run_block_fibers(w, linear_block);
  set_mxcsr(saved);
  return ok;
#else
  return run_block_fibers(w, linear_block); // elsewhere the host's default mode is the contract's
#endif
}

static bool run_block_fibers(worker &w, uint64_t linear_block)
{
  const launch_info &li = *w.li;
  const order_mode &m = sched_mode();
  uint64_t gx = li.grid.x, gy = li.grid.y;
  w.blk.block_idx = uint3{(unsigned)(linear_block % gx), (unsigned)(linear_block / gx % gy), (unsigned)(linear_block / (gx * gy))};
  w.blk.block_dim = li.block, w.blk.grid_dim = li.grid;
  w.nthreads = li.block.x * li.block.y * li.block.z;
  if (li.smem > w.smem_cap) {
    free(w.smem);
    w.smem = (unsigned char *)aligned_alloc(256, (li.smem + 255) / 256 * 256);
    w.smem_cap = w.smem ? li.smem : 0;
  }
  if (li.smem) memset(w.smem, 0xff, li.smem); // NaN garbage, like the uninitialised memory of a GPU
  w.blk.dynamic_smem = li.smem ? w.smem : nullptr;
  cur_block = &w.blk;
  if (w.fibers.size() < w.nthreads) w.fibers.resize(w.nthreads);
  w.ready.clear(), w.next.clear();
  w.n_warp = 0, w.n_exited = 0, w.first_exited = nullptr;
  w.warps.resize((w.nthreads + 31) / 32);
  for (unsigned k = 0; k < w.warps.size(); k++) {
    unsigned lanes = w.nthreads - 32 * k < 32 ? w.nthreads - 32 * k : 32;
    w.warps[k] = warp_state{lanes == 32 ? 0xffffffffu : (1u << lanes) - 1, 0, 0, W_SYNC, 0, 0};
  }
  for (unsigned i = 0; i < w.nthreads; i++) {
    fiber &f = w.fibers[i];
    f.ts.thread_idx = uint3{i % li.block.x, i / li.block.x % li.block.y, i / (li.block.x * li.block.y)};
    f.linear = i, f.state = F_READY, f.barriers = 0, f.where = site{nullptr, 0};
    if (!fiber_prepare(w, f)) {
      w.error = "cannot allocate a fiber stack (" + std::to_string(stack_bytes() >> 10) + " KiB)";
      return false;
    }
  }
  release_all(w, m);
  for (uint64_t phase = 0;; phase++) {
    order_ready(w, m, linear_block, phase);
    for (size_t k = 0; k < w.ready.size(); k++) {
      fiber &f = w.fibers[w.ready[k]];
      if (f.state != F_READY) continue;
      resume(w, f);
      if (!w.error.empty()) return false;
    }
    w.ready.swap(w.next);
    w.next.clear();
    if (!w.ready.empty()) continue;
    // nobody can run: the block ended, or every live thread waits at a barrier (or it is stuck)
    if (w.n_exited == w.nthreads) return true;
    if (w.n_warp) {
      w.error = "block " + coords(w.blk.block_idx) + ": deadlock: " + deadlock_report(w);
      return false;
    }
    const fiber *first = w.first_at_barrier;
    if (w.n_exited) {
      w.error = "block " + coords(w.blk.block_idx) + ": barrier divergence: " + thread_name(*first) +
                " waits at __syncthreads at " + where(first->where) + ", but " + thread_name(*w.first_exited) + " has exited";
      return false;
    }
    if (w.mismatched) {
      const fiber &f = *w.mismatched;
      w.error = "block " + coords(w.blk.block_idx) + ": barrier divergence: " + thread_name(*first) +
                " is at __syncthreads at " + where(first->where) + " (its barrier #" + std::to_string(first->barriers) +
                "), " + thread_name(f) + " at " + where(f.where) + " (its barrier #" + std::to_string(f.barriers) + ")";
      return false;
    }
    release_all(w, m);
  }
}

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
    uint64_t b = m.kind == ORDER_FWD ? k : m.kind == ORDER_REV ? g.nblocks - 1 - k : (k * g.stride + g.offset) % g.nblocks;
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
         coords(li.grid) + ", block " + coords(li.block) + ", " + std::to_string(li.smem) + " bytes of dynamic shared memory";
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
  if (li.grid.x > (unsigned)p.maxGridSize[0] || li.grid.y > (unsigned)p.maxGridSize[1] || li.grid.z > (unsigned)p.maxGridSize[2])
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

__attribute__((constructor)) static void install_asan_callback(void) { __sanitizer_set_death_callback(say_cuda_thread); }
#endif
