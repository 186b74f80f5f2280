#include "patchlearn/homog/homogenized2d.hpp"

#include <cmath>
#include <stdexcept>

namespace patchlearn {

using cd = std::complex<double>;

std::vector<cd> patch_mean_modes(double L, int N, const std::vector<double>& centres, int m, double h) {
  const int P = static_cast<int>(centres.size());
  std::vector<cd> E(static_cast<std::size_t>(N) * P);
  for (int i = 0; i < N; ++i) {
    const double k = wavenumber(L, N, i), s = patch_mean_factor(k, m, h);
    for (int I = 0; I < P; ++I) E[i * P + I] = s * std::polar(1.0, k * centres[I]);
  }
  return E;
}

HomogenizedSolution2D::HomogenizedSolution2D(EffectiveTensor D, double L, int N, const std::vector<double>& samples)
    : D_(D), L_(L), N_(N), coef_(static_cast<std::size_t>(N) * N), k_(N) {
  if (N < 4 || N % 2 || samples.size() != static_cast<std::size_t>(N) * N)
    throw std::invalid_argument("HomogenizedSolution2D: need N x N samples with N even, N >= 4");
  for (int i = 0; i < N; ++i) k_[i] = wavenumber(L, N, i);
  // Separable DFT: rows then columns, O(N^3).
  std::vector<cd> tw(N), rowf(static_cast<std::size_t>(N) * N);
  for (int i = 0; i < N; ++i) tw[i] = std::polar(1.0, -2.0 * M_PI * i / N);
  for (int y = 0; y < N; ++y)
    for (int kx = 0; kx < N; ++kx) {
      cd s = 0;
      for (int x = 0; x < N; ++x) s += samples[y * N + x] * tw[(static_cast<long>(kx) * x) % N];
      rowf[y * N + kx] = s;
    }
  for (int ky = 0; ky < N; ++ky)
    for (int kx = 0; kx < N; ++kx) {
      cd s = 0;
      for (int y = 0; y < N; ++y) s += rowf[y * N + kx] * tw[(static_cast<long>(ky) * y) % N];
      coef_[ky * N + kx] = s / (static_cast<double>(N) * N);
    }
}

void HomogenizedSolution2D::patch_means(double t, const std::vector<double>& centres, int m, double h, double* U,
                                        double* dUdt) const {
  const int N = N_, P = static_cast<int>(centres.size());
  const std::vector<cd> E = patch_mean_modes(L_, N, centres, m, h);
  // W[ky][I] = sum_kx c[ky][kx] g E[kx][I], with the decay g and the rate factor -k.Dk.
  std::vector<cd> W(static_cast<std::size_t>(N) * P), Wr(static_cast<std::size_t>(N) * P);
  for (int ky = 0; ky < N; ++ky)
    for (int I = 0; I < P; ++I) {
      cd w = 0, wr = 0;
      for (int kx = 0; kx < N; ++kx) {
        const double kx_ = k_[kx], ky_ = k_[ky];
        const double lam = D_.xx * kx_ * kx_ + 2.0 * D_.xy * kx_ * ky_ + D_.yy * ky_ * ky_;
        const cd c = coef_[ky * N + kx] * std::exp(-lam * t) * E[kx * P + I];
        w += c;
        wr -= lam * c;
      }
      W[ky * P + I] = w;
      Wr[ky * P + I] = wr;
    }
  for (int J = 0; J < P; ++J)
    for (int I = 0; I < P; ++I) {
      cd u = 0, r = 0;
      for (int ky = 0; ky < N; ++ky) {
        u += E[ky * P + J] * W[ky * P + I];
        r += E[ky * P + J] * Wr[ky * P + I];
      }
      U[J * P + I] = u.real();
      if (dUdt) dUdt[J * P + I] = r.real();
    }
}

}  // namespace patchlearn
