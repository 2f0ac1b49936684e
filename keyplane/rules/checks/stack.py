"""Checks over a whole stack (CrossGuard `AnalyzeStack`): joins across resources.

Grants written apart from a key (IAM policies, IAM members, role assignments), rotation and
object lock configured by separate resources, and what must exist once per stack (an audit
trail) are judged here. Each check returns the verdicts that need reporting (failures and
unknowns), or one "not applicable".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from types import MappingProxyType

from keyplane.facts.access import (
    Access,
    Effect,
    Grant,
    Target,
    action_label,
    actions_access,
    azure_operations_access,
    is_known_action,
    is_wildcard_principal,
    principal_scope,
)
from keyplane.facts.model import (
    AccessBinding,
    AuditConfig,
    DiagnosticSetting,
    Immutability,
    Key,
    KeyContainer,
    LogBucket,
    LogSink,
    ObjectLock,
    PolicyAttachment,
    Resource,
    Role,
    RoleDefinition,
    Secret,
    SecretRotation,
    StackFacts,
    Trail,
    Vault,
    Versioning,
)
from keyplane.facts.values import Ref, Unknown
from keyplane.rules.checks.context import Context, OtherEnvironment, principal_key
from keyplane.rules.checks.resource import purpose_of
from keyplane.rules.checks.verdict import (
    Outcome,
    Verdict,
    fail,
    not_applicable,
    stack_fail,
    stack_unknown,
    unknown,
)
from keyplane.standard import SECRET_ROTATION_MAX_DAYS as _SECRET_ROTATION_DAYS
from keyplane.standard import (
    SECRET_ROTATION_PURPOSES,
    TAG_TENANT,
    Cloud,
    Isolation,
    KeyPurpose,
    Tier,
)

StackCheck = Callable[[StackFacts, Context], list[Verdict]]


# --- who is granted what on a key or secret --------------------------------------------------


@dataclass(frozen=True)
class AppliedGrant:
    """A grant that applies to a key or secret, with its principal resolved."""

    principal: str
    actions: tuple[str, ...]
    access: frozenset[Access]
    source: Resource


@dataclass(frozen=True)
class Grants:
    applied: tuple[AppliedGrant, ...]
    #: Some grant might apply but cannot be read until deployment.
    undecided: bool


def _same_ref(a: Ref | None, b: Ref | None) -> bool:
    if a is None or b is None:
        return False
    return bool(set(a.urns) & set(b.urns)) or bool(a.candidates() & b.candidates())


def _azure_broad_scope(ref: Ref) -> bool:
    """A subscription or resource-group scope covers every vault in it."""
    value = ref.value
    return (
        isinstance(value, str)
        and value.lower().startswith("/subscriptions/")
        and "/providers/" not in value.lower()
    )


def _binding_applies(stack: StackFacts, binding: AccessBinding, item: Key | Secret) -> bool | None:
    """Whether a resource-side binding (IAM member, role assignment, key policy resource)
    governs `item`; None when its target is not known yet.

    A target that names a key or secret (a key policy's key, a role assignment scoped to one
    key) governs that item only, even when it is also computed from the item's vault; a target
    that names a key ring or vault governs every item in it.
    """
    target = binding.target
    if target is None:
        return False
    named = [f for f in stack.resolve(target) if isinstance(f, Key | Secret)]
    if named:
        return any(f.urn == item.urn for f in named)
    if item.matches(target):
        return True
    if _same_ref(target, item.container):
        return True
    if item.container is not None and any(
        isinstance(c, KeyContainer | Vault) and c.matches(item.container)
        for c in stack.resolve(target)
    ):
        return True
    if item.cloud is Cloud.AZURE and binding.cloud is Cloud.AZURE and _azure_broad_scope(target):
        return True
    if isinstance(target.value, Unknown) and not target.urns:
        return None
    return False


_ARN_RESOURCE = {Key: ("kms", "key/"), Secret: ("secretsmanager", "secret:")}


def _arn_parts(pattern: str) -> tuple[str, str] | None:
    """(service, resource) of an ARN or ARN pattern."""
    parts = pattern.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return parts[2], parts[5]


def _resource_matches(pattern: str, item: Key | Secret) -> bool | None:
    """Whether a statement's resource reaches `item`; None for a literal ARN of the item's
    kind that matches nothing known (the item's own ARN is only known after deployment)."""
    if pattern == "*" or any(fnmatchcase(i, pattern) for i in item.ids):
        return True
    service, prefix = _ARN_RESOURCE[type(item)]
    parts = _arn_parts(pattern)
    if parts is None or not fnmatchcase(service, parts[0]):
        return False
    resource = parts[1]
    if "*" in resource or "?" in resource:
        if any(fnmatchcase(prefix + i, resource) for i in item.ids):
            return True
        # `arn:aws:kms:*:111111111111:key/*` reaches every key, new ones included.
        return fnmatchcase(prefix + "x", resource)
    if not resource.startswith(prefix):
        return False
    return True if resource.removeprefix(prefix) in item.ids | {item.name} else None


def _is_pattern(resource: str) -> bool:
    return any(c in resource for c in "*?[")


@dataclass(frozen=True)
class _StatementResources:
    """An identity-policy statement's resources, read once for every item it may reach.

    A policy often lists the ARN of every key: literal ARNs are looked up by the identifier or
    name they end in, and only wildcard patterns are matched item by item (`_resource_matches`,
    which this agrees with).
    """

    #: Resources without wildcards: each reaches the items it is an identifier of...
    literal: frozenset[str]
    #: ...and, when it is an ARN of a key or secret, the items of that kind it names.
    named: Mapping[type, frozenset[str]]
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, resources: tuple[str, ...]) -> _StatementResources:
        literal = frozenset(r for r in resources if not _is_pattern(r))
        named: dict[type, set[str]] = defaultdict(set)
        for resource in literal:
            parts = _arn_parts(resource)
            for kind, (service, prefix) in _ARN_RESOURCE.items():
                if parts is not None and parts[0] == service and parts[1].startswith(prefix):
                    named[kind].add(parts[1].removeprefix(prefix))
        patterns = tuple(r for r in resources if _is_pattern(r))
        return cls(literal, {k: frozenset(v) for k, v in named.items()}, patterns)

    @property
    def lookup_keys(self) -> frozenset[str]:
        """Identifiers and names of the items the literal resources may reach."""
        return self.literal.union(*self.named.values())

    def reach(self, item: Key | Secret) -> bool | None:
        """True when a resource reaches `item`; None when a literal ARN of the item's kind
        might be its ARN once known; as `_resource_matches` over every resource."""
        named = self.named.get(type(item))
        if self.literal & item.ids or (named and named & (item.ids | {item.name})):
            return True
        undecided = named is not None
        for pattern in self.patterns:
            matched = _resource_matches(pattern, item)
            if matched:
                return True
            undecided = undecided or matched is None
        return None if undecided else False


