// The 2D lattice problem: the cell problem's tensor, the coupling, the gap-tooth and full-lattice
// schemes, the exponential stepper and the spectral homogenized truth.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <tuple>
#include <utility>

#include "patchlearn/coeff/random_medium.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/cell2d.hpp"
#include "patchlearn/homog/homogenized2d.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/schemes/lattice2d.hpp"
#include "on_device.hpp"

using namespace patchlearn;

namespace {

KappaTables layered_x(std::vector<double> a, std::vector<double> b) {
  // Tables varying only along x: x-bonds in series (harmonic mean), y-bonds in parallel (mean).
  KappaTables t;
  t.mx = static_cast<int>(a.size());
  t.my = 1;
  t.cx = std::move(a);
  t.cy = std::move(b);
  return t;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

double harmonic(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += 1.0 / x;
  return v.size() / s;
}

std::vector<InitialCondition2D> two_ics() {
  InitialConditionParams2D p;
  p.trajectories = 2;
  p.modes = 4;
  p.k_lo = 1;
  p.k_hi = 3;
  return draw_initial_conditions_2d(p);
}

// Series in t = u for the u-dependent rate tests, one after the other: g (3 terms, positive on
// [-1, 1]), f (4) and a denominator q (3, positive) for g / q and f / q.
const std::vector<double> kSeries = {1.2, 0.3, 0.1, 0.1, -0.5, 0.2, 0.05, 1.5, 0.2, 0.3};

/// The linear lattice, then g and f, g alone, f alone, g / q and f / q, and g and f / q with the
/// same coefficients taken as powers of t (kSeries, site rates rho: host or device arrays, as the
/// kernel reads them).
std::vector<kernels::LatticeNonlinearity> nonlinearities(const double* series, const double* rho) {
  const kernels::SeriesRatioView g{series, nullptr, 3, 0}, f{series + 3, nullptr, 4, 0};
  kernels::LatticeNonlinearity both, g_only, f_only, ratios, powers;
  both.g = g_only.g = g;
  both.f = f_only.f = f;
  ratios.g = {series, series + 7, 3, 3};
  ratios.f = {series + 3, series + 7, 4, 3};
  powers.g = {series, nullptr, 3, 0, true};
  powers.f = {series + 3, series + 7, 4, 3, true};
  both.rho = f_only.rho = ratios.rho = powers.rho = rho;
  return {{}, both, g_only, f_only, ratios, powers};
}

/// The paper lattice with g(u) = 1 + u^2 / 2 on every bond and the Allen-Cahn reaction
/// rho (u - u^3) on every site, rho a 3 x 3 table of mean 1 (configs/nonlinear2d.toml).
Lattice2D nonlinear_paper_lattice(const PatchLayout2D& g) {
  KappaTables t = KappaTables::paper();
  t.u_range = {-1.5, 1.5};
  t.conductance_factor.emplace("lattice.conductance_factor", "1 + 0.5*u^2", std::vector<std::string>{"u"});
  t.reaction.emplace("lattice.reaction", "u - u^3", std::vector<std::string>{"u"});
  t.reaction_rate = {0.5, 1.5, 1.0, 2.0, 0.25, 1.0, 1.0, 0.75, 1.0};
  return Lattice2D(t, BondPlacement::Reference, g.h, g.first);
}

}  // namespace

using LatticeOnDevice = OnDevice;  // on_device.hpp

TEST(Lattice2D, InitialConditionsArePeriodicOnADomainOfAnyLength) {
  // initial.wavenumbers count whole periods of the domain: on L = 1 (read from domain.length) the
  // conditions repeat with period 1 (sin(l x) with an integer l did not, and paper2d's geometry on
  // L = 1 gave data 3.8e-3 off the homogenized truth, 7.8e-8 now). L = 2 pi keeps the paper's
  // conditions bit for bit.
  const auto c = parse_config_2d("[domain]\ndimension = 2\nlength = 1.0\n[initial]\ntrajectories = 3\n", "t");
  ASSERT_EQ(c.initial.length, 1.0);
  const auto ics = draw_initial_conditions_2d(c.initial);
  for (const auto& ic : ics)
    for (const double x : {0.0, 0.137, 0.5, 0.93})
      for (const double y : {0.0, 0.41, 0.77}) {
        const double scale = std::max(1.0, std::abs(ic(x, y)));
        EXPECT_NEAR(ic(x + 1.0, y), ic(x, y), 1e-12 * scale);
        EXPECT_NEAR(ic(x, y + 1.0), ic(x, y), 1e-12 * scale);
      }
  InitialConditionParams2D paper = c.initial;
  paper.length = 2 * M_PI;
  const auto a = draw_initial_conditions_2d(paper)[0];
  for (std::size_t j = 0; j < a.lx.size(); ++j) {
    EXPECT_EQ(a.lx[j], std::floor(a.lx[j]));  // whole wavenumbers, as the paper's sin(l x)
    EXPECT_EQ(a.lx[j] * 2 * M_PI, ics[0].lx[j]);
  }
}

TEST(Cell2D, PaperTablesGiveTheFullTensor) {
  // REFERENCE §4.5: [[1.33997, 0.11047], [0.11047, 1.26458]] with the reference's placement, and
  // [[1.3346, 0.0424], [0.0424, 1.2484]] with the same-index reading of eq. (25).
  const auto D = effective_tensor(Lattice2D(KappaTables::paper(), BondPlacement::Reference, 0.01, 13));
  EXPECT_NEAR(D.xx, 1.33997, 1e-5);
  EXPECT_NEAR(D.xy, 0.11047, 1e-5);
  EXPECT_NEAR(D.yy, 1.26458, 1e-5);
  EXPECT_LT(D.asymmetry, 1e-12);
  const auto A = effective_tensor(Lattice2D(KappaTables::paper(), BondPlacement::Aligned, 0.01, 0));
  EXPECT_NEAR(A.xx, 1.3346, 1e-4);
  EXPECT_NEAR(A.xy, 0.0424, 1e-4);
  EXPECT_NEAR(A.yy, 1.2484, 1e-4);
  // Only the relative placement matters: a shifted origin gives the same tensor to round-off.
  const auto S = effective_tensor(Lattice2D(KappaTables::paper(), BondPlacement::Reference, 0.01, 5));
  EXPECT_NEAR(S.xx, D.xx, 1e-13);
  EXPECT_NEAR(S.xy, D.xy, 1e-13);
}

TEST(Cell2D, LayeredMediaHaveClosedForms) {
  const std::vector<double> a{1.0, 7.0, 0.3, 2.5}, b{4.0, 0.2, 1.1, 3.0};
  for (auto pl : {BondPlacement::Reference, BondPlacement::Aligned}) {
    const auto D = effective_tensor(Lattice2D(layered_x(a, b), pl, 1.0));
    EXPECT_NEAR(D.xx, harmonic(a), 1e-12);  // series
    EXPECT_NEAR(D.yy, mean(b), 1e-12);      // parallel
    EXPECT_NEAR(D.xy, 0.0, 1e-12);
  }
  // The same layers along y (tables with one row).
  KappaTables t;
  t.mx = 1;
  t.my = 4;
  t.cx = b;
  t.cy = a;
  const auto D = effective_tensor(Lattice2D(t, BondPlacement::Reference, 1.0));
  EXPECT_NEAR(D.yy, harmonic(a), 1e-12);
  EXPECT_NEAR(D.xx, mean(b), 1e-12);
}

TEST(Cell2D, TheMultigridPreconditionerGivesThePlainSolutionInIterationsThatHardlyGrowWithTheTable) {
  // Both solves stop at a residual of 1e-15 of the right-hand side's. D is the minimum of the
  // corrector's energy, so its error is quadratic in the corrector's: the two agree to round-off
  // (5e-16 measured); 1e-12 leaves room.
  // Plain CG's count grows like n (the condition number like n^2: a smooth mode of an n x n table
  // decays like 1/n^2), so 2x from 80 x 80 to 160 x 160. The V-cycle's grows like sqrt(n): each
  // doubling adds a level, whose Galerkin operator corrects smooth errors by half, doubling the
  // condition number (62, 84, 115 at 80, 160, 320 with sigma = 1): sqrt(2) per doubling.
  std::vector<int> plain, mg;
  for (const int n : {80, 160}) {
    const Lattice2D lat(KappaTables::lognormal(n, n, 1.0, 11), BondPlacement::Aligned, 1.0);
    const auto P = effective_tensor(lat, CellSolver::Plain), M = effective_tensor(lat);
    for (const auto& [a, b] : {std::pair{M.xx, P.xx}, std::pair{M.xy, P.xy}, std::pair{M.yy, P.yy}})
      EXPECT_NEAR(a, b, 1e-12) << n << " x " << n;
    EXPECT_LT(M.asymmetry, 1e-12);
    EXPECT_LT(10 * M.iterations, P.iterations) << n << " x " << n;
    plain.push_back(P.iterations);
    mg.push_back(M.iterations);
    std::printf("%d x %d: CG %d iterations, with the V-cycle %d\n", n, n, P.iterations, M.iterations);
  }
  EXPECT_GT(5 * plain[1], 9 * plain[0]);  // 2 expected, 1.8 at least
  EXPECT_LT(5 * mg[1], 8 * mg[0]);        // sqrt(2) expected, under 1.6
  // Small tables (RVE windows: plain CG is as fast there) and sides that do not halve to >= 4 keep
  // plain CG, the same iterates.
  for (const auto& [mx, my] : {std::pair{32, 32}, std::pair{90, 91}}) {
    const Lattice2D lat(KappaTables::lognormal(mx, my, 1.0, 12), BondPlacement::Aligned, 1.0);
    const auto P = effective_tensor(lat, CellSolver::Plain), M = effective_tensor(lat);
    EXPECT_EQ(P.iterations, M.iterations);
    EXPECT_EQ(P.xx, M.xx);
    EXPECT_EQ(P.yy, M.yy);
  }
}

TEST(Cell2D, ASolveThatDoesNotConvergeIsAnErrorNotATensor) {
  // Bonds spanning 1e-8 .. 1e7 (log k ~ N(0, 5^2)): plain CG stops at its cap of 10 n iterations
  // with a residual of ~1e-6 of b's (before the check, on 128 x 128 it returned a tensor whose
  // asymmetry was 1.3e-3).
  const Lattice2D lat(KappaTables::lognormal(64, 64, 5.0, 11), BondPlacement::Aligned, 1.0);
  try {
    effective_tensor(lat, CellSolver::Plain);
    ADD_FAILURE() << "a tensor from a solve that did not converge";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("did not converge"), std::string::npos) << e.what();
  }
}

