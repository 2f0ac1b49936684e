"""Issue 20, item 4: a large `scan` shares its Analyze calls between two packs (each a real pack
server over the analyzer protocol); the findings are those of one pack, on the bundled estates,
the benchmark's export and raw stacks written without the components."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane import supervise
from keyplane.cli.app import app
from keyplane.engines.crossguard import harness
from keyplane.engines.crossguard.harness import PackPool, pack_processes
from keyplane.estate import load_estate
from keyplane.findings import Finding
from keyplane.gate import PROJECT, render_environment
from keyplane.pulumi_json import load_pulumi_json, peek_names
from keyplane.rules.catalog import Enforcement
from keyplane.wire import STACK_TYPE
from tests.conftest import BUNDLED_ESTATE, REPO

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pulumi"
AS_OF = "2026-11-23"
ENVIRONMENTS = ("dev", "staging", "prod", "prod-gcp", "prod-azure")


def test_one_pack_below_the_threshold_or_on_one_processor() -> None:
    limit = harness.RESOURCES_FOR_TWO_PACKS
    assert pack_processes(0, cpus=2) == 1  # a preview: its resources are not known up front
    assert pack_processes(limit - 1, cpus=8) == 1
    assert pack_processes(limit, cpus=2) == 2
    assert pack_processes(limit * 10, cpus=1) == 1


def _export(registrations: Any, stack: str, *, weakened: bool = False) -> dict[str, Any]:
    """A stack export of rendered resources (as `benchmarks/export_bench.py` writes one);
    `weakened`: every third tagged resource loses its environment tag and every fourth its
    protection, so that the pack has violations to report on every cloud."""
    stack_urn = f"urn:pulumi:{stack}::{PROJECT}::{STACK_TYPE}::{PROJECT}-{stack}"
    states: list[dict[str, Any]] = [{"urn": stack_urn, "type": STACK_TYPE, "outputs": {}}]
    for r in registrations:
        if r.type == STACK_TYPE:
            continue
        state: dict[str, Any] = {
            "urn": r.urn,
            "custom": r.custom,
            "type": r.type,
            "inputs": r.inputs,
            "parent": r.parent or stack_urn,
            "dependencies": list(r.dependencies),
            "propertyDependencies": {k: list(v) for k, v in r.property_dependencies.items()},
            "protect": r.protect,
        }
        if r.provider:
            state["provider"] = r.provider
        if weakened and len(states) % 4 == 0:
            state["protect"] = False
        for field in ("tags", "labels"):
            if weakened and len(states) % 3 == 0 and isinstance(r.inputs.get(field), dict):
                state["inputs"] = {
                    **r.inputs,
                    field: {
                        k: v for k, v in r.inputs[field].items() if k != "keyplane-environment"
                    },
                }
        states.append(state)
    return {"version": 3, "deployment": {"resources": states}}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Exports (and the estate that judges them) of the bundled environments and of the
    benchmark's estate, plus the raw fixtures (judged without an estate)."""
    folder = tmp_path_factory.mktemp("exports")
    estate = load_estate(BUNDLED_ESTATE)
    made: dict[str, tuple[Path, Path]] = {}
    for name in sorted(estate.environments):
        registrations = render_environment(
            estate.environments[name], estate.root, today=date.fromisoformat(AS_OF)
        )
        for weakened in (False, True):
            key = f"{name}-weakened" if weakened else name
            path = folder / f"{key}.json"
            path.write_text(json.dumps(_export(registrations, name, weakened=weakened)))
            made[key] = (path, BUNDLED_ESTATE)
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from preview_bench import estate_yaml
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    bench = folder / "bench"
    bench.mkdir()
    (bench / "bench.yaml").write_text(estate_yaml(20))
    bench_estate = load_estate(bench)
    registrations = render_environment(
        bench_estate.environments["bench"], bench, today=date.fromisoformat(AS_OF)
    )
    (folder / "bench.json").write_text(json.dumps(_export(registrations, "bench")))
    made["bench"] = (folder / "bench.json", bench)
    for fixture in ("preview.json", "stack-export.json"):
        made[fixture] = (FIXTURES / fixture, folder / "no-estate")
    return made


