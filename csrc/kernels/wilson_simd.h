// CPU (AVX-512) version of the Wilson(-clover) kernel of wilson.h: the same arithmetic, eight
// sites at once, one per SIMD lane (kernels/simd8.h). For each hop the neighbour spinors and links
// of the eight sites are loaded in the fields' own layout and transposed in registers, so that the
// spin projection, the SU(N) products and the reconstruction run with every lane busy and no
// shuffles; the result is transposed back on the store. Each link (and clover block) is loaded and
// transposed once per site for all right-hand sides.
//
// The summation order per site is that of WilsonKernel (hops in the order +x, -x, +y, ..., -t,
// colour sums in ascending order), so results agree with it to rounding (fused multiply-adds may
// differ). With diag == 0 and no clover (the pure hopping term) the site's own spinor is not read.
#pragma once
// (included by wilson.h after WilsonArgs)
#include "kernels/simd8.h"
#include "kernels/hop_order.h"
#include "core/spin.h"
#if GN_SIMD8
#include <cstdint>

// bytes of lattice data the blocked site order tries to keep in the cache between t-steps
#ifndef GN_WILSON_BLOCK_BYTES
#define GN_WILSON_BLOCK_BYTES (8 << 20)
#endif
// software prefetch: distance in sites (a multiple of 8) and cache level
#ifndef GN_WILSON_PF_SITES
#define GN_WILSON_PF_SITES 16
#endif
#ifndef GN_WILSON_PF_HINT
#define GN_WILSON_PF_HINT _MM_HINT_T0
#endif

namespace gn {

template <int N, int SF, class T>
struct WilsonSimd {
  using V = simd::V8<T>;
  using R = typename V::reg;
  using C = simd::cv<T>;
  static constexpr int NS = 8 * N;        // reals of one spinor: 4 spins x N colours x (re, im)
  static constexpr int NL = 2 * N * N;    // reals of one link
  static constexpr int NC = 16 * N * N;   // reals of one clover site: 2 blocks of (2N)^2 complex

  static GN_SIMD_INLINE C cs(const R *s, int spin, int c) { return {s[(spin * N + c) * 2], s[(spin * N + c) * 2 + 1]}; }

  // out[a] = U[a][b] h[b] (back = false) or conj(U[b][a]) h[b] (back = true), U a transposed link tile
  template <bool back>
  static GN_SIMD_INLINE void mul(const R *u, const C (&h)[N], C (&o)[N]) {
    R f[2 * N], re[N], im[N];
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) f[2 * j] = h[j].re, f[2 * j + 1] = h[j].im;
    simd::cmatvec<N, back>(u, f, re, im);
#pragma GCC unroll 4
    for (int i = 0; i < N; ++i) o[i] = {re[i], im[i]};
  }

  // one hop: project the neighbour spinor, multiply by the link, reconstruct, accumulate
  template <int mu, int sign, bool back>
  static GN_SIMD_INLINE void hop(const R *u, const R *s, R *acc) {
    constexpr int q = sign < 0 ? 2 : 0;
    constexpr int c0 = gamma_col[mu][0], c1 = gamma_col[mu][1];
    constexpr int c2 = gamma_col[mu][2], c3 = gamma_col[mu][3];
    constexpr int p0 = gamma_phase[mu][0] + q, p1 = gamma_phase[mu][1] + q;
    constexpr int p2 = gamma_phase[mu][2] + q, p3 = gamma_phase[mu][3] + q;
    C h0[N], h1[N], u0[N], u1[N];
#pragma GCC unroll 4
    for (int c = 0; c < N; ++c) {
      h0[c] = simd::add_ipow<p0>(cs(s, 0, c), cs(s, c0, c));
      h1[c] = simd::add_ipow<p1>(cs(s, 1, c), cs(s, c1, c));
    }
    mul<back>(u, h0, u0);
    mul<back>(u, h1, u1);
#pragma GCC unroll 4
    for (int c = 0; c < N; ++c) {
      C a0 = cs(acc, 0, c), a1 = cs(acc, 1, c), a2 = cs(acc, 2, c), a3 = cs(acc, 3, c);
      a0 = simd::add_ipow<0>(a0, u0[c]);
      a1 = simd::add_ipow<0>(a1, u1[c]);
      a2 = simd::add_ipow<p2>(a2, c2 == 0 ? u0[c] : u1[c]);
      a3 = simd::add_ipow<p3>(a3, c3 == 0 ? u0[c] : u1[c]);
      acc[(0 * N + c) * 2] = a0.re, acc[(0 * N + c) * 2 + 1] = a0.im;
      acc[(1 * N + c) * 2] = a1.re, acc[(1 * N + c) * 2 + 1] = a1.im;
      acc[(2 * N + c) * 2] = a2.re, acc[(2 * N + c) * 2 + 1] = a2.im;
      acc[(3 * N + c) * 2] = a3.re, acc[(3 * N + c) * 2 + 1] = a3.im;
    }
  }

