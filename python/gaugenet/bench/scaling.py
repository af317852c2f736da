"""Scaling past one machine, on paper (issue 21): a performance model of the Wilson-clover operator and of an
FGMRES iteration on 1 ... 1024 nodes, built from what is measured on this machine.

Inputs
  * compute: seconds per lattice site of one application of the Wilson-clover operator on one node (all its
    cores working, one process), as a function of the sites per node (log-log interpolation between the measured
    local volumes, clamped outside them: small volumes run from the caches); likewise for one FGMRES iteration
    (operator + classical Gram-Schmidt, measured as the difference of two unpreconditioned FGMRES runs of 5 and 25
    iterations with restart length 30). Another node than the measured one computes `node_stream_gbs / the
    measured STREAM triad` times faster (the operator is memory bound; --node-memory-bandwidth), or
    `cores_per_node / measured cores` times (linear in the cores, optimistic unless memory bandwidth grows with
    them; --cores-per-node); by default a node is this machine.
  * halo: the bytes a depth-1 exchange of the input spinor ships per face site, counted from the real packing
    (lattice/halo.py sends the rows of the (V, 4 N nvec) spinor array: full four-spinors, no spin projection):
    4 N nvec x 16 bytes in double, x 8 in single (192 / 96 bytes for SU(3)); two messages per partitioned
    direction and rank (forward and backward face), one exchange per operator application.
  * network: bandwidth per node (one NIC shared by the node's messages, full duplex: the bytes a node sends),
    latency per message; the exchanges between ranks of one node use a shared-memory "network" of their own.
    Defaults: HDR InfiniBand (200 Gb/s = 25 GB/s per node, 1.5 us per message, one port per node).

Model (Hockney, per node and exchange; every message pays its latency, messages of a node serialise on its NIC)
    t_comp(n)  = s(V_node) V_node / speed,                     V_node = V / n sites per node
    t_comm(n)  = M_off alpha + B_off / beta + M_on alpha_shm + B_on / beta_shm
    no overlap : t = t_comp + t_comm          (what the code does on one node: lattice.halo_overlap 'auto')
    overlap    : t = max(t_comp, t_comm)      (what the code does when a neighbour is on another node)
    zero-boundary-link mode: t_comm = 0 (no halo is exchanged; the operator with the rank-crossing links zeroed is
    a different operator, usable only inside a preconditioner, never as the operator being solved)
    FGMRES iteration: t = t_comp,iter + E t_comm + k t_allreduce,  t_allreduce = ceil(log2 n) alpha
                      + ceil(log2 r) alpha_shm (latency-bound tree, r ranks per node), k = 2 (fgmres.py: one fused
                      reduction for the projections and |w|^2, one for the new norm; a third only on severe
                      cancellation), E = 1 halo exchange (the operator); with overlap each exchange hides behind
                      its own operator's compute, the reductions never.
    The learned-multigrid iteration (from a report's seed-000 records or --mg-iteration-seconds/--mg-apply-seconds):
    compute per site of one iteration from the measured solve (seconds / iterations / sites), E = 1 + the model
    application time / one operator application at the same sites (assumption: every fine stencil of the model -
    smoother, PTC layers - exchanges one spinor halo and costs about one operator; the coarse grid's own
    communication is not modelled). In zero-boundary-link mode only the outer operator exchanges (E = 1).
Process grids: over n nodes the global lattice is split by the code's own chooser (lattice.grid.auto_grid: each
prime factor to the largest local extent); inside a node the node's block over its ranks the same way. Weak
scaling doubles the node grid t, z, y, x in turn (bench.suite.process_grid, as the suite's weak-scaling runs).
Not modelled: the interior/boundary split of the overlapped schedule (measured ~10% at 16^4 on 2 ranks), the
packing of the faces as a separate cost (it is inside the fitted shared-memory parameters), network contention
and topology, load imbalance, noise.
"""
import math
from dataclasses import asdict, dataclass, field

from ..lattice.grid import DecompositionError, auto_grid

HDR_BANDWIDTH_GBS = 25.0   # HDR InfiniBand: 200 Gb/s per port = 25 GB/s, one port per node
HDR_LATENCY_US = 1.5       # MPI point-to-point latency over HDR InfiniBand, typical (1-2 us)
# The shared-memory "network" between ranks of one node, fitted (t = M alpha + B / beta over the node's messages
# and bytes) to the halo exchange alone of `bench --project-measure` under mpiexec -n 2 on this machine (mpich,
# depth-1 Wilson spinor faces at 4^4, 8^4, 16^4 per rank, 2026-12-05: 0.029 / 0.049 / 0.217 ms, fit within 2%):
# used for the exchanges between ranks of one node when --ranks-per-node > 1.
SHM_BANDWIDTH_GBS = 16.6
SHM_LATENCY_US = 6.4
FGMRES_REDUCTIONS = 2
DEFAULT_STRONG = ((32, 32, 32, 64), (64, 64, 64, 128))
DEFAULT_WEAK = (16, 16, 16, 16)
DEFAULT_MAX_NODES = 1024


class ProjectionError(ValueError):
    """Bad input to the projection, raised identically on every rank (so no rank aborts the others)."""
    collective = True


KINDS = ("operator", "fgmres", "fgmres_multigrid")
KIND_WORDS = {"operator": "Wilson-clover operator",
              "fgmres": "FGMRES iteration (operator, Gram-Schmidt where measured, 2 reductions)",
              "fgmres_multigrid": "FGMRES iteration with the learned multigrid preconditioner"}

JSON_KEYS = {
    "model": "formulas and assumptions (text)",
    "network": "the network: bandwidth_gbs, latency_us (per node, between nodes), ranks_per_node, cores_per_node, "
               "shm_bandwidth_gbs, shm_latency_us (between ranks of one node), node_stream_gbs (or null)",
    "profile": "the compute input: precision, N, cores (of the measured node), stream_gbs (its STREAM triad), "
               "operator/fgmres [[sites per node, seconds per site], ...], multigrid (seconds_per_site, sites, "
               "exchanges, note; or null), source, notes",
    "halo_bytes_per_face_site": "bytes one depth-1 spinor exchange ships per face site",
    "strong": "list of studies at a fixed global volume: global_volume, kind (operator|fgmres|fgmres_multigrid), "
              "mode (normal|zero_boundary), rows, comm_dominates_from (first node count with t_comm > t_comp, or "
              "null), crossover_nodes (node count where t_comm = t_comp, log-log interpolated, or null), "
              "efficiency_overlap_at_max, note",
    "weak": "the same at a fixed volume per node (node_volume instead of global_volume)",
    "rows": "per node count: nodes, global_volume, node_grid, rank_grid, rank_volume (local sites per rank, "
            "Lx.Ly.Lz.Lt), sites_per_node, comp_s, comm_s (halo + reductions), halo_s, reduce_s, exchanges (halo "
            "exchanges per application or iteration), messages_off_node, "
            "bytes_off_node, messages_on_node, bytes_on_node (per node and exchange), time_s (no overlap), "
            "time_overlap_s, efficiency, efficiency_overlap (strong: t(1) / (n t(n)); weak: t(1) / t(n)), "
            "comm_fraction (comm / (comp + comm)), comm_over_comp; or nodes and error when the lattice cannot be "
            "split",
    "validation": "(with --project-validate) {'node': ..., 'rank': ...}: the two readings of this machine (one "
                  "node of R ranks; every one-thread rank a node), each with per, shm_bandwidth_gbs, "
                  "shm_latency_us (the fit), halo_points, profile, records (kernel, scaling, mode, ranks, "
                  "process_grid, local_volume, measured_s, predicted_s, comp_s, comm_s, relative_error, "
                  "measured_comm_s and comm_relative_error where a zero-boundary record gives the compute alone), "
                  "max_abs_relative_error_not_oversubscribed",
}


