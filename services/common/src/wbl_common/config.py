"""Settings sections every service nests in its own settings class."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # The relay and consumers retry transient broker errors; this bounds one attempt.
    request_timeout_ms: int = Field(default=15_000, ge=1_000)
    # Consumers: a failing handler is tried this often, with exponential backoff between
    # tries, before its message is dead-lettered; an outage of the database or the broker
    # is retried with the same backoff until it ends.
    handler_attempts: int = Field(default=5, ge=1, le=20)
    retry_backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    retry_backoff_max_s: float = Field(default=10.0, gt=0, le=600)
    # Bounds each try of a handler (and each database or broker call around it).
    attempt_timeout_s: float = Field(default=20.0, gt=0, le=600)
    # Kafka's limit between two polls of a consumer (it leaves the group beyond it).
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000, le=3_600_000)

    @model_validator(mode="after")
    def tries_fit_between_polls(self) -> Self:
        """All tries of one message must end well within `max_poll_interval_ms` (half of it;
        the other half is for an outage's retries), or the consumer would leave its group."""
        worst_s = (
            self.handler_attempts * self.attempt_timeout_s
            + (self.handler_attempts - 1) * self.retry_backoff_max_s
        )
        if worst_s > self.max_poll_interval_ms / 2_000:
            raise ValueError(
                f"handler_attempts x attempt_timeout_s plus the backoffs ({worst_s:g} s) must "
                f"stay within half of max_poll_interval_ms ({self.max_poll_interval_ms} ms)"
            )
        return self


class MongoSettings(BaseModel):
    uri: str = "mongodb://127.0.0.1:27017/"
    database: str
    server_selection_timeout_ms: int = Field(default=5_000, ge=100)


class RateLimitSettings(BaseModel):
    """`burst` requests at once, then `per_minute` (a client is refused while it has none)."""

    auth_failures_per_minute: float = Field(default=10, gt=0)
    auth_failures_burst: int = Field(default=30, ge=1)
    expensive_per_minute: float = Field(default=30, gt=0)
    expensive_burst: int = Field(default=10, ge=1)
    # Addresses never limited: e.g. the notifier's, at registry, as it checks every
    # coordinator token it is shown (CIDR networks or single addresses).
    exempt: list[str] = Field(default_factory=list, max_length=100)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    # Request bodies beyond this are refused with 413 before they are read (registry,
    # whose class lists are larger, has its own `max_body_bytes`).
    max_body_bytes: int = Field(default=64 * 1024, ge=1_024, le=1024 * 1024 * 1024)
    rate_limits: RateLimitSettings = RateLimitSettings()
