// Matrix fields: small N x N complex matrices per site/link, their products, the su(N) projection
// TA, and the closed-form su(2)/su(3) exponential with its pullback (Morningstar-Peardon; the same
// formulas as python/gaugenet/gauge/expderiv.py, which documents them). Site functors run on both
// backends (CpuExec / CudaExec) like every kernel of csrc/kernels.
//
// Layouts: a field of one matrix per item is (n, N, N) row-major complex; the link-network kernels
// use (4, V, N, N) for link fields (mu outermost, like GaugeField.sites()).
#pragma once
#include <cmath>
#include "core/backend.h"
#include "core/complex.h"

namespace gn {

template <int N, class T>
struct Mat {
  cx<T> a[N * N];
  GN_HD cx<T> &operator()(int i, int j) { return a[i * N + j]; }
  GN_HD const cx<T> &operator()(int i, int j) const { return a[i * N + j]; }
};

template <int N, class T>
GN_HD Mat<N, T> mload(const cx<T> *p) {
  Mat<N, T> m;
#pragma unroll
  for (int k = 0; k < N * N; ++k) m.a[k] = p[k];
  return m;
}

template <int N, class T>
GN_HD void mstore(const Mat<N, T> &m, cx<T> *p) {
#pragma unroll
  for (int k = 0; k < N * N; ++k) p[k] = m.a[k];
}

template <int N, class T>
GN_HD Mat<N, T> mzero() { return Mat<N, T>{}; }

template <int N, class T>
GN_HD Mat<N, T> meye(T s = T(1)) {
  Mat<N, T> m{};
#pragma unroll
  for (int i = 0; i < N; ++i) m(i, i) = cx<T>(s, 0);
  return m;
}

// A B
template <int N, class T>
GN_HD Mat<N, T> mm(const Mat<N, T> &A, const Mat<N, T> &B) {
  Mat<N, T> C;
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j) {
      cx<T> s;
#pragma unroll
      for (int k = 0; k < N; ++k) fma(s, A(i, k), B(k, j));
      C(i, j) = s;
    }
  return C;
}

// A B^dag
template <int N, class T>
GN_HD Mat<N, T> mmd(const Mat<N, T> &A, const Mat<N, T> &B) {
  Mat<N, T> C;
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j) {
      cx<T> s;
#pragma unroll
      for (int k = 0; k < N; ++k) fma(s, A(i, k), conj(B(j, k)));
      C(i, j) = s;
    }
  return C;
}

// A^dag B
template <int N, class T>
GN_HD Mat<N, T> mdm(const Mat<N, T> &A, const Mat<N, T> &B) {
  Mat<N, T> C;
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j) {
      cx<T> s;
#pragma unroll
      for (int k = 0; k < N; ++k) fma_conj(s, A(k, i), B(k, j));
      C(i, j) = s;
    }
  return C;
}

template <int N, class T>
GN_HD Mat<N, T> mdag(const Mat<N, T> &A) {
  Mat<N, T> C;
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j) C(i, j) = conj(A(j, i));
  return C;
}

template <int N, class T>
GN_HD void madd(Mat<N, T> &A, const Mat<N, T> &B) {
#pragma unroll
  for (int k = 0; k < N * N; ++k) A.a[k] += B.a[k];
}

template <int N, class T>
GN_HD void msub(Mat<N, T> &A, const Mat<N, T> &B) {
#pragma unroll
  for (int k = 0; k < N * N; ++k) A.a[k] -= B.a[k];
}

// A += s B (s complex)
template <int N, class T>
GN_HD void maxpy(Mat<N, T> &A, cx<T> s, const Mat<N, T> &B) {
#pragma unroll
  for (int k = 0; k < N * N; ++k) fma(A.a[k], s, B.a[k]);
}

template <int N, class T>
GN_HD Mat<N, T> mscale(T s, Mat<N, T> A) {
#pragma unroll
  for (int k = 0; k < N * N; ++k) A.a[k] = s * A.a[k];
  return A;
}

template <int N, class T>
GN_HD cx<T> mtrace(const Mat<N, T> &A) {
  cx<T> s;
#pragma unroll
  for (int i = 0; i < N; ++i) s += A(i, i);
  return s;
}

