// The pybind11 module gaugenet._core: thin wrappers, one file per kernel family.
#include <pybind11/pybind11.h>
#ifdef GN_HAVE_OPENMP
#include <omp.h>
#endif
#include "bind/array.h"

namespace py = pybind11;

void bind_halo(py::module_ &m);
void bind_hop(py::module_ &m);
void bind_wilson(py::module_ &m);
void bind_site(py::module_ &m);
void bind_bench(py::module_ &m);
void bind_block(py::module_ &m);
void bind_krylov(py::module_ &m);
void bind_packed(py::module_ &m);
void bind_links(py::module_ &m);

#ifndef GN_HAVE_CUDA
namespace gn {
void cuda_synchronize() {}
}  // namespace gn
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "gaugenet C++ kernels (CPU: OpenMP; CUDA when built with nvcc)";
#ifdef GN_HAVE_CUDA
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  m.def("max_threads", []() {
#ifdef GN_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
  });
  m.def("set_num_threads", [](int n) {
#ifdef GN_HAVE_OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
  });
  m.def("synchronize", []() { gn::cuda_synchronize(); }, "wait for queued device kernels (no-op on the CPU)");
  bind_halo(m);
  bind_hop(m);
  bind_wilson(m);
  bind_site(m);
  bind_bench(m);
  bind_block(m);
  bind_krylov(m);
  bind_packed(m);
  bind_links(m);
}
