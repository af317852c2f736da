// Gram-Schmidt steps and vector updates for the Krylov solvers (kernels/gram.h, kernels/blas1.h) and the dense
// matrix-vector product of the exact coarse solve (kernels/dense.h): host arrays only.
#include "bind/array.h"
#include <complex>
#include "kernels/blas1.h"
#include "kernels/dense.h"
#include "kernels/gram.h"

namespace {
using namespace gn;

struct Basis {
  Buf V, w;
  int64_t n, ld;
};

// packed: V and w are packed real vectors of kernels/pack.h (float64 / float32, whole groups of 16 reals)
Basis check(py::object V, py::object w, int k, bool w_writable, const char *who, bool packed) {
  Basis b{get_buf(V, false, "V"), get_buf(w, w_writable, "w"), 0, 0};
  require(!b.V.device && !b.w.device, std::string(who) + ": host (numpy) arrays only");
  if (packed)
    require(b.V.kind == Kind::f64 || b.V.kind == Kind::f32, std::string(who) + ": packed V must be float64 or float32");
  else
    require(b.V.kind == Kind::c128 || b.V.kind == Kind::c64, std::string(who) + ": V must be complex64 or complex128");
  same_kind(b.V, b.w, "V", "w");
  const int64_t isz = (b.V.kind == Kind::c128 || b.V.kind == Kind::f64) ? 16 : 8;
  b.n = b.w.nbytes / isz;
  require(!packed || b.n % 8 == 0, std::string(who) + ": not a whole number of packed groups (16 reals)");
  require(b.n > 0 && b.V.nbytes % (b.n * isz) == 0, std::string(who) + ": V must hold whole rows of w's length");
  b.ld = b.n;
  require(k >= 0 && (int64_t)k * b.n * isz <= b.V.nbytes, std::string(who) + ": k exceeds the rows of V");
  return b;
}

template <int P>
void project_typed(const Basis &b, int k, std::complex<double> *o) {
  if (b.V.kind == Kind::c128 || b.V.kind == Kind::f64)
    gram::project<P>(b.V.as<const cx<double>>(), b.ld, k, b.w.as<const cx<double>>(), b.n, o);
  else gram::project<P>(b.V.as<const cx<float>>(), b.ld, k, b.w.as<const cx<float>>(), b.n, o);
}

py::array_t<std::complex<double>> gram_project(py::object V, py::object w, int k, bool packed) {
  Basis b = check(V, w, k, false, "gram_project", packed);
  py::array_t<std::complex<double>> out(k + 1);
  auto *o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    packed ? project_typed<8>(b, k, o) : project_typed<1>(b, k, o);
  }
  return out;
}

template <int P>
double update_typed(const Basis &b, int k, const std::complex<double> *hp) {
  if (b.V.kind == Kind::c128 || b.V.kind == Kind::f64)
    return gram::update<P>(b.V.as<const cx<double>>(), b.ld, k, hp, b.w.as<cx<double>>(), b.n);
  return gram::update<P>(b.V.as<const cx<float>>(), b.ld, k, hp, b.w.as<cx<float>>(), b.n);
}

double gram_update(py::object V, py::array_t<std::complex<double>, py::array::c_style | py::array::forcecast> h,
                   py::object w, int k, bool packed) {
  Basis b = check(V, w, k, true, "gram_update", packed);
  require(h.size() >= k, "gram_update: h needs k coefficients");
  const auto *hp = h.data();
  py::gil_scoped_release nogil;
  return packed ? update_typed<8>(b, k, hp) : update_typed<1>(b, k, hp);
}
struct Pair {
  Buf x, y;
  int64_t n;
  bool dbl;
};

