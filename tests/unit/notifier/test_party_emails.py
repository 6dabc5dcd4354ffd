"""The parties' emails (ADR 6) without I/O: which steps get a first email or a reminder
(pure), the words of an email, and the handlers, worker and sweep over the in-memory
store with a fake of registry's outreach."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.notifier.test_handlers_in_memory import T0, World
from wbl_notifier.domain import Audience, Delivery, DeliveryStatus
from wbl_notifier.lease import Lease
from wbl_notifier.parties import (
    Contact,
    OutreachItem,
    OutreachView,
    Step,
    first_emails,
    is_reminder,
    party_delivery,
    reminders_due,
    step_of,
)
from wbl_notifier.party_messages import party_email, party_text
from wbl_notifier.party_sweep import PartySweep
from wbl_schemas.events import (
    AgreementComplete,
    AgreementIssued,
    AgreementRef,
    PermitRecorded,
    PlacementFact,
)

pytestmark = pytest.mark.unit

MATCH = "mat_rosa"
HASH = "a" * 64
SIGN = {p: Step(p, "sign-agreement", HASH) for p in ("school", "employer", "student", "guardian")}
HOUR = timedelta(hours=1)
REMIND = timedelta(days=3)


def sent(d: Delivery) -> Delivery:
    return replace(d, status=DeliveryStatus.SENT)


def dropped(d: Delivery) -> Delivery:
    return replace(d, status=DeliveryStatus.CANCELLED)


# -- what to send (pure) -------------------------------------------------------------------


def test_a_step_gets_one_first_email_whose_key_every_replica_derives_alike() -> None:
    first = first_emails(MATCH, [SIGN["student"], SIGN["student"]], [], T0)
    assert len(first) == 1
    again = first_emails(MATCH, [SIGN["student"]], [], T0 + HOUR)
    assert again[0].delivery_id == first[0].delivery_id
    assert first[0].target == "" and first[0].audience is Audience.PARTY
    assert step_of(first[0]) == (SIGN["student"], 0)
    # Live (pending, sent or failed): no second first email.
    for status in (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED):
        live = replace(first[0], status=status)
        assert first_emails(MATCH, [SIGN["student"]], [live], T0) == []
    # Dropped because the step was not open then (hours before the permit): a new one.
    redo = first_emails(MATCH, [SIGN["student"]], [dropped(first[0])], T0 + HOUR)
    assert [step_of(d) for d in redo] == [(SIGN["student"], 1)]


def test_a_step_is_reminded_after_its_last_email_at_most_max_reminders_times() -> None:
    step = SIGN["guardian"]
    emails = [sent(party_delivery(MATCH, step, 0, T0))]

    def due(now: datetime, found: list[Delivery], most: int = 2) -> list[Delivery]:
        return reminders_due(MATCH, [step], found, now, REMIND, most)

    assert due(T0 + REMIND - HOUR, emails) == []
    reminder = due(T0 + REMIND, emails)
    assert [step_of(d) for d in reminder] == [(step, 1)]
    assert due(T0 + REMIND, [emails[0], reminder[0]]) == []  # the reminder is pending
    emails.append(sent(reminder[0]))
    assert due(T0 + REMIND + HOUR, emails) == []  # three days after the reminder, not the first
    emails.append(sent(due(T0 + 2 * REMIND, emails)[0]))
    assert due(T0 + 9 * REMIND, emails) == []  # two reminders made: no more
    assert due(T0 + REMIND, emails[:1], most=0) == []
    hours = Step("student", "log-hours", "hours")
    logged = [sent(party_delivery(MATCH, hours, 0, T0))]
    assert reminders_due(MATCH, [hours], logged, T0 + 9 * REMIND, REMIND, 5) == []
    # A step no longer outstanding is not reminded, whatever its emails.
    assert reminders_due(MATCH, [], emails, T0 + 9 * REMIND, REMIND, 5) == []


def test_an_email_reminds_only_when_an_earlier_one_of_its_step_went_out() -> None:
    first = party_delivery(MATCH, SIGN["school"], 0, T0)
    second = party_delivery(MATCH, SIGN["school"], 1, T0)
    assert not is_reminder(second, [dropped(first), second])
    assert is_reminder(second, [sent(first), second])
    assert not is_reminder(first, [sent(first)])


# -- the words ------------------------------------------------------------------------------


def view(*items: OutreachItem, ask: Contact | None = None) -> OutreachView:
    return OutreachView(
        match_id=MATCH,
        student_first_name="Rosa",
        opening_title="Auto technician intern",
        employer_name="Acme Auto",
        school_name="Worcester Technical High School",
        ask=ask,
        items=items,
    )


def item(step: Step, week_of: str | None = None) -> OutreachItem:
    return OutreachItem(
        step=step,
        link="TOKEN.abc",
        send_to=Contact("Maria Souza", "maria.souza@family.example.org"),
        expires_at=datetime(2026, 12, 16, 14, 0, tzinfo=UTC),
        week_of=week_of,
    )


def test_the_email_says_who_what_where_to_act_until_when_and_whom_to_ask() -> None:
    guardian = item(SIGN["guardian"])
    ask = Contact("Dana Coordinator", "dana@school.example.org")
    text = party_text(view(guardian, ask=ask), guardian, False, "https://wbl.example.org/")
    assert text.subject == "Please sign the training agreement for Rosa at Acme Auto"
    assert text.greeting == "Dear Maria Souza,"
    assert "Auto technician intern at Acme Auto" in text.about
    assert "Worcester Technical High School" in text.about
    assert "as Rosa's parent or guardian" in text.todo
    assert text.url == "https://wbl.example.org/agreement#TOKEN.abc"
    assert "Wednesday 16 December 2026 at 14:00 UTC" in text.expires
    assert text.ask == (
        "Questions? Ask Dana Coordinator at Worcester Technical High School "
        "(dana@school.example.org)."
    )
    reminder = party_text(view(guardian), guardian, True, "https://wbl.example.org")
    assert reminder.subject.startswith("Reminder: Please sign")
    assert "coordinator at Worcester Technical High School" in reminder.ask

    week = item(Step("employer", "verify-week", "2026-11-30@" + "b" * 64), "2026-11-30")
    words = party_text(view(week), week, False, "https://wbl.example.org")
    assert (
        words.subject
        == "Please verify Rosa's hours at Acme Auto for the week of Monday 30 November 2026"
    )
    assert words.url.startswith("https://wbl.example.org/verify#")
    hours = item(Step("student", "log-hours", "hours"))
    assert party_text(view(hours), hours, False, "x").subject == "Log your hours at Acme Auto"

    message = party_email(
        view(guardian),
        guardian,
        False,
        party_delivery(MATCH, guardian.step, 0, T0),
        "https://w",
        "WBL <n@w>",
    )
    assert message["To"] == "Maria Souza <maria.souza@family.example.org>"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "https://w/agreement#TOKEN.abc" in plain.get_content()
    assert 'href="https://w/agreement#TOKEN.abc"' in html.get_content()


# -- handlers, worker and sweep in memory ----------------------------------------------------


@dataclass
class FakeOutreach:
    """Registry's outreach as the worker and the sweep read it."""

    steps: list[Step] = field(default_factory=list)
    asked: int = 0

    async def outreach(self, match_id: str) -> dict[str, Any] | None:
        self.asked += 1
        return {
            "match_id": match_id,
            "student_first_name": "Rosa",
            "opening_title": "Auto technician intern",
            "employer_name": "Acme Auto",
            "school_name": "Worcester Technical High School",
            "ask": None,
            "items": [
                {
                    "party": s.party,
                    "action": s.action,
                    "subject": s.subject,
                    "link": f"LINK-{s.party}",
                    "send_to": {"name": s.party.title(), "email": f"{s.party}@example.org"},
                    "expires_at": "2026-03-16T09:00:00+00:00",
                    "week_of": None,
                }
                for s in self.steps
            ],
        }

    async def active(self, after: str, limit: int) -> tuple[list[str], str | None]:
        return ([MATCH] if after < MATCH else []), None


