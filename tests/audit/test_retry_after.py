"""How long an answer asks the audit to wait: one reading of Retry-After for every cloud."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from requests.structures import CaseInsensitiveDict

from keyplane.engines.audit.transport import retry_after_seconds

AZURE = ("retry-after-ms", "x-ms-retry-after-ms")


@pytest.mark.parametrize(
    ("headers", "millisecond_headers", "seconds"),
    [
        ({"Retry-After": "7"}, (), 7.0),
        ({"retry-after": " 12 "}, (), 12.0),  # header names are case-insensitive
        ({"Retry-After": "soon"}, (), None),
        ({"Retry-After": "-3"}, (), None),
        ({"Retry-After": "inf"}, (), None),
        ({"Retry-After": ""}, (), None),
        ({}, (), None),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, AZURE, 1.5),
        ({"x-ms-retry-after-ms": "250"}, AZURE, 0.25),
        ({"retry-after-ms": "nan", "Retry-After": "4"}, AZURE, 4.0),
        ({"retry-after-ms": "1500"}, (), None),  # only Azure sends milliseconds
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, (), 0.0),  # a date already past
    ],
)
def test_retry_after_forms(
    headers: dict[str, str], millisecond_headers: tuple[str, ...], seconds: float | None
) -> None:
    assert retry_after_seconds(CaseInsensitiveDict(headers), millisecond_headers) == seconds


def test_an_http_date_is_the_time_left_until_it() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    waited = retry_after_seconds(CaseInsensitiveDict({"Retry-After": later}))
    assert waited is not None
    assert 25 <= waited <= 30


def test_no_headers_at_all() -> None:
    assert retry_after_seconds(None) is None
