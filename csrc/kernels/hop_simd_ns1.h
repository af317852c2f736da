// CPU (AVX-512) version of the one-hop stencil of hop.h for ns = 1 (staggered fermions, colour
// vectors with features): eight sites per step, one per SIMD lane (kernels/simd8.h), in the site
// order of kernels/hop_order.h, with the field views and prefetch helpers of hop_simd.h
// (hop8::Fields, hop8::HopCtx).
//
// The row pointers of the eight lanes (neighbour inputs, links) are computed once per group with
// vector integer arithmetic and kept for the group's own pass when computed ahead for the prefetch.
// One right-hand side with one feature in and out (the staggered operator on one vector): the link
// and the input of every slot are transposed into registers and used at once; the N output colours
// stay in registers over the nine slots and are transposed back and stored once. Otherwise the links
// of the used hops (and per-site weights) are transposed into per-thread tiles once per group, the
// input rows of the neighbours for a chunk of right-hand sides at a time (the rows of one site are
// contiguous: one transpose of up to kRhsReals reals per lane), and each output feature is
// accumulated in registers over the slots and input features. Global weights are broadcast from
// memory; when they are all real (the staggered operator: +-1/2 and the mass) the imaginary
// products are skipped.
//
// Arithmetic per site: the same products and sums as HopKernel<N, 1> (hops in slot order, input
// features in ascending order, U f with the colour sum ascending), so results agree with it to
// rounding (fused multiply-adds may differ).
#pragma once
// (included by hop.h after hop_simd.h)
#include "kernels/simd8.h"
#if GN_SIMD8
#include <cstdint>
#include <new>
#include <type_traits>
#include "kernels/hop_order.h"

namespace gn {
namespace hop8 {

// Transposed load of a run-time number n of reals per lane: p[l][e] -> out[e] lane l.
template <class T>
GN_SIMD_INLINE void load_tn(const T *const (&p)[8], int64_t n, typename simd::V8<T>::reg *out) {
  using V = simd::V8<T>;
  for (int64_t k = 0; k < n; k += 8) {
    const int m = n - k < 8 ? (int)(n - k) : 8;
    typename V::reg r[8];
    if (m == 8) {
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) r[l] = V::load(p[l] + k);
    } else {
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) r[l] = V::load(p[l] + k, m);
    }
    V::transpose(r);
    if (m == 8) {
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) out[k + j] = r[j];
    } else {
      for (int j = 0; j < m; ++j) out[k + j] = r[j];
    }
  }
}

// Transposed store of n reals per lane for the first `lanes` lanes: in[e] lane l -> p[l][e].
template <class T>
GN_SIMD_INLINE void store_tn(T *const (&p)[8], const typename simd::V8<T>::reg *in, int64_t n, int lanes) {
  using V = simd::V8<T>;
  for (int64_t k = 0; k < n; k += 8) {
    const int m = n - k < 8 ? (int)(n - k) : 8;
    typename V::reg r[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) r[j] = j < m ? in[k + j] : V::zero();
    V::transpose(r);
    if (m == 8 && lanes == 8) {
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) V::store(p[l] + k, r[l]);
    } else {
      for (int l = 0; l < lanes; ++l) V::store(p[l] + k, r[l], m);
    }
  }
}