def _vol(dims):
    return ".".join(str(int(d)) for d in dims)


def _prod(d):
    out = 1
    for v in d:
        out *= int(v)
    return out


def parse_dims(text):
    """'32.32.32.64' or '16' (all four) -> (Lx, Ly, Lz, Lt); ValueError naming the problem."""
    try:
        d = tuple(int(v) for v in str(text).split("."))
    except ValueError:
        raise ProjectionError(f"a volume is L or Lx.Ly.Lz.Lt with integers, got {text!r}") from None
    if len(d) == 1:
        d = d * 4
    if len(d) != 4 or min(d) < 2 or any(v % 2 for v in d):
        raise ProjectionError(f"a volume is L or Lx.Ly.Lz.Lt with even extents >= 2, got {text!r}")
    return d


def halo_bytes_per_face_site(N=3, precision="double", nvec=1, spin_projected=False):
    """Bytes of one face site in a depth-1 Wilson spinor exchange as lattice/halo.py packs it: the site's row of
    the (V, 4 N nvec) complex array (spin_projected=True: the half spinors a spin-projecting code would send,
    2 N nvec complex numbers, for comparison only - gaugenet does not do this)."""
    if precision not in ("double", "single"):
        raise ValueError(f"precision must be double or single, got {precision!r}")
    c = 16 if precision == "double" else 8
    return (2 if spin_projected else 4) * N * nvec * c


@dataclass
class Network:
    """Between nodes: bandwidth per node (GB/s, the bytes a node sends per second) and latency per message (us);
    between ranks of one node: shm_bandwidth_gbs, shm_latency_us. cores_per_node None: the measured node's."""
    bandwidth_gbs: float = HDR_BANDWIDTH_GBS
    latency_us: float = HDR_LATENCY_US
    ranks_per_node: int = 1
    cores_per_node: int = None
    shm_bandwidth_gbs: float = SHM_BANDWIDTH_GBS
    shm_latency_us: float = SHM_LATENCY_US
    node_stream_gbs: float = None

    def check(self):
        for name in ("bandwidth_gbs", "shm_bandwidth_gbs"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"network {name.replace('_gbs', '')} must be a positive number of GB/s, got {v!r}")
        for name in ("latency_us", "shm_latency_us"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"network {name.replace('_us', '')} must be a number of microseconds >= 0, "
                                 f"got {v!r}")
        if int(self.ranks_per_node) != self.ranks_per_node or self.ranks_per_node < 1:
            raise ValueError(f"ranks per node must be a positive integer, got {self.ranks_per_node!r}")
        if self.cores_per_node is not None and (int(self.cores_per_node) != self.cores_per_node
                                                or self.cores_per_node < 1):
            raise ValueError(f"cores per node must be a positive integer, got {self.cores_per_node!r}")
        if self.node_stream_gbs is not None:
            if not (isinstance(self.node_stream_gbs, (int, float)) and math.isfinite(self.node_stream_gbs)
                    and self.node_stream_gbs > 0):
                raise ValueError(f"node memory bandwidth must be a positive number of GB/s, got "
                                 f"{self.node_stream_gbs!r}")
            if self.cores_per_node is not None:
                raise ValueError("give either the cores per node or the node's memory bandwidth (the compute "
                                 "speed-up is taken from one of them), not both")
        return self


@dataclass
class Profile:
    """Measured compute: operator (and fgmres) as [(sites per node, seconds per site)] for one node whose
    `cores` cores all work on it; multigrid: None or dict(seconds_per_site, sites, exchanges, note)."""
    operator: list
    cores: int
    precision: str = "double"
    N: int = 3
    fgmres: list = None
    multigrid: dict = None
    source: str = ""
    notes: list = field(default_factory=list)
    stream_gbs: float = None     # the STREAM triad of the measured node (same threads), for node_stream_gbs

    def check(self):
        if not self.operator:
            raise ValueError("the compute profile has no Wilson-clover operator timing")
        for name in ("operator", "fgmres"):
            for sites, s in getattr(self, name) or []:
                if not (sites > 0 and s > 0 and math.isfinite(s)):
                    raise ValueError(f"{name} timing ({sites} sites, {s} s/site) must be positive and finite")
        if self.cores < 1:
            raise ValueError(f"measured cores must be >= 1, got {self.cores}")
        return self

    @staticmethod
    def _interp(points, sites):
        pts = sorted(points)
        if sites <= pts[0][0]:
            return pts[0][1]
        if sites >= pts[-1][0]:
            return pts[-1][1]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if x0 <= sites <= x1:
                if x1 == x0:
                    return y1
                f = (math.log(sites) - math.log(x0)) / (math.log(x1) - math.log(x0))
                return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
        raise AssertionError("unreachable")

    def operator_per_site(self, sites):
        return self._interp(self.operator, sites)

    def fgmres_per_site(self, sites):
        """Per site of one unpreconditioned FGMRES iteration; without a measurement, the operator's (the
        Gram-Schmidt work then not counted)."""
        return self._interp(self.fgmres or self.operator, sites)


