#include "bench_table.hpp"

#include <fmt/format.h>

namespace patchlearn::cli {

std::string bench_table(const nlohmann::json& r) {
  const bool two_d = r["dimension"] == 2;
  std::string o =
      fmt::format("patch: {}\nfull:  {}\n", r["patch_solver"].get<std::string>(), r["full_solver"].get<std::string>());
  if (r.contains("tolerances")) o += fmt::format("tolerances: {}\n", r["tolerances"].get<std::string>());
  o += fmt::format("matched accuracy: rMSE (eq. 24) vs the homogenized truth <= {}\n", r["rmse_target"].get<double>());
  o += fmt::format("{:<9} {:>11} {:>11} {:>9} {:>11} {:>11} {:>10} {:>10} {:>11} {:>11} {:>10} {:>15}\n",
                   two_d ? "lattice" : "eps", "patch s", "full s", "speedup", "patch pt-st", "full pt-st", "patch rMSE",
                   "full rMSE", "patch mem", "full mem", "nominal", two_d ? "tol patch/full" : "full rtol");
  const auto label = [](double v) { return fmt::format("{:.0e}", v); };
  std::string faster;
  for (const auto& e : r["sweep"]) {
    const std::string size = two_d ? fmt::format("{}^2", e["lattice"].get<int>()) : label(e["eps"]);
    if (e.value("full_faster", false)) faster += " " + size;
    if (e.contains("full_error")) {
      o += fmt::format("{:<9} {:>11.3f} {:>11} {:>9} {:>11.3e} {:>11} {:>10.2e}   full side: {}\n", size,
                       e["patch_wall_s"].get<double>(), "-", "-", e["patch_point_steps"].get<double>(), "-",
                       e["patch_rmse"].get<double>(), e["full_error"].get<std::string>());
      continue;
    }
    // The tolerances taken from the ladders (none for a fixed-step RK4).
    const auto taken = [&](const char* key) { return e.contains(key) ? label(e[key]) : std::string("-"); };
    const std::string tol = two_d ? taken("patch_tolerance") + "/" + taken("full_tolerance") : taken("full_rtol");
    o += fmt::format(
        "{:<9} {:>11.3f} {:>11.3f} {:>8.1f}x {:>11.3e} {:>11.3e} {:>10.2e} {:>10.2e} {:>8.1f} MB {:>8.1f} MB "
        "{:>9.3g}x {:>15}{}\n",
        size, e["patch_wall_s"].get<double>(), e["full_wall_s"].get<double>(), e["wall_ratio"].get<double>(),
        e["patch_point_steps"].get<double>(), e["full_point_steps"].get<double>(), e["patch_rmse"].get<double>(),
        e["full_rmse"].get<double>(), e["patch_peak_bytes"].get<double>() / 1e6,
        e["full_peak_bytes"].get<double>() / 1e6, e["nominal"]["ratio"].get<double>(), tol,
        e["matched"].get<bool>() ? "" : "  (accuracy not matched)");
  }
  const auto show = [](const nlohmann::json& v) {
    return v.is_null() ? std::string("n/a") : fmt::format("{:.6f}", v.get<double>());
  };
  o += fmt::format("cost exponents in eps (wall time): patch {}, full {}; point-steps: patch {}, full {}\n",
                   show(r["exponents"]["patch"]), show(r["exponents"]["full"]),
                   show(r["point_step_exponents"]["patch"]), show(r["point_step_exponents"]["full"]));
  o += faster.empty() ? "full resolution is not faster at any size of the sweep\n"
                      : "full resolution is faster at" + faster + "\n";
  o += "nominal: the paper's accounting, full-lattice over patch point-steps with one micro step per burst";
  o += two_d ? " (2D: the ratio of evolving points, as if both sides took the same steps)\n" : "\n";
  return o;
}

}  // namespace patchlearn::cli
