"""Hours logged on a placement, checked against the placement's dates and the working-hours
limits for minors (reference data: `minor-hours.json`, which ops may edit as the state's rules
change). Pure: the caller passes the week's other entries, the student's date of birth and
the school calendar."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from wbl_schemas.reference import BUNDLED_DIR

QUARTER_HOUR = Decimal("0.25")
MOST_IN_A_DAY = Decimal(24)


@dataclass(frozen=True)
class HoursLimit:
    """One age band's limits. `school_*` apply on school days and in school weeks (a week
    with a school day in it); the others when school is not in session."""

    youngest: int
    oldest: int
    name: str
    day_hours: Decimal
    week_hours: Decimal
    days_per_week: int | None = None
    school_day_hours: Decimal | None = None
    school_week_hours: Decimal | None = None

    def covers(self, age: int) -> bool:
        return self.youngest <= age <= self.oldest


@dataclass(frozen=True)
class SchoolCalendar:
    """When school is in session: weekdays within a term, except the days it is closed."""

    terms: tuple[tuple[date, date], ...]
    closed: frozenset[date] = frozenset()

    def is_school_day(self, day: date) -> bool:
        in_term = any(first <= day <= last for first, last in self.terms)
        return in_term and day.weekday() < 5 and day not in self.closed


@dataclass(frozen=True)
class Placement:
    """What the rules need to know about the placement and its student."""

    starts_on: date
    ends_on: date
    born_on: date


@dataclass(frozen=True)
class Refusal:
    rule: str  # stable, for programs: "quarter-hours", "minor-daily-limit", ...
    message: str  # plain words for whoever logged the hours, naming the rule


def load_hours_limits(directory: Path | None = None) -> tuple[HoursLimit, ...]:
    root = directory or Path(os.environ.get("WBL_REFERENCE_DIR") or BUNDLED_DIR)
    path = root / "minor-hours.json"
    if not path.exists():  # an edited copy made before the limits were data: the bundled ones
        path = BUNDLED_DIR / "minor-hours.json"
    try:
        return tuple(_limit(row) for row in json.loads(path.read_text()))
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise ValueError(f"{path}: not a list of hours limits ({error})") from error


def _limit(row: dict[str, object]) -> HoursLimit:
    def hours(key: str) -> Decimal | None:
        value = row.get(key)
        return None if value is None else Decimal(str(value))

    youngest, oldest = (int(str(a)) for a in row["ages"])  # type: ignore[attr-defined]
    day, week = hours("day_hours"), hours("week_hours")
    if day is None or week is None:
        raise ValueError("day_hours and week_hours are required")
    days = row.get("days_per_week")
    return HoursLimit(
        youngest=youngest,
        oldest=oldest,
        name=str(row["name"]),
        day_hours=day,
        week_hours=week,
        days_per_week=None if days is None else int(str(days)),
        school_day_hours=hours("school_day_hours"),
        school_week_hours=hours("school_week_hours"),
    )


def age_on(born_on: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (born_on.month, born_on.day)
    return day.year - born_on.year - before_birthday


def week_of(day: date) -> tuple[date, date]:
    """Monday to Sunday: the week the limits count over."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def refusals(
    day: date,
    hours: Decimal,
    placement: Placement,
    *,
    today: date,
    week: Mapping[date, Decimal],
    calendar: SchoolCalendar,
    limits: Sequence[HoursLimit],
) -> list[Refusal]:
    """Every reason the entry cannot be kept (empty: it can). `week` holds the hours already
    logged on the other days of `day`'s week; a correction leaves out the day it replaces."""
    found = _shape(day, hours, placement, today)
    if found:
        return found
    limit = next((lim for lim in limits if lim.covers(age_on(placement.born_on, day))), None)
    if limit is None:
        return []
    others = {d: h for d, h in week.items() if d != day and week_of(d) == week_of(day) and h}
    return _over_limits(day, hours, others, calendar, limit)


def _shape(day: date, hours: Decimal, placement: Placement, today: date) -> list[Refusal]:
    found = []
    if not (0 < hours <= MOST_IN_A_DAY) or hours % QUARTER_HOUR:
        found.append(
            Refusal("quarter-hours", "Log hours in quarter hours, more than 0 and at most 24.")
        )
    if not placement.starts_on <= day <= placement.ends_on:
        found.append(
            Refusal(
                "outside-placement",
                f"{day:%a %d %b %Y} is outside the placement, which runs from "
                f"{placement.starts_on:%d %b %Y} to {placement.ends_on:%d %b %Y}.",
            )
        )
    if day > today:
        found.append(Refusal("future-day", "Hours can be logged only once the day has come."))
    return found


def _over_limits(
    day: date,
    hours: Decimal,
    others: Mapping[date, Decimal],
    calendar: SchoolCalendar,
    limit: HoursLimit,
) -> list[Refusal]:
    monday, sunday = week_of(day)
    school_week = any(
        calendar.is_school_day(monday + timedelta(days=i))
        for i in range((sunday - monday).days + 1)
    )
    day_most, when = limit.day_hours, "a day"
    if calendar.is_school_day(day) and limit.school_day_hours is not None:
        day_most, when = limit.school_day_hours, "on a school day"
    week_most, which = limit.week_hours, "a week"
    if school_week and limit.school_week_hours is not None:
        week_most, which = limit.school_week_hours, "in a school week"
    week_total = hours + sum(others.values(), Decimal(0))
    found = []
    if hours > day_most:
        found.append(
            Refusal(
                "minor-daily-limit",
                f"Over the limit for {limit.name}: at most {_h(day_most)} {when}; "
                f"this entry is {_h(hours)}.",
            )
        )
    if week_total > week_most:
        found.append(
            Refusal(
                "minor-weekly-limit",
                f"Over the limit for {limit.name}: at most {_h(week_most)} {which}; "
                f"the week of {monday:%d %b} would have {_h(week_total)}.",
            )
        )
    if limit.days_per_week is not None and len(others) + 1 > limit.days_per_week:
        found.append(
            Refusal(
                "minor-days-limit",
                f"Over the limit for {limit.name}: at most {limit.days_per_week} days of work "
                f"a week; the week of {monday:%d %b} would have {len(others) + 1}.",
            )
        )
    return found


def _h(hours: Decimal) -> str:
    text = f"{hours.normalize():f}"
    return f"{text} hour" if hours == 1 else f"{text} hours"
