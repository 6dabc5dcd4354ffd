"""The notifier's lease settings refuse values that would cut attempts short or let a
digest lease lapse between two checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from wbl_notifier.config import DigestSettings, NotifierSettings

pytestmark = pytest.mark.unit


def settings(**sections: dict[str, float]) -> NotifierSettings:
    return NotifierSettings.model_validate(
        {"link_secret": "l" * 32, "webhook_key": "w" * 32, **sections}
    )


def test_an_attempt_s_claim_must_outlast_twice_the_slowest_channel_timeout() -> None:
    with pytest.raises(ValidationError, match=r"lease_s \(20\) must be at least twice"):
        settings(delivery={"lease_s": 20})  # SMTP's timeout is 15 s
    fits = settings(delivery={"lease_s": 20}, smtp={"timeout_s": 5})
    assert fits.delivery.lease_s == 20


def test_the_digest_lease_lasts_three_checks_unless_set_and_never_under_two() -> None:
    assert DigestSettings(check_s=10).lease == timedelta(seconds=30)
    assert DigestSettings(check_s=10, lease_s=25).lease == timedelta(seconds=25)
    with pytest.raises(ValidationError, match="at least twice check_s"):
        DigestSettings(check_s=10, lease_s=15)
