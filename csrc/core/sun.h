// Small SU(N) matrix-vector algebra, N a compile-time constant.
#pragma once
#include "core/complex.h"

namespace gn {

// y = U x  (U row-major N x N)
template <int N, class T>
GN_HD void mat_vec(const cx<T> *GN_RESTRICT U, const cx<T> *GN_RESTRICT x, cx<T> *GN_RESTRICT y) {
#pragma unroll
  for (int a = 0; a < N; ++a) {
    cx<T> s;
#pragma unroll
    for (int b = 0; b < N; ++b) fma(s, U[a * N + b], x[b]);
    y[a] = s;
  }
}

// y = U^dag x
template <int N, class T>
GN_HD void matdag_vec(const cx<T> *GN_RESTRICT U, const cx<T> *GN_RESTRICT x, cx<T> *GN_RESTRICT y) {
#pragma unroll
  for (int a = 0; a < N; ++a) {
    cx<T> s;
#pragma unroll
    for (int b = 0; b < N; ++b) fma_conj(s, U[b * N + a], x[b]);
    y[a] = s;
  }
}

}  // namespace gn
