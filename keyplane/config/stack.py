"""The stack-config keys the program (`stacks/__main__.py`), the gate (`keyplane.gate`), the pack
and the components share: named once here so that none imports another to learn them.

Every key lives in the `CONFIG_NAMESPACE` namespace (`keyplane:<key>` in `Pulumi.<env>.yaml`);
`config_key` spells the full name.
"""

from __future__ import annotations

#: The namespace of keyplane's stack config.
CONFIG_NAMESPACE = "keyplane"
#: The environment the stack deploys (default: the stack's name).
ENVIRONMENT = "environment"
#: The estate directory holding `<env>.yaml` (default `environments`).
ESTATE = "estate"
#: The day secret expiries and rotation schedules count from (YYYY-MM-DD; default today, UTC).
AS_OF = "asOf"
#: AWS CloudHSM: the kmsuser crypto user's password (a secret), needed to connect the key store.
KMSUSER_PASSWORD = "cloudhsmKmsuserPassword"
#: AWS CloudHSM: the cluster's trust anchor certificate (PEM), once the cluster is initialized.
TRUST_ANCHOR_CERTIFICATE = "cloudhsmTrustAnchorCertificate"
#: AWS CloudHSM: "true" once the custom key store is connected (keys can then be created in it).
KEY_STORE_CONNECTED = "cloudhsmKeyStoreConnected"


def config_key(key: str) -> str:
    """`keyplane:<key>`, the name `pulumi config` and the engine's PULUMI_CONFIG use."""
    return f"{CONFIG_NAMESPACE}:{key}"
