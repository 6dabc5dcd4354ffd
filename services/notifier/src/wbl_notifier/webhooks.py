"""Webhook signing and verification (pure; no I/O), for coordinators' and employers' alike.

A webhook is a JSON POST signed twice over, so that any Standard Webhooks library
(standardwebhooks.com) verifies it as it is, and receivers set up before keep working:

- Standard Webhooks: `webhook-id` (stable across retries of the same delivery, so
  receivers can dedupe), `webhook-timestamp` (Unix seconds when this attempt was signed),
  `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, keyed
  with the secret's bytes after `whsec_` read as base64 (as the libraries do);
- ours, as before: `X-WBL-Event-Id` (the same id), `X-WBL-Timestamp`, and
  `X-WBL-Signature`: `v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` keyed with the
  secret as text.

During the grace period after a secret rotation each header carries a second signature
under the previous secret (`v1,<new> v1,<old>`; `v1=<new>, v1=<old>`): either one verifies.

Receivers recompute the HMAC over the raw body bytes, compare in constant time, refuse a
timestamp outside the tolerance (stale or from the future), and refuse a signature they
have already accepted (a replay inside the tolerance window): `verify` does all of it for
our headers, `verify_standard` for the Standard Webhooks ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

EVENT_ID = "X-WBL-Event-Id"
TIMESTAMP = "X-WBL-Timestamp"
SIGNATURE = "X-WBL-Signature"
SCHEME = "v1"
# Standard Webhooks' headers (lower case, as the specification writes them).
STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(ValueError):
    """The request is not a fresh, authentic webhook from wbl-placements."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"{SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def standard_key(secret: str) -> bytes:
    """The HMAC key Standard Webhooks libraries take from a `whsec_...` secret: the rest,
    read as base64 (our secrets' hex digits are base64 characters, 64 of them: 48 bytes)."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise ValueError("the webhook secret is not whsec_ and base64") from error


def sign_standard(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return f"{SCHEME}," + base64.b64encode(digest).decode()


def signed_headers(
    secrets: tuple[str, ...], event_id: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """The headers of a webhook signed under each of `secrets` (current first), in both
    forms (see the module's docstring)."""
    return {
        "Content-Type": "application/json",
        STANDARD_ID: event_id,
        STANDARD_TIMESTAMP: str(timestamp),
        STANDARD_SIGNATURE: " ".join(
            sign_standard(secret, event_id, timestamp, body) for secret in secrets
        ),
        EVENT_ID: event_id,
        TIMESTAMP: str(timestamp),
        SIGNATURE: ", ".join(sign(secret, timestamp, body) for secret in secrets),
    }


@dataclass
class ReplayGuard:
    """Signatures accepted within the tolerance window; older ones are refused as stale
    anyway, so they are forgotten."""

    accepted: dict[str, int] = field(default_factory=dict)

    def first_time(self, signature: str, timestamp: int, oldest: int) -> bool:
        for seen, at in list(self.accepted.items()):
            if at < oldest:
                del self.accepted[seen]
        if signature in self.accepted:
            return False
        self.accepted[signature] = timestamp
        return True


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_s: int = 300,
    now: Callable[[], float] = time.time,
    replays: ReplayGuard | None = None,
) -> None:
    """Raise WebhookVerificationError unless `signature` is ours over `timestamp.body`,
    the timestamp is within `tolerance_s` of now, and (given a guard) it is not a replay."""
    try:
        sent_at = int(timestamp)
    except ValueError as error:
        raise WebhookVerificationError("timestamp is not an integer") from error
    offered = [s.strip() for s in signature.split(",") if s.strip().startswith(f"{SCHEME}=")]
    _accept(sign(secret, sent_at, body), offered, sent_at, tolerance_s, int(now()), replays)


def _accept(
    expected: str,
    offered: list[str],
    sent_at: int,
    tolerance_s: int,
    current: int,
    replays: ReplayGuard | None,
) -> None:
    """Fresh, one of `offered` is `expected` (compared in constant time), and not a replay."""
    if abs(current - sent_at) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance (stale or future)")
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise WebhookVerificationError("signature does not match")
    if replays is not None and not replays.first_time(expected, sent_at, current - tolerance_s):
        raise WebhookVerificationError("signature already used (replay)")


def verify_headers(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: Callable[[], float] = time.time,
    replays: ReplayGuard | None = None,
) -> None:
    """`verify` reading the timestamp and signature from request headers (any case)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if TIMESTAMP.lower() not in lowered or SIGNATURE.lower() not in lowered:
        raise WebhookVerificationError("missing signature headers")
    verify(
        secret,
        lowered[TIMESTAMP.lower()],
        body,
        lowered[SIGNATURE.lower()],
        tolerance_s=tolerance_s,
        now=now,
        replays=replays,
    )


def verify_standard(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: Callable[[], float] = time.time,
    replays: ReplayGuard | None = None,
) -> None:
    """Raise WebhookVerificationError unless the Standard Webhooks headers sign `body`
    under `secret`, freshly (within `tolerance_s`) and, given a guard, for the first time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event_id = lowered[STANDARD_ID]
        sent_at = int(lowered[STANDARD_TIMESTAMP])
        signatures = lowered[STANDARD_SIGNATURE].split(" ")
    except KeyError as error:
        raise WebhookVerificationError(f"missing header {error}") from error
    except ValueError as error:
        raise WebhookVerificationError("timestamp is not an integer") from error
    expected = sign_standard(secret, event_id, sent_at, body)
    _accept(expected, signatures, sent_at, tolerance_s, int(now()), replays)
