"""Features on the batch axis of a FermionField: index r * n_feat + f (right-hand side outermost,
feature innermost), the layout of the (L)PTC layers (gaugenet.ml.ptc)."""
import numpy as np


def _per_rhs(f, n_feat):
    d = f.data
    lat = f.lat
    core = d.shape[-2:]
    return d.reshape(lat.local_shape + (-1, n_feat) + core)


def join_features(fields):
    """Fields with nrhs vectors each (batched or not) -> one field with nrhs * len(fields) vectors,
    feature i of right-hand side r at r * len(fields) + i."""
    xp = fields[0].xp
    lat = fields[0].lat
    core = fields[0].data.shape[-2:]
    parts = [f.data.reshape(lat.local_shape + (-1,) + core) for f in fields]
    nrhs = parts[0].shape[4]
    if any(p.shape != parts[0].shape for p in parts):
        raise ValueError("join_features: the fields must hold the same number of right-hand sides")
    out = xp.stack(parts, axis=5).reshape(lat.local_shape + (nrhs * len(fields),) + core)
    return fields[0]._new(xp.ascontiguousarray(out))


def split_features(f, n_feat, batched=None):
    """Inverse of join_features: a list of n_feat fields with nrhs vectors each (without a batch
    axis when nrhs = 1, unless batched=True)."""
    a = _per_rhs(f, n_feat)
    nrhs = a.shape[4]
    keep = (nrhs > 1) if batched is None else batched
    out = []
    for i in range(n_feat):
        part = a[..., i, :, :]
        if not keep:
            part = part[..., 0, :, :]
        out.append(f._new(np.ascontiguousarray(part) if f.xp is np else f.xp.ascontiguousarray(part)))
    return out
