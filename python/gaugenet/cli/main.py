"""`python -m gaugenet <command>`: one module per command; identical under mpirun/srun.

Every command module defines `add_arguments(parser)` and `run(args) -> int`. Errors are
reported on every rank with a clear message and a nonzero exit status (never a hang).
Every command also takes an optional TOML file of its options (`python -m gaugenet hmc run.toml
--steps 8`; cli/config.py, docs/cli.md): flags override the file; the resolved configuration is
logged and saved beside the outputs.
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
        ("info", "gaugenet.cli.info", "version and build: SIMD, OpenMP, MPI, CUDA, HDF5, numpy"),
        ("lcnn", "gaugenet.cli.lcnn", "L-CNN (seed 001): Wilson-loop regression with lattice gauge equivariant layers"),
        ("flow", "gaugenet.cli.flow", "normalizing flow for 2D phi^4: train, ESS, independence Metropolis (seed 003)"),
    ]:
        try:
            importlib.util.find_spec(mod)
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(mod) is not None:
            COMMANDS.setdefault(name, (mod, text))


def build_parser():
    """The top-level parser and {command: (module, subparser)}; every subparser gets the optional
    positional configuration file (cli/config.py)."""
    import importlib.util  # noqa: F401
    from .config import add_config_argument
    _optional_commands()
    parser = argparse.ArgumentParser(prog="python -m gaugenet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="command")
    commands = {}
    for name, (modname, text) in COMMANDS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=text, description=text)
        mod.add_arguments(p)
        add_config_argument(p)
        commands[name] = (mod, p)
    return parser, commands


def parse(argv=None):
    """(command, module, subparser, args, argv after the command) from the command line, before the
    configuration file is applied (argparse errors exit with status 2 on every rank, as before)."""
    parser, commands = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in commands and argv[0].endswith(".toml"):  # `gaugenet run.toml`: the self-check
        argv = ["selfcheck"] + argv
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m gaugenet` alone is the self-check
        argv = ["selfcheck"] + argv
        args = parser.parse_args(argv)
    mod, sub = commands[args.command]
    # there are no options before the command name: the command's own arguments follow it
    return args.command, mod, sub, args, argv[argv.index(args.command) + 1:]


def resolve(argv=None):
    """(command, module, subparser, args) with the configuration file applied (flags override it);
    a bad file raises config.ConfigError on every rank."""
    from . import config
    command, mod, sub, args, rest = parse(argv)
    return command, mod, sub, config.resolve(sub, rest, args, command)


def main(argv=None):
    from ..util.log import configure_logging, fail, log
    from . import config
    command, mod, sub, args, rest = parse(argv)
    configure_logging(getattr(args, "verbose", False))
    try:
        args = config.resolve(sub, rest, args, command)
        configure_logging(getattr(args, "verbose", False))  # the file may set verbose
        config.record(sub, args, command, log)
        from ..util.signals import arm_collective_fault
        arm_collective_fault()          # test hook: GAUGENET_FAULT=collective:rank=R:at=K (util/signals.py)
        return int(mod.run(args) or 0)
    except Exception as exc:  # every rank reports and exits nonzero
        return fail(exc)


if __name__ == "__main__":
    sys.exit(main())
