// Patch geometry, lifting and restriction.
#include <gtest/gtest.h>

#include <cmath>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/patch/layout1d.hpp"
#include "on_device.hpp"

using namespace patchlearn;

TEST(Layout1D, PaperGeometry) {
  const PatchLayout1D L(1.0, 11, 1e-7, 1e-4, 8e-3);
  EXPECT_EQ(L.patches(), 9);
  EXPECT_EQ(L.points, 80001);
  EXPECT_EQ(L.centre, 40000);
  EXPECT_EQ(L.tooth_points, 1001);
  EXPECT_EQ(L.tooth_start, 39500);  // the reference's slice 39500..40500
  EXPECT_EQ(L.global_start(4), 4000000 - 40000);
}

TEST(Layout1D, RejectsMisalignedWidths) {
  EXPECT_THROW(PatchLayout1D(1.0, 11, 1e-7, 1.5e-7, 8e-3), ConfigError);  // odd tooth interval count
  EXPECT_THROW(PatchLayout1D(1.0, 11, 1e-7, 1e-4, 5e-5), ConfigError);    // H < h
  EXPECT_THROW(PatchLayout1D(1.0, 11, 3e-3, 6e-3, 1.2e-2), ConfigError);  // dX = 0.1 not on the lattice
}

using PatchOnDevice = OnDevice;  // on_device.hpp

TEST_P(PatchOnDevice, TheRestrictionIsExactForQuadratics) {
  const Device dev = GetParam();
  // Simpson's rule is exact for cubics: the tooth average of z^2 is h^2/12, of z^3 is 0.
  const PatchLayout1D L(1.0, 11, 1e-7, 1e-4, 8e-3);
  const auto moments = L.tooth_moments();
  const double* mu = moments.mu;
  const double h = 1e-4;
  EXPECT_NEAR(mu[0], 1.0, 1e-15);
  // Odd moments vanish by symmetry up to roundoff: ~ machine eps * max|z|^k * sqrt(nq).
  EXPECT_NEAR(mu[1], 0.0, 1e-16 * 5e-5 * 32);
  EXPECT_NEAR(mu[2], h * h / 24, 1e-15 * h * h);  // mu_2 = <z^2>/2!
  EXPECT_NEAR(mu[3], 0.0, 1e-16 * 1.25e-13 * 32);
  // Through the batched kernel: restrict a + b z + c z^2 on a patch.
  const index_t N = L.points;
  std::vector<double> y(N);
  for (index_t j = 0; j < N; ++j) {
    const double z = static_cast<double>(j - L.centre) * L.dx;
    y[j] = 2.0 + 3.0e2 * z + 5.0e5 * z * z;
  }
  const Buffer<double> yd(dev, y);
  Buffer<double> R(dev, 1);
  kernels::restrict_teeth(dev, 1, N, 1, L.tooth_start, 0, L.tooth_points, yd.data(), R.data());
  EXPECT_NEAR(R.to_host()[0], 2.0 + 5.0e5 * h * h / 12, 1e-14);
}

TEST_P(PatchOnDevice, TheToothAverageOfTheLiftIsExactlyU) {
  const Device dev = GetParam();
  // The lifting's constant term is corrected with the discrete tooth moments, so the restriction
  // of the lift returns U to roundoff (|U| ~ 1-3, 1001-term sums: ~1e-15).
  const PatchLayout1D L(1.0, 11, 1e-7, 1e-4, 8e-3);
  for (int degree : {2, 4}) {
    const int nc = degree + 1;
    std::vector<double> U(2 * 11);
    for (int i = 0; i < 22; ++i) U[i] = 1.5 + std::sin(1.3 * i) + 0.2 * i;
    const Buffer<double> Ud(dev, U);
    Buffer<double> cd(dev, 2 * 9 * nc), y(dev, 2 * 9 * L.points), Rd(dev, 18);
    kernels::lift_coefficients(dev, 2, 11, degree, L.macro_dx, L.tooth_moments(), Ud.data(), cd.data());
    kernels::lift(dev, 18, L.points, L.centre, L.dx, nc, cd.data(), y.data());
    kernels::restrict_teeth(dev, 18, L.points, 1, L.tooth_start, 0, L.tooth_points, y.data(), Rd.data());
    const auto R = Rd.to_host(), coef = cd.to_host();
    for (int b = 0; b < 2; ++b)
      for (int p = 0; p < 9; ++p) EXPECT_NEAR(R[b * 9 + p], U[b * 11 + p + 1], 1e-13) << "degree " << degree;
    if (degree == 2) {  // the reference's correction: c0 = U - h^2 D2 / 24
      const double D2 = (U[2] - 2 * U[1] + U[0]) / 0.01;
      EXPECT_NEAR(coef[0], U[1] - 1e-8 * D2 / 24, 1e-14);
    }
  }
}

TEST(Lifting, LargeBatchesGiveTheSameValues) {
  // A lift larger than the last-level cache (here 72 x 80,001 points, 46 MB) is written with
  // streaming stores a block at a time; every value must still be the per-element lift_value,
  // bit for bit, on rows of either alignment and for both degrees.
  const PatchLayout1D L(1.0, 11, 1e-7, 1e-4, 8e-3);
  const index_t systems = 72, n = L.points;
  for (int nc : {3, 5}) {
    std::vector<double> coef(systems * nc), y(systems * n);
    for (std::size_t k = 0; k < coef.size(); ++k) coef[k] = std::cos(0.7 * static_cast<double>(k)) * 1e3;
    kernels::lift(Device::CPU, systems, n, L.centre, L.dx, nc, coef.data(), y.data());
    index_t mismatches = 0;
    for (index_t s = 0; s < systems; ++s)
      for (index_t j = 0; j < n; ++j)
        mismatches +=
            y[s * n + j] != kernels::lift_value(coef.data() + s * nc, nc, static_cast<double>(j - L.centre) * L.dx);
    EXPECT_EQ(mismatches, 0) << nc << " coefficients";
  }
}

TEST(Lifting, QuarticUsesFivePointDifferences) {
  // On a quartic the 5-point differences are exact (up to roundoff amplified by 1/dX^k).
  std::vector<double> U(11);
  auto f = [](double x) { return 1 + x - 2 * x * x + 3 * x * x * x - 4 * x * x * x * x; };
  for (int i = 0; i < 11; ++i) U[i] = f(0.1 * i);
  double D[5];
  kernels::macro_differences(U.data(), 11, 5, 4, 0.1, D);
  const double x = 0.5;
  EXPECT_NEAR(D[1], 1 - 4 * x + 9 * x * x - 16 * x * x * x, 1e-11);
  EXPECT_NEAR(D[2], -4 + 18 * x - 48 * x * x, 1e-9);
  EXPECT_NEAR(D[3], 18 - 96 * x, 1e-8);
  EXPECT_NEAR(D[4], -96, 1e-6);
  kernels::macro_differences(U.data(), 11, 1, 4, 0.1, D);  // next to the boundary: 3-point
  EXPECT_NEAR(D[2], (U[2] - 2 * U[1] + U[0]) / 0.01, 1e-12);
  EXPECT_EQ(D[4], 0.0);
}

INSTANTIATE_ON_EVERY_DEVICE(PatchOnDevice);
