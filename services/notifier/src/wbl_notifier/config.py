"""Notifier settings: `WBL_NOTIFIER_*` (nested with `__`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.settings import ServiceSettings, settings_config


class RegistryClientSettings(BaseModel):
    """Where coordinator tokens are checked (registry's `GET /v1/coordinators/me`)."""

    url: str = "http://127.0.0.1:8001"
    timeout_s: float = Field(default=5.0, gt=0)
    identity_cache_s: float = Field(default=60.0, ge=0)


class NotifierSettings(ServiceSettings):
    model_config = settings_config("WBL_NOTIFIER_")

    http: HttpSettings = HttpSettings(port=8003)
    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings(database="wbl_notifier")
    registry: RegistryClientSettings = RegistryClientSettings()
