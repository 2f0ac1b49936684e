"""End to end: each bundled environment, rendered through its components, through the real pack.

The components (components/environment.py) provision what environments/<env>.yaml declares; the
pack, configured with the bundled estate, must find no mandatory violation. Staging's 395-day
rotation of legacy-reporting-db is covered by EXC-2026-007 and reported as advisory with that ID.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from keyplane.config import Environment
from keyplane.engines.crossguard.harness import CrossGuardPack
from keyplane.engines.crossguard.pack import SETTINGS_POLICY
from keyplane.estate import load_estate
from keyplane.findings import Finding
from keyplane.render import PlaceholderMocks, render
from keyplane.rules.catalog import Enforcement
from keyplane.rules.verdict import CANNOT_JUDGE
from tests.conftest import BUNDLED_ESTATE

environment_components = pytest.importorskip("keyplane.components.environment")
ESTATE = load_estate(BUNDLED_ESTATE)
# The bundled estate's dates (rotate-by, exception expiry) are judged as of a fixed day.
TODAY = date(2026, 11, 23)
# Stack configuration the components read (CloudHSM bootstrap, Azure secret values).
STACK_CONFIG = {
    "keyplane:cloudhsmKmsuserPassword": "correct-horse-battery",
    "keyplane:cloudhsmTrustAnchorCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n"
    "-----END CERTIFICATE-----",
    "keyplane:cloudhsmKeyStoreConnected": "true",
    # Secret expiries and rotation schedules count from the judging day.
    "keyplane:asOf": TODAY.isoformat(),
}
#: Mandatory findings the components are known to produce (none today).
KNOWN_COMPONENT_GAPS: dict[str, set[tuple[str, str]]] = {}


def expected_mandatory(name: str) -> set[tuple[str, str]]:
    """Known gaps, and what an exception of the register that has expired by today blocks."""
    expected = set(KNOWN_COMPONENT_GAPS.get(name, set()))
    for exc in ESTATE.exceptions:
        if exc.environment == name and exc.expires < TODAY:
            expected |= {("KM-EXC-002", exc.id), (exc.rule, exc.resource)}
    return expected


@pytest.fixture(scope="module")
def pack() -> Iterator[CrossGuardPack]:
    with CrossGuardPack(stack="estate") as running:
        yield running


def preview(pack: CrossGuardPack, env: Environment) -> list[Finding]:
    config = {
        "keyplane:environment": env.name,
        **STACK_CONFIG,
        **{f"keyplane:secret-{s.name}": f"value-of-{s.name}" for s in env.secrets},
    }
    mocks = (
        PlaceholderMocks(account_id=env.aws.account_id, region=env.aws.region)
        if env.aws
        else PlaceholderMocks()
    )
    rendered = render(
        lambda: environment_components.deploy_environment(env),
        project="keyplane",
        stack=env.name,
        config=config,
        mocks=mocks,
    )
    pack.configure(
        {
            SETTINGS_POLICY: {
                "environment": env.name,
                "estate": str(BUNDLED_ESTATE),
                "asOf": TODAY.isoformat(),
            }
        }
    )
    return pack.run(rendered.registrations)


@pytest.mark.parametrize("name", sorted(ESTATE.environments))
def test_bundled_environment_has_no_mandatory_violation(pack: CrossGuardPack, name: str) -> None:
    findings = preview(pack, ESTATE.environments[name])
    mandatory = {
        (f.rule, f.resource.rsplit("::", 1)[-1])
        for f in findings
        if f.enforcement is Enforcement.MANDATORY
    }
    assert mandatory == expected_mandatory(name), [f.message for f in findings]
    for finding in findings:
        if finding.enforcement is Enforcement.ADVISORY:
            assert finding.exception or CANNOT_JUDGE in finding.message, finding.message


def test_staging_exception_downgrades_the_legacy_rotation(pack: CrossGuardPack) -> None:
    if expected_mandatory("staging"):
        pytest.skip("EXC-2026-007 has expired: the test above expects it to block staging")
    findings = preview(pack, ESTATE.environments["staging"])
    assert [(f.rule, f.enforcement, f.exception, f.resource) for f in findings] == [
        (
            "KM-ROT-002",
            Enforcement.ADVISORY,
            "EXC-2026-007",
            "urn:pulumi:staging::keyplane::keyplane:aws:Environment$keyplane:aws:KeyRing$"
            "aws:kms/key:Key::legacy-reporting-db",
        )
    ]
    assert findings[0].message.startswith(
        "KM-ROT-002 legacy-reporting-db: rotation period 395 days exceeds 365 for "
        "database-encryption keys; lower rotation_days or file an exception. [excepted by "
        "EXC-2026-007 until 2027-05-31]"
    )


def test_stack_config_and_the_checkouts_estate_are_the_defaults() -> None:
    """No pack configuration: the environment comes from the stack's `keyplane:environment`
    (the program's own setting) and the estate from the checkout's environments/."""
    # Without settings the pack judges as of the real today.
    if any(e.environment == "staging" and e.expires < date.today() for e in ESTATE.exceptions):
        pytest.skip("EXC-2026-007 has expired; the bundled register needs renewing")
    env = ESTATE.environments["staging"]
    rendered = render(
        lambda: environment_components.deploy_environment(env),
        project="keyplane",
        stack="staging-eu",
        config={"keyplane:environment": "staging"},
        mocks=PlaceholderMocks(account_id="222222222222", region="eu-west-1"),
    )
    with CrossGuardPack(
        stack="staging-eu", stack_config={"keyplane:environment": "staging"}
    ) as running:
        findings = running.run(rendered.registrations)
    assert [(f.rule, f.enforcement, f.exception) for f in findings] == [
        ("KM-ROT-002", Enforcement.ADVISORY, "EXC-2026-007")
    ]
