"""TOML configuration files for every command of `python -m gaugenet` (docs/cli.md).

`python -m gaugenet CMD [FILE.toml] [--flags]`: the keys of FILE.toml are the argparse destinations of
CMD's long options (`--train-samples` -> `train_samples`); values are checked against the options
(type, choices, flags take booleans; list-valued string options also take TOML arrays); flags given on
the command line override the file, the file overrides the defaults. The layer works on the argparse
parser of the command alone, so commands registered later get it without changes.

Every rank reads the file and resolves the configuration itself; the outcome (an error message, or the
resolved configuration) is then compared across the ranks of COMM_WORLD, so an error is raised on every
rank identically and a file that differs between ranks is refused. The resolved configuration is logged
(rank 0) and written by rank 0 as flat TOML beside the outputs: DIR/config.toml for a command with an
--out directory, else FILE.config.toml for --json FILE.json; `python -m gaugenet CMD saved.toml`
resolves to the same configuration again.
"""
import argparse
import difflib
import json
import math
import os
import re

try:  # Python >= 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.9 / 3.10 (pyproject: tomli)
    import tomli as _toml

CONFIG_DEST = "config_file"
SAVED_NAME = "config.toml"

# string options that hold lists, by argparse destination: the separator a TOML array is joined with.
# Options not listed are recognised from their help text or default (see `list_separator`).
SEPARATORS = {
    "lattice": ".", "mpi": ".", "block": ".", "strong": ".", "side_volume": ".",
    "baselines": ",", "methods": ",", "volumes": ",", "precisions": ",", "threads": ",", "nvec": ",",
    "kernels": ",", "rho": ",", "steps": ",",
}

_TYPE_NAMES = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings")}


class ConfigError(ValueError):
    """A problem with a configuration file; raised identically on every rank."""
    collective = True


# ------------------------------------------------------------------------------------------ the parser side
def add_config_argument(parser):
    """Give a command's parser the optional positional configuration file (dest `config_file`)."""
    for action in parser._actions:
        if action.dest == CONFIG_DEST:
            raise ValueError(f"the command {parser.prog!r} already has an option with destination "
                             f"{CONFIG_DEST!r}: it is reserved for the configuration file")
    parser.add_argument(CONFIG_DEST, nargs="?", default=None, metavar="CONFIG.toml",
                        help="TOML file of options (keys: the long options with underscores, e.g. "
                             "train_samples = 4); flags on the command line override it (docs/cli.md)")


