"""Notifier's domain: who hears about a match, and how a notification's status moves.
Pure: no I/O. Notifications carry ids and the matcher's explanation, no personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from wbl_schemas.events import CoordinatorProfile, MatchProposal


class NotificationStatus(StrEnum):
    PROPOSED = "proposed"
    WITHDRAWN = "withdrawn"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


# A decision or withdrawal is final; a late, redelivered proposal cannot reopen it.
FINAL = frozenset(
    {NotificationStatus.WITHDRAWN, NotificationStatus.CONFIRMED, NotificationStatus.DECLINED}
)


@dataclass(frozen=True)
class Notification:
    coordinator_id: str
    match_id: str
    student_id: str
    school_id: str
    opening_id: str
    employer_id: str
    career_field: str
    explanation: tuple[str, ...]
    status: NotificationStatus
    created_at: datetime
    updated_at: datetime
    history: tuple[str, ...] = field(default_factory=tuple)


def recipients(school_id: str, coordinators: list[CoordinatorProfile]) -> list[CoordinatorProfile]:
    """Every coordinator of the student's school."""
    return [c for c in coordinators if school_id in c.school_ids]


def notifications_for(
    proposal: MatchProposal, coordinators: list[CoordinatorProfile], now: datetime
) -> list[Notification]:
    return [
        Notification(
            coordinator_id=c.coordinator_id,
            match_id=proposal.match_id,
            student_id=proposal.student_id,
            school_id=proposal.school_id,
            opening_id=proposal.opening_id,
            employer_id=proposal.employer_id,
            career_field=proposal.career_field,
            explanation=proposal.explanation,
            status=NotificationStatus.PROPOSED,
            created_at=now,
            updated_at=now,
        )
        for c in recipients(proposal.school_id, coordinators)
    ]
