// Gram-Schmidt steps of the Krylov solvers on the CPU (OpenMP): the projections of a vector w on k
// basis rows V[0..k) (one read of the basis, |w|^2 in the same pass) and the update w -= V^T h with
// |w|^2 of the result in the same pass. The vector is cut into chunks of fixed length; each chunk's
// partial sums are kept and added in chunk order, so results do not depend on the thread count.
// Host memory only (device arrays take the cupy GEMV path in Python).
// P: how a complex number's parts lie: P = 1 interleaved (re, im) (numpy complex arrays), P = 8 the packed
// layout of kernels/pack.h (8 real parts, then the 8 imaginary parts of the same elements). Products of
// real arrays are the same in both; only the pairing of real and imaginary parts differs.
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

// out[i] = sum_e conj(V[i, e]) w[e] (i < k), out[k] = |w|^2; V row-major with row stride ld. Rows go in
// groups of four: each element of w's chunk is loaded once per group and the eight sums are independent
// chains (one row at a time was bound by the latency of its two accumulators: 25% slower from L3)
template <int P = 1, class T>
void project(const cx<T> *V, int64_t ld, int k, const cx<T> *w, int64_t n, std::complex<double> *out) {
  static_assert(CHUNK % P == 0, "chunks of whole groups");
  const int64_t nch = (n + CHUNK - 1) / CHUNK;
  std::vector<double> &part = blas1::chunk_sums((size_t)nch * (k + 1) * 2);
#pragma omp parallel
  {
    T *ws = swapped<T>();
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nch; ++c) {
      const int64_t e0 = c * CHUNK, m = (n - e0 < CHUNK ? n - e0 : CHUNK) * 2;
      const T *wr = reinterpret_cast<const T *>(w + e0);
      // conj(v) w = sum v.w + i sum v.ws with ws = (wi, -wr) in the same layout
      for (int64_t j = 0; j < m; j += 2 * P)
        for (int l = 0; l < P; ++l) ws[j + l] = wr[j + P + l], ws[j + P + l] = -wr[j + l];
      double *p = part.data() + (size_t)c * (k + 1) * 2;
      int i = 0;
      for (; i + 4 <= k; i += 4) {
        const T *v0 = reinterpret_cast<const T *>(V + i * ld + e0), *v1 = v0 + 2 * ld, *v2 = v1 + 2 * ld, *v3 = v2 + 2 * ld;
        double r0 = 0, i0 = 0, r1 = 0, i1 = 0, r2 = 0, i2 = 0, r3 = 0, i3 = 0;
#pragma omp simd reduction(+ : r0, i0, r1, i1, r2, i2, r3, i3)
        for (int64_t j = 0; j < m; ++j) {
          const double a = wr[j], b = ws[j];
          r0 += (double)v0[j] * a; i0 += (double)v0[j] * b;
          r1 += (double)v1[j] * a; i1 += (double)v1[j] * b;
          r2 += (double)v2[j] * a; i2 += (double)v2[j] * b;
          r3 += (double)v3[j] * a; i3 += (double)v3[j] * b;
        }
        p[2 * i] = r0, p[2 * i + 1] = i0, p[2 * i + 2] = r1, p[2 * i + 3] = i1;
        p[2 * i + 4] = r2, p[2 * i + 5] = i2, p[2 * i + 6] = r3, p[2 * i + 7] = i3;
      }
      for (; i < k; ++i) {
        const T *v = reinterpret_cast<const T *>(V + i * ld + e0);
        double re = 0, im = 0, re2 = 0, im2 = 0;
#pragma omp simd reduction(+ : re, im, re2, im2)
        for (int64_t j = 0; j < m; j += 2) {
          re += (double)v[j] * wr[j]; im += (double)v[j] * ws[j];
          re2 += (double)v[j + 1] * wr[j + 1]; im2 += (double)v[j + 1] * ws[j + 1];
        }
        p[2 * i] = re + re2, p[2 * i + 1] = im + im2;
      }
      double s = 0, s2 = 0;
#pragma omp simd reduction(+ : s, s2)
      for (int64_t j = 0; j < m; j += 2) s += (double)wr[j] * wr[j], s2 += (double)wr[j + 1] * wr[j + 1];
      p[2 * k] = s + s2, p[2 * k + 1] = 0;
    }
  }
  for (int i = 0; i <= k; ++i) {
    double re = 0, im = 0;
    for (int64_t c = 0; c < nch; ++c) re += part[((size_t)c * (k + 1) + i) * 2], im += part[((size_t)c * (k + 1) + i) * 2 + 1];
    out[i] = {re, im};
  }
}
// w -= sum_i V[i] h[i] (i < k), rows in groups of four (w read and written once per group); returns |w|^2
// after the update
template <int P = 1, class T>
double update(const cx<T> *V, int64_t ld, int k, const std::complex<double> *h, cx<T> *w, int64_t n) {
  const int64_t nch = (n + CHUNK - 1) / CHUNK;
  std::vector<double> &part = blas1::chunk_sums((size_t)nch);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nch; ++c) {
    const int64_t e0 = c * CHUNK, m = n - e0 < CHUNK ? n - e0 : CHUNK;
    T *wr = reinterpret_cast<T *>(w + e0);
    int i = 0;
    for (; i + 4 <= k; i += 4) {
      const T *v0 = reinterpret_cast<const T *>(V + i * ld + e0), *v1 = v0 + 2 * ld, *v2 = v1 + 2 * ld, *v3 = v2 + 2 * ld;
      const T a0 = (T)h[i].real(), b0 = (T)h[i].imag(), a1 = (T)h[i + 1].real(), b1 = (T)h[i + 1].imag();
      const T a2 = (T)h[i + 2].real(), b2 = (T)h[i + 2].imag(), a3 = (T)h[i + 3].real(), b3 = (T)h[i + 3].imag();
      if constexpr (P == 1) {
#pragma omp simd
        for (int64_t e = 0; e < m; ++e) {
          wr[2 * e] -= v0[2 * e] * a0 - v0[2 * e + 1] * b0 + v1[2 * e] * a1 - v1[2 * e + 1] * b1
                     + v2[2 * e] * a2 - v2[2 * e + 1] * b2 + v3[2 * e] * a3 - v3[2 * e + 1] * b3;
          wr[2 * e + 1] -= v0[2 * e] * b0 + v0[2 * e + 1] * a0 + v1[2 * e] * b1 + v1[2 * e + 1] * a1
                         + v2[2 * e] * b2 + v2[2 * e + 1] * a2 + v3[2 * e] * b3 + v3[2 * e + 1] * a3;
        }
      } else {
        for (int64_t g = 0; g < 2 * m; g += 2 * P) {
#pragma omp simd
          for (int l = 0; l < P; ++l) {
            const int64_t re = g + l, im = g + P + l;
            wr[re] -= v0[re] * a0 - v0[im] * b0 + v1[re] * a1 - v1[im] * b1
                    + v2[re] * a2 - v2[im] * b2 + v3[re] * a3 - v3[im] * b3;
            wr[im] -= v0[re] * b0 + v0[im] * a0 + v1[re] * b1 + v1[im] * a1
                    + v2[re] * b2 + v2[im] * a2 + v3[re] * b3 + v3[im] * a3;
          }
        }
      }
    }
    for (; i < k; ++i) {
      const T *v = reinterpret_cast<const T *>(V + i * ld + e0);
      const T hr = (T)h[i].real(), hi = (T)h[i].imag();
      for (int64_t g = 0; g < 2 * m; g += 2 * P) {
#pragma omp simd
        for (int l = 0; l < P; ++l) {
          const T vr = v[g + l], vi = v[g + P + l];
          wr[g + l] -= vr * hr - vi * hi;
          wr[g + P + l] -= vr * hi + vi * hr;
        }
      }
    }
    double s = 0, s2 = 0;
#pragma omp simd reduction(+ : s, s2)
    for (int64_t j = 0; j < 2 * m; j += 2) s += (double)wr[j] * wr[j], s2 += (double)wr[j + 1] * wr[j + 1];
    part[c] = s + s2;
  }
  double s = 0;
  for (int64_t c = 0; c < nch; ++c) s += part[c];
  return s;
}
}  // namespace gram
}  // namespace gn
