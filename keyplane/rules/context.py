"""What a check knows besides the resources: the stack's environment and its declared intent.

Built from the estate (`environments/<env>.yaml` and the registers) or, in the CrossGuard pack,
from the pack's configuration (`keyplane-settings`, see README "CrossGuard policy pack").
Everything here is optional except the environment's name: a check that lacks a declared value
judges with the strictest one (a production tier, the strictest rotation limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from keyplane.facts.access import principal_key
from keyplane.standard import PROTECTED_TIERS, Cloud, Isolation, KeyPurpose, Tier

if TYPE_CHECKING:
    from keyplane.config import Environment, Estate
    from keyplane.findings import ExceptionScope


@dataclass(frozen=True)
class RestoreTest:
    """The restore test of a backup key that counts (KM-BAK-002, Policy §11): its day, whether
    it passed, and where it is recorded (`restore_tested_on` or the record's file name).
    `keyplane.config.evidence.latest_restore_test` says which test counts."""

    on: date
    passed: bool
    source: str
    #: The tested key's ID (a `keyplane restore-test` record; None for `restore_tested_on`).
    key_id: str | None = None


@dataclass(frozen=True)
class OtherEnvironment:
    """Another environment of the estate: whose principals must not reach this one's keys."""

    name: str
    tier: Tier | None = None
    #: Its account, project or subscription.
    scope: str | None = None
    principals: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Context:
    environment: str
    #: The day exceptions and manual rotation dates are judged on.
    as_of: date
    tier: Tier | None = None
    cloud: Cloud | None = None
    #: The environment's own account, project or subscription.
    scope: str | None = None
    #: KM-LOG-002: how long audit logs stay immutable.
    retention_days: int | None = None
    key_admins: frozenset[str] = frozenset()
    backup_key_admins: frozenset[str] = frozenset()
    auditors: frozenset[str] = frozenset()
    #: Declared key users and their tenant (None: a principal outside any tenant).
    key_users: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    tenants: Mapping[str, Isolation] = field(default_factory=lambda: MappingProxyType({}))
    #: Shared-service register: key name -> tenants registered to use it.
    shared_keys: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    other_environments: tuple[OtherEnvironment, ...] = ()
    exceptions: tuple[ExceptionScope, ...] = ()
    #: KM-MON-001: where alerts on key misuse must go (`monitoring.notify`: SNS topic ARNs,
    #: notification channels, action group IDs); empty when nothing says (any destination).
    alert_destinations: frozenset[str] = frozenset()
    #: The names of the keys the environment declares (any purpose, retired or not).
    declared_keys: frozenset[str] = frozenset()
    #: KM-BAK-002: each declared backup-encryption key not being retired -> the restore test
    #: that counts (`keyplane.config.evidence.latest_restore_test`; None: none on record).
    restore_tests: Mapping[str, RestoreTest | None] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def effective_tier(self) -> Tier:
        """The declared tier, or production (the strictest) when none is declared."""
        return self.tier or Tier.PRODUCTION

    @property
    def protected(self) -> bool:
        return self.effective_tier in PROTECTED_TIERS

    @property
    def admins(self) -> frozenset[str]:
        """Declared key administrators (primary and backup), by principal key."""
        return frozenset(principal_key(p) for p in self.key_admins | self.backup_key_admins)

    @property
    def platform_principals(self) -> frozenset[str]:
        """Administrators and auditors: not tenant principals."""
        return self.admins | frozenset(principal_key(p) for p in self.auditors)

    def tenant_of(self, principal: str) -> tuple[bool, str | None]:
        """(declared, tenant) of a key user."""
        wanted = principal_key(principal)
        if wanted in self._tenants_by_principal:
            return True, self._tenants_by_principal[wanted]
        return False, None

    @cached_property
    def _tenants_by_principal(self) -> Mapping[str, str | None]:
        # Asked for every grant of a stack: read the key users once (the first declaration of a
        # principal wins). Not a field: equality and `replace` ignore it.
        tenants: dict[str, str | None] = {}
        for declared, tenant in self.key_users.items():
            tenants.setdefault(principal_key(declared), tenant)
        return tenants

    @classmethod
    def from_estate(cls, estate: Estate, environment: str, as_of: date) -> Context:
        """The context of `environment` in a loaded `keyplane.config.Estate`."""
        env = estate.environments[environment]
        others = tuple(
            OtherEnvironment(
                other.name,
                other.tier,
                other.scope_id,
                frozenset(_declared_principals(other)),
            )
            for other in estate.environments.values()
            if other.name != environment
        )
        return cls(
            environment=environment,
            as_of=as_of,
            tier=env.tier,
            cloud=env.cloud,
            scope=env.scope_id,
            retention_days=env.logging.retention_days,
            alert_destinations=frozenset(env.monitoring.notify if env.monitoring else ()),
            declared_keys=frozenset(k.name for k in env.keys),
            restore_tests=MappingProxyType(
                {
                    k.name: estate.restore_test(environment, k.name)
                    for k in env.keys
                    if k.purpose is KeyPurpose.BACKUP_ENCRYPTION and k.retired is None
                }
            ),
            key_admins=frozenset(env.access.key_admins),
            backup_key_admins=frozenset(env.access.backup_key_admins),
            auditors=frozenset(env.access.auditors),
            key_users=MappingProxyType({u.principal: u.tenant for u in env.access.key_users}),
            tenants=MappingProxyType({t.name: t.isolation for t in env.tenants}),
            shared_keys=MappingProxyType(
                {
                    s.key: frozenset(s.tenants)
                    for s in estate.shared_keys
                    if s.environment == environment
                }
            ),
            other_environments=others,
            exceptions=tuple(estate.exception_scopes()),
        )


def _declared_principals(env: Environment) -> Iterable[str]:
    access = env.access
    yield from access.key_admins
    yield from access.backup_key_admins
    yield from access.auditors
    for user in access.key_users:
        yield user.principal


# --- the pack's configuration --------------------------------------------------------------------

#: JSON schema of the `keyplane-settings` entry of a policy-pack configuration file.
SETTINGS_SCHEMA: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "environment": {
            "type": "string",
            "description": "The stack's environment (default: the stack name).",
        },
        "estate": {
            "type": "string",
            "description": "Estate directory (environment files and registers); absolute, or "
            "relative to the policy pack's folder.",
        },
        "asOf": {
            "type": "string",
            "description": "Judge exceptions and rotation dates as of this day (YYYY-MM-DD; "
            "default: today).",
        },
        "tier": {"type": "string", "enum": [t.value for t in Tier]},
        "cloud": {"type": "string", "enum": [c.value for c in Cloud]},
        "scope": {
            "type": "string",
            "description": "The environment's account, project or subscription.",
        },
        "retentionDays": {"type": "integer", "minimum": 1},
        "alertDestinations": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Where KM-MON-001's alerts must go (the environment's "
            "monitoring.notify).",
        },
        "declaredKeys": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The names of the keys the environment declares (any purpose).",
        },
        "restoreTests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "on": {"type": "string"},
                    "passed": {"type": "boolean"},
                    "source": {"type": "string"},
                    "keyId": {"type": "string"},
                },
                "required": ["key"],
            },
            "description": "KM-BAK-002: each active backup key and the restore test that counts "
            "(without `on`: none on record).",
        },
        "keyAdmins": {"type": "array", "items": {"type": "string"}},
        "backupKeyAdmins": {"type": "array", "items": {"type": "string"}},
        "auditors": {"type": "array", "items": {"type": "string"}},
        "keyUsers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"principal": {"type": "string"}, "tenant": {"type": "string"}},
                "required": ["principal"],
            },
        },
        "tenants": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "isolation": {"type": "string", "enum": [i.value for i in Isolation]},
                },
                "required": ["name", "isolation"],
            },
        },
        "sharedKeys": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "tenants": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["key", "tenants"],
            },
        },
        "otherEnvironments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "tier": {"type": "string", "enum": [t.value for t in Tier]},
                    "scope": {"type": "string"},
                    "principals": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name"],
            },
        },
        "exceptions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "rule": {"type": "string"},
                    "environment": {"type": "string"},
                    "resource": {"type": "string"},
                    "expires": {"type": "string"},
                },
                "required": ["id", "rule", "environment", "resource", "expires"],
            },
        },
    }
)


