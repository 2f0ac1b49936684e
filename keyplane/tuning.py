"""Tuning a gate run: `--policy-config`, `--skip-check`, `--check`, `--fail-on`, `--soft-fail`,
and the project file that holds their defaults (`.keyplane.yaml` or `[tool.keyplane]`).

- `--policy-config FILE` reads the JSON `pulumi preview --policy-pack-config` takes (an object:
  per policy a level, or `{"enforcementLevel": ..., ...config}`; `all` for every policy). The
  offline gate sends the levels to the CrossGuard pack as the Pulumi CLI would, and gives every
  other engine's findings of the same rule the same level, so checkov's copy of a rule cannot
  keep a level the pack no longer has. A `disabled` rule is skipped.
- `--skip-check ID` / `--check ID`: keyplane rule IDs (`KM-ROT-002`) and checkov IDs
  (`CKV_AWS_7`). A skipped rule, and a rule left out by `--check` that had findings, is listed
  in every report (`SkippedRule`), never dropped silently.
- `--fail-on SEVERITY`: findings of that severity or above fail the run as well; mandatory
  findings fail it whatever `--fail-on` says (use `--policy-config` to demote a rule).
- `--soft-fail`: exit 0; the verdict still reads FAIL.

Errors are `ConfigError`s whose problems name the file, line and field (exit 2).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.files import read_regular_file
from keyplane.config.yamlio import MAX_FILE_BYTES, read_yaml
from keyplane.findings import Finding
from keyplane.reports.model import NOT_SELECTED, SkippedRule
from keyplane.rules.catalog import EXCEPTED_SUFFIX, RULES, Enforcement, Point, Severity

#: The pack's own settings policy: the offline gate derives its settings from the estate.
SETTINGS_POLICY = "keyplane-settings"
#: `pulumi preview --policy-pack-config`'s entry that sets every policy's level.
ALL_POLICIES = "all"
#: The levels a keyplane policy accepts (its policies do not remediate).
LEVELS = tuple(e.value for e in Enforcement)
_CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_[0-9]+")
#: The project files, in the order they are looked for in the working directory.
PROJECT_FILE = ".keyplane.yaml"
PYPROJECT = "pyproject.toml"
#: Keys of the project file: each is the command-line option of the same name.
PROJECT_KEYS = (
    "estate",
    "stack-config",
    "policy-config",
    "skip-check",
    "check",
    "fail-on",
    "soft-fail",
)


@dataclass(frozen=True)
class Tuning:
    """What `--policy-config`, `--skip-check`, `--check`, `--fail-on` and `--soft-fail` asked."""

    #: Level per rule ID from `--policy-config` (rule's own policy), and for excepted findings
    #: (its `-excepted` companion).
    levels: Mapping[str, Enforcement] = field(default_factory=dict)
    excepted_levels: Mapping[str, Enforcement] = field(default_factory=dict)
    skip: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    fail_on: Severity | None = None
    soft_fail: bool = False

    def pack_config(self) -> dict[str, str]:
        """The levels for the CrossGuard pack's policies, one explicit entry per policy (never
        `all`, which would also reach the pack's settings policy). Disabled rules are left
        out: their findings are counted and skipped after the run (`apply`)."""
        config: dict[str, str] = {}
        for rule_id, level in self.levels.items():
            rule = RULES[rule_id]
            if Point.CROSSGUARD in rule.enforced_points and level is not Enforcement.DISABLED:
                config[rule.policy_name] = level.value
        for rule_id, level in self.excepted_levels.items():
            rule = RULES[rule_id]
            if Point.CROSSGUARD in rule.enforced_points and level is not Enforcement.DISABLED:
                config[rule.excepted_policy_name] = level.value
        return config

    def apply(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[SkippedRule]]:
        """The findings this run reports (levels applied, skipped rules left out) and the
        rules it skipped, each with how many findings it did not report."""
        kept: list[Finding] = []
        hidden: Counter[tuple[str, str]] = Counter()
        for finding in findings:
            if finding.rule in self.skip:
                hidden[(finding.rule, "--skip-check")] += 1
                continue
            if self.only and finding.rule not in self.only:
                hidden[(finding.rule, NOT_SELECTED)] += 1
                continue
            levels = self.excepted_levels if finding.exception else self.levels
            # An excepted finding follows its rule's `-excepted` companion, as in the pack.
            level = levels.get(finding.rule)
            if level is Enforcement.DISABLED:
                hidden[(finding.rule, DISABLED_REASON)] += 1
                continue
            if level is not None and level is not finding.enforcement:
                kept.append(replace(finding, enforcement=level))
            else:
                kept.append(finding)
        skipped = [
            SkippedRule(rule, "--skip-check", hidden[(rule, "--skip-check")], self.level_of(rule))
            for rule in self.skip
        ]
        skipped += [
            SkippedRule(rule, DISABLED_REASON, hidden[(rule, DISABLED_REASON)], _default(rule))
            for rule, level in self.levels.items()
            if level is Enforcement.DISABLED and rule not in self.skip
        ]
        skipped += [
            SkippedRule(rule, reason, count, self.level_of(rule))
            for (rule, reason), count in hidden.items()
            if reason == NOT_SELECTED
        ]
        return kept, skipped

    def checked(self, rules: Iterable[str]) -> list[str]:
        """The judged rules this run reports on (JUnit lists the clean ones as passing)."""
        return [
            r
            for r in rules
            if r not in self.skip
            and (not self.only or r in self.only)
            and self.levels.get(r) is not Enforcement.DISABLED
        ]

    def level_of(self, rule_id: str) -> Enforcement | None:
        """The rule's level in this run (None: not a keyplane rule)."""
        level = self.levels.get(rule_id)
        if level is not None and level is not Enforcement.DISABLED:
            return level
        return _default(rule_id)


