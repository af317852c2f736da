"""Flow weights in HDF5 (h5py): the architecture and the couplings it was trained for as attributes, the
weight arrays as datasets weights/000, weights/001, ... in the order of Flow.weight_shapes. The file is
written under a temporary name in the same directory and renamed when complete."""
import os

import numpy as np

FORMAT = "gaugenet-flow-affine-checkerboard"
VERSION = 1


def save_flow(path, flow, weights, theory, lattice, extra=None):
    weights = flow.split(weights)   # checks the shapes
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{os.path.basename(path)}.part{os.getpid()}")
    try:
        _write(tmp, flow, weights, theory, lattice, extra)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write(path, flow, weights, theory, lattice, extra):
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["theory"] = theory.name
        for k, v in theory.couplings().items():
            f.attrs[k] = v
        f.attrs["trained_lattice"] = np.asarray(lattice, dtype=np.int64)
        for k in ("n_layers", "hidden", "kernel", "depth"):
            f.attrs[k] = int(getattr(flow, k))
        f.attrs["z2"] = bool(flow.z2)
        f.attrs["n_parameters"] = int(flow.n_parameters)
        for k, v in (extra or {}).items():
            f.attrs[k] = v
        g = f.create_group("weights")
        i = 0
        for layer_w in weights:
            for w in layer_w:
                g.create_dataset(f"{i:03d}", data=np.asarray(w, dtype=np.float64))
                i += 1


def load_flow(path):
    """(Flow, weights, attributes) from a file written by save_flow; a file of another format is a ValueError."""
    import h5py
    from .coupling import Flow
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"cannot read the flow model {path}: {exc}") from None
    with f:
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
        if attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not a gaugenet flow model (format {attrs.get('format')!r}, expected "
                             f"{FORMAT!r})")
        flow = Flow(int(attrs["n_layers"]), int(attrs["hidden"]), int(attrs["kernel"]), int(attrs["depth"]),
                    bool(attrs.get("z2", False)))
        names = sorted(f["weights"].keys())
        weights = [np.array(f["weights"][n]) for n in names]
    flow.split(weights)   # shape check against the architecture
    return flow, weights, attrs