@dataclass
class Decomposition:
    dims: tuple
    nodes: int
    ranks_per_node: int
    node_grid: tuple
    rank_grid_in_node: tuple

    @property
    def grid(self):
        return tuple(self.node_grid[mu] * self.rank_grid_in_node[mu] for mu in range(4))

    @property
    def node_local(self):
        return tuple(self.dims[mu] // self.node_grid[mu] for mu in range(4))

    @property
    def rank_local(self):
        return tuple(self.dims[mu] // self.grid[mu] for mu in range(4))

    @property
    def sites_per_node(self):
        return _prod(self.node_local)


def decompose(dims, nodes, ranks_per_node=1, node_grid=None, rank_grid=None):
    """Nodes over the lattice (auto_grid, or node_grid), then each node's block over its ranks (auto_grid, or
    rank_grid: the grid of the ranks inside a node). DecompositionError (a ValueError) when it cannot split."""
    dims = tuple(int(d) for d in dims)
    if node_grid is None:
        node_grid = auto_grid(dims, nodes)
    node_grid = tuple(node_grid)
    if _prod(node_grid) != nodes:
        raise DecompositionError(f"node grid {_vol(node_grid)} does not have {nodes} nodes")
    local = []
    for mu in range(4):
        if dims[mu] % node_grid[mu] or (dims[mu] // node_grid[mu]) % 2:
            raise DecompositionError(f"lattice {_vol(dims)} does not split into even extents over node grid "
                                     f"{_vol(node_grid)}")
        local.append(dims[mu] // node_grid[mu])
    if rank_grid is None:
        rank_grid = auto_grid(tuple(local), ranks_per_node)
    rank_grid = tuple(rank_grid)
    if _prod(rank_grid) != ranks_per_node:
        raise DecompositionError(f"rank grid {_vol(rank_grid)} does not have {ranks_per_node} ranks")
    for mu in range(4):
        if local[mu] % rank_grid[mu] or (local[mu] // rank_grid[mu]) % 2:
            raise DecompositionError(f"node block {_vol(local)} does not split into even extents over "
                                     f"{_vol(rank_grid)} ranks")
    return Decomposition(dims, nodes, ranks_per_node, node_grid, rank_grid)


def exchange_traffic(dec, bytes_per_face_site):
    """Per node and depth-1 exchange: (messages off node, bytes off node, messages on node, bytes on node).
    Every rank sends two faces (forward, backward) in every direction split over more than one rank; the faces
    at the node's own boundary leave the node when the node grid splits that direction, the others (and the
    wrap-around of a direction the node grid does not split) stay on it."""
    r = dec.ranks_per_node
    rl = dec.rank_local
    rank_sites = _prod(rl)
    m_off = b_off = m_on = b_on = 0
    for mu in range(4):
        if dec.grid[mu] == 1:
            continue
        area = rank_sites // rl[mu]
        msgs = 2 * r
        off = 2 * (r // dec.rank_grid_in_node[mu]) if dec.node_grid[mu] > 1 else 0
        m_off += off
        b_off += off * area * bytes_per_face_site
        m_on += msgs - off
        b_on += (msgs - off) * area * bytes_per_face_site
    return m_off, b_off, m_on, b_on


def halo_seconds(traffic, net):
    m_off, b_off, m_on, b_on = traffic
    return (m_off * net.latency_us * 1e-6 + b_off / (net.bandwidth_gbs * 1e9)
            + m_on * net.shm_latency_us * 1e-6 + b_on / (net.shm_bandwidth_gbs * 1e9))


def allreduce_seconds(nodes, net):
    """A latency-bound reduction tree: ceil(log2 nodes) network latencies + ceil(log2 ranks per node) shm ones."""
    return (math.ceil(math.log2(nodes)) * net.latency_us * 1e-6
            + math.ceil(math.log2(net.ranks_per_node)) * net.shm_latency_us * 1e-6)


def _speed(profile, net):
    """How much faster a node computes than the measured one: node_stream_gbs / the measured triad (the operator
    is memory bound), or cores_per_node / the measured cores (linear in the cores), or 1."""
    if net.node_stream_gbs is not None:
        if not profile.stream_gbs:
            raise ValueError("the node's memory bandwidth needs the measured node's STREAM triad, which the profile "
                             "does not have")
        return net.node_stream_gbs / profile.stream_gbs
    return 1.0 if net.cores_per_node is None else net.cores_per_node / profile.cores


def point(dec, profile, net, kind="operator", mode="normal", nvec=1):
    """One node count: compute, communication and the two times (dict, the JSON 'rows' entry)."""
    V = dec.sites_per_node
    speed = _speed(profile, net)
    comp_op = profile.operator_per_site(V) * V / speed
    b = halo_bytes_per_face_site(profile.N, profile.precision, nvec)
    traffic = exchange_traffic(dec, b)
    t_ex = halo_seconds(traffic, net)
    if kind == "operator":
        comp, exchanges, reductions = comp_op, 1, 0
    elif kind == "fgmres":
        comp, exchanges, reductions = profile.fgmres_per_site(V) * V / speed, 1, FGMRES_REDUCTIONS
    elif kind == "fgmres_multigrid":
        if not profile.multigrid:
            raise ValueError("no learned-multigrid record in the profile")
        mg = profile.multigrid
        # the record's per-site cost, scaled with the sites like the operator (same cache behaviour assumed)
        comp = mg["seconds_per_site"] * profile.operator_per_site(V) / profile.operator_per_site(mg["sites"]) \
            * V / speed
        exchanges, reductions = mg["exchanges"], FGMRES_REDUCTIONS
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if mode == "zero_boundary":
        # no halo in the operator itself; an FGMRES iteration still applies the true operator once (its halo)
        exchanges = 0 if kind == "operator" else 1
    elif mode != "normal":
        raise ValueError(f"mode must be normal or zero_boundary, got {mode!r}")
    halo = exchanges * t_ex
    red = reductions * allreduce_seconds(dec.nodes, net)
    comm = halo + red
    # overlap: each exchange behind its own stencil (about one operator's compute each), reductions exposed
    hidden = min(comp, exchanges * comp_op)
    t_overlap = (comp - hidden) + exchanges * max(hidden / exchanges, t_ex) + red if exchanges else comp + red
    m_off, b_off, m_on, b_on = traffic if exchanges else (0, 0, 0, 0)
    return {
        "nodes": dec.nodes, "global_volume": _vol(dec.dims), "node_grid": _vol(dec.node_grid),
        "rank_grid": _vol(dec.grid), "rank_volume": _vol(dec.rank_local), "sites_per_node": V,
        "comp_s": comp, "comm_s": comm, "halo_s": halo, "reduce_s": red, "exchanges": exchanges,
        "messages_off_node": m_off, "bytes_off_node": b_off, "messages_on_node": m_on, "bytes_on_node": b_on,
        "time_s": comp + comm, "time_overlap_s": t_overlap,
        "comm_fraction": comm / (comp + comm), "comm_over_comp": comm / comp,
    }


def node_counts(max_nodes=DEFAULT_MAX_NODES):
    if int(max_nodes) != max_nodes or max_nodes < 1:
        raise ValueError(f"the largest node count must be a positive integer, got {max_nodes!r}")
    out, n = [], 1
    while n <= max_nodes:
        out.append(n)
        n *= 2
    return out


def weak_node_grid(nodes):
    """The node grid of the weak-scaling projection: factors over t, z, y, x in turn (bench.suite.process_grid,
    as the suite's own weak-scaling runs split their ranks)."""
    from .suite import process_grid
    return process_grid(nodes)


def _finish(study, rows, strong):
    ok = [r for r in rows if "error" not in r]
    if ok:
        t1, t1o, n1 = ok[0]["time_s"], ok[0]["time_overlap_s"], ok[0]["nodes"]
        for r in ok:
            f = (r["nodes"] / n1) if strong else 1.0
            r["efficiency"] = t1 / (f * r["time_s"])
            r["efficiency_overlap"] = t1o / (f * r["time_overlap_s"])
    study["rows"] = rows
    study["comm_dominates_from"] = None
    study["crossover_nodes"] = None
    prev = None
    for r in ok:
        if r["comm_s"] > r["comp_s"]:
            study["comm_dominates_from"] = r["nodes"]
            if prev is None or prev["comm_over_comp"] <= 0:   # dominates as soon as anything is sent
                study["crossover_nodes"] = r["nodes"]
            else:   # log(comm / comp) linear in log(nodes) between the two rows
                a, b = math.log(prev["comm_over_comp"]), math.log(r["comm_over_comp"])
                x0, x1 = math.log(prev["nodes"]), math.log(r["nodes"])
                study["crossover_nodes"] = math.exp(x0 + (0.0 - a) / (b - a) * (x1 - x0))
            break
        prev = r
    study["efficiency_overlap_at_max"] = ok[-1]["efficiency_overlap"] if ok else None
    return study


def _kinds(profile):
    return ["operator", "fgmres"] + (["fgmres_multigrid"] if profile.multigrid else [])


def _note(kind, mode):
    if mode == "zero_boundary":
        if kind == "operator":
            return ("zero-boundary links: no halo, a different operator (rank-crossing links zeroed) - only inside a "
                    "preconditioner")
        return "zero-boundary preconditioner: only the outer operator's halo and the reductions remain"
    return ""


def strong_scaling(dims, profile, net, max_nodes=DEFAULT_MAX_NODES, kinds=None):
    out = []
    for kind in kinds or _kinds(profile):
        for mode in ("normal", "zero_boundary"):
            if kind == "fgmres" and mode == "zero_boundary":
                continue   # unpreconditioned: the operator solved must be the true one
            rows = []
            for n in node_counts(max_nodes):
                try:
                    dec = decompose(dims, n, net.ranks_per_node)
                except DecompositionError as e:
                    rows.append({"nodes": n, "error": str(e)})
                    break
                rows.append(point(dec, profile, net, kind, mode))
            out.append(_finish({"global_volume": _vol(dims), "kind": kind, "mode": mode, "note": _note(kind, mode)},
                               rows, strong=True))
    return out


def weak_scaling(node_dims, profile, net, max_nodes=DEFAULT_MAX_NODES, kinds=None):
    out = []
    for kind in kinds or _kinds(profile):
        for mode in ("normal", "zero_boundary"):
            if kind == "fgmres" and mode == "zero_boundary":
                continue
            rows = []
            for n in node_counts(max_nodes):
                g = weak_node_grid(n)
                dims = tuple(node_dims[mu] * g[mu] for mu in range(4))
                try:
                    dec = decompose(dims, n, net.ranks_per_node, node_grid=g)
                except DecompositionError as e:
                    rows.append({"nodes": n, "error": str(e)})
                    break
                rows.append(point(dec, profile, net, kind, mode))
            out.append(_finish({"node_volume": _vol(node_dims), "kind": kind, "mode": mode, "note": _note(kind, mode)},
                               rows, strong=False))
    return out


MODEL_TEXT = __doc__.split("Model (", 1)[1].split("Not modelled", 1)[0].strip()


def project(profile, net, strong_volumes=DEFAULT_STRONG, weak_volume=DEFAULT_WEAK, max_nodes=DEFAULT_MAX_NODES):
    """The full projection (the JSON document of `bench --project`)."""
    profile.check()
    net.check()
    _speed(profile, net)
    for d in tuple(strong_volumes) + (tuple(weak_volume),):   # each volume must at least fit one node's ranks
        try:
            decompose(d, 1, net.ranks_per_node)
        except DecompositionError:
            raise ProjectionError(f"volume {_vol(d)} does not split over {net.ranks_per_node} ranks per node into "
                                  f"even local extents: choose another --ranks-per-node or volume") from None
    nets = asdict(net)
    nets["cores_per_node"] = net.cores_per_node or profile.cores
    return {
        "gaugenet_projection": 1,
        "model": "Model (" + MODEL_TEXT,
        "network": nets,
        "profile": asdict(profile),
        "halo_bytes_per_face_site": halo_bytes_per_face_site(profile.N, profile.precision),
        "strong": [s for d in strong_volumes for s in strong_scaling(d, profile, net, max_nodes)],
        "weak": weak_scaling(weak_volume, profile, net, max_nodes),
        "json_keys": JSON_KEYS,
    }


# ---------------------------------------------------------------------------------------- inputs from reports
def _usable(r, kernel, precision):
    return (r.get("kernel") == kernel and r.get("precision") == precision and r.get("nvec", 1) == 1
            and r.get("mode", "normal") == "normal" and r.get("layout", "site") == "site"
            and r.get("scaling", "weak") == "weak" and not r.get("oversubscribed")
            and r.get("seconds_per_call") and r.get("local_volume"))


def profile_from_report(report, precision="double", N=3, cores=None):
    """The compute profile from a saved suite report (`bench --json`): the Wilson-clover records (ordinary layout,
    one right-hand side, normal mode, not oversubscribed), per local volume those with the most cores (ranks x
    threads; or with `cores` of them); an FGMRES iteration from the seed-000 records when present."""
    recs = [r for r in report.get("results", []) if _usable(r, "wilson_clover", precision)]
    if not recs:
        raise ValueError(f"the report has no usable {precision} wilson_clover records (ordinary layout, nvec 1, "
                         f"normal mode, not oversubscribed); run the suite with --kernels wilson_clover")
    if cores is None:
        cores = max(r["ranks"] * r["threads"] for r in recs)
    elif not any(r["ranks"] * r["threads"] == cores for r in recs):
        raise ValueError(f"the report has no {precision} wilson_clover records on {cores} core(s)")
    best = {}
    for r in recs:
        if r["ranks"] * r["threads"] != cores:
            continue
        sites = _prod(parse_dims(r["local_volume"])) * r["ranks"]
        s = r["seconds_per_call"] / sites
        best[sites] = min(best.get(sites, s), s)
    threads = max(r["threads"] for r in recs if r["ranks"] * r["threads"] == cores)
    triad = (report.get("stream_triad") or {}).get(str(threads), {}).get("gbytes_per_s")
    prof = Profile(operator=sorted(best.items()), cores=cores, precision=precision, N=N, stream_gbs=triad,
                   source=f"report of {report.get('date', '?')} ({report.get('command', '')}): wilson_clover, "
                          f"{cores} core(s) per node")
    runs = {r.get("method"): r for r in report.get("results", []) if r.get("kernel") == "fgmres_seed000"
            and r.get("iterations")}
    un = runs.get("fgmres_unpreconditioned")
    if un:
        sites = _prod(parse_dims(un["global_volume"]))
        prof.fgmres = [(sites, un["seconds_per_call"] / un["iterations"] / sites)]
        prof.notes.append("fgmres: the seed-000 unpreconditioned solve's seconds per iteration (one point)")
    else:
        prof.notes.append("fgmres: no FGMRES record in the report; an iteration is modelled as the operator plus "
                          "the reductions (Gram-Schmidt work not counted)")
    mg = runs.get("fgmres_multigrid")
    app = next((r for r in report.get("results", []) if r.get("kernel") == "multigrid_model_apply"), None)
    if mg and app:
        set_multigrid(prof, mg["seconds_per_call"] / mg["iterations"], app["seconds_per_call"],
                      parse_dims(mg["global_volume"]),
                      f"seed-000 record: {mg['iterations']} iterations in {mg['seconds_per_call']:.3f} s")
    return prof.check()


def set_multigrid(prof, iteration_s, apply_s, dims, source=""):
    """The learned-multigrid FGMRES iteration of a profile from its measured seconds per iteration and per model
    application on the lattice `dims` (one node, as the profile): exchanges = 1 + the application in operator
    applications of the profile at that volume (each fine stencil of the model ~ one operator and one halo)."""
    if not (iteration_s > 0 and apply_s > 0 and math.isfinite(iteration_s) and math.isfinite(apply_s)):
        raise ValueError(f"multigrid times must be positive seconds, got {iteration_s!r} and {apply_s!r}")
    if apply_s >= iteration_s:
        raise ValueError(f"a multigrid model application ({apply_s} s) must take less than an FGMRES iteration "
                         f"with it ({iteration_s} s)")
    sites = _prod(dims)
    op = prof.operator_per_site(sites) * sites
    prof.multigrid = {"seconds_per_site": iteration_s / sites, "sites": sites,
                      "exchanges": 1 + max(1, round(apply_s / op)),
                      "note": f"{source + '; ' if source else ''}{iteration_s * 1e3:.2f} ms per iteration at "
                              f"{_vol(dims)}, model application {apply_s * 1e3:.2f} ms = {apply_s / op:.1f} operator "
                              f"applications"}
    return prof


def measure_profile(volumes=((8, 8, 8, 8), (16, 16, 16, 16)), threads=None, precision="double", min_time=0.1,
                    fgmres_iterations=30):
    """A quick measurement on this machine, one process on all its cores (a node): the Wilson-clover operator
    (m = -0.5, c_sw = 1, random SU(3) links) and the marginal cost of an unpreconditioned FGMRES iteration per
    volume (restart length fgmres_iterations; best of three). Where one thread runs the operator faster than all
    of them (a busy host), the one-thread times are used for that volume, and a note says so."""
    import os
    import time

    from mpi4py import MPI

    import gaugenet as gn
    from .._backend import core
    from ..solvers.fgmres import fgmres
    from .stream import stream_triad
    from .timing import time_call
    if threads is None:
        threads = os.cpu_count() or 1
    before = core.max_threads()
    core.set_num_threads(threads)
    comm = MPI.COMM_SELF
    op, it, notes = [], [], []
    try:
        triad = stream_triad(comm, threads, 64 << 20, min_time=min_time)[0]
        for dims in volumes:
            lat = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=comm, precision=precision)
            U = gn.GaugeField.random(lat, 3, seed=1)
            D = gn.WilsonClover(U, mass=-0.5, csw=1.0)
            psi = gn.FermionField.random(lat, 3, seed=2)
            out = psi.zeros_like()
            sec, _ = time_call(lambda: D._apply(psi, out=out), comm, min_time=min_time)
            if threads > 1:   # a node computes at least as fast as one of its cores: on a busy host, where a
                core.set_num_threads(1)   # descheduled thread stalls the others at every barrier, one can win
                one, _ = time_call(lambda: D._apply(psi, out=out), comm, min_time=min_time)
                if one < sec:
                    notes.append(f"{_vol(dims)}: one thread ({one * 1e3:.3f} ms) beat {threads} "
                                 f"({sec * 1e3:.3f} ms) - a busy machine; the one-thread time is used")
                    sec = one
                else:
                    core.set_num_threads(threads)
            V = lat.local_volume
            op.append((V, sec / V))
            # the marginal cost of iterations k0 .. k1 - 1 of one restart cycle: runs of k1 and of k0 iterations
            # differ by them alone (the basis allocation, the first norm and the final true residual cancel), and
            # their mean Gram-Schmidt depth is half the restart length; never below one operator application
            k0, k1 = fgmres_iterations // 6, fgmres_iterations - fgmres_iterations // 6
            best = {}
            for _ in range(3):
                for k in (k0, k1):
                    t0 = time.perf_counter()
                    fgmres(D, psi, tol=1e-30, maxiter=k, restart=fgmres_iterations, raise_on_fail=False)
                    dt = time.perf_counter() - t0
                    best[k] = min(best.get(k, dt), dt)
            it.append((V, max(best[k1] - best[k0], sec * (k1 - k0)) / (k1 - k0) / V))
            core.set_num_threads(threads)
    finally:
        core.set_num_threads(before)
    return Profile(operator=op, cores=threads, precision=precision, N=3, fgmres=it, stream_gbs=triad, notes=notes,
                   source=f"measured now: one process, {threads} thread(s), "
                          + ", ".join(_vol(v) for v in volumes)).check()


# ---------------------------------------------------------------------------------------- validation here
def fit_shm(reports, per_rank=False):
    """(bandwidth GB/s, latency us, points) of t = M alpha + B / beta fitted (least squares, relative) to the
    suite's `halo` records: M, B the messages and bytes per exchange of all ranks of the node (per_rank: of one
    rank, M / ranks and B / ranks), t the seconds; per size the fastest record (the machine is shared); not
    oversubscribed records when there are any."""
    recs = [r for rep in reports for r in rep.get("results", [])
            if r.get("kernel") == "halo" and r.get("seconds_per_call") and r.get("messages_per_exchange")]
    clean = [r for r in recs if not r.get("oversubscribed")]
    best = {}
    for r in clean or recs:
        div = r.get("ranks", 1) if per_rank else 1
        key = (r["messages_per_exchange"] / div, r["bytes_per_exchange"] / div)
        best[key] = min(best.get(key, r["seconds_per_call"]), r["seconds_per_call"])
    pts = sorted((m, b, t) for (m, b), t in best.items())
    if len(pts) < 2:
        raise ValueError("fitting the shared-memory network needs halo records of at least two sizes (bench "
                         "--project-measure with two local volumes under mpiexec -n 2, or suite runs with --kernels "
                         "halo and two --side-volume values)")
    import numpy as np
    A = np.array([[m / t, b / t] for m, b, t in pts])   # relative residuals: each equation divided by t
    y = np.ones(len(pts))
    (alpha, inv_beta), *_ = np.linalg.lstsq(A, y, rcond=None)
    if alpha < 0 or inv_beta <= 0:   # noise larger than one of the two terms: bandwidth only (always positive)
        bs, ts = np.array([b for _, b, _ in pts]), np.array([t for *_, t in pts])
        alpha, inv_beta = 0.0, float(np.sum(bs / ts) / np.sum((bs / ts) ** 2))
    return 1e-9 / inv_beta, alpha * 1e6, pts


def _rec(kernel, lat_dims, local_dims, grid, R, threads, sec, mode="normal", cores=None, **kw):
    r = {"kernel": kernel, "precision": "double", "nvec": 1, "layout": "site", "scaling": "weak", "mode": mode,
         "ranks": R, "threads": threads, "process_grid": _vol(grid), "local_volume": _vol(local_dims),
         "global_volume": _vol(lat_dims), "seconds_per_call": sec,
         "oversubscribed": cores is not None and R * threads > cores}
    r.update(kw)
    return r


def measure_for_validation(comm=None, volumes=((4, 4, 4, 4), (8, 8, 8, 8), (16, 16, 16, 16)), repeats=5,
                           min_time=0.05, grid=None):
    """The validation data in one job (run under mpiexec -n R): per local volume, in turn `repeats` times so that
    all of them see the same load of a shared machine, (a) the Wilson-clover operator on the R ranks, one thread
    each, normal and with zero-boundary links, (b) the halo exchange alone, (c) rank 0 alone on the whole global
    volume with all the R ranks' cores (min(R, cores) threads; the node reading), (d) rank 0 alone with one thread
    on its local volume (the per-rank reading); while rank 0 times alone the others sleep. Fastest time of each.
    Returns [one-rank report, R-rank report] in the suite's record format (bench --project-validate reads them)."""
    import os
    import time

    from mpi4py import MPI

    import gaugenet as gn
    from .._backend import core
    from .timing import time_call
    comm = comm or MPI.COMM_WORLD
    R, rank = comm.Get_size(), comm.Get_rank()
    cores = os.cpu_count() or 1
    if grid is None:
        from .suite import process_grid
        grid = process_grid(R)
    before = core.max_threads()
    node_threads = max(1, min(R, cores))

    def alone(fn, threads):
        """fn timed on rank 0 with `threads` threads while the other ranks sleep (no busy MPI wait)."""
        out = None
        if rank == 0:
            core.set_num_threads(threads)
            out = time_call(fn, MPI.COMM_SELF, min_time=min_time)[0]
            core.set_num_threads(1)
            for r in range(1, R):
                comm.send(None, dest=r, tag=77)
        else:
            while not comm.Iprobe(source=0, tag=77):
                time.sleep(0.0005)
            comm.recv(source=0, tag=77)
        return comm.bcast(out, root=0)

    one, many = [], []
    try:
        core.set_num_threads(1)
        for lv in volumes:
            dims = tuple(lv[mu] * grid[mu] for mu in range(4))
            lat = gn.Lattice(dims, mpi=grid, comm=comm)
            U = gn.GaugeField.random(lat, 3, seed=1)
            D = gn.WilsonClover(U, mass=-0.5, csw=1.0)
            Dz = gn.WilsonClover(U, mass=-0.5, csw=1.0, zero_boundary_links=True)
            psi = gn.FermionField.random(lat, 3, seed=2)
            out = psi.zeros_like()
            h = lat.halo(1)
            local = psi.data.reshape(lat.local_volume, -1)
            buf = h.empty_halo(local)
            m0, b0 = h.messages_sent, h.bytes_sent
            h.exchange(local, buf)
            msgs, nbytes = comm.allreduce(h.messages_sent - m0), comm.allreduce(h.bytes_sent - b0)
            if rank == 0:   # the node reading's whole lattice and the per-rank reading's local one, rank 0 alone
                lat1 = gn.Lattice(dims, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
                U1 = gn.GaugeField.random(lat1, 3, seed=1)
                D1 = gn.WilsonClover(U1, mass=-0.5, csw=1.0)
                p1 = gn.FermionField.random(lat1, 3, seed=2)
                o1 = p1.zeros_like()
                latr = gn.Lattice(lv, mpi=(1, 1, 1, 1), comm=MPI.COMM_SELF)
                Ur = gn.GaugeField.random(latr, 3, seed=1)
                Dr = gn.WilsonClover(Ur, mass=-0.5, csw=1.0)
                pr = gn.FermionField.random(latr, 3, seed=2)
                orr = pr.zeros_like()
            best = {}

            def keep(name, sec):
                best[name] = min(best.get(name, sec), sec)

            for _ in range(repeats):
                keep("normal", time_call(lambda: D._apply(psi, out=out), comm, min_time=min_time)[0])
                keep("zero", time_call(lambda: Dz._apply(psi, out=out), comm, min_time=min_time)[0])
                if R > 1:
                    keep("halo", time_call(lambda: h.exchange(local, buf), comm, min_time=min_time)[0])
                keep("node", alone(lambda: D1._apply(p1, out=o1), node_threads))
                keep("rank", alone(lambda: Dr._apply(pr, out=orr), 1))
            one.append(_rec("wilson_clover", dims, dims, (1, 1, 1, 1), 1, node_threads, best["node"], cores=cores))
            one.append(_rec("wilson_clover", lv, lv, (1, 1, 1, 1), 1, 1, best["rank"], cores=cores))
            many.append(_rec("wilson_clover", dims, lv, grid, R, 1, best["normal"], cores=cores))
            many.append(_rec("wilson_clover", dims, lv, grid, R, 1, best["zero"], mode="zero_boundary", cores=cores))
            if R > 1:
                many.append(_rec("halo", dims, lv, grid, R, 1, best["halo"], cores=cores,
                                 messages_per_exchange=msgs, bytes_per_exchange=nbytes))
    finally:
        core.set_num_threads(before)
    date = time.strftime("%Y-%m-%dT%H:%M:%S")
    note = f"bench --project-measure: {repeats} rounds in turn, fastest of each"
    return [{"gaugenet_bench": 1, "ranks": 1, "date": date, "command": note, "results": one},
            {"gaugenet_bench": 1, "ranks": R, "date": date, "command": note, "results": many}]


def validate(reports, precision="double", kernel="wilson_clover", per="node"):
    """Predicted vs measured times of the multi-rank records of suite reports run on this one machine.
    per="node": the machine is one node with R ranks: compute from the one-rank records on all its cores, the
    shared-memory exchange fitted to the halo records of the node (all ranks together), no overlap (the code's
    schedule when all neighbours share the node). per="rank": each one-thread rank is a node of its own: compute
    from the one-rank one-thread records, the shared memory as the network between the nodes, fitted per rank.
    Repeated runs are merged: the fastest time per record. Also the communication alone: measured normal -
    zero-boundary-link time (same ranks, local volume, links) against the predicted exchange. Returns a dict."""
    if per not in ("node", "rank"):
        raise ValueError(f"per must be node or rank, got {per!r}")
    one = [rep for rep in reports if rep.get("ranks") == 1]
    if not one:
        raise ValueError("validation needs the report of a one-rank run (the compute profile)")
    merged = {"date": ", ".join(sorted({str(r.get("date")) for r in one})), "command": one[0].get("command", ""),
              "results": [r for rep in one for r in rep.get("results", [])]}
    prof = profile_from_report(merged, precision, cores=1 if per == "rank" else None)
    prof.source = (f"{len(one)} one-rank report(s) ({merged['date']}), {prof.cores} core(s), best per volume")
    bw, lat_us, pts = fit_shm(reports, per_rank=(per == "rank"))
    best = {}
    for rep in reports:
        for r in rep.get("results", []):
            if (r.get("kernel") != kernel or r.get("precision") != precision or r.get("nvec", 1) != 1
                    or r.get("layout", "site") != "site" or r.get("ranks", 1) < 2 or not r.get("seconds_per_call")
                    or (per == "rank" and r.get("threads") != 1)):
                continue
            # the same geometry measured as a weak- or a strong-scaling record is the same computation
            key = (r.get("mode", "normal"), r["ranks"], r["process_grid"], r["local_volume"], r["global_volume"],
                   r["threads"])
            if key in best:
                best[key]["n"] += 1
                best[key]["r"] = min(best[key]["r"], r, key=lambda x: x["seconds_per_call"])
                best[key]["scaling"].add(r.get("scaling") or "weak")
            else:
                best[key] = {"r": r, "n": 1, "scaling": {r.get("scaling") or "weak"}}
    rows = []
    for key, b in sorted(best.items(), key=lambda kv: (kv[0][1], _prod(parse_dims(kv[0][3])), kv[0][2],
                                                       kv[0][0])):
        r = b["r"]
        R = r["ranks"]
        grid = parse_dims_grid(r["process_grid"])
        dims = parse_dims(r["global_volume"])
        if per == "node":
            net = Network(ranks_per_node=R, shm_bandwidth_gbs=bw, shm_latency_us=lat_us)
            dec = decompose(dims, 1, R, node_grid=(1, 1, 1, 1), rank_grid=grid)
        else:
            net = Network(bandwidth_gbs=bw, latency_us=lat_us)
            dec = decompose(dims, R, 1, node_grid=grid)
        p = point(dec, prof, net, "operator", key[0])
        row = {"kernel": kernel, "scaling": "/".join(sorted(b["scaling"], reverse=True)), "mode": key[0],
               "ranks": R, "threads": r["threads"], "process_grid": r["process_grid"],
               "local_volume": r["local_volume"], "global_volume": r["global_volume"],
               "oversubscribed": bool(r.get("oversubscribed")), "runs": b["n"],
               "measured_s": r["seconds_per_call"], "predicted_s": p["time_s"], "comp_s": p["comp_s"],
               "comm_s": p["comm_s"], "relative_error": p["time_s"] / r["seconds_per_call"] - 1.0}
        if key[0] == "normal":
            z = best.get(("zero_boundary",) + key[1:])
            if z is not None:
                row["measured_comm_s"] = r["seconds_per_call"] - z["r"]["seconds_per_call"]
                row["comm_relative_error"] = (p["comm_s"] / row["measured_comm_s"] - 1.0
                                              if row["measured_comm_s"] > 0 else None)
        rows.append(row)
    if not rows:
        raise ValueError(f"no multi-rank {kernel} records in the reports to compare with")
    clean = [abs(r["relative_error"]) for r in rows if not r["oversubscribed"]]
    return {"per": per, "shm_bandwidth_gbs": bw, "shm_latency_us": lat_us,
            "halo_points": [{"messages": m, "bytes": b, "seconds": t,
                             "fitted_seconds": m * lat_us * 1e-6 + b / (bw * 1e9)} for m, b, t in pts],
            "profile": asdict(prof), "records": rows,
            "max_abs_relative_error_not_oversubscribed": max(clean) if clean else None}


def parse_dims_grid(text):
    g = tuple(int(v) for v in str(text).split("."))
    if len(g) != 4 or min(g) < 1:
        raise ValueError(f"a process grid is Px.Py.Pz.Pt, got {text!r}")
    return g


# ---------------------------------------------------------------------------------------- text
def _us(s):
    return f"{s * 1e6:.1f}" if s < 1e-2 else f"{s * 1e3:.2f}m"


def _header_lines(doc):
    net, prof = doc["network"], doc["profile"]
    lines = [
        "scaling projection (issue 21): " + KIND_WORDS["operator"] + " and FGMRES, "
        f"{prof['precision']}, SU({prof['N']})",
        f"network: {net['bandwidth_gbs']:g} GB/s per node, {net['latency_us']:g} us per message between nodes; "
        f"{net['ranks_per_node']} rank(s) per node ({net['shm_bandwidth_gbs']:g} GB/s, {net['shm_latency_us']:g} us "
        f"between them); {net['cores_per_node']} cores per node (measured on {prof['cores']})"
        + (f"; node memory bandwidth {net['node_stream_gbs']:g} GB/s (measured node: STREAM triad "
           f"{prof['stream_gbs']:.1f} GB/s): compute x {net['node_stream_gbs'] / prof['stream_gbs']:.2f}"
           if net.get("node_stream_gbs") else ""),
        f"compute: {prof['source']}; operator " + ", ".join(f"{s:.0f} sites {t * 1e9:.1f} ns/site"
                                                           for s, t in prof["operator"])
        + ("" if not prof.get("fgmres") else "; FGMRES iteration " + ", ".join(
            f"{s:.0f} sites {t * 1e9:.1f} ns/site" for s, t in prof["fgmres"])),
        f"halo: {doc['halo_bytes_per_face_site']} bytes per face site (full spinors, as lattice/halo.py packs "
        f"them), 2 messages per split direction and rank",
    ]
    lines += ["note: " + n for n in prof.get("notes", [])]
    if prof.get("multigrid"):
        lines.append("learned multigrid: " + prof["multigrid"]["note"]
                     + f"; {prof['multigrid']['exchanges']} halo exchanges per iteration assumed")
    return lines


def format_projection(doc, markdown=False):
    """The projection as text tables (one per study), or as Markdown (one table per volume and kind, the normal
    and the zero-boundary-link mode side by side)."""
    if markdown:
        return markdown_projection(doc)
    lines = _header_lines(doc)
    lines.append("times in us (m = ms); eff = efficiency without / with overlap; comm% = comm / (comp + comm)")
    for which in ("strong", "weak"):
        for st in doc[which]:
            what = (f"strong scaling, global {st['global_volume']}" if which == "strong"
                    else f"weak scaling, {st['node_volume']} per node")
            dom = st["comm_dominates_from"]
            lines += ["", f"{what}: {KIND_WORDS[st['kind']]}, "
                          f"{'zero-boundary links' if st['mode'] == 'zero_boundary' else 'normal'}"
                      + (f" ({st['note']})" if st["note"] else ""),
                      "  communication exceeds compute from "
                      + (f"{dom} nodes (t_comm = t_comp at ~{st['crossover_nodes']:.0f})" if dom else
                         f"- (not up to {st['rows'][-1]['nodes']} nodes)")]
            lines.append(f"  {'nodes':>5s} {'node grid':>11s} {'rank vol':>11s} {'comp':>9s} {'comm':>9s} "
                         f"{'t':>9s} {'t overlap':>9s} {'eff':>5s} {'eff ov':>6s} {'comm%':>6s}")
            for r in st["rows"]:
                if "error" in r:
                    lines.append(f"  {r['nodes']:5d} cannot split: {r['error']}")
                    continue
                lines.append(f"  {r['nodes']:5d} {r['node_grid']:>11s} {r['rank_volume']:>11s} {_us(r['comp_s']):>9s} "
                             f"{_us(r['comm_s']):>9s} {_us(r['time_s']):>9s} {_us(r['time_overlap_s']):>9s} "
                             f"{100 * r['efficiency']:4.0f}% {100 * r['efficiency_overlap']:5.0f}% "
                             f"{100 * r['comm_fraction']:5.1f}%")
    return "\n".join(lines)


def markdown_projection(doc):
    out = ["```", *_header_lines(doc), "```"]
    for which in ("strong", "weak"):
        studies = {}
        for st in doc[which]:
            key = (st.get("global_volume") or st["node_volume"], st["kind"])
            studies.setdefault(key, {})[st["mode"]] = st
        for (vol, kind), modes in studies.items():
            st = modes["normal"]
            zb = modes.get("zero_boundary")
            dom = st["comm_dominates_from"]
            title = (f"strong scaling, {vol}" if which == "strong" else f"weak scaling, {vol} per node")
            out += ["", f"**{title}: {KIND_WORDS[kind]}** - communication exceeds compute from "
                        + (f"**{dom} nodes** (equal at ~{st['crossover_nodes']:.0f})" if dom
                           else f"no node count up to {st['rows'][-1]['nodes']}")
                        + ("" if zb is None else "; zero-boundary links: " + (
                            f"from {zb['comm_dominates_from']} nodes" if zb["comm_dominates_from"] else "never")),
                    ""]
            head = ["nodes", "node grid", "volume per rank", "comp", "comm", "t", "t overlap", "eff", "eff overlap",
                    "comm %"]
            if zb is not None:
                head += ["t zero-bdy", "eff zero-bdy"]
            out += ["| " + " | ".join(head) + " |", "|" + "|".join("--:" for _ in head) + "|"]
            zrows = {r["nodes"]: r for r in (zb["rows"] if zb else [])}
            for r in st["rows"]:
                if "error" in r:
                    out.append(f"| {r['nodes']} | cannot split | " + " | ".join("" for _ in head[2:]) + " |")
                    continue
                cells = [str(r["nodes"]), r["node_grid"], r["rank_volume"], _us(r["comp_s"]), _us(r["comm_s"]),
                         _us(r["time_s"]), _us(r["time_overlap_s"]), f"{100 * r['efficiency']:.0f}%",
                         f"{100 * r['efficiency_overlap']:.0f}%", f"{100 * r['comm_fraction']:.1f}"]
                if zb is not None:
                    z = zrows.get(r["nodes"])
                    cells += ["-", "-"] if z is None or "error" in z else [_us(z["time_s"]),
                                                                          f"{100 * z['efficiency']:.0f}%"]
                out.append("| " + " | ".join(cells) + " |")
    out += ["", "Times in microseconds (m: milliseconds) per application (operator) or per iteration (FGMRES); "
                "eff: strong t(1) / (n t(n)), weak t(1) / t(n); comm %: comm / (comp + comm) without overlap."]
    return "\n".join(out)


def summary_lines(doc):
    """One line per study: where communication starts to dominate."""
    out = []
    for which in ("strong", "weak"):
        for st in doc[which]:
            vol = st.get("global_volume") or (st["node_volume"] + "/node")
            dom = st["comm_dominates_from"]
            out.append(f"{which:6s} {vol:16s} {st['kind']:17s} {st['mode']:13s} comm > comp from "
                       + (f"{dom} nodes" if dom else f"- (not up to {st['rows'][-1]['nodes']})"))
    return out


def format_validation(v):
    what = ("the machine as one node of R ranks" if v.get("per", "node") == "node"
            else "each one-thread rank as a node, shared memory as the network")
    lines = [f"validation on this machine ({what}): exchange fitted to the halo records "
             f"({'per rank' if v.get('per') == 'rank' else 'all ranks'}): "
             f"{v['shm_bandwidth_gbs']:.2f} GB/s, {v['shm_latency_us']:.2f} us per message"]
    for p in v["halo_points"]:
        lines.append(f"  halo {p['messages']:5g} messages {p['bytes'] / 1e6:8.3f} MB: measured "
                     f"{p['seconds'] * 1e3:.3f} ms, fit {p['fitted_seconds'] * 1e3:.3f} ms")
    lines.append(f"  compute: {v['profile']['source']}")
    lines.append(f"  {'scaling':11s} {'mode':13s} {'rk':>2s} {'grid':>8s} {'local vol':>12s} {'measured':>10s} "
                 f"{'predicted':>10s} {'comp':>9s} {'comm':>9s} {'error':>7s} {'comm meas':>10s} {'comm err':>8s}")
    for r in v["records"]:
        cm = r.get("measured_comm_s")
        ce = r.get("comm_relative_error")
        lines.append(f"  {r['scaling'] or '-':11s} {r['mode']:13s} {r['ranks']:2d} {r['process_grid']:>8s} "
                     f"{r['local_volume']:>12s} {r['measured_s'] * 1e3:8.3f}ms {r['predicted_s'] * 1e3:8.3f}ms "
                     f"{r['comp_s'] * 1e3:7.3f}ms {r['comm_s'] * 1e3:7.3f}ms {100 * r['relative_error']:+6.1f}% "
                     + (f"{cm * 1e3:8.3f}ms" if cm is not None else f"{'-':>10s}") + " "
                     + (f"{100 * ce:+7.0f}%" if ce is not None else f"{'-':>8s}")
                     + ("  (oversubscribed)" if r["oversubscribed"] else ""))
    lines.append("  (comm meas = normal - zero-boundary-link time at the same ranks and local volume; the model: "
                 "comp + comm, no overlap, as the code runs on one node)")
    if v.get("max_abs_relative_error_not_oversubscribed") is not None:
        lines.append(f"  largest |error| of the records that are not oversubscribed: "
                     f"{100 * v['max_abs_relative_error_not_oversubscribed']:.1f}%")
    return "\n".join(lines)
