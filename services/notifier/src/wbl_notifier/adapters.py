"""Notifier's outbound adapters: registry's HTTP API (which vouches for coordinator tokens
and takes placement decisions), the SMTP server and webhook receivers."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import quote

import aiosmtplib
import httpx

from wbl_common.directory import CoordinatorDirectory as CoordinatorDirectory
from wbl_common.directory import CoordinatorIdentity as CoordinatorIdentity
from wbl_common.directory import RegistryDirectory as RegistryDirectory
from wbl_notifier.config import SmtpSettings
from wbl_notifier.outbound import AddressRefused, webhook_url

# -- channels: SMTP and webhooks ------------------------------------------------------------


class DeliveryError(Exception):
    """One attempt failed in a way that may pass: the worker retries it. The message is the
    detail, for the log; `public` is what the coordinator's inbox shows, which says nothing
    about what lies behind an address (else the inbox would be a port scanner)."""

    public = "could not be delivered"


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (e.g. the receiver refused the request as malformed)."""


class ChannelOff(PermanentDeliveryError):
    """This notifier has no such channel configured: the operator's detail goes to the log,
    the coordinator reads what to do."""

    public = "email is off for this school; contact your administrator"


class WebhookRefused(PermanentDeliveryError):
    """The webhook URL is malformed or leads to an address we do not send to."""

    public = "the webhook address was refused"


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None: ...


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        if s.host is None:
            raise ChannelOff("email is not configured (WBL_NOTIFIER_SMTP__HOST)")
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password else None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise PermanentDeliveryError(f"recipient refused: {error}") from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryError(f"{type(error).__name__}: {error}") from error


# Answers that retrying cannot change; 408 and 429 are worth another try.
PERMANENT_HTTP = frozenset(range(400, 500)) - {408, 425, 429}


class HttpWebhookSender:
    """Posts through a client whose transport vets addresses (`outbound.VettedTransport`)
    and never follows redirects: a 3xx is a failure, as a redirect could lead anywhere."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            target = webhook_url(url)
            response = await self._client.post(target, content=body, headers=headers)
        except AddressRefused as error:
            raise WebhookRefused(str(error)) from error
        except httpx.HTTPError as error:
            raise DeliveryError(f"{type(error).__name__}: {error}") from error
        if response.is_redirect or response.status_code in PERMANENT_HTTP:
            raise PermanentDeliveryError(f"HTTP {response.status_code}")
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}")


# -- registry's placement API, called with the coordinator's own token ----------------------


@dataclass(frozen=True)
class RegistryAnswer:
    status_code: int
    body: object
    content_type: str


class PlacementDesk(Protocol):
    async def decide(
        self, token: str, match_id: str, decision: str, note: str = ""
    ) -> RegistryAnswer: ...

    async def student(self, token: str, student_id: str) -> RegistryAnswer: ...

    async def undo(self, token: str, match_id: str) -> RegistryAnswer: ...


class RegistryPlacements:
    """Forwards a coordinator's decision or student look-up to registry under their token;
    registry alone decides whether they may (their school, a seat left, not withdrawn)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def decide(
        self, token: str, match_id: str, decision: str, note: str = ""
    ) -> RegistryAnswer:
        response = await self._client.post(
            f"/v1/matches/{quote(match_id, safe='')}/{decision}",
            json={"note": note} if note else {},
            headers={"Authorization": f"Bearer {token}"},
        )
        return _answer(response)

    async def undo(self, token: str, match_id: str) -> RegistryAnswer:
        response = await self._client.post(
            f"/v1/matches/{quote(match_id, safe='')}/undo",
            headers={"Authorization": f"Bearer {token}"},
        )
        return _answer(response)

    async def student(self, token: str, student_id: str) -> RegistryAnswer:
        response = await self._client.get(
            f"/v1/students/{quote(student_id, safe='')}",
            headers={"Authorization": f"Bearer {token}"},
        )
        return _answer(response)


def _answer(response: httpx.Response) -> RegistryAnswer:
    content_type = response.headers.get("content-type", "application/json")
    try:
        body: object = response.json()
    except ValueError:
        body = {"title": "registry answered without JSON", "status": response.status_code}
    return RegistryAnswer(response.status_code, body, content_type)


# -- registry's outreach, called with the notifier's service credential ---------------------


class OutreachSource(Protocol):
    async def outreach(self, match_id: str) -> dict[str, object] | None: ...

    async def active(self, after: str, limit: int) -> tuple[list[str], str | None]: ...


class RegistryOutreach:
    """Registry's `GET /v1/placements/{id}/outreach` and `/v1/placements/active` under the
    notifier's service token. A placement registry no longer has (or that is not confirmed)
    is None: nothing to send. Anything else unexpected is a `DeliveryError`, so the send is
    retried."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"}

    async def outreach(self, match_id: str) -> dict[str, object] | None:
        body = await self._get(f"/v1/placements/{quote(match_id, safe='')}/outreach", {})
        return body

    async def active(self, after: str, limit: int) -> tuple[list[str], str | None]:
        body = await self._get("/v1/placements/active", {"after": after, "limit": limit})
        if body is None:
            return [], None
        ids = body.get("match_ids")
        following = body.get("next_after")
        return (
            [str(i) for i in ids] if isinstance(ids, list) else [],
            str(following) if following else None,
        )

    async def _get(self, path: str, params: dict[str, str | int]) -> dict[str, object] | None:
        try:
            response = await self._client.get(path, params=params, headers=self._headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"registry: {type(error).__name__}: {error}") from error
        if response.status_code in (404, 409):
            return None
        if not response.is_success:
            raise DeliveryError(f"registry answered HTTP {response.status_code} at {path}")
        body = response.json()
        if not isinstance(body, dict):
            raise DeliveryError(f"registry answered without an object at {path}")
        return body
