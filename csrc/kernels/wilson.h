// Wilson / Wilson-clover operator with spin projection (shared/CONVENTIONS.md):
//
//   out(x) = Diag(x) psi(x) + hop_coef * sum_mu [ (1 + sf g_mu) U_mu(x) psi(x+mu)
//                                              + (1 - sf g_mu) U_mu(x-mu)^dag psi(x-mu) ]
//
// D itself is sf = -1, hop_coef = -1/2; D^dag = g5 D g5 is sf = +1.
// Diag(x) is either diag * 1 or the clover block (two 2N x 2N blocks in the
// chiral basis, mass term included). Only the two upper spin components of each
// projected spinor are multiplied by the link (half the SU(N) work), the lower two
// are reconstructed. Boundary phases are folded into the links by the caller.
#pragma once
#include "core/complex.h"
#include "core/spin.h"
#include "core/sun.h"
#include <type_traits>

namespace gn {

template <class T>
struct WilsonArgs {
  cx<T> *out;                  // [V][nrhs][4][N]
  HaloView<const cx<T>> in;    // [V + Vh][nrhs][4][N]
  HaloView<const cx<T>> U[4];  // [V + Vh][N][N]: U_mu(x) of the forward hops
  HaloView<const cx<T>> Ub[4]; // the links the backward hops read, U_mu(y) at y = nbr(x, -mu): U itself, or,
                               // for the even-odd half-lattice operators, the other parity's links
  const int32_t *nbr;          // [V][8]
  SiteList sites;
  const cx<T> *site_in;        // [V][nrhs][4][N]: the spinor the site term multiplies (in.local, or another
                               // field: the even-odd operators' D_pp x_p + D_pq w_q in one pass)
  const cx<T> *clover;         // [V][2][2N][2N] or nullptr
  T diag;                      // used when clover == nullptr
  T hop_coef;
  int nrhs;
};

template <int N, int SF, class T>
struct WilsonKernel {
  WilsonArgs<T> a;

  template <int mu, int sign, bool back>
  GN_HD void hop(const cx<T> *GN_RESTRICT p, const cx<T> *GN_RESTRICT U, cx<T> (&acc)[4][N]) const {
    constexpr int c0 = gamma_col[mu][0], c1 = gamma_col[mu][1];
    constexpr int c2 = gamma_col[mu][2], c3 = gamma_col[mu][3];
    cx<T> h0[N], h1[N], u0[N], u1[N];
#pragma unroll
    for (int c = 0; c < N; ++c) {
      h0[c] = proj_upper<mu, sign, 0>(p + 0 * N + c, p + c0 * N + c);
      h1[c] = proj_upper<mu, sign, 1>(p + 1 * N + c, p + c1 * N + c);
    }
    if constexpr (back) {
      matdag_vec<N>(U, h0, u0);
      matdag_vec<N>(U, h1, u1);
    } else {
      mat_vec<N>(U, h0, u0);
      mat_vec<N>(U, h1, u1);
    }
#pragma unroll
    for (int c = 0; c < N; ++c) {
      acc[0][c] += u0[c];
      acc[1][c] += u1[c];
      acc[2][c] += recon_lower<mu, sign, 2>(c2 == 0 ? u0[c] : u1[c]);
      acc[3][c] += recon_lower<mu, sign, 3>(c3 == 0 ? u0[c] : u1[c]);
    }
  }

  template <int mu>
  GN_HD void dir(int64_t x, int r, cx<T> (&acc)[4][N]) const {
    const int64_t yf = a.nbr[x * 8 + 2 * mu], yb = a.nbr[x * 8 + 2 * mu + 1];
    const int64_t blk = (int64_t)r * 4 * N;
    hop<mu, SF, false>(a.in.site(yf) + blk, a.U[mu].site(x), acc);
    hop<mu, -SF, true>(a.in.site(yb) + blk, a.Ub[mu].site(yb), acc);
  }