// tr(A B) without forming the product
template <int N, class T>
GN_HD cx<T> mtrace_prod(const Mat<N, T> &A, const Mat<N, T> &B) {
  cx<T> s;
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int k = 0; k < N; ++k) fma(s, A(i, k), B(k, i));
  return s;
}

// TA(X) = (X - X^dag)/2 - tr(X - X^dag)/(2N): the traceless anti-hermitian part
template <int N, class T>
GN_HD Mat<N, T> mta(const Mat<N, T> &X) {
  Mat<N, T> C;
  T im_tr = 0;
#pragma unroll
  for (int i = 0; i < N; ++i) im_tr += X(i, i).im;
  const T shift = im_tr / T(N);
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const cx<T> x = X(i, j), y = X(j, i);
      C(i, j) = cx<T>(T(0.5) * (x.re - y.re), T(0.5) * (x.im + y.im));
    }
#pragma unroll
  for (int i = 0; i < N; ++i) C(i, i).im -= shift;
  return C;
}

// ---------------------------------------------------------------------------------------------------
// exp(Q) = f0 + f1 H + f2 H^2 with H = -i Q, and the derivative coefficients b1 = df/dc1, b2 = df/dc0
// (c0 = det H = tr(H^3)/3, c1 = tr(H^2)/2); see gauge/expderiv.py for the derivation and the limits.
// ---------------------------------------------------------------------------------------------------

struct ExpConst {
  static constexpr double c1_series = 0.5;  // below: power series (exact near Q = 0)
  static constexpr int n_series = 22;
  static constexpr double w_series = 1.0;   // below: Taylor series of sin(w)/w and its derivative
  static constexpr int n_xi = 11;
};

GN_HD double gn_factorial(int n) {
  double out = 1.0;
  for (int k = 2; k <= n; ++k) out *= k;
  return out;
}

// SU(2): f0 = cos t, f1 = i sin t / t, b1 = (-sin t/(2t), i (cos t - sin t/t)/(2t^2)), t^2 = c1
template <class T>
GN_HD void exp_coeffs_su2(T c1, bool deriv, cx<T> *f, cx<T> *b1, cx<T> *b2) {
  if (c1 < T(0)) c1 = T(0);
  T cs, sinc, g;
  if (c1 < T(ExpConst::c1_series)) {
    cs = 0; sinc = 0; g = 0;
    for (int k = ExpConst::n_series / 2; k >= 0; --k) {
      cs = cs * (-c1) + T(1.0 / gn_factorial(2 * k));
      sinc = sinc * (-c1) + T(1.0 / gn_factorial(2 * k + 1));
      if (k >= 1) g = g * (-c1) - T(k / gn_factorial(2 * k + 1));
    }
  } else {
    const T t = sqrt(c1);
    cs = cos(t);
    sinc = sin(t) / t;
    g = (cs - sinc) / (T(2) * t * t);
  }
  f[0] = cx<T>(cs, 0); f[1] = cx<T>(0, sinc); f[2] = cx<T>();
  if (deriv) {
    b1[0] = cx<T>(T(-0.5) * sinc, 0); b1[1] = cx<T>(0, g); b1[2] = cx<T>();
    b2[0] = b2[1] = b2[2] = cx<T>();
  }
}

