"""KM-HSM: production keys of HSM-required purposes live in an HSM.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-HSM-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from keyplane.facts.model import (
    Facts,
    Key,
    KeyOrigin,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    purpose_of,
)
from keyplane.rules.context import Context
from keyplane.rules.registry import check
from keyplane.rules.verdict import (
    Verdict,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    HSM_REQUIRED_PURPOSES,
    Cloud,
    Tier,
)

_HSM_FIX = {
    Cloud.AWS: "let KMS generate the material (or use the CloudHSM key store), not imported or "
    "external key material",
    Cloud.GCP: "set versionTemplate.protectionLevel to HSM",
    Cloud.AZURE: "use an -HSM key type in a premium vault, or a Managed HSM",
}


_ORIGIN_TEXT = {
    KeyOrigin.SOFTWARE: "software-protected",
    KeyOrigin.IMPORTED: "made of imported material",
    KeyOrigin.EXTERNAL: "kept in an external key manager",
}


@check("KM-HSM-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Key,))
def hsm_protection(facts: Facts, context: Context) -> Verdict:
    """KM-HSM-001 on a production key of an HSM-required purpose (or none declared): its material
    lives in an HSM."""
    rule = "KM-HSM-001"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if context.effective_tier is not Tier.PRODUCTION:
        return not_applicable(rule, f"{context.effective_tier.value} is not production")
    purpose = purpose_of(facts)
    if isinstance(purpose, Unknown):
        return unknown(rule, facts, "the key's purpose tag")
    # A key without a declared purpose is held to the strictest requirement.
    if purpose is not None and purpose not in HSM_REQUIRED_PURPOSES:
        return not_applicable(rule, f"{purpose.value} keys need no HSM")
    origin = facts.origin
    if isinstance(origin, Unknown):
        return unknown(rule, facts, "the key's protection level")
    if origin in (KeyOrigin.CLOUD_HSM, KeyOrigin.DEDICATED_HSM):
        return passed(rule, facts)
    what = f"{purpose.value} key" if purpose else "key without a declared purpose"
    protection = facts.protection if isinstance(facts.protection, str) else origin.value
    return fail(
        rule,
        facts,
        f"production {what} is {_ORIGIN_TEXT[origin]} ({protection}); {_HSM_FIX[facts.cloud]}.",
    )
