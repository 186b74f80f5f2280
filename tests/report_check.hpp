#pragma once
// Shared by the pipeline tests: run tools/report.py on a run directory, with the Python the program
// itself uses (report_python, pipeline/jobs.hpp), and check that every expected figure is a real PNG
// with content (not a blank canvas: > 10 kB).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "patchlearn/pipeline/jobs.hpp"

namespace patchlearn::testing_support {

inline void expect_report_figures(const std::string& dir, std::initializer_list<const char*> pngs) {
  const std::string cmd =
      report_python() + " " + std::string(PATCHLEARN_SOURCE_DIR) + "/tools/report.py " + dir + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (const char* png : pngs) {
    const auto path = std::filesystem::path(dir) / "figures" / png;
    ASSERT_TRUE(std::filesystem::exists(path)) << png;
    std::ifstream f(path, std::ios::binary);
    char sig[8] = {};
    f.read(sig, 8);
    EXPECT_EQ(std::string(sig + 1, 3), "PNG") << png;
    EXPECT_GT(std::filesystem::file_size(path), 10000u) << png;
  }
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / "report.md"));
}

}  // namespace patchlearn::testing_support
