"""What a consumer counts as an outage (wait until it ends) and as the message's own failure
(a few tries, then the dead-letter topic), and the bounds its retry settings must keep."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError
from pydantic import ValidationError
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from wbl_common.bus import ConsumerRetry, EventRejected, describe, is_outage
from wbl_common.config import KafkaSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("no server"),
        NetworkTimeout("timed out"),
        AutoReconnect("connection closed"),
        KafkaConnectionError("broker gone"),
        KafkaTimeoutError(),
        TimeoutError(),
        ConnectionRefusedError(),
    ],
    ids=type,
)
def test_an_unreachable_database_or_broker_is_an_outage(error: Exception) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        DuplicateKeyError("E11000 duplicate key"),
        OperationFailure("not implemented", code=238),
        MessageSizeTooLargeError(),
        EventRejected("no such school"),
        KeyError("a bug"),
        ValueError("bad data"),
    ],
    ids=type,
)
def test_an_error_of_the_message_or_the_handler_is_not_an_outage(error: Exception) -> None:
    assert not is_outage(error)


def test_an_error_is_described_by_class_and_message_bounded_and_scrubbed() -> None:
    described = describe(ValueError(f"lee@school.example.org {'x' * 1_000}"))
    assert described.startswith("ValueError: <email> xxx")
    assert len(described) == 500


def test_the_defaults_fit_every_try_within_the_poll_interval() -> None:
    retry = ConsumerRetry.of(KafkaSettings())
    assert (retry.attempts, retry.attempt_timeout_s, retry.max_poll_interval_ms) == (5, 20, 300_000)
    assert retry.outage_budget_s == 150


def test_tries_that_could_outlast_the_poll_interval_are_refused() -> None:
    with pytest.raises(ValidationError, match="within half of max_poll_interval_ms"):
        KafkaSettings(handler_attempts=10, attempt_timeout_s=60, max_poll_interval_ms=300_000)
