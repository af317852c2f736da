// The link-network core (kernels/loops.h, kernels/matfield.h, kernels/transport.h): staple sums and their
// backprop on links with a depth-1 halo, the su(N) exponential and its pullback, the stout-type link update,
// covariant transports of channels with their VJPs.
// complex128 only; SU(2) and SU(3). Python side: python/gaugenet/links/.
#include "bind/array.h"
#include "dispatch/instances.h"

namespace {
using namespace gn;

Buf arg(py::object o, bool w, const char *name, bool opt = false) { return get_buf(o, w, name, opt); }

void check_c128(std::initializer_list<const Buf *> bufs, const char *who) {
  for (auto *b : bufs)
    if (b->present) require(b->kind == Kind::c128, std::string(who) + ": arrays must be complex128");
}

void check_N(int N, const char *who) { require(N == 2 || N == 3, std::string(who) + ": N must be 2 or 3"); }

// runs fn<Exec, N>(args) for the backend of the buffers and the colour number N
#define GN_LINK_CALL(FN, ARGS, DEV, N)                                  \
  do {                                                                  \
    if (DEV) {                                                          \
      GN_LINK_CUDA(FN, ARGS, N)                                         \
    } else {                                                            \
      py::gil_scoped_release nogil;                                     \
      if ((N) == 3) FN<CpuExec, 3, double>(ARGS);                       \
      else FN<CpuExec, 2, double>(ARGS);                                \
    }                                                                   \
  } while (0)
#ifdef GN_HAVE_CUDA
#define GN_LINK_CUDA(FN, ARGS, N)                                       \
  if ((N) == 3) FN<CudaExec, 3, double>(ARGS);                          \
  else FN<CudaExec, 2, double>(ARGS);
#else
#define GN_LINK_CUDA(FN, ARGS, N) throw std::runtime_error("no CUDA kernels in this build");
#endif

LoopArgs<double> loop_args(const Buf &U, const Buf &Uh, const Buf &nbr, int64_t V, int64_t Vh, int N, const char *who) {
  require(V > 0, std::string(who) + ": V must be positive");
  require(nbr.kind == Kind::i32, std::string(who) + ": neighbour table must be int32");
  require_size(nbr, V * 8 * 4, "nbr");
  require_size(U, 4 * V * N * N * 16, "U");
  require(Vh == 0 || Uh.present, std::string(who) + ": halo sites exist but no link halo given");
  require_size(Uh, 4 * Vh * N * N * 16, "U_halo");
  LoopArgs<double> a{};
  a.U = U.as<const cx<double>>();
  a.Uh = Uh.present ? Uh.as<const cx<double>>() : nullptr;
  a.nbr = nbr.as<const int32_t>();
  a.V = V;
  a.Vh = Vh;
  return a;
}

void staple_lower(py::object U, py::object Uh, py::object nbr, py::object out, int64_t V, int64_t Vh, int N) {
  check_N(N, "staple_lower");
  Buf u = arg(U, false, "U"), uh = arg(Uh, false, "U_halo", true), nb = arg(nbr, false, "nbr"), o = arg(out, true, "out");
  bool dev = same_device({&u, &uh, &nb, &o});
  check_c128({&u, &uh, &o}, "staple_lower");
  require_size(o, V * 12 * N * N * 16, "out");
  LoopArgs<double> a = loop_args(u, uh, nb, V, Vh, N, "staple_lower");
  a.out = o.as<cx<double>>();
  GN_LINK_CALL(staple_lower_run, a, dev, N);
}

void staple_sum(py::object U, py::object Uh, py::object buf, py::object bufh, py::object nbr, py::object out,
                int64_t V, int64_t Vh, int N, int mode, double coef) {
  check_N(N, "staple_sum");
  require(mode >= 0 && mode <= 2, "staple_sum: mode must be 0 (C), 1 (C U^dag) or 2 (coef TA(U C^dag))");
  Buf u = arg(U, false, "U"), uh = arg(Uh, false, "U_halo", true), b = arg(buf, false, "buf"),
      bh = arg(bufh, false, "buf_halo", true), nb = arg(nbr, false, "nbr"), o = arg(out, true, "out");
  bool dev = same_device({&u, &uh, &b, &bh, &nb, &o});
  check_c128({&u, &uh, &b, &bh, &o}, "staple_sum");
  require_size(b, V * 12 * N * N * 16, "buf");
  require(Vh == 0 || bh.present, "staple_sum: halo sites exist but no buffer halo given");
  require_size(bh, Vh * 12 * N * N * 16, "buf_halo");
  require_size(o, 4 * V * N * N * 16, "out");
  LoopArgs<double> a = loop_args(u, uh, nb, V, Vh, N, "staple_sum");
  a.buf = b.as<const cx<double>>();
  a.bufh = bh.present ? bh.as<const cx<double>>() : nullptr;
  a.out = o.as<cx<double>>();
  a.mode = mode;
  a.coef = coef;
  GN_LINK_CALL(staple_sum_run, a, dev, N);
}

void staple_back_push(py::object U, py::object Uh, py::object Y, py::object Yh, py::object nbr, py::object buf,
                      py::object local, int64_t V, int64_t Vh, int N) {
  check_N(N, "staple_back_push");
  Buf u = arg(U, false, "U"), uh = arg(Uh, false, "U_halo", true), y = arg(Y, false, "Y"),
      yh = arg(Yh, false, "Y_halo", true), nb = arg(nbr, false, "nbr"), b = arg(buf, true, "buf"),
      l = arg(local, true, "local");
  bool dev = same_device({&u, &uh, &y, &yh, &nb, &b, &l});
  check_c128({&u, &uh, &y, &yh, &b, &l}, "staple_back_push");
  require_size(y, 4 * V * N * N * 16, "Y");
  require(Vh == 0 || yh.present, "staple_back_push: halo sites exist but no Y halo given");
  require_size(yh, 4 * Vh * N * N * 16, "Y_halo");
  require_size(b, V * 12 * N * N * 16, "buf");
  require_size(l, 4 * V * N * N * 16, "local");
  LoopArgs<double> a = loop_args(u, uh, nb, V, Vh, N, "staple_back_push");
  a.Y = y.as<const cx<double>>();
  a.Yh = yh.present ? yh.as<const cx<double>>() : nullptr;
  a.out = b.as<cx<double>>();
  a.out2 = l.as<cx<double>>();
  GN_LINK_CALL(staple_back_push_run, a, dev, N);
}

void staple_back_pull(py::object U, py::object Uh, py::object buf, py::object bufh, py::object local, py::object base,
                      py::object nbr, py::object out, int64_t V, int64_t Vh, int N, bool ta) {
  check_N(N, "staple_back_pull");
  Buf u = arg(U, false, "U"), uh = arg(Uh, false, "U_halo", true), b = arg(buf, false, "buf"),
      bh = arg(bufh, false, "buf_halo", true), l = arg(local, false, "local"), ba = arg(base, false, "base", true),
      nb = arg(nbr, false, "nbr"), o = arg(out, true, "out");
  bool dev = same_device({&u, &uh, &b, &bh, &l, &ba, &nb, &o});
  check_c128({&u, &uh, &b, &bh, &l, &ba, &o}, "staple_back_pull");
  require_size(b, V * 12 * N * N * 16, "buf");
  require(Vh == 0 || bh.present, "staple_back_pull: halo sites exist but no buffer halo given");
  require_size(bh, Vh * 12 * N * N * 16, "buf_halo");
  require_size(l, 4 * V * N * N * 16, "local");
  require_size(ba, 4 * V * N * N * 16, "base");
  require_size(o, 4 * V * N * N * 16, "out");
  LoopArgs<double> a = loop_args(u, uh, nb, V, Vh, N, "staple_back_pull");
  a.buf = b.as<const cx<double>>();
  a.bufh = bh.present ? bh.as<const cx<double>>() : nullptr;
  a.out2 = const_cast<cx<double> *>(l.as<const cx<double>>());
  a.base = ba.present ? ba.as<const cx<double>>() : nullptr;
  a.out = o.as<cx<double>>();
  a.mode = ta ? 1 : 0;
  GN_LINK_CALL(staple_back_pull_run, a, dev, N);
}

void su_exp(py::object Q, py::object M, py::object out, int N) {
  check_N(N, "su_exp");
  Buf q = arg(Q, false, "Q"), m = arg(M, false, "M", true), o = arg(out, true, "out");
  bool dev = same_device({&q, &m, &o});
  check_c128({&q, &m, &o}, "su_exp");
  require(q.nbytes % (N * N * 16) == 0, "su_exp: Q is not a stack of N x N matrices");
  const int64_t n = q.nbytes / (N * N * 16);
  require_size(m, n * N * N * 16, "M");
  require_size(o, n * N * N * 16, "out");
  SuExpArgs<double> a{q.as<const cx<double>>(), m.present ? m.as<const cx<double>>() : nullptr, o.as<cx<double>>(), n};
  if (n == 0) return;
  GN_LINK_CALL(su_exp_run, a, dev, N);
}

void exp_update_forward(py::object U, py::object Omega, py::object Uout, py::object Q, int N) {
  check_N(N, "exp_update_forward");
  Buf u = arg(U, false, "U"), om = arg(Omega, false, "Omega"), uo = arg(Uout, true, "Uout"), q = arg(Q, true, "Q");
  bool dev = same_device({&u, &om, &uo, &q});
  check_c128({&u, &om, &uo, &q}, "exp_update_forward");
  require(u.nbytes % (N * N * 16) == 0, "exp_update_forward: U is not a stack of N x N matrices");
  const int64_t n = u.nbytes / (N * N * 16);
  for (const Buf *b : {&om, &uo, &q}) require_size(*b, n * N * N * 16, "Omega/Uout/Q");
  ExpUpdateArgs<double> a{};
  a.U = u.as<const cx<double>>();
  a.Omega = om.as<const cx<double>>();
  a.Uout = uo.as<cx<double>>();
  a.Q = q.as<cx<double>>();
  a.n = n;
  if (n == 0) return;
  GN_LINK_CALL(exp_update_forward_run, a, dev, N);
}

void exp_update_backward(py::object U, py::object Omega, py::object Q, py::object Fp, py::object F0, py::object Gamma,
                         py::object Y, double y_scale, int N) {
  check_N(N, "exp_update_backward");
  Buf u = arg(U, false, "U"), om = arg(Omega, false, "Omega"), q = arg(Q, false, "Q"), fp = arg(Fp, false, "Fp"),
      f0 = arg(F0, true, "F0"), g = arg(Gamma, true, "Gamma"), y = arg(Y, true, "Y", true);
  bool dev = same_device({&u, &om, &q, &fp, &f0, &g, &y});
  check_c128({&u, &om, &q, &fp, &f0, &g, &y}, "exp_update_backward");
  require(u.nbytes % (N * N * 16) == 0, "exp_update_backward: U is not a stack of N x N matrices");
  const int64_t n = u.nbytes / (N * N * 16);
  for (const Buf *b : {&om, &q, &fp, &f0, &g, &y}) require_size(*b, n * N * N * 16, "Omega/Q/Fp/F0/Gamma/Y");
  ExpUpdateArgs<double> a{};
  a.U = u.as<const cx<double>>();
  a.Omega = om.as<const cx<double>>();
  a.Q = const_cast<cx<double> *>(q.as<const cx<double>>());
  a.Fp = fp.as<const cx<double>>();
  a.F0 = f0.as<cx<double>>();
  a.Gamma = g.as<cx<double>>();
  a.Y = y.present ? y.as<cx<double>>() : nullptr;
  a.y_scale = y_scale;
  a.n = n;
  if (n == 0) return;
  GN_LINK_CALL(exp_update_backward_run, a, dev, N);
}

// ---- covariant transports of channels (kernels/transport.h) ----------------------------------------
// chan (n, 2) int32: hop k in 0..7 and right factor r in {2 mu (mu in 0..3), -1, -2}; checked on the host
int check_chan(const Buf &chan, const char *who) {
  require(chan.kind == Kind::i32, std::string(who) + ": chan must be int32");
  require(chan.nbytes % 8 == 0 && chan.nbytes > 0, std::string(who) + ": chan must be (n, 2) with n >= 1");
  const int64_t n = chan.nbytes / 8;
  require(n < (int64_t(1) << 30), std::string(who) + ": too many channels");
  if (!chan.device) {
    const int32_t *c = chan.as<const int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t k = c[2 * i], r = c[2 * i + 1];
      require(k >= 0 && k < 8, std::string(who) + ": channel " + std::to_string(i) + " has hop " + std::to_string(k) +
                                   ", need 0..7 (2 mu + (s < 0))");
      require(r == -1 || r == -2 || (r >= 0 && r <= 6 && r % 2 == 0),
              std::string(who) + ": channel " + std::to_string(i) + " has right factor " + std::to_string(r) +
                  ", need 2 mu, -1 (same site) or -2 (none)");
    }
  }
  return (int)n;
}

