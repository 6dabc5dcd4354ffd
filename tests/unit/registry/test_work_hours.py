"""The minors' working-hours rules and the placement's dates, checked on each logged day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wbl_registry.work_hours import (
    HoursLimit,
    Placement,
    SchoolCalendar,
    age_on,
    load_hours_limits,
    refusals,
    week_of,
)

LIMITS = load_hours_limits()
TERM = SchoolCalendar(terms=((date(2026, 9, 1), date(2027, 6, 20)),))
# Turns 16 on 1 July 2027, 18 on 1 July 2029.
PLACEMENT = Placement(
    starts_on=date(2027, 1, 4), ends_on=date(2027, 8, 27), born_on=date(2011, 7, 1)
)
TODAY = date(2027, 12, 31)


def rules(day: date, hours: str, week: dict[date, str] | None = None, **kw: object) -> list[str]:
    found = refusals(
        day,
        Decimal(hours),
        kw.get("placement", PLACEMENT),  # type: ignore[arg-type]
        today=kw.get("today", TODAY),  # type: ignore[arg-type]
        week={d: Decimal(h) for d, h in (week or {}).items()},
        calendar=kw.get("calendar", TERM),  # type: ignore[arg-type]
        limits=LIMITS,
    )
    return [r.rule for r in found]


def test_the_bundled_limits_are_those_of_the_reference() -> None:
    by_age = {lim.youngest: lim for lim in LIMITS}
    assert (by_age[16].day_hours, by_age[16].week_hours, by_age[16].days_per_week) == (
        D(9),
        D(48),
        6,
    )
    assert (by_age[14].school_day_hours, by_age[14].school_week_hours) == (D(3), D(18))
    assert (by_age[14].day_hours, by_age[14].week_hours) == (D(8), D(40))


def test_age_counts_whole_years_to_the_day() -> None:
    assert age_on(date(2011, 7, 1), date(2027, 6, 30)) == 15
    assert age_on(date(2011, 7, 1), date(2027, 7, 1)) == 16
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17


def test_a_fifteen_year_old_on_a_school_day_works_three_hours_at_most() -> None:
    monday = date(2027, 3, 1)
    assert rules(monday, "3") == []
    assert rules(monday, "3.25") == ["minor-daily-limit"]


def test_the_school_week_caps_a_fifteen_year_old_at_eighteen_hours() -> None:
    monday = date(2027, 3, 1)
    week = {monday + timedelta(days=i): "3" for i in range(5)}  # 15 hours, Mon-Fri
    saturday = monday + timedelta(days=5)
    assert rules(saturday, "3", week) == []  # a Saturday in a school week: 8 a day, 18 a week
    assert rules(saturday, "3.5", week) == ["minor-weekly-limit"]


def test_out_of_session_a_fifteen_year_old_works_eight_a_day_and_forty_a_week() -> None:
    monday = date(2027, 6, 28)  # after the term: no school day this week
    placement = Placement(date(2027, 6, 1), date(2027, 8, 27), date(2011, 7, 5))  # 15 till 5 Jul
    assert rules(monday, "8", placement=placement) == []
    assert rules(monday, "8.5", placement=placement) == ["minor-daily-limit"]
    week = {monday + timedelta(days=i): "8" for i in range(1, 5)}  # 32 hours Tue-Fri
    assert rules(monday, "8", week, placement=placement) == []
    assert rules(monday, "8.25", week, placement=placement) == [
        "minor-daily-limit",
        "minor-weekly-limit",
    ]


def test_a_sixteen_year_old_works_six_days_a_week_at_most() -> None:
    monday = date(2027, 7, 5)  # she is 16, school is out
    week = {monday + timedelta(days=i): "8" for i in range(5)}
    assert rules(monday + timedelta(days=5), "8", week) == []  # 48 hours, 6 days
    six = {**week, monday + timedelta(days=5): "8"}  # 48 hours already
    assert rules(monday + timedelta(days=6), "1", six) == ["minor-weekly-limit", "minor-days-limit"]


def test_a_correction_replaces_the_day_it_corrects() -> None:
    monday = date(2027, 7, 5)
    week = {monday + timedelta(days=i): "9" for i in range(5)}  # 45 hours
    assert rules(monday, "8", week) == []  # Monday's 9 is corrected to 8, not added to it


def test_days_outside_the_placement_or_still_to_come_are_refused() -> None:
    assert rules(date(2027, 1, 3), "2") == ["outside-placement"]
    assert rules(date(2027, 8, 28), "2") == ["outside-placement"]
    assert rules(date(2027, 3, 1), "2", today=date(2027, 2, 28)) == ["future-day"]


def test_hours_go_in_quarter_hours_up_to_a_day() -> None:
    for bad in ("0", "-1", "0.1", "24.25"):
        assert rules(date(2027, 3, 1), bad) == ["quarter-hours"]


def test_adults_have_no_minors_limit() -> None:
    adult = Placement(date(2027, 1, 4), date(2027, 8, 27), date(2000, 1, 1))
    week = {date(2027, 3, 1) + timedelta(days=i): "12" for i in range(6)}
    assert rules(date(2027, 3, 7), "12", week, placement=adult) == []


def test_the_message_names_the_rule_and_the_figures() -> None:
    (refusal,) = refusals(
        date(2027, 3, 1),
        Decimal("4"),
        PLACEMENT,
        today=TODAY,
        week={},
        calendar=TERM,
        limits=LIMITS,
    )
    assert refusal.message == (
        "Over the limit for Ages 14-15 (Massachusetts): at most 3 hours on a school day; "
        "this entry is 4 hours."
    )


def test_an_edited_limits_file_is_read_and_a_broken_one_named(tmp_path: Path) -> None:
    (tmp_path / "minor-hours.json").write_text(
        '[{"ages": [16, 17], "name": "16-17", "day_hours": 8, "week_hours": 40}]'
    )
    (only,) = load_hours_limits(tmp_path)
    assert (only.day_hours, only.days_per_week) == (D(8), None)
    (tmp_path / "minor-hours.json").write_text('[{"ages": [16, 17], "name": "x"}]')
    with pytest.raises(ValueError, match=r"minor-hours\.json"):
        load_hours_limits(tmp_path)


@given(
    st.dates(date(2027, 1, 4), date(2027, 8, 27)),
    st.lists(st.integers(0, 36), min_size=7, max_size=7),  # quarter hours per day of the week
)
def test_no_week_of_kept_entries_breaks_a_limit(day: date, quarters: list[int]) -> None:
    """Log a week day by day, keeping only what is allowed: the kept week is within every
    limit that applies to the student on each day."""
    monday, _ = week_of(day)
    kept: dict[date, Decimal] = {}
    for i, q in enumerate(quarters):
        d = monday + timedelta(days=i)
        hours = Decimal(q) / 4
        if q and not refusals(
            d, hours, PLACEMENT, today=TODAY, week=kept, calendar=TERM, limits=LIMITS
        ):
            kept[d] = hours
    for d, hours in kept.items():
        limit = limit_on(d)
        school_day = TERM.is_school_day(d) and limit.school_day_hours is not None
        assert hours <= (limit.school_day_hours if school_day else limit.day_hours)  # type: ignore[operator]
    if kept:
        limit = limit_on(max(kept))  # the week only grows: the last day's limits bound it
        school_week = any(TERM.is_school_day(monday + timedelta(days=i)) for i in range(7))
        week_most = limit.week_hours
        if school_week and limit.school_week_hours is not None:
            week_most = limit.school_week_hours
        assert sum(kept.values(), Decimal(0)) <= week_most
        assert limit.days_per_week is None or len(kept) <= limit.days_per_week


def limit_on(day: date) -> HoursLimit:
    return next(lim for lim in LIMITS if lim.covers(age_on(PLACEMENT.born_on, day)))
