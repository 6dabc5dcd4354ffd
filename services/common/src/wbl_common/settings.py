"""The base every service's settings class extends: env prefix, nested sections, and an
admin token that refuses placeholders."""

from __future__ import annotations

import sys
from typing import Annotated, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)

PLACEHOLDERS = {"changeme", "change-me", "secret", "admin", "password", "token", ""}

# Two instances with one name share the work of its consumer groups (one per topic).
ConsumerName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Prefix of the Kafka consumer groups (one per topic).",
    ),
]


def settings_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
        validate_by_name=True,
        extra="ignore",
    )


def load_settings(kind: type[S]) -> S:
    """Read settings from the environment; on bad configuration, exit with one line per
    problem naming the variable, instead of a traceback."""
    try:
        return kind()
    except ValidationError as error:
        prefix = str(kind.model_config.get("env_prefix", ""))
        for problem in error.errors():
            where = "__".join(str(p) for p in problem["loc"]).upper()
            name = where if where.startswith("WBL_") else f"{prefix}{where}"
            print(f"configuration error: {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


class ServiceSettings(BaseSettings):
    log_level: str = "INFO"

    @field_validator("admin_token", check_fields=False)
    @classmethod
    def refuse_placeholder(cls, token: SecretStr) -> SecretStr:
        value = token.get_secret_value()
        if value.lower() in PLACEHOLDERS or len(value) < 16:
            raise ValueError("WBL_ADMIN_TOKEN must be a random secret of at least 16 characters")
        return token
