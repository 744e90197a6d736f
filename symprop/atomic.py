"""Atomic file output: write to a temporary file in the target's directory, then rename it into place.

A reader polling the target sees either the old file or the whole new one, never a truncated or
half-written file, and nothing is left behind when writing fails (a full disk, an exception while
rendering a figure, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


class OutputError(OSError):
    """A file could not be written; the message names the path and the reason."""


def check_target(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Refuse, before any work is done, a target that cannot be written: a directory, a missing folder."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{what} {target}: is a directory; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"{what} {target}: the directory {parent} does not exist")
    return target


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8", what: str = "output"
) -> Iterator[IO[Any]]:
    """``with replacing(path) as fh: fh.write(...)``: the file appears at ``path`` only when the block ends.

    Special files (``/dev/null``, ``/dev/stdout``, a FIFO) cannot be renamed over; they are written
    directly. Errors are :class:`OutputError` naming ``path``.
    """
    target = Path(path)
    binary = "b" in mode
    if target.exists() and not target.is_file() and not target.is_dir():  # a device or a pipe
        try:
            with open(target, mode, encoding=None if binary else encoding) as fh:
                yield fh
                fh.flush()
        except OSError as exc:
            raise OutputError(f"{what} {target}: {exc.strerror or exc}") from None
        return
    check_target(target, what)
    final = target.resolve() if target.is_symlink() else target  # replace the link's target, keep the link
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as exc:
        raise OutputError(f"{what} {target}: cannot write in {final.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(final, tmp)
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"{what} {target}: {exc.strerror or exc}") from None
        raise


def _keep_mode(final: Path, tmp: str) -> None:
    """The new file gets the old file's permissions, else the usual ones (mkstemp makes it 0600)."""
    try:
        mode = final.stat().st_mode & 0o7777 if final.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str, what: str = "output") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with replacing(path, "w", what=what) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes, what: str = "output") -> Path:
    with replacing(path, "wb", encoding=None, what=what) as fh:
        fh.write(data)
    return Path(path)


def write_with(
    path: str | os.PathLike[str], writer: Callable[[IO[Any]], Any], binary: bool = True, what: str = "output"
) -> Path:
    """Atomically write what ``writer(fh)`` writes (e.g. ``lambda fh: fig.savefig(fh, format="png")``)."""
    with replacing(path, "wb" if binary else "w", encoding=None if binary else "utf-8", what=what) as fh:
        writer(fh)
    return Path(path)
