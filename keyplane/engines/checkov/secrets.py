"""Committed key material (KM-STO-001: "no key material is in the repository"), found by
checkov's secrets framework (its detect-secrets plugins: private keys, cloud access keys,
high-entropy strings) over the files of the user's project.

The scan is bounded in what it reads and in time:
- `preview`: what the Pulumi project holds for keyplane: `Pulumi.yaml`, the estate folder, the
  stack config folder (and `--stack-config`'s, wherever it is) and the program's folder
  (`main`), never the whole checkout (a project of keyplane's own carries its tests);
- `scan FILE`: the file's folder, without the file itself (a secret written in clear in it is
  judged per resource); in JSON files, key material counts (a private key in a service
  account's key file, a cloud access key) but high-entropy strings do not: the stack documents
  beside the scanned one carry their secrets as ciphertext, which those detectors take for key
  material;
- never `.git`, `.venv`, `node_modules`, nor dependency lock files (`uv.lock`,
  `package-lock.json`...: package managers write them, and they are most of the lines a
  project holds); a run of the gate's one checkov process beside the
  plan's (`runner.PendingCheckov`: checkov's start-up is paid once), waited for at most
  `KEYPLANE_CHECKOV_TIMEOUT` or SCAN_SECONDS; a scan that fails or runs out of time is an error,
  never an empty result.

A finding names the file (relative to the scanned root) and the line, never the value: checkov
is run with `--compact`, and its code block is not read. A file checkov could not read (it logs
a warning and counts the file clean) is an advisory "cannot judge" on that file, and so is a
file larger than checkov's secrets scan reads (`CHECKOV_MAX_FILE_SIZE`, 5 MB by default: checkov
skips it, saying so only at info level, and counts it clean). Such a file is reported rather
than scanned: the scan stays bounded in time, and the user decides (raise the limit, or remove
the file). So is a file that is not a regular file (a named pipe, a device, a socket, or a link
to one; KM-STO-001): checkov would open it and could wait on it until the scan's
deadline, so it is found before checkov starts, skipped and never opened. The document `scan`
judges is never part of the scan, whatever its size. The files' comments are scanned as well,
from plain-text copies (`CommentCopies`): checkov reads a YAML or INI file's values only. And
checkov reads text only: a binary file that is key material as a whole (a DER private key, a
PKCS#12 or Java key store: `key_files`) is found by keyplane itself, each file read once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyplane import supervise
from keyplane.engines.checkov.comments import comments
from keyplane.engines.checkov.key_files import (
    KeyBlock,
    json_private_keys,
    key_material,
    private_keys,
)
from keyplane.engines.checkov.runner import (
    CHECKOV_TIMEOUT_ENV,
    CheckovError,
    PendingCheckov,
    given_deadline,
)
from keyplane.findings import Engine, Finding
from keyplane.rules.catalog import RULES, Enforcement
from keyplane.rules.sto import (
    committed_key_file,
    committed_key_material,
    oversized_repository_file,
    special_repository_file,
    unread_repository_file,
)

#: Folders never scanned (checkov `--skip-path` takes regular expressions).
SKIPPED_FOLDERS = (".git", ".venv", "venv", "node_modules", "__pycache__", ".pulumi")
#: Files never scanned: dependency lock files, written by package managers (package names,
#: versions, integrity hashes), often the project's largest files: most of the scan's CPU
#: on keyplane's own checkout (uv.lock, 2,505 of 4,960 lines), more in a Node project.
SKIPPED_FILES = (
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "go.sum",
    "Cargo.lock",
)
#: The type a committed-secret finding carries (a file, not a resource).
FILE_TYPE = "keyplane:repository:File"
#: Seconds the scan is waited for once its findings are asked for (unless
#: `KEYPLANE_CHECKOV_TIMEOUT` says otherwise): it reads a bounded set of files.
SCAN_SECONDS = 300.0
#: What checkov logs (a warning, on stderr) for a file its secrets scan could not read: it then
#: counts the file as clean (checkov/secrets/runner.py, `_safe_scan`).
UNREAD_FILE = re.compile(r"Secret scanning: could not process file (?P<path>.+?)\s*$", re.MULTILINE)
#: checkov's own setting: the size in bytes above which its secrets scan skips a file, logged at
#: info level only (unseen) and counted clean (checkov/secrets/runner.py, `_safe_scan`); 0 or
#: less: no limit. Read by checkov when it starts, from the environment keyplane gives it.
SCAN_SIZE_ENV = "CHECKOV_MAX_FILE_SIZE"
#: checkov's default for it.
DEFAULT_SCAN_SIZE = 5_000_000
#: checkov's high-entropy detectors (Base64, Hex, Random): ciphertext looks the same to them
#: (checkov/secrets/runner.py, `ENTROPY_CHECK_IDS`).
ENTROPY_CHECKS = frozenset({"CKV_SECRET_6", "CKV_SECRET_19", "CKV_SECRET_80"})


class PendingSecretsScan:
    """checkov's secrets framework started now over `scope` (its folders and files),
    as a run of `checkov` (the gate's one checkov process); `findings()` waits for it. Started
    beside the render and the pack, so that its scan overlaps with them.

    `timeout_seconds`: how long `findings()` waits (None: `KEYPLANE_CHECKOV_TIMEOUT` when set,
    else SCAN_SECONDS).

    The files of the scope are looked at once, before checkov starts (`_survey`): a file that
    is not a regular file (a named pipe, a device, a socket, or a link to one) is never handed
    to checkov, which would open it and could wait on it until the scan's deadline; it is
    skipped (`--skip-path`) and reported as not judged.
    """

    def __init__(
        self,
        checkov: PendingCheckov,
        scope: ScanScope,
        *,
        timeout_seconds: float | None = None,
    ) -> None:
        self.root = scope.root
        self.scope = scope
        self.timeout_seconds = timeout_seconds
        self._files = _survey(scope)
        #: The files of the scope checkov must not open (their `st_mode`), in the order found.
        self._special = {
            path: status.st_mode
            for path, status in self._files.items()
            if status is not None and not stat.S_ISREG(status.st_mode)
        }
        handed = _one_pass(scope, self._files, self._special)
        arguments: list[str] = []
        for path in handed:
            # Absolute, as the skipped paths below are written: checkov walks a folder from
            # the path it is given, and matches `--skip-path` against the paths it finds.
            arguments += ["--directory" if path.is_dir() else "--file", os.path.abspath(path)]
        #: The comments of the scope's files as plain text (`CommentCopies`), scanned too, and
        #: the binary files that are key material (`key_files`), which checkov does not read.
        #: And the private keys of text files checkov's detector misses (`private_keys`).
        self._comments = CommentCopies()
        self._key_files: dict[Path, str] = {}
        self._private_keys: dict[Path, list[KeyBlock]] = {}
        for path, data in _contents(self._files, scan_size_limit()):
            kind = key_material(data)
            if kind is not None:
                self._key_files[path] = kind
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary: checkov skips it too
            blocks = private_keys(text)
            if path.suffix == ".json":
                blocks += json_private_keys(text)
            copied = self._comments.add(path, text)
            if copied is not None:
                blocks += private_keys(copied)
            if blocks:
                self._private_keys[path] = blocks
        for copy in self._comments.copies:
            arguments += ["--file", copy]
        skips = [rf"(^|/){re.escape(name)}(/|$)" for name in SKIPPED_FOLDERS]
        skips += [rf"(^|/){re.escape(name)}$" for name in SKIPPED_FILES]
        skips += [f"^{_literal(str(path.resolve()))}$" for path in scope.skipped]
        # Needed when checkov walks a folder; in several paths' pass they are not handed at all.
        skips += [f"^{_literal(os.path.abspath(path))}$" for path in self._special]
        for skip in skips:
            arguments += ["--skip-path", skip]
        arguments += [
            "--framework",
            "secrets",
            "--enable-secret-scan-all-files",
            "--skip-download",
            "--output",
            "json",
            "--compact",
            "--quiet",
        ]
        self._job = checkov.start_run("secrets", arguments) if handed else None
        self._handed = bool(handed)
        if self._job is None:
            self._comments.remove()

    def findings(self) -> list[Finding]:
        """KM-STO-001 for each piece of committed key material, by file and line; an advisory
        "cannot judge" for each file the scan did not read (checkov could not read it, it is
        not a regular file, or it is larger than the scan reads).

        Raises CheckovError when the scan failed or did not end in time (never an empty
        answer for a scan that did not run)."""
        job, self._job = self._job, None
        if job is None:
            self._comments.remove()
            # Nothing handed to checkov (a scope of special files only), or cancelled.
            return [] if self._handed else [*self._not_regular(), *self._key_material()]
        timeout = self.timeout_seconds or given_deadline() or SCAN_SECONDS
        try:
            output = job.wait(timeout)
        except TimeoutError:
            raise CheckovError(
                f"checkov's secrets scan did not finish within {timeout:g} s; set "
                f"{CHECKOV_TIMEOUT_ENV} to give it longer, or pass --no-checkov"
            ) from None
        finally:
            self._comments.remove()
        reports = _documents(output.stdout)
        if reports is None or output.returncode not in (0, 1):
            tail = " ".join((output.stderr or output.stdout).strip().splitlines()[-3:])
            raise CheckovError(
                f"checkov's secrets scan failed (exit {output.returncode}): {tail or 'no output'}"
            )
        parsed = self._parse(reports)
        return [
            *parsed,
            *self._missed_private_keys(parsed),
            *self._key_material(),
            *self._unread(output.stderr),
            *self._not_regular(),
            *self._oversized(),
        ]

    def _missed_private_keys(self, parsed: Sequence[Finding]) -> list[Finding]:
        """KM-STO-001 on each private key of a text file (`key_files.private_keys`) that checkov
        reported no secret within: its detector reads no file over 8 KiB and knows no
        encrypted PKCS#8 block nor PuTTY key file of version 3."""
        reported: dict[str, set[int]] = {}
        for finding in parsed:
            reported.setdefault(finding.file or "", set()).add(finding.line or 0)
        found: list[Finding] = []
        for path, blocks in self._private_keys.items():
            file = self._relative(str(path))
            lines = reported.get(file, set())
            for block in blocks:
                # checkov reports a key in a YAML value at the value's key, the line before.
                if any(block.first - 1 <= line <= block.last for line in lines):
                    continue
                lines.add(block.first)  # the same key in the file and its comments: once
                verdict = committed_key_material(file, block.first, block.kind)
                found.append(_committed(file, verdict, block.first))
        return found

    def _key_material(self) -> list[Finding]:
        """KM-STO-001 (the rule's enforcement) on each binary file of the scope that is key
        material as a whole (`key_files.key_material`): checkov's scan reads text only."""
        found: list[Finding] = []
        for path, kind in self._key_files.items():
            file = self._relative(str(path))
            found.append(_committed(file, committed_key_file(file, kind)))
        return found

    def _not_regular(self) -> list[Finding]:
        """A "cannot judge" (advisory) for each file of the scope that is not a regular file: it
        was never handed to checkov (see the class), so the scan did not read it."""
        found: list[Finding] = []
        for path, mode in self._special.items():
            kind = _special_kind(mode)
            if path.is_symlink():
                kind = f"a link to {kind}"
            file = self._relative(str(path))
            found.append(_cannot_judge(file, special_repository_file(file, kind)))
        return found

    def _oversized(self) -> list[Finding]:
        """A "cannot judge" (advisory) for each file of the scope larger than checkov's secrets
        scan reads: it skips such a file and counts it clean. Every file of the scope is
        looked at (its size when the scan started), a few more than checkov reads (it also
        leaves out hidden folders): each one reported is one the scan did not read."""
        limit = scan_size_limit()
        if limit is None:
            return []
        found: list[Finding] = []
        for path, status in self._files.items():
            if status is None:
                continue  # gone, or a dangling link: checkov reports it unread
            if not stat.S_ISREG(status.st_mode) or status.st_size <= limit:
                continue
            file = self._relative(str(path))
            found.append(
                _cannot_judge(
                    file,
                    oversized_repository_file(file, status.st_size, limit, SCAN_SIZE_ENV),
                )
            )
        return found

    def _unread(self, stderr: str) -> list[Finding]:
        """A "cannot judge" (advisory, as every unknown) for each file checkov could not read."""
        return [
            _cannot_judge(file, unread_repository_file(file))
            for file in dict.fromkeys(
                self._relative(str(self._comments.original(m["path"]) or m["path"]))
                for m in UNREAD_FILE.finditer(stderr)
            )
        ]

    def _parse(self, reports: Any) -> list[Finding]:
        found: list[Finding] = []
        seen: set[tuple[str, int]] = set()
        for report in reports if isinstance(reports, list) else [reports]:
            if not isinstance(report, dict) or report.get("check_type") != "secrets":
                continue
            for check in (report.get("results") or {}).get("failed_checks") or ():
                if not isinstance(check, dict):
                    continue
                found_in = str(check.get("file_abs_path") or check.get("file_path"))
                file = self._relative(str(self._comments.original(found_in) or found_in))
                lines = check.get("file_line_range") or [0]
                line = int(lines[0]) if isinstance(lines, list) and lines else 0
                if (file, line) in seen:
                    continue
                if (
                    self.scope.skip_json
                    and file.endswith(".json")
                    and check.get("check_id") in ENTROPY_CHECKS
                ):
                    continue  # ciphertext of a stack document, not key material
                seen.add((file, line))
                kind = str(check.get("check_name") or "a secret")
                found.append(_committed(file, committed_key_material(file, line, kind), line))
        return found

    def _relative(self, path: str) -> str:
        """`path` relative to the scanned root; a file outside it (a stack config folder
        named with `--stack-config`) by its absolute path."""
        # Not resolved: a link is named as found, not by where it points (or fails to).
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return absolute.as_posix()

    def cancel(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
        self._comments.remove()

    def __enter__(self) -> PendingSecretsScan:
        return self

    def __exit__(self, *_: object) -> None:
        self.cancel()


class CommentCopies:
    """The comments of a scope's text files, each file's in a plain-text copy of its own where
    every comment is on its line without its marker and every other line is empty
    (`keyplane.engines.checkov.comments`): checkov reads a YAML or INI file's values only, and
    does not see a private key behind comment markers. A finding in a copy is the original
    file's, at the same line. The copies live in a private temporary folder until `remove`.
    """

    #: Ends each copy: a line no INI parser accepts, so that checkov reads the copy as plain
    #: text (detect-secrets tries every file as INI first, and would drop lines again).
    END = "keyplane comments end here\n"

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._originals: dict[str, Path] = {}

    def add(self, path: Path, text: str) -> str | None:
        """Copy the comments of `path`, whose content is `text`, if it holds any (a JSON file
        holds none); the copy's text (None: no copy)."""
        if path.suffix == ".json":
            return None
        found = comments(path.name, text)
        if not found:
            return None
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="keyplane-comments-")).resolve()
            supervise.track(self._folder)  # removed should a signal end keyplane first
        copy = self._folder / f"{len(self._originals):05d}.txt"
        lines = [found.get(number, "") for number in range(1, max(found) + 1)]
        copied = "\n".join(lines) + "\n"
        copy.write_text(copied + self.END, encoding="utf-8")
        self._originals[str(copy)] = path
        return copied

    @property
    def copies(self) -> list[str]:
        """The copies' paths (absolute), to hand to checkov."""
        return list(self._originals)

    def original(self, path: str) -> Path | None:
        """The file whose comments the copy `path` holds (None: `path` is no copy)."""
        return self._originals.get(os.path.realpath(path))

    def remove(self) -> None:
        """Delete the copies (again: nothing)."""
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            supervise.untrack(folder)


