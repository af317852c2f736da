// STREAM triad a[i] = b[i] + s * c[i]: the machine's sustainable memory bandwidth, measured by
// gaugenet itself so that the benchmark suite can state every kernel's roofline fraction against
// a number taken in the same run (on the GPU backend it measures the device memory instead).
// Counted traffic: 3 arrays x sizeof(T) per element (two reads, one write), as in McCalpin's STREAM;
// plain stores (no streaming stores), so on a CPU the write also costs a read-for-ownership that
// the count does not include, exactly as for the kernels compared against it.
#pragma once
#include "core/backend.h"

namespace gn {

template <class T>
struct TriadArgs {
  T *a;
  const T *b;
  const T *c;
  T s;
  int64_t n;
};

template <class T>
struct TriadKernel {
  T *GN_RESTRICT a;
  const T *GN_RESTRICT b;
  const T *GN_RESTRICT c;
  T s;
  GN_HD void operator()(int64_t i) const { a[i] = b[i] + s * c[i]; }
};

template <class Exec, class T>
void triad_run(const TriadArgs<T> &args) {
  Exec::run(args.n, TriadKernel<T>{args.a, args.b, args.c, args.s});
}

// Scattered read (CPU): the array read once in chunks of `chunk` doubles visited in the order `order`
// (chunk indices, e.g. a random permutation), each chunk software-prefetched `prefetch` chunks ahead,
// with next to no arithmetic; returns the sum of what was read. The bandwidth a core reaches this way is
// the ceiling of a stencil kernel whose neighbour blocks lie at scattered addresses and are brought in by
// software prefetch (the hardware prefetchers follow sequential streams only): the suite's second
// reference next to the triad. OpenMP over the visiting order (static shares). Indices outside
// [0, nchunks) are skipped and counted in *bad (checked in the same pass, so that a timed call reads the
// order once).
inline double scattered_read(const double *GN_RESTRICT a, int64_t nchunks, const int64_t *GN_RESTRICT order,
                             int64_t n, int64_t chunk, int prefetch, int64_t *bad) {
  double total = 0;
  int64_t nbad = 0;
#pragma omp parallel reduction(+ : total, nbad) if (n * chunk >= CpuExec::min_parallel)
  {
    double acc[32] = {0};  // 32 running sums: four independent 8-wide vector chains
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      if (prefetch > 0 && i + prefetch < n) {
        const int64_t k = order[i + prefetch];
        if (k >= 0 && k < nchunks) {
          const char *q = reinterpret_cast<const char *>(a + k * chunk);
          for (int64_t j = 0; j < chunk * 8; j += 64) __builtin_prefetch(q + j, 0, 3);
        }
      }
      const int64_t k = order[i];
      if (k < 0 || k >= nchunks) {
        ++nbad;
        continue;
      }
      const double *p = a + k * chunk;
      for (int64_t j = 0; j < chunk; j += 32) {
#pragma GCC unroll 32
        for (int l = 0; l < 32; ++l) acc[l] += p[j + l];
      }
    }
    for (int l = 0; l < 32; ++l) total += acc[l];
  }
  *bad = nbad;
  return total;
}

}  // namespace gn