// Transposed load of the NL reals of a link: as simd::load_t, but a last chunk of two reals
// (N = 3: 18 = 8 + 8 + 2) is transposed from one load per row (128 bits for double, four rows per
// 512-bit register; 64 bits for float) with two shuffles instead of a full 8 x 8 transpose.
template <int NL, class T>
GN_SIMD_INLINE void load_link(const T *const (&p)[8], typename simd::V8<T>::reg *out) {
  if constexpr (std::is_same<T, double>::value && NL % 8 == 2) {
    constexpr int k = NL - 2;
    if constexpr (k > 0) simd::load_t<k>(p, out);
    __m512d a = _mm512_castpd128_pd512(_mm_loadu_pd(p[0] + k));
    __m512d b = _mm512_castpd128_pd512(_mm_loadu_pd(p[1] + k));
    a = _mm512_insertf64x2(a, _mm_loadu_pd(p[2] + k), 1);
    b = _mm512_insertf64x2(b, _mm_loadu_pd(p[3] + k), 1);
    a = _mm512_insertf64x2(a, _mm_loadu_pd(p[4] + k), 2);
    b = _mm512_insertf64x2(b, _mm_loadu_pd(p[5] + k), 2);
    a = _mm512_insertf64x2(a, _mm_loadu_pd(p[6] + k), 3);
    b = _mm512_insertf64x2(b, _mm_loadu_pd(p[7] + k), 3);
    out[k] = _mm512_unpacklo_pd(a, b);      // lane l: row l, real k
    out[k + 1] = _mm512_unpackhi_pd(a, b);  // lane l: row l, real k + 1
  } else if constexpr (std::is_same<T, float>::value && NL % 8 == 2) {
    // float: the last two reals of a row as one 64-bit load; rows (0 1 | 4 5) and (2 3 | 6 7)
    constexpr int k = NL - 2;
    if constexpr (k > 0) simd::load_t<k>(p, out);
    const auto pair = [&](int l0, int l1) {
      return _mm_castpd_ps(_mm_loadh_pd(_mm_load_sd(reinterpret_cast<const double *>(p[l0] + k)),
                                        reinterpret_cast<const double *>(p[l1] + k)));
    };
    const __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(pair(0, 1)), pair(4, 5), 1);
    const __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(pair(2, 3)), pair(6, 7), 1);
    out[k] = _mm256_shuffle_ps(a, b, 0x88);      // lane l: row l, real k
    out[k + 1] = _mm256_shuffle_ps(a, b, 0xDD);  // lane l: row l, real k + 1
  } else {
    simd::load_t<NL>(p, out);
  }
}

// The row pointers of the eight lanes for every slot: neighbour inputs in[k] (in[8]: the sites
// themselves) and links lk[k] (U_mu(x) for k = 2 mu, U_mu(x - mu) for k = 2 mu + 1), computed once
// per group with vector integer arithmetic (a gather of the neighbour indices per slot).
template <class T>
struct Rows {
  alignas(64) const T *in[9][8];
  alignas(64) const T *lk[8][8];
  int64_t g = -1;  // the group they belong to
};

template <int N, class T>
GN_SIMD_INLINE void make_rows(const Fields<T> &f, unsigned mask, const int64_t (&xs)[8], Rows<T> &r) {
  constexpr int64_t nlb = 2 * N * N * (int64_t)sizeof(T);
  const __m512i x = _mm512_loadu_si512(xs);
  const __m512i Vv = _mm512_set1_epi64(f.V);
  const __m512i sinb = _mm512_set1_epi64(f.sin * (int64_t)sizeof(T)), nl = _mm512_set1_epi64(nlb);
  const __m512i in_lo = _mm512_set1_epi64((int64_t)f.in_lo), in_hi = _mm512_set1_epi64((int64_t)f.in_hi);
  // site indices and strides are < 2^32: 32 x 32 -> 64-bit products
  _mm512_store_si512(r.in[8], _mm512_add_epi64(in_lo, _mm512_mul_epu32(x, sinb)));
  const __m512i x8 = _mm512_slli_epi64(x, 3);
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    if (!((mask >> k) & 1u)) continue;
    const int mu = k >> 1;
    const __m512i y = _mm512_cvtepi32_epi64(
        _mm512_i64gather_epi32(_mm512_add_epi64(x8, _mm512_set1_epi64(k)), f.nbr, 4));
    const __mmask8 lo = _mm512_cmplt_epi64_mask(y, Vv);
    _mm512_store_si512(r.in[k], _mm512_add_epi64(_mm512_mask_blend_epi64(lo, in_hi, in_lo), _mm512_mul_epu32(y, sinb)));
    if (k & 1) {
      const __m512i u_lo = _mm512_set1_epi64((int64_t)f.Ub_lo[mu]);
      const __m512i u_hi = _mm512_set1_epi64((int64_t)f.Ub_hi[mu]);
      _mm512_store_si512(r.lk[k], _mm512_add_epi64(_mm512_mask_blend_epi64(lo, u_hi, u_lo), _mm512_mul_epu32(y, nl)));
    } else {
      const __m512i u_lo = _mm512_set1_epi64((int64_t)f.U_lo[mu]);
      _mm512_store_si512(r.lk[k], _mm512_add_epi64(u_lo, _mm512_mul_epu32(x, nl)));
    }
  }
}

}  // namespace hop8

