"""Link-network weights in HDF5 (`python -m gaugenet hmc --save-weights / --load-weights`).

One file holds one network's flat weight vector and what it belongs to:

    attrs  format = "gaugenet-link-network", version = 1
           spec          the network spec as given ("cask", "stout,cask:2", ...)
           layers        the canonical layer list (LinkNetwork(spec).spec, e.g. "cask:3"): what is compared
           N             the gauge group SU(N)
           lattice       the global lattice extents the weights were trained on
           n_weights     the length of `weights`
    data   weights       float64 (n_weights,)

The file is written by one process (rank 0) under a temporary name and renamed over the final name
(gaugenet.util.atomic), so a kill leaves the old file or the new one. Reading checks the format, the
weight count and, when given, the expected network, N and lattice, and raises ValueError naming the
mismatch. `load_weights_collective` reads on rank 0 and hands the weights, or the error, to every rank.
"""
import os

import numpy as np

FORMAT = "gaugenet-link-network"
VERSION = 1


def canonical_spec(spec):
    """The layer list of a network spec ("stout" -> "stout,stout", "cask" -> "cask:3"); ValueError for an
    unknown spec."""
    from .network import LinkNetwork
    return LinkNetwork(spec).spec


def save_weights(path, spec, N, lattice, weights):
    """Write the weights of network `spec` (SU(N), global lattice extents) to `path` atomically. One process."""
    import h5py

    from ..util.atomic import commit, temp_name
    w = np.asarray(weights, dtype=np.float64).ravel()
    layers = canonical_spec(spec)
    from .network import LinkNetwork
    n = LinkNetwork(spec).n_weights
    if w.size != n:
        raise ValueError(f"save_weights: network {spec!r} has {n} weights, got {w.size}")
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise ValueError(f"weight file {path}: cannot make its directory ({e})") from None
    tmp = temp_name(path)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["spec"] = str(spec)
            f.attrs["layers"] = layers
            f.attrs["N"] = int(N)
            f.attrs["lattice"] = np.asarray(lattice, dtype=np.int64)
            f.attrs["n_weights"] = int(w.size)
            f.create_dataset("weights", data=w)
        commit(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_weights(path, spec=None, N=None, lattice=None):
    """The record of a weight file: {spec, layers, N, lattice, weights}. With spec / N / lattice given, a file
    of another network, group or lattice raises ValueError saying which."""
    import h5py
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"weight file {path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"weight file {path}: not an HDF5 file ({e})") from None
    with f:
        if f.attrs.get("format") != FORMAT or "weights" not in f:
            raise ValueError(f"weight file {path}: not a gaugenet link-network weight file "
                             f"(format attribute {f.attrs.get('format')!r})")
        rec = {"spec": str(f.attrs["spec"]), "layers": str(f.attrs["layers"]), "N": int(f.attrs["N"]),
               "lattice": [int(v) for v in f.attrs["lattice"]], "weights": np.array(f["weights"], dtype=np.float64)}
    bad = []
    if rec["weights"].ndim != 1 or not np.all(np.isfinite(rec["weights"])):
        bad.append("the weights are not a finite vector")
    if spec is not None:
        want = canonical_spec(spec)
        if rec["layers"] != want:
            bad.append(f"it holds network {rec['spec']!r} (layers {rec['layers']}), this run uses {spec!r} "
                       f"(layers {want})")
        else:
            from .network import LinkNetwork
            n = LinkNetwork(spec).n_weights
            if rec["weights"].size != n:
                bad.append(f"it holds {rec['weights'].size} weights, network {spec!r} has {n}")
    if N is not None and rec["N"] != int(N):
        bad.append(f"it was trained for SU({rec['N']}), this run is SU({N})")
    if lattice is not None and list(rec["lattice"]) != [int(v) for v in lattice]:
        bad.append(f"it was trained on the lattice {'x'.join(map(str, rec['lattice']))}, this run uses "
                   f"{'x'.join(map(str, lattice))}")
    if bad:
        raise ValueError(f"weight file {path}: " + "; ".join(bad))
    return rec


def load_weights_collective(comm, path, spec=None, N=None, lattice=None):
    """load_weights on rank 0, the result broadcast; a bad file raises the same ValueError on every rank
    (marked collective, so that every rank exits by itself)."""
    rec, err = None, None
    if comm.Get_rank() == 0:
        try:
            rec = load_weights(path, spec=spec, N=N, lattice=lattice)
        except ValueError as e:
            err = str(e)
    rec, err = comm.bcast((rec, err), root=0)
    if err is not None:
        e = ValueError(err)
        e.collective = True
        raise e
    return rec
