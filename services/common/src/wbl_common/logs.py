"""Structured logs: one JSON object per line, for our own loggers and for the libraries'
(uvicorn, aiokafka, FastStream, PyMongo, httpx), each with `timestamp`, `level`, `event`,
`service` and `logger`.

Personal data is never passed to a logger: callers log ids only. As a second line of
defence every line is scrubbed before it is written: query values other than harmless
paging and filter parameters (decision-link tokens `?t=`, stream tickets `?ticket=`),
credentials in URLs (`user:secret@`) and email addresses are replaced.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# Libraries that would write request or document contents (student personal data) when
# set to DEBUG, held at these levels whatever the service's: pymongo's command log at DEBUG
# holds whole documents (names, emails, birth dates). httpx logs every request's full URL
# at INFO, and a webhook URL is often a credential in itself, so it is held at WARNING.
DATA_LOGGERS = {
    "pymongo": logging.INFO,
    "aiokafka": logging.INFO,
    "faststream": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "multipart": logging.INFO,
    "python_multipart": logging.INFO,
}
# FastStream's per-message lines ("Received", "Processed"): topic, group and message ids
# only, never contents, so they follow the service's level (DEBUG shows them).
CONSUMED_MESSAGES = "faststream.access.kafka"
# Loggers that bring their own handlers (FastStream's colourised ones); theirs are removed
# so each line reaches the one JSON handler on the root logger.
_OWN_HANDLERS = ("faststream", CONSUMED_MESSAGES, "uvicorn", "uvicorn.error", "uvicorn.access")
# FastStream passes these as `extra`; nothing else a library attaches is kept (uvicorn's
# `color_message` holds ANSI escapes).
_LIBRARY_FIELDS = ("topic", "group_id", "message_id")

# Query parameters whose values are kept in logs: paging and filters. Every other value
# (tokens, tickets, anything new) is replaced.
SAFE_QUERY_PARAMETERS = frozenset({"page", "size", "status", "format", "career_field"})
REDACTED = "REDACTED"
_QUERY = re.compile(r"\?([^\s\"'<>#]+)")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s\"'<>]+@")  # to the authority's last @
_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def redact_query(query: str) -> str:
    """`a=1&t=secret` → `a=REDACTED&t=REDACTED`, keeping the values of safe parameters."""
    pairs = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        keep = not eq or name in SAFE_QUERY_PARAMETERS
        pairs.append(pair if keep else f"{name}={REDACTED if value else ''}")
    return "&".join(pairs)


def scrub(text: str) -> str:
    """`text` without query secrets, URL credentials or email addresses."""
    text = _URL_CREDENTIALS.sub("***@", text)
    text = _QUERY.sub(lambda m: "?" + redact_query(m[1]), text)
    return _EMAIL.sub("<email>", text)


def _scrub_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


def _http_access(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn's access line as fields; the client address is left out (personal data)."""
    args = event_dict.pop("positional_args", None)
    record = event_dict.get("_record")
    if (
        record is not None
        and record.name == "uvicorn.access"
        and isinstance(args, tuple)
        and len(args) == 5
    ):
        _client, method, path, http_version, status = args
        event_dict.update(
            event="http request",
            method=method,
            path=path,
            http_version=http_version,
            status=status,
        )
    return event_dict


def _add_service(service: str) -> Processor:
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict["service"] = service
        return event_dict

    return add_service


_SHARED: list[Processor] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter(service: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every line, structlog's events and the libraries' records alike."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *_SHARED,
            structlog.stdlib.ExtraAdder(allow=_LIBRARY_FIELDS),
            _http_access,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service(service),
            structlog.processors.format_exc_info,
            _scrub_values,
            structlog.processors.JSONRenderer(),
        ],
        pass_foreign_args=True,
    )


class _StartupNotices(logging.Filter):
    """FastStream warns at every subscriber's start that topics are not auto-created, which
    is our choice (the deployment creates them): a notice, not a failure, so INFO."""

    NOTICE = "Auto create topics is disabled"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(self.NOTICE):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it rather than doubling every line."""


def configure_logging(service: str, level: str = "INFO") -> structlog.stdlib.BoundLogger:
    handler = _JsonHandler(sys.stderr)
    handler.setFormatter(json_formatter(service))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _OWN_HANDLERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    quiet_data_loggers()
    consumed = logging.getLogger(CONSUMED_MESSAGES)
    consumed.setLevel(level.upper())
    if not any(isinstance(f, _StartupNotices) for f in consumed.filters):
        consumed.addFilter(_StartupNotices())
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            *_SHARED,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(service)
    return logger


def quiet_data_loggers() -> None:
    """Pin the data-bearing libraries' loggers (see DATA_LOGGERS), so a DEBUG root level
    later cannot reach them."""
    for name, floor in DATA_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, floor))


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    logging.getLogger("wbl").critical("uncaught exception", exc_info=(kind, error, tb))