def option_actions(parser):
    """{dest: action} of the options a configuration file may set (not --help, not the file itself)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        if action.dest in (CONFIG_DEST, argparse.SUPPRESS):
            continue
        out[action.dest] = action
    return out


def _flag(action):
    """How the option is written on the command line, for messages."""
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings or [action.dest])[0]


def list_separator(action):
    """The separator of a string option that holds a list ("," or "."), or None for a plain string."""
    if action.dest in SEPARATORS:
        return SEPARATORS[action.dest]
    text = " ".join(str(t) for t in (action.help, action.metavar) if t)
    if "comma-separated" in text or "comma separated" in text:
        return ","
    if re.search(r"\b[A-Za-z]\w?\.[A-Za-z]\w?\.[A-Za-z]\w?\.[A-Za-z]\w?\b", text):  # Lx.Ly.Lz.Lt, Px.Py.Pz.Pt
        return "."
    default = action.default
    if isinstance(default, str) and re.fullmatch(r"[\w-]+(,[\w-]+)+", default):
        return ","
    if isinstance(default, str) and re.fullmatch(r"\d+(\.\d+){3}", default):
        return "."
    return None


# ------------------------------------------------------------------------------------------ value checking
def _scalar_text(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError
    return str(value)


def _join(value, sep):
    """A TOML array as the command-line text of a list option; nested arrays (a volume inside a list of
    volumes) are joined with '.'."""
    parts = []
    for v in value:
        if isinstance(v, list):
            inner = "." if sep == "," else None
            if inner is None:
                raise TypeError
            parts.append(inner.join(_scalar_text(w) for w in v))
        else:
            parts.append(_scalar_text(v))
    return sep.join(parts)


def _expected(action):
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "a boolean (true/false)"
    one, many = _TYPE_NAMES.get(action.type or str, ("a string (the command-line text)", "strings"))
    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        return f"an array of {many} (or one value)"
    if (action.type in (None, str)) and list_separator(action):
        sep = list_separator(action)
        return f"a string or an array (joined with {sep!r})"
    return one


def _bad(path, key, value, action, extra=""):
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "a table"  # default: TOML dates
    return ConfigError(f"{path}: key '{key}' = {shown} has the wrong type: {_flag(action)} expects "
                       f"{_expected(action)}{extra}")


def _convert_one(path, key, value, action):
    """One scalar value for an option with argparse type `action.type`, converted and checked."""
    typ = action.type or str
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, key, value, action)
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(path, key, value, action)
        return float(value)
    if typ is str:
        if isinstance(value, str):
            return value
        sep = list_separator(action)
        if isinstance(value, list) and sep is not None:
            try:
                return _join(value, sep)
            except TypeError:
                raise _bad(path, key, value, action, " (array elements must be numbers or strings)") from None
        raise _bad(path, key, value, action)
    # an option with its own conversion function: the file gives the text of the command line
    if isinstance(value, list) and list_separator(action) is not None:
        try:
            value = _join(value, list_separator(action))
        except TypeError:
            raise _bad(path, key, value, action) from None
    if not isinstance(value, str):
        raise _bad(path, key, value, action)
    try:
        return typ(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise ConfigError(f"{path}: key '{key}' = {json.dumps(value)} is not a valid {_flag(action)}: {exc}") from None


def _check_choices(path, key, value, action):
    if action.choices is None:
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v not in action.choices:
            raise ConfigError(f"{path}: key '{key}' = {json.dumps(v)} is not one of the choices of "
                              f"{_flag(action)}: {', '.join(json.dumps(c) for c in action.choices)}")


def convert_value(path, key, value, action):
    """The value of `key` from the file as the option would hold it after parsing the command line."""
    if isinstance(value, dict):
        raise _bad(path, key, value, action, " (configuration files are flat: no tables)")
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise _bad(path, key, value, action)
        return value
    if isinstance(action, argparse._StoreConstAction):
        raise ConfigError(f"{path}: key '{key}': {_flag(action)} is a constant flag that a configuration file "
                          f"cannot set; give it on the command line")
    if not isinstance(action, argparse._StoreAction):
        raise ConfigError(f"{path}: key '{key}': {_flag(action)} ({type(action).__name__}) cannot be set from a "
                          f"configuration file; give it on the command line")
    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        items = value if isinstance(value, list) else [value]
        if action.nargs == "+" and not items:
            raise _bad(path, key, value, action, " (at least one value)")
        if isinstance(action.nargs, int) and len(items) != action.nargs:
            raise _bad(path, key, value, action, f" (exactly {action.nargs} values)")
        out = []
        for v in items:
            if isinstance(v, list):
                raise _bad(path, key, value, action)
            out.append(_convert_one(path, key, v, action))
        _check_choices(path, key, out, action)
        return out
    if isinstance(value, list) and action.nargs not in (None, "?"):
        raise _bad(path, key, value, action)
    out = _convert_one(path, key, value, action)
    _check_choices(path, key, out, action)
    return out


# ------------------------------------------------------------------------------------------ reading a file
def read_file(path):
    """The parsed TOML of `path`; a missing or malformed file is a ConfigError naming it."""
    try:
        with open(path, "rb") as f:
            return _toml.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    except _toml.TOMLDecodeError as exc:
        raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None


def file_values(parser, path, command=None):
    """{dest: value} from the TOML file `path`, checked against the options of `parser`."""
    data = read_file(path)
    actions = option_actions(parser)
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"{path}: [{key}] is a table: configuration files are flat (key = value lines, "
                              f"no tables)")
        action = actions.get(key)
        if action is None:
            near = difflib.get_close_matches(key, list(actions), n=1, cutoff=0.6)
            if near:
                hint = f"; did you mean '{near[0]}'?"
            else:  # nothing close: the nearest anyway, and the whole list
                nearest = difflib.get_close_matches(key, list(actions), n=1, cutoff=0.0)
                hint = (f"; the nearest valid key is '{nearest[0]}'" if nearest else "") + \
                    f"; valid keys: {', '.join(actions)}"
            what = f"`{command}`" if command else "this command"
            raise ConfigError(f"{path}: unknown key '{key}' for {what}{hint} (keys are the long options with "
                              f"underscores)")
        out[key] = convert_value(path, key, value, action)
    return out


def apply_file(parser, argv, path, command=None):
    """Parse `argv` (the arguments after the command name) with the values of the file as defaults, so that
    flags on the command line override the file. Returns the argparse namespace."""
    values = file_values(parser, path, command)
    actions = option_actions(parser)
    for dest in values:
        if actions[dest].required:  # the file supplies it
            actions[dest].required = False
    parser.set_defaults(**values)
    return parser.parse_args(argv)


def resolved(parser, args):
    """{dest: value} of every option after parsing, in the parser's order (the configuration to log/save)."""
    return {dest: getattr(args, dest, None) for dest in option_actions(parser)}


