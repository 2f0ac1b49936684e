"""Loading an estate directory: every environment file, the exception and shared-key registers.

An estate is `environments/` by default: `<env>.yaml` per environment (one cloud, one Pulumi
stack), `exceptions.yaml` (Policy §15) and `shared-services.yaml` (Policy §12), both optional.
All problems of all files are collected before anything is reported, so a user fixes them in
one pass.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.evidence import (
    EVIDENCE_DIR,
    RestoreTestRecord,
    latest_restore_test,
    load_restore_evidence,
    restore_record_path,
)
from keyplane.config.files import is_present
from keyplane.config.model import (
    Environment,
    ExceptionsFile,
    Renewal,
    RiskException,
    SharedKey,
    SharedServicesFile,
    key_usage,
)
from keyplane.config.yamlio import Document, Loc, read_yaml
from keyplane.findings import ExceptionScope
from keyplane.rules.context import RestoreTest
from keyplane.standard import (
    ALGORITHMS,
    APPROVED_ALGORITHMS,
    AWS_SECRET_ROTATION_RANGE,
    CERTIFICATE_ALGORITHMS,
    DELETION_WINDOW_RANGE,
    EXCEPTION_MAX_DAYS,
    PURPOSES,
    ROTATION_RANGE,
    Cloud,
    Family,
    default_hsm,
    rotates_automatically,
)

EXCEPTIONS_FILE = "exceptions.yaml"
SHARED_SERVICES_FILE = "shared-services.yaml"
RESERVED_FILES = frozenset({EXCEPTIONS_FILE, SHARED_SERVICES_FILE})

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Estate:
    root: Path
    environments: Mapping[str, Environment]
    exceptions: tuple[RiskException, ...] = ()
    shared_keys: tuple[SharedKey, ...] = ()
    #: The parsed files, by environment name or register file name, for line look-ups.
    documents: Mapping[str, Document] = field(default_factory=dict)
    #: Restore tests recorded by `keyplane restore-test`, by (environment, key) (KM-BAK-002).
    restore_tests: Mapping[tuple[str, str], RestoreTestRecord] = field(default_factory=dict)

    def restore_test(self, environment: str, key: str) -> RestoreTest | None:
        """The restore test of `key` that counts for KM-BAK-002 (`latest_restore_test`): the
        later of its `restore_tested_on` and its `keyplane restore-test` record; None without
        either, or when the environment does not declare the key."""
        env = self.environments.get(environment)
        spec = env.key(key) if env is not None else None
        if spec is None:
            return None
        path = restore_record_path(self.root, environment, key)
        return latest_restore_test(
            spec.restore_tested_on,
            self.restore_tests.get((environment, key)),
            f"{EVIDENCE_DIR}/{path.name}",
        )

    def exception_scopes(self) -> tuple[ExceptionScope, ...]:
        return tuple(
            ExceptionScope(e.id, e.rule, e.environment, e.resource, e.expires)
            for e in self.exceptions
        )

    def shared_tenants(self, environment: str, key: str) -> frozenset[str]:
        """Tenants registered to use the shared key `key` of `environment`."""
        return frozenset(
            t
            for s in self.shared_keys
            if s.environment == environment and s.key == key
            for t in s.tenants
        )


class CatalogRule(Protocol):
    """What the estate's checks need of a catalog rule (`keyplane.rules.catalog.Rule`)."""

    @property
    def exceptable(self) -> bool: ...