  // where the lanes' data live: site y < V in the local array, y >= V in the halo (base shifted by -V)
  struct Bases {
    const T *in_lo, *in_hi, *U_lo[4], *Ub_lo[4], *Ub_hi[4], *clover, *local, *site;
    T *out;
    const int32_t *nbr;
    int64_t V;
  };

  static Bases bases(const WilsonArgs<T> &a) {
    Bases b;
    const int64_t V = a.in.V, sst = a.in.site_elems * 2;
    b.V = V;
    b.local = reinterpret_cast<const T *>(a.in.local);
    b.in_lo = b.local;
    // halo bases shifted by -V so that site y >= V is at base + y * stride (no halo: never used); the
    // forward hops read U_mu(x) of the local output site x only
    b.in_hi = a.in.halo ? reinterpret_cast<const T *>(a.in.halo) - V * sst : b.local;
    for (int mu = 0; mu < 4; ++mu) {
      b.U_lo[mu] = reinterpret_cast<const T *>(a.U[mu].local);
      b.Ub_lo[mu] = reinterpret_cast<const T *>(a.Ub[mu].local);
      b.Ub_hi[mu] = a.Ub[mu].halo ? reinterpret_cast<const T *>(a.Ub[mu].halo) - V * NL : b.Ub_lo[mu];
    }
    b.site = reinterpret_cast<const T *>(a.site_in);  // the site term's spinor
    b.clover = reinterpret_cast<const T *>(a.clover);
    b.out = reinterpret_cast<T *>(a.out);
    b.nbr = a.nbr;
    return b;
  }

  static GN_SIMD_INLINE void pf(const void *p) { _mm_prefetch(static_cast<const char *>(p), GN_WILSON_PF_HINT); }
  static GN_SIMD_INLINE void pf_bytes(const T *p, int64_t n) {
    const char *c = reinterpret_cast<const char *>(p);
    for (int64_t j = 0; j < n * (int64_t)sizeof(T); j += 64) pf(c + j);
  }
  static GN_SIMD_INLINE void pf_link(const T *u) {
    const char *c = reinterpret_cast<const char *>(u);
#pragma GCC unroll 4
    for (int j = 0; j < NL * (int)sizeof(T); j += 64) pf(c + j);
  }
  // the link U_mu(y) a backward hop reads at its neighbour y
  static GN_SIMD_INLINE const T *back_link(const Bases &b, int mu, int64_t y) {
    return (y < b.V ? b.Ub_lo[mu] : b.Ub_hi[mu]) + y * NL;
  }
  static GN_SIMD_INLINE const T *spinor(const Bases &b, int64_t y, int64_t sst) {
    return (y < b.V ? b.in_lo : b.in_hi) + y * sst;
  }

