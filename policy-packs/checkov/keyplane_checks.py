"""keyplane's custom checkov checks: one per resource-level rule with enforcement point C.

Every check is built from the rule registry (`keyplane.rules.catalog`): ID, title and the
Terraform types it judges. Its logic is the check the CrossGuard pack runs
(`keyplane.rules.checks.RESOURCE_CHECKS`) over the facts the Terraform-plan adapter reads
(`keyplane.adapters.terraform`), so checkov and CrossGuard judge a resource the same way.
Rules that judge several resources together (KM-ROT-003, KM-LOG-001, KM-LOG-002) are
CrossGuard's.

checkov loads this file by path from its own environment, where keyplane's dependencies are not
installed: only keyplane's pure modules (facts, adapters, rules) are imported.

Environment:
- `KEYPLANE_ENVIRONMENT`: the stack's environment (required for meaningful KM-ENV-001 results).
- `KEYPLANE_SETTINGS`: the judging context as JSON, in the CrossGuard pack's `keyplane-settings`
  form (tier, scope, keyAdmins, ...; `keyplane.rules.checks.context.SETTINGS_SCHEMA`).
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
from keyplane.adapters.terraform import SUPPORTED_TYPES, facts_from_conf, facts_from_values  # noqa: E402
from keyplane.rules.catalog import RULES, Point, Rule  # noqa: E402
from keyplane.rules.context import Context, SettingsError, context_from_settings  # noqa: E402
from keyplane.rules.registry import Check, Scope, checks_at  # noqa: E402
from keyplane.rules.verdict import Outcome  # noqa: E402

ENVIRONMENT_VAR = "KEYPLANE_ENVIRONMENT"
SETTINGS_VAR = "KEYPLANE_SETTINGS"
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
        "inline_policies": [{"policy": '{"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}'}],
    },
)


def _kinds_by_type() -> dict[str, frozenset[type]]:
    return {
        tf_type: frozenset(
            type(f)
            for probe in _PROBES
            for f in facts_from_values(tf_type, probe, address=f"{tf_type}.probe")
        )
        for tf_type in SUPPORTED_TYPES
    }


def supported_types(check: Check) -> tuple[str, ...]:
    """The Terraform types whose facts the check judges (the registry's `kinds`)."""
    judged = check.kinds
    return tuple(
        sorted(
            tf_type
            for tf_type, kinds in _kinds_by_type().items()
            if any(issubclass(k, judged) for k in kinds)
        )
    )


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


def _context() -> Context:
    environment = os.environ.get(ENVIRONMENT_VAR, "")
    today = date.today()
    raw = os.environ.get(SETTINGS_VAR)
    settings: dict[str, Any] = {}
    if raw:
        try:
            settings = json.loads(raw)
        except ValueError as err:
            raise SettingsError(f"{SETTINGS_VAR}: not JSON ({err})") from None
        if not isinstance(settings, dict):
            raise SettingsError(f"{SETTINGS_VAR}: expected a JSON object")
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
#: object in turn, so the facts are read once per resource rather than once per rule.
_last_facts: tuple[Any, str, tuple[Any, ...]] | None = None


def _facts(tf_type: str, conf: Mapping[str, Any]) -> tuple[Any, ...]:
    global _last_facts  # noqa: PLW0603 - a one-entry cache
    last = _last_facts
    if last is not None and last[0] is conf and last[1] == tf_type:
        return last[2]
    facts = tuple(facts_from_conf(tf_type, conf))
    _last_facts = (conf, tf_type, facts)
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


#: One checkov check per resource check the registry serves at point C.
CHECKS = tuple(KeyplaneCheck(check) for check in checks_at(Point.CHECKOV, Scope.RESOURCE))
