// Wilson(-clover) operator on fields in the packed ("eight-site block") layout: the same operator
// as wilson.h, computed without any in-register transposes.
//
// Packed layout (CPU, AVX-512). The sites of the local lattice, in the lexicographic order of
// CONVENTIONS.md (x fastest), are cut into blocks of eight consecutive sites (so the local x extent
// must be a multiple of 8: a block is eight consecutive x of one row). A field with R reals per site
// (a spinor with nrhs right-hand sides: R = nrhs * 8N; the four links of a site: 4 * 2N^2; a clover
// site: 16N^2) is stored as [V/8][R][8]: real e of site 8B + l is at (B R + e) 8 + l. One SIMD
// register then holds the same real of the eight sites of a block, which is what the eight-lane
// kernels of simd8.h otherwise build by transposing. kernels/pack.h converts between the layouts.
//
// Why: the transposing kernel (wilson_simd.h) spends as much time on shuffles as on memory traffic
// (32^4 double, 2 threads: ~20 ms of each, and they add up). Here the arithmetic alone is ~40% less
// and the hopping term runs at 27-31 ms instead of 37-45 ms (docs/performance.md).
//
// Neighbours, from the local geometry (dims, and which directions have a halo). The +-y, +-z, +-t
// neighbours of a block are the same lanes of another block: its registers are loaded as they are.
// The +x neighbour of lane l is lane l + 1 of the same block (lane 7: lane 0 of the next block of the
// row, wrapping around) and the -x one lane l - 1 (lane 0: lane 7 of the previous block): the two
// blocks are spin-projected first and the half spinors shifted by one lane (one valign per register;
// the -x links likewise). A hop across the edge of a direction with a halo is gathered lane by lane,
// through the neighbour table, from the packed local field or the halo (kept in the ordinary layout)
// into a scratch block. No neighbour table is read otherwise.
//
// Two-row links (R12, SU(3) only): U holds [V/8][4][12][8], the first two rows of each link; the third is
// rebuilt per hop in L1 scratch as det conj(row0 x row1) (det 1, or the cube of a boundary phase folded into
// the links on the slice that carries it: WilsonPackedArgs::bdet). 2/3 of the link bytes for 24 multiply-adds
// per hop; 32^4 double, 2 threads: hopping term -14 to -20%, clover -6 to -14% (docs/performance.md).
//
// The summation order per site is that of WilsonKernel (hops +x, -x, ..., -t; colour sums ascending):
// results agree with the other kernels to rounding.
#pragma once
#include "kernels/simd8.h"
#include "kernels/hop_order.h"
#include "core/spin.h"
#if GN_SIMD8
#include <cstdint>
#include <type_traits>
#include <utility>
#ifdef GN_HAVE_OPENMP
#include <omp.h>
#endif

// Tuning, measured at 32^4 double, 2 threads, in a C++ driver (alternating runs, host noise +-5%):
// software prefetch of everything a block needs from beyond the L1 except its own spinor (without
// any: 47-53 ms; links only: 43-51; links and +t spinor: 35-38; all: 27-32), GN_PACKED_PF_BLOCKS
// blocks ahead (1-16 within the noise), into L1 (T1/T2 hints: 3-8% slower); z-blocks of the cache
// order sized for GN_PACKED_BLOCK_BYTES (with the round-robin threads 8 and 16 MB within the noise,
// 4 MB +5%; 32-64 MB were 20-40% slower with contiguous thread shares).
//
// The prefetch target depends on the core (GCC's -march=native names it): into L1 (T0) on the Intel AVX-512
// cores where the kernel was tuned (T1/T2 3-8% slower there), into L2 (T1) on AMD Zen, where T0 prefetches
// made the 32^4 double two-row hop 50-55 ms and T1 ones 32.6-35.8 ms (2 threads, C++ driver, alternating runs;
// single 21.7-24.9 -> 16.3-17.5 ms): a Zen core's L1 cannot hold four blocks ahead of this many streams.
#ifndef GN_PACKED_HINT
#if defined(__znver1__) || defined(__znver2__) || defined(__znver3__) || defined(__znver4__) || defined(__znver5__)
#define GN_PACKED_HINT _MM_HINT_T1
#else
#define GN_PACKED_HINT _MM_HINT_T0
#endif
#endif
#ifndef GN_PACKED_BLOCK_BYTES
#define GN_PACKED_BLOCK_BYTES (16 << 20)
#endif
#ifndef GN_PACKED_PF_BLOCKS
#define GN_PACKED_PF_BLOCKS 4
#endif

