"""Profile mode: eligibility, rankings, lottery, explanations, why-nots, partitions."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbl_matcher.engine.bulk import eligible_many, eligible_pairs, rank_pairs
from wbl_matcher.engine.eligibility import (
    EligibilityIndex,
    check_pair,
    format_km,
    haversine_km,
    legal_weekly_hours,
)
from wbl_matcher.engine.explain import ROUNDS, SEAT_HELD, SEATS_TAKEN
from wbl_matcher.engine.generate import random_profiles
from wbl_matcher.engine.profiles import (
    HiringPreferences,
    Location,
    OpeningProfile,
    StudentProfile,
)
from wbl_matcher.engine.ranking import (
    DISTANCE_BAND_KM,
    employer_key,
    lottery_number,
    student_key,
)
from wbl_matcher.engine.rounds import Round, partition_by_career_field, propose_matches
from wbl_matcher.engine.stable import InstanceError
from wbl_schemas.events import split_explanation

pytestmark = pytest.mark.unit

BOSTON = Location("Boston", 42.3601, -71.0589)
KM_PER_DEG = 111.195


def north_of(place: Location, km: float, town: str = "Elsewhere") -> Location:
    return Location(town, place.lat + km / KM_PER_DEG, place.lon)


def opening(**changes: Any) -> OpeningProfile:
    base = OpeningProfile(
        id="o1",
        employer_id="e1",
        career_field="carpentry",
        seats=1,
        starts_on=date(2025, 7, 1),
        ends_on=date(2025, 8, 15),
        hours_per_week=20,
        paid=True,
        location=north_of(BOSTON, 10),
    )
    return dataclasses.replace(base, **changes)


def student(**changes: Any) -> StudentProfile:
    base = StudentProfile(
        id="s1",
        school_id="school-1",
        program="chapter-74",
        career_fields=("carpentry",),
        grade=11,
        age=17,
        home=BOSTON,
        max_commute_km=25,
        available_from=date(2025, 6, 20),
        available_to=date(2025, 8, 30),
        hours_per_week=30,
        credentials=frozenset({"osha-10"}),
    )
    return dataclasses.replace(base, **changes)


def failed(o: OpeningProfile, s: StudentProfile, related: Any = None) -> list[str]:
    return [c.text for c in check_pair(o, s, related or {}) if not c.held]


# ------------------------------------------------------------------------------ eligibility


def test_legal_weekly_hours() -> None:
    assert [legal_weekly_hours(a) for a in (13, 14, 15, 16, 17, 18, 30)] == [
        0.0,
        18.0,
        18.0,
        48.0,
        48.0,
        None,
        None,
    ]


def test_haversine_boston_worcester() -> None:
    assert haversine_km(42.3601, -71.0589, 42.2626, -71.8023) == pytest.approx(61.9, abs=0.5)
    assert haversine_km(1.0, 2.0, 1.0, 2.0) == 0.0


def test_base_pair_is_eligible() -> None:
    assert failed(opening(), student()) == []


@pytest.mark.parametrize(
    ("o", "s", "reason"),
    [
        (
            opening(required_credentials=frozenset({"osha-10", "cpr"})),
            student(),
            "needs cpr credential",
        ),
        (
            opening(required_credentials=frozenset({"a", "b"})),
            student(),
            "needs a and b credentials",
        ),
        (
            opening(location=north_of(BOSTON, 42)),
            student(),
            "42 km away, the student's limit is 25 km",
        ),
        (
            opening(hazardous=True),
            student(),
            "hazardous work needs age 18 at the start; the student will be younger",
        ),
        (opening(min_age=18), student(age=16), "minimum age is 18; the student will be younger"),
        (opening(min_grade=12), student(), "minimum grade is 12; the student is in grade 11"),
        (
            opening(starts_on=date(2025, 9, 2), ends_on=date(2025, 12, 1)),
            student(),
            "runs 2025-09-02 to 2025-12-01; the student is available 2025-06-20 to 2025-08-30",
        ),
        (opening(hours_per_week=35), student(), "35 hours a week; the student can work 30"),
        (
            opening(hours_per_week=20, min_age=14),
            student(age=15, grade=10),
            "20 hours a week is over the legal limit of 18 for the student's age in term",
        ),
        (
            opening(hours_per_week=49),
            student(hours_per_week=60),
            "49 hours a week is over the legal limit of 48 for the student's age in term",
        ),
        (
            opening(career_field="welding"),
            student(),
            "welding is not one of the student's career fields",
        ),
    ],
)
def test_each_constraint_fails_in_plain_words(
    o: OpeningProfile, s: StudentProfile, reason: str
) -> None:
    assert failed(o, s) == [reason]


def test_adults_have_no_weekly_cap_and_remote_has_no_commute() -> None:
    o = opening(hours_per_week=50, remote=True, location=None, hazardous=True)
    assert failed(o, student(age=19, hours_per_week=60)) == []


def test_related_field_is_eligible_and_said_so() -> None:
    o = opening(career_field="cabinetmaking")
    related = {"carpentry": frozenset({"cabinetmaking"})}
    checks = check_pair(o, student(), related)
    assert all(c.held for c in checks)
    assert checks[0].text == "cabinetmaking is related to carpentry, the student's 1st career field"


def test_opening_needs_location_unless_remote() -> None:
    with pytest.raises(InstanceError, match="needs a location unless remote"):
        opening(location=None)


def test_hazardous_means_18_whatever_min_age_says() -> None:
    assert opening(hazardous=True, min_age=14).effective_min_age == 18
    assert opening(hazardous=True, min_age=21).effective_min_age == 21


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_bulk_index_agrees_with_check_pair(seed: int) -> None:
    openings, students, related = random_profiles(students=60, openings=80, fields=6, seed=seed)
    index = EligibilityIndex(openings, related)
    for s in students:
        fast = {i for i, _, _ in index.eligible(s)}
        slow = {i for i, o in enumerate(openings) if all(c.held for c in check_pair(o, s, related))}
        assert fast == slow


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.floats(-40.0, 45.0),  # moves Massachusetts north or south (towards the pole)
    st.floats(-100.0, 100.0),
    st.floats(1.0, 8.0),  # and spreads it out, so many cells and strips are crossed
)
def test_vectorised_eligibility_equals_the_index_and_check_pair(
    seed: int, dlat: float, dlon: float, spread: float
) -> None:
    """The round's bulk eligibility (numpy) gives exactly the pairs, interest ranks and
    distances of `EligibilityIndex.eligible`, and the pairs `check_pair` accepts."""
    openings, students, related = random_profiles(students=80, openings=60, fields=4, seed=seed)

    def moved(loc: Location) -> Location:
        lat = 42.3 + (loc.lat - 42.3) * spread + dlat
        return Location(loc.town, max(-89.0, min(89.0, lat)), loc.lon + dlon)

    openings = [
        dataclasses.replace(o, location=moved(o.location)) if o.location else o for o in openings
    ]
    students = [dataclasses.replace(s, home=moved(s.home)) for s in students]
    index = EligibilityIndex(openings, related)
    bulk = eligible_many(index, students)
    for s, found in zip(students, bulk, strict=True):
        assert sorted(found) == sorted(index.eligible(s))
        naive = {
            i for i, o in enumerate(openings) if all(c.held for c in check_pair(o, s, related))
        }
        assert {i for i, _, _ in found} == naive


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 99))
def test_array_rankings_order_as_the_documented_keys(seed: int, lottery_seed: int) -> None:
    """Both sides' rankings from arrays (bulk.rank_pairs) are those ranking.student_key and
    ranking.employer_key give, favourites and hiring preferences included."""
    openings, students, related = random_profiles(students=70, openings=40, fields=4, seed=seed)
    students = [
        dataclasses.replace(s, favourites=frozenset(o.id for o in openings[i % 7 :: 9]))
        if i % 3 == 0
        else s
        for i, s in enumerate(students)
    ]
    index = EligibilityIndex(openings, related)
    pairs = eligible_pairs(index, students)
    lottery = [lottery_number(lottery_seed, s.id) for s in students]
    order = sorted(range(len(students)), key=lambda i: (lottery[i], students[i].id))
    rank = [order.index(i) for i in range(len(students))]
    choices, kms, ranked = rank_pairs(pairs, openings, students, rank, DISTANCE_BAND_KM)
    for si, s in enumerate(students):
        found = index.eligible(s)
        expected = sorted(
            found,
            key=lambda p: student_key(
                p[1],
                openings[p[0]].id in s.favourites,
                p[2],
                openings[p[0]].paid,
                openings[p[0]].id,
            ),
        )
        assert choices[si] == [p[0] for p in expected]
        assert kms[si] == [p[2] for p in expected]
    for oi, o in enumerate(openings):
        keyed = sorted(
            ranked[oi], key=lambda i: employer_key(o.hiring_preferences, students[i], rank[i])
        )
        assert ranked[oi] == keyed
        assert sorted(ranked[oi]) == sorted(si for si, c in enumerate(choices) if oi in c)


# ------------------------------------------------------------------------------ rounds


def _blocking_pairs(
    r: Round,
    openings: list[OpeningProfile],
    students: list[StudentProfile],
    related: Any,
    taken: dict[str, int],
) -> list[tuple[str, str]]:
    """Pairs that block the round under the documented rankings (should be none)."""
    by_id = {o.id: o for o in openings}
    index = EligibilityIndex(openings, related)
    eligible = {s.id: {openings[i].id: (f, km) for i, f, km in index.eligible(s)} for s in students}
    seed = r.seed

    def skey(s: StudentProfile, oid: str) -> tuple[Any, ...]:
        f, km = eligible[s.id][oid]
        o = by_id[oid]
        return student_key(f, oid in s.favourites, km, o.paid, oid)

    def ekey(o: OpeningProfile, s: StudentProfile) -> tuple[Any, ...]:
        return employer_key(o.hiring_preferences, s, lottery_number(seed, s.id))

    holders: dict[str, list[StudentProfile]] = {o.id: [] for o in openings}
    for s in students:
        oid = r.assignments[s.id]
        if oid is not None:
            holders[oid].append(s)
    pairs = []
    for s in students:
        current = r.assignments[s.id]
        for oid in eligible[s.id]:
            if current is not None and skey(s, oid) >= skey(s, current):
                continue
            o = by_id[oid]
            seats = max(0, o.seats - taken.get(oid, 0))
            held = holders[oid]
            if len(held) < seats or (held and ekey(o, s) < max(ekey(o, h) for h in held)):
                pairs.append((s.id, oid))
    return pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_is_eligible_within_seats_and_stable(seed: int) -> None:
    openings, students, related = random_profiles(students=400, openings=90, fields=5, seed=seed)
    taken = {openings[0].id: 1, openings[1].id: 5}
    r = propose_matches(openings, students, seed=seed, related_fields=related, taken_seats=taken)
    by_id = {o.id: o for o in openings}
    load: dict[str, int] = {}
    for sid, oid in r.assignments.items():
        if oid is None:
            continue
        s = next(x for x in students if x.id == sid)
        assert failed(by_id[oid], s, related) == []
        load[oid] = load.get(oid, 0) + 1
    for oid, n in load.items():
        assert n <= by_id[oid].seats - taken.get(oid, 0)
    assert len(load) > 0
    assert _blocking_pairs(r, openings, students, related, taken) == []
    assert set(r.assignments) == {s.id for s in students}
    assert set(r.explanations) == {s for s, o in r.assignments.items() if o is not None}
    assert set(r.why_not) == {s for s, o in r.assignments.items() if o is None}


def test_round_is_deterministic_and_order_independent() -> None:
    openings, students, related = random_profiles(students=300, openings=60, fields=4, seed=4)
    first = propose_matches(openings, students, seed=11, related_fields=related)
    again = propose_matches(openings, students, seed=11, related_fields=related)
    shuffled = propose_matches(
        list(reversed(openings)), list(reversed(students)), seed=11, related_fields=related
    )
    assert first == again
    assert first.fingerprint == shuffled.fingerprint
    assert dict(first.assignments) == dict(shuffled.assignments)
    assert first.fingerprint.startswith("sha256:") and len(first.fingerprint) == 71


def test_fingerprint_changes_with_any_input() -> None:
    openings, students, related = random_profiles(students=30, openings=10, fields=2, seed=4)
    base = propose_matches(openings, students, seed=1, related_fields=related).fingerprint
    assert propose_matches(openings, students, seed=2, related_fields=related).fingerprint != base
    moved = [dataclasses.replace(students[0], max_commute_km=99.0), *students[1:]]
    assert propose_matches(openings, moved, seed=1, related_fields=related).fingerprint != base
    taken = {openings[0].id: 1}
    assert (
        propose_matches(
            openings, students, seed=1, related_fields=related, taken_seats=taken
        ).fingerprint
        != base
    )


def test_lottery_breaks_ties_and_depends_on_the_seed() -> None:
    o = opening(seats=1)
    twins = [student(id=f"s{i}") for i in range(6)]
    winners = set()
    for seed in range(12):
        r = propose_matches([o], twins, seed=seed)
        (winner,) = [s for s, oid in r.assignments.items() if oid == "o1"]
        assert lottery_number(seed, winner) == min(lottery_number(seed, s.id) for s in twins)
        winners.add(winner)
    assert len(winners) > 1


def test_partner_program_beats_the_lottery() -> None:
    prefs = HiringPreferences(partner_programs=frozenset({"p-tech"}))
    o = opening(seats=1, hiring_preferences=prefs)
    others = [student(id=f"s{i}") for i in range(5)]
    partner = student(id="partner", program="p-tech")
    for seed in range(8):
        r = propose_matches([o], [*others, partner], seed=seed)
        assert r.assignments["partner"] == "o1"


def test_employer_preferences_order_schools_then_credentials() -> None:
    prefs = HiringPreferences(
        partner_schools=frozenset({"school-9"}),
        preferred_credentials=frozenset({"cpr", "nccer-core"}),
    )
    o = opening(seats=1, hiring_preferences=prefs)
    school = student(id="school", school_id="school-9")
    creds = student(id="creds", credentials=frozenset({"osha-10", "cpr", "nccer-core"}))
    plain = student(id="plain")
    order = sorted([plain, creds, school], key=lambda s: employer_key(prefs, s, 0))
    assert [s.id for s in order] == ["school", "creds", "plain"]
    r = propose_matches([o], [plain, creds, school], seed=3)
    assert r.assignments["school"] == "o1"


def test_student_ranking_field_order_then_favourites_then_distance_then_paid() -> None:
    s = student(career_fields=("carpentry", "electricity"), favourites=frozenset({"far"}))
    near_other_field = opening(id="near-elec", career_field="electricity", location=BOSTON)
    far_favourite = opening(id="far", location=north_of(BOSTON, 20))
    near = opening(id="near", location=north_of(BOSTON, 1))
    unpaid_nearest = opening(id="unpaid", paid=False, location=north_of(BOSTON, 0.5))
    r = propose_matches([near_other_field, far_favourite, near, unpaid_nearest], [s], seed=1)
    assert r.assignments["s1"] == "far"
    explanation = r.explanations["s1"]
    assert explanation.student_choice == 1 and explanation.eligible_openings == 4
    r = propose_matches([near_other_field, near, unpaid_nearest], [s], seed=1)
    assert r.assignments["s1"] == "near"  # paid beats unpaid in the same 5 km band
    r = propose_matches([near_other_field], [s], seed=1)
    assert r.assignments["s1"] == "near-elec"


# ------------------------------------------------------------------------------ fairness


PROTECTED = {
    "special_populations": ["economically-disadvantaged", "english-learner"],
    "disability": True,
    "english_learner": True,
    "economically_disadvantaged": True,
    "race": "x",
    "ethnicity": "y",
    "gender": "z",
    "date_of_birth": "2008-01-01",
    "first_name": "Ada",
    "last_name": "L",
    "email": "a@example.org",
}


def _student_mapping(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"s{i}",
        "school_id": f"school-{i % 3}",
        "program": ["chapter-74", "p-tech"][i % 2],
        "career_fields": ["carpentry"],
        "grade": 11,
        "age": 17,
        "home": {"town": "Boston", "lat": BOSTON.lat, "lon": BOSTON.lon},
        "max_commute_km": 25,
        "available_from": "2025-06-20",
        "available_to": "2025-08-30",
        "hours_per_week": 30,
        "credentials": ["osha-10"],
        **extra,
    }


def test_student_profile_has_no_protected_fields() -> None:
    names = {f.name for f in dataclasses.fields(StudentProfile)}
    assert names.isdisjoint(PROTECTED)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(sorted(PROTECTED)), max_size=6, unique=True), st.integers(0, 99))
def test_flags_change_nothing(flagged_keys: list[str], seed: int) -> None:
    prefs = HiringPreferences(partner_programs=frozenset({"p-tech"}))
    openings = [opening(id=f"o{j}", seats=2, hiring_preferences=prefs) for j in range(3)]
    plain = [StudentProfile.from_mapping(_student_mapping(i)) for i in range(10)]
    flagged = [
        StudentProfile.from_mapping(
            _student_mapping(i, **{k: PROTECTED[k] for k in flagged_keys if (i + seed) % 2})
        )
        for i in range(10)
    ]
    assert flagged == plain
    assert propose_matches(openings, flagged, seed=seed) == propose_matches(
        openings, plain, seed=seed
    )


def test_no_employer_preference_can_name_a_language() -> None:
    """Languages proxy national origin: never a hiring preference (issue 12, finding 10)."""
    names = {f.name for f in dataclasses.fields(HiringPreferences)}
    assert not any("language" in name for name in names)
    assert "languages" not in HiringPreferences.from_mapping({"languages": ["es"]}).__slots__


LANGUAGES = ["es", "pt", "vi", "ht", "zh"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sets(st.sampled_from(LANGUAGES)), min_size=10, max_size=10), st.integers(0, 99))
def test_languages_change_nothing_where_no_opening_requires_one(
    spoken: list[set[str]], seed: int
) -> None:
    prefs = HiringPreferences(
        partner_programs=frozenset({"p-tech"}), preferred_credentials=frozenset({"osha-10"})
    )
    openings = [opening(id=f"o{j}", seats=2, hiring_preferences=prefs) for j in range(3)]
    plain = [StudentProfile.from_mapping(_student_mapping(i)) for i in range(10)]
    speaking = [
        StudentProfile.from_mapping(_student_mapping(i, languages=sorted(spoken[i])))
        for i in range(10)
    ]
    with_languages = propose_matches(openings, speaking, seed=seed)
    without = propose_matches(openings, plain, seed=seed)
    assert with_languages.assignments == without.assignments
    assert with_languages.explanations == without.explanations
    assert not any(
        "language" in line.lower()
        for e in with_languages.explanations.values()
        for line in e.lines()
    )


def test_a_language_is_only_ever_a_requirement_the_opening_states() -> None:
    bilingual = opening(required_languages=frozenset({"es"}))
    assert failed(bilingual, student()) == ["needs a speaker of es"]
    speaker = student(languages=frozenset({"es", "pt"}))
    assert failed(bilingual, speaker) == []
    held = [c.text for c in check_pair(bilingual, speaker, {}) if c.name == "languages"]
    assert held == ["speaks the language the opening requires"]
    r = propose_matches([bilingual], [student(id="s0"), speaker], seed=1)
    assert r.assignments == {"s0": None, "s1": "o1"}
    # Beyond the requirement, speaking more languages ranks no one higher.
    both = [student(id=f"s{i}", languages=frozenset(LANGUAGES[: i + 1])) for i in range(5)]
    fewest = [student(id=f"s{i}", languages=frozenset({"es"})) for i in range(5)]
    one_seat = opening(required_languages=frozenset({"es"}), seats=1)
    for seed in range(6):
        assert (
            propose_matches([one_seat], both, seed=seed).assignments
            == propose_matches([one_seat], fewest, seed=seed).assignments
        )


# ------------------------------------------------------------------------------ explanations


def test_explanation_says_what_held_and_what_each_preference_did() -> None:
    prefs = HiringPreferences(
        partner_programs=frozenset({"stem-tech-academy"}),
        preferred_credentials=frozenset({"osha-10", "cpr"}),
    )
    o = opening(required_credentials=frozenset({"osha-10"}), hiring_preferences=prefs)
    s = student(program="stem-tech-academy")
    rival = student(id="s2")
    r = propose_matches([o], [rival, s], seed=5)
    e = r.explanations["s1"]
    assert (e.opening_id, e.employer_rank, e.eligible_students) == ("o1", 1, 2)
    assert "holds the required credentials: osha-10" in e.constraints_held
    assert "10 km away, within the student's 25 km limit" in e.constraints_held
    texts = [c.text for c in e.employer_preferences]
    assert texts[0].startswith("Partner program (stem-tech-academy): +1 rank tier")
    assert "Preferred credentials held: osha-10 (1 of 2)" in texts[1]
    assert not any("language" in t.lower() for t in texts)
    assert e.employer_preferences[-1].side == "lottery" and "round seed 5" in texts[-1]
    assert [c.factor for c in e.student_preferences] == ["distance", "paid"]
    lines = e.lines()
    summary, detail = split_explanation(lines)
    assert summary == [
        "Fits: carpentry is the student's 1st career field; every requirement is met.",
        "The student's 1st choice of 1 opening they qualify for: 10 km from home, paid.",
        "The employer's preferences rank them 1st of 2 eligible students, helped by "
        "a partner program and preferred credentials.",
        "Equally ranked students are ordered by a random draw.",
    ]
    assert detail[-1] == ROUNDS and "an offer, once made, keeps its seat" in ROUNDS
    assert any(line.startswith("How ties are broken:") and "seed 5" in line for line in detail)


def test_the_summary_speaks_of_the_student_without_seeds_and_one_distance() -> None:
    """3-5 lines in the third person, no lottery number or seed; the distance is written
    the same way in the summary and the detail (format_km)."""
    o = opening(location=north_of(BOSTON, 0.6))
    e = propose_matches([o], [student()], seed=20260901).explanations["s1"]
    summary, detail = split_explanation(e.lines())
    assert 3 <= len(summary) <= 5
    text = " ".join(summary)
    assert "your" not in text.lower() and "lottery" not in text.lower()
    assert "20260901" not in text
    kms = {
        k
        for line in [*summary, *detail]
        for k in re.findall(r"\d+(?:\.\d+)? km(?! band| limit)", line)
    }
    assert kms == {"0.6 km"}, kms
    assert not any("your" in line.lower() for line in detail)


@pytest.mark.parametrize(
    ("km", "text"),
    [(0.04, "0.0 km"), (0.6, "0.6 km"), (9.94, "9.9 km"), (9.96, "10 km"), (41.6, "42 km")],
)
def test_distances_are_rounded_one_way(km: float, text: str) -> None:
    assert format_km(km) == text


def test_why_not_names_the_failed_constraint_or_the_competition() -> None:
    needs_osha = opening(id="osha", required_credentials=frozenset({"osha-10"}))
    far = opening(id="far", location=north_of(BOSTON, 42))
    full = opening(id="full", seats=1)
    taken = opening(id="taken", seats=1)
    s = student(credentials=frozenset())
    winner = student(id="winner", program="p-tech")
    full = dataclasses.replace(
        full, hiring_preferences=HiringPreferences(partner_programs=frozenset({"p-tech"}))
    )
    r = propose_matches(
        [needs_osha, far, full, taken], [s, winner], seed=1, taken_seats={"taken": 1}
    )
    assert r.assignments == {"s1": None, "winner": "full"}
    reasons = {w.opening_id: w.reasons for w in r.why_not["s1"]}
    assert reasons == {
        "osha": ("needs osha-10 credential",),
        "far": ("42 km away, the student's limit is 25 km",),
        "full": (SEAT_HELD,),
        "taken": (SEATS_TAKEN,),
    }
    # eligible openings come first, in the student's order; then the nearest others
    assert [w.opening_id for w in r.why_not["s1"]][:2] == ["full", "taken"]


def test_why_not_limit_caps_entries() -> None:
    openings = [opening(id=f"o{j}", required_credentials=frozenset({"x"})) for j in range(15)]
    r = propose_matches(openings, [student()], seed=1, why_not_limit=4)
    assert len(r.why_not["s1"]) == 4
    r = propose_matches(openings, [student()], seed=1, why_not_limit=None)
    assert len(r.why_not["s1"]) == 15


def test_invalid_inputs_raise_instance_error() -> None:
    with pytest.raises(InstanceError, match="duplicate student id 's1'"):
        propose_matches([opening()], [student(), student()], seed=1)
    with pytest.raises(InstanceError, match="duplicate opening id 'o1'"):
        propose_matches([opening(), opening()], [student()], seed=1)
    with pytest.raises(InstanceError, match="seed must be an integer"):
        propose_matches([opening()], [student()], seed="1")  # type: ignore[arg-type]
    with pytest.raises(InstanceError, match="taken_seats"):
        propose_matches([opening()], [student()], seed=1, taken_seats={"o1": -1})
    with pytest.raises(InstanceError, match="grade must be 9-14"):
        student(grade=8)


# ------------------------------------------------------------------------------ partitions


@pytest.mark.parametrize("seed", [0, 7])
def test_partitions_solve_to_the_same_round(seed: int) -> None:
    openings, students, related = random_profiles(students=500, openings=100, fields=12, seed=seed)

    # keep each student's fields (and the related fields) inside groups of three fields,
    # so the groups become independent partitions
    def group(f: str) -> int:
        return int(f.removeprefix("field-")) // 3

    students = [
        dataclasses.replace(
            s,
            career_fields=tuple(
                f for f in s.career_fields if group(f) == group(s.career_fields[0])
            ),
        )
        for s in students
    ]
    related = {k: frozenset(f for f in v if group(f) == group(k)) for k, v in related.items()}
    partitions = partition_by_career_field(openings, students, related)
    assert len(partitions) > 1
    assert sorted(o.id for p in partitions for o in p.openings) == sorted(o.id for o in openings)
    assert sorted(s.id for p in partitions for s in p.students) == sorted(s.id for s in students)
    whole = propose_matches(openings, students, seed=seed, related_fields=related)
    merged: dict[str, str | None] = {}
    for p in partitions:
        part = propose_matches(
            list(p.openings), list(p.students), seed=seed, related_fields=related
        )
        merged.update(part.assignments)
        for sid, e in part.explanations.items():
            assert whole.explanations[sid] == e
    assert merged == dict(whole.assignments)


def test_partition_links_fields_through_students_and_related_fields() -> None:
    a = opening(id="a", career_field="a")
    b = opening(id="b", career_field="b")
    c = opening(id="c", career_field="c")
    d = opening(id="d", career_field="d")
    s1 = student(id="s1", career_fields=("a", "b"))
    s2 = student(id="s2", career_fields=("c",))
    s3 = student(id="s3", career_fields=())
    parts = partition_by_career_field([a, b, c, d], [s1, s2, s3], {"c": frozenset({"d"})})
    assert [sorted(p.career_fields) for p in parts] == [["a", "b"], ["c", "d"], []]
    assert [[s.id for s in p.students] for p in parts] == [["s1"], ["s2"], ["s3"]]


def test_explanations_that_leave_the_inbox_state_no_age_and_no_language() -> None:
    """Explanations go out by email and webhook (issue 12, finding 9)."""
    o = opening(min_age=16, required_languages=frozenset({"ht"}), hours_per_week=18)
    s = student(age=17, languages=frozenset({"ht", "pt"}))
    r = propose_matches([o], [s], seed=2)
    lines = r.explanations["s1"].lines()
    assert lines and not any(word in " ".join(lines) for word in ("17", " ht", " pt"))
    why_not = propose_matches([opening(min_age=18)], [s], seed=2).why_not["s1"]
    assert not any("17" in str(entry) for entry in why_not)
