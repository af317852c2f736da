// Eight-lane SIMD vectors for the CPU kernels that process eight lattice sites at once
// (one site per lane): 8 doubles in an AVX-512 zmm register, 8 floats in an AVX ymm register.
// Field data stay in the array-of-structures layout of CONVENTIONS.md; a kernel loads the data of
// its eight sites row by row (one row = the real numbers of one site) and transposes them in
// registers (load_t), computes with every lane busy, and transposes back on the store (store_t).
//
// CPU-only: defines GN_SIMD8 = 1 when the compiler targets AVX-512 (-march=native on an AVX-512
// machine) and this is neither the nvcc device nor host pass; otherwise GN_SIMD8 = 0 and the
// kernels fall back to their site-by-site versions.
#pragma once
#if defined(__AVX512F__) && defined(__AVX512VL__) && !defined(__CUDACC__) && !defined(__CUDA_ARCH__)
#define GN_SIMD8 1
#define GN_SIMD_INLINE inline __attribute__((always_inline))
#include <immintrin.h>
#include <cstdint>

namespace gn {
namespace simd {

template <class T>
struct V8;

template <>
struct V8<double> {
  using reg = __m512d;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg set1(double v) { return _mm512_set1_pd(v); }
  static reg load(const double *p) { return _mm512_loadu_pd(p); }
  static reg load(const double *p, int m) { return _mm512_maskz_loadu_pd((__mmask8)((1u << m) - 1u), p); }
  static void store(double *p, reg v) { _mm512_storeu_pd(p, v); }
  static void store(double *p, reg v, int m) { _mm512_mask_storeu_pd(p, (__mmask8)((1u << m) - 1u), v); }
  static void stream(double *p, reg v) { _mm512_stream_pd(p, v); }  // p 64-byte aligned
  static void stream16(double *p, reg v) {                             // p 16-byte aligned
    _mm_stream_pd(p, _mm512_castpd512_pd128(v));
    _mm_stream_pd(p + 2, _mm512_extractf64x2_pd(v, 1));
    _mm_stream_pd(p + 4, _mm512_extractf64x2_pd(v, 2));
    _mm_stream_pd(p + 6, _mm512_extractf64x2_pd(v, 3));
  }
  // in-place 8 x 8 transpose: r[i] lane j <-> r[j] lane i
  static void transpose(reg (&r)[8]) {
    const reg t0 = _mm512_unpacklo_pd(r[0], r[1]), t1 = _mm512_unpackhi_pd(r[0], r[1]);
    const reg t2 = _mm512_unpacklo_pd(r[2], r[3]), t3 = _mm512_unpackhi_pd(r[2], r[3]);
    const reg t4 = _mm512_unpacklo_pd(r[4], r[5]), t5 = _mm512_unpackhi_pd(r[4], r[5]);
    const reg t6 = _mm512_unpacklo_pd(r[6], r[7]), t7 = _mm512_unpackhi_pd(r[6], r[7]);
    // 128-bit lane k of t0 holds (r0[2k], r1[2k]); gather lanes 0,2 and 1,3 of two rows-pairs
    const reg u0 = _mm512_shuffle_f64x2(t0, t2, 0x88), u1 = _mm512_shuffle_f64x2(t0, t2, 0xDD);
    const reg u2 = _mm512_shuffle_f64x2(t1, t3, 0x88), u3 = _mm512_shuffle_f64x2(t1, t3, 0xDD);
    const reg u4 = _mm512_shuffle_f64x2(t4, t6, 0x88), u5 = _mm512_shuffle_f64x2(t4, t6, 0xDD);
    const reg u6 = _mm512_shuffle_f64x2(t5, t7, 0x88), u7 = _mm512_shuffle_f64x2(t5, t7, 0xDD);
    r[0] = _mm512_shuffle_f64x2(u0, u4, 0x88);
    r[4] = _mm512_shuffle_f64x2(u0, u4, 0xDD);
    r[2] = _mm512_shuffle_f64x2(u1, u5, 0x88);
    r[6] = _mm512_shuffle_f64x2(u1, u5, 0xDD);
    r[1] = _mm512_shuffle_f64x2(u2, u6, 0x88);
    r[5] = _mm512_shuffle_f64x2(u2, u6, 0xDD);
    r[3] = _mm512_shuffle_f64x2(u3, u7, 0x88);
    r[7] = _mm512_shuffle_f64x2(u3, u7, 0xDD);
  }
};

template <>
struct V8<float> {
  using reg = __m256;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg load(const float *p) { return _mm256_loadu_ps(p); }
  static reg load(const float *p, int m) { return _mm256_maskz_loadu_ps((__mmask8)((1u << m) - 1u), p); }
  static void store(float *p, reg v) { _mm256_storeu_ps(p, v); }
  static void store(float *p, reg v, int m) { _mm256_mask_storeu_ps(p, (__mmask8)((1u << m) - 1u), v); }
  static void stream(float *p, reg v) { _mm256_stream_ps(p, v); }  // p 32-byte aligned
  static void stream16(float *p, reg v) {                            // p 16-byte aligned
    _mm_stream_ps(p, _mm256_castps256_ps128(v));
    _mm_stream_ps(p + 4, _mm256_extractf128_ps(v, 1));
  }
  static void transpose(reg (&r)[8]) {
    const reg t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const reg t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const reg t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const reg t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const reg s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const reg s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const reg s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const reg s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
  }
};

// Transposed load: NR reals starting at p[l] for lane l -> out[e] (lane l = p[l][e]).
// Only the NR reals of each row are touched (masked loads for a partial last chunk).
template <int NR, class T>
GN_SIMD_INLINE void load_t(const T *const (&p)[8], typename V8<T>::reg *out) {
  using V = V8<T>;
#pragma GCC unroll 32
  for (int k = 0; k < NR; k += 8) {
    const int m = NR - k < 8 ? NR - k : 8;
    typename V::reg r[8];
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) r[l] = m == 8 ? V::load(p[l] + k) : V::load(p[l] + k, m);
    V::transpose(r);
#pragma GCC unroll 8
    for (int j = 0; j < m; ++j) out[k + j] = r[j];
  }
}

// Transposed store: in[e] lane l -> p[l][e] for the first `lanes` lanes. NT = 0: plain stores;
// 1: streaming stores of whole registers; 2: streaming stores of 16-byte parts (the caller
// guarantees the alignment of every row start for the mode it picks).
template <int NR, int NT, class T>
GN_SIMD_INLINE void store_t(T *const (&p)[8], const typename V8<T>::reg *in, int lanes) {
  using V = V8<T>;
  constexpr int NCH = (NR + 7) / 8;
  typename V::reg r[NCH][8];
#pragma GCC unroll 8
  for (int k = 0; k < NCH; ++k) {
    const int m = NR - 8 * k < 8 ? NR - 8 * k : 8;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) r[k][j] = j < m ? in[8 * k + j] : V::zero();
    V::transpose(r[k]);
  }
  // row by row, so that each cache line of the destination is completed by consecutive stores
  // (what streaming stores need to leave the write-combining buffers as whole lines)
  if (lanes == 8) {
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l)
#pragma GCC unroll 8
      for (int k = 0; k < NCH; ++k) {
        const int m = NR - 8 * k < 8 ? NR - 8 * k : 8;
        if (m == 8) {
          if (NT == 1) V::stream(p[l] + 8 * k, r[k][l]);
          else if (NT == 2) V::stream16(p[l] + 8 * k, r[k][l]);
          else V::store(p[l] + 8 * k, r[k][l]);
        } else {
          V::store(p[l] + 8 * k, r[k][l], m);
        }
      }
  } else {
    for (int l = 0; l < lanes; ++l)
#pragma GCC unroll 8
      for (int k = 0; k < NCH; ++k) {
        const int m = NR - 8 * k < 8 ? NR - 8 * k : 8;
        if (m == 8) V::store(p[l] + 8 * k, r[k][l]);
        else V::store(p[l] + 8 * k, r[k][l], m);
      }
  }
}

