"""`python -m gaugenet info`: what this installation is built with and what it sees at run time:
gaugenet version, build type, SIMD kernels, OpenMP threads, MPI library and ranks, CUDA built / GPU
seen, HDF5, numpy. Rank 0 prints; --json FILE also writes the facts as JSON."""
import hashlib
import json
import os
import platform


def add_arguments(p):
    p.add_argument("--json", default=None, metavar="FILE.json", help="also write the facts as JSON (rank 0)")
    p.add_argument("--verbose", action="store_true")


_GNU_BUILD_ID = b"\x04\x00\x00\x00\x14\x00\x00\x00\x03\x00\x00\x00GNU\x00"  # ELF note: "GNU", sha1 id


def _identity(path):
    """What identifies a built module: the linker's GNU build-id (kept by strip and by CMake's install-time
    RPATH edit), else the SHA-256 of the whole file."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        at = head.find(_GNU_BUILD_ID)
        if at >= 0 and head[:4] == b"\x7fELF":
            return "build-id:" + head[at + len(_GNU_BUILD_ID):at + len(_GNU_BUILD_ID) + 20].hex()
        h = hashlib.sha256(head)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _install_source():
    """The source directory pip installed gaugenet from (its direct_url.json), if any."""
    try:
        from importlib.metadata import distribution
        url = json.loads(distribution("gaugenet").read_text("direct_url.json") or "{}").get("url", "")
    except Exception:
        return []
    return [url[len("file://"):]] if url.startswith("file://") else []


def _subdirs(d):
    try:
        return sorted(e.path for e in os.scandir(d)
                      if e.is_dir(follow_symlinks=False) and not e.name.startswith((".", "__")))
    except OSError:
        return []


def _cache_entry(cache, name):
    try:
        with open(cache) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None


def build_type(core):
    """The CMake build type of the loaded extension. gaugenet._core does not record it, so look for the
    CMake build tree (beside the source tree or scikit-build-core's build/<wheel tag>) that holds the same
    module (same GNU build-id) and read its CMakeCache.txt; an empty CMAKE_BUILD_TYPE is Release (CMakeLists.txt
    sets it). Returns (text, build directory or None)."""
    module = getattr(core, "__file__", None)
    if not module or not os.path.exists(module):
        return "unknown (gaugenet._core has no file)", None
    here = os.path.dirname(os.path.abspath(module))
    roots = [os.path.dirname(os.path.dirname(here))]  # source tree: <root>/python/gaugenet/_core*.so
    roots += _install_source()
    ident = _identity(module)
    for root in roots:
        if not os.path.exists(os.path.join(root, "CMakeLists.txt")):
            continue
        candidates = []  # <root>/<dir> and <root>/<dir>/<dir> holding a CMakeCache.txt (build-dev, build/cp311-...)
        for top in _subdirs(root):
            for d in [top] + _subdirs(top):
                if os.path.exists(os.path.join(d, "CMakeCache.txt")):
                    candidates.append(d)
        for d in sorted(candidates):
            for name in os.listdir(d):
                so = os.path.join(d, name)
                if name.startswith("_core") and name.endswith((".so", ".pyd")) and os.path.getsize(so) > 0:
                    if _identity(so) == ident:
                        value = _cache_entry(os.path.join(d, "CMakeCache.txt"), "CMAKE_BUILD_TYPE")
                        return (value or "Release (CMakeLists.txt default)"), d
    return "unknown (gaugenet._core does not record it; no matching CMake build tree found)", None


def cpu_simd_flags():
    """The vector instruction sets the CPU reports (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [n for n in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")
                            if n in flags]
    except OSError:
        pass
    return []


def collect():
    """Every fact as {name: value} (the same on every rank except where a rank sees something else)."""
    import numpy
    from mpi4py import MPI

    import gaugenet
    from .._backend import core

    facts = {}
    try:
        from importlib.metadata import version
        installed = version("gaugenet")
    except Exception:
        installed = None
    facts["gaugenet"] = gaugenet.__version__
    facts["gaugenet_installed_version"] = installed
    facts["package_path"] = os.path.dirname(os.path.abspath(gaugenet.__file__))
    btype, bdir = build_type(core)
    facts["build_type"] = btype
    facts["build_dir"] = bdir
    if bdir is not None:
        cache = os.path.join(bdir, "CMakeCache.txt")
        facts["march_native"] = (_cache_entry(cache, "GAUGENET_NATIVE") or "?").upper() in ("ON", "1", "TRUE") and \
            _cache_entry(cache, "GN_HAS_MARCH_NATIVE") == "1"
    simd8 = bool(core.packed_available()) if hasattr(core, "packed_available") else False
    facts["simd_kernels"] = "AVX-512 (eight sites per step, packed layout)" if simd8 else "none (generic site-by-site kernels)"
    facts["wilson_cpu_kernel"] = core.wilson_variant() if hasattr(core, "wilson_variant") else "generic"
    facts["hop_cpu_kernel"] = core.hop_variant() if hasattr(core, "hop_variant") else "generic"
    facts["cpu_simd_flags"] = " ".join(cpu_simd_flags()) or "unknown"
    facts["openmp_threads"] = int(core.max_threads())
    facts["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS")
    lib = MPI.Get_library_version().strip().splitlines()
    facts["mpi_library"] = " ".join(lib[0].split()) if lib else "unknown"
    facts["mpi_standard"] = "%d.%d" % MPI.Get_version()
    facts["mpi4py"] = __import__("mpi4py").__version__
    comm = MPI.COMM_WORLD
    facts["mpi_ranks"] = comm.Get_size()
    facts["mpi_nodes"] = len(set(comm.allgather(MPI.Get_processor_name())))
    facts["cuda_built"] = bool(core.has_cuda)
    try:
        import cupy
        facts["cupy"] = cupy.__version__
        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # no driver / no device
            n, facts["gpu_error"] = 0, str(exc).splitlines()[0]
        facts["gpus_seen"] = n
        if n:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            name = props.get("name", b"")
            facts["gpu0"] = name.decode() if isinstance(name, bytes) else str(name)
    except ImportError:
        facts["cupy"] = None
        facts["gpus_seen"] = "unknown (cupy not installed)"
    from .._backend import has_cuda
    facts["gpu_kernels_usable"] = bool(has_cuda())
    try:
        import h5py
        facts["hdf5"] = h5py.version.hdf5_version
        facts["h5py"] = h5py.version.version
    except ImportError:
        facts["hdf5"] = None
    facts["numpy"] = numpy.__version__
    facts["python"] = platform.python_version()
    return facts


def format_facts(facts):
    width = max(len(k) for k in facts)
    return "\n".join(f"{k:<{width}}  {'-' if v is None else v}" for k, v in facts.items())


def run(args):
    from mpi4py import MPI
    facts = collect()
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(format_facts(facts), flush=True)
        if args.json:
            tmp = f"{args.json}.tmp.{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump(facts, f, indent=1)
            os.replace(tmp, args.json)
    return 0