DISABLED_REASON = "disabled by --policy-config"


def _default(rule_id: str) -> Enforcement | None:
    rule = RULES.get(rule_id)
    return rule.default_enforcement if rule is not None else None


def check_ids(values: Sequence[str], option: str) -> tuple[str, ...]:
    """`--skip-check`/`--check` values (each may also be a comma-separated list) as IDs.

    Raises ConfigError naming the option when an ID is neither a rule of the catalog nor of
    checkov's form (`CKV_AWS_7`, `CKV2_GCP_3`).
    """
    ids: list[str] = []
    problems = []
    for value in values:
        for part in value.split(","):
            rule_id = part.strip().upper()
            if not rule_id:
                continue
            if rule_id in RULES or _CHECKOV_ID.fullmatch(rule_id):
                ids.append(rule_id)
            else:
                problems.append(
                    Problem(
                        option,
                        None,
                        "",
                        f"unknown check {part.strip()!r}",
                        fix="name a keyplane rule (see `keyplane rules`) or a checkov check "
                        "(CKV_AWS_7)",
                    )
                )
    if problems:
        raise ConfigError(problems)
    return tuple(dict.fromkeys(ids))


def read_policy_config(path: Path) -> tuple[dict[str, Enforcement], dict[str, Enforcement]]:
    """The levels a `--policy-pack-config` JSON file sets: (per rule, per rule's excepted
    findings). `all` sets every keyplane rule; a policy's own entry wins over `all`.

    Raises ConfigError naming the file, the line and the entry for: a file that is not a JSON
    object, a policy name keyplane does not have, a level other than advisory / mandatory /
    disabled, an entry that is neither a level nor an object. `keyplane-settings` is accepted
    and not used: the offline gate judges with the estate's settings.
    """
    shown = str(path)
    raw = read_regular_file(path, shown, MAX_FILE_BYTES, "pass a JSON file")
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            [Problem(shown, err.lineno, "", f"not JSON: {err.msg}", fix="write a JSON object")]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [
                Problem(
                    shown,
                    1,
                    "",
                    "not a JSON object",
                    fix='write {"<policy name>": "<level>" | {"enforcementLevel": ...}}',
                )
            ]
        )
    by_policy = {rule.policy_name: rule.id for rule in RULES.values()}
    by_companion = {rule.excepted_policy_name: rule.id for rule in RULES.values()}
    levels: dict[str, Enforcement] = {}
    excepted: dict[str, Enforcement] = {}
    problems: list[Problem] = []

    def level_of(name: str, value: Any) -> Enforcement | None:
        line = _json_line(text, name)
        if isinstance(value, Mapping):
            value = value.get("enforcementLevel")
            if value is None:
                return None
        if isinstance(value, str) and value in LEVELS:
            return Enforcement(value)
        problems.append(
            Problem(
                shown,
                line,
                name,
                "not an enforcement level",
                value,
                fix=f"write one of {', '.join(LEVELS)}",
            )
        )
        return None

    if ALL_POLICIES in data:
        level = level_of(ALL_POLICIES, data[ALL_POLICIES])
        if level is not None:
            levels = dict.fromkeys(RULES, level)
    for name, value in data.items():
        if name in (ALL_POLICIES, SETTINGS_POLICY):
            continue
        if name in by_policy:
            level = level_of(name, value)
            if level is not None:
                levels[by_policy[name]] = level
        elif name in by_companion:
            level = level_of(name, value)
            if level is not None:
                excepted[by_companion[name]] = level
        else:
            problems.append(
                Problem(
                    shown,
                    _json_line(text, name),
                    name,
                    "no such keyplane policy",
                    fix="name a policy as `keyplane rules` lists it (km-rot-002-rotation-period, "
                    f"or its {EXCEPTED_SUFFIX} companion), `all` or `{SETTINGS_POLICY}`",
                )
            )
    if problems:
        raise ConfigError(problems)
    return levels, excepted


def _json_line(text: str, key: str) -> int | None:
    """The line where `"key"` first appears in a JSON text (the json module keeps no lines)."""
    at = text.find(json.dumps(key))
    return text.count("\n", 0, at) + 1 if at >= 0 else None


