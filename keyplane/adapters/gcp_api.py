"""Facts from Google Cloud API answers (the GCP live audit), through the Pulumi adapter.

The REST resources of Cloud KMS, Secret Manager, Resource Manager, Cloud Logging, Cloud Storage,
Cloud Monitoring and Certificate Manager are, field for field, the inputs of the pulumi-gcp
resources that create them (both are generated from the same API descriptions; `auto` vs
`automatic` replication is the one rename). So each answer is written as the Pulumi resource
that would have declared it (`PulumiResource`: type, name, URN = the resource's full API name,
camelCase inputs) and read by `keyplane.adapters.pulumi.facts_from_resource`: the rules judge a
live key exactly as they judge the same key at preview and in checkov.

Answers are plain JSON objects as the REST APIs return them (the collector converts the client
libraries' messages with their JSON names). No SDK is imported here.

Names keyplane gives GCP resources (the components create them; the audit and `respond` find a
declared key or secret by them): `gcp_key_ring_name`, `gcp_key_name`, `gcp_secret_name`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from keyplane.adapters.pulumi import PulumiResource, facts_from_resource
from keyplane.facts.model import Facts
from keyplane.facts.values import UNKNOWN
from keyplane.standard import KeyPurpose
from keyplane.wire import UNKNOWN as WIRE_UNKNOWN

PROJECT_TYPE = "gcp:organizations/project:Project"
KEY_RING_TYPE = "gcp:kms/keyRing:KeyRing"
KEY_TYPE = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM_TYPE = "gcp:kms/cryptoKeyIAMPolicy:CryptoKeyIAMPolicy"
KEY_RING_IAM_TYPE = "gcp:kms/keyRingIAMPolicy:KeyRingIAMPolicy"
SECRET_TYPE = "gcp:secretmanager/secret:Secret"
SECRET_IAM_TYPE = "gcp:secretmanager/secretIamPolicy:SecretIamPolicy"
PROJECT_IAM_TYPE = "gcp:projects/iAMPolicy:IAMPolicy"
FOLDER_TYPE = "gcp:organizations/folder:Folder"
FOLDER_IAM_TYPE = "gcp:folder/iAMPolicy:IAMPolicy"
#: pulumi-gcp has no organisation resource (only the `getOrganization` lookup): the audit names
#: an organisation by its IAM policy's type.
ORGANIZATION_IAM_TYPE = "gcp:organizations/iAMPolicy:IAMPolicy"
AUDIT_CONFIG_TYPE = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
SINK_TYPE = "gcp:logging/projectSink:ProjectSink"
BUCKET_TYPE = "gcp:storage/bucket:Bucket"
LOG_METRIC_TYPE = "gcp:logging/metric:Metric"
ALERT_POLICY_TYPE = "gcp:monitoring/alertPolicy:AlertPolicy"
CERTIFICATE_TYPE = "gcp:certificatemanager/certificate:Certificate"

#: Cloud KMS key version states (`CryptoKeyVersion.state`).
ENABLED, DISABLED, DESTROY_SCHEDULED = "ENABLED", "DISABLED", "DESTROY_SCHEDULED"
#: Version states whose material is gone or going (not a usable version).
GONE = frozenset({"DESTROYED", DESTROY_SCHEDULED})

#: Cloud Audit Logs method names of a key's lifecycle (Admin Activity logs, kept 400 days).
KEY_LIFECYCLE_METHODS = (
    "CreateCryptoKey",
    "CreateCryptoKeyVersion",
    "UpdateCryptoKey",
    "UpdateCryptoKeyPrimaryVersion",
    "UpdateCryptoKeyVersion",
    "DestroyCryptoKeyVersion",
    "RestoreCryptoKeyVersion",
    "SetIamPolicy",
)


def gcp_key_ring_name(project: str, location: str, environment: str, *, backup: bool) -> str:
    """`projects/<p>/locations/<l>/keyRings/<env>` (`<env>-backup` for backup-encryption keys):
    the key ring keyplane's GCP environment component creates."""
    ring = f"{environment}-backup" if backup else environment
    return f"projects/{project}/locations/{location}/keyRings/{ring}"


