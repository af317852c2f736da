// The one-hop stencil of hop.h (the PTC layer's forward) on the packed eight-site-block layout of
// wilson_packed.h, for spinors (ns = 4) and weights that are the same on every site:
//
//   out[x, r, a] = sum_{k = 0..8} sum_b W_k[a, b] . U_k(x) in[x + k, r, b]
//
// (k = 2 mu: from x + mu with U_mu(x); k = 2 mu + 1: from x - mu with U_mu(x - mu)^dag; k = 8: the site
// itself). The neighbours come as in the Wilson kernel (same lanes of another block, lane-shifted
// x neighbours, gathered halo lanes); shifted or gathered spinors and links go to a per-call scratch
// block first. Then, one colour at a time, U_k's row times each input spinor gives the four spins of that
// colour, and the 4x4 spin matrices W_k[a, b] (broadcast from memory) accumulate them into the NOUT
// output features, which stay in registers over the nine slots. No transposes. CPU, AVX-512.
#pragma once
#include "kernels/wilson_packed.h"
#if GN_SIMD8
#include <utility>

namespace gn {

template <class T>
struct OneHopPackedArgs {
  WilsonPackedArgs<T> g;  // geometry, input (g.in with g.nrhs = nrhs * nin vectors), links, halos, part
  T *out;                 // packed [V/8][nrhs * nout * 8N][8]
  const T *W;             // [9][nout][nin][4][4] complex as (re, im)
  unsigned mask;          // bit k: slot k has nonzero weights
  int nrhs, nin, nout;
};

template <int N, int NOUT, class T>
struct OneHopPacked : WilsonPacked<N, -1, T> {
  using Base = WilsonPacked<N, -1, T>;
  using typename Base::R;
  using typename Base::Ctx;
  using Base::NS;
  using Base::NL;
  using Base::ld;
  static constexpr int NIN_MAX = 4;

  // The input spinors (all nin features, rhs r) and the link of slot k for block B: pointers into the
  // packed fields, or into scratch where they had to be shifted or gathered. Returns the spinor rows of
  // feature 0; feature b is NS * 8 further.
  template <int k>
  static GN_SIMD_INLINE const T *slot(const Ctx &c, int64_t B, int r, int nin, T *ss, T *sl, const T **pu) {
    constexpr int mu = k / 2;
    constexpr bool back = k & 1;
    const int64_t roff = (int64_t)r * nin * NS * 8;
    int64_t nb = 0;
    const int kd = Base::template kind<k>(c, B, &nb);
    if (kd == 0) {
      *pu = Base::link(c, mu, back ? nb : B);
      return c.a.in + nb * c.bst + roff;
    }
    if (kd == 1 || kd == 2) {
      const T *pa = c.a.in + B * c.bst + roff, *pb = c.a.in + nb * c.bst + roff;
      for (int e = 0; e < nin * NS; ++e)
        Base::V::store(ss + e * 8, kd == 1 ? Base::up(ld(pa + e * 8), ld(pb + e * 8)) : Base::down(ld(pb + e * 8), ld(pa + e * 8)));
      if (!back) {
        *pu = Base::link(c, mu, B);
      } else {
        const T *la = Base::link(c, mu, B), *lb = Base::link(c, mu, nb);
#pragma GCC unroll 32
        for (int e = 0; e < NL; ++e)
          Base::V::store(sl + e * 8, kd == 1 ? Base::up(ld(la + e * 8), ld(lb + e * 8)) : Base::down(ld(lb + e * 8), ld(la + e * 8)));
        *pu = sl;
      }
      return ss;
    }
    int32_t y[8];
    int64_t z[8];
    for (int l = 0; l < 8; ++l) {
      y[l] = c.a.nbr[(B * 8 + l) * 8 + k];
      z[l] = back ? y[l] : B * 8 + l;
    }
    for (int b = 0; b < nin; ++b) Base::gather_spinor(c, y, r * nin + b, ss + b * NS * 8);
    Base::gather_link(c, mu, z, sl);
    *pu = sl;
    return ss;
  }

