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
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum
from typing import Any

from keyplane.adapters.pulumi import facts_from_resource, reaches_widely
from keyplane.facts.access import (
    Access,
    Effect,
    Target,
    action_label,
    actions_access,
    principal_key,
    principal_scope,
)
from keyplane.facts.grants import AppliedGrant, grants_on
from keyplane.facts.model import AccessBinding, Facts, Key, Role, Secret, StackFacts
from keyplane.facts.values import Ref, Unknown
from keyplane.reports.markup import COMMENT_LIMIT, code, line
from keyplane.reports.model import plural
from keyplane.rules.catalog import Enforcement, Point, get_rule, rules_at
from keyplane.rules.common import trusted
from keyplane.rules.context import Context
from keyplane.rules.judge import evaluate
from keyplane.rules.registry import (
    AccessChange,
    Transition,
    estate_needs,
    weakenings,
    widenings,
)
from keyplane.rules.verdict import Outcome, Verdict
from keyplane.wire import STACK_TYPE, Registration


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
    #: Accounts, projects or subscriptions taken as the stack's own.
    home_scopes: frozenset[str] = field(default_factory=frozenset)
    #: Rules not judged (no environment given), each with what it would read from the estate.
    unjudged: Mapping[str, str] = field(default_factory=dict)
    #: About the stack as a whole: failures present before and after, which are no risk.
    notes: tuple[str, ...] = ()

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
            "not_judged": {
                rule: f"needs the estate ({what}); pass --env ENV"
                for rule, what in sorted(self.unjudged.items())
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [c.to_json() for c in self.changes],
            "notes": list(self.notes),
            "summary": self.summary(),
        }


# --- the diff ------------------------------------------------------------------------------------


def diff_resources(
    old: Sequence[Registration],
    new: Sequence[Registration],
    *,
    operations: Mapping[str, str] | None = None,
    old_ids: Mapping[str, str] | None = None,
    new_ids: Mapping[str, str] | None = None,
    home_scopes: Iterable[str] | None = None,
    context: Context | None = None,
) -> StackDiff:
    """The changes from `old` to `new`, in URN order.

    `operations` are a preview's step operations per URN (they say create, update or replace
    better than a comparison can); `old_ids`/`new_ids` the physical IDs of a stack export (a
    changed ID means the resource was replaced). `home_scopes` are the stack's own accounts,
    projects or subscriptions; by default those its old state already grants to. `context` is
    the environment's (`Context.from_estate`); without it the rules are judged with a context
    derived from the states (the stack's name as environment, today, the strictest tier), and
    the rules that need the estate (`registry.estate_needs`) are not judged but named in the
    summary.
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
    changed = {r.urn for _, previous, current in pairs if (r := current or previous) is not None}

    states = _States(before, after, changed, old_ids, new_ids)
    if home_scopes is None:
        # The principals the old state grants to (the changed resources and what they join
        # with) and the accounts its resources name: the stack lives there.
        scopes = frozenset(
            scope
            for facts in states.before.resources
            for principal in _principals(facts)
            if (scope := principal_scope(principal)) is not None
        ) | frozenset(_named_scopes(p for _, p, _ in pairs if p is not None))
    else:
        scopes = frozenset(home_scopes)
    unjudged: dict[str, str] = {}
    if context is None:
        context = Context(environment=_stack_name(old, new), as_of=date.today())
        unjudged = dict(estate_needs())
    judged = _Judgement(states, context, scopes, frozenset(unjudged))

    changes = []
    for action, previous, current in pairs:
        resource = current or previous
        assert resource is not None
        urn = resource.urn
        risks, notes = judged.of(urn, action)
        if (
            previous is not None
            and current is not None
            and previous.protect
            and not current.protect
        ):
            notes.append(f"{resource.name}: Pulumi `protect` removed")
        changes.append(
            Change(
                urn=urn,
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
    stack_risks = judged.stack_risks
    if stack_risks:
        name = _stack_name(old, new)
        changes.append(
            Change(
                urn=f"urn:pulumi:{name}::stack::{STACK_TYPE}::{name}",
                type=STACK_TYPE,
                name=name,
                action=Action.UPDATE,
                risks=tuple(dict.fromkeys(stack_risks)),
            )
        )
    return StackDiff(tuple(changes), scopes, unjudged, tuple(dict.fromkeys(judged.stack_notes)))


def _stack_name(*states: Sequence[Registration]) -> str:
    """The stack's name, as its URNs write it (`urn:pulumi:<stack>::...`)."""
    for state in states:
        for resource in state:
            if resource.urn.startswith("urn:pulumi:"):
                return resource.urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    return "stack"


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