def _contents(
    files: Mapping[Path, os.stat_result | None], limit: int | None
) -> Iterator[tuple[Path, bytes]]:
    """The bytes of each regular file of `files` (a scope's `_survey`) of at most `limit` bytes
    (a larger one is reported as not read), one file at a time; a file that cannot be read is
    left out (checkov reports what it cannot read)."""
    for path, status in files.items():
        if status is None or not stat.S_ISREG(status.st_mode):
            continue
        if limit is not None and status.st_size > limit:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        yield path, data


@dataclass(frozen=True)
class ScanScope:
    """What to scan for committed key material: `paths` below `root` (findings name files
    relative to it), JSON files skipped or not."""

    root: Path
    paths: tuple[Path, ...]
    #: JSON files are judged for key material (a private key, a cloud access key...) but not
    #: for high-entropy strings: stack documents beside a scanned one carry their secrets as
    #: ciphertext, which those detectors take for key material.
    skip_json: bool = False
    #: Files never scanned (the scanned document: its values are judged per resource).
    skipped: tuple[Path, ...] = ()

    def start(self, checkov: PendingCheckov) -> PendingSecretsScan:
        """The scan, started now as a run of `checkov` (the gate's checkov process)."""
        return PendingSecretsScan(checkov, self)


def _one_pass(
    scope: ScanScope, files: Mapping[Path, os.stat_result | None], special: Container[Path]
) -> list[Path]:
    """What checkov is handed for `scope` (`files`: its `_survey`): a lone folder as it is;
    several paths as the files of their folders (not in a skipped folder), since checkov scans
    each folder it is given in a pass of its own, which costs about 0.15 s of CPU each (the gate
    waits for that on a loaded two-core machine). Never a file of `special` (not a regular
    file: checkov would open it); a folder's are skipped with `--skip-path`."""
    if len(scope.paths) <= 1:
        return [path for path in scope.paths if path not in special]
    return [path for path in files if path not in special]


