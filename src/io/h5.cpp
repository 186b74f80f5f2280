#include "patchlearn/io/h5.hpp"

#include <hdf5.h>

#include <cstdio>

#include "patchlearn/core/error.hpp"

namespace patchlearn {
namespace {

struct Silence {  // keep HDF5's own stack dumps off the terminal; we report one line ourselves
  Silence() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const Silence silence;

void check(herr_t r, const std::string& what) {
  if (r < 0) throw RunError("HDF5: " + what + " failed");
}

}  // namespace

H5Writer::H5Writer(const std::string& path) : path_(path), partial_(path + ".partial") {
  file_ = H5Fcreate(partial_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file_ < 0) throw InputError("cannot create '" + partial_ + "' (is the output directory writable?)");
}

H5Writer::~H5Writer() {
  if (file_ >= 0) H5Fclose(file_);
  if (!committed_) std::remove(partial_.c_str());
}

void H5Writer::dataset(const std::string& name, const std::vector<index_t>& dims, const std::vector<double>& data) {
  std::vector<hsize_t> d(dims.begin(), dims.end());
  hid_t space = H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr);
  hid_t set = H5Dcreate2(file_, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = set >= 0 ? H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) : -1;
  if (set >= 0) H5Dclose(set);
  H5Sclose(space);
  check(r, "writing dataset " + name + " to " + partial_);
}

void H5Writer::attribute(const std::string& name, const std::string& value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.size() + 1);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(file_, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a >= 0 ? H5Awrite(a, type, value.c_str()) : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  check(r, "writing attribute " + name);
}

void H5Writer::attribute(const std::string& name, double value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(file_, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &value) : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  check(r, "writing attribute " + name);
}

void H5Writer::commit() {
  check(H5Fclose(file_), "closing " + partial_);
  file_ = -1;
  if (std::rename(partial_.c_str(), path_.c_str()) != 0) throw RunError("cannot move " + partial_ + " to " + path_);
  committed_ = true;
}

std::vector<double> h5_read(const std::string& path, const std::string& name, std::vector<index_t>* dims) {
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError("'" + path + "' is missing or not an HDF5 file");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw InputError("cannot open '" + path + "'");
  hid_t set = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  if (set < 0) {
    H5Fclose(f);
    throw InputError("'" + path + "' has no dataset '" + name + "'");
  }
  hid_t space = H5Dget_space(set), type = H5Dget_type(set);
  const bool is_float = H5Tget_class(type) == H5T_FLOAT;
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> d(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
  hsize_t count = 1;
  for (auto v : d) count *= v;
  std::vector<double> out(count);
  herr_t r = is_float ? H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) : -1;
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(set);
  H5Fclose(f);
  if (r < 0) throw InputError("'" + path + "': dataset '" + name + "' is not readable float data");
  if (dims) dims->assign(d.begin(), d.end());
  return out;
}

std::string h5_read_string_attribute(const std::string& path, const std::string& name) {
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError("'" + path + "' is missing or not an HDF5 file");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t a = f >= 0 ? H5Aopen(f, name.c_str(), H5P_DEFAULT) : -1;
  std::string value;
  bool ok = false;
  if (a >= 0) {
    hid_t type = H5Aget_type(a);
    if (H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type)) {
      value.resize(H5Tget_size(type));
      ok = H5Aread(a, type, value.data()) >= 0;
      value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
    }
    H5Tclose(type);
    H5Aclose(a);
  }
  if (f >= 0) H5Fclose(f);
  if (!ok) throw InputError("'" + path + "' has no string attribute '" + name + "'");
  return value;
}

}  // namespace patchlearn
