"""Seeded random instances for benchmarks and tests (pure; no I/O).

``random_instance_document`` builds an explicit preference-list instance in the
JSON shape of CONTRACTS.md. Students are spread evenly over career fields; each
ranks ``choices`` openings of its own field; each opening ranks (in random order)
the students who applied to it, minus a share it finds unacceptable.

``random_profiles`` builds profile-mode inputs of the same scale.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from .profiles import HiringPreferences, Location, OpeningProfile, StudentProfile

__all__ = ["random_instance_document", "random_profiles"]


def random_instance_document(
    *,
    students: int,
    openings: int,
    fields: int = 1,
    choices: int = 10,
    seed: int = 0,
    min_capacity: int = 1,
    max_capacity: int = 5,
    unacceptable_share: float = 0.1,
) -> dict[str, Any]:
    """Return ``{"students": [...], "openings": [...]}`` for a random instance."""
    if students < 0 or openings < 1 or fields < 1 or choices < 0:
        raise ValueError("need students >= 0, openings >= 1, fields >= 1, choices >= 0")
    rng = random.Random(seed)
    fields = min(fields, openings)
    opening_ids = [f"o{i}" for i in range(openings)]
    by_field: list[list[int]] = [list(range(f, openings, fields)) for f in range(fields)]
    applicants: list[list[str]] = [[] for _ in range(openings)]
    student_docs: list[dict[str, Any]] = []
    sample = rng.sample
    for i in range(students):
        student_id = f"s{i}"
        pool = by_field[i % fields]
        picked = sample(pool, min(choices, len(pool)))
        for o in picked:
            applicants[o].append(student_id)
        student_docs.append({"id": student_id, "ranking": [opening_ids[o] for o in picked]})
    opening_docs: list[dict[str, Any]] = []
    for o, ranking in enumerate(applicants):
        rng.shuffle(ranking)
        keep = len(ranking) - int(len(ranking) * unacceptable_share)
        opening_docs.append(
            {
                "id": opening_ids[o],
                "capacity": rng.randint(min_capacity, max_capacity),
                "ranking": ranking[:keep],
            }
        )
    return {"students": student_docs, "openings": opening_docs}


def random_profiles(
    *,
    students: int,
    openings: int,
    fields: int = 40,
    seed: int = 0,
) -> tuple[list[OpeningProfile], list[StudentProfile], dict[str, frozenset[str]]]:
    """Seeded random openings, students and related fields spread over Massachusetts.

    Students take 1-3 neighbouring career fields, live near one of 60 towns and
    commute 10-40 km; openings sit near towns too (5% remote). About half of the
    openings state hiring preferences; some need OSHA-10 or are hazardous.
    """
    rng = random.Random(seed)
    field_codes = [f"field-{i:02d}" for i in range(fields)]
    related = {
        field_codes[i]: frozenset({field_codes[(i + 1) % fields]})
        for i in range(0, fields, 2)
        if fields > 1
    }
    towns = [(f"town-{t}", rng.uniform(41.55, 42.75), rng.uniform(-73.3, -70.1)) for t in range(60)]
    schools = [(f"school-{k}", towns[k % len(towns)]) for k in range(300)]

    def near(town: tuple[str, float, float], spread: float) -> Location:
        name, lat, lon = town
        return Location(name, lat + rng.gauss(0, spread), lon + rng.gauss(0, spread))

    summer = (date(2025, 6, 23), date(2025, 8, 29))
    autumn = (date(2025, 9, 8), date(2025, 12, 19))
    spring = (date(2026, 1, 12), date(2026, 5, 29))
    windows = [summer, autumn, spring]
    opening_list: list[OpeningProfile] = []
    for i in range(openings):
        career_field = field_codes[i % fields]
        starts_on, ends_on = rng.choice(windows)
        hazardous = rng.random() < 0.1
        prefs = HiringPreferences()
        languages: frozenset[str] = frozenset()
        if rng.random() < 0.5:
            prefs = HiringPreferences(
                partner_programs=frozenset(rng.sample(PROGRAMS, rng.randint(0, 2))),
                partner_schools=frozenset(
                    s for s, _ in rng.sample(schools, rng.choice((0, 0, 1, 2)))
                ),
                preferred_credentials=frozenset(rng.sample(CREDENTIALS, rng.randint(0, 3))),
            )
            # Drawn as before (instances stay the same), now a requirement of one in ten.
            drawn = frozenset(rng.sample(LANGUAGES[1:], rng.choice((0, 0, 0, 1))))
            languages = drawn if i % 10 == 0 else frozenset()
        remote = rng.random() < 0.05
        opening_list.append(
            OpeningProfile(
                id=f"o{i}",
                employer_id=f"e{rng.randrange(max(1, openings // 4))}",
                career_field=career_field,
                seats=rng.choice((1, 1, 1, 2, 2, 3, 4)),
                starts_on=starts_on,
                ends_on=ends_on,
                hours_per_week=float(rng.choice((8, 12, 15, 18, 20, 24, 30, 40))),
                paid=rng.random() < 0.7,
                location=None if remote else near(rng.choice(towns), 0.08),
                remote=remote,
                hazardous=hazardous,
                min_age=rng.choice((14, 16, 16, 16, 17)),
                min_grade=rng.choice((9, 9, 10, 11)),
                required_credentials=frozenset(["osha-10"] if rng.random() < 0.3 else []),
                hiring_preferences=prefs,
                required_languages=languages,
            )
        )
    student_list: list[StudentProfile] = []
    for i in range(students):
        first = rng.randrange(fields)
        count = min(fields, rng.choice((1, 1, 2, 2, 3)))
        own = [field_codes[(first + k) % fields] for k in range(count)]
        grade = rng.randint(9, 14)
        school_id, town = rng.choice(schools)
        held = {c for c in CREDENTIALS if rng.random() < 0.2}
        if rng.random() < 0.5:
            held.add("osha-10")
        available_from, available_to = rng.choice(windows)
        if rng.random() < 0.3:
            available_to = spring[1]
        student_list.append(
            StudentProfile(
                id=f"s{i}",
                school_id=school_id,
                program=rng.choice(PROGRAMS),
                career_fields=tuple(own),
                grade=grade,
                age=grade + 5 + rng.randint(0, 1),
                home=near(town, 0.05),
                max_commute_km=float(rng.choice((10, 15, 20, 25, 30, 40))),
                available_from=available_from,
                available_to=available_to,
                hours_per_week=float(rng.choice((10, 15, 18, 20, 25, 30, 40))),
                credentials=frozenset(held),
                languages=frozenset(
                    ["en"] + ([rng.choice(LANGUAGES[1:])] if rng.random() < 0.3 else [])
                ),
                favourites=frozenset(
                    f"o{rng.randrange(openings)}" for _ in range(rng.choice((0, 0, 1, 2)))
                ),
            )
        )
    return opening_list, student_list, related


PROGRAMS = [
    "chapter-74",
    "career-connections",
    "innovation-pathways",
    "early-college",
    "stem-tech-academy",
    "p-tech",
    "certificate",
]
CREDENTIALS = [
    "osha-10",
    "cpr-first-aid",
    "servsafe",
    "comptia-itf",
    "comptia-a-plus",
    "nccer-core",
    "epa-608",
    "ase-entry",
    "nims-machining-1",
]
LANGUAGES = ["en", "es", "pt", "ht", "zh", "vi"]
