#pragma once
// Batched operations over "systems": contiguous rows of n fine points, laid out as
// [trajectory][patch][point] in one allocation. Every operation runs on the device that owns its
// buffers; the CPU backend loops with OpenMP and the CUDA backend launches kernels, both calling
// the per-element functions of kernels/tridiag.hpp and kernels/diffusion.hpp.
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/coarse.hpp"
#include "patchlearn/kernels/diffusion.hpp"
#include "patchlearn/kernels/lattice2d.hpp"
#include "patchlearn/kernels/nonlinear.hpp"
#include "patchlearn/kernels/tridiag.hpp"

namespace patchlearn::kernels {

/// `mats` tridiagonal matrices of size n, factored once for a partitioned solve of many
/// right-hand sides. System s of a batch uses matrix s % mats.
class BatchedTridiag {
 public:
  /// chunk_len: target chunk length of the partition (0 = one chunk, plain Thomas).
  BatchedTridiag(Device dev, index_t mats, index_t n, index_t chunk_len, index_t end_offset = 1);

  /// Fill the matrices with I - c L for the diffusion operator with conductances
  /// cond[mat][n-1], closed by `ends`, and factor them.
  void assemble_diffusion(const Buffer<double>& cond, double c, EndRows ends);
  /// Solve all systems x[s][n] in place.
  void solve(double* x, index_t systems) const;

  /// `count` implicit diffusion steps in increment form on every system y[s]:
  ///     y += solve(increment_rhs(y))      (kernels/diffusion.hpp), `count` times,
  /// temporally blocked: each system is read once, held on chip (a CUDA block's shared memory,
  /// a CPU thread's cache) through all `count` steps and written once, where the unblocked form
  /// (increment_rhs, solve, axpby) makes three passes through memory per step. The arithmetic
  /// is the same, value for value. Arguments as for increment_rhs; needs fits_on_chip().
  void fused_steps(double* y, index_t systems, int count, const double* cond, double alpha, EndRows ends,
                   const double* left, const double* right) const;
  /// Whether fused_steps can hold its systems on chip: on CUDA two n-point arrays within one
  /// block's shared memory; on the CPU the values, increments and conductances of the systems
  /// each thread steps side by side within half the last-level cache.
  bool fits_on_chip() const;

  /// Host copy of the diagonals (tests).
  std::vector<double> diag() const { return d_.to_host(); }

  /// Factor matrices already placed in l, d, u (exposed for tests of general matrices).
  void set_matrices(const std::vector<double>& l, const std::vector<double>& d, const std::vector<double>& u);

