// Backend abstraction: a kernel is a site functor `f(i)`; an executor runs it
// over i = 0..n-1 either with an OpenMP loop (CpuExec) or a CUDA launch (CudaExec).
// Kernel headers are written once against this interface and instantiated for
// both backends (dispatch/cpu.cpp and dispatch/cuda.cu), so they cannot drift.
#pragma once
#include <cstdint>
#include <cstddef>
#if defined(GN_HAVE_OPENMP) && !defined(__CUDACC__)
#include <omp.h>
#endif

#if defined(__CUDACC__)
#define GN_HD __host__ __device__ __forceinline__
#define GN_RESTRICT __restrict__
#else
#define GN_HD inline __attribute__((always_inline))
#define GN_RESTRICT __restrict__
#endif

namespace gn {

#if !defined(__CUDACC__)
// OpenMP threads of the next parallel region, and this thread's index in the current one (1 and 0
// without OpenMP): per-thread accumulators of the reduction kernels
inline int cpu_threads() {
#ifdef GN_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int cpu_thread_id() {
#ifdef GN_HAVE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
#endif

struct CpuExec {
  // Loops shorter than this run on the calling thread: waking the OpenMP team costs more than
  // the work (and much more when ranks oversubscribe the cores).
  static constexpr int64_t min_parallel = 4096;
  template <class F>
  static void run(int64_t n, const F &f) {
#pragma omp parallel for schedule(static) if (n >= min_parallel)
    for (int64_t i = 0; i < n; ++i) f(i);
  }
  // Few heavy items (e.g. coarse sites summing a whole block): threads as soon as the total work
  // (items x site-equivalents per item) is worth it.
  template <class F>
  static void run_items(int64_t n, int64_t work_per_item, const F &f) {
#pragma omp parallel for schedule(static) if (n > 1 && n * work_per_item >= min_parallel)
    for (int64_t i = 0; i < n; ++i) f(i);
  }
};

struct CudaExec {
  template <class F>
  static void run(int64_t n, const F &f);  // defined in dispatch/cuda_exec.cuh
  template <class F>
  static void run_items(int64_t n, int64_t, const F &f) { run(n, f); }
};

// A list of sites to visit: either the range [0, n) or an explicit index list.
struct SiteList {
  const int32_t *idx = nullptr;  // nullptr: identity
  int64_t n = 0;
  GN_HD int64_t operator[](int64_t i) const { return idx ? (int64_t)idx[i] : i; }
};

// Field with halo: local sites [0, V) live in `local`, halo sites [V, V + Vh) in `halo`.
template <class E>
struct HaloView {
  E *local;
  const E *halo;
  int64_t V;
  int64_t site_elems;
  GN_HD const E *site(int64_t i) const {
    return i < V ? local + i * site_elems : halo + (i - V) * site_elems;
  }
};

}  // namespace gn
