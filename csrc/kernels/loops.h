// Loops of links: the plaquette staple sum of every link and its backprop (the six positions of the
// links of each staple pair), as two-pass site functors that read only one-hop neighbours, so that a
// halo of depth 1 (python/gaugenet/lattice/halo.py, which has faces but no edges) suffices:
//
//   pass 1 at a site z forms, for every ordered pair (mu, nu != mu), what the unit square
//   z, z+mu, z+nu, z+mu+nu contributes to a link one hop away (the part that needs a diagonal
//   neighbour), into a per-site buffer of 12 matrices; Python exchanges the buffer's halo;
//   pass 2 at x pulls buf(x - nu) from its backward neighbours and adds the local part.
//
// Pair index: k(mu, nu) = 3 mu + (nu < mu ? nu : nu - 1). Links: (4, V, N, N) with halo (4, Vh, N, N);
// per-site buffers (V, 12, N, N) with halo (Vh, 12, N, N); nbr (V, 8): column 2 mu is x + mu, 2 mu + 1
// is x - mu, an index >= V reads the halo.
//
// Conventions (python/gaugenet/gauge/stout.py, docs/links.md):
//   C_mu(x) = sum_nu [ U_nu(x) U_mu(x+nu) U_nu(x+mu)^dag + U_nu(x-nu)^dag U_mu(x-nu) U_nu(x-nu+mu) ]
// (Morningstar-Peardon's staple; gauge/action.py's A_mu = C_mu^dag). Backprop: given Y (4, V, N, N),
// Sigma with sum_{x,mu} Re tr(dC_mu(x) Y_mu(x)) = sum_{y,nu} Re tr(dU_nu(y) Sigma_nu(y)).
//
// Longer loops (1 x s rectangles for CASK) use the same two passes with the legs U_nu replaced by the
// straight products W_nu^(s) = U_nu(x) ... U_nu(x+(s-1)nu) (built by one-hop transports) and the pull
// over s hops done as s one-hop shifts of the buffer; the square's algebra below is unchanged.
#pragma once
#include "core/backend.h"
#include "kernels/matfield.h"

namespace gn {

GN_HD int pair_index(int mu, int nu) { return 3 * mu + (nu < mu ? nu : nu - 1); }

template <class T>
struct LoopArgs {
  const cx<T> *U, *Uh;       // links (4, V, N, N), halo (4, Vh, N, N) or nullptr
  const cx<T> *Y, *Yh;       // backprop input (4, V, N, N), halo
  const cx<T> *buf, *bufh;   // pass-1 buffer (V, 12, N, N), halo (Vh, 12, N, N)
  const cx<T> *base;         // pass 2 of the backprop: added before TA (4, V, N, N) or nullptr
  cx<T> *out;                // pass 1: buffer; pass 2: result (4, V, N, N)
  cx<T> *out2;               // backprop pass 1: local part of Sigma (4, V, N, N)
  const int32_t *nbr;        // (V, 8)
  int64_t V, Vh;
  int mode;                  // staple pass 2: 0 C, 1 C U^dag (Omega), 2 coef TA(U C^dag) (force); backprop pass 2: 0 U Sigma + base, 1 TA(...)
  T coef;

