#pragma once
// Launchers of the CUDA kernels behind kernels/batched.hpp (implemented in cuda/batched.cu).
// Pointers are device pointers; each launcher mirrors one CPU loop in src/kernels/batched.cpp.
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
void factor(index_t mats, index_t n, index_t P, index_t eo, const double* l, const double* d, const double* u,
            double* cp, double* inv, double* v, double* w, double* rlow, double* rcp, double* rinv);
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
void fine_rates(index_t systems, index_t n, const MediumTables& m, double inv_dx, const double* y, double* out);
void axpby(index_t count, double a, const double* x, double b, const double* y, double* out);
void lift_coefficients(index_t batch, int M, int degree, double dX, const ToothMoments& mu, const double* U,
                       double* coef);
void lift_rise(index_t systems, int ncoef, const double* coef, double z0, double z1, double* out);
void patch_estimates(index_t batch, int M, const double* R, const double* U, const double* R0, double span,
                     double* dUdt, const double* Rmid, double beta);
void store_snapshot(index_t batch, index_t M, index_t times, index_t n, const double* src, double* dst);
void lift(index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef, double* y);
void restrict_teeth(index_t systems, index_t n, index_t teeth, index_t start, index_t stride, index_t nq,
                    const double* x, double* out);
void lift_corrector(index_t systems, index_t windows, index_t n, const double* a, const double* a_star, index_t start,
                    index_t nq, double* y);
index_t count_nonfinite(const double* x, index_t count);
void mark_bad_values(const double* x, index_t count, unsigned long long tag, double lo, double hi,
                     unsigned long long* first);
void trbdf2_error_estimate(const double* F, const double* d1, const double* d2, double h, double* out, index_t count);
double max_abs(const double* x, index_t count);

// 2D lattice (cuda/lattice2d.cu)
void gap_tooth_rates(index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                     double inv_h2, const double* U, double* dUdt, const LatticeNonlinearity& nl, const double* edges);
void closure_edges(index_t batch, int P, int m, const ToothClosure& c, const double* U, const double* M, double* edges);
void gap_tooth_chebyshev_interval(index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                                  double inv_h2, double rho, const double* c, int n, double* u);
bool gap_tooth_interval_fits(int P, int m);
void chebyshev_start(index_t count, double a, const double* Au, const double* u, double c0, double c1, double* T1,
                     double* acc);
void lattice_rates(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                   double* dudt, const LatticeNonlinearity& nl);
void rkc_stage(index_t count, const RkcStage& s, const double* y0, const double* yjm1, const double* f,
               const double* f0, double* yjm2);
void chebyshev_step(index_t count, double a, const double* AT, const double* Tk, double* Tkm1, double c, double* acc);
void lattice_chebyshev_step(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, double a,
                            const double* Tk, double* Tkm1, double c, double* acc);
void patch_means(index_t batch, index_t points, index_t patches, const double* x, double* out);
void window_means(index_t batch, index_t N, int P, index_t first, index_t spacing, int m, const double* u, double* U);

}  // namespace patchlearn::kernels::cuda
