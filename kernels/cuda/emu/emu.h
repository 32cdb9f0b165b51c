// The SIMT emulator's view of CUDA: with -DFRACTAL_CUDA=emu every kernels/cuda/*.cu file compiles as
// host C++ against this header instead of <cuda_runtime.h>, so the unmodified kernels run on the CPU.
//
// Each CUDA thread of a block is a fiber; the block's fibers run on one host thread and switch only at
// barriers and warp collectives, where the emulator checks that every thread arrived at the same one.
// Blocks run in parallel on host threads. FRACTAL_EMU_SCHED=fwd|rev|rand:SEED orders the threads (and
// the blocks) between barriers, so a result that depends on thread order shows up as a difference.
// What the emulator checks and what it cannot prove: docs/cuda.md.
#ifndef FRACTAL_CUDA_EMU_H
#define FRACTAL_CUDA_EMU_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers --------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// A block runs on one host thread at a time, so per-thread storage is per-block storage.
#define __shared__ static thread_local

// ---- built-in types ----------------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchFailure = 719,
};
typedef cudaError_t cudaError;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00

typedef struct fr_emu_stream *cudaStream_t;
typedef struct fr_emu_event *cudaEvent_t;

// The emulated device has the limits of the smallest GPU Fractal supports (sm_75), so a launch that
// the emulator accepts fits every target.
struct cudaDeviceProp {
  char name[256];
  int major, minor;
  int multiProcessorCount;
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;      // static + dynamic without opt-in
  size_t sharedMemPerBlockOptin; // dynamic shared memory after cudaFuncSetAttribute
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int warpSize;
  int regsPerBlock;
  size_t l2CacheSize;
};

// ---- the runtime API subset the backend calls ----------------------------------------------------
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int value, size_t n);
cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t s = 0);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

template <typename T> inline cudaError_t cudaMalloc(T **p, size_t n) { return cudaMalloc((void **)p, n); }

// ---- emulator internals the macros below reach ----------------------------------------------------
namespace fr_emu {

struct site {
  const char *file;
  int line;
};

struct thread_state {
  uint3 thread_idx;
};
struct block_state {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
  unsigned char *dynamic_smem;
};
extern __thread thread_state *cur_thread; // __thread: no C++ TLS wrapper call on every access
extern __thread block_state *cur_block;

struct launch_info {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  const char *name, *file;
  int line;
  const void *kernel;
};

// Runs every block of a grid (blocking); errors become the calling thread's last error.
void run_grid(const launch_info &li, void (*body)(void *), void *ctx);
cudaError_t set_max_dynamic_smem(const void *kernel, int bytes);

void syncthreads(site s);
enum warp_op { W_SYNC, W_SHFL_IDX, W_SHFL_UP, W_SHFL_DOWN, W_SHFL_XOR, W_BALLOT, W_ANY, W_ALL, W_WMMA };
uint64_t warp_collective(warp_op op, unsigned mask, uint64_t value, int arg, int width, site s);

template <typename T> inline T shfl(warp_op op, unsigned mask, T v, int arg, int width, site s)
{
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  bits = warp_collective(op, mask, bits, arg, width, s);
  T r;
  std::memcpy(&r, &bits, sizeof r);
  return r;
}

template <typename... P> struct launcher {
  void (*kernel)(P...);
  launch_info li;
  template <typename... A> void operator()(A &&...a) const
  {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    struct closure {
      void (*k)(P...);
      std::tuple<typename std::decay<P>::type...> args;
    } c{kernel, std::tuple<typename std::decay<P>::type...>(std::forward<A>(a)...)};
    // every CUDA thread gets its own copy of the parameters, as on the device
    run_grid(
        li, [](void *p) { std::apply(((closure *)p)->k, ((closure *)p)->args); }, &c);
  }
};

template <typename... P>
launcher<P...> make_launcher(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const char *name,
                             const char *file, int line)
{
  return launcher<P...>{k, launch_info{grid, block, smem, stream, name, file, line, (const void *)k}};
}

} // namespace fr_emu

template <typename K> inline cudaError_t cudaFuncSetAttribute(K *kernel, cudaFuncAttribute attr, int value)
{
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return fr_emu::set_max_dynamic_smem((const void *)kernel, value);
}

// ---- built-in variables --------------------------------------------------------------------------
#define threadIdx (static_cast<const uint3 &>(::fr_emu::cur_thread->thread_idx))
#define blockIdx (static_cast<const uint3 &>(::fr_emu::cur_block->block_idx))
#define blockDim (static_cast<const dim3 &>(::fr_emu::cur_block->block_dim))
#define gridDim (static_cast<const dim3 &>(::fr_emu::cur_block->grid_dim))
static constexpr int warpSize = 32;