  // Software prefetch of a later group's data (xn: its sites), spread over the eight hops of the
  // current group so that the misses overlap with the arithmetic: during hop k a share of it.
  // Covered: the links U_mu(x), the output, the +-t and +-z neighbour spinors, the backward t and z
  // links and the clover blocks (the rest is reused from the cache). Hardware prefetchers alone do not
  // keep up with eight sites' scattered rows at a time.
  // One right-hand side: all of the later group's data during the group's eight hops.
  template <int k, bool OUTPF>
  static GN_SIMD_INLINE void pf_piece1(const Bases &b, const int64_t *xn, int64_t sst) {
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      const int64_t w = xn[l];
      if constexpr (k % 2 == 0) {
        pf_link(b.U_lo[k / 2] + w * NL);
      } else if constexpr (k == 1) {  // the output, for writing; the site term's spinor if not the input
        if (b.site != b.local) pf_bytes(b.site + w * sst, sst);
        if constexpr (!OUTPF) continue;
        const char *o = reinterpret_cast<const char *>(b.out + w * sst);
        for (int64_t j = 0; j < sst * (int64_t)sizeof(T); j += 64) _m_prefetchw(const_cast<char *>(o + j));
      } else if constexpr (k == 3) {
        pf_bytes(spinor(b, b.nbr[w * 8 + 6], sst), sst);
      } else if constexpr (k == 5) {
        const int64_t y = b.nbr[w * 8 + 7];
        pf_bytes(spinor(b, y, sst), sst);
        pf_link(back_link(b, 3, y));
      } else {
        pf_bytes(spinor(b, b.nbr[w * 8 + 4], sst), sst);
        const int64_t y = b.nbr[w * 8 + 5];
        pf_bytes(spinor(b, y, sst), sst);
        pf_link(back_link(b, 2, y));
      }
    }
    if (b.clover) pf_bytes(b.clover + xn[k] * NC, NC);
  }

  // Several right-hand sides: the pass for rhs r prefetches the r-th part of every spinor (and the
  // first pass the links and clover blocks), so that the prefetches spread over the whole group.
  template <int k, bool OUTPF>
  static GN_SIMD_INLINE void pf_piece_r(const Bases &b, const int64_t *xn, int64_t sst, int r) {
    const int64_t off = (int64_t)r * NS;
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      const int64_t w = xn[l];
      if constexpr (k == 1) {
        if (b.site != b.local) pf_bytes(b.site + w * sst + off, NS);
        if constexpr (!OUTPF) continue;
        const char *o = reinterpret_cast<const char *>(b.out + w * sst + off);
        for (int j = 0; j < NS * (int)sizeof(T); j += 64) _m_prefetchw(const_cast<char *>(o + j));
      } else if constexpr (k == 3) {
        pf_bytes(spinor(b, b.nbr[w * 8 + 6], sst) + off, NS);
      } else if constexpr (k == 5) {
        pf_bytes(spinor(b, b.nbr[w * 8 + 7], sst) + off, NS);
      } else if constexpr (k == 7) {
        pf_bytes(spinor(b, b.nbr[w * 8 + 4], sst) + off, NS);
        pf_bytes(spinor(b, b.nbr[w * 8 + 5], sst) + off, NS);
      }
      if (r == 0) {
        if constexpr (k % 2 == 0) {
          pf_link(b.U_lo[k / 2] + w * NL);
        } else if constexpr (k == 5 || k == 7) {
          constexpr int mu = k == 5 ? 3 : 2;
          const int64_t y = b.nbr[w * 8 + 2 * mu + 1];
          pf_link(back_link(b, mu, y));
        }
      }
    }
    if (b.clover && r == 0) pf_bytes(b.clover + xn[k] * NC, NC);
  }

  // OUTPF: prefetch the output too (not with streaming stores)
  template <int k, bool MULTI, bool OUTPF>
  static GN_SIMD_INLINE void pf_piece(const Bases &b, const int64_t *xn, int64_t sst, int r) {
    if (!xn) return;
    if constexpr (MULTI) pf_piece_r<k, OUTPF>(b, xn, sst, r);
    else pf_piece1<k, OUTPF>(b, xn, sst);
  }



  // the lanes' neighbour spinors (rhs 0) and links for hop k = 2 mu + back
  template <int mu, bool back>
  static GN_SIMD_INLINE void ptrs(const Bases &b, const int64_t (&xs)[8], int64_t sst, const T *(&ps)[8],
                                  const T *(&pl)[8]) {
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      const int64_t y = b.nbr[xs[l] * 8 + 2 * mu + (back ? 1 : 0)];
      ps[l] = spinor(b, y, sst);
      pl[l] = back ? back_link(b, mu, y) : b.U_lo[mu] + xs[l] * NL;
    }
  }

  // Bit k set: the hop-k neighbours of the eight consecutive sites x0 ... x0 + 7 are eight
  // consecutive sites, all local or all in the halo, so that their spinor rows (and, for a backward
  // hop, their links) lie at fixed offsets from the first one. True for every hop but the wrapping
  // +-x ones and those crossing into the halo; the loads then need one neighbour index instead of
  // eight and no per-lane address arithmetic. Exact test on the neighbour table, so any geometry is
  // safe. Used for the hopping term with one right-hand side: 16^4 double, 2 threads 2.01 -> 1.85 ms
  // on the AVX-512 machine of docs/performance.md (32^4: within the noise); with the clover term the
  // extra code made the 32^4 kernel 8% slower (register allocation), so it is not used there.
  static GN_SIMD_INLINE unsigned regular(const Bases &b, int64_t x0) {
    const int32_t *n0 = b.nbr + x0 * 8;
    const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(n0));
    __mmask8 m = 0xFF;
