"""Flop counts and the minimal-traffic model of the benchmark suite.

Flops per site follow the conventions of the field (stated in the output): Wilson hopping term
128 N^2 + 56 N (1320 for SU(3): 8 spin-projected hops with two SU(3) matrix-vector products each,
projections and the accumulation), Wilson-clover that plus 64 N^2 + 8 N (1920 for SU(3)), staggered
hopping term 8 (8 N^2 - 2 N) + 7 (2 N) (570 for SU(3), the MILC count). Layers count 8 flops per
complex multiply-add (their own flops_per_site). All per right-hand side.

Bytes per site: every input read once and every output written once (links, clover blocks and
weights included, halo and neighbour tables not); the STREAM triad counts 3 x 8 bytes per element
the same way, so a kernel's roofline fraction = its GB/s under this model / the triad's GB/s with
the same ranks and threads.
"""

TRAFFIC_MODEL = (
    "minimal traffic: each input (links, clover blocks, per-site weights, the input field) read once and "
    "each output written once per call; neighbour tables, site lists, halos and global weights are not "
    "counted; the STREAM triad a = b + s c counts 3 x itemsize per element (no write-allocate traffic "
    "for either). roofline_fraction = gbytes_per_s / stream_triad_gbytes_per_s measured in the same run "
    "with the same ranks and threads per rank.")

FLOP_CONVENTIONS = {
    "wilson_hop": "128 N^2 + 56 N per site and right-hand side (1320 for SU(3))",
    "wilson_clover": "Wilson hop + 64 N^2 + 8 N (1920 for SU(3), the issue's convention)",
    "wilson_evenodd": "per site of the full lattice: two half-lattice hops (128 N^2 + 56 N) + the site term "
                      "16 N (1368 for SU(3))",
    "wilson_clover_evenodd": "per site of the full lattice: two half-lattice hops, one clover product (inverse "
                             "on one parity, the blocks on the other) and 16 N (1968 for SU(3))",
    "staggered": "8 (8 N^2 - 2 N) + 14 N per site (570 for SU(3), the MILC Dslash count)",
    "staggered_evenodd": "per site of the full lattice: two half-lattice hops (8 (8 N^2 - 2 N) + 14 N) + the mass "
                         "term N (573 for SU(3))",
    "onehop": "8 flops per complex multiply-add: 8 hops x nin x 4 N^2 (links) + 9 x nout nin 16 N (spin matrices)",
    "ptc": "the layer's flops_per_site() (8 flops per complex multiply-add)",
    "block_project": "8 n_basis 4 N per fine site and right-hand side",
    "block_promote": "8 n_basis 4 N per fine site and right-hand side",
    "coarse_operator": "8 x 9 n^2 per coarse site and right-hand side",
}


def complex_bytes(precision):
    return 16 if precision == "double" else 8


def flops_per_site(kernel, N=3, nin=1, nout=1):
    if kernel == "wilson_hop":
        return 128 * N * N + 56 * N
    if kernel == "wilson_clover":
        return 128 * N * N + 56 * N + 64 * N * N + 8 * N
    if kernel == "wilson_evenodd":
        return 128 * N * N + 56 * N + 16 * N
    if kernel == "wilson_clover_evenodd":
        return 128 * N * N + 56 * N + 64 * N * N + 8 * N + 16 * N
    if kernel == "staggered":
        return 8 * (8 * N * N - 2 * N) + 7 * 2 * N
    if kernel == "staggered_evenodd":
        return 8 * (8 * N * N - 2 * N) + 7 * 2 * N + N
    if kernel == "onehop":
        return 8 * (8 * nin * 4 * N * N + 9 * nout * nin * 16 * N)
    raise KeyError(kernel)


def bytes_per_site(kernel, precision, N=3, nvec=1, nin=1, nout=1, n_basis=12, block=16, hermitian_clover=False,
                   link_rows=None, doubled_links=False):
    """Minimal traffic per (fine) site and call. hermitian_clover: the clover blocks stored as their diagonal
    and upper triangle (the packed layout), 4 N^2 complex numbers' worth per site instead of 8 N^2.
    link_rows: rows of each link stored and read (2 for SU(3) links whose third row the kernel rebuilds);
    default all N. doubled_links: the backward links stored again with every site (Grid's doubled gauge field):
    eight links read per site instead of four."""
    c = complex_bytes(precision)
    links = (8 if doubled_links else 4) * N * (N if link_rows is None else link_rows)
    if kernel == "wilson_hop":
        return c * (links + 2 * 4 * N * nvec)
    if kernel == "wilson_clover":
        return c * (links + (4 if hermitian_clover else 8) * N * N + 2 * 4 * N * nvec)
    if kernel == "wilson_evenodd":  # per full-lattice site: each half hop reads all links; half-field passes
        return c * (2 * links + 3.5 * 4 * N * nvec)   # hops 2 x (in + out) / 2, site term (2 in + out) / 2
    if kernel == "wilson_clover_evenodd":  # + both parities' clover blocks, the two clover passes
        return c * (2 * links + 8 * N * N + 5.5 * 4 * N * nvec)
    if kernel == "staggered":
        return c * (links + 2 * N * nvec)
    if kernel == "staggered_evenodd":  # per full-lattice site: each half hop reads all links; half-field passes
        return c * (2 * links + 3.5 * N * nvec)   # hops (in + out) / 2 and (in + 2 out) / 2, mass term (in + out) / 2
    if kernel in ("onehop", "ptc_forward"):
        return c * (links + 4 * N * (nin + nout) * nvec)
    if kernel == "ptc_backward":  # reads left (nout) and phi (nin), writes dphi (nin)
        return c * (links + 4 * N * (2 * nin + nout) * nvec)
    if kernel == "lptc_forward":
        return c * (links + 4 * N * (nin + nout) * nvec + 9 * nin * nout * 16)
    if kernel == "lptc_backward":  # + writes the per-site weight gradient
        return c * (links + 4 * N * (2 * nin + nout) * nvec + 2 * 9 * nin * nout * 16)
    if kernel in ("block_project", "block_promote"):  # fine field, basis, coarse field (per fine site)
        return c * (4 * N * nvec + n_basis * 4 * N + n_basis * nvec / block)
    if kernel == "coarse_operator":  # per coarse site
        return c * (9 * n_basis * n_basis + 2 * n_basis * nvec)
    if kernel == "stout_forward":  # reads U, writes U'
        return c * 2 * links
    if kernel == "stout_backward":  # reads U, the force, writes the thin-link force
        return c * 3 * links
    raise KeyError(kernel)
