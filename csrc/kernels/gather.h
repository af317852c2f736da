// Gather of whole sites: dst[o][j] = src[o][idx[j]] where src may be a field with
// halo (index >= V reads the halo). Used to pack halo faces and for shifts.
#pragma once
#include "core/backend.h"

namespace gn {

struct GatherKernel {
  const uint64_t *local;   // [nouter][V][w]
  const uint64_t *halo;    // [nouter][Vh][w] or nullptr
  uint64_t *dst;           // [nouter][n][w]
  const int32_t *idx;      // [n]
  int64_t n, V, Vh, w, nouter;

  GN_HD void operator()(int64_t i) const {
    const int64_t o = i / n, j = i - o * n;
    const int64_t s = idx[j];
    const uint64_t *src = s < V ? local + (o * V + s) * w : halo + (o * Vh + (s - V)) * w;
    uint64_t *d = dst + (o * n + j) * w;
    for (int64_t k = 0; k < w; ++k) d[k] = src[k];
  }
};

template <class Exec>
void gather_run(const GatherKernel &k) { Exec::run(k.n * k.nouter, k); }

}  // namespace gn
