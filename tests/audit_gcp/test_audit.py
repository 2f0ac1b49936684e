"""`keyplane audit prod-gcp` end to end: Google's client libraries against a local server that
answers as the REST APIs do, the project being what keyplane's components deploy for the bundled
`prod-gcp` environment, the command through typer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from keyplane.cli.audit import audit
from tests.audit_gcp.server import FOLDER, ORGANIZATION, Cloud, serve
from tests.audit_gcp.support import (
    AS_OF,
    AUDITOR,
    CREATED,
    ENV,
    LOCATION,
    NUMBER,
    PROJECT,
    REPO,
    RING,
    deploy,
    preview,
    service_account_key,
)

app = typer.Typer()
app.command()(audit)
app.command("noop")(lambda: None)

KEY = f"{RING}/cryptoKeys/acme-orders-db"
KEYS = tuple(
    f"{RING}/cryptoKeys/{k}" for k in ("acme-orders-db", "prod-gcp-secrets", "release-signing")
)
SECRET = f"projects/{PROJECT}/secrets/acme-payments-api"
PROTECT = "the protect option cannot be read from GCP"


def run(estate: Path, endpoint: str | None, *args: str) -> tuple[int, dict[str, Any], str]:
    """The audit as JSON: exit code, the document ({} when none), stderr."""
    where = ["--endpoint-url", endpoint] if endpoint else []
    result = CliRunner().invoke(
        app,
        ["audit", ENV, "--estate", str(estate), *where, "--as-of", AS_OF, "-f", "json", *args],
    )
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, document, result.stderr


def mandatory(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (f["rule"], f["resource"], f["message"])
        for f in document["findings"]
        if f["enforcement"] == "mandatory"
    )


def test_the_deployed_prod_gcp_project_is_clean(cloud: Cloud, endpoint: str, estate: Path) -> None:
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    assert document["verdict"] == "pass"
    assert {f["engine"] for f in document["findings"]} == {"audit"}
    # What a live audit cannot see is said, advisory: Pulumi's protect option.
    assert {(f["rule"], f["enforcement"]) for f in document["findings"]} == {
        ("KM-DEL-001", "advisory")
    }
    assert all(PROTECT in f["message"] for f in document["findings"])
    evidence = document["evidence"]
    assert evidence["account"] == f"{PROJECT} (number {NUMBER})"
    assert evidence["region"] == LOCATION
    assert evidence["caller_arn"] == f"serviceAccount:{AUDITOR}"
    assert evidence["endpoint_url"] == endpoint
    assert evidence["resources"] == {
        "alert policies": 4,
        "audit configs": 2,
        "buckets": 1,
        "certificates": 1,
        "key rings": 1,
        "keys": 3,
        "log sinks": 1,
        "log-based metrics": 4,
        "secrets": 1,
    }
    assert evidence["inventory"] == {
        "declared": {"keys": 2, "secrets": 1},
        "found": {"keys": 2, "secrets": 1},
        "missing": [],
        "judged": document["summary"]["judged"],
        "not_verifiable": [],
    }
    assert "cloudkms.cryptoKeys.getIamPolicy" in evidence["permissions"]
    assert "SOC 2 CC6.1" in evidence["control"]
    assert evidence["lifecycle"]["events_read"] is True
    # What is granted above the project is read: its ancestry, the folder's and organisation's IAM.
    assert {
        f"POST /v1/projects/{PROJECT}:getAncestry",
        f"POST /v3/{FOLDER}:getIamPolicy",
        f"POST /v3/{ORGANIZATION}:getIamPolicy",
    } <= set(cloud.requests)
    assert not any("folders" in line for line in evidence["not_visible"])


def _rotation_off(cloud: Cloud) -> None:
    del cloud.keys[KEY]["rotationPeriod"], cloud.keys[KEY]["nextRotationTime"]


def _software_key(cloud: Cloud) -> None:
    cloud.keys[KEY]["versionTemplate"]["protectionLevel"] = "SOFTWARE"
    cloud.versions[KEY][0]["protectionLevel"] = "SOFTWARE"


def _destruction_scheduled(cloud: Cloud) -> None:
    cloud.versions[KEY].append(
        {
            "name": f"{KEY}/cryptoKeyVersions/2",
            "state": "DESTROY_SCHEDULED",
            "createTime": CREATED,
            "destroyTime": "2026-12-30T00:00:00Z",
            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
            "protectionLevel": "HSM",
        }
    )


def _unlocked_retention(cloud: Cloud) -> None:
    for bucket in cloud.buckets.values():
        bucket["retentionPolicy"]["isLocked"] = False


KEY_USE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
UNDECLARED = (
    "granted to principals environment prod-gcp does not declare: user:mallory@evil.example "
    f"({KEY_USE} through {{through}}); remove the grants, or declare the principals in the "
    "environment file's access block."
)


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        pytest.param(
            _rotation_off,
            [
                (
                    "KM-ROT-001",
                    KEY,
                    "KM-ROT-001 acme-orders-db: automatic rotation is disabled on this gcp crypto "
                    "key; set rotationPeriod (rotation_days in the environment file).",
                )
            ],
            id="rotation-off",
        ),
        pytest.param(
            lambda cloud: cloud.bind(KEY, KEY_USE, "allUsers"),
            [
                (
                    "KM-ACC-001",
                    f"{KEY}#iam",
                    f"KM-ACC-001 acme-orders-db-iam: grants {KEY_USE} to the wildcard principal "
                    "allUsers; name the principals and grant only the actions they need.",
                )
            ],
            id="public-member-on-key",
        ),
        pytest.param(
            lambda cloud: cloud.bind(KEY, KEY_USE, "user:mallory@evil.example"),
            [
                (
                    "KM-ACC-004",
                    KEY,
                    "KM-ACC-004 acme-orders-db: "
                    + UNDECLARED.format(
                        through="gcp:kms/cryptoKeyIAMPolicy:CryptoKeyIAMPolicy acme-orders-db-iam"
                    ),
                )
            ],
            id="undeclared-member-on-key",
        ),
        pytest.param(
            lambda cloud: cloud.bind(
                f"projects/{PROJECT}", "roles/cloudkms.viewer", "allAuthenticatedUsers"
            ),
            [
                (
                    "KM-ACC-001",
                    f"projects/{PROJECT}#iam",
                    f"KM-ACC-001 {PROJECT}-iam: grants roles/cloudkms.viewer to the wildcard "
                    "principal allAuthenticatedUsers; name the principals and grant only the "
                    "actions they need.",
                )
            ],
            id="public-member-on-project",
        ),
        pytest.param(
            lambda cloud: cloud.bind(f"projects/{PROJECT}", KEY_USE, "user:mallory@evil.example"),
            [
                (
                    "KM-ACC-004",
                    f"{RING}/cryptoKeys/{key}",
                    f"KM-ACC-004 {key}: "
                    + UNDECLARED.format(through=f"gcp:projects/iAMPolicy:IAMPolicy {PROJECT}-iam"),
                )
                for key in ("acme-orders-db", "prod-gcp-secrets", "release-signing")
            ],
            id="undeclared-member-on-project",
        ),
        pytest.param(
            lambda cloud: cloud.bind(FOLDER, "roles/cloudkms.cryptoKeyDecrypter", "allUsers"),
            [
                (
                    "KM-ACC-001",
                    f"{FOLDER}#iam",
                    "KM-ACC-001 folder-1042-iam: grants roles/cloudkms.cryptoKeyDecrypter to the "
                    "wildcard principal allUsers; name the principals and grant only the actions "
                    "they need.",
                )
            ],
            id="public-member-on-folder",
        ),
        pytest.param(
            lambda cloud: cloud.bind(ORGANIZATION, KEY_USE, "user:mallory@evil.example"),
            [
                (
                    "KM-ACC-004",
                    key,
                    f"KM-ACC-004 {key.rsplit('/', 1)[-1]}: "
                    + UNDECLARED.format(
                        through="gcp:organizations/iAMPolicy:IAMPolicy organization-123456789-iam"
                    ),
                )
                for key in KEYS
            ],
            id="undeclared-member-on-organisation",
        ),
        pytest.param(
            _software_key,
            [
                (
                    "KM-HSM-001",
                    KEY,
                    "KM-HSM-001 acme-orders-db: production database-encryption key is "
                    "software-protected (SOFTWARE); set versionTemplate.protectionLevel to HSM.",
                )
            ],
            id="software-key-in-production",
        ),
        pytest.param(
            _destruction_scheduled,
            [
                (
                    "KM-DEL-001",
                    KEY,
                    "KM-DEL-001 acme-orders-db: 1 version of the key (2) scheduled for "
                    "destruction; the last on 2026-12-30; data they encrypted becomes unreadable "
                    "(Policy §11): restore them (RestoreCryptoKeyVersion) unless the destruction "
                    "follows Proc 4.5, then record the key's retirement in the environment file "
                    "(keys[].retired: on, reason).",
                )
            ],
            id="versions-scheduled-for-destruction",
        ),
        pytest.param(
            _unlocked_retention,
            [
                (
                    "KM-LOG-002",
                    "projects/_/buckets/acme-prod-kms-prod-gcp-kms-audit",
                    "KM-LOG-002 acme-prod-kms-prod-gcp-kms-audit: the audit-log store has an "
                    "unlocked retention policy; set a locked retention policy of at least 400 "
                    "days.",
                )
            ],
            id="unlocked-bucket-retention",
        ),
        pytest.param(
            lambda cloud: cloud.alert_policies.clear(),
            [
                (
                    "KM-MON-001",
                    ENV,
                    "KM-MON-001 prod-gcp: no gcp alert notifying a declared destination covers a "
                    "key disabled or scheduled for deletion, a key policy, IAM binding or role "
                    "assignment changed, repeated failed use of a key; declare monitoring.notify "
                    "in the environment file, or add log-based metrics with alert policies on a "
                    "notification channel.",
                )
            ],
            id="no-alert-policy",
        ),
    ],
)
def test_each_drift_is_caught_with_its_message(
    cloud: Cloud, endpoint: str, estate: Path, drift: Any, expected: list[tuple[str, str, str]]
) -> None:
    drift(cloud)
    code, document, err = run(estate, endpoint)
    assert code == 1, err
    assert mandatory(document) == sorted(expected)


def test_throttling_is_retried_after_the_time_asked(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    rings = f"GET /v1/projects/{PROJECT}/locations/{LOCATION}/keyRings"
    cloud.fail(rings, 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    assert time.monotonic() - started >= 1  # Retry-After honoured
    assert cloud.requests.count(rings) == 2
    assert document["evidence"]["resources"]["keys"] == 3


def test_throttling_past_the_deadline_is_a_fault_not_a_pass(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.fail("/alertPolicies", 429, times=100, headers={"Retry-After": "30"})
    code, document, err = run(estate, endpoint, "--timeout", "20")
    assert code == 1, err
    [finding] = [f for f in document["findings"] if f["rule"] == "KM-MON-001"]
    assert finding["enforcement"] == "mandatory"
    assert "unverifiable: the project's alert policies could not be read" in finding["message"]
    assert "deadline left no time to ask again" in finding["message"]


def test_a_denied_call_is_unverifiable_and_the_audit_goes_on(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.fail("release-signing:getIamPolicy", 403)
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    denied = [f for f in document["findings"] if "could not be read" in f["message"]]
    assert {f["rule"] for f in denied} == {
        "KM-ACC-001",
        "KM-ACC-002",
        "KM-ACC-004",
        "KM-ENV-002",
        "KM-TEN-001",
    }
    assert {f["enforcement"] for f in denied} == {"advisory"}
    assert denied[0]["message"] == (
        f"{denied[0]['rule']} release-signing: unverifiable: the key's IAM policy could not be "
        "read (GetIamPolicy: HTTP 403); grant the auditor cloudkms.cryptoKeys.getIamPolicy to "
        f"judge {denied[0]['rule']}."
    )
    # Everything else was still read.
    assert document["evidence"]["resources"]["keys"] == 3


def _access_unverifiable(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(rule, resource) -> message of the findings that say access cannot be judged."""
    return {
        (f["rule"], f["resource"]): f["message"]
        for f in document["findings"]
        if "could not be read" in f["message"] or "not verifiable live" in f["message"]
    }