TEST(Cell2D, RandomLogNormalTablesGiveAnSpdTensorWithinTheWienerBounds) {
  const auto t = KappaTables::lognormal(5, 5, 1.0, 7);
  const auto D = effective_tensor(Lattice2D(t, BondPlacement::Aligned, 1.0));
  EXPECT_LT(D.asymmetry, 1e-12);
  EXPECT_GT(D.xx * D.yy - D.xy * D.xy, 0.0);
  EXPECT_LE(D.xx, mean(t.cx) + 1e-12);
  EXPECT_GE(D.xx, harmonic(t.cx) - 1e-12);
  EXPECT_LE(D.yy, mean(t.cy) + 1e-12);
  EXPECT_GE(D.yy, harmonic(t.cy) - 1e-12);
}

TEST(Coupling, SpectralInterpolationReproducesFourierModes) {
  for (int P : {7, 16}) {
    for (double r : {0.1, -0.1, 0.37, 1.0}) {
      const auto w = coupling_kernel(P, r, Coupling::Spectral, 0);
      for (int k = 0; 2 * k < P; ++k) {
        for (int I = 0; I < P; ++I) {
          double s = 0;
          for (int J = 0; J < P; ++J) s += w[((I - J) % P + P) % P] * std::cos(2 * M_PI * k * J / P + 0.3);
          EXPECT_NEAR(s, std::cos(2 * M_PI * k * (I + r) / P + 0.3), 1e-13) << "P " << P << " r " << r << " k " << k;
        }
      }
    }
  }
  // Polynomial coupling of order p is exact for polynomials of degree p in the patch index (away
  // from the wrap): sum_j l_j(r) j^d = r^d.
  const auto w = coupling_kernel(16, 0.1, Coupling::Polynomial, 4);
  for (int d = 0; d <= 4; ++d) {
    double s = 0;
    for (int j = -2; j <= 2; ++j) s += w[((-j) % 16 + 16) % 16] * std::pow(j, d);
    EXPECT_NEAR(s, std::pow(0.1, d), 1e-14);
  }
}

TEST(GapTooth2D, InteriorJacobianIsSymmetricUnderEdgyInt) {
  // REFERENCE §4.3: symmetric to 5e-11 relative; here by unit perturbations of a 6 x 6 system.
  const auto g = make_layout_2d(2 * M_PI, 6, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  GapTooth2D gt(Device::CPU, lat, g, 1);
  const index_t n = gt.state_size();
  std::vector<double> J(n * n), e(n, 0.0), out(n);
  for (index_t j = 0; j < n; ++j) {
    e.assign(n, 0.0);
    e[j] = 1.0;
    gt.rates(e.data(), out.data());
    for (index_t i = 0; i < n; ++i) J[i * n + j] = out[i];
  }
  double asym = 0, scale = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      asym = std::max(asym, std::abs(J[i * n + j] - J[j * n + i]));
      scale = std::max(scale, std::abs(J[i * n + j]));
    }
  EXPECT_LT(asym, 1e-13 * scale);
  // Polynomial coupling is not symmetric, and the exponential stepper refuses it.
  const auto gp = make_layout_2d(2 * M_PI, 6, 5, 0.1, Coupling::Polynomial, 2);
  GapTooth2D poly(Device::CPU, Lattice2D(KappaTables::paper(), BondPlacement::Reference, gp.h, gp.first), gp, 1);
  EXPECT_FALSE(poly.symmetric());
  EXPECT_THROW(Propagator2D(poly, 0.01, FineStepper::Exponential), ConfigError);
}

TEST_P(LatticeOnDevice, GapToothBatchedRatesEqualThePerPointFunction) {
  const Device dev = GetParam();
  // The CPU loop computes all edges of a trajectory as register-blocked matrix products and the
  // rates over all patches at once, the CUDA kernel one point a thread: every value must be the
  // per-point gap_tooth_rate evaluated here on the host, for the paper's m = 3 (compiled for that
  // size) and other sizes, with P not a multiple of the register blocks, linear and u-dependent,
  // with one bond table shared by the teeth and with one per tooth; on the CPU in every vector
  // version this CPU runs (PATCHLEARN_CPU_ISA: the baseline, AVX2, AVX-512). The same sums in
  // the same order: equal but for contraction to FMA, one rounding of at most the rate's own
  // scale in each of the ~4 + 4P operations of a border point (2e-14 at P = 16 on CUDA, whose
  // compiler contracts: the per-point function compiled on the host with and without contraction
  // differs by at most 4.6e-16 of the scale on these cases; the CPU loop, within 1e-15 here).
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> R(0.5, 2.0), V(-1.0, 1.0);
  const double tol = dev == Device::CPU ? 1e-15 : 2e-14;
  const Buffer<double> series(dev, kSeries);
  for (const std::string& isa : cpu_isas(dev))
    for (auto [P, m] : {std::pair{5, 3}, std::pair{6, 4}, std::pair{7, 1}, std::pair{10, 2}, std::pair{16, 3}}) {
      const CpuIsa version(isa);
      const int n = m + 2;
      const index_t batch = 3, PP = static_cast<index_t>(P) * P, per = PP * m * m;
      std::vector<double> kE(n * n), kN(n * n), kEp(n * n * PP), kNp(kEp.size()), wp(P), wm(P), U(batch * per),
          rho(n * n);
      for (auto* v : {&kE, &kN, &kEp, &kNp, &rho})
        for (auto& x : *v) x = R(gen);
      for (auto* v : {&wp, &wm}) {  // the coupling matrices are circulant (kernels::coupling_sum)
        for (auto& x : *v) x = V(gen);
        *v = kernels::circulant(*v);
      }
      for (auto& x : U) x = V(gen);
      const Buffer<double> kEd(dev, kE), kNd(dev, kN), kEpd(dev, kEp), kNpd(dev, kNp), wpd(dev, wp), wmd(dev, wm),
          Ud(dev, U), rhod(dev, rho);
      Buffer<double> out(dev, U.size()), edges(dev, static_cast<std::size_t>(batch * 4 * m * PP));
      const auto on_host = nonlinearities(kSeries.data(), rho.data()),
                 on_dev = nonlinearities(series.data(), rhod.data());
      for (const bool own : {false, true})
        for (std::size_t v = 0; v < on_host.size(); ++v) {
          const auto& nl = on_host[v];
          const kernels::ToothBonds k = own ? kernels::ToothBonds{kEp.data(), kNp.data(), PP, 1, {}}
                                            : kernels::ToothBonds{kE.data(), kN.data(), 1, 0, {}};
          const kernels::ToothBonds kd = own ? kernels::ToothBonds{kEpd.data(), kNpd.data(), PP, 1, {}}
                                             : kernels::ToothBonds{kEd.data(), kNd.data(), 1, 0, {}};
          std::vector<double> want(U.size());
          for (index_t b = 0; b < batch; ++b)
            for (int J = 0; J < P; ++J)
              for (int I = 0; I < P; ++I)
                for (int q = 0; q < m; ++q)
                  for (int p = 0; p < m; ++p)
                    want[b * per + ((static_cast<index_t>(q) * m + p) * P + J) * P + I] =
                        kernels::gap_tooth_rate(U.data() + b * per, P, m, I, J, p, q, k, wp.data(), wm.data(), 7.0, nl);
          const double scale = max_magnitude(want);
          EXPECT_GT(scale, 1.0);
          // On CUDA also with the edge planes from the library's GEMMs (kernels::coupling_edges).
          for (const bool library : {false, true}) {
            if (library && dev != Device::CUDA) break;
            if (library) kernels::coupling_edges(dev, batch, P, m, wpd.data(), wmd.data(), Ud.data(), edges.data());
            kernels::gap_tooth_rates(dev, batch, P, m, kd, wpd.data(), wmd.data(), 7.0, Ud.data(), out.data(),
                                     on_dev[v], library ? edges.data() : nullptr);
            EXPECT_LE(max_difference(out.to_host(), want), tol * scale)
                << "P " << P << ", m " << m << isa_label(isa) << (nl.linear() ? "" : ", u-dependent")
                << (own ? ", own bonds" : "") << (library ? ", library edges" : "");
          }
        }
    }
}

