"""The registry of checks: which function judges which rule, where, and over what.

A check is a pure function registered with a decorator beside its rule family's other checks:

    @check("KM-ROT-002", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Key,))
    def rotation_period(facts: Facts, context: Context) -> Verdict: ...

    @check("KM-LOG-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), scope=Scope.STACK)
    def audit_logging(stack: StackFacts, context: Context) -> list[Verdict]: ...

    @check("KM-REV-001", points=(Point.VALIDATION,), scope=Scope.FILE)
    def policy_review(files: FileContext) -> Iterator[FileFinding]: ...

Scopes and their signatures:
- `Scope.RESOURCE`: `(Facts, Context) -> Verdict`, one resource at a time (CrossGuard `Analyze`,
  checkov's resource checks, the audit per described resource). `kinds` are the fact classes it
  judges; for any other kind it answers "not applicable" (tests hold it to that).
- `Scope.STACK`: `(StackFacts, Context) -> list[Verdict]`, joins across resources (CrossGuard
  `AnalyzeStack`, checkov over the whole plan, the audit over the account).
- `Scope.FILE`: `(FileContext) -> Iterable[FileFinding]`, the estate's files before anything is
  rendered (point V; `keyplane.rules.files`).
- `Scope.LOADER`: the rule is enforced by the estate loader as a form error (exit 2); the
  registration names where, so that the catalog's point is accounted for.

This module is the single source for the CrossGuard pack's policies, checkov's checks and the
types they support, the in-process `evaluate`/`judge`, and the audit's rules. The package
(`keyplane.rules`) imports every family module (`FAMILIES`) and then `verify`s the registrations
against the catalog: importing keyplane's rules fails with `RegistryError` (one sentence naming
the rule and the point) when

- a rule declares a point it enforces (not pending) and no check serves it there,
- a check is registered for a rule the catalog does not know, or for a point the catalog does
  not declare for that rule (or declares pending),
- two checks claim the same rule at the same point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import import_module
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from keyplane.facts.access import Access
from keyplane.facts.model import Facts, Resource, StackFacts
from keyplane.rules.catalog import RULES, Point, Rule
from keyplane.rules.verdict import Verdict

if TYPE_CHECKING:
    from keyplane.rules.context import Context

#: A resource check: one resource's facts in, one verdict out.
ResourceCheck = Callable[[Facts, "Context"], Verdict]
#: A stack check: the whole stack in, the verdicts that need reporting (or one "not applicable").
StackCheck = Callable[[StackFacts, "Context"], list[Verdict]]

#: One module per rule family, named after the ID's middle part (`del` is a keyword).
FAMILIES = (
    "alg",
    "rot",
    "pur",
    "env",
    "ten",
    "acc",
    "log",
    "mon",
    "crt",
    "deletion",
    "hsm",
    "sto",
    "bak",
    "exc",
    "rev",
    "cov",
)

_F = TypeVar("_F", bound=Callable[..., Any])


class Scope(StrEnum):
    RESOURCE = "resource"
    STACK = "stack"
    FILE = "file"
    LOADER = "loader"


class RegistryError(RuntimeError):
    """The registered checks and the catalog disagree; the message names the rule and point."""


@dataclass(frozen=True)
class Check:
    rule: str
    points: frozenset[Point]
    scope: Scope
    function: Callable[..., Any]
    #: Fact classes a resource check judges (it answers "not applicable" for the rest).
    kinds: tuple[type[Resource], ...] = ()
    #: Cloud API permissions the audit needs to judge the rule (informative).
    permissions: tuple[str, ...] = ()
    #: For `Scope.LOADER`: where the loader enforces the rule.
    enforced_by: str = ""
    #: For a file check of a rule the catalog does not enforce at V: the point whose verdict
    #: it foresees from the estate (a declaration the components refuse to deploy, so the stack
    #: it would fail at that point is never rendered). Not one of the rule's enforced points.
    foresees: Point | None = None

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))


_REGISTERED: list[Check] = []


def check(
    rule: str,
    *,
    points: Iterable[Point],
    kinds: Iterable[type[Resource]] = (),
    scope: Scope | None = None,
    permissions: Iterable[str] = (),
    foresees: Point | None = None,
) -> Callable[[_F], _F]:
    """Register the decorated function as `rule`'s check at `points`.

    `kinds` makes it a resource check (the default scope when kinds are given); stack and file
    checks name their `scope`. A file check at V may `foresee` the verdict of a point the
    catalog declares (see `Check.foresees`). Raises `RegistryError` when the scope and kinds do
    not fit.
    """
    kinds = tuple(kinds)
    chosen = scope or (Scope.RESOURCE if kinds else None)
    if chosen is None:
        raise RegistryError(f"the check of {rule} names neither its kinds nor its scope")
    if (chosen is Scope.RESOURCE) != bool(kinds):
        raise RegistryError(f"the check of {rule}: only a resource check names the kinds it judges")

    def register(function: _F) -> _F:
        _REGISTERED.append(
            Check(
                rule,
                frozenset(points),
                chosen,
                function,
                kinds,
                tuple(permissions),
                foresees=foresees,
            )
        )
        return function

    return register


def enforced_by_loader(rule: str, *, points: Iterable[Point], where: str) -> None:
    """Account for a rule the estate loader enforces as a form error (bad input, exit 2)."""
    _REGISTERED.append(Check(rule, frozenset(points), Scope.LOADER, _loader, enforced_by=where))


def _loader(*_: object) -> None:  # pragma: no cover - never called: the loader judges
    raise NotImplementedError


def verify(checks: Iterable[Check], rules: Mapping[str, Rule] | None = None) -> None:
    """Raise `RegistryError` unless `checks` serve exactly the points `rules` (default: the
    catalog) enforce."""
    rules = RULES if rules is None else rules
    served: dict[tuple[str, Point], Check] = {}
    for registered in checks:
        rule = rules.get(registered.rule)
        if rule is None:
            raise RegistryError(
                f"{registered.name} is registered for {registered.rule}, which the catalog "
                "(keyplane/rules/catalog.py) does not know; add its row or correct the ID"
            )
        if registered.foresees is not None:
            if (
                registered.points != {Point.VALIDATION}
                or registered.scope is not Scope.FILE
                or registered.foresees not in rule.enforced_points
            ):
                raise RegistryError(
                    f"{registered.name} foresees {rule.id} at point "
                    f"{registered.foresees.value}: only a file check at V may foresee, and only "
                    "a point the catalog enforces for the rule"
                )
            continue
        for point in sorted(registered.points):
            if point not in rule.points:
                raise RegistryError(
                    f"{registered.name} serves {rule.id} at point {point.value}, which the "
                    f"catalog does not declare for it (points: {rule.points_text}); correct the "
                    "check's points or the catalog row"
                )
            if point in rule.pending:
                raise RegistryError(
                    f"{registered.name} serves {rule.id} at point {point.value}, which the "
                    "catalog still declares pending; remove the point from the rule's pending set"
                )
            other = served.setdefault((rule.id, point), registered)
            if other is not registered:
                raise RegistryError(
                    f"{rule.id} has two checks at point {point.value} ({other.name} and "
                    f"{registered.name}); keep one"
                )
    for rule in rules.values():
        if rule.deprecated:
            continue
        for point in sorted(rule.enforced_points):
            if (rule.id, point) not in served:
                raise RegistryError(
                    f"{rule.id} declares point {point.value} ({point.label}) but no check is "
                    f"registered for it there; decorate its check with @check({rule.id!r}, "
                    f"points=(..., Point.{point.name})) or mark the point pending in the catalog"
                )


def load() -> tuple[Check, ...]:
    """Import every family module (registering its checks) and verify them against the catalog."""
    for family in FAMILIES:
        import_module(f"keyplane.rules.{family}")
    checks = tuple(_REGISTERED)
    verify(checks)
    return checks


def _in_catalog_order(checks: Iterable[Check]) -> tuple[Check, ...]:
    order = {rule_id: position for position, rule_id in enumerate(RULES)}
    return tuple(sorted(checks, key=lambda c: order[c.rule]))


_ORDERED: dict[tuple[int, int], tuple[Check, ...]] = {}


def registered() -> tuple[Check, ...]:
    """Every registered check, in catalog order."""
    # Asked for every rule of every resource the pack judges: sorted once per set of checks
    # (checks register at import; a test may register more).
    count = (id(_REGISTERED), len(_REGISTERED))
    ordered = _ORDERED.get(count)
    if ordered is None:
        _ORDERED.clear()
        ordered = _ORDERED[count] = _in_catalog_order(_REGISTERED)
    return ordered


def checks_at(point: Point, scope: Scope | None = None) -> tuple[Check, ...]:
    """The checks serving `point` (of `scope`, when given), in catalog order."""
    return tuple(
        c
        for c in registered()
        if point in c.points
        and (scope is None or c.scope is scope)
        and not RULES[c.rule].deprecated
    )


def check_of(rule_id: str, point: Point) -> Check:
    """The check of `rule_id` at `point`; KeyError when none serves it there."""
    for registered_check in checks_at(point):
        if registered_check.rule == rule_id:
            return registered_check
    raise KeyError(f"no check of {rule_id} at point {point.value}")


def resource_checks(point: Point) -> Mapping[str, ResourceCheck]:
    """Rule ID → resource check, for the rules judged one resource at a time at `point`."""
    return MappingProxyType({c.rule: c.function for c in checks_at(point, Scope.RESOURCE)})


def stack_checks(point: Point) -> Mapping[str, StackCheck]:
    """Rule ID → stack check, for the rules judged over the whole stack at `point`."""
    return MappingProxyType({c.rule: c.function for c in checks_at(point, Scope.STACK)})


def kinds_of(rule_id: str) -> tuple[type[Resource], ...]:
    """The fact classes a rule's resource check judges (empty for stack-level rules)."""
    for registered_check in registered():
        if registered_check.rule == rule_id and registered_check.scope is Scope.RESOURCE:
            return registered_check.kinds
    return ()


