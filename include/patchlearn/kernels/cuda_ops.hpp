#pragma once
// Launchers of the named CUDA kernels behind kernels/batched.hpp (cuda/batched.cu, cuda/lattice2d.cu,
// cuda/reductions.cu). Pointers are device pointers; each launcher mirrors one CPU loop in
// src/kernels/. The element-wise work has no launcher of its own: kernels/elementwise.hpp.
#include <cstddef>

#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/coarse.hpp"
#include "patchlearn/kernels/diffusion.hpp"
#include "patchlearn/kernels/lattice2d.hpp"
#include "patchlearn/kernels/nonlinear.hpp"
#include "patchlearn/kernels/tridiag.hpp"

namespace patchlearn::kernels::cuda {

void assemble_diffusion(index_t mats, index_t n, const double* cond, double c, EndRows ends, double* l, double* d,
                        double* u);
/// Factor the matrices f.l, d, f.u into the arrays f names (passed again here, writable), the
/// lane-major copies included.
void factor(const TridiagFactors& f, const double* d, double* cp, double* inv, double* v, double* w, double* rlow,
            double* rcp, double* rinv, double* lanes);
/// The threads the device holds resident at once (multiprocessors x threads per multiprocessor;
/// 270,336 on an H200): a kernel that loops inside each thread needs about this many to fill it.
index_t resident_threads();
void solve(index_t systems, const TridiagFactors& f, double* x);
void fused_steps(index_t systems, const TridiagFactors& f, int count, const double* cond, double alpha, EndRows ends,
                 const double* left, const double* right, double* y);
/// Whether two n-point arrays fit in one block's shared memory on the current GPU.
bool fused_steps_fit(index_t n);
/// The shared memory one block may use (with the opt-in above the 48 KiB default).
std::size_t shared_bytes_per_block();
void increment_rhs(index_t systems, index_t mats, index_t n, const double* cond, double alpha, EndRows ends, index_t eo,
                   const double* left, const double* right, const double* x, double* out);
void theta_steps(index_t systems, index_t n, const MediumTables& m, int count, double dt, double theta,
                 StepJacobian jac, double inv_dx, EndRows ends, index_t eo, const double* left, const double* right,
                 double* y, double* scratch);
void lift(index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef, double* y);
void restrict_teeth(index_t systems, index_t n, index_t teeth, index_t start, index_t stride, index_t nq,
                    const double* x, double* out);
index_t count_nonfinite(const double* x, index_t count);
void mark_bad_values(const double* x, index_t count, unsigned long long tag, double lo, double hi,
                     unsigned long long* first);
double max_abs(const double* x, index_t count);
double sum_squares(const double* x, index_t count);

// 2D lattice (cuda/lattice2d.cu)
void gap_tooth_rates(index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                     double inv_h2, const double* U, double* dUdt, const LatticeNonlinearity& nl, const double* edges);
void closure_edges(index_t batch, int P, int m, const ToothClosure& c, const double* U, const double* M, double* edges);
void coupling_edges(index_t batch, int P, int m, const double* wp, const double* wm, const double* U, double* edges);
void gap_tooth_chebyshev_interval(index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                                  double inv_h2, double rho, const double* c, int n, double* u);
bool gap_tooth_interval_fits(int P, int m);
void lattice_rates(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                   double* dudt, const LatticeNonlinearity& nl);
void lattice_chebyshev_step(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, double a,
                            const double* Tk, double* Tkm1, double c, double* acc);
void patch_means(index_t batch, index_t points, index_t patches, const double* x, double* out);

}  // namespace patchlearn::kernels::cuda