TEST_P(LatticeOnDevice, GapToothRatesOfManyPatchesEqualThePerPointFunction) {
  const Device dev = GetParam();
  // From P = 64 GapTooth2D on CUDA takes its edge planes from the library's GEMMs
  // (kernels::coupling_edges_pay); its rates must still be the per-point function's, to one rounding
  // of the rate's scale in each of the ~4 + 4P operations of a border point (as
  // GapToothBatchedRatesEqualThePerPointFunction) on either path. Two trajectories of random values.
  constexpr int P = 64;
  const auto g = make_layout_2d(2 * M_PI, P, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  EXPECT_EQ(kernels::coupling_edges_pay(dev, P), dev == Device::CUDA);
  EXPECT_FALSE(kernels::coupling_edges_pay(dev, P / 2));
  const index_t batch = 2, PP = static_cast<index_t>(P) * P, per = PP * g.m * g.m;
  GapTooth2D on_dev(dev, lat, g, batch), on_host(Device::CPU, lat, g, batch);
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> V(-1.0, 1.0);
  std::vector<double> U(batch * per);
  for (auto& x : U) x = V(gen);
  const Buffer<double> Ud(dev, U);
  Buffer<double> out(dev, U.size());
  on_dev.rates(Ud.data(), out.data());
  const std::vector<double> wp = kernels::circulant(g.wp), wm = kernels::circulant(g.wm);
  const double inv_h2 = 1.0 / (g.h * g.h);
  std::vector<double> want(U.size());
  for (index_t b = 0; b < batch; ++b)
    for (int J = 0; J < P; ++J)
      for (int I = 0; I < P; ++I)
        for (int q = 0; q < g.m; ++q)
          for (int p = 0; p < g.m; ++p)
            want[b * per + ((static_cast<index_t>(q) * g.m + p) * P + J) * P + I] = kernels::gap_tooth_rate(
                U.data() + b * per, P, g.m, I, J, p, q, on_host.bonds(), wp.data(), wm.data(), inv_h2);
  const double scale = max_magnitude(want), tol = (4 + 4 * P) * 0x1p-53;
  EXPECT_GT(scale, inv_h2);
  EXPECT_LE(max_difference(out.to_host(), want), tol * scale);
}

TEST(GapTooth2D, PerToothBondTablesHaveOnePlanePerInteriorBond) {
  // The per-tooth layout (m = 3, P = 6): tooth (I, J)'s x-bond east of (x, y) is entry
  // ((y - 1) 4 + x) P^2 + J P + I, its y-bond north of (x, y) entry ((x - 1) 4 + y) P^2 + J P + I; a
  // shared table is the frame [y][x]. Each per-tooth plane is one interior bond, used once.
  const kernels::ToothBonds own{nullptr, nullptr, 36, 1, {}}, shared{};
  EXPECT_TRUE(own.per_patch());
  EXPECT_FALSE(shared.per_patch());
  EXPECT_EQ(own.east(2, 3, 3, 2 * 6 + 5), (2 * 4 + 2) * 36 + 17);
  EXPECT_EQ(own.north(1, 0, 3, 17), 17);
  EXPECT_EQ(shared.east(2, 3, 3, 17), 3 * 5 + 2);
  std::vector<int> used(2 * kernels::ToothBonds::planes(3, true), 0);
  for (int q = 1; q <= 3; ++q)
    for (int p = 1; p <= 3; ++p) {
      for (int x : {p - 1, p}) ++used[own.east_plane(x, q, 3)];
      for (int y : {q - 1, q}) ++used[12 + own.north_plane(p, y, 3)];
    }
  for (std::size_t i = 0; i < used.size(); ++i) EXPECT_GE(used[i], 1) << "plane " << i << " is never read";
}

TEST_P(LatticeOnDevice, GapToothChebyshevIntervalEqualsTheTermByTermLoop) {
  const Device dev = GetParam();
  // One call carries each trajectory's series through all its terms on chip (on CUDA a block per
  // trajectory with the vectors in shared memory: the paper's 16 x 16 patches of 3 x 3 need more
  // than the 48 KiB default, 7 x 7 of 4 x 4 less); its values must be those of the batch-wide loop
  // of kernels (chebyshev_start, gap_tooth_rates, chebyshev_step) that Propagator2D runs for other
  // schemes: for m = 3 (compiled for that size) and other sizes, every vector version on the
  // CPU, 2 to 40 terms, with shared and per-tooth bond tables. The same arithmetic: bit for bit on
  // the CPU; on CUDA the two kernels may contract to FMA differently: 1e-15 of the sum's scale per
  // term (this loop compiled on the host with and without contraction differs by at most 1.6e-16
  // per term). (Weak coupling weights and rho above the lattice operator's spectral radius keep the
  // terms bounded by the state.)
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> R(0.5, 2.0), V(-1.0, 1.0), W(-0.1, 0.1), C(0.0, 0.3);
  for (const std::string& isa : cpu_isas(dev))
    for (const bool own : {false, true})
      for (auto [P, m, terms] : {std::tuple{16, 3, 40}, std::tuple{5, 2, 2}, std::tuple{7, 4, 9}}) {
        ASSERT_TRUE(kernels::gap_tooth_interval_fits(dev, P, m));
        const CpuIsa version(isa);
        const int n = m + 2;
        const index_t batch = 3, PP = static_cast<index_t>(P) * P, count = batch * PP * m * m;
        const double rho = 100.0, inv_h2 = 3.0, a = 4.0 / rho;
        std::vector<double> kE(n * n * (own ? PP : 1)), kN(kE.size()), wp(P), wm(P), u(count), c(terms);
        for (auto* v : {&kE, &kN})
          for (auto& x : *v) x = R(gen);
        for (auto* v : {&wp, &wm}) {
          for (auto& x : *v) x = W(gen);
          *v = kernels::circulant(*v);
        }
        for (auto& x : u) x = V(gen);
        for (auto& x : c) x = C(gen);
        const Buffer<double> kEd(dev, kE), kNd(dev, kN), wpd(dev, wp), wmd(dev, wm), cd(dev, c);
        const kernels::ToothBonds k{kEd.data(), kNd.data(), own ? PP : 1, own ? 1 : 0, {}};
        // The loop: T_0 = u overwritten in place, T_1 in Tk, the sum in acc.
        Buffer<double> Tkm1(dev, u), Tk(dev, count), AT(dev, count), acc(dev, count), onchip(dev, u);
        kernels::gap_tooth_rates(dev, batch, P, m, k, wpd.data(), wmd.data(), inv_h2, Tkm1.data(), AT.data());
        kernels::chebyshev_start(dev, count, a, AT.data(), Tkm1.data(), c[0], c[1], Tk.data(), acc.data());
        for (int j = 1; j + 1 < terms; ++j) {
          kernels::gap_tooth_rates(dev, batch, P, m, k, wpd.data(), wmd.data(), inv_h2, Tk.data(), AT.data());
          kernels::chebyshev_step(dev, count, a, AT.data(), Tk.data(), Tkm1.data(), c[j + 1], acc.data());
          std::swap(Tk, Tkm1);
        }
        kernels::gap_tooth_chebyshev_interval(dev, batch, P, m, k, wpd.data(), wmd.data(), inv_h2, rho, cd.data(),
                                              terms, onchip.data());
        const auto got = onchip.to_host(), want = acc.to_host();
        const std::string what = "P " + std::to_string(P) + ", m " + std::to_string(m) + ", " + std::to_string(terms) +
                                 " terms" + ", CPU " + isa + (own ? ", own bonds" : "");
        if (dev == Device::CPU) {
          EXPECT_EQ(got, want) << what;
        } else {
          EXPECT_LE(max_difference(got, want), 1e-15 * terms * max_magnitude(want)) << what;
        }
      }
}

TEST_P(LatticeOnDevice, FullLatticeBatchedRatesEqualThePerPointFunction) {
  const Device dev = GetParam();
  // The CPU loop takes interior neighbours from row pointers, in bands of rows; the CUDA kernel
  // gives each thread a site and a group of trajectories, taken four at a time (one group on the
  // 600^2 lattice, so a thread takes four trajectories and then two; two on 400^2, three each; as
  // many as trajectories on 37^2: cuda/lattice2d.cu, trajectory_groups). Every value
  // must still be periodic_lattice_rate's on the host, wrapped ends included, linear and
  // u-dependent, on the CPU in every vector version: the linear rates on the CPU bit
  // for bit, otherwise equal but for FMA contraction, at most an ulp of the scale in each of a dozen
  // operations: 2e-15 of the scale. (The host's per-point function compiled with and without
  // contraction differs by 3.7e-16 of the scale here, 1.4e-14 absolute: an absolute 1e-14 would
  // fail on a GPU.)
  std::mt19937_64 gen(9);
  std::uniform_real_distribution<double> R(0.5, 2.0), V(-1.0, 1.0);
  const Buffer<double> series(dev, kSeries);
  for (const std::string& isa : cpu_isas(dev))
    for (index_t N : {index_t{37}, index_t{400}, index_t{600}}) {
      const CpuIsa version(isa);
      const index_t batch = 6;
      std::vector<double> kE(N * N), kN(N * N), u(batch * N * N), rho(N * N);
      for (auto* v : {&kE, &kN, &rho})
        for (auto& x : *v) x = R(gen);
      for (auto& x : u) x = V(gen);
      const Buffer<double> kEd(dev, kE), kNd(dev, kN), ud(dev, u), rhod(dev, rho);
      Buffer<double> out(dev, u.size());
      const auto on_host = nonlinearities(kSeries.data(), rho.data()),
                 on_dev = nonlinearities(series.data(), rhod.data());
      for (std::size_t v = 0; v < on_host.size(); ++v) {
        kernels::lattice_rates(dev, batch, N, kEd.data(), kNd.data(), 3.0, ud.data(), out.data(), on_dev[v]);
        std::vector<double> want(u.size());
        for (index_t b = 0; b < batch; ++b)
          for (index_t y = 0; y < N; ++y)
            for (index_t x = 0; x < N; ++x)
              want[(b * N + y) * N + x] =
                  kernels::periodic_lattice_rate(u.data() + b * N * N, kE.data(), kN.data(), N, x, y, 3.0, on_host[v]);
        const double tol = dev == Device::CPU && on_host[v].linear() ? 0.0 : 2e-15;
        EXPECT_LE(max_difference(out.to_host(), want), tol * max_magnitude(want))
            << "N = " << N << isa_label(isa) << (on_host[v].linear() ? "" : ", u-dependent");
      }
    }
}

TEST_P(LatticeOnDevice, FullLatticeFusedChebyshevStepEqualsRatesThenStep) {
  const Device dev = GetParam();
  // lattice_chebyshev_step computes each rate where it uses it; the values must be those of
  // lattice_rates followed by chebyshev_step: bit for bit in both CPU versions; on CUDA, where the
  // two kernels may contract differently, to ~1e-16 per operation of the values' scale (1). On the
  // 400^2 lattice CUDA's threads serve two trajectory groups of an odd batch, four trajectories at a
  // time: the first group's threads take trajectories 0, 2, 4, 6 and then 8.
  std::mt19937_64 gen(13);
  std::uniform_real_distribution<double> R(0.5, 2.0), V(-1.0, 1.0);
  for (const index_t N : {index_t{70}, index_t{400}}) {
    const index_t batch = 9, n = batch * N * N;
    std::vector<double> kE(N * N), kN(N * N), Tk(n), Tkm1(n), acc(n);
    for (auto* v : {&kE, &kN})
      for (auto& x : *v) x = R(gen);
    for (auto* v : {&Tk, &Tkm1, &acc})
      for (auto& x : *v) x = V(gen);
    const Buffer<double> kEd(dev, kE), kNd(dev, kN), Tkd(dev, Tk);
    Buffer<double> AT(dev, n), want_Tkm1(dev, Tkm1), want_acc(dev, acc);
    kernels::lattice_rates(dev, batch, N, kEd.data(), kNd.data(), 3.0, Tkd.data(), AT.data());
    kernels::chebyshev_step(dev, n, 0.7, AT.data(), Tkd.data(), want_Tkm1.data(), 0.3, want_acc.data());
    for (const std::string& isa : cpu_isas(dev)) {
      const CpuIsa version(isa);
      Buffer<double> got_Tkm1(dev, Tkm1), got_acc(dev, acc);
      kernels::lattice_chebyshev_step(dev, batch, N, kEd.data(), kNd.data(), 3.0, 0.7, Tkd.data(), got_Tkm1.data(), 0.3,
                                      got_acc.data());
      const std::string what = "N = " + std::to_string(N) + ", CPU " + isa;
      if (dev == Device::CPU) {
        EXPECT_EQ(got_Tkm1.to_host(), want_Tkm1.to_host()) << what;
        EXPECT_EQ(got_acc.to_host(), want_acc.to_host()) << what;
      } else {
        for (auto [got, want] : {std::pair{&got_Tkm1, &want_Tkm1}, std::pair{&got_acc, &want_acc}}) {
          const auto w = want->to_host();
          EXPECT_LE(max_difference(got->to_host(), w), 1e-14 * max_magnitude(w)) << what;
        }
      }
    }
  }
}

TEST(InitialCondition2D, GridValuesEqualThePointwiseOnes) {
  // on_grid tabulates each mode's sines per coordinate; the products and their order are those of
  // operator(), so the values agree bit for bit, on any coordinates.
  InitialConditionParams2D p;
  p.trajectories = 2;
  const auto ics = draw_initial_conditions_2d(p);
  const std::vector<double> xs{0.0, 0.3, 1.7, 2.5, 6.1}, ys{0.2, 4.4, 3.3};
  for (const auto& ic : ics) {
    std::vector<double> grid(xs.size() * ys.size());
    ic.on_grid(xs, ys, grid.data());
    for (std::size_t k = 0; k < ys.size(); ++k)
      for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(grid[k * xs.size() + i], ic(xs[i], ys[k]));
  }
}

TEST_P(LatticeOnDevice, GapToothPatchesFillingTheDomainEqualTheFullLattice) {
  const Device dev = GetParam();
  // ratio = 1: each edge is the neighbour's interior point itself, so the patch system is the
  // whole 24 x 24 lattice; the rates agree to round-off, and so do the propagated patch means.
  const auto g = make_layout_2d(2 * M_PI, 8, 5, 1.0, Coupling::Spectral, 0);
  ASSERT_EQ(g.lattice_points(), 24);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  const auto ics = two_ics();
  GapTooth2D gt(dev, lat, g, 2);
  FullLattice2D full(dev, lat, g, 2);
  Propagator2D pg(gt, 0.01, FineStepper::Exponential), pf(full, 0.01, FineStepper::Exponential);
  const auto a = simulate_lattice_2d(gt, pg, 0.01, 4, ics), b = simulate_lattice_2d(full, pf, 0.01, 4, ics);
  const auto Ua = a.host_U(), Ub = b.host_U(), Ra = a.host_dUdt(), Rb = b.host_dUdt();
  for (std::size_t i = 0; i < Ua.size(); ++i) {
    EXPECT_NEAR(Ua[i], Ub[i], 1e-12);
    EXPECT_NEAR(Ra[i], Rb[i], 1e-12 * 1e4);  // rates ~ 1/h^2 at t = 0
  }
}

namespace {
/// A random lattice (log k ~ N(0, sigma^2), independent bonds) over the layout's whole lattice.
Lattice2D random_lattice_2d(const PatchLayout2D& g, double sigma, std::uint64_t seed) {
  RandomMediumSpec law;
  law.sigma = sigma;
  law.seed = seed;
  return Lattice2D(KappaTables::random_lattice(static_cast<int>(g.lattice_points()), law), BondPlacement::Aligned, g.h,
                   g.first);
}
}  // namespace

TEST_P(LatticeOnDevice, GapToothClosedTeethHoldTheirCellSolutionUnderAUniformGradient) {
  const Device dev = GetParam();
  // A random lattice with gaps: each tooth is closed as a periodic cell of its own points, driven
  // by the gradient G at its borders (kernels::ToothClosure). With G uniform, the tooth's state
  // u = G.x + h (Gx phi_x + Gy phi_y), phi its own cell correctors (solved here from the lattice's
  // bonds at the tooth's sites), is steady: every rate the device's kernel gives vanishes to
  // round-off of the bond fluxes kappa |G| / h, at the border points too, whose ghost values come
  // from the scheme's factors.
  const auto g = make_layout_2d(2 * M_PI, 4, 7, 0.5, Coupling::Spectral, 0);
  const auto lat = random_lattice_2d(g, 0.5, 21);
  ASSERT_TRUE(GapTooth2D::closed_teeth(lat, g));
  GapTooth2D gt(Device::CPU, lat, g, 1);  // its closure factors, read here on the host
  ASSERT_TRUE(gt.closure().active());
  const int P = g.P, m = g.m, n = g.n;
  const index_t PP = static_cast<index_t>(P) * P;
  const double Gx = 0.7, Gy = -0.4;
  std::vector<double> u(static_cast<std::size_t>(gt.state_size())), edges(static_cast<std::size_t>(4 * m * PP));
  double kmax = 0.0;
  for (int J = 0; J < P; ++J)
    for (int I = 0; I < P; ++I) {
      std::vector<double> kE, kN;
      lat.window(g.first + I * g.spacing, g.first + J * g.spacing, n, kE, kN);
      KappaTables cell;
      cell.mx = cell.my = m;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) {
          cell.cx.push_back(kE[(j + 1) * n + i + 1]);
          cell.cy.push_back(kN[(j + 1) * n + i + 1]);
          kmax = std::max({kmax, kE[(j + 1) * n + i + 1], kN[(j + 1) * n + i + 1]});
        }
      const auto sol = cell_solution(Lattice2D(cell, BondPlacement::Aligned, g.h));
      const index_t patch = static_cast<index_t>(J) * P + I;
      const auto at = [&](int p, int q) -> double& { return u[(static_cast<std::size_t>(q) * m + p) * PP + patch]; };
      for (int q = 0; q < m; ++q)
        for (int p = 0; p < m; ++p)
          at(p, q) = Gx * p * g.h + Gy * q * g.h + g.h * (Gx * sol.phi[0][q * m + p] + Gy * sol.phi[1][q * m + p]);
      const auto& c = gt.closure();
      for (int k = 1; k <= m; ++k) {
        const double inner[4] = {at(m - 1, k - 1), at(0, k - 1), at(k - 1, m - 1), at(k - 1, 0)};
        for (int side = 0; side < 4; ++side)
          edges[(static_cast<std::size_t>(side) * m + k - 1) * PP + patch] = kernels::closure_ghost(
              inner[side], g.h, c.factor(side, k, 0, m, P)[patch], Gx, c.factor(side, k, 1, m, P)[patch], Gy);
      }
    }
  GapTooth2D on_dev(dev, lat, g, 1);
  const Buffer<double> ud(dev, u), edges_d(dev, edges), unused(dev, std::vector<double>(PP, 0.0));
  Buffer<double> rates(dev, u.size());
  kernels::gap_tooth_rates(dev, 1, P, m, on_dev.bonds(), unused.data(), unused.data(), 1.0 / (g.h * g.h), ud.data(),
                           rates.data(), {}, edges_d.data());
  const double scale = kmax * std::hypot(Gx, Gy) / g.h;
  for (const double r : rates.to_host()) EXPECT_LT(std::abs(r), 1e-12 * scale);
}

