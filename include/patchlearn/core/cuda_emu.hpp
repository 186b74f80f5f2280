#pragma once
// Host emulation of the CUDA runtime and execution model, so that the cuda/*.cu files compile with
// the host compiler (CMake option PATCHLEARN_CUDA_EMU) and the `gpu` tests run without a GPU, in
// CI, under ASan + UBSan. Included by cuda/common.cuh instead of <cuda_runtime.h>; nothing else
// includes it. What it models, and checks loudly (one line on stderr starting "cuda-emu:", then
// abort):
//   - kernels: threadIdx/blockIdx/blockDim/gridDim; the threads of a block run as fibers
//     (Context below) in barrier phases: every thread runs up to its next __syncthreads before any runs
//     on; a thread that returns while others wait at a barrier is a divergence error. Blocks run
//     one after another. PATCHLEARN_EMU_REVERSE=1 runs the threads of each phase, and the blocks,
//     in reverse order (a kernel whose result depends on the order has a race).
//   - shared memory: static (PL_SHARED) and dynamic (PL_DYNAMIC_SHARED) arrays per block, each its
//     own heap allocation of the exact size (ASan sees overruns), filled with NaN (all bits set)
//     before every block, so reading what this block did not write shows up as NaN.
//   - the H200's launch limits: 1024 threads per block (x, y <= 1024, z <= 64), grid x < 2^31,
//     y, z <= 65535, no zero dimension; 48 KiB static shared memory; dynamic shared memory up to
//     48 KiB, or up to the cudaFuncAttributeMaxDynamicSharedMemorySize set for the kernel (at most
//     227 KiB, static included).
//   - memory: cudaMalloc'd blocks are registered (filled with NaN like uninitialised device
//     memory); every cudaMemcpy/cudaMemset/cudaFree checks that each pointer lies on the side its
//     direction says (device: inside a registered block, with the whole range; host: not in one),
//     and every pointer argument of a launch, and every pointer an element-wise functor argument
//     lists (pointers()), must be null or device memory.
// What it cannot model is listed in README.md ("The CUDA backend without a GPU").
#if !defined(__x86_64__)
#include <ucontext.h>
#endif
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define PL_EMU_ASAN 1
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr {
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};
struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  std::size_t sharedMemPerBlockOptin;
  int maxThreadsPerBlock;
  int multiProcessorCount;
  int major, minor;
};

// The built-in variables: set by the emulator before it runs or resumes a thread.
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

using std::fmax;
using std::fmin;
using std::isfinite;

namespace patchlearn::emu {

// H200 (sm_90) limits.
constexpr unsigned kMaxThreads = 1024, kMaxBlockXY = 1024, kMaxBlockZ = 64;
constexpr unsigned long long kMaxGridX = 2147483647ull;
constexpr unsigned kMaxGridYZ = 65535;
constexpr std::size_t kSharedDefault = 48 << 10, kSharedOptin = 227 << 10, kGlobalMemory = 141ull << 30;
constexpr int kMultiprocessors = 132, kThreadsPerMultiprocessor = 2048;
constexpr std::size_t kFiberStack = 256 << 10;

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "cuda-emu: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline std::string hex(const void* p) {
  char s[32];
  std::snprintf(s, sizeof s, "%p", p);
  return s;
}