def rules_checked_at(point: Point) -> tuple[Rule, ...]:
    """The rules a check serves at `point` (the catalog's `rules_at`, as registered)."""
    ids = {c.rule for c in checks_at(point)}
    return tuple(r for r in RULES.values() if r.id in ids)


# --- what a change weakens (`keyplane diff`) ------------------------------------------------------
#
# A rule's check says whether a state breaks it; a change can also weaken what the rule
# enforces without breaking it yet (a rotation period lengthened within its limit, a deletion
# window shortened, a principal gaining access). Each family registers, beside its checks, how
# a change of one resource (`@weakening`) or of who may reach a key or secret (`@widening`)
# weakens its rules; the diff iterates over them and holds no rule knowledge of its own.


@dataclass(frozen=True)
class Transition:
    """One resource's facts of one kind before and after a change.

    `before` is None for a created resource, `after` None for a deleted one; `replaced` says
    the old resource is destroyed and a new one created in its place.
    """

    before: Facts | None
    after: Facts | None
    context: Context
    replaced: bool = False
    #: The stack's own accounts, projects or subscriptions (the environment's, or those its
    #: state before the change grants to).
    home_scopes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Observation:
    """What a weakening function says of a change: a risk under its rule, or a note."""

    message: str
    risk: bool = True


