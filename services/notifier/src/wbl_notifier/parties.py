"""What a placement's parties are emailed, and when (ADR 6, "Who is asked, and when").
Pure: no I/O.

A step is one party's one action on one subject (the agreement's hash, "hours", a week's
hash, an evaluation): its emails are deliveries keyed (party, match, `<action>@<subject>#<n>`),
n counting from 0, so every replica and retry derives the same keys and one insert wins.
What stands is derived from those deliveries: a step with no live email gets its first; a
step whose last live email is `remind_after` old is reminded, at most `max_reminders` times.
A delivery holds neither the address nor the link: the worker asks registry for both at
send time, and drops the email as done when the step is no longer outstanding."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from wbl_notifier.domain import (
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    MatchSummary,
    delivery_id,
)

PARTIES = ("school", "employer", "student", "guardian")
SIGN_AGREEMENT = "sign-agreement"
LOG_HOURS = "log-hours"
VERIFY_WEEK = "verify-week"
EVALUATE = "evaluate"
HOURS_SUBJECT = "hours"  # registry's subject of the log-hours links
HOURS_PARTIES = ("student", "employer")
# The page of notifier's each action's link opens (the link in the URL's fragment).
PAGES = {
    SIGN_AGREEMENT: "agreement",
    LOG_HOURS: "hours",
    VERIFY_WEEK: "verify",
    EVALUATE: "evaluate",
}
# The hours link works for the whole placement and stays outstanding: it is sent once
# (the weekly verify email is the weekly nudge), never reminded.
NOT_REMINDED = frozenset({LOG_HOURS})
PARTY_PREFIX = "party_"
# An email counts as made unless it was dropped (its step done before it left).
LIVE = (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED)


@dataclass(frozen=True, order=True)
class Step:
    party: str
    action: str
    subject: str


def recipient(party: str) -> str:
    """The party's place in a delivery's `coordinator_id` (never a `coo_`/`emp_` id)."""
    return f"{PARTY_PREFIX}{party}"


def event_type(step: Step, n: int) -> str:
    return f"{step.action}@{step.subject}#{n}"


def step_of(delivery: Delivery) -> tuple[Step, int] | None:
    """The step and email number a party delivery is for; None for any other delivery."""
    if delivery.audience is not Audience.PARTY:
        return None
    head, _, number = delivery.event_type.rpartition("#")
    action, _, subject = head.partition("@")
    party = delivery.coordinator_id.removeprefix(PARTY_PREFIX)
    if not number.isdigit() or not subject:
        return None
    return Step(party, action, subject), int(number)


def party_delivery(match_id: str, step: Step, n: int, now: datetime) -> Delivery:
    """The n-th email of a step; the target is left empty: the address is asked at send."""
    who, kind = recipient(step.party), event_type(step, n)
    return Delivery(
        delivery_id=delivery_id(who, match_id, Channel.EMAIL, kind),
        coordinator_id=who,
        match_id=match_id,
        channel=Channel.EMAIL,
        event_type=kind,
        target="",
        status=DeliveryStatus.PENDING,
        matches=(MatchSummary(match_id, "", "", "", ()),),
        created_at=now,
        next_attempt_at=now,
        audience=Audience.PARTY,
    )


def by_step(existing: Iterable[Delivery]) -> dict[Step, list[tuple[int, Delivery]]]:
    found: dict[Step, list[tuple[int, Delivery]]] = defaultdict(list)
    for d in existing:
        step = step_of(d)
        if step is not None:
            found[step[0]].append((step[1], d))
    return {s: sorted(ds, key=lambda x: x[0]) for s, ds in found.items()}


def first_emails(
    match_id: str, steps: Iterable[Step], existing: Sequence[Delivery], now: datetime
) -> list[Delivery]:
    """A first email for each step none is live for (none yet, or every one dropped: the
    step was not open when they left, say the hours before the permit)."""
    known = by_step(existing)
    new = []
    for step in sorted(set(steps)):
        emails = known.get(step, [])
        if not any(d.status in LIVE for _, d in emails):
            new.append(party_delivery(match_id, step, _next(emails), now))
    return new


def reminders_due(
    match_id: str,
    steps: Iterable[Step],
    existing: Sequence[Delivery],
    now: datetime,
    remind_after: timedelta,
    max_reminders: int,
) -> list[Delivery]:
    """A reminder for each step still outstanding (but the hours) whose last live email was written
    `remind_after` ago or more and was not pending, while fewer than `max_reminders`
    reminders went out."""
    known = by_step(existing)
    due = []
    for step in sorted(s for s in set(steps) if s.action not in NOT_REMINDED):
        emails = known.get(step, [])
        live = [d for _, d in emails if d.status in LIVE]
        if not live or len(live) - 1 >= max_reminders:
            continue
        last = max(live, key=lambda d: d.created_at)
        if last.status is not DeliveryStatus.PENDING and now - last.created_at >= remind_after:
            due.append(party_delivery(match_id, step, _next(emails), now))
    return due


def is_reminder(delivery: Delivery, existing: Sequence[Delivery]) -> bool:
    """Whether an earlier email of the same step went out: this one reminds."""
    mine = step_of(delivery)
    if mine is None:
        return False
    emails = by_step(existing).get(mine[0], [])
    return any(n < mine[1] and d.status is DeliveryStatus.SENT for n, d in emails)


def _next(emails: list[tuple[int, Delivery]]) -> int:
    return emails[-1][0] + 1 if emails else 0


def signing_steps(text_hash: str) -> list[Step]:
    """On an issued agreement: everyone may be asked to sign; registry's outreach, read at
    send time, leaves out who need not (a guardian of an adult) or signed already."""
    return [Step(p, SIGN_AGREEMENT, text_hash) for p in PARTIES]


def hours_steps() -> list[Step]:
    """Once the placement may start (dropped at send time while it may not)."""
    return [Step(p, LOG_HOURS, HOURS_SUBJECT) for p in HOURS_PARTIES]


# -- what registry's outreach says, at send time ----------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str
    email: str


@dataclass(frozen=True)
class OutreachItem:
    step: Step
    link: str
    send_to: Contact | None
    expires_at: datetime
    week_of: str | None = None


@dataclass(frozen=True)
class OutreachView:
    """A placement's outstanding steps with their links and addresses: held in memory for
    one send or one sweep, never stored."""

    match_id: str
    student_first_name: str
    opening_title: str
    employer_name: str
    school_name: str
    ask: Contact | None
    items: tuple[OutreachItem, ...]

    def item(self, step: Step) -> OutreachItem | None:
        return next((i for i in self.items if i.step == step), None)

    @property
    def steps(self) -> list[Step]:
        return [i.step for i in self.items]


def outreach_view(body: dict[str, object]) -> OutreachView:
    """Registry's answer (`GET /v1/placements/{id}/outreach`) as a view."""

    def contact(found: object) -> Contact | None:
        if not isinstance(found, dict):
            return None
        return Contact(str(found["name"]), str(found["email"]))

    raw = body.get("items")
    items = raw if isinstance(raw, list) else []
    return OutreachView(
        match_id=str(body["match_id"]),
        student_first_name=str(body["student_first_name"]),
        opening_title=str(body["opening_title"]),
        employer_name=str(body["employer_name"]),
        school_name=str(body["school_name"]),
        ask=contact(body.get("ask")),
        items=tuple(
            OutreachItem(
                step=Step(str(i["party"]), str(i["action"]), str(i["subject"])),
                link=str(i["link"]),
                send_to=contact(i.get("send_to")),
                expires_at=datetime.fromisoformat(str(i["expires_at"])),
                week_of=None if i.get("week_of") is None else str(i["week_of"]),
            )
            for i in items
        ),
    )
