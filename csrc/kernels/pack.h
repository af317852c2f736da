// Conversion between the ordinary site-major layout of CONVENTIONS.md ([V][R] reals per site) and
// the packed eight-site-block layout of the packed Wilson kernel (kernels/wilson_packed.h,
// [V/8][R][8]: real e of site 8 B + l at (B R + e) 8 + l). Pure data movement, so the element
// type is a word of the real's size (uint64_t for double, uint32_t for float). CPU only.
#pragma once
#include <cstdint>
#include "core/backend.h"

namespace gn {

// ordinary -> packed, one block (its R x 8 tile) per step
template <class W>
struct PackKernel {
  const W *src;  // [V][R]
  W *dst;        // [V/8][R][8]
  int64_t R;
  void operator()(int64_t B) const {
    const W *s = src + B * 8 * R;
    W *d = dst + B * 8 * R;
    for (int64_t e = 0; e < R; ++e)
      for (int l = 0; l < 8; ++l) d[e * 8 + l] = s[l * R + e];
  }
};

// packed -> ordinary
template <class W>
struct UnpackKernel {
  const W *src;  // [V/8][R][8]
  W *dst;        // [V][R]
  int64_t R;
  void operator()(int64_t B) const {
    const W *s = src + B * 8 * R;
    W *d = dst + B * 8 * R;
    for (int l = 0; l < 8; ++l)
      for (int64_t e = 0; e < R; ++e) d[l * R + e] = s[e * 8 + l];
  }
};

// the sites idx[j] of a packed field, in the ordinary layout: dst[j][e] (halo faces to send)
template <class W>
struct GatherPackedKernel {
  const W *src;        // [V/8][R][8]
  W *dst;              // [n][R]
  const int32_t *idx;  // [n]
  int64_t R;
  void operator()(int64_t j) const {
    const int64_t s = idx[j];
    const W *p = src + (s / 8) * 8 * R + s % 8;
    W *d = dst + j * R;
    for (int64_t e = 0; e < R; ++e) d[e] = p[e * 8];
  }
};

// Between a batch of n packed vectors in the kernels' multi-right-hand-side layout, [V/8][n][R1][8] (R1 reals
// per site and vector; kernels/wilson_packed.h's nrhs), and the same n vectors one after the other,
// [n][V/8][R1][8], each a packed vector of its own (a per-rhs Krylov basis row; rs words from the start of one
// row to the next, at least V/8 * 8 R1): split copies the batch into the rows, join the rows into the batch.
// One block (n contiguous runs of 8 R1 words) per step.
template <class W>
struct RhsSplitKernel {
  const W *src;   // batch [V/8][n][L]
  W *dst;         // rows [n][V/8][L], row r at dst + r rs
  int64_t rs, n, L;
  void operator()(int64_t B) const {
    for (int64_t r = 0; r < n; ++r) {
      const W *s = src + (B * n + r) * L;
      W *d = dst + r * rs + B * L;
      for (int64_t e = 0; e < L; ++e) d[e] = s[e];
    }
  }
};

template <class W>
struct RhsJoinKernel {
  const W *src;   // rows [n][V/8][L], row r at src + r rs
  W *dst;         // batch [V/8][n][L]
  int64_t rs, n, L;
  void operator()(int64_t B) const {
    for (int64_t r = 0; r < n; ++r) {
      const W *s = src + r * rs + B * L;
      W *d = dst + (B * n + r) * L;
      for (int64_t e = 0; e < L; ++e) d[e] = s[e];
    }
  }
};

}  // namespace gn