// SU(3), small c1: sum_n (iH)^n/n! with H^n = a + b H + c H^2 reduced by H^3 = c1 H + c0
template <class T>
GN_HD void exp_series_su3(T c0, T c1, bool deriv, cx<T> *f, cx<T> *b1, cx<T> *b2) {
  T a = 1, b = 0, c = 0;
  T da0 = 0, db0 = 0, dc0 = 0, da1 = 0, db1 = 0, dc1 = 0;
  f[0] = cx<T>(1, 0); f[1] = f[2] = cx<T>();
  for (int j = 0; j < 3; ++j) b1[j] = b2[j] = cx<T>();
  cx<T> coef(1, 0);
  for (int n = 1; n <= ExpConst::n_series; ++n) {
    if (deriv) {
      const T na0 = dc0 * c0 + c, nb0 = da0 + dc0 * c1, nc0 = db0;
      const T na1 = dc1 * c0, nb1 = da1 + dc1 * c1 + c, nc1 = db1;
      da0 = na0; db0 = nb0; dc0 = nc0; da1 = na1; db1 = nb1; dc1 = nc1;
    }
    const T na = c * c0, nb = a + c * c1, nc = b;
    a = na; b = nb; c = nc;
    coef = T(1.0 / n) * cx<T>(-coef.im, coef.re);   // coef * i / n
    fma(f[0], coef, cx<T>(a)); fma(f[1], coef, cx<T>(b)); fma(f[2], coef, cx<T>(c));
    if (deriv) {
      fma(b2[0], coef, cx<T>(da0)); fma(b2[1], coef, cx<T>(db0)); fma(b2[2], coef, cx<T>(dc0));
      fma(b1[0], coef, cx<T>(da1)); fma(b1[1], coef, cx<T>(db1)); fma(b1[2], coef, cx<T>(dc1));
    }
  }
}

// xi0(w) = sin w / w, xi1(w) = cos w / w^2 - sin w / w^3
template <class T>
GN_HD void exp_xi(T w, T &xi0, T &xi1) {
  if (fabs(w) < T(ExpConst::w_series)) {
    const T w2 = w * w;
    T s0 = 0, s1 = 0;
    for (int k = ExpConst::n_xi; k >= 0; --k) {
      const T fact = T(1.0 / gn_factorial(2 * k + 1));
      s0 = s0 * (-w2) + fact;
      if (k >= 1) s1 = s1 * (-w2) - T(2 * k) * fact;
    }
    xi0 = s0; xi1 = s1;
  } else {
    xi0 = sin(w) / w;
    xi1 = cos(w) / (w * w) - sin(w) / (w * w * w);
  }
}

template <class T>
GN_HD cx<T> cexpi(T x) { return cx<T>(cos(x), sin(x)); }

