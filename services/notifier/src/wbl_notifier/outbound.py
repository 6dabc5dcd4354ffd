"""Where webhooks may go: only to public addresses, vetted after resolution and connected to
as vetted (no second lookup a DNS answer could change in between), never redirected.

A coordinator's webhook URL is theirs to choose, so without this the notifier would POST
signed requests to whatever it can reach: registry, matcher, a cloud metadata service,
another host on the private network."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2_048
SCHEMES = frozenset({"http", "https"})
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(ValueError):
    """The webhook URL, or an address its host resolves to, is not one we send to."""


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses only; `allow_loopback` admits 127.0.0.0/8 and ::1 for local
    development and tests, where the receiver runs on the same machine."""

    allow_loopback: bool = False

    def refusal(self, address: IpAddress) -> str | None:
        """Why `address` is refused, or None when it may be sent to."""
        for candidate in _with_embedded_ipv4(address):
            if candidate.is_loopback:
                if not self.allow_loopback:
                    return f"{address} is a loopback address"
                continue
            if candidate.is_multicast:
                return f"{address} is a multicast address"
            if not candidate.is_global:  # private, link-local, reserved, unspecified, shared
                return f"{address} is not a public address"
        return None


def _with_embedded_ipv4(address: IpAddress) -> list[IpAddress]:
    """The address and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64), which is
    where a packet to it may end up."""
    found: list[IpAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def webhook_url(raw: str) -> httpx.URL:
    """`raw` parsed as a webhook URL: http(s), a host, no credentials, bounded; else
    AddressRefused (a malformed URL such as `http://[::1` included)."""
    if len(raw) > MAX_URL_LENGTH:
        raise AddressRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c in raw for c in "\r\n\t\x00"):
        raise AddressRefused("the URL holds control characters")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise AddressRefused(f"the URL cannot be parsed: {error}") from error
    if url.scheme not in SCHEMES:
        raise AddressRefused(f"the scheme {url.scheme!r} is not http or https")
    if not url.host:
        raise AddressRefused("the URL has no host")
    if url.userinfo:
        raise AddressRefused("the URL carries credentials")
    return url


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (numeric forms such as `2130706433` included)."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpx.ConnectError(f"cannot resolve the host: {error}") from error
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class VettedTransport(httpx.AsyncBaseTransport):
    """Resolves each request's host, refuses it unless every address passes the policy,
    and connects to the first vetted address itself: the Host header and TLS server name
    stay the URL's host, so certificates are checked against it as usual."""

    def __init__(
        self,
        policy: AddressPolicy,
        inner: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(trust_env=False)
        self._resolve = resolver

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        addresses = await self._resolve(host, port)
        if not addresses:
            raise AddressRefused(f"{host} resolves to no address")
        for address in addresses:
            refusal = self._policy.refusal(ipaddress.ip_address(address.split("%")[0]))
            if refusal is not None:
                raise AddressRefused(f"{host} resolves to {refusal}")
        request.url = request.url.copy_with(host=addresses[0])
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
