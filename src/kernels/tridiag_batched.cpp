// The batched tridiagonal solver on the CPU (and its dispatch to CUDA): assembly, the chunked
// factorization, solves four systems side by side, and the temporally blocked burst. Each CPU loop
// calls the same per-element functions (kernels/tridiag.hpp) as cuda/batched.cu.
#include "cpu_support.hpp"

namespace patchlearn::kernels {

using namespace cpu;

namespace {
/// Whether a CPU thread's `lanes` systems of n points (values, increments, conductances) fit in its
/// share of half the last-level cache.
bool lanes_fit_on_chip(index_t lanes, index_t n) {
  return 3.0 * static_cast<double>(lanes) * sizeof(double) * static_cast<double>(n) * omp_get_max_threads() <=
         0.5 * last_level_cache_bytes();
}
}  // namespace

BatchedTridiag::BatchedTridiag(Device dev, index_t mats, index_t n, index_t chunk_len, index_t end_offset)
    : dev_(dev), mats_(mats), n_(n), eo_(end_offset), lanes_per_group_(cpu_lanes()) {
  if (n < 3) throw std::invalid_argument("BatchedTridiag: a system needs at least 3 points");
  // The widest vectors whose systems fit on chip: the paper's patches of 80,001 points fit in
  // AVX2's 4 lanes and not in AVX-512's 8, and unblocked steps would cost 2.3x (BM_PaperBurst/Cpu/10).
  while (lanes_per_group_ > 2 && !lanes_fit_on_chip(lanes_per_group_, n)) lanes_per_group_ /= 2;
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
  // Only fused_steps reads the packed copy, and only where the systems fit on chip: a solver of
  // large systems (the full-resolution ones) keeps no copy.
  if (fits_on_chip())
    pack_lanes();
  else
    packed_ = Buffer<double>();
}

// The factors of each run of `lanes_per_group_` consecutive matrices side by side, lane-minor: for
// matrix group g, factor array q (l, u, cp, inv, v, w of n values, then rlow, rcp, rinv of P + 1),
// value i of lane k at packed_[g group_size + offset(q) + i lanes + k]. Lanes past the last matrix
// repeat it, so that every lane solves a finite system. The lanes are the vector's of the CPU when
// the solver was made (lanes_per_group_), which fused_steps then runs.
namespace {
constexpr int kPackedArrays = 6, kPackedReduced = 3;
/// Doubles of one group of `lanes` matrices of n points and R separators in the packed copy.
index_t packed_group_size(index_t lanes, index_t n, index_t R) {
  return lanes * (kPackedArrays * n + kPackedReduced * R);
}
}  // namespace

void BatchedTridiag::pack_lanes() {
  const index_t K = lanes_per_group_, n = n_, R = chunks_ + 1;
  const index_t groups = (mats_ + K - 1) / K, group_size = packed_group_size(K, n, R);
  packed_ = Buffer<double>(Device::CPU, static_cast<std::size_t>(groups * group_size));
  const double* full[kPackedArrays] = {l_.data(), u_.data(), cp_.data(), inv_.data(), v_.data(), w_.data()};
  const double* reduced[kPackedReduced] = {rlow_.data(), rcp_.data(), rinv_.data()};
#pragma omp parallel for
  for (index_t g = 0; g < groups; ++g)
    for (index_t k = 0; k < K; ++k) {
      const index_t m = std::min(g * K + k, mats_ - 1);
      double* dst = packed_.data() + g * group_size + k;
      for (int q = 0; q < kPackedArrays; ++q, dst += n * K)
        for (index_t i = 0; i < n; ++i) dst[i * K] = full[q][m * n + i];
      for (int q = 0; q < kPackedReduced; ++q, dst += R * K)
        for (index_t i = 0; i < R; ++i) dst[i * K] = reduced[q][m * R + i];
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
  return lanes_fit_on_chip(lanes_per_group_, n_);
}

namespace {

/// One thread's share of fused_steps on the CPU (inside the parallel region; cpu::run_vectorized):
/// K systems side by side, one in each lane of a vector (K = 8 with AVX-512, 4 with AVX2, 2 with
/// the baseline's SSE2), their states packed lane-minor into the thread's scratch for all `count` steps. The batch
/// is rows of `mats` systems (system s uses matrix s % mats). Its rows taken K at a time give
/// groups of one matrix, whose factors and conductances each operation broadcasts to the lanes;
/// the rows left over give groups of K consecutive matrices, whose factors
/// BatchedTridiag::pack_lanes laid out side by side and whose conductances are packed with the
/// states. A group of fewer systems (past the last matrix, or the batch's end) fills its spare
/// lanes with its last system and writes back only its own.
struct FusedGroups {
  struct Problem {
    TridiagFactors f;
    index_t systems;
    const double* packed;
    int count;
    const double* cond;
    double alpha;
    EndRows ends;
    const double *left, *right;
    double* y;
  };

  /// The `count` steps of the lanes ys (conductances a, factors f of the system s's matrix).
  template <class A, class F, class L>
  [[gnu::always_inline]] static inline void steps(const Problem& p, const A* a, const TridiagFactorsOf<F>& f, index_t s,
                                                  const L& left, const L& right, L* ys, L* r) {
    const index_t n = p.f.n;
    for (int step = 0; step < p.count; ++step) {
      increment_rhs_system(n, a, ys, p.alpha, p.ends, p.f.eo, left, right, r);
      solve_systems<1>(f, &s, &r);
      for (index_t j = 0; j < n; ++j) ys[j] += r[j];
    }
  }

  template <class V>
  [[gnu::always_inline]] static inline void run(const Problem& p) {
    using L = Lanes<V>;
    constexpr int K = kLaneCount<L>;
    const index_t n = p.f.n, R = p.f.P + 1, mats = p.f.mats;
    const index_t shared_rows = p.systems / mats / K * K, shared = shared_rows / K * mats;
    const index_t groups = (mats + K - 1) / K, group_size = packed_group_size(K, n, R);
    const index_t items = shared + (p.systems - shared_rows * mats + mats - 1) / mats * groups;
    Buffer<double> scratch(Device::CPU, static_cast<std::size_t>(3 * n * K));  // aligned for L
    L *ys = reinterpret_cast<L*>(scratch.data()), *r = ys + n, *cond = r + n;
#pragma omp for schedule(dynamic)
    for (index_t item = 0; item < items; ++item) {
      const bool one_matrix = item < shared;
      const index_t g = (item - shared) % groups, first = shared_rows * mats + (item - shared) / groups * mats + g * K;
      const index_t count = one_matrix ? K : std::min<index_t>({K, mats - g * K, p.systems - first});
      if (count <= 0) continue;
      index_t sys[K];
      L left{}, right{};
      for (int k = 0; k < K; ++k) {
        const index_t lane = std::min<index_t>(k, count - 1);
        sys[k] = one_matrix ? (item / mats * K + lane) * mats + item % mats : first + lane;
        const double* yk = p.y + sys[k] * n;
        for (index_t j = 0; j < n; ++j) ys[j][k] = yk[j];
        if (p.left) left[k] = p.left[sys[k]];
        if (p.right) right[k] = p.right[sys[k]];
      }
      if (one_matrix) {
        steps(p, p.cond + (item % mats) * (n - 1), p.f, sys[0], left, right, ys, r);
      } else {
        for (int k = 0; k < K; ++k)
          for (index_t j = 0; j + 1 < n; ++j) cond[j][k] = p.cond[(sys[k] % mats) * (n - 1) + j];
        const L* f = reinterpret_cast<const L*>(p.packed + g * group_size);
        const L* red = f + kPackedArrays * n;
        const TridiagFactorsOf<L> lanes{1,         n,         p.f.P,     p.f.eo, f,       f + n,      f + 2 * n,
                                        f + 3 * n, f + 4 * n, f + 5 * n, red,    red + R, red + 2 * R};
        steps(p, cond, lanes, 0, left, right, ys, r);
      }
      for (index_t k = 0; k < count; ++k)
        for (index_t j = 0; j < n; ++j) p.y[sys[k] * n + j] = ys[j][k];
    }
  }
};

}  // namespace

void BatchedTridiag::fused_steps(double* y, index_t systems, int count, const double* cond, double alpha, EndRows ends,
                                 const double* left, const double* right) const {
  const TridiagFactors f = factors();
  PL_RETURN_IF_CUDA(dev_, fused_steps(systems, f, count, cond, alpha, ends, left, right, y));
  if (packed_.size() == 0) throw std::logic_error("BatchedTridiag::fused_steps: the systems do not fit on chip");
  // Each thread steps groups of systems side by side in the lanes of a vector, each group through
  // all `count` steps, held in that core's cache.
  const FusedGroups::Problem p{f, systems, packed_.data(), count, cond, alpha, ends, left, right, y};
#pragma omp parallel
  run_vectorized<FusedGroups>(lanes_per_group_, p);
}

}  // namespace patchlearn::kernels