// A suspended execution context: a fiber's, or the launching thread's while fibers run.
// On x86-64 it is the saved stack pointer, and switch_stack saves and restores only what the
// calling convention says a call preserves (rbx, rbp, r12-r15, the MXCSR and x87 control words).
// glibc's swapcontext also saves and restores the signal mask, a system call on every switch:
// that took 3/4 of the time of a barrier-heavy emulated kernel. Elsewhere, ucontext.
#if defined(__x86_64__)
struct Context {
  void* sp = nullptr;
};
// Saves the caller's registers on its stack, stores that stack pointer in *save, and resumes the
// context whose stack pointer is `load` (as switch_stack left it, or as start_context made it).
// noipa: GCC must not assume, from the body it cannot see into, that a call keeps any register the
// calling convention lets a callee clobber.
#if defined(__clang__)
#define PL_EMU_OPAQUE [[gnu::naked, gnu::noinline]]
#else
#define PL_EMU_OPAQUE [[gnu::naked, gnu::noinline, gnu::noipa]]
#endif
PL_EMU_OPAQUE inline void switch_stack(void** /*save*/, void* /*load*/) {
  asm("pushq %rbp\n\t"
      "pushq %rbx\n\t"
      "pushq %r12\n\t"
      "pushq %r13\n\t"
      "pushq %r14\n\t"
      "pushq %r15\n\t"
      "subq $8, %rsp\n\t"
      "stmxcsr (%rsp)\n\t"
      "fnstcw 4(%rsp)\n\t"
      "movq %rsp, (%rdi)\n\t"
      "movq %rsi, %rsp\n\t"
      "ldmxcsr (%rsp)\n\t"
      "fldcw 4(%rsp)\n\t"
      "addq $8, %rsp\n\t"
      "popq %r15\n\t"
      "popq %r14\n\t"
      "popq %r13\n\t"
      "popq %r12\n\t"
      "popq %rbx\n\t"
      "popq %rbp\n\t"
      "ret");
}
inline void switch_context(Context& save, const Context& load) { switch_stack(&save.sp, load.sp); }
// A context that, when first switched to, calls entry() on [stack, stack + size); entry must not
// return. The stack is laid out as switch_stack leaves one, with entry as the return address and
// the caller's control words, so that entry starts with the stack aligned as after a call.
inline void start_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
  auto top = (reinterpret_cast<std::uintptr_t>(stack) + size) & ~std::uintptr_t{15};
  auto** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                              // entry's return address: it never returns
  *--sp = reinterpret_cast<void*>(entry);       // where switch_stack's ret goes
  for (int r = 0; r < 6; ++r) *--sp = nullptr;  // rbp, rbx, r12-r15
  std::uint32_t mxcsr;
  std::uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  std::uint64_t words = mxcsr | (std::uint64_t{fpucw} << 32);
  std::memcpy(--sp, &words, sizeof words);
  c.sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
inline void switch_context(Context& save, const Context& load) {
  if (swapcontext(&save.uc, &load.uc) != 0) fail("swapcontext failed");
}
inline void start_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
  if (getcontext(&c.uc) != 0) fail("getcontext failed");
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
  Context ctx;
  char* stack = nullptr;  // usable part, above a guard page
  void* fake_stack = nullptr;
};

// The state of the block being run.
struct Block {
  unsigned n = 0;     // threads
  unsigned next = 0;  // threads started (in phase 0)
  unsigned finished = 0;
  unsigned phase = 0;
  bool reverse = false;
  std::vector<unsigned> waiting;  // threads at the barrier of this phase
  std::vector<Fiber*> fiber_of;   // the fiber each started, unfinished thread runs on
  unsigned current = 0;           // the thread running now
  void (*body)(const void*) = nullptr;
  const void* body_arg = nullptr;
  unsigned order(unsigned i) const { return reverse ? n - 1 - i : i; }
};

struct SharedArray {
  std::size_t bytes;
  unsigned char* data;
};

struct State {
  std::map<std::uintptr_t, std::size_t> allocations;  // device blocks: base -> bytes
  std::size_t allocated = 0;
  std::map<const void*, int> max_dynamic_shared;  // kernel -> opt-in bytes
  cudaError_t last_error = cudaSuccess;
  // Kernel execution.
  const char* kernel = nullptr;  // the kernel running now (null between launches)
  std::size_t dynamic_bytes = 0, dynamic_limit = 0, static_bytes = 0;
  unsigned char* dynamic_shared = nullptr;
  std::map<const void*, SharedArray> static_shared;  // PL_SHARED arrays of this launch, by tag
  Block block;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<Fiber*> idle;
  Fiber* running = nullptr;  // null: the launching (main) context
  Context main_ctx;
  void* main_fake_stack = nullptr;
  const void* main_stack_bottom = nullptr;
  std::size_t main_stack_size = 0;
  bool reverse = [] {
    const char* e = std::getenv("PATCHLEARN_EMU_REVERSE");
    return e && std::strcmp(e, "1") == 0;
  }();
  ~State() {
    for (auto& [tag, a] : static_shared) std::free(a.data);
    for (auto& f : fibers) munmap(f->stack - getpagesize(), kFiberStack + getpagesize());
  }
};

inline State& state() {
  static State s;
  return s;
}