def load_estate(directory: Path, *, rules: Mapping[str, CatalogRule]) -> Estate:
    """Read and check every file of the estate; raise ConfigError listing every problem.

    `rules` is the rule catalog (ID -> rule) the exceptions register is checked against
    (KM-EXC-001: an exception names a known rule that may be excepted). It is passed in because
    `config` sits below `rules`: commands and engines call `keyplane.estate.load_estate`, which
    passes the catalog.
    """
    if not directory.is_dir():
        raise ConfigError(
            [
                Problem(
                    str(directory), None, "", "estate directory not found", fix="pass --estate DIR"
                )
            ]
        )
    problems: list[Problem] = []
    environments: dict[str, Environment] = {}
    documents: dict[str, Document] = {}
    # Environments whose file has problems: the registers' references to them are not checked.
    broken: set[str] = set()
    env_paths = sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and p.name not in RESERVED_FILES
    )
    if not env_paths:
        problems.append(
            Problem(
                str(directory),
                None,
                "",
                "no environment files (<env>.yaml) found",
                fix="pass --estate DIR",
            )
        )
    for path in env_paths:
        try:
            env, doc = _load_environment(path)
        except ConfigError as err:
            problems.extend(err.problems)
            broken.add(path.stem)
            continue
        if env.name in environments:
            problems.append(
                Problem(
                    doc.path,
                    doc.line_of(("name",)),
                    "name",
                    "duplicate environment name",
                    env.name,
                    "give each environment file its own name",
                )
            )
            continue
        environments[env.name] = env
        documents[env.name] = doc

    exceptions: tuple[RiskException, ...] = ()
    exceptions_path = directory / EXCEPTIONS_FILE
    if is_present(exceptions_path):
        try:
            doc = read_yaml(exceptions_path)
            register = _parse(doc, ExceptionsFile, empty_ok=True)
            problems.extend(_check_exceptions(register, doc, environments, broken, rules))
            exceptions = register.exceptions
            documents[EXCEPTIONS_FILE] = doc
        except ConfigError as err:
            problems.extend(err.problems)

    shared: tuple[SharedKey, ...] = ()
    shared_path = directory / SHARED_SERVICES_FILE
    if is_present(shared_path):
        try:
            doc = read_yaml(shared_path)
            shared_register = _parse(doc, SharedServicesFile, empty_ok=True)
            problems.extend(_check_shared(shared_register, doc, environments, broken))
            shared = shared_register.shared_keys
            documents[SHARED_SERVICES_FILE] = doc
        except ConfigError as err:
            problems.extend(err.problems)

    restore_tests: Mapping[tuple[str, str], RestoreTestRecord] = {}
    try:
        restore_tests = load_restore_evidence(directory)
    except ConfigError as err:
        problems.extend(err.problems)

    if problems:
        raise ConfigError(problems)
    return Estate(directory, environments, exceptions, shared, documents, restore_tests)


def load_environment(path: Path) -> Environment:
    """Read and check one environment file (the stack program's entry point)."""
    return _load_environment(path)[0]


def _load_environment(path: Path) -> tuple[Environment, Document]:
    doc = read_yaml(path)
    env = _parse(doc, Environment)
    problems = list(_check_environment(env, doc, path.stem))
    if problems:
        raise ConfigError(problems)
    return env, doc


# --- from pydantic's errors to one-line problems -------------------------------------------


