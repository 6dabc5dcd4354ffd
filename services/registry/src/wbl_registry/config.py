"""Registry settings: `WBL_REGISTRY_*` (nested with `__`), plus `WBL_ADMIN_TOKEN`."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.settings import ServiceSettings, settings_config


class RegistrySettings(ServiceSettings):
    model_config = settings_config("WBL_REGISTRY_")

    http: HttpSettings = HttpSettings(port=8001)
    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings(database="wbl_registry")
    admin_token: SecretStr = Field(validation_alias=AliasChoices("WBL_ADMIN_TOKEN"))
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
