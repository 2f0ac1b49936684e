"""The one writer: regular files atomically, symlinks through, devices and FIFOs in place.

Device twins are made with mknod in a temporary directory (never a real device under /dev).
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from keyplane.output import OutputError, check_destination, write_output, write_outputs

is_root = os.geteuid() == 0


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_output(link, "new\n")
    assert link.is_symlink()
    assert target.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_a_symlink_to_a_missing_file_creates_the_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "made.json")
    write_output(link, "x")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "x"


@pytest.mark.skipif(not is_root, reason="mknod of a character device needs root")
def test_a_character_device_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    twin = tmp_path / "null"
    os.mknod(twin, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a twin of /dev/null
    write_output(twin, "report\n")
    assert stat.S_ISCHR(twin.stat().st_mode)
    assert os.listdir(tmp_path) == ["null"]


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as stream:
            received.append(stream.read())

    reader = threading.Thread(target=read)
    reader.start()
    # Wait for the reader to open its end, so the writer finds one.
    for _ in range(200):
        try:
            write_output(fifo, "through the pipe\n")
            break
        except OutputError as err:
            if "no reader" not in str(err):
                raise
            threading.Event().wait(0.01)
    reader.join(10)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_fifo_without_reader_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="pipe: cannot write: a FIFO with no reader"):
        write_output(fifo, "x")


def test_a_directory_and_a_missing_directory_are_refused_naming_the_given_path(
    tmp_path: Path,
) -> None:
    with pytest.raises(OutputError) as caught:
        write_output(tmp_path, "x")
    assert caught.value.filename == str(tmp_path)
    missing = tmp_path / "no" / "such" / "report.json"
    with pytest.raises(OutputError) as caught:
        check_destination(missing)
    assert caught.value.filename == str(missing)
    assert "does not exist" in str(caught.value)


def test_a_full_disk_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    output.write_text("earlier\n")
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from keyplane.output import OutputError, write_output\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "try:\n"
        "    write_output(Path(sys.argv[1]), 'x' * 100_000)\n"
        "except OutputError as err:\n"
        "    print(err)\n"
        "    sys.exit(2)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(output)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith(f"{output}: cannot write: ")
    assert output.read_text() == "earlier\n"
    assert os.listdir(tmp_path) == ["report.json"]
    assert resource.RLIMIT_FSIZE and signal.SIGXFSZ  # the mechanism the test relies on


def test_several_documents_are_written_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "b.md").mkdir()  # the second document's place is taken by a directory
    with pytest.raises(OutputError) as caught:
        write_outputs(out, {"a.md": "A", "b.md": "B", "c.md": "C"})
    assert caught.value.filename == str(out / "b.md")
    assert sorted(os.listdir(out)) == ["b.md"]
    (out / "b.md").rmdir()
    assert write_outputs(out, {"a.md": "A", "b.md": "B"}) == [out / "a.md", out / "b.md"]
    assert (out / "b.md").read_text() == "B"
