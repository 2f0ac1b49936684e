"""Benchmark of the offline preview gate: seconds, resources per second and peak memory per stage.

    python3 -m uv run --frozen python benchmarks/preview_bench.py [--tenants 20 200 1100 2200]
        [--no-checkov] [--no-scan] [--repeat 3] [--cold]

For each N it writes an estate of N tenants (two keys, a secret and a key user each; 1,100
tenants are 9,919 resources, 2,200 about 20,000) to a temporary directory, and a stack export of
its render (`export_bench.py`). Each repeat then runs, in turn, so that a slow minute of a shared
machine falls on all of them alike: the gate without checkov, the gate with it, checkov alone on
the emitted plan, and `keyplane scan` of the export without checkov (and with it, unless
`--no-checkov`), each in a fresh process, so that peak memory is that run's own. Totals are
reported as medians with every run's figure, in seconds and in milliseconds per resource; peak
memory per process: the gate's own, the pack's (the only child of a run without checkov) and
checkov's (its run alone); where the render is sharded (an AWS estate of 100 tenants or more,
`keyplane.render_shards`), the largest render shard's, as the shard reports it, and the largest
child's (the pack's peak is then not told apart from the shards'). Each gate run renders the stack, runs the CrossGuard pack over the
analyzer protocol, converts to a Terraform plan, runs checkov and writes the JSON report.

Runs are warm by default: Python's compiled modules are on disk, as after any first run on a
machine that writes them. Where PYTHONDONTWRITEBYTECODE is set (as on keyplane's CI machines),
every process would otherwise recompile all it imports (about half a second each for the gate and
the pack, most of checkov's start-up); the benchmark lifts it for its runs and discards a first warm-up run.
`--cold` runs no warm-up and has every process compile what it imports (compiled modules are
neither read nor written): the first run on a fresh install.

The stages overlap, so their seconds do not add up to the measured total (the gate's own wall
time, `GateResult.seconds`): `render` is the
program's run (the pack analyses resources meanwhile, and checkov starts up); `crossguard` what
remains of the pack's work after the render (the last answers and AnalyzeStack); `checkov` the
time from the plan being ready to checkov's results (concurrent with `crossguard`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

ACCOUNT = "111111111111"


def estate_yaml(tenants: int) -> str:
    lines = [
        "name: bench",
        "tier: production",
        "cloud: aws",
        "aws:",
        f'  account_id: "{ACCOUNT}"',
        "  region: eu-west-1",
        "hsm:",
        "  enabled: false",
        "logging:",
        "  retention_days: 400",
        "tenants:",
    ]
    lines += [f"  - name: t{i:04d}\n    isolation: dedicated" for i in range(tenants)]
    lines.append("keys:")
    for i in range(tenants):
        lines += [
            f"  - name: t{i:04d}-db\n    purpose: database-encryption\n    algorithm: AES-256\n    tenant: t{i:04d}",
            f"  - name: t{i:04d}-app\n    purpose: application-encryption\n    algorithm: AES-256\n    tenant: t{i:04d}",
        ]
    lines.append("secrets:")
    for i in range(tenants):
        lines.append(
            f"  - name: t{i:04d}-api\n    purpose: api-secret\n    tenant: t{i:04d}\n    rotation_days: 90\n"
            f"    aws:\n      rotation_lambda_arn: arn:aws:lambda:eu-west-1:{ACCOUNT}:function:rotate-t{i:04d}"
        )
    lines += [
        "access:",
        "  key_admins:",
        f"    - arn:aws:iam::{ACCOUNT}:role/platform-key-admin",
        "  auditors:",
        f"    - arn:aws:iam::{ACCOUNT}:role/security-audit",
        "  key_users:",
    ]
    for i in range(tenants):
        lines.append(
            f"    - principal: arn:aws:iam::{ACCOUNT}:role/t{i:04d}-service\n      tenant: t{i:04d}\n"
            f"      keys: [t{i:04d}-db, t{i:04d}-app, t{i:04d}-api]"
        )
    return "\n".join(lines) + "\n"


def peak_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its finished children (the pack, checkov)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def run_once(estate_dir: Path, checkov: bool, plan_out: Path) -> dict[str, object]:
    """One measured gate run (in a fresh process)."""
    from keyplane import render_shards
    from keyplane.estate import load_estate
    from keyplane.gate import preview
    from keyplane.reports import Report, json_report

    estate = load_estate(estate_dir)
    began = time.monotonic()
    result = preview(estate, "bench", today=date.today(), run_checkov=checkov)
    sharded = render_shards.last_render
    resources = result.resources
    started = time.monotonic()
    json_report(Report(findings=result.findings, resources=result.resources, environment="bench"))
    result.timings["report"] = time.monotonic() - started
    result.timings["gate"] = result.seconds
    result.timings["total"] = time.monotonic() - began
    if result.plan is not None:
        plan_out.write_text(json.dumps(result.plan.plan))
    own, children = peak_mb()
    return {
        "cpu": _cpu_seconds(),
        "resources": len(resources),
        "mandatory": sum(1 for f in result.findings if f.enforcement.value == "mandatory"),
        "timings": result.timings,
        "peak_mb": own,
        "children_peak_mb": children,
        "shards": sharded.shards if sharded else 0,
        "shard_peak_mb": max(sharded.peak_mb) if sharded else 0.0,
    }


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the pack): on a shared machine
    less disturbed by the neighbours than wall time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int, str, float]:
    """Run `command`; its wall seconds, its own peak memory (MB), exit code, stdout and CPU
    seconds (its own and its children's)."""
    started = time.monotonic()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO
    )
    assert child.stdout is not None
    out = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.monotonic() - started, usage.ru_maxrss / 1024, child.returncode, out, cpu