ABOVE = ("POST /v3/folders/", "POST /v3/organizations/")
ACCESS_RULES = {"KM-ACC-001", "KM-ACC-002", "KM-ACC-004", "KM-ENV-002", "KM-TEN-001"}


def _every_key_and_secret_cannot_be_judged(found: dict[tuple[str, str], str]) -> None:
    """Who is granted access to each key and secret is unknown: never a pass."""
    expected = {(r, k) for r in ("KM-ACC-002", "KM-ACC-004", "KM-ENV-002") for k in KEYS}
    expected |= {(r, SECRET) for r in ("KM-ACC-004", "KM-ENV-002")}
    assert expected <= set(found)
    for rule, item in expected:
        assert found[rule, item] == (
            f"{rule} {item.rsplit('/', 1)[-1]}: not verifiable live: who is granted access cannot "
            "be read from GCP."
        )


def test_an_unreadable_ancestry_leaves_access_above_the_project_unjudged(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.fail(f"POST /v1/projects/{PROJECT}:getAncestry", 403)
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    assert mandatory(document) == []
    found = _access_unverifiable(document)
    assert {f["enforcement"] for f in document["findings"]} == {"advisory"}
    for rule in ACCESS_RULES:
        assert found[rule, f"projects/{PROJECT}"] == (
            f"{rule} {PROJECT}/{LOCATION}: unverifiable: the project's ancestry (its folders and "
            "organisation) could not be read (getAncestry: HTTP 403); grant the auditor "
            f"resourcemanager.projects.get to judge {rule}."
        )
    _every_key_and_secret_cannot_be_judged(found)
    # Not knowing which folders and organisation are above, it asks none of them.
    assert not any(r.startswith(ABOVE) for r in cloud.requests)


def test_a_failing_ancestry_read_fails_the_audit(cloud: Cloud, endpoint: str, estate: Path) -> None:
    cloud.fail(f"POST /v1/projects/{PROJECT}:getAncestry", 500, times=100)
    code, document, err = run(estate, endpoint, "--timeout", "5")
    assert code == 1, err
    assert {(rule, resource) for rule, resource, _ in mandatory(document)} == {
        (rule, f"projects/{PROJECT}") for rule in ACCESS_RULES
    }
    assert all("getAncestry: HTTP 500" in m for _, _, m in mandatory(document))


def test_a_refused_folder_policy_leaves_access_unjudged(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.fail(f"POST /v3/{FOLDER}:getIamPolicy", 403)
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    assert mandatory(document) == []
    found = _access_unverifiable(document)
    for rule in ACCESS_RULES:
        assert found[rule, FOLDER] == (
            f"{rule} {FOLDER}: unverifiable: the folder's IAM policy could not be read "
            "(GetIamPolicy: HTTP 403); grant the auditor resourcemanager.folders.getIamPolicy to "
            f"judge {rule}."
        )
    _every_key_and_secret_cannot_be_judged(found)


def test_a_refused_organisation_policy_names_its_permission(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.fail(f"POST /v3/{ORGANIZATION}:getIamPolicy", 403)
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    found = _access_unverifiable(document)
    assert (
        "grant the auditor resourcemanager.organizations.getIamPolicy to judge KM-ACC-004"
        in (found["KM-ACC-004", ORGANIZATION])
    )
    _every_key_and_secret_cannot_be_judged(found)


def test_a_project_without_folder_or_organisation_reads_no_policy_above_it(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.ancestry = []
    code, document, err = run(estate, endpoint)
    assert code == 0, err
    assert {f["rule"] for f in document["findings"]} == {"KM-DEL-001"}
    assert not any(r.startswith(ABOVE) for r in cloud.requests)


def test_lists_are_read_over_every_page(cloud: Cloud, endpoint: str, estate: Path) -> None:
    for n in range(7):  # 10 keys: five pages of two
        key = f"{RING}/cryptoKeys/extra-{n}"
        cloud.keys[key] = {
            **cloud.keys[KEY],
            "name": key,
            "primary": f"{key}/cryptoKeyVersions/1",
        }
        cloud.versions[key] = [{**cloud.versions[KEY][0], "name": f"{key}/cryptoKeyVersions/1"}]
    code, document, err = run(estate, endpoint)
    assert document["evidence"]["resources"]["keys"] == 10
    assert document["evidence"]["resources"]["alert policies"] == 4  # two pages
    # The extra keys carry acme's tenant label without being declared: judged like any other.
    assert {f["resource"] for f in document["findings"] if f["rule"] == "KM-DEL-001"} >= {
        f"{RING}/cryptoKeys/extra-{n}" for n in range(7)
    }
    assert code in (0, 1), err


def test_credentials_that_cannot_reach_the_project_are_refused(endpoint: str, estate: Path) -> None:
    path = estate / f"{ENV}.yaml"
    path.write_text(path.read_text().replace(f"project: {PROJECT}", "project: acme-other"))
    code, document, err = run(estate, endpoint)
    assert code == 2
    assert document == {}
    assert err.splitlines() == [
        "keyplane audit: the credentials cannot reach prod-gcp's project acme-other (HTTP 403); "
        "use credentials granted roles/browser (or resourcemanager.projects.get) on it, or "
        "correct gcp.project"
    ]


def test_without_credentials_it_says_how_to_authenticate(estate: Path) -> None:
    code, _, err = run(estate, "http://127.0.0.1:9")
    assert code == 2
    assert err.splitlines() == [
        "keyplane audit: no Google Cloud credentials (Application Default Credentials); run "
        "`gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
        "service account key file"
    ]


def test_commands_that_do_not_audit_gcp_do_not_import_google_libraries() -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from keyplane.cli.app import app\n"
        "for args in (['preview', '--help'], ['audit', '--help'], ['respond', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('google.cloud', 'google.api_core'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ},
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_the_pack_and_the_audit_agree_on_one_fixture(
    estate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Conformance: one environment, rendered by the stack program, judged by the CrossGuard
    pack at preview and, once deployed, by the GCP audit: the same mandatory verdicts."""
    path = estate / f"{ENV}.yaml"
    text = path.read_text()
    text = text.replace(
        "    purpose: database-encryption\n    algorithm: AES-256\n    tenant: acme\n",
        "    purpose: database-encryption\n    algorithm: AES-256\n    tenant: acme\n"
        "    rotation_days: 400\n    hsm: false\n",
    )
    path.write_text(text)
    rendered = preview(estate)
    names = {r["urn"]: r["name"] for r in rendered["resources"]}
    at_preview = {
        (f["rule"], names.get(f["resource"], f["resource"]))
        for f in rendered["findings"]
        if f["enforcement"] == "mandatory"
    }
    assert {rule for rule, _ in at_preview} == {"KM-ROT-002", "KM-HSM-001"}
    with serve(deploy(rendered["resources"])) as url:
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(service_account_key(tmp_path, url))
        )
        code, document, err = run(estate, url)
    assert code == 1, err
    live = {(rule, resource.rsplit("/", 1)[-1]) for rule, resource, _ in mandatory(document)}
    assert live == at_preview


def test_lifecycle_events_and_a_destroyed_key_are_in_the_evidence(
    cloud: Cloud, endpoint: str, estate: Path
) -> None:
    cloud.entries.append(
        {
            "insertId": "rotation-1",
            "timestamp": "2026-11-20T09:00:00Z",
            "protoPayload": {
                "methodName": "UpdateCryptoKeyPrimaryVersion",
                "resourceName": KEY,
                "authenticationInfo": {"principalEmail": "kms-admin@acme.example"},
            },
        }
    )
    signing = f"{RING}/cryptoKeys/release-signing"
    for version in cloud.versions[signing]:
        version["state"] = "DESTROYED"
    code, document, err = run(estate, endpoint)
    assert code == 1, err
    assert [m for m in mandatory(document) if m[0] == "KM-DEL-001"] == [
        (
            "KM-DEL-001",
            signing,
            f"KM-DEL-001 release-signing: environment prod-gcp declares this key but the account "
            f"has no {signing}; it was destroyed or never created, and data encrypted under it "
            "may be lost (Policy §11): recreate it (pulumi up) or restore the alias, or record its "
            "retirement (keys[].retired: on, reason) if it was destroyed under Proc 4.5.",
        )
    ]
    lifecycle = document["evidence"]["lifecycle"]["keys"]
    # Seen with every version destroyed, and reported as the declared key the project lacks.
    assert [(k["name"], k["state"]) for k in lifecycle if k["name"] == "release-signing"] == [
        ("release-signing", "destroyed"),
        ("release-signing", "missing"),
    ]
    keys = {k["name"]: k for k in lifecycle}
    assert keys["acme-orders-db"]["events"] == [
        {
            "time": "2026-11-20T09:00:00Z",
            "event": "UpdateCryptoKeyPrimaryVersion",
            "principal": "kms-admin@acme.example",
            "error": None,
        }
    ]


def test_every_permission_the_gcp_collector_reads_with_is_mapped_to_rules() -> None:
    """As for AWS: the collector names permissions only, the rules' side maps each one."""
    import re

    from keyplane.engines.audit import gcp
    from keyplane.rules.audit_permissions import UNVERIFIABLE_WITHOUT

    read_with = set(re.findall(r'permission="([^"]+)"', Path(gcp.__file__).read_text()))
    # AWS permissions are `service:Action`, the Azure collector's operations `Microsoft.*`.
    gcp_mapped = {
        p for p in UNVERIFIABLE_WITHOUT if ":" not in p and not p.startswith("Microsoft.")
    }
    assert read_with == gcp_mapped
    assert set(gcp.PERMISSIONS) == read_with | {"resourcemanager.projects.get"}
