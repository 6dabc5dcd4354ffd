"""The parties' emails across registry, matcher and notifier as processes (ADR 6): once the
coordinator issues the training agreement, each party receives its email with its link in
the page URL's fragment and signs by it; then the student and the supervisor get the
log-hours emails, the student logs today's hours by link, the supervisor's verify-week
email arrives with the sweep and verifying works; a party who does not sign is reminded.
Emails are read from the SMTP sink, as a person would read them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PARTY_REMIND_AFTER_S, System
from tests.support import eventually, fresh_school

pytestmark = pytest.mark.e2e

FIELD = "automotive-technology"  # no other end-to-end test posts openings in it
TAG = secrets.token_hex(3)


def address(who: str) -> str:
    return f"{who}.{TAG}@example.org"


def opening_body() -> dict[str, Any]:
    today = date.today().isoformat()  # one day, today: hours can be logged, the week is over
    return {
        "title": "Auto technician intern",
        "career_field": FIELD,
        "seats": 2,
        "location": {"town": "Worcester", "lat": 42.2626, "lon": -71.8023},
        "starts_on": today,
        "ends_on": today,
        "hours_per_week": 8,
        "paid": False,
    }


def student_body(school: str, first: str) -> dict[str, Any]:
    return {
        "school_id": school,
        "first_name": first,
        "last_name": "Tester",
        "email": address(first.lower()),
        "date_of_birth": "2007-01-15",  # 18 or over: no guardian, no permit
        "grade": 12,
        "program": "p-tech",
        "career_fields": [FIELD],
        "home": {"town": "Worcester", "lat": 42.27, "lon": -71.8},
        "max_commute_km": 20,
        "available_from": date.today().isoformat(),
        "available_to": (date.today() + timedelta(days=90)).isoformat(),
        "hours_per_week": 20,
    }


def text_of(mail: Message) -> str:
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no plain text part")


def subject_of(mail: Message) -> str:
    return " ".join(str(mail["Subject"]).split())  # a long subject arrives folded


def emails(system: System, to: str, subject: str) -> list[Message]:
    return [m for m in system.mailbox.messages if to in str(m["To"]) and subject_of(m) == subject]


def link_in(mail: Message, page: str, system: System) -> str:
    found = re.search(rf"{re.escape(system.notifier)}/{page}#(\S+)", text_of(mail))
    assert found, text_of(mail)
    return found.group(1)


def arrives(system: System, to: str, subject: str) -> Callable[[], Awaitable[list[Message]]]:
    async def check() -> list[Message]:
        return emails(system, to, subject)

    return check


async def test_each_party_is_emailed_its_link_signs_logs_and_verifies_and_is_reminded(
    system: System,
) -> None:
    school = fresh_school("reach")
    async with httpx.AsyncClient(timeout=15) as http:
        employer = await http.post(
            f"{system.registry}/v1/employers", json={"name": "Acme Auto"}, headers=system.admin
        )
        coordinator = await http.post(
            f"{system.registry}/v1/coordinators",
            json={
                "name": "Dana Reyes",
                "school_ids": [school],
                "channels": {"email": address("dana")},
            },
            headers=system.admin,
        )
        assert coordinator.status_code == 201, coordinator.text
        token = {"Authorization": f"Bearer {coordinator.json()['token']}"}
        key = {"Authorization": f"Bearer {employer.json()['api_key']}"}
        opening = await http.post(
            f"{system.registry}/v1/openings", json=opening_body(), headers=key
        )
        assert opening.status_code == 201, opening.text
        students = {}
        for first in ("Rosa", "Theo"):
            made = await http.post(
                f"{system.registry}/v1/students", json=student_body(school, first), headers=token
            )
            assert made.status_code == 201, made.text
            students[made.json()["id"]] = first

        async def matched() -> dict[str, str]:
            listed = await http.get(f"{system.registry}/v1/matches", headers=token)
            assert listed.status_code == 200, listed.text
            found = {
                students[m["student_id"]]: m["match_id"]
                for m in listed.json()
                if m["opening_id"] == opening.json()["id"]
            }
            return found if len(found) == 2 else {}

        matches = await eventually(matched, within=60, what="both students matched")
        for match_id in matches.values():
            done = await http.post(
                f"{system.registry}/v1/matches/{match_id}/confirm", headers=token
            )
            assert done.status_code == 200, done.text
            issued = await http.post(
                f"{system.registry}/v1/placements/{match_id}/agreement",
                json={
                    "supervisor": {"name": "Pat Lee", "email": address("pat")},
                    "safety_training": "The shop's lift and tool safety induction",
                },
                headers=token,
            )
            assert issued.status_code == 200, issued.text

        # Theo signs his at once (before a reminder is due); the others of his do not.
        sign_theo = "Please sign the training agreement for Theo at Acme Auto"
        [theo_mail] = await eventually(
            arrives(system, address("theo"), sign_theo), within=60, what="Theo's email"
        )
        signed = await http.post(
            f"{system.registry}/v1/party/agreement/sign",
            json={"link": link_in(theo_mail, "agreement", system), "name": "Theo Tester"},
        )
        assert signed.status_code == 200, signed.text
        # Each party of Rosa's placement gets its email and signs by its link.
        sign_rosa = "Please sign the training agreement for Rosa at Acme Auto"
        for who, name in (("dana", "Dana Reyes"), ("pat", "Pat Lee"), ("rosa", "Rosa Tester")):
            [mail] = await eventually(
                arrives(system, address(who), sign_rosa), within=60, what=f"{who}'s email"
            )
            body = text_of(mail)
            assert "Auto technician intern at Acme Auto" in body
            assert "Questions? Ask Dana Reyes" in body and address("dana") in body
            assert "It works until" in body
            signed = await http.post(
                f"{system.registry}/v1/party/agreement/sign",
                json={"link": link_in(mail, "agreement", system), "name": name},
            )
            assert signed.status_code == 200, signed.text
        assert signed.json()["still_to_sign"] == []

        # Signed by all: the student and the supervisor are asked to log hours.
        [hours_mail] = await eventually(
            arrives(system, address("rosa"), "Log your hours at Acme Auto"),
            within=60,
            what="Rosa's log-hours email",
        )
        await eventually(
            arrives(system, address("pat"), "Log or correct Rosa's hours at Acme Auto"),
            within=60,
            what="the supervisor's log-hours email",
        )
        logged = await http.post(
            f"{system.registry}/v1/party/hours",
            json={
                "link": link_in(hours_mail, "hours", system),
                "day": date.today().isoformat(),
                "hours": "6",
            },
        )
        assert logged.status_code == 200, logged.text

        # The week is over (the placement's one day is today): the sweep asks the supervisor.
        monday = date.today() - timedelta(days=date.today().weekday())
        week = f"the week of {monday:%A} {monday.day} {monday:%B %Y}"
        [verify_mail] = await eventually(
            arrives(system, address("pat"), f"Please verify Rosa's hours at Acme Auto for {week}"),
            within=60,
            what="the verify-week email",
        )
        verified = await http.post(
            f"{system.registry}/v1/party/week/verify",
            json={"link": link_in(verify_mail, "verify", system)},
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["verified"] is True and verified.json()["total"] == 6

        # Theo's placement: the others do not sign; they are reminded.
        [reminder] = await eventually(
            arrives(system, address("pat"), f"Reminder: {sign_theo}"),
            within=PARTY_REMIND_AFTER_S + 60,
            what="the supervisor's reminder",
        )
        assert "still waiting for you" in text_of(reminder)
        again = await http.post(
            f"{system.registry}/v1/party/agreement",
            json={"link": link_in(reminder, "agreement", system)},
        )
        assert again.status_code == 200 and again.json()["still_to_sign"] == ["employer", "school"]
        # Theo signed: no reminder for him, and each email went once.
        assert emails(system, address("theo"), f"Reminder: {sign_theo}") == []
        assert len(emails(system, address("rosa"), sign_rosa)) == 1
