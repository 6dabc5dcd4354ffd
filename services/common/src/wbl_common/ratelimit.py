"""Per-client rate limits: token buckets keyed by the client's address, in memory, bounded.

Two uses, both answering 429 problem+json with `Retry-After`:

- authentication failures (`AuthFailureLimit`, ASGI middleware): each 401 a client gets
  takes a token; a client with none left is refused at once, before any token lookup, until
  its bucket refills. Guessing secrets becomes slow, and a flood of wrong tokens costs
  nothing downstream.
- expensive endpoints (`throttled(name)`, a FastAPI dependency): each call takes a token from
  that endpoint's bucket for the client.

The buckets live in each process: with several replicas a client gets each replica's
allowance, which is fine for the purpose (bounding work, slowing guessing)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import ip_address, ip_network

from fastapi import FastAPI, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbl_common.config import RateLimitSettings
from wbl_common.web import problem

MAX_CLIENTS = 50_000  # buckets kept; the least recently used client is forgotten beyond


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self._per_s = per_minute / 60
        self._burst = burst
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def wait_s(self, client: str) -> float:
        """Seconds until `client` has a token again (0 when it has one now)."""
        bucket = self._refilled(client)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._per_s

    def take(self, client: str) -> float:
        """Take a token: 0 when there was one, else the seconds until there is."""
        bucket = self._refilled(client)
        if bucket.tokens < 1:
            return (1 - bucket.tokens) / self._per_s
        bucket.tokens -= 1
        return 0.0

    def _refilled(self, client: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.pop(client, None) or _Bucket(float(self._burst), now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._per_s)
        bucket.at = now
        self._buckets[client] = bucket  # most recently used last
        if len(self._buckets) > self._max_clients:
            del self._buckets[next(iter(self._buckets))]
        return bucket


class Exemptions:
    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = [ip_network(n, strict=False) for n in networks]

    def __contains__(self, client: str) -> bool:
        try:
            address = ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def too_many_detail(wait_s: float) -> tuple[str, dict[str, str]]:
    seconds = max(1, math.ceil(wait_s))
    detail = f"Too many requests from your address. Please try again in {seconds} seconds."
    return detail, {"Retry-After": str(seconds)}


class AuthFailureLimit:
    """Counts the authentication failures (`failures`: 401s) each client gets; refuses a
    client with no tokens left with 429."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        exempt: Exemptions,
        failures: frozenset[int] = frozenset({401}),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = exempt
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_of(scope)
        if scope["type"] != "http" or client in self.exempt:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.wait_s(client)
        if wait > 0:
            detail, headers = too_many_detail(wait)
            response = problem(429, "Too Many Requests", detail)
            response.headers.update(headers)
            await response(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in self.failures:
                self.limiter.take(client)
            await send(message)

        await self.app(scope, receive, counting_send)


class RateLimits:
    """The expensive endpoints' buckets, one per endpoint name, all with one setting."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self._settings = settings
        self._limiters: dict[str, RateLimiter] = {}
        self.exempt = Exemptions(settings.exempt)

    def take(self, name: str, client: str) -> float:
        if client in self.exempt:
            return 0.0
        limiter = self._limiters.get(name)
        if limiter is None:
            s = self._settings
            limiter = self._limiters[name] = RateLimiter(s.expensive_per_minute, s.expensive_burst)
        return limiter.take(client)


def throttled(name: str) -> Callable[[Request], None]:
    """A dependency: each call of the endpoint takes a token of `name`'s bucket."""

    def check(request: Request) -> None:
        limits: RateLimits = request.app.state.rate_limits
        wait = limits.take(name, client_of(request.scope))
        if wait > 0:
            detail, headers = too_many_detail(wait)
            raise HTTPException(429, detail, headers)

    return check


def install_rate_limits(
    app: FastAPI, settings: RateLimitSettings, failures: frozenset[int] = frozenset({401})
) -> None:
    """Authentication failures limited per client; `throttled` endpoints read the rest.
    `failures`: the statuses that mean a wrong secret here."""
    app.state.rate_limits = limits = RateLimits(settings)
    limiter = RateLimiter(settings.auth_failures_per_minute, settings.auth_failures_burst)
    app.add_middleware(AuthFailureLimit, limiter=limiter, exempt=limits.exempt, failures=failures)