// SU(3), c1 >= c1_series: Morningstar-Peardon closed form, evaluated at |c0|
template <class T>
GN_HD void exp_closed_su3(T c0, T c1, bool deriv, cx<T> *f, cx<T> *b1, cx<T> *b2) {
  const bool neg = c0 < T(0);
  const T c0a = fabs(c0);
  const T c0max = T(2) * pow(c1 / T(3), T(1.5));
  T ratio = c0a / c0max;
  if (ratio > T(1)) ratio = T(1);
  if (ratio < T(-1)) ratio = T(-1);
  const T theta = acos(ratio);
  const T u = sqrt(c1 / T(3)) * cos(theta / T(3));
  const T w = sqrt(c1) * sin(theta / T(3));
  const T u2 = u * u, w2 = w * w;
  T xi0, xi1;
  exp_xi(w, xi0, xi1);
  const cx<T> e2iu = cexpi(T(2) * u), emiu = cexpi(-u);
  const T cw = cos(w);
  const T d = T(9) * u2 - w2;
  const cx<T> I(0, 1);
  cx<T> h[3];
  h[0] = (u2 - w2) * e2iu + emiu * cx<T>(T(8) * u2 * cw, T(2) * u * (T(3) * u2 + w2) * xi0);
  h[1] = T(2) * u * e2iu - emiu * cx<T>(T(2) * u * cw, -(T(3) * u2 - w2) * xi0);
  h[2] = e2iu - emiu * cx<T>(cw, T(3) * u * xi0);
  for (int j = 0; j < 3; ++j) f[j] = (T(1) / d) * h[j];
  if (deriv) {
    cx<T> r1[3], r2[3];
    // r1_0 = 2 (u + i (u^2 - w^2)) e^{2iu} + 2 e^{-iu} (4u (2 - iu) cw + i (9u^2 + w^2 - iu (3u^2 + w^2)) xi0)
    r1[0] = T(2) * (cx<T>(u, u2 - w2) * e2iu) +
            T(2) * (emiu * (T(4) * u * cw * cx<T>(2, -u) +
                            I * cx<T>(T(9) * u2 + w2, -u * (T(3) * u2 + w2)) * cx<T>(xi0)));
    // r1_1 = 2 (1 + 2iu) e^{2iu} + e^{-iu} (-2 (1 - iu) cw + i (6u + i (w^2 - 3u^2)) xi0)
    r1[1] = T(2) * (cx<T>(1, T(2) * u) * e2iu) +
            emiu * (T(-2) * cw * cx<T>(1, -u) + I * cx<T>(T(6) * u, w2 - T(3) * u2) * cx<T>(xi0));
    // r1_2 = 2i e^{2iu} + i e^{-iu} (cw - 3 (1 - iu) xi0)
    r1[2] = cx<T>(0, 2) * e2iu + I * emiu * (cx<T>(cw) - T(3) * xi0 * cx<T>(1, -u));
    // r2_0 = -2 e^{2iu} + 2iu e^{-iu} (cw + (1 + 4iu) xi0 + 3u^2 xi1)
    r2[0] = T(-2) * e2iu + cx<T>(0, T(2) * u) * emiu * (cx<T>(cw + T(3) * u2 * xi1) + xi0 * cx<T>(1, T(4) * u));
    // r2_1 = -i e^{-iu} (cw + (1 + 2iu) xi0 - 3u^2 xi1)
    r2[1] = cx<T>(0, -1) * emiu * (cx<T>(cw - T(3) * u2 * xi1) + xi0 * cx<T>(1, T(2) * u));
    // r2_2 = e^{-iu} (xi0 - 3iu xi1)
    r2[2] = emiu * cx<T>(xi0, T(-3) * u * xi1);
    const T den = T(2) * d * d;
    for (int j = 0; j < 3; ++j) {
      b1[j] = (T(1) / den) * (T(2) * u * r1[j] + (T(3) * u2 - w2) * r2[j] - T(2) * (T(15) * u2 + w2) * f[j]);
      b2[j] = (T(1) / den) * (r1[j] - T(3) * u * r2[j] - T(24) * u * f[j]);
    }
  }
  if (neg) {
    for (int j = 0; j < 3; ++j) {
      const T s = (j == 1) ? T(-1) : T(1);
      f[j] = s * conj(f[j]);
      if (deriv) {
        b1[j] = s * conj(b1[j]);
        b2[j] = (-s) * conj(b2[j]);
      }
    }
  }
}

// The exponential of one su(N) matrix Q (N = 2, 3): H, H^2, the coefficients and exp(Q)
template <int N, class T>
struct SuExp {
  Mat<N, T> H, H2, E;
  cx<T> f[3], b1[3], b2[3];
  bool has_b = false;

  GN_HD void init(const Mat<N, T> &Q, bool deriv) {
#pragma unroll
    for (int k = 0; k < N * N; ++k) H.a[k] = cx<T>(Q.a[k].im, -Q.a[k].re);   // -i Q
    H2 = mm(H, H);
    const T c1 = T(0.5) * mtrace(H2).re;
    if (N == 2) {
      exp_coeffs_su2(c1, deriv, f, b1, b2);
    } else {
      const T c0 = mtrace_prod(H2, H).re / T(3);
      if (c1 < T(ExpConst::c1_series)) exp_series_su3(c0, c1, deriv, f, b1, b2);
      else exp_closed_su3(c0, c1 < T(0) ? T(0) : c1, deriv, f, b1, b2);
    }
    has_b = deriv;
    E = meye<N, T>(T(0));
#pragma unroll
    for (int i = 0; i < N; ++i) E(i, i) = f[0];
    maxpy(E, f[1], H);
    if (N == 3) maxpy(E, f[2], H2);
  }

  // tr(M sum_j coef_j H^j)
  GN_HD cx<T> trace_poly(const Mat<N, T> &M, const cx<T> *coef) const {
    cx<T> s = coef[0] * mtrace(M);
    s += coef[1] * mtrace_prod(M, H);
    if (N == 3) s += coef[2] * mtrace_prod(M, H2);
    return s;
  }

