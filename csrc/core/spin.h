// Gamma matrices of shared/CONVENTIONS.md (Grid/GPT chiral basis) in sparse form:
// row s of gamma_mu has a single entry i^{gamma_phase[mu][s]} in column gamma_col[mu][s].
#pragma once
#include "core/complex.h"

namespace gn {

// columns
constexpr int gamma_col[4][4] = {
    {3, 2, 1, 0},  // g_x
    {3, 2, 1, 0},  // g_y
    {2, 3, 0, 1},  // g_z
    {2, 3, 0, 1},  // g_t
};
// entry = i^phase
constexpr int gamma_phase[4][4] = {
    {1, 1, 3, 3},  // g_x: i, i, -i, -i
    {2, 0, 0, 2},  // g_y: -1, 1, 1, -1
    {1, 3, 3, 1},  // g_z: i, -i, -i, i
    {0, 0, 0, 0},  // g_t: 1, 1, 1, 1
};

// (1 + sign * gamma_mu) psi has rank 2: it is fixed by its upper components
//   h_s = psi_s + sign * i^{ph[s]} psi_{col[s]}, s = 0, 1,
// and its lower components are r_s = sign * i^{ph[s]} h_{col[s]}, s = 2, 3
// (because gamma (1 + sign gamma) = sign (1 + sign gamma)).
template <int mu, int sign, int s, class T>
GN_HD cx<T> proj_upper(const cx<T> *psi_s, const cx<T> *psi_col) {
  // psi_s[c] + sign * i^ph * psi_col[c] for one colour (pointers to a colour entry)
  constexpr int ph = gamma_phase[mu][s] + (sign < 0 ? 2 : 0);
  cx<T> t = times_ipow<ph>(*psi_col);
  return *psi_s + t;
}

template <int mu, int sign, int s, class T>
GN_HD cx<T> recon_lower(cx<T> h_col) {
  constexpr int ph = gamma_phase[mu][s] + (sign < 0 ? 2 : 0);
  return times_ipow<ph>(h_col);
}

}  // namespace gn
