"""The estate schemas: every class of bad input gives one precise line; policy breaches pass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from keyplane.config import ConfigError
from keyplane.config.estate import load_environment
from keyplane.estate import load_estate
from tests.conftest import BUNDLED_ESTATE


def edit(path: Path, old: str, new: str) -> int:
    """Replace `old` (once) in the file; return the 1-based line where `new` starts."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {path.name}"
    index = text.index(old)
    path.write_text(text.replace(old, new))
    return text[:index].count("\n") + 1 + new[: len(new) - len(new.lstrip("\n"))].count("\n")


def problems(estate: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_estate(estate)
    return [str(p) for p in caught.value.problems]


def only_problem(estate: Path) -> str:
    found = problems(estate)
    assert len(found) == 1, found
    return found[0]


def test_bundled_estate_is_valid() -> None:
    estate = load_estate(BUNDLED_ESTATE)
    assert sorted(estate.environments) == ["dev", "prod", "prod-azure", "prod-gcp", "staging"]
    assert [e.id for e in estate.exceptions] == ["EXC-2026-007"]
    assert estate.shared_tenants("prod", "search-index") == {"globex"}


def test_defaults_are_applied_from_the_policy_data() -> None:
    env = load_estate(BUNDLED_ESTATE).environments["prod"]
    keys = {k.name: k for k in env.resolved_keys()}
    assert keys["acme-orders-db"].rotation_days == 365
    assert keys["acme-orders-db"].deletion_window_days == 30
    assert keys["session-signing"].rotation_days is None  # asymmetric: manual plan
    assert keys["platform-backup"].hsm is True
    assert keys["platform-backup"].rotation_days is None  # CloudHSM key store: manual plan
    assert keys["platform-backup"].admins == ("arn:aws:iam::111111111111:role/backup-key-admin",)
    assert keys["webhook-hmac"].usage.value == "mac"
    assert keys["globex-orders-db"].users == (
        "arn:aws:iam::111111111111:role/globex-orders-service",
    )
    gcp = {k.name: k for k in load_estate(BUNDLED_ESTATE).environments["prod-gcp"].resolved_keys()}
    assert gcp["acme-orders-db"].hsm is True  # HSM-required purpose, hsm.enabled
    assert env.protected and env.is_production


# --- form errors ----------------------------------------------------------------------------


def test_unknown_field_names_the_allowed_ones(estate: Path) -> None:
    line = (
        edit(
            estate / "prod.yaml",
            "    tenant: acme\n  - name: globex-orders-db",
            "    tenant: acme\n    colour: blue\n  - name: globex-orders-db",
        )
        + 1
    )
    assert only_problem(estate) == (
        f"{estate}/prod.yaml:{line}: keys[0].colour: unknown field; remove it or fix its spelling "
        "(allowed: name, purpose, algorithm, tenant, rotation_days, hsm, deletion_window_days, rotation, "
        "restore_tested_on, retired)"
    )


def test_wrong_type_names_the_expected_one(estate: Path) -> None:
    line = edit(estate / "prod.yaml", "retention_days: 400", 'retention_days: "400"')
    assert only_problem(estate) == (
        f"{estate}/prod.yaml:{line}: logging.retention_days: expected a whole number (got '400'); "
        "write a number without quotes"
    )


def test_unquoted_account_id_asks_for_quotes(estate: Path) -> None:
    line = edit(estate / "dev.yaml", 'account_id: "333333333333"', "account_id: 333333333333")
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: aws.account_id: expected text (got 333333333333); quote the value"
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "dev.yaml",
            'account_id: "333333333333"',
            'account_id: "3333"',
            "aws.account_id: expected a 12-digit AWS account ID in quotes, like \"111111111111\" (got '3333'); fix the value",
        ),
        (
            "prod-gcp.yaml",
            "project: acme-prod-kms",
            "project: Acme_Prod",
            "gcp.project: expected a GCP project ID, like acme-prod-kms (got 'Acme_Prod'); fix the value",
        ),
        (
            "prod-azure.yaml",
            "subscription_id: 5f0c3a9e-1b2d-4c6e-8f00-0123456789ab",
            "subscription_id: not-a-guid",
            "azure.subscription_id: expected an Azure subscription ID (a GUID), like 5f0c3a9e-1b2d-4c6e-8f00-0123456789ab (got 'not-a-guid'); fix the value",
        ),
    ],
)
def test_malformed_cloud_ids(estate: Path, file: str, old: str, new: str, message: str) -> None:
    line = edit(estate / file, old, new)
    assert only_problem(estate) == f"{estate}/{file}:{line}: {message}"


