"""Which resource types hold or grant access to keys, secrets or certificates (KM-COV-001).

A type keyplane has no reader for is not judged; when its type looks like it holds key material,
a secret or a certificate, or grants access to them, that must be said, never passed in silence.
The test is by provider module and name, for Pulumi type tokens (`aws:kms/ciphertext:Ciphertext`)
and for Terraform types (`aws_kms_ciphertext`, what checkov sees), matched case-insensitively as
shell-style patterns (`fnmatch`): checkov takes the Terraform patterns as they are.

IAM resources count where they can grant access to keys or secrets: every AWS IAM policy,
membership and access key; GCP IAM members, bindings and policies on key rings, keys, secrets,
certificates and on the project, folder and organisation (whose roles reach every key below
them); Azure role assignments and definitions and vault access policies. An IAM member on a
bucket or a topic grants access to that bucket or topic only, and is not counted.

This module knows nothing of the readers: callers ask it about types they could not read
(`keyplane.adapters.pulumi.facts_from_resource`, `keyplane.adapters.terraform`).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import cache

#: Pulumi type tokens (lower case) of resources that hold or grant access to keys, secrets or
#: certificates.
KEY_BEARING_TOKENS: tuple[str, ...] = (
    "aws:kms/*",
    "aws:secretsmanager/*",
    "aws:acm/*",
    "aws:acmpca/*",
    "aws:cloudhsmv2/*",
    "aws:iam/*policy*",
    "aws:iam/*membership*",
    "aws:ssoadmin/*polic*",
    "aws:iam/accesskey:*",
    "aws:iam/userloginprofile:*",
    "aws:iam/servercertificate:*",
    "aws:ssm/parameter:*",
    "aws-native:kms:*",
    "aws-native:secretsmanager:*",
    "aws-native:acmpca:*",
    "aws-native:certificatemanager:*",
    "aws-native:cloudhsm*",
    "aws-native:iam:*policy*",
    "gcp:kms/*",
    "gcp:secretmanager/*",
    "gcp:certificatemanager/*",
    "gcp:certificateauthority/*",
    "gcp:compute/sslcertificate:*",
    "gcp:projects/iam*",
    "gcp:organizations/iam*",
    "gcp:folder/iam*",
    "azure-native:keyvault:*",
    "azure-native:certificateregistration:*",
    "azure-native:authorization:role*",
    "azure-native:*:*accesspolicy",
    "azure:keyvault/*",
    "azure:authorization/*",
    "azure:*:*accesspolicy",
)

#: The same for Terraform types (checkov's `supported_resources` wildcards).
KEY_BEARING_TERRAFORM_TYPES: tuple[str, ...] = (
    "aws_kms_*",
    "aws_secretsmanager_*",
    "aws_acm_*",
    "aws_acmpca_*",
    "aws_cloudhsm_v2_*",
    "aws_iam_*policy*",
    "aws_iam_*membership*",
    "aws_ssoadmin_*polic*",
    "aws_iam_access_key",
    "aws_iam_user_login_profile",
    "aws_iam_server_certificate",
    "aws_ssm_parameter",
    "google_kms_*",
    "google_secret_manager_*",
    "google_certificate_manager_*",
    "google_privateca_*",
    "google_compute_ssl_certificate",
    "google_project_iam_*",
    "google_organization_iam_*",
    "google_folder_iam_*",
    "azurerm_key_vault*",
    "azurerm_role_*",
)

#: Types in those modules that hold no key material, secret or grant of their own, each with
#: why: not reported.
NOT_KEY_BEARING: frozenset[str] = frozenset(
    {
        # An alias names a key; who may use the key is the key's policy and grants.
        "aws:kms/alias:alias",
        "aws-native:kms:alias",
        "aws_kms_alias",
        # The link from KMS to a CloudHSM cluster: the keys in it are read as keys.
        "aws:kms/customkeystore:customkeystore",
        "aws_kms_custom_key_store",
        # One HSM of a cluster read as a cluster (KM-DEL-001 judges the cluster).
        "aws:cloudhsmv2/hsm:hsm",
        "aws_cloudhsm_v2_hsm",
        # A DNS authorization names the CNAME record Google validates a domain with.
        "gcp:certificatemanager/dnsauthorization:dnsauthorization",
        "google_certificate_manager_dns_authorization",
        # Binds a certificate order to a Key Vault secret: the order is read as the certificate,
        # the vault as the vault.
        "azure-native:certificateregistration:appservicecertificateordercertificate",
    }
)


@cache
def key_bearing(type_: str) -> bool:
    """Whether a Pulumi type token or a Terraform type holds or grants access to keys, secrets
    or certificates (by provider module and name; see the module's docstring)."""
    lowered = type_.lower()
    if lowered in NOT_KEY_BEARING:
        return False
    patterns = KEY_BEARING_TOKENS if ":" in lowered else KEY_BEARING_TERRAFORM_TYPES
    return any(fnmatchcase(lowered, pattern) for pattern in patterns)


def not_judged_text(types: list[str]) -> str:
    """`1 not judged: aws:foo/bar:Baz` (types in order, each once), or "" when none."""
    if not types:
        return ""
    shown = sorted(set(types))
    return f"{len(types)} not judged: {', '.join(shown)}"


__all__ = [
    "KEY_BEARING_TERRAFORM_TYPES",
    "KEY_BEARING_TOKENS",
    "NOT_KEY_BEARING",
    "key_bearing",
    "not_judged_text",
]
