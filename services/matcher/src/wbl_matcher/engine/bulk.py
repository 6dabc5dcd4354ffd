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
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .eligibility import EARTH_RADIUS_KM, EligibilityIndex, legal_weekly_hours
from .profiles import OpeningProfile, StudentProfile

__all__ = ["Pairs", "eligible_many", "eligible_pairs", "rank_pairs"]

CELL_DEG = 0.25
_KM_PER_DEG_LAT = 111.195
# Slack for numpy's last-bit differences in the narrowing; the exact check follows.
_SLACK = 1e-6

T = TypeVar("T")
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


@dataclass(frozen=True)
class Pairs:
    """Eligible (student, opening) pairs as parallel arrays: positions into the round's
    students and openings, the student's interest rank for the opening's field, and km."""

    student: Ints
    opening: Ints
    interest: Ints
    km: Floats

    def per_student(self, n: int) -> list[list[tuple[int, int, float]]]:
        out: list[list[tuple[int, int, float]]] = [[] for _ in range(n)]
        columns = (self.student, self.opening, self.interest, self.km)
        rows = zip(*(c.tolist() for c in columns), strict=True)
        for si, oi, interest, km in rows:
            out[si].append((oi, interest, km))
        return out

    def where(self, keep: Bools) -> Pairs:
        return Pairs(self.student[keep], self.opening[keep], self.interest[keep], self.km[keep])


def eligible_many(
    index: EligibilityIndex, students: Sequence[StudentProfile]
) -> list[list[tuple[int, int, float]]]:
    """``[index.eligible(s) for s in students]``, the same pairs (in another order)."""
    return eligible_pairs(index, students).per_student(len(students))


def eligible_pairs(index: EligibilityIndex, students: Sequence[StudentProfile]) -> Pairs:
    """Every eligible pair of `students` with the openings of `index`."""
    exact = _Exact(index, students)
    if not students or not index.openings:
        return exact.pairs()
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
    for (career_field, ci, cj), (members, interests) in groups.items():
        table = tables[career_field]
        who = np.array(members, dtype=np.int64)
        cand = _candidates(table, (ci, cj), float(arr.limit[who].max()))
        if len(cand):
            rows, cols = _narrow(table, cand, arr, who)
            exact.keep(members, interests, rows.tolist(), table.index[cand[cols]].tolist())
    return exact.pairs()


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
        self.sis: list[int] = []
        self.ois: list[int] = []
        self.interests: list[int] = []
        self.kms: list[float] = []

    def pairs(self) -> Pairs:
        return Pairs(
            np.array(self.sis, dtype=np.int64),
            np.array(self.ois, dtype=np.int64),
            np.array(self.interests, dtype=np.int64),
            np.array(self.kms, dtype=np.float64),
        )

    def keep(
        self, members: list[int], interests: list[int], rows: list[int], found: list[int]
    ) -> None:
        plain, remote, la, lo, co = self.plain, self.remote, self.la, self.lo, self.co
        hlat, hlon, hcos = self.hlat, self.hlon, self.hcos
        sis, ois, ranks, kms = self.sis, self.ois, self.interests, self.kms
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
                sis.append(si)
                ois.append(oi)
                ranks.append(interests[r])
                kms.append(0.0)
                continue
            h = hlat[si]
            a = sin((la[oi] - h) / 2) ** 2 + hcos[si] * co[oi] * sin((lo[oi] - hlon[si]) / 2) ** 2
            km = two_r * asin(sqrt(a if a < 1.0 else 1.0))
            if km <= self.students[si].max_commute_km:
                sis.append(si)
                ois.append(oi)
                ranks.append(interests[r])
                kms.append(km)


_BANDS = 1 << 32  # as rounds: more distance bands than any distance on Earth needs
_COUNTS = 1 << 12  # more preferred credentials than any opening lists


