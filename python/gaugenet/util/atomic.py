"""Atomic file writes: the data goes to a temporary name in the same directory, is flushed and fsync'ed,
and only then renamed over the final name (os.replace, atomic on POSIX file systems); the directory is
fsync'ed after the rename so that the new name itself survives a crash of the node. A process killed at
any moment (SIGKILL, a lost node) therefore leaves either the old file or the new one under the final
name, never a half-written one; at worst a stray temporary file `.NAME.gaugenet-part` remains, which the
next write of the same file replaces.

    with atomic_open("run/state.json", "w") as f:       # text or binary mode
        json.dump(state, f)
    atomic_write_bytes("plot.png", data)
    atomic_write_text("run/config.toml", text)
    atomic_write_json("out.json", obj, indent=1)

These are single-process helpers (call them on one rank, usually rank 0). Collective writes of files
that every rank contributes to are in gaugenet.io.common.atomic_write (which uses fsync_file and
fsync_dir from here).
"""
import contextlib
import json
import os


def temp_name(path):
    """The temporary name `path` is written under before the rename (same directory, hidden)."""
    d, b = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(d, f".{b}.gaugenet-part")


def fsync_file(path):
    """Flush a file that was written and closed (by this or another library) to the disk."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path):
    """fsync the directory holding `path` (makes a rename in it durable); ignored where directories
    cannot be opened (some network and Windows file systems)."""
    d = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp, path):
    """fsync `tmp`, rename it to `path`, fsync the directory."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path)


@contextlib.contextmanager
def atomic_open(path, mode="w", **kw):
    """open() for writing that only replaces `path` when the block finishes without an exception;
    on an exception the temporary file is removed and `path` is left as it was."""
    if not any(c in mode for c in "wx") or "+" in mode:
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    tmp = temp_name(path)
    f = open(tmp, mode.replace("x", "w"), **kw)
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
        fsync_dir(path)
    except BaseException:
        f.close()
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text, encoding="utf-8"):
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def atomic_write_json(path, obj, **kw):
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, **kw)
