"""What every report format is rendered from: the `Report`, and the views all formats share.

Every format sees the same findings in the same order, with the same redaction: secret values
(marked as secrets in any resource's inputs) never reach a report in plain text, not even when an
engine's message or another resource's unmarked input happens to carry one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from keyplane import __version__
from keyplane.adapters.coverage import not_judged_text
from keyplane.adapters.pulumi import unread_type
from keyplane.findings import Finding
from keyplane.rules.catalog import RULES, Enforcement, Rule, Severity
from keyplane.standard import POLICY_VERSION
from keyplane.wire import SECRET_SIG, SIG_KEY, UNKNOWN

if TYPE_CHECKING:
    from keyplane.reports.dossier import Dossier

TOOL_NAME = "keyplane"
SECRET_TEXT = "[secret]"
UNKNOWN_TEXT = "[unknown]"
#: Pulumi's wire mark of an output value (sdk/go/common/resource/sig): {value?, secret?, dependencies?}.
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
#: Shorter secret values are not searched for in free text: replacing every "true" or "443" in a
#: message would garble it and reveal nothing the inputs themselves do not already mask.
MIN_REDACTED_SECRET_LENGTH = 6

_GUIDELINE = re.compile(r"https?://[^\s<>\"'`|)\]]+")


class ResourceRecord(Protocol):
    """A resource as judged: `keyplane.render.Registration` or a record read from a stack export."""

    @property
    def urn(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> str: ...
    @property
    def protect(self) -> bool: ...
    @property
    def inputs(self) -> Mapping[str, Any]: ...


#: Severities from the most to the least severe (`--fail-on` counts down this list).
SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@dataclass(frozen=True)
class SkippedRule:
    """A rule the run was told not to report (`--skip-check`, a `disabled` level in
    `--policy-config`, or left out by `--check`): every format says so, never silently."""

    rule: str
    #: Why, in the option's words: `--skip-check`, `disabled by --policy-config`, `not in --check`.
    reason: str
    #: Findings of the rule this run did not report because of it.
    hidden: int = 0
    #: The rule's enforcement when it was not skipped (None: not a keyplane rule).
    enforcement: Enforcement | None = None

    def text(self) -> str:
        """`KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)`."""
        parts = [self.enforcement.value] if self.enforcement is not None else []
        parts.append(self.reason)
        if self.hidden:
            parts.append(f"{plural(self.hidden, 'finding')} not reported")
        return f"{self.rule} ({', '.join(parts)})"


@dataclass(frozen=True)
class Report:
    """One run of `keyplane preview`, `scan` or `audit`, ready to be rendered in any format."""

    findings: Sequence[Finding]
    #: The resources judged, inputs in Pulumi's wire form (secrets and unknowns marked).
    resources: Sequence[ResourceRecord]
    environment: str
    #: The keyplane command that produced the report (`preview`, `scan`, `audit`).
    command: str = "preview"
    tool_version: str = __version__
    policy_version: str = POLICY_VERSION
    #: IDs of the keyplane rules that were judged; JUnit lists the clean ones as passing tests.
    checked_rules: Sequence[str] = ()
    #: Where a finding without a file of its own points (SARIF needs a file for every result),
    #: relative to the repository root; default `environments/<environment>.yaml`.
    environment_file: str | None = None
    #: Absolute file paths under this directory are reported relative to it (SARIF).
    source_root: str | None = None
    #: The directory relative paths were given from (the CLI's working directory); None: they
    #: are relative to `source_root` already.
    working_directory: str | None = None
    #: The tool's home page, shown by SARIF viewers.
    information_uri: str | None = None
    #: When the run started (a naive datetime is taken as local time) and how long it took
    #: (wall time, seconds).
    started_at: datetime | None = None
    duration_seconds: float | None = None
    #: Seconds per stage of the run (`render`, `crossguard`, `plan`, `checkov`...): stages run
    #: at the same time, so they need not add up to `duration_seconds`.
    stage_seconds: Mapping[str, float] | None = None
    #: What the run covered, in words, in place of the resource counts of the text and Markdown
    #: summaries (the audit: declared, found and judged; `scope_text`).
    scope: str | None = None
    #: What the HTML report shows beyond the findings (exceptions, evidence, policy artefacts);
    #: the other formats ignore it.
    dossier: Dossier | None = None
    #: `--fail-on`: findings of this severity or above fail the run too (not excepted ones);
    #: mandatory findings fail it whatever their severity.
    fail_on: Severity | None = None
    #: `--soft-fail`: the verdict still says FAIL, the command exits 0.
    soft_fail: bool = False
    #: Rules the run did not report (`SkippedRule`), in the order given.
    skipped: Sequence[SkippedRule] = ()
    #: `--check`: the only rules reported (empty: every rule).
    selected: Sequence[str] = ()

    @property
    def environment_path(self) -> str:
        return self.environment_file or f"environments/{self.environment}.yaml"

    @property
    def finished_at(self) -> datetime | None:
        if self.started_at is None or self.duration_seconds is None:
            return None
        return self.started_at + timedelta(seconds=self.duration_seconds)

    @cached_property
    def secrets(self) -> tuple[str, ...]:
        """The strings inside a secret of any resource's inputs (`secret_strings`), which no
        format shows: worked out once per report (each format, the summary line and the
        findings need them; 0.03 s each at 9,919 resources)."""
        return secret_strings(self.resources)


# --- what every format shows -------------------------------------------------------------------


def is_read(record: ResourceRecord) -> bool:
    """A resource the stack reads (`Resource.get`) and does not manage: listed, not judged."""
    return bool(getattr(record, "read", False))


@dataclass(frozen=True)
class Coverage:
    """What a run judged: resources judged, read (owned elsewhere) and not judged (a key-bearing
    type keyplane cannot read, KM-COV-001), with the types of the last."""

    judged: int
    read: int
    not_judged_types: tuple[str, ...]

    @property
    def not_judged(self) -> int:
        return len(self.not_judged_types)

    def to_json(self) -> dict[str, Any]:
        return {
            "judged": self.judged,
            "read": self.read,
            "not_judged": self.not_judged,
            "not_judged_types": sorted(set(self.not_judged_types)),
        }


def coverage_of(report: Report) -> Coverage:
    """Count the report's resources: judged, read, and not judged (in resource order)."""
    read = [r for r in report.resources if is_read(r)]
    unread = [r.type for r in report.resources if not is_read(r) and unread_type(r.type)]
    judged = len(report.resources) - len(read) - len(unread)
    return Coverage(judged, len(read), tuple(unread))


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 resource`, `2 resources`, `0 resources`; `plural_form` for irregular words
    (`plural(2, "key policy", "key policies")`)."""
    if count == 1:
        return f"{count} {singular}"
    return f"{count} {plural_form or singular + 's'}"


def judged_text(report: Report) -> str:
    """`12 resources judged`, `11 resources judged, 1 read (owned elsewhere, not judged)`, or
    `46 resources judged, 1 not judged: aws:foo/bar:Baz`: never a verdict without what was not
    judged."""
    coverage = coverage_of(report)
    text = f"{plural(coverage.judged, 'resource')} judged"
    if coverage.read:
        text += f", {coverage.read} read (owned elsewhere, not judged)"
    if coverage.not_judged:
        text += f", {not_judged_text(list(coverage.not_judged_types))}"
    return text


def scope_text(report: Report, resources_with_findings: int) -> str:
    """The summary's account of what was covered: the report's own `scope` when it has one,
    else `on N resources (M resources judged...)` (`judged_text`)."""
    if report.scope is not None:
        return f"· {report.scope}"
    return f"on {plural(resources_with_findings, 'resource')} ({judged_text(report)})"


def findings_of(report: Report) -> list[Finding]:
    """The report's findings, secrets redacted, in one deterministic order."""
    secrets = report.secrets
    redacted = (replace(f, message=redact(f.message, secrets)) for f in report.findings)
    return sorted(redacted, key=_finding_order)


def _finding_order(finding: Finding) -> tuple[bool, str, str, str, str, str, int, str]:
    # Mandatory findings first: a reader (or a CI log cut short) sees what blocks first.
    return (
        finding.enforcement is not Enforcement.MANDATORY,
        finding.resource,
        finding.rule,
        finding.engine.value,
        finding.message,
        finding.file or "",
        finding.line or 0,
        finding.exception or "",
    )


def at_or_above(severity: str | None, threshold: Severity) -> bool:
    """Whether `severity` (a rule's, None for checkov's own checks) is `threshold` or worse."""
    if severity is None:
        return False
    return SEVERITY_ORDER.index(Severity(severity)) <= SEVERITY_ORDER.index(threshold)


def is_failing(finding: Finding, fail_on: Severity | None = None) -> bool:
    """A finding that fails the run: a mandatory one, or with `fail_on` one of that severity
    or above that no exception covers (an excepted finding's risk was accepted)."""
    if finding.enforcement is Enforcement.MANDATORY:
        return True
    return (
        fail_on is not None
        and not finding.exception
        and finding.enforcement is Enforcement.ADVISORY
        and at_or_above(finding.severity, fail_on)
    )


def verdict(findings: Iterable[Finding], fail_on: Severity | None = None) -> str:
    """FAIL when any finding fails the run (`is_failing`: the CLI exits 1 unless
    `--soft-fail`), else PASS."""
    return "FAIL" if any(is_failing(f, fail_on) for f in findings) else "PASS"


def verdict_text(report: Report, findings: Iterable[Finding]) -> str:
    """`PASS`, `FAIL`, or `FAIL (soft-fail: exit 0)`."""
    outcome = verdict(findings, report.fail_on)
    if outcome == "FAIL" and report.soft_fail:
        return "FAIL (soft-fail: exit 0)"
    return outcome


def tuning_text(report: Report) -> str:
    """What the run left out or added, for the summaries: `skipped: KM-ROT-002 (mandatory,
    --skip-check, 1 finding not reported)`, `only: KM-ROT-002 (--check)`, `fail on: medium
    and above`; "" when the run was not tuned."""
    parts = []
    if report.selected:
        parts.append(f"only: {', '.join(report.selected)} (--check)")
    explicit = [s for s in report.skipped if s.reason != NOT_SELECTED]
    if explicit:
        parts.append(f"skipped: {'; '.join(s.text() for s in explicit)}")
    if report.fail_on is not None:
        parts.append(f"fail on: {report.fail_on.value} and above")
    return " · ".join(parts)


#: `SkippedRule.reason` of a rule left out because `--check` named others.
NOT_SELECTED = "not in --check"


def counts_text(summary: Mapping[str, Any]) -> str:
    """`1 mandatory, 3 advisory (1 excepted)`: excepted findings are advisory ones."""
    text = f"{summary['mandatory']} mandatory, {summary['advisory']} advisory"
    if summary["excepted"]:
        text += f" ({summary['excepted']} excepted)"
    return text


def group_by_resource(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.resource, []).append(finding)
    return groups


def short_name(resource: str) -> str:
    """A URN's last part (the resource name); any other resource string as it is."""
    if resource.startswith("urn:pulumi:"):
        return resource.rsplit("::", 1)[-1]
    return resource


def resource_labels(
    report: Report, groups: Mapping[str, Sequence[Finding]]
) -> dict[str, tuple[str, str]]:
    """(type, name) of each resource with findings, for headings: the recorded ones when known."""
    records = {record.urn: record for record in report.resources}
    labels = {}
    for resource, findings in groups.items():
        record = records.get(resource)
        if record is not None:
            labels[resource] = (record.type, record.name)
        else:
            labels[resource] = (findings[0].type if findings else "", short_name(resource))
    return labels


def keyplane_rule(rule_id: str) -> Rule | None:
    return RULES.get(rule_id)


def is_checkov_rule(rule_id: str) -> bool:
    return rule_id.startswith(("CKV_", "CKV2_"))


def guideline(message: str) -> str | None:
    """The first link in a message (checkov's findings carry their check's guideline)."""
    match = _GUIDELINE.search(message)
    return match.group(0).rstrip(".,;:") if match else None


def fix_text(finding: Finding) -> str:
    """The rule's remediation from the catalog, or the guideline link a checkov finding carries."""
    rule = keyplane_rule(finding.rule)
    if rule is not None:
        return rule.remediation
    return guideline(finding.message) or ""


def rule_title(rule_id: str) -> str:
    rule = keyplane_rule(rule_id)
    if rule is not None:
        return rule.title
    if is_checkov_rule(rule_id):
        return f"checkov built-in check {rule_id}"
    return rule_id


def level_of(finding: Finding) -> str:
    """SARIF level: mandatory → error, advisory → warning, excepted → note."""
    if finding.exception:
        return "note"
    if finding.enforcement is Enforcement.MANDATORY:
        return "error"
    if finding.enforcement is Enforcement.ADVISORY:
        return "warning"
    return "none"


def artifact_uri(
    path: str, source_root: str | None = None, working_directory: str | None = None
) -> str:
    """A file path as a SARIF/CI artifact URI: relative to `source_root` (the repository root)
    when the file is under it, else an absolute `file:` URI. A relative `path` is taken from
    `working_directory` when given (the CLI's), else as relative to the repository already."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if not posix.is_absolute():
        if working_directory is None:
            return quote(posix.as_posix())
        posix = PurePosixPath(working_directory.replace("\\", "/")) / posix
        posix = PurePosixPath(os.path.normpath(posix))
    if source_root is not None:
        root = PurePosixPath(source_root.replace("\\", "/"))
        if posix.is_relative_to(root):
            return quote(posix.relative_to(root).as_posix())
    return posix.as_uri()


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- secrets and unknowns ----------------------------------------------------------------------


def masked(value: Any, secrets: Sequence[str] = (), *, sort_keys: bool = False) -> Any:
    """A wire-form value for display: secrets as "[secret]", unknowns as "[unknown]";
    `sort_keys`: every object's members in name order.

    Plain strings that contain a known secret value (a secret pasted unmarked into another
    input) have it replaced as well.
    """
    if isinstance(value, Mapping):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return SECRET_TEXT
        if sig == OUTPUT_VALUE_SIG:
            if value.get("secret"):
                return SECRET_TEXT
            if "value" not in value:
                return UNKNOWN_TEXT
            return masked(value["value"], secrets, sort_keys=sort_keys)
        named = {str(k): v for k, v in value.items()}
        return {
            k: masked(named[k], secrets, sort_keys=sort_keys)
            for k in (sorted(named) if sort_keys else named)
        }
    if isinstance(value, list | tuple):
        return [masked(v, secrets, sort_keys=sort_keys) for v in value]
    if isinstance(value, str):
        return UNKNOWN_TEXT if value == UNKNOWN else redact(value, secrets)
    return value


def secret_strings(resources: Iterable[ResourceRecord]) -> tuple[str, ...]:
    """Every string inside a secret of any resource's inputs, longest first."""
    found: set[str] = set()
    for record in resources:
        _collect_secrets(record.inputs, found, inside_secret=False)
    return tuple(
        sorted(
            (s for s in found if len(s) >= MIN_REDACTED_SECRET_LENGTH),
            key=lambda s: (-len(s), s),
        )
    )


def _collect_secrets(value: Any, found: set[str], *, inside_secret: bool) -> None:
    if isinstance(value, Mapping):
        sig = value.get(SIG_KEY)
        secret = (
            inside_secret
            or sig == SECRET_SIG
            or (sig == OUTPUT_VALUE_SIG and bool(value.get("secret")))
        )
        for key, item in value.items():
            if key != SIG_KEY:
                _collect_secrets(item, found, inside_secret=secret)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found, inside_secret=inside_secret)
    elif inside_secret and value is not None and not isinstance(value, bool):
        found.add(str(value))


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, SECRET_TEXT)
    return text
