"""The review date rules of clinical-rules.md section 7, at their exact boundaries."""

from datetime import date, timedelta

import pytest

from care.choices import ReviewStatus
from care.reviews import (
    first_review_opened_cutoff,
    first_review_status,
    first_review_window,
    yearly_review_cutoff,
    yearly_review_due,
    yearly_review_overdue_from,
    yearly_review_status,
)
from pumps.schedule import add_years

IMPLANT = date(2026, 1, 10)


def day(n: int) -> date:
    return IMPLANT + timedelta(days=n)


def test_the_first_review_window_runs_from_day_14_to_day_42():
    assert first_review_window(IMPLANT) == (day(14), day(42))


@pytest.mark.parametrize(
    ("days_after_implant", "expected"),
    [
        (0, ReviewStatus.NOT_DUE),
        (13, ReviewStatus.NOT_DUE),
        (14, ReviewStatus.DUE),
        (42, ReviewStatus.DUE),
        (43, ReviewStatus.OVERDUE),
    ],
)
def test_first_review_status_by_day_after_implant(days_after_implant, expected):
    status = first_review_status(implant_date=IMPLANT, today=day(days_after_implant), done=False)
    assert status == expected


@pytest.mark.parametrize("days_after_implant", [14, 42, 43, 200])
def test_a_done_first_review_is_never_due(days_after_implant):
    status = first_review_status(implant_date=IMPLANT, today=day(days_after_implant), done=True)
    assert status == ReviewStatus.NOT_DUE


def test_the_yearly_review_falls_on_the_anniversary_of_the_implant_without_a_review():
    assert yearly_review_due(implant_date=IMPLANT, last_review=None) == date(2027, 1, 10)


def test_the_yearly_review_falls_on_the_anniversary_of_the_last_review():
    last = date(2026, 2, 3)
    assert yearly_review_due(implant_date=IMPLANT, last_review=last) == date(2027, 2, 3)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2027, 2, 2), ReviewStatus.NOT_DUE),
        (date(2027, 2, 3), ReviewStatus.DUE),
        (date(2027, 2, 4), ReviewStatus.DUE),
        (date(2027, 3, 3), ReviewStatus.DUE),  # the anniversary + 28 days: the last day due
        (date(2027, 3, 4), ReviewStatus.OVERDUE),  # + 29 days
        (date(2029, 1, 1), ReviewStatus.OVERDUE),
    ],
)
def test_yearly_review_status_around_the_anniversary(today, expected):
    status = yearly_review_status(implant_date=IMPLANT, last_review=date(2026, 2, 3), today=today)
    assert status == expected


def test_a_review_on_29_february_is_due_on_28_february_of_a_common_year():
    assert yearly_review_due(implant_date=IMPLANT, last_review=date(2028, 2, 29)) == date(
        2029, 2, 28
    )


def test_the_first_review_cutoff_is_the_implant_of_day_14():
    today = date(2026, 5, 1)
    cutoff = first_review_opened_cutoff(today)
    assert first_review_window(cutoff)[0] == today
    assert first_review_window(cutoff + timedelta(days=1))[0] > today


def test_the_sql_cutoff_agrees_with_the_rule_on_every_day_of_four_years():
    """yearly_review_cutoff(today) is the latest review date already due on ``today``."""
    start = date(2027, 1, 1)
    for offset in range(4 * 366):
        today = start + timedelta(days=offset)
        cutoff = yearly_review_cutoff(today)
        assert add_years(cutoff, 1) <= today, today
        # The day after the cutoff is not due yet (nor is any later day).
        assert add_years(cutoff + timedelta(days=1), 1) > today, today


def test_the_sql_cutoff_on_28_february_after_a_leap_day():
    assert yearly_review_cutoff(date(2029, 2, 28)) == date(2028, 2, 29)
    assert yearly_review_cutoff(date(2028, 2, 28)) == date(2027, 2, 28)
    assert yearly_review_cutoff(date(2028, 2, 29)) == date(2027, 2, 28)


def test_the_yearly_review_is_overdue_from_29_days_after_its_anniversary():
    assert yearly_review_overdue_from(implant_date=IMPLANT, last_review=None) == date(2027, 2, 8)
    assert yearly_review_overdue_from(implant_date=IMPLANT, last_review=date(2028, 2, 29)) == date(
        2029, 2, 28
    ) + timedelta(days=29)
