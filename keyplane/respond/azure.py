"""`keyplane respond ENV --key NAME --apply` on Azure: the runbook of Policy §10 for a Key Vault
key, through Azure's clients (the plan is `keyplane.respond.plan`).

Before any change: the token's tenant and the subscription are the environment's (the audit's
`verify_identity`), and the key is found in a vault of the environment's resource group
(RespondError, exit 2, nothing changed). Then each step runs, and a refused (403) or failed step
is recorded while the rest go on (exit 1):

- retire-grants: the role assignments scoped to the key whose principal is neither a key
  administrator, an auditor nor one of the key's declared users are deleted (a vault authorising by legacy access policies is left
  to the responder: MANUAL);
- revoke-users: an encryption key's declared users lose their role assignments on the key (the
  data stays decryptable by the administrators); a signing key's compromised version is disabled
  at once;
- new-key: the key is rotated (Key Vault's `rotate`: a new current version, same type and
  policy), and the new version is tagged with the incident and the version it replaces, so that
  a second run finds the work done;
- publish-public-key (signing keys): the new version's public key, as PEM, into the record;
- retain-old-key: the old version is disabled, retained (Proc 4.4 step 3);
- investigate: the vault's `AuditEvent` logs are in Log Analytics: the query to run is recorded
  (MANUAL; the command does not read Log Analytics).

Idempotent: a second run on the same day (the same incident ID) finds every change made and
says so. `--secret` on Azure is not automated (a new value cannot be made for the application):
the CLI says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from keyplane.config.model import Environment
from keyplane.engines.audit.azure import (
    AzureReader,
    CallFault,
    default_credential,
    management_clients,
    rest_form,
    verify_identity,
)
from keyplane.engines.audit.judge import AuditError
from keyplane.engines.audit.transport import (
    DEFAULT_TIMEOUT_SECONDS,
    Deadline,
    check_endpoint_url,
)
from keyplane.respond.incident import (
    TAG_INCIDENT,
    TAG_REPLACES,
    Incident,
    RespondError,
    Status,
    StepHandler,
    StepSkipped,
    incident_id,
    run_steps,
)
from keyplane.respond.plan import Revocation, Target, manual_steps, plan_for, revocation

__all__ = ["respond_azure"]


def _failure(step: str, err: Exception) -> str | None:
    """A step's failure detail (`run_steps`): refused or failed, and the error code."""
    from azure.core.exceptions import AzureError  # noqa: PLC0415

    if isinstance(err, AzureError):
        kind = "refused" if _status(err) in (401, 403) else "failed"
        return f"{step} {kind}: {_code(err)}"
    if isinstance(err, CallFault):
        return err.reason
    return None


def _status(err: Exception) -> int:
    status = getattr(err, "status_code", None)
    return status if isinstance(status, int) else 0


