"""Which controls of the common compliance frameworks each rule serves (issue 18, part 4).

One table, `MAPPINGS`: rule ID → framework → control IDs; `CONTROL_TITLES` names every control
the table cites, so a report can say what a control is without a second table. The frameworks:

- `soc2`: SOC 2, AICPA Trust Services Criteria (2017, revised points of focus 2022).
- `iso27001`: ISO/IEC 27001:2022 Annex A.
- `nist-800-53`: NIST SP 800-53 Rev. 5.
- `pci-dss`: PCI DSS v4.0.
- `cis-aws`, `cis-gcp`, `cis-azure`: the CIS Foundations Benchmarks (versions in
  `FRAMEWORK_NAMES`). A CIS recommendation is cited only where it checks the same setting as
  the rule; a rule with no such recommendation has no CIS entry rather than a guessed one.

A mapping says the rule *supports* the control (it checks part of what the control asks), not
that passing the rule satisfies the control: for example CIS GCP 1.10 asks for a 90-day key
rotation while the policy allows 365 days for most purposes, so only KM-ROT-001 (rotation on)
cites it, not KM-ROT-002 (the period).

`--framework NAME` (`preview`, `scan`, `audit`, `report`) shows the findings of the rules mapped
to NAME and every mandatory finding whatever its rule (`select_framework`): the gate enforces the
policy, not a framework's view of it, so the verdict and the exit code are the same with or
without the option, and every format says the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from keyplane.rules.catalog import Enforcement


class Framework(StrEnum):
    """A compliance framework, by the name `--framework` and the SARIF tags use."""

    SOC2 = "soc2"
    ISO27001 = "iso27001"
    NIST_800_53 = "nist-800-53"
    PCI_DSS = "pci-dss"
    CIS_AWS = "cis-aws"
    CIS_GCP = "cis-gcp"
    CIS_AZURE = "cis-azure"

    @property
    def full_name(self) -> str:
        """`NIST SP 800-53 Rev. 5`: the framework and the version the mappings cite."""
        return FRAMEWORK_NAMES[self]


FRAMEWORK_NAMES: Mapping[Framework, str] = MappingProxyType(
    {
        Framework.SOC2: "SOC 2 Trust Services Criteria (2017)",
        Framework.ISO27001: "ISO/IEC 27001:2022 Annex A",
        Framework.NIST_800_53: "NIST SP 800-53 Rev. 5",
        Framework.PCI_DSS: "PCI DSS v4.0",
        Framework.CIS_AWS: "CIS Amazon Web Services Foundations Benchmark v1.4.0",
        Framework.CIS_GCP: "CIS Google Cloud Platform Foundation Benchmark v2.0.0",
        Framework.CIS_AZURE: "CIS Microsoft Azure Foundations Benchmark v2.0.0",
    }
)

_SOC2, _ISO, _NIST, _PCI = (
    Framework.SOC2,
    Framework.ISO27001,
    Framework.NIST_800_53,
    Framework.PCI_DSS,
)
_CIS_AWS, _CIS_GCP, _CIS_AZURE = Framework.CIS_AWS, Framework.CIS_GCP, Framework.CIS_AZURE

#: Every control the mappings cite, with its title as the framework words it (shortened).
CONTROL_TITLES: Mapping[Framework, Mapping[str, str]] = MappingProxyType(
    {
        _SOC2: {
            "CC3.2": "Identifies and analyzes risk",
            "CC5.3": "Deploys control activities through policies and procedures",
            "CC6.1": "Logical access security; protects encryption keys",
            "CC6.2": "Registers and authorizes users",
            "CC6.3": "Role-based access, least privilege and segregation of duties",
            "CC6.6": "Protects against threats from outside the system boundaries",
            "CC6.7": "Restricts transmission and movement of information; encryption in transit",
            "CC7.1": "Detects configuration changes and unmonitored components",
            "CC7.2": "Monitors system components for anomalies",
            "CC7.3": "Evaluates security events",
            "CC8.1": "Authorizes and manages changes",
            "A1.2": "Data backup processes and recovery infrastructure",
            "A1.3": "Tests recovery plan procedures",
        },
        _ISO: {
            "5.1": "Policies for information security",
            "5.3": "Segregation of duties",
            "5.9": "Inventory of information and other associated assets",
            "5.15": "Access control",
            "5.17": "Authentication information",
            "5.18": "Access rights",
            "5.36": "Compliance with policies, rules and standards for information security",
            "8.2": "Privileged access rights",
            "8.3": "Information access restriction",
            "8.5": "Secure authentication",
            "8.12": "Data leakage prevention",
            "8.13": "Information backup",
            "8.15": "Logging",
            "8.16": "Monitoring activities",
            "8.20": "Networks security",
            "8.24": "Use of cryptography",
            "8.31": "Separation of development, test and production environments",
            "8.32": "Change management",
        },
        _NIST: {
            "AC-2": "Account Management",
            "AC-3": "Access Enforcement",
            "AC-4": "Information Flow Enforcement",
            "AC-5": "Separation of Duties",
            "AC-6": "Least Privilege",
            "AU-2": "Event Logging",
            "AU-6": "Audit Record Review, Analysis, and Reporting",
            "AU-9": "Protection of Audit Information",
            "AU-11": "Audit Record Retention",
            "AU-12": "Audit Record Generation",
            "CA-5": "Plan of Action and Milestones",
            "CA-7": "Continuous Monitoring",
            "CM-3": "Configuration Change Control",
            "CM-8": "System Component Inventory",
            "CP-4": "Contingency Plan Testing",
            "CP-9": "System Backup",
            "CP-9(1)": "System Backup: Testing for Reliability and Integrity",
            "IA-2": "Identification and Authentication (Organizational Users)",
            "IA-2(1)": "Multi-factor Authentication to Privileged Accounts",
            "IA-5": "Authenticator Management",
            "IA-5(7)": "No Embedded Unencrypted Static Authenticators",
            "RA-7": "Risk Response",
            "SC-1": "Policy and Procedures",
            "SC-7": "Boundary Protection",
            "SC-8": "Transmission Confidentiality and Integrity",
            "SC-12": "Cryptographic Key Establishment and Management",
            "SC-12(1)": "Cryptographic Key Establishment and Management: Availability",
            "SC-13": "Cryptographic Protection",
            "SC-17": "Public Key Infrastructure Certificates",
            "SC-28": "Protection of Information at Rest",
            "SI-4": "System Monitoring",
        },
        _PCI: {
            "3.6.1": "Procedures protect cryptographic keys against disclosure and misuse",
            "3.6.1.2": "Secret and private keys are stored encrypted or within a secure "
            "cryptographic device (HSM)",
            "3.7.1": "Generation of strong cryptographic keys",
            "3.7.4": "Key changes at the end of the defined cryptoperiod",
            "4.2.1": "Strong cryptography and trusted, unexpired certificates protect data in "
            "transit",
            "6.5.3": "Pre-production environments are separated from production",
            "7.2.1": "An access control model is defined",
            "7.2.2": "Access is assigned on job classification and least privilege",
            "8.4.1": "MFA for administrative access into the cardholder data environment",
            "8.6.2": "Passwords of application and system accounts are not hard coded",
            "8.6.3": "Passwords of application and system accounts are changed periodically",
            "10.2.1": "Audit logs are enabled and active",
            "10.3.2": "Audit log files are protected from modification",
            "10.4.1": "Security events are reviewed",
            "10.5.1": "Audit log history is retained at least 12 months",
            "12.1.2": "The information security policy is reviewed at least every 12 months",
            "12.5.1": "An inventory of system components is maintained",
        },
        _CIS_AWS: {
            "3.1": "Ensure CloudTrail is enabled in all regions",
            "3.2": "Ensure CloudTrail log file validation is enabled",
            "3.7": "Ensure CloudTrail logs are encrypted at rest using KMS CMKs",
            "3.8": "Ensure rotation for customer created symmetric CMKs is enabled",
            "4.7": "Ensure a log metric filter and alarm exist for disabling or scheduled "
            "deletion of customer created CMKs",
        },
        _CIS_GCP: {
            "1.9": "Ensure that Cloud KMS cryptokeys are not anonymously or publicly accessible",
            "1.10": "Ensure KMS encryption keys are rotated within a period of 90 days",
            "1.11": "Ensure that separation of duties is enforced while assigning KMS related "
            "roles to users",
            "2.1": "Ensure that Cloud Audit Logging is configured properly",
            "2.2": "Ensure that sinks are configured for all log entries",
            "2.3": "Ensure that retention policies on log buckets are configured using Bucket Lock",
        },
        _CIS_AZURE: {
            "8.5": "Ensure the Key Vault is recoverable",
            "8.6": "Enable Role Based Access Control for Azure Key Vault",
            "8.8": "Ensure automatic key rotation is enabled within Azure Key Vault",
        },
    }
)


def _m(**controls: str) -> Mapping[Framework, tuple[str, ...]]:
    names = {
        "soc2": _SOC2,
        "iso": _ISO,
        "nist": _NIST,
        "pci": _PCI,
        "cis_aws": _CIS_AWS,
        "cis_gcp": _CIS_GCP,
        "cis_azure": _CIS_AZURE,
    }
    return MappingProxyType({names[k]: tuple(v.split()) for k, v in controls.items()})


#: Rule ID → framework → the controls the rule supports, in the framework's order.
MAPPINGS: Mapping[str, Mapping[Framework, tuple[str, ...]]] = MappingProxyType(
    {
        "KM-ALG-001": _m(soc2="CC6.1", iso="8.24", nist="SC-12 SC-13", pci="3.6.1 3.7.1"),
        "KM-ROT-001": _m(
            soc2="CC6.1",
            iso="8.24",
            nist="SC-12",
            pci="3.7.4",
            cis_aws="3.8",
            cis_gcp="1.10",
            cis_azure="8.8",
        ),
        "KM-ROT-002": _m(soc2="CC6.1", iso="8.24", nist="SC-12", pci="3.7.4"),
        "KM-ROT-003": _m(soc2="CC6.1", iso="5.17 8.24", nist="IA-5 SC-12", pci="8.6.3"),
        "KM-ROT-004": _m(soc2="CC6.1 CC8.1", iso="8.24 8.32", nist="CM-3 SC-12", pci="3.7.4"),
        "KM-PUR-001": _m(soc2="CC6.1", iso="5.9 8.24", nist="CM-8 SC-12", pci="3.6.1"),
        "KM-ENV-001": _m(soc2="CC6.1", iso="5.9 8.31", nist="CM-8 SC-12", pci="6.5.3"),
        "KM-ENV-002": _m(soc2="CC6.1", iso="8.3 8.31", nist="AC-3 AC-4 SC-12", pci="6.5.3 7.2.2"),
        "KM-TEN-001": _m(soc2="CC6.1", iso="5.15 8.3", nist="AC-3 AC-4 SC-12"),
        "KM-ACC-001": _m(
            soc2="CC6.1 CC6.3",
            iso="5.15 8.2 8.3",
            nist="AC-3 AC-6",
            pci="3.6.1 7.2.2",
            cis_gcp="1.9",
        ),
        "KM-ACC-002": _m(
            soc2="CC6.3", iso="5.3 8.2", nist="AC-5 AC-6", pci="7.2.2", cis_gcp="1.11"
        ),
        "KM-ACC-003": _m(soc2="CC6.1", iso="8.2 8.5", nist="AC-3 IA-2 IA-2(1)", pci="8.4.1"),
        "KM-LOG-001": _m(
            soc2="CC7.2",
            iso="8.15",
            nist="AU-2 AU-12",
            pci="10.2.1",
            cis_aws="3.1 3.2 3.7",
            cis_gcp="2.1 2.2",
        ),
        "KM-LOG-002": _m(
            soc2="CC7.2", iso="8.15", nist="AU-9 AU-11", pci="10.3.2 10.5.1", cis_gcp="2.3"
        ),
        "KM-DEL-001": _m(
            soc2="CC6.1 A1.2", iso="8.13 8.24", nist="SC-12 SC-12(1)", cis_azure="8.5"
        ),
        "KM-HSM-001": _m(soc2="CC6.1", iso="8.24", nist="SC-12 SC-13", pci="3.6.1.2"),
        "KM-STO-001": _m(
            soc2="CC6.1", iso="5.17 8.12 8.24", nist="IA-5(7) SC-28", pci="3.6.1.2 8.6.2"
        ),
        "KM-STO-002": _m(
            soc2="CC6.1 CC6.6",
            iso="8.20 8.24",
            nist="AC-3 SC-7 SC-12 SC-28",
            pci="3.6.1",
            cis_azure="8.5 8.6",
        ),
        "KM-BAK-001": _m(soc2="CC6.3 A1.2", iso="5.3 8.13", nist="AC-5 CP-9 SC-12"),
        "KM-ACC-004": _m(
            soc2="CC6.1 CC6.2 CC6.3", iso="5.15 5.18", nist="AC-2 AC-6", pci="7.2.1 7.2.2"
        ),
        "KM-MON-001": _m(
            soc2="CC7.2 CC7.3", iso="8.16", nist="AU-6 SI-4", pci="10.4.1", cis_aws="4.7"
        ),
        "KM-CRT-001": _m(soc2="CC6.1 CC6.7", iso="8.24", nist="SC-8 SC-12 SC-17", pci="4.2.1"),
        "KM-CRT-002": _m(soc2="CC6.7", iso="8.20 8.24", nist="SC-8 SC-13", pci="4.2.1"),
        "KM-BAK-002": _m(soc2="A1.3", iso="8.13", nist="CP-4 CP-9(1)"),
        "KM-COV-001": _m(soc2="CC6.1 CC7.1", iso="5.9", nist="CA-7 CM-8", pci="12.5.1"),
        "KM-EXC-001": _m(soc2="CC3.2", iso="5.36", nist="CA-5 RA-7"),
        "KM-EXC-002": _m(soc2="CC3.2", iso="5.36", nist="CA-5 RA-7"),
        "KM-REV-001": _m(soc2="CC5.3", iso="5.1", nist="SC-1", pci="12.1.2"),
    }
)


@dataclass(frozen=True)
class Control:
    """One control of one framework: `nist-800-53` `SC-12` "Cryptographic Key ..."."""

    framework: Framework
    id: str

    @property
    def title(self) -> str:
        return CONTROL_TITLES[self.framework][self.id]

    @property
    def tag(self) -> str:
        """`nist-800-53:SC-12`: the SARIF tag (the prefix is what `--framework` takes)."""
        return f"{self.framework.value}:{self.id}"


def controls_of(rule_id: str) -> tuple[Control, ...]:
    """The controls `rule_id` supports, framework by framework (none for checkov's own IDs and
    unknown IDs)."""
    mapping = MAPPINGS.get(rule_id, {})
    return tuple(
        Control(framework, control)
        for framework in Framework
        for control in mapping.get(framework, ())
    )


def framework_text(rule_id: str) -> dict[str, list[str]]:
    """`{"soc2": ["CC6.1"], "nist-800-53": ["SC-12", "SC-13"], ...}`: the JSON form."""
    return {f.value: list(ids) for f, ids in MAPPINGS.get(rule_id, {}).items()}


def rules_of(framework: Framework) -> frozenset[str]:
    """The IDs of the rules mapped to at least one control of `framework`."""
    return frozenset(rule for rule, mapping in MAPPINGS.items() if mapping.get(framework))


class _Judged(Protocol):
    @property
    def rule(self) -> str: ...
    @property
    def enforcement(self) -> Enforcement: ...


F = TypeVar("F", bound=_Judged)


@dataclass(frozen=True)
class FrameworkView(Generic[F]):
    """The findings `--framework` shows, and what it leaves out.

    `shown`: every finding of a rule mapped to the framework, plus every mandatory finding
    whatever its rule (`outside`: those of them outside the framework); `left_out`: the advisory
    findings outside the framework (checkov's built-in checks included: keyplane maps none of
    them). A framework's view never hides what blocks: the verdict and the exit code are the
    same with or without `--framework`.
    """

    framework: Framework
    shown: tuple[F, ...]
    outside: tuple[F, ...]
    left_out: tuple[F, ...]

    def note(self) -> str | None:
        """One line for stderr and the HTML report, None when the view is the whole report."""
        parts = []
        if self.left_out:
            n = len(self.left_out)
            parts.append(
                f"{n} advisory finding{'s' if n != 1 else ''} of rules outside it not shown"
            )
        if self.outside:
            n = len(self.outside)
            parts.append(
                f"{n} mandatory finding{'s' if n != 1 else ''} outside it shown all the same "
                "(a framework's view never hides what blocks)"
            )
        if not parts:
            return None
        return f"--framework {self.framework.value} ({self.framework.full_name}): " + "; ".join(
            parts
        )


def select_framework(findings: Iterable[F], framework: Framework) -> FrameworkView[F]:
    """Split `findings` for `--framework framework` (see `FrameworkView`), order kept."""
    wanted = rules_of(framework)
    shown: list[F] = []
    outside: list[F] = []
    left_out: list[F] = []
    for finding in findings:
        if finding.rule in wanted:
            shown.append(finding)
        elif finding.enforcement is Enforcement.MANDATORY:
            shown.append(finding)
            outside.append(finding)
        else:
            left_out.append(finding)
    return FrameworkView(framework, tuple(shown), tuple(outside), tuple(left_out))
