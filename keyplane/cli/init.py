"""`keyplane init ENV --cloud CLOUD`: a commented environment file to start from.

The file is a development environment with one key, which `keyplane validate` accepts as
written; its comments say what each field means and what to replace (the placeholder account,
project or subscription, region and principals). An existing file is never overwritten (exit 2).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from keyplane.cli.prelude import DEFAULT_ESTATE, EXIT_CLEAN, EstateOption, fail_bad_input
from keyplane.standard import Cloud, KeyPurpose

_HEAD = """\
# keyplane environment file: one environment, on one cloud, deployed as one Pulumi stack
# ({name}). Check it with `keyplane validate`, judge it with `keyplane preview {name}`.
# Placeholders to replace are marked REPLACE. Reference: the README, "Environment file fields".

name: {name}                      # equals the file name
tier: development                 # development, staging or production (staging and production
                                  # also need a `monitoring.notify` destination: KM-MON-001)
cloud: {cloud}
"""

_CLOUD = {
    Cloud.AWS: """\
aws:
  account_id: "123456789012"      # REPLACE: the 12-digit account, quoted
  region: eu-west-1               # REPLACE: the region the keys live in

hsm:
  enabled: false                  # true: a dedicated CloudHSM cluster (needs subnet_ids)
""",
    Cloud.GCP: """\
gcp:
  project: acme-dev-kms           # REPLACE: the project that holds the key rings
  location: europe-west1          # REPLACE: the key rings' location

hsm:
  enabled: false                  # true: protection level HSM for the keys that need it
""",
    Cloud.AZURE: """\
azure:
  subscription_id: 00000000-0000-4000-8000-000000000001   # REPLACE: the subscription
  tenant_id: 00000000-0000-4000-8000-000000000002         # REPLACE: the Entra ID tenant
  location: westeurope            # REPLACE: the vault's region
  resource_group: kms-{name}      # the resource group keyplane creates the vault in

hsm:
  enabled: false                  # true: -HSM key types in a premium vault
""",
}

_PRINCIPALS = {
    Cloud.AWS: (
        "arn:aws:iam::123456789012:role/platform-key-admin",
        "arn:aws:iam::123456789012:role/security-audit",
        "arn:aws:iam::123456789012:role/orders-service",
    ),
    Cloud.GCP: (
        "group:kms-admins@example.com",
        "group:security-audit@example.com",
        "serviceAccount:orders@acme-dev-apps.iam.gserviceaccount.com",
    ),
    Cloud.AZURE: (
        "00000000-0000-4000-8000-00000000000a",
        "00000000-0000-4000-8000-00000000000b",
        "00000000-0000-4000-8000-00000000000c",
    ),
}

_BODY = """
logging:
  retention_days: 90              # days the immutable audit logs are kept

keys:                             # one entry per key; purposes: {purposes}
  - name: orders-db
    purpose: {purpose}
    algorithm: {algorithm}{pad}# approved names: the README, "Environment file fields"
    # rotation_days: 365          # default: the purpose's maximum

access:
  key_admins:                     # manage keys, never use them (REPLACE)
    - {admin}
  auditors:                       # read key metadata and logs (REPLACE)
    - {auditor}
  key_users:                      # use named keys only (REPLACE)
    - principal: {user}
      keys: [orders-db]
"""


def environment_text(name: str, cloud: Cloud) -> str:
    """The commented environment file `keyplane init` writes for `name` on `cloud`."""
    admin, auditor, user = _PRINCIPALS[cloud]
    return (
        _HEAD.format(name=name, cloud=cloud.value)
        + "\n"
        + _CLOUD[cloud].format(name=name)
        + _BODY.format(
            purposes=", ".join(p.value for p in KeyPurpose),
            purpose=KeyPurpose.DATABASE_ENCRYPTION.value,
            # Azure Key Vault holds no symmetric keys outside a Managed HSM.
            algorithm=(algorithm := "RSA-3072" if cloud is Cloud.AZURE else "AES-256"),
            pad=" " * (19 - len(algorithm)),
            admin=admin,
            auditor=auditor,
            user=user,
        )
    )


def init(
    environment: Annotated[str, typer.Argument(help="Name of the new environment (ENV.yaml).")],
    cloud: Annotated[Cloud, typer.Option("--cloud", help="The environment's cloud.")],
    estate: EstateOption = DEFAULT_ESTATE,
) -> None:
    """Write a commented environment file, DIR/ENV.yaml, that `keyplane validate` accepts."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415

    from keyplane.config.model import Name  # noqa: PLC0415 - the schema's own name rule

    try:
        TypeAdapter(Name).validate_python(environment)
    except ValidationError as err:
        reason = err.errors()[0]["msg"]
        fail_bad_input([f"keyplane init: ENV: {reason} (got {environment!r})"])
    path = estate / f"{environment}.yaml"
    try:
        estate.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never overwrite an environment file, not even one created meanwhile.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        fail_bad_input([f"{path}: already exists; keyplane init never overwrites a file"])
    except OSError as err:
        fail_bad_input([f"{path}: cannot write: {err.strerror}; check the path or --estate"])
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(environment_text(environment, cloud))
    print(
        f"{path}: written; edit the REPLACE lines, then run `keyplane validate --estate {estate}`"
    )
    raise typer.Exit(EXIT_CLEAN)


__all__ = ["environment_text", "init"]