@pytest.fixture
def pack_spawns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The pack processes started (through `supervise.spawn`)."""
    started: list[list[str]] = []
    spawn = supervise.spawn

    def counting(command: list[str], **popen_args: Any) -> Any:
        if "pulumi.policy" in command:
            started.append(command)
        return spawn(command, **popen_args)

    monkeypatch.setattr(supervise, "spawn", counting)
    return started


def _scan(export: Path, estate: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app,
        [
            *("scan", str(export), "--estate", str(estate), "--no-checkov"),
            *("--format", "json", "--as-of", AS_OF, *extra),
        ],
    )
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(
    "name",
    [
        *(f"{env}{kind}" for env in ENVIRONMENTS for kind in ("", "-weakened")),
        "bench",
        "preview.json",
        "stack-export.json",
    ],
)
def test_two_packs_give_the_findings_of_one(
    name: str,
    exports: dict[str, tuple[Path, Path]],
    pack_spawns: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export, estate = exports[name]
    env = () if name.endswith(".json") else ("--env", name.removesuffix("-weakened"))
    monkeypatch.setattr(harness, "usable_cpus", lambda: 2)
    monkeypatch.setattr(harness, "RESOURCES_FOR_TWO_PACKS", 10**9)
    one_code, one = _scan(export, estate, *env)
    assert len(pack_spawns) == 1
    monkeypatch.setattr(harness, "RESOURCES_FOR_TWO_PACKS", 1)
    two_code, two = _scan(export, estate, *env)
    assert len(pack_spawns) == 3  # two more: the second scan's two packs
    assert two_code == one_code
    assert two["findings"] == one["findings"]
    assert two["summary"] == one["summary"]
    if name != "bench" and not name.endswith("-weakened") and name.startswith(ENVIRONMENTS):
        return  # a bundled environment is compliant: its weakened export has the findings
    assert one["findings"], "a comparison of empty reports would prove nothing"


def test_a_pool_shares_the_analyze_calls_and_answers_like_one_pack() -> None:
    resources = load_pulumi_json(FIXTURES / "stack-export.json").resources
    config = {"keyplane-settings": {"environment": "prod", "asOf": AS_OF}}

    def findings(pack: Any) -> list[Finding]:
        answers = [pack.analyze_later(pack.prepare(r)) for r in resources]
        stack = pack.analyze_stack_later(resources)
        return [*(f for collect in answers for f in collect()), *stack()]

    with harness.CrossGuardPack(stack="prod", policy_config=config) as one:
        expected = findings(one)
    with PackPool(2, stack="prod", policy_config=config) as pool:
        sent = [0, 0]
        for index, pack in enumerate(pool.packs):
            original = pack.analyze_later

            def counted(resource: Any, index: int = index, original: Any = original) -> Any:
                sent[index] += 1
                return original(resource)

            pack.analyze_later = counted  # type: ignore[method-assign]
        got = findings(pool)
        pids = {pack._process.pid for pack in pool.packs if pack._process is not None}
    assert got == expected
    assert any(f.enforcement is Enforcement.MANDATORY for f in expected)
    assert len(pids) == 2
    assert all(sent), sent  # both packs answered Analyze calls
    assert sum(sent) == len(resources)


def test_a_pool_whose_second_pack_fails_to_start_leaves_no_pack(
    pack_spawns: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = PackPool(2, stack="prod")
    processes: list[Any] = []
    first = pool.packs[0]
    start = first.start

    def started(*, configure: bool = True) -> None:
        start(configure=configure)
        processes.append(first._process)

    def broken(*, configure: bool = True) -> None:
        raise harness.PackError("the second pack failed to start")

    monkeypatch.setattr(first, "start", started)
    monkeypatch.setattr(pool.packs[1], "start", broken)
    with pytest.raises(harness.PackError, match="second pack"):
        pool.start()
    assert len(pack_spawns) == 1
    assert processes and processes[0].returncode is not None  # stopped, not left running


def test_the_pack_starts_for_the_first_urns_stack_and_is_replaced_when_the_file_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`scan` starts its pack before parsing the file, for the stack and project its first
    `"urn"` member names; when the parsed file names another (here the first URN is written
    with an escape, so the guess comes from a URN of another stack), that pack is stopped and
    one for the file's stack judges it, with the findings of a file without the trap."""
    started: list[tuple[str, Any]] = []
    spawn = supervise.spawn

    def recording(command: list[str], **popen_args: Any) -> Any:
        process = spawn(command, **popen_args)
        if "pulumi.policy" in command:
            started.append((popen_args["env"]["PULUMI_STACK"], process))
        return process

    monkeypatch.setattr(supervise, "spawn", recording)
    document = json.loads((FIXTURES / "stack-export.json").read_text())
    # A resource of another stack second in the file: the first URN a guess can read when the
    # stack's own URN (first) is written with an escape.
    stray = {"urn": "urn:pulumi:other::payments::pulumi:providers:aws::stray", "type": "x:y:Z"}
    document["deployment"]["resources"].insert(1, stray)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(document))
    trapped = tmp_path / "trapped.json"
    trapped.write_text(plain.read_text().replace("urn:pulumi:prod::", "urn:pulumi:pro\\u0064::", 1))
    assert json.loads(trapped.read_text()) == document  # the same document, written otherwise
    assert peek_names(plain.read_bytes()) == ("payments", "prod")
    assert peek_names(trapped.read_bytes()) == ("payments", "other")

    plain_code, plain_report = _scan(plain, tmp_path / "no-estate")
    assert [stack for stack, _ in started] == ["prod"]
    code, report = _scan(trapped, tmp_path / "no-estate")
    assert [stack for stack, _ in started] == ["prod", "other", "prod"]
    assert all(process.poll() is not None for _, process in started)
    assert code == plain_code
    assert report["findings"] == plain_report["findings"]
    assert report["findings"]
