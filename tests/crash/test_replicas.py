"""Two replicas of every service (registry, matcher and notifier, each pair on one database
and one consumer group) through a burst of 200 registrations sent to both registries: every
student is stored, proposed exactly once on wbl.matches, notified once in the inbox and sent
exactly one email."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.crash.system import (
    Answers,
    Infra,
    assert_whole,
    burst_of,
    fleet_of,
    prepare,
    run_burst,
    settled,
    tally,
)
from tests.integration.notifier.conftest import SmtpServer, free_port
from tests.support import eventually

pytestmark = [pytest.mark.crash, pytest.mark.timeout(300)]

MATCH_LINK = re.compile(r"#match-(\S+)")
SETTLE_BOUND_S = 90.0


def emails_per_match(smtp: SmtpServer, address: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for message in list(smtp.mailbox.to(address)):
        plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        found.update(MATCH_LINK.findall(plain.get_payload(decode=True).decode()))  # type: ignore[union-attr]
    return found


async def test_two_replicas_of_every_service_lose_and_double_nothing(
    crash_infra: Infra, tmp_path: Path
) -> None:
    smtp = SmtpServer(free_port())
    smtp.start()
    sink = {
        "WBL_NOTIFIER_SMTP__HOST": "127.0.0.1",
        "WBL_NOTIFIER_SMTP__PORT": str(smtp.port),
        "WBL_NOTIFIER_SMTP__SECURITY": "none",
    }
    try:
        async with fleet_of(crash_infra, tmp_path, replicas=2, extra=sink) as fleet:
            address = f"coordinator.{fleet.tag}@school.example.org"
            async with httpx.AsyncClient(timeout=30) as http:
                scenario = await prepare(fleet, http, coordinator_email=address)
            answers = Answers()
            await run_burst(scenario, burst_of(scenario.tag, scenario.school), answers)
            burst_end = time.monotonic()
            ending = await settled(scenario, answers, crash_infra, within=SETTLE_BOUND_S)
            matches = {m for sid in ending.stored.values() for m in ending.proposals.live(sid)}

            async def every_match_emailed() -> Counter[str] | None:
                sent = emails_per_match(smtp, address)
                return sent if matches <= set(sent) else None

            sent = await eventually(every_match_emailed, within=60, what="an email per match")
            result = tally("two of each", answers, ending, 0.0, ending.complete_at - burst_end)
        # Every replica stopped: count what was sent, once nothing more can be.
        sent = emails_per_match(smtp, address)
    finally:
        smtp.stop()
    assert_whole(result, answers, ending)
    assert result.accepted == len(answers.by_email) >= 200  # no fault: every request answered
    # Exactly one proposal record per student: no replica published a change twice.
    assert (result.copies, result.withdrawals) == (0, 0), result.line()
    assert {sid: len(c) for sid, c in ending.proposals.proposed.items() if len(c) != 1} == {}
    assert set(sent) == matches and set(sent.values()) == {1}, sent.most_common(3)