template <int N, class T>
struct HopSimdNs1 {
  using V = simd::V8<T>;
  using R = typename V::reg;
  static constexpr int NC = 2 * N;      // reals of one colour vector
  static constexpr int NL = 2 * N * N;  // reals of one link
  static constexpr int kRhsReals = 48;  // input reals per lane and slot transposed at a time (at least one rhs)

  using Ctx = hop8::HopCtx<T>;
  using Rows = hop8::Rows<T>;

  struct Sizes {
    int64_t fin;   // reals of one rhs of the input (nin colour vectors)
    int64_t fout;  // reals of one rhs of the output
    int rc;        // right-hand sides per chunk
    int64_t wrow;  // reals of the per-site weights of one site (9 slots)
  };

  static void ctx_init(Ctx &c, Sizes &z, const HopArgs<T> &a) {
    c.f.template init<N>(a.in, a.U, a.Ub, a.nbr);
    c.out = reinterpret_cast<T *>(a.out);
    c.W = reinterpret_cast<const T *>(a.W);
    c.nrhs = a.nrhs, c.nin = a.nin, c.nout = a.nout;
    c.sout = (int64_t)a.nrhs * a.nout * NC;
    c.wsz = (int64_t)a.nout * a.nin * 2;
    c.mask = a.hop_mask;
    c.acc = a.accumulate != 0;
    z.fin = (int64_t)a.nin * NC;
    z.fout = (int64_t)a.nout * NC;
    int rc = (int)(kRhsReals / z.fin);
    rc = rc < 1 ? 1 : (rc > a.nrhs ? a.nrhs : rc);
    z.rc = rc;
    z.wrow = 9 * c.wsz;
  }

  // Per-thread work tiles (transposed: one register per real and lane), 64-byte aligned.
  struct Tiles {
    R *lt, *ft, *wt, *ot;  // links [8][NL]; inputs [9][rc * fin]; per-site weights [9 * wsz]; output [rc * fout]
    int64_t fslot;         // registers per slot of ft
    R *mem;
    Tiles(const Sizes &z, bool ps) {
      fslot = (int64_t)z.rc * z.fin;
      const size_t n = 8 * NL + 9 * fslot + (ps ? z.wrow : 0) + (size_t)z.rc * z.fout;
      mem = static_cast<R *>(::operator new(n * sizeof(R), std::align_val_t(64)));
      lt = mem;
      ft = lt + 8 * NL;
      wt = ft + 9 * fslot;
      ot = wt + (ps ? z.wrow : 0);
    }
    ~Tiles() { ::operator delete(mem, std::align_val_t(64)); }
    Tiles(const Tiles &) = delete;
    Tiles &operator=(const Tiles &) = delete;
  };

