"""Security-relevant differences between two states of a stack (`keyplane diff`).

Pure: two lists of `Registration` (old and new) become a list of `Change`s, each naming the
resource, what happens to it (create, delete, replace, update) and what that means for the
policy: the `Risk`s, each tied to the rule the change weakens, and informational `notes`.

Resources are compared through their facts (`keyplane.adapters.pulumi`), so a raw `aws:kms/key`
written without keyplane's components is understood like one of its own. Only resources whose
inputs, `protect` or physical ID changed are read into facts, which keeps a 10,000-resource
diff well under a second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from keyplane.adapters.pulumi import facts_from_resource
from keyplane.facts.access import (
    Access,
    Effect,
    Grant,
    Target,
    action_label,
    actions_access,
    is_account_wide,
    is_broad_role,
    is_wildcard_action,
    is_wildcard_principal,
    principal_scope,
    requires_mfa,
)
from keyplane.facts.model import (
    AccessBinding,
    AuditConfig,
    DiagnosticSetting,
    Facts,
    HsmCluster,
    Immutability,
    Key,
    KeyContainer,
    LogBucket,
    LogSink,
    ObjectLock,
    Role,
    Secret,
    SecretRotation,
    Trail,
    Vault,
    Versioning,
)
from keyplane.facts.values import Unknown
from keyplane.reports.markup import COMMENT_LIMIT, code, line
from keyplane.rules.catalog import Enforcement, get_rule
from keyplane.standard import TAG_ENVIRONMENT, TAG_PURPOSE, TAG_TENANT, Algorithm
from keyplane.wire import Registration


class Action(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    REPLACE = "replace"
    UPDATE = "update"


#: Preview step operations, as Pulumi names them (sdk/go/common/apitype/steps.go).
CREATE_OPS = frozenset({"create", "import"})
UPDATE_OPS = frozenset({"update"})
REPLACE_OPS = frozenset(
    {
        "replace",
        "create-replacement",
        "delete-replaced",
        "discard-replaced",
        "remove-pending-replace",
        "import-replacement",
    }
)
DELETE_OPS = frozenset({"delete", "discard"})
UNCHANGED_OPS = frozenset({"same", "read", "refresh"})

#: Inputs whose change forces a new key (the provider replaces it), for stack exports, where no
#: operation says so: AWS `customerMasterKeySpec` and friends are `ForceNew` in the provider.
REPLACE_ON: Mapping[str, frozenset[str]] = {
    "aws:kms/key:Key": frozenset(
        {"customerMasterKeySpec", "keySpec", "keyUsage", "customKeyStoreId", "xksKeyId"}
    ),
    "aws:kms/externalKey:ExternalKey": frozenset({"keySpec", "keyUsage", "keyMaterialBase64"}),
    "gcp:kms/cryptoKey:CryptoKey": frozenset(
        {"name", "keyRing", "purpose", "importOnly", "skipInitialVersionCreation"}
    ),
    "azure-native:keyvault:Key": frozenset({"keyName", "vaultName", "resourceGroupName"}),
}

#: Containers whose loss destroys the keys inside (KM-DEL-001).
_KEY_HOLDERS = (Key, HsmCluster, Vault, KeyContainer)
_STRONG_IMMUTABILITY = frozenset({Immutability.COMPLIANCE, Immutability.LOCKED})


@dataclass(frozen=True)
class Risk:
    """A change that weakens what a rule enforces."""

    rule: str
    message: str

    @property
    def severity(self) -> str:
        return get_rule(self.rule).severity.value

    @property
    def mandatory(self) -> bool:
        return get_rule(self.rule).default_enforcement is Enforcement.MANDATORY

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Change:
    urn: str
    type: str
    name: str
    action: Action
    risks: tuple[Risk, ...] = ()
    #: Security-relevant but weakening no rule (an approved algorithm changed, a grant removed).
    notes: tuple[str, ...] = ()
    #: Top-level inputs whose value changed (names only: values may be secrets).
    properties: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "action": self.action.value,
            "risks": [r.to_json() for r in self.risks],
            "notes": list(self.notes),
            "properties": list(self.properties),
        }


@dataclass(frozen=True)
class StackDiff:
    changes: tuple[Change, ...]
    #: Accounts, projects or subscriptions taken as the stack's own (KM-ENV-002).
    home_scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def risks(self) -> list[Risk]:
        return [r for c in self.changes for r in c.risks]

    def has_mandatory_risk(self) -> bool:
        return any(r.mandatory for r in self.risks)

    def summary(self) -> dict[str, Any]:
        actions = {a.value: 0 for a in Action}
        for change in self.changes:
            actions[change.action.value] += 1
        by_rule: dict[str, int] = {}
        for risk in self.risks:
            by_rule[risk.rule] = by_rule.get(risk.rule, 0) + 1
        risks = self.risks
        return {
            "changes": len(self.changes),
            **actions,
            "risks": len(risks),
            "mandatory": sum(1 for r in risks if r.mandatory),
            "advisory": sum(1 for r in risks if not r.mandatory),
            "by_rule": dict(sorted(by_rule.items())),
        }

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes], "summary": self.summary()}


# --- the diff ------------------------------------------------------------------------------------


def diff_resources(
    old: Sequence[Registration],
    new: Sequence[Registration],
    *,
    operations: Mapping[str, str] | None = None,
    old_ids: Mapping[str, str] | None = None,
    new_ids: Mapping[str, str] | None = None,
    home_scopes: Iterable[str] | None = None,
) -> StackDiff:
    """The changes from `old` to `new`, in URN order.

    `operations` are a preview's step operations per URN (they say create, update or replace
    better than a comparison can); `old_ids`/`new_ids` the physical IDs of a stack export (a
    changed ID means the resource was replaced). `home_scopes` are the stack's own accounts,
    projects or subscriptions; by default those its old state already grants to.
    """
    operations = operations or {}
    old_ids = old_ids or {}
    new_ids = new_ids or {}
    before = {r.urn: r for r in old}
    after = {r.urn: r for r in new}
    pairs: list[tuple[Action, Registration | None, Registration | None]] = []
    for urn in sorted(before.keys() | after.keys()):
        action = _action(
            before.get(urn), after.get(urn), operations.get(urn), old_ids.get(urn), new_ids.get(urn)
        )
        if action is not None:
            pairs.append((action, before.get(urn), after.get(urn)))

    old_facts = {p.urn: facts_from_resource(p) for _, p, _ in pairs if p is not None}
    new_facts = {n.urn: facts_from_resource(n) for _, _, n in pairs if n is not None}
    if home_scopes is None:
        # Only the changed resources' old grants are read: the others cannot be judged cheaply
        # and a principal already granted elsewhere is as "home" as the stack makes it.
        scopes = frozenset(
            scope
            for facts in old_facts.values()
            for principal in _principals(facts)
            if (scope := principal_scope(principal)) is not None
        ) | frozenset(_named_scopes(p for _, p, _ in pairs if p is not None))
    else:
        scopes = frozenset(home_scopes)
    before_access = _target_access(old_facts.values())
    after_access = _target_access(new_facts.values())
    context = _Context(scopes, before_access, after_access)

    changes = []
    for action, previous, current in pairs:
        resource = current or previous
        assert resource is not None
        risks: list[Risk] = []
        notes: list[str] = []
        was = old_facts.get(previous.urn, ()) if previous else ()
        now = new_facts.get(current.urn, ()) if current else ()
        _judge(action, previous, current, was, now, context, risks, notes)
        changes.append(
            Change(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                action=action,
                risks=tuple(dict.fromkeys(risks)),
                notes=tuple(dict.fromkeys(notes)),
                properties=_changed_properties(previous, current)
                if action in (Action.UPDATE, Action.REPLACE)
                else (),
            )
        )
    return StackDiff(tuple(changes), scopes)


def _action(
    old: Registration | None,
    new: Registration | None,
    op: str | None,
    old_id: str | None,
    new_id: str | None,
) -> Action | None:
    if op in REPLACE_OPS:
        return Action.REPLACE
    if op in DELETE_OPS:
        return Action.DELETE
    if op in CREATE_OPS:
        return Action.CREATE
    if op in UPDATE_OPS:
        return Action.UPDATE
    if op in UNCHANGED_OPS:
        return None
    if old is None:
        return Action.CREATE if new is not None else None
    if new is None:
        return Action.DELETE
    if old_id and new_id and old_id != new_id:
        return Action.REPLACE
    if old.inputs == new.inputs and old.protect == new.protect:
        return None
    forcing = REPLACE_ON.get(new.type, frozenset())
    if any(old.inputs.get(name) != new.inputs.get(name) for name in forcing):
        return Action.REPLACE
    return Action.UPDATE


_NAMED_SCOPE = re.compile(
    r"^(?:projects/([a-z][a-z0-9-]{4,28}[a-z0-9])/|arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):"
    r"|/subscriptions/([0-9a-fA-F-]{36})/)"
)


def _named_scopes(resources: Iterable[Registration]) -> Iterator[str]:
    """Accounts, projects and subscriptions that old resources name in their own inputs (a key
    ring's `projects/<id>/...`, a key's ARN): the stack lives there."""
    for resource in resources:
        for value in resource.inputs.values():
            if isinstance(value, str) and (match := _NAMED_SCOPE.match(value)):
                yield next(g for g in match.groups() if g)


def _changed_properties(old: Registration | None, new: Registration | None) -> tuple[str, ...]:
    if old is None or new is None:
        return ()
    names = sorted(old.inputs.keys() | new.inputs.keys())
    changed = [n for n in names if old.inputs.get(n) != new.inputs.get(n)]
    if old.protect != new.protect:
        changed.append("protect")
    return tuple(changed)


def _one(facts: Sequence[Facts], kind: type[Any] | tuple[type[Any], ...]) -> Any:
    return next((f for f in facts if isinstance(f, kind)), None)


def _known(value: object) -> bool:
    return not isinstance(value, Unknown)


# --- grants ---------------------------------------------------------------------------------------


def _grants_of(facts: Facts) -> tuple[Grant, ...]:
    grants = getattr(facts, "grants", ())
    return grants if isinstance(grants, tuple) else ()


def _target_of(facts: Facts) -> Target | None:
    if isinstance(facts, Key):
        return Target.KEY
    if isinstance(facts, Secret):
        return Target.SECRET
    return None


def _principals(facts: Iterable[Facts]) -> Iterator[str]:
    for item in facts:
        for grant in (*_grants_of(item), *_trust_of(item)):
            if isinstance(grant.principal, str) and grant.effect is Effect.ALLOW:
                yield grant.principal


def _trust_of(facts: Facts | None) -> tuple[Grant, ...]:
    """Who may assume a role (its trust policy), when known."""
    trust = facts.trust if isinstance(facts, Role) else ()
    return trust if isinstance(trust, tuple) else ()


def _trusted(facts: Facts | None) -> dict[str, bool]:
    """Principals a role's trust policy allows, each with whether every statement that lets it
    in requires MFA."""
    result: dict[str, bool] = {}
    for grant in _trust_of(facts):
        if grant.effect is Effect.ALLOW and isinstance(grant.principal, str):
            result[grant.principal] = result.get(grant.principal, True) and requires_mfa(grant)
    return result


@lru_cache(maxsize=4096)
def _actions_access(actions: tuple[str, ...], target: Target | None) -> frozenset[Access]:
    # Key policies repeat the same few action lists; matching wildcards is the costly part.
    return actions_access(actions, target)


@dataclass(frozen=True)
class _Granted:
    access: frozenset[Access]
    actions: tuple[str, ...]


def _grant_map(facts: Facts) -> dict[str, _Granted]:
    """Allowed principals of one resource and what they may do (unknown grants are left out)."""
    target = _target_of(facts)
    result: dict[str, _Granted] = {}
    for grant in _grants_of(facts):
        if grant.effect is not Effect.ALLOW:
            continue
        if not isinstance(grant.principal, str) or not isinstance(grant.actions, tuple):
            continue
        known = result.get(grant.principal, _Granted(frozenset(), ()))
        result[grant.principal] = _Granted(
            known.access | _actions_access(grant.actions, target),
            tuple(dict.fromkeys(known.actions + grant.actions)),
        )
    return result


def _governed(facts: Facts) -> str:
    """What a grant governs: the key or secret itself, or the target of a separate binding."""
    if isinstance(facts, AccessBinding) and facts.target is not None:
        if facts.target.urns:
            return facts.target.urns[0]
        if isinstance(facts.target.value, str) and facts.target.value:
            return facts.target.value
    return facts.urn


def _target_access(
    facts: Iterable[tuple[Facts, ...]],
) -> dict[tuple[str, str], frozenset[Access]]:
    """Per (governed resource, principal): the union of what the changed resources grant."""
    result: dict[tuple[str, str], frozenset[Access]] = {}
    for group in facts:
        for item in group:
            for principal, granted in _grant_map(item).items():
                key = (_governed(item), principal)
                result[key] = result.get(key, frozenset()) | granted.access
    return result


@dataclass(frozen=True)
class _Context:
    home_scopes: frozenset[str]
    before: Mapping[tuple[str, str], frozenset[Access]]
    after: Mapping[tuple[str, str], frozenset[Access]]


def _access_text(access: frozenset[Access]) -> str:
    return "+".join(a.value for a in Access if a in access) or "no key rights"


def _foreign_scope(principal: str, context: _Context) -> tuple[str, str] | None:
    """(its account or project, the stack's) for a principal of another account or project."""
    scope = principal_scope(principal)
    if scope is None or not context.home_scopes or scope in context.home_scopes:
        return None
    return scope, ", ".join(sorted(context.home_scopes))


def _judge_grants(
    name: str,
    was: Facts | None,
    now: Facts | None,
    context: _Context,
    risks: list[Risk],
    notes: list[str],
) -> None:
    before = _grant_map(was) if was is not None else {}
    after = _grant_map(now) if now is not None else {}
    for principal in sorted(before.keys() - after.keys()):
        notes.append(
            f"{name}: {principal} no longer granted ({_access_text(before[principal].access)})"
        )
    if now is None:
        return
    governed = _governed(now)
    for principal, granted in sorted(after.items()):
        previous = before.get(principal)
        gained = granted.access - (previous.access if previous else frozenset())
        new_actions = [a for a in granted.actions if previous is None or a not in previous.actions]
        if previous is not None and not gained and not new_actions:
            continue
        label = ", ".join(action_label(a) for a in new_actions) or _access_text(gained)
        if is_wildcard_principal(principal):
            risks.append(
                Risk(
                    "KM-ACC-001",
                    f"{name}: wildcard principal {principal!r} granted {label}; "
                    "name the specific roles or service accounts instead.",
                )
            )
        wild = [a for a in new_actions if is_wildcard_action(a)]
        broad = [a for a in new_actions if is_broad_role(a)]
        if wild:
            risks.append(
                Risk(
                    "KM-ACC-001",
                    f"{name}: {principal} granted wildcard actions {', '.join(wild)}; "
                    "grant the specific key operations instead.",
                )
            )
        if broad:
            risks.append(
                Risk(
                    "KM-ACC-001",
                    f"{name}: {principal} granted broad role "
                    f"{', '.join(action_label(a) for a in broad)}; acceptable only for a declared "
                    "key administrator.",
                )
            )
        if (foreign := _foreign_scope(principal, context)) is not None:
            scope, home = foreign
            risks.append(
                Risk(
                    "KM-ENV-002",
                    f"{name}: {principal} from account/project {scope} (the stack's: {home}) "
                    f"granted {label}; grant only principals of this environment.",
                )
            )
        total_before = context.before.get((governed, principal), frozenset())
        total_after = context.after.get((governed, principal), frozenset())
        both = {Access.ADMIN, Access.USE}
        if both <= total_after and not both <= total_before:
            if Access.ADMIN in total_before:
                what = "a key administrator gains use (encrypt, decrypt, sign)"
            elif Access.USE in total_before:
                what = "a key user gains administration"
            else:
                what = "a new principal is both administrator and user"
            risks.append(
                Risk(
                    "KM-ACC-002",
                    f"{name}: {what}: {principal} now has {_access_text(total_after)}; "
                    "split administration and use between different principals.",
                )
            )
        if previous is None:
            notes.append(f"{name}: {principal} granted {label}")
        elif gained:
            notes.append(f"{name}: {principal} gains {_access_text(gained)}")


def _judge_trust(
    name: str,
    was: Role | None,
    now: Role | None,
    context: _Context,
    risks: list[Risk],
    notes: list[str],
) -> None:
    """Who may assume a role (KM-ACC-003, KM-ENV-002): whoever may, holds what it is granted."""
    before, after = _trusted(was), _trusted(now)
    for principal in sorted(before.keys() - after.keys()):
        notes.append(f"{name}: {principal} may no longer assume the role")
    for principal, with_mfa in sorted(after.items()):
        if principal in before:
            if before[principal] and not with_mfa:
                risks.append(
                    Risk(
                        "KM-ACC-003",
                        f"{name}: {principal} may now assume the role without MFA; keep "
                        "aws:MultiFactorAuthPresent in the trust policy.",
                    )
                )
            continue
        if is_wildcard_principal(principal):
            risks.append(
                Risk(
                    "KM-ACC-003",
                    f"{name}: anyone ({principal}) may assume the role; trust the specific roles "
                    "or users instead.",
                )
            )
        elif is_account_wide(principal):
            risks.append(
                Risk(
                    "KM-ACC-003",
                    f"{name}: every principal of account {principal.split(':')[4]} may assume the "
                    "role; trust the specific roles or users instead.",
                )
            )
        if (foreign := _foreign_scope(principal, context)) is not None:
            scope, home = foreign
            risks.append(
                Risk(
                    "KM-ENV-002",
                    f"{name}: {principal} from account {scope} (the stack's: {home}) may assume "
                    "the role; trust only principals of this environment.",
                )
            )
        notes.append(f"{name}: {principal} may assume the role")


# --- per kind of resource -------------------------------------------------------------------------


def _judge(
    action: Action,
    old: Registration | None,
    new: Registration | None,
    was: Sequence[Facts],
    now: Sequence[Facts],
    context: _Context,
    risks: list[Risk],
    notes: list[str],
) -> None:
    resource = new or old
    assert resource is not None
    name = resource.name
    gone = action in (Action.DELETE, Action.REPLACE)

    holder_before = next((f for f in was if isinstance(f, _KEY_HOLDERS)), None)
    holder_after = next((f for f in now if isinstance(f, _KEY_HOLDERS)), None)
    if holder_before is not None and gone:
        what = {
            Key: "key",
            HsmCluster: "HSM cluster",
            Vault: "vault",
            KeyContainer: "key ring",
        }[type(holder_before)]
        verb = "deleted" if action is Action.DELETE else "replaced (the old one is destroyed)"
        risks.append(
            Risk(
                "KM-DEL-001",
                f"{name}: {what} {verb}: data encrypted under {'it' if what == 'key' else 'its keys'} "
                "becomes unrecoverable "
                "(Policy §11: loss of encryption keys is potential data loss); keep it, or "
                "re-encrypt the data first and record the change.",
            )
        )
    if holder_before is not None and holder_after is not None:
        if holder_before.protect is True and holder_after.protect is False:
            risks.append(
                Risk(
                    "KM-DEL-001",
                    f"{name}: Pulumi `protect` removed: a `pulumi destroy` or a refactor can "
                    "now delete it; keep protect=True in staging and production.",
                )
            )
    elif old is not None and new is not None and old.protect and not new.protect:
        notes.append(f"{name}: Pulumi `protect` removed")

    for kind in (Key, Secret, AccessBinding):
        before, after = _one(was, kind), _one(now, kind)
        if before is not None or after is not None:
            _judge_grants(
                name, before, after if action is not Action.DELETE else None, context, risks, notes
            )

    role_before, role_after = _one(was, Role), _one(now, Role)
    if role_before is not None or role_after is not None:
        _judge_trust(
            name,
            role_before,
            role_after if action is not Action.DELETE else None,
            context,
            risks,
            notes,
        )

    if action is Action.DELETE:
        _judge_removed(name, was, risks)
        return
    if action is Action.CREATE:
        return
    key_before, key_after = _one(was, Key), _one(now, Key)
    if key_before is not None and key_after is not None:
        _judge_key(name, key_before, key_after, risks, notes)
    _judge_settings(name, was, now, risks)
    _judge_tags(name, was, now, risks, notes)


#: The tags a rule reads, the kinds of resource it reads them on, and what to keep.
_RULE_TAGS: tuple[tuple[str, str, tuple[type[Any], ...], str], ...] = (
    (
        "KM-ENV-001",
        TAG_ENVIRONMENT,
        (Key, Secret, Role, Trail, LogBucket),
        "keep it equal to the stack's environment",
    ),
    (
        "KM-PUR-001",
        TAG_PURPOSE,
        (Key, Secret),
        "a key or secret serves the one purpose it was created for (Policy §8); create one for "
        "the new purpose instead",
    ),
)


def _judge_tags(
    name: str, was: Sequence[Facts], now: Sequence[Facts], risks: list[Risk], notes: list[str]
) -> None:
    """Tags the rules read (environment, purpose) removed or changed; a tenant tag changed."""
    for rule, tag, kinds, keep in _RULE_TAGS:
        before, after = _one(was, kinds), _one(now, kinds)
        if before is None or after is None:
            continue
        old, new = before.tag(tag), after.tag(tag)
        if isinstance(old, str) and old and _known(new) and new != old:
            what = f"changed from {old!r} to {new!r}" if new else f"removed (was {old!r})"
            risks.append(Risk(rule, f"{name}: {tag} tag {what}; {keep}."))
    before, after = _one(was, (Key, Secret)), _one(now, (Key, Secret))
    if before is not None and after is not None:
        old, new = before.tenant_tag, after.tenant_tag
        if _known(old) and _known(new) and old != new:
            notes.append(f"{name}: {TAG_TENANT} tag {old or 'none'} -> {new or 'none'}")


def _judge_key(name: str, was: Key, now: Key, risks: list[Risk], notes: list[str]) -> None:
    if was.rotation_enabled is True and now.rotation_enabled is False:
        risks.append(
            Risk(
                "KM-ROT-001",
                f"{name}: automatic rotation disabled (was every {was.rotation_days} days); "
                "keep rotation enabled.",
            )
        )
    elif _longer(was.rotation_days, now.rotation_days):
        risks.append(
            Risk(
                "KM-ROT-002",
                f"{name}: rotation period lengthened from {was.rotation_days} to "
                f"{now.rotation_days} days; check it against the purpose's maximum.",
            )
        )
    if (
        _known(was.algorithm)
        and _known(now.algorithm)
        and _alg(was.algorithm) != _alg(now.algorithm)
    ):
        change = f"algorithm changed from {_alg(was.algorithm)} to {_alg(now.algorithm)}"
        if isinstance(now.algorithm, Algorithm) and now.algorithm.approved:
            notes.append(f"{name}: {change} (approved)")
        else:
            risks.append(
                Risk(
                    "KM-ALG-001",
                    f"{name}: {change}, which is not an approved algorithm (Policy §5); use "
                    "AES-256, RSA >= 2048, ECDSA P-256/P-384/P-521, Ed25519 or HMAC-SHA256+.",
                )
            )
    if _shorter(was.deletion_window_days, now.deletion_window_days):
        risks.append(
            Risk(
                "KM-DEL-001",
                f"{name}: deletion window shortened from {was.deletion_window_days} to "
                f"{now.deletion_window_days} days; keep it at 30.",
            )
        )


def _alg(value: object) -> str:
    return value.name if isinstance(value, Algorithm) else str(value)


def _longer(was: object, now: object) -> bool:
    return isinstance(was, int) and isinstance(now, int) and now > was


def _shorter(was: object, now: object) -> bool:
    return isinstance(was, int) and isinstance(now, int) and now < was


def _off(was: object, now: object) -> bool:
    """A setting switched off (True before, False or absent now)."""
    return was is True and (now is False or now is None)


def _judge_settings(
    name: str, was: Sequence[Facts], now: Sequence[Facts], risks: list[Risk]
) -> None:
    vault_before, vault_after = _one(was, Vault), _one(now, Vault)
    if vault_before is not None and vault_after is not None:
        if _off(vault_before.purge_protection, vault_after.purge_protection):
            risks.append(Risk("KM-DEL-001", f"{name}: purge protection turned off."))
        if _shorter(vault_before.soft_delete_days, vault_after.soft_delete_days):
            risks.append(
                Risk(
                    "KM-DEL-001",
                    f"{name}: soft-delete retention shortened from "
                    f"{vault_before.soft_delete_days} to {vault_after.soft_delete_days} days.",
                )
            )

    secret_before, secret_after = _one(was, Secret), _one(now, Secret)
    if secret_before is not None and secret_after is not None:
        _judge_secret_rotation(
            name, secret_before.rotation_days, secret_after.rotation_days, None, None, risks
        )
    rotation_before, rotation_after = _one(was, SecretRotation), _one(now, SecretRotation)
    if rotation_before is not None and rotation_after is not None:
        _judge_secret_rotation(
            name,
            rotation_before.rotation_days,
            rotation_after.rotation_days,
            rotation_before.enabled,
            rotation_after.enabled,
            risks,
        )

    trail_before, trail_after = _one(was, Trail), _one(now, Trail)
    if trail_before is not None and trail_after is not None:
        for label, before, after in (
            ("multi-region logging", trail_before.multi_region, trail_after.multi_region),
            (
                "log file validation",
                trail_before.log_file_validation,
                trail_after.log_file_validation,
            ),
            ("logging", trail_before.logging_enabled, trail_after.logging_enabled),
        ):
            if _off(before, after):
                risks.append(Risk("KM-LOG-001", f"{name}: trail {label} turned off."))
        if isinstance(trail_before.kms_key, str) and trail_after.kms_key is None:
            risks.append(Risk("KM-LOG-001", f"{name}: trail no longer KMS-encrypted."))
        if trail_before.excludes_kms_events is False and trail_after.excludes_kms_events is True:
            risks.append(Risk("KM-LOG-001", f"{name}: trail now leaves out KMS events."))

    audit_before, audit_after = _one(was, AuditConfig), _one(now, AuditConfig)
    if audit_before is not None and audit_after is not None:
        lost = _lost(audit_before.log_types, audit_after.log_types)
        if lost:
            risks.append(Risk("KM-LOG-001", f"{name}: audit log types {lost} no longer logged."))
    sink_before, sink_after = _one(was, LogSink), _one(now, LogSink)
    if sink_before is not None and sink_after is not None:
        if sink_before.disabled is False and sink_after.disabled is True:
            risks.append(Risk("KM-LOG-001", f"{name}: log sink disabled."))
        if sink_before.filter != sink_after.filter and _known(sink_after.filter):
            risks.append(
                Risk(
                    "KM-LOG-001",
                    f"{name}: log sink filter changed to {sink_after.filter!r}; check it still "
                    "exports cloudkms.googleapis.com audit logs.",
                )
            )
    diag_before, diag_after = _one(was, DiagnosticSetting), _one(now, DiagnosticSetting)
    if diag_before is not None and diag_after is not None:
        lost = _lost(diag_before.enabled_logs, diag_after.enabled_logs)
        if lost:
            risks.append(Risk("KM-LOG-001", f"{name}: diagnostic logs {lost} no longer sent."))

    for kind in (LogBucket, ObjectLock):
        before, after = _one(was, kind), _one(now, kind)
        if before is not None and after is not None:
            _judge_retention(name, before, after, risks)
    bucket_before, bucket_after = _one(was, LogBucket), _one(now, LogBucket)
    if bucket_before is not None and bucket_after is not None:
        if _off(bucket_before.versioning, bucket_after.versioning):
            risks.append(Risk("KM-LOG-002", f"{name}: bucket versioning turned off."))
        if _off(bucket_before.object_lock_enabled, bucket_after.object_lock_enabled):
            risks.append(Risk("KM-LOG-002", f"{name}: S3 Object Lock removed from the bucket."))
    versioning_before, versioning_after = _one(was, Versioning), _one(now, Versioning)
    if (
        versioning_before is not None
        and versioning_after is not None
        and _off(versioning_before.enabled, versioning_after.enabled)
    ):
        risks.append(Risk("KM-LOG-002", f"{name}: bucket versioning turned off."))


def _lost(before: object, after: object) -> str:
    if isinstance(before, frozenset) and isinstance(after, frozenset):
        return ", ".join(sorted(str(x) for x in before - after))
    return ""


def _judge_secret_rotation(
    name: str,
    days_before: object,
    days_after: object,
    enabled_before: object,
    enabled_after: object,
    risks: list[Risk],
) -> None:
    if _off(enabled_before, enabled_after) or (isinstance(days_before, int) and days_after is None):
        risks.append(
            Risk(
                "KM-ROT-003",
                f"{name}: secret rotation removed (was every {days_before} days); "
                "api-secret and ai-service-key secrets rotate at most every 90 days.",
            )
        )
    elif _longer(days_before, days_after):
        risks.append(
            Risk(
                "KM-ROT-003",
                f"{name}: secret rotation lengthened from {days_before} to {days_after} days; "
                "api-secret and ai-service-key secrets rotate at most every 90 days.",
            )
        )


def _judge_retention(
    name: str, was: LogBucket | ObjectLock, now: LogBucket | ObjectLock, risks: list[Risk]
) -> None:
    if (
        was.immutability in _STRONG_IMMUTABILITY
        and now.immutability not in _STRONG_IMMUTABILITY
        and not isinstance(now.immutability, Unknown)
    ):
        weaker = now.immutability.value if now.immutability else "none"
        risks.append(
            Risk(
                "KM-LOG-002",
                f"{name}: log immutability weakened from {was.immutability} to {weaker}; "
                "keep COMPLIANCE mode (S3) or a locked retention policy.",
            )
        )
    if _shorter(was.retention_days, now.retention_days):
        risks.append(
            Risk(
                "KM-LOG-002",
                f"{name}: log retention shortened from {was.retention_days} to "
                f"{now.retention_days} days.",
            )
        )


def _judge_removed(name: str, was: Sequence[Facts], risks: list[Risk]) -> None:
    """Deleting what keeps the audit trail or a secret's rotation."""
    for item in was:
        if isinstance(item, Trail | AuditConfig | LogSink | DiagnosticSetting):
            risks.append(Risk("KM-LOG-001", f"{name}: audit logging resource deleted."))
        elif isinstance(item, ObjectLock) or (
            isinstance(item, LogBucket) and item.immutability in _STRONG_IMMUTABILITY
        ):
            risks.append(
                Risk("KM-LOG-002", f"{name}: immutable log storage or its retention lock deleted.")
            )
        elif isinstance(item, SecretRotation):
            risks.append(
                Risk(
                    "KM-ROT-003",
                    f"{name}: secret rotation removed; api-secret and ai-service-key secrets "
                    "rotate at most every 90 days.",
                )
            )


# --- rendering --------------------------------------------------------------------------------------


def json_text(diff: StackDiff) -> str:
    return json.dumps(diff.to_json(), indent=2) + "\n"


def _order(change: Change) -> tuple[int, str]:
    """Risky changes first (a reviewer reads the top of the comment), then by URN."""
    return (0 if change.risks else 1, change.urn)


def markdown_text(diff: StackDiff, *, max_chars: int = COMMENT_LIMIT) -> str:
    """A pull-request comment: a summary table, then details per resource, within `max_chars`."""
    summary = diff.summary()
    head = [
        "## keyplane diff",
        "",
        f"{summary['changes']} changed resources ({summary['create']} created, "
        f"{summary['update']} updated, {summary['replace']} replaced, {summary['delete']} "
        f"deleted); {summary['risks']} risks ({summary['mandatory']} of mandatory rules).",
        "",
    ]
    if not diff.changes:
        return "\n".join([*head, "No changes."]) + "\n"
    changes = sorted(diff.changes, key=_order)
    rows = ["| Resource | Type | Action | Risks |", "|---|---|---|---|"]
    details = ["", "### Details", ""]
    budget = max_chars - len("\n".join(head)) - 400
    shown_rows = 0
    for change in changes:
        rules = ", ".join(dict.fromkeys(r.rule for r in change.risks)) or "-"
        row = f"| `{code(change.name, in_table=True)}` | `{code(change.type, in_table=True)}` | {change.action.value} | {rules} |"
        if budget - len(row) - 1 < 0:
            break
        rows.append(row)
        budget -= len(row) + 1
        shown_rows += 1
    shown_details = 0
    for change in changes[:shown_rows]:
        if not change.risks and not change.notes:
            continue
        block = [
            f"#### `{code(change.name)}` ({change.action.value})",
            "",
            f"`{code(change.urn)}`",
            "",
        ]
        block += [f"- **{r.rule}** ({r.severity}): {line(r.message)}" for r in change.risks]
        block += [f"- {line(note)}" for note in change.notes]
        if change.properties:
            block.append(f"- changed inputs: {line(', '.join(change.properties))}")
        block.append("")
        text = "\n".join(block)
        if budget - len(text) - 1 < 0:
            break
        details.append(text)
        budget -= len(text) + 1
        shown_details += 1
    with_details = sum(1 for c in changes if c.risks or c.notes)
    tail = []
    if shown_rows < len(changes) or shown_details < with_details:
        tail = [
            "",
            f"_Truncated to fit a comment: {shown_rows} of {len(changes)} changes in the table, "
            f"{shown_details} of {with_details} detailed; run `keyplane diff --format json` "
            "for all._",
        ]
    body = head + rows + (details if shown_details else []) + tail
    return "\n".join(body).rstrip("\n") + "\n"