def _identity_applies(
    binding: AccessBinding, resources: _StatementResources | Unknown, item: Key | Secret
) -> bool | None:
    """Whether an identity-policy statement reaches `item`; None when it cannot be told."""
    if item.cloud is not Cloud.AWS or binding.cloud is not Cloud.AWS:
        return False
    if isinstance(resources, Unknown):
        return None
    reaches = resources.reach(item)
    if reaches is not None:
        return reaches
    # A literal ARN not known yet: the policy was computed from the item's ARN when the engine
    # says so (property dependencies), unless the ARN names another resource of the stack.
    return binding.target is not None and item.urn in binding.target.urns


def _role_principal(role: Role) -> str:
    name = role.role_name if isinstance(role.role_name, str) and role.role_name else role.name
    return f"aws-role:{name}"


def _roles_of(stack: StackFacts, ref: Ref | None) -> list[str]:
    """The in-stack roles a reference (a role policy's `role`) points at."""
    return [_role_principal(r) for r in stack.resolve(ref) if isinstance(r, Role)]


def _attached_roles(stack: StackFacts, policy: AccessBinding) -> list[str]:
    """Principals a managed policy reaches through its attachments."""
    principals: list[str] = []
    for attachment in stack.referring_to(policy, PolicyAttachment, "policy"):
        if attachment.principal_kind != "role":
            # A user or group attachment: the principal keyplane names it by (aws-user:...).
            if isinstance(attachment.role.value, str) and attachment.role.value:
                name = attachment.role.value.rsplit("/", 1)[-1]
                principals.append(f"aws-{attachment.principal_kind}:{name}")
            continue
        roles = [r for r in stack.resolve(attachment.role) if isinstance(r, Role)]
        principals.extend(_role_principal(role) for role in roles)
        if not roles and isinstance(attachment.role.value, str):
            principals.append(f"aws-role:{attachment.role.value.rsplit('/', 1)[-1]}")
    return principals


def _role_access(
    stack: StackFacts, binding: AccessBinding, grant: Grant, target: Target
) -> tuple[tuple[str, ...], frozenset[Access]] | None:
    """The actions (as shown) and access of a grant; a custom role is read from the stack."""
    actions = grant.actions
    if not isinstance(actions, Unknown) and all(is_known_action(a) for a in actions):
        return actions, actions_access(actions, target)
    for definition in stack.resolve(binding.role):
        if not isinstance(definition, RoleDefinition):
            continue
        if isinstance(definition.actions, Unknown) or isinstance(definition.not_actions, Unknown):
            return None
        name = definition.role_name if isinstance(definition.role_name, str) else definition.name
        access = azure_operations_access(definition.actions, definition.not_actions, target)
        return (name or definition.name,), access
    if isinstance(actions, Unknown):
        return None
    return actions, actions_access(actions, target)