class SettingsError(ValueError):
    """The pack's keyplane-settings cannot be used; the message names the setting."""


def context_from_settings(
    settings: Mapping[str, Any],
    *,
    default_environment: str,
    base_dir: Path,
    today: date,
    default_estate: Path | None = None,
) -> Context:
    """A context from the pack's `keyplane-settings`: an estate, inline values, or both (inline
    values override the estate's; inline exceptions add to the register's).

    Without an `estate` setting, `default_estate` (the checkout's `environments/`) is used when
    it declares the environment.
    """
    environment = str(settings.get("environment") or default_environment)
    if not environment:
        raise SettingsError(
            "keyplane-settings.environment: no environment given and PULUMI_STACK is not set"
        )
    as_of = _date(settings.get("asOf"), "asOf") or today
    context = Context(environment=environment, as_of=as_of)
    estate_dir = settings.get("estate")
    path: Path | None = None
    if estate_dir:
        path = Path(str(estate_dir))
        if not path.is_absolute():
            path = base_dir / path
    elif default_estate is not None and (default_estate / f"{environment}.yaml").is_file():
        path = default_estate
    if path is not None:
        # Imported here: the estate's reader needs pydantic and PyYAML, which the checks do
        # not (checkov loads them from its own environment, without keyplane's dependencies).
        from keyplane.config import ConfigError  # noqa: PLC0415
        from keyplane.estate import load_estate  # noqa: PLC0415

        try:
            estate = load_estate(path)
        except ConfigError as err:
            raise SettingsError(f"keyplane-settings.estate: {err}") from None
        if environment not in estate.environments:
            known = ", ".join(sorted(estate.environments))
            raise SettingsError(
                f"keyplane-settings.environment: {environment!r} is not an environment of "
                f"{path} (known: {known})"
            )
        context = Context.from_estate(estate, environment, as_of)
    return _with_inline(context, settings)


