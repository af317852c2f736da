#include "bind/common_args.h"
#include "dispatch/instances.h"
#include <string>

namespace {
using namespace gn;

template <class Exec, class T>
void hop_dispatch(const HopArgs<T> &a, int N, int ns) {
  if (N == 3 && ns == 4) hop_run<Exec, 3, 4, T>(a);
  else if (N == 3 && ns == 1) hop_run<Exec, 3, 1, T>(a);
  else if (N == 2 && ns == 4) hop_run<Exec, 2, 4, T>(a);
  else if (N == 2 && ns == 1) hop_run<Exec, 2, 1, T>(a);
  else throw std::invalid_argument("gaugenet hop: supported are N in {2, 3} and ns in {1, 4}");
}

template <class T>
void hop_typed(const StencilBufs &s, const Buf &W, const BackLinks &back, int w_per_site, unsigned mask, int nrhs, int nin,
               int nout, int ns, int N, bool acc) {
  HopArgs<T> a;
  a.out = s.out.as<cx<T>>();
  fill_common<T>(s, N, (int64_t)nrhs * nin * ns * N, a.in, a.U);
  fill_back<T>(s, back, N, a.U, a.Ub);
  a.nbr = s.nbr.as<const int32_t>();
  a.sites = site_list<T>(s);
  a.W = W.as<const cx<T>>();
  a.w_per_site = w_per_site;
  a.hop_mask = mask;
  a.nrhs = nrhs;
  a.nin = nin;
  a.nout = nout;
  a.accumulate = acc ? 1 : 0;
#ifdef GN_HAVE_CUDA
  if (s.dev) { hop_dispatch<CudaExec, T>(a, N, ns); return; }
#endif
  py::gil_scoped_release nogil;
  hop_dispatch<CpuExec, T>(a, N, ns);
}

void hop(py::object out, py::object in, py::object in_halo, py::object U, py::object U_halo, py::object nbr,
         py::object sites, py::object W, bool w_per_site, unsigned hop_mask, int nrhs, int nin, int nout, int ns, int N,
         int64_t V, int64_t Vh, bool accumulate, py::object U_back, py::object U_back_halo) {
  require(nrhs > 0 && nin > 0 && nout > 0, "hop: nrhs, nin, nout must be positive");
  require(hop_mask < (1u << 9), "hop: hop_mask has bits beyond the 9 hops");
  StencilBufs s = stencil_bufs(out, in, in_halo, U, U_halo, nbr, sites, V, Vh, (int64_t)nrhs * nin * ns * N,
                               (int64_t)nrhs * nout * ns * N, N);
  Buf w = get_buf(W, false, "W");
  same_device({&s.out, &w});
  same_kind(s.out, w, "out", "W");
  require_size(w, (w_per_site ? V : 1) * 9LL * nout * nin * ns * ns * (s.dbl ? 16 : 8), "W");
  const BackLinks back = back_links(s, U_back, U_back_halo, N, "hop");
  if (s.dbl) hop_typed<double>(s, w, back, w_per_site, hop_mask, nrhs, nin, nout, ns, N, accumulate);
  else hop_typed<float>(s, w, back, w_per_site, hop_mask, nrhs, nin, nout, ns, N, accumulate);
}
template <class T>
void hop_grad_typed(const StencilBufs &s, const Buf &W, const Buf &site, const Buf &G, unsigned mask, int nrhs, int nin,
                    int nout, int N, bool acc) {
  HopGradArgs<T> g;
  HopArgs<T> &a = g.h;
  a.out = s.out.as<cx<T>>();
  fill_common<T>(s, N, (int64_t)nrhs * nin * 4 * N, a.in, a.U);
  fill_back<T>(s, BackLinks{}, N, a.U, a.Ub);
  a.nbr = s.nbr.as<const int32_t>();
  a.sites = site_list<T>(s);
  a.W = W.as<const cx<T>>();
  a.w_per_site = 0;
  a.hop_mask = mask;
  a.nrhs = nrhs;
  a.nin = nin;
  a.nout = nout;
  a.accumulate = acc ? 1 : 0;
  g.site = site.as<const cx<T>>();
  g.G = G.as<double>();
  py::gil_scoped_release nogil;
  if (N == 3) hop_grad_run<3, T>(g);
  else hop_grad_run<2, T>(g);
}

void hop_grad(py::object out, py::object in, py::object in_halo, py::object U, py::object U_halo, py::object nbr,
              py::object sites, py::object W, unsigned hop_mask, int nrhs, int nin, int nout, int N, int64_t V,
              int64_t Vh, py::object site, py::object G, bool accumulate) {
  require(nrhs > 0 && nin > 0 && nout > 0, "hop_grad: nrhs, nin, nout must be positive");
  require(hop_mask < (1u << 9), "hop_grad: hop_mask has bits beyond the 9 hops");
  require(N == 2 || N == 3, "hop_grad: supported are N in {2, 3}");
  StencilBufs s = stencil_bufs(out, in, in_halo, U, U_halo, nbr, sites, V, Vh, (int64_t)nrhs * nin * 4 * N,
                               (int64_t)nrhs * nout * 4 * N, N);
  Buf w = get_buf(W, false, "W");
  Buf f = get_buf(site, false, "site");
  Buf g = get_buf(G, true, "G");
  require(!same_device({&s.out, &w, &f, &g}), "hop_grad: CPU (numpy) arrays only");
  same_kind(s.out, w, "out", "W");
  same_kind(s.out, f, "out", "site");
  require(g.kind == Kind::c128, "hop_grad: G must be complex128");
  require_size(w, 9LL * nout * nin * 16 * (s.dbl ? 16 : 8), "W");
  require_size(f, V * (int64_t)nrhs * nout * 4 * N * (s.dbl ? 16 : 8), "site");
  require_size(g, 9LL * nin * nout * 16 * 16, "G");
  if (s.dbl) hop_grad_typed<double>(s, w, f, g, hop_mask, nrhs, nin, nout, N, accumulate);
  else hop_grad_typed<float>(s, w, f, g, hop_mask, nrhs, nin, nout, N, accumulate);
}

std::string hop_variant(py::object name) {
  if (!name.is_none()) {
    const std::string v = name.cast<std::string>();
    if (v == "generic") hop_cpu_variant() = 0;
    else if (v == "simd") {
      require(GN_SIMD8, "hop_variant: this build has no SIMD one-hop kernel (it needs AVX-512 at compile time)");
      hop_cpu_variant() = 1;
    } else {
      throw std::invalid_argument("gaugenet kernel: hop_variant must be 'simd' or 'generic', got '" + v + "'");
    }
  }
  return (GN_SIMD8 && hop_cpu_variant() == 1) ? "simd" : "generic";
}
}  // namespace

