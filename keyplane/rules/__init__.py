"""keyplane's rules: the catalog (one table mirroring RULES.md) and one module per rule family.

A family module (`alg`, `rot`, `pur`, `env`, `ten`, `acc`, `log`, `deletion`, `hsm`, `sto`,
`bak`, `exc`, `rev`) holds the checks of its rules for every enforcement point side by side,
each registered with `@check` (`keyplane.rules.registry`). Importing this package imports every
family and verifies the registrations against the catalog: a rule whose declared point has no
check, or a check for an unknown rule or undeclared point, fails the import with
`RegistryError`. Shared pieces: `verdict` (what a check answers), `context` (what it knows
besides the resources), `common` (purpose, rotation limit), `judge` (running checks in
process), `files` (point V over the estate's files).
"""

from keyplane.rules import registry as _registry
from keyplane.rules.catalog import (
    RULES,
    Enforcement,
    Point,
    Rule,
    Severity,
    get_rule,
    rules_at,
)

#: Every registered check, verified against the catalog (import fails when they disagree).
CHECKS = _registry.load()

__all__ = ["CHECKS", "RULES", "Enforcement", "Point", "Rule", "Severity", "get_rule", "rules_at"]
