// Block projection (restriction R) and promotion (prolongation P = R^dag) between a fine
// field and a coarse field, and the coarse one-hop stencil with dense per-site matrices
// (shared/CONVENTIONS.md, "Learned preconditioners"; seed 000, Sec. II C).
//
//   R:  c[y, r, i] = sum_{x in B(y)} sum_e conj(u_i[x, e]) f[x, r, e]
//   P:  f[x, r, e] = sum_i u_i[x, e] c[y(x), r, i]
//   coarse hop: out[y, r] (+)= sum_k A_k(y) in[y + k, r]      (k = 0..7 hops, 8 = site term)
//
// u_i (i < nb) are the block-orthonormalised near-null vectors, stored as a fine batch
// [Vf][nb][S] with S = spin * colour elements per fine site. Each coarse site sums over its
// fine sites in a fixed order, so results do not depend on the thread count.
#pragma once
#include "core/backend.h"
#include "core/complex.h"

namespace gn {

template <class T>
struct BlockArgs {
  const int32_t *block_sites;  // [Vc][bs]: fine local sites of each coarse site
  const int32_t *block_of;     // [Vf]: coarse local site of each fine site
  const cx<T> *basis;          // [Vf][nb][S]
  const cx<T> *in;
  cx<T> *out;
  int64_t Vc, Vf, bs;
  int nb, S, nrhs;
};

template <class T>
struct ProjectKernel {
  BlockArgs<T> a;
  // CUDA / large bases: the fine vector of each site is read once and multiplied into up to CH basis
  // vectors at a time, CH independent accumulators (no serial chain).
  static constexpr int CH = 16;
  // CPU: elementwise accumulation over the whole basis tile of a site (nb * S complex numbers, contiguous
  // in memory), so that the loop vectorises like the promotion: with u = (ur, ui), f = (fr, fi) stored
  // interleaved, pa += u * (fr, fi) and pb += u * (fi, fr) elementwise, and at the end of the block
  // conj(u) f = (pa[re] + pa[im], pb[re] - pb[im]) summed over the S elements. The accumulators
  // (2 x nb x 2S reals) stay in the L1 cache.
  static constexpr int MAXR = 2048;
  GN_HD void operator()(int64_t yr) const {
    const int64_t y = yr / a.nrhs;
    const int r = (int)(yr % a.nrhs);
#ifndef __CUDA_ARCH__
    if (2 * a.nb * a.S <= MAXR) {
      if (a.S == 12) return tile<24>(y, r);
      if (a.S == 8) return tile<16>(y, r);
      return tile<0>(y, r);
    }
#endif
    for (int i0 = 0; i0 < a.nb; i0 += CH) {
      const int ni = a.nb - i0 < CH ? a.nb - i0 : CH;
      cx<T> acc[CH];
      for (int i = 0; i < CH; ++i) acc[i] = cx<T>();
      for (int64_t b = 0; b < a.bs; ++b) {
        const int64_t x = a.block_sites[y * a.bs + b];
        const cx<T> *u = a.basis + (x * a.nb + i0) * a.S;
        const cx<T> *f = a.in + (x * a.nrhs + r) * a.S;
        for (int e = 0; e < a.S; ++e) {
          const cx<T> fe = f[e];
          for (int i = 0; i < ni; ++i) fma_conj(acc[i], u[i * a.S + e], fe);
        }
      }
      for (int i = 0; i < ni; ++i) a.out[(y * a.nrhs + r) * a.nb + i0 + i] = acc[i];
    }
  }

