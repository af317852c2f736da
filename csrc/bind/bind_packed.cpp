// Bindings of the packed eight-site-block layout (kernels/pack.h) and of the Wilson(-clover) kernel
// on it (kernels/wilson_packed.h). CPU only; the kernel needs an AVX-512 build (packed_available()).
#include <pybind11/stl.h>
#include <pybind11/complex.h>
#include <complex>
#include "bind/array.h"
#include "kernels/pack.h"
#include "kernels/wilson_packed.h"
#include "kernels/onehop_packed.h"

namespace {
using namespace gn;

int64_t word_bytes(const Buf &b, const char *name) {
  switch (b.kind) {
    case Kind::c128: case Kind::f64: return 8;
    case Kind::c64: case Kind::f32: return 4;
    default: throw std::invalid_argument(std::string("gaugenet kernel: array '") + name + "' must be float or complex");
  }
}

// the two arrays of a layout conversion: host, same word size, whole sites of 8-site blocks
struct PackBufs {
  Buf a, b;
  int64_t R = 0, wb = 0;
};
PackBufs pack_bufs(py::object src, py::object dst, int64_t V, const char *what) {
  PackBufs p;
  p.a = get_buf(src, false, "src");
  p.b = get_buf(dst, true, "dst");
  require(!same_device({&p.a, &p.b}), std::string(what) + ": the packed layout is a CPU layout (numpy arrays)");
  p.wb = word_bytes(p.a, "src");
  require(word_bytes(p.b, "dst") == p.wb, std::string(what) + ": src and dst differ in precision");
  require(V > 0 && V % 8 == 0, std::string(what) + ": the number of sites must be a positive multiple of 8");
  require(p.a.nbytes % (V * p.wb) == 0, std::string(what) + ": src is not a whole number of words per site");
  p.R = p.a.nbytes / (V * p.wb);
  require(p.b.nbytes == p.a.nbytes, std::string(what) + ": src and dst differ in size");
  require(p.a.ptr != p.b.ptr, std::string(what) + ": src and dst must not alias");
  return p;
}

template <template <class> class K>
void convert(py::object src, py::object dst, int64_t V, const char *what) {
  PackBufs p = pack_bufs(src, dst, V, what);
  py::gil_scoped_release nogil;
  if (p.wb == 8) CpuExec::run(V / 8, K<uint64_t>{p.a.as<const uint64_t>(), p.b.as<uint64_t>(), p.R});
  else CpuExec::run(V / 8, K<uint32_t>{p.a.as<const uint32_t>(), p.b.as<uint32_t>(), p.R});
}

void pack8(py::object src, py::object dst, int64_t V) { convert<PackKernel>(src, dst, V, "pack8"); }
void unpack8(py::object src, py::object dst, int64_t V) { convert<UnpackKernel>(src, dst, V, "unpack8"); }

// a batch of nrhs packed vectors [V/8][nrhs][R1][8] <-> its vectors as rows of `rows` (row r at word r * rs; rs = 0:
// one after the other), which may be a strided view: rs and the start are taken from its buffer
Buf strided_rows(py::array rows, int nrhs, int64_t &rs, bool writable) {
  require(rows.ndim() == 2 && rows.shape(0) == nrhs, "packed_rhs: rows must be a 2D array of nrhs rows");
  require(rows.strides(1) == rows.itemsize(), "packed_rhs: each row must be contiguous");
  require(rows.strides(0) % rows.itemsize() == 0, "packed_rhs: row stride is not a whole number of words");
  rs = rows.strides(0) / rows.itemsize();
  Buf b = get_buf(rows[py::make_tuple(0)], writable, "rows");
  require(!b.device, "packed_rhs: host (numpy) arrays only");
  return b;
}

template <template <class> class K>
void rhs_copy(const Buf &batch, const Buf &rows, int64_t rs, int nrhs, int64_t V, bool split, const char *what) {
  const int64_t wb = batch.kind == Kind::f64 ? 8 : batch.kind == Kind::f32 ? 4 : 0;
  require(wb != 0, std::string(what) + ": packed vectors are float64 or float32");
  same_kind(batch, rows, "batch", "rows");
  require(V > 0 && V % 8 == 0, std::string(what) + ": the number of sites must be a positive multiple of 8");
  require(nrhs >= 1 && batch.nbytes % ((int64_t)nrhs * V * wb) == 0,
          std::string(what) + ": the batch is not nrhs whole vectors of V sites");
  const int64_t L = batch.nbytes / wb / nrhs / (V / 8);
  require(rows.nbytes == V / 8 * L * wb && rs >= V / 8 * L, std::string(what) + ": the rows do not hold one vector each");
  require(batch.ptr != rows.ptr, std::string(what) + ": batch and rows must not alias");
  py::gil_scoped_release nogil;
  if (wb == 8) {
    if (split) CpuExec::run(V / 8, K<uint64_t>{batch.as<const uint64_t>(), rows.as<uint64_t>(), rs, nrhs, L});
    else CpuExec::run(V / 8, K<uint64_t>{rows.as<const uint64_t>(), batch.as<uint64_t>(), rs, nrhs, L});
  } else {
    if (split) CpuExec::run(V / 8, K<uint32_t>{batch.as<const uint32_t>(), rows.as<uint32_t>(), rs, nrhs, L});
    else CpuExec::run(V / 8, K<uint32_t>{rows.as<const uint32_t>(), batch.as<uint32_t>(), rs, nrhs, L});
  }
}
void packed_rhs_split(py::object batch, py::array rows, int nrhs, int64_t V) {
  int64_t rs = 0;
  const Buf r = strided_rows(rows, nrhs, rs, true);
  rhs_copy<RhsSplitKernel>(get_buf(batch, false, "batch"), r, rs, nrhs, V, true, "packed_rhs_split");
}
void packed_rhs_join(py::array rows, py::object batch, int nrhs, int64_t V) {
  int64_t rs = 0;
  const Buf r = strided_rows(rows, nrhs, rs, false);
  rhs_copy<RhsJoinKernel>(get_buf(batch, true, "batch"), r, rs, nrhs, V, false, "packed_rhs_join");
}

void gather_packed8(py::object src, py::object idx, py::object dst, int64_t V) {
  Buf s = get_buf(src, false, "src"), ix = get_buf(idx, false, "idx"), d = get_buf(dst, true, "dst");
  require(!same_device({&s, &ix, &d}), "gather_packed8: the packed layout is a CPU layout (numpy arrays)");
  require(ix.kind == Kind::i32, "gather_packed8: index must be int32");
  const int64_t wb = word_bytes(s, "src");
  require(word_bytes(d, "dst") == wb, "gather_packed8: src and dst differ in precision");
  require(V > 0 && V % 8 == 0 && s.nbytes % (V * wb) == 0, "gather_packed8: src is not whole sites of 8-site blocks");
  const int64_t R = s.nbytes / (V * wb), n = ix.nbytes / 4;
  require_size(d, n * R * wb, "dst");
  const int32_t *I = ix.as<const int32_t>();
  for (int64_t j = 0; j < n; ++j) require(I[j] >= 0 && I[j] < V, "gather_packed8: site index out of range");
  py::gil_scoped_release nogil;
  if (wb == 8) CpuExec::run(n, GatherPackedKernel<uint64_t>{s.as<const uint64_t>(), d.as<uint64_t>(), I, R});
  else CpuExec::run(n, GatherPackedKernel<uint32_t>{s.as<const uint32_t>(), d.as<uint32_t>(), I, R});
}

bool packed_available() { return GN_SIMD8 != 0; }

#if GN_SIMD8
template <class T>
void wilson_packed_typed(WilsonPackedArgs<T> &a, int N, bool dagger, bool r12) {
  py::gil_scoped_release nogil;
  if (N == 3 && r12) dagger ? WilsonPacked<3, 1, T, true>::run(a) : WilsonPacked<3, -1, T, true>::run(a);
  else if (N == 3) dagger ? WilsonPacked<3, 1, T>::run(a) : WilsonPacked<3, -1, T>::run(a);
  else dagger ? WilsonPacked<2, 1, T>::run(a) : WilsonPacked<2, -1, T>::run(a);
}
#endif

void check_two_rows(const std::string &who, bool two_rows, int N, const std::vector<std::complex<double>> &det) {
  require(!two_rows || N == 3, who + ": two-row links (two_rows=True) are for SU(3) (N = 3)");
  require(det.empty() || det.size() == 4, who + ": boundary_det must have four entries (x, y, z, t) or none");
}

// the factors of the rebuilt third rows on the boundary slices (WilsonPackedArgs::bdet)
template <class T>
void set_boundary_det(WilsonPackedArgs<T> &a, const std::vector<std::complex<double>> &det) {
  for (int mu = 0; mu < 4; ++mu) {
    const std::complex<double> d = det.empty() ? 1.0 : det[mu];
    a.bdet[mu][0] = (T)d.real(), a.bdet[mu][1] = (T)d.imag();
    a.bdet_on[mu] = d != 1.0;
  }
}

template <class T>
void fill_packed(WilsonPackedArgs<T> &a, const Buf &out, const Buf &in, const Buf &inh, const Buf &U, const Buf &Uh,
                 const Buf &clover, int64_t V, int64_t Vh, int N) {
  a.out = out.as<T>();
  a.in = in.as<const T>();
  a.in_halo = inh.present ? inh.as<const T>() : nullptr;
  a.U = U.as<const T>();
  for (int mu = 0; mu < 4; ++mu) a.U_halo[mu] = Uh.present ? Uh.as<const T>() + (int64_t)mu * Vh * 2 * N * N : nullptr;
  a.clover = clover.present ? clover.as<const T>() : nullptr;
}

// The arguments both packed stencil kernels share, checked: geometry, packed input/output and links (float),
// halos (complex, ordinary layout), the neighbour table; `extra` (clover or weights) only for the device check.
struct PackedBufs {
  Buf o, i, ih, u, uh, nb;
  int64_t V = 0;
  bool dbl = true;
};
PackedBufs packed_bufs(const std::string &who, py::object out, py::object in, py::object in_halo, py::object U,
                       py::object U_halo, py::object nbr, const Buf &extra, const std::vector<int> &dims,
                       const std::vector<bool> &split, int part, int N, bool two_rows = false) {
  require(N == 2 || N == 3, who + ": N must be 2 or 3");
  require(part >= 0 && part <= 2, who + ": part must be 0 (all), 1 (interior) or 2 (boundary)");
  require(dims.size() == 4 && split.size() == 4, who + ": dims and split must have four entries (x, y, z, t)");
  for (int mu = 0; mu < 4; ++mu) require(dims[mu] >= 2, who + ": local extents must be at least 2");
  require(dims[0] % 8 == 0, who + ": the local x extent must be a multiple of 8 (got " + std::to_string(dims[0]) + ")");
  PackedBufs b;
  b.V = (int64_t)dims[0] * dims[1] * dims[2] * dims[3];
  b.o = get_buf(out, true, "out"), b.i = get_buf(in, false, "in"), b.ih = get_buf(in_halo, false, "in_halo", true);
  b.u = get_buf(U, false, "U"), b.uh = get_buf(U_halo, false, "U_halo", true), b.nb = get_buf(nbr, false, "nbr");
  require(!same_device({&b.o, &b.i, &b.ih, &b.u, &b.uh, &b.nb, &extra}),
          who + ": the packed layout is a CPU layout (numpy arrays)");
  b.dbl = b.o.kind == Kind::f64;
  require(b.o.kind == Kind::f64 || b.o.kind == Kind::f32, who + ": packed fields are float64 or float32 arrays");
  same_kind(b.o, b.i, "out", "in");
  same_kind(b.o, b.u, "out", "U");
  const Kind ck = b.dbl ? Kind::c128 : Kind::c64;
  require(!b.ih.present || b.ih.kind == ck, who + ": in_halo must be complex of the fields' precision");
  require(!b.uh.present || b.uh.kind == ck, who + ": U_halo must be complex of the fields' precision");
  require(b.nb.kind == Kind::i32 && b.nb.nbytes == b.V * 8 * 4, who + ": nbr must be the int32 [V][8] table");
  require(b.o.ptr != b.i.ptr, who + ": out must not alias in");
  const int64_t lr = two_rows ? 4 * N : 2 * N * N;  // reals stored per link
  require(b.u.nbytes == 4 * b.V * lr * (b.dbl ? 8 : 4),
          who + (two_rows ? ": U must hold the packed first two rows of the links [V/8][4][4N][8]"
                          : ": U must hold the packed links [V/8][4][2N^2][8]"));
  return b;
}

// halo sites implied by the halo buffers (per site: S reals of input, 2N^2 per link direction)
int64_t packed_halo_sites(const std::string &who, const PackedBufs &b, const std::vector<bool> &split, int64_t S, int N) {
  if (!(split[0] || split[1] || split[2] || split[3])) return 0;
  const int64_t es = b.dbl ? 8 : 4;
  require(b.ih.present && b.uh.present, who + ": a split direction needs in_halo and U_halo");
  const int64_t Vh = b.ih.nbytes / (S * es);
  require(b.ih.nbytes == Vh * S * es && b.uh.nbytes == 4 * Vh * 2 * N * N * es,
          who + ": in_halo and U_halo disagree in their number of halo sites");
  return Vh;
}

// the optional addend of a packed stencil: packed like out (same precision and size); alias_ok: it may be out
Buf addend(const std::string &who, py::object add, const Buf &o, bool alias_ok) {
  Buf ad = get_buf(add, false, "add", true);
  if (!ad.present) return ad;
  require(!same_device({&o, &ad}), who + ": add must be a numpy array");
  require(ad.kind == o.kind && ad.nbytes == o.nbytes, who + ": add must be packed like out (same precision and size)");
  require(alias_ok || ad.ptr != o.ptr, who + ": add must not be out itself");
  return ad;
}

void wilson_packed(py::object out, py::object in, py::object in_halo, py::object U, py::object U_halo,
                   py::object nbr, std::vector<int> dims, std::vector<bool> split, py::object clover, double diag,
                   double hop_coef, int nrhs, int N, bool dagger, int part, bool two_rows,
                   std::vector<std::complex<double>> boundary_det, py::object add, bool sub, py::object U_doubled) {
#if !GN_SIMD8
  throw std::runtime_error("gaugenet kernel: wilson_packed needs a build for an AVX-512 CPU (see packed_available())");
#else
  require(nrhs > 0, "wilson_packed: nrhs must be positive");
  Buf c = get_buf(clover, false, "clover", true);
  check_two_rows("wilson_packed", two_rows, N, boundary_det);
  const PackedBufs pb = packed_bufs("wilson_packed", out, in, in_halo, U, U_halo, nbr, c, dims, split, part, N, two_rows);
  const Buf &o = pb.o, &i = pb.i, &ih = pb.ih, &u = pb.u, &uh = pb.uh, &nb = pb.nb;
  const int64_t V = pb.V, es = pb.dbl ? 8 : 4, S = (int64_t)nrhs * 8 * N;
  const bool dbl = pb.dbl;
  same_kind(o, c, "out", "clover");
  require(o.nbytes == V * S * es && i.nbytes == V * S * es,
          "wilson_packed: in and out must hold " + std::to_string(V * S * es) + " bytes");
  require(!c.present || c.nbytes == V * 8 * N * N * es,
          "wilson_packed: clover must hold the compressed hermitian blocks, 8 N^2 reals per site (operators/packed.py compress_clover)");
  const int64_t Vh = packed_halo_sites("wilson_packed", pb, split, S, N);
  const Buf ad = addend("wilson_packed", add, o, false);
  const Buf ub = get_buf(U_doubled, false, "U_doubled", true);
  require(!ub.present || (ub.kind == u.kind && ub.nbytes == u.nbytes),
          "wilson_packed: U_doubled (the doubled links) must be packed like U (same precision, storage and size)");
  auto go = [&](auto zero) {
    using T = decltype(zero);
    WilsonPackedArgs<T> a{};
    fill_packed<T>(a, o, i, ih, u, uh, c, V, Vh, N);
    a.add = ad.present ? ad.as<const T>() : nullptr;
    a.sub = sub;
    a.U_doubled = ub.present ? ub.as<const T>() : nullptr;
    a.nbr = nb.as<const int32_t>();
    a.V = V;
    for (int mu = 0; mu < 4; ++mu) a.dims[mu] = dims[mu], a.split[mu] = split[mu];
    a.diag = (T)diag;
    a.hop_coef = (T)hop_coef;
    a.nrhs = nrhs;
    a.part = part;
    set_boundary_det(a, boundary_det);
    wilson_packed_typed<T>(a, N, dagger, two_rows);
  };
  if (dbl) go(0.0);
  else go(0.0f);
#endif
}
#if GN_SIMD8
template <int N, class T, bool R12 = false>
void onehop_packed_n(const OneHopPackedArgs<T> &a) {
  switch (a.nout) {
    case 1: OneHopPacked<N, 1, T, R12>::run(a); break;
    case 2: OneHopPacked<N, 2, T, R12>::run(a); break;
    case 3: OneHopPacked<N, 3, T, R12>::run(a); break;
    default: OneHopPacked<N, 4, T, R12>::run(a);
  }
}
#endif

void onehop_packed(py::object out, py::object in, py::object in_halo, py::object U, py::object U_halo,
                   py::object nbr, std::vector<int> dims, std::vector<bool> split, py::object W, int nrhs, int nin,
                   int nout, int N, int part, py::object site, py::object G, int mask, bool two_rows,
                   std::vector<std::complex<double>> boundary_det, py::object add) {
#if !GN_SIMD8
  throw std::runtime_error("gaugenet kernel: onehop_packed needs a build for an AVX-512 CPU (see packed_available())");
#else
  require(nrhs > 0 && nin >= 1 && nin <= 4 && nout >= 1 && nout <= 4,
          "onehop_packed: 1 to 4 input and output features and at least one right-hand side");
  Buf w = get_buf(W, false, "W");
  check_two_rows("onehop_packed", two_rows, N, boundary_det);
  const PackedBufs pb = packed_bufs("onehop_packed", out, in, in_halo, U, U_halo, nbr, w, dims, split, part, N, two_rows);
  const Buf &o = pb.o, &i = pb.i, &ih = pb.ih, &u = pb.u, &uh = pb.uh, &nb = pb.nb;
  const int64_t V = pb.V, es = pb.dbl ? 8 : 4, S = 8LL * N;
  const bool dbl = pb.dbl;
  require(w.kind == (dbl ? Kind::c128 : Kind::c64), "onehop_packed: W must be complex of the fields' precision");
  require(i.nbytes == V * nrhs * nin * S * es, "onehop_packed: in has the wrong size for nrhs x nin spinors");
  require(o.nbytes == V * nrhs * nout * S * es, "onehop_packed: out has the wrong size for nrhs x nout spinors");
  require(w.nbytes == 9LL * nout * nin * 16 * 2 * es, "onehop_packed: W must have shape (9, nout, nin, 4, 4)");
  const int64_t Vh = packed_halo_sites("onehop_packed", pb, split, nrhs * nin * S, N);
  require(site.is_none() == G.is_none(), "onehop_packed: the weight gradient needs both site and G");
  Buf sb, gb;
  if (!site.is_none()) {
    sb = get_buf(site, false, "site");
    gb = get_buf(G, true, "G");
    require(!same_device({&o, &sb, &gb}), "onehop_packed: site and G must be numpy arrays");
    require(sb.kind == o.kind && sb.nbytes == o.nbytes, "onehop_packed: site must be packed like out (same precision, nrhs x nout spinors)");
    require(gb.kind == Kind::c128 && gb.nbytes == 9LL * nin * nout * 16 * 16,
            "onehop_packed: G must be complex128 of shape (9, nin, nout, 4, 4)");
    require(sb.ptr != o.ptr && gb.ptr != o.ptr, "onehop_packed: site and G must not alias out");
  }
  require(mask >= -1 && mask < 512, "onehop_packed: mask is a 9-bit slot set, or -1 (the slots with nonzero weights)");
  const Buf ad = addend("onehop_packed", add, o, true);
  require(!ad.present || site.is_none(), "onehop_packed: add is for the forward (no weight gradient)");
  auto go = [&](auto zero) {
    using T = decltype(zero);
    OneHopPackedArgs<T> a{};
    fill_packed<T>(a.g, o, i, ih, u, uh, Buf{}, V, Vh, N);
    a.g.out = nullptr;
    a.g.nbr = nb.as<const int32_t>();
    a.g.V = V;
    for (int mu = 0; mu < 4; ++mu) a.g.dims[mu] = dims[mu], a.g.split[mu] = split[mu];
    a.g.nrhs = nrhs * nin;
    a.g.part = part;
    set_boundary_det(a.g, boundary_det);
    a.out = o.as<T>();
    a.W = w.as<const T>();
    a.nrhs = nrhs, a.nin = nin, a.nout = nout;
    a.mask = 0;
    for (int k = 0; k < 9; ++k)
      for (int64_t e = 0; e < (int64_t)nout * nin * 32; ++e)
        if (a.W[k * nout * nin * 32 + e] != T(0)) a.mask |= 1u << k;
    if (mask >= 0) a.mask = (unsigned)mask;
    a.add = ad.present ? ad.as<const T>() : nullptr;
    a.site = sb.ptr ? sb.as<const T>() : nullptr;
    a.G = gb.ptr ? gb.as<double>() : nullptr;
    py::gil_scoped_release nogil;
    if (N == 3 && two_rows) onehop_packed_n<3, T, true>(a);
    else if (N == 3) onehop_packed_n<3, T>(a);
    else onehop_packed_n<2, T>(a);
  };
  if (dbl) go(0.0);
  else go(0.0f);
#endif
}

}  // namespace