inline cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) state().last_error = e;
  return e;
}

// The registered device block holding [p, p + bytes), or none.
inline bool on_device(const void* p, std::size_t bytes) {
  const auto& a = state().allocations;
  const auto q = reinterpret_cast<std::uintptr_t>(p);
  auto it = a.upper_bound(q);
  if (it == a.begin()) return false;
  --it;
  return q >= it->first && q + bytes <= it->first + it->second;
}
inline bool touches_device(const void* p, std::size_t bytes) {
  const auto& a = state().allocations;
  const auto q = reinterpret_cast<std::uintptr_t>(p);
  auto it = a.lower_bound(q + (bytes ? bytes : 1));
  if (it == a.begin()) return false;
  --it;
  return it->first + it->second > q;
}

// ----- fibers -----

inline void switch_to(Fiber* to) {
  State& s = state();
  Fiber* from = s.running;
  s.running = to;
#ifdef PL_EMU_ASAN
  void** fake = from ? &from->fake_stack : &s.main_fake_stack;
  __sanitizer_start_switch_fiber(fake, to ? static_cast<const void*>(to->stack) : s.main_stack_bottom,
                                 to ? kFiberStack : s.main_stack_size);
#endif
  switch_context(from ? from->ctx : s.main_ctx, to ? to->ctx : s.main_ctx);
#ifdef PL_EMU_ASAN
  __sanitizer_finish_switch_fiber(from ? from->fake_stack : s.main_fake_stack, nullptr, nullptr);
#endif
}

inline void set_thread(unsigned t) {
  State& s = state();
  s.block.current = t;
  const unsigned bx = blockDim.x, by = blockDim.y;
  threadIdx = dim3(t % bx, (t / bx) % by, t / (bx * by));
}

inline void start_block(unsigned long long i);
inline bool next_block_waiting();

// A fiber takes the unstarted threads of the block, one after another, until one waits at a
// barrier (then another fiber goes on) or none is left; it then returns to the launching context
// and sleeps until it is given work again.
inline void fiber_main() {
#ifdef PL_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  State& s = state();
  for (;;) {
    Fiber* self = s.running;
    Block& b = s.block;
    while (b.next < b.n) {
      const unsigned t = b.order(b.next++);
      b.fiber_of[t] = self;
      set_thread(t);
      b.body(b.body_arg);
      b.fiber_of[t] = nullptr;
      ++b.finished;
      // A block whose threads never waited ends here; the next one starts on this fiber.
      if (b.finished == b.n && b.phase == 0 && next_block_waiting()) continue;
    }
    s.idle.push_back(self);
    switch_to(nullptr);
  }
}

inline void fiber_entry() { fiber_main(); }

inline Fiber* idle_fiber() {
  State& s = state();
  if (!s.idle.empty()) {
    Fiber* f = s.idle.back();
    s.idle.pop_back();
    return f;
  }
  auto f = std::make_unique<Fiber>();
  const std::size_t page = getpagesize();
  void* m =
      mmap(nullptr, kFiberStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) fail("cannot map a fiber stack");
  mprotect(m, page, PROT_NONE);  // overflow guard
  f->stack = static_cast<char*>(m) + page;
  start_context(f->ctx, f->stack, kFiberStack, fiber_entry);
  s.fibers.push_back(std::move(f));
  return s.fibers.back().get();
}

}  // namespace patchlearn::emu

// A thread of the running block waits here until every thread of the block has arrived.
inline void __syncthreads() {
  using namespace patchlearn::emu;
  State& s = state();
  if (!s.kernel || !s.running) fail("__syncthreads outside a kernel");
  Block& b = s.block;
  b.waiting.push_back(b.current);
  switch_to(b.next < b.n ? idle_fiber() : nullptr);
}