# --- the two states, judged where they changed ------------------------------------------------


def _principals(facts: Facts) -> Iterator[str]:
    grants = getattr(facts, "grants", ())
    trust = getattr(facts, "trust", ())
    for grant in (
        *(grants if isinstance(grants, tuple) else ()),
        *(trust if isinstance(trust, tuple) else ()),
    ):
        if isinstance(grant.principal, str) and grant.effect is Effect.ALLOW:
            yield grant.principal


def _with_tails(values: set[str]) -> set[str]:
    return values | {v.rstrip("/").rsplit("/", 1)[-1] for v in values if "/" in v}


def _handles(resource: Registration, physical_id: str | None) -> set[str]:
    """What another resource may write to point at this one: URN, name, physical ID and the
    physical name it is given (`name`, `arn`), each also by its last path segment. (Other inputs
    are left out: a value such as `SYMMETRIC_DEFAULT` would join every key with every other.)"""
    values = {resource.urn, resource.name}
    if physical_id:
        values.add(physical_id)
    values.update(v for k in ("name", "arn") if isinstance(v := resource.inputs.get(k), str))
    return _with_tails(values)


def _pointers(resource: Registration) -> set[str]:
    """What this resource points at: its dependencies and its top-level string inputs."""
    values = {
        *resource.dependencies,
        *(u for us in resource.property_dependencies.values() for u in us),
    }
    values.update(v for v in resource.inputs.values() if isinstance(v, str) and len(v) < 512)
    return _with_tails(values)


#: How far the judged neighbourhood reaches from a changed resource: a binding on a key ring
#: reaches the ring (1), its keys (2) and their own bindings (3).
_HOPS = 3


class _States:
    """The facts of both states, read only where the stack changed.

    Resources whose inputs did not change have the same facts in both states and are read once.
    Only the changed resources and what they join with (`_HOPS` references either way, by URN,
    dependency, name, ID or a top-level input) are read and judged; a change to a resource that
    may govern what it does not name (an identity policy, a trail: `adapters.pulumi.reaches_widely`)
    makes the whole stack judged.
    """

    def __init__(
        self,
        before: Mapping[str, Registration],
        after: Mapping[str, Registration],
        changed: set[str],
        old_ids: Mapping[str, str],
        new_ids: Mapping[str, str],
    ) -> None:
        everything = before.keys() | after.keys()
        if any(
            reaches_widely(r.type)
            for urn in changed
            for r in (before.get(urn), after.get(urn))
            if r
        ):
            chosen = set(everything)
        else:
            chosen = set(changed)
            # Unchanged resources are the same in both states: one graph holds them once, and
            # the changed ones as they are in either state.
            graph = _Graph()
            for urn in everything:
                for state, ids in ((after, new_ids), (before, old_ids)):
                    if urn in state:
                        graph.add(state[urn], ids.get(urn))
                        if urn not in changed:
                            break
            frontier = set(changed)
            for _ in range(_HOPS):
                reached = {n for urn in frontier for n in graph.neighbours(urn)}
                frontier = reached - chosen
                if not frontier:
                    break
                chosen |= frontier
            # What may govern any key or secret is always judged with them.
            chosen |= {u for u in everything if reaches_widely((before.get(u) or after[u]).type)}
        shared: dict[str, tuple[Facts, ...]] = {}

        def read(state: Mapping[str, Registration], urn: str) -> tuple[Facts, ...]:
            resource = state.get(urn)
            if resource is None:
                return ()
            if urn in changed:
                return facts_from_resource(resource)
            if urn not in shared:
                shared[urn] = facts_from_resource(resource)
            return shared[urn]

        order = sorted(chosen)
        self.by_urn_before = {u: read(before, u) for u in order}
        self.by_urn_after = {u: read(after, u) for u in order}
        self.before = StackFacts(tuple(f for u in order for f in self.by_urn_before[u]))
        self.after = StackFacts(tuple(f for u in order for f in self.by_urn_after[u]))
        self.changed = changed