class _StackAccess:
    """Who is granted what on the keys and secrets of one stack (`grants_on`).

    Several rules ask for the grants on every key and secret. Each item's grants are computed
    once, and only from the bindings that can reach it: bindings are indexed by every URN,
    identifier or name through which they can govern an item; the few that may govern any item
    (a subscription scope, a target not known yet, a resource pattern) are tried on every item.
    """

    def __init__(self, stack: StackFacts) -> None:
        self.stack = stack
        self.bindings = stack.of(AccessBinding)
        #: Per binding, its allow statements' resources (identity policies with known grants).
        self.statements: list[tuple[_StatementResources | Unknown | None, ...]] = []
        self.by_reference: dict[str, list[int]] = defaultdict(list)
        self.everywhere: list[int] = []
        for position, binding in enumerate(self.bindings):
            statements = self._statements(binding)
            self.statements.append(statements)
            references = self._references(binding, statements)
            if references is None:
                self.everywhere.append(position)
            for reference in references or ():
                self.by_reference[reference].append(position)
        # An item's grants, by identity: facts are not hashable (their tags are a mapping). The
        # item is kept beside them, so that its id is not reused while the entry lives.
        self.granted: dict[int, tuple[Key | Secret, Grants]] = {}

    @staticmethod
    def _statements(binding: AccessBinding) -> tuple[_StatementResources | Unknown | None, ...]:
        if not binding.identity or isinstance(binding.grants, Unknown):
            return ()
        return tuple(
            None
            if grant.effect is not Effect.ALLOW
            else grant.resources
            if isinstance(grant.resources, Unknown)
            else _StatementResources.of(grant.resources)
            for grant in binding.grants
        )

    def _references(
        self, binding: AccessBinding, statements: tuple[_StatementResources | Unknown | None, ...]
    ) -> set[str] | None:
        """What can make `binding` govern an item (see `_item_references`); None when it may
        govern any item."""
        if binding.identity:
            if isinstance(binding.grants, Unknown):
                return None
            references = set(binding.target.urns) if binding.target is not None else set()
            for statement in statements:
                if isinstance(statement, Unknown) or (statement and statement.patterns):
                    return None
                if statement is not None:
                    references |= statement.lookup_keys
            return references
        target = binding.target
        if target is None:
            return set()  # governs nothing
        if _azure_broad_scope(target) or (isinstance(target.value, Unknown) and not target.urns):
            return None
        references = {*target.urns, *target.candidates()}
        for resolved in self.stack.resolve(target):
            if isinstance(resolved, Key | Secret):
                references.add(resolved.urn)
            elif isinstance(resolved, KeyContainer | Vault):
                references |= {resolved.urn, *resolved.ids}
        return references

    @staticmethod
    def _item_references(item: Key | Secret) -> set[str]:
        references = {item.urn, item.name, *item.ids}
        if item.container is not None:
            references |= {*item.container.urns, *item.container.candidates()}
        return references

    def grants_on(self, item: Key | Secret) -> Grants:
        cached = self.granted.get(id(item))
        if cached is not None and cached[0] is item:
            return cached[1]
        grants = self._grants_on(item)
        self.granted[id(item)] = (item, grants)
        return grants

    def _grants_on(self, item: Key | Secret) -> Grants:
        stack = self.stack
        target = Target.KEY if isinstance(item, Key) else Target.SECRET
        applied: list[AppliedGrant] = []
        undecided = False

        def take(grant: Grant, source: Resource, principals: Iterable[str] | None = None) -> None:
            nonlocal undecided
            if grant.effect is not Effect.ALLOW:
                return
            if principals is None:
                # A role policy names its role by name or ID: the in-stack role says who it is.
                principals = _roles_of(stack, grant.principal_ref)
                if not principals:
                    if isinstance(grant.principal, Unknown):
                        undecided = True
                        return
                    principals = [grant.principal]
            resolved = (
                _role_access(stack, source, grant, target)
                if isinstance(source, AccessBinding)
                else None
                if isinstance(grant.actions, Unknown)
                else (grant.actions, actions_access(grant.actions, target))
            )
            if resolved is None:
                undecided = True
                return
            actions, access = resolved
            applied.extend(AppliedGrant(p, actions, access, source) for p in principals)

        if isinstance(item.grants, Unknown):
            undecided = True
        else:
            for grant in item.grants:
                take(grant, item)
        candidates = {p for r in self._item_references(item) for p in self.by_reference.get(r, ())}
        for position in sorted(candidates.union(self.everywhere)):
            binding = self.bindings[position]
            if isinstance(binding.grants, Unknown):
                if binding.cloud is item.cloud and (
                    binding.identity or _binding_applies(stack, binding, item) is not False
                ):
                    undecided = True
                continue
            if not binding.identity:
                applies = _binding_applies(stack, binding, item)
                if applies is None:
                    undecided = True
                elif applies:
                    for grant in binding.grants:
                        take(grant, binding)
                continue
            for grant, statement in zip(binding.grants, self.statements[position], strict=True):
                if statement is None:
                    continue  # not an allow
                reaches = _identity_applies(binding, statement, item)
                if reaches is None:
                    undecided = True
                elif reaches:
                    if grant.principal == "":
                        take(grant, binding, _attached_roles(stack, binding))
                    else:
                        take(grant, binding)
        return Grants(tuple(applied), undecided)


