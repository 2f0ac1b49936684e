"""Where a finding about a rendered resource points in its environment file.

The engines judge resources, which have no file of their own; the declared intent they came from
does. A finding is placed on the line of the field its rule judges, in the item the resource
was made from (a key, a secret or a certificate: the components name a resource after the item,
`acme-orders-db`, or with a suffix, `acme-orders-db-alias`), else on the environment-level block
the rule judges (`logging`, `access`, `monitoring`...), else on the environment's `name`. SARIF
viewers (GitHub code scanning) annotate that line.

A field the file leaves to its default (no `rotation_days` line) points at its item: the line a
fix is written under.

Only imported by the gate (it reads the loader's line table); the rules themselves stay free of
file positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from keyplane.findings import Finding

if TYPE_CHECKING:
    from keyplane.config import Estate

Loc = tuple[str | int, ...]

#: The item fields each family judges, most specific first (the first one present is taken).
_ITEM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "ALG": ("algorithm",),
    "ROT": ("rotation_days", "rotation"),
    "DEL": ("deletion_window_days", "retired"),
    "HSM": ("hsm",),
    "TEN": ("tenant",),
    "PUR": ("purpose",),
    "BAK": ("restore_tested_on",),
    "CRT": ("renewal", "algorithm"),
}
#: The environment-level block each family judges, for resources made from no item.
_ENVIRONMENT_FIELDS: Mapping[str, Loc] = {
    "LOG": ("logging", "retention_days"),
    "MON": ("monitoring", "notify"),
    "ACC": ("access",),
    "HSM": ("hsm",),
    "TEN": ("tenants",),
    "ENV": ("tier",),
}
#: The environment-level resources, by the suffix after `<env>-` their names begin with: the
#: block of the environment file they are made from (the audit trail from `logging`...).
_ENVIRONMENT_RESOURCES: Mapping[str, Loc] = {
    "audit": ("logging",),
    "access": ("access",),
    "hsm": ("hsm",),
    "secrets": ("secrets",),
    "keys": ("keys",),
    "monitoring": ("monitoring",),
}
#: Declared lists whose items name resources.
_ITEM_LISTS = ("keys", "secrets", "certificates")


def family(rule_id: str) -> str:
    """`ROT` for `KM-ROT-002`; "" for an ID of another form (checkov's `CKV_AWS_7`)."""
    parts = rule_id.split("-")
    return parts[1] if len(parts) == 3 and parts[0] == "KM" else ""


def locate(findings: Iterable[Finding], estate: Estate, environment: str) -> list[Finding]:
    """`findings` with `file` and `line` set where they had none: the environment file's line
    of the field the rule judges (module docstring). Findings that already carry a location,
    and every finding when the estate has no document for `environment`, are returned as
    they are."""
    document = estate.documents.get(environment)
    env = estate.environments.get(environment)
    if document is None or env is None:
        return list(findings)
    items: dict[str, Loc] = {}
    for list_name in _ITEM_LISTS:
        for index, item in enumerate(getattr(env, list_name)):
            items.setdefault(item.name, (list_name, index))
    # Longest names first: `acme-orders-db-replica` is not an `acme-orders-db` resource.
    names = sorted(items, key=len, reverse=True)

    located = []
    for finding in findings:
        if finding.file is not None:
            located.append(finding)
            continue
        loc = _loc(finding, items, names, document.lines, environment)
        line = document.line_of(loc) or document.line_of(("name",)) or 1
        located.append(replace(finding, file=document.path, line=line))
    return located


def locate_in_file(
    findings: Iterable[Finding], path: str, lines: Mapping[str, int]
) -> list[Finding]:
    """`findings` without a location pointed at the line of their resource's URN in the file
    the engine wrote (`pulumi preview --json`, `pulumi stack export`: `lines`, URN to line), for
    a scan judged without an environment file."""
    return [
        replace(f, file=path, line=lines[f.resource])
        if f.file is None and f.resource in lines
        else f
        for f in findings
    ]


def _loc(
    finding: Finding,
    items: Mapping[str, Loc],
    names: list[str],
    lines: Mapping[Loc, int],
    environment: str,
) -> Loc:
    resource = finding.resource.rsplit("::", 1)[-1]
    rule_family = family(finding.rule)
    item = items.get(resource)
    if item is None:
        item = next(
            (items[name] for name in names if resource.startswith(f"{name}-")),
            None,
        )
    if item is not None:
        written = (f for f in _ITEM_FIELDS.get(rule_family, ()) if (*item, f) in lines)
        field = next(written, None)
        return (*item, field) if field is not None else item
    if rule_family in _ENVIRONMENT_FIELDS:
        return _ENVIRONMENT_FIELDS[rule_family]
    block = resource.removeprefix(f"{environment}-").split("-", 1)[0]
    if resource.startswith(f"{environment}-") and block in _ENVIRONMENT_RESOURCES:
        return _ENVIRONMENT_RESOURCES[block]
    return ("name",)


__all__ = ["family", "locate", "locate_in_file"]
