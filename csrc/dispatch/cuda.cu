// CUDA backend: the same kernel functors, launched one thread per site.
#include <cuda_runtime.h>
#include <stdexcept>
#include <string>
#include "core/backend.h"

namespace gn {
template <class F>
__global__ void gn_site_kernel(int64_t n, F f) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) f(i);
}

template <class F>
void CudaExec::run(int64_t n, const F &f) {
  if (n <= 0) return;
  const int block = 128;
  const int64_t grid = (n + block - 1) / block;
  gn_site_kernel<<<(unsigned)grid, block>>>(n, f);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("gaugenet CUDA launch failed: ") + cudaGetErrorString(err));
}
}  // namespace gn

#include "dispatch/instances.h"

GN_FOR_EACH_INSTANCE(GN_NOTHING, gn::CudaExec)

namespace gn {
void cuda_synchronize() {
  cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) throw std::runtime_error(std::string("gaugenet CUDA error: ") + cudaGetErrorString(err));
}
}  // namespace gn
