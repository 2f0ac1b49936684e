"""The key-management events that signal misuse (KM-MON-001), per cloud, said once.

The alerting components write their filters, patterns and conditions from these names, and the
adapters read the same names back out of any filter (keyplane's or hand-written), so that what
the components alert on and what the rule accepts cannot drift apart.

Pure standard library: checkov loads the facts from its own environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from keyplane.standard import Cloud


class Signal(StrEnum):
    """A kind of event an alert covers; the first four are what KM-MON-001 requires."""

    #: A key disabled, scheduled for deletion or destroyed (a vault deleted).
    DISABLED = "a key disabled or scheduled for deletion"
    #: A key policy, an IAM binding or a role assignment on a key changed.
    POLICY = "a key policy, IAM binding or role assignment changed"
    #: A KMS grant created (AWS: grants give use of a key outside its policy).
    GRANT = "a grant created"
    #: Repeated failed use of a key (access denied, key in an invalid state, failed decrypts).
    FAILED_USE = "repeated failed use of a key"
    #: An alias, primary version or key store changed (alerted on by the components).
    KEY_CONFIG = "an alias, primary version or key store changed"
    #: A secret deleted or its resource policy changed (alerted on by the components).
    SECRET = "a secret deleted or its policy changed"


#: What KM-MON-001 requires an alert on, per cloud (GCP and Azure have no grants: an IAM
#: binding or role assignment is how use is given there, and that is `POLICY`).
REQUIRED: Mapping[Cloud, tuple[Signal, ...]] = MappingProxyType(
    {
        Cloud.AWS: (Signal.DISABLED, Signal.POLICY, Signal.GRANT, Signal.FAILED_USE),
        Cloud.GCP: (Signal.DISABLED, Signal.POLICY, Signal.FAILED_USE),
        Cloud.AZURE: (Signal.DISABLED, Signal.POLICY, Signal.FAILED_USE),
    }
)

#: CloudTrail event names (`eventName`) and what they signal.
AWS_KMS_EVENTS: Mapping[str, Signal] = MappingProxyType(
    {
        "DisableKey": Signal.DISABLED,
        "ScheduleKeyDeletion": Signal.DISABLED,
        "DeleteImportedKeyMaterial": Signal.DISABLED,
        "PutKeyPolicy": Signal.POLICY,
        "CreateGrant": Signal.GRANT,
        "CreateAlias": Signal.KEY_CONFIG,
        "UpdateAlias": Signal.KEY_CONFIG,
        "DeleteAlias": Signal.KEY_CONFIG,
        "CreateCustomKeyStore": Signal.KEY_CONFIG,
        "UpdateCustomKeyStore": Signal.KEY_CONFIG,
        "DisconnectCustomKeyStore": Signal.KEY_CONFIG,
        "DeleteCustomKeyStore": Signal.KEY_CONFIG,
    }
)
AWS_SECRET_EVENTS: Mapping[str, Signal] = MappingProxyType(
    {
        "DeleteSecret": Signal.SECRET,
        "PutResourcePolicy": Signal.SECRET,
        "DeleteResourcePolicy": Signal.SECRET,
    }
)
#: CloudTrail `errorCode`s of a failed use of a key.
AWS_FAILURE_CODES = ("AccessDenied", "KMSInvalidStateException")
AWS_KMS_SOURCE = "kms.amazonaws.com"
AWS_SECRETS_SOURCE = "secretsmanager.amazonaws.com"

#: Cloud Audit Logs `methodName`s (their last segment) and what they signal.
GCP_METHODS: Mapping[str, Signal] = MappingProxyType(
    {
        "DestroyCryptoKeyVersion": Signal.DISABLED,
        "UpdateCryptoKeyVersion": Signal.DISABLED,  # how a version is disabled
        "SetIamPolicy": Signal.POLICY,
        "UpdateCryptoKeyPrimaryVersion": Signal.KEY_CONFIG,
        "DeleteSecret": Signal.SECRET,
    }
)
#: Failed uses: these methods with a non-zero status.
GCP_USE_METHODS = ("Decrypt", "AsymmetricDecrypt", "AsymmetricSign", "MacSign")
GCP_KMS_SERVICE = "cloudkms.googleapis.com"

#: Azure activity-log `operationName`s and what they signal (compared case-insensitively).
AZURE_OPERATIONS: Mapping[str, Signal] = MappingProxyType(
    {
        "Microsoft.KeyVault/vaults/delete": Signal.DISABLED,
        "Microsoft.KeyVault/vaults/keys/write": Signal.DISABLED,  # a key disabled or changed
        "Microsoft.KeyVault/managedHSMs/delete": Signal.DISABLED,
        "Microsoft.KeyVault/vaults/write": Signal.POLICY,
        "Microsoft.KeyVault/vaults/accessPolicies/write": Signal.POLICY,
        "Microsoft.Authorization/roleAssignments/write": Signal.POLICY,
        "Microsoft.Authorization/roleAssignments/delete": Signal.POLICY,
    }
)
#: A log query over the vaults' AuditEvent logs signals failed use when it filters on the result.
_AZURE_RESULT_FIELDS = re.compile(r"ResultType|httpStatusCode|ResultSignature", re.IGNORECASE)

#: How many failed uses in how many seconds make a burst the components alert on.
FAILED_USE_THRESHOLD = 5
FAILED_USE_PERIOD_SECONDS = 300


def _mentioned(text: str, name: str, *, ignore_case: bool = False) -> bool:
    """Whether `name` appears in `text` as a whole word, not negated (`!= name`, `NOT name`)."""
    flags = re.IGNORECASE if ignore_case else 0
    for match in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text, flags):
        before = text[: match.start()].rstrip().rstrip("\"'").rstrip()
        # `methodName="...Service.Name"`: the qualifier is part of the value.
        before = re.sub(r"[\w.]+\.$", "", before).rstrip().rstrip("\"'").rstrip()
        if before.endswith(("!=", "!~")) or before.upper().endswith("NOT"):
            continue
        return True
    return False


def signals_in(text: str, cloud: Cloud) -> frozenset[Signal]:
    """The misuse signals a filter, event pattern or query of `cloud` matches.

    `text` is a CloudWatch Logs filter pattern or an EventBridge pattern (AWS), a Cloud Logging
    filter (GCP), an activity-log condition or a KQL query (Azure). A name negated in the text
    (`$.eventName != DisableKey`) does not count.
    """
    found: set[Signal] = set()
    if cloud is Cloud.AWS:
        for table in (AWS_KMS_EVENTS, AWS_SECRET_EVENTS):
            found.update(signal for name, signal in table.items() if _mentioned(text, name))
        if any(_mentioned(text, code) for code in AWS_FAILURE_CODES):
            found.add(Signal.FAILED_USE)
    elif cloud is Cloud.GCP:
        found.update(signal for name, signal in GCP_METHODS.items() if _mentioned(text, name))
        failing = re.search(r"status\.code|severity\s*>?=\s*\"?ERROR", text)
        if failing and any(_mentioned(text, name) for name in GCP_USE_METHODS):
            found.add(Signal.FAILED_USE)
    else:
        found.update(
            signal
            for name, signal in AZURE_OPERATIONS.items()
            if _mentioned(text, name, ignore_case=True)
        )
        if "keyvault" in text.lower() and _AZURE_RESULT_FIELDS.search(text):
            found.add(Signal.FAILED_USE)
    return frozenset(found)


def aws_event_pattern_signals(pattern: Mapping[str, object]) -> frozenset[Signal]:
    """The signals an EventBridge event pattern (parsed JSON) matches.

    A pattern on `aws.kms` CloudTrail events that names no `eventName` matches every KMS call,
    and so every KMS signal (failures included: they are recorded with an `errorCode`).
    """
    sources = pattern.get("source")
    detail = pattern.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    names = detail.get("eventName")
    text = json.dumps(pattern)
    if isinstance(sources, list) and "aws.kms" in sources and names is None:
        wanted = {"errorCode"} & set(detail)
        kms = set(AWS_KMS_EVENTS.values())
        return frozenset(kms | {Signal.FAILED_USE}) if not wanted else signals_in(text, Cloud.AWS)
    return signals_in(text, Cloud.AWS)


#: A destination computed from another resource (a topic created in the same stack): it exists,
#: its name is known only after deployment.
COMPUTED_DESTINATION = "(known after deployment)"
