#include "patchlearn/schemes/coarse_operator.hpp"

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"

namespace patchlearn {

CoarseData::CoarseData(Device dev, index_t trajectories_, index_t times_, index_t nodes_)
    : trajectories(trajectories_),
      times(times_),
      nodes(nodes_),
      t(times_),
      U(dev, static_cast<std::size_t>(trajectories_ * times_ * nodes_)),
      dUdt(dev, static_cast<std::size_t>(trajectories_ * times_ * nodes_)) {}

CoarseData CoarseData::from_host(Device dev, index_t trajectories, std::vector<double> t, index_t nodes,
                                 const std::vector<double>& U, const std::vector<double>& dUdt, double point_steps) {
  CoarseData d(dev, trajectories, static_cast<index_t>(t.size()), nodes);
  d.t = std::move(t);
  d.U.copy_from_host(U);
  d.dUdt.copy_from_host(dUdt);
  d.point_steps = point_steps;
  return d;
}

BadValueWatch::BadValueWatch(Device dev, index_t count)
    : count_(count), first_(dev, std::vector<unsigned long long>{kernels::kNoBadValue, kernels::kNoBadValue}) {}

void BadValueWatch::look(const double* x, index_t n, double lo, double hi) {
  // The record's tags n * count + i stay below kNoBadValue for any run that fits in memory;
  // refuse rather than wrap.
  if (count_ > 0 &&
      static_cast<unsigned long long>(n) >= kernels::kNoBadValue / static_cast<unsigned long long>(count_) - 1)
    throw RunError("bad-value watch: look " + std::to_string(n) + " of " + std::to_string(count_) +
                   " values overflows its record");
  kernels::mark_bad_values(first_.device(), x, count_, static_cast<unsigned long long>(n) * count_, lo, hi,
                           first_.data());
}

std::optional<BadValueWatch::Found> BadValueWatch::found() const {
  const auto first = first_.to_host();
  const auto at = [&](unsigned long long tag, bool outside) {
    return Found{static_cast<index_t>(tag / count_), static_cast<index_t>(tag % count_), outside};
  };
  if (first[0] == kernels::kNoBadValue && first[1] == kernels::kNoBadValue) return std::nullopt;
  if (first[0] == kernels::kNoBadValue) return at(first[1], true);
  if (first[1] == kernels::kNoBadValue) return at(first[0], false);
  const Found nonfinite = at(first[0], false), outside = at(first[1], true);
  return outside.look <= nonfinite.look ? outside : nonfinite;
}

void CoarseOperator::jacobian(const double* U, double* J, index_t batch) {
  const Device dev = device();
  const index_t M = nodes(), size = batch * M;
  Buffer<double> F0(dev, size), F1(dev, size), x(dev, size);
  rhs(U, F0.data(), batch);
  for (index_t j = 0; j < M; ++j) {
    kernels::perturb_node(dev, batch, M, j, U, x.data());
    rhs(x.data(), F1.data(), batch);
    kernels::jacobian_column(dev, batch, M, j, F0.data(), F1.data(), U, x.data(), J);
  }
}

}  // namespace patchlearn

namespace patchlearn {
double relative_mse(const std::vector<double>& v, const std::vector<double>& ref) {
  double mean = 0.0;
  for (double r : ref) mean += r;
  mean /= static_cast<double>(ref.size());
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num += (v[i] - ref[i]) * (v[i] - ref[i]);
    den += (ref[i] - mean) * (ref[i] - mean);
  }
  return num / den;
}
}  // namespace patchlearn
