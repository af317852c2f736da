"""`python -m gaugenet <command>`: one module per command; identical under mpirun/srun.

Every command module defines `add_arguments(parser)` and `run(args) -> int`. Errors are
reported on every rank with a clear message and a nonzero exit status (never a hang).
"""
import argparse
import importlib
import sys

COMMANDS = {
    "selfcheck": ("gaugenet.cli.selfcheck", "distributed self-check: lattice, halo exchange, stencils, Dirac operator"),
}


def register(name, module, help_text):
    COMMANDS[name] = (module, help_text)


def _optional_commands():
    # commands added by later modules register here (kept in one place, imported lazily)
    for name, mod, text in [
        ("generate", "gaugenet.cli.generate", "quenched SU(N) ensemble (heat bath + overrelaxation)"),
        ("bench", "gaugenet.cli.bench", "benchmark suite: GFLOP/s, GB/s, roofline fraction"),
        ("solve", "gaugenet.cli.solve", "Wilson-clover solve with the baseline solvers: iterations, time to solution"),
        ("mg", "gaugenet.cli.mg", "train the gauge-equivariant multigrid preconditioner and compare FGMRES solves"),
        ("hmc", "gaugenet.cli.hmc", "HMC / self-learning HMC with Nf = 4 staggered quarks (seed 002)"),
    ]:
        try:
            importlib.util.find_spec(mod)
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(mod) is not None:
            COMMANDS.setdefault(name, (mod, text))


def main(argv=None):
    import importlib.util  # noqa: F401
    _optional_commands()
    parser = argparse.ArgumentParser(prog="python -m gaugenet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="command")
    modules = {}
    for name, (modname, text) in COMMANDS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=text, description=text)
        mod.add_arguments(p)
        modules[name] = mod
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "selfcheck"
        args = parser.parse_args(["selfcheck"] + list(argv or sys.argv[1:]))
    from ..util.log import configure_logging, fail
    configure_logging(getattr(args, "verbose", False))
    try:
        return int(modules[args.command].run(args) or 0)
    except Exception as exc:  # every rank reports and exits nonzero
        return fail(exc)


if __name__ == "__main__":
    sys.exit(main())
