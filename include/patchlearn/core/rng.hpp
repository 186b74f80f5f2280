#pragma once
// Reproducible random numbers: a 64-bit Mersenne Twister with our own uniform mapping (53 random
// bits), so a seed gives the same draws with every standard library. Each trajectory gets its own
// stream derived from (seed, index) by SplitMix64, so adding trajectories never changes earlier ones.
// Normal draws use Box-Muller on that uniform mapping (not std::normal_distribution, whose
// algorithm differs between standard libraries).
#include <cmath>
#include <cstdint>
#include <random>

namespace patchlearn {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) : gen_(splitmix64(seed ^ splitmix64(stream + 1))) {}
  /// Uniform on [lo, hi).
  double uniform(double lo, double hi) {
    const double u = static_cast<double>(gen_() >> 11) * 0x1.0p-53;
    return lo + (hi - lo) * u;
  }
  /// Normal with mean mu and standard deviation sigma (Box-Muller, the cosine branch).
  double normal(double mu, double sigma) {
    const double u1 = 1.0 - uniform(0.0, 1.0), u2 = uniform(0.0, 1.0);  // u1 in (0, 1]
    return mu + sigma * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace patchlearn
