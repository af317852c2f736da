// The list of kernel instantiations, shared by the CPU (cpu.cpp) and CUDA (cuda.cu)
// translation units and by the bindings (as extern declarations).
#pragma once
#include "kernels/gather.h"
#include "kernels/block.h"
#include "kernels/hop.h"
#include "kernels/stream.h"
#include "kernels/wilson.h"
#include "kernels/loops.h"
#include "kernels/matfield.h"
#include "kernels/transport.h"
#ifndef __CUDACC__
#include "kernels/hop_grad.h"
#endif

#define GN_FOR_EACH_INSTANCE(PFX, EXEC)                                            \
  PFX template void gn::gather_run<EXEC>(const gn::GatherKernel &);                \
  GN_HOP_T(PFX, EXEC, double) GN_HOP_T(PFX, EXEC, float)                           \
  GN_WILSON_T(PFX, EXEC, double) GN_WILSON_T(PFX, EXEC, float)                     \
  PFX template void gn::triad_run<EXEC, double>(const gn::TriadArgs<double> &);    \
  PFX template void gn::triad_run<EXEC, float>(const gn::TriadArgs<float> &);       \
  GN_BLOCK_T(PFX, EXEC, double) GN_BLOCK_T(PFX, EXEC, float)                       \
  GN_LINKS_T(PFX, EXEC, 2, double) GN_LINKS_T(PFX, EXEC, 3, double)

#define GN_BLOCK_T(PFX, EXEC, T)                                                   \
  PFX template void gn::block_project_run<EXEC, T>(const gn::BlockArgs<T> &);      \
  PFX template void gn::block_promote_run<EXEC, T>(const gn::BlockArgs<T> &);      \
  PFX template void gn::coarse_hop_run<EXEC, T>(const gn::CoarseHopArgs<T> &);

// the link-network core (kernels/loops.h, kernels/matfield.h, kernels/transport.h): double precision, SU(2) and SU(3)
#define GN_LINKS_T(PFX, EXEC, N, T)                                                \
  PFX template void gn::staple_lower_run<EXEC, N, T>(const gn::LoopArgs<T> &);     \
  PFX template void gn::staple_sum_run<EXEC, N, T>(const gn::LoopArgs<T> &);       \
  PFX template void gn::staple_back_push_run<EXEC, N, T>(const gn::LoopArgs<T> &); \
  PFX template void gn::staple_back_pull_run<EXEC, N, T>(const gn::LoopArgs<T> &); \
  PFX template void gn::su_exp_run<EXEC, N, T>(const gn::SuExpArgs<T> &);          \
  PFX template void gn::exp_update_forward_run<EXEC, N, T>(const gn::ExpUpdateArgs<T> &); \
  PFX template void gn::exp_update_backward_run<EXEC, N, T>(const gn::ExpUpdateArgs<T> &); \
  PFX template void gn::transport_fwd_run<EXEC, N, T>(const gn::TransportArgs<T> &);       \
  PFX template void gn::transport_vjp_push_run<EXEC, N, T>(const gn::TransportArgs<T> &);  \
  PFX template void gn::transport_vjp_pull_run<EXEC, N, T>(const gn::TransportArgs<T> &);  \
  PFX template void gn::hop_sigma_run<EXEC, N, T>(const gn::HopSigmaArgs<T> &);

#define GN_HOP_T(PFX, EXEC, T)                                                     \
  PFX template void gn::hop_run<EXEC, 2, 1, T>(const gn::HopArgs<T> &);            \
  PFX template void gn::hop_run<EXEC, 3, 1, T>(const gn::HopArgs<T> &);            \
  PFX template void gn::hop_run<EXEC, 2, 4, T>(const gn::HopArgs<T> &);            \
  PFX template void gn::hop_run<EXEC, 3, 4, T>(const gn::HopArgs<T> &);

#define GN_WILSON_T(PFX, EXEC, T)                                                  \
  PFX template void gn::wilson_run<EXEC, 2, -1, T>(const gn::WilsonArgs<T> &);     \
  PFX template void gn::wilson_run<EXEC, 2, 1, T>(const gn::WilsonArgs<T> &);      \
  PFX template void gn::wilson_run<EXEC, 3, -1, T>(const gn::WilsonArgs<T> &);     \
  PFX template void gn::wilson_run<EXEC, 3, 1, T>(const gn::WilsonArgs<T> &);      \
  PFX template void gn::clover_run<EXEC, 2, T>(const gn::CloverArgs<T> &);         \
  PFX template void gn::clover_run<EXEC, 3, T>(const gn::CloverArgs<T> &);

// CPU-only kernels (no CUDA version)
#define GN_CPU_ONLY_INSTANCES(PFX)                                                 \
  PFX template void gn::hop_grad_run<2, double>(const gn::HopGradArgs<double> &);  \
  PFX template void gn::hop_grad_run<3, double>(const gn::HopGradArgs<double> &);  \
  PFX template void gn::hop_grad_run<2, float>(const gn::HopGradArgs<float> &);    \
  PFX template void gn::hop_grad_run<3, float>(const gn::HopGradArgs<float> &);

#define GN_NOTHING
GN_FOR_EACH_INSTANCE(extern, gn::CpuExec)
#ifndef __CUDACC__
GN_CPU_ONLY_INSTANCES(extern)
#endif
#ifdef GN_HAVE_CUDA
GN_FOR_EACH_INSTANCE(extern, gn::CudaExec)
#endif