def gcp_key_name(
    project: str, location: str, environment: str, key: str, purpose: KeyPurpose
) -> str:
    """The full name of declared key `key`: `<key ring>/cryptoKeys/<key>`."""
    ring = gcp_key_ring_name(
        project, location, environment, backup=purpose is KeyPurpose.BACKUP_ENCRYPTION
    )
    return f"{ring}/cryptoKeys/{key}"


def gcp_secret_name(project: str, secret: str) -> str:
    """`projects/<p>/secrets/<secret>`: the Secret Manager secret keyplane creates (its ID is the
    declared name)."""
    return f"projects/{project}/secrets/{secret}"


def short_name(name: str) -> str:
    """The last segment of a full API name (`.../cryptoKeys/orders-db` -> `orders-db`)."""
    return name.rstrip("/").rsplit("/", 1)[-1]


def _facts(type_: str, name: str, urn: str, inputs: Mapping[str, Any]) -> tuple[Facts, ...]:
    found = facts_from_resource(
        PulumiResource(type=type_, name=name, urn=urn, inputs=_clean(inputs)),
        secrets_marked=True,
    )
    # Pulumi's protect lives in the stack state, not in the project.
    return tuple(replace(f, protect=UNKNOWN) for f in found)


def _object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else {} (a field the API left out)."""
    return dict(value) if isinstance(value, Mapping) else {}


def _clean(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs without the fields the API left out (None): an absent input, as in Pulumi."""
    return {k: v for k, v in inputs.items() if v is not None}


def key_ring_facts(ring: Mapping[str, Any]) -> tuple[Facts, ...]:
    """A key ring (`KeyRing`: `name`, `createTime`)."""
    name = str(ring.get("name") or "")
    parts = name.split("/")
    return _facts(
        KEY_RING_TYPE,
        short_name(name),
        name,
        {
            "id": name,
            "name": short_name(name),
            "project": parts[1] if len(parts) > 1 else None,
            "location": parts[3] if len(parts) > 3 else None,
        },
    )


def key_inputs(key: Mapping[str, Any]) -> dict[str, Any]:
    """A `CryptoKey` answer as `gcp.kms.CryptoKey` inputs."""
    name = str(key.get("name") or "")
    template, primary = _object(key.get("versionTemplate")), _object(key.get("primary"))
    # A key answers its template; a key created before templates existed answers only its
    # primary version's settings, which are then what the template would say.
    version_template = _clean(
        {
            "algorithm": template.get("algorithm") or primary.get("algorithm"),
            "protectionLevel": template.get("protectionLevel") or primary.get("protectionLevel"),
        }
    )
    return _clean(
        {
            "id": name,
            "name": short_name(name),
            "keyRing": name.rsplit("/cryptoKeys/", 1)[0] if "/cryptoKeys/" in name else None,
            "purpose": key.get("purpose"),
            "rotationPeriod": key.get("rotationPeriod"),
            "nextRotationTime": key.get("nextRotationTime"),
            "destroyScheduledDuration": key.get("destroyScheduledDuration"),
            "importOnly": key.get("importOnly"),
            "labels": key.get("labels") or {},
            "versionTemplate": version_template or None,
        }
    )


def key_facts(key: Mapping[str, Any]) -> tuple[Facts, ...]:
    """A crypto key (`CryptoKey` with its template or primary version)."""
    name = str(key.get("name") or "")
    return _facts(KEY_TYPE, short_name(name), name, key_inputs(key))


@dataclass(frozen=True)
class KeyState:
    """A crypto key's state from its versions: `state` in the audit's words (`Enabled`: a
    usable primary or version; `Disabled`: every version disabled, none enabled;
    `PendingDeletion`: every version destroyed or scheduled for destruction), the versions
    scheduled for destruction (names) and the latest destruction time among them, and when the
    current material was created (the primary's `createTime`, None when unknown)."""

    state: str
    scheduled: tuple[str, ...]
    destroy_time: datetime | None
    material_created: datetime | None


