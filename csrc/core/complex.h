// Minimal complex type usable on host and device, layout-compatible with
// numpy complex64 / complex128 (re, im interleaved).
#pragma once
#include "core/backend.h"

namespace gn {

template <class T>
struct cx {
  T re, im;
  GN_HD cx() : re(0), im(0) {}
  GN_HD cx(T r, T i = 0) : re(r), im(i) {}
  GN_HD cx &operator+=(const cx &o) { re += o.re; im += o.im; return *this; }
  GN_HD cx &operator-=(const cx &o) { re -= o.re; im -= o.im; return *this; }
};

template <class T> GN_HD cx<T> operator+(cx<T> a, cx<T> b) { return {a.re + b.re, a.im + b.im}; }
template <class T> GN_HD cx<T> operator-(cx<T> a, cx<T> b) { return {a.re - b.re, a.im - b.im}; }
template <class T> GN_HD cx<T> operator-(cx<T> a) { return {-a.re, -a.im}; }
template <class T> GN_HD cx<T> operator*(cx<T> a, cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class T> GN_HD cx<T> operator*(T s, cx<T> a) { return {s * a.re, s * a.im}; }
template <class T> GN_HD cx<T> conj(cx<T> a) { return {a.re, -a.im}; }
// a += b * c
template <class T> GN_HD void fma(cx<T> &a, cx<T> b, cx<T> c) {
  a.re += b.re * c.re - b.im * c.im;
  a.im += b.re * c.im + b.im * c.re;
}
// a += conj(b) * c
template <class T> GN_HD void fma_conj(cx<T> &a, cx<T> b, cx<T> c) {
  a.re += b.re * c.re + b.im * c.im;
  a.im += b.re * c.im - b.im * c.re;
}
// multiply by i^k (k = 0..3) without flops: 1, i, -1, -i
template <int k, class T> GN_HD cx<T> times_ipow(cx<T> a) {
  if constexpr ((k & 3) == 0) return a;
  else if constexpr ((k & 3) == 1) return {-a.im, a.re};
  else if constexpr ((k & 3) == 2) return {-a.re, -a.im};
  else return {a.im, -a.re};
}

}  // namespace gn
