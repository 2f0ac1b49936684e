"""Running checkov on the Terraform-plan form of a Pulumi program.

checkov cannot share an environment with pulumi (checkov 3.3 pins `packaging<24`, pulumi needs
`packaging>=26`), so it runs from its own pinned, isolated environment through `uv tool run`
(uv is one of keyplane's dependencies). It always runs offline (`--skip-download`), with its
built-in checks and keyplane's custom checks (`policy-packs/checkov/` in a checkout, bundled in
the wheel: `keyplane.locations`; one per rule with enforcement point C). Its findings are mapped back to Pulumi URNs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keyplane import supervise
from keyplane.findings import Engine, Finding
from keyplane.locations import checkov_checks_dir, keyplane_import_root
from keyplane.rules.catalog import RULES, Enforcement
from keyplane.terraform.to_plan import split_plan

CHECKOV_VERSION = "3.3.30"
#: Overrides the command that starts checkov (for example a checkov already on PATH).
CHECKOV_COMMAND_ENV = "KEYPLANE_CHECKOV"
#: What keyplane's checks read (policy-packs/checkov/keyplane_checks.py): the plan's path, for
#: the rules judged over the whole plan, and the judging context (a file, or JSON by hand).
PLAN_ENV = "KEYPLANE_PLAN"
SETTINGS_FILE_ENV = "KEYPLANE_SETTINGS_FILE"
SETTINGS_ENV = "KEYPLANE_SETTINGS"
#: checkov's own: the size in bytes above which it reads a JSON document with the JSON parser.
PLAN_JSON_SIZE_ENV = "CHECKOV_MAX_IAC_FILE_SIZE"
CUSTOM_CHECKS_DIR = checkov_checks_dir()
#: checkov's deadline in seconds, from the plan being handed over to its answer (overrides the
#: default below): a checkov that never answers must not hold a CI job for long.
CHECKOV_TIMEOUT_ENV = "KEYPLANE_CHECKOV_TIMEOUT"
#: The default deadline: start-up plus time per resource of the plan, about five times what
#: checkov alone took on the 2-core reference machine under load (~6 ms per resource, 11 s at
#: 1,819 resources): 175 s at 1,819 resources, 720 s at 20,000. It was a fixed 900 s.
CHECKOV_BASE_SECONDS = 120.0
CHECKOV_SECONDS_PER_RESOURCE = 0.03
#: How built-in CKV_* findings are enforced: checkov's catalogue is broader than the policy
#: (event notifications, replication...), so its own findings advise; keyplane's rules decide.
BUILTIN_ENFORCEMENT = Enforcement.ADVISORY


class CheckovError(Exception):
    """checkov could not run; the message says why and how to fix it."""


@dataclass(frozen=True)
class CheckovRun:
    findings: list[Finding]
    passed: int
    failed: int
    seconds: float
    #: What checkov wrote on stderr (its warnings; a check that failed to load is logged here).
    stderr: str = ""


def checkov_deadline(resources: int) -> float:
    """Seconds checkov is given for a plan of `resources` resources: `KEYPLANE_CHECKOV_TIMEOUT`
    when set, else CHECKOV_BASE_SECONDS plus CHECKOV_SECONDS_PER_RESOURCE each.

    Raises CheckovError when the variable is not a positive number of seconds.
    """
    given = given_deadline()
    if given is None:
        return CHECKOV_BASE_SECONDS + CHECKOV_SECONDS_PER_RESOURCE * resources
    return given


def given_deadline() -> float | None:
    """`KEYPLANE_CHECKOV_TIMEOUT` in seconds, None when unset (or empty).

    Raises CheckovError when it is not a positive number of seconds.
    """
    if not os.environ.get(CHECKOV_TIMEOUT_ENV, "").strip():
        return None
    try:
        return supervise.deadline_setting(CHECKOV_TIMEOUT_ENV, 0.0)
    except ValueError as err:
        raise CheckovError(str(err)) from None


def checkov_command() -> list[str]:
    override = os.environ.get(CHECKOV_COMMAND_ENV)
    if override:
        return shlex.split(override)
    return [*_uv_tool_run(), "checkov"]


def _uv_tool_run() -> list[str]:
    """`uv tool run` in checkov's own pinned environment (the command to run comes after)."""
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - optional at import time
    except ImportError as err:  # pragma: no cover - uv is a dependency
        raise CheckovError(
            "uv is not installed, so checkov cannot be started; run `python3 -m pip install uv` "
            f"or set {CHECKOV_COMMAND_ENV}"
        ) from err
    return [find_uv_bin(), "tool", "run", "--quiet", "--from", f"checkov=={CHECKOV_VERSION}"]


