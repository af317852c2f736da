// Vector updates of the Krylov solvers on host arrays (OpenMP), in place and without temporaries:
//   axpy:  x += a y            (returns |x|^2 of the result when asked: the norm travels in the same pass)
//   xpay:  x = y + b x
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

}  // namespace blas1
}  // namespace gn
