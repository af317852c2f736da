"""Shared test helpers. Tests marked `mpi` also run under `mpiexec -n 2` and `-n 4`
(jobs/local/test.sh); they must pass for any communicator size 1, 2, 4."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as gaugenet sets it when imported first (see its __init__)
import numpy as np  # noqa: E402
import pytest
from mpi4py import MPI

import gaugenet as gn

COMM = MPI.COMM_WORLD
NRANKS = COMM.Get_size()
# where the gaugenet under test was imported from (the installed package in CI, the source tree in a developer
# build): subprocesses put it first on PYTHONPATH so that they run the same package
GAUGENET_PATH = os.path.dirname(os.path.dirname(os.path.abspath(gn.__file__)))

# process grids per communicator size: split along one axis, along two, and others
GRIDS = {
    1: [(1, 1, 1, 1)],
    2: [(1, 1, 1, 2), (2, 1, 1, 1), (1, 2, 1, 1), (1, 1, 2, 1)],
    4: [(1, 1, 1, 4), (1, 1, 2, 2), (2, 2, 1, 1), (2, 1, 1, 2), (1, 2, 2, 1)],
}


def grids(dims=None):
    """Process grids for this communicator size that divide `dims` into even local extents >= 2."""
    out = []
    for g in GRIDS.get(NRANKS, [None]):
        if g is None:
            out.append(None)
            continue
        if dims is not None and any(dims[m] % g[m] or (dims[m] // g[m]) % 2 or dims[m] // g[m] < 2 for m in range(4)):
            continue
        out.append(g)
    return out


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # under mpiexec only rank 0 reports (a failure on any rank still fails the run through its exit status);
    # GAUGENET_TEST_ALL_RANKS=1 shows every rank's report
    import os
    if COMM.Get_rank() != 0 and not os.environ.get("GAUGENET_TEST_ALL_RANKS"):
        rep = config.pluginmanager.get_plugin("terminalreporter")
        if rep is not None:
            config.pluginmanager.unregister(rep)


@pytest.fixture
def rank():
    return COMM.Get_rank()


def assert_close(a, b, rel=1e-12, what=""):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.abs(b).max(), 1e-300)
    err = np.abs(a - b).max() / scale
    assert err < rel, f"{what}: relative deviation {err:.3e} >= {rel:.1e}"


def random_global(shape, seed, dtype=np.complex128):
    """A global random array identical on every rank."""
    r = np.random.default_rng(seed)
    return (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(dtype)


def random_su_global(dims, N, seed):
    """Global Haar-ish SU(N) links [mu, t, z, y, x, N, N], identical on every rank (numpy only)."""
    z = random_global((4,) + tuple(reversed(dims)) + (N, N), seed)
    q, r = np.linalg.qr(z)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    q = q * (d / np.abs(d))[..., None, :]
    det = np.linalg.det(q)
    return q * (det ** (-1.0 / N))[..., None, None]


# ------------------------------------------------------------------ one-hop kernel variants (SIMD vs site by site)
def hop_simd_available():
    """Whether this build has the eight-sites-per-step one-hop kernels (AVX-512); leaves the variant as it was."""
    from gaugenet._backend import core
    old = core.hop_variant()
    try:
        core.hop_variant("simd")
        return True
    except ValueError:
        return False
    finally:
        core.hop_variant(old)


needs_hop_simd = pytest.mark.skipif(not hop_simd_available(),
                                    reason="this build has no SIMD one-hop kernel (no AVX-512)")


def with_hop_variant(name, fn):
    """fn() with the CPU one-hop kernel variant `name` ("simd" or "generic"), restored afterwards."""
    from gaugenet._backend import core
    old = core.hop_variant()
    core.hop_variant(name)
    try:
        return fn()
    finally:
        core.hop_variant(old)


def assert_hop_variants_agree(st, f, W, site_kwargs, acc0, tol, label):
    """The one-hop stencil st(f, W) with the SIMD and the site-by-site kernel: the same result for each
    site selection in site_kwargs, and when accumulating into a copy of acc0."""
    for kw in site_kwargs:
        a = with_hop_variant("generic", lambda: st(f, W, **kw))
        b = with_hop_variant("simd", lambda: st(f, W, **kw))
        assert_close(b.data, a.data, tol, f"SIMD vs generic {label} {list(kw)}")
    a, b = acc0.copy(), acc0.copy()
    with_hop_variant("generic", lambda: st(f, W, out=a, accumulate=True))
    with_hop_variant("simd", lambda: st(f, W, out=b, accumulate=True))
    assert_close(b.data, a.data, tol, f"SIMD vs generic, accumulate {label}")