#: The preloaded checkov's program (`preload.py`, run with `python -c` in checkov's environment:
#: as a script its folder would come first on the path, and keyplane's `secrets.py` would stand in
#: for the standard library's).
_PRELOAD = Path(__file__).with_name("preload.py")
#: What a run of checkov that cannot be waited for any longer was stopped for.
_STOPPED = "checkov was stopped before this run ended"
#: Seconds the preloaded checkov is given to exit on its own once its runs have ended.
FINISH_SECONDS = 2.0


@dataclass(frozen=True)
class CheckovOutput:
    """What one run of checkov left: its exit status (negative: ended by that signal), its
    standard output and standard error."""

    returncode: int
    stdout: str
    stderr: str


class CheckovJob:
    """One run of checkov started by `PendingCheckov.start_run`; `wait` gives its output."""

    def __init__(
        self,
        owner: PendingCheckov,
        name: str,
        stdout: Path,
        stderr: Path,
        process: subprocess.Popen[str] | None,
    ) -> None:
        self.name = name
        self._owner = owner
        self._stdout = stdout
        self._stderr = stderr
        #: The run's own process (a given `KEYPLANE_CHECKOV` command); None: a fork of the
        #: preloaded checkov.
        self._process = process

    def wait(self, timeout: float) -> CheckovOutput:
        """The run's output, once it has ended (`timeout` seconds at most).

        Raises TimeoutError when it has not ended by then: it is stopped (a run of the
        preloaded checkov stops that process, with any other run still going in it).
        """
        if self._process is not None:
            try:
                returncode = self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                supervise.stop(self._process, grace=0)
                raise TimeoutError(self.name) from None
            # Grandchildren (uv's checkov) may outlive a command that exited on its own.
            supervise.stop(self._process, grace=0)
            return self._output(returncode, "")
        returncode, note = self._owner._wait_for(self.name, timeout)
        return self._output(returncode, note)

    def cancel(self) -> None:
        """Stop waiting for the run (a run in the preloaded checkov ends with that process)."""
        if self._process is not None:
            supervise.stop(self._process, grace=0)

    def _output(self, returncode: int, note: str) -> CheckovOutput:
        texts = []
        for path in (self._stdout, self._stderr):
            try:
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
            except FileNotFoundError:
                texts.append("")
            path.unlink(missing_ok=True)
        stderr = "\n".join(text for text in (texts[1], note) if text.strip())
        return CheckovOutput(returncode, texts[0], stderr)


