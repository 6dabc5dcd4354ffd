"""Matcher settings: `WBL_MATCHER_*` (nested with `__`), plus `WBL_ADMIN_TOKEN`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, BaseModel, Field, SecretStr

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.settings import ConsumerName, ServiceSettings, settings_config
from wbl_common.workers import WorkerSettings


class OfferSettings(BaseModel):
    """How long an offer holds its seat (`WBL_MATCHER_OFFER__WINDOW_DAYS`, ...)."""

    window_days: float = Field(
        default=7,
        gt=0,
        le=90,
        description="An offer holds its seat this long unless confirmed or declined first.",
    )
    grace_s: float = Field(
        default=600,
        ge=0,
        le=86_400,
        description="The registry refuses decisions at expiry; the seat is freed this much "
        "later, so a decision taken just before expiry reaches the matcher first.",
    )
    sweep_interval_s: float = Field(
        default=30,
        ge=0.1,
        le=3_600,
        description="How often the rounds lease holder looks for expired offers.",
    )

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.grace_s)


class RegistryClientSettings(BaseModel):
    """Where coordinator tokens are checked (registry's `GET /v1/coordinators/me`), so that a
    coordinator may ask why-not for their own schools' students."""

    url: str = "http://127.0.0.1:8001"
    timeout_s: float = Field(default=5.0, gt=0)
    identity_cache_s: float = Field(default=60.0, ge=0)
    unknown_token_cache_s: float = Field(default=30.0, ge=0)


class MatcherSettings(ServiceSettings):
    model_config = settings_config("WBL_MATCHER_")

    http: HttpSettings = HttpSettings(port=8002)
    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings(database="wbl_matcher")
    admin_token: SecretStr = Field(validation_alias=AliasChoices("WBL_ADMIN_TOKEN"))
    lottery_seed: int = Field(
        default=20260901,
        description="Seed of the tie-breaking lottery; fixed per season so re-solves are stable.",
    )
    batch_window_ms: int = Field(
        default=200,
        ge=0,
        le=60_000,
        description="At most one round per window; events within it join the next round.",
    )
    rounds: WorkerSettings = Field(
        default=WorkerSettings(processes=1, waiting=1, wait_s=600),
        description="The worker process rounds are solved in, off the event loop (one round "
        "runs at a time, so one process is enough).",
    )
    offer: OfferSettings = OfferSettings()
    registry: RegistryClientSettings = RegistryClientSettings()
    consumer_name: ConsumerName = "matcher"
