"""Benchmark of `keyplane audit` on GCP: the deployed prod-gcp project plus N extra crypto keys
(each with its versions and IAM policy) on the tests' local REST server, audited end to end with
Google's client libraries.

    .venv/bin/python benchmarks/gcp_audit_bench.py [--keys 1000] [--page-size 100]

Prints the seconds spent, the calls made and the findings. Target (issue #19): under 30 s for
1,000 keys on this machine. The server answers at once: this measures keyplane and the client
libraries, not Google's latency (which the MAX_WORKERS concurrent reads hide).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from keyplane.engines.audit.gcp import run_audit  # noqa: E402
from keyplane.estate import load_estate  # noqa: E402
from tests.audit_gcp import server  # noqa: E402
from tests.audit_gcp.support import (  # noqa: E402
    ENV,
    RING,
    deploy,
    preview,
    service_account_key,
    write_estate,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    server.PAGE_SIZE = args.page_size
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        estate_dir = write_estate(work)
        cloud = deploy(preview(estate_dir)["resources"])
        template = f"{RING}/cryptoKeys/acme-orders-db"
        for n in range(args.keys):
            key = f"{RING}/cryptoKeys/bench-{n:05d}"
            cloud.keys[key] = {
                **cloud.keys[template],
                "name": key,
                "primary": f"{key}/cryptoKeyVersions/1",
            }
            cloud.versions[key] = [
                {**cloud.versions[template][0], "name": f"{key}/cryptoKeyVersions/1"}
            ]
            cloud.bind(
                key,
                "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                "serviceAccount:orders@acme-prod-apps.iam.gserviceaccount.com",
            )
        os.environ["NO_GCE_CHECK"] = "True"
        os.environ["CLOUDSDK_CONFIG"] = str(work / "gcloud")
        with server.serve(cloud) as url:
            os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(service_account_key(work, url))
            estate = load_estate(estate_dir)
            started = time.perf_counter()
            result = run_audit(estate, ENV, as_of=date(2026, 11, 30), endpoint_url=url)
            seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "keys": args.keys + 3,
                "page_size": args.page_size,
                "calls": len(cloud.requests),
                "seconds": round(seconds, 2),
                "findings": len(result.findings),
                "mandatory": sum(1 for f in result.findings if f.enforcement.value == "mandatory"),
                "resources": dict(result.evidence.counts),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
