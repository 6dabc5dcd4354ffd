"""Matcher settings: `WBL_MATCHER_*` (nested with `__`), plus `WBL_ADMIN_TOKEN`."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.settings import ConsumerName, ServiceSettings, settings_config
from wbl_common.workers import WorkerSettings


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
    consumer_name: ConsumerName = "matcher"
