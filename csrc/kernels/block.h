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
#include "kernels/bf16.h"
#include <type_traits>
#include <vector>

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
  // CPU only: the basis stored as bfloat16 (the upper 16 bits of each float), [Vf][nb][S][re, im]; basis is
  // then unused. Halves the bytes the projection and promotion stream (their cost in a multigrid
  // preconditioner that runs out of cache); the tile kernels widen a site's tile in L1 first.
  const uint16_t *basis16 = nullptr;
};

// A site's basis tile (nb * S complex numbers as 2 nb S reals): in place, or widened from bfloat16 into buf.
template <class T>
inline const T *basis_tile(const BlockArgs<T> &a, int64_t x, T *buf, int n) {
  if (!a.basis16) return reinterpret_cast<const T *>(a.basis + x * a.nb * a.S);
  const uint16_t *h = a.basis16 + x * (int64_t)n;
  int e = 0;
#if defined(__AVX512F__) && !defined(__CUDACC__)
  if constexpr (std::is_same<T, float>::value) {   // 16 at a time: widen to 32 bits, shift into the upper half
    for (; e + 16 <= n; e += 16) _mm512_storeu_ps(buf + e, bf16x16_to_floats(h + e));
  }
#endif
  for (; e < n; ++e) buf[e] = (T)bf16_to_float(h[e]);
  return buf;
}

template <class T>
inline const char *basis_tile_address(const BlockArgs<T> &a, int64_t x) {
  return a.basis16 ? reinterpret_cast<const char *>(a.basis16 + x * 2 * (int64_t)a.nb * a.S)
                   : reinterpret_cast<const char *>(a.basis + x * a.nb * a.S);
}

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

  // One site's step: pa += u * (fr, fi), pb += u * (fi, fr) elementwise over the tile (nb rows of S2 reals)
  template <int S2F>
  static void accumulate_site(const T *u, const T *f, T *pa, T *pb, int nb, int S2r) {
    const int S2 = S2F ? S2F : S2r;
    alignas(64) T f1[MAXR / 2], f2[MAXR / 2];
    for (int e = 0; e < S2; e += 2) {
      f1[e] = f[e], f1[e + 1] = f[e + 1];
      f2[e] = f[e + 1], f2[e + 1] = f[e];
    }
    for (int i = 0; i < nb; ++i) {
      const T *ui = u + i * S2;
      T *qa = pa + i * S2, *qb = pb + i * S2;
#pragma omp simd
      for (int e = 0; e < S2; ++e) {
        qa[e] += ui[e] * f1[e];
        qb[e] += ui[e] * f2[e];
      }
    }
  }

  // conj(u_i) f summed over the block: (pa[re] + pa[im], pb[re] - pb[im]) over each row
  static void finish_tile(const T *pa, const T *pb, cx<T> *o, int nb, int S2) {
    for (int i = 0; i < nb; ++i) {
      T re = 0, im = 0;
      for (int e = 0; e < S2; e += 2) {
        re += pa[i * S2 + e] + pa[i * S2 + e + 1];
        im += pb[i * S2 + e] - pb[i * S2 + e + 1];
      }
      o[i] = cx<T>(re, im);
    }
  }

  // S2F = 2 S known at compile time (0: a.S at run time)
  template <int S2F>
  void tile(int64_t y, int r) const {
    const int S2 = S2F ? S2F : 2 * a.S;
    const int n = a.nb * S2;
    alignas(64) T pa[MAXR], pb[MAXR], ub[MAXR];
    const int64_t tile_bytes = a.basis16 ? 2 * n : (int64_t)(n * sizeof(T));
    for (int k = 0; k < n; ++k) pa[k] = pb[k] = T(0);
    for (int64_t b = 0; b < a.bs; ++b) {
      const int64_t x = a.block_sites[y * a.bs + b];
      const T *u = basis_tile(a, x, ub, n);
      const T *f = reinterpret_cast<const T *>(a.in + (x * a.nrhs + r) * a.S);
      if (b + 1 < a.bs) {  // the next site's tile: a jump in memory the hardware prefetcher does not predict
        const char *nx = basis_tile_address(a, a.block_sites[y * a.bs + b + 1]);
        for (int64_t j = 0; j < tile_bytes; j += 64) __builtin_prefetch(nx + j);
      }
      accumulate_site<S2F>(u, f, pa, pb, a.nb, S2);
    }
    finish_tile(pa, pb, a.out + (y * a.nrhs + r) * a.nb, a.nb, S2);
  }
};

