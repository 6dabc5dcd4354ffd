"""Test data for the notifier's tests, unit and integration alike."""

from __future__ import annotations

from datetime import UTC, datetime

from wbl_notifier.domain import Notification, NotificationStatus
from wbl_schemas.events import MatchProposal

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