// ---- barriers and warp collectives (rendezvous points, checked) ----------------------------------
#define __syncthreads() ::fr_emu::syncthreads(::fr_emu::site{__FILE__, __LINE__})
// (__syncwarp() without a mask: the empty argument list is a call of full_mask(), as C++17 has no __VA_OPT__)
#define __syncwarp(...) ::fr_emu::syncwarp_at(::fr_emu::site{__FILE__, __LINE__}, ::fr_emu::full_mask(__VA_ARGS__))
#define __shfl_sync(mask, v, lane, ...)                                                                                \
  ::fr_emu::shfl_at(::fr_emu::W_SHFL_IDX, (mask), (v), (lane), ::fr_emu::site{__FILE__, __LINE__}, ##__VA_ARGS__)
#define __shfl_up_sync(mask, v, delta, ...)                                                                            \
  ::fr_emu::shfl_at(::fr_emu::W_SHFL_UP, (mask), (v), (delta), ::fr_emu::site{__FILE__, __LINE__}, ##__VA_ARGS__)
#define __shfl_down_sync(mask, v, delta, ...)                                                                          \
  ::fr_emu::shfl_at(::fr_emu::W_SHFL_DOWN, (mask), (v), (delta), ::fr_emu::site{__FILE__, __LINE__}, ##__VA_ARGS__)
#define __shfl_xor_sync(mask, v, lanemask, ...)                                                                        \
  ::fr_emu::shfl_at(::fr_emu::W_SHFL_XOR, (mask), (v), (lanemask), ::fr_emu::site{__FILE__, __LINE__}, ##__VA_ARGS__)
#define __ballot_sync(mask, pred)                                                                                      \
  ((unsigned)::fr_emu::warp_collective(::fr_emu::W_BALLOT, (mask), (pred) != 0, 0, 32,                                 \
                                       ::fr_emu::site{__FILE__, __LINE__}))
#define __any_sync(mask, pred)                                                                                         \
  ((int)::fr_emu::warp_collective(::fr_emu::W_ANY, (mask), (pred) != 0, 0, 32, ::fr_emu::site{__FILE__, __LINE__}))
#define __all_sync(mask, pred)                                                                                         \
  ((int)::fr_emu::warp_collective(::fr_emu::W_ALL, (mask), (pred) != 0, 0, 32, ::fr_emu::site{__FILE__, __LINE__}))

namespace fr_emu {
inline unsigned full_mask(void) { return 0xffffffffu; }
inline unsigned full_mask(unsigned mask) { return mask; }
inline void syncwarp_at(site s, unsigned mask) { warp_collective(W_SYNC, mask, 0, 0, 32, s); }
template <typename T> inline T shfl_at(warp_op op, unsigned mask, T v, int arg, site s, int width = 32)
{
  return shfl(op, mask, v, arg, width, s);
}
} // namespace fr_emu

// ---- integer tensor cores: nvcuda::wmma with 8-bit operands and int accumulators ------------------
// The subset of <mma.h> the integer kernels use: m16n16k16 fragments of signed char / unsigned char
// (matrix_a, matrix_b, row- or column-major) and int (accumulator); fill_fragment, load_matrix_sync,
// store_matrix_sync, mma_sync. Every call is a warp collective of all 32 lanes (the .aligned
// instructions): it waits until the whole warp is in it, checks that every lane is at the same call with
// the same arguments (pointer, ldm, layout, fill value; for mma_sync, that every lane holds the same A
// and B), then does the whole warp's operation at once. A and B fragments hold the whole tile in every
// lane; an accumulator holds its lane's 8 of the 256 elements, in the emulator's own layout: the
// fragments' elements (x[], num_elements) are not offered, so no kernel can depend on a layout, and the
// sums are the exact int32 products whatever the layout. A sum outside int32 is reported (the hardware
// wraps it, which no exact kernel may rely on; satf = true clamps it, as the hardware does), as is a
// fragment used before it was loaded, a misaligned pointer or a bad ldm.
namespace fr_emu {
enum wmma_kind { WM_FILL, WM_LOAD_A, WM_LOAD_B, WM_LOAD_C, WM_STORE_C, WM_MMA };
struct wmma_req {
  wmma_kind kind;
  int elem_unsigned; // operand fragments: unsigned char elements (else signed char)
  int col_major;     // the memory layout of a load or store
  const void *ptr;   // loads and stores
  unsigned ldm;
  int fill, satf;
  void *d;               // this lane's fragment written (fill, loads, mma's d)
  const void *a, *b, *c; // mma's inputs (this lane's fragments)
};
void wmma_collective(wmma_req &r, site s); // emu_sched.cc
} // namespace fr_emu

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> class fragment;

// matrix_a (16 x 16, A[m][k]) and matrix_b (16 x 16, B[k][n]): the whole tile, canonical order.
template <typename Use, typename T, typename Layout> class fragment<Use, 16, 16, 16, T, Layout> {
  static_assert(std::is_same<Use, matrix_a>::value || std::is_same<Use, matrix_b>::value, "operand fragment");
  static_assert(std::is_same<T, signed char>::value || std::is_same<T, unsigned char>::value,
                "the emulator has integer tensor cores only: signed char or unsigned char operands");
  static_assert(std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value, "operand layout");

public:
  T tile_[16][16];
  int loaded_ = 0;
};

// The accumulator: this lane's 8 elements; element (r, c) is idx = 16 r + c, in lane idx % 32, slot idx / 32.
template <> class fragment<accumulator, 16, 16, 16, int, void> {
public:
  int own_[8];
  int loaded_ = 0;
};

// (the caller's file and line: __builtin_FILE and __builtin_LINE are only the caller's as whole default arguments)
#define FR_EMU_WMMA_SITE const char *at_file = __builtin_FILE(), int at_line = __builtin_LINE()

inline void fill_fragment(fragment<accumulator, 16, 16, 16, int> &f, int v, FR_EMU_WMMA_SITE)
{
  ::fr_emu::wmma_req r{};
  r.kind = ::fr_emu::WM_FILL, r.fill = v, r.d = &f;
  ::fr_emu::wmma_collective(r, ::fr_emu::site{at_file, at_line});
}

template <typename Use, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout> &f, const T *p, unsigned ldm, FR_EMU_WMMA_SITE)
{
  ::fr_emu::wmma_req r{};
  r.kind = std::is_same<Use, matrix_a>::value ? ::fr_emu::WM_LOAD_A : ::fr_emu::WM_LOAD_B;
  r.elem_unsigned = std::is_same<T, unsigned char>::value;
  r.col_major = std::is_same<Layout, col_major>::value;
  r.ptr = p, r.ldm = ldm, r.d = &f;
  ::fr_emu::wmma_collective(r, ::fr_emu::site{at_file, at_line});
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, int> &f, const int *p, unsigned ldm, layout_t layout,
                             FR_EMU_WMMA_SITE)
{
  ::fr_emu::wmma_req r{};
  r.kind = ::fr_emu::WM_LOAD_C, r.col_major = layout == mem_col_major, r.ptr = p, r.ldm = ldm, r.d = &f;
  ::fr_emu::wmma_collective(r, ::fr_emu::site{at_file, at_line});
}

inline void store_matrix_sync(int *p, const fragment<accumulator, 16, 16, 16, int> &f, unsigned ldm, layout_t layout,
                              FR_EMU_WMMA_SITE)
{
  ::fr_emu::wmma_req r{};
  r.kind = ::fr_emu::WM_STORE_C, r.col_major = layout == mem_col_major, r.ptr = p, r.ldm = ldm, r.c = &f;
  ::fr_emu::wmma_collective(r, ::fr_emu::site{at_file, at_line});
}

template <typename TA, typename LA, typename TB, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, int> &d, const fragment<matrix_a, 16, 16, 16, TA, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, TB, LB> &b, const fragment<accumulator, 16, 16, 16, int> &c,
                     bool satf = false, FR_EMU_WMMA_SITE)
{
  static_assert(std::is_same<TA, TB>::value, "mma_sync: A and B of one element type");
  ::fr_emu::wmma_req r{};
  r.kind = ::fr_emu::WM_MMA, r.elem_unsigned = std::is_same<TA, unsigned char>::value, r.satf = satf;
  r.d = &d, r.a = &a, r.b = &b, r.c = &c;
  ::fr_emu::wmma_collective(r, ::fr_emu::site{at_file, at_line});
}
#undef FR_EMU_WMMA_SITE
} // namespace wmma
} // namespace nvcuda

