"""The envelope every message on the bus travels in (DESIGN.md, Events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    """Base of every event payload: frozen, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(BaseModel):
    """Metadata shared by every event; subclasses pin `event_type` and `payload`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    schema_version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    producer: str
    correlation_id: str = Field(default_factory=lambda: str(uuid4()))
    payload: Payload

    def key(self) -> str:
        """The Kafka message key: the entity the event is about."""
        raise NotImplementedError