def scan_run(export: Path, checkov: bool, env: dict[str, str]) -> dict[str, Any]:
    """`keyplane scan` of the export (a fresh process): wall seconds and peak memory."""
    command = [sys.executable, "-m", "keyplane", "scan", str(export), "--env", "bench"]
    command += ["--estate", str(export.parent / "environments"), "--format", "json"]
    if not checkov:
        command.append("--no-checkov")
    seconds, peak, code, out, cpu = _timed(command, env)
    if code not in (0, 1):
        raise SystemExit(f"keyplane scan exited {code}")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak,
        "findings": len(json.loads(out)["findings"]),
    }


def checkov_alone(plan: Path, env: dict[str, str]) -> tuple[float, float]:
    """checkov alone on the plan: wall seconds and its peak memory (MB)."""
    from keyplane.engines.checkov.runner import checkov_command

    seconds, peak, _, _, _ = _timed(
        [
            *checkov_command(),
            "-f",
            str(plan),
            "--framework",
            "terraform_plan",
            "--skip-download",
            "-o",
            "json",
            "--quiet",
        ],
        env,
    )
    return seconds, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--no-checkov", action="store_true")
    parser.add_argument("--no-scan", action="store_true", help="no `keyplane scan` runs")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per size and mode (this machine's speed varies by a third from run to run)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up run and no compiled modules: first-run figures",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("ESTATE", "CHECKOV", "PLAN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        estate_dir, checkov, plan = args.child
        print(json.dumps(run_once(Path(estate_dir), checkov == "1", Path(plan))))
        return 0

    env = dict(os.environ)
    if args.cold:  # an empty cache to read compiled modules from, and nothing written to it
        no_cache = tempfile.TemporaryDirectory(prefix="keyplane-bench-nocache-")
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=no_cache.name)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    warm_up = not args.cold
    print(f"{'tenants':>8} {'resources':>9} {'run':<17} {'seconds':>8} {'ms/res':>7} {'res/s':>7}")
    for tenants in args.tenants:
        with tempfile.TemporaryDirectory(prefix="keyplane-bench-") as tmp:
            estate_dir = Path(tmp) / "environments"
            estate_dir.mkdir()
            (estate_dir / "bench.yaml").write_text(estate_yaml(tenants))
            plan = Path(tmp) / "plan.json"
            export = Path(tmp) / "export.json"
            if not args.no_scan:  # in a process of its own: a child's peak memory (ru_maxrss)
                # counts the parent's image it was forked from, so rendering the export here
                # would lift every later run's figure to this process's size (1 GB at 9,919)
                subprocess.run(
                    [
                        sys.executable,
                        str(REPO / "benchmarks/export_bench.py"),
                        str(tenants),
                        str(export),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    cwd=REPO,
                    env=env,
                )
            if warm_up:  # once, at the first size: it compiles every module the runs import
                warm_up = False
                if _child(estate_dir, not args.no_checkov, plan, env) is None:
                    return 1
            series: dict[str, list[dict[str, Any]]] = {}
            for _ in range(args.repeat):  # the compared runs alternate within each repeat
                for checkov in [False] if args.no_checkov else [False, True]:
                    data = _child(estate_dir, checkov, plan, env)
                    if data is None:
                        return 1
                    series.setdefault("full gate" if checkov else "no-checkov", []).append(data)
                    if checkov:
                        seconds, peak = checkov_alone(plan, env)
                        series.setdefault("checkov alone", []).append(
                            {"seconds": seconds, "peak_mb": peak}
                        )
                    if not args.no_scan:
                        name = "scan" if checkov else "scan no-checkov"
                        series.setdefault(name, []).append(scan_run(export, checkov, env))
            _print(tenants, series)
    return 0


def _child(
    estate_dir: Path, checkov: bool, plan: Path, env: dict[str, str]
) -> dict[str, Any] | None:
    """One measured gate run in a fresh process (so that peak memory is that run's own)."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(estate_dir), "1" if checkov else "0", str(plan)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=env,
    )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return None
    data: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    data["seconds"] = data["timings"]["total"]
    return data


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def _print(tenants: int, series: dict[str, list[dict[str, Any]]]) -> None:
    """Per run kind: the median's seconds, ms per resource and resources per second, the spread,
    the ratio to checkov alone (paired within each repeat) and peak memory per process."""
    count = series["no-checkov"][0]["resources"]
    medians: dict[str, float] = {}
    for name, runs in series.items():
        totals = [float(r["seconds"]) for r in runs]
        median = medians[name] = statistics.median(totals)
        extra = f"runs {', '.join(f'{t:.2f}' for t in totals)} s"
        if "cpu" in runs[0]:
            cpu = statistics.median(float(r["cpu"]) for r in runs)
            extra += f"; CPU {cpu:.1f} s, {1000 * cpu / count:.2f} ms/res"
        if "peak_mb" in runs[0]:
            extra += f"; largest process {max(r['peak_mb'] for r in runs):.0f} MB"
        print(
            f"{tenants:>8} {count:>9} {name:<17} {median:>8.2f} {1000 * median / count:>7.3f} "
            f"{count / median:>7.0f}   ({extra})"
        )
    gate_runs = series["no-checkov"]
    middle = sorted(gate_runs, key=lambda r: float(r["seconds"]))[len(gate_runs) // 2]
    stages = ", ".join(
        f"{stage} {middle['timings'][stage]:.2f}"
        for stage in ("render", "crossguard", "plan", "report")
        if stage in middle["timings"]
    )
    print(f"{'':>8} {'':>9} no-checkov stages (median run, overlapping): {stages} s")
    alone = [float(r["seconds"]) for r in series.get("checkov alone", [])]
    for name in ("full gate", "scan"):
        if alone and name in series:
            ratios = [float(r["seconds"]) / a for r, a in zip(series[name], alone, strict=True)]
            print(
                f"{'':>8} {'':>9} {name} / checkov alone: {statistics.median(ratios):.2f} "
                f"(runs {_spread(ratios)})"
            )
    peaks = [f"gate {max(r['peak_mb'] for r in gate_runs):.0f} MB"]
    if gate_runs[0].get("shards"):
        # The pack's own peak is not told apart from the shards' (both are the gate's children).
        peaks.append(
            f"render shard {max(r['shard_peak_mb'] for r in gate_runs):.0f} MB "
            f"({gate_runs[0]['shards']} shards)"
        )
        peaks.append(f"largest child {max(r['children_peak_mb'] for r in gate_runs):.0f} MB")
    else:
        peaks.append(f"pack {max(r['children_peak_mb'] for r in gate_runs):.0f} MB")
    if "checkov alone" in series:
        peaks.append(f"checkov {max(r['peak_mb'] for r in series['checkov alone']):.0f} MB")
    print(
        f"{'':>8} {'':>9} peak memory per process: {', '.join(peaks)}; "
        f"mandatory findings: {middle['mandatory']}"
    )


if __name__ == "__main__":
    sys.exit(main())
