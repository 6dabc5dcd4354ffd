"""The outcomes report's terms: which period it covers, what its words mean, and the names of
its groups. Pure: the handler gathers the facts, `domain.outcomes` counts them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from wbl_registry.domain import (
    DIMENSIONS,
    SPECIAL_POPULATIONS,
    DomainError,
    OutcomeRow,
    Suppression,
)
from wbl_schemas.reference import ReferenceData

# Massachusetts reports by school year, 1 July to 30 June (DESE's reporting year).
SCHOOL_YEAR_START_MONTH = 7
# A report spans at most this many days (ten school years): bounds the work and the answer.
MAX_PERIOD_DAYS = 3660

DIMENSION_NAMES = {
    "program": "Program",
    "career_field": "Career field (first choice)",
    "school": "School",
    "special_population": "Special population",
}
assert tuple(DIMENSION_NAMES) == DIMENSIONS

SPECIAL_POPULATION_NAMES = {
    "economically-disadvantaged": "Economically disadvantaged",
    "students-with-disabilities": "Students with disabilities",
    "english-learners": "English learners",
    "high-needs": "High needs",
    "first-generation": "First-generation college-goers",
}
assert set(SPECIAL_POPULATION_NAMES) == set(SPECIAL_POPULATIONS)


@dataclass(frozen=True)
class ReportPeriod:
    """Both days included. A student falls in it when their availability for a placement
    (available_from to available_to) overlaps it."""

    start: date
    end: date
    school_year: str | None = None  # "2026-27" when the period is one

    def holds(self, available_from: date | None, available_to: date | None) -> bool:
        if available_from is None or available_to is None:
            return True  # stored before availability was kept for reports: never lost
        return available_from <= self.end and available_to >= self.start


def school_year(first_year: int, start_month: int = SCHOOL_YEAR_START_MONTH) -> ReportPeriod:
    start = date(first_year, start_month, 1)
    end = date(first_year + 1, start_month, 1) - timedelta(days=1)
    if start_month == 1:  # a calendar school year is named by its one year
        return ReportPeriod(start, end, f"{first_year}")
    return ReportPeriod(start, end, f"{first_year}-{(first_year + 1) % 100:02d}")


def school_year_of(day: date, start_month: int = SCHOOL_YEAR_START_MONTH) -> ReportPeriod:
    return school_year(day.year if day.month >= start_month else day.year - 1, start_month)


def parse_school_year(text: str, start_month: int = SCHOOL_YEAR_START_MONTH) -> ReportPeriod:
    """ "2026-27": the school year that starts in 2026."""
    first, _, second = text.partition("-")
    if not (first.isdigit() and len(first) == 4 and second.isdigit() and len(second) == 2):
        raise DomainError(f"write the school year as 2026-27, not {text!r}", "query.school_year")
    if (int(first) + 1) % 100 != int(second):
        raise DomainError(
            f"{text} is not a school year: the second year follows the first (e.g. 2026-27)",
            "query.school_year",
        )
    return school_year(int(first), start_month)


def choose_period(
    start: date | None,
    end: date | None,
    year: str | None,
    today: date,
    start_month: int = SCHOOL_YEAR_START_MONTH,
) -> ReportPeriod:
    """`from` and `to`, or a school year, or else the school year `today` is in."""
    if year is not None:
        if start is not None or end is not None:
            raise DomainError(
                "give either a school year or from and to dates, not both", "query.school_year"
            )
        return parse_school_year(year, start_month)
    if start is None and end is None:
        return school_year_of(today, start_month)
    if start is None or end is None:
        missing = "query.from" if start is None else "query.to"
        raise DomainError("give both from and to dates (or a school year)", missing)
    if end < start:
        raise DomainError(f"the period ends ({end}) before it starts ({start})", "query.to")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise DomainError(
            f"a report covers at most {MAX_PERIOD_DAYS} days (ten school years)", "query.to"
        )
    return ReportPeriod(start, end)


def group_names(reference: ReferenceData) -> dict[tuple[str, str], str]:
    """(dimension, code) → the name people use; a code missing here is shown as itself."""
    names = {("program", e.code): e.name for e in reference.programs}
    names.update({("career_field", e.code): e.name for e in reference.career_fields})
    names.update({("school", e.code): e.name for e in reference.schools})
    names.update({("special_population", c): n for c, n in SPECIAL_POPULATION_NAMES.items()})
    return names


def every_group(
    reference: ReferenceData, school_ids: tuple[str, ...] | None
) -> dict[str, tuple[str, ...]]:
    """The groups a report lists even when empty: every program, career field and special
    population; every school of the reference data (statewide) or the caller's schools."""
    schools = tuple(e.code for e in reference.schools) if school_ids is None else school_ids
    return {
        "program": tuple(e.code for e in reference.programs),
        "career_field": tuple(e.code for e in reference.career_fields),
        "school": schools,
        "special_population": SPECIAL_POPULATIONS,
    }