TransportArgs<double> transport_args(const Buf &H, const Buf &Hh, const Buf &A, const Buf &Ah, const Buf &chan,
                                      const Buf &nbr, int64_t V, int64_t Vh, int N, const char *who) {
  require(V > 0, std::string(who) + ": V must be positive");
  require(Vh >= 0, std::string(who) + ": Vh must be >= 0");
  require(nbr.kind == Kind::i32, std::string(who) + ": neighbour table must be int32");
  require_size(nbr, V * 8 * 4, "nbr");
  const int n = check_chan(chan, who);
  const int64_t m = (int64_t)N * N * 16;
  require(H.nbytes == V * 8 * m, std::string(who) + ": hop links must be (V, 8, N, N)");
  require(Vh == 0 || Hh.present, std::string(who) + ": halo sites exist but no hop-link halo given");
  require_size(Hh, Vh * 8 * m, "H_halo");
  if (A.present) {
    require(A.nbytes == V * n * m, std::string(who) + ": A must be (V, n, N, N) with n the number of channels");
    require(Vh == 0 || Ah.present, std::string(who) + ": halo sites exist but no halo of A given");
    require_size(Ah, Vh * n * m, "A_halo");
  }
  TransportArgs<double> a{};
  a.H = H.as<const cx<double>>();
  a.Hh = Hh.present ? Hh.as<const cx<double>>() : nullptr;
  a.A = A.present ? A.as<const cx<double>>() : nullptr;
  a.Ah = Ah.present ? Ah.as<const cx<double>>() : nullptr;
  a.chan = chan.as<const int32_t>();
  a.nbr = nbr.as<const int32_t>();
  a.V = V;
  a.Vh = Vh;
  a.n = n;
  return a;
}