def grants_on(stack: StackFacts, item: Key | Secret) -> Grants:
    """Every allow grant that reaches `item`, from wherever it is written."""
    return stack.derived(_StackAccess).grants_on(item)


def _keys_and_secrets(stack: StackFacts) -> list[Key | Secret]:
    return [f for f in stack.resources if isinstance(f, Key | Secret)]


def _shown(actions: Iterable[str]) -> str:
    return ", ".join(action_label(a) for a in actions)


def _dedupe(verdicts: list[Verdict]) -> list[Verdict]:
    seen: dict[tuple[str, str], Verdict] = {}
    for verdict in verdicts:
        seen.setdefault((verdict.urn, verdict.message), verdict)
    return list(seen.values())


# --- KM-ENV-002 ------------------------------------------------------------------------------


class _ForeignPrincipals:
    """Which other environment of the estate a principal belongs to (KM-ENV-002); the
    environments' principals are read once per stack, not once per grant."""

    def __init__(self, context: Context) -> None:
        self.scope = context.scope
        self.own = {principal_key(p) for p in context.admins | context.auditors} | {
            principal_key(p) for p in context.key_users
        }
        self.others = [
            (other, {principal_key(p) for p in other.principals})
            for other in context.other_environments
        ]

    def environment_of(self, principal: str) -> OtherEnvironment | None:
        scope = principal_scope(principal)
        key = principal_key(principal)
        for other, principals in self.others:
            if scope is not None and other.scope == scope and scope != self.scope:
                return other
            if key in principals and key not in self.own:
                return other
        return None