// x (written when x_writable) and y: host arrays of the same precision and size; complex (packed = false) or
// packed real vectors of kernels/pack.h (whole groups of 16 reals); n counts complex numbers
Pair pair(py::object x, py::object y, const char *who, bool packed = false, bool x_writable = true) {
  Pair p{get_buf(x, x_writable, "x"), get_buf(y, false, "y"), 0, false};
  require(!p.x.device && !p.y.device, std::string(who) + ": host (numpy) arrays only");
  const Kind d = packed ? Kind::f64 : Kind::c128, f = packed ? Kind::f32 : Kind::c64;
  require(p.x.kind == d || p.x.kind == f,
          std::string(who) + (packed ? ": packed vectors are float64 or float32" : ": x must be complex64 or complex128"));
  same_kind(p.x, p.y, "x", "y");
  require(p.x.nbytes == p.y.nbytes, std::string(who) + ": x and y must have the same size");
  p.dbl = p.x.kind == d;
  p.n = p.x.nbytes / (p.dbl ? 16 : 8);
  require(!packed || p.n % 8 == 0, std::string(who) + ": not a whole number of packed groups (16 reals)");
  return p;
}

double axpy(py::object x, std::complex<double> a, py::object y, bool norm) {
  Pair p = pair(x, y, "axpy");
  py::gil_scoped_release nogil;
  if (p.dbl) return blas1::axpy(p.x.as<cx<double>>(), a, p.y.as<const cx<double>>(), p.n, norm);
  return blas1::axpy(p.x.as<cx<float>>(), a, p.y.as<const cx<float>>(), p.n, norm);
}

void xpay(py::object x, std::complex<double> b, py::object y) {
  Pair p = pair(x, y, "xpay");
  py::gil_scoped_release nogil;
  if (p.dbl) blas1::xpay(p.x.as<cx<double>>(), b, p.y.as<const cx<double>>(), p.n);
  else blas1::xpay(p.x.as<cx<float>>(), b, p.y.as<const cx<float>>(), p.n);
}
double packed_axpy(py::object x, std::complex<double> a, py::object y, bool norm) {
  Pair p = pair(x, y, "packed_axpy", true);
  py::gil_scoped_release nogil;
  if (p.dbl) return blas1::packed::axpy(p.x.as<double>(), a, p.y.as<const double>(), p.n, norm);
  return blas1::packed::axpy(p.x.as<float>(), a, p.y.as<const float>(), p.n, norm);
}

void packed_xpay(py::object x, std::complex<double> b, py::object y) {
  Pair p = pair(x, y, "packed_xpay", true);
  py::gil_scoped_release nogil;
  if (p.dbl) blas1::packed::xpay(p.x.as<double>(), b, p.y.as<const double>(), p.n);
  else blas1::packed::xpay(p.x.as<float>(), b, p.y.as<const float>(), p.n);
}

std::complex<double> packed_dot(py::object x, py::object y) {
  Pair p = pair(x, y, "packed_dot", true, false);
  py::gil_scoped_release nogil;
  if (p.dbl) return blas1::packed::dot(p.x.as<const double>(), p.y.as<const double>(), p.n);
  return blas1::packed::dot(p.x.as<const float>(), p.y.as<const float>(), p.n);
}

// y (r, m) = (A x^T)^T for x (r, n): A complex64 / complex128 (m, n), or uint16 (m, 2n) bfloat16 bit patterns (re, im)
// with complex64 x and y
void dense_matvec(py::object A, py::object x, py::object y, int64_t m, int64_t n, int r) {
  const Buf a = get_buf(A, false, "A"), bx = get_buf(x, false, "x"), by = get_buf(y, true, "y");
  require(!a.device && !bx.device && !by.device, "dense_matvec: host (numpy) arrays only");
  require(m >= 0 && n >= 0 && r >= 0, "dense_matvec: negative extent");
  same_kind(bx, by, "x", "y");
  const bool dbl = bx.kind == Kind::c128;
  require(dbl || bx.kind == Kind::c64, "dense_matvec: x and y must be complex64 or complex128");
  require(a.kind == bx.kind || (a.kind == Kind::u16 && !dbl),
          "dense_matvec: A must have x's complex type, or be bfloat16 (uint16 pairs) with complex64 x");
  const int64_t cb = dbl ? 16 : 8;
  require(a.nbytes == m * n * (a.kind == Kind::u16 ? 4 : cb), "dense_matvec: A does not hold m x n entries");
  require(bx.nbytes == (int64_t)r * n * cb && by.nbytes == (int64_t)r * m * cb,
          "dense_matvec: x must hold r x n and y r x m entries");
  py::gil_scoped_release nogil;
  if (dbl) dense::matvec(a.as<const double>(), m, n, bx.as<const double>(), r, by.as<double>());
  else if (a.kind == Kind::u16) dense::matvec(a.as<const uint16_t>(), m, n, bx.as<const float>(), r, by.as<float>());
  else dense::matvec(a.as<const float>(), m, n, bx.as<const float>(), r, by.as<float>());
}