  // slot k: the link of the group (r0 < 0), or the inputs of rhs r0 .. r0 + nr - 1
  template <int k>
  static GN_SIMD_INLINE void load_slot(const Ctx &c, const Sizes &z, const Rows &rw, const Tiles &w, int r0, int nr) {
    if (!((c.mask >> k) & 1u)) return;
    if (r0 < 0) {
      if constexpr (k < 8) hop8::load_link<NL, T>(rw.lk[k], w.lt + k * NL);
      return;
    }
    const int64_t off = (int64_t)r0 * z.fin;
    const T *ps[8];
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) ps[l] = rw.in[k][l] + off;
    hop8::load_tn<T>(ps, nr * z.fin, w.ft + k * w.fslot);
  }

  // slot k for one rhs (input at fo within the slot's tile): acc[a][i] += sum_b W_k[a0 + a, b] (U_k f_b)[i]
  template <int k, bool PS, bool RW, int A>
  static GN_SIMD_INLINE void slot(const Ctx &c, const Tiles &w, int64_t fo, int a0, R (&re)[A][N], R (&im)[A][N]) {
    if (!((c.mask >> k) & 1u)) return;
    for (int b = 0; b < c.nin; ++b) {
      const R *f = w.ft + k * w.fslot + fo + b * NC;
      R tr[N], ti[N];
      if constexpr (k == 8) {
#pragma GCC unroll 4
        for (int i = 0; i < N; ++i) tr[i] = f[2 * i], ti[i] = f[2 * i + 1];
      } else {
        constexpr bool back = (k & 1) != 0;
        const R *u = w.lt + k * NL;
        simd::cmatvec<N, back>(u, f, tr, ti);
      }
#pragma GCC unroll 2
      for (int a = 0; a < A; ++a) {
        const int64_t ab = (int64_t)(a0 + a) * c.nin + b;
        if constexpr (PS) {
          const R wr = w.wt[k * c.wsz + ab * 2], wi = w.wt[k * c.wsz + ab * 2 + 1];
#pragma GCC unroll 4
          for (int i = 0; i < N; ++i) {
            re[a][i] = re[a][i] + wr * tr[i] - wi * ti[i];
            im[a][i] = im[a][i] + wr * ti[i] + wi * tr[i];
          }
        } else {
          const T *wg = c.W + k * c.wsz + ab * 2;
          const R wr = V::set1(wg[0]);
          if constexpr (RW) {
#pragma GCC unroll 4
            for (int i = 0; i < N; ++i) re[a][i] = re[a][i] + wr * tr[i], im[a][i] = im[a][i] + wr * ti[i];
          } else {
            const R wi = V::set1(wg[1]);
#pragma GCC unroll 4
            for (int i = 0; i < N; ++i) {
              re[a][i] = re[a][i] + wr * tr[i] - wi * ti[i];
              im[a][i] = im[a][i] + wr * ti[i] + wi * tr[i];
            }
          }
        }
      }
    }
  }

  // output features a0 .. a0 + A - 1 of rhs rr of the chunk, all colours, into the output tile
  template <bool PS, bool RW, int A>
  static GN_SIMD_INLINE void features(const Ctx &c, const Sizes &z, const Tiles &w, int rr, int a0) {
    R re[A][N], im[A][N];
    R *o = w.ot + rr * z.fout + (int64_t)a0 * NC;
#pragma GCC unroll 2
    for (int a = 0; a < A; ++a)
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) {
        re[a][i] = c.acc ? o[a * NC + 2 * i] : V::zero();
        im[a][i] = c.acc ? o[a * NC + 2 * i + 1] : V::zero();
      }
    const int64_t fo = rr * z.fin;
    slot<0, PS, RW, A>(c, w, fo, a0, re, im), slot<1, PS, RW, A>(c, w, fo, a0, re, im);
    slot<2, PS, RW, A>(c, w, fo, a0, re, im), slot<3, PS, RW, A>(c, w, fo, a0, re, im);
    slot<4, PS, RW, A>(c, w, fo, a0, re, im), slot<5, PS, RW, A>(c, w, fo, a0, re, im);
    slot<6, PS, RW, A>(c, w, fo, a0, re, im), slot<7, PS, RW, A>(c, w, fo, a0, re, im);
    slot<8, PS, RW, A>(c, w, fo, a0, re, im);
