#pragma once
// Minimal HDF5 store. A writer fills "<path>.partial" and renames it to <path> on commit(), so an
// interrupted or failed run never leaves a file that looks complete; without commit() the partial
// file is removed. Datasets are float64, readable by h5py and xarray.
#include <string>
#include <vector>

#include "patchlearn/core/defs.hpp"

namespace patchlearn {

class H5Writer {
 public:
  explicit H5Writer(const std::string& path);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  void dataset(const std::string& name, const std::vector<index_t>& dims, const std::vector<double>& data);
  void attribute(const std::string& name, const std::string& value);
  void attribute(const std::string& name, double value);
  void commit();

 private:
  std::string path_, partial_;
  long long file_ = -1;
  bool committed_ = false;
};

/// Read a float64 dataset; dims receives its shape. InputError if missing or not float64.
std::vector<double> h5_read(const std::string& path, const std::string& name, std::vector<index_t>* dims = nullptr);
/// Read a string attribute of the root group.
std::string h5_read_string_attribute(const std::string& path, const std::string& name);

}  // namespace patchlearn
