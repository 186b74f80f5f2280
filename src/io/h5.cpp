#include "patchlearn/io/h5.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include "patchlearn/core/durable.hpp"
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

// Attach a fixed-length string attribute to an object (the file's root group or a dataset).
herr_t put_string(hid_t obj, const std::string& name, const std::string& value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.size() + 1);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a >= 0 ? H5Awrite(a, type, value.c_str()) : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  return r;
}

// A fixed-length string attribute of an object; false when it has none.
bool get_string(hid_t obj, const std::string& name, std::string& value) {
  if (H5Aexists(obj, name.c_str()) <= 0) return false;
  hid_t a = H5Aopen(obj, name.c_str(), H5P_DEFAULT);
  if (a < 0) return false;
  bool ok = false;
  hid_t type = H5Aget_type(a);
  if (H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type)) {
    value.assign(H5Tget_size(type), '\0');
    ok = H5Aread(a, type, value.data()) >= 0;
    value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
  }
  H5Tclose(type);
  H5Aclose(a);
  return ok;
}

std::string data_checksum(const std::vector<double>& data) {
  return checksum_hex(checksum64(data.data(), data.size() * sizeof(double)));
}

// Opens an existing HDF5 file read-only; InputError naming the file when it is missing, not HDF5,
// or damaged past opening (a truncated file).
class ReadFile {
 public:
  explicit ReadFile(const std::string& path) {
    if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError("'" + path + "' is missing or not an HDF5 file");
    id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) throw InputError("'" + path + "' cannot be opened: the HDF5 file is truncated or damaged");
  }
  ~ReadFile() { H5Fclose(id); }
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;
  hid_t id = -1;
};

}  // namespace

H5Writer::H5Writer(const std::string& path) : path_(path), partial_(path + ".partial") {
  // The file is assembled in memory and written in one piece on commit(); fail now, not after the
  // run, when the output folder is not writable.
  const int fd = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw InputError("cannot create '" + partial_ + "' (is the output directory writable?)");
  ::close(fd);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 1 << 20, 0);  // in memory, no backing store
  file_ = H5Fcreate(partial_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (file_ < 0) {
    remove_quietly(partial_);
    throw RunError("HDF5: cannot create an in-memory file for '" + path_ + "'");
  }
}

H5Writer::~H5Writer() {
  if (file_ >= 0) H5Fclose(file_);  // in memory: nothing is written, nothing can fail on disk
  if (!committed_) remove_quietly(partial_);
}

void H5Writer::dataset(const std::string& name, const std::vector<index_t>& dims, const std::vector<double>& data) {
  std::vector<hsize_t> d(dims.begin(), dims.end());
  hid_t space = H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr);
  hid_t set = H5Dcreate2(file_, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = set >= 0 ? H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) : -1;
  if (r >= 0) r = put_string(set, "checksum", data_checksum(data));
  if (set >= 0) H5Dclose(set);
  H5Sclose(space);
  check(r, "writing dataset " + name + " of " + path_);
}

void H5Writer::attribute(const std::string& name, const std::string& value) {
  check(put_string(file_, name, value), "writing attribute " + name + " of " + path_);
}

void H5Writer::attribute(const std::string& name, double value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(file_, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &value) : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  check(r, "writing attribute " + name + " of " + path_);
}

void H5Writer::commit() {
  check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "flushing " + path_);
  const ssize_t size = H5Fget_file_image(file_, nullptr, 0);
  if (size <= 0) throw RunError("HDF5: cannot take the image of " + path_);
  std::vector<char> image(static_cast<std::size_t>(size));
  if (H5Fget_file_image(file_, image.data(), image.size()) != size)
    throw RunError("HDF5: cannot take the image of " + path_);
  H5Fclose(file_);
  file_ = -1;
  write_file_durably(partial_, path_, image.data(), image.size());
  committed_ = true;
}

std::vector<double> h5_read(const std::string& path, const std::string& name, std::vector<index_t>* dims) {
  ReadFile f(path);
  hid_t set = H5Dopen2(f.id, name.c_str(), H5P_DEFAULT);
  if (set < 0) throw InputError("'" + path + "' has no dataset '" + name + "'");
  hid_t space = H5Dget_space(set), type = H5Dget_type(set);
  const bool is_float = H5Tget_class(type) == H5T_FLOAT;
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> d(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
  hsize_t count = 1;
  for (auto v : d) count *= v;
  std::vector<double> out(count);
  herr_t r = is_float ? H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) : -1;
  std::string stored;
  const bool has_checksum = r >= 0 && get_string(set, "checksum", stored);
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(set);
  if (r < 0)
    throw InputError("'" + path + "': dataset '" + name + "' is not readable float data (damaged or truncated file?)");
  // Files written before checksums were stored have none; those are read as they are.
  if (has_checksum && stored != data_checksum(out))
    throw InputError(
        "'" + path + "': dataset '" + name +
        "' does not match its checksum (the file is damaged); delete it and run the command that wrote it again");
  if (dims) dims->assign(d.begin(), d.end());
  return out;
}

std::vector<double> h5_read_finite(const std::string& path, const std::string& name, std::vector<index_t>* dims) {
  std::vector<index_t> d;
  auto v = h5_read(path, name, &d);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) continue;
    std::string at;  // the element's index, e.g. [2, 17, 5]
    std::size_t rest = i;
    for (std::size_t k = d.size(); k-- > 0;) {
      at = std::to_string(rest % static_cast<std::size_t>(d[k])) + (at.empty() ? "" : ", ") + at;
      rest /= static_cast<std::size_t>(d[k]);
    }
    throw InputError("'" + path + "': dataset '" + name + "' holds " +
                     (std::isnan(v[i]) ? "NaN" : "an infinite value") + " at [" + at +
                     "]; the data cannot be used (re-run the simulation)");
  }
  if (dims) *dims = d;
  return v;
}

std::string h5_read_string_attribute(const std::string& path, const std::string& name) {
  ReadFile f(path);
  std::string value;
  if (!get_string(f.id, name, value)) throw InputError("'" + path + "' has no string attribute '" + name + "'");
  return value;
}

double h5_read_number_attribute(const std::string& path, const std::string& name) {
  ReadFile f(path);
  double value = 0.0;
  herr_t r = -1;
  if (H5Aexists(f.id, name.c_str()) > 0) {
    hid_t a = H5Aopen(f.id, name.c_str(), H5P_DEFAULT);
    if (a >= 0) {
      hid_t type = H5Aget_type(a);
      if (H5Tget_class(type) == H5T_FLOAT || H5Tget_class(type) == H5T_INTEGER)
        r = H5Aread(a, H5T_NATIVE_DOUBLE, &value);
      H5Tclose(type);
      H5Aclose(a);
    }
  }
  if (r < 0) throw InputError("'" + path + "' has no numeric attribute '" + name + "'");
  return value;
}

}  // namespace patchlearn