def settings_from_context(context: Context) -> dict[str, Any]:
    """`context` as `keyplane-settings` (inline values, no estate), from which
    `context_from_settings` makes an equal context: for an engine that cannot read the estate
    itself (checkov's custom checks run without keyplane's dependencies), and for the packs the
    gate starts, which are spared reading the estate the gate has read (0.3 s of YAML and 0.25 s
    of imports per pack at 1,100 tenants, before any resource could be judged)."""
    return {
        "environment": context.environment,
        "asOf": context.as_of.isoformat(),
        **({"tier": context.tier.value} if context.tier else {}),
        **({"cloud": context.cloud.value} if context.cloud else {}),
        **({"scope": context.scope} if context.scope else {}),
        **({"retentionDays": context.retention_days} if context.retention_days else {}),
        **(
            {"alertDestinations": sorted(context.alert_destinations)}
            if context.alert_destinations
            else {}
        ),
        "declaredKeys": sorted(context.declared_keys),
        "restoreTests": [
            {"key": key, **(_restore_test_settings(test) if test is not None else {})}
            for key, test in context.restore_tests.items()
        ],
        "keyAdmins": sorted(context.key_admins),
        "backupKeyAdmins": sorted(context.backup_key_admins),
        "auditors": sorted(context.auditors),
        "keyUsers": [
            {"principal": p, **({"tenant": t} if t else {})} for p, t in context.key_users.items()
        ],
        "tenants": [{"name": n, "isolation": i.value} for n, i in context.tenants.items()],
        "sharedKeys": [{"key": k, "tenants": sorted(t)} for k, t in context.shared_keys.items()],
        "otherEnvironments": [
            {
                "name": o.name,
                **({"tier": o.tier.value} if o.tier else {}),
                **({"scope": o.scope} if o.scope else {}),
                "principals": sorted(o.principals),
            }
            for o in context.other_environments
        ],
        "exceptions": [
            {
                "id": e.id,
                "rule": e.rule,
                "environment": e.environment,
                "resource": e.resource,
                "expires": e.expires.isoformat(),
            }
            for e in context.exceptions
        ],
    }


def _restore_test_settings(test: RestoreTest) -> dict[str, Any]:
    return {
        "on": test.on.isoformat(),
        "passed": test.passed,
        "source": test.source,
        **({"keyId": test.key_id} if test.key_id is not None else {}),
    }