def test_unknown_purpose(estate: Path) -> None:
    line = edit(estate / "dev.yaml", "purpose: database-encryption", "purpose: data-encryption")
    problem = only_problem(estate)
    assert problem.startswith(
        f"{estate}/dev.yaml:{line}: keys[0].purpose: unknown purpose (got 'data-encryption'); use one of 'application-encryption', "
    )


def test_unknown_algorithm(estate: Path) -> None:
    line = edit(estate / "dev.yaml", "algorithm: AES-256", "algorithm: DES")
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: keys[0].algorithm: unknown algorithm (got 'DES'); use one of AES-256, RSA-2048, "
        "RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384, ECDSA-P521, Ed25519, HMAC-SHA256, HMAC-SHA384, HMAC-SHA512"
    )


def test_algorithm_the_cloud_does_not_offer(estate: Path) -> None:
    line = edit(
        estate / "prod-azure.yaml",
        "algorithm: ECDSA-P256         # Azure",
        "algorithm: Ed25519         # Azure",
    )
    assert only_problem(estate).startswith(
        f"{estate}/prod-azure.yaml:{line}: keys[1].algorithm: azure does not offer Ed25519 (got 'Ed25519'); use one of "
    )


def test_algorithm_that_cannot_serve_the_purpose(estate: Path) -> None:
    line = edit(estate / "dev.yaml", "algorithm: AES-256", "algorithm: ECDSA-P256")
    assert only_problem(estate).startswith(
        f"{estate}/dev.yaml:{line}: keys[0].algorithm: ECDSA-P256 cannot encrypt as database-encryption keys must (got 'ECDSA-P256'); use one of AES-256, RSA-2048"
    )


def test_undeclared_tenant(estate: Path) -> None:
    line = edit(
        estate / "dev.yaml",
        "    tenant: acme\n  - name: session-signing",
        "    tenant: initech\n  - name: session-signing",
    )
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: keys[0].tenant: undeclared tenant (got 'initech'); declare it under tenants (acme)"
    )


def test_key_user_naming_an_unknown_key(estate: Path) -> None:
    line = edit(estate / "dev.yaml", "keys: [session-signing]", "keys: [session-signer]")
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: access.key_users[1].keys[0]: unknown key (got 'session-signer'); "
        "name a key or secret of this environment (acme-orders-db, acme-payments-api, session-signing)"
    )


def test_duplicate_key_names(estate: Path) -> None:
    edit(estate / "dev.yaml", "  - name: session-signing\n", "  - name: acme-orders-db\n")
    found = problems(estate)
    assert [p.split(": ", 1)[1] for p in found] == [
        "keys[0].name: duplicate key name (got 'acme-orders-db'); give each key its own name",
        "keys[1].name: duplicate key name (got 'acme-orders-db'); give each key its own name",
        "access.key_users[1].keys[0]: unknown key (got 'session-signing'); name a key or secret of this environment (acme-orders-db, acme-payments-api)",
    ]


def test_duplicate_yaml_mapping_keys(estate: Path) -> None:
    line = (
        edit(estate / "dev.yaml", "tier: development\n", "tier: development\ntier: production\n")
        + 1
    )
    problem = only_problem(estate)
    assert problem.startswith(f"{estate}/dev.yaml:{line}: invalid YAML: ")
    assert 'found duplicate key "tier"' in problem
    assert problem.endswith("; remove the duplicate key")


def test_missing_cloud_block(estate: Path) -> None:
    edit(estate / "dev.yaml", 'aws:\n  account_id: "333333333333"\n  region: eu-west-1\n', "")
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:3: aws: missing the 'aws' block for cloud aws; add 'aws:' with the account_id and region"
    )