 private:
  void factor();
  void pack_lanes();
  TridiagFactors factors() const;
  Device dev_;
  index_t mats_, n_, chunks_, eo_;
  Buffer<double> l_, d_, u_, cp_, inv_, v_, w_, rlow_, rcp_, rinv_;
  Buffer<double> lanes_;     ///< CUDA: the sweep factors lane-major (TridiagFactors::lanes)
  Buffer<double> packed_;    ///< CPU, where fits_on_chip: the factors of groups of matrices side by side (pack_lanes)
  index_t lanes_per_group_;  ///< CPU: the matrices of a group, the lanes fused_steps runs in
};

/// out[s] = increment right-hand side of x[s] (kernels/diffusion.hpp: increment_rhs). cond is
/// [mat][n-1], system s uses conductances s % mats; left/right hold one edge target per system
/// (nullptr for Dirichlet ends).
void increment_rhs(Device dev, index_t systems, index_t mats, index_t n, const double* cond, double alpha, EndRows ends,
                   index_t eo, const double* left, const double* right, const double* x, double* out);

/// `count` linearly implicit theta steps of dt (kernels/nonlinear.hpp: theta_step) on every
/// system y[s] of n points of the nonlinear medium m, each system held through all of them (one
/// thread per system; on the CPU it stays in that core's cache). Ends as for increment_rhs.
/// jac: Exact factors the Jacobian at every step; Frozen factors it at the first of the `count`
/// steps and keeps it for the others (the W-method of kernels/nonlinear.hpp).
/// scratch: theta_steps_scratch(dev, systems, n, m) values on the device.
void theta_steps(Device dev, index_t systems, index_t n, const MediumTables& m, int count, double dt, double theta,
                 StepJacobian jac, double inv_dx, EndRows ends, index_t eo, const double* left, const double* right,
                 double* y, double* scratch);
/// The scratch theta_steps needs on the medium m (its series' sizes): StepScratch::kArrays n-point
/// arrays per system of the batch on CUDA; on the CPU, for each thread, those of the systems it
/// steps side by side with their states and their media's series.
index_t theta_steps_scratch(Device dev, index_t systems, index_t n, const MediumTables& m);
/// out = a x + b y elementwise (out may alias x or y).
void axpby(Device dev, index_t count, double a, const double* x, double b, const double* y, double* out);

/// Lift coefficients coef[b][p][0..degree] for macro states U[b][M] (patch p at node p + 1).
void lift_coefficients(Device dev, index_t batch, int M, int degree, double dX, const ToothMoments& mu, const double* U,
                       double* coef);

/// Rise of each lift over [z0, z1]: out[s] = p_s(z1) - p_s(z0) (buffer-end targets).
void lift_rise(Device dev, index_t systems, int ncoef, const double* coef, double z0, double z1, double* out);

/// dUdt[b][p+1] = patch_estimate of the restrictions R[k][b][p] (k < d, weights w[k]) with
/// base = R0[b][p] if R0 else U[b][p+1]; the two end nodes get 0.
void patch_estimates(Device dev, index_t batch, int M, const double* R, int d, const double* w, const double* U,
                     const double* R0, double* dUdt);

/// dst[(b * times + n) * M + j] = src[b * M + j]: store one snapshot of a batch of macro states.
void store_snapshot(Device dev, index_t batch, index_t M, index_t times, index_t n, const double* src, double* dst);

/// y[s][j] = sum_k coef[s][k] ((j - centre) dx)^k, k < ncoef.
void lift(Device dev, index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef, double* y);

/// The patches' lift with their own corrector (a random medium): row s, on window w = s % windows
/// (bonds a[w][0 .. n-2], harmonic mean a_star[w]), is lifted by lift_corrector_row
/// (kernels/diffusion.hpp): fluxes a_star y_x, the same Simpson average over [start, start + nq).
/// With the series of a u-dependent medium (m.na > 0; window w = its medium w, bonds dx apart), by
/// lift_slow_row (kernels/nonlinear.hpp) instead: onto the patch's slow manifold; the CPU then runs
/// rows side by side in vector lanes, in `scratch` (theta_steps_scratch(dev, systems, n, m)
/// doubles of a Buffer, aligned for the lanes, as theta_steps' own; unused otherwise, may be null).
void lift_corrector(Device dev, index_t systems, index_t windows, index_t n, const double* a, const double* a_star,
                    const MediumTables& m, double dx, index_t start, index_t nq, double* y, double* scratch);

/// out[s][t] = Simpson average of x[s][start + t*stride + q], q < nq, for t < teeth.
void restrict_teeth(Device dev, index_t systems, index_t n, index_t teeth, index_t start, index_t stride, index_t nq,
                    const double* x, double* out);

/// out = the TR-BDF2 local-error estimate (kernels/diffusion.hpp: trbdf2_error) at every point
/// (out may alias F).
void trbdf2_error_estimate(Device dev, const double* F, const double* d1, const double* d2, double h, double* out,
                           index_t count);
/// max |x| (+inf when any value is not finite).
double max_abs(Device dev, const double* x, index_t count);

/// Number of non-finite values in x (0 when all are finite).
index_t count_nonfinite(Device dev, const double* x, index_t count);

/// No bad value recorded (mark_bad_values).
constexpr unsigned long long kNoBadValue = ~0ull;
/// Records where x holds a bad value (bad_value_slot), without waiting for the pass to finish:
/// first[slot] (in dev's memory) becomes the least of itself and tag + i over the bad x[i] of that
/// slot. The device side of BadValueWatch (schemes/coarse_operator.hpp).
void mark_bad_values(Device dev, const double* x, index_t count, unsigned long long tag, double lo, double hi,
                     unsigned long long* first);

// --- coarse integrators (schemes/integrators.hpp), kernels/elementwise.hpp and kernels/dense.hpp ---
/// out = x + h sum_j c[j] k[j] over the first n (<= StageSum::kMax) of k (x null: out = h * the sum).
void stage_sum(Device dev, index_t count, double h, const double* x, int n, const double* c, const double* const* k,
               double* out);
/// out = e / (atol + rtol max(|u|, |v|)), element by element.
void scaled_error(Device dev, index_t count, const double* e, const double* u, const double* v, double atol,
                  double rtol, double* out);
/// sum x^2 (not finite when any x is not).
double sum_squares(Device dev, const double* x, index_t count);
/// A = I - g J for `systems` blocks of n x n.
void shifted_identity(Device dev, index_t systems, index_t n, double g, const double* J, double* A);
/// Each n x n block of A becomes its LU factors with partial pivoting (pivots piv[systems][n]).
void lu_factor(Device dev, index_t systems, index_t n, double* A, index_t* piv);
/// Each b[s] becomes A[s]^-1 b[s] from lu_factor's factors.
void lu_solve(Device dev, index_t systems, index_t n, const double* LU, const index_t* piv, double* b);
/// x = U[systems][n] with node j moved by coarse_difference_step (a forward-difference column).
void perturb_node(Device dev, index_t systems, index_t n, index_t j, const double* U, double* x);
/// Column j of each state's Jacobian J[systems][n][n] from the rates F0 at U and F1 at x.
void jacobian_column(Device dev, index_t systems, index_t n, index_t j, const double* F0, const double* F1,
                     const double* U, const double* x, double* J);

// --- 2D lattice (kernels/lattice2d.hpp) ---
/// dUdt = gap-tooth rates of U[b][q][p][J][I] (P x P patches of m x m evolving points,
/// point-major); k the teeth's bond tables, one shared or one per tooth (ToothBonds); wp, wm the
/// P x P circulant coupling matrices; nl the u-dependence (site rates nl.rho indexed like one
/// shared bond table; a u-dependent lattice has no per-tooth tables), linear by default. Where
/// `edges` is given (closure_edges, batch * 4 m P^2), the edge values are read from it instead.
/// Closed teeth (k.closure active): on the CPU each trajectory's pass computes its own ghosts
/// (its means, then ToothClosure's products); on CUDA `edges` must be given.
void gap_tooth_rates(Device dev, index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                     double inv_h2, const double* U, double* dUdt, const LatticeNonlinearity& nl = {},
                     const double* edges = nullptr);
/// edges[b][side][k][J][I] = the ghost values of the teeth's periodic closure (kernels/lattice2d.hpp:
/// ToothClosure, closure_edge) of the states U (as gap_tooth_rates) with patch means M[b][J][I].
void closure_edges(Device dev, index_t batch, int P, int m, const ToothClosure& c, const double* U, const double* M,
                   double* edges);
/// edges[b][side][k][J][I] = the spectral coupling's edge values of the states U (the sums that
/// gap_tooth_rates computes where `edges` is not given: E_q = F(0, q) Wp^T, W_q = F(m-1, q) Wm^T,
/// N_p = Wp F(p, 0), S_p = Wm F(p, m-1), F(p, q) the P x P plane of interior point (p, q)) as
/// cuBLAS's strided-batched GEMMs, 4 m of them over the whole batch. CUDA only: the CPU forms the
/// same products within each trajectory's pass.
void coupling_edges(Device dev, index_t batch, int P, int m, const double* wp, const double* wm, const double* U,
                    double* edges);
/// Whether coupling_edges then gap_tooth_rates with those edges is the faster way to the rates of
/// P x P patches on `dev`: on CUDA from P = 64 (measured on the H200, bench_kernels'
/// BM_GapToothCoupling; ours sums each edge value where it is needed and loses as P^3).
bool coupling_edges_pay(Device dev, int P);
/// u <- exp(dt A) u over one sampling interval for the gap-tooth patches of gap_tooth_rates, by the
/// Chebyshev series c[0..n) (n >= 2, a device array) on [-rho, 0], each trajectory's series carried
/// through in one go: the arithmetic of the term-by-term loop (chebyshev_start, gap_tooth_rate,
/// chebyshev_update) without a pass through memory, a barrier across the batch or a launch per
/// term. CPU: a trajectory per thread, its three vectors in that core's cache. CUDA: a block per
/// trajectory, the vectors in shared memory, where gap_tooth_interval_fits.
void gap_tooth_chebyshev_interval(Device dev, index_t batch, int P, int m, const ToothBonds& k, const double* wp,
                                  const double* wm, double inv_h2, double rho, const double* c, int n, double* u);
bool gap_tooth_interval_fits(Device dev, int P, int m);
/// u <- `steps` steps of the rkc method (stage[0..s), kernels/lattice2d.hpp: rkc_stage_value, the
/// step folded into mu_dt and gamma_dt) for the gap-tooth patches of gap_tooth_rates, each
/// trajectory carried through in one go as gap_tooth_chebyshev_interval does. CPU only (a thread
/// per trajectory, its vectors in that core's cache); false on CUDA, where the caller goes stage
/// by stage (gap_tooth_rates, rkc_stage).
bool gap_tooth_rkc_interval(Device dev, index_t batch, int P, int m, const ToothBonds& k, const double* wp,
                            const double* wm, double inv_h2, const LatticeNonlinearity& nl, const RkcStage* stage,
                            int s, int steps, double* u);
/// dudt = rates of the periodic N x N lattices u[b][y][x] with full bond tables kE, kN [y][x] and
/// the u-dependence nl (site rates nl.rho [y][x]), linear by default.
void lattice_rates(Device dev, index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                   const double* u, double* dudt, const LatticeNonlinearity& nl = {});
/// One stage of the Runge-Kutta-Chebyshev method over count values (kernels/lattice2d.hpp:
/// rkc_stage_value), written over yjm2: yjm2 <- stage(y0, yjm1, yjm2, f, f0).
void rkc_stage(Device dev, index_t count, const RkcStage& s, const double* y0, const double* yjm1, const double* f,
               const double* f0, double* yjm2);
/// The Chebyshev series' first terms over count values (kernels/lattice2d.hpp: chebyshev_start).
void chebyshev_start(Device dev, index_t count, double a, const double* Au, const double* u, double c0, double c1,
                     double* T1, double* acc);
/// Chebyshev recurrence over count values (kernels/lattice2d.hpp: chebyshev_update).
void chebyshev_step(Device dev, index_t count, double a, const double* AT, const double* Tk, double* Tkm1, double c,
                    double* acc);
/// lattice_rates and chebyshev_step in one pass, the rate A Tk of each point used where it is
/// computed and never stored: 40 instead of 64 bytes per point, the same values.
void lattice_chebyshev_step(Device dev, index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                            double a, const double* Tk, double* Tkm1, double c, double* acc);
/// out[b][i] = mean over k of x[b][k][i]: the means of `patches` patches of `points` points
/// each, stored point-major (kernels/lattice2d.hpp).
void patch_means(Device dev, index_t batch, index_t points, index_t patches, const double* x, double* out);
/// U[b][J][I] = mean of u[b][y][x] (N x N lattices) over x, y in first + I|J * spacing + 1 .. + m.
void window_means(Device dev, index_t batch, index_t N, int P, index_t first, index_t spacing, int m, const double* u,
                  double* U);

}  // namespace patchlearn::kernels
