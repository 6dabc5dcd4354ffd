"""Webhook signatures: what a receiver checks with `wbl_notifier.webhooks.verify`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wbl_common.secrets import derive_secret, webhook_secret, webhook_signing_secrets
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
    headers = signed_headers((SECRET,), "evt-1", BODY, NOW)
    assert headers["X-WBL-Event-Id"] == "evt-1"
    assert headers["X-WBL-Timestamp"] == str(NOW)
    verify_headers(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, now=lambda: NOW)


def test_missing_headers_or_a_bad_timestamp_are_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_headers(SECRET, {}, BODY, now=lambda: NOW)
    with pytest.raises(WebhookVerificationError, match="integer"):
        verify(SECRET, "yesterday", BODY, sign(SECRET, NOW, BODY), now=lambda: NOW)


def test_a_webhook_signed_under_two_secrets_verifies_under_either_and_no_other() -> None:
    headers = signed_headers((SECRET, "whsec_previous"), "evt-1", BODY, NOW)
    assert headers["X-WBL-Signature"].count("v1=") == 2
    for secret in (SECRET, "whsec_previous"):
        verify_headers(secret, headers, BODY, now=lambda: NOW)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_headers("whsec_another-coordinator", headers, BODY, now=lambda: NOW)


def test_the_previous_secret_signs_until_its_grace_period_ends_and_not_at_its_end() -> None:
    key, until = "k" * 40, datetime(2026, 12, 3, 8, tzinfo=UTC)
    first, second, third = (webhook_secret(key, "coo_1", g) for g in (1, 2, 3))
    assert first == derive_secret(key, "whsec", "coo_1")  # receivers set up before rotation
    assert len({first, second, third, webhook_secret(key, "coo_2", 2)}) == 4
    before_end = until - timedelta(seconds=1)
    assert webhook_signing_secrets(key, "coo_1", 2, until, before_end) == (second, first)
    assert webhook_signing_secrets(key, "coo_1", 2, until, until) == (second,)
    assert webhook_signing_secrets(key, "coo_1", 3, until, before_end) == (third, second)
    assert webhook_signing_secrets(key, "coo_1", 1, None, until) == (first,)
