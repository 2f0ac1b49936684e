"""No format ever shows a secret value in plain text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keyplane.reports import ReportFormat, render_report
from tests.reports.sample import NESTED_SECRET, RESOURCES, SECRET_VALUE, make_report


@pytest.mark.parametrize("fmt", list(ReportFormat))
@pytest.mark.parametrize("color", [False, True])
def test_no_format_shows_a_secret(fmt: ReportFormat, color: bool) -> None:
    text = render_report(make_report(), fmt, color=color)
    assert SECRET_VALUE not in text
    assert NESTED_SECRET not in text
    # The finding that quoted the value is still reported, with the value masked.
    assert "KM-STO-001" in text


@pytest.mark.parametrize("fmt", list(ReportFormat))
def test_secret_pasted_unmarked_into_another_input_is_masked(fmt: ReportFormat) -> None:
    leaked = replace(RESOURCES[2], inputs={"description": f"token is {SECRET_VALUE}"})
    text = render_report(make_report(resources=[*RESOURCES[:2], leaked]), fmt)
    assert SECRET_VALUE not in text


def test_the_masked_message_says_where_the_secret_was() -> None:
    text = render_report(make_report(), ReportFormat.JSON)
    assert "secretString '[secret]' is not a Pulumi secret" in text