TEST(GapTooth2D, ClosedTeethComputeTheirGhostsWithinEachTrajectorysPass) {
  // On the CPU each trajectory's pass computes its means and ghosts itself (and the rkc interval
  // carries it through in cache); CUDA precomputes them for the whole batch (closure_edges) and
  // the rates read them. Both orders of work give the same values: the same sums in the same order
  // (but for FMA contraction: ~1e-16 of the rates' scale).
  const auto g = make_layout_2d(2 * M_PI, 8, 7, 0.5, Coupling::Spectral, 0);
  const auto lat = random_lattice_2d(g, 0.5, 5);
  GapTooth2D gt(Device::CPU, lat, g, 3);
  const int P = g.P, m = g.m;
  const index_t PP = static_cast<index_t>(P) * P;
  std::mt19937_64 gen(8);
  std::uniform_real_distribution<double> V(-1.0, 1.0);
  std::vector<double> u(static_cast<std::size_t>(3 * gt.state_size()));
  for (auto& x : u) x = V(gen);
  Buffer<double> ub(Device::CPU, u), fused(Device::CPU, u.size()), given(Device::CPU, u.size()),
      M(Device::CPU, static_cast<std::size_t>(3 * PP)), edges(Device::CPU, static_cast<std::size_t>(3 * 4 * m * PP));
  gt.rates(ub.data(), fused.data());
  gt.restrict_means(ub.data(), M.data());
  kernels::closure_edges(Device::CPU, 3, P, m, gt.closure(), ub.data(), M.data(), edges.data());
  std::vector<double> unused(static_cast<std::size_t>(PP), 0.0);
  kernels::gap_tooth_rates(Device::CPU, 3, P, m, gt.bonds(), unused.data(), unused.data(), 1.0 / (g.h * g.h), ub.data(),
                           given.data(), {}, edges.data());
  const auto a = fused.to_host(), b = given.to_host();
  double scale = 0;
  for (const double r : a) scale = std::max(scale, std::abs(r));
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-14 * scale) << i;
  // A scheme built on teeth solved beforehand (what a simulate's chunks share) is the same scheme.
  const auto closed = ClosedTeeth::solve(lat, g);
  GapTooth2D shared(Device::CPU, lat, g, 3, &closed);
  Buffer<double> again(Device::CPU, u.size());
  shared.rates(ub.data(), again.data());
  EXPECT_EQ(again.to_host(), a);
}

