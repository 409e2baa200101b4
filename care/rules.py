"""Trial outcome rules (clinical-rules.md section 6). Pure: no ORM, no clock."""

from __future__ import annotations

from fractions import Fraction

from care.choices import TrialOutcome, TrialScale

# Modified Ashworth grades as entered; 1+ counts as 1.5 (section 6).
ASHWORTH_GRADES: dict[str, Fraction] = {
    "0": Fraction(0),
    "1": Fraction(1),
    "1+": Fraction(3, 2),
    "2": Fraction(2),
    "3": Fraction(3),
    "4": Fraction(4),
}
PAIN_SUCCESS_FALL = Fraction(1, 2)  # at least 50 %
ASHWORTH_SUCCESS_FALL = Fraction(2)  # at least 2 points


class ScoreError(ValueError):
    """A score that is not valid on its scale."""


def pain_score(raw: str) -> Fraction:
    """An NRS pain score, a whole number from 0 to 10."""
    text = str(raw).strip()
    if not text.isdigit() or not 0 <= int(text) <= 10:
        raise ScoreError(f"pain score must be a whole number from 0 to 10, not {raw!r}")
    return Fraction(int(text))


def ashworth_score(raw: str) -> Fraction:
    """A Modified Ashworth grade (0, 1, 1+, 2, 3, 4) as a number."""
    try:
        return ASHWORTH_GRADES[str(raw).strip()]
    except KeyError:
        raise ScoreError(f"Ashworth grade must be one of 0, 1, 1+, 2, 3, 4, not {raw!r}") from None


def trial_outcome(*, scale: str, before: str, after: str) -> TrialOutcome:
    """Success when pain falls by >= 50 % or Ashworth by >= 2 points."""
    if scale == TrialScale.PAIN_NRS:
        start, end = pain_score(before), pain_score(after)
        # A patient with no pain before the trial cannot show a 50 % fall.
        success = start > 0 and (start - end) / start >= PAIN_SUCCESS_FALL
    elif scale == TrialScale.ASHWORTH:
        success = ashworth_score(before) - ashworth_score(after) >= ASHWORTH_SUCCESS_FALL
    else:
        raise ScoreError(f"unknown scale {scale!r}")
    return TrialOutcome.SUCCESS if success else TrialOutcome.FAILURE
