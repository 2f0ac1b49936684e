"""Benchmark of the offline preview gate: seconds, resources per second and peak memory per stage.

    python3 -m uv run --frozen python benchmarks/preview_bench.py [--tenants 20 200] [--no-checkov]

For each N it writes an estate of N tenants (two keys, a secret and a key user each) to a
temporary directory and, in a fresh process (so peak memory is that run's), renders the stack,
runs the CrossGuard pack over the analyzer protocol, converts to a Terraform plan, runs checkov
and writes the JSON report; then it runs checkov alone on the emitted plan for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

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
    from keyplane.config import load_estate
    from keyplane.gate import preview
    from keyplane.reports import Report, json_report

    estate = load_estate(estate_dir)
    result = preview(estate, "bench", today=date.today(), run_checkov=checkov)
    resources = result.resources
    started = time.monotonic()
    json_report(Report(findings=result.findings, resources=result.resources, environment="bench"))
    result.timings["report"] = time.monotonic() - started
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


def checkov_alone(plan: Path) -> float:
    from keyplane.checkov import checkov_command

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
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--no-checkov", action="store_true")
    parser.add_argument(
        "--child", nargs=3, metavar=("ESTATE", "CHECKOV", "PLAN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        estate_dir, checkov, plan = args.child
        print(json.dumps(run_once(Path(estate_dir), checkov == "1", Path(plan))))
        return 0

    print(f"{'tenants':>8} {'resources':>9} {'stage':<11} {'seconds':>8} {'res/s':>8}")
    for tenants in args.tenants:
        with tempfile.TemporaryDirectory(prefix="keyplane-bench-") as tmp:
            estate_dir = Path(tmp) / "environments"
            estate_dir.mkdir()
            (estate_dir / "bench.yaml").write_text(estate_yaml(tenants))
            plan = Path(tmp) / "plan.json"
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(estate_dir),
                    "0" if args.no_checkov else "1",
                    str(plan),
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=REPO,
            )
            if child.returncode != 0:
                print(child.stderr, file=sys.stderr)
                return 1
            data = json.loads(child.stdout.strip().splitlines()[-1])
            count = data["resources"]
            timings = data["timings"]
            for stage in ("render", "crossguard", "plan", "checkov", "report"):
                if stage in timings:
                    seconds = timings[stage]
                    print(
                        f"{tenants:>8} {count:>9} {stage:<11} {seconds:>8.2f} {count / seconds if seconds else 0:>8.0f}"
                    )
            crossguard_path = (
                timings["render"] + timings["crossguard"] + timings["plan"] + timings["report"]
            )
            print(
                f"{tenants:>8} {count:>9} {'no-checkov':<11} {crossguard_path:>8.2f} {count / crossguard_path:>8.0f}"
            )
            if not args.no_checkov:
                gate = crossguard_path + max(
                    0.0, timings.get("checkov", 0.0) - timings["crossguard"]
                )
                alone = checkov_alone(plan)
                print(
                    f"{tenants:>8} {count:>9} {'full gate':<11} {gate:>8.2f} {count / gate:>8.0f}"
                )
                print(
                    f"{tenants:>8} {count:>9} {'checkov':<11} {alone:>8.2f} {count / alone:>8.0f}   (alone, same plan)"
                )
            print(
                f"{tenants:>8} {count:>9} peak memory {data['peak_mb']:.0f} MB (gate process), "
                f"{data['children_peak_mb']:.0f} MB (largest child: pack or checkov); mandatory findings: {data['mandatory']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