class _Graph:
    """URNs by what points at them and what they point at, for the neighbourhood of a change."""

    def __init__(self) -> None:
        self.by_handle: dict[str, set[str]] = defaultdict(set)
        self.by_pointer: dict[str, set[str]] = defaultdict(set)
        self.handles: dict[str, set[str]] = defaultdict(set)
        self.pointers: dict[str, set[str]] = defaultdict(set)

    def add(self, resource: Registration, physical_id: str | None) -> None:
        urn = resource.urn
        handles, pointers = _handles(resource, physical_id), _pointers(resource)
        self.handles[urn] |= handles
        self.pointers[urn] |= pointers
        for handle in handles:
            self.by_handle[handle].add(urn)
        for pointer in pointers:
            self.by_pointer[pointer].add(urn)

    def neighbours(self, urn: str) -> set[str]:
        found = {u for p in self.pointers.get(urn, ()) for u in self.by_handle.get(p, ())}
        found |= {u for h in self.handles.get(urn, ()) for u in self.by_pointer.get(h, ())}
        found.discard(urn)
        return found


_Failure = tuple[str, str]  # (rule, URN)


class _Judgement:
    """Both states judged with the rules, their weakenings and widenings; risks and notes per
    changed URN."""

    def __init__(
        self,
        states: _States,
        context: Context,
        home_scopes: frozenset[str],
        unjudged: frozenset[str],
    ) -> None:
        self.states = states
        self.context = context
        self.home_scopes = home_scopes
        self.risks: dict[str, list[Risk]] = defaultdict(list)
        self.notes: dict[str, list[str]] = defaultdict(list)
        self.stack_risks: list[Risk] = []
        self.stack_notes: list[str] = []
        rule_ids = [r.id for r in rules_at(Point.CROSSGUARD) if r.id not in unjudged]
        was = _verdicts(evaluate(states.before.resources, context, rule_ids))
        now = _verdicts(evaluate(states.after.resources, context, rule_ids))
        #: (rule, changed URN) that newly break the rule: their weakenings say nothing more.
        self.broken: set[_Failure] = set()
        for (rule, urn), verdict in now.items():
            if verdict.outcome is Outcome.FAIL:
                previous = was.get((rule, urn))
                if previous is not None and previous.outcome is Outcome.FAIL:
                    # Not a risk; noted where the change is (or for the stack), not on every
                    # unchanged resource it joins with.
                    if urn in states.changed or not urn:
                        self._note(urn, f"still fails (no risk): {verdict.message}")
                    continue
                for target in self._attach(urn):
                    self.broken.add((rule, target))
                    self._risk(target, Risk(rule, verdict.message))
            elif (rule, urn) not in was:
                for target in self._attach(urn):
                    self._note(target, verdict.message)

    def _attach(self, urn: str) -> list[str]:
        """The changed URNs a verdict about `urn` belongs to: its own, or else those of the
        changed resources that join with it (a grant's source, a reference either way); "" (the
        stack) when none does."""
        if urn in self.states.changed:
            return [urn]
        targets = set()
        for stack in (self.states.before, self.states.after):
            item = stack.by_urn(urn)
            if isinstance(item, Key | Secret):
                targets |= {g.source.urn for g in grants_on(stack, item).applied}
            if item is not None:
                for candidate in self.states.changed:
                    other = stack.by_urn(candidate)
                    if other is not None and (_refers(other, item) or _refers(item, other)):
                        targets.add(candidate)
        return sorted(targets & self.states.changed) or [""]

    def _risk(self, urn: str, risk: Risk) -> None:
        (self.risks[urn] if urn else self.stack_risks).append(risk)

    def _note(self, urn: str, text: str) -> None:
        (self.notes[urn] if urn else self.stack_notes).append(text)

    def of(self, urn: str, action: Action) -> tuple[list[Risk], list[str]]:
        """Risks and notes of one changed resource: the rules it newly breaks, then the
        weakenings of the rules it does not, then who gained or lost access through it."""
        states = self.states
        was = states.by_urn_before.get(urn, ())
        now = states.by_urn_after.get(urn, ()) if action is not Action.DELETE else ()
        risks, notes = self.risks[urn], self.notes[urn]
        for weakening in weakenings():
            for kind in weakening.kinds:
                before = _one(was, kind)
                after = _one(now, kind)
                if before is None and after is None:
                    continue
                change = Transition(
                    before,
                    after,
                    self.context,
                    replaced=action is Action.REPLACE,
                    home_scopes=self.home_scopes,
                )
                for observed in weakening.function(change):
                    if not observed.risk:
                        notes.append(observed.message)
                    elif (weakening.rule, urn) not in self.broken:
                        risks.append(Risk(weakening.rule, observed.message))
                break  # one kind per resource: the first the resource has
        self._access(urn, was, now, risks, notes)
        trusted_before, trusted_after = trusted(_one(was, Role)), trusted(_one(now, Role))
        name = (now or was)[0].name if (now or was) else urn
        notes.extend(
            f"{name}: {p} may no longer assume the role"
            for p in sorted(trusted_before.keys() - trusted_after.keys())
        )
        notes.extend(
            f"{name}: {p} may assume the role"
            for p in sorted(trusted_after.keys() - trusted_before.keys())
        )
        return risks, notes

    def _access(
        self,
        urn: str,
        was: Sequence[Facts],
        now: Sequence[Facts],
        risks: list[Risk],
        notes: list[str],
    ) -> None:
        """Who may do what on the keys and secrets this change writes grants on or is."""
        states = self.states
        items = {
            i.urn
            for stack, facts in ((states.before, was), (states.after, now))
            for f in facts
            for i in _governed(stack, f)
        }
        if not items and (_one(was, AccessBinding) or _one(now, AccessBinding)):
            # A binding on something outside the stack (a key named by a literal ID): what it
            # grants is judged as written on it.
            items = {urn}
        for item_urn in sorted(items):
            item_before = states.before.by_urn(item_urn)
            item_after = states.after.by_urn(item_urn)
            granted_before = _granted(states.before, item_before)
            granted_after = _granted(states.after, item_after)
            shown_item = item_after or item_before
            name = shown_item.name if shown_item is not None else item_urn
            for who, (principal, access, _, sources) in sorted(granted_before.items()):
                if who not in granted_after and urn in sources:
                    notes.append(f"{name}: {principal} no longer granted ({_access_text(access)})")
            if not isinstance(item_after, Key | Secret | AccessBinding):
                continue
            for who, (principal, access, actions, sources) in sorted(granted_after.items()):
                if urn not in sources and item_urn != urn:
                    continue
                _, access_before, actions_before, _ = granted_before.get(
                    who, (principal, frozenset(), (), frozenset())
                )
                new_actions = tuple(a for a in actions if a not in actions_before)
                if who in granted_before and access <= access_before and not new_actions:
                    continue
                change = AccessChange(
                    item_after,
                    principal,
                    access_before,
                    access,
                    new_actions,
                    self.context,
                    home_scopes=self.home_scopes,
                )
                for widening in widenings():
                    message = widening.function(change)
                    if message and (widening.rule, urn) not in self.broken:
                        risks.append(Risk(widening.rule, message))
                label = ", ".join(action_label(a) for a in new_actions) or _access_text(
                    access - access_before
                )
                if who not in granted_before:
                    notes.append(f"{name}: {principal} granted {label}")
                elif access - access_before:
                    notes.append(
                        f"{name}: {principal} gains {_access_text(access - access_before)}"
                    )
            self._latent(urn, item_before, item_after, granted_before, granted_after, risks)

    def _latent(
        self,
        urn: str,
        item_before: Facts | None,
        item_after: Facts | None,
        granted_before: dict[str, _Granted],
        granted_after: dict[str, _Granted],
        risks: list[Risk],
    ) -> None:
        """Grants this change writes that have no effect yet (`Grants.latent`: an identity
        policy on a key whose policy does not delegate to IAM) and would weaken a rule the day
        the key policy delegates: risks, each saying so."""
        if not isinstance(item_after, Key):
            return
        latent_before = _latent(self.states.before, item_before)
        for who, (principal, access, actions, sources) in sorted(
            _latent(self.states.after, item_after).items()
        ):
            if urn not in sources:
                continue
            before = _access_of(granted_before, who) | _access_of(latent_before, who)
            after = _access_of(granted_after, who) | access
            if after <= before:
                continue
            change = AccessChange(
                item_after,
                principal,
                before,
                after,
                actions,
                self.context,
                home_scopes=self.home_scopes,
                latent=True,
            )
            for widening in widenings():
                message = widening.function(change)
                if message and (widening.rule, urn) not in self.broken:
                    risks.append(
                        Risk(
                            widening.rule,
                            f"{message.rstrip('.')} (no effect yet: the key policy does not "
                            "delegate to IAM; it takes effect the day it does).",
                        )
                    )