# --- the project file ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectDefaults:
    """The defaults a project file sets (None / empty: not set), paths resolved against the
    file's folder."""

    source: str | None = None
    estate: Path | None = None
    stack_config: Path | None = None
    policy_config: Path | None = None
    skip_check: tuple[str, ...] = ()
    check: tuple[str, ...] = ()
    fail_on: Severity | None = None
    soft_fail: bool | None = None


def project_defaults(directory: Path | None = None) -> ProjectDefaults:
    """The defaults of `.keyplane.yaml` in `directory` (default: the working directory), else
    of the `[tool.keyplane]` table of its `pyproject.toml`, else none.

    Raises ConfigError naming the file, the line and the key for an unknown key or a value of
    the wrong kind.
    """
    folder = directory or Path.cwd()
    yaml_file = folder / PROJECT_FILE
    if yaml_file.is_file() or yaml_file.is_symlink():
        shown = str(yaml_file) if directory is not None else PROJECT_FILE
        document = read_yaml(yaml_file, shown)
        data = document.data if document.data is not None else {}
        if not isinstance(data, dict):
            raise ConfigError(
                [
                    Problem(
                        shown,
                        document.line_of(()) or 1,
                        "",
                        "not a mapping",
                        fix=f"write `key: value` lines ({', '.join(PROJECT_KEYS)})",
                    )
                ]
            )
        return _defaults(shown, folder, data, lambda key: document.line_of((key,)))
    pyproject = folder / PYPROJECT
    if pyproject.is_file():
        shown = str(pyproject) if directory is not None else PYPROJECT
        raw = read_regular_file(pyproject, shown, MAX_FILE_BYTES, "pass a pyproject.toml")
        text = raw.decode("utf-8", errors="replace")
        try:
            table = tomllib.loads(text).get("tool", {}).get("keyplane")
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(
                [Problem(shown, None, "", f"not TOML: {err}", fix="fix the file's syntax")]
            ) from None
        if table is None:
            return ProjectDefaults()
        if not isinstance(table, dict):
            raise ConfigError(
                [Problem(shown, None, "tool.keyplane", "not a table", fix="write [tool.keyplane]")]
            )
        return _defaults(shown, folder, table, lambda key: _toml_line(text, key))
    return ProjectDefaults()


def _toml_line(text: str, key: str) -> int | None:
    """The line of `key = ...` inside the `[tool.keyplane]` table (tomllib keeps no lines)."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.replace(" ", "") == "[tool.keyplane]"
        elif inside and re.match(rf'["\']?{re.escape(key)}["\']?\s*=', stripped):
            return number
    return None


def _defaults(shown: str, folder: Path, data: Mapping[str, Any], line_of: Any) -> ProjectDefaults:
    problems: list[Problem] = []

    def bad(key: str, problem: str, value: Any, fix: str) -> None:
        problems.append(Problem(shown, line_of(key), key, problem, value, fix=fix))

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in PROJECT_KEYS:
            problems.append(
                Problem(
                    shown,
                    line_of(str(key)),
                    str(key),
                    "unknown key",
                    fix=f"use one of {', '.join(PROJECT_KEYS)}",
                )
            )
        elif key in ("estate", "stack-config", "policy-config"):
            if isinstance(value, str) and value:
                values[key] = folder / value
            else:
                bad(key, "not a path", value, "write a path relative to this file")
        elif key in ("skip-check", "check"):
            items = [value] if isinstance(value, str) else value
            if isinstance(items, list) and all(isinstance(i, str) for i in items):
                try:
                    values[key] = check_ids(items, f"{shown}: {key}")
                except ConfigError as err:
                    problems += [
                        Problem(shown, line_of(key), key, p.problem, fix=p.fix)
                        for p in err.problems
                    ]
            else:
                bad(key, "not a list of check IDs", value, "write [KM-ROT-002, CKV_AWS_7]")
        elif key == "fail-on":
            if isinstance(value, str) and value in {s.value for s in Severity}:
                values[key] = Severity(value)
            else:
                bad(key, "not a severity", value, "write critical, high, medium or low")
        elif key == "soft-fail":
            if isinstance(value, bool):
                values[key] = value
            else:
                bad(key, "not true or false", value, "write true or false")
    if problems:
        raise ConfigError(problems)
    return ProjectDefaults(
        source=shown,
        estate=values.get("estate"),
        stack_config=values.get("stack-config"),
        policy_config=values.get("policy-config"),
        skip_check=values.get("skip-check", ()),
        check=values.get("check", ()),
        fail_on=values.get("fail-on"),
        soft_fail=values.get("soft-fail"),
    )


__all__ = [
    "PROJECT_FILE",
    "PROJECT_KEYS",
    "ProjectDefaults",
    "Tuning",
    "check_ids",
    "project_defaults",
    "read_policy_config",
]