def key_state(key: Mapping[str, Any], versions: Iterable[Mapping[str, Any]]) -> KeyState:
    """The key's state from `versions` (`CryptoKeyVersion` answers)."""
    listed = [v for v in versions if isinstance(v, Mapping)]
    states = [str(v.get("state") or "") for v in listed]
    scheduled = tuple(str(v.get("name")) for v in listed if v.get("state") == DESTROY_SCHEDULED)
    times = [
        t
        for v in listed
        if v.get("state") == DESTROY_SCHEDULED
        if (t := timestamp(v.get("destroyTime")))
    ]
    if any(s == ENABLED for s in states):
        state = "Enabled"
    elif any(s == DISABLED for s in states):
        state = "Disabled"
    elif listed and all(s in GONE for s in states):
        state = "PendingDeletion" if scheduled else "Destroyed"
    else:
        state = "Enabled"  # no version yet (import-only keys) or states the API added since
    created = timestamp(_object(key.get("primary")).get("createTime"))
    return KeyState(state, scheduled, max(times) if times else None, created)


def timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iam_policy_facts(type_: str, target_field: str, target: str, policy: Any) -> tuple[Facts, ...]:
    """An IAM policy (`Policy`: `bindings` of `role` and `members`) on `target` (a key, key ring,
    secret, project, folder `folders/<id>` or organisation `<id>`), as the `*IAMPolicy` resource
    that would set it: its `policyData`. A folder's or organisation's reaches every key and
    secret of the project below it, as the Pulumi adapter reads the same resource at preview."""
    inputs: dict[str, Any] = {target_field: target, "policyData": json.dumps(policy)}
    name, resource = f"{short_name(target)}-iam", target
    if type_ == PROJECT_IAM_TYPE:
        inputs = {"project": target, "policyData": json.dumps(policy)}
    elif type_ == FOLDER_IAM_TYPE:
        name = f"folder-{short_name(target)}-iam"
    elif type_ == ORGANIZATION_IAM_TYPE:
        name, resource = f"organization-{target}-iam", f"organizations/{target}"
    return _facts(type_, name, f"{resource}#iam", inputs)


def ancestors_unknown_facts(project: str) -> tuple[Facts, ...]:
    """What is granted above `project` when its ancestry cannot be read: an organisation IAM
    policy whose organisation and bindings are both unknown. It reaches every key and secret of
    the project, so the rules it feeds say they cannot judge rather than pass."""
    return _facts(
        ORGANIZATION_IAM_TYPE,
        f"{project}-ancestors-iam",
        f"projects/{project}#ancestors-iam",
        {"orgId": WIRE_UNKNOWN, "policyData": WIRE_UNKNOWN},
    )


