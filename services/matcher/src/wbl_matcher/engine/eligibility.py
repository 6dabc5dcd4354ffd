"""Hard constraints: may this student be placed in this opening at all?

A pair is eligible when all hold (DESIGN.md, "Matching", step 1):

- career field: the opening's field is one of the student's career fields, or a
  field declared related to one of them in ``related_fields``;
- age at start >= the opening's minimum age (18 for hazardous work);
- the student holds every required credential;
- the student speaks every language the opening requires (a bilingual role; the only
  way a language enters matching);
- grade >= the opening's minimum grade;
- the availability windows overlap;
- hours per week <= the student's hours and <= the legal weekly limit for the age
  (Massachusetts: 14-15: 18 h, the school-week limit, taken as the conservative
  one; 16-17: 48 h; 18 and over: no cap; under 14: may not work);
- home-to-opening great-circle distance <= the student's commute limit, unless the
  opening is remote.

:func:`check_pair` explains one pair in words; :class:`EligibilityIndex` finds all
eligible openings of a student quickly (openings bucketed by field and by a
latitude/longitude grid, so only openings within reach are examined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import asin, cos, floor, radians, sin, sqrt

from .profiles import OpeningProfile, StudentProfile

__all__ = [
    "Check",
    "EligibilityIndex",
    "check_pair",
    "failed_reasons",
    "field_interest",
    "format_km",
    "haversine_km",
    "legal_weekly_hours",
    "ordinal",
]

EARTH_RADIUS_KM = 6371.0088
_CELL_DEG = 0.25  # grid cell size in degrees (about 28 km north-south)
_KM_PER_DEG_LAT = 111.195
_MAX_CELLS = 400


def legal_weekly_hours(age: int) -> float | None:
    """The most hours a week a student of ``age`` may work; ``None`` means no cap.

    Massachusetts rules (REFERENCE.md): 14-15 year olds 18 hours in a school week
    (the conservative limit; 40 when school is out is not used), 16-17 year olds
    48 hours, 18 and over no cap. Under 14: 0 (no work permit).
    """
    if age >= 18:
        return None
    if age >= 16:
        return 48.0
    if age >= 14:
        return 18.0
    return 0.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = radians(lat1), radians(lat2)
    dlon = radians(lon2) - radians(lon1)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))


def format_km(km: float) -> str:
    """The one way a distance is written: a decimal below 10 km, whole km from there
    ("0.6 km", "42 km"), so a summary and its detail never disagree."""
    return f"{km:.1f} km" if km < 9.95 else f"{km:.0f} km"


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def field_interest(
    student: StudentProfile, career_field: str, related_fields: Mapping[str, frozenset[str]]
) -> tuple[int, str | None] | None:
    """How much ``student`` wants ``career_field``, or ``None`` if not at all.

    Returns (interest rank, via): rank ``i`` for the student's own ``i``-th field
    (0-based, ``via`` None); ``len(career_fields) + i`` when the field is declared
    related to the student's ``i``-th field (``via`` names that field).
    """
    fields = student.career_fields
    for i, own in enumerate(fields):
        if own == career_field:
            return i, None
    for i, own in enumerate(fields):
        if career_field in related_fields.get(own, ()):
            return len(fields) + i, own
    return None


@dataclass(frozen=True, slots=True)
class Check:
    """One hard constraint for one pair: its name, whether it held, and why in words."""

    name: str
    held: bool
    text: str


def _hours(h: float) -> str:
    return f"{h:g}"


def _field_check(
    opening: OpeningProfile,
    student: StudentProfile,
    related_fields: Mapping[str, frozenset[str]],
) -> Check:
    interest = field_interest(student, opening.career_field, related_fields)
    if interest is None:
        return Check(
            "career_field",
            False,
            f"{opening.career_field} is not one of the student's career fields",
        )
    rank, via = interest
    if via is None:
        return Check(
            "career_field",
            True,
            f"{opening.career_field} is the student's {ordinal(rank + 1)} career field",
        )
    own_rank = student.career_fields.index(via) + 1
    return Check(
        "career_field",
        True,
        f"{opening.career_field} is related to {via}, "
        f"the student's {ordinal(own_rank)} career field",
    )


def _age_check(opening: OpeningProfile, student: StudentProfile) -> Check:
    min_age = opening.effective_min_age
    # The texts name the opening's minimum, never the student's age: they leave the inbox.
    if student.age >= min_age:
        return Check("age", True, f"meets the minimum age {min_age} at the start")
    if opening.hazardous and student.age < 18 <= min_age:
        return Check(
            "age", False, "hazardous work needs age 18 at the start; the student will be younger"
        )
    return Check("age", False, f"minimum age is {min_age}; the student will be younger")


def _credentials_check(opening: OpeningProfile, student: StudentProfile) -> Check:
    missing = sorted(opening.required_credentials - student.credentials)
    if missing:
        noun = "credential" if len(missing) == 1 else "credentials"
        return Check("credentials", False, f"needs {' and '.join(missing)} {noun}")
    if opening.required_credentials:
        held = ", ".join(sorted(opening.required_credentials))
        return Check("credentials", True, f"holds the required credentials: {held}")
    return Check("credentials", True, "no credential required")


def _languages_check(opening: OpeningProfile, student: StudentProfile) -> Check:
    missing = sorted(opening.required_languages - student.languages)
    if missing:
        return Check("languages", False, f"needs a speaker of {' and '.join(missing)}")
    if opening.required_languages:
        # Not which ones: the texts leave the inbox, and say nothing of what a student speaks.
        noun = "language" if len(opening.required_languages) == 1 else "languages"
        return Check("languages", True, f"speaks the {noun} the opening requires")
    return Check("languages", True, "")  # not shown: the opening requires none


def _grade_check(opening: OpeningProfile, student: StudentProfile) -> Check:
    if student.grade >= opening.min_grade:
        return Check(
            "grade", True, f"grade {student.grade} meets the minimum grade {opening.min_grade}"
        )
    return Check(
        "grade",
        False,
        f"minimum grade is {opening.min_grade}; the student is in grade {student.grade}",
    )


def _availability_ok(opening: OpeningProfile, student: StudentProfile) -> bool:
    return opening.starts_on <= student.available_to and student.available_from <= opening.ends_on


def _availability_check(opening: OpeningProfile, student: StudentProfile) -> Check:
    window = f"{opening.starts_on.isoformat()} to {opening.ends_on.isoformat()}"
    yours = f"{student.available_from.isoformat()} to {student.available_to.isoformat()}"
    if _availability_ok(opening, student):
        return Check("availability", True, f"runs {window}, overlapping the student's {yours}")
    return Check("availability", False, f"runs {window}; the student is available {yours}")


def _hours_ok(opening: OpeningProfile, student: StudentProfile) -> bool:
    limit = legal_weekly_hours(student.age)
    hours = opening.hours_per_week
    return hours <= student.hours_per_week and (limit is None or hours <= limit)


def _hours_check(opening: OpeningProfile, student: StudentProfile) -> Check:
    hours = opening.hours_per_week
    limit = legal_weekly_hours(student.age)
    if hours > student.hours_per_week:
        return Check(
            "hours",
            False,
            f"{_hours(hours)} hours a week; the student can work {_hours(student.hours_per_week)}",
        )
    if limit is not None and hours > limit:
        return Check(
            "hours",
            False,
            f"{_hours(hours)} hours a week is over the legal limit of {_hours(limit)} "
            "for the student's age in term",
        )
    legal = (
        "" if limit is None else f" and the legal limit of {_hours(limit)} for the student's age"
    )
    return Check(
        "hours",
        True,
        f"{_hours(hours)} hours a week is within the student's "
        f"{_hours(student.hours_per_week)}{legal}",
    )


def _distance_km(opening: OpeningProfile, student: StudentProfile) -> float:
    if opening.remote or opening.location is None:
        return 0.0
    home, there = student.home, opening.location
    return haversine_km(home.lat, home.lon, there.lat, there.lon)


def _distance_check(opening: OpeningProfile, student: StudentProfile, km: float) -> Check:
    if opening.remote:
        return Check("distance", True, "remote: no commute")
    limit_km = f"{student.max_commute_km:g}"
    if km <= student.max_commute_km:
        return Check(
            "distance", True, f"{format_km(km)} away, within the student's {limit_km} km limit"
        )
    return Check("distance", False, f"{format_km(km)} away, the student's limit is {limit_km} km")


def check_pair(
    opening: OpeningProfile,
    student: StudentProfile,
    related_fields: Mapping[str, frozenset[str]],
) -> tuple[Check, ...]:
    """Every hard constraint for (opening, student), each held or failed, in plain words.

    Failed texts speak to the student's coordinator ("needs OSHA-10 credential",
    "42 km away, the student's limit is 25 km").
    """
    languages = (_languages_check(opening, student),) if opening.required_languages else ()
    return (
        _field_check(opening, student, related_fields),
        _age_check(opening, student),
        _credentials_check(opening, student),
        *languages,
        _grade_check(opening, student),
        _availability_check(opening, student),
        _hours_check(opening, student),
        _distance_check(opening, student, _distance_km(opening, student)),
    )


def failed_reasons(
    opening: OpeningProfile,
    student: StudentProfile,
    related_fields: Mapping[str, frozenset[str]],
    km: float | None = None,
) -> tuple[str, ...]:
    """Only the failed constraints' texts, as :func:`check_pair` words them (faster).

    ``km`` may pass the home-to-opening distance when the caller already has it.
    """
    out: list[str] = []
    if field_interest(student, opening.career_field, related_fields) is None:
        out.append(_field_check(opening, student, related_fields).text)
    if student.age < opening.effective_min_age:
        out.append(_age_check(opening, student).text)
    if not opening.required_credentials <= student.credentials:
        out.append(_credentials_check(opening, student).text)
    if not opening.required_languages <= student.languages:
        out.append(_languages_check(opening, student).text)
    if student.grade < opening.min_grade:
        out.append(_grade_check(opening, student).text)
    if not _availability_ok(opening, student):
        out.append(_availability_check(opening, student).text)
    if not _hours_ok(opening, student):
        out.append(_hours_check(opening, student).text)
    if not opening.remote:
        distance = _distance_km(opening, student) if km is None else km
        if distance > student.max_commute_km:
            out.append(_distance_check(opening, student, distance).text)
    return tuple(out)


# (index, min age, min grade, hours, start ordinal, end ordinal, required credentials,
#  remote, lat radians, lon radians, cos lat, required languages)
_OpeningRow = tuple[
    int, int, int, float, int, int, frozenset[str], bool, float, float, float, frozenset[str]
]


class EligibilityIndex:
    """Openings bucketed by career field and by a lat/lon grid, for fast bulk checks.

    ``eligible(student)`` returns ``[(opening index, field interest rank, km), ...]``
    for every eligible opening, the same set :func:`check_pair` accepts.
    """

    def __init__(
        self,
        openings: Sequence[OpeningProfile],
        related_fields: Mapping[str, frozenset[str]],
    ) -> None:
        self.openings = openings
        self.related_fields = related_fields
        self._remote: dict[str, list[_OpeningRow]] = {}
        self._grid: dict[str, dict[tuple[int, int], list[_OpeningRow]]] = {}
        for i, o in enumerate(openings):
            lat = o.location.lat if o.location is not None else 0.0
            lon = o.location.lon if o.location is not None else 0.0
            row: _OpeningRow = (
                i,
                o.effective_min_age,
                o.min_grade,
                o.hours_per_week,
                o.starts_on.toordinal(),
                o.ends_on.toordinal(),
                o.required_credentials,
                o.remote,
                radians(lat),
                radians(lon),
                cos(radians(lat)),
                o.required_languages,
            )
            if o.remote:
                self._remote.setdefault(o.career_field, []).append(row)
            else:
                cell = (floor(lat / _CELL_DEG), floor(lon / _CELL_DEG))
                self._grid.setdefault(o.career_field, {}).setdefault(cell, []).append(row)

    def fields_of_interest(self, student: StudentProfile) -> list[tuple[str, int]]:
        """(field, interest rank) for the student's own fields, then related ones."""
        seen: set[str] = set()
        out: list[tuple[str, int]] = []
        fields = student.career_fields
        for i, f in enumerate(fields):
            if f not in seen:
                seen.add(f)
                out.append((f, i))
        for i, f in enumerate(fields):
            for related in sorted(self.related_fields.get(f, ())):
                if related not in seen:
                    seen.add(related)
                    out.append((related, len(fields) + i))
        return out

    def nearby_cells(
        self, student: StudentProfile, radius_km: float
    ) -> list[tuple[int, int]] | None:
        """Grid cells that may hold points within ``radius_km`` of the student's home.

        ``None`` means "too many to list: look at every cell".
        """
        lat, lon = student.home.lat, student.home.lon
        dlat = radius_km / _KM_PER_DEG_LAT
        cos_lat = cos(radians(min(89.0, abs(lat) + dlat)))
        dlon = 180.0 if cos_lat <= 0.01 else min(180.0, radius_km / (_KM_PER_DEG_LAT * cos_lat))
        i0, i1 = floor((lat - dlat) / _CELL_DEG), floor((lat + dlat) / _CELL_DEG)
        j0, j1 = floor((lon - dlon) / _CELL_DEG), floor((lon + dlon) / _CELL_DEG)
        if (i1 - i0 + 1) * (j1 - j0 + 1) > _MAX_CELLS:
            return None
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]

    def _rows_near(
        self, career_field: str, cells: list[tuple[int, int]] | None
    ) -> list[_OpeningRow]:
        rows: list[_OpeningRow] = list(self._remote.get(career_field, ()))
        grid = self._grid.get(career_field)
        if grid:
            if cells is None:
                for bucket in grid.values():
                    rows.extend(bucket)
            else:
                for cell in cells:
                    found = grid.get(cell)
                    if found:
                        rows.extend(found)
        return rows

    def near(self, student: StudentProfile, radius_km: float) -> list[tuple[int, float]]:
        """(index, approximate km) of openings in the student's fields within ``radius_km``.

        Remote openings count as 0 km away. Eligibility is not checked. Distances
        use the equirectangular approximation (no trigonometry per opening), good
        to a fraction of a percent at commuting range: use them to choose and order
        openings, and :func:`haversine_km` for any distance shown to people.
        """
        hlat, hlon = radians(student.home.lat), radians(student.home.lon)
        cells = self.nearby_cells(student, radius_km)
        reach = radius_km / EARTH_RADIUS_KM  # radians
        reach2 = reach * reach
        out: list[tuple[int, float]] = []
        for career_field, _ in self.fields_of_interest(student):
            for row in self._rows_near(career_field, cells):
                if row[7]:
                    out.append((row[0], 0.0))
                    continue
                dy = row[8] - hlat
                if dy > reach or -dy > reach:
                    continue
                dx = (row[9] - hlon) * cos((row[8] + hlat) / 2)
                d2 = dx * dx + dy * dy
                if d2 <= reach2:
                    out.append((row[0], sqrt(d2) * EARTH_RADIUS_KM))
        return out

    def eligible(self, student: StudentProfile) -> list[tuple[int, int, float]]:
        """Every eligible opening of ``student`` as (index, field interest rank, km)."""
        age, grade = student.age, student.grade
        legal = legal_weekly_hours(age)
        max_hours = student.hours_per_week if legal is None else min(student.hours_per_week, legal)
        avail_from = student.available_from.toordinal()
        avail_to = student.available_to.toordinal()
        held, spoken = student.credentials, student.languages
        limit = student.max_commute_km
        hlat, hlon = radians(student.home.lat), radians(student.home.lon)
        hcos = cos(hlat)
        two_r = 2 * EARTH_RADIUS_KM
        cells = self.nearby_cells(student, limit)
        out: list[tuple[int, int, float]] = []
        for career_field, interest in self.fields_of_interest(student):
            rows = self._rows_near(career_field, cells)
            for (
                i,
                min_age,
                min_grade,
                hours,
                start,
                end,
                required,
                remote,
                la,
                lo,
                co,
                langs,
            ) in rows:
                if (
                    start <= avail_to
                    and avail_from <= end
                    and hours <= max_hours
                    and age >= min_age
                    and grade >= min_grade
                    and required <= held
                    and langs <= spoken
                ):
                    if remote:
                        out.append((i, interest, 0.0))
                        continue
                    a = sin((la - hlat) / 2) ** 2 + hcos * co * sin((lo - hlon) / 2) ** 2
                    km = two_r * asin(sqrt(a if a < 1.0 else 1.0))
                    if km <= limit:
                        out.append((i, interest, km))
        return out
