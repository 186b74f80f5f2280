// The batched tridiagonal solver on the CPU (and its dispatch to CUDA): assembly, the chunked
// factorization, solves four systems side by side, and the temporally blocked burst. Each CPU loop
// calls the same per-element functions (kernels/tridiag.hpp) as cuda/batched.cu.
#include "cpu_support.hpp"

namespace patchlearn::kernels {

using namespace cpu;

BatchedTridiag::BatchedTridiag(Device dev, index_t mats, index_t n, index_t chunk_len, index_t end_offset)
    : dev_(dev), mats_(mats), n_(n), eo_(end_offset) {
  if (n < 3) throw std::invalid_argument("BatchedTridiag: a system needs at least 3 points");
  // Chunks at least chunk_len long (>= eo + 1 so the end rows couple into their own chunk).
  const index_t len = chunk_len <= 0 ? n - 1 : std::max<index_t>(chunk_len, eo_ + 1);
  chunks_ = std::max<index_t>(1, (n - 1) / len);
  if (eo_ < 1 || eo_ >= (n - 1) / chunks_)
    throw std::invalid_argument("BatchedTridiag: end offset does not fit in the first chunk");
  const std::size_t total = static_cast<std::size_t>(mats * n);
  const std::size_t red = static_cast<std::size_t>(mats * (chunks_ + 1));
  l_ = Buffer<double>(dev, total);
  d_ = Buffer<double>(dev, total);
  u_ = Buffer<double>(dev, total);
  cp_ = Buffer<double>(dev, total);
  inv_ = Buffer<double>(dev, total);
  v_ = Buffer<double>(dev, total);
  w_ = Buffer<double>(dev, total);
  rlow_ = Buffer<double>(dev, red);
  rcp_ = Buffer<double>(dev, red);
  rinv_ = Buffer<double>(dev, red);
  if (dev == Device::CUDA)
    lanes_ = Buffer<double>(dev, static_cast<std::size_t>(3 * mats * chunk_rows(n, chunks_) * chunks_));
}

void BatchedTridiag::set_matrices(const std::vector<double>& l, const std::vector<double>& d,
                                  const std::vector<double>& u) {
  l_.copy_from_host(l);
  d_.copy_from_host(d);
  u_.copy_from_host(u);
  factor();
}

void BatchedTridiag::assemble_diffusion(const Buffer<double>& cond, double c, EndRows ends) {
  [&] {
    PL_RETURN_IF_CUDA(dev_, assemble_diffusion(mats_, n_, cond.data(), c, ends, l_.data(), d_.data(), u_.data()));
    const double* a = cond.data();
#pragma omp parallel for
    for (index_t m = 0; m < mats_; ++m)
      for (index_t j = 0; j < n_; ++j)
        implicit_row(j, n_, a + m * (n_ - 1), c, ends, l_.data() + m * n_, d_.data() + m * n_, u_.data() + m * n_);
  }();
  factor();
}

void BatchedTridiag::factor() {
  PL_RETURN_IF_CUDA(dev_, factor(factors(), d_.data(), cp_.data(), inv_.data(), v_.data(), w_.data(), rlow_.data(),
                                 rcp_.data(), rinv_.data(), lanes_.data()));
  const index_t P = chunks_, n = n_;
#pragma omp parallel for collapse(2)
  for (index_t m = 0; m < mats_; ++m)
    for (index_t k = 0; k < P; ++k) {
      const index_t o = m * n;
      factor_chunk(separator(k, n, P) + 1, separator(k + 1, n, P), l_.data() + o, d_.data() + o, u_.data() + o,
                   cp_.data() + o, inv_.data() + o, v_.data() + o, w_.data() + o);
    }
  for (index_t m = 0; m < mats_; ++m) {
    const index_t o = m * n, r = m * (P + 1);
    factor_reduced(n, P, eo_, l_.data() + o, d_.data() + o, u_.data() + o, v_.data() + o, w_.data() + o,
                   rlow_.data() + r, rcp_.data() + r, rinv_.data() + r);
  }
}

TridiagFactors BatchedTridiag::factors() const {
  return {mats_,        n_,
          chunks_,      eo_,
          l_.data(),    u_.data(),
          cp_.data(),   inv_.data(),
          v_.data(),    w_.data(),
          rlow_.data(), rcp_.data(),
          rinv_.data(), dev_ == Device::CUDA ? chunk_rows(n_, chunks_) : 0,
          lanes_.data()};
}

// Systems the CPU solves side by side in one thread (solve_systems): their Thomas recurrences
// interleave, so several are in flight at once.
constexpr int kBlockedLanes = 4;

namespace {

/// Group g of the systems taken kBlockedLanes at a time: the indices s[k] of its `lanes` systems
/// (fewer in the last group) and r[k] = first + k stride, where their values are.
struct LaneGroup {
  int lanes;
  index_t s[kBlockedLanes];
  double* r[kBlockedLanes];
  LaneGroup(index_t g, index_t systems, double* first, index_t stride)
      : lanes(static_cast<int>(std::min<index_t>(kBlockedLanes, systems - g * kBlockedLanes))) {
    for (int k = 0; k < lanes; ++k) {
      s[k] = g * kBlockedLanes + k;
      r[k] = first + k * stride;
    }
  }
  /// Solves the group's systems in place: side by side when there are kBlockedLanes of them, else
  /// one by one (the same values either way).
  void solve(const TridiagFactors& f) const {
    if (lanes == kBlockedLanes) return solve_systems<kBlockedLanes>(f, s, r);
    for (int k = 0; k < lanes; ++k) solve_system(f, s[k], r[k]);
  }
};

}  // namespace

void BatchedTridiag::solve(double* x, index_t systems) const {
  const TridiagFactors f = factors();
  PL_RETURN_IF_CUDA(dev_, solve(systems, f, x));
  // kBlockedLanes systems per thread at a time (one at a time: 1.65x slower on one core, 1.2x
  // on two, for the paper's 90 systems of 80,001 points).
  const index_t groups = (systems + kBlockedLanes - 1) / kBlockedLanes;
#pragma omp parallel for schedule(static, 1)
  for (index_t g = 0; g < groups; ++g) LaneGroup(g, systems, x + g * kBlockedLanes * f.n, f.n).solve(f);
}

bool BatchedTridiag::fits_on_chip() const {
#ifdef PATCHLEARN_HAVE_CUDA
  if (dev_ == Device::CUDA) return cuda::fused_steps_fit(n_);
#endif
  // Each thread's values and increments (2 arrays per lane) within half the last-level cache.
  return 2.0 * kBlockedLanes * sizeof(double) * static_cast<double>(n_) * omp_get_max_threads() <=
         0.5 * last_level_cache_bytes();
}

void BatchedTridiag::fused_steps(double* y, index_t systems, int count, const double* cond, double alpha, EndRows ends,
                                 const double* left, const double* right) const {
  const TridiagFactors f = factors();
  PL_RETURN_IF_CUDA(dev_, fused_steps(systems, f, count, cond, alpha, ends, left, right, y));
  // Each thread takes kBlockedLanes systems at a time and steps them together through all
  // `count` steps: their tridiagonal sweeps interleave (solve_systems), the rest runs lane by lane.
  const index_t n = n_, groups = (systems + kBlockedLanes - 1) / kBlockedLanes;
#pragma omp parallel
  {
    std::vector<double> work(kBlockedLanes * n);
#pragma omp for schedule(static, 1)
    for (index_t g = 0; g < groups; ++g) {
      const LaneGroup group(g, systems, work.data(), n);
      const int lanes = group.lanes;
      const index_t* s = group.s;
      double* const* r = group.r;
      for (int step = 0; step < count; ++step) {
        for (int k = 0; k < lanes; ++k)
          increment_rhs_system(n, cond + (s[k] % mats_) * (n - 1), y + s[k] * n, alpha, ends, eo_,
                               left ? left[s[k]] : 0.0, right ? right[s[k]] : 0.0, r[k]);
        group.solve(f);
        for (int k = 0; k < lanes; ++k) {
          double* ys = y + s[k] * n;
          for (index_t j = 0; j < n; ++j) ys[j] += r[k][j];
        }
      }
    }
  }
}

}  // namespace patchlearn::kernels