  // Gamma in su(N) with Re tr(d exp(Q) M) = tr(dQ Gamma) for all dQ in su(N) (needs init(Q, true))
  GN_HD Mat<N, T> pullback(const Mat<N, T> &M) const {
    Mat<N, T> G = mzero<N, T>();
    maxpy(G, trace_poly(M, b1), H);
    maxpy(G, f[1], M);
    if (N == 3) {
      maxpy(G, trace_poly(M, b2), H2);
      Mat<N, T> HM = mm(H, M);
      madd(HM, mm(M, H));
      maxpy(G, f[2], HM);
    }
#pragma unroll
    for (int k = 0; k < N * N; ++k) G.a[k] = cx<T>(G.a[k].im, -G.a[k].re);  // -i G
    return mta(G);
  }
};

// ---------------------------------------------------------------------------------------------------
// Site functors on stacks of matrices
// ---------------------------------------------------------------------------------------------------

// exp of a stack of su(N) matrices Q[n]; with M given, Gamma = pullback(M) instead of exp
template <class T>
struct SuExpArgs {
  const cx<T> *Q;
  const cx<T> *M;   // nullptr: out = exp(Q); else out = Gamma(Q, M)
  cx<T> *out;
  int64_t n;
};

template <int N, class T>
struct SuExpKernel {
  SuExpArgs<T> a;
  GN_HD void operator()(int64_t i) const {
    const int64_t o = i * N * N;
    SuExp<N, T> e;
    e.init(mload<N, T>(a.Q + o), a.M != nullptr);
    if (a.M) mstore(e.pullback(mload<N, T>(a.M + o)), a.out + o);
    else mstore(e.E, a.out + o);
  }
};

template <class Exec, int N, class T>
void su_exp_run(const SuExpArgs<T> &a) { Exec::run(a.n, SuExpKernel<N, T>{a}); }

// The stout-type update of links (one per item): forward U' = exp(Q) U with Q = TA(Omega);
// the backward from the force F' on U' (representation of gauge_force):
//   Gamma = pullback_Q(exp(-Q) F'),   F0 = exp(-Q) F' exp(Q) - Gamma Omega,   Y = y_scale U^dag Gamma.
template <class T>
struct ExpUpdateArgs {
  const cx<T> *U, *Omega;
  const cx<T> *Fp;                 // backward only
  cx<T> *Uout, *Q;                 // forward outputs (Q kept for the backward)
  cx<T> *F0, *Gamma, *Y;           // backward outputs (Y may be nullptr)
  T y_scale;
  int64_t n;
};

template <int N, class T>
struct ExpUpdateForward {
  ExpUpdateArgs<T> a;
  GN_HD void operator()(int64_t i) const {
    const int64_t o = i * N * N;
    const Mat<N, T> Q = mta(mload<N, T>(a.Omega + o));
    SuExp<N, T> e;
    e.init(Q, false);
    mstore(Q, a.Q + o);
    mstore(mm(e.E, mload<N, T>(a.U + o)), a.Uout + o);
  }
};

template <int N, class T>
struct ExpUpdateBackward {
  ExpUpdateArgs<T> a;
  GN_HD void operator()(int64_t i) const {
    const int64_t o = i * N * N;
    SuExp<N, T> e;
    e.init(mload<N, T>(a.Q + o), true);
    const Mat<N, T> Fp = mload<N, T>(a.Fp + o);
    const Mat<N, T> M = mdm(e.E, Fp);               // exp(-Q) F' (exp(Q) is unitary)
    const Mat<N, T> G = e.pullback(M);
    Mat<N, T> F0 = mm(M, e.E);                      // exp(-Q) F' exp(Q)
    msub(F0, mm(G, mload<N, T>(a.Omega + o)));
    mstore(F0, a.F0 + o);
    mstore(G, a.Gamma + o);
    if (a.Y) mstore(mscale(a.y_scale, mdm(mload<N, T>(a.U + o), G)), a.Y + o);
  }
};

template <class Exec, int N, class T>
void exp_update_forward_run(const ExpUpdateArgs<T> &a) { Exec::run(a.n, ExpUpdateForward<N, T>{a}); }
template <class Exec, int N, class T>
void exp_update_backward_run(const ExpUpdateArgs<T> &a) { Exec::run(a.n, ExpUpdateBackward<N, T>{a}); }

}  // namespace gn