void bind_hop(py::module_ &m) {
  m.def("hop", &hop, py::arg("out"), py::arg("in_"), py::arg("in_halo"), py::arg("U"), py::arg("U_halo"),
        py::arg("nbr"), py::arg("sites"), py::arg("W"), py::arg("w_per_site"), py::arg("hop_mask"), py::arg("nrhs"),
        py::arg("nin"), py::arg("nout"), py::arg("ns"), py::arg("N"), py::arg("V"), py::arg("Vh"),
        py::arg("accumulate") = false, py::arg("U_back") = py::none(), py::arg("U_back_halo") = py::none(),
        "generic one-hop stencil out[x,r,a] (+)= sum_k sum_b W_k[a,b] U_k(x) in[x+k,r,b] (see kernels/hop.h);\n"
        "U_back/U_back_halo: the links of the backward hops (default U/U_halo; the even-odd half lattices)");
  m.def("hop_grad", &hop_grad, py::arg("out"), py::arg("in_"), py::arg("in_halo"), py::arg("U"), py::arg("U_halo"),
        py::arg("nbr"), py::arg("sites"), py::arg("W"), py::arg("hop_mask"), py::arg("nrhs"), py::arg("nin"),
        py::arg("nout"), py::arg("N"), py::arg("V"), py::arg("Vh"), py::arg("site"), py::arg("G"),
        py::arg("accumulate") = false,
        "one-hop stencil (ns = 4, global weights) fused with the PTC weight gradient: out as core.hop, and "
        "G[k, i, o] += sum_x sum_r (U_k in_i)(x) site_o(x)^dag, summed over colour (see kernels/hop_grad.h; CPU only)");
  m.def("hop_variant", &hop_variant, py::arg("name") = py::none(),
        "the CPU one-hop kernel in use for ns = 4 and ns = 1: 'simd' (eight sites per step, AVX-512) or 'generic' "
        "(site by site); pass a name to switch (for benchmarks and cross-checks)");
}