namespace gn {

template <class T>
struct WilsonPackedArgs {
  T *out;                  // packed [V/8][nrhs * 8N][8]
  const T *in;             // packed [V/8][nrhs * 8N][8]
  const T *in_halo;        // ordinary layout [Vh][nrhs][4][N] complex, or nullptr
  const T *U;              // packed links [V/8][4][2N^2][8]: the four directions of a block together
  const T *U_halo[4];      // ordinary layout [Vh][N][N] complex, or nullptr
  const int32_t *nbr;      // [V][8]: used for the sites whose neighbours are in the halo
  int64_t V;               // local sites
  int dims[4];             // local extents (dims[0] a multiple of 8)
  bool split[4];           // direction mu has a halo (its boundary neighbours are not local)
  const T *clover;         // packed [V/8][8 N^2][8] (two hermitian blocks, compressed: WilsonPacked::cupper), or nullptr
  T diag, hop_coef;
  int nrhs;
  int part;                // 0 all blocks, 1 those with no neighbour in the halo, 2 the others
  // Two-row links (WilsonPacked<3, SF, T, true>: U holds [V/8][4][12][8], the first two rows): the third row
  // of U_mu(x) is det(U_mu(x)) conj(row0 x row1). det = 1 (SU(3)) except on the local slice x_mu = dims[mu] - 1
  // when bdet_on[mu]: there it is bdet[mu] (re, im), the cube of a boundary phase folded into the links.
  T bdet[4][2];
  bool bdet_on[4];
  // optional addend, packed like out (not out itself): out = add + result, or add - result with sub (the
  // residual b - D x of a smoother step in one pass); nullptr: out = result
  const T *add;
  bool sub;
  // optional doubled links (the layout of Grid's doubled gauge field, in this storage): packed like U, block B
  // holding U_mu(x - mu) of its sites (the local lattice wrapped periodically). The backward hops that stay
  // local read their link from here, in the block's own sequential stream, instead of from the neighbour's
  // block (lane-shifted for -x); twice the link bytes. nullptr: the links of U only (docs/performance.md,
  // "Doubled links").
  const T *U_doubled;
};

template <int N, int SF, class T, bool R12 = false>
struct WilsonPacked {
  static_assert(!R12 || N == 3, "two-row link storage is for SU(3) links");
  using V = simd::V8<T>;
  using R = typename V::reg;
  using C = simd::cv<T>;
  static constexpr int NS = 8 * N;      // reals of one spinor
  static constexpr int NH = 4 * N;      // reals of one half spinor (two spins)
  static constexpr int NL = 2 * N * N;  // reals of one link
  static constexpr int LS = R12 ? 4 * N : NL;  // reals stored per link: all, or the first two rows (R12)
  static constexpr int M = 2 * N;       // rows of one chiral clover block
  static constexpr int NC = 2 * M * M;  // reals of one clover site, hermitian blocks compressed (see below)

  // Real index, within one compressed block, of the diagonal entry (e, e) and of the upper entry (e, f),
  // e < f (real part; the imaginary part follows). A block is stored as its M real diagonal entries,
  // then the upper triangle row by row as (re, im): M + M (M - 1) = M^2 reals, half the full block.
  static constexpr int cdiag(int e) { return e; }
  static constexpr int cupper(int e, int f) { return M + 2 * (e * M - e * (e + 1) / 2 + (f - e - 1)); }

