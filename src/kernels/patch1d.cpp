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

// The nonlinear systems a CPU thread steps side by side: 8 recurrences hide the latency of the
// elimination's divisions and, with the scratch lane-minor, fill AVX2 vectors twice (BM_NonlinearBurst,
// frozen Jacobian, 3 terms: 377 ms with 4 lanes, 335 ms with 8; bench/RESULTS.md).
constexpr int kLanes = 8;

void theta_steps(Device dev, index_t systems, index_t n, const MediumTables& m, int count, double dt, double theta,
                 StepJacobian jac, double inv_dx, EndRows ends, index_t eo, const double* left, const double* right,
                 double* y, double* scratch) {
  PL_RETURN_IF_CUDA(dev, theta_steps(systems, n, m, count, dt, theta, jac, inv_dx, ends, eo, left, right, y, scratch));
  // Each thread steps kLanes systems side by side through all `count` steps (theta_step_lanes),
  // each held in that core's cache; a last group of fewer systems goes one by one.
  const index_t groups = (systems + kLanes - 1) / kLanes;
#pragma omp parallel
  {
    // The group's lanes side by side, or a last group of fewer systems one by one, each on its own
    // lane of the thread's scratch; the factors a Frozen step reuses stay there between steps.
    double* base = scratch + static_cast<index_t>(omp_get_thread_num()) * kLanes * StepScratch::kArrays * n;
    const StepScratch lanes_work = StepScratch::at(base, n, kLanes);
    StepScratch one_work[kLanes];
    for (int k = 0; k < kLanes; ++k) one_work[k] = StepScratch::lane(base, n, kLanes, k);
    const bool keep = jac == StepJacobian::Frozen && count > 1;
#pragma omp for schedule(dynamic)
    for (index_t grp = 0; grp < groups; ++grp) {
      const int lanes = static_cast<int>(std::min<index_t>(kLanes, systems - grp * kLanes));
      MediumTables ms[kLanes];
      double* ys[kLanes];
      double lv[kLanes], rv[kLanes];
      for (int k = 0; k < lanes; ++k) {
        const index_t s = grp * kLanes + k;
        ms[k] = m.of_system(s, n);
        ys[k] = y + s * n;
        lv[k] = left ? left[s] : 0.0;
        rv[k] = right ? right[s] : 0.0;
      }
      for (int step = 0; step < count; ++step) {
        const StepJacobian sj = step == 0 ? StepJacobian::Exact : jac;
        if (lanes == kLanes) {
          theta_step_lanes<kLanes>(n, ms, ys, dt, theta, inv_dx, ends, eo, lv, rv, lanes_work, sj, keep);
        } else {
          for (int k = 0; k < lanes; ++k)
            theta_step_system(n, ms[k], ys[k], dt, theta, inv_dx, ends, eo, lv[k], rv[k], one_work[k], sj, keep);
        }
      }
    }
  }
}

index_t theta_steps_scratch(Device dev, index_t systems, index_t n) {
  return StepScratch::kArrays * n *
         (dev == Device::CUDA ? systems : kLanes * static_cast<index_t>(omp_get_max_threads()));
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

void patch_estimates(Device dev, index_t batch, int M, const double* R, const double* U, const double* R0, double span,
                     double* dUdt, const double* Rmid, double beta) {
  for_each_index(dev, batch * M, PatchEstimates{M, R, U, R0, span, dUdt, Rmid, beta});
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
                    index_t start, index_t nq, double* y) {
  for_each_index(dev, systems, LiftCorrector{windows, n, a, a_star, start, nq, y});
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
