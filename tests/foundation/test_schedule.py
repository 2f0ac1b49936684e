"""Rotation schedules: the period is the longest interval between two consecutive runs."""

from __future__ import annotations

import pytest

from keyplane.facts.schedule import SchedulePeriod, ScheduleProblem, schedule_period


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("rate(30 days)", 30),
        ("rate(1 day)", 1),
        ("rate(12 hours)", 1),
        ("rate(2160 hours)", 90),
        ("rate(2161 hours)", 91),
        ("rate(90 minutes)", 1),
        ("cron(0 4 1 * ? *)", 31),  # monthly: January to February
        ("cron(0 4 1 1/6 ? *)", 184),  # every six months: July to January
        ("cron(0 0 1 FEB,AUG ? *)", 184),
        ("cron(0 4 1 1 ? 2027/2)", 731),  # every two years
        ("cron(0 0 29 2 ? *)", 1461),  # leap days only
        ("cron(0 0 ? * MON-FRI *)", 3),  # Friday to Monday
        ("cron(0 0 ? * FRI-MON *)", 4),  # a range that wraps: Monday to Friday
        ("cron(0 0 ? * 6L *)", 35),  # the month's last Friday
        ("cron(0 0 ? * 2#1 *)", 35),  # the first Monday
        ("cron(0 0 L * ? *)", 31),
        ("cron(0 0 LW * ? *)", 33),
        ("cron(0 0 15W * ? *)", 32),
        ("cron(0 */6 * * ? *)", 1),
        ("cron(0 0 1,15 * ? *)", 17),
        ("cron(0 0 1 1-3 ? *)", 306),  # January to March, then the next January
    ],
)
def test_period_is_the_longest_interval(expression: str, days: int) -> None:
    assert schedule_period(expression) == SchedulePeriod(expression, days)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("rate(2 weeks)", "unknown unit 'weeks'"),
        ("rate(0 days)", "never fires"),
        ("cron(0 0 30 2 ? *)", "never fires"),
        ("cron(0 4 1 1 ? 2030)", "fires on one day only (2030-01-01)"),
        ("cron(0 4 1 * ?)", "has 5 fields"),
        ("cron(0 4 1 * 2 *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 4 1 * ? * *)", "has 7 fields"),
        ("cron(61 4 1 * ? *)", "minutes value '61' is outside 0-59"),
        ("cron(0 4 1 XYZ ? *)", "month value 'XYZ' is not a number"),
        ("cron(0 4 1/0 * ? *)", "day-of-month step '0'"),
        ("every month", "neither rate(N unit) nor cron(six fields)"),
    ],
)
def test_a_schedule_without_a_period_names_the_value(expression: str, words: str) -> None:
    found = schedule_period(expression)
    assert isinstance(found, ScheduleProblem)
    assert expression in found.text
    assert words in found.text
