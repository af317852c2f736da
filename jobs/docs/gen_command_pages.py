#!/usr/bin/env python3
"""Regenerate the machine-written parts of docs/commands/<command>.md from the command parsers.

Each page is hand-written text with two generated blocks, fenced by HTML comments:

    <!-- BEGIN GENERATED options: ... -->  ...  <!-- END GENERATED options -->
    <!-- BEGIN GENERATED examples: ... --> ...  <!-- END GENERATED examples -->

`options` is the table of every option of the command as `build_parser()` defines it (the flag, the
configuration-file key, the TOML value it takes, the default written as TOML, the help text, with
`%(default)s` expanded); `examples` lists the files of jobs/configs/ that run the command (the rule of
gaugenet.cli.config.example_command: a `# command: NAME` line, else the first `gaugenet NAME` of the header, else a
dash-separated part of the file name) and shows one of them in full. Only the text between the markers
is replaced; everything else on the page is left as written.

    python jobs/docs/gen_command_pages.py            # rewrite the generated blocks in place
    python jobs/docs/gen_command_pages.py --check    # exit 1 (and name the pages) if any is out of date

tests/test_docs_commands.py runs the same functions and compares with the committed pages.
"""
import argparse
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PAGES = os.path.join(ROOT, "docs", "commands")
CONFIGS = os.path.join(ROOT, "jobs", "configs")
SCRIPT = "jobs/docs/gen_command_pages.py"

# the example shown in full on each page (default: jobs/configs/<command>.toml); None: no example file
PRIMARY_EXAMPLE = {"lcnn": "seed001-wilson-loops.toml", "flow": "seed003-phi4.toml", "info": None}

# what an option without help text in its parser does (used only while the parser has no help for it)
FALLBACK_HELP = {
    "verbose": "log at DEBUG level (more detail on rank 0)",
    ("selfcheck", "seed"): "seed of the random fields the checks use",
    ("solve", "seed"): "seed of the heat bath (without --config) and of the random right-hand side",
    ("mg", "seed"): "seed of the heat bath (without --config), of the random vectors and of the training",
    ("solve", "mass"): "Wilson quark mass m of the Wilson-clover operator",
    ("mg", "mass"): "Wilson quark mass m of the Wilson-clover operator",
    ("solve", "csw"): "clover coefficient c_sw",
    ("mg", "csw"): "clover coefficient c_sw",
    ("solve", "tol"): "relative residual |b - D x|/|b| to reach",
    ("mg", "tol"): "relative residual |b - D x|/|b| to reach",
    ("solve", "maxiter"): "iteration limit of every solve",
    ("solve", "precision"): "floating-point precision of the lattice fields and the solves",
    ("mg", "precision"): "floating-point precision of the lattice fields",
    ("hmc", "integrator"): "molecular-dynamics integrator (default omelyan)",
    ("bench", "precisions"): "comma-separated precisions to time (double, single)",
    ("bench", "project_precision"): "precision of the operator whose time per site the projection uses",
}


class PageError(Exception):
    """A page or example file the generator cannot bring up to date (missing markers, missing file)."""


def _markers(kind):
    begin = f"<!-- BEGIN GENERATED {kind}: written by {SCRIPT}; do not edit by hand -->"
    end = f"<!-- END GENERATED {kind} -->"
    return begin, end


# ------------------------------------------------------------------------------------------ the parsers
def commands():
    """{name: subparser} of every registered command, in registration order."""
    from gaugenet.cli.main import build_parser
    _, cmds = build_parser()
    return {name: sub for name, (_, sub) in cmds.items()}


def _help_text(parser, action, command):
    if action.help:
        try:
            text = parser._get_formatter()._expand_help(action)   # `%(default)s`, `%%` as --help shows them
        except (TypeError, ValueError, KeyError, AttributeError):
            text = action.help
    else:
        text = FALLBACK_HELP.get((command, action.dest)) or FALLBACK_HELP.get(action.dest)
        text = text if text else "(no help text)"
    return " ".join(text.split())


