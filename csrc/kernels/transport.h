// Covariant one-hop transports of matrix fields with many channels, and their vector-Jacobian products:
// the compiled primitives of python/gaugenet/links/paths.py (CASK's rectangle staples, the L-CNN's
// L-Conv and path products, learned flows).
//
// Hop links: a site-major field Hop (V, 8, N, N) with halo (Vh, 8, N, N), hop k = 2 nu + (s < 0):
//   Hop[x, 2 nu] = U_nu(x),  Hop[x, 2 nu + 1] = U_nu(x - nu)^dag,
// so that column k of the one-hop neighbour table nbr (V, 8) (2 mu: x + mu, 2 mu + 1: x - mu) is the
// site x + h of hop k, and column k ^ 1 is x - h.
//
// A field A (V, n, N, N) with halo (Vh, n, N, N) carries n channels; channel c has a descriptor
// chan[c] = (k, r): its hop k and its right factor r:
//   r = 2 mu (>= 0): B(x) = H(x) A(x + h) K(x)^dag with K(x) = H(x + mu)     (link transport: A a link-like
//                    field joining x and x + mu, moved one hop while its end points stay joined)
//   r = -1:          B(x) = H(x) A(x + h) H(x)^dag                          (transport of a site field)
//   r = -2:          B(x) = H(x) A(x + h)                                    (one step of a path product)
// with H(x) = Hop[x, k].
//
// Vector-Jacobian products (pairing sum Re tr(G dB)), in two passes with one exchange in between; sh
// (V, 8, N, N) is the cotangent of the hop links, accumulated over any number of calls:
//   pass 1 at (x, c), As = A(x + h):
//                     buf[x, c, 0] = M = K^dag G H (the cotangent of A(x + h); H^dag G H for r = -1, G H for r = -2),
//                     buf[x, c, 1] = As^dag H^dag G^dag for r >= 0 (the cotangent of K(x) = H(x + mu), which
//                     belongs to the hop link at x + mu; slot 1 is left unwritten for r < 0, and never read),
//                     loc[c, x] = the cotangent of H(x) that stays at x: As K^dag G (r >= 0),
//                     As H^dag G + As^dag H^dag G^dag (r = -1), As G (r = -2);
//   Python exchanges buf's halo;
//   pass 2 at (y, hop k), for every channel c of hop k: gA[y, c] = buf[y - h, c, 0];
//                     sh[y, k] += loc[c, y] + buf[y - mu, c, 1] (the last for r >= 0).
// HopSigma turns sh into the link cotangent Sigma (4, V, N, N) (sum Re tr(dU Sigma)):
//   Sigma_mu(z) += sh[z, 2 mu] + sh[z + mu, 2 mu + 1]^dag      (Hop[x, 2 mu + 1] = U_mu(x - mu)^dag)
// after one more exchange of sh's halo. Every item writes only its own entries: no atomics, race-free on
// both backends.
#pragma once
#include <type_traits>
#include "core/backend.h"
#include "kernels/matfield.h"
#include "kernels/simd8.h"

namespace gn {

template <class T>
struct TransportArgs {
  const cx<T> *H, *Hh;       // hop links (V, 8, N, N), halo (Vh, 8, N, N) or nullptr
  const cx<T> *A, *Ah;       // channels (V, n, N, N), halo (Vh, n, N, N) or nullptr
  const cx<T> *G;            // vjp pass 1: output cotangent (V, n, N, N)
  const cx<T> *buf, *bufh;   // vjp pass 2: pass-1 buffer (V, n, 2, N, N), halo (Vh, n, 2, N, N)
  cx<T> *loc;                // vjp: the local part of the hop-link cotangent per channel, channel-major (n, V, N, N)
  cx<T> *out;                // forward: B (V, n, N, N); pass 1: buf; pass 2: cotangent of A (V, n, N, N)
  cx<T> *sh;                 // vjp passes: hop-link cotangent (V, 8, N, N), accumulated
  const int32_t *chan;       // (n, 2): hop k, right factor r
  const int32_t *nbr;        // (V, 8)
  int64_t V, Vh;
  int n;