  template <int N>
  GN_HD const cx<T> *link(int mu, int64_t s) const {
    return s < V ? U + (mu * V + s) * N * N : Uh + (mu * Vh + (s - V)) * N * N;
  }
  template <int N>
  GN_HD const cx<T> *ylink(int mu, int64_t s) const {
    return s < V ? Y + (mu * V + s) * N * N : Yh + (mu * Vh + (s - V)) * N * N;
  }
  template <int N>
  GN_HD const cx<T> *bufat(int k, int64_t s) const {
    return s < V ? buf + (s * 12 + k) * N * N : bufh + ((s - V) * 12 + k) * N * N;
  }
};

// pass 1 of the staple sum: buf[z][k(mu,nu)] = U_nu(z)^dag U_mu(z) U_nu(z+mu), the lower staple of x = z + nu
template <int N, class T>
struct StapleLower {
  LoopArgs<T> a;
  GN_HD void operator()(int64_t z) const {
    const int32_t *nb = a.nbr + z * 8;
    for (int mu = 0; mu < 4; ++mu) {
      const Mat<N, T> Umu = mload<N, T>(a.template link<N>(mu, z));
      const int64_t zmu = nb[2 * mu];
      for (int nu = 0; nu < 4; ++nu) {
        if (nu == mu) continue;
        const Mat<N, T> d = mload<N, T>(a.template link<N>(nu, z));
        const Mat<N, T> b = mload<N, T>(a.template link<N>(nu, zmu));
        mstore(mm(mdm(d, Umu), b), a.out + (z * 12 + pair_index(mu, nu)) * N * N);
      }
    }
  }
};

// pass 2: C_mu(x) = sum_nu [U_nu(x) U_mu(x+nu) U_nu(x+mu)^dag + buf[x-nu][k(mu,nu)]], output per mode
template <int N, class T>
struct StapleSum {
  LoopArgs<T> a;
  GN_HD void operator()(int64_t x) const {
    const int32_t *nb = a.nbr + x * 8;
    for (int mu = 0; mu < 4; ++mu) {
      Mat<N, T> C = mzero<N, T>();
      const int64_t xmu = nb[2 * mu];
      for (int nu = 0; nu < 4; ++nu) {
        if (nu == mu) continue;
        const Mat<N, T> d = mload<N, T>(a.template link<N>(nu, x));
        const Mat<N, T> c = mload<N, T>(a.template link<N>(mu, nb[2 * nu]));
        const Mat<N, T> b = mload<N, T>(a.template link<N>(nu, xmu));
        madd(C, mm(d, mmd(c, b)));
        madd(C, mload<N, T>(a.template bufat<N>(pair_index(mu, nu), nb[2 * nu + 1])));
      }
      cx<T> *o = a.out + (mu * a.V + x) * N * N;
      if (a.mode == 0) {
        mstore(C, o);
      } else {
        const Mat<N, T> Umu = mload<N, T>(a.template link<N>(mu, x));
        if (a.mode == 1) mstore(mmd(C, Umu), o);
        else mstore(mscale(a.coef, mta(mmd(Umu, C))), o);
      }
    }
  }
};

// backprop pass 1, for every square z, z+mu, z+nu, z+mu+nu (a = U_mu(z), b = U_nu(z+mu), c = U_mu(z+nu),
// d = U_nu(z), Yb = Y_mu(z), Yt = Y_mu(z+nu)); the two staples that contain it are
// d c b^dag (paired with Yb) and d^dag a b (paired with Yt):
//   Sigma_nu(z)    += c b^dag Yb + (a b Yt)^dag            (local, out2)
//   Sigma_mu(z)    += b Yt d^dag                           (local, out2)
//   Sigma_mu(z+nu) += b^dag Yb d                           (buf[z][k(mu,nu)])
//   Sigma_nu(z+mu) += (Yb d c)^dag + Yt d^dag a            (buf[z][k(nu,mu)])
template <int N, class T>
struct StapleBackPush {
  LoopArgs<T> a;
  GN_HD void operator()(int64_t z) const {
    const int32_t *nb = a.nbr + z * 8;
    Mat<N, T> loc[4];
    Mat<N, T> far[12];
    for (int k = 0; k < 4; ++k) loc[k] = mzero<N, T>();
    for (int k = 0; k < 12; ++k) far[k] = mzero<N, T>();
    for (int mu = 0; mu < 4; ++mu) {
      const Mat<N, T> A = mload<N, T>(a.template link<N>(mu, z));
      const Mat<N, T> Yb = mload<N, T>(a.template ylink<N>(mu, z));
      const int64_t zmu = nb[2 * mu];
      for (int nu = 0; nu < 4; ++nu) {
        if (nu == mu) continue;
        const int64_t znu = nb[2 * nu];
        const Mat<N, T> B = mload<N, T>(a.template link<N>(nu, zmu));
        const Mat<N, T> Cc = mload<N, T>(a.template link<N>(mu, znu));
        const Mat<N, T> D = mload<N, T>(a.template link<N>(nu, z));
        const Mat<N, T> Yt = mload<N, T>(a.template ylink<N>(mu, znu));
        const Mat<N, T> q = mm(Yb, D);             // Yb d
        const Mat<N, T> s = mmd(Yt, D);            // Yt d^dag
        Mat<N, T> t = mm(mmd(Cc, B), Yb);          // c b^dag Yb
        madd(t, mdag(mm(mm(A, B), Yt)));           // + (a b Yt)^dag
        madd(loc[nu], t);
        madd(loc[mu], mm(B, s));
        madd(far[pair_index(mu, nu)], mdm(B, q));
        Mat<N, T> r = mdag(mm(q, Cc));
        madd(r, mm(s, A));
        madd(far[pair_index(nu, mu)], r);
      }
    }
    for (int mu = 0; mu < 4; ++mu) mstore(loc[mu], a.out2 + (mu * a.V + z) * N * N);
    for (int k = 0; k < 12; ++k) mstore(far[k], a.out + (z * 12 + k) * N * N);
  }
};

// backprop pass 2: Sigma_mu(x) = local(x) + sum_nu buf[x-nu][k(mu,nu)]; out = base + U Sigma (mode 0)
// or TA(base + U Sigma) (mode 1). `out` may alias `base`.
template <int N, class T>
struct StapleBackPull {
  LoopArgs<T> a;
  GN_HD void operator()(int64_t x) const {
    const int32_t *nb = a.nbr + x * 8;
    for (int mu = 0; mu < 4; ++mu) {
      const int64_t o = (mu * a.V + x) * N * N;
      Mat<N, T> S = mload<N, T>(a.out2 + o);
      for (int nu = 0; nu < 4; ++nu) {
        if (nu == mu) continue;
        madd(S, mload<N, T>(a.template bufat<N>(pair_index(mu, nu), nb[2 * nu + 1])));
      }
      Mat<N, T> R = mm(mload<N, T>(a.template link<N>(mu, x)), S);
      if (a.base) madd(R, mload<N, T>(a.base + o));
      mstore(a.mode == 1 ? mta(R) : R, a.out + o);
    }
  }
};

template <class Exec, int N, class T>
void staple_lower_run(const LoopArgs<T> &a) { Exec::run(a.V, StapleLower<N, T>{a}); }
template <class Exec, int N, class T>
void staple_sum_run(const LoopArgs<T> &a) { Exec::run(a.V, StapleSum<N, T>{a}); }
template <class Exec, int N, class T>
void staple_back_push_run(const LoopArgs<T> &a) { Exec::run(a.V, StapleBackPush<N, T>{a}); }
template <class Exec, int N, class T>
void staple_back_pull_run(const LoopArgs<T> &a) { Exec::run(a.V, StapleBackPull<N, T>{a}); }

}  // namespace gn
