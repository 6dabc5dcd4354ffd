"""Notifier's HTTP entrypoint: the coordinator's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from wbl_notifier.adapters import CoordinatorDirectory, CoordinatorIdentity
from wbl_notifier.domain import Notification, NotificationStatus
from wbl_notifier.handlers import Notifier

router = APIRouter(prefix="/v1", tags=["inbox"])
bearer = HTTPBearer(auto_error=False, description="The coordinator's token")


def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


async def current_coordinator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> CoordinatorIdentity:
    unauthenticated = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or unknown coordinator token",
        {"WWW-Authenticate": "Bearer"},
    )
    if credentials is None:
        raise unauthenticated
    directory: CoordinatorDirectory = request.app.state.directory
    try:
        identity = await directory.identify(credentials.credentials)
    except httpx.HTTPError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "registry cannot check tokens right now"
        ) from error
    if identity is None:
        raise unauthenticated
    return identity


NotifierDep = Annotated[Notifier, Depends(get_notifier)]
CurrentCoordinator = Annotated[CoordinatorIdentity, Depends(current_coordinator)]


class InboxItem(BaseModel):
    match_id: str
    student_id: str
    opening_id: str
    employer_id: str
    school_id: str
    career_field: str
    status: NotificationStatus
    explanation: list[str]
    history: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, n: Notification) -> InboxItem:
        return cls(
            match_id=n.match_id,
            student_id=n.student_id,
            opening_id=n.opening_id,
            employer_id=n.employer_id,
            school_id=n.school_id,
            career_field=n.career_field,
            status=n.status,
            explanation=list(n.explanation),
            history=list(n.history),
            created_at=n.created_at,
            updated_at=n.updated_at,
        )


@router.get("/inbox", summary="The coordinator's match notifications, newest first")
async def inbox(
    coordinator: CurrentCoordinator,
    notifier: NotifierDep,
    status_filter: Annotated[NotificationStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[InboxItem]:
    found = await notifier.inbox(coordinator.coordinator_id, status_filter, page, size)
    return [InboxItem.of(n) for n in found]
