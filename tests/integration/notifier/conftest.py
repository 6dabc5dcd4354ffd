"""Real SMTP server and webhook receiver on loopback, and a notifier built by bootstrap
against the real broker and database."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import standard_webhooks_verifies, start_groups_at_the_end
from wbl_common.bus import serialize
from wbl_common.mongo import Document
from wbl_common.secrets import derive_secret
from wbl_notifier.config import NotifierSettings
from wbl_notifier.webhooks import WebhookVerificationError, verify_headers
from wbl_schemas.envelope import Envelope as EventEnvelope

WEBHOOK_KEY = secrets.token_urlsafe(32)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What the SMTP server on loopback received."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content or b""))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """An SMTP server that is not listening yet: the test starts it to end the outage."""
    server = SmtpServer(free_port())
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Hook:
    event_id: str
    verified: bool  # under the coordinator's (or employer's) first-generation secret
    body: dict[str, Any]
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    standard: bool = False  # verified as Standard Webhooks, with the same secret


@dataclass
class WebhookReceiver:
    """A receiver that verifies every request with wbl_notifier.webhooks and answers
    `status` (settable by the test), taking `answer_after_s` to answer, as a slow one."""

    url: str
    status: int = 204
    answer_after_s: float = 0.0
    received: list[Hook] = field(default_factory=list)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parsed = json.loads(body)
            recipient = parsed.get("coordinator_id") or parsed["employer_id"]
            secret = derive_secret(WEBHOOK_KEY, "whsec", recipient)
            try:
                verify_headers(secret, dict(self.headers.items()), body)
                verified = True
            except WebhookVerificationError:
                verified = False
            headers = dict(self.headers.items())
            standard = standard_webhooks_verifies(secret, body, headers)
            hook = Hook(headers["X-WBL-Event-Id"], verified, parsed, body, headers, standard)
            receiver.received.append(hook)
            time.sleep(receiver.answer_after_s)  # the receiver's own slowness (its thread)
            self.send_response(receiver.status if verified else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/wbl"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def settings_for(
    kafka_bootstrap: str,
    mongo_uri: str,
    db: AsyncDatabase[Document],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Builds settings for one notifier instance of this test (same database and consumer
    groups each time, so a second instance is a restart)."""
    monkeypatch.setenv("WBL_WEBHOOK_KEY", WEBHOOK_KEY)
    monkeypatch.setenv("WBL_NOTIFIER_LINK_SECRET", secrets.token_urlsafe(32))
    consumer = f"notifier-test-{secrets.token_hex(4)}"
    await start_groups_at_the_end(kafka_bootstrap, consumer)

    def build(smtp_port: int, **delivery: Any) -> NotifierSettings:
        return NotifierSettings(
            kafka={"bootstrap_servers": kafka_bootstrap},
            mongo={"uri": mongo_uri, "database": db.name},
            smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout_s": 2},
            delivery={
                "backoff_initial_s": 0.05,
                "backoff_max_s": 0.2,
                "poll_s": 0.2,
                "lease_s": 4,
                "webhook_timeout_s": 2,
                "allow_loopback": True,  # the receivers here listen on loopback
                **delivery,
            },
            digest={"period_s": 86_400, "check_s": 3_600},
            consumer_name=consumer,
            public_url="http://127.0.0.1:8003",
        )

    return build


@pytest.fixture
async def publish(kafka_bootstrap: str) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    async def send(event: EventEnvelope) -> None:
        await producer.send_and_wait(event.topic, serialize(event), key=event.key().encode())

    try:
        yield send
    finally:
        await producer.stop()