def _parse(doc: Document, model: type[M], *, empty_ok: bool = False) -> M:
    data = doc.data
    if data is None:
        if empty_ok:
            return model()
        raise ConfigError(
            [Problem(doc.path, None, "", "the file is empty", fix=f"write the {_what(model)}")]
        )
    if not isinstance(data, dict):
        raise ConfigError(
            [
                Problem(
                    doc.path,
                    doc.line_of(()) or 1,
                    "",
                    "expected a mapping at the top of the file",
                    data,
                    f"write the {_what(model)} as 'field: value' lines",
                )
            ]
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError([_problem(doc, model, e) for e in err.errors()]) from None


def _what(model: type[BaseModel]) -> str:
    return {
        "Environment": "environment (see environments/prod.yaml)",
        "ExceptionsFile": "exceptions register",
        "SharedServicesFile": "shared-service register",
    }.get(model.__name__, model.__name__)


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that holds the field at `loc` (to list its allowed fields)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        current = _inner_model(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


_TYPE_WORDS = {
    "string_type": ("expected text", "quote the value"),
    "int_type": ("expected a whole number", "write a number without quotes"),
    "int_from_float": ("expected a whole number", "write a number without decimals"),
    "bool_type": ("expected true or false", "write true or false without quotes"),
    "model_type": ("expected a mapping", "write 'field: value' lines under it"),
    "model_attributes_type": ("expected a mapping", "write 'field: value' lines under it"),
    "dict_type": ("expected a mapping", "write 'field: value' lines under it"),
    "tuple_type": ("expected a list", "write '[a, b]' or '- item' lines"),
    "list_type": ("expected a list", "write '[a, b]' or '- item' lines"),
}


def _problem(doc: Document, model: type[BaseModel], error: Any) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    where = _dotted(loc)
    line = doc.line_of(loc)
    if kind == "missing":
        return Problem(doc.path, line, where, "missing required field", fix=f"add '{loc[-1]}'")
    if kind == "extra_forbidden":
        holder = _model_at(model, loc[:-1])
        allowed = ", ".join(holder.model_fields) if holder else ""
        return Problem(
            doc.path,
            line,
            where,
            "unknown field",
            fix=f"remove it or fix its spelling (allowed: {allowed})",
        )
    if kind == "enum":
        return Problem(
            doc.path,
            line,
            where,
            f"unknown {loc[-1]}",
            value,
            f"use one of {ctx.get('expected', '')}",
        )
    if kind in _TYPE_WORDS:
        words, fix = _TYPE_WORDS[kind]
        return Problem(doc.path, line, where, words, value, fix)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "more than",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "")
        return Problem(doc.path, line, where, f"must be {bound} {limit}", value, "change the value")
    if kind == "too_short":
        return Problem(doc.path, line, where, "must not be empty", value, "list at least one entry")
    if kind.startswith("keyplane_"):
        return Problem(doc.path, line, where, error["msg"], value, "fix the value")
    return Problem(doc.path, line, where, error["msg"], value, "fix the value")


# --- checks across fields -------------------------------------------------------------------


def _duplicates(names: Iterable[str]) -> set[str]:
    return {name for name, count in Counter(names).items() if count > 1}


def _check_environment(env: Environment, doc: Document, stem: str) -> Iterator[Problem]:
    def problem(loc: Loc, text: str, got: Any, fix: str) -> Problem:
        return Problem(doc.path, doc.line_of(loc), _dotted(loc), text, got, fix)

    if env.name != stem:
        yield problem(
            ("name",),
            f"must match the file name '{stem}'",
            env.name,
            f"rename the file to {env.name}.yaml or set name: {stem}",
        )

    for cloud in Cloud:
        block = getattr(env, cloud.value)
        if cloud is env.cloud and block is None:
            yield Problem(
                doc.path,
                doc.line_of(("cloud",)),
                cloud.value,
                f"missing the '{cloud.value}' block for cloud {cloud.value}",
                fix=f"add '{cloud.value}:' with the {_cloud_fields(cloud)}",
            )
        elif cloud is not env.cloud and block is not None:
            yield problem(
                (cloud.value,),
                f"a '{cloud.value}' block in an environment on {env.cloud.value}",
                cloud.value,
                f"remove it or set cloud: {cloud.value}",
            )

    if env.hsm.subnet_ids and env.cloud is not Cloud.AWS:
        yield problem(
            ("hsm", "subnet_ids"),
            "subnets are for AWS CloudHSM only",
            list(env.hsm.subnet_ids),
            "remove subnet_ids",
        )
    if env.cloud is Cloud.AWS and env.hsm.enabled and len(env.hsm.subnet_ids) < 2:
        # A KMS custom key store needs two active HSMs in different availability zones:
        # https://docs.aws.amazon.com/kms/latest/developerguide/create-keystore.html
        yield problem(
            ("hsm", "subnet_ids"),
            "a CloudHSM key store needs HSMs in at least two availability zones",
            list(env.hsm.subnet_ids),
            "list two or more subnets in different availability zones (one HSM per subnet)",
        )
    for dup in _duplicates(env.hsm.subnet_ids):
        yield problem(("hsm", "subnet_ids"), "duplicate subnet", dup, "list each subnet once")

    tenants = {t.name for t in env.tenants}
    tenant_dups = _duplicates(t.name for t in env.tenants)  # once: per tenant it was quadratic
    for index, tenant in enumerate(env.tenants):
        if tenant.name in tenant_dups:
            yield problem(
                ("tenants", index, "name"),
                "duplicate tenant name",
                tenant.name,
                "declare each tenant once",
            )

    key_dups = _duplicates(k.name for k in env.keys)
    secret_names = {s.name for s in env.secrets}
    for index, key in enumerate(env.keys):
        yield from _check_key(env, key, ("keys", index), tenants, problem)
        if key.name in key_dups:
            yield problem(
                ("keys", index, "name"),
                "duplicate key name",
                key.name,
                "give each key its own name",
            )
        if key.name in secret_names:
            yield problem(
                ("keys", index, "name"),
                "a secret has the same name",
                key.name,
                "give keys and secrets distinct names",
            )

    secret_dups = _duplicates(s.name for s in env.secrets)
    for index, secret in enumerate(env.secrets):
        loc: Loc = ("secrets", index)
        if secret.name in secret_dups:
            yield problem(
                (*loc, "name"),
                "duplicate secret name",
                secret.name,
                "give each secret its own name",
            )
        if secret.tenant is not None and secret.tenant not in tenants:
            yield problem(
                (*loc, "tenant"), "undeclared tenant", secret.tenant, _declare_tenant(tenants)
            )
        if secret.aws is not None and env.cloud is not Cloud.AWS:
            yield problem(
                (*loc, "aws"),
                f"an 'aws' block on a secret in an environment on {env.cloud.value}",
                "aws",
                "remove it",
            )
        if secret.rotation_days is not None and env.cloud is Cloud.AWS:
            low, high = AWS_SECRET_ROTATION_RANGE
            if not low <= secret.rotation_days <= high:
                yield problem(
                    (*loc, "rotation_days"),
                    f"Secrets Manager rotates every {low} to {high} days",
                    secret.rotation_days,
                    f"choose a value from {low} to {high}",
                )

    names = {k.name for k in env.keys} | secret_names
    for index, user in enumerate(env.access.key_users):
        loc = ("access", "key_users", index)
        if user.tenant is not None and user.tenant not in tenants:
            yield problem(
                (*loc, "tenant"), "undeclared tenant", user.tenant, _declare_tenant(tenants)
            )
        for k_index, name in enumerate(user.keys):
            if name not in names:
                known = ", ".join(sorted(names)) or "none declared"
                yield problem(
                    (*loc, "keys", k_index),
                    "unknown key",
                    name,
                    f"name a key or secret of this environment ({known})",
                )
    for index, principal in enumerate(_duplicates(u.principal for u in env.access.key_users)):
        del index
        yield problem(
            ("access", "key_users"),
            "principal listed twice",
            principal,
            "merge its entries into one",
        )

    for group in ("key_admins", "backup_key_admins", "auditors"):
        for index, principal in enumerate(getattr(env.access, group)):
            yield from _check_principal(env.cloud, principal, ("access", group, index), problem)
    for index, user in enumerate(env.access.key_users):
        yield from _check_principal(
            env.cloud, user.principal, ("access", "key_users", index, "principal"), problem
        )
    yield from _check_detective(env, tenants, problem)


_NOTIFY: Mapping[Cloud, tuple[re.Pattern[str], str]] = {
    Cloud.AWS: (
        re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}"),
        "an SNS topic ARN like arn:aws:sns:eu-west-1:111111111111:security-alerts",
    ),
    Cloud.GCP: (
        re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/\d+"),
        "a notification channel ID like projects/acme-prod-kms/notificationChannels/4711",
    ),
    Cloud.AZURE: (
        re.compile(
            r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/"
            r"microsoft\.insights/actionGroups/[^/]+",
            re.IGNORECASE,
        ),
        "an action group ID like /subscriptions/<id>/resourceGroups/<rg>/providers/"
        "microsoft.insights/actionGroups/<name>",
    ),
}
_DOMAIN = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _check_detective(env: Environment, tenants: set[str], problem: Any) -> Iterator[Problem]:
    """`monitoring` and `certificates` (KM-MON-001, KM-CRT-001): form and cross-field checks."""
    if env.monitoring is not None:
        pattern, example = _NOTIFY[env.cloud]
        for index, target in enumerate(env.monitoring.notify):
            if not pattern.fullmatch(target):
                yield problem(
                    ("monitoring", "notify", index),
                    f"not a {env.cloud.value} alert destination",
                    target,
                    f"write {example}",
                )
        for dup in _duplicates(env.monitoring.notify):
            yield problem(("monitoring", "notify"), "duplicate destination", dup, "list it once")
    cert_dups = _duplicates(c.name for c in env.certificates)
    for index, cert in enumerate(env.certificates):
        loc: Loc = ("certificates", index)
        if cert.name in cert_dups:
            yield problem(
                (*loc, "name"), "duplicate certificate name", cert.name, "give each its own name"
            )
        if cert.algorithm not in CERTIFICATE_ALGORITHMS:
            yield problem(
                (*loc, "algorithm"),
                "unknown certificate algorithm",
                cert.algorithm,
                f"use one of {', '.join(CERTIFICATE_ALGORITHMS)}",
            )
        for d_index, domain in enumerate(cert.domains):
            if not _DOMAIN.fullmatch(domain):
                yield problem(
                    (*loc, "domains", d_index),
                    "not a DNS name",
                    domain,
                    "write a lower-case host name like api.example.com (or *.example.com)",
                )
        if cert.tenant is not None and cert.tenant not in tenants:
            yield problem(
                (*loc, "tenant"), "undeclared tenant", cert.tenant, _declare_tenant(tenants)
            )
        if (
            env.cloud is Cloud.AZURE
            and cert.algorithm in CERTIFICATE_ALGORITHMS
            and not cert.algorithm.startswith("RSA-")
        ):
            yield problem(
                (*loc, "algorithm"),
                "App Service certificates (keyplane's managed form on Azure) are RSA only",
                cert.algorithm,
                "use RSA-2048, RSA-3072 or RSA-4096",
            )
        if env.cloud is Cloud.GCP and cert.renewal is Renewal.MANUAL:
            yield problem(
                (*loc, "renewal"),
                "Certificate Manager renews the certificates keyplane provisions on GCP",
                cert.renewal.value,
                "remove renewal: manual (and its owner and renew_by)",
            )
        if cert.renewal is Renewal.MANAGED:
            for field in ("owner", "renew_by"):
                if getattr(cert, field) is not None:
                    yield problem(
                        (*loc, field),
                        "a renewal plan on a certificate renewed automatically",
                        str(getattr(cert, field)),
                        "remove it, or set renewal: manual",
                    )


