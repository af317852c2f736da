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
//
// With a site field and G given (the PTC backward: the stencil is then the adjoint one, on the
// gradient of the layer's output), the same sweep also accumulates the weight gradient
//
//   G[k, b, a][s][t] += sum_x sum_r sum_c (U_k in_b)(x + k)[s, c] conj(site_a(x)[t, c])
//
// (as core.hop_grad on the ordinary layout): the transported colours of a block are kept in L1
// scratch, and after the block's colours each slot's 4x4 products, summed over colour in registers,
// go into 8-lane accumulators of the thread, summed over the lanes and threads at the end (in double;
// single precision flushes to double every 64 blocks). 32^4 double, 2 threads, 1->1: 80 ms against
// 40 ms for the stencil alone (pairing each colour at once with accumulators in L1: 100 ms).
#pragma once
#include "kernels/wilson_packed.h"
#if GN_SIMD8
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace gn {

template <class T>
struct OneHopPackedArgs {
  WilsonPackedArgs<T> g;  // geometry, input (g.in with g.nrhs = nrhs * nin vectors), links, halos, part
  T *out;                 // packed [V/8][nrhs * nout * 8N][8]
  const T *W;             // [9][nout][nin][4][4] complex as (re, im)
  unsigned mask;          // bit k: slot k has nonzero weights (or, with G, its gradient is wanted)
  int nrhs, nin, nout;
  const T *add;           // packed like out (may be out itself): out = add + stencil; or nullptr (forward only)
  const T *site;          // packed like out, paired with the transported input for G; or nullptr
  double *G;              // weight gradient [9][nin][nout][4][4] complex, accumulated (+=); or nullptr
};

// R12: the links hold their first two rows (SU(3), as WilsonPacked<3, SF, T, true>); each slot's link is
// completed in the slot's scratch (the two rows copied or shifted there, the third rebuilt).
template <int N, int NOUT, class T, bool R12 = false>
struct OneHopPacked : WilsonPacked<N, -1, T, R12> {
  using Base = WilsonPacked<N, -1, T, R12>;
  using typename Base::R;
  using typename Base::Ctx;
  using Base::NS;
  using Base::NL;
  using Base::ld;
  static constexpr int NIN_MAX = 4;
  static constexpr int SLOT_G = 32 * 8;  // reals of the gradient accumulators of one (k, b, a)

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
    if (kd == 0 || (kd == 1 && !back)) {
      const T *u = Base::link(c, mu, back ? nb : B);
      if constexpr (R12) {
#pragma GCC unroll 12
        for (int e = 0; e < Base::LS; ++e) Base::V::store(sl + e * 8, ld(u + e * 8));
        Base::template rebuild<mu, back>(c, kd, B, nb, sl, sl + Base::LS * 8);
        u = sl;
      }
      *pu = u;
    } else if (kd == 2) {  // -x: the links of the neighbours, lane-shifted like the spinors
      const T *la = Base::link(c, mu, B), *lb = Base::link(c, mu, nb);
#pragma GCC unroll 32
      for (int e = 0; e < Base::LS; ++e) Base::V::store(sl + e * 8, Base::down(ld(lb + e * 8), ld(la + e * 8)));
      if constexpr (R12) Base::template rebuild<mu, back>(c, kd, B, nb, sl, sl + Base::LS * 8);
      *pu = sl;
    }
    if (kd == 0) return c.a.in + nb * c.bst + roff;
    if (kd == 1 || kd == 2) {
      const T *pa = c.a.in + B * c.bst + roff, *pb = c.a.in + nb * c.bst + roff;
      for (int e = 0; e < nin * NS; ++e)
        Base::V::store(ss + e * 8, kd == 1 ? Base::up(ld(pa + e * 8), ld(pb + e * 8)) : Base::down(ld(pb + e * 8), ld(pa + e * 8)));
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

  // slot k, colour c into acc; GRAD: the transported colour also saved to tsave [9][NIN_MAX][N][8][8]
  template <int k, bool GRAD>
  static GN_SIMD_INLINE void accumulate(const OneHopPackedArgs<T> &a, const T *ps, const T *pu, int c,
                                        R (&acc)[NOUT][8], T *tsave) {
    if (!((a.mask >> k) & 1)) return;
    for (int b = 0; b < a.nin; ++b) {
      R t[8];
      transport<k>(pu, ps + (int64_t)b * NS * 8, c, t);
      spin(a.W + (int64_t)k * NOUT * a.nin * 32, a.nin, b, t, acc);
      if constexpr (GRAD) {
        T *ts = tsave + ((int64_t)k * NIN_MAX + b) * N * 64 + c * 64;
#pragma GCC unroll 8
        for (int e = 0; e < 8; ++e) Base::V::store(ts + e * 8, t[e]);
      }
    }
  }

  // the nine slots in order for colour cc, each followed by its share of the prefetches for block Bn
  // (none: -1): piece K after slot K in phase K mod P, so that they spread over all of the block's work,
  // the N colours (P = N) and, with the gradient, the pairing after them (P = N + 1, phase N). 32^4
  // double, 2 threads, C++ driver: 44.5 ms per call against 53 ms with all pieces in colour 0; the
  // gradient sweep 80 ms against 125 ms with no prefetches during the pairing
  template <bool GRAD, size_t... K>
  static GN_SIMD_INLINE void slots(const OneHopPackedArgs<T> &a, const Ctx &c, const T *const (&ps)[9],
                                   const T *const (&pu)[9], int cc, int64_t Bn, R (&acc)[NOUT][8], T *tsave,
                                   std::index_sequence<K...>) {
    ((accumulate<K, GRAD>(a, ps[K], pu[K], cc, acc, tsave),
      prefetch_slot<K>(c, (int)K % (GRAD ? N + 1 : N) == cc ? Bn : -1)),
     ...);
  }
  template <size_t k>
  static GN_SIMD_INLINE void prefetch_slot(const Ctx &c, int64_t Bn) {
    if constexpr (k < 8) Base::template prefetch<k>(c, Bn);  // (prefetch returns at once for Bn < 0)
  }

  template <int NT, bool GRAD>
  static GN_SIMD_INLINE void block(const OneHopPackedArgs<T> &a, const Ctx &c, int64_t B, int64_t Bn, T *scratch,
                                   T *g) {
    T *tsave = scratch + 9 * ((int64_t)NIN_MAX * NS * 8 + NL * 8);  // GRAD: the transported colours
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
      const T *site = GRAD ? a.site + B * obst + (int64_t)r * NOUT * NS * 8 : nullptr;
#pragma GCC unroll 1
      for (int cc = 0; cc < N; ++cc) {
        R acc[NOUT][8];
        const T *ad = a.add ? a.add + B * obst + (int64_t)r * NOUT * NS * 8 : nullptr;
#pragma GCC unroll 4
        for (int q = 0; q < NOUT; ++q)
#pragma GCC unroll 8
          for (int e = 0; e < 8; ++e)  // the addend's rows of colour cc, read before they are overwritten
            acc[q][e] = ad ? ld(ad + (int64_t)q * NS * 8 + ((e / 2 * N + cc) * 2 + e % 2) * 8) : Base::V::zero();
        slots<GRAD>(a, c, ps, pu, cc, r == 0 ? Bn : -1, acc, tsave, std::make_index_sequence<9>{});
#pragma GCC unroll 4
        for (int q = 0; q < NOUT; ++q)
#pragma GCC unroll 4
          for (int s = 0; s < 4; ++s) {
            T *d = o + (int64_t)q * NS * 8 + ((s * N + cc) * 2) * 8;
            if constexpr (NT) Base::V::stream(d, acc[q][2 * s]), Base::V::stream(d + 8, acc[q][2 * s + 1]);
            else Base::V::store(d, acc[q][2 * s]), Base::V::store(d + 8, acc[q][2 * s + 1]);
          }
      }
      if constexpr (GRAD) pair_all(a, c, r == 0 ? Bn : -1, site, tsave, g, std::make_index_sequence<9>{});
    }
  }

  // after a block's colours: G[k, b, a][s][u] += sum_c t_c[s] conj(site_a[u, c]) from the saved t (g: the
  // thread's accumulators [9][nin][NOUT][4][4][re, im][8 lanes]); prefetch pieces of phase N in between
  template <size_t... K>
  static GN_SIMD_INLINE void pair_all(const OneHopPackedArgs<T> &a, const Ctx &cx, int64_t Bn, const T *site,
                                      const T *tsave, T *g, std::index_sequence<K...>) {
    ((pair_slot<K>(a, site, tsave, g), prefetch_slot<K>(cx, (int)K % (N + 1) == N ? Bn : -1)), ...);
  }
  template <int k>
  static GN_SIMD_INLINE void pair_slot(const OneHopPackedArgs<T> &a, const T *site, const T *tsave, T *g) {
    if (!((a.mask >> k) & 1)) return;
    for (int b = 0; b < a.nin; ++b) {
      const T *ts = tsave + ((int64_t)k * NIN_MAX + b) * N * 64;
#pragma GCC unroll 4
      for (int q = 0; q < NOUT; ++q) {
        const T *sp = site + (int64_t)q * NS * 8;
        T *gq = g + (((int64_t)k * a.nin + b) * NOUT + q) * SLOT_G;
#pragma GCC unroll 1
        for (int u = 0; u < 4; ++u) {
          R sr[N], si[N];
#pragma GCC unroll 4
          for (int c = 0; c < N; ++c) sr[c] = ld(sp + ((u * N + c) * 2) * 8), si[c] = ld(sp + ((u * N + c) * 2 + 1) * 8);
#pragma GCC unroll 4
          for (int sx = 0; sx < 4; ++sx) {
            R gr, gi;
#pragma GCC unroll 4
            for (int c = 0; c < N; ++c) {
              const R tr = ld(ts + c * 64 + (2 * sx) * 8), ti = ld(ts + c * 64 + (2 * sx + 1) * 8);
              if (c == 0) gr = tr * sr[c] + ti * si[c], gi = ti * sr[c] - tr * si[c];
              else gr = gr + tr * sr[c] + ti * si[c], gi = gi + ti * sr[c] - tr * si[c];
            }
            T *e = gq + (sx * 4 + u) * 16;
            Base::V::store(e, ld(e) + gr), Base::V::store(e + 8, ld(e + 8) + gi);
          }
        }
      }
    }
  }

  template <class E>
  static E *align64(E *p) {
    return reinterpret_cast<E *>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
  }

  template <int NT, bool GRAD>
  static void run_nt(const OneHopPackedArgs<T> &a) {
    const Ctx c = Base::context(a.g);
    constexpr int64_t scratch_n = 9 * ((int64_t)NIN_MAX * NS * 8 + NL * 8) + (GRAD ? 9 * NIN_MAX * N * 64 : 0);
    // gradient accumulators of each thread (GRAD): T, and for single precision double partial sums;
    // kept between calls (no allocation per call once grown)
    static thread_local std::vector<T> gt;
    static thread_local std::vector<double> gd;
    const int nth = cpu_threads();
    const int64_t gn = GRAD ? 9LL * a.nin * NOUT * SLOT_G : 0;
    const int64_t gs = (gn + 15) / 16 * 16 + 16;  // per-thread stride (64-byte multiples, no sharing of lines)
    constexpr bool flush = GRAD && !std::is_same<T, double>::value;
    if (GRAD) {
      gt.assign(nth * gs + 16, T(0));
      if (flush) gd.assign(nth * gs + 8, 0.0);
    }
    static thread_local std::vector<int64_t> count;  // blocks per thread since its last flush (single)
    if (flush) count.assign(nth * 8, 0);
    // the workers reach these buffers through plain pointers: inside the parallel loop the names gt, gd,
    // count would denote the worker's own (empty) thread_local vectors
    int64_t *cnt = count.data();
    // on 64-byte boundaries: whole-register accumulators never split across two cache lines (malloc's
    // 16-byte alignment made the gradient sweep 25% slower)
    T *gt0 = align64(gt.data());
    double *gd0 = align64(gd.data());
    Base::template for_blocks<NT>(c, ((a.nin + NOUT) * NS * a.nrhs + 4 * Base::LS) * (int64_t)sizeof(T),
                                  [&](int64_t B, int64_t Bn) {
                                    alignas(64) T scratch[scratch_n];
                                    T *g = GRAD ? gt0 + cpu_thread_id() * gs : nullptr;
                                    block<NT, GRAD>(a, c, B, Bn, scratch, g);
                                    if constexpr (flush) {
                                      const int tid = cpu_thread_id();
                                      if (++cnt[tid * 8] % 64 == 0) {
                                        double *d = gd0 + tid * gs;
                                        for (int64_t e = 0; e < gn; ++e) d[e] += g[e], g[e] = T(0);
                                      }
                                    }
                                  });
    if constexpr (GRAD) {  // lanes and threads summed into G
      for (int64_t e = 0; e < gn / 8; ++e) {
        double sum = 0;
        for (int th = 0; th < nth; ++th)
          for (int l = 0; l < 8; ++l) {
            sum += (double)gt0[th * gs + e * 8 + l];
            if (flush) sum += gd0[th * gs + e * 8 + l];
          }
        a.G[e] += sum;
      }
    }
  }

  static void run(const OneHopPackedArgs<T> &a) {
    const int64_t bytes = a.g.V * (int64_t)a.nrhs * NOUT * NS * (int64_t)sizeof(T);
    const bool nt = simd::stream_mode<T>(a.out, bytes) == 1;
    if (a.G) nt ? run_nt<1, true>(a) : run_nt<0, true>(a);
    else nt ? run_nt<1, false>(a) : run_nt<0, false>(a);
  }
};

}  // namespace gn
#endif