def _verdicts(verdicts: Iterable[Verdict]) -> dict[_Failure, Verdict]:
    """One verdict per (rule, URN): a failure wins over a "cannot judge"."""
    result: dict[_Failure, Verdict] = {}
    for verdict in verdicts:
        key = (verdict.rule, verdict.urn)
        if key not in result or verdict.outcome is Outcome.FAIL:
            result[key] = verdict
    return result


def _refs(facts: Facts) -> Iterator[Ref]:
    for item in fields(facts):
        value = getattr(facts, item.name)
        if isinstance(value, Ref):
            yield value


def _refers(facts: Facts, other: Facts) -> bool:
    return any(other.matches(ref) for ref in _refs(facts))


def _governed(stack: StackFacts, facts: Facts) -> tuple[Key | Secret, ...]:
    """The keys and secrets whose access a resource's facts may change: itself, or those its
    grants reach (`facts.grants`)."""
    if isinstance(facts, Key | Secret):
        return (facts,)
    if not isinstance(facts, AccessBinding):
        return ()
    return stack.derived(_items_by_source).get(facts.urn, ())


def _items_by_source(stack: StackFacts) -> dict[str, tuple[Key | Secret, ...]]:
    """Per resource that writes grants: the keys and secrets its grants reach."""
    result: dict[str, list[Key | Secret]] = defaultdict(list)
    items: list[Key | Secret] = [*stack.keys, *stack.secrets]
    for item in items:
        grants = grants_on(stack, item)
        # Latent grants too: a change to a policy with no effect yet on a key is still judged.
        for source in dict.fromkeys(g.source.urn for g in (*grants.applied, *grants.latent)):
            result[source].append(item)
    return {urn: tuple(items) for urn, items in result.items()}


