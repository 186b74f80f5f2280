// Effective coefficients of u-dependent media at a fixed u (homog/effective.hpp): the cell problem
// and period means on the micro lattice against the closed forms of the two-scale expansion,
// a*(u) = <1/a>^-1, c*(u) = a* <c/a>, r*(u) = <r>, D*(u) = g(u) D, r*(u) = <rho> f(u).
//
// Tolerance 1e-10 relative. The library computes the discrete cell problem on n points per period:
// its a* equals n / sum 1/a_j (the midpoint rule of <1/a>^-1) and its c* equals a* (1/n) sum c_j/a_j,
// up to the round-off of the tridiagonal solve (~1e-15 relative here); r* is the periodic rectangle
// rule of <r>. For the smooth periodic integrands below these rules converge geometrically: the
// Fourier coefficients of 1/(1.1 + sin) decay like 0.64^k, of 1/(2 + sin) like 0.27^k, and those
// of 1/(2 + u^2 + u sin) at u <= 1 like ((2+u^2) - sqrt((2+u^2)^2 - u^2)) / u <= 0.27^k, so at
// n = 100 the quadrature error is below 1e-19; trigonometric polynomials of degree < n and
// laminates whose layers hold whole lattice cells are integrated exactly. What remains is
// round-off, 1e-14 at most, so 1e-10 fails only if the method is wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/effective.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/io/effective.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/patch/layout2d.hpp"
#include "patchlearn/schemes/lattice2d.hpp"

using namespace patchlearn;

