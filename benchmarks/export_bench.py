"""A `pulumi stack export` of the benchmark estate, for timing `keyplane scan` at scale.

    python3 -m uv run --frozen python benchmarks/export_bench.py TENANTS OUT.json

Renders the benchmark's estate (`preview_bench.estate_yaml`) through the offline preview's render
and writes its registrations as a stack export (`deployment.resources[]` with the stack resource
first), as the real CLI would after deploying it: no Pulumi CLI is needed to produce one.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from preview_bench import estate_yaml  # noqa: E402

STACK = "bench"


def export_document(tenants: int) -> dict[str, Any]:
    """The stack export of the benchmark estate of `tenants` tenants."""
    from keyplane.estate import load_estate
    from keyplane.gate import PROJECT, render_environment
    from keyplane.wire import STACK_TYPE

    with tempfile.TemporaryDirectory(prefix="keyplane-export-") as tmp:
        estate_dir = Path(tmp) / "environments"
        estate_dir.mkdir()
        (estate_dir / f"{STACK}.yaml").write_text(estate_yaml(tenants))
        estate = load_estate(estate_dir)
        registrations = render_environment(
            estate.environments[STACK], estate.root, today=date.today()
        )
    stack_urn = f"urn:pulumi:{STACK}::{PROJECT}::{STACK_TYPE}::{PROJECT}-{STACK}"
    states: list[dict[str, Any]] = [
        {"urn": stack_urn, "custom": False, "type": STACK_TYPE, "outputs": {}}
    ]
    for r in registrations:
        if r.type == STACK_TYPE:
            continue
        state: dict[str, Any] = {
            "urn": r.urn,
            "custom": r.custom,
            "type": r.type,
            "inputs": r.inputs,
            "outputs": {},
            "parent": r.parent or stack_urn,
            "dependencies": list(r.dependencies),
            "propertyDependencies": {k: list(v) for k, v in r.property_dependencies.items()},
        }
        if r.protect:
            state["protect"] = True
        if r.provider:
            state["provider"] = r.provider
        states.append(state)
    return {"version": 3, "deployment": {"manifest": {"version": "v3.200.0"}, "resources": states}}


def main() -> int:
    tenants, out = int(sys.argv[1]), Path(sys.argv[2])
    document = export_document(tenants)
    out.write_text(json.dumps(document))
    print(f"{out}: {len(document['deployment']['resources']) - 1} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
