// What contraction to FMA does to the per-point functions that the LatticeOnDevice tests compare
// the CUDA kernels with (bench/fma_contraction.sh compiles this twice, with and without
// -mfma -ffp-contract=fast, and compares the outputs). Writes, per case, a line "name count" and
// then the values as raw doubles, on the tests' inputs.
#include <cstdio>
#include <initializer_list>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/kernels/lattice2d.hpp"

using namespace patchlearn;

namespace {

const double kG[3] = {1.2, 0.3, 0.1}, kF[4] = {0.1, -0.5, 0.2, 0.05};

/// Fills the vectors, in turn, with draws from U(lo, hi).
void draw(std::mt19937_64& gen, double lo, double hi, std::initializer_list<std::vector<double>*> vectors) {
  std::uniform_real_distribution<double> d(lo, hi);
  for (auto* v : vectors)
    for (auto& x : *v) x = d(gen);
}

/// Two P x P circulant coupling matrices, their first rows drawn from U(-w, w).
std::pair<std::vector<double>, std::vector<double>> couplings(std::mt19937_64& gen, int P, double w) {
  std::vector<double> wp(P), wm(P);
  draw(gen, -w, w, {&wp});
  draw(gen, -w, w, {&wm});
  return {kernels::circulant(wp), kernels::circulant(wm)};
}

void emit(const std::string& name, const std::vector<double>& v) {
  std::printf("%s %zu\n", name.c_str(), v.size());
  std::fwrite(v.data(), sizeof(double), v.size(), stdout);
}

kernels::LatticeNonlinearity u_dependent(const double* rho) {
  kernels::LatticeNonlinearity nl;
  nl.g = kG;
  nl.ng = 3;
  nl.f = kF;
  nl.nf = 4;
  nl.rho = rho;
  return nl;
}

// gap_tooth_rate at every point, as GapToothBatchedRatesEqualThePerPointFunction.
void gap_tooth_rates() {
  std::mt19937_64 gen(5);
  for (auto [P, m] : {std::pair{5, 3}, std::pair{6, 4}, std::pair{7, 1}, std::pair{10, 2}, std::pair{16, 3}}) {
    const int n = m + 2;
    const index_t batch = 3, PP = static_cast<index_t>(P) * P, per = PP * m * m;
    std::vector<double> kE(n * n), kN(n * n), kEp(n * n * PP), kNp(kEp.size()), U(batch * per), rho(n * n);
    draw(gen, 0.5, 2.0, {&kE, &kN, &kEp, &kNp, &rho});
    const auto [wp, wm] = couplings(gen, P, 1.0);
    draw(gen, -1.0, 1.0, {&U});
    for (const bool own : {false, true})
      for (const bool linear : {true, false}) {
        const kernels::ToothBonds k = own ? kernels::ToothBonds{kEp.data(), kNp.data(), PP, 1, {}}
                                          : kernels::ToothBonds{kE.data(), kN.data(), 1, 0, {}};
        const auto nl = linear ? kernels::LatticeNonlinearity{} : u_dependent(rho.data());
        std::vector<double> out;
        for (index_t b = 0; b < batch; ++b)
          for (int J = 0; J < P; ++J)
            for (int I = 0; I < P; ++I)
              for (int q = 0; q < m; ++q)
                for (int p = 0; p < m; ++p)
                  out.push_back(
                      kernels::gap_tooth_rate(U.data() + b * per, P, m, I, J, p, q, k, wp.data(), wm.data(), 7.0, nl));
        emit("gap_tooth_rate/P" + std::to_string(P) + "m" + std::to_string(m) + (own ? "/own" : "/shared") +
                 (linear ? "/linear" : "/u-dependent"),
             out);
      }
  }
}

// The term-by-term Chebyshev loop, as GapToothChebyshevIntervalEqualsTheTermByTermLoop.
void chebyshev_loop() {
  std::mt19937_64 gen(11);
  for (const bool own : {false, true})
    for (auto [P, m, terms] : {std::tuple{16, 3, 40}, std::tuple{5, 2, 2}, std::tuple{7, 4, 9}}) {
      const int n = m + 2;
      const index_t batch = 3, PP = static_cast<index_t>(P) * P, per = PP * m * m, count = batch * per;
      const double rho = 100.0, inv_h2 = 3.0, a = 4.0 / rho;
      std::vector<double> kE(n * n * (own ? PP : 1)), kN(kE.size()), u(count), c(terms);
      draw(gen, 0.5, 2.0, {&kE, &kN});
      const auto [wp, wm] = couplings(gen, P, 0.1);
      draw(gen, -1.0, 1.0, {&u});
      draw(gen, 0.0, 0.3, {&c});
      const kernels::ToothBonds k{kE.data(), kN.data(), own ? PP : 1, own ? 1 : 0, {}};
      const auto rates = [&](const std::vector<double>& s, std::vector<double>& out) {
        for (index_t b = 0; b < batch; ++b)
          for (int J = 0; J < P; ++J)
            for (int I = 0; I < P; ++I)
              for (int q = 0; q < m; ++q)
                for (int p = 0; p < m; ++p)
                  out[b * per + ((static_cast<index_t>(q) * m + p) * P + J) * P + I] = kernels::gap_tooth_rate(
                      s.data() + b * per, P, m, I, J, p, q, k, wp.data(), wm.data(), inv_h2, {});
      };
      std::vector<double> Tkm1 = u, Tk(count), AT(count), acc(count);
      rates(Tkm1, AT);
      for (index_t i = 0; i < count; ++i) kernels::chebyshev_start(a, AT[i], Tkm1[i], c[0], c[1], Tk[i], acc[i]);
      for (int j = 1; j + 1 < terms; ++j) {
        rates(Tk, AT);
        for (index_t i = 0; i < count; ++i) kernels::chebyshev_update(a, AT[i], Tk[i], Tkm1[i], c[j + 1], acc[i]);
        std::swap(Tk, Tkm1);
      }
      emit("chebyshev_loop/P" + std::to_string(P) + "m" + std::to_string(m) + "/" + std::to_string(terms) + "terms" +
               (own ? "/own" : "/shared"),
           acc);
    }
}

// periodic_lattice_rate at every site, as FullLatticeBatchedRatesEqualThePerPointFunction.
void lattice_rates() {
  std::mt19937_64 gen(9);
  const index_t N = 200;
  std::vector<double> kE(N * N), kN(N * N), u(N * N), rho(N * N);
  draw(gen, 0.5, 2.0, {&kE, &kN, &rho});
  draw(gen, -1.0, 1.0, {&u});
  for (const bool linear : {true, false}) {
    const auto nl = linear ? kernels::LatticeNonlinearity{} : u_dependent(rho.data());
    std::vector<double> out;
    for (index_t y = 0; y < N; ++y)
      for (index_t x = 0; x < N; ++x)
        out.push_back(kernels::periodic_lattice_rate(u.data(), kE.data(), kN.data(), N, x, y, 3.0, nl));
    emit(std::string("periodic_lattice_rate/200^2/") + (linear ? "linear" : "u-dependent"), out);
  }
}

}  // namespace

int main() {
  gap_tooth_rates();
  chebyshev_loop();
  lattice_rates();
}
