"""Coordinator channels chosen to hurt (issue 12, finding 1): webhooks to internal addresses
are refused at send time, after resolution; malformed URLs and emails end in a recorded
failure; the inbox shows a generic reason, whatever lies behind the address."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.notifier.conftest import SmtpServer, WebhookReceiver
from tests.integration.notifier.test_deliveries import Scenario, deliveries
from tests.support import eventually
from wbl_notifier.bootstrap import bootstrap
from wbl_notifier.domain import Channel, Delivery, DeliveryStatus
from wbl_schemas.events import NotificationChannels

pytestmark = pytest.mark.integration

REFUSED = "the webhook address was refused"


async def _finished(service: Any, s: Scenario, channel: Channel) -> Delivery:
    match = s.match(1)

    async def done() -> list[Delivery]:
        found = [d for d in await deliveries(service, s, match) if d.channel is channel]
        return [d for d in found if d.status is not DeliveryStatus.PENDING]

    [delivery] = await eventually(done, what=f"the {channel.value} delivery to end")
    return delivery


@pytest.mark.parametrize(
    "target",
    [
        "{loopback}",  # the receiver itself, on 127.0.0.1, with loopback not allowed
        "http://2130706433:{port}/hooks/wbl",  # 127.0.0.1 written as one decimal number
        "http://0x7f.0.0.1:{port}/hooks/wbl",  # and in hex
        "http://[::ffff:127.0.0.1]:{port}/hooks/wbl",  # IPv4-mapped IPv6
        "http://localhost:{port}/hooks/wbl",
    ],
)
async def test_a_webhook_to_loopback_is_refused_after_resolution_and_never_sent(
    settings_for: Any,
    smtp: SmtpServer,
    webhook_receiver: WebhookReceiver,
    publish: Any,
    target: str,
) -> None:
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    s = Scenario(webhook_url=target.format(loopback=webhook_receiver.url, port=port))
    settings = settings_for(smtp.port, max_attempts=3, allow_loopback=False)
    async with bootstrap(settings) as service:
        await publish(s.coordinator)
        await publish(s.match(1))
        delivery = await _finished(service, s, Channel.WEBHOOK)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 1  # refused for good: no retries
    assert delivery.last_error == REFUSED
    assert webhook_receiver.received == []


@pytest.mark.parametrize(
    "target",
    [
        "http://[::1",  # unparseable
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata, link-local
        "http://10.0.0.1/",  # private
        "http://[fe80::1]/",  # IPv6 link-local
        "http://224.0.0.1/",  # multicast
        "http://0.0.0.0/",  # unspecified
        "file:///etc/passwd",
        "javascript:alert(1)",
        "not a url",
        "http://user:secret@example.org/",  # credentials in the URL
    ],
)
async def test_a_webhook_url_that_is_malformed_or_internal_ends_in_a_recorded_refusal(
    settings_for: Any, smtp: SmtpServer, publish: Any, target: str
) -> None:
    s = Scenario(webhook_url=target)
    async with bootstrap(settings_for(smtp.port, max_attempts=3)) as service:
        await publish(s.coordinator)
        await publish(s.match(1))
        delivery = await _finished(service, s, Channel.WEBHOOK)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_error == REFUSED


async def test_a_closed_port_and_a_failing_receiver_read_the_same_in_the_inbox(
    settings_for: Any, smtp: SmtpServer, webhook_receiver: WebhookReceiver, publish: Any
) -> None:
    """Otherwise the inbox tells which ports are open: a port scanner."""
    webhook_receiver.status = 500
    answering = Scenario(webhook_url=webhook_receiver.url)
    closed = Scenario(webhook_url="http://127.0.0.1:9/hooks")  # discard port, nothing listens
    async with bootstrap(settings_for(smtp.port, max_attempts=2)) as service:
        for s in (answering, closed):
            await publish(s.coordinator)
            await publish(s.match(1))
        reasons = {
            (await _finished(service, s, Channel.WEBHOOK)).last_error for s in (answering, closed)
        }
    assert reasons == {"could not be delivered"}


async def test_an_email_address_with_a_line_break_ends_in_a_recorded_failure(
    settings_for: Any, smtp: SmtpServer, publish: Any
) -> None:
    s = Scenario()
    channels = NotificationChannels(email="dana@school.example.org\nBcc: all@example.org")
    payload = s.coordinator.payload.model_copy(update={"channels": channels})
    s.coordinator = s.coordinator.model_copy(update={"payload": payload})
    async with bootstrap(settings_for(smtp.port, max_attempts=3)) as service:
        await publish(s.coordinator)
        await publish(s.match(1))
        [found] = await eventually(
            lambda: _failed_email(service, s), what="the email delivery failed"
        )
    assert (found.attempts, found.last_error) == (1, "could not be delivered")
    assert smtp.mailbox.messages == []


async def _failed_email(service: Any, s: Scenario) -> list[Delivery]:
    found = await deliveries(service, s, s.match(1))
    return [d for d in found if d.channel is Channel.EMAIL and d.status is DeliveryStatus.FAILED]
