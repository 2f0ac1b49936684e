"""Reading an input file without trusting what the path names.

Every file keyplane reads (environment files, registers, stack exports, previews) comes from a
pull request or a CI workspace. Before reading, the path must name a regular file (a symlink is
followed to its target, which must be regular too): a FIFO would block the reader forever, a
device such as `/dev/zero` would be read until memory runs out, and a directory gives an error
Python reports as a traceback. Reading is bounded by a size cap, checked on the open file so a
file that grows while read cannot slip past it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from keyplane.config.errors import ConfigError, Problem

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(
    path: Path, shown: str, max_bytes: int, fix: str, missing_fix: str = "check the path"
) -> bytes:
    """The bytes of `path`, at most `max_bytes` long.

    `shown` is the path as the user wrote it (used in messages); `fix` is the advice given with
    a refusal, `missing_fix` the advice when nothing is at the path. Raises ConfigError (one problem naming `shown`) when the path is missing, is not
    a regular file, cannot be read, or holds more than `max_bytes` bytes.
    """

    def refuse(problem: str, advice: str = fix) -> ConfigError:
        return ConfigError([Problem(shown, None, "", problem, fix=advice)])

    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            target = os.readlink(path)
            raise refuse(f"is a symlink to {target}, which does not exist", missing_fix) from None
        raise refuse("file not found", missing_fix) from None
    except IsADirectoryError:
        raise refuse("is a directory, not a file") from None
    except OSError as err:
        if err.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
            raise refuse("is not a regular file") from None
        raise refuse(f"cannot read the file: {err.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise refuse(f"is {_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise refuse(f"file is larger than {_size(max_bytes)}", "is this the right file?")
        return b"".join(chunks)
    except OSError as err:
        raise refuse(f"cannot read the file: {err.strerror}") from None
    finally:
        os.close(fd)


def is_present(path: Path) -> bool:
    """Whether anything is at `path`, a symlink to nothing included: an optional input (a
    register) whose link dangles must be refused by its reader, not read as absent, which would
    silently judge without it."""
    return path.exists() or path.is_symlink()


def _size(limit: int) -> str:
    if limit >= 4 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    return f"{limit // 1024} KiB"
