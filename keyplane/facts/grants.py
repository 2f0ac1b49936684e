"""Who is granted what on which key or secret: one access model for the rules, the diff and
the audit.

Pure functions of facts (`keyplane.facts.model`), no rule IDs. The question answered is
"which allow grants reach this key or secret, from wherever they are written": on the item
itself (a key policy, a secret's resource policy), on resource-side bindings (IAM members,
role assignments, key-policy resources scoped to the item or its key ring or vault) and on
identity policies (AWS role and managed policies whose statements' resources reach the item).

Shapes:
- `grants_on(stack, item) -> Grants`: `Grants.applied` is a tuple of `AppliedGrant`
  (`principal` as written or resolved to `aws-role:<name>` for in-stack roles, `actions` as
  shown, `access`: the `Access` kinds they give on a key or secret, `source`: the resource
  that writes the grant); `Grants.undecided` is True when some grant *might* reach the item but
  cannot be read until deployment (a computed policy document, a binding whose target is not
  known yet, a literal ARN that may be the item's own): a rule then answers "unknown", never
  "pass", for what it could not see.
- Effective access, as AWS evaluates it: an unconditional explicit Deny takes away the actions
  it names from the principals it names (`NotPrincipal` / `NotAction` read as "all but"), in
  whichever policy it is written; a Deny with conditions takes nothing away (it may not apply:
  `applied` stays an upper bound, never an under-count). A wildcard-principal Allow confined by
  its conditions to accounts, principal ARNs, an organisation or a service reaches those
  (`access.confined_principals`); every other condition is kept on the grant
  (`AppliedGrant.conditions`) and shown by `grant_path`. On an AWS key, identity policies count
  only when the key policy delegates to the account (`arn:aws:iam::<account>:root`, or a key
  without a policy of its own: KMS's default policy delegates).

Raises nothing for well-formed facts; results are cached per stack (`StackFacts.derived`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from keyplane.facts.access import (
    AWS_ACTIONS,
    Access,
    Condition,
    Effect,
    Grant,
    Target,
    actions_access,
    aws_action_access,
    azure_operations_access,
    condition_text,
    confined_principals,
    gcp_permissions_access,
    is_account_wide,
    is_known_action,
    is_wildcard_principal,
    must_be_known,
    principal_key,
)
from keyplane.facts.model import (
    AccessBinding,
    Key,
    KeyContainer,
    PolicyAttachment,
    Resource,
    Role,
    RoleDefinition,
    Secret,
    StackFacts,
    Vault,
)
from keyplane.facts.values import Ref, Unknown
from keyplane.standard import Cloud


@dataclass(frozen=True)
class AppliedGrant:
    """A grant that applies to a key or secret, with its principal resolved."""

    principal: str
    actions: tuple[str, ...]
    access: frozenset[Access]
    source: Resource
    #: The statement or binding within `source` (`Grant.label`), for messages.
    statement: str = ""
    #: Conditions keyplane does not read as confining the principal: the grant holds only when
    #: they do, which keyplane cannot tell before the request (kept, and shown in messages).
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Grants:
    applied: tuple[AppliedGrant, ...]
    #: Some grant might apply but cannot be read until deployment (or at all: `unreadable`).
    undecided: bool
    #: Why some grant cannot be read at all, whenever deployed (a custom role the stack does
    #: not define): the rules then say "cannot judge" with these reasons, not "until deployed".
    unreadable: tuple[str, ...] = ()
    #: Grants identity policies write on an AWS key whose key policy does not delegate to IAM:
    #: no effect today (not in `applied`), in effect once the key policy delegates. The diff
    #: reports a change that adds one as a risk of the rule it would break.
    latent: tuple[AppliedGrant, ...] = ()


def same_ref(a: Ref | None, b: Ref | None) -> bool:
    """Whether two references may name the same resource (a shared URN or identifier)."""
    if a is None or b is None:
        return False
    return bool(set(a.urns) & set(b.urns)) or bool(a.candidates() & b.candidates())


def azure_broad_scope(ref: Ref) -> bool:
    """A subscription or resource-group scope covers every vault in it."""
    value = ref.value
    return (
        isinstance(value, str)
        and value.lower().startswith("/subscriptions/")
        and "/providers/" not in value.lower()
    )


def binding_applies(stack: StackFacts, binding: AccessBinding, item: Key | Secret) -> bool | None:
    """Whether a resource-side binding (IAM member, role assignment, key policy resource)
    governs `item`; None when its target is not known yet.

    A target that names a key or secret (a key policy's key, a role assignment scoped to one
    key) governs that item only, even when it is also computed from the item's vault; a target
    that names a key ring or vault governs every item in it.
    """
    target = binding.target
    if target is None:
        return False
    if binding.hierarchy is not None:
        return hierarchy_reaches(binding, item)
    named = [f for f in stack.resolve(target) if isinstance(f, Key | Secret)]
    if named:
        return any(f.urn == item.urn for f in named)
    if item.matches(target):
        return True
    if same_ref(target, item.container):
        return True
    if item.container is not None and any(
        isinstance(c, KeyContainer | Vault) and c.matches(item.container)
        for c in stack.resolve(target)
    ):
        return True
    if item.cloud is Cloud.AZURE and binding.cloud is Cloud.AZURE and azure_broad_scope(target):
        return True
    if isinstance(target.value, Unknown) and not target.urns:
        return None
    return False


_GCP_PROJECT = re.compile(r"(?:^|/)projects/([^/]+)")


def gcp_project_of(item: Key | Secret) -> str | None:
    """The GCP project a key or secret lives in, read from its identifiers or its key ring's
    (`projects/<project>/locations/...`); None when not known yet."""
    references: list[str] = [*item.ids]
    if item.container is not None:
        references.extend(item.container.candidates())
        if isinstance(item.container.value, str):
            references.append(item.container.value)
    for reference in references:
        match = _GCP_PROJECT.search(reference)
        if match:
            return match.group(1)
    return None


def hierarchy_reaches(binding: AccessBinding, item: Key | Secret) -> bool | None:
    """Whether IAM on a GCP project, folder or organisation (`binding.hierarchy`) reaches
    `item`: a project's when the item is in that project (or its project is not known: the
    provider's project, taken to be the same), a folder's or organisation's on every GCP item of
    the stack (the hierarchy above a project is not in the stack: taken to hold it, the upper
    bound); None when the project named is not known yet."""
    if item.cloud is not Cloud.GCP:
        return False
    if binding.hierarchy != "project":
        return True
    value = binding.target.value if binding.target is not None else None
    if isinstance(value, Unknown):
        return None
    project = gcp_project_of(item)
    if project is None or not isinstance(value, str) or not value:
        return True
    return value.removeprefix("projects/") == project


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


def identity_applies(
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


def role_principal(role: Role) -> str:
    """The principal an in-stack IAM role is granted as: `aws-role:<role name>`."""
    name = role.role_name if isinstance(role.role_name, str) and role.role_name else role.name
    return f"aws-role:{name}"


def roles_of(stack: StackFacts, ref: Ref | None) -> list[str]:
    """The in-stack roles a reference (a role policy's `role`) points at."""
    return [role_principal(r) for r in stack.resolve(ref) if isinstance(r, Role)]


def attached_roles(stack: StackFacts, policy: AccessBinding) -> list[str]:
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
        principals.extend(role_principal(role) for role in roles)
        if not roles and isinstance(attachment.role.value, str):
            principals.append(f"aws-role:{attachment.role.value.rsplit('/', 1)[-1]}")
    return principals


def role_access(
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
        if definition.cloud is Cloud.GCP:
            access = gcp_permissions_access(definition.actions, target)
        else:
            access = azure_operations_access(definition.actions, definition.not_actions, target)
        return (name or definition.name,), access
    if isinstance(actions, Unknown) or any(must_be_known(a) for a in actions):
        return None  # a custom role the stack does not define: cannot judge, never "no access"
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
        if (
            binding.hierarchy is not None
            or azure_broad_scope(target)
            or (isinstance(target.value, Unknown) and not target.urns)
        ):
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
        #: Identity-policy grants on an AWS key whose policy does not delegate to IAM: no
        #: effect today, in effect as soon as the key policy delegates (`Grants.latent`).
        latent: list[AppliedGrant] = []
        sink = applied  # where `take` puts what it resolves
        undecided = False

        denies: list[tuple[Grant, tuple[str, ...]]] = []
        reasons: list[str] = []

        def take(grant: Grant, source: Resource, principals: Iterable[str] | None = None) -> None:
            nonlocal undecided
            if principals is None:
                # A role policy names its role by name or ID: the in-stack role says who it is.
                principals = roles_of(stack, grant.principal_ref)
                if not principals:
                    if isinstance(grant.principal, Unknown):
                        if grant.effect is Effect.ALLOW:
                            undecided = True
                        return
                    principals = [grant.principal]
            if grant.effect is not Effect.ALLOW:
                if not grant.conditions and not isinstance(grant.actions, Unknown):
                    denies.append((grant, tuple(principals)))
                return
            conditions = grant.conditions
            principals = list(principals)
            if any(is_wildcard_principal(p) for p in principals) and not grant.except_principals:
                confined = confined_principals(grant)
                if confined is not None:
                    principals = [p for p in principals if not is_wildcard_principal(p)]
                    principals.extend(confined[0])
                    conditions = confined[1]
            resolved = (
                role_access(stack, source, grant, target)
                if isinstance(source, AccessBinding)
                else None
                if isinstance(grant.actions, Unknown)
                else (grant.actions, actions_access(grant.actions, target))
            )
            if resolved is None:
                undecided = True
                if not isinstance(grant.actions, Unknown):
                    unread = [a for a in grant.actions if must_be_known(a)]
                    if unread:
                        reasons.append(
                            f"{source.type} {source.name} grants {shown_roles(unread)}, whose "
                            "permissions the stack does not define"
                        )
                return
            actions, access = resolved
            sink.extend(
                AppliedGrant(p, actions, access, source, grant.label, conditions)
                for p in principals
            )

        def identity_grants(position: int, binding: AccessBinding) -> None:
            """The allow statements of an identity policy that reach `item`."""
            nonlocal undecided
            assert not isinstance(binding.grants, Unknown)
            for grant, statement in zip(binding.grants, self.statements[position], strict=True):
                if statement is None:
                    continue  # not an allow
                reaches = identity_applies(binding, statement, item)
                if reaches is None:
                    undecided = True
                elif reaches:
                    if grant.principal == "":
                        take(grant, binding, attached_roles(stack, binding))
                    else:
                        take(grant, binding)

        if isinstance(item.grants, Unknown):
            undecided = True
        else:
            for grant in item.grants:
                take(grant, item)
        candidates = {p for r in self._item_references(item) for p in self.by_reference.get(r, ())}
        positions = sorted(candidates.union(self.everywhere))
        # Resource-side bindings first: a key policy written apart may be what delegates.
        positions.sort(key=lambda position: self.bindings[position].identity)
        delegates: bool | None = None
        for position in positions:
            binding = self.bindings[position]
            if binding.identity and delegates is None:
                delegates = _delegates_to_iam(item, applied)
            if binding.identity and not delegates:
                # KMS ignores IAM policies on a key whose policy does not delegate: what this
                # one grants is latent (no effect, nothing undecided because of it).
                if not isinstance(binding.grants, Unknown):
                    kept = undecided, len(reasons)
                    sink = latent
                    identity_grants(position, binding)
                    sink = applied
                    undecided = kept[0]
                    del reasons[kept[1] :]
                continue
            if isinstance(binding.grants, Unknown):
                if binding.cloud is item.cloud and (
                    binding.identity or binding_applies(stack, binding, item) is not False
                ):
                    undecided = True
                continue
            if not binding.identity:
                applies = binding_applies(stack, binding, item)
                if applies is None:
                    undecided = True
                elif applies:
                    for grant in binding.grants:
                        take(grant, binding)
                continue
            identity_grants(position, binding)
        if isinstance(item.grants, Unknown):
            undecided = True
        effective = _without_denied(applied, denies, target)
        return Grants(
            tuple(effective),
            undecided,
            tuple(dict.fromkeys(reasons)),
            tuple(_without_denied(latent, denies, target)),
        )


def _delegates_to_iam(item: Key | Secret, applied: list[AppliedGrant]) -> bool:
    """Whether IAM policies count on `item`: always on a secret (Secrets Manager reads identity
    policies without a resource policy), on an AWS key only when its policy allows the account
    root (or the key has no policy of its own: KMS's default policy delegates). A key policy
    not known yet delegates (the upper bound).
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"""
    if not isinstance(item, Key) or item.cloud is not Cloud.AWS:
        return True
    if isinstance(item.grants, Unknown):
        return True
    if not item.grants and not any(g.source.urn != item.urn for g in applied):
        return True
    return any(is_account_wide(g.principal) or is_wildcard_principal(g.principal) for g in applied)


def _denied(
    pattern_actions: tuple[str, ...], except_actions: tuple[str, ...], target: Target
) -> frozenset[str]:
    """The concrete IAM actions on `target` a Deny names (`NotAction`: all but those)."""
    names = [n for n in AWS_ACTIONS if aws_action_access(n, target)]
    named = {n for n in names for a in pattern_actions if fnmatchcase(n.lower(), a.lower())}
    if except_actions:
        named -= {n for n in names for a in except_actions if fnmatchcase(n.lower(), a.lower())}
    return frozenset(named)


def _without_denied(
    applied: list[AppliedGrant], denies: list[tuple[Grant, tuple[str, ...]]], target: Target
) -> list[AppliedGrant]:
    """`applied` less what unconditional explicit Denies take away (AWS: an explicit Deny wins
    over any Allow for the same principal and action)."""
    if not denies:
        return applied
    result: list[AppliedGrant] = []
    for grant in applied:
        who = principal_key(grant.principal)
        taken: set[str] = set()
        for deny, principals in denies:
            excepted = {principal_key(p) for p in deny.except_principals}
            hits = any(
                (is_wildcard_principal(p) and who not in excepted) or principal_key(p) == who
                for p in principals
            )
            if hits:
                assert not isinstance(deny.actions, Unknown)
                taken |= _denied(deny.actions, deny.except_actions, target)
        if not taken:
            result.append(grant)
            continue
        # What the Allow's actions still give once the denied ones are gone (AWS actions only:
        # GCP roles and Azure role definitions are not subject to IAM Deny statements).
        allowed = {
            n
            for n in AWS_ACTIONS
            if aws_action_access(n, target)
            and any(fnmatchcase(n.lower(), a.lower()) for a in grant.actions)
        }
        if not allowed:
            result.append(grant)
            continue
        remaining = sorted(allowed - taken)
        if remaining:
            result.append(
                replace(grant, actions=tuple(remaining), access=actions_access(remaining, target))
            )
    return result


def shown_roles(roles: Iterable[str]) -> str:
    """`role projects/p/roles/x` / `roles a, b` as messages name them."""
    names = list(roles)
    return f"role{'s' if len(names) > 1 else ''} {', '.join(names)}"


def grant_path(grant: AppliedGrant, item: Key | Secret) -> str:
    """Where a grant on `item` is written, as messages name it: `statement 'ext' of the key
    policy`, `aws:kms/grant:Grant ci-grant`, `role roles/cloudkms.admin of
    gcp:projects/iAMMember:IAMMember ops`."""
    source = grant.source
    where = (
        f"the {'key' if isinstance(item, Key) else 'secret'}'s own policy"
        if source.urn == item.urn
        else f"{source.type} {source.name}"
    )
    path = f"statement {grant.statement} of {where}" if grant.statement else where
    if grant.conditions:
        path += f", when {condition_text(grant.conditions)}"
    return path


def grants_on(stack: StackFacts, item: Key | Secret) -> Grants:
    """Every allow grant that reaches `item`, from wherever it is written."""
    return stack.derived(_StackAccess).grants_on(item)


__all__ = [
    "AppliedGrant",
    "Grants",
    "attached_roles",
    "azure_broad_scope",
    "binding_applies",
    "grant_path",
    "grants_on",
    "identity_applies",
    "role_access",
    "role_principal",
    "roles_of",
    "same_ref",
]
