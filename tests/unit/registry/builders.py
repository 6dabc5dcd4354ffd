"""Test data for registry tests: valid openings, students and match proposals."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from wbl_registry.domain import OpeningTerms, PersonalDetails, StudentPlan
from wbl_registry.handlers import StudentApplication
from wbl_schemas.events import (
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    Place,
    WithdrawalReason,
)

WORCESTER = Place(town="Worcester", lat=42.2626, lon=-71.8023)
FIELD = "robotics-and-automation-technology"

TERMS = OpeningTerms(
    title="Robotics intern",
    career_field=FIELD,
    seats=2,
    location=WORCESTER,
    remote=False,
    starts_on=date(2027, 6, 1),
    ends_on=date(2027, 8, 31),
    hours_per_week=20,
    paid=True,
)
PLAN = StudentPlan(
    program="stem-tech-academy",
    career_fields=(FIELD,),
    credentials=("osha-10-general",),
    grade=11,
    languages=("pt",),
    home=WORCESTER,
    max_commute_km=20,
    available_from=date(2027, 6, 1),
    available_to=date(2027, 8, 31),
    hours_per_week=20,
)


def person(first: str = "Ana", last: str = "Souza") -> PersonalDetails:
    return PersonalDetails(
        first, last, f"{first.lower()}.{secrets.token_hex(3)}@example.org", date(2010, 3, 14)
    )


def application(school_id: str, **changes: Any) -> StudentApplication:
    return StudentApplication(school_id=school_id, person=person(), plan=PLAN, **changes)


def opening_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Robotics intern",
        "career_field": FIELD,
        "seats": 2,
        "location": {"town": "Worcester", "lat": 42.2626, "lon": -71.8023},
        "starts_on": "2027-06-01",
        "ends_on": "2027-08-31",
        "hours_per_week": 20,
        "paid": True,
    }
    return {**body, **changes}


def student_body(school_id: str, first: str = "Ana", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "school_id": school_id,
        "first_name": first,
        "last_name": "Zyxwvuts",
        "email": f"{first.lower()}.{secrets.token_hex(4)}@pupils.example.org",
        "date_of_birth": "2010-03-14",
        "grade": 11,
        "program": "stem-tech-academy",
        "career_fields": [FIELD],
        "credentials": ["osha-10-general"],
        "home": {"town": "Worcester", "lat": 42.27, "lon": -71.8},
        "max_commute_km": 20,
        "available_from": "2027-06-01",
        "available_to": "2027-08-31",
        "hours_per_week": 20,
    }
    return {**body, **changes}


def proposed(
    student_id: str, school_id: str, opening_id: str, employer_id: str, match_id: str | None = None
) -> MatchProposed:
    return MatchProposed(
        producer="matcher",
        payload=MatchProposal(
            match_id=match_id or f"mat_{secrets.token_hex(8)}",
            round_id="rnd_1",
            student_id=student_id,
            school_id=school_id,
            opening_id=opening_id,
            employer_id=employer_id,
            career_field=FIELD,
            explanation=("career field matches",),
        ),
    )


def withdrawn(
    proposal: MatchProposed,
    reason: str = "The employer closed the opening.",
    code: WithdrawalReason = "opening_closed",
) -> MatchWithdrawn:
    p = proposal.payload
    return MatchWithdrawn(
        producer="matcher",
        payload=MatchWithdrawal(
            match_id=p.match_id,
            round_id=p.round_id,
            student_id=p.student_id,
            school_id=p.school_id,
            opening_id=p.opening_id,
            reason_code=code,
            reason=reason,
        ),
    )
