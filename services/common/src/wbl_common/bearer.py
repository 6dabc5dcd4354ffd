"""Reading `Authorization: Bearer <secret>` strictly, the same way in every service.

A header that is not exactly one Bearer credential of printable ASCII, within a length,
reads as no credential at all, so the caller answers 401: non-ASCII bytes, another scheme,
an empty or spaced credential never reach a lookup or a comparison (`hmac.compare_digest`
raises on non-ASCII text, which was a 500)."""

from __future__ import annotations

import re

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

MAX_SECRET_LENGTH = 512
SECRET = re.compile(rf"[\x21-\x7e]{{1,{MAX_SECRET_LENGTH}}}")


def bearer_secret(header: str | None) -> str | None:
    """The secret in an Authorization header value, or None unless it is well formed."""
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not SECRET.fullmatch(secret):
        return None
    return secret


class StrictBearer(HTTPBearer):
    """FastAPI's HTTPBearer (so OpenAPI documents the scheme), never raising itself: a
    missing or malformed header gives None, and the service answers its own 401."""

    def __init__(self, description: str) -> None:
        super().__init__(auto_error=False, description=description)

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        secret = bearer_secret(request.headers.get("authorization"))
        if secret is None:
            return None
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=secret)
