"""One JSON format for every line a service writes, whoever logs it, with no tokens, URL
credentials or email addresses, and consumed messages at DEBUG only."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from tests.support import json_lines, restored_logging
from wbl_common.logs import configure_logging, scrub

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restored_logging() -> Iterator[None]:
    with restored_logging():
        yield


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out, err = capsys.readouterr()
    assert out == ""  # one stream: FastStream's access lines used to go to stdout
    return json_lines(err)


def uvicorn_access(path: str, status: int = 200) -> None:
    """An access line exactly as uvicorn's h11 and httptools protocols write it."""
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "203.0.113.7:50412", "GET", path, "1.1", status
    )


def test_every_logger_writes_the_same_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("matcher", "INFO")
    structlog.get_logger("wbl_matcher.handlers").info("round solved", round_id="rnd_1")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    uvicorn_access("/healthz")
    logging.getLogger("aiokafka.consumer.group_coordinator").info("Joined group %r", "g")
    logging.getLogger("faststream").warning("a FastStream notice")  # had its own handler
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old API", DeprecationWarning, stacklevel=1)

    logged = lines(capsys)
    assert [line["event"] for line in logged[:3]] == [
        "round solved",
        "Started server process [42]",
        "http request",
    ]
    assert {line["service"] for line in logged} == {"matcher"}
    assert logged[0]["round_id"] == "rnd_1"
    assert logged[0]["level"] == "info"
    assert logged[3]["event"] == "Joined group 'g'"
    assert logged[4]["level"] == "warning"
    assert "an old API" in logged[5]["event"]
    assert logged[5]["logger"] == "py.warnings"


def test_access_lines_keep_the_path_and_drop_tokens_and_the_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("notifier", "INFO")
    uvicorn_access("/inbox/act?t=SECRET-DECISION-TOKEN", 303)
    uvicorn_access("/v1/inbox/stream?ticket=SECRET-TICKET")
    uvicorn_access("/v1/students?page=2&size=50&status=active&email=pat@example.org")

    logged = lines(capsys)
    text = json.dumps(logged)
    for secret in ("SECRET", "pat@example.org", "203.0.113.7"):
        assert secret not in text
    assert [(line["method"], line["path"], line["status"]) for line in logged] == [
        ("GET", "/inbox/act?t=REDACTED", 303),
        ("GET", "/v1/inbox/stream?ticket=REDACTED", 200),
        ("GET", "/v1/students?page=2&size=50&status=active&email=REDACTED", 200),
    ]


async def test_http_client_lines_never_show_url_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("notifier", "DEBUG")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    url = "https://hooks:hook-secret@receiver.example.org/in?token=tok-secret&page=1"
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        await client.post(url)
        assert lines(capsys) == []  # httpx is held at WARNING: its lines carry whole URLs
        logging.getLogger("httpx").setLevel(logging.INFO)  # as a deployment might
        await client.post(url)

    [line] = lines(capsys)
    assert line["logger"] == "httpx"
    assert "receiver.example.org/in" in line["event"]
    assert "hook-secret" not in line["event"] and "tok-secret" not in line["event"]
    assert "https://***@receiver.example.org/in?token=REDACTED&page=1" in line["event"]


def test_values_and_tracebacks_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("notifier", "INFO")
    log = structlog.get_logger("wbl_notifier.worker")
    log.warning("delivery failed", reason="recipient refused: <dana@school.example.org>")
    try:
        raise ValueError("cannot reach mongodb://app:db-secret@mongo:27017/")
    except ValueError:
        log.exception("store unavailable")

    failed, crashed = lines(capsys)
    assert failed["reason"] == "recipient refused: <<email>>"
    assert failed["level"] == "warning"
    assert "db-secret" not in crashed["exception"]
    assert "mongodb://***@mongo:27017/" in crashed["exception"]
    assert crashed["level"] == "error"


def test_an_uncaught_exception_is_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("registry", "INFO")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())

    [line] = lines(capsys)
    assert line["level"] == "critical"
    assert "RuntimeError: boom" in line["exception"]


def test_data_loggers_stay_quiet_when_the_service_logs_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("registry", "DEBUG")
    logging.getLogger("pymongo.command").debug('{"insert": "students", "name": "Pat"}')
    logging.getLogger("aiokafka.conn").debug("request bytes")
    logging.getLogger("faststream.access.kafka").debug("Received")

    [line] = lines(capsys)
    assert (line["event"], line["level"]) == ("Received", "debug")


def test_configuring_again_does_not_double_the_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("registry", "INFO")
    configure_logging("registry", "INFO")
    structlog.get_logger("x").info("once")
    assert len(lines(capsys)) == 1


def test_url_credentials_holding_an_at_sign_are_scrubbed_whole() -> None:
    """Passwords may hold `@` (sent unescaped by careless users); none of it is kept."""
    scrubbed = scrub("POST http://hooks:p@ss-secret@receiver.example.org/in failed")
    assert "ss-secret" not in scrubbed
    assert "http://***@receiver.example.org/in" in scrubbed
    assert scrub("see https://example.org/a@b and x@y") == "see https://example.org/a@b and x@y"