def ids() -> dict[str, str]:
    return {"match_id": MATCH, "student_id": "stu_rosa", "school_id": "sch_worcester"}


def issued() -> AgreementIssued:
    return AgreementIssued(producer="test", payload=AgreementRef(**ids(), text_hash=HASH))


def world_with(outreach: FakeOutreach) -> tuple[World, PartySweep]:
    world = World()
    world.worker.outreach = outreach
    world.worker.public_url = "https://wbl.example.org"
    sweep = PartySweep(
        store=world.store,
        outreach=outreach,
        lease=Lease(world.leases, "party-sweep", "r1", timedelta(minutes=3), world.clock),
        sweep_s=60,
        remind_after=REMIND,
        max_reminders=1,
        clock=world.clock,
    )
    return world, sweep


async def test_an_issued_agreement_emails_each_party_still_to_sign_and_reminds_once() -> None:
    outreach = FakeOutreach([SIGN["school"], SIGN["employer"], SIGN["student"]])  # an adult
    world, sweep = world_with(outreach)
    await world.notifier.on_placement_event(issued())
    await world.notifier.on_placement_event(issued())  # a redelivery writes nothing twice
    assert len(await world.store.party_deliveries(MATCH)) == 4
    await world.send_due()
    assert world.mailbox.to() == [
        "Employer <employer@example.org>",
        "School <school@example.org>",
        "Student <student@example.org>",
    ]
    statuses = {d.coordinator_id: d.status for d in await world.store.party_deliveries(MATCH)}
    assert statuses["party_guardian"] is DeliveryStatus.CANCELLED  # no guardian signs: dropped
    assert world.store.placements == {MATCH: "sch_worcester"}

    # The student signs meanwhile; three days on, the others are reminded, once.
    outreach.steps = [SIGN["school"], SIGN["employer"]]
    assert await sweep.sweep() == 0
    world.clock.now = T0 + REMIND
    assert await sweep.sweep() == 2
    await world.send_due()
    reminders = [str(m["Subject"]) for m in world.mailbox.sent[3:]]
    assert reminders == ["Reminder: Please sign the training agreement for Rosa at Acme Auto"] * 2
    world.clock.now = T0 + 3 * REMIND
    assert await sweep.sweep() == 0


