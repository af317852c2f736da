"""Choice and validation of the Cartesian MPI process grid."""


class DecompositionError(ValueError):
    """The lattice cannot be split over the requested process grid (raised identically on every rank)."""
    collective = True


def _prime_factors(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return sorted(out, reverse=True)


def parse_mpi(spec):
    """'1.1.2.2' (or '1,1,2,2', or a sequence) -> (Px, Py, Pz, Pt)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        parts = spec.replace(",", ".").split(".")
        try:
            grid = tuple(int(p) for p in parts)
        except ValueError:
            raise DecompositionError(f"process grid {spec!r} is not of the form Px.Py.Pz.Pt") from None
    else:
        grid = tuple(int(p) for p in spec)
    if len(grid) != 4 or min(grid) < 1:
        raise DecompositionError(f"process grid {spec!r} must have four positive entries (Px, Py, Pz, Pt)")
    return grid


def check_decomposition(dims, grid, min_local=2):
    """Raise DecompositionError naming the first problem; same answer on every rank.
    min_local=2: fine lattices (local extents even and >= 2); min_local=1: coarse lattices (any extent)."""
    names = "xyzt"
    for mu in range(4):
        L, P = dims[mu], grid[mu]
        if L % P:
            raise DecompositionError(
                f"lattice extent L{names[mu]}={L} is not divisible by the {P} ranks of the process grid "
                f"{'.'.join(map(str, grid))} in direction {names[mu]}")
        loc = L // P
        if loc < min_local or (min_local > 1 and loc % 2):
            raise DecompositionError(
                f"local extent {loc} in direction {names[mu]} (L{names[mu]}={L} over {P} ranks) must be even and "
                f"at least {min_local}")


def auto_grid(dims, nranks, min_local=2):
    """Split `nranks` over the lattice like MPI_Dims_create, preferring t, then z, y, x:
    each prime factor (largest first) goes to the direction with the largest local extent that
    stays even and >= min_local, ties broken in the order t, z, y, x."""
    grid = [1, 1, 1, 1]
    for p in _prime_factors(nranks):
        best = None
        for mu in (3, 2, 1, 0):
            loc = dims[mu] // grid[mu]
            if loc % p == 0 and (loc // p) >= min_local and (min_local == 1 or (loc // p) % 2 == 0):
                if best is None or loc > dims[best] // grid[best]:
                    best = mu
        if best is None:
            raise DecompositionError(
                f"cannot split lattice {'x'.join(map(str, dims))} over {nranks} ranks with even local extents "
                f">= {min_local}; give a process grid explicitly (--mpi Px.Py.Pz.Pt) or use fewer ranks")
        grid[best] *= p
    return tuple(grid)