def test_foreign_cloud_block(estate: Path) -> None:
    line = edit(
        estate / "dev.yaml",
        "hsm:\n",
        "gcp:\n  project: acme-dev-kms\n  location: europe-west1\nhsm:\n",
    )
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: gcp: a 'gcp' block in an environment on aws (got 'gcp'); remove it or set cloud: gcp"
    )


def test_rotation_days_on_a_key_its_cloud_cannot_rotate(estate: Path) -> None:
    line = (
        edit(
            estate / "prod.yaml",
            "    algorithm: HMAC-SHA256        # AWS cannot rotate HMAC keys automatically: manual plan\n    rotation:\n      owner: identity-team\n      rotate_by: 2027-04-15\n",
            "    algorithm: HMAC-SHA256\n    rotation_days: 90\n",
        )
        + 1
    )
    assert only_problem(estate) == (
        f"{estate}/prod.yaml:{line}: keys[5].rotation_days: aws cannot rotate this key automatically (HMAC-SHA256 keys) (got 90); "
        "remove rotation_days and declare rotation: {owner, rotate_by} (KM-ROT-004)"
    )


def test_rotation_days_on_a_cloudhsm_key(estate: Path) -> None:
    edit(
        estate / "prod.yaml",
        "    hsm: true                     # in the dedicated CloudHSM key store: no automatic rotation on AWS\n    rotation:\n      owner: platform-team\n      rotate_by: 2027-06-30\n",
        "    hsm: true\n    rotation_days: 365\n",
    )
    assert (
        "keys[3].rotation_days: aws cannot rotate this key automatically (keys in a CloudHSM key store) (got 365)"
        in only_problem(estate)
    )


def test_hsm_key_without_an_hsm(estate: Path) -> None:
    line = (
        edit(
            estate / "dev.yaml",
            "    tenant: acme\n  - name: session-signing",
            "    tenant: acme\n    hsm: true\n  - name: session-signing",
        )
        + 1
    )
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: keys[0].hsm: the environment has no HSM (got true); set hsm.enabled: true or remove the key's hsm"
    )


def test_hsm_on_a_non_symmetric_aws_key(estate: Path) -> None:
    line = (
        edit(
            estate / "prod.yaml",
            "    algorithm: ECDSA-P256\n    rotation:                     # asymmetric",
            "    algorithm: ECDSA-P256\n    hsm: true\n    rotation:                     # asymmetric",
        )
        + 1
    )
    assert only_problem(estate) == (
        f"{estate}/prod.yaml:{line}: keys[4].hsm: AWS CloudHSM key stores hold symmetric keys only, not ECDSA-P256 (got true); "
        "use AES-256 or remove hsm: true (KMS keeps its keys in FIPS 140-3 HSMs)"
    )


def test_values_outside_what_the_cloud_accepts(estate: Path) -> None:
    line = (
        edit(
            estate / "dev.yaml",
            "    tenant: acme\n  - name: session-signing",
            "    tenant: acme\n    deletion_window_days: 3\n  - name: session-signing",
        )
        + 1
    )
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:{line}: keys[0].deletion_window_days: aws accepts 7 to 30 days (got 3); choose a value from 7 to 30"
    )


def test_name_must_match_the_file(estate: Path) -> None:
    edit(estate / "dev.yaml", "name: dev\n", "name: develop\n")
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:1: name: must match the file name 'dev' (got 'develop'); rename the file to develop.yaml or set name: dev"
    )


def test_every_problem_of_every_file_is_reported_at_once(estate: Path) -> None:
    edit(estate / "dev.yaml", "algorithm: AES-256", "algorithm: DES")
    edit(estate / "prod-gcp.yaml", "retention_days: 400", "retention_days: forever")
    found = problems(estate)
    assert len(found) == 2
    assert "dev.yaml" in found[0] and "prod-gcp.yaml" in found[1]


# --- well-formed but non-compliant: accepted, left to the rules --------------------------