def _cloud_fields(cloud: Cloud) -> str:
    return {
        Cloud.AWS: "account_id and region",
        Cloud.GCP: "project and location",
        Cloud.AZURE: "subscription_id, tenant_id, location and resource_group",
    }[cloud]


def _declare_tenant(tenants: set[str]) -> str:
    known = ", ".join(sorted(tenants)) or "none declared"
    return f"declare it under tenants ({known})"


def _check_key(
    env: Environment, key: Any, loc: Loc, tenants: set[str], problem: Any
) -> Iterator[Problem]:
    cloud = env.cloud
    algorithm = ALGORITHMS.get(key.algorithm)
    if algorithm is None:
        yield problem(
            (*loc, "algorithm"),
            "unknown algorithm",
            key.algorithm,
            f"use one of {', '.join(APPROVED_ALGORITHMS)}",
        )
        return
    if not algorithm.offered_by(cloud):
        offered = ", ".join(a for a in APPROVED_ALGORITHMS if ALGORITHMS[a].offered_by(cloud))
        yield problem(
            (*loc, "algorithm"),
            f"{cloud.value} does not offer {algorithm.name}",
            algorithm.name,
            f"use one of {offered}",
        )
        return
    if key_usage(algorithm, key.purpose) is None:
        fits = ", ".join(
            a for a in APPROVED_ALGORITHMS if key_usage(ALGORITHMS[a], key.purpose) is not None
        )
        needs = "/".join(sorted(u.value for u in PURPOSES[key.purpose].usages))
        yield problem(
            (*loc, "algorithm"),
            f"{algorithm.name} cannot {needs} as {key.purpose.value} keys must",
            algorithm.name,
            f"use one of {fits}",
        )
        return
    if key.tenant is not None and key.tenant not in tenants:
        yield problem((*loc, "tenant"), "undeclared tenant", key.tenant, _declare_tenant(tenants))
    hsm = key.hsm if key.hsm is not None else default_hsm(cloud, key.purpose, env.hsm.enabled)
    if key.hsm and not env.hsm.enabled:
        yield problem(
            (*loc, "hsm"),
            "the environment has no HSM",
            True,
            "set hsm.enabled: true or remove the key's hsm",
        )
    if cloud is Cloud.AWS and key.hsm and algorithm.family is not Family.AES:
        yield problem(
            (*loc, "hsm"),
            f"AWS CloudHSM key stores hold symmetric keys only, not {algorithm.name}",
            True,
            "use AES-256 or remove hsm: true (KMS keeps its keys in FIPS 140-3 HSMs)",
        )
    if cloud is Cloud.AZURE and algorithm.azure is not None and algorithm.azure.hsm_only:
        # oct-HSM keys exist only in a Managed HSM; keyplane's Azure components use a premium
        # Key Vault (see README, "Azure components"), which cannot hold them.
        yield problem(
            (*loc, "algorithm"),
            f"a premium Key Vault cannot hold {algorithm.name} keys (oct-HSM needs a Managed HSM)",
            algorithm.name,
            "use RSA-3072 or RSA-4096 for encryption keys on Azure",
        )
    auto = rotates_automatically(cloud, algorithm, in_custom_key_store=cloud is Cloud.AWS and hsm)
    if key.rotation_days is not None:
        if not auto:
            yield problem(
                (*loc, "rotation_days"),
                f"{cloud.value} cannot rotate this key automatically ({_why_manual(cloud, algorithm, hsm)})",
                key.rotation_days,
                "remove rotation_days and declare rotation: {owner, rotate_by} (KM-ROT-004)",
            )
        else:
            low, high = ROTATION_RANGE[cloud]
            if not low <= key.rotation_days <= high:
                yield problem(
                    (*loc, "rotation_days"),
                    f"{cloud.value} rotates keys every {low} to {high} days",
                    key.rotation_days,
                    f"choose a value from {low} to {high}",
                )
    if key.rotation is not None and auto:
        yield problem(
            (*loc, "rotation"),
            f"the key rotates automatically on {cloud.value}; a manual plan would be ignored",
            "rotation",
            "remove rotation (use rotation_days to change the period)",
        )
    if key.deletion_window_days is not None:
        low, high = DELETION_WINDOW_RANGE[cloud]
        if not low <= key.deletion_window_days <= high:
            yield problem(
                (*loc, "deletion_window_days"),
                f"{cloud.value} accepts {low} to {high} days",
                key.deletion_window_days,
                f"choose a value from {low} to {high}",
            )