namespace {

constexpr double kRel = 1e-10;
constexpr int kN = 100;  // points per period: medium.epsilon / micro.dx of the small configs

void expect_rel(double got, double want, const std::string& what) {
  EXPECT_LE(std::abs(got - want), kRel * std::abs(want)) << what << ": got " << got << ", want " << want;
}

// The key and the message of the ConfigError `f` throws.
template <class F>
std::pair<std::string, std::string> config_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return {e.key, e.what()};
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(Effective1D, PolynomialTimesPeriodicIsPolynomialTimesHarmonicMean) {
  const auto f = CoefficientField::expression("(1 + u + u^2) * (1.1 + sin(2*pi*y))", {0.0, 2.0});
  ASSERT_TRUE(f.depends_on_u());
  for (double u : {0.0, 0.3, 0.9, 1.5, 2.0}) {
    const auto e = effective_coefficients(f, kN, u);
    expect_rel(e.a_star, (1 + u + u * u) * std::sqrt(0.21), "a*");
    EXPECT_EQ(e.drift, 0.0);
    EXPECT_EQ(e.reaction, 0.0);
  }
}

TEST(Effective1D, NonSeparableDiffusivity) {
  // a = m(u) + A(u) sin 2 pi y with m = 2 + u^2, A = u: <1/a>^-1 = sqrt(m^2 - A^2).
  const auto f = CoefficientField::expression("2 + u^2 + u*sin(2*pi*y)", {0.0, 1.0});
  for (double u : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const double m = 2 + u * u;
    expect_rel(effective_coefficients(f, kN, u).a_star, std::sqrt(m * m - u * u), "a*");
  }
}

TEST(Effective1D, DriftIsWeightedByTheCorrectorFlux) {
  // a = (1 + u^2)(2 + sin), c = (1 + u)(2 + cos): a* = sqrt(3)(1 + u^2) and
  // <c/a> = (1 + u)/(1 + u^2) <(2 + cos)/(2 + sin)> = (1 + u)/(1 + u^2) 2/sqrt(3), so c* = 2 (1 + u)
  // (where <c> = 2 (1 + u) too would be a coincidence: the next medium separates them).
  const auto f = CoefficientField::expression("(1 + u^2) * (2 + sin(2*pi*y))", {-1.0, 1.0})
                     .with_terms("(1 + u) * (2 + cos(2*pi*y))", "", {-1.0, 1.0});
  for (double u : {-1.0, -0.4, 0.0, 0.6, 1.0}) {
    const auto e = effective_coefficients(f, kN, u);
    expect_rel(e.a_star, std::sqrt(3.0) * (1 + u * u), "a*");
    if (u != -1.0) expect_rel(e.drift, 2 * (1 + u), "c*");
    EXPECT_NEAR(e.drift, 2 * (1 + u), 1e-13);
  }
  // A laminate a1 = 1 (fraction 0.3), a2 = 4, with c = u^2 in layer 1 and u in layer 2: the flux
  // weighting gives c* = a* (0.3 u^2 / 1 + 0.7 u / 4), not the plain mean 0.3 u^2 + 0.7 u.
  const auto lam = CoefficientField::laminate(1.0, 4.0, 0.3).with_terms("y < 0.3 ? u^2 : u", "", {0.0, 3.0});
  const double a_star = 1.0 / (0.3 / 1.0 + 0.7 / 4.0);
  for (double u : {0.1, 0.5, 1.0, 2.0, 3.0}) {
    const auto e = effective_coefficients(lam, kN, u);
    expect_rel(e.a_star, a_star, "laminate a*");
    expect_rel(e.drift, a_star * (0.3 * u * u + 0.7 * u / 4.0), "laminate c*");
  }
}

TEST(Effective1D, FisherKppReactionIsThePeriodMean) {
  // r = (1 + 0.5 sin 2 pi y) u (1 - u) + cos^2(2 pi y) u: <r> = u (1 - u) + u / 2.
  const auto f = CoefficientField::sinusoid(1.1, 1.0).with_terms("", "(1 + 0.5*sin(2*pi*y))*u*(1-u) + cos(2*pi*y)^2*u",
                                                                 {0.0, 1.0});
  for (double u : {0.0, 0.1, 0.5, 0.8, 1.0}) {
    const auto e = effective_coefficients(f, kN, u);
    expect_rel(e.a_star, std::sqrt(0.21), "a*");
    EXPECT_EQ(e.drift, 0.0);
    EXPECT_NEAR(e.reaction, u * (1 - u) + u / 2, kRel * 1.5) << "u = " << u;
    if (u > 0) expect_rel(e.reaction, u * (1 - u) + u / 2, "r*");
  }
}

TEST(Effective1D, ConfigMediumOnItsMicroLattice) {
  const auto c = parse_config_1d(R"toml(
[medium]
coefficient = "expression"
expression = "(1 + u^2) * (1.1 + sin(2*pi*y))"
drift = "u * (1.1 + sin(2*pi*y))"
reaction = "u * (1 - u)"
u_range = [0, 1]
epsilon = 1e-3
[micro]
dx = 1e-5
)toml",
                                 "nonlinear.toml");
  EXPECT_EQ(cell_points_per_period(c), 100);
  EXPECT_EQ(c.u_range.lo, 0.0);
  EXPECT_EQ(c.u_range.hi, 1.0);
  for (double u : {0.0, 0.2, 0.4, 0.6, 1.0}) {
    const auto e = effective_coefficients(c, u);
    const double a_star = (1 + u * u) * std::sqrt(0.21);
    expect_rel(e.a_star, a_star, "a*");
    // c/a = u / (1 + u^2) everywhere: c* = a* u / (1 + u^2) = sqrt(0.21) u.
    EXPECT_NEAR(e.drift, std::sqrt(0.21) * u, kRel * std::sqrt(0.21));
    EXPECT_NEAR(e.reaction, u * (1 - u), 1e-15);
  }
}