template <class T>
struct PromoteKernel {
  BlockArgs<T> a;
  GN_HD void operator()(int64_t x) const {
#ifndef __CUDA_ARCH__
    if (a.S == 12) return tile<24>(x);
    if (a.S == 8) return tile<16>(x);
#endif
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

  // CPU, S2 = 2 S reals per site and vector: on the interleaved arrays P = sum_i u_i Re c_i and
  // Q = sum_i u_i Im c_i elementwise (vectorised, accumulators in registers), then f = (P_re - Q_im,
  // P_im + Q_re): 1.5-2x faster than complex products element by element
  template <int S2>
  void tile(int64_t x) const {
    const int64_t y = a.block_of[x];
    alignas(64) T ub[ProjectKernel<T>::MAXR];
    if (x + 4 < a.Vf) {   // four sites ahead: one core streams the basis from memory with more misses in flight
      const char *nx = basis_tile_address(a, x + 4);
      const int64_t bytes = a.basis16 ? 2 * (int64_t)a.nb * S2 : (int64_t)(a.nb * S2 * sizeof(T));
      for (int64_t j = 0; j < bytes; j += 64) __builtin_prefetch(nx + j);
    }
    const T *u = basis_tile(a, x, ub, a.nb * S2);
    for (int r = 0; r < a.nrhs; ++r) {
      const T *c = reinterpret_cast<const T *>(a.in + (y * a.nrhs + r) * a.nb);
      T *f = reinterpret_cast<T *>(a.out + (x * a.nrhs + r) * a.S);
      alignas(64) T P[S2], Q[S2];
      for (int e = 0; e < S2; ++e) P[e] = Q[e] = T(0);
      for (int i = 0; i < a.nb; ++i) {
        const T cr = c[2 * i], ci = c[2 * i + 1];
        const T *ui = u + i * S2;
#pragma omp simd
        for (int e = 0; e < S2; ++e) P[e] += ui[e] * cr, Q[e] += ui[e] * ci;
      }
      for (int e = 0; e < S2; e += 2) f[e] = P[e] - Q[e + 1], f[e + 1] = P[e + 1] + Q[e];
    }
  }
};

template <class Exec, class T>
void block_project_run(const BlockArgs<T> &a) {
  Exec::run_items(a.Vc * a.nrhs, a.bs * a.nb / 4 + 1, ProjectKernel<T>{a});
}

template <class Exec, class T>
void block_promote_run(const BlockArgs<T> &a) { Exec::run(a.Vf, PromoteKernel<T>{a}); }

#if !defined(__CUDACC__)
// CPU projection in memory order. The fine sites are cut into segments [seg[s], seg[s + 1]) that hold
// whole blocks (no block has sites on both sides of a cut: for blocks of bt time slices, each segment is a
// slab of bt slices); one work item per segment and right-hand side accumulates its blocks' tiles while
// reading the basis sequentially (block order jumps every bx sites: the hardware prefetcher loses the
// stream; measured 0.37 -> 0.30 ms for 4096 sites x 24 vectors, from L3). Every block still sums its sites
// in increasing index with the tile's arithmetic: the results are bitwise those of ProjectKernel.
template <class T>
struct ProjectSegments {
  BlockArgs<T> a;
  const int64_t *seg;

  static std::vector<int64_t> cuts(const BlockArgs<T> &a) {
    std::vector<int64_t> seg{0};
    int64_t reach = -1;   // the last site of any block met so far
    for (int64_t x = 0; x < a.Vf; ++x) {
      const int64_t last = a.block_sites[(int64_t)a.block_of[x] * a.bs + a.bs - 1];
      reach = last > reach ? last : reach;
      if (reach == x) seg.push_back(x + 1);
    }
    return seg;
  }

