"""What a coordinator is told about a match: the opening in one line (title, employer, town,
dates, hours, pay), the explanation's summary with its detail apart; and the inbox API that
carries them, pages with a cursor, says who is signed in and re-reads one match."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.notifier.builders import T0, notification, opening_snapshot, proposal
from wbl_notifier.adapters import ChannelOff, CoordinatorIdentity, RegistryAnswer, SmtpMailer
from wbl_notifier.app import create_app
from wbl_notifier.config import NotifierSettings, SmtpSettings
from wbl_notifier.domain import (
    PROPOSED_EVENT,
    Delivery,
    DeliveryStatus,
    MatchSummary,
    OpeningSummary,
    date_range,
    deliveries_for,
    describe_match_opening,
    describe_opening,
)
from wbl_notifier.handlers import Decisions, Notifier
from wbl_notifier.links import Signer
from wbl_notifier.messages import MatchLinks, email_message, subject, webhook_body
from wbl_notifier.store import InMemoryNotifierStore
from wbl_schemas.events import (
    EXPLANATION_DETAIL,
    CoordinatorProfile,
    CoordinatorRegistered,
    MatchProposed,
    NotificationChannels,
    OpeningPublished,
    OpeningUpdated,
    PlacementConfirmed,
    PlacementDecision,
)

pytestmark = pytest.mark.unit

EXPLANATION = (
    "The student fits: cybersecurity is the student's 1st career field.",
    "For the student it is the 1st choice of 2 openings they qualify for.",
    "Between students ranked equally, a random draw fixed for the round decided.",
    EXPLANATION_DETAIL,
    "How ties are broken: lottery number 0.0382 (round seed 20260901)",
)


snapshot = opening_snapshot


def test_an_opening_reads_as_one_line() -> None:
    assert describe_opening(OpeningSummary.of(snapshot())) == (
        "Medical assistant intern at Baystate Health · Springfield · 12 Jan\u201320 Mar "
        "· 15 h/week · paid"
    )
    remote = OpeningSummary.of(snapshot(remote=True, location=None, paid=False, employer_name=""))
    assert describe_opening(remote) == (
        "Medical assistant intern · remote · 12 Jan\u201320 Mar · 15 h/week · unpaid"
    )


def test_dates_name_the_years_only_across_two() -> None:
    assert date_range(date(2026, 12, 1), date(2027, 2, 5)) == "1 Dec 2026\u20135 Feb 2027"
    assert date_range(date(2027, 6, 1), date(2027, 8, 30)) == "1 Jun\u201330 Aug"


def test_an_opening_not_heard_of_yet_is_named_by_its_field() -> None:
    assert describe_match_opening("opn_9", "welding", None) == (
        "An opening in welding (reference opn_9)"
    )


def summary(explanation: tuple[str, ...] = EXPLANATION) -> MatchSummary:
    return MatchSummary("mat_1", "stu_1", "opn_1", "health-assisting", explanation)


def delivery(*matches: MatchSummary, event_type: str = PROPOSED_EVENT) -> Delivery:
    return Delivery(
        delivery_id="d1",
        coordinator_id="coo_1",
        match_id="mat_1",
        channel=deliveries_for(notification("mat_1"), profile(), T0)[0].channel,
        event_type=event_type,
        target="rosa@school.example.org",
        status=DeliveryStatus.PENDING,
        matches=matches,
        created_at=T0,
        next_attempt_at=T0,
    )


def profile() -> CoordinatorProfile:
    return CoordinatorProfile(
        coordinator_id="coo_1",
        version=1,
        school_ids=("sch_1",),
        channels=NotificationChannels(email="rosa@school.example.org"),
    )


LINKS = {"mat_1": MatchLinks("https://x/inbox#m", "https://x/c", "https://x/d")}
OPENINGS = {"opn_1": OpeningSummary.of(snapshot())}


def test_the_email_names_the_opening_and_gives_the_summary_only() -> None:
    message = email_message(delivery(summary()), LINKS, "https://x/inbox", "wbl@x", OPENINGS)
    assert message["Subject"] == (
        "WBL placements: new match: Medical assistant intern at Baystate Health"
    )
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert "Baystate Health · Springfield · 12 Jan\u201320 Mar · 15 h/week · paid" in body
        assert "The student fits" in body
        assert "20260901" not in body and EXPLANATION_DETAIL not in body
        assert "opn_1" not in body


def test_a_subject_without_the_opening_s_details_names_its_field() -> None:
    assert subject(delivery(summary())) == (
        "WBL placements: new match for an opening in health-assisting"
    )


def test_the_webhook_carries_the_opening_and_the_explanation_in_two_parts() -> None:
    body = json.loads(webhook_body(delivery(summary()), LINKS, "https://x/inbox", OPENINGS))
    [match] = body["matches"]
    assert match["opening"] == {
        "title": "Medical assistant intern",
        "employer_name": "Baystate Health",
        "town": "Springfield",
        "remote": False,
        "starts_on": "2027-01-12",
        "ends_on": "2027-03-20",
        "hours_per_week": 15,
        "paid": True,
    }
    assert match["opening_text"].startswith("Medical assistant intern at Baystate Health")
    assert match["explanation"] == list(EXPLANATION[:3])
    assert match["explanation_detail"] == [EXPLANATION[4]]


def test_a_digest_names_each_opening() -> None:
    other = replace(summary(), match_id="mat_2", opening_id="opn_2")
    links = LINKS | {"mat_2": MatchLinks("i2", "c2", "d2")}
    message = email_message(
        delivery(summary(), other, event_type="MatchDigest"), links, "u", "s", OPENINGS
    )
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Medical assistant intern at Baystate Health" in text
    assert "An opening in health-assisting (reference opn_2)" in text


async def test_email_switched_off_tells_the_coordinator_what_to_do_not_the_setting() -> None:
    with pytest.raises(ChannelOff) as caught:
        await SmtpMailer(SmtpSettings()).send(email_message(delivery(summary()), LINKS, "u", "s"))
    assert caught.value.public == "email is off for this school; contact your administrator"
    assert "WBL_NOTIFIER" not in caught.value.public


async def test_the_latest_version_of_an_opening_stands() -> None:
    notifier = Notifier(store=InMemoryNotifierStore())
    await notifier.on_opening_event(OpeningPublished(producer="t", payload=snapshot(2)))
    await notifier.on_opening_event(
        OpeningUpdated(producer="t", payload=snapshot(1, title="Old title"))
    )
    assert (await notifier.openings(["opn_1", "opn_x"]))["opn_1"].title == (
        "Medical assistant intern"
    )
    await notifier.on_opening_event(OpeningUpdated(producer="t", payload=snapshot(3, title="New")))
    assert (await notifier.openings(["opn_1"]))["opn_1"].title == "New"


# -- the inbox API -----------------------------------------------------------------------------

TOKEN = "t" * 32


@dataclass
class Directory:
    async def identify(self, token: str) -> CoordinatorIdentity | None:
        return CoordinatorIdentity("coo_1", ("sch_1",), "Rosa Diaz") if token == TOKEN else None


@dataclass
class Desk:
    decided: list[tuple[str, str, str]] = field(default_factory=list)

    async def decide(
        self, token: str, match_id: str, decision: str, note: str = ""
    ) -> RegistryAnswer:
        self.decided.append((match_id, decision, note))
        return RegistryAnswer(200, {"status": "declined"}, "application/json")

    async def student(self, token: str, student_id: str) -> RegistryAnswer:
        raise AssertionError("not used")

    async def undo(self, token: str, match_id: str) -> RegistryAnswer:
        self.decided.append((match_id, "undo", ""))
        if match_id == "mat_sent":
            problem = {"status": 409, "detail": "already sent to Baystate Health: ..."}
            return RegistryAnswer(409, problem, "application/problem+json")
        return RegistryAnswer(200, {"status": "proposed", "undo_until": None}, "application/json")


@dataclass
class Inbox:
    app: FastAPI
    notifier: Notifier
    desk: Desk

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://notifier",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )


@pytest.fixture
async def inbox() -> Inbox:
    settings = NotifierSettings.model_validate(
        {"WBL_WEBHOOK_KEY": "w" * 40, "link_secret": "l" * 40}
    )
    app = create_app(settings)
    store = InMemoryNotifierStore()
    clock_at = [T0]
    notifier = Notifier(store=store, clock=lambda: clock_at[0])
    signer = Signer("s" * 40, link_ttl_s=600, ticket_ttl_s=60)
    desk = Desk()
    app.state.directory = Directory()
    app.state.notifier = notifier
    app.state.signer = signer
    app.state.decisions = Decisions(store=store, signer=signer, placements=desk)
    await notifier.on_coordinator_event(CoordinatorRegistered(producer="t", payload=profile()))
    await notifier.on_opening_event(OpeningPublished(producer="t", payload=snapshot()))
    for i in range(5):  # five matches a minute apart: mat_0 the oldest
        clock_at[0] = T0 + timedelta(minutes=i)
        match = proposal(f"mat_{i}").model_copy(update={"explanation": EXPLANATION})
        await notifier.on_match_event(MatchProposed(producer="t", payload=match))
    return Inbox(app, notifier, desk)


async def test_an_inbox_item_says_what_the_opening_is_and_why_in_two_parts(inbox: Inbox) -> None:
    async with inbox.client() as http:
        response = await http.get("/v1/inbox", params={"size": 1})
    assert response.status_code == 200, response.text
    [item] = response.json()
    assert item["opening_text"] == (
        "Medical assistant intern at Baystate Health · Springfield · 12 Jan\u201320 Mar "
        "· 15 h/week · paid"
    )
    assert item["opening"]["employer_name"] == "Baystate Health"
    assert item["explanation"] == list(EXPLANATION[:3])
    assert item["explanation_detail"] == [EXPLANATION[4]]
    assert item["decided_by"] is None


async def test_the_inbox_pages_on_with_a_cursor_past_what_arrives_meanwhile(inbox: Inbox) -> None:
    async with inbox.client() as http:
        first = await http.get("/v1/inbox", params={"size": 2})
        assert [i["match_id"] for i in first.json()] == ["mat_4", "mat_3"]
        # A new match arrives between two pages: the next page neither repeats nor skips.
        late = proposal("mat_9").model_copy(update={"explanation": EXPLANATION})
        inbox.notifier.clock = lambda: T0 + timedelta(hours=1)
        await inbox.notifier.on_match_event(MatchProposed(producer="t", payload=late))
        seen = [i["match_id"] for i in first.json()]
        link = first.headers["link"]
        while link:
            url = link.split(">")[0].lstrip("<")
            page = await http.get(url)
            assert page.status_code == 200, page.text
            seen += [i["match_id"] for i in page.json()]
            link = page.headers.get("link", "")
    assert seen == ["mat_4", "mat_3", "mat_2", "mat_1", "mat_0"]


async def test_a_cursor_the_inbox_did_not_give_is_refused_plainly(inbox: Inbox) -> None:
    async with inbox.client() as http:
        response = await http.get("/v1/inbox", params={"after": "not-a-cursor"})
    assert response.status_code == 422
    assert "not a cursor this inbox gave out" in response.json()["detail"]


async def test_the_inbox_says_who_is_signed_in_and_for_which_schools(inbox: Inbox) -> None:
    async with inbox.client() as http:
        response = await http.get("/v1/inbox/me")
    assert response.json() == {
        "coordinator_id": "coo_1",
        "name": "Rosa Diaz",
        "school_ids": ["sch_1"],
    }


async def test_one_match_is_read_again_with_who_decided_it(inbox: Inbox) -> None:
    decision = PlacementDecision(
        match_id="mat_2",
        student_id="stu_mat_2",
        school_id="sch_1",
        opening_id="opn_1",
        coordinator_id="coo_7",
    )
    await inbox.notifier.on_placement_event(PlacementConfirmed(producer="t", payload=decision))
    async with inbox.client() as http:
        found = await http.get("/v1/inbox/matches/mat_2")
        missing = await http.get("/v1/inbox/matches/mat_nope")
    assert (found.json()["status"], found.json()["decided_by"]) == ("confirmed", "coo_7")
    assert missing.status_code == 404


async def test_a_decision_s_note_reaches_registry(inbox: Inbox) -> None:
    async with inbox.client() as http:
        response = await http.post(
            "/v1/inbox/mat_1/decline", json={"note": "  The family moved away  "}
        )
        too_long = await http.post("/v1/inbox/mat_1/decline", json={"note": "x" * 501})
    assert response.status_code == 200
    assert inbox.desk.decided == [("mat_1", "decline", "The family moved away")]
    assert too_long.status_code == 422


async def test_an_undo_is_forwarded_and_the_notification_stays_awaiting(inbox: Inbox) -> None:
    """Not taken for a decision called "undo"; registry's refusal comes back as it is; the
    notification never left "proposed" (the decision's event is held, then never sent)."""
    async with inbox.client() as http:
        undone = await http.post("/v1/inbox/mat_1/undo")
        refused = await http.post("/v1/inbox/mat_sent/undo")
        item = await http.get("/v1/inbox/matches/mat_1")
    assert undone.status_code == 200 and undone.json()["status"] == "proposed"
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["detail"].startswith("already sent to Baystate Health")
    assert inbox.desk.decided == [("mat_1", "undo", ""), ("mat_sent", "undo", "")]
    assert item.json()["status"] == "proposed"
