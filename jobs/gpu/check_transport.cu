// Standalone check of the transport kernels (kernels/transport.h) on the GPU against the CPU executor: random
// hop links, channels and cotangents on an L^4 periodic lattice (no halo), the 24 link-transport channels of
// CASK plus same-site (r = -1) and path-step (r = -2) channels; forward, both VJP passes and hop_sigma.
// Not part of the module build:
//   nvcc -std=c++17 --expt-relaxed-constexpr -O3 -arch=sm_90 -Icsrc jobs/gpu/check_transport.cu -o check
//   ./check            (prints the largest deviations and the GPU times; exit status 1 on a mismatch)
#include <cuda_runtime.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
#include "core/backend.h"

namespace gn {
template <class F>
__global__ void check_site_kernel(int64_t n, F f) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) f(i);
}
template <class F>
void CudaExec::run(int64_t n, const F &f) {
  if (n <= 0) return;
  check_site_kernel<<<(unsigned)((n + 127) / 128), 128>>>(n, f);
}
}  // namespace gn
#include "kernels/transport.h"

using namespace gn;
using C = cx<double>;

template <class E>
E *dev(const std::vector<E> &h) {
  E *d;
  cudaMalloc(&d, h.size() * sizeof(E));
  cudaMemcpy(d, h.data(), h.size() * sizeof(E), cudaMemcpyHostToDevice);
  return d;
}
template <class E>
std::vector<E> host(const E *d, size_t n) {
  std::vector<E> h(n);
  cudaMemcpy(h.data(), d, n * sizeof(E), cudaMemcpyDeviceToHost);
  return h;
}
double maxdiff(const std::vector<C> &a, const std::vector<C> &b) {
  double m = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::hypot(a[i].re - b[i].re, a[i].im - b[i].im));
    s = std::max(s, std::hypot(b[i].re, b[i].im));
  }
  return m / std::max(s, 1e-300);
}

