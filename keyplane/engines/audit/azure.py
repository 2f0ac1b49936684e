"""The live audit's Azure collection: Azure's official clients, paging, retries, and a record of
what was read.

The token's tenant and the subscription must be the environment's (`verify_identity`, first).
`AzureCollector` then reads the environment's resource group with read-only calls, on the
management plane (which answers even when a vault's public network access is disabled): Key
Vaults and Managed HSMs (SKU, purge protection, soft-delete retention, RBAC or legacy access
policies, public network access), their keys (type, size or curve, operations, attributes,
rotation policy) and secrets (attributes and content type; never values: the management plane does
not return them), the role assignments at every scope reaching a vault (subscription, resource
group, vault, key) with the custom role definitions they use, each vault's diagnostic settings,
the log storage account and its audit container's immutability policy (state and lock), and the
subscription's activity log alerts and log search alerts; on the data plane, each vault's
certificate policies. `keyplane.adapters.azure_api` maps every answer to the azure-native inputs
of the same resource and builds facts with the Pulumi adapter, so the rules judge as at preview.

Transport (`AzureReader`): the whole collection runs under one deadline (`Deadline`, shared with
the AWS audit); azure-core's own retries are off (`retry_total=0`) and keyplane retries throttling
(429, honouring `Retry-After`), 5xx answers, dropped or timed-out connections and answers that are
not the API's JSON, with jittered exponential backoff, never past the deadline. A 403 is a refused
permission: UNKNOWN plus an advisory `Unverifiable` naming the Azure operation to grant; a read
that keeps failing is a fault whose findings keep their rule's enforcement. Pages (`nextLink`) are
followed by the clients' pagers. The Azure libraries are imported only here, when an Azure
environment is audited.

Credentials: azure-identity's default chain (`DefaultAzureCredential`: environment variables,
workload identity, managed identity, Azure CLI, ...). No rule is named here.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from keyplane.adapters.azure_api import (
    AUDIT_LOG_CONTAINER,
    CERTIFICATE_TYPE,
    KEY_TYPE,
    MANAGED_HSM_TYPE,
    SECRET_TYPE,
    VAULT_TYPE,
    activity_alert_resource,
    arm_facts,
    certificate_facts,
    diagnostic_resource,
    immutability_resource,
    key_resource,
    managed_hsm_resource,
    query_alert_resource,
    role_assignment_resource,
    role_definition_resource,
    secret_resource,
    storage_account_resource,
    timestamp,
    vault_resource,
)
from keyplane.config import Environment, Estate
from keyplane.engines.audit.evidence import Evidence, Lifecycle
from keyplane.engines.audit.judge import (
    AuditError,
    AuditResult,
    Collected,
    Declared,
    KeySeen,
    Retired,
    Subject,
    Unverifiable,
    inventory_of,
    judge_collected,
    lifecycle_of,
)
from keyplane.engines.audit.transport import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_WORKERS,
    READ_TIMEOUT_SECONDS,
    AuditReader,
    CallFault,
    Deadline,
    check_endpoint_url,
    retry_after_seconds,
    short,
)
from keyplane.facts.access import AZURE_ROLES, azure_role_id
from keyplane.facts.model import Key, Secret
from keyplane.facts.values import UNKNOWN, Unknown
from keyplane.rules.context import Context
from keyplane.standard import Cloud

__all__ = [
    "ARM_ENDPOINT",
    "AUDIT_LOG_CONTAINER",
    "PERMISSIONS",
    "ROLES",
    "AzureCollector",
    "AzureReader",
    "CallFault",
    "Identity",
    "declared_resources",
    "default_credential",
    "management_clients",
    "run_azure_audit",
    "verify_identity",
]

#: Azure Resource Manager (public cloud); `--endpoint-url` replaces it (a local server).
ARM_ENDPOINT = "https://management.azure.com"
#: The token scope of Resource Manager (the public cloud's).
ARM_SCOPE = "https://management.azure.com/.default"
#: Subscriptions - Get (https://learn.microsoft.com/rest/api/resources/subscriptions/get).
SUBSCRIPTION_API_VERSION = "2022-12-01"
#: Azure Monitor's REST API versions the audit reads with: diagnostic settings, activity log
#: alerts, and log search alerts with `criteria.allOf[].query` (as azure-native 3.x writes them).
#: Read as JSON through Resource Manager's pipeline (`arm_list`): azure-mgmt-monitor 7 dropped
#: diagnostic settings, and 6's models fail to compile where warnings are errors.
DIAGNOSTIC_SETTINGS_API_VERSION = "2021-05-01-preview"
ACTIVITY_LOG_ALERTS_API_VERSION = "2020-10-01"
QUERY_RULES_API_VERSION = "2022-08-01-preview"

#: Azure's activity log keeps 90 days (the lifecycle period the evidence names).
ACTIVITY_LOG_DAYS = 90
#: The built-in roles that give the auditor every read (README "Live audit (Azure)").
ROLES = ("Reader", "Key Vault Reader", "Monitoring Reader")
#: The Azure operations the audit reads with (what the roles above grant).
PERMISSIONS = (
    "Microsoft.Resources/subscriptions/read",
    "Microsoft.KeyVault/vaults/read",
    "Microsoft.KeyVault/managedHSMs/read",
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/secrets/read",
    "Microsoft.KeyVault/vaults/certificates/read",
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.Authorization/roleDefinitions/read",
    "Microsoft.Insights/diagnosticSettings/read",
    "Microsoft.Storage/storageAccounts/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/read",
    "Microsoft.Insights/activityLogAlerts/read",
    "Microsoft.Insights/scheduledQueryRules/read",
)

#: What a live audit cannot see, said once in the evidence.
NOT_VISIBLE = (
    "Pulumi's protect option lives in the stack state, not in Azure: KM-DEL-001 reports it as "
    "not verifiable (resources[].protect is not evidence)",
    "the key lifecycle events (Azure's activity log) are not read by the Azure audit yet",
    "certificates are read on the data plane: a vault whose public network access is disabled "
    "answers only from its private network",
)

_AUTHENTICATE = (
    "authenticate with `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
    "AZURE_CLIENT_SECRET (a service principal), or run where a managed identity is assigned"
)


def default_credential() -> Any:
    """azure-identity's default credential chain (`DefaultAzureCredential`)."""
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415

    # The chain logs each credential it could not use as a warning on stderr; the audit says
    # why it cannot sign in once, on one line (exit 2).
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    return DefaultAzureCredential()


