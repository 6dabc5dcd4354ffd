"""Notifier settings: `WBL_NOTIFIER_*` (nested with `__`), plus `WBL_WEBHOOK_KEY`, which
registry shares to derive each coordinator's webhook secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.secrets import notifier_service_token
from wbl_common.settings import PLACEHOLDERS, ConsumerName, ServiceSettings, settings_config


class RegistryClientSettings(BaseModel):
    """Where coordinator tokens are checked (registry's `GET /v1/coordinators/me`) and
    placement decisions are taken."""

    url: str = "http://127.0.0.1:8001"
    timeout_s: float = Field(default=5.0, gt=0)
    identity_cache_s: float = Field(default=60.0, ge=0)
    # How long a token registry refused stays refused here without asking again.
    unknown_token_cache_s: float = Field(default=30.0, ge=0)
    # Registry reads and stores a class list of up to 10,000 rows: give it longer.
    class_list_timeout_s: float = Field(default=120.0, gt=0)
    # The notifier's own credential for registry's outreach calls (the parties' links and
    # addresses). Unset: derived from WBL_WEBHOOK_KEY, as registry derives it.
    service_token: SecretStr | None = None


class MatcherClientSettings(BaseModel):
    """Where the roster's why-not is asked (the matcher's `POST /v1/students/why-not`), with
    the coordinator's own token: the matcher checks it and the student's school."""

    url: str = "http://127.0.0.1:8002"
    timeout_s: float = Field(default=10.0, gt=0)


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
    # Webhooks go to public addresses only; local development and tests, whose receivers
    # run on this machine, turn this on to admit loopback (127.0.0.0/8, ::1) as well.
    allow_loopback: bool = False
    # An attempt's claim: if its replica crashed mid-send, the next attempt is made once this
    # has passed. Each attempt is cut off at half of it, so set it above twice the SMTP and
    # webhook timeouts.
    lease_s: float = Field(default=120.0, gt=0)


class DigestSettings(BaseModel):
    """Daily-digest coordinators get one message per period (periods start at the epoch,
    UTC: with the default, at midnight UTC); the task checks for closed periods every
    `check_s`."""

    period_s: float = Field(default=86_400.0, gt=0)
    check_s: float = Field(default=60.0, gt=0)
    # One replica at a time sends digests; another takes over once its lease has expired.
    # The holder renews it at every check, so it must outlast two; unset, three checks.
    lease_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def lease_outlasts_checks(self) -> Self:
        if self.lease_s is not None and self.lease_s < 2 * self.check_s:
            raise ValueError("lease_s must be at least twice check_s")
        return self

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_s or 3 * self.check_s)


class ReminderSettings(BaseModel):
    """Coordinators are reminded of each undecided offer `before_hours` before it ends; the
    task looks for such offers every `check_s`, on one replica at a time (under a lease)."""

    before_hours: float = Field(default=48.0, gt=0, le=24 * 60)
    check_s: float = Field(default=60.0, gt=0, le=86_400)

    @property
    def before(self) -> timedelta:
        return timedelta(hours=self.before_hours)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=3 * self.check_s)


class PartySettings(BaseModel):
    """The parties' emails (ADR 6): every `sweep_s`, on one replica at a time (under a
    lease), each active placement's outreach is asked for new steps (a finished week to
    verify, an evaluation due), and a step still outstanding `remind_after_s` after its last
    email is reminded, at most `max_reminders` times."""

    sweep_s: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    remind_after_s: float = Field(default=3 * 86_400.0, gt=0)
    max_reminders: int = Field(default=3, ge=0, le=20)

    @property
    def remind_after(self) -> timedelta:
        return timedelta(seconds=self.remind_after_s)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=3 * self.sweep_s)


class NotifierSettings(ServiceSettings):
    model_config = settings_config("WBL_NOTIFIER_")

    http: HttpSettings = HttpSettings(port=8003)
    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings(database="wbl_notifier")
    registry: RegistryClientSettings = RegistryClientSettings()
    matcher: MatcherClientSettings = MatcherClientSettings()
    smtp: SmtpSettings = SmtpSettings()
    delivery: DeliverySettings = DeliverySettings()
    digest: DigestSettings = DigestSettings()
    reminders: ReminderSettings = ReminderSettings()
    parties: PartySettings = PartySettings()
    consumer_name: ConsumerName = "notifier"
    # Where coordinators reach the inbox page; emails and webhooks link there.
    public_url: str = "http://127.0.0.1:8003"
    # Signs the confirm/decline links in emails and the inbox's stream tickets.
    link_secret: SecretStr
    link_ttl_s: int = Field(default=7 * 86_400, ge=60)
    stream_ticket_ttl_s: int = Field(default=60, ge=5, le=3_600)
    stream_poll_s: float = Field(default=2.0, gt=0)
    # The largest class list the workspace page uploads (a 10,000-row list is about 2 MB).
    # Keep it below registry's WBL_REGISTRY_MAX_BODY_BYTES (5 MiB by default).
    class_list_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Each coordinator's webhook secret is derived from it, as registry derives it.
    webhook_key: SecretStr = Field(validation_alias=AliasChoices("WBL_WEBHOOK_KEY"))

    @field_validator("link_secret", "webhook_key")
    @classmethod
    def refuse_placeholder_secret(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if value.lower() in PLACEHOLDERS or len(value) < 16:
            raise ValueError("must be a random secret of at least 16 characters")
        return secret

    @field_validator("delivery")
    @classmethod
    def attempts_end_within_their_claim(
        cls, delivery: DeliverySettings, info: ValidationInfo
    ) -> DeliverySettings:
        """An attempt is cut off at half its claim's lease: leave the channels their own
        timeouts, so a slow server gets a clear error rather than a cut."""
        smtp = info.data.get("smtp", SmtpSettings())
        slowest = max(smtp.timeout_s, delivery.webhook_timeout_s)
        if delivery.lease_s < 2 * slowest:
            raise ValueError(
                f"lease_s ({delivery.lease_s:g}) must be at least twice the SMTP and webhook "
                f"timeouts ({2 * slowest:g} s)"
            )
        return delivery

    @property
    def registry_service_token(self) -> str:
        token = self.registry.service_token
        if token is not None:
            return token.get_secret_value()
        return notifier_service_token(self.webhook_key.get_secret_value())

    @property
    def inbox_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/inbox"