void bind_packed(py::module_ &m) {
  m.def("onehop_packed", &onehop_packed, py::arg("out"), py::arg("in_"), py::arg("in_halo"), py::arg("U"),
        py::arg("U_halo"), py::arg("nbr"), py::arg("dims"), py::arg("split"), py::arg("W"), py::arg("nrhs"),
        py::arg("nin"), py::arg("nout"), py::arg("N"), py::arg("part") = 0, py::arg("site") = py::none(),
        py::arg("G") = py::none(), py::arg("mask") = -1, py::arg("two_rows") = false,
        py::arg("boundary_det") = std::vector<std::complex<double>>{}, py::arg("add") = py::none(),
        "one-hop stencil (PTC forward, global spin-matrix weights W[9][nout][nin][4][4]) on packed fields; with "
        "site and G also G[k,b,a] += sum (U_k in_b) conj(site_a) (the PTC weight gradient); mask: slots to run "
        "(-1: those with nonzero weights); two_rows, boundary_det: as for wilson_packed; add: out = add + the "
        "stencil (add packed like out, may be out itself: out += stencil; forward only)");
  m.def("pack8", &pack8, py::arg("src"), py::arg("dst"), py::arg("V"),
        "ordinary [V][R] -> packed [V/8][R][8] layout (R reals per site, any float/complex dtype)");
  m.def("unpack8", &unpack8, py::arg("src"), py::arg("dst"), py::arg("V"), "packed [V/8][R][8] -> ordinary [V][R]");
  m.def("packed_rhs_split", &packed_rhs_split, py::arg("batch"), py::arg("rows"), py::arg("nrhs"), py::arg("V"),
        "a packed batch [V/8][nrhs][R1][8] -> its vectors as the rows of the 2D array rows (nrhs rows, each contiguous, "
        "any row stride: e.g. one column of a per-rhs Krylov basis); OpenMP");
  m.def("packed_rhs_join", &packed_rhs_join, py::arg("rows"), py::arg("batch"), py::arg("nrhs"), py::arg("V"),
        "the rows of the 2D array rows (nrhs packed vectors, each row contiguous, any row stride) -> the batch "
        "[V/8][nrhs][R1][8]; OpenMP");
  m.def("gather_packed8", &gather_packed8, py::arg("src"), py::arg("idx"), py::arg("dst"), py::arg("V"),
        "dst[j] = site idx[j] of the packed field src, in the ordinary layout (halo faces)");
  m.def("packed_available", &packed_available, "whether the packed-layout kernels were compiled (AVX-512 build)");
  m.def("wilson_packed", &wilson_packed, py::arg("out"), py::arg("in_"), py::arg("in_halo"), py::arg("U"),
        py::arg("U_halo"), py::arg("nbr"), py::arg("dims"), py::arg("split"), py::arg("clover"), py::arg("diag"),
        py::arg("hop_coef"), py::arg("nrhs"), py::arg("N"), py::arg("dagger") = false, py::arg("part") = 0,
        py::arg("two_rows") = false, py::arg("boundary_det") = std::vector<std::complex<double>>{},
        py::arg("add") = py::none(), py::arg("sub") = false, py::arg("U_doubled") = py::none(),
        "Wilson(-clover) on packed fields (kernels/wilson_packed.h); halos in the ordinary layout. two_rows: U holds "
        "the first two rows of SU(3) links, the third rebuilt in the kernel (times boundary_det[mu] on the local "
        "slice x_mu = dims[mu] - 1, where a boundary phase is folded into the links). add: out = add + D in "
        "(add - D in with sub) in the same pass; add packed like out, not out itself. U_doubled: doubled links, packed like U, "
        "block B holding U_mu(x - mu) (local periodic wrap), read by the local backward hops");
}