TEST_P(LatticeOnDevice, GapToothClosedTeethOfAUniformLatticeFollowItsLaplacian) {
  const Device dev = GetParam();
  // The closure's interpolation: on a "random" lattice of equal bonds (sigma = 0) the correctors
  // vanish and each ghost is the inner value plus h G, G the derivative of the means'
  // interpolant (exact for the resolved modes once each mode is divided by the mean's factor s(k))
  // at the border. For u = cos(x + 2y) every interior rate is the lattice Laplacian's -lambda u;
  // at the borders h G differs from the lattice increment by the factor sinc(k h / 2), so the
  // teeth's mean rates are -lambda times their means to (k h)^2 / 24 relative (k = 2 here). Without
  // the division by s(k) they would be off by ~(k m h)^2 / 24, 1.7e-2.
  const auto g = make_layout_2d(2 * M_PI, 8, 9, 0.5, Coupling::Spectral, 0);
  const auto lat = random_lattice_2d(g, 0.0, 1);
  GapTooth2D gt(dev, lat, g, 1);
  ASSERT_TRUE(gt.closure().active());
  const int P = g.P, m = g.m;
  const index_t PP = static_cast<index_t>(P) * P;
  std::vector<double> u(static_cast<std::size_t>(gt.state_size()));
  for (int q = 0; q < m; ++q)
    for (int p = 0; p < m; ++p)
      for (int J = 0; J < P; ++J)
        for (int I = 0; I < P; ++I) {
          const double x = static_cast<double>(g.first + I * g.spacing + 1 + p) * g.h,
                       y = static_cast<double>(g.first + J * g.spacing + 1 + q) * g.h;
          u[((static_cast<std::size_t>(q) * m + p) * P + J) * P + I] = std::cos(x + 2 * y);
        }
  Buffer<double> ub(dev, u), rb(dev, u.size()), U(dev, static_cast<std::size_t>(PP)),
      R(dev, static_cast<std::size_t>(PP));
  gt.rates(ub.data(), rb.data());
  gt.restrict_means(ub.data(), U.data());
  gt.restrict_means(rb.data(), R.data());
  const double h = g.h, lambda = 4.0 / (h * h) * (std::pow(std::sin(0.5 * h), 2) + std::pow(std::sin(h), 2));
  const auto Um = U.to_host(), Rm = R.to_host();
  double worst = 0.0;
  for (index_t i = 0; i < PP; ++i) worst = std::max(worst, std::abs(Rm[i] + lambda * Um[i]) / lambda);
  const double bound = std::pow(2 * h, 2) / 24;
  std::printf("closed teeth on a uniform lattice: worst |R + lambda U| / lambda %.3g, (2 h)^2 / 24 = %.3g\n", worst,
              bound);
  EXPECT_LT(worst, bound);
  EXPECT_GT(worst, 1e-3 * bound);  // the border error is there, at its order
  // Each tooth's own cell tensor, what its mean's rate follows: the identity of equal bonds.
  const auto D = ClosedTeeth::solve(lat, g).tensors;
  ASSERT_EQ(D.size(), static_cast<std::size_t>(PP));
  for (const auto& d : D) {
    EXPECT_NEAR(d.xx, 1.0, 1e-12);
    EXPECT_NEAR(d.xy, 0.0, 1e-12);
    EXPECT_NEAR(d.yy, 1.0, 1e-12);
  }
}

