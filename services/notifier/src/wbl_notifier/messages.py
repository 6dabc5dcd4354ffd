"""What a coordinator receives by email or webhook, and an employer by webhook (pure: builds
messages, sends nothing).

Messages carry the pseudonymous student reference, what the opening is (title, employer,
town, dates, hours, pay: no student data) and the matcher's explanation; names and contact
details stay in registry and reach the coordinator only on the inbox page, fetched with
their own token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from jinja2 import Environment, PackageLoader, select_autoescape

from wbl_notifier.domain import (
    DIGEST_EVENT,
    EMPLOYER_EVENTS,
    REMINDER_EVENT,
    WITHDRAWN_EVENT,
    Delivery,
    MatchSummary,
    OpeningSummary,
    describe_match_opening,
)
from wbl_schemas.events import split_explanation


def when(moment: datetime | None) -> str:
    """A time as coordinators read it: `Friday 4 December 2026 at 14:00 UTC`."""
    if moment is None:
        return "when its window ends"
    utc = moment.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B %Y} at {utc:%H:%M} UTC"


TEMPLATES = Environment(
    loader=PackageLoader("wbl_notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = when


@dataclass(frozen=True)
class MatchLinks:
    inbox: str
    confirm: str
    decline: str


@dataclass(frozen=True)
class MatchText:
    """A match as a message tells it."""

    match: MatchSummary
    links: MatchLinks
    opening: str  # the opening in one line
    explanation: list[str]  # the summary lines; the detail is on the inbox page


def match_text(match: MatchSummary, links: MatchLinks, opening: OpeningSummary | None) -> MatchText:
    summary, _ = split_explanation(match.explanation)
    line = describe_match_opening(match.opening_id, match.career_field, opening)
    return MatchText(match, links, line, summary)


def subject(delivery: Delivery, openings: dict[str, OpeningSummary] | None = None) -> str:
    if delivery.event_type == DIGEST_EVENT:
        count = len(delivery.matches)
        return f"WBL placements: {count} new match{'es' if count != 1 else ''} to review"
    match = delivery.matches[0]
    opening = (openings or {}).get(match.opening_id)
    if delivery.event_type == REMINDER_EVENT:
        what = opening.title if opening else f"opening {match.opening_id}"
        return (
            f"WBL placements: reminder, the offer for student {match.student_ref} ({what}) "
            f"ends {when(match.expires_at)}"
        )[:250]
    if delivery.event_type == WITHDRAWN_EVENT:
        what = opening.title if opening else f"an opening in {match.career_field}"
        return f"WBL placements: offer withdrawn, student {match.student_ref} ({what})"[:250]
    if opening is None:
        return f"WBL placements: new match for an opening in {match.career_field}"
    who = f"{opening.title} at {opening.employer_name}" if opening.employer_name else opening.title
    return f"WBL placements: new match: {who}"[:250]


def email_message(
    delivery: Delivery,
    links: dict[str, MatchLinks],
    inbox_url: str,
    sender: str,
    openings: dict[str, OpeningSummary] | None = None,
) -> EmailMessage:
    known = openings or {}
    context = {
        "digest": delivery.event_type == DIGEST_EVENT,
        "reminder": delivery.event_type == REMINDER_EVENT,
        "withdrawn": delivery.event_type == WITHDRAWN_EVENT,
        "matches": [
            match_text(m, links[m.match_id], known.get(m.opening_id)) for m in delivery.matches
        ],
        "inbox_url": inbox_url,
    }
    message = EmailMessage()
    message["Subject"] = subject(delivery, known)
    message["From"] = sender
    message["To"] = delivery.target
    message["Message-ID"] = make_msgid(idstring=delivery.delivery_id, domain="wbl-placements")
    message["X-WBL-Event-Id"] = delivery.delivery_id
    message.set_content(TEMPLATES.get_template("email.txt").render(context))
    message.add_alternative(TEMPLATES.get_template("email.html").render(context), subtype="html")
    return message


def _opening_json(opening: OpeningSummary | None) -> dict[str, object] | None:
    if opening is None:
        return None
    return {
        "title": opening.title,
        "employer_name": opening.employer_name,
        "town": opening.town,
        "remote": opening.town is None,
        "starts_on": opening.starts_on.isoformat(),
        "ends_on": opening.ends_on.isoformat(),
        "hours_per_week": opening.hours_per_week,
        "paid": opening.paid,
    }


def _match_json(
    match: MatchSummary, links: MatchLinks, opening: OpeningSummary | None
) -> dict[str, object]:
    summary, detail = split_explanation(match.explanation)
    return {
        "match_id": match.match_id,
        "student_ref": match.student_ref,
        "opening_id": match.opening_id,
        "career_field": match.career_field,
        "opening": _opening_json(opening),
        "opening_text": describe_match_opening(match.opening_id, match.career_field, opening),
        "explanation": summary,
        "explanation_detail": detail,
        "employer_id": match.employer_id,
        "expires_at": None if match.expires_at is None else match.expires_at.isoformat(),
        "inbox_url": links.inbox,
        **({"withdrawal_reason": match.withdrawal_reason} if match.withdrawal_reason else {}),
    }


def webhook_body(
    delivery: Delivery,
    links: dict[str, MatchLinks],
    inbox_url: str,
    openings: dict[str, OpeningSummary] | None = None,
) -> bytes:
    """The JSON a webhook receiver gets; signed as these exact bytes."""
    known = openings or {}
    body = {
        "event_id": delivery.delivery_id,
        "event_type": delivery.event_type,
        "coordinator_id": delivery.coordinator_id,
        "created_at": delivery.created_at.isoformat(),
        "inbox_url": inbox_url,
        "matches": [
            _match_json(m, links[m.match_id], known.get(m.opening_id)) for m in delivery.matches
        ],
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def employer_webhook_body(delivery: Delivery, openings: dict[str, OpeningSummary]) -> bytes:
    """The JSON an employer's receiver gets: which match on which of its openings and what
    it now is, as GET /v1/matches shows it (where the candidate summary, and once confirmed
    the student's name and the coordinator's contact, are read with the employer's key).
    Nothing of the student: the notifier holds none. Signed as these exact bytes."""
    match = delivery.matches[0]
    opening = openings.get(match.opening_id)
    body = {
        "event_id": delivery.delivery_id,
        "event_type": delivery.event_type,
        "employer_id": delivery.coordinator_id,
        "created_at": delivery.created_at.isoformat(),
        "match": {
            "match_id": match.match_id,
            "opening_id": match.opening_id,
            "opening_title": opening.title if opening else None,
            "status": EMPLOYER_EVENTS[delivery.event_type],
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