def test_policy_breaches_are_accepted(estate: Path) -> None:
    edit(
        estate / "dev.yaml",
        "    tenant: acme\n  - name: session-signing",
        "    tenant: acme\n    rotation_days: 400\n  - name: session-signing",
    )
    edit(estate / "dev.yaml", "    algorithm: ECDSA-P256", "    algorithm: ECDSA-SECP256K1")
    edit(
        estate / "prod-gcp.yaml",
        "    tenant: acme\n  - name: release-signing",
        "    tenant: acme\n    hsm: false\n  - name: release-signing",
    )
    edit(estate / "dev.yaml", "    - arn:aws:iam::333333333333:role/security-audit", '    - "*"')
    loaded = load_estate(estate)
    assert (
        loaded.environments["dev"].resolve(loaded.environments["dev"].keys[0]).rotation_days == 400
    )
    assert (
        loaded.environments["prod-gcp"].resolve(loaded.environments["prod-gcp"].keys[0]).hsm
        is False
    )


# --- the registers ----------------------------------------------------------------------


def test_exception_missing_a_field(estate: Path) -> None:
    text = (estate / "exceptions.yaml").read_text()
    (estate / "exceptions.yaml").write_text(
        text.replace(
            "    compensating_controls:\n      - Only the reporting role may use the key, and every use is alerted on.\n",
            "",
        )
    )
    assert (
        only_problem(estate)
        == f"{estate}/exceptions.yaml:4: exceptions[0].compensating_controls: missing required field; add 'compensating_controls'"
    )


def test_permanent_exception_is_refused(estate: Path) -> None:
    line = edit(estate / "exceptions.yaml", "expires: 2027-05-31", "expires: 2099-12-31")
    assert only_problem(estate) == (
        f"{estate}/exceptions.yaml:{line}: exceptions[0].expires: KM-EXC-001: expires more than 365 days after acceptance "
        "(at the latest 2027-06-01) (got '2099-12-31'); shorten it; permanent exceptions are prohibited (Policy §15)"
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "KM-ROT-999",
            "KM-EXC-001: unknown rule ID (got 'KM-ROT-999'); name a rule of the catalog (KM-ALG-001,",
        ),
        (
            "KM-EXC-002",
            "KM-EXC-001: KM-EXC-002 cannot be excepted (got 'KM-EXC-002'); fix the exception register instead",
        ),
    ],
)
def test_exception_rule_must_be_known_and_exceptable(estate: Path, rule: str, message: str) -> None:
    line = edit(estate / "exceptions.yaml", "rule: KM-ROT-002", f"rule: {rule}")
    assert only_problem(estate).startswith(
        f"{estate}/exceptions.yaml:{line}: exceptions[0].rule: {message}"
    )


def test_exception_for_an_unknown_environment(estate: Path) -> None:
    line = edit(estate / "exceptions.yaml", "environment: staging", "environment: stage")
    assert only_problem(estate) == (
        f"{estate}/exceptions.yaml:{line}: exceptions[0].environment: KM-EXC-001: unknown environment (got 'stage'); "
        "name an environment of the estate (dev, prod, prod-azure, prod-gcp, staging)"
    )


def test_shared_key_register_references_are_checked(estate: Path) -> None:
    line = edit(estate / "shared-services.yaml", "tenants: [globex]", "tenants: [initech]")
    assert only_problem(estate) == (
        f"{estate}/shared-services.yaml:{line}: shared_keys[0].tenants[0]: undeclared tenant in environment prod (got 'initech'); "
        "declare it under tenants (acme, globex)"
    )


# --- hostile and broken files -----------------------------------------------------------


def test_alias_bomb_fails_fast(estate: Path) -> None:
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    (estate / "dev.yaml").write_text("\n".join(bomb) + "\n")
    started = time.monotonic()
    problem = only_problem(estate)
    assert time.monotonic() - started < 5
    assert (
        "document expands to more than 100000 values through aliases; remove the anchors and aliases"
        in problem
    )


def test_recursive_alias_is_refused(estate: Path) -> None:
    (estate / "dev.yaml").write_text("a: &a [*a]\n")
    assert "recursive alias" in only_problem(estate)


def test_binary_garbage(estate: Path) -> None:
    (estate / "dev.yaml").write_bytes(b"name: dev\n\xff\xfe\x00\x01garbage")
    assert (
        only_problem(estate)
        == f"{estate}/dev.yaml:2: not UTF-8 text (binary data?); save the file as UTF-8 YAML"
    )


def test_empty_file(estate: Path) -> None:
    (estate / "dev.yaml").write_text("# nothing yet\n")
    assert (
        only_problem(estate)
        == f"{estate}/dev.yaml: the file is empty; write the environment (see environments/prod.yaml)"
    )