// Dynamic shared memory: FR_DYNAMIC_SHARED(float, smem) in a kernel (cuda_common.cuh) becomes this.
#define FR_EMU_DYNAMIC_SHARED(type, name) type *name = reinterpret_cast<type *>(::fr_emu::cur_block->dynamic_smem)

// ---- device functions --------------------------------------------------------------------------
// Correctly rounded binary32 arithmetic (the host's SSE is IEEE: round to nearest, subnormals kept).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline unsigned __float_as_uint(float x)
{
  unsigned u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float __uint_as_float(unsigned u)
{
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
inline int __float_as_int(float x) { return (int)__float_as_uint(x); }
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
template <typename T> inline T __ldg(const T *p) { return *p; }

// Integer atomics only: a float atomic add would make a sum's order depend on timing.
inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned *p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v)
{
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
inline int atomicMax(int *p, int v)
{
  int old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
  return old;
}
inline unsigned atomicOr(unsigned *p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline int atomicExch(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline int atomicCAS(int *p, int cmp, int v)
{
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}

// ---- inspection, for the emulator's own tests and for tools ----------------------------------------
extern "C" {
// The last error report of this process's emulator (barrier divergence, deadlock, bad mask...), "" if none.
const char *fr_emu_last_report(void);
// The thread order in force ("fwd", "rev", "rand:SEED"), from FRACTAL_EMU_SCHED.
const char *fr_emu_sched_name(void);
}

#endif
