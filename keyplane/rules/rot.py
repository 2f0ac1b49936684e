"""KM-ROT: rotation of keys and secrets.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-ROT-001, KM-ROT-002, KM-ROT-003, KM-ROT-004 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from keyplane.facts.model import (
    Facts,
    Key,
    Secret,
    SecretRotation,
    StackFacts,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    algorithm_name,
    key_kind,
    lengthened,
    purpose_of,
    rotation_limit,
    switched_off,
)
from keyplane.rules.context import Context
from keyplane.rules.filecheck import KEY_TYPE, SECRET_TYPE, FileContext, FileFinding, file_finding
from keyplane.rules.registry import Observation, Scope, Transition, check, weakening
from keyplane.rules.verdict import (
    Outcome,
    Verdict,
    cannot_judge,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    SECRET_ROTATION_MAX_DAYS,
    SECRET_ROTATION_PURPOSES,
    STRICTEST_ROTATION_DAYS,
    TAG_PURPOSE,
    TAG_ROTATE_BY,
    TAG_ROTATION_OWNER,
    Cloud,
    KeyPurpose,
)

_ENABLE_ROTATION = {
    Cloud.AWS: "set enableKeyRotation to true (rotation_days in the environment file)",
    Cloud.GCP: "set rotationPeriod (rotation_days in the environment file)",
    Cloud.AZURE: "add a rotation policy with a rotate lifetime action",
}


@check("KM-ROT-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Key,))
def rotation_enabled(facts: Facts, context: Context) -> Verdict:
    """KM-ROT-001 on a key its cloud can rotate: automatic rotation is on."""
    rule = "KM-ROT-001"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    if isinstance(facts.can_rotate_automatically, Unknown):
        return unknown(rule, facts, "whether the key type can rotate automatically")
    if not facts.can_rotate_automatically:
        return not_applicable(rule, "the cloud cannot rotate this key automatically (KM-ROT-004)")
    if isinstance(facts.rotation_enabled, Unknown):
        return unknown(rule, facts, "whether automatic rotation is enabled")
    if facts.rotation_enabled:
        return passed(rule, facts)
    return fail(
        rule,
        facts,
        f"automatic rotation is disabled on this {facts.cloud.value} {key_kind(facts)}; "
        f"{_ENABLE_ROTATION[facts.cloud]}.",
    )


@check("KM-ROT-002", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Key,))
def rotation_period(facts: Facts, context: Context) -> Verdict:
    """KM-ROT-002 on a key: the rotation period in days is within its purpose's maximum (the
    strictest one when no purpose is declared)."""
    rule = "KM-ROT-002"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    if facts.rotation_problem is not None:
        return cannot_judge(rule, facts, facts.rotation_problem)
    days = facts.rotation_days
    if days is None:
        if facts.rotation_enabled is True:
            return fail(
                rule,
                facts,
                "automatic rotation is enabled without a period; give the rotation policy a "
                "period within the purpose's maximum.",
            )
        return not_applicable(rule, "no automatic rotation (KM-ROT-001, KM-ROT-004)")
    if isinstance(days, Unknown):
        return unknown(rule, facts, "the rotation period")
    purpose = purpose_of(facts)
    if isinstance(purpose, Unknown):
        if days <= STRICTEST_ROTATION_DAYS:
            return passed(rule, facts)
        return unknown(rule, facts, "the key's purpose tag")
    limit = rotation_limit(purpose)
    if days <= limit:
        return passed(rule, facts)
    if purpose is None:
        return fail(
            rule,
            facts,
            f"rotation period {days} days exceeds {limit}, the strictest limit, because the key "
            f"declares no valid purpose; tag {TAG_PURPOSE} with its purpose or lower rotation_days.",
        )
    return fail(
        rule,
        facts,
        f"rotation period {days} days exceeds {limit} for {purpose.value} keys; lower "
        "rotation_days or file an exception.",
    )


def manual_plan_problem(
    *,
    cloud: Cloud,
    algorithm: str | None,
    purpose: KeyPurpose | None,
    owner: str | None,
    rotate_by: date | str | None,
    as_of: date,
) -> str | None:
    """KM-ROT-004's decision for a key its cloud cannot rotate: what is wrong with its manual
    rotation plan (owner, rotate_by), or None when the plan is timely.

    The one decision behind both the resource check (tags on the rendered key) and the file
    check (`rotation:` in the environment file), so both say the same thing.
    """
    period = rotation_limit(purpose)
    purpose_text = f"{purpose.value} keys" if purpose else "keys without a declared purpose"
    if not owner or rotate_by is None:
        what = f"{algorithm} " if algorithm else ""
        return (
            f"{cloud.value} cannot rotate {what}keys automatically and no manual rotation "
            f"plan is declared; tag {TAG_ROTATION_OWNER} and {TAG_ROTATE_BY} (rotation: "
            f"{{owner, rotate_by}} in the environment file) within {period} days for "
            f"{purpose_text}."
        )
    if not isinstance(rotate_by, date):
        return (
            f"tag {TAG_ROTATE_BY} {rotate_by!r} is not a date YYYY-MM-DD; write the date the "
            "key must be rotated by."
        )
    latest = as_of + timedelta(days=period)
    if rotate_by < as_of:
        return (
            f"manual rotation was due on {rotate_by.isoformat()} and is overdue; rotate the key, "
            "record the change and set the next rotate_by."
        )
    if rotate_by > latest:
        return (
            f"rotate_by {rotate_by.isoformat()} is more than {period} days away (at the latest "
            f"{latest.isoformat()} for {purpose_text}); bring rotate_by forward."
        )
    return None


@check("KM-ROT-004", points=(Point.CROSSGUARD,), kinds=(Key,))
def manual_rotation_plan(facts: Facts, context: Context) -> Verdict:
    """KM-ROT-004 on a rendered key: its manual rotation plan tags (`manual_plan_problem`)."""
    rule = "KM-ROT-004"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    if isinstance(facts.can_rotate_automatically, Unknown):
        return unknown(rule, facts, "whether the key type can rotate automatically")
    if facts.can_rotate_automatically:
        return not_applicable(rule, "the cloud rotates this key automatically (KM-ROT-001)")
    purpose = purpose_of(facts)
    owner, rotate_by = facts.rotation_owner, facts.rotate_by
    if isinstance(purpose, Unknown) or isinstance(owner, Unknown) or isinstance(rotate_by, Unknown):
        return unknown(rule, facts, "the manual rotation plan's tags")
    algorithm = facts.algorithm
    problem = manual_plan_problem(
        cloud=facts.cloud,
        algorithm=None if isinstance(algorithm, Unknown) else algorithm_name(algorithm),
        purpose=purpose,
        owner=owner,
        rotate_by=rotate_by,
        as_of=context.as_of,
    )
    return passed(rule, facts) if problem is None else fail(rule, facts, problem)


@check("KM-ROT-004", points=(Point.VALIDATION,), scope=Scope.FILE)
def declared_manual_rotation(files: FileContext) -> Iterator[FileFinding]:
    """KM-ROT-004 on the environment files: keys their cloud cannot rotate declare a timely
    `rotation: {owner, rotate_by}` (`manual_plan_problem`)."""
    estate = files.estate
    for env in estate.environments.values():
        doc = estate.documents[env.name]
        for index, key in enumerate(env.keys):
            if env.resolve(key).rotation_days is not None:
                continue  # the cloud rotates it (KM-ROT-001, KM-ROT-002)
            plan = key.rotation
            problem = manual_plan_problem(
                cloud=env.cloud,
                algorithm=key.algorithm,
                purpose=key.purpose,
                owner=plan.owner if plan else None,
                rotate_by=plan.rotate_by if plan else None,
                as_of=files.today,
            )
            if problem is None:
                continue
            where = ("keys", index) if plan is None else ("keys", index, "rotation", "rotate_by")
            yield file_finding(
                "KM-ROT-004",
                key.name,
                KEY_TYPE,
                problem,
                path=doc.path,
                line=doc.line_of(where),
                environment=env.name,
            )


_SECRET_ROTATION_DAYS = SECRET_ROTATION_MAX_DAYS


def no_secret_rotation_text(what: str) -> str:
    """KM-ROT-003's text for a secret with no automatic rotation (`what`: `api-secret secrets`),
    the same from the stack and from the environment file, so that the two fold into one."""
    return (
        f"no automatic rotation is configured for {what}; rotate it automatically every "
        f"{_SECRET_ROTATION_DAYS} days or less (AWS SecretRotation, GCP rotation.rotationPeriod, "
        "Azure an expiry that triggers rotation)."
    )


@check("KM-ROT-003", points=(Point.VALIDATION,), scope=Scope.FILE, foresees=Point.CROSSGUARD)
def declared_secret_rotation(files: FileContext) -> Iterator[FileFinding]:
    """KM-ROT-003 foreseen in the environment files: an AWS secret whose purpose must rotate
    (api-secret, ai-service-key) and that declares no `aws.rotation_lambda_arn`. The components
    configure rotation only through that function, so the stack would fail KM-ROT-003:
    `validate` says so, with the line, and preview folds it into the pack's finding."""
    for env in files.estate.environments.values():
        if env.cloud is not Cloud.AWS:
            continue
        doc = files.estate.documents[env.name]
        for index, secret in enumerate(env.secrets):
            if secret.purpose not in SECRET_ROTATION_PURPOSES:
                continue
            if secret.aws is not None and secret.aws.rotation_lambda_arn:
                continue
            yield file_finding(
                "KM-ROT-003",
                secret.name,
                SECRET_TYPE,
                no_secret_rotation_text(f"{secret.purpose.value} secrets"),
                path=doc.path,
                line=doc.line_of(("secrets", index)),
                environment=env.name,
            )


