"""Bearer secrets: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    # Secrets carry 256 random bits, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def derive_secret(key: str, purpose: str, subject: str) -> str:
    """A per-subject secret derived from a service key (HMAC-SHA256), so it need not be
    stored or sent anywhere: e.g. each coordinator's webhook signing secret, derived from
    `WBL_WEBHOOK_KEY` by registry (shown once) and by notifier (to sign)."""
    digest = hmac.new(key.encode(), f"{purpose}:{subject}".encode(), hashlib.sha256)
    return f"{purpose}_{digest.hexdigest()}"
