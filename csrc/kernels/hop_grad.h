// The one-hop stencil fused with the weight gradient of the PTC layer (CPU only):
//
//   out[x, r, o] (+)= sum_k sum_i W_k[o, i] g_k[x, r, i],      g_k[x, r, i] = U_k(x) in[x + k, r, i]
//   G[k, i, o][s, t] += sum_x sum_r sum_c g_k[x, r, i][s, c] conj(site[x, r, o][t, c])
//
// (hop slots and links as in hop.h; global weights only). With in = left, site = phi and the
// weights of the adjoint layer this is one prefix group of PTC.projected_gradient_adj: out is the
// group's part of dC/dphi and G[k'] the weight gradient of the path whose last hop is the reverse
// of k' (sum_x left (H_k f)^dag = sum_y (H_k^dag left) f^dag, H_k^dag = H_k'). The transported
// input g_k is formed once per site and used for both; nothing field-sized is stored.
//
// G is accumulated in double: per thread, then summed over the threads in a fixed order
// (deterministic for a given thread count). The SIMD version keeps per-lane partial sums in the
// field precision and adds them to the thread's double sums every GN_HOP_GRAD_FLUSH groups.
#pragma once
#include <cstdint>
#include <new>
#include <vector>
#ifdef GN_HAVE_OPENMP
#include <omp.h>
#endif
#include "kernels/hop.h"

#ifndef GN_HOP_GRAD_FLUSH
#define GN_HOP_GRAD_FLUSH 64
#endif

namespace gn {

template <class T>
struct HopGradArgs {
  HopArgs<T> h;        // the stencil (h.w_per_site must be 0); h.nin features in, h.nout out
  const cx<T> *site;   // [V][nrhs][h.nout][4][N]
  double *G;           // [9][h.nin][h.nout][4][4] complex as (re, im), accumulated
};

namespace hopgrad {

// sum the per-thread partial sums into G in thread order
inline void reduce(const std::vector<std::vector<double>> &part, double *G, size_t n) {
  for (const auto &p : part)
    if (!p.empty())
      for (size_t e = 0; e < n; ++e) G[e] += p[e];
}

}  // namespace hopgrad

// Site-by-site version (any build): the stencil by hop_run, then the gradient.
template <int N, class T>
void hop_grad_scalar(const HopGradArgs<T> &ga) {
  const HopArgs<T> &a = ga.h;
  hop_run<CpuExec, N, 4, T>(a);
  const int nI = a.nin, nO = a.nout, nrhs = a.nrhs;
  const size_t gsz = (size_t)9 * nI * nO * 32;
  const int nt = cpu_threads();
  std::vector<std::vector<double>> part(nt);
  const int64_t n = a.sites.n;
#pragma omp parallel if (n >= CpuExec::min_parallel)
  {
    std::vector<double> &G = part[cpu_thread_id()];
    G.assign(gsz, 0.0);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t x = a.sites[i];
      for (int k = 0; k < 9; ++k) {
        if (!((a.hop_mask >> k) & 1u)) continue;
        const cx<T> *src, *link = nullptr;
        if (k == 8) {
          src = a.in.site(x);
        } else {
          const int64_t y = a.nbr[x * 8 + k];
          src = a.in.site(y);
          link = (k & 1) ? a.Ub[k >> 1].site(y) : a.U[k >> 1].site(x);
        }
        for (int r = 0; r < nrhs; ++r)
          for (int b = 0; b < nI; ++b) {
            const cx<T> *f = src + ((int64_t)r * nI + b) * 4 * N;
            cx<T> g[4 * N];
            for (int s = 0; s < 4; ++s) {
              if (k == 8) for (int c = 0; c < N; ++c) g[s * N + c] = f[s * N + c];
              else if (k & 1) matdag_vec<N>(link, f + s * N, g + s * N);
              else mat_vec<N>(link, f + s * N, g + s * N);
            }
            for (int o = 0; o < nO; ++o) {
              const cx<T> *p = ga.site + (x * nrhs + r) * (int64_t)nO * 4 * N + (int64_t)o * 4 * N;
              double *Go = G.data() + (((size_t)k * nI + b) * nO + o) * 32;
              for (int s = 0; s < 4; ++s)
                for (int t = 0; t < 4; ++t) {
                  double re = 0, im = 0;
                  for (int c = 0; c < N; ++c) {  // g[s][c] conj(p[t][c])
                    const cx<T> u = g[s * N + c], v = p[t * N + c];
                    re += (double)u.re * v.re + (double)u.im * v.im;
                    im += (double)u.im * v.re - (double)u.re * v.im;
                  }
                  Go[(s * 4 + t) * 2] += re;
                  Go[(s * 4 + t) * 2 + 1] += im;
                }
            }
          }
      }
    }
  }
  hopgrad::reduce(part, ga.G, gsz);
}

}  // namespace gn

