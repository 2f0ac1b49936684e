"""The Azure roles keyplane assigns, in one table (least privilege, separation of duties).

Built-in role definition IDs are the same GUID in every tenant:
https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from keyplane.standard import Usage


@dataclass(frozen=True)
class AzureRole:
    name: str
    #: The role definition's GUID (built-in: the same everywhere; custom: keyplane's uuid5).
    guid: str

    def definition_id(self, subscription_id: str) -> str:
        return (
            f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{self.guid}"
        )


KEY_VAULT_CRYPTO_OFFICER = AzureRole(
    "Key Vault Crypto Officer", "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
)
KEY_VAULT_CRYPTO_USER = AzureRole("Key Vault Crypto User", "12338af0-0e69-4776-bea7-57ae8d297424")
KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = AzureRole(
    "Key Vault Crypto Service Encryption User", "e147488a-f6f5-4113-8e2d-b22465e65bf6"
)
KEY_VAULT_READER = AzureRole("Key Vault Reader", "21090545-7ca7-4776-b22c-e363652d74d2")
KEY_VAULT_SECRETS_OFFICER = AzureRole(
    "Key Vault Secrets Officer", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
)
KEY_VAULT_SECRETS_USER = AzureRole("Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6")
STORAGE_BLOB_DATA_READER = AzureRole(
    "Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
)
LOG_ANALYTICS_READER = AzureRole("Log Analytics Reader", "73c42c96-874c-492b-b04d-ab87d138a893")

#: Every built-in role keyplane may assign, by GUID (for policies that read assignments back).
BUILT_IN_ROLES: Mapping[str, AzureRole] = MappingProxyType(
    {
        role.guid: role
        for role in (
            KEY_VAULT_CRYPTO_OFFICER,
            KEY_VAULT_CRYPTO_USER,
            KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
            KEY_VAULT_READER,
            KEY_VAULT_SECRETS_OFFICER,
            KEY_VAULT_SECRETS_USER,
            STORAGE_BLOB_DATA_READER,
            LOG_ANALYTICS_READER,
        )
    }
)

#: What a key's users get, by usage. Crypto User: read, encrypt/decrypt, wrap/unwrap,
#: sign/verify; no delete, rotate or rotation-policy change.
KEY_USER_ROLES: Mapping[Usage, AzureRole] = MappingProxyType(
    {Usage.ENCRYPT: KEY_VAULT_CRYPTO_USER, Usage.SIGN: KEY_VAULT_CRYPTO_USER}
)

# --- keyplane's key administrator role ---------------------------------------------------------
# The built-in Key Vault Crypto Officer holds `Microsoft.KeyVault/vaults/keys/*`, which includes
# encrypt, decrypt, sign and unwrap: an administrator holding it could use every key, against
# separation of duties (Policy §4, KM-ACC-002). keyplane defines, per vault, a custom role that
# manages keys (create, rotate, rotation policy, backup/restore, recover, delete) and uses none.
KEY_ADMINISTRATOR_ACTIONS: tuple[str, ...] = (
    "Microsoft.KeyVault/vaults/read",
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/write",
    "Microsoft.KeyVault/vaults/keys/versions/read",
)
KEY_ADMINISTRATOR_DATA_ACTIONS: tuple[str, ...] = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/create/action",
    "Microsoft.KeyVault/vaults/keys/update/action",
    "Microsoft.KeyVault/vaults/keys/delete",
    "Microsoft.KeyVault/vaults/keys/backup/action",
    "Microsoft.KeyVault/vaults/keys/restore/action",
    "Microsoft.KeyVault/vaults/keys/recover/action",
    "Microsoft.KeyVault/vaults/keys/rotate/action",
    "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
)
#: Never in the administrator role: using or releasing key material, or importing material
#: generated outside the HSM (KM-HSM-001).
FORBIDDEN_ADMINISTRATOR_DATA_ACTIONS: frozenset[str] = frozenset(
    f"Microsoft.KeyVault/vaults/keys/{verb}/action"
    for verb in ("encrypt", "decrypt", "wrap", "unwrap", "sign", "verify", "release", "import")
)
