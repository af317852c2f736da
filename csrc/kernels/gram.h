// Gram-Schmidt steps of the Krylov solvers on the CPU (OpenMP): the projections of a vector w on k
// basis rows V[0..k) (one read of the basis, |w|^2 in the same pass) and the update w -= V^T h with
// |w|^2 of the result in the same pass. The vector is cut into chunks of fixed length; each chunk's
// partial sums are kept and added in chunk order, so results do not depend on the thread count.
// Host memory only (device arrays take the cupy GEMV path in Python).
#pragma once
#include <cstdint>
#include <vector>
#include <complex>
#include "core/complex.h"
#include "kernels/blas1.h"

namespace gn {
namespace gram {

constexpr int64_t CHUNK = 4096;  // complex elements per chunk (64 KB of doubles: w's chunk stays in L2)

// Work buffers kept between calls (no allocation in the solver's inner loop once they have grown): the
// per-chunk partial sums of the calling thread (blas1::chunk_sums) and each thread's swapped copy of a chunk of w.
template <class T>
T *swapped() {
  static thread_local std::vector<T> buf(2 * CHUNK);
  return buf.data();
}

// out[i] = sum_e conj(V[i, e]) w[e] (i < k), out[k] = |w|^2; V row-major with row stride ld
template <class T>
void project(const cx<T> *V, int64_t ld, int k, const cx<T> *w, int64_t n, std::complex<double> *out) {
  const int64_t nch = (n + CHUNK - 1) / CHUNK;
  std::vector<double> &part = blas1::chunk_sums((size_t)nch * (k + 1) * 2);
#pragma omp parallel
  {
    T *ws = swapped<T>();
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nch; ++c) {
      const int64_t e0 = c * CHUNK, m = (n - e0 < CHUNK ? n - e0 : CHUNK) * 2;
      const T *wr = reinterpret_cast<const T *>(w + e0);
      // conj(v) w = (vr wr + vi wi) + i (vr wi - vi wr): both are real dot products of the interleaved
      // arrays, the second with ws = (wi, -wr)
      for (int64_t j = 0; j < m; j += 2) ws[j] = wr[j + 1], ws[j + 1] = -wr[j];
      double *p = part.data() + (size_t)c * (k + 1) * 2;
      for (int i = 0; i < k; ++i) {
        const T *v = reinterpret_cast<const T *>(V + i * ld + e0);
        double re = 0, im = 0;   // double accumulators also for single-precision data
#pragma omp simd reduction(+ : re, im)
        for (int64_t j = 0; j < m; ++j) {
          re += (double)v[j] * wr[j];
          im += (double)v[j] * ws[j];
        }
        p[2 * i] = re, p[2 * i + 1] = im;
      }
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < m; ++j) s += (double)wr[j] * wr[j];
      p[2 * k] = s, p[2 * k + 1] = 0;
    }
  }
  for (int i = 0; i <= k; ++i) {
    double re = 0, im = 0;
    for (int64_t c = 0; c < nch; ++c) re += part[((size_t)c * (k + 1) + i) * 2], im += part[((size_t)c * (k + 1) + i) * 2 + 1];
    out[i] = {re, im};
  }
}

// w -= sum_i V[i] h[i] (i < k); returns |w|^2 after the update
template <class T>
double update(const cx<T> *V, int64_t ld, int k, const std::complex<double> *h, cx<T> *w, int64_t n) {
  const int64_t nch = (n + CHUNK - 1) / CHUNK;
  std::vector<double> &part = blas1::chunk_sums((size_t)nch);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nch; ++c) {
    const int64_t e0 = c * CHUNK, m = n - e0 < CHUNK ? n - e0 : CHUNK;
    T *wr = reinterpret_cast<T *>(w + e0);
    for (int i = 0; i < k; ++i) {
      const T *v = reinterpret_cast<const T *>(V + i * ld + e0);
      const T hr = (T)h[i].real(), hi = (T)h[i].imag();
#pragma omp simd
      for (int64_t e = 0; e < m; ++e) {
        const T vr = v[2 * e], vi = v[2 * e + 1];
        wr[2 * e] -= vr * hr - vi * hi;
        wr[2 * e + 1] -= vr * hi + vi * hr;
      }
    }
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < 2 * m; ++j) s += (double)wr[j] * wr[j];
    part[c] = s;
  }
  double s = 0;
  for (int64_t c = 0; c < nch; ++c) s += part[c];
  return s;
}

}  // namespace gram
}  // namespace gn