namespace patchlearn::emu {

struct Grid {
  unsigned long long blocks = 0, done = 0;  // blocks of the launch, blocks finished
};
inline Grid& grid_state() {
  static Grid g;
  return g;
}

inline void start_block(unsigned long long i) {
  State& s = state();
  Grid& g = grid_state();
  const unsigned long long linear = s.reverse ? g.blocks - 1 - i : i;
  blockIdx = dim3(static_cast<unsigned>(linear % gridDim.x), static_cast<unsigned>(linear / gridDim.x % gridDim.y),
                  static_cast<unsigned>(linear / (static_cast<unsigned long long>(gridDim.x) * gridDim.y)));
  if (s.dynamic_shared) std::memset(s.dynamic_shared, 0xff, s.dynamic_bytes);
  for (auto& [tag, a] : s.static_shared) std::memset(a.data, 0xff, a.bytes);
  Block& b = s.block;
  b.next = b.finished = b.phase = 0;
  b.waiting.clear();
  std::fill(b.fiber_of.begin(), b.fiber_of.end(), nullptr);
}

// Called by a fiber when the block ended without a barrier: starts the next block, if any.
inline bool next_block_waiting() {
  Grid& g = grid_state();
  if (++g.done >= g.blocks) return false;
  start_block(g.done);
  return true;
}

inline void run_grid(const char* name, const void* fn, dim3 grid, dim3 block, std::size_t shmem,
                     void (*body)(const void*), const void* arg) {
  State& s = state();
  if (s.kernel) fail(std::string("launch of ") + name + " inside kernel " + s.kernel);
  const auto where = [&] {
    return std::string("launch of ") + name + "<<<(" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
           std::to_string(grid.z) + "), (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," +
           std::to_string(block.z) + "), " + std::to_string(shmem) + ">>>: ";
  };
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
    fail(where() + "a zero grid or block dimension (CUDA: invalid configuration argument)");
  if (threads > kMaxThreads || block.x > kMaxBlockXY || block.y > kMaxBlockXY || block.z > kMaxBlockZ)
    fail(where() + "more than 1024 threads per block (x, y <= 1024, z <= 64)");
  if (grid.x > kMaxGridX || grid.y > kMaxGridYZ || grid.z > kMaxGridYZ)
    fail(where() + "grid beyond 2^31-1 x 65535 x 65535 blocks");
  const auto optin = s.max_dynamic_shared.find(fn);
  const std::size_t limit =
      optin == s.max_dynamic_shared.end() ? kSharedDefault : static_cast<std::size_t>(optin->second);
  if (shmem > limit)
    fail(where() + std::to_string(shmem) + " bytes of dynamic shared memory above the " + std::to_string(limit) +
         " allowed (" +
         (optin == s.max_dynamic_shared.end() ? "no cudaFuncAttributeMaxDynamicSharedMemorySize set)" : "opt-in)"));
  s.kernel = name;
  s.dynamic_bytes = shmem;
  s.dynamic_limit = limit;
  s.static_bytes = 0;
  s.dynamic_shared = shmem ? static_cast<unsigned char*>(std::malloc(shmem)) : nullptr;
  gridDim = grid;
  blockDim = block;
  Block& b = s.block;
  b.n = static_cast<unsigned>(threads);
  b.reverse = s.reverse;
  b.body = body;
  b.body_arg = arg;
  b.fiber_of.assign(b.n, nullptr);
  if (!s.main_stack_bottom) {
    pthread_attr_t attr;
    void* addr = nullptr;
    std::size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    s.main_stack_bottom = addr;
    s.main_stack_size = size;
  }
  Grid& g = grid_state();
  g.blocks = 1ull * grid.x * grid.y * grid.z;
  g.done = 0;
  start_block(0);
  for (;;) {
    switch_to(idle_fiber());
    // Back here when every thread of the block has started: each has finished or waits at a barrier.
    while (!b.waiting.empty()) {
      if (b.finished)
        fail(std::string("kernel ") + name + ", block (" + std::to_string(blockIdx.x) + "," +
             std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) + "): " + std::to_string(b.finished) +
             " threads returned while " + std::to_string(b.waiting.size()) +
             " wait at __syncthreads (barrier divergence)");
      std::vector<unsigned> w;
      w.swap(b.waiting);
      std::sort(w.begin(), w.end());
      if (b.reverse) std::reverse(w.begin(), w.end());
      ++b.phase;
      for (unsigned t : w) {
        set_thread(t);
        switch_to(b.fiber_of[t]);
      }
    }
    if (b.phase == 0 || !next_block_waiting()) break;
  }
  std::free(s.dynamic_shared);
  s.dynamic_shared = nullptr;
  for (auto& [tag, a] : s.static_shared) std::free(a.data);
  s.static_shared.clear();
  s.kernel = nullptr;
}

