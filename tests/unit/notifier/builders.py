"""Test data for the notifier's tests, unit and integration alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from wbl_notifier.domain import Notification, NotificationStatus
from wbl_notifier.messages import MatchLinks
from wbl_schemas.events import (
    CoordinatorProfile,
    MatchProposal,
    NotificationChannels,
    OpeningSnapshot,
    Place,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def notification(
    match_id: str,
    coordinator_id: str = "coo_1",
    *,
    created: datetime = T0,
    updated: datetime | None = None,
) -> Notification:
    """A proposed match in a coordinator's inbox; the explanation holds characters that
    must be escaped in HTML."""
    return Notification(
        coordinator_id=coordinator_id,
        match_id=match_id,
        student_id=f"stu_{match_id}",
        school_id="sch_1",
        opening_id="opn_1",
        employer_id="emp_1",
        career_field="cybersecurity",
        explanation=("career field matches", "holds <osha-10> & more"),
        status=NotificationStatus.PROPOSED,
        created_at=created,
        updated_at=updated or created,
    )


def proposal(match_id: str, school_id: str = "sch_1", why: str = "fits") -> MatchProposal:
    """A MatchProposed payload for a student of `school_id`."""
    return MatchProposal(
        match_id=match_id,
        round_id="rnd_1",
        student_id=f"stu_{match_id}",
        school_id=school_id,
        opening_id="opn_1",
        employer_id="emp_1",
        career_field="cybersecurity",
        explanation=(why,),
    )


def opening_snapshot(version: int = 1, **changes: Any) -> OpeningSnapshot:
    """An opening as registry publishes it: 12 Jan-20 Mar 2027 in Springfield, 15 h, paid."""
    fields: dict[str, Any] = {
        "opening_id": "opn_1",
        "employer_id": "emp_1",
        "version": version,
        "title": "Medical assistant intern",
        "employer_name": "Baystate Health",
        "career_field": "health-assisting",
        "seats": 2,
        "seats_remaining": 2,
        "location": Place(town="Springfield", lat=42.1, lon=-72.59),
        "starts_on": date(2027, 1, 12),
        "ends_on": date(2027, 3, 20),
        "hours_per_week": 15,
        "paid": True,
        "min_age": 16,
    }
    return OpeningSnapshot.model_validate(fields | changes)


def coordinator_profile(digest: str = "immediate") -> CoordinatorProfile:
    """coo_1 of sch_1, with an email address and a webhook."""
    return CoordinatorProfile(
        coordinator_id="coo_1",
        version=1,
        school_ids=("sch_1",),
        channels=NotificationChannels(
            email="c@school.example.org", webhook_url="https://hooks.example.org/x", digest=digest
        ),
    )


def match_links(match_id: str) -> MatchLinks:
    return MatchLinks(f"https://x/inbox#match-{match_id}", "https://x/c", "https://x/d")
