// The field reductions of the CUDA backend (see kernels/batched.hpp): Thrust's transform-reduce,
// which is CUB's device reduction under nvcc. In the host-emulation build it is Thrust's OpenMP
// backend, so CI runs this same source on the CPU; that build compiles this file without UBSan's
// null check (CMakeLists.txt): Thrust's system dispatch binds references to null policy pointers.
#include "common.cuh"

#include <thrust/execution_policy.h>
#include <thrust/transform_reduce.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <string>
#include <vector>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/cuda_ops.hpp"
#include "patchlearn/kernels/diffusion.hpp"

namespace patchlearn::kernels::cuda {
namespace {

// Thrust's temporary storage for the field reductions (CUB's on CUDA), carved in order from one
// device block kept for the process, so that a reduction allocates nothing once the block has
// grown to what one needs (the NaN guard runs every macro step, the max-norm every adaptive step).
// A request the block cannot hold gets a block of its own, freed when released; the kept block
// grows, while nothing is carved from it, to the most a reduction has held at once. Releasing
// never throws (Thrust releases from destructors).
class ReductionScratch {
 public:
  using value_type = char;
  char* allocate(std::ptrdiff_t bytes) {
    const std::size_t n = rounded(static_cast<std::size_t>(bytes));
    if (live_ == 0 && wanted_ > size_) {
      cudaFree(block_);
      block_ = nullptr;
      size_ = 0;
      block_ = device_block(wanted_);
      size_ = wanted_;
    }
    char* p = nullptr;
    if (used_ + n <= size_) {
      p = block_ + used_;
      used_ += n;
    } else {
      extra_.reserve(extra_.size() + 1);
      p = device_block(n);
      extra_.push_back(p);
    }
    ++live_;
    held_ += n;
    wanted_ = std::max(wanted_, held_);
    return p;
  }
  void deallocate(char* p, std::size_t bytes) noexcept {
    held_ -= rounded(bytes);
    const auto it = std::find(extra_.begin(), extra_.end(), p);
    if (it != extra_.end()) {
      cudaFree(p);
      extra_.erase(it);
    }
    if (--live_ == 0) used_ = 0;
  }

 private:
  static std::size_t rounded(std::size_t bytes) { return (bytes + 255) / 256 * 256; }
  static char* device_block(std::size_t bytes) {
    char* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) throw RunError("out of GPU memory (reduction scratch)");
    return p;
  }
  char* block_ = nullptr;
  std::size_t size_ = 0, used_ = 0, held_ = 0, wanted_ = 0;
  int live_ = 0;
  std::vector<char*> extra_;
};

ReductionScratch& reduction_scratch() {
  static ReductionScratch s;
  return s;
}

// A field's max-norm (abs_or_inf: a NaN counts as +inf) and its count of non-finite values, in one
// pass.
struct FieldNorm {
  double max_abs;
  unsigned long long nonfinite;
};
struct ElementNorm {
  PL_HD FieldNorm operator()(double x) const { return {abs_or_inf(x), isfinite(x) ? 0ull : 1ull}; }
};
struct CombineNorms {
  PL_HD FieldNorm operator()(const FieldNorm& a, const FieldNorm& b) const {
    return {fmax(a.max_abs, b.max_abs), a.nonfinite + b.nonfinite};
  }
};

// Thrust's transform-reduce: CUB's device reduction under nvcc; under the emulator
// (PATCHLEARN_CUDA_EMU) its OpenMP backend, so that CI runs this same code on the CPU.
FieldNorm field_norm(const double* x, index_t count, const char* what) {
  try {
    return thrust::transform_reduce(thrust::device(reduction_scratch()), x, x + count, ElementNorm{}, FieldNorm{0.0, 0},
                                    CombineNorms{});
  } catch (const RunError&) {
    throw;
  } catch (const std::exception& e) {
    throw RunError(std::string(what) + ": " + e.what());
  }
}

struct Square {
  PL_HD double operator()(double x) const { return x * x; }
};
struct Sum {
  PL_HD double operator()(double a, double b) const { return a + b; }
};

}  // namespace

double sum_squares(const double* x, index_t count) {
  if (count == 0) return 0.0;
  try {
    return thrust::transform_reduce(thrust::device(reduction_scratch()), x, x + count, Square{}, 0.0, Sum{});
  } catch (const RunError&) {
    throw;
  } catch (const std::exception& e) {
    throw RunError(std::string("sum of squares: ") + e.what());
  }
}

double max_abs(const double* x, index_t count) { return count > 0 ? field_norm(x, count, "max-norm").max_abs : 0.0; }

index_t count_nonfinite(const double* x, index_t count) {
  return count > 0 ? static_cast<index_t>(field_norm(x, count, "NaN check").nonfinite) : 0;
}

}  // namespace patchlearn::kernels::cuda
