"""Settings sections every service nests in its own settings class."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # The relay and consumers retry transient broker errors; this bounds one attempt.
    request_timeout_ms: int = Field(default=15_000, ge=1_000)


class MongoSettings(BaseModel):
    uri: str = "mongodb://127.0.0.1:27017/"
    database: str
    server_selection_timeout_ms: int = Field(default=5_000, ge=100)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
