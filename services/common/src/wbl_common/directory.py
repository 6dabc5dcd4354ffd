"""Who a coordinator token belongs to, as registry says (`GET /v1/coordinators/me`), for the
services that take coordinator tokens without holding them: notifier, and the matcher's
why-not. Registry alone stores tokens; these services only ask it, and cache its answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx
from cachetools import TTLCache

from wbl_common.secrets import hash_secret


@dataclass(frozen=True)
class CoordinatorIdentity:
    coordinator_id: str
    school_ids: tuple[str, ...]
    name: str = ""


class CoordinatorDirectory(Protocol):
    async def identify(self, token: str) -> CoordinatorIdentity | None: ...


class RegistryDirectory:
    """Asks registry who a token belongs to; caches answers briefly, keyed by the token's
    hash so the secret itself is never kept. Refusals are cached too (`unknown_seconds`):
    a wrong token tried again costs no registry lookup."""

    def __init__(
        self, client: httpx.AsyncClient, cache_seconds: float, unknown_seconds: float = 30.0
    ) -> None:
        self._client = client
        self._cache: TTLCache[str, CoordinatorIdentity] = TTLCache(
            maxsize=10_000, ttl=max(cache_seconds, 0.001)
        )
        self._unknown: TTLCache[str, bool] = TTLCache(
            maxsize=50_000, ttl=max(unknown_seconds, 0.001)
        )

    async def identify(self, token: str) -> CoordinatorIdentity | None:
        key = hash_secret(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if key in self._unknown:
            return None
        response = await self._client.get(
            "/v1/coordinators/me", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code in (401, 403):
            self._unknown[key] = True
            return None
        response.raise_for_status()
        body = response.json()
        identity = CoordinatorIdentity(
            body["id"], tuple(body["school_ids"]), str(body.get("name", ""))[:200]
        )
        self._cache[key] = identity
        return identity