def note(message: str) -> Observation:
    """A security-relevant change that weakens nothing (shown, never a risk)."""
    return Observation(message, risk=False)


@dataclass(frozen=True)
class AccessChange:
    """What one principal may do on one key or secret, before and after (`facts.grants`).

    `gained` is what it may do now and could not before (empty when only actions changed);
    `new_actions` the native actions newly granted, as written.
    """

    item: Resource
    principal: str
    before: frozenset[Access]
    after: frozenset[Access]
    new_actions: tuple[str, ...]
    context: Context
    #: As `Transition.home_scopes`.
    home_scopes: frozenset[str] = frozenset()
    #: The change adds a grant with no effect yet (an identity policy on an AWS key whose key
    #: policy does not delegate to IAM, `Grants.latent`): `before`/`after` count latent access.
    latent: bool = False

    @property
    def gained(self) -> frozenset[Access]:
        return self.after - self.before


#: `(Transition) -> Iterable[Observation]`: messages start with the resource's name.
WeakeningCheck = Callable[[Transition], Iterable[Observation]]
#: `(AccessChange) -> str | None`: a risk's message when the widening weakens the rule.
WideningCheck = Callable[[AccessChange], "str | None"]


@dataclass(frozen=True)
class Weakening:
    rule: str
    function: Callable[..., Any]
    #: Fact classes compared (`@weakening`); empty for an access widening (`@widening`).
    kinds: tuple[type[Resource], ...] = ()