  // acc[a][s] += sum_b W_k[a, b][s][s'] t_b[s'] for one colour: t[b][2 s' + {0, 1}]
  static GN_SIMD_INLINE void spin(const T *W, int nin, int b, const R (&t)[8], R (&acc)[NOUT][8]) {
#pragma GCC unroll 4
    for (int a = 0; a < NOUT; ++a) {
      const T *w = W + ((int64_t)a * nin + b) * 32;
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) {
        R re = acc[a][2 * s], im = acc[a][2 * s + 1];
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
          const R wr = Base::V::set1(w[(s * 4 + q) * 2]), wi = Base::V::set1(w[(s * 4 + q) * 2 + 1]);
          re = re + wr * t[2 * q] - wi * t[2 * q + 1];
          im = im + wr * t[2 * q + 1] + wi * t[2 * q];
        }
        acc[a][2 * s] = re, acc[a][2 * s + 1] = im;
      }
    }
  }

  // colour c of U_k psi for the four spins of one spinor p (k < 8), or of psi itself (k == 8)
  template <int k>
  static GN_SIMD_INLINE void transport(const T *u, const T *p, int c, R (&t)[8]) {
    if constexpr (k == 8) {
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) t[2 * s] = ld(p + ((s * N + c) * 2) * 8), t[2 * s + 1] = ld(p + ((s * N + c) * 2 + 1) * 8);
    } else {
      constexpr bool back = k & 1;
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) {
        R re, im;
#pragma GCC unroll 4
        for (int j = 0; j < N; ++j) {
          const int e = back ? (j * N + c) * 2 : (c * N + j) * 2;
          const R ur = ld(u + e * 8), ui = ld(u + (e + 1) * 8);
          simd::cmac<back>(j == 0, re, im, ur, ui, ld(p + ((s * N + j) * 2) * 8), ld(p + ((s * N + j) * 2 + 1) * 8));
        }
        t[2 * s] = re, t[2 * s + 1] = im;
      }
    }
  }

  template <int k>
  static GN_SIMD_INLINE void accumulate(const OneHopPackedArgs<T> &a, const T *ps, const T *pu, int c,
                                        R (&acc)[NOUT][8]) {
    if (!((a.mask >> k) & 1)) return;
    for (int b = 0; b < a.nin; ++b) {
      R t[8];
      transport<k>(pu, ps + (int64_t)b * NS * 8, c, t);
      spin(a.W + (int64_t)k * NOUT * a.nin * 32, a.nin, b, t, acc);
    }
  }

  // the nine slots in order for colour cc, each followed by its share of the prefetches for block Bn
  // (none: -1): piece K after slot K in colour K mod N, so that they spread over all N colours' work
  // (32^4 double, 2 threads, C++ driver: 44.5 ms per call against 53 ms with all pieces in colour 0)
  template <size_t... K>
  static GN_SIMD_INLINE void slots(const OneHopPackedArgs<T> &a, const Ctx &c, const T *const (&ps)[9],
                                   const T *const (&pu)[9], int cc, int64_t Bn, R (&acc)[NOUT][8],
                                   std::index_sequence<K...>) {
    ((accumulate<K>(a, ps[K], pu[K], cc, acc), prefetch_slot<K>(c, (int)K % N == cc ? Bn : -1)), ...);
  }
  template <size_t k>
  static GN_SIMD_INLINE void prefetch_slot(const Ctx &c, int64_t Bn) {
    if constexpr (k < 8) Base::template prefetch<k>(c, Bn);  // (prefetch returns at once for Bn < 0)
  }

  template <int NT>
  static GN_SIMD_INLINE void block(const OneHopPackedArgs<T> &a, const Ctx &c, int64_t B, int64_t Bn, T *scratch) {
    const int64_t sstride = (int64_t)NIN_MAX * NS * 8 + NL * 8;  // scratch of one slot
    const int64_t obst = (int64_t)a.nrhs * NOUT * NS * 8;
    for (int r = 0; r < a.nrhs; ++r) {
      const T *ps[9], *pu[9];
#define GN_SLOT(k)                                                                                     \
  if ((a.mask >> k) & 1) ps[k] = slot<k>(c, B, r, a.nin, scratch + k * sstride, scratch + k * sstride + \
                                                                        NIN_MAX * NS * 8, &pu[k]);
      GN_SLOT(0) GN_SLOT(1) GN_SLOT(2) GN_SLOT(3) GN_SLOT(4) GN_SLOT(5) GN_SLOT(6) GN_SLOT(7)
#undef GN_SLOT
      ps[8] = c.a.in + B * c.bst + (int64_t)r * a.nin * NS * 8;
      pu[8] = nullptr;
      T *o = a.out + B * obst + (int64_t)r * NOUT * NS * 8;
#pragma GCC unroll 1
      for (int cc = 0; cc < N; ++cc) {
        R acc[NOUT][8];
#pragma GCC unroll 4
        for (int q = 0; q < NOUT; ++q)
#pragma GCC unroll 8
          for (int e = 0; e < 8; ++e) acc[q][e] = Base::V::zero();
        slots(a, c, ps, pu, cc, r == 0 ? Bn : -1, acc, std::make_index_sequence<9>{});
#pragma GCC unroll 4
        for (int q = 0; q < NOUT; ++q)
#pragma GCC unroll 4
          for (int s = 0; s < 4; ++s) {
            T *d = o + (int64_t)q * NS * 8 + ((s * N + cc) * 2) * 8;
            if constexpr (NT) Base::V::stream(d, acc[q][2 * s]), Base::V::stream(d + 8, acc[q][2 * s + 1]);
            else Base::V::store(d, acc[q][2 * s]), Base::V::store(d + 8, acc[q][2 * s + 1]);
          }
      }
    }
  }

  template <int NT>
  static void run_nt(const OneHopPackedArgs<T> &a) {
    const Ctx c = Base::context(a.g);
    constexpr int64_t scratch_n = 9 * ((int64_t)NIN_MAX * NS * 8 + NL * 8);
    Base::template for_blocks<NT>(c, ((a.nin + NOUT) * NS * a.nrhs + 4 * NL) * (int64_t)sizeof(T),
                                  [&](int64_t B, int64_t Bn) {
                                    alignas(64) T scratch[scratch_n];
                                    block<NT>(a, c, B, Bn, scratch);
                                  });
  }

  static void run(const OneHopPackedArgs<T> &a) {
    const int64_t bytes = a.g.V * (int64_t)a.nrhs * NOUT * NS * (int64_t)sizeof(T);
    if (simd::stream_mode<T>(a.out, bytes) == 1) run_nt<1>(a);
    else run_nt<0>(a);
  }
};

}  // namespace gn
#endif