def ancestors(answer: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The folders and organisation above a project, nearest first, as (type, id), from
    Resource Manager v1 `projects.getAncestry` (`ancestor[].resourceId`; the project itself
    comes first and is left out). Raises ValueError for an answer of another shape (the
    collector reports it as a failed read)."""
    listed = answer.get("ancestor")
    if not isinstance(listed, list):
        raise ValueError("getAncestry answer has no 'ancestor' list")
    found: list[tuple[str, str]] = []
    for entry in listed:
        resource = entry.get("resourceId") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            raise ValueError("getAncestry answer has an ancestor without 'resourceId'")
        kind, ident = resource.get("type"), resource.get("id")
        if not isinstance(kind, str) or not isinstance(ident, str) or not ident:
            raise ValueError(f"getAncestry answer has an unreadable ancestor: {dict(resource)!r}")
        if kind in ("folder", "organization"):
            found.append((kind, ident))
        elif kind != "project":
            raise ValueError(f"getAncestry answer has an ancestor of unknown type {kind!r}")
    return found


def audit_config_facts(project: str, policy: Mapping[str, Any]) -> tuple[Facts, ...]:
    """The project's Data Access audit configuration (`Policy.auditConfigs`), one
    `IAMAuditConfig` per service."""
    found: list[Facts] = []
    for config in policy.get("auditConfigs") or ():
        if not isinstance(config, Mapping):
            continue
        service = str(config.get("service") or "")
        found.extend(
            _facts(
                AUDIT_CONFIG_TYPE,
                f"{project}-audit-{service}",
                f"projects/{project}#auditConfigs/{service}",
                {
                    "project": project,
                    "service": service,
                    "auditLogConfigs": [
                        _clean(
                            {
                                "logType": c.get("logType"),
                                "exemptedMembers": c.get("exemptedMembers"),
                            }
                        )
                        for c in config.get("auditLogConfigs") or ()
                        if isinstance(c, Mapping)
                    ],
                },
            )
        )
    return tuple(found)


def secret_facts(secret: Mapping[str, Any], project: str) -> tuple[Facts, ...]:
    """A Secret Manager secret's metadata (`Secret`; never a value)."""
    name = str(secret.get("name") or "")
    secret_id = short_name(name)
    replication = _object(secret.get("replication"))
    automatic = replication.get("automatic")
    if automatic is not None:
        replication = {"auto": automatic}  # the REST field `automatic` is pulumi-gcp's `auto`
    rotation = secret.get("rotation") if isinstance(secret.get("rotation"), dict) else None
    return _facts(
        SECRET_TYPE,
        secret_id,
        gcp_secret_name(project, secret_id),
        {
            "id": gcp_secret_name(project, secret_id),
            "name": name,
            "secretId": secret_id,
            "project": project,
            "replication": replication,
            "rotation": rotation,
            "labels": secret.get("labels") or {},
            "topics": secret.get("topics"),
        },
    )


def sink_facts(sink: Mapping[str, Any], project: str) -> tuple[Facts, ...]:
    """A project log sink (`LogSink`)."""
    name = str(sink.get("name") or "")
    return _facts(
        SINK_TYPE,
        name,
        f"projects/{project}/sinks/{name}",
        {
            "name": name,
            "project": project,
            "destination": sink.get("destination"),
            "filter": sink.get("filter"),
            "disabled": sink.get("disabled"),
        },
    )


def bucket_facts(bucket: Mapping[str, Any]) -> tuple[Facts, ...]:
    """A Cloud Storage bucket (JSON API `Bucket`): its retention policy and lock."""
    name = str(bucket.get("name") or "")
    return _facts(
        BUCKET_TYPE,
        name,
        f"projects/_/buckets/{name}",
        {
            "name": name,
            "id": bucket.get("id"),
            "retentionPolicy": bucket.get("retentionPolicy"),
            "versioning": bucket.get("versioning"),
            "labels": bucket.get("labels") or {},
        },
    )


def log_metric_facts(metric: Mapping[str, Any], project: str) -> tuple[Facts, ...]:
    """A log-based metric (`LogMetric`): the signals its filter counts."""
    name = str(metric.get("name") or "")
    return _facts(
        LOG_METRIC_TYPE,
        name,
        f"projects/{project}/metrics/{name}",
        {"name": name, "filter": metric.get("filter"), "project": project},
    )


def alert_policy_facts(policy: Mapping[str, Any]) -> tuple[Facts, ...]:
    """A Cloud Monitoring alert policy (`AlertPolicy`)."""
    name = str(policy.get("name") or "")
    return _facts(
        ALERT_POLICY_TYPE,
        str(policy.get("displayName") or short_name(name)),
        name,
        {
            "displayName": policy.get("displayName"),
            "conditions": policy.get("conditions") or [],
            "notificationChannels": policy.get("notificationChannels") or [],
            # The API's `enabled` is a BoolValue: absent means enabled.
            "enabled": policy.get("enabled", True),
            "userLabels": policy.get("userLabels") or {},
            "combiner": policy.get("combiner"),
        },
    )


def certificate_facts(certificate: Mapping[str, Any]) -> tuple[Facts, ...]:
    """A Certificate Manager certificate (`Certificate`; a self-managed one's private key is
    write-only in the API and never read)."""
    name = str(certificate.get("name") or "")
    return _facts(
        CERTIFICATE_TYPE,
        short_name(name),
        name,
        {
            "id": name,
            "name": short_name(name),
            "managed": certificate.get("managed"),
            "selfManaged": certificate.get("selfManaged"),
            "scope": certificate.get("scope"),
            "labels": certificate.get("labels") or {},
        },
    )
