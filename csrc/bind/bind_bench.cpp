// Benchmark helpers: the STREAM triad (bandwidth reference of the roofline in gaugenet.bench).
#include "bind/array.h"
#include <string>
#include "dispatch/instances.h"

namespace {
using namespace gn;

template <class T>
void triad_typed(const Buf &a, const Buf &b, const Buf &c, double s, int64_t n, bool dev) {
  TriadArgs<T> t{a.as<T>(), b.as<const T>(), c.as<const T>(), (T)s, n};
#ifdef GN_HAVE_CUDA
  if (dev) { triad_run<CudaExec, T>(t); return; }
#endif
  (void)dev;
  py::gil_scoped_release nogil;
  triad_run<CpuExec, T>(t);
}

void stream_triad(py::object a, py::object b, py::object c, double s) {
  Buf A = get_buf(a, true, "a"), B = get_buf(b, false, "b"), C = get_buf(c, false, "c");
  bool dev = same_device({&A, &B, &C});
  require(A.kind == Kind::f64 || A.kind == Kind::f32, "stream_triad: arrays must be float64 or float32");
  same_kind(A, B, "a", "b");
  same_kind(A, C, "a", "c");
  require(A.nbytes == B.nbytes && A.nbytes == C.nbytes, "stream_triad: a, b, c must have the same size");
  require(A.ptr != B.ptr && A.ptr != C.ptr, "stream_triad: a must not alias b or c");
  if (A.kind == Kind::f64) triad_typed<double>(A, B, C, s, A.nbytes / 8, dev);
  else triad_typed<float>(A, B, C, s, A.nbytes / 4, dev);
}

double scattered_read_py(py::object a, py::object order, int64_t chunk, int prefetch) {
  Buf A = get_buf(a, false, "a"), O = get_buf(order, false, "order");
  require(!A.device && !O.device, "scattered_read: CPU arrays only (it measures the host's memory)");
  require(A.kind == Kind::f64, "scattered_read: a must be float64");
  require(O.kind == Kind::i64, "scattered_read: order must be int64");
  require(chunk > 0 && chunk % 32 == 0, "scattered_read: chunk must be a positive multiple of 32 doubles");
  require(prefetch >= 0, "scattered_read: prefetch must be >= 0 chunks");
  const int64_t nchunks = (A.nbytes / 8) / chunk, n = O.nbytes / 8;
  require(nchunks > 0, "scattered_read: a is shorter than one chunk");
  int64_t bad = 0;
  double sum;
  {
    py::gil_scoped_release nogil;
    sum = gn::scattered_read(A.as<const double>(), nchunks, O.as<const int64_t>(), n, chunk, prefetch, &bad);
  }
  require(bad == 0, "scattered_read: order holds a chunk index outside the array");
  return sum;
}

std::string wilson_variant(py::object name) {
  if (!name.is_none()) {
    const std::string v = name.cast<std::string>();
    if (v == "generic") wilson_cpu_variant() = 0;
    else if (v == "simd") {
      require(GN_SIMD8, "wilson_variant: this build has no SIMD Wilson kernel (it needs AVX-512 at compile time)");
      wilson_cpu_variant() = 1;
    } else {
      throw std::invalid_argument("gaugenet kernel: wilson_variant must be 'simd' or 'generic', got '" + v + "'");
    }
  }
  return (GN_SIMD8 && wilson_cpu_variant() == 1) ? "simd" : "generic";
}

int64_t stream_store_bytes(py::object bytes) {
#if GN_SIMD8
  if (!bytes.is_none()) {
    const int64_t v = bytes.cast<int64_t>();
    require(v >= 0, "stream_store_bytes: the threshold must be >= 0 bytes");
    simd::stream_bytes() = v;
  }
  return simd::stream_bytes();
#else
  require(bytes.is_none(), "stream_store_bytes: this build has no SIMD stencil kernels");
  return -1;
#endif
}
}  // namespace

void bind_bench(py::module_ &m) {
  m.def("stream_triad", &stream_triad, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("s"),
        "STREAM triad a = b + s * c (OpenMP over elements; counted traffic 3 * itemsize per element)");
  m.def("scattered_read", &scattered_read_py, py::arg("a"), py::arg("order"), py::arg("chunk"), py::arg("prefetch") = 4,
        "read the float64 array a in chunks of `chunk` doubles (a multiple of 32) in the order of the int64 chunk "
        "indices `order`, each prefetched `prefetch` chunks ahead; returns the sum read (OpenMP over the order)");
  m.def("wilson_variant", &wilson_variant, py::arg("name") = py::none(),
        "the CPU Wilson kernel in use: 'simd' (eight sites per step, AVX-512) or 'generic' (site by site); "
        "pass a name to switch (for benchmarks and cross-checks)");
  m.def("stream_store_bytes", &stream_store_bytes, py::arg("bytes") = py::none(),
        "output size in bytes from which the SIMD Wilson and one-hop kernels write with streaming stores (and "
        "do not prefetch the output); pass a value to change it (tests, benchmarks); -1 without SIMD kernels");
}
