#pragma once
// Host emulation of the part of cuBLAS the CUDA backend calls (cuda/lattice2d.cu: the spectral
// coupling's edge planes as strided-batched GEMMs), for the emulation build (core/cuda_emu.hpp).
// It follows cuBLAS's documented contract, column-major storage and all, and checks it loudly
// ("cuda-emu:" on stderr, then abort): a handle from cublasCreate, leading dimensions at least the
// rows of the matrix as stored, every matrix of every batch entry wholly inside one device
// allocation, alpha and beta on the host (the default pointer mode), and C overlapping neither A
// nor B. As cuBLAS does, C is not read where beta is 0, so a NaN-filled output is overwritten.
// The products are summed in order of the inner index; cuBLAS's blocked, tensor-core order is not
// modelled (README: "The CUDA backend without a GPU").
#include <string>

#include "patchlearn/core/cuda_emu.hpp"

enum cublasStatus_t {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
struct cublasContext {};
using cublasHandle_t = cublasContext*;

inline cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (patchlearn::emu::state().kernel) patchlearn::emu::fail("cublasCreate inside a kernel");
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
inline const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "an unsupported value or parameter was passed to the function";
  }
  return "unknown error";
}

/// C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, op(A_i) m x k, op(B_i) k x n, C_i m x n,
/// column-major with leading dimensions lda, ldb, ldc; X_i = X + i * strideX.
inline cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                                cublasOperation_t transb, int m, int n, int k, const double* alpha,
                                                const double* A, int lda, long long strideA, const double* B, int ldb,
                                                long long strideB, const double* beta, double* C, int ldc,
                                                long long strideC, int batch) {
  using namespace patchlearn::emu;
  const std::string name = "cublasDgemmStridedBatched";
  if (state().kernel) fail(name + " inside a kernel");
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int rows_a = transa == CUBLAS_OP_N ? m : k, cols_a = transa == CUBLAS_OP_N ? k : m;
  const int rows_b = transb == CUBLAS_OP_N ? k : n, cols_b = transb == CUBLAS_OP_N ? n : k;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, rows_a) || ldb < std::max(1, rows_b) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  if (touches_device(alpha, sizeof(double)) || touches_device(beta, sizeof(double)))
    fail(name + ": alpha and beta are read on the host (CUBLAS_POINTER_MODE_HOST) but lie in device memory");
  // The elements matrix i spans, from its first to its last.
  const auto extent = [](int rows, int cols, int ld) {
    return sizeof(double) * (static_cast<std::size_t>(cols - 1) * ld + rows);
  };
  const auto overlap = [](const void* p, std::size_t pn, const void* q, std::size_t qn) {
    const auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(q);
    return a < b + qn && b < a + pn;
  };
  const std::size_t ea = k ? extent(rows_a, cols_a, lda) : 0, eb = k ? extent(rows_b, cols_b, ldb) : 0,
                    ec = extent(m, n, ldc);
  for (int i = 0; i < batch; ++i) {
    const double *a = A + i * strideA, *b = B + i * strideB;
    double* c = C + i * strideC;
    const std::string entry = " of batch entry " + std::to_string(i);
    if ((ea && !on_device(a, ea)) || (eb && !on_device(b, eb)) || !on_device(c, ec))
      fail(name + ": A, B or C" + entry + " is not (wholly) in a device allocation");
    if ((ea && overlap(a, ea, c, ec)) || (eb && overlap(b, eb, c, ec))) fail(name + ": C" + entry + " overlaps A or B");
  }
  const auto opA = [&](const double* a, int r, int l) {
    return transa == CUBLAS_OP_N ? a[r + l * lda] : a[l + r * lda];
  };
  const auto opB = [&](const double* b, int l, int j) {
    return transb == CUBLAS_OP_N ? b[l + j * ldb] : b[j + l * ldb];
  };
  for (int i = 0; i < batch; ++i) {
    const double *a = A + i * strideA, *b = B + i * strideB;
    double* c = C + i * strideC;
    for (int j = 0; j < n; ++j)
      for (int r = 0; r < m; ++r) {
        double s = 0.0;
        for (int l = 0; l < k; ++l) s += opA(a, r, l) * opB(b, l, j);
        double& out = c[r + static_cast<std::size_t>(j) * ldc];
        out = *beta == 0.0 ? *alpha * s : *alpha * s + *beta * out;
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}