def test_list_where_a_mapping_is_expected(estate: Path) -> None:
    (estate / "dev.yaml").write_text("- name: dev\n- tier: development\n")
    assert only_problem(estate) == (
        f"{estate}/dev.yaml:1: expected a mapping at the top of the file (got a list); write the environment "
        "(see environments/prod.yaml) as 'field: value' lines"
    )


def test_list_where_a_nested_mapping_is_expected(estate: Path) -> None:
    line = edit(
        estate / "dev.yaml",
        "hsm:\n  enabled: false                 # development keys are software-protected\n",
        "hsm: [false]\n",
    )
    assert (
        only_problem(estate)
        == f"{estate}/dev.yaml:{line}: hsm: expected a mapping (got [false]); write 'field: value' lines under it"
    )


def test_invalid_yaml_syntax(estate: Path) -> None:
    (estate / "dev.yaml").write_text("name: dev\ntier: [development\n")
    problem = only_problem(estate)
    assert problem.startswith(f"{estate}/dev.yaml:3: invalid YAML: ")
    assert problem.endswith("; fix the YAML syntax")


def test_oversized_file(estate: Path) -> None:
    (estate / "dev.yaml").write_text("# " + "x" * (8 << 20) + "\n")
    assert (
        only_problem(estate)
        == f"{estate}/dev.yaml: file is larger than 8 MiB; is this the right file?"
    )


def test_a_large_estate_without_aliases_is_read(tmp_path: Path) -> None:
    """5,000 tenants (10,000 keys, about 100,000 YAML values, 1.6 MB): no alias, so nothing to
    refuse; the alias guard once counted every value and the size cap stopped at 1 MiB."""
    lines = ["name: big", "tier: production", "cloud: aws", "aws:", '  account_id: "111111111111"']
    lines += [
        "  region: eu-west-1",
        "hsm:",
        "  enabled: false",
        "logging:",
        "  retention_days: 400",
    ]
    lines.append("tenants:")
    lines += [f"  - name: t{i:04d}\n    isolation: dedicated" for i in range(5000)]
    lines.append("keys:")
    for i in range(5000):
        for use in ("db", "app"):
            lines.append(
                f"  - name: t{i:04d}-{use}\n    purpose: database-encryption\n"
                f"    algorithm: AES-256\n    tenant: t{i:04d}"
            )
    lines += ["access:", "  key_admins: [arn:aws:iam::111111111111:role/key-admin]"]
    lines += ["  auditors: [arn:aws:iam::111111111111:role/audit]", "  key_users: []"]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    assert len(load_estate(tmp_path).environments["big"].keys) == 10_000


def test_missing_estate_directory(tmp_path: Path) -> None:
    assert (
        only_problem(tmp_path / "nowhere")
        == f"{tmp_path}/nowhere: estate directory not found; pass --estate DIR"
    )


def test_missing_environment_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(tmp_path / "prod.yaml")
    assert str(caught.value) == f"{tmp_path}/prod.yaml: file not found; check the path or --estate"


def test_aes_keys_on_azure_are_refused(estate: Path) -> None:
    line = edit(estate / "prod-azure.yaml", "    algorithm: RSA-3072", "    algorithm: AES-256")
    assert only_problem(estate) == (
        f"{estate}/prod-azure.yaml:{line}: keys[0].algorithm: a premium Key Vault cannot hold AES-256 keys "
        "(oct-HSM needs a Managed HSM) (got 'AES-256'); use RSA-3072 or RSA-4096 for encryption keys on Azure"
    )


def test_cloudhsm_needs_two_availability_zones(estate: Path) -> None:
    line = edit(
        estate / "prod.yaml",
        "  subnet_ids: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]",
        "  subnet_ids: [subnet-0a1b2c3d4e5f60001]",
    )
    assert only_problem(estate) == (
        f"{estate}/prod.yaml:{line}: hsm.subnet_ids: a CloudHSM key store needs HSMs in at least two availability zones "
        "(got [subnet-0a1b2c3d4e5f60001]); list two or more subnets in different availability zones (one HSM per subnet)"
    )
