"""The benchmark suite (`python -m gaugenet bench`, issue 4): time per call, GFLOP/s, GB/s under a
minimal-traffic model and the fraction of the bandwidth roofline that gaugenet's own STREAM triad
measures in the same run, for the kernels that exist; a NumPy version timed side by side where one
is written (numpy_ref); weak/strong scaling over MPI ranks (run the command under mpiexec -n N)."""
from .models import TRAFFIC_MODEL, flops_per_site


def run_suite(config, comm=None):
    """Run the suite (gaugenet.bench.suite.run_suite); returns the report dict."""
    from .suite import run_suite as _run
    return _run(config, comm)


__all__ = ["run_suite", "TRAFFIC_MODEL", "flops_per_site"]