def _survey(scope: ScanScope) -> dict[Path, os.stat_result | None]:
    """The files of `scope` (`scope_files`, each once, in its order), each with what `os.stat`
    says of it (links followed: a link to a named pipe is a named pipe); None when it cannot be
    stat'ed (gone, a dangling link: checkov reports it unread). No file is opened."""
    found: dict[Path, os.stat_result | None] = {}
    for path in scope_files(scope):
        if path in found:
            continue
        try:
            found[path] = path.stat()
        except OSError:
            found[path] = None
    return found


def _special_kind(mode: int) -> str:
    """What a file that is not a regular file is, by its `st_mode`."""
    for test, kind in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _literal(path: str) -> str:
    r"""A regular expression that matches `path` literally, as checkov's `--skip-path` reads
    it: its secrets scan writes `.terraform` in a pattern as `\.terraform` (checkov/secrets/
    utils.py, `filter_excluded_paths`), which turns `re.escape`'s `\.terraform` into one that
    no longer matches; so a dot is written `[.]`."""
    return "".join("[.]" if char == "." else re.escape(char) for char in path)


def scope_files(scope: ScanScope) -> Iterator[Path]:
    """The files of `scope`: its files and those of its folders (in name order), leaving out
    skipped folders, dependency lock files and the scope's skipped files."""
    skipped = {path.resolve() for path in scope.skipped}
    for path in scope.paths:
        if not path.is_dir():
            files = [path]
        else:
            files = []
            for folder, folders, names in os.walk(path):
                folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS)
                files += [Path(folder) / name for name in sorted(names)]
        for file in files:
            if file.name not in SKIPPED_FILES and (not skipped or file.resolve() not in skipped):
                yield file


