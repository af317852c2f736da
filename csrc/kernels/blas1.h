// Vector updates of the Krylov solvers on host arrays (OpenMP), in place and without temporaries:
//   axpy:  x += a y            (returns |x|^2 of the result when asked: the norm travels in the same pass)
//   xpay:  x = y + b x
//   convert: dst = src between float and double (the mixed-precision preconditioner's casts)
// Norms are summed per fixed-size chunk and the chunks added in order: independent of the thread count.
#pragma once
#include <complex>
#include <cstdint>
#include <vector>
#include "core/complex.h"

namespace gn {
namespace blas1 {

constexpr int64_t CHUNK = 8192;  // complex elements per chunk

// per-chunk partial sums of the calling thread, kept between calls (shared with kernels/gram.h)
inline std::vector<double> &chunk_sums(size_t n) {
  static thread_local std::vector<double> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// x += a y; returns |x|^2 after the update if norm, else 0
template <class T>
double axpy(cx<T> *x, std::complex<double> a, const cx<T> *y, int64_t n, bool norm) {
  const int64_t nch = (n + CHUNK - 1) / CHUNK;
  std::vector<double> &part = chunk_sums((size_t)nch);
  const T ar = (T)a.real(), ai = (T)a.imag();
#pragma omp parallel for schedule(static) if (n >= 2 * CHUNK)
  for (int64_t c = 0; c < nch; ++c) {
    const int64_t e0 = c * CHUNK, e1 = n - e0 < CHUNK ? n : e0 + CHUNK;
    T *xr = reinterpret_cast<T *>(x);
    const T *yr = reinterpret_cast<const T *>(y);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t e = e0; e < e1; ++e) {
      const T re = xr[2 * e] + ar * yr[2 * e] - ai * yr[2 * e + 1];
      const T im = xr[2 * e + 1] + ar * yr[2 * e + 1] + ai * yr[2 * e];
      xr[2 * e] = re, xr[2 * e + 1] = im;
      if (norm) s += (double)re * re + (double)im * im;
    }
    part[c] = s;
  }
  double s = 0;
  if (norm)
    for (int64_t c = 0; c < nch; ++c) s += part[c];
  return s;
}

// x = y + b x
template <class T>
void xpay(cx<T> *x, std::complex<double> b, const cx<T> *y, int64_t n) {
  const T br = (T)b.real(), bi = (T)b.imag();
  T *xr = reinterpret_cast<T *>(x);
  const T *yr = reinterpret_cast<const T *>(y);
#pragma omp parallel for simd schedule(static) if (n >= 2 * CHUNK)
  for (int64_t e = 0; e < n; ++e) {
    const T re = yr[2 * e] + br * xr[2 * e] - bi * xr[2 * e + 1];
    const T im = yr[2 * e + 1] + br * xr[2 * e + 1] + bi * xr[2 * e];
    xr[2 * e] = re, xr[2 * e + 1] = im;
  }
}

// dst[i] = (D) src[i] for n reals (float <-> double, or a plain copy); elementwise, any thread count
template <class S, class D>
void convert(const S *src, D *dst, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= 8 * CHUNK)
  for (int64_t i = 0; i < n; ++i) dst[i] = (D)src[i];
}

// The same updates, and the inner product, for vectors in the packed eight-site-block layout of
// kernels/pack.h: complex number 8 g + l has its real part at 16 g + l and its imaginary part at
// 16 g + 8 + l (n complex numbers, n a multiple of 8). Chunk sums as above.
namespace packed {

constexpr int64_t GROUPS = CHUNK / 8;  // groups of eight complex numbers per chunk

// the chunk sums s(re_x, im_x, re_y, im_y) -> (sum of f.real, sum of f.imag), in chunk order
template <class T, class F>
std::complex<double> chunked(int64_t n, const F &f) {
  const int64_t ng = n / 8, nch = (ng + GROUPS - 1) / GROUPS;
  std::vector<double> &part = chunk_sums((size_t)(2 * nch));
#pragma omp parallel for schedule(static) if (n >= 2 * CHUNK)
  for (int64_t c = 0; c < nch; ++c) {
    const int64_t g0 = c * GROUPS, g1 = ng - g0 < GROUPS ? ng : g0 + GROUPS;
    double sr = 0, si = 0;
    for (int64_t g = g0; g < g1; ++g) f(g, sr, si);
    part[2 * c] = sr, part[2 * c + 1] = si;
  }
  double sr = 0, si = 0;
  for (int64_t c = 0; c < nch; ++c) sr += part[2 * c], si += part[2 * c + 1];
  return {sr, si};
}

// x += a y; returns |x|^2 after the update if norm, else 0
template <class T>
double axpy(T *x, std::complex<double> a, const T *y, int64_t n, bool norm) {
  const T ar = (T)a.real(), ai = (T)a.imag();
  return chunked<T>(n, [&](int64_t g, double &sr, double &) {
    T *xr = x + 16 * g, *xi = xr + 8;
    const T *yr = y + 16 * g, *yi = yr + 8;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int l = 0; l < 8; ++l) {
      const T re = xr[l] + ar * yr[l] - ai * yi[l], im = xi[l] + ar * yi[l] + ai * yr[l];
      xr[l] = re, xi[l] = im;
      s += (double)re * re + (double)im * im;
    }
    if (norm) sr += s;
  }).real();
}

// x = y + b x
template <class T>
void xpay(T *x, std::complex<double> b, const T *y, int64_t n) {
  const T br = (T)b.real(), bi = (T)b.imag();
  chunked<T>(n, [&](int64_t g, double &, double &) {
    T *xr = x + 16 * g, *xi = xr + 8;
    const T *yr = y + 16 * g, *yi = yr + 8;
#pragma omp simd
    for (int l = 0; l < 8; ++l) {
      const T re = yr[l] + br * xr[l] - bi * xi[l], im = yi[l] + br * xi[l] + bi * xr[l];
      xr[l] = re, xi[l] = im;
    }
  });
}

// sum conj(x) y
template <class T>
std::complex<double> dot(const T *x, const T *y, int64_t n) {
  return chunked<T>(n, [&](int64_t g, double &sr, double &si) {
    const T *xr = x + 16 * g, *xi = xr + 8, *yr = y + 16 * g, *yi = yr + 8;
    double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (int l = 0; l < 8; ++l) {
      a += (double)xr[l] * yr[l] + (double)xi[l] * yi[l];
      b += (double)xr[l] * yi[l] - (double)xi[l] * yr[l];
    }
    sr += a, si += b;
  });
}

}  // namespace packed
}  // namespace blas1
}  // namespace gn