template <class T>
T* dynamic_shared() {
  State& s = state();
  if (!s.kernel) fail("extern __shared__ memory used outside a kernel");
  return reinterpret_cast<T*>(s.dynamic_shared);
}

template <class T>
T* static_shared(const void* tag, std::size_t count) {
  State& s = state();
  if (!s.kernel) fail("__shared__ memory used outside a kernel");
  auto it = s.static_shared.find(tag);
  if (it == s.static_shared.end()) {
    const std::size_t bytes = count * sizeof(T);
    s.static_bytes += bytes;
    if (s.static_bytes > kSharedDefault)
      fail(std::string("kernel ") + s.kernel + ": " + std::to_string(s.static_bytes) +
           " bytes of static shared memory (at most 48 KiB)");
    if (s.static_bytes + s.dynamic_bytes > std::max(s.dynamic_limit, kSharedDefault))
      fail(std::string("kernel ") + s.kernel + ": static and dynamic shared memory together exceed the block's limit");
    auto* data = static_cast<unsigned char*>(std::malloc(bytes));
    std::memset(data, 0xff, bytes);
    it = s.static_shared.emplace(tag, SharedArray{bytes, data}).first;
  }
  return reinterpret_cast<T*>(it->second.data);
}

// An argument that lists its pointers (an element-wise functor, kernels/elementwise.hpp).
template <class T, class = void>
struct lists_pointers : std::false_type {};
template <class T>
struct lists_pointers<T, std::void_t<decltype(std::declval<const T&>().pointers())>> : std::true_type {};

template <class T>
void check_argument(const char* name, int i, const T& v) {
  if constexpr (std::is_pointer_v<T>) {
    if (v && !on_device(v, 0))
      fail(std::string("launch of ") + name + ": pointer argument " + std::to_string(i) + " (" + hex(v) +
           ") is not in device memory");
  } else if constexpr (lists_pointers<T>::value) {
    int j = 0;
    for (const void* p : v.pointers()) {
      if (p && !on_device(p, 0))
        fail(std::string("launch of ") + name + ": pointer " + std::to_string(j) + " of argument " + std::to_string(i) +
             " (" + hex(p) + ") is not in device memory");
      ++j;
    }
  }
}

// What PL_LAUNCH(kernel, grid, block, shmem) makes: called with the kernel's arguments, it copies
// them (as CUDA does), checks the pointers among them and runs the grid.
template <class... P>
struct Launch {
  const char* name;
  void (*fn)(P...);
  dim3 grid, block;
  std::size_t shmem;
  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "wrong number of kernel arguments");
    struct Call {
      void (*fn)(P...);
      std::tuple<std::decay_t<P>...> args;
    } call{fn, std::tuple<std::decay_t<P>...>(static_cast<std::decay_t<P>>(std::forward<A>(a))...)};
    std::apply(
        [&](const auto&... v) {
          int i = 0;
          (check_argument(name, i++, v), ...);
        },
        call.args);
    run_grid(
        name, reinterpret_cast<const void*>(fn), grid, block, shmem,
        [](const void* c) {
          const Call& k = *static_cast<const Call*>(c);
          std::apply(k.fn, k.args);
        },
        &call);
  }
};

template <class... P>
Launch<P...> launch(const char* name, void (*fn)(P...), dim3 grid, dim3 block, std::size_t shmem) {
  return Launch<P...>{name, fn, grid, block, shmem};
}

}  // namespace patchlearn::emu

#define PL_LAUNCH(kernel, grid, block, shmem) ::patchlearn::emu::launch(#kernel, kernel, grid, block, shmem)
#define PL_SHARED(T, name, count)   \
  static const char name##_tag = 0; \
  T* const name = ::patchlearn::emu::static_shared<T>(&name##_tag, (count))
#define PL_DYNAMIC_SHARED(T, name) T* const name = ::patchlearn::emu::dynamic_shared<T>()

// ----- atomics (the emulator runs one thread at a time) -----

inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = std::min(old, v);
  return old;
}

// ----- runtime -----

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
  }
  return "unknown error";
}
inline cudaError_t cudaGetLastError() {
  const cudaError_t e = patchlearn::emu::state().last_error;
  patchlearn::emu::state().last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return patchlearn::emu::state().last_error; }