void transport_forward(py::object H, py::object Hh, py::object A, py::object Ah, py::object chan, py::object nbr,
                       py::object out, int64_t V, int64_t Vh, int N) {
  check_N(N, "transport_forward");
  Buf h = arg(H, false, "H"), hh = arg(Hh, false, "H_halo", true), x = arg(A, false, "A"),
      xh = arg(Ah, false, "A_halo", true), c = arg(chan, false, "chan"), nb = arg(nbr, false, "nbr"),
      o = arg(out, true, "out");
  bool dev = same_device({&h, &hh, &x, &xh, &c, &nb, &o});
  check_c128({&h, &hh, &x, &xh, &o}, "transport_forward");
  TransportArgs<double> a = transport_args(h, hh, x, xh, c, nb, V, Vh, N, "transport_forward");
  require(o.nbytes == x.nbytes, "transport_forward: out must have the shape of A");
  a.out = o.as<cx<double>>();
  GN_LINK_CALL(transport_fwd_run, a, dev, N);
}

std::string transport_variant(py::object name) {
  if (!name.is_none()) {
    const std::string v = name.cast<std::string>();
    if (v == "generic") transport_cpu_variant() = 0;
    else if (v == "simd") {
      require(GN_SIMD8, "transport_variant: this build has no SIMD transport kernel (it needs AVX-512 at compile time)");
      transport_cpu_variant() = 1;
    } else {
      throw std::invalid_argument("gaugenet kernel: transport_variant must be 'simd' or 'generic', got '" + v + "'");
    }
  }
  return (GN_SIMD8 && transport_cpu_variant() == 1) ? "simd" : "generic";
}

