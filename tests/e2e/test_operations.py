"""What an operator watches, on the three services as processes: after a registration flows
through to an email, every metric family has sensible samples at /metrics, and every line
each service logged is JSON without a token, ticket, key or personal detail in it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import System
from tests.e2e.test_flow import opening_body, student_body
from tests.support import eventually, fresh_school, json_lines

pytestmark = pytest.mark.e2e

FIELD = "biotechnology"  # no other end-to-end test posts openings in it
SERVICES = ("registry", "matcher", "notifier")
# What the local process supervisor writes between runs; the rest is the service's own.
BANNER = re.compile(r"^=== \d{4}-\d\d-\d\d \d\d:\d\d:\d\d starting \S+: ")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, base: str) -> Samples:
    response = await http.get(f"{base}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> list[tuple[Mapping[str, str], float]]:
    return [(dict(labels), v) for (n, labels), v in samples.items() if n == name]


def service_lines(system: System, service: str) -> list[dict[str, Any]]:
    text = system.log_of(service).read_text()
    own = [line for line in text.splitlines() if line.strip() and not BANNER.match(line)]
    return json_lines("\n".join(own))


async def test_a_registration_shows_in_every_metric_family_and_in_readable_logs(
    system: System,
) -> None:
    school = fresh_school("ops")
    email = f"ops-{school}@school.example.org"
    marks = {name: len(service_lines(system, name)) for name in SERVICES}
    async with httpx.AsyncClient(timeout=10) as http:
        employer = (
            await http.post(
                f"{system.registry}/v1/employers", json={"name": "Ops Bio"}, headers=system.admin
            )
        ).json()
        coordinator = await http.post(
            f"{system.registry}/v1/coordinators",
            json={"name": "Ops", "school_ids": [school], "channels": {"email": email}},
            headers=system.admin,
        )
        assert coordinator.status_code == 201, coordinator.text
        token = coordinator.json()["token"]
        opening = await http.post(
            f"{system.registry}/v1/openings",
            json=opening_body(FIELD, 1),
            headers={"Authorization": f"Bearer {employer['api_key']}"},
        )
        assert opening.status_code == 201, opening.text
        student = student_body("Quillon", FIELD) | {"school_id": school}
        registered = await http.post(
            f"{system.registry}/v1/students",
            json=student,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert registered.status_code == 201, registered.text

        async def decision_link() -> str | None:
            for mail in system.mailbox.to(email):
                text = mail.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
                if found := re.search(r"Confirm the placement: (\S+)", text):
                    return found.group(1)
            return None

        link = await eventually(decision_link, within=60, what="the match email")
        assert link is not None
        decision_token = link.partition("?t=")[2]
        landed = await http.get(link)  # an operator's access log sees this request
        assert landed.status_code == 200
        ticketed = await http.post(
            f"{system.notifier}/v1/inbox/stream-tickets",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert ticketed.status_code == 201, ticketed.text
        ticket = ticketed.json()["ticket"]
        async with http.stream("GET", f"{system.notifier}{ticketed.json()['stream_url']}") as sse:
            assert sse.status_code == 200

        registry, matcher, notifier = (
            await scrape(http, system.registry),
            await scrape(http, system.matcher),
            await scrape(http, system.notifier),
        )

        # HTTP, by route template and status, with latency.
        students = {"method": "POST", "route": "/v1/students", "status": "201"}
        assert (value(registry, "wbl_http_requests_total", **students) or 0) >= 1
        assert (value(registry, "wbl_http_request_duration_seconds_count", **students) or 0) >= 1
        act = {"method": "GET", "route": "/inbox/act", "status": "200"}
        assert (value(notifier, "wbl_http_requests_total", **act) or 0) >= 1
        routes = {labels["route"] for labels, _ in series(notifier, "wbl_http_requests_total")}
        assert "/v1/inbox/stream" in routes
        assert not any(decision_token in r or ticket in r for r in routes)

        # Rounds: one solved at least, with its pool and the proposal.
        assert (value(matcher, "wbl_matcher_round_duration_seconds_count") or 0) >= 1
        assert (value(matcher, "wbl_matcher_round_students_sum") or 0) >= 1
        assert (value(matcher, "wbl_matcher_round_openings_sum") or 0) >= 1
        assert (value(matcher, "wbl_matcher_proposals_total") or 0) >= 1
        assert value(matcher, "wbl_matcher_withdrawals_total") is not None

        # Deliveries: the email went out; the other outcomes are there at 0 or more.
        sent = {"channel": "email", "outcome": "sent"}
        assert (value(notifier, "wbl_notifier_deliveries_total", **sent) or 0) >= 1
        assert (
            value(notifier, "wbl_notifier_deliveries_total", channel="webhook", outcome="failed")
            is not None
        )

        # Dead letters: every consumed topic and reason is visible, at 0 or more.
        for samples, topic in ((registry, "wbl.matches"), (matcher, "wbl.students")):
            for reason in ("invalid", "rejected", "failed"):
                assert (
                    value(samples, "wbl_dead_letters_total", topic=topic, reason=reason) is not None
                )
        assert (
            value(notifier, "wbl_dead_letters_total", topic="wbl.matches", reason="undeliverable")
            is not None
        )

        # Consumer lag per group and partition, read from the broker: all caught up.
        async def caught_up(base: str, topics: set[str]) -> bool:
            lag = series(await scrape(http, base), "wbl_kafka_consumer_lag_messages")
            measured = {labels["topic"] for labels, _ in lag}
            return measured == topics and all(v == 0 for _, v in lag)

        await eventually(lambda: caught_up(system.registry, {"wbl.matches"}), what="registry lag 0")
        await eventually(
            lambda: caught_up(system.matcher, {"wbl.openings", "wbl.students", "wbl.placements"}),
            what="matcher lag 0",
        )
        await eventually(
            lambda: caught_up(
                system.notifier,
                {
                    "wbl.coordinators",
                    "wbl.employers",
                    "wbl.matches",
                    "wbl.openings",
                    "wbl.placements",
                    "wbl.seasons",
                },
            ),
            what="notifier lag 0",
        )

        # The outbox: drained, and the gauges say so.
        async def drained(base: str, collection: str) -> bool:
            samples = await scrape(http, base)
            return (
                value(samples, "wbl_outbox_pending_events", collection=collection) == 0
                and value(samples, "wbl_outbox_oldest_pending_age_seconds", collection=collection)
                == 0
            )

        await eventually(lambda: drained(system.registry, "students"), what="registry outbox")
        await eventually(lambda: drained(system.matcher, "proposals"), what="matcher outbox")

    secrets_and_personal = {
        "decision token": decision_token,
        "stream ticket": ticket,
        "coordinator token": token,
        "employer key": employer["api_key"],
        "admin token": system.admin_token,
        "student name": "Quillon",
        "student email": student["email"],
        "coordinator email": email,
    }
    for service in SERVICES:
        logged = service_lines(system, service)  # every line parses, with the common fields
        assert {line["service"] for line in logged} == {service}
        text = system.log_of(service).read_text()
        leaks = [what for what, secret in secrets_and_personal.items() if secret in text]
        assert leaks == [], f"{service} logged {leaks}"
        during = logged[marks[service] :]
        assert during, f"{service} logged nothing during the flow"
        loud = [line for line in during if line["level"] in ("warning", "error", "critical")]
        assert loud == [], f"{service}: {loud}"
    notifier_access = [
        line for line in service_lines(system, "notifier") if line["logger"] == "uvicorn.access"
    ]
    paths = {line["path"] for line in notifier_access}
    assert "/inbox/act?t=REDACTED" in paths
    assert "/v1/inbox/stream?ticket=REDACTED" in paths