_Granted = tuple[str, frozenset[Access], tuple[str, ...], frozenset[str]]


def _granted(stack: StackFacts, item: Facts | None) -> dict[str, _Granted]:
    """Per principal (`principal_key`) of a key or secret: (the principal as written, its access,
    its actions, the URNs of the resources that grant them), from `facts.grants`."""
    if isinstance(item, AccessBinding):
        applied = _written(item)
    elif isinstance(item, Key | Secret):
        applied = grants_on(stack, item).applied
    else:
        return {}
    return _by_principal(applied)


def _by_principal(applied: Iterable[AppliedGrant]) -> dict[str, _Granted]:
    result: dict[str, _Granted] = {}
    for grant in applied:
        who = principal_key(grant.principal)
        principal, access, actions, sources = result.get(
            who, (grant.principal, frozenset(), (), frozenset())
        )
        result[who] = (
            principal,
            access | grant.access,
            tuple(dict.fromkeys((*actions, *grant.actions))),
            sources | {grant.source.urn},
        )
    return result


def _latent(stack: StackFacts, item: Facts | None) -> dict[str, _Granted]:
    """As `_granted`, for the grants with no effect yet on a key (`Grants.latent`)."""
    if not isinstance(item, Key):
        return {}
    return _by_principal(grants_on(stack, item).latent)


def _access_of(granted: dict[str, _Granted], who: str) -> frozenset[Access]:
    entry = granted.get(who)
    return entry[1] if entry is not None else frozenset()


def _written(binding: AccessBinding) -> tuple[AppliedGrant, ...]:
    """The allow grants written on a binding, as the access model gives them on a key."""
    if isinstance(binding.grants, Unknown):
        return ()
    return tuple(
        AppliedGrant(g.principal, g.actions, actions_access(g.actions, Target.KEY), binding)
        for g in binding.grants
        if g.effect is Effect.ALLOW
        and isinstance(g.principal, str)
        and g.principal
        and isinstance(g.actions, tuple)
    )


def _access_text(access: frozenset[Access]) -> str:
    return "+".join(a.value for a in Access if a in access) or "no key rights"


def _one(facts: Sequence[Facts], kind: type[Any]) -> Any:
    return next((f for f in facts if isinstance(f, kind)), None)


# --- rendering --------------------------------------------------------------------------------------


def json_text(diff: StackDiff) -> str:
    return json.dumps(diff.to_json(), indent=2) + "\n"


def _order(change: Change) -> tuple[int, str]:
    """Risky changes first (a reviewer reads the top of the comment), then by URN."""
    return (0 if change.risks else 1, change.urn)


def summary_text(diff: StackDiff) -> str:
    """`2 changed resources (1 created, 1 updated, 0 replaced, 0 deleted); 1 risk (1 of
    mandatory rules)`: the Markdown's summary, and the console's line with report files."""
    summary = diff.summary()
    return (
        f"{plural(summary['changes'], 'changed resource')} ({summary['create']} created, "
        f"{summary['update']} updated, {summary['replace']} replaced, {summary['delete']} "
        f"deleted); {plural(summary['risks'], 'risk')} ({summary['mandatory']} of mandatory "
        "rules)"
    )


def markdown_text(diff: StackDiff, *, max_chars: int = COMMENT_LIMIT) -> str:
    """A pull-request comment: a summary table, then details per resource, within `max_chars`."""
    head = [
        "## keyplane diff",
        "",
        f"{summary_text(diff)}.",
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