void transport_back_push(py::object H, py::object Hh, py::object A, py::object Ah, py::object G, py::object chan,
                         py::object nbr, py::object buf, py::object loc, int64_t V, int64_t Vh, int N) {
  check_N(N, "transport_back_push");
  Buf h = arg(H, false, "H"), hh = arg(Hh, false, "H_halo", true), x = arg(A, false, "A"),
      xh = arg(Ah, false, "A_halo", true), g = arg(G, false, "G"), c = arg(chan, false, "chan"),
      nb = arg(nbr, false, "nbr"), b = arg(buf, true, "buf"), l = arg(loc, true, "loc");
  bool dev = same_device({&h, &hh, &x, &xh, &g, &c, &nb, &b, &l});
  check_c128({&h, &hh, &x, &xh, &g, &b, &l}, "transport_back_push");
  TransportArgs<double> a = transport_args(h, hh, x, xh, c, nb, V, Vh, N, "transport_back_push");
  require(g.nbytes == x.nbytes, "transport_back_push: G must have the shape of A");
  require(b.nbytes == 2 * x.nbytes, "transport_back_push: buf must be (V, n, 2, N, N)");
  require(l.nbytes == x.nbytes, "transport_back_push: loc must be (n, V, N, N)");
  a.G = g.as<const cx<double>>();
  a.out = b.as<cx<double>>();
  a.loc = l.as<cx<double>>();
  GN_LINK_CALL(transport_vjp_push_run, a, dev, N);
}