template <int N>
bool check(int L) {
  const int64_t V = (int64_t)L * L * L * L;
  std::vector<int32_t> nbr(V * 8), chan;
  for (int64_t x = 0; x < V; ++x) {
    int c[4] = {int(x % L), int(x / L % L), int(x / L / L % L), int(x / L / L / L)};
    for (int mu = 0; mu < 4; ++mu)
      for (int s = 0; s < 2; ++s) {
        int d[4] = {c[0], c[1], c[2], c[3]};
        d[mu] = (d[mu] + (s ? L - 1 : 1)) % L;
        nbr[x * 8 + 2 * mu + s] = d[0] + L * (d[1] + L * (d[2] + L * d[3]));
      }
  }
  for (int mu = 0; mu < 4; ++mu)
    for (int nu = 0; nu < 4; ++nu)
      if (nu != mu)
        for (int s = 0; s < 2; ++s) { chan.push_back(2 * nu + s); chan.push_back(2 * mu); }
  for (int k = 0; k < 8; ++k) { chan.push_back(k); chan.push_back(k % 2 ? -1 : -2); }
  const int n = (int)chan.size() / 2;
  std::mt19937 g(7);
  std::normal_distribution<double> nd;
  auto rnd = [&](size_t m) { std::vector<C> v(m); for (auto &z : v) z = C(nd(g), nd(g)); return v; };
  const size_t M = N * N;
  std::vector<C> H = rnd(V * 8 * M), A = rnd(V * n * M), G = rnd(V * n * M), sh0 = rnd(V * 8 * M), sig0 = rnd(4 * V * M);
  // CPU
  std::vector<C> B(V * n * M), buf(V * n * 2 * M), loc(V * n * M), gA(V * n * M), sh = sh0, sig = sig0;
  TransportArgs<double> a{};
  a.H = H.data(); a.A = A.data(); a.G = G.data(); a.chan = chan.data(); a.nbr = nbr.data(); a.V = V; a.n = n;
  a.out = B.data();
  transport_fwd_run<CpuExec, N, double>(a);
  a.out = buf.data(); a.loc = loc.data();
  transport_vjp_push_run<CpuExec, N, double>(a);
  a.buf = buf.data(); a.out = gA.data(); a.sh = sh.data();
  transport_vjp_pull_run<CpuExec, N, double>(a);
  HopSigmaArgs<double> hs{sh.data(), nullptr, sig.data(), nbr.data(), V, 0};
  hop_sigma_run<CpuExec, N, double>(hs);
  // GPU
  C *dH = dev(H), *dA = dev(A), *dG = dev(G), *dsh = dev(sh0), *dsig = dev(sig0);
  int32_t *dnbr = dev(nbr), *dchan = dev(chan);
  C *dB, *dbuf, *dloc, *dgA;
  cudaMalloc(&dB, B.size() * sizeof(C)); cudaMalloc(&dbuf, buf.size() * sizeof(C));
  cudaMalloc(&dloc, loc.size() * sizeof(C)); cudaMalloc(&dgA, gA.size() * sizeof(C));
  cudaMemset(dbuf, 0, buf.size() * sizeof(C));
  TransportArgs<double> d{};
  d.H = dH; d.A = dA; d.G = dG; d.chan = dchan; d.nbr = dnbr; d.V = V; d.n = n;
  TransportArgs<double> df = d; df.out = dB;
  TransportArgs<double> dp = d; dp.out = dbuf; dp.loc = dloc;
  TransportArgs<double> dq = d; dq.buf = dbuf; dq.loc = dloc; dq.out = dgA; dq.sh = dsh;
  HopSigmaArgs<double> dh{dsh, nullptr, dsig, dnbr, V, 0};
  transport_fwd_run<CudaExec, N, double>(df);
  transport_vjp_push_run<CudaExec, N, double>(dp);
  transport_vjp_pull_run<CudaExec, N, double>(dq);
  hop_sigma_run<CudaExec, N, double>(dh);
  cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) { printf("CUDA error %s\n", cudaGetErrorString(err)); return false; }
  const double eB = maxdiff(host(dB, B.size()), B), egA = maxdiff(host(dgA, gA.size()), gA);
  const double esh = maxdiff(host(dsh, sh.size()), sh), esig = maxdiff(host(dsig, sig.size()), sig);
  // timing of the three passes on the GPU (repeated calls; sh/sigma keep accumulating, irrelevant here)
  auto t0 = std::chrono::steady_clock::now();
  const int reps = 20;
  for (int r = 0; r < reps; ++r) transport_fwd_run<CudaExec, N, double>(df);
  cudaDeviceSynchronize();
  auto t1 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    transport_vjp_push_run<CudaExec, N, double>(dp);
    transport_vjp_pull_run<CudaExec, N, double>(dq);
  }
  cudaDeviceSynchronize();
  auto t2 = std::chrono::steady_clock::now();
  const double tf = std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
  const double tb = std::chrono::duration<double, std::milli>(t2 - t1).count() / reps;
  const bool ok = eB < 1e-13 && egA < 1e-13 && esh < 1e-13 && esig < 1e-13;
  printf("SU(%d) L=%d channels %d: rel. deviation GPU vs CPU: B %.2e gA %.2e sh %.2e Sigma %.2e -> %s; "
         "GPU forward %.3f ms, vjp (push + pull) %.3f ms\n", N, L, n, eB, egA, esh, esig, ok ? "ok" : "MISMATCH", tf, tb);
  for (void *p : {(void *)dH, (void *)dA, (void *)dG, (void *)dsh, (void *)dsig, (void *)dnbr, (void *)dchan,
                  (void *)dB, (void *)dbuf, (void *)dloc, (void *)dgA})
    cudaFree(p);
  return ok;
}

int main() {
  bool ok = check<2>(4) && check<3>(4) && check<2>(8) && check<3>(8) && check<3>(16);
  return ok ? 0 : 1;
}
