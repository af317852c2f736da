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

}  // namespace gn