  template <int N>
  GN_HD const cx<T> *hop(int k, int64_t s) const {
    return s < V ? H + (s * 8 + k) * N * N : Hh + ((s - V) * 8 + k) * N * N;
  }
  template <int N>
  GN_HD const cx<T> *field(int c, int64_t s) const {
    return s < V ? A + (s * n + c) * N * N : Ah + ((s - V) * n + c) * N * N;
  }
  template <int N>
  GN_HD const cx<T> *bufat(int c, int j, int64_t s) const {
    return s < V ? buf + ((s * n + c) * 2 + j) * N * N : bufh + (((s - V) * n + c) * 2 + j) * N * N;
  }
};

// Work items. Forward: one per (channel, site), channel-outer, so that a sweep over the sites of one channel
// reads A(x + h) as one strided stream (site-outer ordering, each site pulling its 24 channels from eight
// neighbour rows of the site-major field, measured 4x slower on the CPU at 8^4 x 24 channels); the VJP's
// pass 1 the same; its pass 2 one per (hop, site), hop-outer, looping over the channels of that hop, so that
// the item owns sh[y, k] and adds to it without atomics. On the CPU, items cover chunks of `cpu_chunk` sites (the OpenMP team is only woken when
// there are enough chunks: light items do not pay for threads on small lattices); on CUDA one site per item.
constexpr int64_t cpu_chunk = 16;

template <class Exec>
constexpr int64_t transport_chunk() { return std::is_same<Exec, CpuExec>::value ? cpu_chunk : 1; }

// forward: item (c, site chunk)
template <int N, class T>
struct TransportFwd {
  TransportArgs<T> a;
  int64_t chunk, nchunk;
  GN_HD void operator()(int64_t j) const {
    const int c = (int)(j / nchunk);
    const int64_t x0 = (j - c * nchunk) * chunk;
    const int64_t x1 = x0 + chunk < a.V ? x0 + chunk : a.V;
    const int k = a.chan[2 * c], r = a.chan[2 * c + 1];
    for (int64_t x = x0; x < x1; ++x) {
      const int32_t *nb = a.nbr + x * 8;
      const Mat<N, T> H = mload<N, T>(a.template hop<N>(k, x));
      Mat<N, T> B = mm(H, mload<N, T>(a.template field<N>(c, nb[k])));
      if (r == -1) B = mmd(B, H);
      else if (r >= 0) B = mmd(B, mload<N, T>(a.template hop<N>(k, nb[r])));
      mstore(B, a.out + (x * a.n + c) * N * N);
    }
  }
};

// vjp pass 1: item (channel c, site chunk), like the forward; buf slot 1 is written only for r >= 0 (the only
// channels that read it). (An item per (hop, site chunk) looping over the hop's channels and adding the local
// part straight into sh saves the loc array but measured 3x slower on the CPU.)
template <int N, class T>
struct TransportVjpPush {
  TransportArgs<T> a;
  int64_t chunk, nchunk;
  // the site loop for one kind of right factor (R: 0 link transport, 1 same site, 2 none), branch-free inside
  template <int R>
  GN_HD void sites(int c, int k, int r, int64_t x0, int64_t x1) const {
    for (int64_t x = x0; x < x1; ++x) {
      const int32_t *nb = a.nbr + x * 8;
      const int64_t i = x * a.n + c;
      const Mat<N, T> H = mload<N, T>(a.template hop<N>(k, x));
      const Mat<N, T> As = mload<N, T>(a.template field<N>(c, nb[k]));
      const Mat<N, T> G = mload<N, T>(a.G + i * N * N);
      cx<T> *b0 = a.out + (i * 2) * N * N;
      const Mat<N, T> GH = mm(G, H);
      if (R == 2) {
        mstore(GH, b0);
        mstore(mm(As, G), a.loc + (c * a.V + x) * N * N);
      } else {
        const Mat<N, T> K = R == 1 ? H : mload<N, T>(a.template hop<N>(k, nb[r]));
        mstore(mdm(K, GH), b0);                                   // K^dag G H
        const Mat<N, T> far = mdm(mm(H, As), mdag(G));            // As^dag H^dag G^dag = (H As)^dag G^dag
        Mat<N, T> near = mm(mmd(As, K), G);                       // As K^dag G
        if (R == 1) madd(near, far);
        else mstore(far, b0 + N * N);
        mstore(near, a.loc + (c * a.V + x) * N * N);
      }
    }
  }
  GN_HD void operator()(int64_t j) const {
    const int c = (int)(j / nchunk);
    const int64_t x0 = (j - c * nchunk) * chunk;
    const int64_t x1 = x0 + chunk < a.V ? x0 + chunk : a.V;
    const int k = a.chan[2 * c], r = a.chan[2 * c + 1];
    if (r >= 0) sites<0>(c, k, r, x0, x1);
    else if (r == -1) sites<1>(c, k, r, x0, x1);
    else sites<2>(c, k, r, x0, x1);
  }
};

// vjp pass 2: item (hop k, site chunk)
template <int N, class T>
struct TransportVjpPull {
  TransportArgs<T> a;
  int64_t chunk, nchunk;
  GN_HD void operator()(int64_t j) const {
    const int k = (int)(j / nchunk);
    const int64_t y0 = (j - k * nchunk) * chunk;
    const int64_t y1 = y0 + chunk < a.V ? y0 + chunk : a.V;
    for (int64_t y = y0; y < y1; ++y) {
      const int32_t *nb = a.nbr + y * 8;
      bool any = false;
      Mat<N, T> S = mzero<N, T>();
      for (int c = 0; c < a.n; ++c) {
        if (a.chan[2 * c] != k) continue;
        const int r = a.chan[2 * c + 1];
        any = true;
        mstore(mload<N, T>(a.template bufat<N>(c, 0, nb[k ^ 1])), a.out + (y * a.n + c) * N * N);
        madd(S, mload<N, T>(a.loc + (c * a.V + y) * N * N));
        if (r >= 0) madd(S, mload<N, T>(a.template bufat<N>(c, 1, nb[r + 1])));
      }
      if (any) {
        cx<T> *o = a.sh + (y * 8 + k) * N * N;
        Mat<N, T> R = mload<N, T>(o);
        madd(R, S);
        mstore(R, o);
      }
    }
  }
};

// hop cotangent -> link cotangent, one item per (link direction, site): Sigma (4, V, N, N) accumulated
template <class T>
struct HopSigmaArgs {
  const cx<T> *sh, *shh;   // (V, 8, N, N), halo (Vh, 8, N, N) or nullptr
  cx<T> *sigma;            // (4, V, N, N)
  const int32_t *nbr;
  int64_t V, Vh;
};

template <int N, class T>
struct HopSigma {
  HopSigmaArgs<T> a;
  GN_HD void operator()(int64_t i) const {
    const int mu = (int)(i / a.V);
    const int64_t z = i - mu * a.V;
    const int64_t zf = a.nbr[z * 8 + 2 * mu];
    const cx<T> *back = zf < a.V ? a.sh + (zf * 8 + 2 * mu + 1) * N * N : a.shh + ((zf - a.V) * 8 + 2 * mu + 1) * N * N;
    cx<T> *o = a.sigma + i * N * N;
    Mat<N, T> S = mload<N, T>(o);
    madd(S, mload<N, T>(a.sh + (z * 8 + 2 * mu) * N * N));
    madd(S, mdag(mload<N, T>(back)));
    mstore(S, o);
  }
};

// Which CPU forward transport_fwd_run uses: 1 the eight-lane SIMD one where compiled (AVX-512), 0 the
// site-by-site TransportFwd (also the CUDA kernel). gaugenet._core.transport_variant() sets it, for tests
// and benchmarks.
inline int &transport_cpu_variant() {
  static int v = 1;
  return v;
}

#if GN_SIMD8
// C = A B (DAG = false) or A B^dag (DAG = true) for transposed N x N complex tiles (reals (i N + j) * 2 +
// {0, 1}, one site per lane); the sums over k in ascending order, as mm / mmd.
template <int N, bool DAG, class R>
GN_SIMD_INLINE void cmm8(const R *A, const R *B, R *C) {
#pragma GCC unroll 4
  for (int i = 0; i < N; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) {
      R re, im;
#pragma GCC unroll 4
      for (int k = 0; k < N; ++k) {
        const R ar = A[(i * N + k) * 2], ai = A[(i * N + k) * 2 + 1];
        const int e = DAG ? (j * N + k) * 2 : (k * N + j) * 2;
        const R br = B[e], bi = B[e + 1];
        if (k == 0) {
          re = DAG ? ar * br + ai * bi : ar * br - ai * bi;
          im = DAG ? ai * br - ar * bi : ar * bi + ai * br;
        } else {
          re = DAG ? re + ar * br + ai * bi : re + ar * br - ai * bi;
          im = DAG ? im + ai * br - ar * bi : im + ar * bi + ai * br;
        }
      }
      C[(i * N + j) * 2] = re, C[(i * N + j) * 2 + 1] = im;
    }
}

// The forward of TransportFwd, eight sites of one channel per step (one per lane): the hop links, the
// neighbours' matrices (and the right factors' links) of the eight sites are loaded row by row and transposed
// in registers (simd::load_t), the two products run with every lane busy, and the results are transposed
// back on the store. Items as TransportFwd's (chunks of cpu_chunk sites, a multiple of 8); a last partial
// group repeats its last site in the idle lanes and stores only the valid ones.
template <int N, class T>
struct TransportFwdSimd {
  TransportArgs<T> a;
  int64_t chunk, nchunk;
  void operator()(int64_t j) const {
    using R = typename simd::V8<T>::reg;
    constexpr int NR = 2 * N * N;
    const int c = (int)(j / nchunk);
    const int64_t x0 = (j - c * nchunk) * chunk;
    const int64_t x1 = x0 + chunk < a.V ? x0 + chunk : a.V;
    const int k = a.chan[2 * c], r = a.chan[2 * c + 1];
    for (int64_t g = x0; g < x1; g += 8) {
      const int lanes = x1 - g < 8 ? (int)(x1 - g) : 8;
      const T *pH[8], *pA[8], *pK[8];
      T *pO[8];
      for (int l = 0; l < 8; ++l) {
        const int64_t x = g + (l < lanes ? l : lanes - 1);
        const int32_t *nb = a.nbr + x * 8;
        pH[l] = reinterpret_cast<const T *>(a.template hop<N>(k, x));
        pA[l] = reinterpret_cast<const T *>(a.template field<N>(c, nb[k]));
        pK[l] = r >= 0 ? reinterpret_cast<const T *>(a.template hop<N>(k, nb[r])) : pH[l];
        pO[l] = reinterpret_cast<T *>(a.out + (x * a.n + c) * N * N);
      }
      R h[NR], m[NR], b[NR];
      simd::load_t<NR>(pH, h);
      simd::load_t<NR>(pA, m);
      cmm8<N, false>(h, m, b);                       // H A(x + h)
      if (r == -2) {
        simd::store_t<NR, 0>(pO, b, lanes);
        continue;
      }
      if (r >= 0) simd::load_t<NR>(pK, h);           // K(x) = H(x + mu); else K = H
      cmm8<N, true>(b, h, m);                        // (H A) K^dag
      simd::store_t<NR, 0>(pO, m, lanes);
    }
  }
};
#endif

template <class Exec, int N, class T>
void transport_fwd_run(const TransportArgs<T> &a) {
  const int64_t ch = transport_chunk<Exec>(), nch = (a.V + ch - 1) / ch;
#if GN_SIMD8
  if constexpr (std::is_same<Exec, CpuExec>::value) {
    if (transport_cpu_variant() == 1) {
      Exec::run_items(a.n * nch, 1, TransportFwdSimd<N, T>{a, ch, nch});
      return;
    }
  }
#endif
  Exec::run_items(a.n * nch, 1, TransportFwd<N, T>{a, ch, nch});
}
template <class Exec, int N, class T>
void transport_vjp_push_run(const TransportArgs<T> &a) {
  const int64_t ch = transport_chunk<Exec>(), nch = (a.V + ch - 1) / ch;
  Exec::run_items(a.n * nch, 1, TransportVjpPush<N, T>{a, ch, nch});
}
template <class Exec, int N, class T>
void transport_vjp_pull_run(const TransportArgs<T> &a) {
  const int64_t ch = transport_chunk<Exec>(), nch = (a.V + ch - 1) / ch;
  Exec::run_items(8 * nch, (a.n + 7) / 8, TransportVjpPull<N, T>{a, ch, nch});
}
template <class Exec, int N, class T>
void hop_sigma_run(const HopSigmaArgs<T> &a) { Exec::run(4 * a.V, HopSigma<N, T>{a}); }

}  // namespace gn
