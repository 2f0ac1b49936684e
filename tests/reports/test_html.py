"""`--format html` / `keyplane report`: one self-contained, inert page for auditors
(keyplane/reports/html.py)."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

import pytest

from keyplane.estate import load_estate
from keyplane.findings import Engine, Finding
from keyplane.reports import ReportFormat, render_report
from keyplane.reports.dossier import Dossier, ExceptionEntry, dossier_of
from keyplane.reports.html import html_report
from keyplane.rules.catalog import Enforcement
from tests.conftest import BUNDLED_ESTATE
from tests.reports.sample import (
    CKV_AWS_7,
    FINDINGS,
    GUIDELINE,
    HSM_001_EXCEPTED,
    NESTED_SECRET,
    RESOURCES,
    ROT_002,
    ROT_004_CONFIG,
    SECRET_VALUE,
    STO_001_LEAKY,
    make_report,
)

PLANTED = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


class _Page(HTMLParser):
    """Every tag and attribute of the page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def text_of(page: str) -> str:
    return " ".join(" ".join(parse(page).text).split())


def test_the_page_loads_nothing_and_links_nowhere() -> None:
    page = parse(html_report(make_report()))
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in page.tags:
        assert "src" not in attrs and "srcset" not in attrs, tag
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), attrs
    style = "".join(page.styles)
    assert "url(" not in style and "@import" not in style
    csp = [a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    ]
    # checkov's guideline address is shown, as text only.
    assert GUIDELINE in " ".join(page.text)


def test_a_script_planted_in_a_resource_name_and_a_message_is_inert() -> None:
    hostile = Finding(
        rule="KM-ACC-001",
        enforcement=Enforcement.MANDATORY,
        resource=PLANTED,
        type="aws:kms/key:Key",
        message=f"KM-ACC-001 {PLANTED}: grants kms:* to *",
        engine=Engine.CROSSGUARD,
        file=f"environments/{PLANTED}.yaml",
        line=3,
    )
    page = html_report(make_report(findings=(hostile,), environment=PLANTED))
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page
    assert PLANTED in text_of(page)


def test_no_secret_value_reaches_the_page() -> None:
    page = html_report(make_report())
    assert SECRET_VALUE not in page
    assert NESTED_SECRET not in page
    assert "secretString '[secret]' is not a Pulumi secret" in text_of(page)


def _section(page: str, begin: str, end: str) -> str:
    return page.split(f'id="{begin}"', 1)[1].split(f'id="{end}"', 1)[0]


def test_mandatory_findings_come_first_by_rule_and_by_resource() -> None:
    page = html_report(make_report())
    by_rule = _section(page, "by-rule", "by-resource")
    order = re.findall(r"<h3><code>([A-Z0-9_-]+)</code>", by_rule)
    # Rules with mandatory findings by severity (KM-STO-001 is critical) and ID, then the rest.
    assert order == ["KM-STO-001", "KM-ROT-002", "KM-ROT-004", "KM-HSM-001", "CKV_AWS_7"]
    by_resource = _section(page, "by-resource", "exceptions")
    rows = re.findall(r"<tr>\s*<td><code>([A-Z0-9_-]+)</code></td>", by_resource)
    # acme-orders-db: the mandatory KM-ROT-002 before the excepted KM-HSM-001.
    assert rows.index("KM-ROT-002") < rows.index("KM-HSM-001")
    headings = re.findall(r'<section class="group( blocking)?" id="resource-', by_resource)
    assert headings == [" blocking", " blocking", " blocking", ""]


def test_each_finding_shows_severity_engines_location_and_fix() -> None:
    merged = ROT_002.merged_with(
        Finding(
            rule="KM-ROT-002",
            enforcement=Enforcement.MANDATORY,
            resource=ROT_002.resource,
            type=ROT_002.type,
            message="",
            engine=Engine.CHECKOV,
        )
    )
    page = html_report(make_report(findings=(merged, ROT_004_CONFIG, HSM_001_EXCEPTED)))
    text = text_of(page)
    assert "KM-ROT-002 high mandatory KM-ROT-002 acme-orders-db: rotation period 400 days" in text
    assert "crossguard, checkov" in text
    assert "environments/prod.yaml:14" in text
    assert "Lower rotation_days to the purpose's maximum or file an exception." in text
    assert "advisory excepted by EXC-2026-007" in text
    assert "Controls: soc2:CC6.1, iso27001:8.24, nist-800-53:SC-12, pci-dss:3.7.4" in text
    assert text.count("FAIL") >= 1 and "2 mandatory, 1 advisory (1 excepted)" in text


def test_a_clean_report_says_pass_and_no_findings() -> None:
    text = text_of(html_report(make_report(findings=())))
    assert "PASS 0 mandatory, 0 advisory" in text
    assert "No findings." in text