def scan_size_limit() -> int | None:
    """Bytes above which checkov's secrets scan skips a file (`CHECKOV_MAX_FILE_SIZE` as checkov
    reads it, default 5,000,000); None when there is no limit (0 or less).

    Raises CheckovError when the variable is not an integer (checkov would not start)."""
    raw = os.environ.get(SCAN_SIZE_ENV, "").strip()
    try:
        limit = int(raw) if raw else DEFAULT_SCAN_SIZE
    except ValueError:
        raise CheckovError(
            f"{SCAN_SIZE_ENV}: not a number of bytes (got {raw!r}); set it to an integer "
            "(0: no limit) or unset it"
        ) from None
    return limit if limit > 0 else None


def _documents(text: str) -> list[Any] | None:
    """checkov's JSON output: one document, or (when nothing is found over several paths) one
    summary object per path, one after another; None when it is not JSON."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    position, text = 0, text.strip()
    while position < len(text):
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
        documents += document if isinstance(document, list) else [document]
        while position < len(text) and text[position].isspace():
            position += 1
    return documents if documents else None


def project_scope(estate_dir: Path, stack_config_dir: Path | None = None) -> ScanScope:
    """What the estate's Pulumi project holds for keyplane (`preview`): the files at its top
    (`Pulumi.yaml`, a program written there), the estate folder, the stack config folder and the
    program's folder (`main`), and `stack_config_dir` (`--stack-config`) wherever it is;
    findings name files relative to the project (the estate folder's parent), and files
    outside it by their absolute path."""
    from keyplane.locations import project_layout  # noqa: PLC0415 - reads Pulumi.yaml

    project, config_dir, main_dir = project_layout(estate_dir)
    folders = [estate_dir, config_dir, main_dir]
    if stack_config_dir is not None:
        folders.append(stack_config_dir)
    paths: list[Path] = []
    for folder in (folder.resolve() for folder in folders):
        if folder.is_dir() and folder != project and folder not in paths:
            paths.append(folder)
    # The project's own files, not its other folders (a checkout's tests, for one); a named
    # pipe or a dangling link among them too, to be reported as not read.
    paths += sorted(
        path
        for path in project.iterdir()
        if not path.is_dir() and path.name not in (*SKIPPED_FOLDERS, *SKIPPED_FILES)
    )
    return ScanScope(project, tuple(paths))


def file_scope(scanned: Path) -> ScanScope:
    """`scan FILE`: the file's folder without the file; in its JSON files (stack documents, key
    files) key material counts, high-entropy strings do not (see the module's docstring)."""
    folder = scanned.resolve().parent
    return ScanScope(folder, (folder,), skip_json=True, skipped=(scanned.resolve(),))


def _committed(file: str, verdict: tuple[str, str], line: int | None = None) -> Finding:
    """The finding (at the rule's enforcement) on key material committed in `file` (at `line`,
    when it is text); `verdict` is the rule and message (`keyplane.rules.sto`)."""
    return _on_file(file, verdict, RULES[verdict[0]].default_enforcement, line)


def _cannot_judge(file: str, verdict: tuple[str, str]) -> Finding:
    """The advisory finding (as every unknown) on a project file the scan could not judge;
    `verdict` is the rule and message (`keyplane.rules.sto`)."""
    return _on_file(file, verdict, Enforcement.ADVISORY)


def _on_file(
    file: str, verdict: tuple[str, str], enforcement: Enforcement, line: int | None = None
) -> Finding:
    rule, message = verdict
    return Finding(
        rule=rule,
        enforcement=enforcement,
        resource=file,
        type=FILE_TYPE,
        message=message,
        engine=Engine.CHECKOV,
        file=file,
        line=line,
    )