#pragma GCC unroll 8
    for (int l = 1; l < 8; ++l)
      m &= _mm256_cmpeq_epi32_mask(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(n0 + 8 * l)),
                                   _mm256_add_epi32(r0, _mm256_set1_epi32(l)));
    const __m256i vV = _mm256_set1_epi32((int)b.V);
    const __m256i r7 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(n0 + 56));
    m &= (__mmask8)~(_mm256_cmplt_epi32_mask(r0, vV) ^ _mm256_cmplt_epi32_mask(r7, vV));
    return m;
  }

  // one hop for right-hand side r; MULTI: the link tile lt was transposed before, else it is loaded
  // here; reg: the group's regular() bits (0 when its sites are not consecutive)
  template <int mu, bool back, bool MULTI, bool OUTPF>
  static GN_SIMD_INLINE void one(const Bases &b, const int64_t (&xs)[8], int64_t sst, R *acc, int r,
                                 const R *lt, const int64_t *xn, unsigned reg) {
    constexpr int k = 2 * mu + (back ? 1 : 0);
    R s[NS];
    if constexpr (MULTI) {
      pf_piece<k, MULTI, OUTPF>(b, xn, sst, r);
      const T *ps[8], *pl[8];
      ptrs<mu, back>(b, xs, sst, ps, pl);
      const T *p[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) p[l] = ps[l] + (int64_t)r * NS;
      simd::load_t<NS>(p, s);
      hop<mu, back ? -SF : SF, back>(lt, s, acc);
    } else {
      R u[NL];
      if ((reg >> k) & 1) {  // rows at constant offsets from the first lane's
        const int64_t y0 = b.nbr[xs[0] * 8 + k];
        const T *s0 = spinor(b, y0, NS);
        const T *u0 = back ? back_link(b, mu, y0) : b.U_lo[mu] + xs[0] * NL;
        const T *ps[8] = {s0, s0 + NS, s0 + 2 * NS, s0 + 3 * NS, s0 + 4 * NS, s0 + 5 * NS, s0 + 6 * NS, s0 + 7 * NS};
        const T *pl[8] = {u0, u0 + NL, u0 + 2 * NL, u0 + 3 * NL, u0 + 4 * NL, u0 + 5 * NL, u0 + 6 * NL, u0 + 7 * NL};
        simd::load_t<NL>(pl, u);
        simd::load_t<NS>(ps, s);
      } else {
        const T *ps[8], *pl[8];
        ptrs<mu, back>(b, xs, NS, ps, pl);
        simd::load_t<NL>(pl, u);
        simd::load_t<NS>(ps, s);
      }
      // the prefetches for a later group after this hop's loads, so that they do not delay them
      // (hop 32^4 double, 2 threads: 6% faster than before the loads)
      pf_piece<k, MULTI, OUTPF>(b, xn, sst, r);
      hop<mu, back ? -SF : SF, back>(u, s, acc);
    }
  }

  template <int mu, bool back>
  static GN_SIMD_INLINE void link_tile(const Bases &b, const int64_t (&xs)[8], R *lt) {
    const T *ps[8], *pl[8];
    ptrs<mu, back>(b, xs, NS, ps, pl);
    simd::load_t<NL>(pl, lt);
  }

  // the eight sites xs (the first `lanes` of them real), all right-hand sides (CLOVER: b.clover is
  // set; a template parameter so that each variant is register-allocated on its own). With several
  // right-hand sides the eight link tiles are transposed once into L1 and reused for each of them.
  template <bool MULTI, int NT, bool CLOVER>
  static GN_SIMD_INLINE void group(const Bases &b, const int64_t (&xs)[8], int lanes, int nrhs, T diag, T hop_coef,
                                   const int64_t *xn) {
    const int64_t sst = MULTI ? (int64_t)nrhs * NS : NS;
    R clov[CLOVER ? NC : 1];
    if constexpr (CLOVER) {
      const T *pc[8];
      for (int l = 0; l < 8; ++l) pc[l] = b.clover + xs[l] * NC;
      simd::load_t<NC>(pc, clov);
    }
    R lt[MULTI ? 8 : 1][MULTI ? NL : 1];
    if constexpr (MULTI) {
      link_tile<0, false>(b, xs, lt[0]);
      link_tile<0, true>(b, xs, lt[1]);
      link_tile<1, false>(b, xs, lt[2]);
      link_tile<1, true>(b, xs, lt[3]);
      link_tile<2, false>(b, xs, lt[4]);
      link_tile<2, true>(b, xs, lt[5]);
      link_tile<3, false>(b, xs, lt[6]);
      link_tile<3, true>(b, xs, lt[7]);
    }
    const R hc = V::set1(hop_coef), dg = V::set1(diag);
    const unsigned reg = (!MULTI && !CLOVER && lanes == 8 && xs[7] == xs[0] + 7) ? regular(b, xs[0]) : 0u;
    for (int r = 0; r < nrhs; ++r) {  // (a loop even for nrhs == 1: GCC schedules the straight-line version worse)
      R acc[NS];
#pragma GCC unroll 32
      for (int e = 0; e < NS; ++e) acc[e] = V::zero();
      one<0, false, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 0 : 0], xn, reg);
      one<0, true, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 1 : 0], xn, reg);
      one<1, false, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 2 : 0], xn, reg);
      one<1, true, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 3 : 0], xn, reg);
      one<2, false, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 4 : 0], xn, reg);
      one<2, true, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 5 : 0], xn, reg);
      one<3, false, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 6 : 0], xn, reg);
      one<3, true, MULTI, NT == 0>(b, xs, sst, acc, r, lt[MULTI ? 7 : 0], xn, reg);
      const int64_t off = (int64_t)r * NS;
      const T *ps[8];
      T *pw[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) {
        ps[l] = b.site + xs[l] * sst + off;
        pw[l] = b.out + xs[l] * sst + off;
      }
      R o[NS];
      if (CLOVER || diag != T(0)) {
        R s[NS];
        simd::load_t<NS>(ps, s);
        if constexpr (CLOVER) {
#pragma GCC unroll 2
          for (int bl = 0; bl < 2; ++bl)
#pragma GCC unroll 8
            for (int e = 0; e < 2 * N; ++e) {
              const int k = (bl * 2 * N + e) * 2;  // complex index bl*2N + e of the [4][N] spinor
              R re = hc * acc[k], im = hc * acc[k + 1];
#pragma GCC unroll 8
              for (int f = 0; f < 2 * N; ++f) {
                const int m = ((bl * 2 * N + e) * 2 * N + f) * 2;
                const int j = (bl * 2 * N + f) * 2;
                re = re + clov[m] * s[j] - clov[m + 1] * s[j + 1];
                im = im + clov[m] * s[j + 1] + clov[m + 1] * s[j];
              }
              o[k] = re, o[k + 1] = im;
            }
        } else {
#pragma GCC unroll 32
          for (int e = 0; e < NS; ++e) o[e] = dg * s[e] + hc * acc[e];
        }
      } else {
#pragma GCC unroll 32
        for (int e = 0; e < NS; ++e) o[e] = hc * acc[e];
      }
      simd::store_t<NS, NT>(pw, o, lanes);
    }
  }

  // The order in which the sites are visited (kernels/hop_order.h): z-blocks sized for the links,
  // clover blocks and spinors this kernel streams through.
  using Order = hop8::Order;
  static Order order(const Bases &b, const SiteList &sites, int nrhs) {
    return hop8::make_order(b.nbr, b.V, sites, (2 * NS * nrhs + 4 * NL) * (int64_t)sizeof(T),
                            GN_WILSON_BLOCK_BYTES);
  }

  template <bool MULTI, int NT>
  static void run_all(const WilsonArgs<T> &a) {
    const Bases b = bases(a);
    const Order ord = order(b, a.sites, a.nrhs);
    const int64_t n = a.sites.n, ngroups = (n + 7) / 8;
    const int nrhs = a.nrhs;
    const T diag = a.diag, hop_coef = a.hop_coef;
    constexpr int64_t D = GN_WILSON_PF_SITES;  // prefetch distance in sites
#pragma omp parallel if (n >= CpuExec::min_parallel)
    {
#pragma omp for schedule(static) nowait
    for (int64_t g = 0; g < ngroups; ++g) {
      const int64_t i0 = g * 8, i1 = i0 + D;
      const int lanes = n - i0 < 8 ? (int)(n - i0) : 8;
      const bool ahead = i1 + 8 <= n;
      int64_t xs[8], xn[8];
      if (ord.blocked) {
        const int64_t s0 = ord.group_start(i0), s1 = ahead ? ord.group_start(i1) : 0;
        for (int l = 0; l < 8; ++l) xs[l] = s0 + l, xn[l] = s1 + l;
      } else if (ord.idx) {
        for (int l = 0; l < 8; ++l) xs[l] = ord.idx[i0 + (l < lanes ? l : lanes - 1)];
        if (ahead)
          for (int l = 0; l < 8; ++l) xn[l] = ord.idx[i1 + l];
      } else {
        for (int l = 0; l < 8; ++l) xs[l] = ord.first + i0 + (l < lanes ? l : lanes - 1), xn[l] = ord.first + i1 + l;
      }
      if (b.clover) group<MULTI, NT, true>(b, xs, lanes, nrhs, diag, hop_coef, ahead ? xn : nullptr);
      else group<MULTI, NT, false>(b, xs, lanes, nrhs, diag, hop_coef, ahead ? xn : nullptr);
    }
    // streaming stores are weakly ordered: make them visible before the region's closing barrier
    if constexpr (NT != 0) _mm_sfence();
    }
  }

  // Streaming (non-temporal) stores for outputs far larger than the caches: they save the read of
  // each output line before it is written, and the output would be evicted before any reuse anyway.
  // 0: plain stores; 1: streaming stores of whole registers (rows aligned to the register size);
  // 2: streaming stores of 16-byte parts (numpy aligns large arrays to 16 bytes only).
  static int streaming(const WilsonArgs<T> &a) {
    const int64_t bytes = a.sites.n * (int64_t)a.nrhs * NS * (int64_t)sizeof(T);
    // Outputs of at least simd::stream_bytes() (64 MB: beyond twice the L3 the output leaves the caches
    // before any reuse anyway) are written with streaming stores and not prefetched: hop 32^4 double,
    // 2 threads, 4-6% faster (before the prefetches were moved behind the loads they had shown no gain).
    // A measured exception: single precision with the clover term, one right-hand side, 32^4: 43 ms with
    // plain stores, 61 ms with streaming ones (double and the single hopping term gain 3-7%)
    if (std::is_same<T, float>::value && a.clover && a.nrhs == 1) return 0;
    return simd::stream_mode<T>(a.out, bytes);
  }

  template <bool MULTI>
  static void run_rhs(const WilsonArgs<T> &a) {
    switch (streaming(a)) {
      case 1: run_all<MULTI, 1>(a); break;
      case 2: run_all<MULTI, 2>(a); break;
      default: run_all<MULTI, 0>(a);
    }
  }

  static void run(const WilsonArgs<T> &a) {
    if (a.nrhs == 1) run_rhs<false>(a);
    else run_rhs<true>(a);
  }
};

}  // namespace gn
#endif