#if GN_SIMD8
namespace gn {

template <int N, class T>
struct HopGradSimd {
  using V = simd::V8<T>;
  using R = typename V::reg;
  static constexpr int NSP = 8 * N;
  static constexpr int NL = 2 * N * N;
  static constexpr int NW = 32;

  struct Ctx : hop8::HopCtx<T> {
    const T *site;  // the field the weight gradient is contracted with
  };

  struct Tiles {  // per thread, transposed: links [8][NL], g [NSP], site [nout][NSP], out [nout][NSP], G lanes
    R *lt, *gt, *pt, *ot, *Gv;
    R *mem;
    size_t gsz;
    Tiles(const Ctx &c) {
      gsz = (size_t)9 * c.nin * c.nout * NW;
      const size_t n = 8 * NL + NSP + 2 * (size_t)c.nout * NSP + gsz;
      mem = static_cast<R *>(::operator new(n * sizeof(R), std::align_val_t(64)));
      lt = mem;
      gt = lt + 8 * NL;
      pt = gt + NSP;
      ot = pt + (size_t)c.nout * NSP;
      Gv = ot + (size_t)c.nout * NSP;
      for (size_t e = 0; e < gsz; ++e) Gv[e] = V::zero();
    }
    ~Tiles() { ::operator delete(mem, std::align_val_t(64)); }
    Tiles(const Tiles &) = delete;
    Tiles &operator=(const Tiles &) = delete;
    void flush(std::vector<double> &G) {  // lanes summed in order, then zeroed
      alignas(64) T lane[8];
      for (size_t e = 0; e < gsz; ++e) {
        V::store(lane, Gv[e]);
        double s = 0;
        for (int l = 0; l < 8; ++l) s += (double)lane[l];
        G[e] += s;
        Gv[e] = V::zero();
      }
    }
  };

  // slot k, rhs r: g = U_k in_b for each input feature b, then out += W g and G += g site^dag
  template <int k>
  static GN_SIMD_INLINE void slot(const Ctx &c, const int64_t (&xs)[8], int r, const Tiles &w) {
    if (!((c.mask >> k) & 1u)) return;
    const T *ps[8], *pl[8];
    c.f.template rows<N, k>(xs, ps, pl);
    for (int b = 0; b < c.nin; ++b) {
      const int64_t off = ((int64_t)r * c.nin + b) * NSP;
      const T *p[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) p[l] = ps[l] + off;
      R f[NSP];
      simd::load_t<NSP>(p, f);
      R *g = w.gt;
      if constexpr (k < 8) {
        hop8::link_mul<N, (k & 1) != 0>(w.lt + k * NL, f, g);
      } else {
#pragma GCC unroll 32
        for (int e = 0; e < NSP; ++e) g[e] = f[e];
      }
      for (int o = 0; o < c.nout; ++o) {
        hop8::spin_mul<N, false, T>(c.W + k * c.wsz + ((int64_t)o * c.nin + b) * NW, (const R *)nullptr, g,
                                    w.ot + o * NSP);
        // G[k, b, o][s][t] += sum_c g[s][c] conj(site_o[t][c])
        R *Go = w.Gv + (((int64_t)k * c.nin + b) * c.nout + o) * NW;
        const R *q = w.pt + o * NSP;
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
          R re[4], im[4];
#pragma GCC unroll 4
          for (int t = 0; t < 4; ++t) re[t] = Go[(s * 4 + t) * 2], im[t] = Go[(s * 4 + t) * 2 + 1];
#pragma GCC unroll 4
          for (int cc = 0; cc < N; ++cc) {
            const R gr = g[(s * N + cc) * 2], gi = g[(s * N + cc) * 2 + 1];
#pragma GCC unroll 4
            for (int t = 0; t < 4; ++t) {
              const R qr = q[(t * N + cc) * 2], qi = q[(t * N + cc) * 2 + 1];
              re[t] = re[t] + gr * qr + gi * qi;
              im[t] = im[t] + gi * qr - gr * qi;
            }
          }
#pragma GCC unroll 4
          for (int t = 0; t < 4; ++t) Go[(s * 4 + t) * 2] = re[t], Go[(s * 4 + t) * 2 + 1] = im[t];
        }
      }
    }
  }

  template <int k>
  static GN_SIMD_INLINE void tile(const Ctx &c, const int64_t (&xs)[8], const Tiles &w) {
    if (k == 8 || !((c.mask >> k) & 1u)) return;
    const T *ps[8], *pl[8];
    c.f.template rows<N, k>(xs, ps, pl);
    simd::load_t<NL>(pl, w.lt + k * NL);
  }

  // the eight sites xs (the first `lanes` real); lanes past the end carry a repeated site, whose
  // gradient contribution is masked out by zeroing its site tile
  template <int k>
  static GN_SIMD_INLINE void pf(const Ctx &c, const int64_t *xn) {
    if ((c.mask >> k) & 1u) c.f.template prefetch<N, k>(xn, (int64_t)c.nrhs * c.nin * NSP * sizeof(T));
  }

