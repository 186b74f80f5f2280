#pragma once
// Minimal HDF5 store. A writer builds the file in memory (HDF5's core driver) and on commit()
// writes it to "<path>.partial", flushes it to the disk and renames it to <path>
// (core/durable.hpp), so an interrupted or failed run never leaves a file that looks complete and
// a full disk is a one-line RunError naming the file, never a crash inside HDF5; without commit()
// nothing is left behind. Datasets are float64, readable by h5py and xarray; each carries a
// "checksum" attribute (core/durable.hpp: checksum64 of its values) that the reader verifies.
#include <cstdint>
#include <string>
#include <vector>

#include "patchlearn/core/defs.hpp"

namespace patchlearn {

class H5Writer {
 public:
  /// Checks at once that "<path>.partial" can be created (InputError otherwise).
  explicit H5Writer(const std::string& path);
  ~H5Writer();  ///< never throws; removes the partial file unless committed
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  void dataset(const std::string& name, const std::vector<index_t>& dims, const std::vector<double>& data);
  void attribute(const std::string& name, const std::string& value);
  void attribute(const std::string& name, double value);
  /// Write the file durably; RunError ("cannot write PATH: … (disk full?)") when it cannot.
  void commit();

 private:
  std::string path_, partial_;
  long long file_ = -1;
  bool committed_ = false;
};

/// Read a float64 dataset; dims receives its shape. InputError if missing, not float64, or its
/// values do not match its stored checksum.
std::vector<double> h5_read(const std::string& path, const std::string& name, std::vector<index_t>* dims = nullptr);
/// h5_read, and InputError naming the dataset and the first bad element's index when any value
/// is NaN or infinite.
std::vector<double> h5_read_finite(const std::string& path, const std::string& name,
                                   std::vector<index_t>* dims = nullptr);
/// Read a string attribute of the root group.
std::string h5_read_string_attribute(const std::string& path, const std::string& name);
/// Read a numeric attribute of the root group.
double h5_read_number_attribute(const std::string& path, const std::string& name);

}  // namespace patchlearn