  // acc: room for the segment's blocks (2 x nb x S2 reals each); slot: [Vc], all -1 on entry and exit
  template <int S2F>
  void run(int64_t s, int r, T *acc, int32_t *slot, int32_t *ys) const {
    const int S2 = S2F ? S2F : 2 * a.S;
    const int n = a.nb * S2;
    alignas(64) T ub[ProjectKernel<T>::MAXR];
    int nys = 0;
    for (int64_t x = seg[s]; x < seg[s + 1]; ++x) {
      const int32_t y = a.block_of[x];
      if (slot[y] < 0) {
        slot[y] = nys, ys[nys++] = y;
        for (int e = 0; e < 2 * n; ++e) acc[(int64_t)slot[y] * 2 * n + e] = T(0);
      }
      T *pa = acc + (int64_t)slot[y] * 2 * n, *pb = pa + n;
      const T *u = basis_tile(a, x, ub, n);
      const T *f = reinterpret_cast<const T *>(a.in + (x * a.nrhs + r) * a.S);
      ProjectKernel<T>::template accumulate_site<S2F>(u, f, pa, pb, a.nb, S2);
    }
    for (int k = 0; k < nys; ++k) {
      const int32_t y = ys[k];
      slot[y] = -1;
      const T *pa = acc + (int64_t)k * 2 * n, *pb = pa + n;
      ProjectKernel<T>::finish_tile(pa, pb, a.out + (y * a.nrhs + r) * a.nb, a.nb, S2);
    }
  }
};

// CPU projection of several right-hand sides (nrhs > 1), one work item per coarse site: each fine site's basis
// tile is read (and widened from bfloat16) once and multiplied into the accumulators of every right-hand side,
// where the per-rhs items read the whole basis nrhs times (16^3 x 32, 12 vectors on 4^4 blocks, bfloat16 basis,
// 12 right-hand sides: the basis is 75 MB per rank). Per block and right-hand side the sums are those of
// ProjectKernel::tile bitwise (sites in block order, the same tile arithmetic), so a batch restricts exactly as
// its right-hand sides one by one.
template <class T>
struct ProjectAllRhs {
  BlockArgs<T> a;
  template <int S2F>
  void run(int64_t y, T *acc) const {
    const int S2 = S2F ? S2F : 2 * a.S;
    const int n = a.nb * S2;
    alignas(64) T ub[ProjectKernel<T>::MAXR];
    const int64_t tile_bytes = a.basis16 ? 2 * n : (int64_t)(n * sizeof(T));
    for (int64_t k = 0; k < 2 * (int64_t)n * a.nrhs; ++k) acc[k] = T(0);
    for (int64_t b = 0; b < a.bs; ++b) {
      const int64_t x = a.block_sites[y * a.bs + b];
      const T *u = basis_tile(a, x, ub, n);
      if (b + 1 < a.bs) {
        const char *nx = basis_tile_address(a, a.block_sites[y * a.bs + b + 1]);
        for (int64_t j = 0; j < tile_bytes; j += 64) __builtin_prefetch(nx + j);
      }
      for (int r = 0; r < a.nrhs; ++r) {
        const T *f = reinterpret_cast<const T *>(a.in + (x * a.nrhs + r) * a.S);
        T *pa = acc + 2 * (int64_t)n * r;
        ProjectKernel<T>::template accumulate_site<S2F>(u, f, pa, pa + n, a.nb, S2);
      }
    }
    for (int r = 0; r < a.nrhs; ++r) {
      const T *pa = acc + 2 * (int64_t)n * r;
      ProjectKernel<T>::finish_tile(pa, pa + n, a.out + (y * a.nrhs + r) * a.nb, a.nb, S2);
    }
  }
};

template <class T>
void block_project_cpu(const BlockArgs<T> &a) {
  const int64_t n2 = 2 * (int64_t)a.nb * 2 * a.S;   // reals of one block's accumulators
  if (a.nrhs > 1 && 2 * a.nb * a.S <= ProjectKernel<T>::MAXR) {
    ProjectAllRhs<T> k{a};
#pragma omp parallel if (a.Vc * a.bs * a.nrhs >= CpuExec::min_parallel)
    {
      static thread_local std::vector<T> acc;
      if ((int64_t)acc.size() < n2 * a.nrhs) acc.resize(n2 * a.nrhs);
#pragma omp for schedule(static)
      for (int64_t y = 0; y < a.Vc; ++y) {
        if (a.S == 12) k.template run<24>(y, acc.data());
        else k.template run<0>(y, acc.data());
      }
    }
    return;
  }
  if (2 * a.nb * a.S <= ProjectKernel<T>::MAXR) {
    const std::vector<int64_t> seg = ProjectSegments<T>::cuts(a);
    const int64_t nseg = (int64_t)seg.size() - 1;
    int64_t most = 0;   // blocks in the largest segment
    for (int64_t s = 0; s < nseg; ++s) {
      const int64_t nb_s = (seg[s + 1] - seg[s]) / a.bs;
      most = nb_s > most ? nb_s : most;
    }
    // enough items for the threads, and the accumulators of a segment within L2 (else block order)
    if (nseg * a.nrhs >= cpu_threads() && most * n2 * (int64_t)sizeof(T) <= (1 << 20)) {
      ProjectSegments<T> k{a, seg.data()};
#pragma omp parallel
      {
        static thread_local std::vector<T> acc;
        static thread_local std::vector<int32_t> slot, ys;
        if ((int64_t)acc.size() < most * n2) acc.resize(most * n2);
        if ((int64_t)slot.size() < a.Vc) slot.assign(a.Vc, -1), ys.resize(a.Vc);
#pragma omp for schedule(static)
        for (int64_t it = 0; it < nseg * a.nrhs; ++it) {
          if (a.S == 12) k.template run<24>(it / a.nrhs, (int)(it % a.nrhs), acc.data(), slot.data(), ys.data());
          else k.template run<0>(it / a.nrhs, (int)(it % a.nrhs), acc.data(), slot.data(), ys.data());
        }
      }
      return;
    }
  }
  CpuExec::run_items(a.Vc * a.nrhs, a.bs * a.nb / 4 + 1, ProjectKernel<T>{a});
}

template <>
inline void block_project_run<CpuExec, float>(const BlockArgs<float> &a) { block_project_cpu(a); }
template <>
inline void block_project_run<CpuExec, double>(const BlockArgs<double> &a) { block_project_cpu(a); }

#endif

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
