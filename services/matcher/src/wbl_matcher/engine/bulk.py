"""Eligibility of many students at once, vectorised with numpy (a round's stage 1).

:func:`eligible_many` gives for each student the same (opening index, interest rank, km)
pairs as :meth:`EligibilityIndex.eligible`. Students are grouped by career field and by the
0.25-degree lat/lon cell of their home; each group is checked against only the openings
of that field whose latitude and longitude lie within the group's longest commute, as one
array operation. numpy only narrows the candidates (its sin and arcsin may differ from the
C library's in the last bit): every pair it keeps is checked again, and its distance
computed, exactly as ``eligible`` does, so results are identical to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import asin, cos, floor, radians, sin, sqrt

import numpy as np
import numpy.typing as npt

from .eligibility import EARTH_RADIUS_KM, EligibilityIndex, legal_weekly_hours
from .profiles import StudentProfile

__all__ = ["eligible_many"]

CELL_DEG = 0.25
_KM_PER_DEG_LAT = 111.195
# Slack for numpy's last-bit differences in the narrowing; the exact check follows.
_SLACK = 1e-6

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _Field:
    """One career field's openings as arrays (positions into the index's openings)."""

    index: Ints
    lat: Floats  # degrees (0 when remote)
    lon: Floats
    la: Floats  # radians
    lo: Floats
    co: Floats  # cos(la)
    start: Ints
    end: Ints
    hours: Floats
    min_age: Ints
    min_grade: Ints
    remote: Bools


def _tables(index: EligibilityIndex) -> dict[str, _Field]:
    by_field: dict[str, list[int]] = {}
    for i, o in enumerate(index.openings):
        by_field.setdefault(o.career_field, []).append(i)
    tables: dict[str, _Field] = {}
    for career_field, members in by_field.items():
        ops = [index.openings[i] for i in members]
        lat = np.array([o.location.lat if o.location else 0.0 for o in ops], dtype=np.float64)
        lon = np.array([o.location.lon if o.location else 0.0 for o in ops], dtype=np.float64)
        la = np.radians(lat)
        tables[career_field] = _Field(
            index=np.array(members, dtype=np.int64),
            lat=lat,
            lon=lon,
            la=la,
            lo=np.radians(lon),
            co=np.cos(la),
            start=np.array([o.starts_on.toordinal() for o in ops], dtype=np.int64),
            end=np.array([o.ends_on.toordinal() for o in ops], dtype=np.int64),
            hours=np.array([o.hours_per_week for o in ops], dtype=np.float64),
            min_age=np.array([o.effective_min_age for o in ops], dtype=np.int64),
            min_grade=np.array([o.min_grade for o in ops], dtype=np.int64),
            remote=np.array([o.remote for o in ops], dtype=np.bool_),
        )
    return tables


@dataclass(frozen=True)
class _Students:
    lat: Floats
    lon: Floats
    hlat: Floats
    hlon: Floats
    hcos: Floats
    age: Ints
    grade: Ints
    max_hours: Floats
    avail_from: Ints
    avail_to: Ints
    limit: Floats


def _student_arrays(students: Sequence[StudentProfile]) -> _Students:
    def hours(s: StudentProfile) -> float:
        legal = legal_weekly_hours(s.age)
        return s.hours_per_week if legal is None else min(s.hours_per_week, legal)

    lat = np.array([s.home.lat for s in students], dtype=np.float64)
    lon = np.array([s.home.lon for s in students], dtype=np.float64)
    hlat = np.radians(lat)
    return _Students(
        lat=lat,
        lon=lon,
        hlat=hlat,
        hlon=np.radians(lon),
        hcos=np.cos(hlat),
        age=np.array([s.age for s in students], dtype=np.int64),
        grade=np.array([s.grade for s in students], dtype=np.int64),
        max_hours=np.array([hours(s) for s in students], dtype=np.float64),
        avail_from=np.array([s.available_from.toordinal() for s in students], dtype=np.int64),
        avail_to=np.array([s.available_to.toordinal() for s in students], dtype=np.int64),
        limit=np.array([s.max_commute_km for s in students], dtype=np.float64),
    )


def _candidates(table: _Field, cell: tuple[int, int], reach_km: float) -> Ints:
    """Positions (into `table`) of remote openings and those within `reach_km` of the
    cell in latitude and longitude (a superset of those within reach of its homes)."""
    dlat = reach_km / _KM_PER_DEG_LAT + _SLACK
    lat0, lat1 = cell[0] * CELL_DEG - dlat, (cell[0] + 1) * CELL_DEG + dlat
    near = (table.lat >= lat0) & (table.lat <= lat1)
    cos_lat = cos(radians(min(89.0, max(abs(lat0), abs(lat1)))))
    if cos_lat > 0.01:
        dlon = reach_km / (_KM_PER_DEG_LAT * cos_lat) + _SLACK
        lon0, lon1 = cell[1] * CELL_DEG - dlon, (cell[1] + 1) * CELL_DEG + dlon
        if lon0 >= -180.0 and lon1 <= 180.0:  # else: across the antimeridian, keep all
            near &= (table.lon >= lon0) & (table.lon <= lon1)
    return np.flatnonzero(near | table.remote)


def _narrow(table: _Field, cand: Ints, arr: _Students, who: Ints) -> tuple[Ints, Ints]:
    """(student position, candidate position) pairs that pass every numeric check, the
    distance with slack; as numpy arrays into `who` and `cand`."""
    col = (slice(None), None)
    ok = (table.start[cand] <= arr.avail_to[who][col]) & (
        arr.avail_from[who][col] <= table.end[cand]
    )
    ok &= table.hours[cand] <= arr.max_hours[who][col]
    ok &= arr.age[who][col] >= table.min_age[cand]
    ok &= arr.grade[who][col] >= table.min_grade[cand]
    hlat, hlon = arr.hlat[who][col], arr.hlon[who][col]
    a = np.sin((table.la[cand] - hlat) / 2) ** 2 + arr.hcos[who][col] * table.co[cand] * (
        np.sin((table.lo[cand] - hlon) / 2) ** 2
    )
    km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    ok &= table.remote[cand] | (km <= arr.limit[who][col] * (1 + _SLACK) + _SLACK)
    rows, cols = np.nonzero(ok)
    return rows, cols


def eligible_many(
    index: EligibilityIndex, students: Sequence[StudentProfile]
) -> list[list[tuple[int, int, float]]]:
    """``[index.eligible(s) for s in students]``, the same pairs (in another order)."""
    out: list[list[tuple[int, int, float]]] = [[] for _ in students]
    if not students or not index.openings:
        return out
    tables = _tables(index)
    arr = _student_arrays(students)
    groups: dict[tuple[str, int, int], tuple[list[int], list[int]]] = {}
    for si, student in enumerate(students):
        cell = (floor(student.home.lat / CELL_DEG), floor(student.home.lon / CELL_DEG))
        for career_field, interest in index.fields_of_interest(student):
            if career_field in tables:
                members, interests = groups.setdefault((career_field, *cell), ([], []))
                members.append(si)
                interests.append(interest)
    exact = _Exact(index, students)
    for (career_field, ci, cj), (members, interests) in groups.items():
        table = tables[career_field]
        who = np.array(members, dtype=np.int64)
        cand = _candidates(table, (ci, cj), float(arr.limit[who].max()))
        if len(cand):
            rows, cols = _narrow(table, cand, arr, who)
            exact.keep(out, members, interests, rows.tolist(), table.index[cand[cols]].tolist())
    return out


class _Exact:
    """The checks numpy does not make (sets), and each distance computed with the same
    operations and inputs as ``EligibilityIndex.eligible``, so it is the same float."""

    def __init__(self, index: EligibilityIndex, students: Sequence[StudentProfile]) -> None:
        openings = index.openings
        self.plain = [not (o.required_credentials or o.required_languages) for o in openings]
        self.remote = [o.remote or o.location is None for o in openings]
        self.la = [radians(o.location.lat) if o.location else 0.0 for o in openings]
        self.lo = [radians(o.location.lon) if o.location else 0.0 for o in openings]
        self.co = [cos(la) for la in self.la]
        self.hlat = [radians(s.home.lat) for s in students]
        self.hlon = [radians(s.home.lon) for s in students]
        self.hcos = [cos(h) for h in self.hlat]
        self.openings, self.students = openings, students

    def keep(
        self,
        out: list[list[tuple[int, int, float]]],
        members: list[int],
        interests: list[int],
        rows: list[int],
        found: list[int],
    ) -> None:
        plain, remote, la, lo, co = self.plain, self.remote, self.la, self.lo, self.co
        hlat, hlon, hcos = self.hlat, self.hlon, self.hcos
        two_r = 2 * EARTH_RADIUS_KM
        for r, oi in zip(rows, found, strict=True):
            si = members[r]
            if not plain[oi]:
                opening, student = self.openings[oi], self.students[si]
                if not (
                    opening.required_credentials <= student.credentials
                    and opening.required_languages <= student.languages
                ):
                    continue
            if remote[oi]:
                out[si].append((oi, interests[r], 0.0))
                continue
            h = hlat[si]
            a = sin((la[oi] - h) / 2) ** 2 + hcos[si] * co[oi] * sin((lo[oi] - hlon[si]) / 2) ** 2
            km = two_r * asin(sqrt(a if a < 1.0 else 1.0))
            if km <= self.students[si].max_commute_km:
                out[si].append((oi, interests[r], km))
