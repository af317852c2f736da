// The generic one-hop stencil (shared/ARCHITECTURE.md):
//
//   out[x, r, a] (+)= sum_{k in hops} sum_b W_k[a, b] . U_k(x) in[x + k, r, b]
//
// k = 2 mu     : fetch from x + mu with U_mu(x)             (GPT path().f(mu), operator H_{-mu})
// k = 2 mu + 1 : fetch from x - mu with U_mu(x - mu)^dag    (GPT path().b(mu), operator H_{+mu})
// k = 8        : site term, no link
// r runs over right-hand sides, a over output features, b over input features;
// W_k[a, b] is an ns x ns spin matrix (ns = 4) or a scalar (ns = 1), global or per site.
// Each link is loaded once per site and applied to all right-hand sides and features.
// The Wilson hopping term, the PTC layer and the staggered hop are instances of this.
// On the CPU, ns = 4 runs on the eight-sites-per-step kernel of hop_simd.h and ns = 1 on that of
// hop_simd_ns1.h when compiled for AVX-512 (hop_cpu_variant below); hop_grad.h fuses the stencil
// with the PTC weight gradient.
#pragma once
#include "core/complex.h"
#include "core/sun.h"
#include <type_traits>

namespace gn {

template <class T>
struct HopArgs {
  cx<T> *out;                  // [V][nrhs][nout][ns][N]
  HaloView<const cx<T>> in;    // [V + Vh][nrhs][nin][ns][N]
  HaloView<const cx<T>> U[4];  // per mu: [V + Vh][N][N], U_mu(x) of the forward hops
  HaloView<const cx<T>> Ub[4]; // the links of the backward hops, U_mu(y) at y = nbr(x, -mu): U itself, or the
                               // other parity's links for the even-odd half-lattice operators
  const int32_t *nbr;          // [V][8]
  SiteList sites;
  const cx<T> *W;              // [9][nout][nin][ns][ns], or per site [V][9][...]
  int w_per_site;
  unsigned hop_mask;           // bit k set: hop k is used
  int nrhs, nin, nout;
  int accumulate;
};

template <int N, int NS, class T>
struct HopKernel {
  HopArgs<T> a;

  GN_HD void operator()(int64_t i) const {
    const int64_t x = a.sites[i];
    const int64_t blk_out = (int64_t)a.nrhs * a.nout * NS * N;
    cx<T> *o = a.out + x * blk_out;
    if (!a.accumulate)
      for (int64_t e = 0; e < blk_out; ++e) o[e] = cx<T>();
    const int64_t wsz = (int64_t)a.nout * a.nin * NS * NS;
    const cx<T> *Wbase = a.W + (a.w_per_site ? x * 9 * wsz : 0);
    for (int k = 0; k < 9; ++k) {
      if (!((a.hop_mask >> k) & 1u)) continue;
      const cx<T> *Wk = Wbase + k * wsz;
      const cx<T> *link = nullptr;
      const cx<T> *src;
      if (k == 8) {
        src = a.in.site(x);
      } else {
        const int mu = k >> 1;
        const int64_t y = a.nbr[x * 8 + k];
        src = a.in.site(y);
        link = (k & 1) ? a.Ub[mu].site(y) : a.U[mu].site(x);
      }
      for (int r = 0; r < a.nrhs; ++r) {
        for (int b = 0; b < a.nin; ++b) {
          const cx<T> *f = src + ((int64_t)r * a.nin + b) * NS * N;
          cx<T> t[NS * N];  // U_k f (or f itself for the site term)
          if (k == 8) {
#pragma unroll
            for (int e = 0; e < NS * N; ++e) t[e] = f[e];
          } else if (k & 1) {
#pragma unroll
            for (int s = 0; s < NS; ++s) matdag_vec<N>(link, f + s * N, t + s * N);
          } else {
#pragma unroll
            for (int s = 0; s < NS; ++s) mat_vec<N>(link, f + s * N, t + s * N);
          }
          for (int c = 0; c < a.nout; ++c) {
            const cx<T> *w = Wk + ((int64_t)c * a.nin + b) * NS * NS;
            cx<T> *oo = o + ((int64_t)r * a.nout + c) * NS * N;
            // dense spin matrix times (spin, colour) block, accumulated in registers
#pragma unroll
            for (int s = 0; s < NS; ++s) {
              cx<T> acc[N];
#pragma unroll
              for (int cc = 0; cc < N; ++cc) acc[cc] = oo[s * N + cc];
#pragma unroll
              for (int sp = 0; sp < NS; ++sp) {
                const cx<T> ws = w[s * NS + sp];
#pragma unroll
                for (int cc = 0; cc < N; ++cc) fma(acc[cc], ws, t[sp * N + cc]);
              }
#pragma unroll
              for (int cc = 0; cc < N; ++cc) oo[s * N + cc] = acc[cc];
            }
          }
        }
      }
    }
  }
};

}  // namespace gn
#include "kernels/hop_simd.h"
#include "kernels/hop_simd_ns1.h"
namespace gn {

// Which CPU implementation hop_run uses (ns = 4 and ns = 1): the SIMD one (eight sites per step,
// when compiled for AVX-512) or the site-by-site HopKernel (always available; it is also the
// CUDA kernel). Set through gaugenet._core.hop_variant() for benchmarks and
// cross-checks. (The same definition in every translation unit: 1 means "SIMD where compiled".)
inline int &hop_cpu_variant() {
  static int v = 1;  // 0 = site-by-site, 1 = SIMD
  return v;
}

template <class Exec, int N, int NS, class T>
void hop_run(const HopArgs<T> &args) {
#if GN_SIMD8
  if constexpr (std::is_same<Exec, CpuExec>::value && NS == 4) {
    if (hop_cpu_variant() == 1) {
      HopSimd<N, T>::run(args);
      return;
    }
  }
  if constexpr (std::is_same<Exec, CpuExec>::value && NS == 1) {
    if (hop_cpu_variant() == 1) {
      HopSimdNs1<N, T>::run(args);
      return;
    }
  }
#endif
  Exec::run(args.sites.n, HopKernel<N, NS, T>{args});
}

}  // namespace gn
