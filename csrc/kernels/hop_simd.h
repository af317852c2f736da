// CPU (AVX-512) version of the one-hop stencil of hop.h for ns = 4 (the PTC/LPTC layers, their
// adjoints and single-hop transports): eight sites per step, one per SIMD lane (kernels/simd8.h).
// For every hop the links and neighbour spinors of the eight sites are loaded in the fields' own
// layout and transposed in registers; the colour product U f and the dense 4x4 spin matrices then
// run with every lane busy. Global spin weights are broadcast from memory straight into the
// multiply-adds (no shuffles); per-site weights are transposed like the fields. Each link tile is
// transposed once per group and reused for all right-hand sides and features; each output colour
// is accumulated in registers over all nine slots and the output of a site is written once. The
// data of the group two steps ahead are prefetched (hardware prefetchers do not follow eight
// scattered rows at a time).
//
// Arithmetic per site: the same products and sums as HopKernel (hops in slot order, the spin sum
// in ascending order), so results agree with it to rounding (fused multiply-adds may differ).
#pragma once
// (included by hop.h after HopArgs)
#include "kernels/simd8.h"
#if GN_SIMD8
#include <cstdint>
#include <new>
#include "kernels/hop_order.h"

// software prefetch distance in groups of eight sites (0: none)
#ifndef GN_HOP_PF_GROUPS
#define GN_HOP_PF_GROUPS 2
#endif

namespace gn {
namespace hop8 {

// The colour product of one 4-spinor: t[s] = U f[s] (back = false) or U^dag f[s] (back = true),
// u a transposed link tile (reals (i N + j) * 2 + {0, 1}), f, t transposed spinors.
template <int N, bool back, class R>
GN_SIMD_INLINE void link_mul(const R *u, const R *f, R *t) {
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    R re[N], im[N];
    simd::cmatvec<N, back>(u, f + s * N * 2, re, im);
#pragma GCC unroll 4
    for (int i = 0; i < N; ++i) t[(s * N + i) * 2] = re[i], t[(s * N + i) * 2 + 1] = im[i];
  }
}

// acc[s] += sum_t w[s][t] f[t] for a 4x4 complex spin matrix: global (w: 32 reals, broadcast to
// all lanes) or per site (wv: 32 transposed registers).
template <int N, bool PS, class T, class R>
GN_SIMD_INLINE void spin_mul(const T *w, const R *wv, const R *f, R *acc) {
  using V = simd::V8<T>;
  // output spin s in registers; each weight broadcast once and applied to the N colours
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    R re[N], im[N];
#pragma GCC unroll 4
    for (int c = 0; c < N; ++c) re[c] = acc[(s * N + c) * 2], im[c] = acc[(s * N + c) * 2 + 1];
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const R wr = PS ? wv[(s * 4 + t) * 2] : V::set1(w[(s * 4 + t) * 2]);
      const R wi = PS ? wv[(s * 4 + t) * 2 + 1] : V::set1(w[(s * 4 + t) * 2 + 1]);
#pragma GCC unroll 4
      for (int c = 0; c < N; ++c) {
        const R fr = f[(t * N + c) * 2], fi = f[(t * N + c) * 2 + 1];
        re[c] = re[c] + wr * fr - wi * fi;
        im[c] = im[c] + wr * fi + wi * fr;
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < N; ++c) acc[(s * N + c) * 2] = re[c], acc[(s * N + c) * 2 + 1] = im[c];
  }
}

// Where the lanes' data live: site y < V in the local arrays, y >= V in the halo (bases shifted
// by -V so that every site is at base + y * stride).
template <class T>
struct Fields {
  const T *in_lo, *in_hi, *U_lo[4], *Ub_lo[4], *Ub_hi[4];  // forward links local only; backward with halo
  const int32_t *nbr;
  int64_t V, sin;  // local sites, reals per site of the input
  static constexpr int64_t nl(int N) { return 2 * N * N; }

