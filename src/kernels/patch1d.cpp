// The 1D patch operations on the CPU (and their dispatch to CUDA): the increment right-hand side,
// lifting and restriction, the patch-dynamics estimates, snapshots, the TR-BDF2 error estimate,
// and the element-wise reductions (max |x|, non-finite count). Each CPU loop calls the same
// per-element functions as cuda/batched.cu.
#include "cpu_support.hpp"

namespace patchlearn::kernels {

using namespace cpu;

void increment_rhs(Device dev, index_t systems, index_t mats, index_t n, const double* cond, double alpha, EndRows ends,
                   index_t eo, const double* left, const double* right, const double* x, double* out) {
  PL_RETURN_IF_CUDA(dev, increment_rhs(systems, mats, n, cond, alpha, ends, eo, left, right, x, out));
#pragma omp parallel for
  for (index_t s = 0; s < systems; ++s)
    increment_rhs_system(n, cond + (s % mats) * (n - 1), x + s * n, alpha, ends, eo, left ? left[s] : 0.0,
                         right ? right[s] : 0.0, out + s * n);
}

// The nonlinear systems a CPU thread steps side by side, one in each lane of a vector register:
// each operation of the step, the elimination's division among them, is one vector instruction
// for all of them (8 lanes with AVX-512, 4 with AVX2, 2 with the baseline's SSE2).
// A group's states and media are packed lane-minor into the thread's scratch for the group's
// `count` steps, so that a lane vector is one aligned load; a last group of fewer systems fills
// its spare lanes with its last system, and writes back only its own. (Vectors of 8 doubles under
// AVX2, two registers per operation, came out ~3x slower: GCC spills them; AVX-512 has 32
// registers of 8. BM_NonlinearBurst; bench/RESULTS.md.)

/// The series of a table packed for a group: element e's term i of lane k at [e terms + i][k]
/// (one element only when the table is shared, stride 0). Returns the lane vectors it takes.
index_t packed_series(index_t elements, int terms, index_t stride) { return (stride ? elements : 1) * terms; }

/// One thread's scratch for theta_steps, in lane vectors: the step's StepScratch, the group's
/// states, and its media's series.
index_t lanes_scratch(index_t n, const MediumTables& m) {
  return (StepScratch::kArrays + 1) * n + packed_series(n - 1, m.na, m.a_stride) +
         packed_series(n - 1, m.nc, m.c_stride) + packed_series(n, m.nr, m.r_stride);
}

/// A group's media packed lane-minor at `dst` (system sys[k] in lane k; packed_series's layout),
/// as the lanes' view t; packed again only when the group's media differ from the last group's.
template <class L, int K>
struct PackedMedia {
  MediumTablesOf<L> t;
  L *a_tab, *c_tab, *r_tab;
  index_t media[K];  // the medium whose series each lane holds (-1: none yet)
  PackedMedia(const MediumTables& m, index_t n, L* dst) {
    t.na = m.na;
    t.nc = m.nc;
    t.nr = m.nr;
    t.a_stride = m.a_stride ? t.na : 0;
    t.c_stride = m.c_stride ? t.nc : 0;
    t.r_stride = m.r_stride ? t.nr : 0;
    t.u_mid = m.u_mid;
    t.u_scale = m.u_scale;
    a_tab = dst;
    c_tab = a_tab + packed_series(n - 1, t.na, t.a_stride);
    r_tab = c_tab + packed_series(n - 1, t.nc, t.c_stride);
    t.a = a_tab;
    t.c = c_tab;
    t.r = r_tab;
    std::fill(media, media + K, index_t{-1});
  }
  [[gnu::always_inline]] void load(const MediumTables& m, index_t n, const index_t* sys) {
    bool same = true;
    for (int k = 0; k < K; ++k) same = same && media[k] == sys[k] % m.mats;
    if (same) return;
    const auto pack = [&](const double* MediumTables::*tab, index_t elements, int terms, index_t stride, L* dst)
        __attribute__((always_inline)) {
      const index_t count = stride ? elements : 1;
      for (int k = 0; k < K; ++k) {
        const double* src = m.of_system(sys[k], n).*tab;
        for (index_t e = 0; e < count; ++e)
          for (int i = 0; i < terms; ++i) dst[e * terms + i][k] = src[e * stride + i];
      }
    };
    pack(&MediumTables::a, n - 1, t.na, m.a_stride, a_tab);
    if (t.nc) pack(&MediumTables::c, n - 1, t.nc, m.c_stride, c_tab);
    if (t.nr) pack(&MediumTables::r, n, t.nr, m.r_stride, r_tab);
    for (int k = 0; k < K; ++k) media[k] = sys[k] % m.mats;
  }
};

/// This thread's groups of K systems (omp for, dynamic; a last group of fewer repeats its last
/// system): each group's media packed at `tables`, its rows y[s][0 .. n) copied into the lanes of
/// `ys`, step(sys, t) run on them (sys the group's systems, t the packed media), and the rows copied
/// back. Inlined, with `step` (always_inline), into the caller's run_avx2, whose target it needs:
/// a lambda compiled apart has the baseline's and runs the AVX2 lanes 3x slower.
template <class L, int K, class Step>
[[gnu::always_inline]] inline void for_each_group(index_t systems, index_t n, const MediumTables& m, double* y, L* ys,
                                                  L* tables, const Step& step) {
  static_assert(K <= kMaxLanes, "theta_steps_scratch holds kMaxLanes lanes");
  PackedMedia<L, K> media(m, n, tables);
  const index_t groups = (systems + K - 1) / K;
#pragma omp for schedule(dynamic)
  for (index_t grp = 0; grp < groups; ++grp) {
    const index_t first = grp * K, last = std::min<index_t>(first + K, systems) - 1;
    index_t sys[K];
    for (int k = 0; k < K; ++k) sys[k] = std::min<index_t>(first + k, last);
    media.load(m, n, sys);
    for (int k = 0; k < K; ++k)
      for (index_t j = 0; j < n; ++j) ys[j][k] = y[sys[k] * n + j];
    step(sys, media.t);
    for (index_t s = first; s <= last; ++s)
      for (index_t j = 0; j < n; ++j) y[s * n + j] = ys[j][s - first];
  }
}

/// One thread's share of theta_steps (inside the parallel region; cpu::run_vectorized).
struct ThetaGroups {
  struct Problem {
    index_t systems, n;
    MediumTables m;
    int count;
    double dt, theta;
    StepJacobian jac;
    double inv_dx;
    EndRows ends;
    index_t eo;
    const double *left, *right;
    double* y;
  };