# --- transport -----------------------------------------------------------------------------------


class BadAnswer(Exception):
    """A successful answer that is not the API's JSON (or a list without its `value`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _status(err: Exception) -> int:
    status = getattr(err, "status_code", None)
    return status if isinstance(status, int) else 0


def _code(err: Exception) -> str:
    error = getattr(err, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else f"HTTP {_status(err)}"


def _retry_after(err: Exception) -> float | None:
    """Seconds the service asked to wait (`retry-after-ms`, `x-ms-retry-after-ms` or
    `Retry-After`), None when it asked nothing."""
    response = getattr(err, "response", None)
    return retry_after_seconds(
        getattr(response, "headers", None), ("retry-after-ms", "x-ms-retry-after-ms")
    )


def _transient(err: Exception, operation: str) -> tuple[str, float | None] | None:
    """Whether a failed Azure call is worth asking again (429 after its `Retry-After`, 5xx, a
    dropped or timed-out connection, an answer that is not the API's JSON), what failed and
    the wait asked; None for a final refusal (403, 404, other 4xx: raised again)."""
    from azure.core.exceptions import (  # noqa: PLC0415
        AzureError,
        DecodeError,
        DeserializationError,
        HttpResponseError,
    )

    if isinstance(err, BadAnswer):
        return f"{operation}: {err.reason}", None
    if isinstance(err, DecodeError | DeserializationError):
        return f"{operation}: the answer is not the API's JSON ({short(err)})", None
    if isinstance(err, HttpResponseError):
        status = _status(err)
        if status != 429 and status < 500:
            return None
        return f"{operation}: {_code(err)}", _retry_after(err)
    if isinstance(err, AzureError | ValueError | TypeError | KeyError | AttributeError):
        # Connection errors and timeouts; the clients' deserializers raise plain errors on
        # bodies that do not fit.
        return f"{operation}: {type(err).__name__}: {short(err)}", None
    return None


class AzureReader(AuditReader):
    """Calls with retries under the audit's deadline; what cannot be read becomes UNKNOWN plus
    an `Unverifiable` record of why (a refused permission, or a fault naming the call)."""

    transient = staticmethod(_transient)

    def read(
        self,
        call: Callable[[], Any],
        *,
        operation: str,
        subject: Subject,
        what: str,
        permission: str,
    ) -> Any:
        """The answer; None when Azure says the thing does not exist (404); UNKNOWN, recorded,
        when it could not be read."""
        from azure.core.exceptions import HttpResponseError  # noqa: PLC0415

        try:
            return self.retrying(call, operation)
        except HttpResponseError as err:
            status = _status(err)
            if status == 404:
                return None
            if status == 403:
                self.record(Unverifiable(subject, what, permission, _code(err)))
            else:
                reason = f"{operation}: {_code(err)}"
                self.record(Unverifiable(subject, what, permission, reason, fault=True))
        except CallFault as fault:
            self.record(Unverifiable(subject, what, permission, fault.reason, fault=True))
        return UNKNOWN

    def items(
        self,
        pager: Callable[[], Iterable[Any]],
        *,
        operation: str,
        subject: Subject,
        what: str,
        permission: str,
    ) -> list[dict[str, Any]] | Unknown:
        """Every item of a paged list (its `nextLink`s followed), in REST form; restarted from
        the first page when a page is throttled; None-free. UNKNOWN when unreadable."""
        answer = self.read(
            lambda: [rest_form(item) for item in pager()],
            operation=operation,
            subject=subject,
            what=what,
            permission=permission,
        )
        if answer is None:
            return []
        return answer if isinstance(answer, Unknown) else list(answer)

    def record(self, item: Unverifiable) -> None:
        with self._lock:
            self.unverifiable.append(item)


def rest_form(model: Any) -> dict[str, Any]:
    """A client model as the REST API's JSON (camelCase names, `properties` nested)."""
    if isinstance(model, Mapping):
        return dict(model)
    if hasattr(model, "as_dict") and not hasattr(model, "serialize"):
        return dict(model.as_dict())
    if hasattr(model, "serialize"):
        return dict(model.serialize(keep_readonly=True))
    raise TypeError(f"not a client model: {type(model).__name__}")


def _check_answer(response: Any) -> None:
    """azure-core's `raw_response_hook`: a successful answer must be JSON (or empty)."""
    http = response.http_response
    if not 200 <= int(http.status_code) < 300:
        return
    body = http.body() or b""
    if not body.strip():
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        content_type = http.headers.get("Content-Type", "unknown")
        raise BadAnswer(
            f"HTTP {http.status_code} answer of type {content_type}, not the API's JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise BadAnswer(f"HTTP {http.status_code} answer is not a JSON object")
    if http.request.method == "GET" and _is_list(http.request.url) and "value" not in parsed:
        raise BadAnswer("the list answer has no 'value'")


def _is_list(url: str) -> bool:
    """Whether a GET URL lists a collection (its path ends in a collection name)."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].lower()
    return last in _COLLECTIONS


_COLLECTIONS = frozenset(
    {
        "vaults",
        "managedhsms",
        "keys",
        "secrets",
        "roleassignments",
        "diagnosticsettings",
        "activitylogalerts",
        "scheduledqueryrules",
        "certificates",
        "versions",
    }
)


@dataclass(frozen=True)
class Clients:
    """The management-plane clients of one subscription (thread-safe)."""

    keyvault: Any
    authorization: Any
    storage: Any


def arm_list(client: Any, path: str, api_version: str) -> list[dict[str, Any]]:
    """Every item of a Resource Manager list at `path` (`value`), its `nextLink`s followed,
    through `client`'s pipeline (credentials, timeouts, answer checks)."""
    from azure.core.rest import HttpRequest  # noqa: PLC0415

    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?api-version={api_version}"
    while url:
        response = client.send_request(HttpRequest("GET", url))
        response.raise_for_status()
        page = response.json()
        if not isinstance(page, dict) or not isinstance(page.get("value"), list):
            raise BadAnswer("the list answer has no 'value' list")
        items.extend(v for v in page["value"] if isinstance(v, dict))
        next_link = page.get("nextLink")
        url = next_link if isinstance(next_link, str) and next_link else None
    return items


def _transport_options(call_timeout_seconds: float | None) -> dict[str, Any]:
    return {
        "retry_total": 0,  # AzureReader retries, under the deadline
        "connection_timeout": call_timeout_seconds or CONNECT_TIMEOUT_SECONDS,
        "read_timeout": call_timeout_seconds or READ_TIMEOUT_SECONDS,
        "raw_response_hook": _check_answer,
    }


def management_clients(
    credential: Any,
    subscription: str,
    endpoint_url: str | None,
    call_timeout_seconds: float | None = None,
) -> Clients:
    """The audit's management clients: `endpoint_url` in place of Resource Manager, azure-core's
    retries off, per-call timeouts (`call_timeout_seconds` or the defaults), answers checked."""
    from azure.mgmt.authorization import AuthorizationManagementClient  # noqa: PLC0415
    from azure.mgmt.keyvault import KeyVaultManagementClient  # noqa: PLC0415
    from azure.mgmt.storage import StorageManagementClient  # noqa: PLC0415

    base = endpoint_url or ARM_ENDPOINT
    options = {
        **_transport_options(call_timeout_seconds),
        "credential_scopes": [ARM_SCOPE],
    }
    return Clients(
        keyvault=KeyVaultManagementClient(credential, subscription, base_url=base, **options),
        authorization=AuthorizationManagementClient(
            credential, subscription, base_url=base, **options
        ),
        storage=StorageManagementClient(credential, subscription, base_url=base, **options),
    )


# --- identity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who the token speaks for: `tenant` (`tid`), `object_id` (`oid`) and a readable `name`."""

    tenant: str | None
    object_id: str | None
    name: str

    def text(self) -> str:
        who = self.name if not self.object_id else f"{self.name} (object {self.object_id})"
        return f"{who} in tenant {self.tenant or 'unknown'}"


def token_identity(token: str) -> Identity:
    """The claims of an access token (a JWT, read without verifying its signature: Azure
    verifies it; keyplane only compares the tenant)."""
    import jwt  # noqa: PLC0415

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return Identity(None, None, "an unreadable token")
    name = next(
        (str(claims[c]) for c in ("upn", "unique_name", "app_displayname", "appid") if c in claims),
        "an unnamed principal",
    )
    tid, oid = claims.get("tid"), claims.get("oid")
    return Identity(str(tid) if tid else None, str(oid) if oid else None, name)


def verify_identity(
    credential: Any,
    clients: Clients,
    env: Environment,
    reader: AzureReader,
    endpoint_url: str | None = None,
) -> Identity:
    """The token's identity once its tenant is `env`'s and `env`'s subscription answers as one of
    that tenant (Subscriptions - Get). Raises AuditError (exit 2) otherwise, or when there is no
    credential, or Azure cannot be reached."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError  # noqa: PLC0415
    from azure.core.rest import HttpRequest  # noqa: PLC0415

    assert env.azure is not None
    tenant, subscription = env.azure.tenant_id, env.azure.subscription_id
    try:
        token = credential.get_token(ARM_SCOPE)
    except ClientAuthenticationError as err:
        first = (str(err).strip().splitlines() or ["no credential"])[0]
        raise AuditError(
            f"no Azure credential could sign in ({short(Exception(first))}); {_AUTHENTICATE}"
        ) from None
    identity = token_identity(str(token.token))
    if identity.tenant is not None and identity.tenant.lower() != tenant.lower():
        raise AuditError(
            f"the credentials are of tenant {identity.tenant} ({identity.name}), not "
            f"{env.name}'s tenant {tenant}; sign in to tenant {tenant} "
            f"(az login --tenant {tenant})"
        )
    request = HttpRequest(
        "GET", f"/subscriptions/{subscription}?api-version={SUBSCRIPTION_API_VERSION}"
    )

    def get() -> Any:
        response = clients.keyvault.send_request(request)
        response.raise_for_status()
        return response.json()

    where = f" at {endpoint_url}" if endpoint_url else ""
    try:
        answer = reader.retrying(get, "Subscriptions - Get")
    except ClientAuthenticationError as err:
        raise AuditError(f"Azure refused the credentials ({short(err)}); {_AUTHENTICATE}") from None
    except HttpResponseError as err:
        if _status(err) in (403, 404):
            raise AuditError(
                f"subscription {subscription} of {env.name} is not visible to {identity.text()} "
                f"({_code(err)}); use credentials with the Reader role on it"
            ) from None
        raise AuditError(
            f"Azure{where} refused to read subscription {subscription}: {_code(err)}"
        ) from None
    except CallFault as fault:
        raise AuditError(
            f"cannot reach Azure{where} to verify the subscription ({fault.reason}); check the "
            "endpoint and the network, or raise --timeout"
        ) from None
    found_tenant = str((answer or {}).get("tenantId") or "")
    if found_tenant and found_tenant.lower() != tenant.lower():
        raise AuditError(
            f"subscription {subscription} belongs to tenant {found_tenant}, not {env.name}'s "
            f"tenant {tenant}; correct azure.tenant_id or azure.subscription_id"
        )
    return identity


# --- collection ----------------------------------------------------------------------------------


class AzureCollector:
    """Reads one environment's resource group and subscription (see the module's docstring)."""

    def __init__(
        self,
        credential: Any,
        clients: Clients,
        env: Environment,
        *,
        reader: AzureReader,
        endpoint_url: str | None = None,
        max_workers: int = MAX_WORKERS,
        call_timeout_seconds: float | None = None,
    ) -> None:
        assert env.azure is not None
        self.credential = credential
        self.clients = clients
        self.env = env
        self.subscription = env.azure.subscription_id
        self.group = env.azure.resource_group
        self.reader = reader
        self.endpoint_url = endpoint_url
        self.max_workers = max_workers
        self.call_timeout_seconds = call_timeout_seconds
        self.group_id = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
        self.subject = Subject(self.group_id, f"{env.name} ({self.group})", "azure:resourceGroup")
        self.subscription_subject = Subject(
            f"/subscriptions/{self.subscription}",
            f"subscription {self.subscription}",
            "azure:subscription",
        )

    def collect(self) -> Collected:
        out = Collected(account=self.subject, cloud="Azure")
        kv = self.clients.keyvault
        vaults = self.reader.items(
            lambda: kv.vaults.list_by_resource_group(self.group),
            operation="Vaults - List By Resource Group",
            subject=self.subject,
            what="the resource group's Key Vaults",
            permission="Microsoft.KeyVault/vaults/read",
        )
        hsms = self.reader.items(
            lambda: kv.managed_hsms.list_by_resource_group(self.group),
            operation="Managed HSMs - List By Resource Group",
            subject=self.subject,
            what="the resource group's Managed HSMs",
            permission="Microsoft.KeyVault/managedHSMs/read",
        )
        containers: list[tuple[dict[str, Any], bool]] = []
        for arm in [] if isinstance(vaults, Unknown) else vaults:
            out.add(*arm_facts(vault_resource(arm)))
            containers.append((arm, False))
        for arm in [] if isinstance(hsms, Unknown) else hsms:
            out.add(*arm_facts(managed_hsm_resource(arm)))
            containers.append((arm, True))
        if isinstance(vaults, Unknown) or isinstance(hsms, Unknown):
            out.keys_listed = False
        key_names: dict[str, str] = {}
        secret_names: dict[str, str] = {}
        listed = {
            "keys": not isinstance(vaults, Unknown),
            "secrets": not isinstance(vaults, Unknown),
        }
        assignments: dict[str, dict[str, Any]] = {}
        storage_ids: set[str] = set()
        lock = threading.Lock()

        def per_container(arm: dict[str, Any], hsm: bool) -> list[Callable[[], None]]:
            """Read one vault's contents; returns the per-key reads to run next."""
            keys, secrets = self._contents(arm, hsm, out)
            follow: list[Callable[[], None]] = []
            with lock:
                if isinstance(keys, Unknown):
                    listed["keys"] = False
                else:
                    for key in keys:
                        key_names.setdefault(str(key.get("name")), str(key.get("id")))
                        follow.append(partial(self._key, arm, hsm, key, out))
                if isinstance(secrets, Unknown):
                    listed["secrets"] = False
                else:
                    for secret in secrets:
                        secret_names.setdefault(str(secret.get("name")), str(secret.get("id")))
                        follow.append(partial(self._secret, secret, out))
            found = self._assignments(arm)
            with lock:
                for assignment in found:
                    assignments.setdefault(str(assignment.get("id")), assignment)
            storage = self._diagnostics(arm, out)
            with lock:
                storage_ids.update(storage)
            if not hsm:
                self._certificates(arm, out)
            return follow

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            alerts = pool.submit(self._alerts, out)
            follows = list(pool.map(lambda c: per_container(*c), containers))
            list(pool.map(lambda task: task(), [t for f in follows for t in f]))
            list(pool.map(lambda account: self._storage(account, out), sorted(storage_ids)))
            for assignment in assignments.values():
                out.add(*arm_facts(role_assignment_resource(assignment)))
            definitions = sorted(
                {
                    str(a.get("properties", {}).get("roleDefinitionId") or "")
                    for a in assignments.values()
                }
                - {""}
            )
            list(pool.map(lambda d: self._role_definition(d, out), definitions))
            alerts.result()
        out.key_names = key_names if listed["keys"] else UNKNOWN
        out.secret_names = secret_names if listed["secrets"] else UNKNOWN
        out.key_refs = {urn: urn for urn in key_names.values()}
        out.events = UNKNOWN
        return out

    def _container_subject(self, arm: Mapping[str, Any], hsm: bool) -> Subject:
        return Subject(
            str(arm.get("id")), str(arm.get("name")), MANAGED_HSM_TYPE if hsm else VAULT_TYPE
        )

    def _contents(
        self, arm: Mapping[str, Any], hsm: bool, out: Collected
    ) -> tuple[list[dict[str, Any]] | Unknown, list[dict[str, Any]] | Unknown]:
        kv = self.clients.keyvault
        name = str(arm.get("name"))
        subject = self._container_subject(arm, hsm)
        if hsm:
            keys = self.reader.items(
                lambda: kv.managed_hsm_keys.list(self.group, name),
                operation="Managed HSM Keys - List",
                subject=subject,
                what="the Managed HSM's keys",
                permission="Microsoft.KeyVault/vaults/keys/read",
            )
            return keys, []
        keys = self.reader.items(
            lambda: kv.keys.list(self.group, name),
            operation="Keys - List",
            subject=subject,
            what="the vault's keys",
            permission="Microsoft.KeyVault/vaults/keys/read",
        )
        secrets = self.reader.items(
            lambda: kv.secrets.list(self.group, name),
            operation="Secrets - List",
            subject=subject,
            what="the vault's secrets (attributes, never values)",
            permission="Microsoft.KeyVault/vaults/secrets/read",
        )
        return keys, secrets

    def _key(
        self, vault: Mapping[str, Any], hsm: bool, listed: dict[str, Any], out: Collected
    ) -> None:
        """One key, read again on its own: a list answer may omit the rotation policy."""
        kv = self.clients.keyvault
        name = str(listed.get("name"))
        subject = Subject(str(listed.get("id")), name, KEY_TYPE)
        operations = kv.managed_hsm_keys if hsm else kv.keys
        got = self.reader.read(
            lambda: rest_form(operations.get(self.group, str(vault.get("name")), name)),
            operation="Keys - Get",
            subject=subject,
            what="the key's type, size, attributes and rotation policy",
            permission="Microsoft.KeyVault/vaults/keys/read",
        )
        if got is None or isinstance(got, Unknown):
            return
        attributes = got.get("properties", {}).get("attributes") or {}
        enabled = attributes.get("enabled", True) is not False
        with out.lock:
            out.keys_seen.append(KeySeen(subject, "Enabled" if enabled else "Disabled"))
        if not enabled:
            return  # deactivated, retained (Proc 4.4 step 3): evidence, not judged
        facts = arm_facts(key_resource(got))
        out.add(*facts)
        created = timestamp(attributes.get("created"))
        with out.lock:
            for fact in facts:
                if isinstance(fact, Key) and fact.rotation_enabled is True:
                    out.material_changes.append((fact, created))

    def _secret(self, listed: dict[str, Any], out: Collected) -> None:
        facts = arm_facts(secret_resource(listed))
        out.add(*facts)
        updated = timestamp((listed.get("properties", {}).get("attributes") or {}).get("updated"))
        with out.lock:
            for fact in facts:
                if isinstance(fact, Secret):
                    out.secret_rotations.append((fact, updated))

    def _assignments(self, arm: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Role assignments at every scope reaching the vault: the subscription, the resource
        group, the vault and its keys and secrets (Role Assignments - List For Scope)."""
        scope = str(arm.get("id"))
        found = self.reader.items(
            lambda: self.clients.authorization.role_assignments.list_for_scope(scope),
            operation="Role Assignments - List For Scope",
            subject=self._container_subject(arm, "managedHSMs" in scope),
            what="the role assignments reaching the vault",
            permission="Microsoft.Authorization/roleAssignments/read",
        )
        return [] if isinstance(found, Unknown) else found

    def _role_definition(self, definition_id: str, out: Collected) -> None:
        """A custom role's definition (built-in roles are known by GUID: not read)."""
        if azure_role_id(definition_id) in AZURE_ROLES:
            return
        got = self.reader.read(
            lambda: rest_form(self.clients.authorization.role_definitions.get_by_id(definition_id)),
            operation="Role Definitions - Get By Id",
            subject=Subject(
                definition_id, definition_id.rsplit("/", 1)[-1], "azure:roleDefinition"
            ),
            what="the custom role's permissions",
            permission="Microsoft.Authorization/roleDefinitions/read",
        )
        if isinstance(got, dict):
            out.add(*arm_facts(role_definition_resource(got)))

    def _diagnostics(self, arm: Mapping[str, Any], out: Collected) -> set[str]:
        """The vault's diagnostic settings; returns the storage accounts they write to."""
        uri = str(arm.get("id"))
        settings = self.reader.items(
            lambda: arm_list(
                self.clients.keyvault,
                f"{uri}/providers/Microsoft.Insights/diagnosticSettings",
                DIAGNOSTIC_SETTINGS_API_VERSION,
            ),
            operation="Diagnostic Settings - List",
            subject=self._container_subject(arm, "managedHSMs" in uri),
            what="the vault's diagnostic settings",
            permission="Microsoft.Insights/diagnosticSettings/read",
        )
        accounts: set[str] = set()
        for setting in [] if isinstance(settings, Unknown) else settings:
            out.add(*arm_facts(diagnostic_resource(setting, uri)))
            account = (setting.get("properties") or {}).get("storageAccountId")
            if isinstance(account, str) and account:
                accounts.add(account)
        return accounts

    def _storage(self, account_id: str, out: Collected) -> None:
        """The log storage account and its audit container's immutability policy."""
        from keyplane.adapters.azure_api import resource_group_of  # noqa: PLC0415

        name = account_id.rstrip("/").rsplit("/", 1)[-1]
        group = resource_group_of(account_id) or self.group
        subject = Subject(account_id, name, "azure-native:storage:StorageAccount")
        storage = self.clients.storage
        account = self.reader.read(
            lambda: rest_form(storage.storage_accounts.get_properties(group, name)),
            operation="Storage Accounts - Get Properties",
            subject=subject,
            what="the log storage account",
            permission="Microsoft.Storage/storageAccounts/read",
        )
        if isinstance(account, dict):
            out.add(*arm_facts(storage_account_resource(account)))
        policy = self.reader.read(
            lambda: rest_form(
                storage.blob_containers.get_immutability_policy(group, name, AUDIT_LOG_CONTAINER)
            ),
            operation="Blob Containers - Get Immutability Policy",
            subject=subject,
            what=f"the immutability policy of container {AUDIT_LOG_CONTAINER}",
            permission=(
                "Microsoft.Storage/storageAccounts/blobServices/containers/"
                "immutabilityPolicies/read"
            ),
        )
        if isinstance(policy, dict):
            out.add(*arm_facts(immutability_resource(policy, name, AUDIT_LOG_CONTAINER)))

    def _alerts(self, out: Collected) -> None:
        kv = self.clients.keyvault
        insights = f"/subscriptions/{self.subscription}/providers/Microsoft.Insights"
        activity = self.reader.items(
            lambda: arm_list(kv, f"{insights}/activityLogAlerts", ACTIVITY_LOG_ALERTS_API_VERSION),
            operation="Activity Log Alerts - List By Subscription Id",
            subject=self.subscription_subject,
            what="the subscription's activity log alerts",
            permission="Microsoft.Insights/activityLogAlerts/read",
        )
        for arm in [] if isinstance(activity, Unknown) else activity:
            out.add(*arm_facts(activity_alert_resource(arm)))
        queries = self.reader.items(
            lambda: arm_list(kv, f"{insights}/scheduledQueryRules", QUERY_RULES_API_VERSION),
            operation="Scheduled Query Rules - List By Subscription",
            subject=self.subscription_subject,
            what="the subscription's log search alerts",
            permission="Microsoft.Insights/scheduledQueryRules/read",
        )
        for arm in [] if isinstance(queries, Unknown) else queries:
            out.add(*arm_facts(query_alert_resource(arm)))

    def _certificates(self, vault: Mapping[str, Any], out: Collected) -> None:
        """The vault's certificates and their policies (data plane)."""
        uri = str((vault.get("properties") or {}).get("vaultUri") or "")
        if not uri:
            return
        client = self._certificate_client(uri)
        subject = self._container_subject(vault, False)
        listed = self.reader.read(
            lambda: list(client.list_properties_of_certificates()),
            operation="Get Certificates",
            subject=subject,
            what="the vault's certificates",
            permission="Microsoft.KeyVault/vaults/certificates/read",
        )
        for item in [] if listed is None or isinstance(listed, Unknown) else listed:
            name = str(item.name)
            arm_id = f"{vault.get('id')}/certificates/{name}"
            policy = self.reader.read(
                partial(client.get_certificate_policy, name),
                operation="Get Certificate Policy",
                subject=Subject(arm_id, name, CERTIFICATE_TYPE),
                what="the certificate's policy (key and renewal)",
                permission="Microsoft.KeyVault/vaults/certificates/read",
            )
            if policy is None or isinstance(policy, Unknown):
                continue
            expires = item.expires_on.timestamp() if item.expires_on else None
            out.add(certificate_facts(arm_id, name, _policy_form(policy, expires), item.tags or {}))

    def _certificate_client(self, vault_uri: str) -> Any:
        from azure.keyvault.certificates import CertificateClient  # noqa: PLC0415

        options = _transport_options(self.call_timeout_seconds)
        options.pop("raw_response_hook")  # the data plane's challenge answers are 401s
        return CertificateClient(
            vault_uri,
            self.credential,
            # A local server (--endpoint-url) cannot answer for vault.azure.net.
            verify_challenge_resource=self.endpoint_url is None,
            **options,
        )


def _policy_form(policy: Any, expires: float | None) -> dict[str, Any]:
    """A `CertificatePolicy` as the REST API writes it (`key_props`, `issuer`,
    `lifetime_actions`), plus the certificate's expiry."""
    actions = [
        {"action": {"action_type": str(getattr(a.action, "value", a.action))}}
        for a in policy.lifetime_actions or ()
    ]
    kty = getattr(policy.key_type, "value", policy.key_type)
    curve = getattr(policy.key_curve_name, "value", policy.key_curve_name)
    return {
        "key_props": {"kty": kty, "key_size": policy.key_size, "crv": curve},
        "issuer": {"name": policy.issuer_name},
        "lifetime_actions": actions,
        "expires": expires,
    }


# --- the run -------------------------------------------------------------------------------------


def declared_resources(env: Environment) -> list[Declared]:
    """The keys and secrets `env` declares, by the names they have in their vault."""
    return [
        *(
            Declared(
                k.name,
                k.name,
                KEY_TYPE,
                key=True,
                retired=Retired(k.retired.on, k.retired.reason) if k.retired else None,
            )
            for k in env.keys
        ),
        *(Declared(s.name, s.name, SECRET_TYPE, key=False) for s in env.secrets),
    ]


def run_azure_audit(
    estate: Estate,
    environment: str,
    *,
    as_of: date,
    endpoint_url: str | None = None,
    credential: Any = None,
    reader: AzureReader | None = None,
    max_workers: int = MAX_WORKERS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    call_timeout_seconds: float | None = None,
) -> AuditResult:
    """Audit Azure environment `environment` within `timeout_seconds` (what is not read by then
    is reported unverifiable), each call timing out after `call_timeout_seconds`.

    `credential`: an azure-core `TokenCredential` (default: `default_credential()`).
    Raises AuditError when it cannot run: not an Azure environment, no credential, a token of
    another tenant, a subscription the credentials cannot see, Azure unreachable.
    """
    check_endpoint_url(endpoint_url)
    env = estate.environments[environment]
    if env.cloud is not Cloud.AZURE or env.azure is None:
        raise AuditError(f"{environment}: not an Azure environment")
    started = datetime.now(UTC)
    reader = reader or AzureReader()
    if reader.deadline is None:
        reader.deadline = Deadline(timeout_seconds)
    credential = credential if credential is not None else default_credential()
    clients = management_clients(
        credential, env.azure.subscription_id, endpoint_url, call_timeout_seconds
    )
    identity = verify_identity(credential, clients, env, reader, endpoint_url)
    collector = AzureCollector(
        credential,
        clients,
        env,
        reader=reader,
        endpoint_url=endpoint_url,
        max_workers=max_workers,
        call_timeout_seconds=call_timeout_seconds,
    )
    collected = collector.collect()
    collected.unverifiable = list(reader.unverifiable)
    context = Context.from_estate(estate, environment, as_of)
    declared = declared_resources(env)
    findings = judge_collected(collected, context, declared)
    counts: dict[str, int] = {}
    for fact in collected.facts:
        kind = _KINDS.get(fact.type, fact.type)
        counts[kind] = counts.get(kind, 0) + 1
    if disabled := sum(1 for k in collected.keys_seen if k.state == "Disabled"):
        counts["keys deactivated (retained)"] = disabled
    if faults := sum(1 for u in collected.unverifiable if u.fault):
        counts["reads failed (unverifiable)"] = faults
    evidence = Evidence(
        environment=environment,
        account=env.azure.subscription_id,
        region=env.azure.location,
        caller_arn=identity.text(),
        started_at=started,
        finished_at=datetime.now(UTC),
        as_of=as_of,
        endpoint_url=endpoint_url,
        counts=counts,
        permissions=PERMISSIONS,
        not_visible=NOT_VISIBLE,
        inventory=inventory_of(collected, declared),
        lifecycle=Lifecycle(
            ACTIVITY_LOG_DAYS,
            lifecycle_of(collected, declared, as_of),
            unverifiable="not read: the Azure audit does not read the activity log yet",
            source="Azure activity log",
        ),
        tenant=env.azure.tenant_id,
        account_label="subscription",
    )
    return AuditResult(findings, collected.facts, evidence)


_KINDS = {
    VAULT_TYPE: "vaults",
    MANAGED_HSM_TYPE: "Managed HSMs",
    KEY_TYPE: "keys",
    SECRET_TYPE: "secrets",
    CERTIFICATE_TYPE: "certificates",
    "azure-native:authorization:RoleAssignment": "role assignments",
    "azure-native:authorization:RoleDefinition": "custom role definitions",
    "azure-native:monitor:DiagnosticSetting": "diagnostic settings",
    "azure-native:storage:StorageAccount": "storage accounts",
    "azure-native:storage:BlobContainerImmutabilityPolicy": "immutability policies",
    "azure-native:monitor:ActivityLogAlert": "activity log alerts",
    "azure-native:monitor:ScheduledQueryRule": "log search alerts",
}