  GN_HD void operator()(int64_t i) const {
    const int64_t x = a.sites[i];
    for (int r = 0; r < a.nrhs; ++r) {
      cx<T> acc[4][N];
      dir<0>(x, r, acc);
      dir<1>(x, r, acc);
      dir<2>(x, r, acc);
      dir<3>(x, r, acc);
      const int64_t off = (x * a.nrhs + r) * 4 * N;
      const cx<T> *psi = a.site_in + off;
      cx<T> *o = a.out + off;
      if (a.clover) {
        const cx<T> *C = a.clover + x * 2 * (2 * N) * (2 * N);
#pragma unroll
        for (int blkc = 0; blkc < 2; ++blkc) {
          const cx<T> *Cb = C + blkc * (2 * N) * (2 * N);
          const cx<T> *pb = psi + blkc * 2 * N;
#pragma unroll
          for (int e = 0; e < 2 * N; ++e) {
            cx<T> s = a.hop_coef * acc[blkc * 2 + e / N][e % N];
#pragma unroll
            for (int f = 0; f < 2 * N; ++f) fma(s, Cb[e * 2 * N + f], pb[f]);
            o[blkc * 2 * N + e] = s;
          }
        }
      } else {
#pragma unroll
        for (int s = 0; s < 4; ++s)
#pragma unroll
          for (int c = 0; c < N; ++c) o[s * N + c] = a.diag * psi[s * N + c] + a.hop_coef * acc[s][c];
      }
    }
  }
};

}  // namespace gn
#include "kernels/wilson_simd.h"
namespace gn {

// Which CPU implementation wilson_run uses: the SIMD one (eight sites per step, when compiled for
// AVX-512) or the site-by-site WilsonKernel (always available; it is also the CUDA kernel).
// Set through gaugenet._core.wilson_variant() for benchmarks and cross-checks.
// (The same definition in every translation unit, nvcc's included: 1 means "SIMD where compiled".)
inline int &wilson_cpu_variant() {
  static int v = 1;  // 0 = site-by-site, 1 = SIMD
  return v;
}

template <class Exec, int N, int SF, class T>
void wilson_run(const WilsonArgs<T> &args) {
#if GN_SIMD8
  if constexpr (std::is_same<Exec, CpuExec>::value) {
    if (wilson_cpu_variant() == 1) {
      WilsonSimd<N, SF, T>::run(args);
      return;
    }
  }
#endif
  Exec::run(args.sites.n, WilsonKernel<N, SF, T>{args});
}

// Site-local clover block multiply: out(x) = C(x) in(x), two 2N x 2N blocks per site.
template <class T>
struct CloverArgs {
  cx<T> *out;
  const cx<T> *in;
  const cx<T> *clover;  // [V][2][2N][2N]
  SiteList sites;
  int nrhs;
};

template <int N, class T>
struct CloverKernel {
  CloverArgs<T> a;
  GN_HD void operator()(int64_t i) const {
    const int64_t x = a.sites[i];
    const cx<T> *C = a.clover + x * 2 * (2 * N) * (2 * N);
    for (int r = 0; r < a.nrhs; ++r) {
      const int64_t off = (x * a.nrhs + r) * 4 * N;
#pragma unroll
      for (int blkc = 0; blkc < 2; ++blkc) {
        const cx<T> *Cb = C + blkc * (2 * N) * (2 * N);
        cx<T> tmp[2 * N];
#pragma unroll
        for (int e = 0; e < 2 * N; ++e) {
          cx<T> s;
#pragma unroll
          for (int f = 0; f < 2 * N; ++f) fma(s, Cb[e * 2 * N + f], a.in[off + blkc * 2 * N + f]);
          tmp[e] = s;
        }
#pragma unroll
        for (int e = 0; e < 2 * N; ++e) a.out[off + blkc * 2 * N + e] = tmp[e];
      }
    }
  }
};

template <class Exec, int N, class T>
void clover_run(const CloverArgs<T> &args) {
  Exec::run(args.sites.n, CloverKernel<N, T>{args});
}

}  // namespace gn
