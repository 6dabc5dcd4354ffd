"""Notifier's outbound adapters: registry's HTTP API, which vouches for coordinator tokens."""

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


class CoordinatorDirectory(Protocol):
    async def identify(self, token: str) -> CoordinatorIdentity | None: ...


class RegistryDirectory:
    """Asks registry who a token belongs to; caches answers briefly, keyed by the token's
    hash so the secret itself is never kept."""

    def __init__(self, client: httpx.AsyncClient, cache_seconds: float) -> None:
        self._client = client
        self._cache: TTLCache[str, CoordinatorIdentity] = TTLCache(
            maxsize=10_000, ttl=max(cache_seconds, 0.001)
        )

    async def identify(self, token: str) -> CoordinatorIdentity | None:
        key = hash_secret(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        response = await self._client.get(
            "/v1/coordinators/me", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code in (401, 403):
            return None
        response.raise_for_status()
        body = response.json()
        identity = CoordinatorIdentity(body["id"], tuple(body["school_ids"]))
        self._cache[key] = identity
        return identity
