"""Webhook signatures: what a receiver checks with `wbl_notifier.webhooks.verify`."""

from __future__ import annotations

import pytest

from wbl_notifier.webhooks import (
    ReplayGuard,
    WebhookVerificationError,
    sign,
    signed_headers,
    verify,
    verify_headers,
)

pytestmark = pytest.mark.unit

SECRET = "whsec_0123456789abcdef"
BODY = b'{"event_type":"MatchProposed","matches":[]}'
NOW = 1_750_000_000


def test_a_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"


def test_a_fresh_authentic_webhook_verifies() -> None:
    verify(SECRET, str(NOW), BODY, sign(SECRET, NOW, BODY), now=lambda: NOW + 10)


@pytest.mark.parametrize(
    ("secret", "body", "why"),
    [
        ("whsec_another-coordinator", BODY, "wrong secret"),
        (SECRET, BODY.replace(b"Proposed", b"Withdrawn"), "tampered body"),
    ],
)
def test_a_forged_or_tampered_webhook_is_refused(secret: str, body: bytes, why: str) -> None:
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify(secret, str(NOW), body, sign(SECRET, NOW, BODY), now=lambda: NOW)


@pytest.mark.parametrize("offset", [301, -301])
def test_a_stale_or_future_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, str(NOW), BODY, sign(SECRET, NOW, BODY), now=lambda: NOW + offset)


def test_a_moved_timestamp_breaks_the_signature() -> None:
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify(SECRET, str(NOW + 5), BODY, sign(SECRET, NOW, BODY), now=lambda: NOW)


def test_a_replay_inside_the_tolerance_is_refused_by_the_guard() -> None:
    guard = ReplayGuard()
    signature = sign(SECRET, NOW, BODY)
    verify(SECRET, str(NOW), BODY, signature, now=lambda: NOW, replays=guard)
    with pytest.raises(WebhookVerificationError, match="replay"):
        verify(SECRET, str(NOW), BODY, signature, now=lambda: NOW + 1, replays=guard)


def test_the_guard_forgets_signatures_once_they_are_stale_anyway() -> None:
    guard = ReplayGuard()
    verify(SECRET, str(NOW), BODY, sign(SECRET, NOW, BODY), now=lambda: NOW, replays=guard)
    later = NOW + 1000
    verify(SECRET, str(later), BODY, sign(SECRET, later, BODY), now=lambda: later, replays=guard)
    assert list(guard.accepted.values()) == [later]


def test_headers_carry_the_event_id_timestamp_and_signature_and_verify_in_any_case() -> None:
    headers = signed_headers([SECRET], "evt-1", BODY, NOW)
    assert headers["X-WBL-Event-Id"] == "evt-1"
    assert headers["X-WBL-Timestamp"] == str(NOW)
    verify_headers(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, now=lambda: NOW)


def test_missing_headers_or_a_bad_timestamp_are_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_headers(SECRET, {}, BODY, now=lambda: NOW)
    with pytest.raises(WebhookVerificationError, match="integer"):
        verify(SECRET, "yesterday", BODY, sign(SECRET, NOW, BODY), now=lambda: NOW)