  template <int N>
  void init(const HaloView<const cx<T>> &in, const HaloView<const cx<T>> (&U)[4], const HaloView<const cx<T>> (&Ub)[4],
            const int32_t *nb) {
    V = in.V;
    sin = in.site_elems * 2;
    in_lo = reinterpret_cast<const T *>(in.local);
    in_hi = in.halo ? reinterpret_cast<const T *>(in.halo) - V * sin : in_lo;
    for (int mu = 0; mu < 4; ++mu) {
      U_lo[mu] = reinterpret_cast<const T *>(U[mu].local);
      Ub_lo[mu] = reinterpret_cast<const T *>(Ub[mu].local);
      Ub_hi[mu] = Ub[mu].halo ? reinterpret_cast<const T *>(Ub[mu].halo) - V * nl(N) : Ub_lo[mu];
    }
    nbr = nb;
  }
  GN_SIMD_INLINE const T *site(int64_t y) const { return (y < V ? in_lo : in_hi) + y * sin; }
  template <int N>
  GN_SIMD_INLINE const T *link(int mu, bool back, int64_t z) const {  // U_mu(z): z = x (forward), y (backward)
    return back ? (z < V ? Ub_lo[mu] : Ub_hi[mu]) + z * nl(N) : U_lo[mu] + z * nl(N);
  }

  // rows of the eight lanes for slot k: neighbour input sites and links
  template <int N, int k>
  GN_SIMD_INLINE void rows(const int64_t (&xs)[8], const T *(&ps)[8], const T *(&pl)[8]) const {
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      if constexpr (k == 8) {
        ps[l] = site(xs[l]);
        pl[l] = nullptr;
      } else {
        const int64_t y = nbr[xs[l] * 8 + k];
        ps[l] = site(y);
        pl[l] = link<N>(k >> 1, k & 1, (k & 1) ? y : xs[l]);
      }
    }
  }

  // Software prefetch of a later group's rows: the eight rows of one stream (row bytes each) are
  // prefetched as one range when they are consecutive in memory (the blocked and range orders),
  // line by line per lane otherwise.
  static GN_SIMD_INLINE void pf_rows(const T *const (&p)[8], int64_t bytes, bool write) {
    const char *c0 = reinterpret_cast<const char *>(p[0]);
    if (p[7] == p[0] + 7 * (bytes / (int64_t)sizeof(T))) {
      for (int64_t j = 0; j < 8 * bytes; j += 64) write ? _m_prefetchw(const_cast<char *>(c0 + j)) : _mm_prefetch(c0 + j, _MM_HINT_T0);
      return;
    }
    for (int l = 0; l < 8; ++l) {
      const char *c = reinterpret_cast<const char *>(p[l]);
      for (int64_t j = 0; j < bytes; j += 64) write ? _m_prefetchw(const_cast<char *>(c + j)) : _mm_prefetch(c + j, _MM_HINT_T0);
    }
  }
  // What the blocked sweep does not find in the cache: the links U_mu(x), the +-z and +-t
  // neighbour inputs, the backward z and t links (and the output, for writing, by the caller).
  template <int N, int k>
  GN_SIMD_INLINE void prefetch(const int64_t *xn, int64_t in_bytes) const {
    const T *ps[8], *pl[8];
    const int64_t(&xs)[8] = *reinterpret_cast<const int64_t(*)[8]>(xn);
    rows<N, k>(xs, ps, pl);
    if constexpr (k < 8 && (k & 1) == 0) pf_rows(pl, nl(N) * sizeof(T), false);
    if constexpr (k >= 4 && k < 8) pf_rows(ps, in_bytes, false);
    if constexpr (k == 5 || k == 7) pf_rows(pl, nl(N) * sizeof(T), false);
  }
};

// What every eight-sites-per-step one-hop kernel (forward here, fused gradient in hop_grad.h) needs of
// its arguments, in reals: the fields, the output, the weights and the sizes per site.
template <class T>
struct HopCtx {
  Fields<T> f;
  T *out;
  const T *W;
  int64_t sout, wsz;  // reals per site of the output; reals per slot of the weights
  int nrhs, nin, nout;
  unsigned mask;
  bool acc;

