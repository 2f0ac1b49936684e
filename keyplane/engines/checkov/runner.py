"""Running checkov on the Terraform-plan form of a Pulumi program.

checkov cannot share an environment with pulumi (checkov 3.3 pins `packaging<24`, pulumi needs
`packaging>=26`), so it runs from its own pinned, isolated environment through `uv tool run`
(uv is one of keyplane's dependencies). It always runs offline (`--skip-download`), with its
built-in checks and keyplane's custom checks (`policy-packs/checkov/` in a checkout, bundled in
the wheel: `keyplane.locations`; one per rule with enforcement point C). Its findings are mapped back to Pulumi URNs.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keyplane import supervise
from keyplane.findings import Engine, Finding
from keyplane.locations import checkov_checks_dir, keyplane_import_root
from keyplane.rules.catalog import RULES, Enforcement

CHECKOV_VERSION = "3.3.30"
#: Overrides the command that starts checkov (for example a checkov already on PATH).
CHECKOV_COMMAND_ENV = "KEYPLANE_CHECKOV"
#: What keyplane's checks read (policy-packs/checkov/keyplane_checks.py): the plan's path, for
#: the rules judged over the whole plan, and the judging context (a file, or JSON by hand).
PLAN_ENV = "KEYPLANE_PLAN"
SETTINGS_FILE_ENV = "KEYPLANE_SETTINGS_FILE"
SETTINGS_ENV = "KEYPLANE_SETTINGS"
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
    default = CHECKOV_BASE_SECONDS + CHECKOV_SECONDS_PER_RESOURCE * resources
    try:
        return supervise.deadline_setting(CHECKOV_TIMEOUT_ENV, default)
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


#: Run in checkov's environment: import checkov (seconds of work), then wait for the arguments
#: on stdin and run it exactly as its `checkov` command does.
# The collector tuned as in keyplane's own processes (keyplane/collector.py: it took about 43 %
# of checkov's time on thousands of resources); this runs in checkov's environment, so inline.
_PRELOAD = """\
import gc, json, sys, warnings
from checkov.main import Checkov
gc.freeze()
gc.set_threshold(50_000, 20, 100)
argv = json.loads(sys.stdin.readline() or "null")
if argv is None:
    sys.exit(0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=SyntaxWarning)
    sys.exit(Checkov(argv=argv).run())
"""


class PendingCheckov:
    """checkov started before its plan exists: its start-up (importing checkov and its checks,
    several seconds) overlaps with the render; `run` then hands it the plan.

    With `KEYPLANE_CHECKOV` set, the given command is started when the plan is ready instead.
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
        # variable is capped at 128 KiB on Linux: a large estate's settings exceed it.)
        self._dir = Path(tempfile.mkdtemp(prefix="keyplane-checkov-"))
        supervise.track(self._dir)
        self._plan_path = self._dir / "plan.json"
        self._env = {
            **os.environ,
            "KEYPLANE_ENVIRONMENT": environment,
            # Where the checks import keyplane from: never keyplane's site-packages.
            "KEYPLANE_ROOT": str(keyplane_import_root()),
            PLAN_ENV: str(self._plan_path),
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
        self._process: subprocess.Popen[str] | None = None
        if not os.environ.get(CHECKOV_COMMAND_ENV):
            try:
                self._process = self._spawn([*_uv_tool_run(), "python", "-c", _PRELOAD], stdin=True)
            except BaseException:
                self._remove_files()
                raise

    def run(
        self,
        plan: Mapping[str, Any],
        urn_by_address: Mapping[str, str],
        types_by_address: Mapping[str, str] | None = None,
    ) -> CheckovRun:
        """Scan `plan`; findings carry URNs (or the address when it maps to none). The run's
        `seconds` count from here: what the caller waits for once the plan is ready."""
        started = time.monotonic()
        try:
            timeout = self.timeout_seconds or checkov_deadline(len(urn_by_address))
            plan_path = self._plan_path
            plan_path.write_text(json.dumps(plan), encoding="utf-8")
            arguments = [
                "--file",
                str(plan_path),
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
            if self._process is not None:
                process, given = self._process, json.dumps(arguments) + "\n"
            else:
                process, given = self._spawn([*checkov_command(), *arguments], stdin=False), None
            self._process = None
            try:
                stdout, stderr = process.communicate(given, timeout=timeout)
            except subprocess.TimeoutExpired:
                supervise.stop(process, grace=0)
                process.communicate()
                raise CheckovError(
                    f"checkov did not finish within {timeout:g} s; set {CHECKOV_TIMEOUT_ENV} "
                    "to give it longer, or pass --no-checkov"
                ) from None
        finally:
            self._remove_files()
        # checkov exits 1 when a check failed; anything else non-zero, or no JSON, is an error.
        try:
            reports = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            reports = None
        if reports is None or process.returncode not in (0, 1):
            tail = " ".join((stderr or stdout).strip().splitlines()[-3:])
            raise CheckovError(
                f"checkov failed (exit {process.returncode}): {tail or 'no output'}; check that PyPI is "
                f"reachable for the first run (`uv tool run --from checkov=={CHECKOV_VERSION} checkov --version`)"
            )
        run = _parse(reports, urn_by_address, types_by_address or {}, time.monotonic() - started)
        return replace(run, stderr=stderr or "")

    def cancel(self) -> None:
        """Stop a checkov that will not be given a plan."""
        process, self._process = self._process, None
        if process is not None:
            supervise.stop(process, grace=0)
            process.communicate()
        self._remove_files()

    def _remove_files(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
        supervise.untrack(self._dir)

    def __enter__(self) -> PendingCheckov:
        return self

    def __exit__(self, *_: object) -> None:
        self.cancel()

    def _spawn(self, command: list[str], *, stdin: bool) -> subprocess.Popen[str]:
        try:
            return supervise.spawn(
                command,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self._env,
            )
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
    "CheckovRun",
    "PendingCheckov",
    "run_checkov",
]
