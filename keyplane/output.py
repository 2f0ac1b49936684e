"""Writing what a command produces without clobbering what the path names.

One writer for every command (`--output`, `--emit-plan`, `docs --output-dir`):

- a regular file (or a new one) is replaced atomically: the text goes to a temporary file in
  the same directory, is flushed to disk, then renamed over the target, so a reader never sees
  half a report and a failure keeps the earlier file;
- a symlink is written through to its target (the link stays a link);
- a character device or a FIFO (`/dev/stdout`, `/dev/null`, a pipe a CI step reads) is written
  to directly, never replaced by a regular file — as root, renaming over `/dev/null` would
  replace the machine's device;
- anything else (a directory, a socket, a missing directory) is refused.

Errors are `OutputError`, an `OSError` whose `filename` is the path the user gave (never a
temporary file's) and whose `strerror` says what went wrong.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from keyplane import supervise

#: A new report's mode (an existing file keeps its own): reports hold no secret values.
NEW_FILE_MODE = 0o644


class OutputError(OSError):
    """The output at `filename` (as given) could not be written; `strerror` says why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(errno.EIO, reason, str(path))

    def __str__(self) -> str:
        return f"{self.filename}: cannot write: {self.strerror}"


def _target(path: Path) -> Path:
    """The path written: a symlink's final target, else `path` itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_destination(path: Path) -> None:
    """Refuse, before any work is done, a destination `write_output` could not write.

    Raises OutputError when the directory is missing or not writable, or when `path` is a
    directory or a socket.
    """
    target = _target(path)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise OutputError(path, err.strerror or str(err)) from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise OutputError(path, "is a directory; name a file")
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            if not os.access(target, os.W_OK):
                raise OutputError(path, "permission denied")
            return
        if not stat.S_ISREG(mode):
            raise OutputError(path, "is not a regular file, a device or a FIFO")
    directory = target.parent
    if not directory.is_dir():
        raise OutputError(path, f"directory {directory} does not exist; create it first")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(path, f"directory {directory} is not writable")


def write_output(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` as the module docstring says; OutputError on failure."""
    target = _target(path)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise OutputError(path, err.strerror or str(err)) from None
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        _write_stream(path, target, text.encode("utf-8"))
        return
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(
            path, "is a directory; name a file" if stat.S_ISDIR(mode) else "is not a regular file"
        )
    temporary = _write_temporary(path, target, text, mode)
    try:
        os.replace(temporary, target)
    except OSError as err:
        _remove(temporary)
        raise OutputError(path, err.strerror or str(err)) from None
    supervise.untrack(temporary)


def write_outputs(directory: Path, documents: Mapping[str, str]) -> list[Path]:
    """Write several files into `directory` all or nothing: every text is written to its
    temporary file first, and only when all are on disk are they renamed into place.

    Returns the paths written, in order. Raises OutputError (naming the file that failed) and
    leaves no temporary file and no new document behind when any write fails.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(directory, err.strerror or str(err)) from None
    written: list[tuple[Path, Path]] = []
    try:
        for name, text in documents.items():
            path = directory / name
            target = _target(path)
            mode = target.stat().st_mode if target.exists() else None
            if mode is not None and not stat.S_ISREG(mode):
                raise OutputError(
                    path, "is not a regular file; remove it or choose another directory"
                )
            written.append((_write_temporary(path, target, text, mode), target))
    except BaseException:
        for temporary, _ in written:
            _remove(temporary)
        raise
    for temporary, target in written:
        os.replace(temporary, target)
        supervise.untrack(temporary)
    return [directory / name for name in documents]


def _write_stream(path: Path, target: Path, data: bytes) -> None:
    """Write to a device or FIFO in place (a FIFO with no reader is an error, not a hang)."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        reason = "a FIFO with no reader" if err.errno == errno.ENXIO else err.strerror
        raise OutputError(path, reason or str(err)) from None
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as err:
        raise OutputError(path, err.strerror or str(err)) from None
    finally:
        os.close(fd)


def _write_temporary(path: Path, target: Path, text: str, mode: int | None) -> Path:
    """A flushed temporary file beside `target` holding `text`, with the target's mode."""
    try:
        descriptor, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except FileNotFoundError:
        raise OutputError(path, f"directory {target.parent} does not exist") from None
    except OSError as err:
        raise OutputError(path, err.strerror or str(err)) from None
    temporary = Path(name)
    supervise.track(temporary)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, stat.S_IMODE(mode) if mode is not None else NEW_FILE_MODE)
    except OSError as err:
        _remove(temporary)
        raise OutputError(path, err.strerror or str(err)) from None
    except BaseException:
        _remove(temporary)
        raise
    return temporary


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
    supervise.untrack(path)
