// Shared argument handling for stencil bindings: field + halo pairs, links, neighbour tables.
#pragma once
#include "bind/array.h"
#include "core/backend.h"
#include "core/complex.h"

namespace gn {

struct StencilBufs {
  Buf out, in, inh, U, Uh, nbr, sites;
  bool dev = false, dbl = true;
  int64_t V = 0, Vh = 0;
};

inline StencilBufs stencil_bufs(py::object out, py::object in, py::object in_halo, py::object U, py::object U_halo,
                                py::object nbr, py::object sites, int64_t V, int64_t Vh, int64_t in_site_elems,
                                int64_t out_site_elems, int N) {
  StencilBufs s;
  s.out = get_buf(out, true, "out");
  s.in = get_buf(in, false, "in");
  s.inh = get_buf(in_halo, false, "in_halo", true);
  s.U = get_buf(U, false, "U");
  s.Uh = get_buf(U_halo, false, "U_halo", true);
  s.nbr = get_buf(nbr, false, "nbr");
  s.sites = get_buf(sites, false, "sites", true);
  s.dev = same_device({&s.out, &s.in, &s.inh, &s.U, &s.Uh, &s.nbr, &s.sites});
  s.dbl = is_double(s.out, "out");
  same_kind(s.out, s.in, "out", "in");
  same_kind(s.out, s.inh, "out", "in_halo");
  same_kind(s.out, s.U, "out", "U");
  same_kind(s.out, s.Uh, "out", "U_halo");
  require(s.nbr.kind == Kind::i32, "neighbour table must be int32");
  require(!s.sites.present || s.sites.kind == Kind::i32, "site list must be int32");
  s.V = V;
  s.Vh = Vh;
  const int64_t es = s.dbl ? 16 : 8;
  require_size(s.out, V * out_site_elems * es, "out");
  require_size(s.in, V * in_site_elems * es, "in");
  require(Vh == 0 || s.inh.present, "halo sites exist but no input halo given");
  require_size(s.inh, Vh * in_site_elems * es, "in_halo");
  require_size(s.U, 4 * V * N * N * es, "U");
  require(Vh == 0 || s.Uh.present, "halo sites exist but no link halo given");
  require_size(s.Uh, 4 * Vh * N * N * es, "U_halo");
  require_size(s.nbr, V * 8 * 4, "nbr");
  return s;
}

template <class T>
inline SiteList site_list(const StencilBufs &s) {
  SiteList l;
  if (s.sites.present) {
    l.idx = s.sites.as<int32_t>();
    l.n = s.sites.nbytes / 4;
  } else {
    l.n = s.V;
  }
  return l;
}

template <class T>
inline void fill_common(const StencilBufs &s, int N, int64_t in_site_elems, HaloView<const cx<T>> &in,
                        HaloView<const cx<T>> (&U)[4]) {
  in = {s.in.as<const cx<T>>(), s.inh.present ? s.inh.as<const cx<T>>() : nullptr, s.V, in_site_elems};
  for (int mu = 0; mu < 4; ++mu)
    U[mu] = {s.U.as<const cx<T>>() + (int64_t)mu * s.V * N * N,
             s.Uh.present ? s.Uh.as<const cx<T>>() + (int64_t)mu * s.Vh * N * N : nullptr, s.V, (int64_t)N * N};
}

// The links of the backward hops (U_back / U_back_halo, shaped like U / U_halo): the even-odd half-lattice
// operators pass the other parity's links; absent, the backward hops read U itself.
struct BackLinks {
  Buf U, Uh;
};

inline BackLinks back_links(const StencilBufs &s, py::object U_back, py::object U_back_halo, int N, const char *who) {
  BackLinks b{get_buf(U_back, false, "U_back", true), get_buf(U_back_halo, false, "U_back_halo", true)};
  require(b.U.present || !b.Uh.present, std::string(who) + ": U_back_halo given without U_back");
  if (b.U.present) {
    same_device({&s.out, &b.U, &b.Uh});
    same_kind(s.out, b.U, "out", "U_back");
    same_kind(s.out, b.Uh, "out", "U_back_halo");
    const int64_t es = s.dbl ? 16 : 8;
    require_size(b.U, 4 * s.V * N * N * es, "U_back");
    require(s.Vh == 0 || b.Uh.present, std::string(who) + ": halo sites exist but no U_back_halo given");
    require_size(b.Uh, 4 * s.Vh * N * N * es, "U_back_halo");
  }
  return b;
}

template <class T>
inline void fill_back(const StencilBufs &s, const BackLinks &b, int N, const HaloView<const cx<T>> (&U)[4],
                      HaloView<const cx<T>> (&Ub)[4]) {
  for (int mu = 0; mu < 4; ++mu)
    Ub[mu] = !b.U.present ? U[mu]
                          : HaloView<const cx<T>>{b.U.as<const cx<T>>() + (int64_t)mu * s.V * N * N,
                                                  b.Uh.present ? b.Uh.as<const cx<T>>() + (int64_t)mu * s.Vh * N * N
                                                               : nullptr,
                                                  s.V, (int64_t)N * N};
}

}  // namespace gn
