"""A large estate (AWS, GCP or Azure) is rendered in shards, one process each: the gate must
judge exactly the registrations of one whole render, and a shard that fails, hangs or disagrees
is never judged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from benchmarks.preview_bench import estate_yaml
from keyplane import render_shards, supervise
from keyplane.estate import load_estate
from keyplane.gate import RenderError, preview, render_environment
from keyplane.render_shards import ShardError, ShardFailure, plan_shards
from keyplane.rules.files import config_findings
from keyplane.standard import Cloud
from keyplane.wire import Registration
from tests.conftest import BUNDLED_ESTATE
from tests.gate.test_signals import _alive, _children_of, _descendants, _survivors

TODAY = date(2026, 11, 30)


def _normalised(registrations: list[Registration]) -> dict[str, tuple[Any, ...]]:
    """Each record by URN, dependencies as sets: the SDK gathers them in sets, in no order."""
    return {
        r.urn: (
            r.type,
            r.name,
            r.custom,
            r.parent,
            frozenset(r.dependencies),
            r.protect,
            r.retain_on_delete,
            r.provider,
            json.dumps(r.inputs, sort_keys=True),
            {k: frozenset(v) for k, v in r.property_dependencies.items()},
            r.read,
        )
        for r in registrations
    }


def _bench_estate(tmp_path: Path, tenants: int) -> Path:
    estate = tmp_path / "environments"
    estate.mkdir()
    (estate / "bench.yaml").write_text(estate_yaml(tenants))
    return estate


def _object_id(name: str) -> str:
    """A stable Entra ID object ID (a GUID) for `name`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyplane-bench/{name}"))


def _cloud_estate_yaml(cloud: Cloud, tenants: int) -> str:
    """An environment `bench` on GCP or Azure: the benchmark's shape (per dedicated tenant two
    keys, a secret and a service using them), plus what no tenant owns (a platform key, secret
    and backup key, the platform's service), a tenant's backup key and certificate, and the last
    tenant (shared) granted the platform key (`_shared_services_yaml`)."""
    names = [f"t{i:04d}" for i in range(tenants)]
    if cloud is Cloud.GCP:
        settings = ["gcp:", "  project: acme-bench-kms", "  location: europe-west1"]
        algorithm, notify = "AES-256", "projects/acme-bench-kms/notificationChannels/4711"

        def principal(name: str) -> str:
            return f"serviceAccount:{name}@acme-bench-apps.iam.gserviceaccount.com"

        def group(name: str) -> str:
            return f"group:{name}@acme.example"

    else:
        subscription = _object_id("subscription")
        settings = [
            "azure:",
            f"  subscription_id: {subscription}",
            f"  tenant_id: {_object_id('entra')}",
            "  location: westeurope",
            "  resource_group: kms-bench",
        ]
        algorithm = "RSA-3072"  # Azure Key Vault offers AES only in a Managed HSM
        notify = (
            f"/subscriptions/{subscription}/resourceGroups/kms-bench/providers/"
            "microsoft.insights/actionGroups/security-alerts"
        )
        principal = group = _object_id
    lines = [
        "name: bench",
        "tier: production",
        f"cloud: {cloud.value}",
        *settings,
        "hsm:\n  enabled: true",
        "logging:\n  retention_days: 400",
        f"monitoring:\n  notify:\n    - {notify}",
        "tenants:",
        *(
            f"  - name: {t}\n    isolation: {'shared' if t == names[-1] else 'dedicated'}"
            for t in names
        ),
        "keys:",
        f"  - name: platform-db\n    purpose: database-encryption\n    algorithm: {algorithm}",
        f"  - name: platform-backup\n    purpose: backup-encryption\n    algorithm: {algorithm}"
        "\n    restore_tested_on: 2026-11-02",
        f"  - name: {names[0]}-backup\n    purpose: backup-encryption\n    algorithm: {algorithm}"
        f"\n    tenant: {names[0]}\n    restore_tested_on: 2026-11-02",
    ]
    for t in names:
        lines += [
            f"  - name: {t}-db\n    purpose: database-encryption\n    algorithm: {algorithm}"
            f"\n    tenant: {t}",
            f"  - name: {t}-app\n    purpose: application-encryption\n    algorithm: {algorithm}"
            f"\n    tenant: {t}",
        ]
    lines += [
        "secrets:",
        "  - name: platform-api\n    purpose: api-secret\n    rotation_days: 90",
        *(
            f"  - name: {t}-api\n    purpose: api-secret\n    tenant: {t}\n    rotation_days: 90"
            for t in names
        ),
        "access:",
        f"  key_admins:\n    - {group('kms-admins')}",
        f"  backup_key_admins:\n    - {group('backup-admins')}",
        f"  auditors:\n    - {group('security-audit')}",
        "  key_users:",
        f"    - principal: {principal('platform')}\n      keys: [platform-db, platform-api]",
        *(
            f"    - principal: {principal(t)}\n      tenant: {t}\n      keys: [{t}-db, {t}-app, "
            f"{t}-api{', platform-db' if t == names[-1] else ''}]"
            for t in names
        ),
        "certificates:",
        f"  - name: {names[0]}-edge\n    domains: [{names[0]}.acme.example]\n"
        f"    algorithm: RSA-2048\n    tenant: {names[0]}",
    ]
    return "\n".join(lines) + "\n"