def _cell(text):
    """Text safe inside a Markdown table cell."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("*", "\\*"))


def _flags(action):
    """`--flag METAVAR` as --help writes it (a code span: no HTML escaping needed, only `|`)."""
    if action.nargs == 0:
        return ", ".join(f"`{s}`" for s in action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if action.nargs == "+":
        metavar = f"{metavar} [{metavar} ...]"
    return ", ".join(f"`{s} {metavar}`".replace("|", "\\|") for s in action.option_strings)


def _value(action):
    from gaugenet.cli import config
    if action.choices is not None:
        return "one of " + ", ".join(f"`{config.toml_value(c)}`" for c in action.choices)
    return _cell(config._expected(action))


def _default(action):
    from gaugenet.cli import config
    if action.default is None or action.default == argparse.SUPPRESS:
        return "not set"
    try:
        text = config.toml_value(action.default)
    except ValueError:
        text = repr(action.default)
    return f"`{text}`"


def render_options(command, parser):
    """The Markdown table of every option of `command` (the configuration-file keys)."""
    from gaugenet.cli import config
    actions = config.option_actions(parser)
    lines = [f"`python -m gaugenet {command} [CONFIG.toml] [options]`: every option below is also a key of the",
             "optional TOML file (flags on the command line override the file; docs/cli.md). "
             f"{len(actions)} options.", "",
             "| option | config key | TOML value | default | what it does |",
             "|---|---|---|---|---|"]
    for dest, action in actions.items():
        lines.append(f"| {_flags(action)} | `{dest}` | {_value(action)} | {_default(action)} | "
                     f"{_cell(_help_text(parser, action, command))} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the examples


def _summary(path):
    """The header comment of an example, as one line (without the run lines and `# command:`)."""
    words = []
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            body = line[1:].strip()
            if not body or body.startswith("command:") or "python -m gaugenet" in body or body.startswith("mpiexec"):
                continue
            words.append(body)
    text = " ".join(words)
    if len(text) > 240:
        text = text[:240].rsplit(" ", 1)[0]
        if text.count("`") % 2:          # do not leave a code span open
            text = text[:text.rindex("`")].rstrip()
        text += " ..."
    return text


def examples_for(command, names):
    """Sorted file names in jobs/configs/ whose command is `command`."""
    from gaugenet.cli import config
    out = []
    for name in sorted(os.listdir(CONFIGS)):
        if name.endswith(".toml") and config.example_command(os.path.join(CONFIGS, name), names) == command:
            out.append(name)
    return out


def render_examples(command, names):
    files = examples_for(command, names)
    primary = PRIMARY_EXAMPLE.get(command, f"{command}.toml")
    lines = []
    if primary is not None:
        if primary not in files:
            raise PageError(f"{SCRIPT}: jobs/configs/{primary} (the example of `{command}`) is missing or not "
                             f"a `{command}` file")
        with open(os.path.join(CONFIGS, primary)) as f:
            text = f.read().rstrip("\n")
        lines += [f"`jobs/configs/{primary}`:", "", "```toml", text, "```", ""]
    if files:
        lines += [f"Example files for `{command}` in jobs/configs/ (run them as "
                  f"`python -m gaugenet {command} jobs/configs/FILE.toml`, flags added after the file override it):", ""]
        lines += [f"- `jobs/configs/{name}`: {_cell(_summary(os.path.join(CONFIGS, name)))}" for name in files]
    else:
        lines.append(f"There is no example file for `{command}` in jobs/configs/.")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the pages
def replace_block(text, kind, body, page):
    begin, end = _markers(kind)
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise PageError(f"{page}: the markers of the generated {kind} block are missing:\n  {begin}\n  {end}")
    return text[:i + len(begin)] + "\n" + body + "\n" + text[j:]


def page_path(command):
    return os.path.join(PAGES, f"{command}.md")


def expected_pages():
    """{path: text the page should have} for every command with the generated blocks brought up to date;
    a page that does not exist is reported as a missing page (PageError)."""
    cmds = commands()
    out = {}
    for name, parser in cmds.items():
        path = page_path(name)
        if not os.path.exists(path):
            raise PageError(f"{os.path.relpath(path, ROOT)} is missing: write the page (intro, outputs, links) "
                             f"with the two marker pairs, then run {SCRIPT}")
        with open(path) as f:
            text = f.read()
        text = replace_block(text, "options", render_options(name, parser), path)
        text = replace_block(text, "examples", render_examples(name, list(cmds)), path)
        out[path] = text
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if a page is out of date")
    a = ap.parse_args(argv)
    try:
        import gaugenet  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "python"))
    stale = []
    try:
        pages = expected_pages()
    except PageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path, text in pages.items():
        with open(path) as f:
            old = f.read()
        if old != text:
            stale.append(os.path.relpath(path, ROOT))
            if not a.check:
                with open(path, "w") as f:
                    f.write(text)
    if a.check:
        if stale:
            print(f"out of date: {', '.join(stale)}; run python {SCRIPT}")
            return 1
        print("docs/commands/*.md are up to date")
        return 0
    print(f"updated: {', '.join(stale)}" if stale else "docs/commands/*.md were already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
