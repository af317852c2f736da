"""Integrated autocorrelation time with automatic windowing (Madras-Sokal, U. Wolff's Gamma method).

For a series a_1 ... a_n with mean abar,

    Gamma(t) = 1/(n - t) sum_{i=1}^{n-t} (a_i - abar)(a_{i+t} - abar),    rho(t) = Gamma(t) / Gamma(0),
    tau_int(W) = 1/2 + sum_{t=1}^{W} rho(t)

(tau_int = 1/2 for independent data; the variance of the mean is 2 tau_int Gamma(0) / n and the number of
independent samples n / (2 tau_int)). The window W is the first t where

    g(t) = exp(-t / tau_W) - tau_W / sqrt(t n) < 0,   tau_W = S / log((2 tau_int(t) + 1) / (2 tau_int(t) - 1))

(Wolff, Comput. Phys. Commun. 156 (2004) 143, S = 1.5 by default; tau_W = S / 1e-300 when tau_int(t) <= 1/2).
The bias of Gamma from the estimated mean is corrected as in Wolff eq. (49): C(W) -> C(W) (1 + (2W + 1)/n).
Error (Madras-Sokal / Wolff eq. (42)): delta tau_int = tau_int sqrt(4 (W + 1/2 - tau_int) / n).
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class AutocorrResult:
    tau_int: float
    tau_int_error: float
    window: int
    mean: float
    error_of_mean: float          # sqrt(2 tau_int Gamma(0) / n)
    n: int
    naive_error: float            # sqrt(Gamma(0) / n)

    def as_dict(self):
        return dict(self.__dict__)


def autocorrelation(a, max_lag=None, mean=None):
    """Gamma(t) for t = 0 .. max_lag (FFT, normalised by n - t), about the series' own mean or `mean`."""
    a = np.asarray(a, dtype=np.float64).ravel()
    n = a.size
    if max_lag is None:
        max_lag = n - 1
    d = a - (a.mean() if mean is None else mean)
    m = 1 << int(math.ceil(math.log2(max(2 * n, 2))))
    f = np.fft.rfft(d, m)
    c = np.fft.irfft(f * np.conj(f), m)[:max_lag + 1]
    return c / (n - np.arange(max_lag + 1))


def tau_int(a, S=1.5):
    """AutocorrResult of the series a (module docstring). Needs at least 10 finite values."""
    a = np.asarray(a, dtype=np.float64).ravel()
    n = a.size
    _check_series(a, n, S, "tau_int", "")
    return _windowed(autocorrelation(a, n // 2), n, float(a.mean()), S)


def _check_series(a, n, S, who, per):
    if n < 10:
        raise ValueError(f"{who}: need at least 10 measurements{per}, got {n}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{who}: the series contains NaN/Inf")
    if not S > 0:
        raise ValueError(f"{who}: the window factor S must be positive, got {S}")


def tau_int_replicas(a, S=1.5):
    """AutocorrResult of R independent replicas a[R, n] of the same Markov chain (e.g. the parallel chains of a
    batched HMC): Gamma(t) is summed over the replicas about the common mean and normalised by R (n - t), then
    windowed as one series of R n measurements (Wolff 2004, sec. 3.3). With R = 1 this is `tau_int`."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"tau_int_replicas: expected a[replicas, n], got shape {a.shape}")
    R, n = a.shape
    _check_series(a, n, S, "tau_int_replicas", " per replica")
    mean = float(a.mean())
    gamma = np.mean([autocorrelation(row, n // 2, mean) for row in a], axis=0)
    return _windowed(gamma, R * n, mean, S)


def _windowed(gamma, n, mean, S):
    """tau_int with Wolff's automatic window from Gamma(0 .. n/2) of n measurements in all."""
    g0 = gamma[0]
    if g0 <= 0:          # a constant series: no fluctuations, nothing is correlated
        return AutocorrResult(0.5, 0.0, 0, mean, 0.0, n, 0.0)
    rho = gamma / g0
    tint = 0.5
    W = len(rho) - 1
    for t in range(1, len(rho)):
        tint += rho[t]
        if tint <= 0.5:
            tau_w = 1e-300
        else:
            tau_w = S / math.log((2 * tint + 1) / (2 * tint - 1))
        g = math.exp(-t / tau_w) - tau_w / math.sqrt(t * n)
        if g < 0:
            W = t
            break
    cw0 = g0 + 2.0 * float(np.sum(gamma[1:W + 1]))
    cw = cw0 * (1.0 + (2 * W + 1) / n)                      # bias of the estimated mean (Gamma(t) += cw0 / n)
    g0c = g0 + cw0 / n
    tint = 0.5 * cw / g0c
    err = tint * math.sqrt(max(4.0 * (W + 0.5 - tint), 0.0) / n)
    return AutocorrResult(float(tint), float(err), int(W), mean, float(math.sqrt(max(cw, 0.0) / n)), n,
                          float(math.sqrt(g0 / n)))
