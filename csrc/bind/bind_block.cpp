// Block projection / promotion and the coarse one-hop stencil.
#include "bind/array.h"
#include "dispatch/instances.h"

namespace {
using namespace gn;

struct BlockBufs {
  Buf bsites, bof, basis, in, out;
  bool dev = false, dbl = true, bf16 = false;
};

BlockBufs block_bufs(py::object block_sites, py::object block_of, py::object basis, py::object in, py::object out) {
  BlockBufs b;
  b.bsites = get_buf(block_sites, false, "block_sites");
  b.bof = get_buf(block_of, false, "block_of");
  b.basis = get_buf(basis, false, "basis");
  b.in = get_buf(in, false, "in");
  b.out = get_buf(out, true, "out");
  b.dev = same_device({&b.bsites, &b.bof, &b.basis, &b.in, &b.out});
  require(b.bsites.kind == Kind::i32 && b.bof.kind == Kind::i32, "block tables must be int32");
  b.bf16 = b.basis.kind == Kind::u16;
  if (b.bf16) {  // a bfloat16 basis (CPU): the precision is the fields'
    require(!b.dev, "block: a bfloat16 basis is a CPU format (numpy arrays)");
    b.dbl = is_double(b.in, "in");
  } else {
    b.dbl = is_double(b.basis, "basis");
    same_kind(b.basis, b.in, "basis", "in");
  }
  same_kind(b.in, b.out, "in", "out");
  return b;
}

template <class T>
BlockArgs<T> block_args(const BlockBufs &b, int64_t Vc, int64_t Vf, int nb, int S, int nrhs) {
  const int64_t es = sizeof(cx<T>);
  require(Vc > 0 && Vf % Vc == 0, "block: fine volume must be a multiple of the coarse volume");
  const int64_t bs = Vf / Vc;
  require_size(b.bsites, Vc * bs * 4, "block_sites");
  require_size(b.bof, Vf * 4, "block_of");
  if (b.bf16) {
    require((S == 12 || S == 8) && 2 * nb * S <= ProjectKernel<T>::MAXR,
            "block: a bfloat16 basis needs 4 N = 8 or 12 elements per site and 2 n_basis S <= 2048");
    require_size(b.basis, Vf * nb * S * 4, "basis");
  } else {
    require_size(b.basis, Vf * nb * S * es, "basis");
  }
  BlockArgs<T> a{b.bsites.as<const int32_t>(), b.bof.as<const int32_t>(),
                 b.bf16 ? nullptr : b.basis.as<const cx<T>>(), b.in.as<const cx<T>>(), b.out.as<cx<T>>(),
                 Vc, Vf, bs, nb, S, nrhs};
  a.basis16 = b.bf16 ? b.basis.as<const uint16_t>() : nullptr;
  return a;
}

// project: fine -> coarse (R); promote: coarse -> fine (P = R^dag)
template <class T>
void block_typed(const BlockBufs &b, int64_t Vc, int64_t Vf, int nb, int S, int nrhs, bool project) {
  auto a = block_args<T>(b, Vc, Vf, nb, S, nrhs);
  const int64_t fine = Vf * nrhs * S * (int64_t)sizeof(cx<T>), coarse = Vc * nrhs * nb * (int64_t)sizeof(cx<T>);
  require_size(b.in, project ? fine : coarse, "in");
  require_size(b.out, project ? coarse : fine, "out");
#ifdef GN_HAVE_CUDA
  if (b.dev) { project ? block_project_run<CudaExec, T>(a) : block_promote_run<CudaExec, T>(a); return; }
#endif
  py::gil_scoped_release nogil;
  project ? block_project_run<CpuExec, T>(a) : block_promote_run<CpuExec, T>(a);
}

void block_project(py::object out, py::object in, py::object basis, py::object block_sites, py::object block_of,
                   int64_t Vc, int64_t Vf, int nb, int S, int nrhs) {
  BlockBufs b = block_bufs(block_sites, block_of, basis, in, out);
  if (b.dbl) block_typed<double>(b, Vc, Vf, nb, S, nrhs, true);
  else block_typed<float>(b, Vc, Vf, nb, S, nrhs, true);
}

void block_promote(py::object out, py::object in, py::object basis, py::object block_sites, py::object block_of,
                   int64_t Vc, int64_t Vf, int nb, int S, int nrhs) {
  BlockBufs b = block_bufs(block_sites, block_of, basis, in, out);
  if (b.dbl) block_typed<double>(b, Vc, Vf, nb, S, nrhs, false);
  else block_typed<float>(b, Vc, Vf, nb, S, nrhs, false);
}

template <class T>
void coarse_hop_typed(Buf &o, Buf &i, Buf &ih, Buf &A, Buf &nbr, Buf &st, unsigned mask, int n, int nrhs, int64_t V,
                      int64_t Vh, bool acc, bool dev) {
  CoarseHopArgs<T> a;
  a.out = o.as<cx<T>>();
  a.in = {i.as<const cx<T>>(), ih.present ? ih.as<const cx<T>>() : nullptr, V, (int64_t)nrhs * n};
  a.A = A.as<const cx<T>>();
  a.nbr = nbr.as<const int32_t>();
  a.sites.idx = st.present ? st.as<const int32_t>() : nullptr;
  a.sites.n = st.present ? st.nbytes / 4 : V;
  a.hop_mask = mask;
  a.n = n;
  a.nrhs = nrhs;
  a.accumulate = acc ? 1 : 0;
#ifdef GN_HAVE_CUDA
  if (dev) { coarse_hop_run<CudaExec, T>(a); return; }
#endif
  (void)dev;
  py::gil_scoped_release nogil;
  coarse_hop_run<CpuExec, T>(a);
}

void coarse_hop(py::object out, py::object in, py::object in_halo, py::object A, py::object nbr, py::object sites,
                unsigned hop_mask, int n, int nrhs, int64_t V, int64_t Vh, bool accumulate) {
  Buf o = get_buf(out, true, "out"), i = get_buf(in, false, "in"), ih = get_buf(in_halo, false, "in_halo", true);
  Buf a = get_buf(A, false, "A"), nb = get_buf(nbr, false, "nbr"), st = get_buf(sites, false, "sites", true);
  bool dev = same_device({&o, &i, &ih, &a, &nb, &st});
  bool dbl = is_double(o, "out");
  same_kind(o, i, "out", "in");
  same_kind(o, ih, "out", "in_halo");
  same_kind(o, a, "out", "A");
  require(nb.kind == Kind::i32, "neighbour table must be int32");
  require(hop_mask < (1u << 9), "coarse_hop: hop_mask has bits beyond the 9 hops");
  const int64_t es = dbl ? 16 : 8;
  require_size(o, V * nrhs * n * es, "out");
  require_size(i, V * nrhs * n * es, "in");
  require(Vh == 0 || ih.present, "halo sites exist but no input halo given");
  require_size(ih, Vh * nrhs * n * es, "in_halo");
  require_size(a, V * 9 * (int64_t)n * n * es, "A");
  require_size(nb, V * 8 * 4, "nbr");
  if (dbl) coarse_hop_typed<double>(o, i, ih, a, nb, st, hop_mask, n, nrhs, V, Vh, accumulate, dev);
  else coarse_hop_typed<float>(o, i, ih, a, nb, st, hop_mask, n, nrhs, V, Vh, accumulate, dev);
}
}  // namespace

void bind_block(py::module_ &m) {
  m.def("block_project", &block_project, py::arg("out"), py::arg("in_"), py::arg("basis"), py::arg("block_sites"),
        py::arg("block_of"), py::arg("Vc"), py::arg("Vf"), py::arg("nb"), py::arg("S"), py::arg("nrhs"),
        "restriction c[y,r,i] = sum_{x in B(y)} <u_i(x), f(x,r)>");
  m.def("block_promote", &block_promote, py::arg("out"), py::arg("in_"), py::arg("basis"), py::arg("block_sites"),
        py::arg("block_of"), py::arg("Vc"), py::arg("Vf"), py::arg("nb"), py::arg("S"), py::arg("nrhs"),
        "prolongation f[x,r] = sum_i u_i(x) c[y(x),r,i]");
  m.def("coarse_hop", &coarse_hop, py::arg("out"), py::arg("in_"), py::arg("in_halo"), py::arg("A"), py::arg("nbr"),
        py::arg("sites"), py::arg("hop_mask"), py::arg("n"), py::arg("nrhs"), py::arg("V"), py::arg("Vh"),
        py::arg("accumulate") = false, "coarse stencil out[y,r] (+)= sum_k A_k(y) in[y+k,r]");
}