def _restore_tests(values: Any) -> Mapping[str, RestoreTest | None]:
    """`restoreTests` as `Context.restore_tests` (SettingsError naming the entry)."""
    tests: dict[str, RestoreTest | None] = {}
    for index, entry in enumerate(values):
        where = f"restoreTests[{index}]"
        if not isinstance(entry, Mapping) or not entry.get("key"):
            raise SettingsError(f"keyplane-settings.{where}: expected an object with a key")
        on = _date(entry.get("on"), f"{where}.on")
        if on is None:
            tests[str(entry["key"])] = None
            continue
        if not isinstance(entry.get("passed"), bool):
            raise SettingsError(f"keyplane-settings.{where}.passed: expected true or false")
        key_id = entry.get("keyId")
        tests[str(entry["key"])] = RestoreTest(
            on, entry["passed"], str(entry.get("source") or ""), str(key_id) if key_id else None
        )
    return MappingProxyType(tests)


def _with_inline(context: Context, settings: Mapping[str, Any]) -> Context:
    changes: dict[str, Any] = {}
    if settings.get("tier"):
        try:
            changes["tier"] = Tier(str(settings["tier"]))
        except ValueError:
            raise SettingsError(
                f"keyplane-settings.tier: unknown tier {settings['tier']!r}"
            ) from None
    if settings.get("cloud"):
        try:
            changes["cloud"] = Cloud(str(settings["cloud"]))
        except ValueError:
            raise SettingsError(
                f"keyplane-settings.cloud: unknown cloud {settings['cloud']!r}"
            ) from None
    if settings.get("declaredKeys") is not None:
        changes["declared_keys"] = frozenset(str(k) for k in settings["declaredKeys"])
    if settings.get("restoreTests") is not None:
        changes["restore_tests"] = _restore_tests(settings["restoreTests"])
    if settings.get("scope"):
        changes["scope"] = str(settings["scope"])
    if settings.get("retentionDays") is not None:
        changes["retention_days"] = int(settings["retentionDays"])
    if settings.get("alertDestinations") is not None:
        changes["alert_destinations"] = frozenset(str(d) for d in settings["alertDestinations"])
    for key, attr in (
        ("keyAdmins", "key_admins"),
        ("backupKeyAdmins", "backup_key_admins"),
        ("auditors", "auditors"),
    ):
        if settings.get(key) is not None:
            changes[attr] = frozenset(str(p) for p in settings[key])
    if settings.get("keyUsers") is not None:
        changes["key_users"] = MappingProxyType(
            {
                str(u["principal"]): (str(u["tenant"]) if u.get("tenant") else None)
                for u in settings["keyUsers"]
            }
        )
    if settings.get("tenants") is not None:
        try:
            changes["tenants"] = MappingProxyType(
                {str(t["name"]): Isolation(str(t["isolation"])) for t in settings["tenants"]}
            )
        except (KeyError, ValueError) as err:
            raise SettingsError(f"keyplane-settings.tenants: {err}") from None
    if settings.get("sharedKeys") is not None:
        changes["shared_keys"] = MappingProxyType(
            {str(s["key"]): frozenset(str(t) for t in s["tenants"]) for s in settings["sharedKeys"]}
        )
    if settings.get("otherEnvironments") is not None:
        changes["other_environments"] = tuple(
            OtherEnvironment(
                str(o["name"]),
                Tier(str(o["tier"])) if o.get("tier") else None,
                str(o["scope"]) if o.get("scope") else None,
                frozenset(str(p) for p in o.get("principals") or ()),
            )
            for o in settings["otherEnvironments"]
        )
    if settings.get("exceptions"):
        # Imported here: `keyplane.findings` imports the catalog, whose package imports this.
        from keyplane.findings import ExceptionScope  # noqa: PLC0415

        inline = []
        for index, exc in enumerate(settings["exceptions"]):
            where = f"keyplane-settings.exceptions[{index}]"
            try:
                inline.append(
                    ExceptionScope(
                        str(exc["id"]),
                        str(exc["rule"]),
                        str(exc["environment"]),
                        str(exc["resource"]),
                        _date(exc["expires"], f"exceptions[{index}].expires") or context.as_of,
                    )
                )
            except KeyError as err:
                raise SettingsError(f"{where}: missing {err}") from None
        changes["exceptions"] = (*context.exceptions, *inline)
    return replace(context, **changes) if changes else context


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SettingsError(
            f"keyplane-settings.{name}: expected a date YYYY-MM-DD (got {value!r})"
        ) from None
