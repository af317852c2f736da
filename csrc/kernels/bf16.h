// bfloat16 -> float (the upper 16 bits of a float: widening is a shift), scalar and 16 at a time with AVX-512;
// shared by the kernels that read bf16-stored data (the block basis in kernels/block.h, the coarse-solve rows in
// kernels/dense.h). The rounding direction (float -> bf16) is python/gaugenet/coarse/bf16.py's.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

namespace gn {

inline float bf16_to_float(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

#if defined(__AVX512F__) && !defined(__CUDACC__)
// h[0..16) widened into one register
inline __m512 bf16x16_to_floats(const uint16_t *h) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(h)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
#endif

}  // namespace gn