class PendingCheckov:
    """The one checkov process of a run, started before its inputs exist: its start-up
    (importing checkov and its checks, several seconds) overlaps with the render. Each run
    (`start_run`: the plan's, `run`; the repository's secrets scan, `secrets.ScanScope.start`)
    is a fork of it taken after the import (`preload.py`): checkov's start-up is paid once,
    runs go side by side, and each starts as a lone `checkov` command would.

    With `KEYPLANE_CHECKOV` set, each run is the given command, started when the run is.
    """

    def __init__(
        self,
        *,
        environment: str,
        external_checks: Path | None = CUSTOM_CHECKS_DIR,
        settings: Mapping[str, Any] | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self.external_checks = external_checks
        #: None: `checkov_deadline` of the plan's size, decided when the plan is handed over.
        self.timeout_seconds = timeout_seconds
        # The plan and the settings travel as files keyplane's checks read: their paths are
        # fixed now, before checkov starts, and the files written when known. (One environment
        # variable is capped at 128 KiB on Linux: a large estate's settings exceed it.) Each
        # run's output goes to files of its own here too.
        self._dir = Path(tempfile.mkdtemp(prefix="keyplane-checkov-"))
        supervise.track(self._dir)
        # The plan is written in parts, files of one folder (`to_plan.split_plan`): checkov's
        # cost per resource grows with the resources of one file, not with those of a folder.
        self._plan_dir = self._dir / "plan"
        self._env = {
            **os.environ,
            "KEYPLANE_ENVIRONMENT": environment,
            # Where the checks import keyplane from: never keyplane's site-packages.
            "KEYPLANE_ROOT": str(keyplane_import_root()),
            PLAN_ENV: str(self._plan_dir),
        }
        if settings is not None:
            settings_path = self._dir / "settings.json"
            settings_path.write_text(json.dumps(settings), encoding="utf-8")
            self._env[SETTINGS_FILE_ENV] = str(settings_path)
            self._env.pop(SETTINGS_ENV, None)
        # checkov phones home for its API unless told not to; keep it offline.
        self._env.setdefault("BC_SKIP_MAPPING", "TRUE")
        self._env.setdefault("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        # Mark values known only after apply instead of dropping them, so that keyplane's checks
        # answer "unknown" rather than judge a missing value (read while parsing the plan).
        self._env.setdefault("EVAL_TF_PLAN_AFTER_UNKNOWN", "true")
        # Each run's work in the run's own process: by default checkov forks a worker for its
        # runner (and, in the secrets framework, one per file) and pickles the report back,
        # which on a shared two-core machine cost the plan's run about a second while the
        # secrets scan ran beside it (measured on the bundled prod estate).
        self._env.setdefault("CHECKOV_PARALLELIZATION_TYPE", "none")
        # The plan read by the JSON parser rather than by PyYAML with line marks: checkov reads a
        # plan JSON with PyYAML's pure-Python loader unless it is larger than this many bytes
        # (checkov/cloudformation/parser/cfn_yaml.py, `load`). keyplane's plan is one line, so
        # the marks say nothing, and checkov's checks give the same verdicts either way
        # (compared, passed and failed, on the bundled estates and the benchmark's plans).
        # Measured at 1,819 resources: 6.1 -> 4.2 s of CPU and 390 -> 313 MB peak.
        self._env.setdefault(PLAN_JSON_SIZE_ENV, "0")
        self._names: set[str] = set()
        # The preloaded checkov's ended runs (name: exit status), filled by a reader thread
        # from its standard output; `_ended` once that output has closed.
        self._exits: dict[str, int] = {}
        self._ended = False
        self._stopped = False
        self._changed = threading.Condition()
        #: The preloaded checkov (None with `KEYPLANE_CHECKOV`: each run starts that command).
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._preloaded = not os.environ.get(CHECKOV_COMMAND_ENV)
        if self._preloaded:
            try:
                with open(self._dir / "checkov.stderr", "w", encoding="utf-8") as stderr:
                    self._process = self._spawn(
                        [*_uv_tool_run(), "python", "-c", _PRELOAD.read_text(encoding="utf-8")],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                    )
            except BaseException:
                self._remove_files()
                raise
            self._reader = threading.Thread(
                target=self._read_exits, args=(self._process,), daemon=True
            )
            self._reader.start()

    def start_run(self, name: str, arguments: Sequence[str]) -> CheckovJob:
        """Start checkov with `arguments` (as the `checkov` command takes them) now, as the
        run `name` (one run per name).

        Raises CheckovError when the given `KEYPLANE_CHECKOV` command cannot be started.
        """
        if name in self._names:
            raise ValueError(f"checkov run {name!r} was already started")
        self._names.add(name)
        stdout, stderr = self._dir / f"{name}.stdout", self._dir / f"{name}.stderr"
        if not self._preloaded:
            with (
                open(stdout, "w", encoding="utf-8") as out,
                open(stderr, "w", encoding="utf-8") as err,
            ):
                process = self._spawn(
                    [*checkov_command(), *arguments],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                )
            return CheckovJob(self, name, stdout, stderr, process)
        request = {
            "name": name,
            "argv": list(arguments),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        stdin = self._process.stdin if self._process is not None else None
        # When it has ended (or been stopped), the run's wait reports how.
        with contextlib.suppress(OSError, ValueError):
            if stdin is not None:
                stdin.write(json.dumps(request) + "\n")
                stdin.flush()
        return CheckovJob(self, name, stdout, stderr, None)

    def run(
        self,
        plan: Mapping[str, Any],
        urn_by_address: Mapping[str, str],
        types_by_address: Mapping[str, str] | None = None,
    ) -> CheckovRun:
        """Scan `plan`; findings carry URNs (or the address when it maps to none). The run's
        `seconds` count from here: what the caller waits for once the plan is ready."""
        started = time.monotonic()
        timeout = self.timeout_seconds or checkov_deadline(len(urn_by_address))
        try:
            self._plan_dir.mkdir(exist_ok=True)
            arguments: list[str] = []
            for number, part in enumerate(split_plan(plan)):
                part_path = self._plan_dir / f"plan-{number:04d}.json"
                part_path.write_text(json.dumps(part), encoding="utf-8")
                arguments += ["--file", str(part_path)]
            arguments += [
                "--framework",
                "terraform_plan",
                "--skip-download",
                "--output",
                "json",
                "--compact",
                # Failed checks only (the summary still counts the passed ones): at 5,000
                # resources the passed list is 50 MB of JSON to write and read back.
                "--quiet",
            ]
            if self.external_checks is not None:
                arguments += ["--external-checks-dir", str(self.external_checks)]
            try:
                output = self.start_run("plan", arguments).wait(timeout)
            except TimeoutError:
                raise CheckovError(
                    f"checkov did not finish within {timeout:g} s; set {CHECKOV_TIMEOUT_ENV} "
                    "to give it longer, or pass --no-checkov"
                ) from None
        finally:
            shutil.rmtree(self._plan_dir, ignore_errors=True)
        stdout = output.stdout
        # checkov exits 1 when a check failed; anything else non-zero, or no JSON, is an error.
        try:
            reports = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            reports = None
        if reports is None or output.returncode not in (0, 1):
            tail = " ".join((output.stderr or stdout).strip().splitlines()[-3:])
            raise CheckovError(
                f"checkov failed (exit {output.returncode}): {tail or 'no output'}; check that PyPI is "
                f"reachable for the first run (`uv tool run --from checkov=={CHECKOV_VERSION} checkov --version`)"
            )
        run = _parse(reports, urn_by_address, types_by_address or {}, time.monotonic() - started)
        return replace(run, stderr=output.stderr)

    def cancel(self) -> None:
        """End checkov: stopped at once with any run still going in it (a run not ended by
        then is reported as stopped), else let it exit; remove its files."""
        self._stop(let_finish=True)
        self._remove_files()

    def _stop(self, *, let_finish: bool = False) -> None:
        """End the preloaded checkov (once; any thread)."""
        process = self._process
        with self._changed:
            if process is None or self._stopped:
                return
            self._stopped = True
            idle = let_finish and bool(self._names) and self._names <= self._exits.keys()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if idle:
            # Every run has ended: at the end of its input it exits on its own, so what it
            # used is accounted to keyplane's process (the benchmark's CPU and memory figures).
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=FINISH_SECONDS)
        supervise.stop(process, grace=0)
        # Its output is closed now that it has ended: the reader ends with it.
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=supervise.KILL_WAIT_SECONDS)
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _read_exits(self, process: subprocess.Popen[str]) -> None:
        """The reader thread: the preloaded checkov's lines, one per ended run."""
        output = process.stdout
        if output is None:
            return
        with contextlib.suppress(OSError, ValueError):
            for line in output:
                try:
                    ended = json.loads(line)
                    name, status = str(ended["name"]), int(ended["exit"])
                except (ValueError, KeyError, TypeError):
                    continue  # not one of its lines (something checkov printed on import)
                with self._changed:
                    self._exits[name] = status
                    self._changed.notify_all()
        with contextlib.suppress(OSError):
            output.close()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _wait_for(self, name: str, timeout: float) -> tuple[int, str]:
        """The exit status of the preloaded checkov's run `name`, and a note on why it ended
        when the process ended without running it. Raises TimeoutError (and stops the process)
        when it has not ended within `timeout` seconds."""
        with self._changed:
            done = self._changed.wait_for(lambda: name in self._exits or self._ended, timeout)
            if done and name in self._exits:
                return self._exits[name], ""
            stopped = self._stopped
        process = self._process
        if not done:
            self._stop()
            raise TimeoutError(name)
        if stopped or process is None:
            return -signal.SIGKILL, _STOPPED
        # The process ended without running it: what it said on the way out (uv unable to
        # install checkov, an import error) is the reason.
        try:
            returncode = process.wait(timeout=supervise.KILL_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = -signal.SIGKILL
        note = (self._dir / "checkov.stderr").read_text(encoding="utf-8", errors="replace")
        return returncode, note

    def _remove_files(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
        supervise.untrack(self._dir)

    def __enter__(self) -> PendingCheckov:
        return self

    def __exit__(self, *_: object) -> None:
        self.cancel()

    def _spawn(self, command: list[str], **streams: Any) -> subprocess.Popen[str]:
        try:
            return supervise.spawn(command, text=True, env=self._env, **streams)
        except FileNotFoundError as err:
            raise CheckovError(
                f"cannot start checkov ({command[0]} not found); install uv with "
                f"`python3 -m pip install uv` or set {CHECKOV_COMMAND_ENV}"
            ) from err


def run_checkov(
    plan: Mapping[str, Any],
    urn_by_address: Mapping[str, str],
    *,
    environment: str,
    types_by_address: Mapping[str, str] | None = None,
    external_checks: Path | None = CUSTOM_CHECKS_DIR,
    settings: Mapping[str, Any] | None = None,
    timeout_seconds: float | None = None,
) -> CheckovRun:
    """Scan `plan` with checkov; findings carry URNs (or the address when it maps to none).

    `settings` is the environment's context in the pack's `keyplane-settings` form: checkov's
    environment cannot read the estate (no YAML parser there), so the context travels as a JSON
    file (`KEYPLANE_SETTINGS_FILE`).
    """
    with PendingCheckov(
        environment=environment,
        external_checks=external_checks,
        settings=settings,
        timeout_seconds=timeout_seconds,
    ) as checkov:
        return checkov.run(plan, urn_by_address, types_by_address)


def _parse(
    reports: Any,
    urn_by_address: Mapping[str, str],
    types_by_address: Mapping[str, str],
    seconds: float,
) -> CheckovRun:
    findings: list[Finding] = []
    passed = failed = 0
    for report in reports if isinstance(reports, list) else [reports]:
        if not isinstance(report, dict) or report.get("check_type") not in (None, "terraform_plan"):
            continue
        results = report.get("results", {})
        summary = report.get("summary")
        if isinstance(summary, dict) and isinstance(summary.get("passed"), int):
            passed += summary["passed"]
        else:
            passed += len(results.get("passed_checks", []))
        for check in results.get("failed_checks", []):
            failed += 1
            findings.append(_finding(check, urn_by_address, types_by_address))
    return CheckovRun(findings, passed, failed, seconds)


def _finding(
    check: Mapping[str, Any], urn_by_address: Mapping[str, str], types_by_address: Mapping[str, str]
) -> Finding:
    check_id = str(check.get("check_id"))
    address = str(check.get("resource_address") or check.get("resource"))
    resource = urn_by_address.get(address, address)
    rule = RULES.get(check_id)
    if rule is not None:
        enforcement = rule.default_enforcement
        details = [d for d in check.get("details") or [] if isinstance(d, str)]
        message = (
            details[0] if details else f"{check_id} {address}: {rule.title} {rule.remediation}"
        )
    else:
        enforcement = BUILTIN_ENFORCEMENT
        message = f"{check_id} {address}: {check.get('check_name')}"
        if check.get("guideline"):
            message += f" (see {check['guideline']})"
    return Finding(
        rule=check_id,
        enforcement=enforcement,
        resource=resource,
        type=types_by_address.get(address, address.split(".", 1)[0]),
        message=message,
        engine=Engine.CHECKOV,
    )


def describe_command() -> str:
    return " ".join(shlex.quote(part) for part in checkov_command())


def parse_output(text: str, urn_by_address: Mapping[str, str]) -> list[Finding]:
    """Findings from checkov JSON output text (for tests and for `--output json` files)."""
    return _parse(json.loads(text), urn_by_address, {}, 0.0).findings


__all__: Sequence[str] = [
    "CHECKOV_VERSION",
    "CheckovError",
    "CheckovJob",
    "CheckovOutput",
    "CheckovRun",
    "PendingCheckov",
    "run_checkov",
]
