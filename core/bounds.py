"""The dates the clinic can hold at all (clinical-rules.md 8).

Every date a person types is refused outside these bounds, and the database
checks them too: a year-10000 date cannot be read back by psycopg and would
take every page that lists it down. Computed dates (a refill deadline, a
battery window) stop at the last day as well.
"""

from datetime import date

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
