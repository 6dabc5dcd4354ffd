"""What the matcher knows about openings and students (profile mode).

Plain frozen dataclasses, no I/O. A student profile holds only what matching needs
(DESIGN.md, "Events"): no name, contact, birth date, special-population flag or
protected characteristic is a field here, and :meth:`StudentProfile.from_mapping`
drops any such key it is given, so they can never reach eligibility or ranking.

Age: the bus carries ``age`` as the student's age at placement start (computed by
registry from the date of birth, which never leaves registry). The engine takes it
as the age at the start date of every opening the student is matched against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .acceptance import InstanceError

__all__ = [
    "HiringPreferences",
    "Location",
    "OpeningProfile",
    "StudentProfile",
]


@dataclass(frozen=True, slots=True)
class Location:
    """A place: town name and WGS84 coordinates in degrees."""

    town: str
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise InstanceError(f"location {self.town!r}: lat/lon out of range")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Location:
        return cls(str(data["town"]), float(data["lat"]), float(data["lon"]))


@dataclass(frozen=True, slots=True)
class HiringPreferences:
    """An employer's hiring preferences for one opening (P-TECH style partnerships).
    Never languages: they proxy national origin, so an opening may only require one
    (``OpeningProfile.required_languages``), never prefer it."""

    partner_programs: frozenset[str] = frozenset()
    partner_schools: frozenset[str] = frozenset()
    preferred_credentials: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> HiringPreferences:
        return cls(
            partner_programs=_codes(data.get("partner_programs", ())),
            partner_schools=_codes(data.get("partner_schools", ())),
            preferred_credentials=_codes(data.get("preferred_credentials", ())),
        )


@dataclass(frozen=True, slots=True)
class OpeningProfile:
    """An employer's opening. ``location`` may be ``None`` only when ``remote``."""

    id: str
    employer_id: str
    career_field: str
    seats: int
    starts_on: date
    ends_on: date
    hours_per_week: float
    paid: bool
    location: Location | None = None
    remote: bool = False
    hazardous: bool = False
    min_age: int = 16
    min_grade: int = 9
    required_credentials: frozenset[str] = frozenset()
    # A requirement the employer states (a bilingual role): eligibility only, never ranking.
    required_languages: frozenset[str] = frozenset()
    hiring_preferences: HiringPreferences = field(default_factory=HiringPreferences)

    def __post_init__(self) -> None:
        if self.location is None and not self.remote:
            raise InstanceError(f"opening {self.id!r}: needs a location unless remote")
        if type(self.seats) is not int or self.seats < 0:
            raise InstanceError(f"opening {self.id!r}: seats must be an integer >= 0")
        if self.ends_on < self.starts_on:
            raise InstanceError(f"opening {self.id!r}: ends_on is before starts_on")
        if self.hours_per_week < 0:
            raise InstanceError(f"opening {self.id!r}: hours_per_week must be >= 0")

    @property
    def effective_min_age(self) -> int:
        """The minimum age at start: 18 for hazardous work whatever ``min_age`` says."""
        return max(self.min_age, 18) if self.hazardous else self.min_age

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> OpeningProfile:
        """Build from a JSON-like mapping (ISO dates); unknown keys are ignored."""
        location = data.get("location")
        return cls(
            id=str(data["id"]),
            employer_id=str(data["employer_id"]),
            career_field=str(data["career_field"]),
            seats=int(data["seats"]),
            starts_on=_date(data["starts_on"]),
            ends_on=_date(data["ends_on"]),
            hours_per_week=float(data["hours_per_week"]),
            paid=bool(data["paid"]),
            location=Location.from_mapping(location) if location else None,
            remote=bool(data.get("remote", False)),
            hazardous=bool(data.get("hazardous", False)),
            min_age=int(data.get("min_age", 16)),
            min_grade=int(data.get("min_grade", 9)),
            required_credentials=_codes(data.get("required_credentials", ())),
            required_languages=_codes(data.get("required_languages", ())),
            hiring_preferences=HiringPreferences.from_mapping(data.get("hiring_preferences", {})),
        )


@dataclass(frozen=True, slots=True)
class StudentProfile:
    """A student as the matcher sees them: pseudonymous id and matching facts only.

    ``career_fields`` is in interest order, most wanted first. ``age`` is the age at
    placement start (see the module docstring). ``favourites`` are opening ids.
    """

    id: str
    school_id: str
    program: str
    career_fields: tuple[str, ...]
    grade: int
    age: int
    home: Location
    max_commute_km: float
    available_from: date
    available_to: date
    hours_per_week: float
    credentials: frozenset[str] = frozenset()
    # Read only against an opening's required_languages, never for ranking.
    languages: frozenset[str] = frozenset()
    favourites: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 9 <= self.grade <= 14:
            raise InstanceError(f"student {self.id!r}: grade must be 9-14, got {self.grade}")
        if self.available_to < self.available_from:
            raise InstanceError(f"student {self.id!r}: available_to is before available_from")
        if self.max_commute_km < 0 or self.hours_per_week < 0:
            raise InstanceError(f"student {self.id!r}: commute and hours must be >= 0")
        if isinstance(self.career_fields, str):
            raise InstanceError(f"student {self.id!r}: career_fields must be a sequence")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StudentProfile:
        """Build from a JSON-like mapping (ISO dates).

        Only the fields above are read; anything else (special-population flags,
        protected characteristics, names) is ignored on purpose.
        """
        return cls(
            id=str(data["id"]),
            school_id=str(data["school_id"]),
            program=str(data["program"]),
            career_fields=tuple(str(f) for f in data["career_fields"]),
            grade=int(data["grade"]),
            age=int(data["age"]),
            home=Location.from_mapping(data["home"]),
            max_commute_km=float(data["max_commute_km"]),
            available_from=_date(data["available_from"]),
            available_to=_date(data["available_to"]),
            hours_per_week=float(data["hours_per_week"]),
            credentials=_codes(data.get("credentials", ())),
            languages=_codes(data.get("languages", ())),
            favourites=_codes(data.get("favourites", ())),
        )


def _codes(values: Iterable[Any]) -> frozenset[str]:
    if isinstance(values, str):
        raise InstanceError(f"expected a list of codes, got the string {values!r}")
    return frozenset(str(v) for v in values)


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
