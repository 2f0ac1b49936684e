"""Benchmark of the offline preview gate: seconds, resources per second and peak memory per stage.

    python3 -m uv run --frozen python benchmarks/preview_bench.py [--tenants 20 200] [--no-checkov]
        [--repeat 3] [--cold]

For each N it writes an estate of N tenants (two keys, a secret and a key user each) to a
temporary directory and runs the gate without checkov, then with it, each run in a fresh process
(so peak memory is that run's), `--repeat` times each; after each run with checkov it runs
checkov alone on the emitted plan for comparison. Totals are reported as the median with every
run's figure: on a shared 2-core machine the same work takes up to a third longer from one
minute to the next. Each run renders the stack, runs the CrossGuard pack over the analyzer protocol,
converts to a Terraform plan, runs checkov and writes the JSON report.

Runs are warm by default: Python's compiled modules are on disk, as after any first run on a
machine that writes them. Where PYTHONDONTWRITEBYTECODE is set (as on keyplane's CI machines),
every process would otherwise recompile all it imports (about half a second each for the gate and
the pack, most of checkov's start-up); the benchmark lifts it for its runs and discards a first warm-up run.
`--cold` runs no warm-up and has every process compile what it imports (compiled modules are
neither read nor written): the first run on a fresh install.

The stages overlap, so their seconds do not add up to the measured total: `render` is the
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
    from keyplane.estate import load_estate
    from keyplane.gate import preview
    from keyplane.reports import Report, json_report

    estate = load_estate(estate_dir)
    began = time.monotonic()
    result = preview(estate, "bench", today=date.today(), run_checkov=checkov)
    resources = result.resources
    started = time.monotonic()
    json_report(Report(findings=result.findings, resources=result.resources, environment="bench"))
    result.timings["report"] = time.monotonic() - started
    result.timings["total"] = time.monotonic() - began
    if result.plan is not None:
        plan_out.write_text(json.dumps(result.plan.plan))
    own, children = peak_mb()
    return {
        "resources": len(resources),
        "mandatory": sum(1 for f in result.findings if f.enforcement.value == "mandatory"),
        "timings": result.timings,
        "peak_mb": own,
        "children_peak_mb": children,
    }


def checkov_alone(plan: Path, env: dict[str, str]) -> float:
    from keyplane.engines.checkov.runner import checkov_command

    started = time.monotonic()
    subprocess.run(
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
        capture_output=True,
        check=False,
        env=env,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--no-checkov", action="store_true")
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
    print(f"{'tenants':>8} {'resources':>9} {'stage':<11} {'seconds':>8} {'res/s':>8}")
    modes = [False] if args.no_checkov else [False, True]
    for tenants in args.tenants:
        with tempfile.TemporaryDirectory(prefix="keyplane-bench-") as tmp:
            estate_dir = Path(tmp) / "environments"
            estate_dir.mkdir()
            (estate_dir / "bench.yaml").write_text(estate_yaml(tenants))
            plan = Path(tmp) / "plan.json"
            if warm_up:  # once, at the first size: it compiles every module the runs import
                warm_up = False
                if _child(estate_dir, modes[-1], plan, env) is None:
                    return 1
            for checkov in modes:
                runs: list[tuple[dict[str, Any], float | None]] = []
                for _ in range(args.repeat):
                    data = _child(estate_dir, checkov, plan, env)
                    if data is None:
                        return 1
                    runs.append((data, checkov_alone(plan, env) if checkov else None))
                _print(tenants, runs, checkov)
    return 0


def _child(
    estate_dir: Path, checkov: bool, plan: Path, env: dict[str, str]
) -> dict[str, Any] | None:
    """One measured run in a fresh process (so that peak memory is that run's own)."""
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
    return data


def _print(tenants: int, runs: list[tuple[dict[str, Any], float | None]], checkov: bool) -> None:
    """The run of median total, stage by stage, then every run's total (and checkov alone)."""
    runs = sorted(runs, key=lambda run: float(run[0]["timings"]["total"]))
    data, _ = runs[len(runs) // 2]
    count = data["resources"]
    timings = data["timings"]
    label = "full gate" if checkov else "no-checkov"
    for stage in ("render", "crossguard", "plan", "checkov", "report"):
        if stage in timings:
            seconds = timings[stage]
            rate = count / seconds if seconds else 0
            print(
                f"{tenants:>8} {count:>9} {stage:<11} {seconds:>8.2f} {rate:>8.0f}   ({label}, median run)"
            )
    totals = [float(run[0]["timings"]["total"]) for run in runs]
    total = statistics.median(totals)
    print(
        f"{tenants:>8} {count:>9} {label:<11} {total:>8.2f} {count / total:>8.0f}   "
        f"(median of {len(runs)}; runs {', '.join(f'{t:.2f}' for t in totals)} s)"
    )
    if checkov:
        alone = [run[1] or 0.0 for run in runs]
        ratios = sorted(float(run[0]["timings"]["total"]) / (run[1] or 1.0) for run in runs)
        print(
            f"{tenants:>8} {count:>9} {'checkov':<11} {statistics.median(alone):>8.2f} "
            f"{count / statistics.median(alone):>8.0f}   (alone, same plan, after each gate run: "
            f"the gate takes {statistics.median(ratios):.2f}x, {ratios[0]:.2f}-{ratios[-1]:.2f}x)"
        )
    print(
        f"{tenants:>8} {count:>9} peak memory {max(r[0]['peak_mb'] for r in runs):.0f} MB "
        f"(gate process), {max(r[0]['children_peak_mb'] for r in runs):.0f} MB (largest child: "
        f"pack or checkov); mandatory findings: {data['mandatory']}"
    )


if __name__ == "__main__":
    sys.exit(main())
