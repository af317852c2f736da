#include "bind/common_args.h"
#include "dispatch/instances.h"

namespace {
using namespace gn;

template <class Exec, class T>
void wilson_dispatch(const WilsonArgs<T> &a, int N, bool dagger) {
  if (N == 3) dagger ? wilson_run<Exec, 3, 1, T>(a) : wilson_run<Exec, 3, -1, T>(a);
  else if (N == 2) dagger ? wilson_run<Exec, 2, 1, T>(a) : wilson_run<Exec, 2, -1, T>(a);
  else throw std::invalid_argument("gaugenet wilson: N must be 2 or 3");
}

template <class T>
void wilson_typed(const StencilBufs &s, const Buf &clover, const BackLinks &back, const Buf &site, double diag,
                  double hop_coef, int nrhs, int N, bool dagger) {
  WilsonArgs<T> a;
  a.out = s.out.as<cx<T>>();
  fill_common<T>(s, N, (int64_t)nrhs * 4 * N, a.in, a.U);
  fill_back<T>(s, back, N, a.U, a.Ub);
  a.site_in = site.present ? site.as<const cx<T>>() : a.in.local;
  a.nbr = s.nbr.as<const int32_t>();
  a.sites = site_list<T>(s);
  a.clover = clover.present ? clover.as<const cx<T>>() : nullptr;
  a.diag = (T)diag;
  a.hop_coef = (T)hop_coef;
  a.nrhs = nrhs;
#ifdef GN_HAVE_CUDA
  if (s.dev) { wilson_dispatch<CudaExec, T>(a, N, dagger); return; }
#endif
  py::gil_scoped_release nogil;
  wilson_dispatch<CpuExec, T>(a, N, dagger);
}

void wilson(py::object out, py::object in, py::object in_halo, py::object U, py::object U_halo, py::object nbr,
            py::object sites, py::object clover, double diag, double hop_coef, int nrhs, int N, int64_t V, int64_t Vh,
            bool dagger, py::object U_back, py::object U_back_halo, py::object site_in) {
  require(nrhs > 0, "wilson: nrhs must be positive");
  StencilBufs s = stencil_bufs(out, in, in_halo, U, U_halo, nbr, sites, V, Vh, (int64_t)nrhs * 4 * N,
                               (int64_t)nrhs * 4 * N, N);
  require(s.out.ptr != s.in.ptr, "wilson: out must not alias in");
  Buf c = get_buf(clover, false, "clover", true);
  same_device({&s.out, &c});
  same_kind(s.out, c, "out", "clover");
  require_size(c, V * 2LL * 4 * N * N * (s.dbl ? 16 : 8), "clover");
  const BackLinks back = back_links(s, U_back, U_back_halo, N, "wilson");
  // the spinor of the site term (default: in itself)
  Buf si = get_buf(site_in, false, "site_in", true);
  if (si.present) {
    same_device({&s.out, &si});
    same_kind(s.out, si, "out", "site_in");
    require_size(si, V * (int64_t)nrhs * 4 * N * (s.dbl ? 16 : 8), "site_in");
    require(si.ptr != s.out.ptr, "wilson: out must not alias site_in");
  }
  if (s.dbl) wilson_typed<double>(s, c, back, si, diag, hop_coef, nrhs, N, dagger);
  else wilson_typed<float>(s, c, back, si, diag, hop_coef, nrhs, N, dagger);
}
}  // namespace

void bind_wilson(py::module_ &m) {
  m.def("wilson", &wilson, py::arg("out"), py::arg("in_"), py::arg("in_halo"), py::arg("U"), py::arg("U_halo"),
        py::arg("nbr"), py::arg("sites"), py::arg("clover"), py::arg("diag"), py::arg("hop_coef"), py::arg("nrhs"),
        py::arg("N"), py::arg("V"), py::arg("Vh"), py::arg("dagger") = false, py::arg("U_back") = py::none(), py::arg("U_back_halo") = py::none(),
        py::arg("site_in") = py::none(),
        "Wilson(-clover): out = Diag psi + hop_coef sum_mu [(1 -+ g_mu) U psi(x+mu) + (1 +- g_mu) U^dag psi(x-mu)];\n"
        "U_back/U_back_halo: the links of the backward hops (default U/U_halo; the even-odd half-lattice operators\n"
        "pass the other parity's links there); site_in: the spinor the site term (Diag) multiplies (default psi)");
}
