"""The gauge-file exception and the collective helpers that raise it on every rank.

Every check on a file (header, size, checksum, plaquette, ...) either passes on all ranks or
raises the same GaugeFileError on all ranks, so that a bad file never leaves a rank waiting
in a collective.
"""
import os


class GaugeFileError(ValueError):
    """A gauge or field file failed a check: `path`, `check` (e.g. 'checksum', 'size') and `detail`.

    Raised identically on every rank (collective = True)."""
    collective = True

    def __init__(self, path, check, detail):
        self.path = os.fspath(path)
        self.check = check
        self.detail = detail
        super().__init__(f"{self.path}: {check} check failed: {detail}")

    def __reduce__(self):
        return (type(self), (self.path, self.check, self.detail))


def _as_error(exc, path, check):
    if isinstance(exc, GaugeFileError):
        return (exc.path, exc.check, exc.detail)
    if isinstance(exc, OSError):
        return (os.fspath(path), check if check != "parse" else "open/read", f"{type(exc).__name__}: {exc}")
    return (os.fspath(path), check, f"{type(exc).__name__}: {exc}")


def on_root(comm, path, fn, check="parse"):
    """Run fn() on rank 0 of `comm` and broadcast its (small, picklable) result.

    Any exception on rank 0 becomes a GaugeFileError raised on every rank."""
    res = err = None
    if comm.Get_rank() == 0:
        try:
            res = fn()
        except Exception as exc:  # noqa: BLE001 - every failure must reach the other ranks
            err = _as_error(exc, path, check)
    res, err = comm.bcast((res, err), root=0)
    if err is not None:
        raise GaugeFileError(*err)
    return res


def everywhere(comm, path, fn, check):
    """Run fn() on every rank; if it fails anywhere, raise a GaugeFileError on all ranks
    (the first failing rank's message, naming that rank when there are several)."""
    res = err = None
    try:
        res = fn()
    except Exception as exc:  # noqa: BLE001
        err = _as_error(exc, path, check)
    errs = comm.allgather(err)
    for r, e in enumerate(errs):
        if e is not None:
            detail = e[2] + (f" (on rank {r})" if comm.Get_size() > 1 else "")
            raise GaugeFileError(e[0], e[1], detail)
    return res


def require(comm, path, ok, check, detail):
    """Collective assertion with identical inputs on every rank (decided on rank 0)."""
    ok = comm.bcast(bool(ok), root=0)
    if not ok:
        raise GaugeFileError(path, check, comm.bcast(detail, root=0))


def serialised(comm, path, fn, check="write"):
    """Let every rank run fn() in turn (rank order, one at a time), e.g. to write its own part of
    a shared file without parallel I/O libraries; errors are collected and raised on all ranks."""
    err = None
    for r in range(comm.Get_size()):
        if r == comm.Get_rank():
            try:
                fn()
            except Exception as exc:  # noqa: BLE001
                err = _as_error(exc, path, check)
        comm.Barrier()
    errs = comm.allgather(err)
    for r, e in enumerate(errs):
        if e is not None:
            raise GaugeFileError(e[0], e[1], e[2] + (f" (on rank {r})" if comm.Get_size() > 1 else ""))
