"""The response's steps carried out in order, the same way on every cloud (`run_steps`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyplane.respond.incident import Incident, Status, StepSkipped, run_steps
from keyplane.respond.plan import Action, Step


class Refused(Exception):
    """A cloud call that was refused (what a cloud's `failure` describes)."""


def _incident() -> Incident:
    return Incident(
        id="INC-1",
        environment="prod",
        cloud="aws",
        kind="key",
        name="orders",
        reason="test",
        started_at=datetime(2026, 11, 30, tzinfo=UTC),
        caller="",
        account="111111111111",
        region="eu-west-1",
    )


def _steps(*ids: str) -> list[Step]:
    return [Step(i, Action.ROTATE, "", "") for i in ids]


def _failure(step: str, err: Exception) -> str | None:
    return f"{step} refused: {err}" if isinstance(err, Refused) else None


def test_each_step_is_done_skipped_or_failed_and_later_steps_see_a_failure() -> None:
    incident = _incident()

    def refused() -> tuple[Status, str]:
        raise Refused("AccessDenied")

    def needs_new_key() -> tuple[Status, str]:
        if incident.step_failed("new-key"):
            raise StepSkipped("no new key (new-key did not succeed)")
        return Status.DONE, "retained"

    handlers = {
        "revoke-users": lambda: (Status.DONE, "revoked"),
        "new-key": refused,
        "retain-old-key": needs_new_key,
    }
    run_steps(
        incident,
        _steps("revoke-users", "new-key", "retain-old-key", "document"),
        handlers,
        _failure,
    )
    assert [(s.id, s.action, s.status, s.detail) for s in incident.steps] == [
        ("revoke-users", "rotate", Status.DONE, "revoked"),
        ("new-key", "rotate", Status.FAILED, "new-key refused: AccessDenied"),
        ("retain-old-key", "rotate", Status.SKIPPED, "no new key (new-key did not succeed)"),
    ]  # "document" has no handler: the caller writes the record
    assert incident.failed
    assert not incident.step_failed("revoke-users")


def test_an_error_no_cloud_describes_is_never_a_steps_result() -> None:
    """A bug in a step is an internal error (exit 3), not a FAILED step in the record."""
    incident = _incident()

    def broken() -> tuple[Status, str]:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        run_steps(incident, _steps("new-key", "investigate"), {"new-key": broken}, _failure)
    assert incident.steps == []