def _shared_services_yaml(tenants: int) -> str:
    """The register of the platform key the last tenant of `_cloud_estate_yaml` uses."""
    return (
        "shared_keys:\n"
        "  - environment: bench\n"
        "    key: platform-db\n"
        f"    tenants: [t{tenants - 1:04d}]\n"
        "    justification: the platform database serves every tenant\n"
        "    risk_accepted_by: CISO\n"
        "    accepted_on: 2026-04-15\n"
    )


def _cloud_estate(tmp_path: Path, cloud: Cloud, tenants: int) -> Path:
    """The benchmark's estate on `cloud` (AWS: `estate_yaml`) with `tenants` tenants."""
    if cloud is Cloud.AWS:
        return _bench_estate(tmp_path, tenants)
    estate = tmp_path / "environments"
    estate.mkdir()
    (estate / "bench.yaml").write_text(_cloud_estate_yaml(cloud, tenants))
    (estate / "shared-services.yaml").write_text(_shared_services_yaml(tenants))
    return estate


def _sharded_cases() -> list[str]:
    estate = load_estate(BUNDLED_ESTATE)
    return [name for name, env in sorted(estate.environments.items()) if len(env.tenants) >= 2]


def _bundled_with_tenants() -> list[str]:
    estate = load_estate(BUNDLED_ESTATE)
    return [name for name, env in sorted(estate.environments.items()) if env.tenants]


@pytest.mark.parametrize("environment", _sharded_cases())
def test_a_sharded_render_registers_what_one_render_does(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = load_estate(BUNDLED_ESTATE)
    env = estate.environments[environment]
    whole = render_environment(env, estate.root, today=TODAY)
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "1")
    assert len(plan_shards(env)) == len(env.tenants)
    seen: list[Registration] = []
    sharded = render_environment(env, estate.root, today=TODAY, on_register=seen.append)
    assert _normalised(sharded) == _normalised(whole)
    # The pack is handed every resource once, when its first shard registers it.
    assert Counter(r.urn for r in seen) == Counter(r.urn for r in whole)


@pytest.mark.parametrize("environment", _bundled_with_tenants())
def test_a_render_of_each_tenant_apart_and_the_platform_alone_is_one_render(
    environment: str,
) -> None:
    """Every bundled estate with tenants (prod-gcp and prod-azure have one: `plan_shards` never
    splits them), rendered in a shard per tenant and a shard of none (only what no tenant owns)."""
    estate = load_estate(BUNDLED_ESTATE)
    env = estate.environments[environment]
    whole = render_environment(env, estate.root, today=TODAY)
    shards = [*(frozenset({t.name}) for t in env.tenants), frozenset[str]()]
    job = render_shards.ShardJob(env, estate.root, TODAY, None, frozenset())
    sharded = render_shards.render_sharded(job, shards)
    assert _normalised(sharded) == _normalised(whole)
    assert supervise._children == {}


@pytest.mark.parametrize("cloud", [Cloud.GCP, Cloud.AZURE])
def test_the_gcp_and_azure_estates_made_for_these_tests_are_valid_and_clean(
    tmp_path: Path, cloud: Cloud
) -> None:
    estate = load_estate(_cloud_estate(tmp_path, cloud, 3))  # `keyplane validate`: exit 0
    assert config_findings(estate, TODAY) == []
    assert estate.environments["bench"].cloud is cloud


@pytest.mark.parametrize("cloud", [Cloud.GCP, Cloud.AZURE])
def test_a_large_gcp_or_azure_estate_renders_the_same_in_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: Cloud
) -> None:
    estate = load_estate(_cloud_estate(tmp_path, cloud, 120))
    env = estate.environments["bench"]
    whole = render_environment(env, estate.root, today=TODAY)
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "40")
    monkeypatch.setenv(render_shards.WORKERS_VAR, "2")
    assert [len(s) for s in plan_shards(env)] == [30, 30, 30, 30]  # a multiple of 2
    seen: list[Registration] = []
    sharded = render_environment(env, estate.root, today=TODAY, on_register=seen.append)
    assert _normalised(sharded) == _normalised(whole)
    assert Counter(r.urn for r in seen) == Counter(r.urn for r in whole)
    assert supervise._children == {}