# ------------------------------------------------------------------------------------------ writing TOML
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key):
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def toml_value(value):
    """A Python scalar (or flat list of scalars) as a TOML value; None -> None (no TOML value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        parts = [toml_value(v) for v in value]
        if any(p is None for p in parts) or any(isinstance(v, (list, tuple)) for v in value):
            raise ValueError(f"cannot write {value!r} as a flat TOML array")
        return "[" + ", ".join(parts) + "]"
    # other values (from custom argparse types) are written as their text
    return json.dumps(str(value), ensure_ascii=False)


def to_toml(config, header=()):
    """Flat TOML text of `config`; options without a value (None) are listed as comments."""
    lines = [f"# {h}" if h else "#" for h in header]
    for key, value in config.items():
        text = toml_value(value)
        if text is None:
            lines.append(f"# {_toml_key(key)} = (not set: the command's default)")
        else:
            lines.append(f"{_toml_key(key)} = {text}")
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    """Write `text` to `path` through a temporary file in the same directory, fsync, rename."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def saved_path(parser, args):
    """Where the resolved configuration of a run goes: DIR/config.toml for an --out directory, else
    FILE.config.toml beside --json FILE.json (or beside a file given by --out); None without outputs."""
    actions = option_actions(parser)
    out = getattr(args, "out", None) if "out" in actions else None
    if isinstance(out, str) and out:
        a = actions["out"]
        text = " ".join(str(t) for t in (a.help, a.metavar) if t).lower()
        if "director" in text or "dir" in str(a.metavar or "").lower() or os.path.isdir(out):
            return os.path.join(out, SAVED_NAME)
        return _sibling(out)
    js = getattr(args, "json", None) if "json" in actions else None
    if isinstance(js, str) and js:
        return _sibling(js)
    return None


def _sibling(path):
    root, ext = os.path.splitext(path)
    return (root if ext.lower() == ".json" else path) + ".config.toml"


# ------------------------------------------------------------------------------------------ the whole step
def _world():
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD
    except ImportError:  # pragma: no cover
        return None


def _agree(comm, problem, what):
    """Every rank's `problem` (None or a message) gathered: the first rank's message is raised on all."""
    if comm is None or comm.Get_size() == 1:
        if problem is not None:
            raise ConfigError(problem)
        return
    problems = comm.allgather(problem)
    for r, p in enumerate(problems):
        if p is not None:
            raise ConfigError(p if r == comm.Get_rank() or p == problem else f"{what} on rank {r}: {p}")


def resolve(parser, argv, args, command):
    """The namespace of the command after applying its configuration file (if any) to `argv`.

    Errors are ConfigError raised on every rank: each rank reads the file; if any rank fails, every rank
    raises the failing rank's message; a file that resolves differently on different ranks is refused."""
    path = getattr(args, CONFIG_DEST, None)
    if path is None:
        return args
    comm = _world()
    problem = None
    try:
        new = apply_file(parser, argv, path, command)
        for key, value in vars(args).items():  # what the top-level parser added (`command`)
            if not hasattr(new, key):
                setattr(new, key, value)
        args = new
    except ConfigError as exc:
        problem = str(exc)
    _agree(comm, problem, "configuration error")
    if comm is not None and comm.Get_size() > 1:
        mine = to_toml(resolved(parser, args))
        if len(set(comm.allgather(mine))) != 1:
            raise ConfigError(f"the configuration file {path} resolves differently on different ranks (is it "
                              f"the same file on every node?)")
    return args


def record(parser, args, command, log):
    """Log the resolved configuration (rank 0) and save it beside the outputs (rank 0, atomically).
    Returns the path written (on every rank) or None. A failed write is a ConfigError on every rank."""
    config = resolved(parser, args)
    source = getattr(args, CONFIG_DEST, None)
    text = to_toml(config)
    log.info("configuration of `%s`%s:\n%s", command, f" (file {source} + command line)" if source else "",
             "\n".join("    " + line for line in text.rstrip("\n").splitlines()))
    path = saved_path(parser, args)
    if path is None:
        return None
    comm = _world()
    rank = comm.Get_rank() if comm is not None else 0
    problem = None
    if rank == 0:
        try:
            d = os.path.dirname(path)
            if d:
                os.makedirs(d, exist_ok=True)
            header = [f"resolved configuration of `gaugenet {command}`; repeat the run with",
                      f"    python -m gaugenet {command} {path}"]
            if source:
                header.append(f"(from {source} and the command line)")
            write_atomic(path, to_toml(config, header))
        except OSError as exc:
            problem = f"cannot write the resolved configuration to {path}: {exc.strerror or exc}"
    if comm is not None and comm.Get_size() > 1:
        problem = comm.bcast(problem, root=0)
    if problem is not None:
        raise ConfigError(problem)
    log.info("configuration saved to %s", path)
    return path


def example_command(path, commands):
    """The command an example config file is for: a `# command: NAME` line, else the first `gaugenet NAME` in its
    header comment, else a dash-separated part of the file name (`seed002-hmc.toml` -> hmc); None if none of
    `commands` fits."""
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("# command:"):
            return line.split(":", 1)[1].strip()
    for line in lines:
        if not line.startswith("#"):
            break
        m = re.search(r"gaugenet (\w+)", line)
        if m and m.group(1) in commands:
            return m.group(1)
    for part in os.path.basename(path)[:-5].split("-"):
        if part in commands:
            return part
    return None
