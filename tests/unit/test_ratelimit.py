"""The token buckets behind the rate limits (issue 12, finding 11)."""

from __future__ import annotations

import pytest

from wbl_common.ratelimit import Exemptions, RateLimiter

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=3, clock=clock)
    assert [limiter.take("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("10.0.0.1") == pytest.approx(10.0)  # one token per 10 s
    assert limiter.wait_s("10.0.0.1") == pytest.approx(10.0)
    clock.now += 10
    assert limiter.take("10.0.0.1") == 0.0
    assert limiter.take("10.0.0.2") == 0.0  # each client has its own bucket


def test_the_buckets_are_bounded_forgetting_the_least_recent_client() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=1, burst=1, clock=clock, max_clients=2)
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")  # "a" is forgotten: a fresh bucket
    assert limiter.take("a") == 0.0
    assert limiter.take("c") > 0


def test_exemptions_match_addresses_and_networks() -> None:
    exempt = Exemptions(["127.0.0.1", "10.1.0.0/16"])
    assert "127.0.0.1" in exempt and "10.1.2.3" in exempt
    assert "127.0.0.2" not in exempt and "unknown" not in exempt
