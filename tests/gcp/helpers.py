"""Rendering GCP components offline and reading their registrations as data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pulumi

from keyplane.components.gcp import GcpEnvironment
from keyplane.config import Environment
from keyplane.estate import load_estate
from keyplane.render import RenderResult, render
from keyplane.wire import UNKNOWN

REPO = Path(__file__).resolve().parents[2]
STARTS_ON = date(2026, 1, 1)

#: IAM member resources: type -> the input naming what the member is granted on.
IAM_TARGETS = {
    "gcp:kms/keyRingIAMMember:KeyRingIAMMember": "keyRingId",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "cryptoKeyId",
    "gcp:secretmanager/secretIamMember:SecretIamMember": "secretId",
    "gcp:pubsub/topicIAMMember:TopicIAMMember": "topic",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "bucket",
}


def bundled(name: str = "prod-gcp") -> Environment:
    return load_estate(REPO / "environments").environments[name]


def run(
    program: Callable[[], Any], stack: str = "prod-gcp", config: dict[str, str] | None = None
) -> RenderResult:
    return render(program, project="keyplane", stack=stack, config=config)


def render_env(env: Environment, **kwargs: Any) -> RenderResult:
    kwargs.setdefault("rotation_starts_on", STARTS_ON)

    def program() -> None:
        component = GcpEnvironment(env.name, env, **kwargs)
        pulumi.export("key_ids", component.key_ids)
        pulumi.export("secret_ids", component.secret_ids)
        pulumi.export("key_ring_ids", component.key_ring_ids)
        pulumi.export("audit_bucket_name", component.audit_bucket_name)

    return run(program, stack=env.name)


def of_type(result: RenderResult, type_: str) -> dict[str, Any]:
    """name -> registration of every resource of `type_`."""
    return {r.name: r for r in result.resources if r.type == type_}


def inputs(result: RenderResult, type_: str, name: str) -> dict[str, Any]:
    return dict(of_type(result, type_)[name].inputs)


def grants(result: RenderResult) -> set[tuple[str, str, str]]:
    """(target, role, member) of every IAM member; a target is its last path segment."""
    found = set()
    for r in result.resources:
        field = IAM_TARGETS.get(r.type)
        if field is None:
            continue
        target = str(r.inputs[field]).rsplit("/", 1)[-1]
        member = r.inputs["member"]
        found.add((target, r.inputs["role"], "<unknown>" if member == UNKNOWN else member))
    return found