  static GN_SIMD_INLINE void group(const Ctx &c, const int64_t (&xs)[8], int lanes, const Tiles &w,
                                   const int64_t *xn) {
    tile<0>(c, xs, w), tile<1>(c, xs, w), tile<2>(c, xs, w), tile<3>(c, xs, w);
    tile<4>(c, xs, w), tile<5>(c, xs, w), tile<6>(c, xs, w), tile<7>(c, xs, w);
    if (xn) {  // a later group: links, +-z/+-t neighbours, the site field and the output
      pf<0>(c, xn), pf<1>(c, xn), pf<2>(c, xn), pf<3>(c, xn), pf<4>(c, xn), pf<5>(c, xn), pf<6>(c, xn), pf<7>(c, xn);
      const T *pp[8];
      T *po[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) pp[l] = c.site + xn[l] * c.sout, po[l] = c.out + xn[l] * c.sout;
      hop8::Fields<T>::pf_rows(pp, c.sout * sizeof(T), false);
      hop8::Fields<T>::pf_rows(po, c.sout * sizeof(T), true);
    }
    for (int r = 0; r < c.nrhs; ++r) {
      T *po[8];
      const T *pp[8];
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) {
        po[l] = c.out + xs[l] * c.sout + (int64_t)r * c.nout * NSP;
        pp[l] = c.site + xs[l] * c.sout + (int64_t)r * c.nout * NSP;
      }
      for (int o = 0; o < c.nout; ++o) {
        const T *q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) q[l] = pp[l] + o * NSP;
        simd::load_t<NSP>(q, w.pt + o * NSP);
        if (lanes < 8) {
          const __mmask8 keep = (__mmask8)((1u << lanes) - 1u);
          for (int e = 0; e < NSP; ++e) w.pt[o * NSP + e] = blend(keep, w.pt[o * NSP + e]);
        }
        if (c.acc) {
#pragma GCC unroll 8
          for (int l = 0; l < 8; ++l) q[l] = po[l] + o * NSP;
          simd::load_t<NSP>(q, w.ot + o * NSP);
        } else {
#pragma GCC unroll 32
          for (int e = 0; e < NSP; ++e) w.ot[o * NSP + e] = V::zero();
        }
      }
      slot<0>(c, xs, r, w), slot<1>(c, xs, r, w), slot<2>(c, xs, r, w), slot<3>(c, xs, r, w);
      slot<4>(c, xs, r, w), slot<5>(c, xs, r, w), slot<6>(c, xs, r, w), slot<7>(c, xs, r, w);
      slot<8>(c, xs, r, w);
      for (int o = 0; o < c.nout; ++o) {
        T *q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) q[l] = po[l] + o * NSP;
        simd::store_t<NSP, 0>(q, w.ot + o * NSP, lanes);
      }
    }
  }

  static GN_SIMD_INLINE R blend(__mmask8 keep, R v) {
    if constexpr (sizeof(T) == 8) return _mm512_maskz_mov_pd(keep, v);
    else return _mm256_maskz_mov_ps(keep, v);
  }

  static void run(const HopGradArgs<T> &ga) {
    const HopArgs<T> &a = ga.h;
    Ctx c;
    c.template init<N>(a);
    c.site = reinterpret_cast<const T *>(ga.site);
    const int64_t site_bytes = (c.f.sin + 2 * c.sout + 4 * NL) * (int64_t)sizeof(T);
    const hop8::Order ord = hop8::make_order(a.nbr, c.f.V, a.sites, site_bytes);
    const int64_t n = a.sites.n, ngroups = (n + 7) / 8;
    const size_t gsz = (size_t)9 * c.nin * c.nout * NW;
    constexpr int64_t D = GN_HOP_PF_GROUPS;
    std::vector<std::vector<double>> part(cpu_threads());
#pragma omp parallel if (n >= CpuExec::min_parallel)
    {
      Tiles w(c);
      std::vector<double> &G = part[cpu_thread_id()];
      G.assign(gsz, 0.0);
      int64_t since = 0;
#pragma omp for schedule(static)
      for (int64_t g = 0; g < ngroups; ++g) {
        int64_t xs[8], xn[8];
        const int lanes = ord.lanes(g, n, xs);
        const bool ahead = D > 0 && g + D < ngroups && (g + D + 1) * 8 <= n;
        if (ahead) ord.lanes(g + D, n, xn);
        group(c, xs, lanes, w, ahead ? xn : nullptr);
        if (++since == GN_HOP_GRAD_FLUSH) w.flush(G), since = 0;
      }
      w.flush(G);
    }
    hopgrad::reduce(part, ga.G, gsz);
  }
};

}  // namespace gn
#endif

namespace gn {
template <int N, class T>
void hop_grad_run(const HopGradArgs<T> &ga) {
#if GN_SIMD8
  if (hop_cpu_variant() == 1) {
    HopGradSimd<N, T>::run(ga);
    return;
  }
#endif
  hop_grad_scalar<N, T>(ga);
}
}  // namespace gn
