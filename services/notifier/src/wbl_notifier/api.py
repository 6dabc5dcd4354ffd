"""Notifier's HTTP entrypoint: the coordinator's inbox, its live stream, and their decisions
(forwarded to registry with their own token)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from wbl_common.bearer import StrictBearer
from wbl_common.ratelimit import throttled
from wbl_common.web import PROBLEM, errors
from wbl_notifier.adapters import CoordinatorDirectory, CoordinatorIdentity, RegistryAnswer
from wbl_notifier.domain import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationStatus,
    OpeningSummary,
    describe_match_opening,
)
from wbl_notifier.handlers import Decisions, LinkNotYours, LinkSpent, Notifier
from wbl_notifier.links import Decision, LinkRefused, Signer
from wbl_notifier.store import Cursor
from wbl_schemas.events import split_explanation

router = APIRouter(prefix="/v1", tags=["inbox"])
bearer = StrictBearer("The coordinator's token")


def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


def get_decisions(request: Request) -> Decisions:
    decisions: Decisions = request.app.state.decisions
    return decisions


def get_signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


def unauthenticated(detail: str = "missing or unknown coordinator token") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if credentials is None:
        raise unauthenticated()
    return credentials.credentials


async def current_coordinator(
    request: Request, token: Annotated[str, Depends(bearer_token)]
) -> CoordinatorIdentity:
    directory: CoordinatorDirectory = request.app.state.directory
    try:
        identity = await directory.identify(token)
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    if identity is None:
        raise unauthenticated()
    notifier: Notifier = request.app.state.notifier
    schools = await notifier.scope(identity.coordinator_id, identity.school_ids)
    if schools is None:  # removed: registry's cached word does not outlive the event
        raise unauthenticated()
    return CoordinatorIdentity(identity.coordinator_id, schools, identity.name)


def registry_unavailable() -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "registry cannot be reached now")


NotifierDep = Annotated[Notifier, Depends(get_notifier)]
DecisionsDep = Annotated[Decisions, Depends(get_decisions)]
SignerDep = Annotated[Signer, Depends(get_signer)]
CurrentCoordinator = Annotated[CoordinatorIdentity, Depends(current_coordinator)]
Token = Annotated[str, Depends(bearer_token)]


class DeliveryPublic(BaseModel):
    channel: Channel
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryPublic:
        return cls(
            channel=d.channel,
            event_type=d.event_type,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
        )


class OpeningPublic(BaseModel):
    """What the opening is: none of it student data."""

    title: str
    employer_name: str
    town: str | None = Field(description="None when the opening is remote")
    remote: bool
    starts_on: date
    ends_on: date
    hours_per_week: int
    paid: bool

    @classmethod
    def of(cls, o: OpeningSummary) -> OpeningPublic:
        return cls(
            title=o.title,
            employer_name=o.employer_name,
            town=o.town,
            remote=o.town is None,
            starts_on=o.starts_on,
            ends_on=o.ends_on,
            hours_per_week=o.hours_per_week,
            paid=o.paid,
        )


class InboxItem(BaseModel):
    match_id: str
    student_id: str
    opening_id: str
    employer_id: str
    school_id: str
    career_field: str
    opening: OpeningPublic | None = Field(
        description="None until the opening's details reach this notifier"
    )
    opening_text: str = Field(
        description="The opening in one line: title at employer · town · dates · hours · pay"
    )
    status: NotificationStatus
    explanation: list[str] = Field(description="3-5 plain lines: why this match")
    explanation_detail: list[str] = Field(description="The full detail behind the summary")
    decided_by: str | None = Field(description="The coordinator who confirmed or declined")
    history: list[str]
    deliveries: list[DeliveryPublic]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, n: Notification, deliveries: list[Delivery], opening: OpeningSummary | None
    ) -> InboxItem:
        summary, detail = split_explanation(n.explanation)
        return cls(
            match_id=n.match_id,
            student_id=n.student_id,
            opening_id=n.opening_id,
            employer_id=n.employer_id,
            school_id=n.school_id,
            career_field=n.career_field,
            opening=OpeningPublic.of(opening) if opening else None,
            opening_text=describe_match_opening(n.opening_id, n.career_field, opening),
            status=n.status,
            explanation=summary,
            explanation_detail=detail,
            decided_by=n.decided_by,
            history=list(n.history),
            deliveries=[DeliveryPublic.of(d) for d in deliveries],
            created_at=n.created_at,
            updated_at=n.updated_at,
        )


async def inbox_items(
    notifier: Notifier, coordinator_id: str, found: list[Notification]
) -> list[InboxItem]:
    deliveries = await notifier.deliveries_of(coordinator_id, found)
    openings = await notifier.openings([n.opening_id for n in found])
    return [InboxItem.of(n, deliveries[n.match_id], openings.get(n.opening_id)) for n in found]


def cursor_of(n: Notification) -> str:
    """An opaque cursor naming the last item of a page."""
    raw = f"{n.created_at.isoformat()}|{n.match_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, match_id = raw.split("|", 1)
        moment = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "`after` is not a cursor this inbox gave out; start from the first page",
        ) from error
    if moment.tzinfo is None or not match_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`after` is not a valid cursor")
    return moment, match_id


@router.get(
    "/inbox",
    summary="The coordinator's match notifications, newest first",
    description=(
        "A JSON array. When the page is full, a `Link` header (rel=next) gives the next "
        "page: the same query with an `after` cursor, which stays right as new matches "
        "arrive (unlike `page`)."
    ),
    responses=errors(401, 422, 503),
)
async def inbox(
    response: Response,
    coordinator: CurrentCoordinator,
    notifier: NotifierDep,
    status_filter: Annotated[NotificationStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,  # skip stays a 64-bit integer
    size: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> list[InboxItem]:
    found = await notifier.inbox(
        coordinator.coordinator_id,
        status_filter,
        page,
        size,
        coordinator.school_ids,
        read_cursor(after) if after else None,
    )
    if len(found) == size:
        query = {"size": size, "after": cursor_of(found[-1])}
        if status_filter:
            query["status"] = status_filter.value
        response.headers["Link"] = f'</v1/inbox?{urlencode(query)}>; rel="next"'
    return await inbox_items(notifier, coordinator.coordinator_id, found)


class Me(BaseModel):
    coordinator_id: str
    name: str
    school_ids: list[str]


@router.get(
    "/inbox/me",
    summary="Who is signed in, and for which schools",
    responses=errors(401, 503),
)
async def me(coordinator: CurrentCoordinator) -> Me:
    return Me(
        coordinator_id=coordinator.coordinator_id,
        name=coordinator.name,
        school_ids=list(coordinator.school_ids),
    )


@router.get(
    "/inbox/matches/{match_id}",
    summary="One notification, as it stands now (after a refused decision, say)",
    responses=errors(401, 404, 422, 503),
)
async def inbox_item(
    match_id: Annotated[str, Path(min_length=1, max_length=64)],
    coordinator: CurrentCoordinator,
    notifier: NotifierDep,
) -> InboxItem:
    found = await notifier.notification(
        coordinator.coordinator_id, match_id, coordinator.school_ids
    )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no match {match_id!r} in your inbox")
    return (await inbox_items(notifier, coordinator.coordinator_id, [found]))[0]


class StreamTicket(BaseModel):
    ticket: str
    expires_in: int
    stream_url: str


@router.post(
    "/inbox/stream-tickets",
    status_code=201,
    summary="A short-lived ticket that opens the inbox's live stream",
    description=(
        "EventSource cannot send an Authorization header, and a bearer token in a URL ends "
        "up in logs and history. The page trades its token for a signed ticket that only "
        "opens this coordinator's stream, once, and expires within a minute."
    ),
    dependencies=[Depends(throttled("stream-tickets"))],
    responses=errors(401, 429, 503),
)
async def stream_ticket(coordinator: CurrentCoordinator, signer: SignerDep) -> StreamTicket:
    ticket = signer.stream_ticket(coordinator.coordinator_id)
    return StreamTicket(
        ticket=ticket,
        expires_in=signer.ticket_ttl_s,
        stream_url=f"/v1/inbox/stream?ticket={ticket}",
    )


@router.get(
    "/inbox/stream",
    summary="Server-sent events: each new or changed notification as an `inbox` event",
    response_class=EventSourceResponse,
    responses=errors(401, 422),
)
async def inbox_stream(
    request: Request,
    notifier: NotifierDep,
    signer: SignerDep,
    ticket: Annotated[str, Query(min_length=1, max_length=400)],
) -> EventSourceResponse:
    try:
        coordinator_id = signer.read_stream_ticket(ticket)
    except LinkRefused as error:
        raise unauthenticated(str(error)) from error
    if not await notifier.claim_ticket(ticket):
        raise unauthenticated("this ticket was already used")
    schools = await notifier.schools_of(coordinator_id)
    if schools == ():
        raise unauthenticated("this coordinator was removed")
    poll_s: float = request.app.state.stream_poll_s
    return EventSourceResponse(
        changes_of(notifier, coordinator_id, poll_s, schools), ping=15, send_timeout=30
    )


async def changes_of(
    notifier: Notifier, coordinator_id: str, poll_s: float, schools: tuple[str, ...] | None
) -> AsyncIterator[ServerSentEvent]:
    """Polls the inbox for changes (woken early by this process's handlers); the page loads
    the full list once the stream is open, so nothing falls between the two. The stream
    ends (a `closed` event) as soon as the coordinator is removed or their schools change,
    whichever replica consumed that event: the page then needs a new ticket, and so its
    token checked again."""
    since = notifier.clock() - timedelta(seconds=1)
    sent: dict[str, datetime] = {}
    yield ServerSentEvent(event="ready", data="{}")
    while True:
        now = await notifier.schools_of(coordinator_id)
        if schools is None and now:
            schools = now  # their registration reached us after the stream opened
        if now != schools:
            yield ServerSentEvent(event="closed", data='{"reason": "access changed"}')
            return
        changed = [
            n
            for n in await notifier.changed_since(coordinator_id, since, now)
            if sent.get(n.match_id) != n.updated_at
        ]
        for item in await inbox_items(notifier, coordinator_id, changed):
            sent[item.match_id] = item.updated_at
            yield ServerSentEvent(event="inbox", data=item.model_dump_json())
        if changed:
            since = max(n.updated_at for n in changed)
            sent = {k: v for k, v in sent.items() if v >= since}
        await notifier.changes.wait(poll_s)


class DecisionRequest(BaseModel):
    link: str | None = Field(
        default=None, max_length=400, description="The email link's token, spent by this call"
    )
    note: str = Field(
        default="", max_length=500, description="Kept with the decision in registry (optional)"
    )


def forwarded(answer: RegistryAnswer) -> JSONResponse:
    media = PROBLEM if answer.status_code >= 400 else "application/json"
    return JSONResponse(answer.body, status_code=answer.status_code, media_type=media)


@router.post(
    "/inbox/{match_id}/{decision}",
    summary="Confirm or decline a match; registry takes the decision with your token",
    responses=errors(
        400,
        401,
        403,
        404,
        409,
        410,
        422,
        503,
        described={
            400: "The email link is not valid",
            403: "The email link belongs to another coordinator",
            409: "No seat is left, or the match was withdrawn or already decided",
            410: "The email link was already used or has expired",
        },
    ),
)
async def decide(
    match_id: Annotated[str, Path(min_length=1, max_length=64)],
    decision: Decision,
    coordinator: CurrentCoordinator,
    token: Token,
    decisions: DecisionsDep,
    body: DecisionRequest | None = None,
) -> JSONResponse:
    link = body.link if body else None
    note = body.note.strip() if body else ""
    try:
        answer = await decisions.decide(
            token, coordinator.coordinator_id, match_id, decision, link, note
        )
    except LinkRefused as error:
        code = status.HTTP_410_GONE if error.expired else status.HTTP_400_BAD_REQUEST
        raise HTTPException(code, str(error)) from error
    except LinkSpent as error:
        raise HTTPException(status.HTTP_410_GONE, str(error)) from error
    except LinkNotYours as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from error
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    return forwarded(answer)


@router.get(
    "/inbox/students/{student_id}",
    summary="A student's details, fetched from registry with your token (never stored here)",
    responses=errors(401, 403, 404, 422, 503),
)
async def student(
    student_id: Annotated[str, Path(min_length=1, max_length=64)],
    coordinator: CurrentCoordinator,
    token: Token,
    decisions: DecisionsDep,
) -> JSONResponse:
    try:
        answer = await decisions.student(token, student_id)
    except httpx.HTTPError as error:
        raise registry_unavailable() from error
    response = forwarded(answer)
    response.headers["Cache-Control"] = "no-store"
    return response
