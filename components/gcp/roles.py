"""The GCP IAM roles keyplane grants, in one place (least privilege, separation of duties).

Administrators manage keys but cannot use them; users use their keys but cannot manage them
(KM-ACC-002). Basic roles (`roles/owner`, `roles/editor`, `roles/viewer`) are never granted.
https://cloud.google.com/kms/docs/reference/permissions-and-roles
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from keyplane.standard import Usage

# --- Cloud KMS -------------------------------------------------------------------------------
#: Key administrators, on the key ring: create, rotate, disable, destroy; no cryptographic use.
KMS_ADMIN = "roles/cloudkms.admin"
#: Auditors, on the key ring: metadata and IAM policies, no use.
KMS_VIEWER = "roles/cloudkms.viewer"
KMS_ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KMS_DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
KMS_PUBLIC_KEY_VIEWER = "roles/cloudkms.publicKeyViewer"
#: Sign and verify; also what MAC keys need (macSign / macVerify use the sign/verify permissions).
KMS_SIGNER_VERIFIER = "roles/cloudkms.signerVerifier"

#: What a key's users get, by GCP key purpose.
KMS_USER_ROLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ENCRYPT_DECRYPT": (KMS_ENCRYPTER_DECRYPTER,),
        # Encryption happens with the public key, outside KMS; KMS only decrypts.
        "ASYMMETRIC_DECRYPT": (KMS_DECRYPTER, KMS_PUBLIC_KEY_VIEWER),
        "ASYMMETRIC_SIGN": (KMS_SIGNER_VERIFIER,),
        "MAC": (KMS_SIGNER_VERIFIER,),
    }
)

# --- Secret Manager -------------------------------------------------------------------------
#: Users of a secret read its value.
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
#: Administrators add, enable, disable and destroy versions, and never read values.
SECRET_VERSION_MANAGER = "roles/secretmanager.secretVersionManager"
SECRET_VIEWER = "roles/secretmanager.viewer"

# --- Service agents and log sinks --------------------------------------------------------------
PUBSUB_PUBLISHER = "roles/pubsub.publisher"
#: A log sink's writer identity creates objects and can neither read nor delete them.
STORAGE_OBJECT_CREATOR = "roles/storage.objectCreator"
#: Auditors read the exported audit logs.
STORAGE_OBJECT_VIEWER = "roles/storage.objectViewer"

#: Roles keyplane never grants (KM-ACC-001: no basic roles).
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})


def kms_purpose(usage: Usage, symmetric: bool) -> str:
    """The GCP `CryptoKey.purpose` of a key of `usage`."""
    if usage is Usage.MAC:
        return "MAC"
    if usage is Usage.SIGN:
        return "ASYMMETRIC_SIGN"
    return "ENCRYPT_DECRYPT" if symmetric else "ASYMMETRIC_DECRYPT"
