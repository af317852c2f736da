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

// the end of a row's sums: the tail from e on (fewer than 32 reals) into the lane sums p, q, then (re, im)
template <class S, class T>
inline void finish_sums(const S *a, const T *x1, const T *x2, int64_t n2, int64_t e, T *p, T *q, T &re, T &im) {
  constexpr int L = 32;
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
  finish_sums<S, T>(a, x1, x2, n2, e, p, q, re, im);
}

// four consecutive rows (a, a + n2, ...) against one vector: each chunk of X1 / X2 is loaded once for the four
// rows (one row at a time reads the vector, 2n reals x 2, once per row: from L2 for the coarse grids here). Per
// row the arithmetic is row_sums' (the same lanes, chunks and final sums), so the results are the same bitwise.
template <class S, class T>
inline void row_sums4(const S *a, const T *x1, const T *x2, int64_t n2, T *re, T *im) {
#if defined(__AVX512F__) && !defined(__CUDACC__)
  if constexpr (std::is_same<T, float>::value) {
    constexpr int L = 32;
    __m512 P0[4], P1[4], Q0[4], Q1[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) P0[k] = P1[k] = Q0[k] = Q1[k] = _mm512_setzero_ps();
    int64_t e = 0;
    for (; e + L <= n2; e += L) {
      const __m512 x10 = _mm512_loadu_ps(x1 + e), x11 = _mm512_loadu_ps(x1 + e + 16);
      const __m512 x20 = _mm512_loadu_ps(x2 + e), x21 = _mm512_loadu_ps(x2 + e + 16);
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const S *ak = a + k * n2;
        __m512 a0, a1;
        if constexpr (std::is_same<S, uint16_t>::value) {
          a0 = bf16x16_to_floats(ak + e);
          a1 = bf16x16_to_floats(ak + e + 16);
        } else {
          a0 = _mm512_loadu_ps(ak + e);
          a1 = _mm512_loadu_ps(ak + e + 16);
        }
        P0[k] = _mm512_fmadd_ps(a0, x10, P0[k]);
        P1[k] = _mm512_fmadd_ps(a1, x11, P1[k]);
        Q0[k] = _mm512_fmadd_ps(a0, x20, Q0[k]);
        Q1[k] = _mm512_fmadd_ps(a1, x21, Q1[k]);
      }
    }
    for (int k = 0; k < 4; ++k) {
      T p[L], q[L];
      _mm512_storeu_ps(p, P0[k]);
      _mm512_storeu_ps(p + 16, P1[k]);
      _mm512_storeu_ps(q, Q0[k]);
      _mm512_storeu_ps(q + 16, Q1[k]);
      finish_sums<S, T>(a + k * n2, x1, x2, n2, e, p, q, re[k], im[k]);
    }
    return;
  }
#endif
  for (int k = 0; k < 4; ++k) row_sums<S, T>(a + k * n2, x1, x2, n2, re[k], im[k]);
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
  // groups of four rows (row_sums4: the vectors read once per group), each group's rows by one thread
  const int64_t ng = (m + 3) / 4;
#pragma omp parallel for schedule(static) if (m * n >= CpuExec::min_parallel)
  for (int64_t g = 0; g < ng; ++g) {
    const int64_t i0 = 4 * g;
    for (int c = 0; c < r; ++c) {
      const T *d = xs + (size_t)c * 2 * n2;
      if (i0 + 4 <= m) {
        T re[4], im[4];
        row_sums4<S, T>(A + i0 * n2, d, d + n2, n2, re, im);
        for (int k = 0; k < 4; ++k) y[(c * m + i0 + k) * 2] = re[k], y[(c * m + i0 + k) * 2 + 1] = im[k];
      } else {
        for (int64_t i = i0; i < m; ++i)
          row_sums<S, T>(A + i * n2, d, d + n2, n2, y[(c * m + i) * 2], y[(c * m + i) * 2 + 1]);
      }
    }
  }
}

}  // namespace dense
}  // namespace gn