#pragma GCC unroll 2
    for (int a = 0; a < A; ++a)
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) o[a * NC + 2 * i] = re[a][i], o[a * NC + 2 * i + 1] = im[a][i];
  }

  // One right-hand side and one feature in and out (the staggered operator on one vector): the link
  // and the input of slot k are transposed into registers and used at once, without the tiles.
  template <int k, bool PS, bool RW>
  static GN_SIMD_INLINE void slot1(const Ctx &c, const Rows &rw, const Tiles &w, R (&re)[N], R (&im)[N]) {
    if (!((c.mask >> k) & 1u)) return;
    R f[NC], tr[N], ti[N];
    simd::load_t<NC>(rw.in[k], f);
    if constexpr (k == 8) {
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) tr[i] = f[2 * i], ti[i] = f[2 * i + 1];
    } else {
      constexpr bool back = (k & 1) != 0;
      R u[NL];
      hop8::load_link<NL, T>(rw.lk[k], u);
      simd::cmatvec<N, back>(u, f, tr, ti);
    }
    const R wr = PS ? w.wt[2 * k] : V::set1(c.W[2 * k]);
    if constexpr (RW) {
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) re[i] = re[i] + wr * tr[i], im[i] = im[i] + wr * ti[i];
    } else {
      const R wi = PS ? w.wt[2 * k + 1] : V::set1(c.W[2 * k + 1]);
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) {
        re[i] = re[i] + wr * tr[i] - wi * ti[i];
        im[i] = im[i] + wr * ti[i] + wi * tr[i];
      }
    }
  }

  // What the blocked sweep does not find in the cache (as hop8::Fields::prefetch): the links
  // U_mu(x), the +-z and +-t neighbour inputs and the backward z and t links.
  template <int k>
  static GN_SIMD_INLINE void pf(const Ctx &c, const Rows &rn) {
    if (!((c.mask >> k) & 1u)) return;
    using F = hop8::Fields<T>;
    if constexpr (k < 8 && (k & 1) == 0) F::pf_rows(rn.lk[k], NL * sizeof(T), false);
    if constexpr (k >= 4 && k < 8) F::pf_rows(rn.in[k], c.f.sin * (int64_t)sizeof(T), false);
    if constexpr (k == 5 || k == 7) F::pf_rows(rn.lk[k], NL * sizeof(T), false);
  }

