"""`pulumi up` played on the local server: the bundled `prod-gcp` environment rendered by keyplane's
own stack program (the preview's `resources`), each resource written into `server.Cloud` as the
GCP API would hold it after deployment. So the compliant project is what the components deploy,
and the same rendered resources go through the pack (preview) and the audit (conformance).

Values only known after deployment are filled as GCP fills them: the Secret Manager service
agent `service-<number>@gcp-sa-secretmanager.iam.gserviceaccount.com`, versions' creation times,
next rotation times.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.audit_gcp.server import Cloud

REPO = Path(__file__).resolve().parents[2]
ENV = "prod-gcp"
PROJECT = "acme-prod-kms"
NUMBER = "415104041262"
LOCATION = "europe-west1"
RING = f"projects/{PROJECT}/locations/{LOCATION}/keyRings/{ENV}"
AS_OF = "2026-11-30"
#: When the compliant project's key versions were created (material 30 days old).
CREATED = "2026-10-31T00:00:00Z"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com"
WRITER = f"serviceAccount:service-{NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
CHANNEL = f"projects/{PROJECT}/notificationChannels/4711"


def write_estate(tmp: Path) -> Path:
    """A copy of the bundled estate (every environment: KM-ENV-002 knows the others)."""
    estate = tmp / "environments"
    shutil.copytree(REPO / "environments", estate)
    return estate


def preview(estate: Path, *extra: str) -> dict[str, Any]:
    """`keyplane preview prod-gcp -f json` (the pack over the analyzer protocol), as data."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keyplane",
            "preview",
            ENV,
            "--estate",
            str(estate),
            "--no-checkov",
            "-f",
            "json",
            "--as-of",
            AS_OF,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _known(value: Any, fill: str) -> Any:
    return fill if value == "[unknown]" else value


