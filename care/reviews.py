"""When a physician must review a pump (clinical-rules.md section 7).

Pure functions of dates: no ORM, no clock. The first review falls 2 to 6
weeks after the implant; after that a physician reviews the patient yearly,
on the anniversary of the last review done (or of the implant if none was
done), and it is overdue four weeks after that. The review queue filters in
SQL with the ``*_cutoff`` functions, which invert these rules;
a test checks that both agree day by day.
"""

from __future__ import annotations

from datetime import date, timedelta

from care.choices import ReviewStatus
from pumps.schedule import add_years

FIRST_REVIEW_OPENS_DAYS = 14  # 2 weeks after the implant
FIRST_REVIEW_CLOSES_DAYS = 42  # 6 weeks after the implant
# Days after the anniversary that a yearly review is still only due (see
# yearly_review_overdue_from): the anniversary plus 28 days is the last.
YEARLY_REVIEW_GRACE_DAYS = 28


def first_review_window(implant_date: date) -> tuple[date, date]:
    """(first day, last day) of the first review, both inclusive."""
    return (
        implant_date + timedelta(days=FIRST_REVIEW_OPENS_DAYS),
        implant_date + timedelta(days=FIRST_REVIEW_CLOSES_DAYS),
    )


def first_review_status(*, implant_date: date, today: date, done: bool) -> ReviewStatus:
    """Not due before day 14 or once done; due from day 14 to day 42; overdue after."""
    opens, closes = first_review_window(implant_date)
    if done or today < opens:
        return ReviewStatus.NOT_DUE
    if today <= closes:
        return ReviewStatus.DUE
    return ReviewStatus.OVERDUE


def yearly_review_due(*, implant_date: date, last_review: date | None) -> date:
    """The anniversary of the last review done, or of the implant if none was."""
    return add_years(last_review or implant_date, 1)


def yearly_review_overdue_from(*, implant_date: date, last_review: date | None) -> date:
    """The first day the yearly review counts as overdue.

    Section 7 says "yearly" and no more. The clinic gives the yearly review the
    same four weeks to be held that the first review's window gives (day 14 to
    day 42): due from the anniversary, overdue from 28 days after it.
    """
    due = yearly_review_due(implant_date=implant_date, last_review=last_review)
    return due + timedelta(days=YEARLY_REVIEW_GRACE_DAYS + 1)


def yearly_review_status(
    *, implant_date: date, last_review: date | None, today: date
) -> ReviewStatus:
    """Not due before the anniversary; due from it for four weeks; overdue after."""
    due = yearly_review_due(implant_date=implant_date, last_review=last_review)
    if today < due:
        return ReviewStatus.NOT_DUE
    if today < yearly_review_overdue_from(implant_date=implant_date, last_review=last_review):
        return ReviewStatus.DUE
    return ReviewStatus.OVERDUE


def first_review_opened_cutoff(today: date) -> date:
    """The latest implant date whose first review window has opened by ``today``."""
    return today - timedelta(days=FIRST_REVIEW_OPENS_DAYS)


def yearly_review_cutoff(today: date) -> date:
    """The latest review (or implant) date whose anniversary falls on or before ``today``.

    Not simply ``today`` minus a year: 29 February's anniversary is 28 February
    in a common year, so on 28 February 2025 a review of 29 February 2024 is due.
    """
    cutoff = add_years(today, -1)
    day_after = cutoff + timedelta(days=1)
    if add_years(day_after, 1) <= today:
        return day_after
    return cutoff