async def test_hours_emails_wait_for_the_placement_to_start_and_an_ended_one_is_not_swept() -> None:
    outreach = FakeOutreach([])  # the permit is missing: no log-hours step yet
    world, sweep = world_with(outreach)
    await world.notifier.on_placement_event(
        AgreementComplete(producer="t", payload=AgreementRef(**ids(), text_hash=HASH))
    )
    await world.send_due()
    assert world.mailbox.sent == []  # dropped, as done
    hours = [Step("student", "log-hours", "hours"), Step("employer", "log-hours", "hours")]
    outreach.steps = hours
    await world.notifier.on_placement_event(
        PermitRecorded(producer="t", payload=PlacementFact(**ids()))
    )
    await world.send_due()
    assert sorted(str(m["Subject"]) for m in world.mailbox.sent) == [
        "Log or correct Rosa's hours at Acme Auto",
        "Log your hours at Acme Auto",
    ]
    body = world.mailbox.sent[0].get_body(("plain",))
    assert body is not None and "https://wbl.example.org/hours#LINK-" in body.get_content()

    await world.store.end_placement(MATCH)
    world.clock.now = T0 + 10 * REMIND
    asked = outreach.asked
    assert await sweep.sweep() == 0
    assert outreach.asked == asked  # an ended placement is not asked about
