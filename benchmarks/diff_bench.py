"""Benchmark of `keyplane diff`: two stack exports of N resources, timed end to end.

    .venv/bin/python benchmarks/diff_bench.py [--resources 10000] [--changed 0.05]

Writes two exports (KMS keys with key policies, secrets with rotation, one trail) to a temporary
directory, with a fraction of the resources changed, deleted or added, and prints the seconds
spent loading both files, diffing, and rendering Markdown and JSON. Target: under 2 s for 10,000.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from keyplane.cli.diff import compute_diff  # noqa: E402
from keyplane.diff import json_text, markdown_text  # noqa: E402

ACCOUNT = "111111111111"
STACK = "urn:pulumi:bench::bench::pulumi:pulumi:Stack::bench-bench"


def _urn(type_: str, name: str) -> str:
    return f"urn:pulumi:bench::bench::{type_}::{name}"


def _policy(i: int, extra: list[str]) -> str:
    statements = [
        {
            "Sid": "Admin",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admin"},
            "Action": ["kms:Create*", "kms:Put*", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        },
        {
            "Sid": "Use",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/service-{i}", *extra]},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def resources(count: int, changed: float, seed: int, after: bool) -> list[dict[str, object]]:
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    result: list[dict[str, object]] = [
        {"urn": STACK, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}}
    ]
    for i in range(count // 2):
        roll = rng.random()
        if after and roll < changed / 4:
            continue  # deleted
        key = {
            "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "enableKeyRotation": True,
            "rotationPeriodInDays": 365,
            "deletionWindowInDays": 30,
            "tags": {"keyplane-environment": "bench", "keyplane-purpose": "database-encryption"},
        }
        extra: list[str] = []
        if after and roll < changed / 2:
            key["enableKeyRotation"] = False
        elif after and roll < changed:
            extra = ["arn:aws:iam::222222222222:role/partner"]
        result.append(
            {
                "urn": _urn("aws:kms/key:Key", f"key-{i}"),
                "custom": True,
                "id": f"key-{i}",
                "type": "aws:kms/key:Key",
                "inputs": key,
                "parent": STACK,
                "protect": True,
            }
        )
        result.append(
            {
                "urn": _urn("aws:kms/keyPolicy:KeyPolicy", f"key-{i}-policy"),
                "custom": True,
                "id": f"key-{i}",
                "type": "aws:kms/keyPolicy:KeyPolicy",
                "inputs": {"keyId": f"key-{i}", "policy": _policy(i, extra)},
                "parent": STACK,
            }
        )
    if after:
        for i in range(int(count * changed / 4)):
            result.append(
                {
                    "urn": _urn("aws:kms/key:Key", f"new-key-{i}"),
                    "custom": True,
                    "id": f"new-key-{i}",
                    "type": "aws:kms/key:Key",
                    "inputs": {"enableKeyRotation": True},
                    "parent": STACK,
                }
            )
    return result


def export(path: Path, items: list[dict[str, object]]) -> None:
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": items}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.05, help="fraction of keys changed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        old, new = Path(directory) / "old.json", Path(directory) / "new.json"
        export(old, resources(args.resources, args.changed, 7, after=False))
        export(new, resources(args.resources, args.changed, 7, after=True))
        start = time.perf_counter()
        diff = compute_diff(old, new, None)
        diffed = time.perf_counter()
        markdown, document = markdown_text(diff), json_text(diff)
        done = time.perf_counter()
    summary = diff.summary()
    print(
        f"{args.resources} resources per export: {summary['changes']} changes, "
        f"{summary['risks']} risks; load+diff {diffed - start:.3f} s, "
        f"render {done - diffed:.3f} s (markdown {len(markdown)} chars, json {len(document)} chars); "
        f"total {done - start:.3f} s"
    )


if __name__ == "__main__":
    main()
