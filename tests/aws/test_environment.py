"""AwsEnvironment and the cloud-neutral front, over the bundled estate."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from functools import cache

import pulumi
import pytest

from keyplane.components.aws import AwsEnvironment, ComponentInputError
from keyplane.components.environment import deploy_environment, stack_outputs
from keyplane.render import RenderResult
from keyplane.standard import KeyPurpose
from tests.aws.support import (
    ALIAS,
    CRYPTO_ACTIONS,
    HSM_READY,
    KEY,
    allow_statements,
    allows,
    bundled,
    names,
    of_type,
    one,
    policy,
    principals,
    run,
    statements,
)

AWS_ENVIRONMENTS = ("prod", "staging", "dev")
TAGGABLE = (
    KEY,
    "aws:secretsmanager/secret:Secret",
    "aws:iam/role:Role",
    "aws:cloudtrail/trail:Trail",
    "aws:s3/bucket:Bucket",
    "aws:cloudhsmv2/cluster:Cluster",
)


@cache
def rendered(
    env_name: str, config: tuple[tuple[str, str], ...] = tuple(HSM_READY.items())
) -> RenderResult:
    env = bundled()[env_name]
    return run(lambda: deploy_environment(env), stack=env_name, config=dict(config))


def test_prod_renders_the_whole_estate() -> None:
    result = rendered("prod")
    prod = bundled()["prod"]

    assert one(result, "keyplane:aws:Environment", "prod").parent.endswith(
        "pulumi:pulumi:Stack::keyplane-prod"
    )
    declared = {k.name for k in prod.keys}
    assert names(result, KEY) >= declared
    assert names(result, ALIAS) >= {f"{k}-alias" for k in declared}
    assert names(result, "aws:cloudhsmv2/cluster:Cluster") == {"prod-hsm-cluster"}
    assert len(of_type(result, "aws:cloudhsmv2/hsm:Hsm")) == len(prod.hsm.subnet_ids) == 2
    assert names(result, "aws:kms/customKeyStore:CustomKeyStore") == {"prod-hsm-key-store"}
    assert names(result, "aws:secretsmanager/secret:Secret") == {s.name for s in prod.secrets}
    assert names(result, "aws:secretsmanager/secretRotation:SecretRotation") == {
        f"{s.name}-rotation" for s in prod.secrets
    }
    assert names(result, "aws:iam/role:Role") == {
        "prod-access-key-admin",
        "prod-access-key-auditor",
        "prod-audit-delivery-role",  # CloudTrail delivers to CloudWatch Logs (KM-MON-001)
    }
    assert names(result, "aws:cloudtrail/trail:Trail") == {"prod-audit-trail"}
    assert (
        one(result, "aws:s3/bucket:Bucket", "prod-audit-logs").inputs["objectLockEnabled"] is True
    )
    assert names(result, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == {
        "prod-audit-logs-object-lock"
    }
    backup = one(result, KEY, "platform-backup")
    assert backup.inputs["customKeyStoreId"] == "prod-hsm-key-store-id"


def test_the_component_tree() -> None:
    result = rendered("prod")
    environment = one(result, "keyplane:aws:Environment", "prod").urn
    assert {r.type: r.name for r in result.resources if r.parent == environment} == {
        "keyplane:aws:AccessRoles": "prod-access",
        "keyplane:aws:HsmCluster": "prod-hsm",
        "keyplane:aws:KeyRing": "prod-keys",
        "keyplane:aws:SecretVault": "prod-secrets",
        "keyplane:aws:AuditLogSink": "prod-audit",
        "keyplane:aws:MisuseAlarms": "prod-alarms",
        "keyplane:aws:Certificates": "prod-certificates",
    }
    assert one(result, KEY, "acme-orders-db").urn == (
        "urn:pulumi:prod::keyplane::keyplane:aws:Environment$keyplane:aws:KeyRing"
        "$aws:kms/key:Key::acme-orders-db"
    )


@pytest.mark.parametrize("env_name", AWS_ENVIRONMENTS)
def test_every_key_policy_names_its_principals_and_separates_duties(env_name: str) -> None:
    result = rendered(env_name)
    keys = of_type(result, KEY)
    assert keys
    for key in keys:
        document = policy(key)
        for statement in allow_statements(document):
            assert "*" not in principals(statement), key.name
            assert not any(p.endswith(":root") for p in principals(statement)), key.name
            assert statement["Action"] not in ("*", "kms:*", ["kms:*"]), key.name
        admin = statements(document)["KeyAdministration"]
        assert [a for a in CRYPTO_ACTIONS if allows(admin["Action"], a)] == [], key.name
        assert allows(admin["Action"], "kms:PutKeyPolicy"), key.name


@pytest.mark.parametrize(
    ("env_name", "protected"), [("prod", True), ("staging", True), ("dev", False)]
)
def test_keys_hsm_secrets_and_trail_are_protected_in_staging_and_production(
    env_name: str, protected: bool
) -> None:
    result = rendered(env_name)
    kinds = (
        KEY,
        "aws:cloudhsmv2/cluster:Cluster",
        "aws:cloudhsmv2/hsm:Hsm",
        "aws:kms/customKeyStore:CustomKeyStore",
        "aws:secretsmanager/secret:Secret",
        "aws:cloudtrail/trail:Trail",
        "aws:s3/bucket:Bucket",
    )
    flags = {(r.type, r.name): r.protect for kind in kinds for r in of_type(result, kind)}
    assert flags
    assert set(flags.values()) == {protected}, flags


@pytest.mark.parametrize("env_name", AWS_ENVIRONMENTS)
def test_every_taggable_resource_carries_the_environment_and_managed_tags(env_name: str) -> None:
    result = rendered(env_name)
    for kind in TAGGABLE:
        for registration in of_type(result, kind):
            tags = registration.inputs["tags"]
            assert tags["keyplane-environment"] == env_name, registration.name
            assert tags["keyplane-managed"] == "true", registration.name
    for registration in of_type(result, KEY) + of_type(result, "aws:secretsmanager/secret:Secret"):
        assert registration.inputs["tags"]["keyplane-purpose"] in {p.value for p in KeyPurpose}


def test_the_access_roles_join_the_key_policies_they_need() -> None:
    result = rendered("prod")
    admin_role = "arn:aws:iam::111111111111:role/keyplane/prod-key-admin"
    auditor_role = "arn:aws:iam::111111111111:role/keyplane/prod-key-auditor"

    for key in of_type(result, KEY):
        document = statements(policy(key))
        assert auditor_role in principals(document["KeyAudit"]), key.name
        administrators = principals(document["KeyAdministration"])
        if key.name == "platform-backup":
            # Backup keys are administered apart from primary keys (KM-BAK-001).
            assert administrators == ["arn:aws:iam::111111111111:role/backup-key-admin"]
        else:
            assert administrators == [
                "arn:aws:iam::111111111111:role/platform-key-admin",
                admin_role,
            ]
        # KMS refuses a key policy naming a role that does not exist yet.
        role_urn = one(result, "aws:iam/role:Role", "prod-access-key-admin").urn
        assert role_urn in key.dependencies, key.name


def test_the_admin_role_manages_exactly_the_keys_it_administers() -> None:
    result = rendered("prod")
    permissions = statements(
        policy(one(result, "aws:iam/rolePolicy:RolePolicy", "prod-access-key-admin-permissions"))
    )
    managed = {arn.rsplit("/", 1)[-1] for arn in permissions["ManageEnvironmentKeys"]["Resource"]}
    assert managed == names(result, KEY) - {"platform-backup"}
    auditor = statements(
        policy(one(result, "aws:iam/rolePolicy:RolePolicy", "prod-access-key-auditor-permissions"))
    )
    assert {a.rsplit("/", 1)[-1] for a in auditor["ReadKeyMetadata"]["Resource"]} == names(
        result, KEY
    )


def test_without_hsm_no_cluster_and_no_hsm_config_needed() -> None:
    result = rendered("dev", ())
    assert [r for r in result.resources if "cloudhsm" in r.type or "customKeyStore" in r.type] == []


# --- the CloudHSM stages --------------------------------------------------------------------------


def test_before_initialisation_only_the_cluster_and_its_hsms_exist() -> None:
    result = rendered("prod", (("keyplane:cloudhsmKmsuserPassword", "pw-1234567"),))
    assert names(result, "aws:cloudhsmv2/cluster:Cluster") == {"prod-hsm-cluster"}
    assert len(of_type(result, "aws:cloudhsmv2/hsm:Hsm")) == 2
    assert of_type(result, "aws:kms/customKeyStore:CustomKeyStore") == []
    assert "platform-backup" not in names(result, KEY)
    assert "acme-orders-db" in names(result, KEY)


def test_before_the_key_store_is_connected_hsm_keys_wait() -> None:
    config = dict(HSM_READY)
    del config["keyplane:cloudhsmKeyStoreConnected"]
    result = rendered("prod", tuple(config.items()))
    assert names(result, "aws:kms/customKeyStore:CustomKeyStore") == {"prod-hsm-key-store"}
    assert "platform-backup" not in names(result, KEY)


def rejected(env_name: str, config: Mapping[str, str]) -> str:
    env = bundled()[env_name]
    with pytest.raises(ComponentInputError) as raised:
        run(lambda: AwsEnvironment(env_name, env), stack=env_name, config=config)
    return str(raised.value)


def test_hsm_without_the_kmsuser_password_fails_with_one_line() -> None:
    assert rejected("prod", {}) == (
        "stack config keyplane:cloudhsmKmsuserPassword: missing secret (environment prod has "
        "hsm.enabled: true); set it with: pulumi config set --secret "
        "keyplane:cloudhsmKmsuserPassword <password of the kmsuser crypto user>"
    )


def test_a_connected_key_store_needs_its_certificate() -> None:
    config = {**HSM_READY}
    del config["keyplane:cloudhsmTrustAnchorCertificate"]
    assert rejected("prod", config) == (
        "stack config keyplane:cloudhsmKeyStoreConnected: true, but "
        "keyplane:cloudhsmTrustAnchorCertificate is not set, so there is no key store to be "
        "connected; set the certificate or remove the flag"
    )


def test_the_stack_must_point_at_the_environments_region() -> None:
    assert rejected("dev", {"aws:region": "us-east-1"}) == (
        "stack config aws:region: 'us-east-1', but environment dev is in eu-west-1; set "
        "aws:region to eu-west-1"
    )


def test_the_stack_must_allow_the_environments_account() -> None:
    assert rejected("dev", {"aws:allowedAccountIds": '["111111111111"]'}) == (
        "stack config aws:allowedAccountIds: 111111111111, but environment dev is in account "
        "333333333333; allow that account only"
    )


def test_an_environment_on_another_cloud_is_refused() -> None:
    gcp = bundled()["prod-gcp"]
    with pytest.raises(ComponentInputError) as raised:
        run(lambda: AwsEnvironment("prod-gcp", gcp), stack="prod-gcp")
    assert str(raised.value) == (
        "Invalid \"env\" argument: environment 'prod-gcp' is on gcp, not aws; use "
        "keyplane.components.environment.deploy_environment"
    )


# --- the cloud-neutral front --------------------------------------------------------------------


def test_the_front_deploys_aws_environments_with_the_aws_component() -> None:
    components: list[pulumi.ComponentResource] = []
    env = bundled()["dev"]
    run(lambda: components.append(deploy_environment(env)), stack="dev")
    assert [type(c) for c in components] == [AwsEnvironment]
    assert set(stack_outputs(components[0])) == {
        "key_arns",
        "key_alias_names",
        "secret_arns",
        "key_admin_role_arn",
        "auditor_role_arn",
        "trail_arn",
        "audit_bucket_name",
        "log_key_arn",
    }


@pytest.mark.parametrize(
    ("env_name", "module", "class_name"),
    [
        ("prod-gcp", "keyplane.components.gcp", "GcpEnvironment"),
        ("prod-azure", "keyplane.components.azure", "AzureEnvironment"),
    ],
)
def test_the_front_imports_other_clouds_only_when_needed(
    env_name: str, module: str, class_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []

    class Fake(pulumi.ComponentResource):
        def __init__(
            self, name: str, env: object, opts: pulumi.ResourceOptions | None = None
        ) -> None:
            super().__init__(f"test:{module}:Environment", name, None, opts)
            calls.append((name, getattr(env, "name", "")))
            self.register_outputs({})

    fake = types.ModuleType(module)
    setattr(fake, class_name, Fake)
    monkeypatch.setitem(sys.modules, module, fake)
    env = bundled()[env_name]
    run(lambda: deploy_environment(env), stack=env_name)
    assert calls == [(env_name, env_name)]


def test_a_failure_half_way_does_not_leave_the_engine_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import threading

    import keyplane.components.aws.environment as module

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the audit sink failed")

    monkeypatch.setattr(module, "AuditLogSink", failing)
    env = bundled()["dev"]
    errors: list[BaseException] = []

    def render_it() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            run(lambda: AwsEnvironment("dev", env))
        except BaseException as err:
            errors.append(err)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    thread = threading.Thread(target=render_it, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the render hangs: a deferred output was never resolved"
    assert [str(e) for e in errors] == ["the audit sink failed"]