  template <int N>
  void init(const HopArgs<T> &a) {
    constexpr int NSP = 8 * N, NW = 32;  // reals of one 4-spinor, of one 4x4 spin matrix
    f.template init<N>(a.in, a.U, a.Ub, a.nbr);
    out = reinterpret_cast<T *>(a.out);
    W = reinterpret_cast<const T *>(a.W);
    nrhs = a.nrhs, nin = a.nin, nout = a.nout;
    sout = (int64_t)a.nrhs * a.nout * NSP;
    wsz = (int64_t)a.nout * a.nin * NW;
    mask = a.hop_mask;
    acc = a.accumulate != 0;
  }
};

}  // namespace hop8

template <int N, class T>
struct HopSimd {
  using V = simd::V8<T>;
  using R = typename V::reg;
  static constexpr int NSP = 8 * N;  // reals of one 4-spinor
  static constexpr int NL = 2 * N * N;
  static constexpr int NW = 32;      // reals of one 4x4 spin matrix

  using Ctx = hop8::HopCtx<T>;

  // Per-thread work tiles (transposed: one register per real and lane), 64-byte aligned.
  struct Tiles {
    R *lt, *ft, *wt, *ot;  // links [8][NL]; inputs [9][nin][NSP]; per-site weights [9][nout][nin][NW]; output [nout][NSP]
    R *mem;
    Tiles(const Ctx &c, bool ps) {
      const size_t n = 8 * NL + 9 * (size_t)c.nin * NSP + (ps ? 9 * (size_t)c.nout * c.nin * NW : 0) + (size_t)c.nout * NSP;
      mem = static_cast<R *>(::operator new(n * sizeof(R), std::align_val_t(64)));
      lt = mem;
      ft = lt + 8 * NL;
      wt = ft + 9 * (size_t)c.nin * NSP;
      ot = wt + (ps ? 9 * (size_t)c.nout * c.nin * NW : 0);
    }
    ~Tiles() { ::operator delete(mem, std::align_val_t(64)); }
    Tiles(const Tiles &) = delete;
    Tiles &operator=(const Tiles &) = delete;
  };

  // transposed loads of the group's links (slots 0..7), per-site weights and, for rhs r, inputs
  template <int k, bool PS>
  static GN_SIMD_INLINE void load_slot(const Ctx &c, const int64_t (&xs)[8], const Tiles &w, int r) {
    if (!((c.mask >> k) & 1u)) return;
    const T *ps[8], *pl[8];
    c.f.template rows<N, k>(xs, ps, pl);
    if (r < 0) {  // once per group: link and weights
      if constexpr (k < 8) simd::load_t<NL>(pl, w.lt + k * NL);
      if constexpr (PS) {
        for (int ab = 0; ab < c.nout * c.nin; ++ab) {
          const T *pw[8];
#pragma GCC unroll 8
          for (int l = 0; l < 8; ++l) pw[l] = c.W + (xs[l] * 9 + k) * c.wsz + ab * NW;
          simd::load_t<NW>(pw, w.wt + ((int64_t)k * c.nout * c.nin + ab) * NW);
        }
      }
      return;
    }
    for (int b = 0; b < c.nin; ++b) {
      const int64_t off = ((int64_t)r * c.nin + b) * NSP;
      const T *p[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) p[l] = ps[l] + off;
      simd::load_t<NSP>(p, w.ft + ((int64_t)k * c.nin + b) * NSP);
    }
  }