def _groups(keys: Ints, values: list[T], n: int) -> list[list[T]]:
    """`values` (sorted by `keys`, each in 0..n-1) cut into one list per key."""
    ends = np.cumsum(np.bincount(keys, minlength=n)).tolist()
    out: list[list[T]] = []
    start = 0
    for end in ends:
        out.append(values[start:end])
        start = end
    return out


def rank_pairs(
    pairs: Pairs,
    openings: Sequence[OpeningProfile],
    students: Sequence[StudentProfile],
    lottery_rank: Sequence[int],
    band_km: float,
) -> tuple[list[list[int]], list[list[float]], list[list[int]]]:
    """Both sides' rankings at array speed, ordered exactly as rounds' integer keys (so as
    ranking.student_key and ranking.employer_key): each student's eligible openings best
    first with their distances, and each opening's eligible students best first."""
    n, m = len(students), len(openings)
    si, oi = pairs.student, pairs.opening
    ids = [o.id for o in openings]
    id_rank = np.empty(m, dtype=np.int64)
    id_rank[sorted(range(m), key=ids.__getitem__)] = np.arange(m, dtype=np.int64)
    unpaid = np.array([not o.paid for o in openings], dtype=np.int64)
    position = {oid: j for j, oid in enumerate(ids)}
    favourites = [
        sj * m + position[f] for sj, s in enumerate(students) for f in s.favourites if f in position
    ]
    not_favourite = 1 - np.isin(si * m + oi, np.array(favourites, dtype=np.int64)).astype(np.int64)
    band = np.floor_divide(pairs.km, band_km).astype(np.int64)  # as int(km // band_km)
    key = ((pairs.interest * 2 + not_favourite) * _BANDS + band) * 2 + unpaid[oi]
    mine = np.lexsort((id_rank[oi], pairs.km, key, si))
    choices = _groups(si[mine], oi[mine].tolist(), n)
    kms = _groups(si[mine], pairs.km[mine].tolist(), n)

    tier = _tiers(pairs, openings, students)
    lottery = np.array(lottery_rank, dtype=np.int64)
    theirs = np.lexsort((lottery[si], tier, oi))
    ranked = _groups(oi[theirs], si[theirs].tolist(), m)
    return choices, kms, ranked


def _tiers(
    pairs: Pairs, openings: Sequence[OpeningProfile], students: Sequence[StudentProfile]
) -> Ints:
    """Each pair's hiring-preference tier, as rounds' integer key: outside the partner
    programs, outside the partner schools, then fewer preferred credentials held."""
    si, oi = pairs.student, pairs.opening

    def outside(wanted: list[frozenset[str]], theirs: Sequence[str]) -> Ints:
        """1 where the student's value (program, school) is not in the opening's set."""
        vocabulary: dict[str, int] = {}
        code = np.array([vocabulary.setdefault(v, len(vocabulary)) for v in theirs], np.int64)
        width = len(vocabulary) + 1
        listed = [
            j * width + vocabulary[v] for j, w in enumerate(wanted) for v in w if v in vocabulary
        ]
        inside = np.isin(oi * width + code[si], np.array(listed, dtype=np.int64))
        return 1 - inside.astype(np.int64)

    prefs = [o.hiring_preferences for o in openings]
    program = outside([p.partner_programs for p in prefs], [s.program for s in students])
    school = outside([p.partner_schools for p in prefs], [s.school_id for s in students])
    # Preferred credentials held: a sum over the (few) credentials any opening prefers.
    held = np.zeros(len(si), dtype=np.int64)
    preferred = sorted({c for p in prefs for c in p.preferred_credentials})
    for credential in preferred:
        wants = np.array([credential in p.preferred_credentials for p in prefs], dtype=np.bool_)
        has = np.array([credential in s.credentials for s in students], dtype=np.bool_)
        held += wants[oi] & has[si]
    tier = (program * 2 + school) * _COUNTS + (_COUNTS - 1 - held)
    choosy = np.array(
        [bool(p.partner_programs or p.partner_schools or p.preferred_credentials) for p in prefs],
        dtype=np.bool_,
    )
    return np.where(choosy[oi], tier, 0)