TEST_P(LatticeOnDevice, ClosedTeethOfAUDependentLatticeGiveTheBoxAverageOfItsRates) {
  const Device dev = GetParam();
  // Closed teeth on a u-dependent lattice: every bond kappa g(u) at the mean of its sites, every
  // site f(u). Inside a tooth the rates are the lattice's own; across its border the ghost is the
  // inner value plus h G (the correctors of equal bonds vanish), so the border bond carries
  // g(u_b) G, G the means' interpolant's derivative at the bond's midpoint, against the lattice's
  // g(u_b') (u(x + h) - u(x)) / h. Each tooth mean's rate is then the average over the tooth of the
  // lattice's rates at the same u (evaluated here at every site of the smooth field), up to the
  // border fluxes' O((k h)^2): like the linear lattice's (k h)^2 / 24 relative, with g's variation
  // across the bond (g' u_xx h^2 / 8) beside it.
  const auto g = make_layout_2d(2 * M_PI, 8, 9, 0.5, Coupling::Spectral, 0);
  KappaTables t = random_lattice_2d(g, 0.0, 1).tables();
  t.conductance_factor.emplace("lattice.conductance_factor", "1 + 0.5*u^2", std::vector<std::string>{"u"});
  t.reaction.emplace("lattice.reaction", "u - u^3", std::vector<std::string>{"u"});
  t.u_range = {-2.0, 2.0};
  const Lattice2D lat(t, BondPlacement::Aligned, g.h, g.first);
  GapTooth2D gt(dev, lat, g, 1);
  ASSERT_TRUE(gt.closure().active());
  ASSERT_FALSE(gt.linear());
  const int P = g.P, m = g.m;
  const index_t PP = static_cast<index_t>(P) * P;
  const auto field = [&](index_t x, index_t y) { return 0.3 + 0.8 * std::cos(g.h * static_cast<double>(x + 2 * y)); };
  const auto G = [](double u) { return 1 + 0.5 * u * u; };
  std::vector<double> u(static_cast<std::size_t>(gt.state_size())), expected(static_cast<std::size_t>(PP), 0.0);
  for (int J = 0; J < P; ++J)
    for (int I = 0; I < P; ++I)
      for (int q = 0; q < m; ++q)
        for (int p = 0; p < m; ++p) {
          const index_t x = g.first + I * g.spacing + 1 + p, y = g.first + J * g.spacing + 1 + q;
          const double c = field(x, y);
          u[((static_cast<std::size_t>(q) * m + p) * P + J) * P + I] = c;
          double rate = c - c * c * c;
          for (const auto& [dx, dy] : {std::pair{1, 0}, std::pair{-1, 0}, std::pair{0, 1}, std::pair{0, -1}}) {
            const double nb = field(x + dx, y + dy);
            rate += G(0.5 * (c + nb)) * (nb - c) / (g.h * g.h);
          }
          expected[static_cast<std::size_t>(J) * P + I] += rate / (m * m);
        }
  Buffer<double> ub(dev, u), rb(dev, u.size()), R(dev, static_cast<std::size_t>(PP));
  gt.rates(ub.data(), rb.data());
  gt.restrict_means(rb.data(), R.data());
  const auto Rm = R.to_host();
  double worst = 0.0, scale = 0.0;
  for (index_t i = 0; i < PP; ++i) {
    worst = std::max(worst, std::abs(Rm[i] - expected[i]));
    scale = std::max(scale, std::abs(expected[i]));
  }
  const double kh2 = std::pow(2 * g.h, 2);
  std::printf("closed teeth, u-dependent lattice: worst |R - box average| / max %.3g, (2 h)^2 = %.3g\n", worst / scale,
              kh2);
  EXPECT_LT(worst, kh2 / 4 * scale);
  EXPECT_GT(scale, 1.0);
}

TEST_P(LatticeOnDevice, FullLatticeExponentialToleranceBoundsTheError) {
  const Device dev = GetParam();
  // Every Chebyshev coefficient of exp is positive and |T_k| <= 1 on the spectrum, so the dropped
  // tail bounds the error of one interval's propagator in the 2-norm. On smooth data the error is
  // close to that bound (T_k(1) = 1: the slow modes see the whole tail), so it is a real knob.
  const auto g = make_layout_2d(2 * M_PI, 8, 5, 0.5, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  FullLattice2D full(dev, lat, g, 2);
  const auto propagated = [&](double tolerance, int& evaluations) {
    Propagator2D prop(full, 0.01, FineStepper::Exponential, 0.0, tolerance);
    evaluations = prop.evaluations();
    Buffer<double> u(dev, full.sample(two_ics()));
    prop.advance(u);
    return u.to_host();
  };
  const auto norm = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
  };
  int exact_evaluations = 0;
  const auto exact = propagated(exact_exponential_tolerance(), exact_evaluations);
  const double u0 = norm(full.sample(two_ics()));
  int previous = exact_evaluations;
  for (const double tol : {1e-8, 1e-5, 1e-3, 1e-2}) {
    int evaluations = 0;
    auto u = propagated(tol, evaluations);
    for (std::size_t i = 0; i < u.size(); ++i) u[i] -= exact[i];
    EXPECT_LE(norm(u), tol * u0) << tol;
    EXPECT_GE(norm(u), 0.1 * tol * u0) << tol;
    EXPECT_LT(evaluations, previous) << tol;
    previous = evaluations;
  }
}

TEST_P(LatticeOnDevice, GapToothExponentialAndRk4SteppersAgree) {
  const Device dev = GetParam();
  // RK4 at its stability limit has a local error ~ (dt lambda)^5 / 120 on the slow modes: ~1e-15.
  const auto g = make_layout_2d(2 * M_PI, 8, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  const auto ics = two_ics();
  GapTooth2D a(dev, lat, g, 2), b(dev, lat, g, 2);
  Propagator2D pe(a, 0.01, FineStepper::Exponential), pr(b, 0.01, FineStepper::RK4);
  const auto x = simulate_lattice_2d(a, pe, 0.01, 3, ics).host_U(),
             y = simulate_lattice_2d(b, pr, 0.01, 3, ics).host_U();
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], 1e-9);
  // Over the stability limit: a clear error naming fine.dt.
  try {
    Propagator2D bad(b, 0.01, FineStepper::RK4, 1e-3);
    FAIL() << "accepted an unstable RK4 step";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "fine.dt");
  }
}

TEST(Rkc, SecondOrderAndStableOnItsInterval) {
  // The damped RKC polynomial R_s(z) (eps = 2/13) has |R_s| <= 1 on [-beta(s), 0], beta ~ 0.653 s^2
  // for many stages, and R_s(z) = e^z + O(z^3): halving z divides the error by 8.
  for (const double dt_rho : {0.5, 10.0, 300.0, 5000.0}) {
    const auto m = RkcMethod::for_step(dt_rho);
    EXPECT_GE(m.beta, dt_rho);
    if (m.s >= 10) {
      EXPECT_GT(m.beta / (m.s * m.s), 0.63);
      EXPECT_LT(m.beta / (m.s * m.s), 0.66);
    }
    double worst = 0;
    for (int k = 0; k <= 4000; ++k) worst = std::max(worst, std::abs(m.amplification(-m.beta * k / 4000)));
    EXPECT_LE(worst, 1.0 + 1e-12) << m.s << " stages";
    const double e1 = m.amplification(-0.02) - std::exp(-0.02), e2 = m.amplification(-0.01) - std::exp(-0.01);
    EXPECT_NEAR(e1 / e2, 8.0, 0.2) << m.s << " stages";
  }
}

namespace {
/// The largest difference between the CPU's rkc interval in one call and the batch-wide stage loop
/// the CUDA path takes (rates, then kernels::rkc_stage) over 4 steps of 0.0025 from u, relative to
/// the state's largest value; the stage count in `stages`.
double rkc_fused_against_stages(GapTooth2D& gt, std::vector<double> u, int& stages) {
  auto m = RkcMethod::for_step(0.01 / 4 * gt.spectral_bound());
  for (auto& st : m.stage) st.mu_dt *= 0.0025, st.gamma_dt *= 0.0025;
  stages = m.s;
  std::vector<double> fused = u;
  if (!gt.rkc_interval(m.stage.data(), m.s, 4, fused.data())) return 1.0;
  const index_t n = static_cast<index_t>(u.size());
  std::vector<double> F0(n), Y1(n), Y2(n), F(n);
  for (int step = 0; step < 4; ++step) {
    gt.rates(u.data(), F0.data());
    kernels::axpby(Device::CPU, n, 1.0, u.data(), m.stage[0].gamma_dt, F0.data(), Y1.data());
    Y2 = u;
    for (int j = 1; j < m.s; ++j) {
      gt.rates(Y1.data(), F.data());
      kernels::rkc_stage(Device::CPU, n, m.stage[j], u.data(), Y1.data(), F.data(), F0.data(), Y2.data());
      std::swap(Y1, Y2);
    }
    u = Y1;
  }
  double worst = 0, scale = 0;
  for (index_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::abs(fused[i] - u[i]));
    scale = std::max(scale, std::abs(u[i]));
  }
  EXPECT_GT(scale, 0.1);
  return worst / scale;
}
}  // namespace

TEST(GapTooth2D, RkcIntervalEqualsTheStageByStageLoop) {
  // The CPU carries each trajectory through all the steps in one call (rkc_interval); that must be
  // the batch-wide stage loop the CUDA path takes, on a u-dependent lattice and on a random one
  // with closed teeth (whose ghosts each trajectory's pass computes itself): equal but for FMA
  // contraction, ~1e-15 of the state per stage.
  const auto g = make_layout_2d(2 * M_PI, 8, 5, 0.1, Coupling::Spectral, 0);
  GapTooth2D gt(Device::CPU, nonlinear_paper_lattice(g), g, 2);
  EXPECT_FALSE(gt.linear());
  EXPECT_FALSE(gt.symmetric());
  auto u = gt.sample(two_ics());
  for (auto& x : u) x *= 0.3;
  int stages = 0;
  EXPECT_LE(rkc_fused_against_stages(gt, u, stages), 1e-15 * 4 * stages);
  const auto gr = make_layout_2d(2 * M_PI, 8, 7, 0.5, Coupling::Spectral, 0);
  GapTooth2D closed(Device::CPU, random_lattice_2d(gr, 0.5, 6), gr, 2);
  ASSERT_TRUE(closed.closure().active());
  EXPECT_LE(rkc_fused_against_stages(closed, closed.sample(two_ics()), stages), 1e-15 * 4 * stages);
}