TEST(Effective1D, LinearMediaAreUnchanged) {
  // An expression in y keeps its values and its linear fine model; a*(u) is the cell problem's.
  const auto e = CoefficientField::expression("1.1 + sin(2*pi*y)");
  EXPECT_FALSE(e.depends_on_u());
  EXPECT_EQ(e.nonlinear_key(), "");
  EXPECT_DOUBLE_EQ(e(0.25), 2.1);
  EXPECT_DOUBLE_EQ(e(0.25, 7.0), 2.1);
  EXPECT_EQ(FineModel1D(e, 1.0, 0.01).conductances(0, 100).size(), 100u);
  expect_rel(effective_coefficients(e, kN, 0.0).a_star, std::sqrt(0.21), "a*");
  const auto c = parse_config_1d("", "default");
  EXPECT_EQ(c.field->nonlinear_key(), "");
  expect_rel(effective_coefficients(c, 0.5).a_star, std::sqrt(0.21), "default a*");
}

TEST(Effective1D, DefaultURangeBoundsTheInitialConditions) {
  // 20 modes of amplitude <= 0.5: |sum| <= 10, the shift adds <= 10.1: [-10, 20.1] + 5% of 30.1.
  const URange r = parse_config_1d("", "default").u_range;
  EXPECT_NEAR(r.lo, -10 - 1.505, 1e-12);
  EXPECT_NEAR(r.hi, 20.1 + 1.505, 1e-12);
  InitialConditionParams p;
  p.positivity_shift = false;
  p.modes = 4;
  p.amplitude_lo = -0.25;
  p.amplitude_hi = 1.0;
  const URange q = default_u_range(p);
  EXPECT_NEAR(q.lo, -4.4, 1e-12);
  EXPECT_NEAR(q.hi, 4.4, 1e-12);
  // Every drawn initial condition lies inside (sampled densely).
  p.trajectories = 50;
  for (const auto& ic : draw_initial_conditions(p))
    for (int j = 0; j <= 1000; ++j) EXPECT_TRUE(q.contains(ic(j / 1000.0)));
  const auto shifted = default_u_range(InitialConditionParams{});
  for (const auto& ic : draw_initial_conditions(InitialConditionParams{}))
    for (int j = 0; j <= 1000; ++j) EXPECT_TRUE(shifted.contains(ic(j / 1000.0)));
}

TEST(Effective2D, GTimesTheTensorAndTheMeanReaction) {
  // A layered lattice: kx depends on the x index only (1, 4, 2), ky = 3 everywhere. Along x the
  // bonds are in series (D_xx = the harmonic mean 3 / (1 + 1/4 + 1/2)), along y in parallel
  // (D_yy = 3), D_xy = 0; g(u) = 1 + u^2 scales them, rho has mean 1 and f(u) = u (1 - u).
  KappaTables t;
  t.mx = t.my = 3;
  t.cx = {1, 1, 1, 4, 4, 4, 2, 2, 2};
  t.cy = {3, 3, 3, 3, 3, 3, 3, 3, 3};
  t.u_range = {-1.0, 2.0};
  t.conductance_factor.emplace("lattice.conductance_factor", "1 + u^2", std::vector<std::string>{"u"});
  t.reaction.emplace("lattice.reaction", "u * (1 - u)", std::vector<std::string>{"u"});
  t.reaction_rate = {0.5, 1.5, 1, 0, 2, 1, 1, 1, 1};
  const auto g = make_layout_2d(2 * M_PI, 6, 5, 0.1, Coupling::Spectral, 0);
  const Lattice2D lat(t, BondPlacement::Reference, g.h, g.first);
  for (double u : {-1.0, -0.3, 0.0, 0.7, 2.0}) {
    const auto e = effective_coefficients(lat, u);
    const double gu = 1 + u * u;
    expect_rel(e.D.xx, gu * 3.0 / (1 + 0.25 + 0.5), "Dxx");
    expect_rel(e.D.yy, gu * 3.0, "Dyy");
    EXPECT_LE(std::abs(e.D.xy), 1e-14 * gu);
    EXPECT_NEAR(e.reaction, u * (1 - u), 1e-15);
  }
}

