"""The rules' checks, keyed by rule ID: pure functions of facts and a context.

Metadata (title, severity, enforcement, remediation) lives in `keyplane.rules.catalog`; this
package holds only the logic. `RESOURCE_CHECKS` judge one resource (CrossGuard `Analyze`),
`STACK_CHECKS` judge a whole stack (`AnalyzeStack`).
"""

from keyplane.rules.checks.context import Context, OtherEnvironment, SettingsError
from keyplane.rules.checks.judge import check_resource, check_stack, evaluate, judge, to_finding
from keyplane.rules.checks.resource import RESOURCE_CHECKS
from keyplane.rules.checks.stack import STACK_CHECKS
from keyplane.rules.checks.verdict import CANNOT_JUDGE, Outcome, Verdict

__all__ = [
    "CANNOT_JUDGE",
    "RESOURCE_CHECKS",
    "STACK_CHECKS",
    "Context",
    "OtherEnvironment",
    "Outcome",
    "SettingsError",
    "Verdict",
    "check_resource",
    "check_stack",
    "evaluate",
    "judge",
    "to_finding",
]
