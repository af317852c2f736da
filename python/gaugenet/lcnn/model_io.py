"""L-CNN model descriptions: layer specs (JSON-able dicts) <-> layers, a one-line text form for configuration
files, and HDF5 files with the description and the weights (h5py).

Text form: layers separated by ';', each a name and its arguments, e.g.
    "plaq; conv 12 12 2 +id; bilin 12 12 8; conv 8 8 2 +id; bilin 8 8 1; trace 1"
    plaq                        Plaq (12 channels)
    poly                        Poly (4 channels)
    id C                        Identity
    conv CIN COUT K [+id] [+unit]   LConv; +id: Parallel(LConv, Identity(CIN)) (COUT + CIN channels out)
    bilin CLEFT CRIGHT COUT     LBilin
    act C relu|tanh             LAct
    exp C                       LExp
    trace C [NOUT] [sum|mean]   Trace
"""
import json

import numpy as np

from .compose import Parallel, Sequence
from .layers import Identity, LAct, LBilin, LConv, LExp, Plaq, Poly, Trace

FORMAT = "gaugenet-lcnn"
VERSION = 1
LAYER_TYPES = ("Plaq", "Poly", "Identity", "LConv", "LBilin", "LAct", "LExp", "Trace", "Sequence", "Parallel")
TEXT_NAMES = ("plaq", "poly", "id", "conv", "bilin", "act", "exp", "trace")


def from_spec(spec):
    """A layer (or container) from its spec dict."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"a layer description must be a dict with a 'type', got {spec!r}")
    t = spec["type"]
    a = {k: v for k, v in spec.items() if k != "type"}
    if t == "Plaq":
        return Plaq()
    if t == "Poly":
        return Poly()
    if t == "Identity":
        return Identity(a["c"])
    if t == "LConv":
        return LConv(a["c_in"], a["c_out"], a.get("K", 2), a.get("unit", False))
    if t == "LBilin":
        return LBilin(a["c_left"], a["c_right"], a["c_out"])
    if t == "LAct":
        return LAct(a["c"], a.get("kind", "relu"))
    if t == "LExp":
        return LExp(a["c"])
    if t == "Trace":
        return Trace(a["c"], a.get("n_out", 1), a.get("reduce"))
    if t == "Sequence":
        return Sequence(*[from_spec(s) for s in a["layers"]], N=a.get("N"))
    if t == "Parallel":
        return Parallel(*[from_spec(s) for s in a["branches"]])
    raise ValueError(f"unknown layer {t!r} (known: {', '.join(LAYER_TYPES)})")


def _ints(name, args, n, text):
    try:
        vals = [int(x) for x in args[:n]]
    except ValueError:
        raise ValueError(f"network: layer '{text}': {name} takes {n} integer arguments")
    if len(vals) != n:
        raise ValueError(f"network: layer '{text}': {name} takes {n} integer arguments")
    return vals


def parse_network(text, N=None):
    """A Sequence from the text form (module docstring)."""
    layers = []
    for part in str(text).split(";"):
        tok = part.split()
        if not tok:
            continue
        name, args = tok[0].lower(), tok[1:]
        flags = {a for a in args if a.startswith("+")}
        args = [a for a in args if not a.startswith("+")]
        if name == "plaq":
            layers.append(Plaq())
        elif name == "poly":
            layers.append(Poly())
        elif name == "id":
            layers.append(Identity(*_ints(name, args, 1, part.strip())))
        elif name == "conv":
            unknown = flags - {"+id", "+unit"}
            if unknown:
                raise ValueError(f"network: layer '{part.strip()}': unknown option(s) {sorted(unknown)} "
                                 f"(known: +id, +unit)")
            cin, cout, K = _ints(name, args, 3, part.strip())
            conv = LConv(cin, cout, K, unit="+unit" in flags)
            layers.append(Parallel(conv, Identity(cin)) if "+id" in flags else conv)
        elif name == "bilin":
            layers.append(LBilin(*_ints(name, args, 3, part.strip())))
        elif name == "act":
            c = _ints(name, args, 1, part.strip())[0]
            layers.append(LAct(c, args[1] if len(args) > 1 else "relu"))
        elif name == "exp":
            layers.append(LExp(*_ints(name, args, 1, part.strip())))
        elif name == "trace":
            reduce = None
            if args and args[-1] in ("sum", "mean"):
                reduce = args.pop()
            c = _ints(name, args, 1, part.strip())[0]
            n_out = int(args[1]) if len(args) > 1 else 1
            layers.append(Trace(c, n_out, reduce))
        else:
            raise ValueError(f"unknown layer {tok[0]!r} in network '{text}' (known: {', '.join(TEXT_NAMES)})")
    if not layers:
        raise ValueError("network: no layers given")
    return Sequence(*layers, N=N)


def save_model(path, model, weights, meta=None):
    """Write the model description (JSON in the attribute 'spec'), its gauge group N and the weights to an HDF5
    file (rank 0 writes; every rank returns after the file is complete)."""
    import h5py

    from mpi4py import MPI

    from ..util.atomic import commit, temp_name
    comm = MPI.COMM_WORLD
    weights = model.check(weights) if hasattr(model, "check") else weights
    if len(weights) != len(model.weight_shapes):
        raise ValueError(f"save_model: {len(weights)} weight arrays for a model with {len(model.weight_shapes)}")
    err = None
    if comm.Get_rank() == 0:
        try:
            tmp = temp_name(path)
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["version"] = VERSION
                f.attrs["spec"] = json.dumps(model.spec())
                f.attrs["N"] = -1 if getattr(model, "N", None) is None else int(model.N)
                if meta is not None:
                    f.attrs["meta"] = json.dumps(meta)
                g = f.create_group("weights")
                for i, w in enumerate(weights):
                    g.create_dataset(f"{i:04d}", data=np.asarray(w))
            commit(tmp, path)
        except Exception as exc:   # reported on every rank
            err = f"{type(exc).__name__}: {exc}"
    err = comm.bcast(err, root=0)
    if err is not None:
        e = OSError(f"save_model: cannot write {path}: {err}")
        e.collective = True
        raise e


def load_model(path, N=None):
    """(model, weights) from an HDF5 file of save_model; with N given, a file for another gauge group is an
    error."""
    import h5py
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    res = None
    if comm.Get_rank() == 0:
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise ValueError(f"{path} is not a gaugenet L-CNN model file (format {f.attrs.get('format')!r})")
                spec = json.loads(f.attrs["spec"])
                g = f["weights"]
                ws = [np.array(g[k]) for k in sorted(g.keys())]
                res = ("ok", spec, ws)
        except Exception as exc:
            res = ("err", f"{type(exc).__name__}: {exc}", None)
    res = comm.bcast(res, root=0)
    if res[0] == "err":
        e = ValueError(f"load_model: cannot read {path}: {res[1]}")
        e.collective = True
        raise e
    try:
        model = from_spec(res[1])
        model.check(res[2])
        if N is not None and getattr(model, "N", None) is not None and model.N != int(N):
            raise ValueError(f"the model file {path} is for SU({model.N}), not SU({N})")
    except ValueError as exc:
        exc.collective = True
        raise
    return model, [np.array(w) for w in res[2]]