  // colour i of slot k: acc[a][s] += sum_b sum_t W_k[a0 + a, b][s][t] (U_k f_b)[t][i], a < A
  template <int k, bool PS, int A>
  static GN_SIMD_INLINE void slot(const Ctx &c, const Tiles &w, int i, int a0, R (&acc)[A][8]) {
    if (!((c.mask >> k) & 1u)) return;
    for (int b = 0; b < c.nin; ++b) {
      const R *f = w.ft + ((int64_t)k * c.nin + b) * NSP;
      R t[8];  // (U f)[s][i] for the 4 spins: re, im
      if constexpr (k == 8) {
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) t[2 * s] = f[(s * N + i) * 2], t[2 * s + 1] = f[(s * N + i) * 2 + 1];
      } else {
        constexpr bool back = (k & 1) != 0;
        const R *u = w.lt + k * NL;
        R ur[N], ui[N];
#pragma GCC unroll 4
        for (int j = 0; j < N; ++j) {
          const int e = back ? (j * N + i) * 2 : (i * N + j) * 2;
          ur[j] = u[e], ui[j] = u[e + 1];
        }
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
          R re, im;
#pragma GCC unroll 4
          for (int j = 0; j < N; ++j) {
            const R fr = f[(s * N + j) * 2], fi = f[(s * N + j) * 2 + 1];
            if (j == 0) {
              re = back ? ur[j] * fr + ui[j] * fi : ur[j] * fr - ui[j] * fi;
              im = back ? ur[j] * fi - ui[j] * fr : ur[j] * fi + ui[j] * fr;
            } else {
              re = back ? re + ur[j] * fr + ui[j] * fi : re + ur[j] * fr - ui[j] * fi;
              im = back ? im + ur[j] * fi - ui[j] * fr : im + ur[j] * fi + ui[j] * fr;
            }
          }
          t[2 * s] = re, t[2 * s + 1] = im;
        }
      }
#pragma GCC unroll 2
      for (int a = 0; a < A; ++a) {
        const int64_t ab = (int64_t)(a0 + a) * c.nin + b;
        const T *wg = c.W + k * c.wsz + ab * NW;
        const R *wv = w.wt + ((int64_t)k * c.nout * c.nin + ab) * NW;
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s)
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q) {
            const R wr = PS ? wv[(s * 4 + q) * 2] : V::set1(wg[(s * 4 + q) * 2]);
            const R wi = PS ? wv[(s * 4 + q) * 2 + 1] : V::set1(wg[(s * 4 + q) * 2 + 1]);
            acc[a][2 * s] = acc[a][2 * s] + wr * t[2 * q] - wi * t[2 * q + 1];
            acc[a][2 * s + 1] = acc[a][2 * s + 1] + wr * t[2 * q + 1] + wi * t[2 * q];
          }
      }
    }
  }

  // output features a0 .. a0 + A - 1, all colours, into the output tiles
  template <bool PS, int A>
  static GN_SIMD_INLINE void colours(const Ctx &c, const Tiles &w, int a0) {
    for (int i = 0; i < N; ++i) {
      R acc[A][8];
#pragma GCC unroll 2
      for (int a = 0; a < A; ++a)
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
          const R *o = w.ot + (int64_t)(a0 + a) * NSP + (s * N + i) * 2;
          acc[a][2 * s] = c.acc ? o[0] : V::zero();
          acc[a][2 * s + 1] = c.acc ? o[1] : V::zero();
        }
      slot<0, PS, A>(c, w, i, a0, acc), slot<1, PS, A>(c, w, i, a0, acc), slot<2, PS, A>(c, w, i, a0, acc);
      slot<3, PS, A>(c, w, i, a0, acc), slot<4, PS, A>(c, w, i, a0, acc), slot<5, PS, A>(c, w, i, a0, acc);
      slot<6, PS, A>(c, w, i, a0, acc), slot<7, PS, A>(c, w, i, a0, acc), slot<8, PS, A>(c, w, i, a0, acc);
#pragma GCC unroll 2
      for (int a = 0; a < A; ++a)
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
          R *o = w.ot + (int64_t)(a0 + a) * NSP + (s * N + i) * 2;
          o[0] = acc[a][2 * s], o[1] = acc[a][2 * s + 1];
        }
    }
  }

  template <int k, bool PS>
  static GN_SIMD_INLINE void pf(const Ctx &c, const int64_t *xn) {
    if (!xn || !((c.mask >> k) & 1u)) return;
    c.f.template prefetch<N, k>(xn, (int64_t)c.nrhs * c.nin * NSP * sizeof(T));
  }