void transport_back_pull(py::object H, py::object buf, py::object bufh, py::object loc, py::object chan,
                         py::object nbr, py::object gA, py::object sh, int64_t V, int64_t Vh, int N) {
  check_N(N, "transport_back_pull");
  Buf h = arg(H, false, "H"), b = arg(buf, false, "buf"), bh = arg(bufh, false, "buf_halo", true),
      l = arg(loc, false, "loc"), c = arg(chan, false, "chan"), nb = arg(nbr, false, "nbr"), ga = arg(gA, true, "gA"),
      s = arg(sh, true, "sh");
  bool dev = same_device({&h, &b, &bh, &l, &c, &nb, &ga, &s});
  check_c128({&h, &b, &bh, &l, &ga, &s}, "transport_back_pull");
  Buf none;
  TransportArgs<double> a = transport_args(h, none, none, none, c, nb, V, 0, N, "transport_back_pull");
  a.Vh = Vh;
  const int64_t m = (int64_t)N * N * 16;
  require(b.nbytes == 2 * V * a.n * m, "transport_back_pull: buf must be (V, n, 2, N, N)");
  require(Vh >= 0 && (Vh == 0 || bh.present), "transport_back_pull: halo sites exist but no buffer halo given");
  require_size(bh, 2 * Vh * a.n * m, "buf_halo");
  require(l.nbytes == V * a.n * m, "transport_back_pull: loc must be (n, V, N, N)");
  require(ga.nbytes == V * a.n * m, "transport_back_pull: gA must be (V, n, N, N)");
  require(s.nbytes == V * 8 * m, "transport_back_pull: sh must be (V, 8, N, N)");
  a.buf = b.as<const cx<double>>();
  a.bufh = bh.present ? bh.as<const cx<double>>() : nullptr;
  a.loc = const_cast<cx<double> *>(l.as<const cx<double>>());
  a.out = ga.as<cx<double>>();
  a.sh = s.as<cx<double>>();
  GN_LINK_CALL(transport_vjp_pull_run, a, dev, N);
}

void hop_sigma(py::object sh, py::object shh, py::object nbr, py::object sigma, int64_t V, int64_t Vh, int N) {
  check_N(N, "hop_sigma");
  Buf s = arg(sh, false, "sh"), sx = arg(shh, false, "sh_halo", true), nb = arg(nbr, false, "nbr"),
      o = arg(sigma, true, "sigma");
  bool dev = same_device({&s, &sx, &nb, &o});
  check_c128({&s, &sx, &o}, "hop_sigma");
  require(V > 0 && Vh >= 0, "hop_sigma: V must be positive and Vh >= 0");
  require(nb.kind == Kind::i32, "hop_sigma: neighbour table must be int32");
  require_size(nb, V * 8 * 4, "nbr");
  const int64_t m = (int64_t)N * N * 16;
  require(s.nbytes == V * 8 * m, "hop_sigma: sh must be (V, 8, N, N)");
  require(Vh == 0 || sx.present, "hop_sigma: halo sites exist but no halo of sh given");
  require_size(sx, Vh * 8 * m, "sh_halo");
  require(o.nbytes == 4 * V * m, "hop_sigma: sigma must be (4, V, N, N)");
  HopSigmaArgs<double> a{s.as<const cx<double>>(), sx.present ? sx.as<const cx<double>>() : nullptr,
                         o.as<cx<double>>(), nb.as<const int32_t>(), V, Vh};
  GN_LINK_CALL(hop_sigma_run, a, dev, N);
}
}  // namespace