@pytest.mark.parametrize("cloud", [Cloud.GCP, Cloud.AZURE])
def test_a_gcp_or_azure_shard_registers_only_its_tenants_and_the_platform(
    tmp_path: Path, cloud: Cloud
) -> None:
    estate = load_estate(_cloud_estate(tmp_path, cloud, 3))
    env = estate.environments["bench"]
    whole = render_environment(env, estate.root, today=TODAY)
    shard = render_environment(env, estate.root, today=TODAY, shard=frozenset({"t0000"}))

    def owners(registrations: list[Registration]) -> set[str]:
        """The tenants whose resources are among `registrations` (named `<tenant>-...`)."""
        return {r.name.split("-")[0] for r in registrations} & {"t0000", "t0001", "t0002"}

    assert owners(whole) == {"t0000", "t0001", "t0002"}
    assert owners(shard) == {"t0000"}
    # The grants on the platform key (the platform's service and the last tenant's) are the
    # platform's: in every shard.
    grants = {r.urn for r in whole if r.name.startswith("platform-db-")}
    assert len(grants) == 2
    assert grants <= {r.urn for r in shard}


def test_the_benchmark_estate_renders_the_same_in_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = load_estate(_bench_estate(tmp_path, 12))
    env = estate.environments["bench"]
    whole = render_environment(env, estate.root, today=TODAY)
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "4")
    monkeypatch.setenv(render_shards.WORKERS_VAR, "2")
    assert [len(s) for s in plan_shards(env)] == [3, 3, 3, 3]  # a multiple of 2
    sharded = render_environment(env, estate.root, today=TODAY)
    assert _normalised(sharded) == _normalised(whole)
    # Shared resources (the roles' policies name every key) depend on every shard's keys.
    policy = next(r for r in sharded if r.name == "bench-access-key-admin-permissions")
    keys = {r.urn for r in whole if r.type == "aws:kms/key:Key"}
    assert keys <= set(policy.dependencies)
    assert supervise._children == {}


@pytest.mark.parametrize("cloud", [Cloud.AWS, Cloud.GCP, Cloud.AZURE])
def test_findings_of_a_sharded_preview_are_those_of_one_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: Cloud
) -> None:
    estate = load_estate(_cloud_estate(tmp_path, cloud, 6))
    whole = preview(estate, "bench", today=TODAY, run_checkov=False)
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "2")
    sharded = preview(estate, "bench", today=TODAY, run_checkov=False)

    def shown(findings: Any) -> list[str]:
        return sorted(json.dumps(f.to_json(), sort_keys=True) for f in findings)

    assert shown(sharded.findings) == shown(whole.findings)
    assert len(sharded.resources) == len(whole.resources)


def test_small_estates_render_in_one_process() -> None:
    estate = load_estate(BUNDLED_ESTATE)
    for env in estate.environments.values():
        assert plan_shards(env) == []  # too few tenants for two shards of 400
    gcp = estate.environments["prod-gcp"]
    os.environ[render_shards.SHARD_TENANTS_VAR] = "1"
    try:
        assert plan_shards(gcp) == []  # one tenant: one shard
    finally:
        del os.environ[render_shards.SHARD_TENANTS_VAR]


def _registration(**changes: Any) -> Registration:
    base = Registration(
        urn="urn:pulumi:bench::keyplane::aws:iam/role:Role::r",
        type="aws:iam/role:Role",
        name="r",
        custom=True,
        parent="",
        dependencies=("urn:a",),
        protect=False,
        retain_on_delete=False,
        provider="",
        inputs={"name": "r"},
        property_dependencies={"policy": ("urn:a",)},
    )
    return base if not changes else Registration(**{**base.__dict__, **changes})


def test_shards_that_register_one_resource_differently_are_a_bug_never_judged() -> None:
    joined = render_shards._Joined()
    assert joined.add(_registration())
    assert not joined.add(
        _registration(dependencies=("urn:b",), property_dependencies={"policy": ("urn:b",)})
    )
    kept = joined.by_urn[_registration().urn]
    assert kept.dependencies == ("urn:a", "urn:b")
    assert kept.property_dependencies == {"policy": ("urn:a", "urn:b")}
    with pytest.raises(ShardError, match=r"registered .*::r differently"):
        joined.add(_registration(inputs={"name": "other"}))
    with pytest.raises(ShardError):
        joined.add(_registration(protect=True))


def test_a_program_error_in_a_shard_is_the_programs_own_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = load_estate(_bench_estate(tmp_path, 4))
    env = estate.environments["bench"]
    config = tmp_path / "stacks"
    config.mkdir()
    (config / "Pulumi.bench.yaml").write_text("config:\n  aws:region: us-east-2\n")
    with pytest.raises(RenderError) as whole:
        render_environment(env, estate.root, stack_config_dir=config)
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "2")
    with pytest.raises(RenderError) as sharded:
        render_environment(env, estate.root, stack_config_dir=config)
    assert str(sharded.value) == str(whole.value)
    assert "aws:region" in str(sharded.value)
    assert supervise._children == {}