TEST(Effective2D, PaperLatticeFromItsConfig) {
  const auto c = parse_config_2d(R"toml(
[domain]
dimension = 2
[lattice]
conductance_factor = "exp(-u) + 0.5"
reaction = "u*(1-u)"
reaction_rate = [[1, 2, 3], [0, 1, 2], [2, 2, 5]]
u_range = [0, 1]
)toml",
                                 "nonlinear2d.toml");
  // The linear paper lattice's tensor, placed as the schemes place it.
  const auto g = make_layout_2d(c.length, c.patches, c.points, c.ratio, c.coupling, c.order);
  const auto D = effective_tensor(Lattice2D(KappaTables::paper(), parse_bond_placement(c.placement), g.h, g.first));
  for (double u : {0.0, 0.1, 0.5, 0.9, 1.0}) {
    const auto e = effective_coefficients(c, u);
    const double gu = std::exp(-u) + 0.5;
    expect_rel(e.D.xx, gu * D.xx, "Dxx");
    expect_rel(e.D.yy, gu * D.yy, "Dyy");
    expect_rel(e.D.xy, gu * D.xy, "Dxy");
    EXPECT_NEAR(e.reaction, 2.0 * u * (1 - u), 1e-15);
  }
}

TEST(EffectiveBadInput, UOutsideTheRange) {
  const auto f = CoefficientField::expression("1 + u^2 + 0.5*sin(2*pi*y)", {0.0, 1.0});
  for (double u : {-0.01, 1.5, std::nan(""), HUGE_VAL}) {
    try {
      effective_coefficients(f, kN, u);
      ADD_FAILURE() << "u = " << u << " accepted";
    } catch (const InputError& e) {
      EXPECT_TRUE(has(e.what(), "medium.u_range")) << e.what();
      EXPECT_TRUE(has(e.what(), "[0, 1]")) << e.what();
    }
  }
  const auto c2 =
      parse_config_2d("[domain]\ndimension = 2\n[lattice]\nconductance_factor = \"1 + u^2\"\nu_range = [0, 1]\n", "t");
  EXPECT_THROW(effective_coefficients(c2, 2.0), InputError);
}

TEST(EffectiveBadInput, DiffusivityNotPositiveOrNotFiniteOnTheRange) {
  auto [key, what] = config_error([] { CoefficientField::expression("u + 0.5*sin(2*pi*y)", {0.0, 1.0}); });
  EXPECT_EQ(key, "medium.expression");
  EXPECT_TRUE(has(what, "u = 0,") && has(what, "y = ")) << what;
  std::tie(key, what) = config_error([] { CoefficientField::expression("1 / u", {-1.0, 1.0}); });
  EXPECT_EQ(key, "medium.expression");
  EXPECT_TRUE(has(what, "= -1 at u = -1")) << what;
  std::tie(key, what) = config_error([] { CoefficientField::sinusoid(1.1, 1).with_terms("1 / u", "", {-1.0, 1.0}); });
  EXPECT_EQ(key, "medium.drift");
  EXPECT_TRUE(has(what, "= inf at u = 0,")) << what;  // no y: the drift does not use it
  std::tie(key, what) = config_error([] { CoefficientField::sinusoid(1.1, 1).with_terms("", "sqrt(u)", {-1.0, 1.0}); });
  EXPECT_EQ(key, "medium.reaction");
  EXPECT_TRUE(has(what, "u = -1")) << what;
  // A negative drift or reaction is fine: only a diffusivity must be positive.
  EXPECT_NO_THROW(CoefficientField::sinusoid(1.1, 1).with_terms("-u", "-u^3", {-1.0, 1.0}));
}

TEST(EffectiveBadInput, UnknownVariables) {
  auto [key, what] = config_error([] { CoefficientField::expression("1 + z*u"); });
  EXPECT_EQ(key, "medium.expression");
  EXPECT_TRUE(has(what, "z") && has(what, "y and u")) << what;
  std::tie(key, what) = config_error([] { CoefficientField::sinusoid(1.1, 1).with_terms("x*u", "", {0.0, 1.0}); });
  EXPECT_EQ(key, "medium.drift");
  std::tie(key, what) = config_error(
      [] { parse_config_2d("[domain]\ndimension = 2\n[lattice]\nconductance_factor = \"1 + y\"\n", "t"); });
  EXPECT_EQ(key, "lattice.conductance_factor");
  EXPECT_TRUE(has(what, "the variables are u")) << what;
}