  // lane shifts: up(a, b) = (a1 ... a7, b0); down(a, b) = (a7, b0 ... b6)
  static GN_SIMD_INLINE R up(R a, R b) {
    if constexpr (std::is_same<T, double>::value)
      return _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(b), _mm512_castpd_si512(a), 1));
    else
      return _mm256_castsi256_ps(_mm256_alignr_epi32(_mm256_castps_si256(b), _mm256_castps_si256(a), 1));
  }
  static GN_SIMD_INLINE R down(R a, R b) {
    if constexpr (std::is_same<T, double>::value)
      return _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(b), _mm512_castpd_si512(a), 7));
    else
      return _mm256_castsi256_ps(_mm256_alignr_epi32(_mm256_castps_si256(b), _mm256_castps_si256(a), 7));
  }
  static GN_SIMD_INLINE R ld(const T *p) { return V::load(p); }  // one block row (any alignment)

  // the two projected upper spins (h[(s N + c) 2 + {re, im}], s = 0, 1) of the packed spinor s
  template <int mu, int sign>
  static GN_SIMD_INLINE void project(const T *s, R (&h)[NH]) {
    constexpr int q = sign < 0 ? 2 : 0;
#pragma GCC unroll 2
    for (int sp = 0; sp < 2; ++sp) {
      const int col = gamma_col[mu][sp];
#pragma GCC unroll 4
      for (int c = 0; c < N; ++c) {
        const C a{ld(s + ((sp * N + c) * 2) * 8), ld(s + ((sp * N + c) * 2 + 1) * 8)};
        const C b{ld(s + ((col * N + c) * 2) * 8), ld(s + ((col * N + c) * 2 + 1) * 8)};
        C r;
        if (sp == 0) r = simd::add_ipow<gamma_phase[mu][0] + q>(a, b);
        else r = simd::add_ipow<gamma_phase[mu][1] + q>(a, b);
        h[(sp * N + c) * 2] = r.re, h[(sp * N + c) * 2 + 1] = r.im;
      }
    }
  }

  // the third row of an SU(3) link from its first two (u: 12 packed reals): U_2j = conj(U_0k U_1l - U_0l U_1k),
  // (j, k, l) cyclic; written to u2 (6 packed reals). Two loads of the 12 reals, 24 multiply-adds: cheaper than
  // the 6 * 64 bytes per link it saves (32^4 double, 2 threads: hopping term -15%, clover -14%).
  static GN_SIMD_INLINE void third_row(const T *u, T *u2) {
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) {
      const int k = (j + 1) % 3, l = (j + 2) % 3;
      const R ar = ld(u + (2 * k) * 8), ai = ld(u + (2 * k + 1) * 8);            // U_0k
      const R br = ld(u + (2 * (3 + l)) * 8), bi = ld(u + (2 * (3 + l) + 1) * 8);  // U_1l
      const R cr = ld(u + (2 * l) * 8), ci = ld(u + (2 * l + 1) * 8);            // U_0l
      const R dr = ld(u + (2 * (3 + k)) * 8), di = ld(u + (2 * (3 + k) + 1) * 8);  // U_1k
      const R re = ar * br - ai * bi - cr * dr + ci * di;
      const R im = cr * di + ci * dr - ar * bi - ai * br;  // minus the imaginary part: conjugated
      V::store(u2 + (2 * j) * 8, re);
      V::store(u2 + (2 * j + 1) * 8, im);
    }
  }

  // multiply the half spinor by the link (or its adjoint; u: the packed link, in memory, its third row at u2
  // for N = 3: u + 12 * 8 when stored, a reconstructed copy with R12) and accumulate
  // the reconstructed spinor, one colour row at a time (fewer live registers than all rows first)
  template <int mu, int sign, bool back>
  static GN_SIMD_INLINE void apply(const T *u, const T *u2, const R (&h)[NH], R *acc) {
    constexpr int q = sign < 0 ? 2 : 0;
    constexpr int c2 = gamma_col[mu][2], c3 = gamma_col[mu][3];
    constexpr int p2 = gamma_phase[mu][2] + q, p3 = gamma_phase[mu][3] + q;
#pragma GCC unroll 4
    for (int c = 0; c < N; ++c) {
      R r0, i0, r1, i1;
#pragma GCC unroll 4
      for (int j = 0; j < N; ++j) {
        const int e = back ? (j * N + c) * 2 : (c * N + j) * 2;
        const T *p = e < 4 * N ? u + e * 8 : u2 + (e - 4 * N) * 8;
        const R ur = ld(p), ui = ld(p + 8);
        simd::cmac<back>(j == 0, r0, i0, ur, ui, h[2 * j], h[2 * j + 1]);
        simd::cmac<back>(j == 0, r1, i1, ur, ui, h[2 * N + 2 * j], h[2 * N + 2 * j + 1]);
      }
      const C u0{r0, i0}, u1{r1, i1};
      C a0{acc[(0 * N + c) * 2], acc[(0 * N + c) * 2 + 1]}, a1{acc[(1 * N + c) * 2], acc[(1 * N + c) * 2 + 1]};
      C a2{acc[(2 * N + c) * 2], acc[(2 * N + c) * 2 + 1]}, a3{acc[(3 * N + c) * 2], acc[(3 * N + c) * 2 + 1]};
      a0 = simd::add_ipow<0>(a0, u0);
      a1 = simd::add_ipow<0>(a1, u1);
      a2 = simd::add_ipow<p2>(a2, c2 == 0 ? u0 : u1);
      a3 = simd::add_ipow<p3>(a3, c3 == 0 ? u0 : u1);
      acc[(0 * N + c) * 2] = a0.re, acc[(0 * N + c) * 2 + 1] = a0.im;
      acc[(1 * N + c) * 2] = a1.re, acc[(1 * N + c) * 2 + 1] = a1.im;
      acc[(2 * N + c) * 2] = a2.re, acc[(2 * N + c) * 2 + 1] = a2.im;
      acc[(3 * N + c) * 2] = a3.re, acc[(3 * N + c) * 2 + 1] = a3.im;
    }
  }

  struct Ctx {
    const WilsonPackedArgs<T> &a;
    int64_t sst;   // reals of one site's spinors (all rhs)
    int64_t bst;   // reals of one spinor block (all rhs): 8 sst
    int64_t nxb;   // blocks per x-row
    int64_t bs[4]; // block strides of the four directions
  };

  // hop k of block B from the local geometry: the kind (0 the same lanes of block *nb, 1 shifted up:
  // lanes 1..7 of B and lane 0 of *nb, 2 shifted down: lane 7 of *nb and lanes 0..6 of B, 3 in the
  // halo: gathered through the neighbour table)
  template <int k>
  static GN_SIMD_INLINE int kind(const Ctx &c, int64_t B, int64_t *nb) {
    constexpr int mu = k / 2;
    constexpr bool back = k & 1;
    int64_t co, ext;
    if constexpr (mu == 0) co = B % c.nxb, ext = c.nxb;
    else co = (B / c.bs[mu]) % c.a.dims[mu], ext = c.a.dims[mu];
    const bool edge = back ? co == 0 : co == ext - 1;
    if (edge && c.a.split[mu]) return 3;
    const int64_t st = c.bs[mu];
    *nb = edge ? (back ? B + (ext - 1) * st : B - (ext - 1) * st) : (back ? B - st : B + st);
    return mu == 0 ? (back ? 2 : 1) : 0;
  }

  // the packed link U_mu of block B
  static GN_SIMD_INLINE const T *link(const Ctx &c, int mu, int64_t B) { return c.a.U + (B * 4 + mu) * LS * 8; }
  // the doubled link U_mu(x - mu) of the sites of block B (WilsonPackedArgs::U_doubled)
  static GN_SIMD_INLINE const T *dlink(const Ctx &c, int mu, int64_t B) { return c.a.U_doubled + (B * 4 + mu) * LS * 8; }

  // R12: multiply the third row (u2, packed) of the link of lane `lane` (-1: all lanes) by the factor f
  static void scale_row(T *u2, int lane, const T (&f)[2]) {
    for (int l = 0; l < 8; ++l) {
      if (lane >= 0 && l != lane) continue;
      for (int j = 0; j < 3; ++j) {
        const T re = u2[(2 * j) * 8 + l], im = u2[(2 * j + 1) * 8 + l];
        u2[(2 * j) * 8 + l] = re * f[0] - im * f[1];
        u2[(2 * j + 1) * 8 + l] = re * f[1] + im * f[0];
      }
    }
  }
  // R12: whether local site s lies on the slice of direction mu whose links carry the factor bdet[mu]
  static bool on_det_slice(const Ctx &c, int mu, int64_t s) {
    if (!c.a.bdet_on[mu]) return false;
    int64_t st = 1;
    for (int m = 0; m < mu; ++m) st *= c.a.dims[m];
    return (s / st) % c.a.dims[mu] == c.a.dims[mu] - 1;
  }

  // gather the spinors (rhs r) of the sites y_l into the packed scratch block g
  static void gather_spinor(const Ctx &c, const int32_t *y, int r, T *g) {
    for (int l = 0; l < 8; ++l) {
      const int64_t s = y[l];
      if (s < c.a.V) {
        const T *p = c.a.in + (s / 8) * c.bst + (int64_t)r * NS * 8 + s % 8;
        for (int e = 0; e < NS; ++e) g[e * 8 + l] = p[e * 8];
      } else {
        const T *p = c.a.in_halo + (s - c.a.V) * c.sst + (int64_t)r * NS;
        for (int e = 0; e < NS; ++e) g[e * 8 + l] = p[e];
      }
    }
  }
  // gather the links U_mu of the sites z_l, all NL reals: with R12 the third rows of the local links are
  // rebuilt here (a halo link, from the ordinary layout, comes whole with its own rank's boundary phase)
  static void gather_link(const Ctx &c, int mu, const int64_t *z, T *g) {
    for (int l = 0; l < 8; ++l) {
      const int64_t s = z[l];
      const T *p = s < c.a.V ? link(c, mu, s / 8) + s % 8 : nullptr;
      for (int e = 0; e < LS; ++e) g[e * 8 + l] = p ? p[e * 8] : c.a.U_halo[mu][(s - c.a.V) * NL + e];
    }
    if constexpr (R12) {
      alignas(64) T u2[6 * 8];
      third_row(g, u2);
      for (int l = 0; l < 8; ++l) {
        const int64_t s = z[l];
        for (int e = 0; e < 6; ++e) g[(12 + e) * 8 + l] = s < c.a.V ? u2[e * 8 + l] : c.a.U_halo[mu][(s - c.a.V) * NL + 12 + e];
        if (s < c.a.V && on_det_slice(c, mu, s)) scale_row(g + 12 * 8, l, c.a.bdet[mu]);
      }
    }
  }

  // R12: the third row (u2) of the link u (its first two rows, packed) of hop 2 mu + back of block B, of kind
  // kd != 3 (neighbour block nb): with the boundary factor where the link lies on the slice that carries one
  // (rare: one slice of a direction): on all lanes (y, z, t), on lane 7 of a row's last block (+x) or on
  // lane 0 of a row's first block (-x, lane-shifted)
  template <int mu, bool back>
  static GN_SIMD_INLINE void rebuild(const Ctx &c, int kd, int64_t B, int64_t nb, const T *u, T *u2) {
    third_row(u, u2);
    if (!c.a.bdet_on[mu]) return;
    int lane = -2;
    if (kd == 0) {
      if (((back ? nb : B) / c.bs[mu]) % c.a.dims[mu] == c.a.dims[mu] - 1) lane = -1;
    } else if (kd == 1) {
      if (B % c.nxb == c.nxb - 1) lane = 7;
    } else if (B % c.nxb == 0) {
      lane = 0;
    }
    if (lane != -2) scale_row(u2, lane, c.a.bdet[mu]);
  }

  // hop k = 2 mu + back of block B, rhs r, accumulated into acc
  template <int mu, bool back>
  static GN_SIMD_INLINE void hop(const Ctx &c, int64_t B, int r, R *acc) {
    constexpr int k = 2 * mu + (back ? 1 : 0);
    constexpr int sign = back ? -SF : SF;
    const int64_t roff = (int64_t)r * NS * 8;
    int64_t nb = 0;
    const int kd = kind<k>(c, B, &nb);
    R h[NH];
    const T *u;
    alignas(64) T gl[NL * 8];  // a shifted or gathered link
    if (kd == 0) {
      project<mu, sign>(c.a.in + nb * c.bst + roff, h);
      u = !back ? link(c, mu, B) : c.a.U_doubled ? dlink(c, mu, B) : link(c, mu, nb);
    } else if (kd == 1 || kd == 2) {
      R h2[NH];
      project<mu, sign>(c.a.in + B * c.bst + roff, h);
      project<mu, sign>(c.a.in + nb * c.bst + roff, h2);
      if (kd == 1) {
#pragma GCC unroll 32
        for (int e = 0; e < NH; ++e) h[e] = up(h[e], h2[e]);
      } else {
#pragma GCC unroll 32
        for (int e = 0; e < NH; ++e) h[e] = down(h2[e], h[e]);
      }
      if (!back) {
        u = link(c, mu, B);
      } else if (c.a.U_doubled) {
        u = dlink(c, mu, B);
      } else {  // the links of the neighbours: shifted like the spinors
        const T *pa = link(c, mu, B), *pb = link(c, mu, nb);
#pragma GCC unroll 32
        for (int e = 0; e < LS; ++e)
          V::store(gl + e * 8, kd == 1 ? up(ld(pa + e * 8), ld(pb + e * 8)) : down(ld(pb + e * 8), ld(pa + e * 8)));
        u = gl;
      }
    } else {
      alignas(64) T gs[NS * 8];
      int32_t y[8];
      int64_t z[8];
      for (int l = 0; l < 8; ++l) {
        y[l] = c.a.nbr[(B * 8 + l) * 8 + k];
        z[l] = back ? y[l] : B * 8 + l;
      }
      gather_spinor(c, y, r, gs);
      gather_link(c, mu, z, gl);
      project<mu, sign>(gs, h);
      u = gl;
    }
    if constexpr (R12) {
      if (kd == 3) {  // gathered with its third row
        apply<mu, sign, back>(u, u + 12 * 8, h, acc);
        return;
      }
      alignas(64) T u2[6 * 8];
      rebuild<mu, back>(c, kd, B, nb, u, u2);
      apply<mu, sign, back>(u, u2, h, acc);
    } else {
      apply<mu, sign, back>(u, u + 4 * N * 8, h, acc);
    }
  }

  static GN_SIMD_INLINE void pf_lines(const T *p, int n) {
    const char *q = reinterpret_cast<const char *>(p);
    for (int j = 0; j < n * (int)sizeof(T) * 8; j += 64) _mm_prefetch(q + j, GN_PACKED_HINT);
  }
  // software prefetch of the data of a later block Bn that is not reused from the cache: its links,
  // clover block, and the +-z and +-t neighbour spinors with their backward links
  // rhs < 0: the neighbour spinors of all right-hand sides at once; rhs = r: those of rhs r only, and the links
  // with r = 0 (the Wilson kernel spreads a block's prefetches over its right-hand sides)
  template <int piece>
  static GN_SIMD_INLINE void prefetch(const Ctx &c, int64_t Bn, int rhs = -1) {
    if (Bn < 0) return;
    if constexpr (piece < 4) {
      if (rhs <= 0) pf_lines(link(c, piece, Bn), LS);
      if (rhs <= 0 && c.a.U_doubled) pf_lines(dlink(c, piece, Bn), LS);
    } else {
      constexpr int k = piece;  // hops 4..7: +z, -z, +t, -t (neighbours from the geometry, not the table)
      int64_t nb;
      if (kind<k>(c, Bn, &nb) != 3) {
        if (rhs < 0) pf_lines(c.a.in + nb * c.bst, NS * c.a.nrhs);
        else pf_lines(c.a.in + nb * c.bst + (int64_t)rhs * NS * 8, NS);
        if ((k & 1) && rhs <= 0 && !c.a.U_doubled) pf_lines(link(c, k / 2, nb), LS);
      }
    }
  }

  // the eight hops in order (+x, -x, ..., -t), each followed by its share of the prefetches for block Bn
  // (none for Bn < 0): spread over the hops, which measured far faster than all at once
  template <size_t... K>
  static GN_SIMD_INLINE void hops(const Ctx &c, int64_t B, int r, R *acc, int64_t Bn, std::index_sequence<K...>) {
    ((hop<K / 2, (K & 1) != 0>(c, B, r, acc), prefetch<K>(c, Bn, r)), ...);
  }

  template <int NT, bool CLOVER>
  static GN_SIMD_INLINE void block(const Ctx &c, int64_t B, int64_t Bn) {
    if (CLOVER && Bn >= 0) pf_lines(c.a.clover + Bn * NC * 8, NC);
    const R hc = V::set1(c.a.hop_coef), dg = V::set1(c.a.diag);
    for (int r = 0; r < c.a.nrhs; ++r) {
      R acc[NS];
#pragma GCC unroll 32
      for (int e = 0; e < NS; ++e) acc[e] = V::zero();
      hops(c, B, r, acc, Bn, std::make_index_sequence<8>{});
      const int64_t off = B * c.bst + (int64_t)r * NS * 8;
      const T *s = c.a.in + off;
      T *o = c.a.out + off;
      R res[NS];
      if constexpr (CLOVER) {
        const T *cl = c.a.clover + B * NC * 8;
#pragma GCC unroll 2
        for (int bl = 0; bl < 2; ++bl) {
          const T *cb = cl + bl * M * M * 8;
#pragma GCC unroll 8
          for (int e = 0; e < M; ++e) {
            const int kk = (bl * M + e) * 2;
            R re = hc * acc[kk], im = hc * acc[kk + 1];
#pragma GCC unroll 8
            for (int f = 0; f < M; ++f) {
              const int j = (bl * M + f) * 2;
              const R sr = ld(s + j * 8), si = ld(s + (j + 1) * 8);
              if (f == e) {  // real diagonal
                const R d = ld(cb + cdiag(e) * 8);
                re = re + d * sr;
                im = im + d * si;
              } else {  // C(e, f) = upper(e, f) for f > e, conj(upper(f, e)) for f < e
                const int m = f > e ? cupper(e, f) : cupper(f, e);
                const R cr = ld(cb + m * 8), ci = ld(cb + (m + 1) * 8);
                if (f > e) simd::cmac<false>(false, re, im, cr, ci, sr, si);
                else simd::cmac<true>(false, re, im, cr, ci, sr, si);
              }
            }
            res[kk] = re, res[kk + 1] = im;
          }
        }
      } else if (c.a.diag != T(0)) {
#pragma GCC unroll 32
        for (int e = 0; e < NS; ++e) res[e] = dg * ld(s + e * 8) + hc * acc[e];
      } else {
#pragma GCC unroll 32
        for (int e = 0; e < NS; ++e) res[e] = hc * acc[e];
      }
      if (c.a.add) {
        const T *ad = c.a.add + off;
#pragma GCC unroll 32
        for (int e = 0; e < NS; ++e) res[e] = c.a.sub ? ld(ad + e * 8) - res[e] : ld(ad + e * 8) + res[e];
      }
#pragma GCC unroll 32
      for (int e = 0; e < NS; ++e) {
        if constexpr (NT) V::stream(o + e * 8, res[e]);
        else V::store(o + e * 8, res[e]);
      }
    }
  }

  // whether block B has a neighbour in the halo (a split direction's edge)
  static GN_SIMD_INLINE bool on_boundary(const Ctx &c, int64_t B) {
    for (int mu = 0; mu < 4; ++mu) {
      if (!c.a.split[mu]) continue;
      const int64_t ext = mu == 0 ? c.nxb : c.a.dims[mu];
      const int64_t co = (B / c.bs[mu]) % ext;
      if (co == 0 || co == ext - 1) return true;
    }
    return false;
  }

  static Ctx context(const WilsonPackedArgs<T> &a) {
    const int64_t nxb = a.dims[0] / 8;
    return Ctx{a, (int64_t)a.nrhs * NS, (int64_t)a.nrhs * NS * 8, nxb,
               {1, nxb, nxb * a.dims[1], nxb * a.dims[1] * a.dims[2]}};
  }

  // f(B, Bn) for the blocks of a.part, in the cache-blocked order of hop_order.h (z-blocks, t fastest),
  // on the OpenMP threads; Bn: the block GN_PACKED_PF_BLOCKS later in the order (-1 past the end).
  // NT: streaming stores were used (fenced before the threads' barrier). bytes_per_site: what the sweep
  // streams through per site (for the z-block size).
  template <int NT, class F>
  static void for_blocks(const Ctx &c, int64_t bytes_per_site, const F &f) {
    const WilsonPackedArgs<T> &a = c.a;
    const hop8::Order ord = hop8::make_order(a.nbr, a.V, SiteList{nullptr, a.V}, bytes_per_site, GN_PACKED_BLOCK_BYTES);
    const int64_t n = a.V / 8;
    const bool any_split = a.split[0] || a.split[1] || a.split[2] || a.split[3];
    // Whole z-blocks dealt out round-robin, so that the threads sweep neighbouring z-blocks at about
    // the same time and share the planes between them through the L3 (32^4 double, 2 threads: 0-5%
    // faster than contiguous halves, within the host's noise); contiguous shares when there are fewer
    // z-blocks than twice the threads.
    const int64_t nthreads = cpu_threads();
    const int64_t zchunk = ord.blocked ? ord.nt * ord.bz * ord.Sz / 8 : n;
    const int64_t chunk = zchunk * 2 * nthreads <= n ? zchunk : (n + nthreads - 1) / nthreads;
#pragma omp parallel if (a.V >= CpuExec::min_parallel)
    {
#pragma omp for schedule(static, chunk) nowait
      for (int64_t g = 0; g < n; ++g) {
        const int64_t B = ord.blocked ? ord.group_start(g * 8) / 8 : g;
        if (a.part != 0 && any_split && on_boundary(c, B) != (a.part == 2)) continue;
        if (a.part == 2 && !any_split) continue;
        const int64_t gn = g + GN_PACKED_PF_BLOCKS;
        f(B, gn >= n ? -1 : ord.blocked ? ord.group_start(gn * 8) / 8 : gn);
      }
      if constexpr (NT != 0) _mm_sfence();
    }
  }

  template <int NT>
  static void run_nt(const WilsonPackedArgs<T> &a) {
    const Ctx c = context(a);
    for_blocks<NT>(c, (2 * NS * a.nrhs + (a.U_doubled ? 8 : 4) * LS) * (int64_t)sizeof(T), [&](int64_t B, int64_t Bn) {
      if (a.clover) block<NT, true>(c, B, Bn);
      else block<NT, false>(c, B, Bn);
    });
  }

  // Streaming (non-temporal) stores for outputs of at least simd::stream_bytes(), as in wilson_simd.h
  // (whole-register streaming stores need an output aligned to the register size; otherwise plain stores)
  static void run(const WilsonPackedArgs<T> &a) {
    const int64_t bytes = a.V * (int64_t)a.nrhs * NS * (int64_t)sizeof(T);
    if (simd::stream_mode<T>(a.out, bytes) == 1) run_nt<1>(a);
    else run_nt<0>(a);
  }
};

}  // namespace gn
#endif
