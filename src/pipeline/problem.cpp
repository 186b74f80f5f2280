#include "patchlearn/pipeline/problem.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "patchlearn/core/error.hpp"
#include "patchlearn/pipeline/problem1d.hpp"
#include "patchlearn/pipeline/problem2d.hpp"

namespace patchlearn {
namespace {

using Factory = std::unique_ptr<Problem> (*)(const std::string& text, const std::string& origin,
                                             const std::string& base_dir);

/// The registry of problem kinds, by domain.dimension: a new kind is one line here.
const std::map<int, Factory>& registry() {
  static const std::map<int, Factory> kinds = {
      {1,
       [](const std::string& text, const std::string& origin, const std::string& base_dir) -> std::unique_ptr<Problem> {
         return std::make_unique<Problem1D>(parse_config_1d(text, origin, base_dir));
       }},
      {2,
       [](const std::string& text, const std::string& origin, const std::string&) -> std::unique_ptr<Problem> {
         return std::make_unique<Problem2D>(parse_config_2d(text, origin));
       }},
  };
  return kinds;
}

}  // namespace

void write_common_data(H5Writer& w, const std::vector<index_t>& node_dims, const SharedConfig& cfg,
                       const std::string& scheme, const Simulation& sim, Device device) {
  const auto& d = sim.data;
  std::vector<index_t> dims{d.trajectories, d.times};
  dims.insert(dims.end(), node_dims.begin(), node_dims.end());
  w.dataset("U", dims, d.host_U());
  w.dataset("dUdt", dims, d.host_dUdt());
  w.dataset("U_hom", dims, sim.truth.U);
  w.dataset("dUdt_hom", dims, sim.truth.dUdt);
  w.dataset("t", {d.times}, d.t);
  w.attribute("config", cfg.text);
  w.attribute("version", std::string(PATCHLEARN_VERSION));
  w.attribute("device", device_description(device));
  w.attribute("scheme", scheme);
  w.attribute("wall_s", sim.wall_s);
  w.attribute("point_steps", d.point_steps);
  w.attribute("rmse_vs_homogenized", sim.rmse_vs_homogenized);
}

SampleStats sample_stats(const std::vector<double>& v) {
  if (v.size() < 2) throw std::invalid_argument("sample_stats: at least two values");
  SampleStats s;
  for (const double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  double var = 0;
  for (const double x : v) var += (x - s.mean) * (x - s.mean);
  s.scatter = std::sqrt(var / static_cast<double>(v.size() - 1));
  s.standard_error = s.scatter / std::sqrt(static_cast<double>(v.size()));
  return s;
}

bool estimates_agree(const SampleStats& a, const SampleStats& b) {
  return std::abs(a.mean - b.mean) <= 2.0 * std::hypot(a.standard_error, b.standard_error);
}

nlohmann::json common_simulation_json(const Simulation& sim, const std::string& scheme, Device device) {
  return {{"wall_s", sim.wall_s},
          {"point_steps", sim.data.point_steps},
          {"device", device_name(device)},
          {"scheme", scheme},
          {"rmse_vs_homogenized", sim.rmse_vs_homogenized}};
}

Report with_patch_scales(Report r, const nlohmann::json& summary) {
  if (!summary.contains("regression_patch_scales")) return r;
  const nlohmann::json& p = summary["regression_patch_scales"];
  r.json["regression_patch_scales"] = p;
  const int per = p.value("scales_per_patch", 1);
  const std::string mean = p.value("mean", std::string("harmonic"));
  if (p.value("known", false)) {
    r.lines.push_back(fmt::format(
        "regression fitted with each of {} patches' own piece of the medium: its a*_p on the U_xx terms (spread "
        "{:.3g}, harmonic mean 1), its tooth's corrector on the U_x^2 and drift terms",
        p["patches"].get<int>(), p["spread"].get<double>()));
    return r;
  }
  r.lines.push_back(fmt::format(
      "regression fitted with {} ({} mean 1{}){}",
      per == 1 ? fmt::format("{} patch scales of spread {:.3g}", p["patches"].get<int>(), p["spread"].get<double>())
               : fmt::format("{} scales on each of {} patches, spread {:.3g}", per, p["patches"].get<int>(),
                             p["spread"].get<double>()),
      mean, per == 1 ? "" : " in each group",
      p.contains("rounds") ? fmt::format(", {} alternations, {}", p["rounds"].get<int>(),
                                         p["settled"].get<bool>() ? "settled" : "not settled")
                           : std::string()));
  return r;
}

std::unique_ptr<Problem> parse_problem(const std::string& text, const std::string& origin,
                                       const std::string& base_dir) {
  const int dimension = config_dimension(text, origin);
  const auto kind = registry().find(dimension);
  if (kind == registry().end())
    throw ConfigError("domain.dimension", std::to_string(dimension) + " is not a problem kind");
  return kind->second(text, origin, base_dir);
}

std::unique_ptr<Problem> load_problem(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return parse_problem(read_config_text(path), path, slash == std::string::npos ? "." : path.substr(0, slash));
}

std::unique_ptr<Problem> default_problem() {
  return parse_problem(embedded_default_config(), "<embedded default: configs/quick1d.toml>");
}

}  // namespace patchlearn