inline cudaError_t cudaDeviceSynchronize() {
  if (patchlearn::emu::state().kernel) patchlearn::emu::fail("cudaDeviceSynchronize inside a kernel");
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int d) {
  return patchlearn::emu::set_error(d == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return patchlearn::emu::set_error(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "NVIDIA H200 (host emulation)");
  p->totalGlobalMem = patchlearn::emu::kGlobalMemory;
  p->sharedMemPerBlock = patchlearn::emu::kSharedDefault;
  p->sharedMemPerBlockOptin = patchlearn::emu::kSharedOptin;
  p->maxThreadsPerBlock = 1024;
  p->multiProcessorCount = patchlearn::emu::kMultiprocessors;
  p->major = 9;
  p->minor = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  if (d != 0) return patchlearn::emu::set_error(cudaErrorInvalidDevice);
  switch (a) {
    case cudaDevAttrMaxSharedMemoryPerBlock:
      *v = static_cast<int>(patchlearn::emu::kSharedDefault);
      break;
    case cudaDevAttrMultiProcessorCount:
      *v = patchlearn::emu::kMultiprocessors;
      break;
    case cudaDevAttrMaxThreadsPerMultiProcessor:
      *v = patchlearn::emu::kThreadsPerMultiprocessor;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *v = static_cast<int>(patchlearn::emu::kSharedOptin);
      break;
  }
  return cudaSuccess;
}
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*fn)(P...), cudaFuncAttribute a, int v) {
  if (a != cudaFuncAttributeMaxDynamicSharedMemorySize || v < 0 ||
      static_cast<std::size_t>(v) > patchlearn::emu::kSharedOptin)
    return patchlearn::emu::set_error(cudaErrorInvalidValue);
  patchlearn::emu::state().max_dynamic_shared[reinterpret_cast<const void*>(fn)] = v;
  return cudaSuccess;
}

inline cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  using namespace patchlearn::emu;
  State& s = state();
  if (s.kernel) fail("cudaMalloc inside a kernel");
  *p = nullptr;
  if (bytes > kGlobalMemory - s.allocated) return set_error(cudaErrorMemoryAllocation);
  void* q = nullptr;
  if (posix_memalign(&q, 256, bytes ? bytes : 1) != 0) return set_error(cudaErrorMemoryAllocation);
  std::memset(q, 0xff, bytes);  // uninitialised device memory reads as NaN
  s.allocations[reinterpret_cast<std::uintptr_t>(q)] = bytes;
  s.allocated += bytes;
  *p = q;
  return cudaSuccess;
}
template <class T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
inline cudaError_t cudaFree(void* p) {
  using namespace patchlearn::emu;
  State& s = state();
  if (!p) return cudaSuccess;
  auto it = s.allocations.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == s.allocations.end())
    fail("cudaFree(" + hex(p) + "): not the start of a device allocation (host pointer or freed twice?)");
  s.allocated -= it->second;
  s.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  using namespace patchlearn::emu;
  if (state().kernel) fail("cudaMemcpy inside a kernel");
  if (!bytes) return cudaSuccess;
  if (kind == cudaMemcpyDefault) {
    const bool d = on_device(dst, bytes), r = on_device(src, bytes);
    kind = d ? (r ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
             : (r ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  static const char* names[] = {"HostToHost", "HostToDevice", "DeviceToHost", "DeviceToDevice"};
  const auto check = [&](const void* p, bool dev, const char* which) {
    if (dev ? !on_device(p, bytes) : touches_device(p, bytes))
      fail(std::string("cudaMemcpy ") + names[kind] + " of " + std::to_string(bytes) + " bytes: " + which + " " +
           hex(p) + (dev ? " is not (wholly) in a device allocation" : " is device memory"));
  };
  check(dst, dst_dev, "destination");
  check(src, src_dev, "source");
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, std::size_t bytes) {
  using namespace patchlearn::emu;
  if (state().kernel) fail("cudaMemset inside a kernel");
  if (bytes && !on_device(p, bytes))
    fail("cudaMemset of " + std::to_string(bytes) + " bytes at " + hex(p) + ": not (wholly) in a device allocation");
  std::memset(p, value, bytes);
  return cudaSuccess;
}