  // S2F = 2 S known at compile time (0: a.S at run time)
  template <int S2F>
  void tile(int64_t y, int r) const {
    const int S2 = S2F ? S2F : 2 * a.S;
    const int n = a.nb * S2;
    alignas(64) T pa[MAXR], pb[MAXR], f1[MAXR / 2], f2[MAXR / 2];
    for (int k = 0; k < n; ++k) pa[k] = pb[k] = T(0);
    for (int64_t b = 0; b < a.bs; ++b) {
      const int64_t x = a.block_sites[y * a.bs + b];
      const T *u = reinterpret_cast<const T *>(a.basis + x * a.nb * a.S);
      const T *f = reinterpret_cast<const T *>(a.in + (x * a.nrhs + r) * a.S);
      if (b + 1 < a.bs) {  // the next site's tile: a jump in memory the hardware prefetcher does not predict
        const char *nx = reinterpret_cast<const char *>(a.basis + (int64_t)a.block_sites[y * a.bs + b + 1] * a.nb * a.S);
        for (int64_t j = 0; j < (int64_t)(n * sizeof(T)); j += 64) __builtin_prefetch(nx + j);
      }
      for (int e = 0; e < S2; e += 2) {
        f1[e] = f[e], f1[e + 1] = f[e + 1];
        f2[e] = f[e + 1], f2[e + 1] = f[e];
      }
      for (int i = 0; i < a.nb; ++i) {
        const T *ui = u + i * S2;
        T *qa = pa + i * S2, *qb = pb + i * S2;
#pragma omp simd
        for (int e = 0; e < S2; ++e) {
          qa[e] += ui[e] * f1[e];
          qb[e] += ui[e] * f2[e];
        }
      }
    }
    cx<T> *o = a.out + (y * a.nrhs + r) * a.nb;
    for (int i = 0; i < a.nb; ++i) {
      T re = 0, im = 0;
      for (int e = 0; e < S2; e += 2) {
        re += pa[i * S2 + e] + pa[i * S2 + e + 1];
        im += pb[i * S2 + e] - pb[i * S2 + e + 1];
      }
      o[i] = cx<T>(re, im);
    }
  }
};

template <class T>
struct PromoteKernel {
  BlockArgs<T> a;
  GN_HD void operator()(int64_t x) const {
    const int64_t y = a.block_of[x];
    for (int r = 0; r < a.nrhs; ++r) {
      const cx<T> *c = a.in + (y * a.nrhs + r) * a.nb;
      cx<T> *f = a.out + (x * a.nrhs + r) * a.S;
      for (int e = 0; e < a.S; ++e) f[e] = cx<T>();
      for (int i = 0; i < a.nb; ++i) {
        const cx<T> *u = a.basis + (x * a.nb + i) * a.S;
        const cx<T> ci = c[i];
        for (int e = 0; e < a.S; ++e) fma(f[e], u[e], ci);
      }
    }
  }
};

template <class Exec, class T>
void block_project_run(const BlockArgs<T> &a) {
  Exec::run_items(a.Vc * a.nrhs, a.bs * a.nb / 4 + 1, ProjectKernel<T>{a});
}

template <class Exec, class T>
void block_promote_run(const BlockArgs<T> &a) { Exec::run(a.Vf, PromoteKernel<T>{a}); }

template <class T>
struct CoarseHopArgs {
  cx<T> *out;                // [V][nrhs][n]
  HaloView<const cx<T>> in;  // [V + Vh][nrhs][n]
  const cx<T> *A;            // [V][9][n][n]
  const int32_t *nbr;        // [V][8]
  SiteList sites;
  unsigned hop_mask;
  int n, nrhs, accumulate;
};

template <class T>
struct CoarseHopKernel {
  CoarseHopArgs<T> a;
  GN_HD void operator()(int64_t i) const {
    const int64_t x = a.sites[i];
    const int64_t blk = (int64_t)a.nrhs * a.n;
    cx<T> *o = a.out + x * blk;
    if (!a.accumulate)
      for (int64_t e = 0; e < blk; ++e) o[e] = cx<T>();
    for (int k = 0; k < 9; ++k) {
      if (!((a.hop_mask >> k) & 1u)) continue;
      const cx<T> *src = a.in.site(k == 8 ? x : (int64_t)a.nbr[x * 8 + k]);
      const cx<T> *Ak = a.A + (x * 9 + k) * a.n * a.n;
      for (int r = 0; r < a.nrhs; ++r)
        for (int p = 0; p < a.n; ++p) {
          cx<T> s;
          for (int q = 0; q < a.n; ++q) fma(s, Ak[p * a.n + q], src[r * a.n + q]);
          o[r * a.n + p] += s;
        }
    }
  }
};

template <class Exec, class T>
void coarse_hop_run(const CoarseHopArgs<T> &a) { Exec::run(a.sites.n, CoarseHopKernel<T>{a}); }

}  // namespace gn
