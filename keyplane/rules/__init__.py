"""keyplane's rules: the registry (`catalog`) and, beside it, the checks keyed by rule ID."""

from keyplane.rules.catalog import (
    RULES,
    Enforcement,
    Point,
    Rule,
    Severity,
    get_rule,
    rules_at,
)

__all__ = ["RULES", "Enforcement", "Point", "Rule", "Severity", "get_rule", "rules_at"]
