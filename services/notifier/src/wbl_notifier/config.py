"""Notifier settings: `WBL_NOTIFIER_*` (nested with `__`), plus `WBL_WEBHOOK_KEY`, which
registry shares to derive each coordinator's webhook secret."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.settings import PLACEHOLDERS, ConsumerName, ServiceSettings, settings_config


class RegistryClientSettings(BaseModel):
    """Where coordinator tokens are checked (registry's `GET /v1/coordinators/me`) and
    placement decisions are taken."""

    url: str = "http://127.0.0.1:8001"
    timeout_s: float = Field(default=5.0, gt=0)
    identity_cache_s: float = Field(default=60.0, ge=0)


class SmtpSettings(BaseModel):
    """Outgoing mail. Without a host, email deliveries fail at once, visibly, in the inbox."""

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "WBL placements <no-reply@wbl-placements.invalid>"
    timeout_s: float = Field(default=15.0, gt=0)


class DeliverySettings(BaseModel):
    """The delivery worker: retries with exponential backoff up to a cap, then gives up,
    records the failure on the notification and dead-letters it."""

    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    poll_s: float = Field(default=1.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # A claimed delivery is due again after this, so a crashed worker's work resumes; it
    # must outlast one attempt (timeout) plus the longest backoff, as each attempt renews it.
    lease_s: float = Field(default=300.0, gt=0)


class DigestSettings(BaseModel):
    """Daily-digest coordinators get one message per period (periods start at the epoch,
    UTC: with the default, at midnight UTC); the task checks for closed periods every
    `check_s`."""

    period_s: float = Field(default=86_400.0, gt=0)
    check_s: float = Field(default=60.0, gt=0)


class NotifierSettings(ServiceSettings):
    model_config = settings_config("WBL_NOTIFIER_")

    http: HttpSettings = HttpSettings(port=8003)
    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings(database="wbl_notifier")
    registry: RegistryClientSettings = RegistryClientSettings()
    smtp: SmtpSettings = SmtpSettings()
    delivery: DeliverySettings = DeliverySettings()
    digest: DigestSettings = DigestSettings()
    consumer_name: ConsumerName = "notifier"
    # Where coordinators reach the inbox page; emails and webhooks link there.
    public_url: str = "http://127.0.0.1:8003"
    # Signs the confirm/decline links in emails and the inbox's stream tickets.
    link_secret: SecretStr
    link_ttl_s: int = Field(default=7 * 86_400, ge=60)
    stream_ticket_ttl_s: int = Field(default=60, ge=5, le=3_600)
    stream_poll_s: float = Field(default=2.0, gt=0)
    # Each coordinator's webhook secret is derived from it, as registry derives it.
    webhook_key: SecretStr = Field(validation_alias=AliasChoices("WBL_WEBHOOK_KEY"))

    @field_validator("link_secret", "webhook_key")
    @classmethod
    def refuse_placeholder_secret(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if value.lower() in PLACEHOLDERS or len(value) < 16:
            raise ValueError("must be a random secret of at least 16 characters")
        return secret

    @property
    def inbox_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/inbox"