def test_exceptions_are_listed_with_their_expiry() -> None:
    def entry(id_: str, expires: date, days_left: int) -> ExceptionEntry:
        return ExceptionEntry(
            id=id_,
            rule="KM-HSM-001",
            resource="acme-orders-db",
            justification="vendor <b>appliance</b>",
            accepted_by="CISO",
            accepted_on=date(2026, 1, 1),
            compensating_controls=("alert on every use",),
            expires=expires,
            days_left=days_left,
        )

    dossier = Dossier(
        exceptions=(
            entry("EXC-2026-001", date(2026, 11, 20), -3),
            entry("EXC-2026-007", date(2026, 12, 31), 38),
        ),
        as_of=date(2026, 11, 23),
    )
    page = html_report(make_report(dossier=dossier))
    text = text_of(_section(page, "exceptions", "document-1") if "document-1" in page else page)
    assert (
        "EXC-2026-001 KM-HSM-001 acme-orders-db 2026-11-20 expired 3 days ago: blocks "
        "deployment (KM-EXC-002) CISO, 2026-01-01 vendor <b>appliance</b> alert on every use "
        "no finding covered"
    ) in text
    assert "EXC-2026-007 KM-HSM-001 acme-orders-db 2026-12-31 38 days left" in text
    assert "covers a finding" in text  # HSM_001_EXCEPTED names EXC-2026-007
    assert "vendor &lt;b&gt;appliance&lt;/b&gt;" in page


def test_the_audit_evidence_is_shown_when_the_report_is_an_audit() -> None:
    evidence = {
        "environment": "prod",
        "account": "111111111111",
        "caller_arn": "arn:aws:iam::111111111111:role/<auditor>",
        "controls": ["SOC 2 CC6.1 (protection of keys: logical access security)"],
        "resources": {"keys": 3},
        "inventory": {
            "declared": {"keys": 3},
            "found": {"keys": 2},
            "missing": ["alias/prod/x"],
            "not_verifiable": [],
        },
        "lifecycle": {
            "days": 90,
            "unverifiable": None,
            "keys": [
                {
                    "name": "acme-orders-db",
                    "resource": "arn:aws:kms:eu-west-1:111111111111:key/1",
                    "state": "active",
                    "evidence": "in use",
                    "events": [
                        {
                            "time": "2026-11-01T00:00:00Z",
                            "event": "EnableKeyRotation",
                            "principal": "admin",
                            "error": None,
                        }
                    ],
                }
            ],
        },
        "not_visible": ["the key material itself"],
        "permissions": ["kms:ListKeys"],
    }
    page = html_report(make_report(command="audit", dossier=Dossier(evidence=evidence)))
    text = text_of(page)
    assert "Audit evidence" in text
    assert "caller arn arn:aws:iam::111111111111:role/<auditor>" in text
    assert "declared 3 keys found 2 keys missing alias/prod/x" in text
    assert "2026-11-01T00:00:00Z EnableKeyRotation by admin" in text
    assert "Controls served: SOC 2 CC6.1" in text
    assert "kms:ListKeys" in text and "the key material itself" in text
    assert "Audit evidence" not in text_of(html_report(make_report()))


def test_the_policy_artefacts_are_keyplane_docs_documents_rendered_not_recomputed() -> None:
    estate = load_estate(BUNDLED_ESTATE)
    dossier = dossier_of(estate, estate.environments["prod"], as_of=date(2026, 11, 23))
    assert list(dossier.documents) == [
        "Tenant-Isolation-Claim",
        "Shared-Service-Boundary-Register",
        "Rule traceability matrix",
        "Policy coverage matrix",
    ]
    page = html_report(make_report(dossier=dossier))
    parsed = parse(page)
    for title in dossier.documents:
        assert title in " ".join(parsed.text)
    # The Markdown tables became HTML tables; the claim's rows are the docs command's own.
    assert (
        "<td><code>acme-orders-db</code></td>\n<td>key</td>\n<td>database-encryption</td>" in page
    )
    assert "Tenant-Isolation-Claim: prod" in text_of(page)
    assert "Policy §10" in text_of(page)
    # Headings shifted below the page's own h1/h2.
    assert "<h1>Tenant-Isolation-Claim" not in page and "<h3>Tenant-Isolation-Claim: prod" in page


def test_markdown_from_the_estate_cannot_inject_markup_or_links() -> None:
    hostile = (
        "# Title\n\n<script>alert(1)</script> [site](https://example.com) <https://example.org>"
    )
    page = html_report(make_report(dossier=Dossier(documents={"Doc": hostile})))
    assert "<script" not in page
    assert 'href="https' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_framework_note_is_on_the_page() -> None:
    note = "--framework pci-dss (PCI DSS v4.0): 1 advisory finding of rules outside it not shown"
    page = html_report(make_report(dossier=Dossier(framework="pci-dss", framework_note=note)))
    assert note in text_of(page)


@pytest.mark.parametrize("columns", ["40", "300"])
def test_the_page_does_not_depend_on_the_terminal(
    columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = render_report(make_report(), ReportFormat.HTML)
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("NO_COLOR", "1")
    assert render_report(make_report(), ReportFormat.HTML, width=int(columns)) == expected


def test_the_findings_are_all_on_the_page() -> None:
    text = text_of(html_report(make_report()))
    for finding in (ROT_002, HSM_001_EXCEPTED, CKV_AWS_7, ROT_004_CONFIG):
        assert " ".join(finding.message.split()) in text
    assert " ".join(STO_001_LEAKY.message.replace(SECRET_VALUE, "[secret]").split()) in text
    assert len(FINDINGS) == 5 and len(RESOURCES) == 3