def deploy(resources: list[dict[str, Any]]) -> Cloud:
    """The project after `pulumi up` of `resources` (the preview's `resources`)."""
    resources = copy.deepcopy(resources)  # the tests change the deployed project, not the render
    cloud = Cloud(PROJECT, NUMBER)
    policy = cloud.policy(f"projects/{PROJECT}")
    policy["bindings"] = [
        {"role": "roles/iam.securityReviewer", "members": ["group:security-audit@acme.example"]},
        {"role": "roles/logging.viewer", "members": ["group:security-audit@acme.example"]},
    ]
    alert_number = 0
    for resource in resources:
        kind, name, inputs = resource["type"], resource["name"], resource["inputs"]
        if kind == "gcp:kms/keyRing:KeyRing":
            ring = f"projects/{inputs['project']}/locations/{inputs['location']}/keyRings/{inputs['name']}"
            cloud.rings[ring] = {"name": ring, "createTime": CREATED}
        elif kind == "gcp:kms/cryptoKey:CryptoKey":
            key = f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}"
            body: dict[str, Any] = {
                "name": key,
                "purpose": inputs.get("purpose", "ENCRYPT_DECRYPT"),
                "createTime": CREATED,
                "labels": inputs.get("labels", {}),
                "versionTemplate": inputs.get("versionTemplate", {}),
                "destroyScheduledDuration": inputs.get("destroyScheduledDuration", "2592000s"),
            }
            if "rotationPeriod" in inputs:
                body["rotationPeriod"] = inputs["rotationPeriod"]
                body["nextRotationTime"] = "2027-10-31T00:00:00Z"
            version = {
                "name": f"{key}/cryptoKeyVersions/1",
                "state": "ENABLED",
                "createTime": CREATED,
                **body["versionTemplate"],
            }
            cloud.versions[key] = [version]
            if body["purpose"] == "ENCRYPT_DECRYPT":
                body["primary"] = version["name"]
            cloud.keys[key] = body
        elif kind in (
            "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
            "gcp:kms/keyRingIAMMember:KeyRingIAMMember",
            "gcp:secretmanager/secretIamMember:SecretIamMember",
        ):
            target = inputs.get("cryptoKeyId") or inputs.get("keyRingId") or inputs["secretId"]
            cloud.bind(target, inputs["role"], _known(inputs["member"], AGENT))
        elif kind == "gcp:projects/iAMAuditConfig:IAMAuditConfig":
            policy.setdefault("auditConfigs", []).append(
                {"service": inputs["service"], "auditLogConfigs": inputs["auditLogConfigs"]}
            )
        elif kind == "gcp:secretmanager/secret:Secret":
            secret = f"projects/{NUMBER}/secrets/{inputs['secretId']}"
            replication = dict(inputs["replication"])
            if "auto" in replication:
                replication = {"automatic": replication["auto"]}
            cloud.secrets[secret] = {
                "name": secret,
                "createTime": CREATED,
                "labels": inputs.get("labels", {}),
                "replication": replication,
                **({"rotation": inputs["rotation"]} if "rotation" in inputs else {}),
                **({"topics": inputs["topics"]} if "topics" in inputs else {}),
            }
        elif kind == "gcp:logging/projectSink:ProjectSink":
            cloud.sinks.append(
                {
                    "name": inputs["name"],
                    "destination": inputs["destination"],
                    "filter": inputs.get("filter", ""),
                    "writerIdentity": WRITER,
                }
            )
        elif kind == "gcp:storage/bucket:Bucket":
            retention = dict(inputs.get("retentionPolicy") or {})
            if retention:
                retention["effectiveTime"] = CREATED
            cloud.buckets[inputs["name"]] = {
                "kind": "storage#bucket",
                "id": inputs["name"],
                "name": inputs["name"],
                "location": inputs.get("location", "EU"),
                "labels": inputs.get("labels", {}),
                **({"retentionPolicy": retention} if retention else {}),
            }
        elif kind == "gcp:logging/metric:Metric":
            cloud.metrics.append(
                {
                    "name": inputs["name"],
                    "filter": inputs["filter"],
                    "metricDescriptor": inputs.get("metricDescriptor", {}),
                }
            )
        elif kind == "gcp:monitoring/alertPolicy:AlertPolicy":
            alert_number += 1
            cloud.alert_policies.append(
                {
                    "name": f"projects/{PROJECT}/alertPolicies/{alert_number}",
                    "displayName": inputs["displayName"],
                    "combiner": inputs.get("combiner", "OR"),
                    "conditions": inputs["conditions"],
                    "notificationChannels": inputs.get("notificationChannels", []),
                    "enabled": inputs.get("enabled", True),
                }
            )
        elif kind == "gcp:certificatemanager/certificate:Certificate":
            cloud.certificates.append(
                {
                    "name": f"projects/{PROJECT}/locations/global/certificates/{name}",
                    "labels": inputs.get("labels", {}),
                    "scope": inputs.get("scope", "DEFAULT"),
                    **(
                        {"managed": {**inputs["managed"], "state": "ACTIVE"}}
                        if "managed" in inputs
                        else {}
                    ),
                }
            )
    return cloud


#: The service account the tests audit as (the caller the evidence names).
AUDITOR = f"keyplane-auditor@{PROJECT}.iam.gserviceaccount.com"


def service_account_key(tmp: Path, endpoint: str) -> Path:
    """A service account key file (what GOOGLE_APPLICATION_CREDENTIALS names), whose token
    endpoint is the local server: google-auth signs its JWT with this fresh key and trades it
    there for an access token, as it does with Google's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp / "auditor-key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test-key",
                "private_key": pem,
                "client_email": AUDITOR,
                "client_id": "1",
                "token_uri": f"{endpoint}/token",
            }
        )
    )
    return path


def days_before(as_of: str, days: int) -> str:
    moment = datetime.fromisoformat(as_of).replace(tzinfo=UTC) - timedelta(days=days)
    return moment.isoformat().replace("+00:00", "Z")