def test_a_shard_that_sends_nothing_past_its_deadline_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = load_estate(_bench_estate(tmp_path, 4))
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "2")
    monkeypatch.setenv(render_shards.TIMEOUT_VAR, "0.1")
    before = _descendants(os.getpid())
    with pytest.raises(
        ShardFailure, match=r"sent nothing for 0.1 s; raise KEYPLANE_RENDER_TIMEOUT"
    ):
        render_environment(estate.environments["bench"], estate.root)
    assert supervise._children == {}
    assert not [p for p in _descendants(os.getpid()) - before if _alive(p)]


def test_a_shard_killed_mid_render_is_a_failure_not_a_short_estate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = load_estate(_bench_estate(tmp_path, 40))
    monkeypatch.setenv(render_shards.SHARD_TENANTS_VAR, "20")
    servers: list[Any] = []
    started = render_shards._Server.__init__

    def recorded(server: Any, *args: Any, **kwargs: Any) -> None:
        started(server, *args, **kwargs)
        servers.append(server)

    relay = render_shards._relay

    def killing(index: int, reader: int, events: Any) -> None:
        if index == 1:  # once the server has forked the shards' children, kill them
            deadline = time.monotonic() + 60
            children: set[int] = set()
            while time.monotonic() < deadline and not children:
                children = _children_of(servers[0]._process.pid) if servers else set()
                time.sleep(0.01)
            for pid in children:
                os.kill(pid, signal.SIGKILL)
        relay(index, reader, events)

    monkeypatch.setattr(render_shards._Server, "__init__", recorded)
    monkeypatch.setattr(render_shards, "_relay", killing)
    with pytest.raises(ShardFailure, match=r"render shard \d of 2 ended without finishing"):
        render_environment(estate.environments["bench"], estate.root)
    assert supervise._children == {}


@pytest.mark.parametrize("value", ["many", "0", "-3", "2.5"])
def test_a_shard_size_that_is_not_a_positive_whole_number_is_refused(
    tmp_path: Path, value: str
) -> None:
    estate = _bench_estate(tmp_path, 4)
    done = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", "preview", "bench", "--estate", str(estate)],
        capture_output=True,
        text=True,
        env={**os.environ, render_shards.SHARD_TENANTS_VAR: value},
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"{render_shards.SHARD_TENANTS_VAR}: not a positive whole number (got {value!r}); "
        "set it to one such as 400, or unset it for the default"
    ]


def test_a_signal_during_a_sharded_render_leaves_no_shard_behind(tmp_path: Path) -> None:
    estate = _bench_estate(tmp_path, 40)
    gate = subprocess.Popen(
        [sys.executable, "-m", "keyplane.cli", "preview", "bench", "--estate", str(estate)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, render_shards.SHARD_TENANTS_VAR: "5"},
        start_new_session=True,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        shards: set[int] = set()
        while time.monotonic() < deadline and gate.poll() is None and len(shards) < 2:
            seen |= _descendants(gate.pid)
            shards = {p for p in seen if b"keyplane.render_shards" in _cmdline(p)}
            time.sleep(0.05)
        assert gate.poll() is None, "the gate ended before it could be signalled"
        assert len(shards) >= 2, "the gate started no shard"
        gate.send_signal(signal.SIGTERM)
        _, err = gate.communicate(timeout=15)
    finally:
        if gate.poll() is None:
            os.killpg(gate.pid, signal.SIGKILL)
            gate.wait()
    assert gate.returncode == 143, err
    assert not _survivors(seen), "a shard outlived the gate"


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize(
    ("tenants", "workers", "sizes"),
    [
        (99, 2, []),  # a small estate: a shard's start-up costs more than it saves
        (200, 2, [100, 100]),  # from 100 tenants, one shard per processor
        (200, 1, []),  # one processor: sharded only for memory
        (500, 1, [250, 250]),  # more tenants than a shard holds
        (1100, 2, [275, 275, 275, 275]),  # a multiple of the processors
    ],
)
def test_how_an_estate_is_sharded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenants: int, workers: int, sizes: list[int]
) -> None:
    from keyplane.config import load_environment

    monkeypatch.setenv(render_shards.WORKERS_VAR, str(workers))
    monkeypatch.delenv(render_shards.SHARD_TENANTS_VAR, raising=False)
    env = load_environment(_bench_estate(tmp_path, tenants) / "bench.yaml")
    shards = plan_shards(env)
    assert [len(s) for s in shards] == sizes
    assert set().union(*shards) == ({t.name for t in env.tenants} if sizes else set())