  template <class V>
  [[gnu::always_inline]] static inline void run(const Problem& p, double* scratch) {
    using L = Lanes<V>;
    constexpr int K = kLaneCount<L>;
    const index_t n = p.n;
    L* work = reinterpret_cast<L*>(scratch);
    L* ys = work + StepScratch::kArrays * n;
    const auto scratch_lanes = StepScratchOf<L>::at(work, n);
    const bool keep = p.jac == StepJacobian::Frozen && p.count > 1;
    for_each_group<L, K>(
        p.systems, n, p.m, p.y, ys,
        ys + n, [&](const index_t* sys, const MediumTablesOf<L>& t) __attribute__((always_inline)) {
          L left{}, right{};
          for (int k = 0; k < K; ++k) {
            if (p.left) left[k] = p.left[sys[k]];
            if (p.right) right[k] = p.right[sys[k]];
          }
          for (int step = 0; step < p.count; ++step)
            theta_step<L, 1>(n, t, ys, p.dt, p.theta, p.inv_dx, p.ends, p.eo, left, right, scratch_lanes,
                             step == 0 ? StepJacobian::Exact : p.jac, keep);
        });
  }
};

/// One thread's share of a u-dependent random medium's slow lift (lift_corrector): groups of rows
/// side by side in the lanes, with their windows' conductances and harmonic means.
struct LiftGroups {
  struct Problem {
    index_t systems, windows, n;
    const double *cond, *a_star;
    MediumTables m;
    double dx;
    index_t start, nq;
    double* y;
  };

