"""`--format markdown`: a pull-request comment that renders as meant and fits GitHub's limit."""

from __future__ import annotations

from dataclasses import replace

from keyplane.reports import markdown_report
from keyplane.reports.markdown import COMMENT_LIMIT, cell
from keyplane.rules.catalog import RULES
from tests.reports.sample import KEY_URN, ROT_002, make_report


def test_headline_carries_verdict_and_counts() -> None:
    text = markdown_report(make_report())
    assert text.splitlines()[0] == (
        "## ❌ keyplane preview `prod`: FAIL, 3 mandatory, 2 advisory (1 excepted)"
    )
    clean = markdown_report(make_report(findings=[]))
    assert clean.splitlines()[0] == "## ✅ keyplane preview `prod`: PASS, 0 mandatory, 0 advisory"
    assert "No findings." in clean
    assert "<details" not in clean


def test_summary_table_per_rule() -> None:
    lines = markdown_report(make_report()).splitlines()
    start = lines.index("| Rule | Title | Mandatory | Advisory |")
    assert lines[start + 1] == "|---|---|--:|--:|"
    rows = lines[start + 2 : start + 7]
    assert rows[0] == "| CKV_AWS_7 | checkov built-in check CKV_AWS_7 | 0 | 1 |"
    assert rows[1] == f"| KM-HSM-001 | {RULES['KM-HSM-001'].title} | 0 | 1 (1 excepted) |"
    assert rows[2].startswith("| KM-ROT-002 | ") and rows[2].endswith(" | 1 | 0 |")
    assert lines[start + 7] == ""


def test_details_per_resource_escape_pipes_and_newlines() -> None:
    text = markdown_report(make_report())
    assert text.count("<details") == 4
    assert text.count("</details>") == 4
    # Failing resources open, the advisory-only one closed.
    assert text.count("<details open>") == 3
    assert "<b>acme-orders-db</b>: 1 mandatory, 1 advisory (1 excepted)</summary>" in text
    assert f"`{KEY_URN}`" in text
    assert (
        "| KM-ROT-004 | mandatory | KM-ROT-004 acme-signing: rotation.rotate_by 2027-09-01 \\| "
        "is later than<br>the purpose's 180-day period (environments/prod.yaml:14) |"
    ) in text
    assert "| KM-HSM-001 | advisory (excepted: EXC-2026-007) |" in text
    # Every table row has exactly its column separators: escaped pipes do not count.
    for line in text.splitlines():
        if line.startswith("| KM-") or line.startswith("| CKV_"):
            assert line.replace("\\|", "").count("|") == 5, line


def test_cell_escaping() -> None:
    assert cell("a | b") == "a \\| b"
    assert cell("one\ntwo\r\nthree") == "one<br>two<br>three"
    assert cell("<script>&") == "&lt;script&gt;&amp;"
    assert cell("back\\|slash") == "back\\\\\\|slash"
    assert len(cell("x" * 10_000)) == 2_000


def test_long_reports_are_truncated_with_a_note() -> None:
    many = [
        replace(ROT_002, resource=f"{KEY_URN}-{i:04}", message=f"{ROT_002.message} " + "x" * 300)
        for i in range(400)
    ]
    text = markdown_report(make_report(findings=many))
    assert len(text) <= COMMENT_LIMIT
    shown = text.count("<details")
    assert 0 < shown < 400
    assert f"_Details of {400 - shown} more of 400 resources left out" in text
    assert text.splitlines()[0].endswith("FAIL, 400 mandatory, 0 advisory")

    small = markdown_report(make_report(), limit=2_500)
    assert len(small) <= 2_500
    assert "more of 4 resources left out" in small


def test_everything_fits_without_a_note() -> None:
    assert "left out" not in markdown_report(make_report())