// dst = src converted between float64 and float32 (real or complex arrays of the same number of reals)
void convert(py::object src, py::object dst) {
  const Buf a = get_buf(src, false, "src"), b = get_buf(dst, true, "dst");
  require(!a.device && !b.device, "convert: host (numpy) arrays only");
  auto wide = [](Kind k) { return k == Kind::f64 || k == Kind::c128; };
  auto real = [&](Kind k) { return wide(k) || k == Kind::f32 || k == Kind::c64; };
  require(real(a.kind) && real(b.kind), "convert: float32/float64/complex64/complex128 arrays only");
  const int64_t n = a.nbytes / (wide(a.kind) ? 8 : 4);
  require(n == b.nbytes / (wide(b.kind) ? 8 : 4), "convert: src and dst hold different numbers of reals");
  require(a.ptr != b.ptr, "convert: src and dst must not alias");
  py::gil_scoped_release nogil;
  if (wide(a.kind) && wide(b.kind)) blas1::convert(a.as<const double>(), b.as<double>(), n);
  else if (wide(a.kind)) blas1::convert(a.as<const double>(), b.as<float>(), n);
  else if (wide(b.kind)) blas1::convert(a.as<const float>(), b.as<double>(), n);
  else blas1::convert(a.as<const float>(), b.as<float>(), n);
}

}  // namespace

void bind_krylov(py::module_ &m) {
  m.def("convert", &convert, py::arg("src"), py::arg("dst"),
        "dst = src between float64 and float32 (real or complex, the same number of reals), OpenMP; host arrays");
  m.def("dense_matvec", &dense_matvec, py::arg("A"), py::arg("x"), py::arg("y"), py::arg("m"), py::arg("n"),
        py::arg("r"),
        "y[c] = A x[c] (c < r) for a dense row-major (m, n) complex A (complex64/complex128, or uint16 pairs of "
        "bfloat16 bit patterns with complex64 vectors); x (r, n), y (r, m); OpenMP over rows, results independent "
        "of the thread count");
  m.def("packed_axpy", &packed_axpy, py::arg("x"), py::arg("a"), py::arg("y"), py::arg("norm") = false,
        "axpy on packed vectors (kernels/pack.h layout): x += a y; returns |x|^2 of the result if norm");
  m.def("packed_xpay", &packed_xpay, py::arg("x"), py::arg("b"), py::arg("y"), "x = y + b x on packed vectors");
  m.def("packed_dot", &packed_dot, py::arg("x"), py::arg("y"), "sum conj(x) y of two packed vectors (local)");
  m.def("gram_project", &gram_project, py::arg("V"), py::arg("w"), py::arg("k"), py::arg("packed") = false,
        "[<V_0, w>, ..., <V_{k-1}, w>, |w|^2] (complex128) for the first k rows of V, one pass, OpenMP; "
        "results independent of the thread count; packed: rows are packed real vectors (kernels/pack.h)");
  m.def("gram_update", &gram_update, py::arg("V"), py::arg("h"), py::arg("w"), py::arg("k"), py::arg("packed") = false,
        "w -= sum_i h_i V_i over the first k rows of V, in place; returns |w|^2 of the result; packed: as "
        "gram_project");
  m.def("axpy", &axpy, py::arg("x"), py::arg("a"), py::arg("y"), py::arg("norm") = false,
        "x += a y in place (one pass, no temporary); returns |x|^2 of the result if norm (else 0)");
  m.def("xpay", &xpay, py::arg("x"), py::arg("b"), py::arg("y"), "x = y + b x in place (one pass)");
}
