"""A pack that stops answering: every call to it has a deadline (`KEYPLANE_PACK_TIMEOUT`), and
the gate reports it as one line instead of waiting for ever (a hung child, issue #15)."""

from __future__ import annotations

import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from keyplane.engines.crossguard import harness
from keyplane.engines.crossguard.harness import PACK_TIMEOUT_ENV, CrossGuardPack, PackError
from keyplane.gate import CrossGuardStage, judge
from keyplane.wire import Registration
from tests.policy.stacks import aws_stack

HANGING_PACK = """\
import time
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

def validate(args, report_violation):
    time.sleep(3600)  # a policy that never returns

PolicyPack(
    name="hangs",
    policies=[
        ResourceValidationPolicy(
            name="never-answers",
            description="a policy stuck in a loop",
            validate=validate,
            enforcement_level=EnforcementLevel.MANDATORY,
        )
    ],
)
"""


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def hanging_pack(tmp_path: Path) -> Path:
    (tmp_path / "PulumiPolicy.yaml").write_text("name: hangs\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(HANGING_PACK)
    return tmp_path


def test_an_analyze_call_the_pack_never_answers_ends_at_the_deadline(hanging_pack: Path) -> None:
    started = time.monotonic()
    with CrossGuardPack(hanging_pack, stack="prod", call_timeout=2) as pack:
        pid = pack._process.pid if pack._process else 0
        with pytest.raises(PackError) as err:
            pack.analyze(aws_stack()[0])
        later = pack.analyze_later(aws_stack()[1])
        with pytest.raises(PackError):
            later()
    assert str(err.value) == (
        f"the policy pack in {hanging_pack} did not answer within 2 s; "
        f"set {PACK_TIMEOUT_ENV} to allow longer (seconds per call)"
    )
    assert time.monotonic() - started < 60
    assert not _alive(pid), "the stuck pack was left running"


def test_the_deadline_is_read_from_the_environment(
    hanging_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PACK_TIMEOUT_ENV, "1.5")
    with CrossGuardPack(hanging_pack, stack="prod") as pack, pytest.raises(PackError) as err:
        pack.analyze(aws_stack()[0])
    assert "did not answer within 1.5 s" in str(err.value)


@pytest.mark.parametrize("given", ["soon", "0", "-3", "inf", "nan"])
def test_a_deadline_that_is_not_a_positive_number_is_refused(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PACK_TIMEOUT_ENV, given)
    with pytest.raises(PackError) as err:
        CrossGuardPack(stack="prod")
    assert str(err.value) == (
        f"{PACK_TIMEOUT_ENV}: not a positive number of seconds (got {given!r}); "
        "set it to one such as 600, or unset it for the default"
    )


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("packs", [1, 2])
def test_the_gate_reports_a_stopped_pack_instead_of_waiting(
    packs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keyplane's own pack, frozen with SIGSTOP once it is up (a wedged server): the gate's
    judgement fails with the deadline's message, and the frozen process is killed on exit;
    with two packs (a large scan) the second is the one frozen, and both are stopped."""
    monkeypatch.setenv(PACK_TIMEOUT_ENV, "3")
    monkeypatch.setattr(harness, "usable_cpus", lambda: 2)
    resources = [
        Registration(
            urn=r.urn,
            type=r.type,
            name=r.name,
            custom=True,
            parent=r.parent,
            dependencies=r.dependencies,
            protect=r.protect,
            retain_on_delete=r.retain_on_delete,
            provider=r.provider,
            inputs=r.inputs,
        )
        for r in aws_stack()
    ]
    started = time.monotonic()
    with CrossGuardStage(
        environment="prod",
        estate=None,
        today=date(2026, 11, 30),
        stack="prod",
        project="keyplane",
        resources=harness.RESOURCES_FOR_TWO_PACKS if packs == 2 else 0,
    ) as stage:
        stage._starter.join()
        assert len(stage._pack.packs) == packs
        processes = [pack._process for pack in stage._pack.packs]
        process = processes[-1]
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        for resource in resources:
            stage.submit(resource)
        with pytest.raises(
            PackError, match=r"did not answer within 3 s; set KEYPLANE_PACK_TIMEOUT"
        ):
            judge(
                resources,
                environment="prod",
                estate=None,
                today=date(2026, 11, 30),
                run_checkov=False,
                crossguard_stage=stage,
            )
    assert time.monotonic() - started < 90
    assert not any(_alive(p.pid) for p in processes if p is not None)
