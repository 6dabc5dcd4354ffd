"""Where webhooks may go (issue 12, finding 1): the address policy and the transport that
connects to the address it vetted."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from wbl_notifier.outbound import AddressPolicy, AddressRefused, VettedTransport, webhook_url

pytestmark = pytest.mark.unit

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "239.1.1.1",
    "192.0.2.1",  # documentation
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_loopback_passes_only_when_allowed_and_nothing_else_does() -> None:
    allowed = AddressPolicy(allow_loopback=True)
    assert allowed.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert allowed.refusal(ipaddress.ip_address("::1")) is None
    assert allowed.refusal(ipaddress.ip_address("10.0.0.1")) is not None


@pytest.mark.parametrize(
    "raw",
    [
        "http://[::1",
        "ftp://example.org/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "not a url",
        "http:///path-only",
        "http://user:pw@example.org/",
        "http://example.org/\r\nX-Injected: 1",
        "http://example.org/" + "a" * 3_000,
    ],
)
def test_malformed_webhook_urls_are_refused(raw: str) -> None:
    with pytest.raises(AddressRefused):
        webhook_url(raw)


class Capture(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


async def test_the_transport_connects_to_the_address_it_vetted_keeping_host_and_sni() -> None:
    """One lookup per request: a DNS answer that changes to 127.0.0.1 after the check (DNS
    rebinding) is never used, as the connection goes to the vetted address itself."""
    answers = [["93.184.215.14"], ["127.0.0.1"]]

    async def resolver(host: str, port: int) -> list[str]:
        return answers.pop(0)

    inner = Capture()
    async with httpx.AsyncClient(transport=VettedTransport(AddressPolicy(), inner, resolver)) as c:
        await c.post("https://hooks.example.org/wbl", content=b"{}")
    [sent] = inner.requests
    assert sent.url.host == "93.184.215.14"
    assert sent.headers["Host"] == "hooks.example.org"
    assert sent.extensions["sni_hostname"] == "hooks.example.org"
    assert answers == [["127.0.0.1"]]  # resolved once


async def test_a_host_with_any_internal_address_is_refused() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.1"]

    inner = Capture()
    async with httpx.AsyncClient(transport=VettedTransport(AddressPolicy(), inner, resolver)) as c:
        with pytest.raises(AddressRefused):
            await c.post("http://hooks.example.org/wbl", content=b"{}")
    assert inner.requests == []