_WEAKENINGS: list[Weakening] = []
_WIDENINGS: list[Weakening] = []
_ESTATE_NEEDS: dict[str, str] = {}


def _known_rule(rule: str, what: str) -> None:
    if rule not in RULES:
        raise RegistryError(
            f"a {what} is registered for {rule}, which the catalog (keyplane/rules/catalog.py) "
            "does not know; add its row or correct the ID"
        )


def weakening(rule: str, *, kinds: Iterable[type[Resource]]) -> Callable[[_F], _F]:
    """Register how a change of one resource of `kinds` weakens `rule` (`WeakeningCheck`).

    The diff calls it once per changed resource and kind with the facts before and after;
    RegistryError for a rule the catalog does not know or no kinds.
    """
    kinds = tuple(kinds)
    _known_rule(rule, "weakening")
    if not kinds:
        raise RegistryError(f"the weakening of {rule} names no fact kinds")

    def register(function: _F) -> _F:
        _WEAKENINGS.append(Weakening(rule, function, kinds))
        return function

    return register


def widening(rule: str) -> Callable[[_F], _F]:
    """Register how a principal gaining access to a key or secret weakens `rule`
    (`WideningCheck`); RegistryError for a rule the catalog does not know."""
    _known_rule(rule, "widening")

    def register(function: _F) -> _F:
        _WIDENINGS.append(Weakening(rule, function))
        return function

    return register


def needs_estate(rule: str, what: str) -> None:
    """Declare that `rule` cannot be judged from a stack's state alone: it reads `what` from
    the estate (the diff judges it only with an environment, and says so otherwise)."""
    _known_rule(rule, "estate need")
    _ESTATE_NEEDS[rule] = what


def weakenings() -> tuple[Weakening, ...]:
    """Every registered resource weakening, in catalog order."""
    order = {rule_id: position for position, rule_id in enumerate(RULES)}
    return tuple(sorted(_WEAKENINGS, key=lambda w: order[w.rule]))


def widenings() -> tuple[Weakening, ...]:
    """Every registered access widening, in catalog order."""
    order = {rule_id: position for position, rule_id in enumerate(RULES)}
    return tuple(sorted(_WIDENINGS, key=lambda w: order[w.rule]))


def estate_needs() -> Mapping[str, str]:
    """Rule ID -> what it reads from the estate, for the rules a state alone cannot decide."""
    return MappingProxyType(dict(_ESTATE_NEEDS))


__all__ = [
    "FAMILIES",
    "AccessChange",
    "Check",
    "Observation",
    "RegistryError",
    "ResourceCheck",
    "Scope",
    "StackCheck",
    "Transition",
    "Weakening",
    "WeakeningCheck",
    "WideningCheck",
    "check",
    "check_of",
    "checks_at",
    "enforced_by_loader",
    "estate_needs",
    "kinds_of",
    "load",
    "needs_estate",
    "note",
    "registered",
    "resource_checks",
    "rules_checked_at",
    "stack_checks",
    "verify",
    "weakening",
    "weakenings",
    "widening",
    "widenings",
]