def environment_isolation(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-ENV-002"
    items = _keys_and_secrets(stack)
    if not items:
        return [not_applicable(rule, "no keys or secrets")]
    foreign = _ForeignPrincipals(context)
    verdicts: list[Verdict] = []
    reported: set[str] = set()  # the URNs of the verdicts so far
    for item in items:
        before = len(verdicts)
        grants = grants_on(stack, item)
        for grant in grants.applied:
            other = foreign.environment_of(grant.principal)
            if other is None:
                continue
            where = f" ({other.scope})" if other.scope else ""
            prod_from_dev = (
                context.effective_tier is Tier.PRODUCTION and other.tier is Tier.DEVELOPMENT
            )
            note = "; production keys are never reachable from development" if prod_from_dev else ""
            verdicts.append(
                fail(
                    rule,
                    item,
                    f"grants {_shown(grant.actions)} to {grant.principal} of environment "
                    f"{other.name}{where}{note}; remove the grant and give {other.name} its own "
                    "key.",
                )
            )
        reported.update(v.urn for v in verdicts[before:])
        if grants.undecided and item.urn not in reported:
            verdicts.append(unknown(rule, item, "who is granted access"))
            reported.add(item.urn)
    return _dedupe(verdicts)


# --- KM-TEN-001 ------------------------------------------------------------------------------


def _role_tenants(stack: StackFacts) -> dict[str, str | None]:
    tenants: dict[str, str | None] = {}
    for role in stack.of(Role):
        tag = role.tenant_tag
        if isinstance(tag, Unknown):
            continue
        tenants[_role_principal(role)] = tag
    return tenants


def tenant_isolation(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-TEN-001"
    items = _keys_and_secrets(stack)
    if not items:
        return [not_applicable(rule, "no keys or secrets")]
    role_tenants = _role_tenants(stack)
    platform = context.platform_principals
    verdicts: list[Verdict] = []
    reported: set[str] = set()  # the URNs of the verdicts so far
    for item in items:
        owner = item.tenant_tag
        if isinstance(owner, Unknown):
            verdicts.append(unknown(rule, item, f"the {TAG_TENANT} tag"))
            reported.add(item.urn)
            continue
        before = len(verdicts)
        grants = grants_on(stack, item)
        for grant in grants.applied:
            if Access.USE not in grant.access:
                continue
            key = principal_key(grant.principal)
            if key in platform:
                continue
            declared, tenant = context.tenant_of(grant.principal)
            if not declared and key in role_tenants:
                declared, tenant = True, role_tenants[key]
            if not declared:
                continue
            if owner and tenant != owner:
                who = f"tenant {tenant}'s principal" if tenant else "a principal outside any tenant"
                verdicts.append(
                    fail(
                        rule,
                        item,
                        f"{item.name} belongs to tenant {owner} but grants {_shown(grant.actions)} "
                        f"to {who} {grant.principal}; remove the grant or give that principal a "
                        "key of its own.",
                    )
                )
            elif not owner and tenant:
                isolation = context.tenants.get(tenant)
                if isolation is Isolation.DEDICATED:
                    verdicts.append(
                        fail(
                            rule,
                            item,
                            f"tenant {tenant} is dedicated but its principal {grant.principal} is "
                            f"granted the shared key {item.name}; give the tenant its own key or "
                            "declare it shared.",
                        )
                    )
                elif isolation is Isolation.SHARED and tenant not in context.shared_keys.get(
                    item.name, frozenset()
                ):
                    verdicts.append(
                        fail(
                            rule,
                            item,
                            f"tenant {tenant} uses the shared key {item.name}, which is not "
                            "registered for it in shared-services.yaml; register it with a "
                            "justification and risk acceptance.",
                        )
                    )
        reported.update(v.urn for v in verdicts[before:])
        if grants.undecided and item.urn not in reported:
            verdicts.append(unknown(rule, item, "who is granted access"))
            reported.add(item.urn)
    return _dedupe(verdicts)


# --- KM-ACC-002 ------------------------------------------------------------------------------


def separation_of_duties(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-ACC-002"
    keys = stack.keys
    if not keys:
        return [not_applicable(rule, "no keys")]
    verdicts = []
    for key in keys:
        grants = grants_on(stack, key)
        admin: dict[str, list[str]] = defaultdict(list)
        use: dict[str, list[str]] = defaultdict(list)
        shown: dict[str, str] = {}
        for grant in grants.applied:
            if is_wildcard_principal(grant.principal):
                continue  # KM-ACC-001
            who = principal_key(grant.principal)
            shown.setdefault(who, grant.principal)
            for action in grant.actions:
                access = (
                    actions_access((action,), Target.KEY)
                    if len(grant.actions) > 1
                    else grant.access
                )
                if Access.ADMIN in access:
                    admin[who].append(action_label(action))
                if Access.USE in access:
                    use[who].append(action_label(action))
        both = [who for who in admin if who in use]
        for who in both:
            verdicts.append(
                fail(
                    rule,
                    key,
                    f"{shown[who]} both administers the key ({', '.join(dict.fromkeys(admin[who]))}) "
                    f"and uses it ({', '.join(dict.fromkeys(use[who]))}); split it into an "
                    "administrator role and a user role.",
                )
            )
        if grants.undecided and not both:
            verdicts.append(unknown(rule, key, "who is granted access"))
    return verdicts


# --- KM-BAK-001 ------------------------------------------------------------------------------


def backup_separation(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-BAK-001"
    keys = stack.keys
    backups = [k for k in keys if purpose_of(k) is KeyPurpose.BACKUP_ENCRYPTION]
    primaries = [k for k in keys if purpose_of(k) is not KeyPurpose.BACKUP_ENCRYPTION]
    if not backups or not primaries:
        return [not_applicable(rule, "no backup keys beside primary keys")]
    admins: dict[str, dict[str, str]] = {}
    undecided: set[str] = set()
    for key in keys:
        grants = grants_on(stack, key)
        admins[key.urn] = {
            principal_key(g.principal): g.principal
            for g in grants.applied
            if Access.ADMIN in g.access and not is_wildcard_principal(g.principal)
        }
        if grants.undecided:
            undecided.add(key.urn)
    # The primaries a backup key may share something with: by administrator, and by the URNs and
    # identifiers of their key ring or vault (`_same_ref`).
    primaries_by: dict[str, list[int]] = defaultdict(list)
    for position, primary in enumerate(primaries):
        for who in admins[primary.urn]:
            primaries_by[f"admin:{who}"].append(position)
        if primary.container is not None:
            for reference in {*primary.container.urns, *primary.container.candidates()}:
                primaries_by[f"container:{reference}"].append(position)
    primary_undecided = any(p.urn in undecided for p in primaries)
    verdicts = []
    for backup in backups:
        lookups = [f"admin:{who}" for who in admins[backup.urn]]
        if backup.container is not None:
            lookups += [
                f"container:{r}" for r in {*backup.container.urns, *backup.container.candidates()}
            ]
        problems = []
        for position in sorted({p for lookup in lookups for p in primaries_by.get(lookup, ())}):
            primary = primaries[position]
            shared = sorted(set(admins[backup.urn]) & set(admins[primary.urn]))
            if shared:
                names = ", ".join(admins[backup.urn][s] for s in shared)
                problems.append(f"shares administrators {names} with primary key {primary.name}")
            if backup.container is not None and _same_ref(backup.container, primary.container):
                where = "key ring" if backup.cloud is Cloud.GCP else "vault"
                problems.append(f"lives in the same {where} as primary key {primary.name}")
        if problems:
            verdicts.append(
                fail(
                    rule,
                    backup,
                    "backup key "
                    + "; ".join(dict.fromkeys(problems))
                    + "; declare access.backup_key_admins distinct from key_admins and keep "
                    "backup keys in their own key policy, key ring or vault.",
                )
            )
        elif backup.urn in undecided or primary_undecided:
            verdicts.append(unknown(rule, backup, "who administers the keys"))
    return verdicts


# --- KM-ROT-003 ------------------------------------------------------------------------------


def secret_rotation(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-ROT-003"
    verdicts: list[Verdict] = []
    judged = False
    # A rotation whose secret is not known yet may be any secret's.
    unresolved = any(
        isinstance(r.secret.value, Unknown) and not r.secret.urns for r in stack.of(SecretRotation)
    )
    for secret in stack.secrets:
        purpose = purpose_of(secret)
        if isinstance(purpose, Unknown):
            verdicts.append(unknown(rule, secret, "the secret's purpose tag"))
            continue
        # No declared purpose: held to the strictest rule.
        if purpose is not None and purpose not in SECRET_ROTATION_PURPOSES:
            continue
        judged = True
        what = f"{purpose.value} secrets" if purpose else "secrets without a declared purpose"
        periods: list[int] = []
        undecided = isinstance(secret.rotation_days, Unknown) or unresolved
        if isinstance(secret.rotation_days, int):
            periods.append(secret.rotation_days)
        # A schedule that gives no period (unparseable, never recurring) is "cannot judge",
        # naming the field and value, never "no rotation".
        problems = [secret.schedule_problem] if secret.schedule_problem else []
        for rotation in stack.referring_to(secret, SecretRotation, "secret"):
            if isinstance(rotation.enabled, Unknown) or isinstance(rotation.rotation_days, Unknown):
                undecided = True
            elif rotation.enabled and rotation.schedule_problem:
                problems.append(rotation.schedule_problem)
            elif rotation.enabled and rotation.rotation_days is not None:
                periods.append(rotation.rotation_days)
        if periods and min(periods) <= _SECRET_ROTATION_DAYS:
            continue
        if problems and not periods:
            verdicts.append(
                Verdict(
                    rule,
                    Outcome.UNKNOWN,
                    f"{rule} {secret.name}: cannot judge the rotation schedule: "
                    f"{'; '.join(problems)}; write rate(N days) or a recurring cron(...) "
                    f"expression of at most {_SECRET_ROTATION_DAYS} days.",
                    secret.urn,
                    secret.name,
                    secret.type,
                )
            )
            continue
        if not periods and secret.cloud is Cloud.AZURE and secret.expires is not None:
            # Key Vault rotates on expiry (Event Grid SecretNearExpiry): the value must expire
            # within the period from today.
            if isinstance(secret.expires, Unknown):
                verdicts.append(unknown(rule, secret, "the secret's expiry"))
                continue
            left = (secret.expires - context.as_of).days
            if 0 <= left <= _SECRET_ROTATION_DAYS:
                continue
            text = (
                f"the secret expired on {secret.expires.isoformat()} and was not rotated"
                if left < 0
                else f"the secret expires in {left} days ({secret.expires.isoformat()}), more "
                f"than {_SECRET_ROTATION_DAYS} for {what}"
            )
            verdicts.append(
                fail(
                    rule,
                    secret,
                    f"{text}; rotate it and set its next expiry within "
                    f"{_SECRET_ROTATION_DAYS} days.",
                )
            )
            continue
        if periods:
            verdicts.append(
                fail(
                    rule,
                    secret,
                    f"rotates about every {min(periods)} days (the longest interval between "
                    f"two rotations), more than {_SECRET_ROTATION_DAYS} for {what}; lower "
                    "rotation_days or file an exception.",
                )
            )
        elif undecided:
            verdicts.append(unknown(rule, secret, "the secret's rotation"))
        else:
            verdicts.append(
                fail(
                    rule,
                    secret,
                    f"no automatic rotation is configured for {what}; rotate it automatically "
                    f"every {_SECRET_ROTATION_DAYS} days or less (AWS SecretRotation, GCP "
                    "rotation.rotationPeriod, Azure an expiry that triggers rotation).",
                )
            )
    if not judged and not verdicts:
        return [not_applicable(rule, "no api-secret or ai-service-key secrets")]
    return verdicts


# --- KM-LOG-001 ------------------------------------------------------------------------------


def _clouds(stack: StackFacts) -> set[Cloud]:
    return {f.cloud for f in stack.resources if isinstance(f, Key | Secret | Vault)}


def _trail_problems(trail: Trail) -> tuple[list[str], bool]:
    problems, undecided = [], False
    for value, good, text in (
        (trail.multi_region, True, "is not multi-region"),
        (trail.log_file_validation, True, "has log-file validation off"),
        (trail.logging_enabled, True, "has logging disabled"),
        (trail.excludes_kms_events, False, "leaves KMS events out"),
    ):
        if isinstance(value, Unknown):
            undecided = True
        elif value is not good:
            problems.append(text)
    if isinstance(trail.kms_key, Unknown):
        undecided = True
    elif not trail.kms_key:
        problems.append("is not encrypted with a KMS key")
    return problems, undecided


_KMS_SERVICES = frozenset({"cloudkms.googleapis.com", "allServices"})
_DATA_LOGS = frozenset({"DATA_READ", "DATA_WRITE"})
_AZURE_AUDIT = frozenset({"auditevent", "audit", "alllogs"})


def audit_logging(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-LOG-001"
    clouds = _clouds(stack)
    if not clouds:
        return [not_applicable(rule, "no keys, secrets or vaults")]
    verdicts: list[Verdict] = []
    if Cloud.AWS in clouds:
        trails = stack.of(Trail)
        results = [(t, *_trail_problems(t)) for t in trails]
        if not any(not problems and not undecided for _, problems, undecided in results):
            failing = [(t, p) for t, p, _ in results if p]
            if not trails:
                verdicts.append(
                    stack_fail(
                        rule,
                        context.environment,
                        "no CloudTrail trail logs the account's KMS events; add the environment's "
                        "audit-log sink (a multi-region, validated, KMS-encrypted trail).",
                    )
                )
            elif failing and len(failing) == len(trails):
                verdicts.extend(
                    fail(
                        rule,
                        t,
                        f"the trail {', '.join(p)}; make it multi-region, with log-file "
                        "validation, KMS encryption and management events including KMS.",
                    )
                    for t, p in failing
                )
            else:
                verdicts.extend(
                    unknown(rule, t, "the trail's settings") for t, p, u in results if u and not p
                )
    if Cloud.GCP in clouds:
        configs = [
            c
            for c in stack.of(AuditConfig)
            if isinstance(c.service, Unknown) or c.service in _KMS_SERVICES
        ]
        complete = [
            c for c in configs if isinstance(c.log_types, frozenset) and c.log_types >= _DATA_LOGS
        ]
        sinks = [
            s
            for s in stack.of(LogSink)
            if s.disabled is not True
            and (
                isinstance(s.filter, Unknown)
                or not s.filter
                or "cloudaudit" in s.filter
                or "cloudkms" in s.filter
            )
        ]
        missing = []
        if not complete:
            missing.append(
                "no data-access audit logs (DATA_READ, DATA_WRITE) for cloudkms.googleapis.com"
            )
        if not sinks:
            missing.append("no log sink exports the audit logs")
        if missing:
            undecided = any(
                isinstance(c.log_types, Unknown) or isinstance(c.service, Unknown) for c in configs
            )
            if undecided and not complete and sinks:
                verdicts.append(stack_unknown(rule, context.environment, "the audit configuration"))
            else:
                verdicts.append(
                    stack_fail(
                        rule,
                        context.environment,
                        "; ".join(missing) + "; enable DATA_READ and DATA_WRITE audit logs for "
                        "cloudkms.googleapis.com and export them with a log sink.",
                    )
                )
    if Cloud.AZURE in clouds:
        settings = stack.of(DiagnosticSetting)
        # A setting whose target is not known yet may be any vault's.
        unresolved = any(
            isinstance(s.target.value, Unknown) and not s.target.urns for s in settings
        )
        for vault in stack.of(Vault):
            matching = stack.referring_to(vault, DiagnosticSetting, "target")
            good = [
                s
                for s in matching
                if isinstance(s.enabled_logs, frozenset)
                and {x.lower() for x in s.enabled_logs} & _AZURE_AUDIT
                and (s.storage is not None or s.workspace is not None)
            ]
            if good:
                continue
            undecided = unresolved or any(isinstance(s.enabled_logs, Unknown) for s in matching)
            kind = "Managed HSM" if vault.managed_hsm else "vault"
            if undecided:
                verdicts.append(unknown(rule, vault, "the diagnostic settings' targets"))
            else:
                verdicts.append(
                    fail(
                        rule,
                        vault,
                        f"the {kind} has no diagnostic setting sending its AuditEvent logs to "
                        "storage or a workspace; add one with the audit category group or "
                        "AuditEvent enabled.",
                    )
                )
    return verdicts


# --- KM-LOG-002 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Retention:
    immutability: Immutability | Unknown | None
    days: int | Unknown | None
    versioning: bool | Unknown | None
    lock_enabled: bool | Unknown | None


def _bucket_retention(stack: StackFacts, bucket: LogBucket) -> _Retention:
    immutability, days = bucket.immutability, bucket.retention_days
    versioning = bucket.versioning
    for lock in stack.referring_to(bucket, ObjectLock, "bucket"):
        immutability, days = lock.immutability, lock.retention_days
    for config in stack.referring_to(bucket, Versioning, "bucket"):
        versioning = config.enabled
    return _Retention(immutability, days, versioning, bucket.object_lock_enabled)


def _retention_problems(
    bucket: LogBucket, retention: _Retention, context: Context
) -> tuple[list[str], list[str]]:
    """(problems, what is unknown) of an audit-log store."""
    problems: list[str] = []
    undecided: list[str] = []
    wanted = Immutability.COMPLIANCE if bucket.cloud is Cloud.AWS else Immutability.LOCKED
    mode = retention.immutability
    if isinstance(mode, Unknown):
        undecided.append("whether the retention is locked")
    elif mode is not wanted:
        have = {
            None: "no retention lock",
            Immutability.GOVERNANCE: "object lock in GOVERNANCE mode (removable)",
            Immutability.UNLOCKED: "an unlocked retention policy",
            Immutability.COMPLIANCE: "object lock in COMPLIANCE mode",
            Immutability.LOCKED: "a locked retention policy",
        }[mode]
        problems.append(f"has {have}")
    days = retention.days
    limit = context.retention_days
    if isinstance(days, Unknown):
        undecided.append("the retention period")
    elif limit is not None and (days is None or days < limit):
        problems.append(
            f"keeps logs immutable {days} days, less than the environment's {limit}"
            if days is not None
            else "sets no retention period"
        )
    if bucket.cloud is Cloud.AWS:
        if isinstance(retention.versioning, Unknown):
            undecided.append("the versioning")
        elif not retention.versioning:
            problems.append("has versioning off")
        if isinstance(retention.lock_enabled, Unknown):
            undecided.append("whether object lock is enabled")
        elif mode is not None and not retention.lock_enabled:
            problems.append("does not enable object lock on the bucket")
    return problems, undecided


def immutable_logs(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-LOG-002"
    destinations: list[tuple[Resource, Ref]] = [(t, t.bucket) for t in stack.of(Trail)]
    destinations += [(s, s.destination) for s in stack.of(LogSink)]
    destinations += [(d, d.storage) for d in stack.of(DiagnosticSetting) if d.storage is not None]
    if not destinations:
        return [not_applicable(rule, "no audit-log sinks")]
    days = f" of at least {context.retention_days} days" if context.retention_days else ""
    fixes = {
        Cloud.AWS: f"enable Object Lock in COMPLIANCE mode{days}, with versioning",
        Cloud.GCP: f"set a locked retention policy{days}",
        Cloud.AZURE: f"lock an immutability policy{days} on the log storage",
    }
    verdicts: list[Verdict] = []
    seen: set[str] = set()
    for sink, target in destinations:
        buckets = [b for b in stack.resolve(target) if isinstance(b, LogBucket)]
        if not buckets:
            if isinstance(target.value, Unknown) and not target.urns:
                verdicts.append(unknown(rule, sink, "where the audit logs are stored"))
            continue
        for bucket in buckets:
            if bucket.urn in seen:
                continue
            seen.add(bucket.urn)
            problems, undecided = _retention_problems(
                bucket, _bucket_retention(stack, bucket), context
            )
            if problems:
                verdicts.append(
                    fail(
                        rule,
                        bucket,
                        f"the audit-log store {'; '.join(problems)}; {fixes[bucket.cloud]}.",
                    )
                )
            elif undecided:
                verdicts.append(unknown(rule, bucket, " and ".join(undecided)))
    return verdicts


# --- KM-EXC-002 ------------------------------------------------------------------------------


def expired_exceptions(stack: StackFacts, context: Context) -> list[Verdict]:
    rule = "KM-EXC-002"
    env = context.environment
    expired = [e for e in context.exceptions if e.environment == env and e.expires < context.as_of]
    if not expired:
        return [not_applicable(rule, "no expired exception for this environment")]
    return [
        stack_fail(
            rule,
            exc.id,
            f"exception for {exc.rule} on {env}/{exc.resource} expired on "
            f"{exc.expires.isoformat()}; deployment of {env} is blocked until the deviation is "
            "fixed or the exception renewed.",
            type_="keyplane:config:Exception",
        )
        for exc in expired
    ]


#: Stack-level checks by rule ID (CrossGuard StackValidationPolicy).
STACK_CHECKS: Mapping[str, StackCheck] = MappingProxyType(
    {
        "KM-ROT-003": secret_rotation,
        "KM-ENV-002": environment_isolation,
        "KM-TEN-001": tenant_isolation,
        "KM-ACC-002": separation_of_duties,
        "KM-LOG-001": audit_logging,
        "KM-LOG-002": immutable_logs,
        "KM-BAK-001": backup_separation,
        "KM-EXC-002": expired_exceptions,
    }
)