void bind_links(py::module_ &m) {
  m.def("staple_lower", &staple_lower, py::arg("U"), py::arg("U_halo"), py::arg("nbr"), py::arg("out"), py::arg("V"),
        py::arg("Vh"), py::arg("N"),
        "pass 1 of the staple sum: out[z, k(mu,nu)] = U_nu(z)^dag U_mu(z) U_nu(z+mu), out (V, 12, N, N)");
  m.def("staple_sum", &staple_sum, py::arg("U"), py::arg("U_halo"), py::arg("buf"), py::arg("buf_halo"), py::arg("nbr"),
        py::arg("out"), py::arg("V"), py::arg("Vh"), py::arg("N"), py::arg("mode") = 0, py::arg("coef") = 1.0,
        "pass 2: the plaquette staple sum C_mu(x) (mode 0), C U^dag (mode 1) or coef TA(U C^dag) (mode 2), out (4, V, N, N)");
  m.def("staple_back_push", &staple_back_push, py::arg("U"), py::arg("U_halo"), py::arg("Y"), py::arg("Y_halo"),
        py::arg("nbr"), py::arg("buf"), py::arg("local"), py::arg("V"), py::arg("Vh"), py::arg("N"),
        "pass 1 of the staple backprop: the local part of Sigma (4, V, N, N) and the one-hop part buf (V, 12, N, N)");
  m.def("staple_back_pull", &staple_back_pull, py::arg("U"), py::arg("U_halo"), py::arg("buf"), py::arg("buf_halo"),
        py::arg("local"), py::arg("base"), py::arg("nbr"), py::arg("out"), py::arg("V"), py::arg("Vh"), py::arg("N"),
        py::arg("ta") = false, "pass 2: out = base + U Sigma (ta: its traceless anti-hermitian part)");
  m.def("su_exp", &su_exp, py::arg("Q"), py::arg("M"), py::arg("out"), py::arg("N"),
        "exp(Q) of a stack of su(N) matrices (M None), or the pullback Gamma(Q, M) of Re tr(d exp(Q) M)");
  m.def("exp_update_forward", &exp_update_forward, py::arg("U"), py::arg("Omega"), py::arg("Uout"), py::arg("Q"),
        py::arg("N"), "Q = TA(Omega), Uout = exp(Q) U per link");
  m.def("exp_update_backward", &exp_update_backward, py::arg("U"), py::arg("Omega"), py::arg("Q"), py::arg("Fp"),
        py::arg("F0"), py::arg("Gamma"), py::arg("Y"), py::arg("y_scale"), py::arg("N"),
        "Gamma = pullback(exp(-Q) F'), F0 = exp(-Q) F' exp(Q) - Gamma Omega, Y = y_scale U^dag Gamma per link");
  m.def("transport_forward", &transport_forward, py::arg("H"), py::arg("H_halo"), py::arg("A"), py::arg("A_halo"),
        py::arg("chan"), py::arg("nbr"), py::arg("out"), py::arg("V"), py::arg("Vh"), py::arg("N"),
        "B[x, c] = H(x) A[x + h, c] (K(x)^dag | H(x)^dag | 1) per channel (kernels/transport.h); H the hop links "
        "(V, 8, N, N), chan (n, 2) = (hop, right factor)");
  m.def("transport_variant", &transport_variant, py::arg("name") = py::none(),
        "the CPU forward of transport_forward: 'simd' (eight sites per step, AVX-512 builds) or 'generic' "
        "(site by site); None only reports it");
  m.def("transport_back_push", &transport_back_push, py::arg("H"), py::arg("H_halo"), py::arg("A"), py::arg("A_halo"),
        py::arg("G"), py::arg("chan"), py::arg("nbr"), py::arg("buf"), py::arg("loc"), py::arg("V"), py::arg("Vh"),
        py::arg("N"), "pass 1 of the transport VJP: buf (V, n, 2, N, N) to exchange, loc (n, V, N, N) the local part "
        "of the hop-link cotangent per channel");
  m.def("transport_back_pull", &transport_back_pull, py::arg("H"), py::arg("buf"), py::arg("buf_halo"),
        py::arg("loc"), py::arg("chan"), py::arg("nbr"), py::arg("gA"), py::arg("sh"), py::arg("V"), py::arg("Vh"), py::arg("N"),
        "pass 2: gA (V, n, N, N) the cotangent of A; sh (V, 8, N, N) += the hop-link cotangent");
  m.def("hop_sigma", &hop_sigma, py::arg("sh"), py::arg("sh_halo"), py::arg("nbr"), py::arg("sigma"), py::arg("V"),
        py::arg("Vh"), py::arg("N"),
        "sigma_mu(z) += sh[z, 2 mu] + sh[z + mu, 2 mu + 1]^dag: hop-link cotangent to link cotangent (4, V, N, N)");
}