def _why_manual(cloud: Cloud, algorithm: Any, hsm: bool) -> str:
    if cloud is Cloud.AWS and hsm and algorithm.family is Family.AES:
        return "keys in a CloudHSM key store"
    return f"{algorithm.name} keys"


_AWS_PRINCIPAL = re.compile(
    r"\*|\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|(role|user|group)/[\w+=,.@/-]+)"
    r"|arn:aws[a-z-]*:sts::\d{12}:assumed-role/[\w+=,.@/-]+|[a-z0-9.-]+\.amazonaws\.com"
)
_GCP_PRINCIPAL = re.compile(
    r"allUsers|allAuthenticatedUsers|(user|group|serviceAccount|domain|principal|principalSet|"
    r"deleted:user|deleted:group|deleted:serviceAccount):\S+"
)
_AZURE_PRINCIPAL = re.compile(
    r"\*|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _check_principal(cloud: Cloud, principal: str, loc: Loc, problem: Any) -> Iterator[Problem]:
    pattern, example = {
        Cloud.AWS: (_AWS_PRINCIPAL, "an IAM ARN like arn:aws:iam::111111111111:role/name"),
        Cloud.GCP: (
            _GCP_PRINCIPAL,
            "a member like group:kms-admins@example.com or serviceAccount:...",
        ),
        Cloud.AZURE: (_AZURE_PRINCIPAL, "an Entra ID object ID (a GUID)"),
    }[cloud]
    if not pattern.fullmatch(principal):
        yield problem(loc, f"not a {cloud.value} principal", principal, f"write {example}")


def _check_exceptions(
    register: ExceptionsFile,
    doc: Document,
    environments: Mapping[str, Environment],
    broken: set[str],
    rules: Mapping[str, CatalogRule],
) -> Iterator[Problem]:
    dups = _duplicates(e.id for e in register.exceptions)
    for index, exc in enumerate(register.exceptions):
        loc: Loc = ("exceptions", index)

        def problem(field: str, text: str, got: Any, fix: str, loc: Loc = loc) -> Problem:
            return Problem(
                doc.path, doc.line_of((*loc, field)), _dotted((*loc, field)), text, got, fix
            )

        if exc.id in dups:
            yield problem("id", "duplicate exception ID", exc.id, "give each exception its own ID")
        rule = rules.get(exc.rule)
        if rule is None:
            yield problem(
                "rule",
                "KM-EXC-001: unknown rule ID",
                exc.rule,
                f"name a rule of the catalog ({', '.join(rules)})",
            )
        elif not rule.exceptable:
            yield problem(
                "rule",
                f"KM-EXC-001: {exc.rule} cannot be excepted",
                exc.rule,
                "fix the exception register instead",
            )
        if exc.environment not in environments and exc.environment not in broken:
            yield problem(
                "environment",
                "KM-EXC-001: unknown environment",
                exc.environment,
                f"name an environment of the estate ({', '.join(sorted(environments))})",
            )
        if exc.expires <= exc.accepted_on:
            yield problem(
                "expires",
                "KM-EXC-001: expires on or before its acceptance",
                exc.expires.isoformat(),
                "set an expiry after accepted_on",
            )
        elif exc.expires > exc.accepted_on + timedelta(days=EXCEPTION_MAX_DAYS):
            limit = (exc.accepted_on + timedelta(days=EXCEPTION_MAX_DAYS)).isoformat()
            yield problem(
                "expires",
                f"KM-EXC-001: expires more than {EXCEPTION_MAX_DAYS} days after acceptance (at the latest {limit})",
                exc.expires.isoformat(),
                "shorten it; permanent exceptions are prohibited (Policy §15)",
            )


def _check_shared(
    register: SharedServicesFile,
    doc: Document,
    environments: Mapping[str, Environment],
    broken: set[str],
) -> Iterator[Problem]:
    for index, shared in enumerate(register.shared_keys):
        loc: Loc = ("shared_keys", index)

        def problem(field: str, text: str, got: Any, fix: str, loc: Loc = loc) -> Problem:
            return Problem(
                doc.path, doc.line_of((*loc, field)), _dotted((*loc, field)), text, got, fix
            )

        env = environments.get(shared.environment)
        if env is None:
            if shared.environment not in broken:
                yield problem(
                    "environment",
                    "unknown environment",
                    shared.environment,
                    f"name an environment of the estate ({', '.join(sorted(environments))})",
                )
            continue
        if env.key(shared.key) is None:
            yield problem(
                "key",
                f"unknown key in environment {env.name}",
                shared.key,
                f"name a key of {env.name} ({', '.join(k.name for k in env.keys)})",
            )
        declared = {t.name for t in env.tenants}
        for t_index, tenant in enumerate(shared.tenants):
            if tenant not in declared:
                yield Problem(
                    doc.path,
                    doc.line_of((*loc, "tenants", t_index)),
                    _dotted((*loc, "tenants", t_index)),
                    f"undeclared tenant in environment {env.name}",
                    tenant,
                    _declare_tenant(declared),
                )