@check("KM-ROT-003", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), scope=Scope.STACK)
def secret_rotation(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-ROT-003 over the stack: every api-secret or ai-service-key secret rotates at least every
    90 days (its own period, a rotation resource, or an Azure expiry)."""
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
            verdicts.append(fail(rule, secret, no_secret_rotation_text(what)))
    if not judged and not verdicts:
        return [not_applicable(rule, "no api-secret or ai-service-key secrets")]
    return verdicts


@weakening("KM-ROT-001", kinds=(Key,))
def rotation_disabled(change: Transition) -> Iterator[Observation]:
    """KM-ROT-001 in a change: a key's automatic rotation switched off."""
    before, after = change.before, change.after
    if (
        isinstance(before, Key)
        and isinstance(after, Key)
        and before.rotation_enabled is True
        and after.rotation_enabled is False
    ):
        yield Observation(
            f"{after.name}: automatic rotation disabled (was every {before.rotation_days} "
            "days); keep rotation enabled."
        )


@weakening("KM-ROT-002", kinds=(Key,))
def rotation_lengthened(change: Transition) -> Iterator[Observation]:
    """KM-ROT-002 in a change: a key's rotation period lengthened, even within its limit."""
    before, after = change.before, change.after
    if (
        isinstance(before, Key)
        and isinstance(after, Key)
        and after.rotation_enabled is not False
        and lengthened(before.rotation_days, after.rotation_days)
    ):
        yield Observation(
            f"{after.name}: rotation period lengthened from {before.rotation_days} to "
            f"{after.rotation_days} days; check it against the purpose's maximum."
        )


_SECRET_LIMIT_TEXT = (
    f"api-secret and ai-service-key secrets rotate at most every {SECRET_ROTATION_MAX_DAYS} days."
)


@weakening("KM-ROT-003", kinds=(Secret, SecretRotation))
def secret_rotation_weakened(change: Transition) -> Iterator[Observation]:
    """KM-ROT-003 in a change: a secret's rotation removed (its rotation resource deleted, or
    turned off) or its period lengthened, even within the limit."""
    before, after = change.before, change.after
    if isinstance(before, SecretRotation) and after is None:
        yield Observation(f"{before.name}: secret rotation removed; {_SECRET_LIMIT_TEXT}")
        return
    if before is None or after is None or type(before) is not type(after):
        return
    enabled: Iterable[object] = (None, None)
    if isinstance(before, SecretRotation) and isinstance(after, SecretRotation):
        enabled = (before.enabled, after.enabled)
    elif not isinstance(before, Secret) or not isinstance(after, Secret):
        return
    was, now = before.rotation_days, after.rotation_days
    if switched_off(*enabled) or (isinstance(was, int) and now is None):
        yield Observation(
            f"{after.name}: secret rotation removed (was every {was} days); {_SECRET_LIMIT_TEXT}"
        )
    elif lengthened(was, now):
        yield Observation(
            f"{after.name}: secret rotation lengthened from {was} to {now} days; "
            f"{_SECRET_LIMIT_TEXT}"
        )