  template <class V>
  [[gnu::always_inline]] static inline void run(const Problem& p, double* scratch) {
    using L = Lanes<V>;
    constexpr int K = kLaneCount<L>;
    const index_t n = p.n;
    L* ys = reinterpret_cast<L*>(scratch);
    L* conds = ys + n;
    for_each_group<L, K>(
        p.systems, n, p.m, p.y, ys,
        conds + (n - 1), [&](const index_t* sys, const MediumTablesOf<L>& t) __attribute__((always_inline)) {
          L a_star{};
          for (int k = 0; k < K; ++k) {
            const index_t w = sys[k] % p.windows;
            for (index_t j = 0; j + 1 < n; ++j) conds[j][k] = p.cond[w * (n - 1) + j];
            a_star[k] = p.a_star[w];
          }
          lift_slow_row<L>(ys, n, t, conds, a_star, p.dx, p.start, p.nq);
        });
  }
};

void theta_steps(Device dev, index_t systems, index_t n, const MediumTables& m, int count, double dt, double theta,
                 StepJacobian jac, double inv_dx, EndRows ends, index_t eo, const double* left, const double* right,
                 double* y, double* scratch) {
  PL_RETURN_IF_CUDA(dev, theta_steps(systems, n, m, count, dt, theta, jac, inv_dx, ends, eo, left, right, y, scratch));
  // Each thread steps groups of systems side by side, each through all `count` steps, held in
  // that core's cache.
  const ThetaGroups::Problem p{systems, n, m, count, dt, theta, jac, inv_dx, ends, eo, left, right, y};
  const index_t per_thread = kMaxLanes * lanes_scratch(n, m);
  const int lanes = cpu_lanes();
#pragma omp parallel
  run_vectorized<ThetaGroups>(lanes, p, scratch + static_cast<index_t>(omp_get_thread_num()) * per_thread);
}

index_t theta_steps_scratch(Device dev, index_t systems, index_t n, const MediumTables& m) {
  if (dev == Device::CUDA) return StepScratch::kArrays * n * systems;
  return kMaxLanes * lanes_scratch(n, m) * static_cast<index_t>(omp_get_max_threads());
}

void axpby(Device dev, index_t count, double a, const double* x, double b, const double* y, double* out) {
  for_each_index(dev, count, Axpby{a, x, b, y, out});
}

void lift_coefficients(Device dev, index_t batch, int M, int degree, double dX, const ToothMoments& mu, const double* U,
                       double* coef) {
  for_each_index(dev, batch * (M - 2), LiftCoefficients{M, degree, dX, mu, U, coef});
}

void lift_rise(Device dev, index_t systems, int ncoef, const double* coef, double z0, double z1, double* out) {
  for_each_index(dev, systems, LiftRise{ncoef, coef, z0, z1, out});
}

void patch_estimates(Device dev, index_t batch, int M, const double* R, int d, const double* w, const double* U,
                     const double* R0, double* dUdt) {
  if (d < 1 || d > kMaxEstimateDegree) throw std::invalid_argument("patch_estimates: degree out of range");
  PatchEstimates f{M, R, U, R0, batch * (M - 2), d, {}, dUdt};
  std::copy(w, w + d, f.w);
  for_each_index(dev, batch * M, f);
}

void store_snapshot(Device dev, index_t batch, index_t M, index_t times, index_t n, const double* src, double* dst) {
  for_each_index(dev, batch * M, StoreSnapshot{M, times, n, src, dst});
}

void lift(Device dev, index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef, double* y) {
  PL_RETURN_IF_CUDA(dev, lift(systems, n, centre, dx, ncoef, coef, y));
  // The degree as a compile-time constant, so that Horner unrolls and the loop over j vectorizes.
  // A lift larger than the last-level cache is read back from memory anyway, so it bypasses the
  // cache with streaming stores (no read-for-ownership of every line it overwrites).
  const bool stream = static_cast<double>(systems) * static_cast<double>(n) * sizeof(double) > last_level_cache_bytes();
  const auto fill = [&](auto nc) {
#pragma omp parallel
    {
#pragma omp for nowait
      for (index_t s = 0; s < systems; ++s) {
        const double* c = coef + s * nc();
        // z = (j0 + i - centre) dx: integers are exact in a double, so this is the CUDA kernel's value.
        const auto value = [&](index_t j0, int i) {
          return lift_value(c, nc(), (static_cast<double>(j0 - centre) + i) * dx);
        };
        if (stream)
          stream_row(y + s * n, n, value);
        else
          for (index_t j = 0; j < n; ++j) y[s * n + j] = value(j, 0);
      }
      if (stream) stream_fence();
    }
  };
  if (ncoef == 3) return fill(std::integral_constant<int, 3>{});
  if (ncoef == 5) return fill(std::integral_constant<int, 5>{});
  fill([ncoef] { return ncoef; });
}

void lift_corrector(Device dev, index_t systems, index_t windows, index_t n, const double* a, const double* a_star,
                    const MediumTables& m, double dx, index_t start, index_t nq, double* y, double* scratch) {
  if (dev == Device::CPU && m.na > 0) {  // rows side by side in the lanes, as theta_steps steps them
    if (!scratch) throw std::invalid_argument("lift_corrector: the slow lift on the CPU needs its lanes' scratch");
    const LiftGroups::Problem p{systems, windows, n, a, a_star, m, dx, start, nq, y};
    const index_t per_thread = kMaxLanes * lanes_scratch(n, m);
    const int lanes = cpu_lanes();
#pragma omp parallel
    run_vectorized<LiftGroups>(lanes, p, scratch + static_cast<index_t>(omp_get_thread_num()) * per_thread);
    return;
  }
  for_each_index(dev, systems, LiftCorrector{windows, n, a, a_star, m, dx, start, nq, y});
}

void restrict_teeth(Device dev, index_t systems, index_t n, index_t teeth, index_t start, index_t stride, index_t nq,
                    const double* x, double* out) {
  PL_RETURN_IF_CUDA(dev, restrict_teeth(systems, n, teeth, start, stride, nq, x, out));
#pragma omp parallel for collapse(2)
  for (index_t s = 0; s < systems; ++s)
    for (index_t t = 0; t < teeth; ++t) out[s * teeth + t] = tooth_average(x + s * n, start + t * stride, nq);
}

void trbdf2_error_estimate(Device dev, const double* F, const double* d1, const double* d2, double h, double* out,
                           index_t count) {
  for_each_index(dev, count, TrBdf2Error{F, d1, d2, h, out});
}

double max_abs(Device dev, const double* x, index_t count) {
  PL_RETURN_IF_CUDA(dev, max_abs(x, count));
  double m = 0.0;
#pragma omp parallel for reduction(max : m)
  for (index_t i = 0; i < count; ++i) m = std::max(m, abs_or_inf(x[i]));
  return m;
}

index_t count_nonfinite(Device dev, const double* x, index_t count) {
  PL_RETURN_IF_CUDA(dev, count_nonfinite(x, count));
  index_t bad = 0;
#pragma omp parallel for reduction(+ : bad)
  for (index_t i = 0; i < count; ++i) bad += std::isfinite(x[i]) ? 0 : 1;
  return bad;
}

void mark_bad_values(Device dev, const double* x, index_t count, unsigned long long tag, double lo, double hi,
                     unsigned long long* first) {
  PL_RETURN_IF_CUDA(dev, mark_bad_values(x, count, tag, lo, hi, first));
  unsigned long long nonfinite = kNoBadValue, outside = kNoBadValue;
#pragma omp parallel for reduction(min : nonfinite, outside)
  for (index_t i = 0; i < count; ++i) {
    const int slot = bad_value_slot(x[i], lo, hi);
    const unsigned long long at = tag + static_cast<unsigned long long>(i);
    if (slot == 0) nonfinite = std::min(nonfinite, at);
    if (slot == 1) outside = std::min(outside, at);
  }
  first[0] = std::min(first[0], nonfinite);
  first[1] = std::min(first[1], outside);
}

}  // namespace patchlearn::kernels