TEST(EffectiveBadInput, ConfigKeys) {
  const auto key_of = [](const std::string& medium) {
    return config_error([&] { parse_config_1d("[medium]\n" + medium, "t"); }).first;
  };
  // The default u range of the default initial conditions holds negative u: a = u is refused there.
  EXPECT_EQ(key_of("coefficient = \"expression\"\nexpression = \"u + 2 + sin(2*pi*y)\"\n"), "medium.expression");
  EXPECT_EQ(key_of("u_range = [1, 0]\n"), "medium.u_range");
  EXPECT_EQ(key_of("reaction = \"log(u)\"\nu_range = [0, 1]\n"), "medium.reaction");
  EXPECT_EQ(key_of("drfit = \"u\"\n"), "medium.drfit");
  EXPECT_TRUE(
      has(config_error([] { parse_config_1d("[medium]\ndrfit = \"u\"\n", "t"); }).second, "did you mean 'drift'"));
  const auto key2 = [](const std::string& lattice) {
    return config_error([&] { parse_config_2d("[domain]\ndimension = 2\n[lattice]\n" + lattice, "t"); }).first;
  };
  EXPECT_EQ(key2("conductance_factor = \"u\"\n"), "lattice.conductance_factor");  // <= 0 on the default range
  EXPECT_EQ(key2("reaction = \"1/u\"\n"), "lattice.reaction");
  EXPECT_EQ(key2("reaction = \"u\"\nreaction_rate = [[1, 2], [3, 4]]\n"), "lattice.reaction_rate");
  EXPECT_EQ(key2("reaction_rate = [[1, 2, 3], [1, 2, 3], [1, 2, 3]]\n"), "lattice.reaction_rate");
  EXPECT_EQ(key2("reaction = \"u\"\nreaction_rate = [[1, 2, 3], [1, -2, 3], [1, 2, 3]]\n"), "lattice.reaction_rate");
}

TEST(EffectiveBadInput, LinearSchemesRefuseUDependentMedia) {
  // The linear fine model (the conductances gap-tooth, full resolution and the linear cell problem
  // use) and the 2D cell problem refuse a u-dependent medium, naming its key, rather than using
  // the linear part; the schemes take the medium's series instead (test_nonlinear, test_lattice2d).
  const auto a_u = CoefficientField::expression("1 + u^2 + 0.5*sin(2*pi*y)", {0.0, 1.0});
  EXPECT_EQ(config_error([&] { FineModel1D(a_u, 1e-3, 1e-5).conductances(0, 10); }).first, "medium.expression");
  const auto drift = CoefficientField::sinusoid(1.1, 1).with_terms("u", "", {0.0, 1.0});
  EXPECT_EQ(config_error([&] { FineModel1D(drift, 1e-3, 1e-5).conductances(0, 10); }).first, "medium.drift");
  const auto reaction = CoefficientField::sinusoid(1.1, 1).with_terms("", "u*(1-u)", {0.0, 1.0});
  const auto [key, what] = config_error([&] { FineModel1D(reaction, 1e-3, 1e-5).conductances(0, 10); });
  EXPECT_EQ(key, "medium.reaction");
  EXPECT_TRUE(has(what, "linear fine model")) << what;
  EXPECT_THROW(a_u(0.5), std::logic_error);  // no a(y) of a u-dependent medium
  const auto c = parse_config_2d("[domain]\ndimension = 2\n[lattice]\nreaction = \"u*(1-u)\"\n", "t");
  const auto g = make_layout_2d(c.length, c.patches, c.points, c.ratio, c.coupling, c.order);
  const Lattice2D lat(c.kappa, parse_bond_placement(c.placement), g.h, g.first);
  EXPECT_EQ(config_error([&] { effective_tensor(lat); }).first, "lattice.reaction");
}