#define GN_HOP1_EACH_SLOT(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8)

  // The eight sites xs (the first `lanes` real), all right-hand sides.
  template <bool PS, bool RW, bool ONE>
  static GN_SIMD_INLINE void group(const Ctx &c, const Sizes &z, const int64_t (&xs)[8], int lanes, const Tiles &w,
                                   const Rows &rw, const int64_t *xn, const Rows *rn) {
    if constexpr (!ONE) {
#define GN_F(k) load_slot<k>(c, z, rw, w, -1, 0);
      GN_HOP1_EACH_SLOT(GN_F)
#undef GN_F
    }
    if constexpr (PS) {
      const T *pw[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) pw[l] = c.W + xs[l] * z.wrow;
      hop8::load_tn<T>(pw, z.wrow, w.wt);
    }
    if (xn) {
#define GN_F(k) pf<k>(c, *rn);
      GN_HOP1_EACH_SLOT(GN_F)
#undef GN_F
      T *po[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) po[l] = c.out + xn[l] * c.sout;
      hop8::Fields<T>::pf_rows(po, c.sout * sizeof(T), true);
    }
    if constexpr (ONE) {
      T *po[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) po[l] = c.out + xs[l] * c.sout;
      R re[N], im[N], o[NC];
      if (c.acc) {
        simd::load_t<NC>(po, o);
      } else {
#pragma GCC unroll 8
        for (int e = 0; e < NC; ++e) o[e] = V::zero();
      }
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) re[i] = o[2 * i], im[i] = o[2 * i + 1];
#define GN_F(k) slot1<k, PS, RW>(c, rw, w, re, im);
      GN_HOP1_EACH_SLOT(GN_F)
#undef GN_F
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) o[2 * i] = re[i], o[2 * i + 1] = im[i];
      simd::store_t<NC, 0>(po, o, lanes);
      return;
    }
    for (int r0 = 0; r0 < c.nrhs; r0 += z.rc) {
      const int nr = c.nrhs - r0 < z.rc ? c.nrhs - r0 : z.rc;
#define GN_F(k) load_slot<k>(c, z, rw, w, r0, nr);
      GN_HOP1_EACH_SLOT(GN_F)
#undef GN_F
      T *po[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) po[l] = c.out + xs[l] * c.sout + (int64_t)r0 * z.fout;
      if (c.acc) {
        const T *q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) q[l] = po[l];
        hop8::load_tn<T>(q, nr * z.fout, w.ot);
      }
      for (int rr = 0; rr < nr; ++rr) {
        int a0 = 0;
        for (; a0 + 2 <= c.nout; a0 += 2) features<PS, RW, 2>(c, z, w, rr, a0);
        if (a0 < c.nout) features<PS, RW, 1>(c, z, w, rr, a0);
      }
      hop8::store_tn<T>(po, w.ot, nr * z.fout, lanes);
    }
  }

  template <bool PS, bool RW, bool ONE>
  static void run_t(const Ctx &c, const Sizes &z, const HopArgs<T> &a) {
    const int64_t site_bytes = (c.f.sin + c.sout + 4 * NL + (PS ? z.wrow : 0)) * (int64_t)sizeof(T);
    const hop8::Order ord = hop8::make_order(a.nbr, c.f.V, a.sites, site_bytes);
    const int64_t n = a.sites.n, ngroups = (n + 7) / 8;
    constexpr int64_t D = GN_HOP_PF_GROUPS;
#pragma omp parallel if (n >= CpuExec::min_parallel)
    {
      const Tiles w(z, PS);
      Rows ring[D + 1];  // the rows of this group and of the D groups ahead (computed for the prefetch)
#pragma omp for schedule(static)
      for (int64_t g = 0; g < ngroups; ++g) {
        int64_t xs[8], xn[8];
        const int lanes = ord.lanes(g, n, xs);
        Rows &rw = ring[g % (D + 1)];
        if (rw.g != g) hop8::make_rows<N, T>(c.f, c.mask, xs, rw), rw.g = g;
        const bool ahead = D > 0 && g + D < ngroups && (g + D + 1) * 8 <= n;
        Rows *rn = nullptr;
        if (ahead) {
          ord.lanes(g + D, n, xn);
          rn = &ring[(g + D) % (D + 1)];
          hop8::make_rows<N, T>(c.f, c.mask, xn, *rn), rn->g = g + D;
        }
        group<PS, RW, ONE>(c, z, xs, lanes, w, rw, ahead ? xn : nullptr, rn);
      }
    }
  }

  static void run(const HopArgs<T> &a) {
    Ctx c;
    Sizes z;
    ctx_init(c, z, a);
    const bool one = a.nrhs == 1 && a.nin == 1 && a.nout == 1;
    if (a.w_per_site) {
      if (one) run_t<true, false, true>(c, z, a);
      else run_t<true, false, false>(c, z, a);
      return;
    }
    // global weights: all imaginary parts of the used slots zero?
    bool real = true;
    for (int k = 0; k < 9 && real; ++k) {
      if (!((c.mask >> k) & 1u)) continue;
      for (int64_t e = 0; e < c.wsz; e += 2) real = real && c.W[k * c.wsz + e + 1] == T(0);
    }
    if (real && one) run_t<false, true, true>(c, z, a);
    else if (real) run_t<false, true, false>(c, z, a);
    else if (one) run_t<false, false, true>(c, z, a);
    else run_t<false, false, false>(c, z, a);
  }
};

}  // namespace gn
#endif
