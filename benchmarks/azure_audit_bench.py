"""Benchmark of `keyplane audit` on Azure: prod-azure with N keys in its vault, Azure's real
clients against the local Azure REST server (tests/audit_azure/server.py) over TLS.

    .venv/bin/python benchmarks/azure_audit_bench.py [--keys 1000] [--page-size 25] [--workers 8]

Deploys prod-azure as rendered, adds N keys like acme-orders-db (Keys - List answers 25 a page,
as Key Vault does), audits, and prints the seconds spent, the calls made and the findings.
Target (issue 19): 1,000 keys in under 30 s on this machine.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from keyplane.engines.audit.azure import run_azure_audit  # noqa: E402
from keyplane.estate import load_estate  # noqa: E402
from tests.audit_azure.server import AzureServer, State, make_certificate  # noqa: E402
from tests.audit_azure.support import (  # noqa: E402
    AS_OF,
    ENV,
    ESTATE,
    FakeCredential,
    compliant,
    deploy,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        cert, key = make_certificate(Path(directory))
        os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
        server = AzureServer(State("", ""), cert, key, page_size=args.page_size)
        server.state = deploy(compliant(), server.vault_uri)
        [(vault, template)] = [(v, k) for (v, k) in server.state.keys if k == "acme-orders-db"]
        original = server.state.keys[(vault, template)][-1]
        for i in range(args.keys):
            name = f"bench-{i:05d}"
            copied = copy.deepcopy(original)
            copied["id"] = copied["id"].rsplit("/", 1)[0] + f"/{name}"
            copied["name"] = name
            server.state.keys[(vault, name)] = [copied]
        server.start()
        try:
            began = time.monotonic()
            result = run_azure_audit(
                load_estate(ESTATE),
                ENV,
                as_of=AS_OF,
                endpoint_url=server.url,
                credential=FakeCredential(),
                max_workers=args.workers,
                timeout_seconds=600,
            )
            seconds = time.monotonic() - began
        finally:
            server.stop()
    keys = result.evidence.counts.get("keys", 0)
    mandatory = sum(1 for f in result.findings if f.enforcement.value == "mandatory")
    print(f"keys in the vault:      {args.keys + 2}")
    print(f"keys judged:            {keys}")
    print(f"calls to the server:    {len(server.calls)} (page size {args.page_size})")
    print(f"findings:               {len(result.findings)} ({mandatory} mandatory)")
    print(f"audit:                  {seconds:.2f} s with {args.workers} workers")
    print(f"per key:                {seconds / max(keys, 1) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
