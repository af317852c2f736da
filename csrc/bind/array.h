// Accept numpy arrays (host) and cupy arrays (device, via __cuda_array_interface__)
// as raw pointers with their dtype and size checked, so every kernel binding
// dispatches to the backend that owns the memory.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace gn {

enum class Kind { c64, c128, i32, i64, f32, f64, u16, other };

struct Buf {
  void *ptr = nullptr;
  bool device = false;
  Kind kind = Kind::other;
  int64_t nbytes = 0;
  bool present = false;
  template <class E> E *as() const { return static_cast<E *>(ptr); }
};

inline Kind kind_from_typestr(const std::string &ts) {
  // numpy/cuda typestr like '<c16', '|i4' ...
  std::string t = ts.size() > 1 ? ts.substr(1) : ts;
  if (t == "c16") return Kind::c128;
  if (t == "c8") return Kind::c64;
  if (t == "i4") return Kind::i32;
  if (t == "i8") return Kind::i64;
  if (t == "f8") return Kind::f64;
  if (t == "f4") return Kind::f32;
  if (t == "u2") return Kind::u16;   // bfloat16 bit patterns (the block basis, kernels/block.h)
  return Kind::other;
}

inline Buf get_buf(py::handle obj, bool writable, const char *name, bool optional = false) {
  Buf b;
  if (obj.is_none()) {
    if (optional) return b;
    throw std::invalid_argument(std::string("gaugenet kernel: argument '") + name + "' must not be None");
  }
  b.present = true;
  if (py::hasattr(obj, "__cuda_array_interface__")) {
    py::dict cai = obj.attr("__cuda_array_interface__");
    py::tuple data = cai["data"];
    b.ptr = reinterpret_cast<void *>(data[0].cast<uintptr_t>());
    if (writable && data[1].cast<bool>())
      throw std::invalid_argument(std::string("gaugenet kernel: device array '") + name + "' is read-only");
    if (!cai.contains("strides") || !cai["strides"].is_none()) {
      // cupy reports strides=None for C-contiguous arrays
      if (cai.contains("strides") && !cai["strides"].is_none())
        throw std::invalid_argument(std::string("gaugenet kernel: device array '") + name + "' must be C-contiguous");
    }
    b.kind = kind_from_typestr(cai["typestr"].cast<std::string>());
    int64_t n = 1;
    for (auto s : cai["shape"].cast<py::tuple>()) n *= s.cast<int64_t>();
    int64_t isz = b.kind == Kind::c128 ? 16 : (b.kind == Kind::c64 || b.kind == Kind::f64 || b.kind == Kind::i64) ? 8 : b.kind == Kind::u16 ? 2 : 4;
    b.nbytes = n * isz;
    b.device = true;
    return b;
  }
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array>(obj))
    throw std::invalid_argument(std::string("gaugenet kernel: argument '") + name + "' must be a numpy or cupy array");
  if (!(arr.flags() & py::array::c_style))
    throw std::invalid_argument(std::string("gaugenet kernel: array '") + name + "' must be C-contiguous");
  if (writable && !arr.writeable())
    throw std::invalid_argument(std::string("gaugenet kernel: array '") + name + "' is read-only");
  b.ptr = const_cast<void *>(arr.data());
  b.nbytes = (int64_t)arr.nbytes();
  std::string ts = py::str(arr.dtype().attr("str"));
  b.kind = kind_from_typestr(ts);
  return b;
}

inline void require(bool ok, const std::string &msg) {
  if (!ok) throw std::invalid_argument("gaugenet kernel: " + msg);
}

inline void require_size(const Buf &b, int64_t need_bytes, const char *name) {
  if (b.present && b.nbytes < need_bytes)
    throw std::invalid_argument(std::string("gaugenet kernel: array '") + name + "' holds " +
                                std::to_string(b.nbytes) + " bytes, needs " + std::to_string(need_bytes));
}

// All present buffers must live on the same side; returns true for device.
inline bool same_device(std::initializer_list<const Buf *> bufs) {
  int dev = -1;
  for (auto *b : bufs) {
    if (!b->present) continue;
    int d = b->device ? 1 : 0;
    if (dev >= 0 && d != dev) throw std::invalid_argument("gaugenet kernel: host (numpy) and device (cupy) arrays mixed in one call");
    dev = d;
  }
  if (dev == 1) {
#ifndef GN_HAVE_CUDA
    throw std::runtime_error("gaugenet kernel: cupy arrays given but this build has no CUDA kernels (rebuild with GAUGENET_CUDA=ON)");
#endif
  }
  return dev == 1;
}

inline bool is_double(const Buf &b, const char *name) {
  if (b.kind == Kind::c128) return true;
  if (b.kind == Kind::c64) return false;
  throw std::invalid_argument(std::string("gaugenet kernel: array '") + name + "' must be complex64 or complex128");
}

inline void same_kind(const Buf &a, const Buf &b, const char *na, const char *nb) {
  if (b.present && a.kind != b.kind)
    throw std::invalid_argument(std::string("gaugenet kernel: arrays '") + na + "' and '" + nb + "' differ in precision");
}

void cuda_synchronize();

}  // namespace gn