TEST_P(LatticeOnDevice, GapToothRkcToleranceBoundsTheErrorAgainstTheExponential) {
  const Device dev = GetParam();
  // On a linear lattice the exponential stepper is exact to round-off, so the rkc stepper's
  // distance to it is its own error. Per interval that is at most the tolerance on every coarse
  // mode of unit amplitude, so after k intervals at most k tol sum|c| for patch means with Fourier
  // coefficients c (the spectral coupling's coarse modes are Fourier modes in the patch index).
  // The faster intra-patch modes are damped, not followed; the margin of 2 leaves room for them.
  const int P = 8;
  const auto g = make_layout_2d(2 * M_PI, P, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  const auto D = effective_tensor(lat);
  const auto ics = two_ics();
  GapTooth2D a(dev, lat, g, 2);
  Propagator2D pe(a, 0.01, FineStepper::Exponential);
  const auto x = simulate_lattice_2d(a, pe, 0.01, 6, ics).host_U();
  double c1 = 0;  // the larger sum |c| of the two trajectories' initial patch means
  for (int tr = 0; tr < 2; ++tr) {
    double sum = 0;
    for (int ky = 0; ky < P; ++ky)
      for (int kx = 0; kx < P; ++kx) {
        std::complex<double> c = 0;
        for (int J = 0; J < P; ++J)
          for (int I = 0; I < P; ++I)
            c += x[tr * 6 * P * P + J * P + I] * std::polar(1.0, -2 * M_PI * (kx * I + ky * J) / P);
        sum += std::abs(c) / (P * P);
      }
    c1 = std::max(c1, sum);
  }
  for (const double tol : {1e-4, 1e-6}) {
    GapTooth2D b(dev, lat, g, 2);
    Propagator2D pr(b, 0.01, FineStepper::RKC, 0.0, tol, b.slow_rate(D));
    const auto y = simulate_lattice_2d(b, pr, 0.01, 6, ics).host_U();
    for (int k = 0; k < 6; ++k) {
      double worst = 0;
      for (int tr = 0; tr < 2; ++tr)
        for (int i = 0; i < P * P; ++i)
          worst = std::max(worst, std::abs(x[(tr * 6 + k) * P * P + i] - y[(tr * 6 + k) * P * P + i]));
      EXPECT_LE(worst, 2 * k * tol * c1 + 1e-13) << "tol " << tol << ", sample " << k << ", " << pr.steps() << " steps";
      if (k == 2) {
        EXPECT_GT(worst, 1e-3 * tol * c1);  // rkc is not exact: the test sees its error
      }
    }
  }
}

TEST_P(LatticeOnDevice, GapToothRkcSettlesTheFastModesOfTheInitialCondition) {
  const Device dev = GetParam();
  // The sampled initial condition is not on the slow manifold: its fast intra-patch modes decay
  // with rates up to rho, and rkc damps them by only ~0.95 per step. The interval from it takes the
  // steps that follow the whole spectrum to the tolerance 1e-4, so the rates of the patch means one
  // interval later are the exponential stepper's (exact) to well within 10 tolerances of their
  // scale (8e-8 measured; a leftover mode's amplitude <= tol enters its rate times its own decay
  // rate, at most rho ~ 1e3 slow rates, but the initial condition puts little into the fastest).
  // With the coarse modes' 7 steps alone the leftover shows: 15% of the rates.
  const auto g = make_layout_2d(2 * M_PI, 8, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  const auto D = effective_tensor(lat);
  const auto ics = two_ics();
  GapTooth2D gt(dev, lat, g, 2);
  const auto rates_after_one_interval = [&](FineStepper stepper, bool settle) {
    Propagator2D prop(gt, 0.01, stepper, 0.0, stepper == FineStepper::RKC ? 1e-4 : exact_exponential_tolerance(),
                      gt.slow_rate(D));
    Buffer<double> u(dev, gt.sample(ics)), du(dev, u.size()), R(dev, 2 * 64);
    prop.advance(u, settle);
    gt.rates(u.data(), du.data());
    gt.restrict_means(du.data(), R.data());
    return std::make_tuple(R.to_host(), prop.settling_steps(), prop.steps());
  };
  const auto exact = std::get<0>(rates_after_one_interval(FineStepper::Exponential, true));
  const auto [settled, settling_steps, steps] = rates_after_one_interval(FineStepper::RKC, true);
  const auto unsettled = std::get<0>(rates_after_one_interval(FineStepper::RKC, false));
  double scale = 0, err_settled = 0, err_unsettled = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    scale = std::max(scale, std::abs(exact[i]));
    err_settled = std::max(err_settled, std::abs(settled[i] - exact[i]));
    err_unsettled = std::max(err_unsettled, std::abs(unsettled[i] - exact[i]));
  }
  std::printf(
      "rates after the first interval, relative to the exponential's: settled %.2e (%d steps), coarse steps "
      "only %.2e (%d steps)\n",
      err_settled / scale, settling_steps, err_unsettled / scale, steps);
  EXPECT_GT(settling_steps, steps);
  EXPECT_LT(err_settled, 1e-3 * scale);
  EXPECT_GT(err_unsettled, 1e-2 * scale);
}

TEST(GapTooth2D, UDependentLatticeRunsOnRkcAndRefusesTheExponential) {
  const auto g = make_layout_2d(2 * M_PI, 8, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat = nonlinear_paper_lattice(g);
  GapTooth2D gt(Device::CPU, lat, g, 1);
  const GapTooth2D linear(Device::CPU, Lattice2D(KappaTables::paper(), BondPlacement::Reference, g.h, g.first), g, 1);
  // max g = 1 + 1.5^2 / 2 = 2.125 on [-1.5, 1.5]; max |rho f'| = 2 |1 - 3 1.5^2| = 11.5; 10% spare.
  EXPECT_NEAR(gt.spectral_bound(), 1.1 * (2.125 * linear.spectral_bound() + 11.5), 1e-9 * gt.spectral_bound());
  try {
    Propagator2D bad(gt, 0.01, FineStepper::Exponential);
    FAIL() << "the exponential stepper took a u-dependent lattice";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "fine.stepper");
  }
  EXPECT_THROW(Propagator2D(gt, 0.01, FineStepper::RKC), std::invalid_argument);  // no step, no slow rate
  Propagator2D fixed(gt, 0.01, FineStepper::RKC, 0.0025);
  EXPECT_EQ(fixed.steps(), 4);
  try {
    Propagator2D bad(gt, 0.01, FineStepper::RKC, 0.003);
    FAIL() << "accepted a step that does not divide the interval";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "fine.dt");
  }
}