// Streaming (non-temporal) stores of the SIMD stencil kernels (Wilson, one-hop): used for outputs of at
// least stream_bytes() bytes (default GN_STREAM_BYTES, twice the L3 of the machine of
// docs/performance.md; gaugenet._core.stream_store_bytes() changes it, for tests and benchmarks).
#ifndef GN_STREAM_BYTES
#define GN_STREAM_BYTES (64ll << 20)
#endif
inline int64_t &stream_bytes() {
  static int64_t v = GN_STREAM_BYTES;
  return v;
}
// The store mode for an output of `bytes` bytes at `out` whose rows are multiples of the register
// size: 0 plain stores, 1 streaming stores of whole registers, 2 streaming stores of 16-byte parts.
template <class T>
inline int stream_mode(const void *out, int64_t bytes) {
  if (bytes < stream_bytes()) return 0;
  const uintptr_t p = reinterpret_cast<uintptr_t>(out);
  if (p % sizeof(typename V8<T>::reg) == 0) return 1;
  return p % 16 == 0 ? 2 : 0;
}

// The SU(N) colour product of the eight-lane kernels: (o_re + i o_im)[i] = sum_j U[i][j] f[j] (back
// = false) or sum_j conj(U[j][i]) f[j] (back = true), for a transposed link tile u (reals
// (i N + j) * 2 + {0, 1}) and a transposed colour vector f (reals 2 j, 2 j + 1); colour sums in
// ascending order, as in the site-by-site kernels.
// One complex multiply-accumulate of the SU(N) products: (re + i im) = u f (first) or += u f, with u = ur + i ui,
// or its conjugate when back.
template <bool back, class R>
GN_SIMD_INLINE void cmac(bool first, R &re, R &im, R ur, R ui, R fr, R fi) {
  if (first) {
    re = back ? ur * fr + ui * fi : ur * fr - ui * fi;
    im = back ? ur * fi - ui * fr : ur * fi + ui * fr;
  } else {
    re = back ? re + ur * fr + ui * fi : re + ur * fr - ui * fi;
    im = back ? im + ur * fi - ui * fr : im + ur * fi + ui * fr;
  }
}

template <int N, bool back, class R>
GN_SIMD_INLINE void cmatvec(const R *u, const R *f, R (&ore)[N], R (&oim)[N]) {
#pragma GCC unroll 4
  for (int i = 0; i < N; ++i) {
    R re, im;
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) {
      const int e = back ? (j * N + i) * 2 : (i * N + j) * 2;
      cmac<back>(j == 0, re, im, u[e], u[e + 1], f[2 * j], f[2 * j + 1]);
    }
    ore[i] = re, oim[i] = im;
  }
}

// Complex numbers with one SIMD register for the real and one for the imaginary parts.
template <class T>
struct cv {
  typename V8<T>::reg re, im;
};

// a + i^k b and acc += i^k b without extra flops (k = 0..3)
template <int k, class T>
GN_SIMD_INLINE cv<T> add_ipow(const cv<T> &a, const cv<T> &b) {
  if constexpr ((k & 3) == 0) return {a.re + b.re, a.im + b.im};
  else if constexpr ((k & 3) == 1) return {a.re - b.im, a.im + b.re};
  else if constexpr ((k & 3) == 2) return {a.re - b.re, a.im - b.im};
  else return {a.re + b.im, a.im - b.re};
}

}  // namespace simd
}  // namespace gn
#else
#define GN_SIMD8 0
#endif
