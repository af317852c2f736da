"""What the benchmark ran on: processor, cores, caches, memory, build."""
import os
import platform


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def last_level_cache_bytes():
    """The largest data cache of cpu0 in bytes (at least 32 MB when sysfs says less or nothing)."""
    return max([b for _, b in cache_bytes()] + [32 << 20])


def cache_bytes():
    """[(name, bytes)] for the data/unified caches of cpu0 (Linux sysfs), e.g. [('L1d', 49152), ...]."""
    out = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in sorted(os.listdir(base)):
            if not d.startswith("index"):
                continue
            p = os.path.join(base, d)

            def rd(name):
                with open(os.path.join(p, name)) as f:
                    return f.read().strip()

            if rd("type") == "Instruction":
                continue
            size = rd("size")
            mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
            out.append((f"L{rd('level')}" + ("d" if rd("type") == "Data" else ""), int(size.rstrip("KMG")) * mult))
    except OSError:
        pass
    return out


def machine_info():
    from .._backend import core
    info = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "caches": {name: size for name, size in cache_bytes()},
        "hostname": platform.node(),
        "python": platform.python_version(),
        "max_threads": core.max_threads(),
        "wilson_cpu_kernel": core.wilson_variant() if hasattr(core, "wilson_variant") else "generic",
    }
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        import numpy
        info["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover
        pass
    return info