def _code(err: Exception) -> str:
    error = getattr(err, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else f"HTTP {_status(err)}"


def _version(kid: str) -> str:
    return kid.rstrip("/").rsplit("/", 1)[-1]


class _AzureResponse:
    def __init__(
        self,
        credential: Any,
        target: Target,
        *,
        reason: str,
        days: int,
        endpoint_url: str | None,
        reader: AzureReader,
        now: datetime,
    ) -> None:
        env = target.environment
        assert env.azure is not None
        self.env: Environment = env
        self.target = target
        self.days = days
        self.reader = reader
        self.credential = credential
        self.endpoint_url = endpoint_url
        self.clients = management_clients(credential, env.azure.subscription_id, endpoint_url)
        self.group = env.azure.resource_group
        self.incident = Incident(
            id=incident_id(env.name, target.name, now),
            environment=env.name,
            cloud=env.cloud.value,
            kind=target.kind,
            name=target.name,
            reason=reason,
            started_at=now,
            caller="",
            account=env.azure.subscription_id,
            region=env.azure.location,
            manual=manual_steps(target),
        )
        self.vault: dict[str, Any] = {}
        self.key_id = ""  # the key's ARM ID (role assignment scope)
        self.keys: Any = None  # the data-plane KeyClient
        self.old_version = ""
        self.new_version: str | None = None

    def call(self, operation: str, call: Callable[[], Any]) -> Any:
        return self.reader.retrying(call, operation)

    # --- before any change -----------------------------------------------------------------

    def locate(self) -> None:
        """The vault holding the key, and its current version (old, or new when an earlier run
        of this incident rotated it already). RespondError when it is not there."""
        from azure.core.exceptions import AzureError  # noqa: PLC0415
        from azure.keyvault.keys import KeyClient  # noqa: PLC0415

        kv = self.clients.keyvault
        name = self.target.name
        try:
            vaults = self.call(
                "Vaults - List By Resource Group",
                lambda: [rest_form(v) for v in kv.vaults.list_by_resource_group(self.group)],
            )
            for vault in vaults:
                try:
                    key = rest_form(
                        self.call(
                            "Keys - Get", partial(kv.keys.get, self.group, vault["name"], name)
                        )
                    )
                except AzureError as err:
                    if _status(err) == 404:
                        continue
                    raise
                self.vault, self.key_id = vault, str(key.get("id"))
                break
            else:
                raise RespondError(
                    f"no vault of resource group {self.group} holds key {name}; deploy the key, "
                    "or check the environment and --endpoint-url"
                )
            uri = str((self.vault.get("properties") or {}).get("vaultUri") or "")
            self.keys = KeyClient(
                uri,
                self.credential,
                verify_challenge_resource=self.endpoint_url is None,
                retry_total=0,
            )
            current = self.call("Get Key", lambda: self.keys.get_key(name))
            version = str(current.properties.version)
            tags = current.properties.tags or {}
            if tags.get(TAG_INCIDENT) == self.incident.id and tags.get(TAG_REPLACES):
                self.new_version, self.old_version = version, str(tags[TAG_REPLACES])
            else:
                self.old_version = version
        except AzureError as err:
            raise RespondError(
                f"Azure refused to read key {name} ({_code(err)}); nothing was changed"
            ) from None
        except CallFault as fault:
            raise RespondError(
                f"cannot read key {name} from Azure ({fault.reason}); nothing was changed"
            ) from None
        self.incident.old_key = f"{self.key_id}/versions/{self.old_version}"
        if self.new_version is not None:
            self.incident.new_key = f"{self.key_id}/versions/{self.new_version}"

    # --- the steps -------------------------------------------------------------------------

    def run(self) -> Incident:
        handlers: Mapping[str, StepHandler] = {
            "retire-grants": self.retire_grants,
            "revoke-users": self.revoke_users,
            "new-key": self.new_key,
            "publish-public-key": self.publish_public_key,
            "retain-old-key": self.retain_old_key,
            "investigate": self.investigate,
        }
        run_steps(self.incident, plan_for(self.target, days=self.days), handlers, _failure)
        return self.incident

    def _assignments_on_key(self) -> list[dict[str, Any]]:
        authorization = self.clients.authorization
        found = self.call(
            "Role Assignments - List For Scope",
            lambda: [
                rest_form(a) for a in authorization.role_assignments.list_for_scope(self.key_id)
            ],
        )
        return [
            a
            for a in found
            if str((a.get("properties") or {}).get("scope") or "").lower() == self.key_id.lower()
        ]

    def _delete(self, assignments: list[dict[str, Any]]) -> list[str]:
        authorization = self.clients.authorization
        principals = []
        for assignment in assignments:
            arm_id = str(assignment["id"])
            self.call(
                "Role Assignments - Delete By Id",
                partial(authorization.role_assignments.delete_by_id, arm_id),
            )
            principals.append(str(assignment["properties"].get("principalId")))
        return sorted(set(principals))

    def retire_grants(self) -> tuple[Status, str]:
        if (self.vault.get("properties") or {}).get("enableRbacAuthorization") is not True:
            return Status.MANUAL, (
                f"vault {self.vault.get('name')} authorises by access policies: remove the "
                "entries of every principal but the administrators and auditors by hand"
            )
        # The key's declared users are the next step's: kept on a signing key (its compromised
        # version is disabled instead), removed from an encryption key.
        users = self.env.resolve(self.target.key).users if self.target.key else ()
        keep = {p.lower() for p in (*self.env.access.key_admins, *self.env.access.auditors, *users)}
        others = [
            a
            for a in self._assignments_on_key()
            if str(a["properties"].get("principalId") or "").lower() not in keep
        ]
        if not others:
            return (
                Status.ALREADY_DONE,
                f"no role assignment on {self.target.name} but the administrators' and auditors'",
            )
        removed = self._delete(others)
        return Status.DONE, (
            f"deleted {len(others)} role assignment(s) on key {self.target.name} "
            f"(principals: {', '.join(removed)})"
        )

    def revoke_users(self) -> tuple[Status, str]:
        assert self.target.key is not None
        if revocation(self.env, self.target.key) is Revocation.DISABLE:
            return self._disable(self.old_version, why="signing must stop now")
        users = {u.lower() for u in self.env.resolve(self.target.key).users}
        theirs = [
            a
            for a in self._assignments_on_key()
            if str(a["properties"].get("principalId") or "").lower() in users
        ]
        if not theirs:
            return Status.ALREADY_DONE, f"no role assignment of its users on {self.target.name}"
        removed = self._delete(theirs)
        return Status.DONE, (
            f"deleted the role assignments of {', '.join(removed)} on key {self.target.name} "
            "(the administrators keep it until the rotation disables the old version)"
        )

    def new_key(self) -> tuple[Status, str]:
        name = self.target.name
        if self.new_version is not None:
            return (
                Status.ALREADY_DONE,
                f"version {self.new_version} of {name} replaced {self.old_version}",
            )
        rotated = self.call("Rotate Key", lambda: self.keys.rotate_key(name))
        version = str(rotated.properties.version)
        tags = {
            **(rotated.properties.tags or {}),
            TAG_INCIDENT: self.incident.id,
            TAG_REPLACES: self.old_version,
        }
        self.call(
            "Update Key Properties",
            lambda: self.keys.update_key_properties(name, version, tags=tags),
        )
        self.new_version = version
        self.incident.new_key = f"{self.key_id}/versions/{version}"
        return Status.DONE, f"rotated {name}: version {version} replaces {self.old_version}"

    def publish_public_key(self) -> tuple[Status, str]:
        if self.new_version is None:
            raise StepSkipped("no new version (new-key did not succeed)")
        key = self.call("Get Key", lambda: self.keys.get_key(self.target.name, self.new_version))
        self.incident.public_key_pem = _pem(key.key)
        return Status.DONE, f"public key of version {self.new_version} written to the record"

    def retain_old_key(self) -> tuple[Status, str]:
        if self.new_version is None:
            raise StepSkipped("no new version (new-key did not succeed): the old one stays enabled")
        return self._disable(self.old_version, why="replaced, retained (Proc 4.4 step 3)")

    def _disable(self, version: str, *, why: str) -> tuple[Status, str]:
        name = self.target.name
        current = self.call("Get Key", lambda: self.keys.get_key(name, version))
        if current.properties.enabled is False:
            return Status.ALREADY_DONE, f"version {version} of {name} is disabled"
        self.call(
            "Update Key Properties",
            lambda: self.keys.update_key_properties(name, version, enabled=False),
        )
        return Status.DONE, f"disabled version {version} of {name} ({why})"

    def investigate(self) -> tuple[Status, str]:
        return Status.MANUAL, (
            f"run in the Log Analytics workspace of vault {self.vault.get('name')}'s diagnostic "
            'setting: AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" and '
            f'Category == "AuditEvent" and id_s contains "/keys/{self.target.name}" | where '
            f"TimeGenerated > ago({self.days}d) | summarize count() by identity_claim_oid_g, "
            "OperationName, ResultType | order by ResultType desc"
        )


def _pem(jwk: Any) -> str:
    """A JSON Web Key's public part as PEM (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: PLC0415

    def number(value: bytes) -> int:
        return int.from_bytes(value, "big")

    public: Any
    if str(getattr(jwk.kty, "value", jwk.kty)).startswith("EC"):
        curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        curve = curves[str(getattr(jwk.crv, "value", jwk.crv))]
        public = ec.EllipticCurvePublicNumbers(number(jwk.x), number(jwk.y), curve).public_key()
    else:
        public = rsa.RSAPublicNumbers(number(jwk.e), number(jwk.n)).public_key()
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def respond_azure(
    target: Target,
    *,
    reason: str,
    days: int,
    endpoint_url: str | None = None,
    credential: Any = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    now: datetime | None = None,
) -> tuple[Incident, Callable[[], Incident]]:
    """Check the caller's tenant and subscription and find the key (RespondError, nothing
    changed, when either fails); returns the incident so far and the function that carries the
    steps out (see `keyplane.respond.aws.respond_aws`, whose contract this follows)."""
    env = target.environment
    assert env.azure is not None
    assert target.key is not None
    check_endpoint_url(endpoint_url)
    reader = AzureReader(deadline=Deadline(timeout_seconds))
    credential = credential if credential is not None else default_credential()
    response = _AzureResponse(
        credential,
        target,
        reason=reason,
        days=days,
        endpoint_url=endpoint_url,
        reader=reader,
        now=now or datetime.now(UTC),
    )
    try:
        identity = verify_identity(credential, response.clients, env, reader, endpoint_url)
    except AuditError as err:
        raise RespondError(str(err)) from None
    response.incident.caller = identity.text()
    response.locate()
    return response.incident, response.run
