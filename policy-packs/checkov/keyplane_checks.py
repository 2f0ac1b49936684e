"""keyplane's custom checkov checks: one per check the registry serves at enforcement point C.

Every check is built from the check registry (`keyplane.rules.registry`): the rule's ID and
title from the catalog, its logic the very function the CrossGuard pack runs, so checkov and
CrossGuard judge the same way.

- A resource check judges each resource of the Terraform types whose facts it judges (the
  registry's `kinds`), over the facts the Terraform-plan adapter reads from checkov's
  configuration of that resource (`keyplane.adapters.terraform.facts_from_conf`).
- A stack check (KM-ROT-003, KM-LOG-001, KM-LOG-002: rules that need several resources) runs
  once over the facts of the whole plan (`keyplane.adapters.terraform.facts_from_plan`, the plan
  file named by `KEYPLANE_PLAN`), and each verdict is reported on the resource it is about. A
  verdict about no single resource (no CloudTrail trail at all, no data-access audit
  configuration for Cloud KMS) is reported on every key, secret and vault of the plan: those are
  what it leaves unlogged. A resource no verdict is about is UNKNOWN to that check (neither
  passed nor failed: checkov asks per resource, the rule answers per stack), so the plan is
  judged when checkov loads the checks, and each stack check is run only on the types of the
  resources it fails on (`failing_types`): its other runs would report nothing.

checkov loads this file by path from its own environment, where keyplane's dependencies are not
installed: only keyplane's pure modules (facts, adapters, rules) are imported.

Environment:
- `KEYPLANE_ENVIRONMENT`: the stack's environment (required for meaningful KM-ENV-001 results).
- `KEYPLANE_SETTINGS_FILE`: a file holding the judging context as JSON, in the CrossGuard pack's
  `keyplane-settings` form (tier, scope, keyAdmins, ...; `keyplane.rules.context.SETTINGS_SCHEMA`).
  The runner writes it: one environment variable is capped at 128 KiB on Linux, which a large
  estate's context exceeds.
- `KEYPLANE_SETTINGS`: the same JSON in the variable itself (hand runs; the file wins).
- `KEYPLANE_PLAN`: the Terraform plan JSON checkov scans, for the stack checks, or the folder
  of its parts (`keyplane.terraform.to_plan.split_plan`: the runner hands checkov the plan so);
  without it, the one `-f`/`--file` JSON file of checkov's own command line. Without either,
  the stack checks report nothing (a warning is logged).
- `KEYPLANE_ESTATE`: an estate directory to read the context from (needs keyplane's
  dependencies); without it and without settings, the checkout's `environments/` when it
  declares the environment, as the CrossGuard pack does.
- `KEYPLANE_ROOT`: the keyplane checkout (default: two levels above this file).
- `EVAL_TF_PLAN_AFTER_UNKNOWN` (checkov's own, read while parsing the plan, before this file is
  loaded): set it, as `keyplane.engines.checkov.runner` does, or values known only after apply look unset.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("KEYPLANE_ROOT") or Path(__file__).resolve().parent.parent.parent)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from checkov.common.models.enums import CheckCategories, CheckResult  # noqa: E402
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck  # noqa: E402
from keyplane.adapters.coverage import KEY_BEARING_TERRAFORM_TYPES  # noqa: E402
from keyplane.adapters.terraform import (  # noqa: E402
    CHECKOV_ADDRESS,
    SUPPORTED_TYPES,
    facts_from_conf,
    facts_from_plan,
    facts_from_values,
)
from keyplane.facts.model import Key, Secret, Unparseable, Unread, Vault  # noqa: E402
from keyplane.rules.catalog import RULES, Point, Rule  # noqa: E402
from keyplane.rules.context import Context, SettingsError, context_from_settings  # noqa: E402
from keyplane.rules.judge import check_stack  # noqa: E402
from keyplane.rules.registry import Check, Scope, checks_at  # noqa: E402
from keyplane.rules.verdict import Outcome, Verdict  # noqa: E402
from keyplane.terraform.to_plan import merge_plans  # noqa: E402

ENVIRONMENT_VAR = "KEYPLANE_ENVIRONMENT"
SETTINGS_VAR = "KEYPLANE_SETTINGS"
SETTINGS_FILE_VAR = "KEYPLANE_SETTINGS_FILE"
PLAN_VAR = "KEYPLANE_PLAN"
ESTATE_VAR = "KEYPLANE_ESTATE"

_CATEGORIES = {
    "ALG": CheckCategories.ENCRYPTION,
    "ROT": CheckCategories.ENCRYPTION,
    "HSM": CheckCategories.ENCRYPTION,
    "DEL": CheckCategories.BACKUP_AND_RECOVERY,
    "ACC": CheckCategories.IAM,
    "STO": CheckCategories.SECRETS,
}

#: Values that make every type show the facts it can declare (a secret version's value).
_PROBES: tuple[dict[str, Any], ...] = (
    {},
    {
        "secret_string": "x",
        "secret_data": "x",
        "value": "x",
        # Private keys and imported key material written in the inputs (KM-STO-001).
        "private_key": "x",
        "key_material_base64": "x",
        # Database passwords, and an imported Key Vault certificate's PFX/PEM (KM-STO-001).
        "password": "x",
        "master_password": "x",
        "certificate": [{"contents": "x"}],
        "inline_policies": [{"policy": '{"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}'}],
        # A vault's legacy access policies (azurerm_key_vault access_policy blocks).
        "access_policy": [{"object_id": "x", "key_permissions": ["Get"]}],
    },
)


@cache
def _kinds_by_type() -> Mapping[str, frozenset[type]]:
    return {
        tf_type: frozenset(
            type(f)
            for probe in _PROBES
            for f in facts_from_values(tf_type, probe, address=f"{tf_type}.probe")
        )
        for tf_type in SUPPORTED_TYPES
    }


def supported_types(check: Check) -> tuple[str, ...]:
    """The Terraform types whose facts the check judges (the registry's `kinds`); for types no
    reader handles (`Unread`, KM-COV-001), checkov's wildcard patterns of the key-bearing ones."""
    judged = check.kinds
    types = {
        tf_type
        for tf_type, kinds in _kinds_by_type().items()
        if any(issubclass(k, judged) for k in kinds)
    }
    if issubclass(Unread, judged):
        # Types keyplane does not map are no reader's: checkov matches them by pattern.
        types.update(KEY_BEARING_TERRAFORM_TYPES)
    if issubclass(Unparseable, judged):
        # Any type keyplane reads may hold a policy document it cannot parse.
        types.update(SUPPORTED_TYPES)
    return tuple(sorted(types))


@cache
def context() -> Context:
    """The judging context from the environment (see the module's docstring), read once.

    Unusable settings stop checkov with one line and exit code 2: raised from a check, the error
    would be logged with a traceback for every check of every resource.
    """
    try:
        return _context()
    except SettingsError as err:
        print(
            f"keyplane checks: {err} (they read {ENVIRONMENT_VAR}, {SETTINGS_VAR} and "
            f"{ESTATE_VAR}: set {ENVIRONMENT_VAR} to the stack's environment)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def _settings_text() -> tuple[str | None, str]:
    """The settings JSON and where it came from: the file `KEYPLANE_SETTINGS_FILE` names, else
    the variable `KEYPLANE_SETTINGS`."""
    path = os.environ.get(SETTINGS_FILE_VAR)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8"), f"{SETTINGS_FILE_VAR} {path}"
        except OSError as err:
            raise SettingsError(f"{SETTINGS_FILE_VAR}: cannot read {path} ({err})") from None
    return os.environ.get(SETTINGS_VAR), SETTINGS_VAR


def _context() -> Context:
    environment = os.environ.get(ENVIRONMENT_VAR, "")
    today = date.today()
    raw, source = _settings_text()
    settings: dict[str, Any] = {}
    if raw:
        try:
            settings = json.loads(raw)
        except ValueError as err:
            raise SettingsError(f"{source}: not JSON ({err})") from None
        if not isinstance(settings, dict):
            raise SettingsError(f"{source}: expected a JSON object")
    if os.environ.get(ESTATE_VAR) and not settings.get("estate"):
        settings["estate"] = os.environ[ESTATE_VAR]
    default_estate = None if raw else ROOT / "environments"
    try:
        return context_from_settings(
            settings,
            default_environment=environment,
            base_dir=ROOT,
            today=today,
            default_estate=default_estate,
        )
    except ImportError as err:
        if settings.get("estate"):
            raise SettingsError(
                f"{ESTATE_VAR}: the estate cannot be read in checkov's environment ({err}); "
                f"pass the context as {SETTINGS_VAR} instead"
            ) from None
        # The checkout's estate needs keyplane's dependencies: judge with the strictest context.
        logging.warning(
            "keyplane: cannot read %s here (%s); judging %s with the strictest context (set %s)",
            default_estate,
            err,
            environment,
            SETTINGS_VAR,
        )
        return context_from_settings(
            settings, default_environment=environment, base_dir=ROOT, today=today
        )


#: The last resource's facts: checkov runs every check of a resource on the same configuration
#: object in turn, so the facts are read once per resource rather than once per rule. Kept with
#: a copy of the configuration they were read from, so that they are never given for another
#: resource, nor for this one changed in between (a check of checkov's may alter what it reads).
_last_facts: tuple[Mapping[str, Any], str, Any, tuple[Any, ...]] | None = None


def _snapshot(value: Any) -> Any:
    """`value` with every dict and list copied (the scalars, immutable, shared): comparing it
    with the original tells whether anything was changed in place since."""
    if isinstance(value, dict):
        return {key: _snapshot(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snapshot(item) for item in value]
    return value


def _facts(tf_type: str, conf: Mapping[str, Any]) -> tuple[Any, ...]:
    global _last_facts  # noqa: PLW0603 - a one-entry cache
    last = _last_facts
    if last is not None and last[0] is conf and last[1] == tf_type and last[2] == conf:
        return last[3]
    snapshot = _snapshot(conf)
    facts = tuple(facts_from_conf(tf_type, conf))
    _last_facts = (conf, tf_type, snapshot, facts)
    return facts


def result_of(check: Check, tf_type: str, conf: Mapping[str, Any]) -> tuple[CheckResult, list[str]]:
    """checkov's result and the failure messages of a resource check over one configuration."""
    verdicts = [check.function(f, context()) for f in _facts(tf_type, conf)]
    failures = [v.message for v in verdicts if v.outcome is Outcome.FAIL]
    if failures:
        return CheckResult.FAILED, failures
    outcomes = {v.outcome for v in verdicts}
    if Outcome.UNKNOWN in outcomes or Outcome.PASS not in outcomes:
        # Known only after deployment, or nothing to judge: neither passed nor failed.
        return CheckResult.UNKNOWN, []
    return CheckResult.PASSED, []


class KeyplaneCheck(BaseResourceCheck):  # type: ignore[misc]
    """A keyplane rule as a checkov resource check."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.rule: Rule = RULES[check.rule]
        super().__init__(
            name=self.rule.title,
            id=self.rule.id,
            categories=(
                _CATEGORIES.get(self.rule.id.split("-")[1], CheckCategories.GENERAL_SECURITY),
            ),
            supported_resources=supported_types(check),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        result, failures = result_of(self.check, self.entity_type, conf)
        self.details.extend(failures)
        return result


def plan_paths() -> tuple[Path, ...]:
    """The plan the stack checks judge: `KEYPLANE_PLAN` (a plan JSON file, or a folder whose
    `*.json` files are the parts of one plan, `keyplane.terraform.to_plan.split_plan`), else
    checkov's `-f`/`--file` JSON file when it names one; none otherwise."""
    named = os.environ.get(PLAN_VAR)
    if named:
        path = Path(named)
        return tuple(sorted(path.glob("*.json"))) if path.is_dir() else (path,)
    argv = sys.argv[1:]
    files = [
        argv[i + 1]
        for i, arg in enumerate(argv[:-1])
        if arg in ("-f", "--file") and argv[i + 1].endswith(".json")
    ]
    # Several files may be plans of several stacks: judging them as one would be wrong.
    return (Path(files[0]),) if len(files) == 1 else ()


#: What the stack checks report: (rule, address) → its verdicts there.
StackVerdicts = Mapping[tuple[str, str], tuple[Verdict, ...]]


@cache
def judged_stack() -> tuple[StackVerdicts, Mapping[str, str]]:
    """The verdicts of every stack check at point C, judged once over the whole plan, by
    (rule, address) they are reported at (see the module's docstring for verdicts about no
    resource), and the Terraform type of each resource of the plan keyplane reads, by address."""
    paths = plan_paths()
    if not paths:
        named = os.environ.get(PLAN_VAR)
        if named:
            logging.warning(
                "keyplane: %s names %s, which holds no plan part (*.json): the stack rules "
                "judge nothing (name the plan's file, or the folder of its parts)",
                PLAN_VAR,
                named,
            )
        else:
            logging.warning(
                "keyplane: no plan to judge the stack rules on (set %s to the plan's path)",
                PLAN_VAR,
            )
        return {}, {}
    try:
        plan = merge_plans([json.loads(path.read_text(encoding="utf-8")) for path in paths])
    except (OSError, ValueError) as err:
        logging.warning(
            "keyplane: cannot read the plan %s (%s)", os.pathsep.join(map(str, paths)), err
        )
        return {}, {}
    stack = facts_from_plan(plan)
    unlogged = [f.urn for f in stack.resources if isinstance(f, Key | Secret | Vault)]
    found: dict[tuple[str, str], list[Verdict]] = {}
    for registered in checks_at(Point.CHECKOV, Scope.STACK):
        for verdict in check_stack(registered.rule, stack, context()):
            for address in [verdict.urn] if verdict.urn else unlogged:
                found.setdefault((registered.rule, address), []).append(verdict)
    types = {f.urn: f.type for f in stack.resources}
    return {where: tuple(verdicts) for where, verdicts in found.items()}, types


def stack_verdicts() -> StackVerdicts:
    """(rule, address) → the verdicts to report there (`judged_stack`)."""
    return judged_stack()[0]


def failing_types(rule: str) -> tuple[str, ...]:
    """The Terraform types a stack check is run on: those of the resources it fails on.

    A stack check reports a failure or nothing (neither passed nor failed: checkov leaves such
    results out of its report), so running it on the other resources only costs: measured at
    1,819 resources, its runs were 45 % of all of checkov's check runs. The plan is judged here,
    when checkov loads the checks. Should judging fail, every type the checks read is given, and
    each run judges again, failing as it did before (checkov logs that error for every run).
    """
    try:
        verdicts, types = judged_stack()
    except Exception:  # raised again, and logged by checkov, by each run
        return tuple(sorted(SUPPORTED_TYPES))
    failing: set[str] = set()
    for (judged, address), found in verdicts.items():
        if judged != rule or all(v.outcome is not Outcome.FAIL for v in found):
            continue
        tf_type = types.get(address)
        if tf_type is None:
            # About no resource keyplane read (none so far): wherever it may be.
            return tuple(sorted(SUPPORTED_TYPES | failing))
        failing.add(tf_type)
    return tuple(sorted(failing))


class KeyplaneStackCheck(BaseResourceCheck):  # type: ignore[misc]
    """A keyplane rule judged over the whole plan, reported per resource."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.rule: Rule = RULES[check.rule]
        super().__init__(
            name=self.rule.title,
            id=self.rule.id,
            categories=(
                _CATEGORIES.get(self.rule.id.split("-")[1], CheckCategories.GENERAL_SECURITY),
            ),
            supported_resources=failing_types(self.rule.id),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        address = str(conf.get(CHECKOV_ADDRESS) or "")
        verdicts = stack_verdicts().get((self.rule.id, address), ())
        failures = [v.message for v in verdicts if v.outcome is Outcome.FAIL]
        if failures:
            self.details.extend(failures)
            return CheckResult.FAILED
        return CheckResult.UNKNOWN


#: One checkov check per check the registry serves at point C.
CHECKS = (
    *(KeyplaneCheck(check) for check in checks_at(Point.CHECKOV, Scope.RESOURCE)),
    *(KeyplaneStackCheck(check) for check in checks_at(Point.CHECKOV, Scope.STACK)),
)
