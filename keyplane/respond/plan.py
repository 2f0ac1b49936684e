"""The revoke-and-rotate runbook of Policy §10 as data: which steps a compromised key or secret
needs, on which cloud, and what stays manual.

Pure: no SDK calls. `plan_for` turns a declared key or secret of an environment into `Step`s
(`action`, what is done, why); `keyplane respond` prints them without `--apply` and carries them
out with it (`keyplane.respond.aws`). The plan depends on the key's usage:

- an **encryption** key (symmetric, data at rest): its users' statements are removed from the key
  policy instead of disabling the key first, because the data it protects must stay decryptable
  by the administrators who re-encrypt it; the key is then replaced behind its alias and
  disabled, but retained (Proc 4.4 step 3);
- a **signing or MAC** key: disabled at once, because every signature it makes from now on may be
  forged and there is no data to decrypt; a new key takes its alias and, for an asymmetric key,
  its public key is published to the verifiers;
- a **secret**: rotated now (its rotation function makes the new value), or by hand when it has
  none.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from keyplane.config.model import Environment, KeySpec, SecretSpec
from keyplane.standard import Cloud, Usage

__all__ = [
    "Action",
    "Revocation",
    "Step",
    "Target",
    "manual_steps",
    "plan_for",
    "revocation",
]


class Action(StrEnum):
    """The stages of Policy §10's response, in order."""

    REVOKE = "revoke"
    ROTATE = "rotate"
    INVESTIGATE = "investigate"
    DOCUMENT = "document"


class Revocation(StrEnum):
    """How a key's users are taken off it."""

    REMOVE_USERS = "remove the users' statements from the key policy"
    DISABLE = "disable the key"


@dataclass(frozen=True)
class Target:
    """What the response is about: a declared key or a declared secret of `environment`."""

    environment: Environment
    key: KeySpec | None = None
    secret: SecretSpec | None = None

    @property
    def kind(self) -> str:
        """ "key" or "secret"."""
        return "key" if self.key is not None else "secret"

    @property
    def name(self) -> str:
        item = self.key or self.secret
        assert item is not None
        return item.name

    @property
    def cloud(self) -> Cloud:
        return self.environment.cloud


@dataclass(frozen=True)
class Step:
    """One step of the runbook: `id` (stable, e.g. "retire-grants"), its `action`, what is done
    (`what`) and why (`why`)."""

    id: str
    action: Action
    what: str
    why: str


def revocation(environment: Environment, key: KeySpec) -> Revocation:
    """How `key`'s users lose it: encryption keys keep their data decryptable by the
    administrators (REMOVE_USERS); signing and MAC keys stop at once (DISABLE)."""
    usage = environment.resolve(key).usage
    return Revocation.REMOVE_USERS if usage is Usage.ENCRYPT else Revocation.DISABLE


def _revocation_why(method: Revocation) -> str:
    if method is Revocation.REMOVE_USERS:
        return (
            "an encryption key still protects data: disabling it first would lock the data "
            "away from the administrators who must re-encrypt it, so only its users lose it"
        )
    return (
        "a signing key protects no stored data, and every signature it makes from now on may "
        "be forged: it stops now"
    )


def plan_for(target: Target, *, days: int) -> list[Step]:
    """The steps of the response to `target`'s compromise on its cloud; `days` of access logs
    are investigated. Raises nothing."""
    env = target.environment
    steps: list[Step] = []
    if target.key is not None:
        key = target.key
        resolved = env.resolve(key)
        method = revocation(env, key)
        users = ", ".join(resolved.users) or "none declared"
        grants = {
            Cloud.AWS: "retire and revoke every KMS grant on the key (ListGrants, RetireGrant/"
            "RevokeGrant)",
            Cloud.GCP: "remove every IAM binding on the key that is not an administrator's or "
            "auditor's",
            Cloud.AZURE: "remove every role assignment and access policy entry on the key that is "
            "not an administrator's or auditor's",
        }[env.cloud]
        steps.append(
            Step(
                "retire-grants",
                Action.REVOKE,
                grants,
                "grants give access beside the key policy; a compromised grantee keeps it "
                "until the grant is gone",
            )
        )
        steps.append(
            Step(
                "revoke-users",
                Action.REVOKE,
                f"{method.value} (users: {users})",
                _revocation_why(method),
            )
        )
        if resolved.algorithm.symmetric:
            new_key = "a new key (same spec, usage, tags and policy)"
        else:
            new_key = "a new key pair (same spec, usage, tags and policy)"
        where = {
            Cloud.AWS: f"behind the alias alias/{env.name}/{key.name}",
            Cloud.GCP: "as the key's new primary version",
            Cloud.AZURE: "as the Key Vault key's new current version",
        }[env.cloud]
        steps.append(
            Step(
                "new-key",
                Action.ROTATE,
                f"create {new_key} {where}",
                "the compromised material must no longer encrypt or sign anything new",
            )
        )
        if resolved.usage is Usage.SIGN:
            steps.append(
                Step(
                    "publish-public-key",
                    Action.ROTATE,
                    "write the new key's public key to the incident record, to publish to the "
                    "verifiers (never any private material)",
                    "verifiers must trust the new key and drop the old one",
                )
            )
        steps.append(
            Step(
                "retain-old-key",
                Action.ROTATE,
                "disable the old key (version), retained, not deleted",
                "Proc 4.4 step 3: an old key is deactivated but retained, so what it protected "
                "can still be recovered under control",
            )
        )
    else:
        secret = target.secret
        assert secret is not None
        has_function = env.cloud is Cloud.AWS and secret.aws is not None
        steps.append(
            Step(
                "rotate-secret",
                Action.ROTATE,
                "rotate the secret now (RotateSecret: its rotation function makes and stages a "
                "new value); without a rotation function, rotate it by hand"
                if has_function or env.cloud is Cloud.AWS
                else "add a new secret version and disable the old ones",
                "the compromised value must stop working",
            )
        )
    steps.append(
        Step(
            "investigate",
            Action.INVESTIGATE,
            f"read the {target.kind}'s access log events of the last {days} days "
            + {
                Cloud.AWS: "(CloudTrail LookupEvents by resource name)",
                Cloud.GCP: "(Cloud Audit Logs)",
                Cloud.AZURE: "(Key Vault diagnostic logs)",
            }[env.cloud]
            + ", summarised by principal and action, failed attempts first",
            "find who used it, from where, and what else they reached",
        )
    )
    steps.append(
        Step(
            "document",
            Action.DOCUMENT,
            "write the incident record (JSON and Markdown): time, caller, reason, every step "
            "with its result, what remains manual",
            "Policy §10: document the incident",
        )
    )
    return steps


def manual_steps(target: Target) -> list[str]:
    """What no command can do for the responder (Policy §10), for the incident record."""
    items = ["invalidate the tokens and sessions issued with the compromised key or secret"]
    if target.key is not None:
        usage = target.environment.resolve(target.key).usage
        if usage is Usage.ENCRYPT:
            items.append(
                "re-encrypt the data under the new key: an administrator enables the retained "
                "key for the re-encryption window only (ReEncrypt), then disables it again"
            )
        else:
            items.append(
                "make the verifiers trust only the new key (publish its public key or share "
                "the new MAC key), then confirm nothing verifies with the old one"
            )
    else:
        items.append("update every consumer that caches the secret's old value")
    items.append("notify per the incident response playbook (security team, owners, customers)")
    return items
