// Site order and lane assignment shared by the eight-sites-per-step CPU kernels (Wilson:
// wilson_simd.h; one-hop stencil: hop_simd.h, hop_grad.h): an explicit, non-contiguous site list is
// visited as given; the whole local lattice (or a range of whole t-slices, e.g. the interior when
// only t is split) is visited in blocks of bz z-planes with t fastest, so that the +-t and +-z
// neighbours of a group are still in the cache when they are read again (a plain lexicographic
// sweep of a 32^4 lattice reuses them only after ~30 MB of other data). The geometry is read off the
// neighbour table (site 0's +z and +t neighbours); anything unexpected falls back to the list order.
#pragma once
#include <cstdint>
#include "core/backend.h"

#ifndef GN_HOP_BLOCK_BYTES
#define GN_HOP_BLOCK_BYTES (8 << 20)
#endif

namespace gn {
namespace hop8 {

struct Order {
  const int32_t *idx = nullptr;  // explicit list (not blocked)
  int64_t first = 0;             // range mode: sites first + pos
  bool blocked = false;
  int64_t Sz = 0, St = 0, lz = 0, nt = 0, bz = 1, t0 = 0;

  GN_HD int64_t group_start(int64_t pos) const {  // blocked: the site of position pos (8 | Sz)
    const int64_t q = pos / Sz, w = pos - q * Sz;
    const int64_t zb = q / (nt * bz), rem = q - zb * nt * bz;
    const int64_t t = t0 + rem / bz, z = zb * bz + rem % bz;
    return t * St + z * Sz + w;
  }

  // the sites of group g (positions 8 g ... 8 g + 7 of n); lanes past the end repeat the last site
  inline int lanes(int64_t g, int64_t n, int64_t (&xs)[8]) const {
    const int64_t i0 = g * 8;
    const int m = n - i0 < 8 ? (int)(n - i0) : 8;
    if (blocked) {
      const int64_t s0 = group_start(i0);
      for (int l = 0; l < 8; ++l) xs[l] = s0 + l;
    } else if (idx) {
      for (int l = 0; l < 8; ++l) xs[l] = idx[i0 + (l < m ? l : m - 1)];
    } else {
      for (int l = 0; l < 8; ++l) xs[l] = first + i0 + (l < m ? l : m - 1);
    }
    return m;
  }
};

// bytes_per_site: the lattice data of one site the sweep streams through; the planes of two
// consecutive t-steps of a z-block are kept within block_bytes / 2
inline Order make_order(const int32_t *nbr, int64_t V, const SiteList &sites, int64_t bytes_per_site,
                        int64_t block_bytes = GN_HOP_BLOCK_BYTES) {
  Order o;
  o.idx = sites.idx;
  const int64_t n = sites.n;
  int64_t first = 0;
  if (sites.idx) {  // a contiguous range given as a list?
    if (n < 1) return o;
    first = sites.idx[0];
    for (int64_t i = 1; i < n; ++i)
      if (sites.idx[i] != first + i) return o;
  }
  o.idx = nullptr;
  o.first = first;
  if (V < 64 || n < 64) {
    o.idx = sites.idx;
    return o;
  }
  const int64_t Sz = nbr[4], St = nbr[6];  // site 0 + z, site 0 + t (local extents are >= 2)
  if (!(Sz > 0 && St > Sz && St < V && St % Sz == 0 && V % St == 0 && Sz % 8 == 0)) return o;
  if (first % St || n % St) return o;
  o.blocked = true;
  o.Sz = Sz, o.St = St, o.lz = St / Sz, o.nt = n / St, o.t0 = first / St;
  const int64_t plane_bytes = Sz * bytes_per_site;
  int64_t bz = 1;
  while (bz * 2 <= o.lz && o.lz % (bz * 2) == 0 && 2 * bz * 2 * plane_bytes <= block_bytes) bz *= 2;
  o.bz = bz;
  return o;
}

}  // namespace hop8
}  // namespace gn
