"""Bearer secrets: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

WEBHOOK_PURPOSE = "whsec"


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


def webhook_secret(key: str, coordinator_id: str, generation: int) -> str:
    """A coordinator's webhook signing secret of one generation. Generation 1 is derived
    from the bare id (as before rotation existed), so receivers set up then keep working."""
    subject = coordinator_id if generation == 1 else f"{coordinator_id}#{generation}"
    return derive_secret(key, WEBHOOK_PURPOSE, subject)


def webhook_signing_secrets(
    key: str,
    coordinator_id: str,
    generation: int,
    previous_until: datetime | None,
    now: datetime,
) -> tuple[str, ...]:
    """The secrets a webhook is signed with: the current generation's, and the previous
    one's while its grace period after a rotation lasts (receivers switch at their pace)."""
    current = webhook_secret(key, coordinator_id, generation)
    if generation > 1 and previous_until is not None and now < previous_until:
        return current, webhook_secret(key, coordinator_id, generation - 1)
    return (current,)


NOTIFIER_SERVICE_PURPOSE = "notifier-service"


def notifier_service_token(webhook_key: str) -> str:
    """The notifier's service credential at registry when none is set: derived from the
    shared `WBL_WEBHOOK_KEY` for this one purpose, so both services hold it unconfigured
    (as registry derives its party-link key)."""
    return derive_secret(webhook_key, NOTIFIER_SERVICE_PURPOSE, "registry")
