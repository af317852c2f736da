"""core.dense_matvec (kernels/dense.h), the product of the exact coarse solve: against numpy in every storage
(complex64, complex128, bfloat16 pairs), several right-hand sides, sizes with and without a SIMD tail, the same
bits for any thread count, and clear errors."""
import numpy as np
import pytest

from gaugenet._backend import core
from gaugenet.coarse.bf16 import from_bf16, to_bf16

pytestmark = pytest.mark.skipif(not hasattr(core, "dense_matvec"), reason="no dense_matvec in this build")


def _case(m, n, r, dtype, seed=0):
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((m, n)) + 1j * rng.standard_normal((m, n))).astype(dtype)
    x = (rng.standard_normal((r, n)) + 1j * rng.standard_normal((r, n))).astype(dtype)
    return A, x


def _run(A, x, m, n, r, dtype):
    y = np.empty((r, m), dtype=dtype)
    core.dense_matvec(A, x, y, m, n, r)
    return y


@pytest.mark.parametrize("m,n,r", [(1, 1, 1), (7, 5, 2), (48, 48, 1), (40, 37, 3), (300, 123, 1)])
@pytest.mark.parametrize("dtype,tol", [(np.complex128, 1e-13), (np.complex64, 2e-6)])
def test_against_numpy(m, n, r, dtype, tol):
    A, x = _case(m, n, r, dtype)
    y = _run(A, x, m, n, r, dtype)
    ref = (A.astype(np.complex128) @ x.astype(np.complex128).T).T
    assert np.abs(y - ref).max() <= tol * np.sqrt(n) * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("m,n,r", [(9, 20, 1), (64, 100, 2)])
def test_bf16_storage(m, n, r):
    """bfloat16 A: the product of the widened entries (float accumulation), ~3 digits of the float product."""
    A, x = _case(m, n, r, np.complex64, seed=1)
    A16 = to_bf16(A.view(np.float32)).reshape(m, 2 * n)
    y = _run(A16, x, m, n, r, np.complex64)
    wide = from_bf16(A16).reshape(m, 2 * n).view(np.complex64).astype(np.complex128)
    ref = (wide @ x.astype(np.complex128).T).T
    assert np.abs(y - ref).max() <= 2e-6 * np.sqrt(n) * np.abs(ref).max()
    exact = (A.astype(np.complex128) @ x.astype(np.complex128).T).T
    assert np.abs(y - exact).max() <= 2e-2 * np.abs(exact).max()


def test_thread_count_does_not_change_bits():
    A, x = _case(2000, 300, 2, np.complex64, seed=2)   # large enough for the OpenMP loop
    old = core.max_threads()
    try:
        core.set_num_threads(1)
        y1 = _run(A, x, 2000, 300, 2, np.complex64)
        core.set_num_threads(2)
        y2 = _run(A, x, 2000, 300, 2, np.complex64)
    finally:
        core.set_num_threads(old)
    assert np.array_equal(y1, y2)


def test_errors():
    A, x = _case(4, 3, 1, np.complex64)
    y = np.empty((1, 4), np.complex64)
    with pytest.raises(ValueError, match="A does not hold"):
        core.dense_matvec(A, x, y, 4, 4, 1)
    with pytest.raises(ValueError, match="r x n"):
        core.dense_matvec(A, x, y, 4, 3, 2)
    with pytest.raises(ValueError, match="differ in precision"):
        core.dense_matvec(A, x.astype(np.complex128), y, 4, 3, 1)
    with pytest.raises(ValueError, match="bfloat16"):
        core.dense_matvec(A.astype(np.complex128), x, y, 4, 3, 1)
    with pytest.raises(ValueError, match="bfloat16"):
        core.dense_matvec(np.zeros((4, 6), np.uint16), x.astype(np.complex128), y.astype(np.complex128), 4, 3, 1)
