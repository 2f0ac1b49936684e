"""Readings shared by the Pulumi, Terraform-plan and boto3 adapters."""

from __future__ import annotations

import pytest

from keyplane.adapters.common import advanced_selector_logs_kms


def _selector(api: bool, *fields: tuple[str, str, list[str]]) -> dict[str, object]:
    def key(name: str) -> str:
        return name[:1].upper() + name[1:] if api else name

    return {
        key("fieldSelectors"): [
            {key("field"): name, key(op): values} for name, op, values in fields
        ]
    }


@pytest.mark.parametrize("api", [True, False], ids=["boto3", "pulumi"])
@pytest.mark.parametrize(
    ("fields", "logs_kms"),
    [
        ((("eventCategory", "equals", ["Management"]),), True),
        (
            (
                ("eventCategory", "equals", ["Management"]),
                ("eventSource", "equals", ["kms.amazonaws.com"]),
            ),
            True,
        ),
        (
            (
                ("eventCategory", "equals", ["Management"]),
                ("eventSource", "notEquals", ["kms.amazonaws.com"]),
            ),
            False,
        ),
        (
            (
                ("eventCategory", "equals", ["Management"]),
                ("eventSource", "equals", ["s3.amazonaws.com"]),
            ),
            False,
        ),
        ((("eventCategory", "equals", ["Data"]),), False),
    ],
)
def test_advanced_selectors_log_kms_management_events(
    api: bool, fields: tuple[tuple[str, str, list[str]], ...], logs_kms: bool
) -> None:
    assert advanced_selector_logs_kms(_selector(api, *fields)) is logs_kms


def test_a_selector_that_is_not_a_mapping_logs_nothing() -> None:
    assert advanced_selector_logs_kms(["Management"]) is False