#define GN_HOP_EACH_SLOT(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8)

  // The eight sites xs (the first `lanes` real), all right-hand sides: the links (and per-site
  // weights) of the group and the inputs of one right-hand side are transposed into the tiles,
  // then each output colour is computed with its accumulators in registers over all nine slots.
  template <bool PS, int NT>
  static GN_SIMD_INLINE void group(const Ctx &c, const int64_t (&xs)[8], int lanes, const Tiles &w,
                                   const int64_t *xn) {
#define GN_F(k) load_slot<k, PS>(c, xs, w, -1);
    GN_HOP_EACH_SLOT(GN_F)
#undef GN_F
#define GN_F(k) pf<k, PS>(c, xn);
    GN_HOP_EACH_SLOT(GN_F)
#undef GN_F
    if (xn && NT == 0) {  // (streaming stores do not read the output)
      T *po[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) po[l] = c.out + xn[l] * c.sout;
      hop8::Fields<T>::pf_rows(po, c.sout * sizeof(T), true);
    }
    for (int r = 0; r < c.nrhs; ++r) {
#define GN_F(k) load_slot<k, PS>(c, xs, w, r);
      GN_HOP_EACH_SLOT(GN_F)
#undef GN_F
      T *po[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) po[l] = c.out + xs[l] * c.sout + (int64_t)r * c.nout * NSP;
      if (c.acc) {
        for (int a = 0; a < c.nout; ++a) {
          const T *q[8];
#pragma GCC unroll 8
          for (int l = 0; l < 8; ++l) q[l] = po[l] + a * NSP;
          simd::load_t<NSP>(q, w.ot + a * NSP);
        }
      }
      int a0 = 0;
      for (; a0 + 2 <= c.nout; a0 += 2) colours<PS, 2>(c, w, a0);
      if (a0 < c.nout) colours<PS, 1>(c, w, a0);
      for (int a = 0; a < c.nout; ++a) {
        T *q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) q[l] = po[l] + a * NSP;
        simd::store_t<NSP, NT>(q, w.ot + a * NSP, lanes);
      }
    }
  }

  template <bool PS, int NT>
  static void run_t(const HopArgs<T> &a) {
    Ctx c;
    c.template init<N>(a);
    const int64_t site_bytes = (c.f.sin + c.sout + 4 * NL + (PS ? 9 * c.wsz : 0)) * (int64_t)sizeof(T);
    const hop8::Order ord = hop8::make_order(a.nbr, c.f.V, a.sites, site_bytes);
    const int64_t n = a.sites.n, ngroups = (n + 7) / 8;
    constexpr int64_t D = GN_HOP_PF_GROUPS;
#pragma omp parallel if (n >= CpuExec::min_parallel)
    {
      const Tiles w(c, PS);
#pragma omp for schedule(static) nowait
      for (int64_t g = 0; g < ngroups; ++g) {
        int64_t xs[8], xn[8];
        const int lanes = ord.lanes(g, n, xs);
        const bool ahead = D > 0 && g + D < ngroups && (g + D + 1) * 8 <= n;
        if (ahead) ord.lanes(g + D, n, xn);
        group<PS, NT>(c, xs, lanes, w, ahead ? xn : nullptr);
      }
      if constexpr (NT != 0) _mm_sfence();  // streaming stores visible before the closing barrier
    }
  }

  // Outputs of at least simd::stream_bytes() are written with streaming stores (not when accumulating:
  // the output is read first); rows are whole registers (4 N complex numbers per feature).
  template <bool PS>
  static void run_nt(const HopArgs<T> &a) {
    const int64_t bytes = a.sites.n * (int64_t)a.nrhs * a.nout * 8 * N * (int64_t)sizeof(T);
    switch (a.accumulate ? 0 : simd::stream_mode<T>(a.out, bytes)) {
      case 1: run_t<PS, 1>(a); break;
      case 2: run_t<PS, 2>(a); break;
      default: run_t<PS, 0>(a);
    }
  }

  static void run(const HopArgs<T> &a) {
    if (a.w_per_site) run_nt<true>(a);
    else run_nt<false>(a);
  }
};

}  // namespace gn
#endif