@dataclass(frozen=True)
class OutcomesReport:
    rows: list[OutcomeRow]
    period: ReportPeriod
    as_of: datetime
    names: dict[tuple[str, str], str]
    min_group: int | None  # groups below it are withheld; None: exact figures
    wbl_hours_threshold: int = 54  # Perkins 5S3: verified hours that count as taking part

    def name_of(self, row: OutcomeRow) -> str:
        return self.names.get((row.dimension, row.group), row.group)

    def csv_filename(self) -> str:
        return (
            f"wbl-outcomes-{self.period.start.isoformat()}-{self.period.end.isoformat()}"
            f"-asof-{self.as_of.date().isoformat()}.csv"
        )


def suppression_reason(row: OutcomeRow, min_group: int | None) -> str | None:
    if not row.suppressed:
        return None
    if row.suppression == Suppression.COMPLEMENT:
        return "not shown, so that a smaller group's figures cannot be worked out from the total"
    return f"fewer than {min_group} students: not shown, so no one can be singled out"


def definitions(
    min_group: int, start_month: int = SCHOOL_YEAR_START_MONTH, threshold: int = 54
) -> dict[str, str]:
    """What the report's words mean, in the words a coordinator reads them in."""
    first = date(2000, start_month, 1).strftime("%-d %B")
    return {
        "students": "Students registered at the school and not withdrawn whose availability "
        "for a placement (available from / to) overlaps the period.",
        "placed": "The student has a confirmed placement: the coordinator confirmed an offer "
        "(as of the as-of time).",
        "pending": "The student has an offer awaiting the coordinator's decision: proposed, "
        "not yet confirmed or declined, and not expired.",
        "not_placed": "Neither placed nor awaiting a decision: no offer yet, or the offers "
        "were declined, expired or withdrawn.",
        "placement_rate": "Placed students divided by students, as a percentage (0% when a "
        "group has none).",
        "period": f"A school year runs from {first} to the day before {first} the next year; "
        "or the from and to dates asked for, both included. Without either: the current "
        "school year.",
        "as_of": "When the figures were counted: a placement or decision after it is not in them.",
        "career_field": "A student counts under their first-choice career field.",
        "special_population": "A student counts in each special population recorded for them "
        "(so these groups overlap).",
        "suppressed": f"In reports for sharing (statewide, always), a group of fewer than "
        f"{min_group} students is not shown, and with it the next smallest group of the same "
        "kind, so that neither can be worked out from the total. A group of 0 students is "
        "shown.",
        "hours_verified": "Hours the employer's supervisor verified, week by week, over the "
        "group's placements (a week corrected after it was verified counts again once "
        "verified again).",
        "completed": "Placements completed: their planned hours verified and the final "
        "evaluation in. A placement closed early is not completed.",
        "completion_rate": "Completed placements divided by placed students, as a percentage.",
        "cte_concentrators": "Students in a CTE program: Chapter 74 or Career Connections (the "
        "programs Perkins V counts).",
        "wbl_participants": f"CTE students whose supervisor verified at least {threshold} "
        "hours of work-based learning (the state sets the hours).",
        "five_s3": "Perkins V indicator 5S3: work-based learning participants divided by CTE "
        "concentrators, as a percentage (0% when a group has none).",
    }