TEST_P(LatticeOnDevice, GapToothMatchesTheTensorHomogenizedTruth) {
  const Device dev = GetParam();
  // REFERENCE §4.5: exact propagation of the paper's patch system is ~4e-8 from the cell-problem
  // tensor's solution at t = 0.3 (and 0.1 from the reference's swapped coefficients).
  const auto g = make_layout_2d(2 * M_PI, 16, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(KappaTables::paper(), BondPlacement::Reference, g.h, g.first);
  const auto D = effective_tensor(lat);
  InitialConditionParams2D p;
  p.trajectories = 1;
  const auto ics = draw_initial_conditions_2d(p);
  GapTooth2D gt(dev, lat, g, 1);
  Propagator2D prop(gt, 0.01, FineStepper::Exponential);
  const auto d = simulate_lattice_2d(gt, prop, 0.01, 31, ics);
  const int N = 32;
  std::vector<double> s(N * N);
  for (int y = 0; y < N; ++y)
    for (int x = 0; x < N; ++x) s[y * N + x] = ics[0](x * 2 * M_PI / N, y * 2 * M_PI / N);
  const HomogenizedSolution2D truth(D, 2 * M_PI, N, s);
  std::vector<double> U(256), R(256);
  truth.patch_means(0.3, g.centres, g.m, g.h, U.data(), R.data());
  const auto all = d.host_U();
  const std::vector<double> got(all.begin() + 30 * 256, all.begin() + 31 * 256);
  EXPECT_LT(relative_mse(got, U), 1e-5);  // the target; this trajectory gives 1.5e-6
  // The swapped, cross-term-free tensor of the reference is far off.
  const HomogenizedSolution2D wrong({1.2644263440876433, 0.0, 1.3398410832045946, 0.0}, 2 * M_PI, N, s);
  wrong.patch_means(0.3, g.centres, g.m, g.h, U.data(), R.data());
  EXPECT_GT(relative_mse(got, U), 1e-3);
}

TEST_P(LatticeOnDevice, GapToothOnAnEvenPeriodTakesAnEvenPatch) {
  // A 2 x 2 table with a full tensor: EdgyInt's edges see their sources' phase only when the
  // interior m is a whole number of periods, so an even period takes an even patch (n = 4, 6),
  // centred halfway between lattice points. Those follow the tensor-homogenized field like the
  // paper's 3 x 3 case above; m = 3 (n = 5, refused by the config) drifts off by O(1).
  const Device dev = GetParam();
  KappaTables t;
  t.mx = t.my = 2;
  t.cx = {2.0, 0.5, 1.0, 3.0};
  t.cy = {0.7, 1.4, 2.5, 0.9};
  InitialConditionParams2D p;
  p.trajectories = 1;
  const auto ics = draw_initial_conditions_2d(p);
  const int N = 32, P = 12;
  std::vector<double> s(N * N);
  for (int y = 0; y < N; ++y)
    for (int x = 0; x < N; ++x) s[y * N + x] = ics[0](x * 2 * M_PI / N, y * 2 * M_PI / N);
  const auto error_at = [&](int n, double ratio) {
    const auto g = make_layout_2d(2 * M_PI, P, n, ratio, Coupling::Spectral, 0);
    const Lattice2D lat(t, BondPlacement::Reference, g.h, g.first);
    const HomogenizedSolution2D truth(effective_tensor(lat), 2 * M_PI, N, s);
    GapTooth2D gt(dev, lat, g, 1);
    Propagator2D prop(gt, 0.01, FineStepper::Exponential);
    const auto d = simulate_lattice_2d(gt, prop, 0.01, 11, ics);
    std::vector<double> U(P * P), R(P * P);
    truth.patch_means(0.1, g.centres, g.m, g.h, U.data(), R.data());
    const auto all = d.host_U();
    return relative_mse(std::vector<double>(all.begin() + 10 * P * P, all.end()), U);
  };
  // Both give 1.1e-8 at t = 0.1 (the 3 x 3 case above 1.5e-6 at t = 0.3); centres
  // half a lattice point off give 1.0e-4, n = 5 0.74.
  EXPECT_LT(error_at(4, 0.02), 1e-6);
  EXPECT_LT(error_at(6, 0.04), 1e-6);
  EXPECT_GT(error_at(5, 0.03), 1e-2);
}

TEST(Homogenized2D, SingleModeDecaysWithItsTensorRate) {
  const EffectiveTensor D{1.3, 0.2, 0.9, 0.0};
  const int N = 16;
  std::vector<double> s(N * N);
  for (int y = 0; y < N; ++y)
    for (int x = 0; x < N; ++x) s[y * N + x] = std::cos(2.0 * x * 2 * M_PI / N + 3.0 * y * 2 * M_PI / N);
  const HomogenizedSolution2D h(D, 2 * M_PI, N, s);
  const std::vector<double> c{0.1, 1.3, 4.0};
  std::vector<double> U(9), R(9);
  const double t = 0.05, m = 3, dh = 0.02;
  h.patch_means(t, c, 3, dh, U.data(), R.data());
  const double lam = 1.3 * 4 + 2 * 0.2 * 6 + 0.9 * 9;
  const double sx = (1 + 2 * std::cos(2 * dh)) / m, sy = (1 + 2 * std::cos(3 * dh)) / m;
  for (int J = 0; J < 3; ++J)
    for (int I = 0; I < 3; ++I) {
      const double mode = std::cos(2 * c[I] + 3 * c[J]) * sx * sy * std::exp(-lam * t);
      EXPECT_NEAR(U[J * 3 + I], mode, 1e-13);
      EXPECT_NEAR(R[J * 3 + I], -lam * mode, 1e-11);
    }
}

TEST(Config2D, PaperConfigAndBadTables) {
  const auto c = load_config_2d(std::string(PATCHLEARN_SOURCE_DIR) + "/configs/paper2d.toml");
  EXPECT_EQ(c.patches, 16);
  EXPECT_EQ(c.initial.trajectories, 100);
  EXPECT_EQ(c.train_trajectories(), 85);
  EXPECT_EQ(c.samples(), 101);
  const std::string head = "[domain]\ndimension = 2\n[lattice]\n";
  auto key_of = [&](const std::string& body) {
    try {
      parse_config_2d(head + body, "t");
    } catch (const ConfigError& e) {
      return e.key;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(key_of("kappa_x = [[1.0, -2.0], [1.0, 1.0]]\nkappa_y = [[1.0, 1.0], [1.0, 1.0]]"), "lattice.kappa_x");
  EXPECT_EQ(key_of("kappa_x = [[1.0, 2.0], [1.0]]\nkappa_y = [[1.0, 1.0], [1.0, 1.0]]"), "lattice.kappa_x");
  EXPECT_EQ(key_of("kappa_x = [[1.0, 2.0, 3.0]]\nkappa_y = [[1.0], [1.0], [1.0]]"), "lattice.kappa_y");
  EXPECT_EQ(key_of("kappa_x = [[1.0]]"), "lattice.kappa_y");
  EXPECT_EQ(key_of("kappa_x = [[1.0, 0.0]]\nkappa_y = [[1.0, 2.0]]"), "lattice.kappa_x");
  EXPECT_EQ(key_of("kappa_x = \"big\"\nkappa_y = [[1.0]]"), "lattice.kappa_x");
  // A period of 2 needs an even interior: 3 x 3 would put the EdgyInt edges and their sources at
  // other phases of the medium.
  const std::string t2 = "kappa_x = [[1.0, 2.0], [3.0, 4.0]]\nkappa_y = [[1.0, 2.0], [3.0, 4.0]]\n";
  EXPECT_EQ(key_of(t2), "patch.points");
  EXPECT_EQ(key_of(t2 + "[patch]\npoints = 4\n"), "accepted");
  // A period of 4 fits a 4 x 4 interior but not the 50 lattice points between patch centres.
  const std::string row4 = "[1.0, 2.0, 3.0, 4.0]";
  const std::string t4 = "[" + row4 + ", " + row4 + ", " + row4 + ", " + row4 + "]";
  EXPECT_EQ(key_of("kappa_x = " + t4 + "\nkappa_y = " + t4 + "\n[patch]\npoints = 6\nratio = 0.08\n"), "patch.ratio");
  EXPECT_EQ(key_of("[fine]\nstepper = \"rk4\"\ndt = 1e-3"), "fine.dt");  // over the stability limit (~1.8e-5)
  EXPECT_EQ(key_of("[fine]\nstepper = \"rk4\"\ndt = 1e-5"), "accepted");
  // A u-dependent lattice: rkc by default, with its tolerance; the exponential refused.
  const auto nl = parse_config_2d(head + "conductance_factor = \"1 + u^2\"\n", "t");
  EXPECT_EQ(nl.stepper, FineStepper::RKC);
  EXPECT_EQ(nl.fine_tolerance, rkc_default_tolerance());
  EXPECT_EQ(key_of("conductance_factor = \"1 + u^2\"\n[fine]\nstepper = \"exponential\""), "fine.stepper");
  // The regression's modes: (P - 1) / 4 on a u-dependent lattice or with a Fourier position basis
  // (products on the grid), every mode on a linear one or with a polynomial basis (not periodic),
  // the initial conditions' on a random one (the rest hold only its fluctuation), or as given.
  // Only the first are where the regression starts, to take more if they do not identify its terms.
  EXPECT_EQ(nl.regression_modes, 3);
  EXPECT_TRUE(nl.regression_modes_chosen);
  EXPECT_EQ(c.regression_modes, 8);
  EXPECT_FALSE(c.regression_modes_chosen);
  const std::string random = "kappa = \"random\"\ndistribution = \"lognormal\"\nmu = 0.0\nsigma = 0.5\nseed = 1\n";
  EXPECT_EQ(parse_config_2d(head + random + "[initial]\nwavenumbers = [1, 5]\n", "t").regression_modes, 5);
  EXPECT_EQ(parse_config_2d(head + random + "[initial]\nwavenumbers = [1, 5]\n[regression]\nmodes = 8\n", "t")
                .regression_modes,
            8);
  for (const char* medium : {"conductance_factor = \"1 + u^2\"\n", ""})
    for (const auto& [basis, modes] : {std::pair{"fourier", 3}, std::pair{"polynomial", 8}})
      EXPECT_EQ(
          parse_config_2d(head + medium + "[regression]\nposition_basis = \"" + basis + "\"\n", "t").regression_modes,
          modes)
          << medium << basis;
  const auto given = parse_config_2d(head + "reaction = \"u - u^3\"\n[regression]\nmodes = 5\n", "t");
  EXPECT_EQ(given.regression_modes, 5);
  EXPECT_FALSE(given.regression_modes_chosen);
  EXPECT_EQ(key_of("[regression]\nmodes = 0"), "regression.modes");
  EXPECT_EQ(key_of("[regression]\nmodes = \"some\""), "regression.modes");
}

INSTANTIATE_ON_EVERY_DEVICE(LatticeOnDevice);
