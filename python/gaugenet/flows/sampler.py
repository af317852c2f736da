"""Using a trained flow: effective sample size, reweighting, the independence Metropolis sampler, and
Gamma-method errors of derived quantities (gaugenet.hmc.autocorr for the windowing).

Log-weights of model samples: log w(phi) = -S(phi) - log q(phi) (up to the unknown constant log Z).

* ESS = (sum w)^2 / (N sum w^2) = 1 / <w^2> with the weights normalised to <w> = 1 (shared/CONVENTIONS.md
  "Flows"); 1 for a perfect model, about 1/N when one sample dominates.
* Reweighting: <O> = sum w O / sum w over independent model samples.
* Independence Metropolis: the proposal phi' ~ q does not depend on the current phi, and is accepted with
  min(1, w(phi') / w(phi)); the chain samples exp(-S) exactly for any model whose density is positive
  everywhere (an affine flow of a Gaussian is).
"""
import math

import numpy as np

from ..hmc.autocorr import tau_int


def _normalised(logw):
    logw = np.asarray(logw, dtype=np.float64).ravel()
    if logw.size == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(logw)):
        raise ValueError("the log-weights contain NaN/Inf (a diverging flow?)")
    w = np.exp(logw - logw.max())
    return w / w.mean()


def ess(logw):
    """ESS = (sum w)^2 / (N sum w^2) of the log-weights."""
    w = _normalised(logw)
    return float(1.0 / np.mean(w * w))


def ess_with_error(logw, blocks=20):
    """(ESS, jackknife error over `blocks` blocks of the independent samples)."""
    logw = np.asarray(logw, dtype=np.float64).ravel()
    n = logw.size
    value = ess(logw)
    nb = min(int(blocks), n)
    if nb < 2:
        return value, float("nan")
    w = np.exp(logw - logw.max())
    edges = np.linspace(0, n, nb + 1).astype(int)
    s1 = np.array([w[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])
    s2 = np.array([(w[a:b] ** 2).sum() for a, b in zip(edges[:-1], edges[1:])])
    cnt = np.diff(edges)
    loo = [(s1.sum() - s1[i]) ** 2 / ((n - cnt[i]) * (s2.sum() - s2[i])) for i in range(nb)]
    loo = np.array(loo)
    err = math.sqrt((nb - 1) / nb * np.sum((loo - loo.mean()) ** 2))
    return value, float(err)


def reweight(obs, logw):
    """(<O>, error) of independent model samples reweighted to exp(-S): the ratio estimator with its
    delta-method error."""
    w = _normalised(logw)
    o = np.asarray(obs, dtype=np.float64).ravel()
    if o.size != w.size:
        raise ValueError(f"reweight: {o.size} observations but {w.size} weights")
    mean = float(np.sum(w * o) / np.sum(w))
    n = o.size
    err = math.sqrt(np.sum((w * (o - mean)) ** 2)) / np.sum(w) if n > 1 else float("nan")
    return mean, float(err)


def independence_metropolis(logw, rng):
    """Indices of the chain's states into the proposals (proposal 0 starts the chain, accepted) and the
    acceptance rate over the remaining n - 1 proposals."""
    logw = np.asarray(logw, dtype=np.float64).ravel()
    if not np.all(np.isfinite(logw)):
        raise ValueError("independence Metropolis: the log-weights contain NaN/Inf (a diverging flow?)")
    n = logw.size
    log_u = np.log(rng.random(n))
    idx = np.empty(n, dtype=np.int64)
    cur = 0
    idx[0] = 0
    acc = 0
    for i in range(1, n):
        if log_u[i] < logw[i] - logw[cur]:
            cur = i
            acc += 1
        idx[i] = cur
    return idx, acc / max(n - 1, 1)


def gamma_error(series, func=None, grad=None, S=1.5):
    """Gamma-method estimate of f(<a_1>, ..., <a_k>) from a Markov chain of primaries series[n, k]
    (or a 1-D series for f = identity): (value, error, tau_int, tau_int_error). The error of a derived
    quantity comes from the projected series sum_j df/d<a_j> a_j (Wolff 2004, sec. 3)."""
    a = np.asarray(series, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    means = a.mean(axis=0)
    if func is None:
        value, g = float(means[0]), np.array([1.0])
    else:
        value = float(func(means))
        g = np.asarray(grad(means), dtype=np.float64)
    r = tau_int(a @ g, S=S)
    return value, r.error_of_mean, r.tau_int, r.tau_int_error


def measure_chain(prim, shape):
    """Observables with Gamma-method errors from a chain's primaries (gaugenet.flows.phi4.primary_series) on
    an L0 x L1 lattice: {name: {"value", "error", "tau_int", "tau_int_error"}} for m (= <M>/V), abs_m
    (<|M|>/V), chi and the list G(t) (connected, seed 003's definitions)."""
    m, m2, g = prim["m"], prim["m2"], prim["g"]
    vol = float(shape[0] * shape[1])
    l1 = float(shape[1])
    out = {}

    def put(name, res):
        out[name] = dict(zip(("value", "error", "tau_int", "tau_int_error"), (float(x) for x in res)))

    put("m", gamma_error(m))
    put("abs_m", gamma_error(prim["abs_m"]))
    # chi = <M^2>/V - V <M/V>^2; the series m2 holds M^2/V and m holds M/V
    put("chi", gamma_error(np.stack([m2, m], axis=1), lambda x: x[0] - vol * x[1] ** 2,
                           lambda x: np.array([1.0, -2.0 * vol * x[1]])))
    gt = []
    for t in range(g.shape[1]):
        v, e, ti, te = gamma_error(np.stack([g[:, t], m], axis=1), lambda x: x[0] - l1 * x[1] ** 2,
                                   lambda x: np.array([1.0, -2.0 * l1 * x[1]]))
        gt.append({"t": t, "value": v, "error": e, "tau_int": ti})
    out["G"] = gt
    return out
