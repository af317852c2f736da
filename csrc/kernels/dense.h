// Dense complex matrix times a few vectors on the CPU: y[c] = A x[c] for c < r, A an (m, n) row-major complex
// matrix stored in float, double or bfloat16 (each complex entry two bf16 bit patterns, re then im), x and y
// complex in T (float for float/bf16 storage, double for double). OpenMP over rows: each row's sums are formed
// by one thread in a fixed order, so the result does not depend on the thread count. The exact coarse-grid solve
// of the multigrid model (python/gaugenet/models/coarse_solve.py) is one such product with the rows of D~^-1 this
// rank owns (numpy's BLAS runs on one thread per rank in gaugenet; this kernel uses the OpenMP threads).
//
// The complex products are done as real ones on the interleaved (re, im) entries: with X1 = (xr0, xr0, xr1,
// xr1, ...) and X2 = (xi0, xi0, ...), p = A .* X1 and q = A .* X2 summed lane by lane give
// Re y = sum p_even - sum q_odd and Im y = sum q_even + sum p_odd.
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>
#include "core/backend.h"
#include "kernels/bf16.h"

namespace gn {
namespace dense {

template <class S, class T>
inline T widen(S v) {
  if constexpr (std::is_same<S, uint16_t>::value) return bf16_to_float(v);
  else return T(v);
}

// (re, im) of sum_e A[e] X1[e] / X2[e] over the 2n reals of one row (lanes accumulate independently)
template <class S, class T>
inline void row_sums(const S *a, const T *x1, const T *x2, int64_t n2, T &re, T &im) {
  constexpr int L = 32;
  T p[L] = {}, q[L] = {};
  int64_t e = 0;
#if defined(__AVX512F__) && !defined(__CUDACC__)
  if constexpr (std::is_same<T, float>::value) {
    __m512 P0 = _mm512_setzero_ps(), P1 = P0, Q0 = P0, Q1 = P0;
    for (; e + L <= n2; e += L) {
      __m512 a0, a1;
      if constexpr (std::is_same<S, uint16_t>::value) {
        a0 = bf16x16_to_floats(a + e);
        a1 = bf16x16_to_floats(a + e + 16);
      } else {
        a0 = _mm512_loadu_ps(a + e);
        a1 = _mm512_loadu_ps(a + e + 16);
      }
      P0 = _mm512_fmadd_ps(a0, _mm512_loadu_ps(x1 + e), P0);
      P1 = _mm512_fmadd_ps(a1, _mm512_loadu_ps(x1 + e + 16), P1);
      Q0 = _mm512_fmadd_ps(a0, _mm512_loadu_ps(x2 + e), Q0);
      Q1 = _mm512_fmadd_ps(a1, _mm512_loadu_ps(x2 + e + 16), Q1);
    }
    _mm512_storeu_ps(p, P0);
    _mm512_storeu_ps(p + 16, P1);
    _mm512_storeu_ps(q, Q0);
    _mm512_storeu_ps(q + 16, Q1);
  } else
#endif
  {
    for (; e + L <= n2; e += L) {
#pragma omp simd
      for (int l = 0; l < L; ++l) {
        const T v = widen<S, T>(a[e + l]);
        p[l] += v * x1[e + l];
        q[l] += v * x2[e + l];
      }
    }
  }
  for (int l = 0; e + l < n2 && l < L; ++l) {  // tail (fewer than L reals)
    const T v = widen<S, T>(a[e + l]);
    p[l] += v * x1[e + l];
    q[l] += v * x2[e + l];
  }
  T pe = 0, po = 0, qe = 0, qo = 0;
  for (int l = 0; l < L; l += 2) pe += p[l], po += p[l + 1], qe += q[l], qo += q[l + 1];
  re = pe - qo;
  im = qe + po;
}

// y[c * 2m + 2i + {0, 1}] = (A x_c)_i for c < r; x: [r][n] complex (interleaved T), A: m rows of 2n reals of S
template <class S, class T>
void matvec(const S *A, int64_t m, int64_t n, const T *x, int r, T *y) {
  const int64_t n2 = 2 * n;
  static thread_local std::vector<T> xd;  // per right-hand side: X1 then X2 (kept between calls; the caller's
  xd.resize(2 * (size_t)r * n2);          // copy, read by all threads through xs)
  T *const xs = xd.data();
  for (int c = 0; c < r; ++c)
    for (int64_t j = 0; j < n; ++j) {
      T *d = xs + (size_t)c * 2 * n2;
      d[2 * j] = d[2 * j + 1] = x[(c * n + j) * 2];
      d[n2 + 2 * j] = d[n2 + 2 * j + 1] = x[(c * n + j) * 2 + 1];
    }
#pragma omp parallel for schedule(static) if (m * n >= CpuExec::min_parallel)
  for (int64_t i = 0; i < m; ++i) {
    const S *a = A + i * n2;
    for (int c = 0; c < r; ++c) {
      const T *d = xs + (size_t)c * 2 * n2;
      row_sums<S, T>(a, d, d + n2, n2, y[(c * m + i) * 2], y[(c * m + i) * 2 + 1]);
    }
  }
}

}  // namespace dense
}  // namespace gn
