#include "bind/array.h"
#include "dispatch/instances.h"

namespace {
void gather(py::object local, py::object halo, py::object idx, py::object dst, int64_t V, int64_t Vh, int64_t nouter) {
  using namespace gn;
  Buf l = get_buf(local, false, "local"), h = get_buf(halo, false, "halo", true);
  Buf ix = get_buf(idx, false, "idx"), d = get_buf(dst, true, "dst");
  bool dev = same_device({&l, &h, &ix, &d});
  require(ix.kind == Kind::i32, "gather index must be int32");
  require(V > 0 && nouter > 0 && l.nbytes % (V * nouter * 8) == 0, "gather: local size not a multiple of V * nouter * 8 bytes");
  const int64_t site_bytes = l.nbytes / (V * nouter);
  const int64_t n = ix.nbytes / 4;
  require_size(d, n * nouter * site_bytes, "dst");
  require_size(h, Vh * nouter * site_bytes, "halo");
  GatherKernel k{l.as<uint64_t>(), h.present ? h.as<uint64_t>() : nullptr, d.as<uint64_t>(), ix.as<int32_t>(),
                 n, V, Vh, site_bytes / 8, nouter};
  if (n == 0) return;
#ifdef GN_HAVE_CUDA
  if (dev) { gather_run<CudaExec>(k); return; }
#endif
  (void)dev;
  py::gil_scoped_release nogil;
  gather_run<CpuExec>(k);
}
}  // namespace

void bind_halo(py::module_ &m) {
  m.def("gather", &gather, py::arg("local"), py::arg("halo"), py::arg("idx"), py::arg("dst"), py::arg("V"),
        py::arg("Vh"), py::arg("nouter") = 1,
        "dst[o, j] = field[o, idx[j]] for whole sites; index >= V reads halo[o, idx - V] (pack faces, shifts)");
}
