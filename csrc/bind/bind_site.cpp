// Site-local kernels (no neighbours): clover block multiply.
#include "bind/array.h"
#include "dispatch/instances.h"

namespace {
using namespace gn;

template <class T>
void clover_typed(const Buf &o, const Buf &i, const Buf &c, const Buf &st, int64_t V, int nrhs, int N, bool dev) {
  CloverArgs<T> a{o.as<cx<T>>(), i.as<const cx<T>>(), c.as<const cx<T>>(), SiteList{}, nrhs};
  a.sites.idx = st.present ? st.as<const int32_t>() : nullptr;
  a.sites.n = st.present ? st.nbytes / 4 : V;
#ifdef GN_HAVE_CUDA
  if (dev) { N == 3 ? clover_run<CudaExec, 3, T>(a) : clover_run<CudaExec, 2, T>(a); return; }
#endif
  (void)dev;
  py::gil_scoped_release nogil;
  N == 3 ? clover_run<CpuExec, 3, T>(a) : clover_run<CpuExec, 2, T>(a);
}

void clover_apply(py::object out, py::object in, py::object clover, py::object sites, int64_t V, int nrhs, int N) {
  Buf o = get_buf(out, true, "out"), i = get_buf(in, false, "in"), c = get_buf(clover, false, "clover");
  Buf st = get_buf(sites, false, "sites", true);
  bool dev = same_device({&o, &i, &c, &st});
  require(N == 2 || N == 3, "clover_apply: N must be 2 or 3");
  bool dbl = is_double(o, "out");
  same_kind(o, i, "out", "in");
  same_kind(o, c, "out", "clover");
  const int64_t es = dbl ? 16 : 8;
  require_size(o, V * nrhs * 4 * N * es, "out");
  require_size(i, V * nrhs * 4 * N * es, "in");
  require_size(c, V * 2 * 4 * N * N * es, "clover");
  if (dbl) clover_typed<double>(o, i, c, st, V, nrhs, N, dev);
  else clover_typed<float>(o, i, c, st, V, nrhs, N, dev);
}
}  // namespace

void bind_site(py::module_ &m) {
  m.def("clover_apply", &clover_apply, py::arg("out"), py::arg("in_"), py::arg("clover"), py::arg("sites"),
        py::arg("V"), py::arg("nrhs"), py::arg("N"), "out(x) = C(x) in(x) with two 2N x 2N chiral blocks per site");
}
