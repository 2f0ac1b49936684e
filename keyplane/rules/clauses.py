"""Every clause of the policy and the procedure, and how keyplane covers it (the policy coverage
matrix `keyplane docs` writes; issue 18, part 4).

`CLAUSES` lists each numbered section of the policy (`Policy §N`) and of the procedure
(`Proc N`, `Proc 4.N`, and each step of the lifecycle tables, `Proc 4.N step M`), in document
order, so an auditor sees the whole policy, not only what keyplane enforces. For each clause:

- **enforced**: the rules whose catalog `source` cites the clause (computed from
  `keyplane.rules.catalog`, never repeated here), plus, for a procedure step, the rules `Clause`
  names because the catalog cites only the step's section;
- **provisioned**: what keyplane's components or commands build or do for it;
- **manual**: what people do, and who (the owner the policy or the procedure names);
- otherwise **informative** (a purpose, scope or definition: nothing to do) or **not covered**.

A test parses the headings and step tables of `docs/policy/` and fails when a clause is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from keyplane.rules.catalog import RULES, Rule


class Coverage(StrEnum):
    ENFORCED = "enforced"
    PROVISIONED = "provisioned"
    MANUAL = "manual"
    INFORMATIVE = "informative"
    NOT_COVERED = "not covered"


#: Owners as the documents name them (Policy §18; OP-PROC-001 §8).
HUMAN_ORCHESTRATOR = "Human Orchestrator"
SECURITY_ENGINEERING = "Security Engineering Team"
SECURITY_OFFICER = "Security Officer"


@dataclass(frozen=True)
class Clause:
    """One clause: `ref` as the catalog cites it (`Policy §9`, `Proc 4.3`, `Proc 4.3 step 3`),
    its heading, and what is done for it beyond the rules (`provisioned`, `manual` with its
    `owner`, `informative`), with extra `rules` for a procedure step."""

    ref: str
    title: str
    provisioned: str = ""
    manual: str = ""
    owner: str = ""
    informative: bool = False
    rules: tuple[str, ...] = ()

    @property
    def enforced_by(self) -> tuple[Rule, ...]:
        """The rules that enforce the clause: those citing it, then those named here."""
        ids = [r.id for r in RULES.values() if self.ref in cited_clauses(r.source)]
        ids += [rule for rule in self.rules if rule not in ids]
        return tuple(RULES[rule] for rule in ids if not RULES[rule].deprecated)

    @property
    def coverage(self) -> tuple[Coverage, ...]:
        """Every way the clause is covered, strongest first (NOT_COVERED alone when none)."""
        kinds = []
        if self.enforced_by:
            kinds.append(Coverage.ENFORCED)
        if self.provisioned:
            kinds.append(Coverage.PROVISIONED)
        if self.manual:
            kinds.append(Coverage.MANUAL)
        if self.informative:
            kinds.append(Coverage.INFORMATIVE)
        return tuple(kinds) or (Coverage.NOT_COVERED,)


_KEYS = "KeyRing, GcpKeyRing, AzureKeyVault"
_LOGS = "AuditLogSink, GcpAuditLogSink, AzureAuditLogSink"
_ALERTS = "MisuseAlarms (AWS), MisuseAlerts (GCP, Azure)"
_VAULTS = "SecretVault, GcpSecretVault, AzureKeyVault"
_ENVS = "AwsEnvironment, GcpEnvironment, AzureEnvironment"

_P = "Policy §"
_STEP = "Proc {} step {}"

CLAUSES: tuple[Clause, ...] = (
    Clause(f"{_P}1", "Purpose", informative=True),
    Clause(
        f"{_P}2",
        "Scope",
        provisioned=f"one stack per environment ({_ENVS}); the key types are the estate's "
        "purposes (keyplane.standard.KeyPurpose)",
    ),
    Clause(f"{_P}3", "Definition", informative=True),
    Clause(
        f"{_P}4",
        "Key Management Principles",
        provisioned=f"least-privilege roles (AccessRoles), centralised stores ({_VAULTS})",
    ),
    Clause(
        f"{_P}5",
        "Key Generation",
        provisioned=f"keys generated inside the cloud KMS or HSM ({_KEYS}, HsmCluster); the "
        "components never import key material",
    ),
    Clause(
        f"{_P}6",
        "Key Storage",
        provisioned=f"managed secret stores ({_VAULTS}) encrypted with the environment's key",
        manual="no keys in source code, Git history, frontends, logs or chat: code review and "
        "secret scanning of repositories (KM-STO-001 sees resource inputs and stack values only)",
        owner=SECURITY_ENGINEERING,
    ),
    Clause(
        f"{_P}7",
        "Access Control",
        provisioned="role-based access from the estate's access block (AccessRoles, key "
        "policies and bindings); `keyplane respond` revokes on suspected compromise",
        manual="revoke access on role change and termination (remove the principal from the "
        "environment file and deploy)",
        owner=HUMAN_ORCHESTRATOR,
    ),
    Clause(f"{_P}8", "Key Usage Rules", provisioned="per-purpose, per-tenant keys (" + _KEYS + ")"),
    Clause(
        f"{_P}9",
        "Key Rotation",
        provisioned="automatic rotation on every key that supports it; managed certificates "
        "renew automatically",
        manual="manual rotation: change record, rollback plan and verification; compromised "
        "keys rotated immediately (`keyplane respond --apply`)",
        owner=SECURITY_ENGINEERING,
    ),
    Clause(
        f"{_P}10",
        "Key Revocation & Compromise Handling",
        provisioned="`keyplane respond ENV --key|--secret`: revoke, rotate and record the "
        "incident (AWS applies; GCP and Azure print the plan)",
        manual="invalidate issued tokens, investigate access logs, hand over to the Incident "
        "Response Playbook",
        owner=SECURITY_ENGINEERING,
    ),
    Clause(
        f"{_P}11",
        "Backup & Recovery",
        provisioned="`keyplane restore-test ENV --key NAME`: a canary round trip as evidence",
        manual="documented recovery procedures for each backup key",
        owner=SECURITY_ENGINEERING,
    ),
    Clause(
        f"{_P}12",
        "Multi-Tenant Considerations",
        provisioned="`keyplane docs ENV` writes the Tenant-Isolation-Claim and the "
        "Shared-Service-Boundary-Register from the estate",
        manual="architectural justification and risk acceptance of each shared key "
        "(shared-services.yaml)",
        owner=HUMAN_ORCHESTRATOR,
    ),
    Clause(
        f"{_P}13",
        "AI & Third-Party Key Use",
        provisioned=f"AI service keys are vault secrets per environment ({_VAULTS})",
        manual="rate limits at the AI provider, approval before tenant-sensitive data is sent, "
        "no key generation by AI systems",
        owner=HUMAN_ORCHESTRATOR,
    ),
    Clause(
        f"{_P}14",
        "Audit & Monitoring",
        provisioned=f"immutable audit-log sinks ({_LOGS}) and misuse alerts ({_ALERTS}); "
        "`keyplane audit` files live evidence",
        manual="review of the alerts raised (suspicious access patterns)",
        owner=SECURITY_ENGINEERING,
    ),
    Clause(f"{_P}15", "Risk Acceptance", provisioned="the exceptions register (exceptions.yaml)"),
    Clause(
        f"{_P}16",
        "Policy Review",
        manual="review after a key incident or a significant architectural change; ADR "
        "approval of major key strategy changes",
        owner=HUMAN_ORCHESTRATOR,
    ),
    Clause(f"{_P}17", "Non-Goals", informative=True),
    Clause(
        f"{_P}18",
        "Ownership",
        manual="accountability for key governance",
        owner=HUMAN_ORCHESTRATOR,
    ),
    Clause("Proc 1", "Purpose", informative=True),
    Clause("Proc 2", "Scope", informative=True),
    Clause("Proc 3", "Overview", informative=True),
    Clause("Proc 4", "Procedure", informative=True),
    Clause("Proc 4.1", "Key Generation"),
    Clause(
        _STEP.format("4.1", 1),
        "Generate keys in the approved HSM",
        provisioned=f"keys created by the cloud KMS or HSM ({_KEYS}, HsmCluster)",
        rules=("KM-HSM-001",),
    ),
    Clause(_STEP.format("4.1", 2), "Key strength (AES-256 or stronger)", rules=("KM-ALG-001",)),
    Clause(_STEP.format("4.1", 3), "Log the generation event", rules=("KM-LOG-001",)),
    Clause("Proc 4.2", "Key Distribution"),
    Clause(_STEP.format("4.2", 1), "Distribute over encrypted channels (TLS)"),
    Clause(
        _STEP.format("4.2", 2),
        "Never transmit keys in plaintext or by email",
        provisioned="keys never leave the cloud KMS (used through its API)",
        manual="no key material in email or chat",
        owner=SECURITY_ENGINEERING,
        rules=("KM-STO-001",),
    ),
    Clause(
        _STEP.format("4.2", 3),
        "Log the distribution event",
        provisioned="every use of a key is a logged KMS API call",
        rules=("KM-LOG-001",),
    ),
    Clause("Proc 4.3", "Key Storage"),
    Clause(
        _STEP.format("4.3", 1),
        "Store keys in the HSM or an encrypted key vault",
        rules=("KM-HSM-001", "KM-STO-002"),
    ),
    Clause(
        _STEP.format("4.3", 2),
        "Strict access controls on key storage",
        rules=("KM-ACC-001", "KM-ACC-002", "KM-ACC-004"),
    ),
    Clause(
        _STEP.format("4.3", 3),
        "Storage physically and logically secured and monitored",
        provisioned=f"misuse alerts ({_ALERTS})",
        manual="physical security: the cloud provider's attestations (SOC 2, ISO 27001 reports)",
        owner=SECURITY_OFFICER,
    ),
    Clause("Proc 4.4", "Key Rotation"),
    Clause(
        _STEP.format("4.4", 1),
        "Rotate at least annually",
        rules=("KM-ROT-001", "KM-ROT-002", "KM-ROT-004"),
    ),
    Clause(
        _STEP.format("4.4", 2),
        "Generate the new key and distribute it",
        provisioned="automatic rotation creates the new key version inside the KMS; callers "
        "keep the key's ID",
    ),
    Clause(
        _STEP.format("4.4", 3),
        "Deactivate the old key, retain it to decrypt",
        provisioned="the cloud KMS keeps earlier key versions for decryption after rotation",
    ),
    Clause(
        _STEP.format("4.4", 4),
        "Log the rotation event",
        provisioned="`keyplane audit` lists each key's lifecycle events (CloudTrail)",
        rules=("KM-LOG-001",),
    ),
    Clause("Proc 4.5", "Key Destruction"),
    Clause(
        _STEP.format("4.5", 1),
        "Destroy a key no longer required once its retention has expired",
        manual="decide the retirement and record it (keys[].retired: on, reason)",
        owner=SECURITY_ENGINEERING,
        rules=("KM-DEL-001",),
    ),
    Clause(
        _STEP.format("4.5", 2),
        "Irreversible destruction",
        provisioned="the cloud KMS destroys the key material at the end of the deletion window",
    ),
    Clause(
        _STEP.format("4.5", 3),
        "Log the destruction event",
        provisioned="`keyplane audit` lists scheduled deletions in each key's lifecycle",
        rules=("KM-LOG-001",),
    ),
    Clause(
        "Proc 5",
        "Standards Compliance",
        provisioned="`keyplane rules` maps every rule to SOC 2 (CC6.1, CC6.7) and other "
        "frameworks; the audit's evidence names CC6.1 and CC6.7",
    ),
    Clause(
        "Proc 6",
        "Artifact(s)",
        provisioned=f"audit-log sinks ({_LOGS}) and `keyplane audit` evidence",
        rules=("KM-LOG-001", "KM-LOG-002"),
    ),
    Clause("Proc 7", "Definitions", informative=True),
    Clause(
        "Proc 8",
        "Responsibilities",
        manual="execute the lifecycle (Security Engineering Team); oversee the programme and "
        "compliance",
        owner=SECURITY_OFFICER,
    ),
)

CLAUSES_BY_REF: Mapping[str, Clause] = MappingProxyType({c.ref: c for c in CLAUSES})

_STEP_REF = re.compile(r"(\d+(?:\.\d+)?) step (\d+)")
_RANGE = re.compile(r"(\d+)\.(\d+)-(\d+)\.(\d+)")


def cited_clauses(source: str) -> frozenset[str]:
    """The clause refs a catalog `source` cites: "Policy §14, Proc 4.1-4.5" → Policy §14 and
    Proc 4.1 ... Proc 4.5; "Policy §9, §13" → Policy §9, Policy §13; "Proc 4.3 step 3" →
    Proc 4.3 step 3. A bare number continues the document named before it."""
    refs: set[str] = set()
    document = ""
    for raw in source.split(","):
        part = raw.strip()
        if part.startswith("Policy"):
            document, part = "Policy", part.removeprefix("Policy").strip()
        elif part.startswith("Proc"):
            document, part = "Proc", part.removeprefix("Proc").strip()
        if document == "Policy":
            refs.add(f"{_P}{part.removeprefix('§')}")
        elif (step := _STEP_REF.fullmatch(part)) is not None:
            refs.add(_STEP.format(step.group(1), step.group(2)))
        elif (span := _RANGE.fullmatch(part)) is not None and span.group(1) == span.group(3):
            major, first, last = span.group(1), int(span.group(2)), int(span.group(4))
            refs.update(f"Proc {major}.{minor}" for minor in range(first, last + 1))
        elif document == "Proc":
            refs.add(f"Proc {part}")
    return frozenset(refs)
