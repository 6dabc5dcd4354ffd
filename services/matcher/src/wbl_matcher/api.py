"""Matcher's HTTP entrypoint: admin-only round control and statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from wbl_common.secrets import same_secret
from wbl_matcher.domain import RoundRecord
from wbl_matcher.handlers import Matcher

router = APIRouter(prefix="/v1", tags=["rounds"])
bearer = HTTPBearer(auto_error=False, description="The admin token")


def get_matcher(request: Request) -> Matcher:
    matcher: Matcher = request.app.state.matcher
    return matcher


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer secret", {"WWW-Authenticate": "Bearer"}
        )
    if not same_secret(credentials.credentials, request.app.state.admin_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this call is for admins")


MatcherDep = Annotated[Matcher, Depends(get_matcher)]


class RoundSummary(BaseModel):
    round_id: str
    seed: int
    fingerprint: str
    career_fields: list[str]
    eligible: int
    matched: int
    unmatched: int
    proposed: int
    withdrawn: int

    @classmethod
    def of(cls, record: RoundRecord) -> RoundSummary:
        return cls(**{**record.__dict__, "career_fields": list(record.career_fields)})


@router.post("/rounds", status_code=201, dependencies=[Depends(require_admin)])
async def run_full_round(matcher: MatcherDep) -> RoundSummary:
    """Solve every partition now; publishes only what changed."""
    return RoundSummary.of(await matcher.run_round(None))


@router.get("/rounds/latest", dependencies=[Depends(require_admin)])
async def latest_round(matcher: MatcherDep) -> RoundSummary:
    record = await matcher.store.latest_round()
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no round has run yet")
    return RoundSummary.of(record)
