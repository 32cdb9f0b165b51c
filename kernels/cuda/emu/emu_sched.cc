// The emulator's scheduler: a block's CUDA threads are fibers on one host thread, each running until it
// reaches a barrier, a warp collective or its end. At every rendezvous the emulator checks what CUDA
// requires (all threads at the same barrier, warp masks naming live lanes that call the same collective)
// and reports a kernel bug instead of hanging.
#include <stdarg.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "emu_internal.h"

namespace fr_emu {

const order_mode &sched_mode()
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

uint64_t splitmix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string where(site s)
{
  const char *f = s.file ? strrchr(s.file, '/') : nullptr;
  return std::string(f ? f + 1 : (s.file ? s.file : "?")) + ":" + std::to_string(s.line);
}

std::string coords(const uint3 &v)
{
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}
std::string coords(const dim3 &v)
{
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

static std::string thread_name(const fiber &f) { return "thread " + coords(f.ts.thread_idx); }

static const char *op_name(warp_op op)
{
  static const char *const names[] = {"__syncwarp",       "__shfl_sync",     "__shfl_up_sync",
                                      "__shfl_down_sync", "__shfl_xor_sync", "__ballot_sync",
                                      "__any_sync",       "__all_sync",      "wmma::*_sync"};
  return names[op];
}

static std::string hexmask(unsigned m)
{
  char b[16];
  snprintf(b, sizeof b, "0x%08x", m);
  return b;
}

// ---- fibers' ends and failures -------------------------------------------------------------------
// Stops the block: the running fiber goes back to the scheduler, which abandons every fiber (none is
// resumed) and fails the grid. `who` is the thread the report is about. The fiber's frames are never
// unwound, so nothing on its stack may own memory: the report is formatted into fixed buffers here.
[[noreturn]] void fail_block(worker &w, const fiber &who, const char *fmt, ...)
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

void fiber_main(fiber *f)
{
  worker &w = *me;
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
  else if (!w.mismatched &&
           (f.where.file != w.first_at_barrier->where.file || f.where.line != w.first_at_barrier->where.line ||
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

// ---- integer tensor cores (nvcuda::wmma in emu.h) --------------------------------------------------
static const char *wmma_name(wmma_kind k)
{
  static const char *const names[] = {"wmma::fill_fragment",
                                      "wmma::load_matrix_sync (matrix_a)",
                                      "wmma::load_matrix_sync (matrix_b)",
                                      "wmma::load_matrix_sync (accumulator)",
                                      "wmma::store_matrix_sync",
                                      "wmma::mma_sync"};
  return names[k];
}

typedef nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, int> acc_frag;
// The operand fragments of both element types and layouts share one memory layout (emu.h).
typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, signed char, nvcuda::wmma::row_major> op_frag;
static_assert(
    sizeof(op_frag) ==
        sizeof(nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, unsigned char, nvcuda::wmma::col_major>),
    "operand fragments differ in layout");

// Element (r, c) of a 16 x 16 tile in memory at p with leading dimension ldm (in elements).
static size_t tile_index(int col_major, unsigned ldm, int r, int c)
{
  return col_major ? (size_t)c * ldm + (size_t)r : (size_t)r * ldm + (size_t)c;
}

// Runs a wmma call that the whole warp (lanes base .. base + 31) has reached: every lane's request must be
// the same call with the same arguments; then each lane's part is done, all at this one moment.
static void wmma_execute(worker &w, unsigned base)
{
  const fiber &f0 = w.fibers[base];
  const wmma_req &r0 = *(const wmma_req *)f0.value;
  char a[64], b[64];
  for (unsigned j = 1; j < 32; j++) {
    const fiber &o = w.fibers[base + j];
    const wmma_req &r = *(const wmma_req *)o.value;
    if (r.kind != r0.kind || o.where.file != f0.where.file || o.where.line != f0.where.line)
      fail_block(w, o, "lane %u is in %s at %s while lane 0 is in %s at %s (a warp must run wmma calls together)", j,
                 wmma_name(r.kind), at(o.where, a, sizeof a), wmma_name(r0.kind), at(f0.where, b, sizeof b));
    if (r.ptr != r0.ptr || r.ldm != r0.ldm || r.col_major != r0.col_major || r.fill != r0.fill || r.satf != r0.satf ||
        r.elem_unsigned != r0.elem_unsigned)
      fail_block(w, o,
                 "%s at %s: lane %u passes other arguments than lane 0 (pointer %p / %p, ldm %u / %u, value %d / %d)",
                 wmma_name(r.kind), at(o.where, a, sizeof a), j, r.ptr, r0.ptr, r.ldm, r0.ldm, r.fill, r0.fill);
  }
  const wmma_req &r = r0;
  const char *name = wmma_name(r.kind);
  if (r.kind == WM_LOAD_A || r.kind == WM_LOAD_B || r.kind == WM_LOAD_C || r.kind == WM_STORE_C) {
    unsigned elem = r.kind == WM_LOAD_A || r.kind == WM_LOAD_B ? 1 : 4;
    if ((uintptr_t)r.ptr % 32)
      fail_block(w, f0, "%s at %s: the pointer %p is not 256-bit aligned", name, at(f0.where, a, sizeof a), r.ptr);
    if (r.ldm * elem % 16 || r.ldm < 16)
      fail_block(w, f0, "%s at %s: ldm %u is not a multiple of 16 bytes of at least one tile row", name,
                 at(f0.where, a, sizeof a), r.ldm);
  }
  if (r.kind == WM_MMA) {
    const op_frag &fa = *(const op_frag *)r.a, &fb = *(const op_frag *)r.b;
    const acc_frag &fc = *(const acc_frag *)r.c;
    for (unsigned j = 0; j < 32; j++) {
      const wmma_req &rj = *(const wmma_req *)w.fibers[base + j].value;
      const op_frag &ja = *(const op_frag *)rj.a, &jb = *(const op_frag *)rj.b;
      const acc_frag &jc = *(const acc_frag *)rj.c;
      if (!ja.loaded_ || !jb.loaded_ || !jc.loaded_)
        fail_block(w, w.fibers[base + j], "%s at %s: lane %u's %s fragment was never loaded or filled", name,
                   at(f0.where, a, sizeof a), j,
                   !ja.loaded_   ? "A"
                   : !jb.loaded_ ? "B"
                                 : "C");
      if (memcmp(ja.tile_, fa.tile_, sizeof fa.tile_) || memcmp(jb.tile_, fb.tile_, sizeof fb.tile_))
        fail_block(w, w.fibers[base + j], "%s at %s: lane %u holds another %s fragment than lane 0", name,
                   at(f0.where, a, sizeof a), j, memcmp(ja.tile_, fa.tile_, sizeof fa.tile_) ? "A" : "B");
    }
    (void)fc;
  }
  if (r.kind == WM_STORE_C)
    for (unsigned j = 0; j < 32; j++) {
      const acc_frag &c = *(const acc_frag *)((const wmma_req *)w.fibers[base + j].value)->c;
      if (!c.loaded_)
        fail_block(w, w.fibers[base + j], "%s at %s: lane %u's fragment was never loaded or filled", name,
                   at(f0.where, a, sizeof a), j);
    }
  for (unsigned j = 0; j < 32; j++) {
    const wmma_req &rj = *(const wmma_req *)w.fibers[base + j].value;
    switch (rj.kind) {
    case WM_FILL: {
      acc_frag &d = *(acc_frag *)rj.d;
      for (int s = 0; s < 8; s++) d.own_[s] = rj.fill;
      d.loaded_ = 1;
      break;
    }
    case WM_LOAD_A:
    case WM_LOAD_B: { // the whole tile into every lane; A[m][k] or B[k][n] in the fragment's order
      op_frag &d = *(op_frag *)rj.d;
      const signed char *p = (const signed char *)rj.ptr;
      for (int row = 0; row < 16; row++)
        for (int c = 0; c < 16; c++) d.tile_[row][c] = p[tile_index(rj.col_major, rj.ldm, row, c)];
      d.loaded_ = 1;
      break;
    }
    case WM_LOAD_C: {
      acc_frag &d = *(acc_frag *)rj.d;
      const int *p = (const int *)rj.ptr;
      for (int s = 0; s < 8; s++) {
        unsigned idx = 32 * (unsigned)s + j;
        d.own_[s] = p[tile_index(rj.col_major, rj.ldm, (int)idx / 16, (int)idx % 16)];
      }
      d.loaded_ = 1;
      break;
    }
    case WM_STORE_C: {
      const acc_frag &c = *(const acc_frag *)rj.c;
      int *p = (int *)rj.ptr;
      for (int s = 0; s < 8; s++) {
        unsigned idx = 32 * (unsigned)s + j;
        p[tile_index(rj.col_major, rj.ldm, (int)idx / 16, (int)idx % 16)] = c.own_[s];
      }
      break;
    }
    case WM_MMA: { // d = c + A B for this lane's elements, exactly
      const op_frag &fa = *(const op_frag *)rj.a, &fb = *(const op_frag *)rj.b;
      const acc_frag &fc = *(const acc_frag *)rj.c;
      int out[8];
      for (int s = 0; s < 8; s++) {
        unsigned idx = 32 * (unsigned)s + j;
        int row = (int)idx / 16, col = (int)idx % 16;
        int64_t sum = fc.own_[s];
        for (int k = 0; k < 16; k++) {
          int x = rj.elem_unsigned ? (int)(unsigned char)fa.tile_[row][k] : (int)fa.tile_[row][k];
          int y = rj.elem_unsigned ? (int)(unsigned char)fb.tile_[k][col] : (int)fb.tile_[k][col];
          sum += (int64_t)x * y;
        }
        if (sum > INT32_MAX || sum < INT32_MIN) {
          if (!rj.satf)
            fail_block(w, w.fibers[base + j],
                       "%s at %s: element (%d, %d) is %lld, outside int32 (the hardware would "
                       "wrap it around)",
                       name, at(f0.where, a, sizeof a), row, col, (long long)sum);
          sum = sum > INT32_MAX ? INT32_MAX : INT32_MIN;
        }
        out[s] = (int)sum;
      }
      acc_frag &d = *(acc_frag *)rj.d; // may be c itself
      memcpy(d.own_, out, sizeof out);
      d.loaded_ = 1;
      break;
    }
    }
  }
}

void wmma_collective(wmma_req &r, site s) { warp_collective(W_WMMA, 0xffffffffu, (uint64_t)(uintptr_t)&r, 0, 32, s); }

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
        fail_block(w, f, CALL_FMT " while lane %u waits in %s(mask 0x%08x) at %s", CALL_ARGS, o.linear % 32,
                   op_name(o.op), o.mask, at(o.where, c, sizeof c));
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
    if (op == W_WMMA) wmma_execute(w, base);
    for (unsigned bits = mask; bits; bits &= bits - 1) {
      unsigned j = (unsigned)__builtin_ctz(bits);
      fiber &o = w.fibers[base + j];
      switch (op) {
      case W_SYNC:
      case W_WMMA: o.result = 0; break;
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
    std::string r =
        thread_name(f) + " waits in " + op_name(f.op) + "(mask " + hexmask(f.mask) + ") at " + where(f.where);
    for (unsigned j = 0; j < 32; j++) {
      if (!(f.mask >> j & 1u)) continue;
      fiber &o = w.fibers[base + j];
      if (o.state == F_BARRIER)
        return r + ", but lane " + std::to_string(j) + " (" + thread_name(o) + ") waits at __syncthreads at " +
               where(o.where);
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

bool run_block(worker &w, uint64_t linear_block)
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
  w.blk.block_idx =
      uint3{(unsigned)(linear_block % gx), (unsigned)(linear_block / gx % gy), (unsigned)(linear_block / (gx * gy))};
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
                " waits at __syncthreads at " + where(first->where) + ", but " + thread_name(*w.first_exited) +
                " has exited";
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

} // namespace fr_emu
