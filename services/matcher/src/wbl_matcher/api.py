"""Matcher's HTTP entrypoint: admin-only round control and statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from wbl_common.bearer import StrictBearer
from wbl_common.ratelimit import throttled
from wbl_common.secrets import same_secret
from wbl_common.web import errors
from wbl_matcher.domain import RoundRecord, Season, SeasonStage, Tally
from wbl_matcher.handlers import Matcher
from wbl_matcher.why_not import why_not

router = APIRouter(prefix="/v1", tags=["rounds"])
bearer = StrictBearer("The admin token")


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


class TallyOut(BaseModel):
    considered: int
    matched: int
    unmatched: int


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
    by_career_field: dict[str, TallyOut]
    by_program: dict[str, TallyOut]

    @classmethod
    def of(cls, record: RoundRecord) -> RoundSummary:
        def table(tallies: dict[str, Tally]) -> dict[str, TallyOut]:
            return {
                key: TallyOut(considered=t.considered, matched=t.matched, unmatched=t.unmatched)
                for key, t in sorted(tallies.items())
            }

        return cls(
            round_id=record.round_id,
            seed=record.seed,
            fingerprint=record.fingerprint,
            career_fields=list(record.career_fields),
            eligible=record.eligible,
            matched=record.matched,
            unmatched=record.unmatched,
            proposed=record.proposed,
            withdrawn=record.withdrawn,
            by_career_field=table(record.by_career_field),
            by_program=table(record.by_program),
        )


MAIN_ROUND_HORIZON = timedelta(days=400)


class SeasonIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"main_round_at": "2027-03-01T09:00:00Z"}]}
    )

    main_round_at: AwareDatetime | None = Field(
        description="When the season's main round runs, with its UTC offset: registrations "
        "before it wait and are matched together then; rolling rounds follow. null: rolling "
        "rounds only (the default)."
    )

    @field_validator("main_round_at")
    @classmethod
    def _ahead(cls, value: datetime | None) -> datetime | None:
        now = datetime.now(UTC)
        if value is not None and value <= now:
            raise ValueError("the main round must be in the future")
        if value is not None and value > now + MAIN_ROUND_HORIZON:
            raise ValueError("the main round must be within 400 days from now")
        return value


class SeasonOut(BaseModel):
    main_round_at: datetime | None
    stage: SeasonStage = Field(
        description="`gathering` before the main round, `main_round` while it is due, "
        "`rolling` after it or without one"
    )
    main_round_id: str | None = Field(description="The main round, once it ran")

    @classmethod
    def of(cls, season: Season) -> SeasonOut:
        return cls(
            main_round_at=season.main_round_at,
            stage=season.stage(datetime.now(UTC)),
            main_round_id=season.main_round_id,
        )


@router.put("/season", dependencies=[Depends(require_admin)], responses=errors(401, 403, 409, 422))
async def set_season(body: SeasonIn, matcher: MatcherDep) -> SeasonOut:
    """Set (or, with null, remove) the season's main round."""
    current = await matcher.store.season()
    if current.main_round_id is not None and current.main_round_at == body.main_round_at:
        return SeasonOut.of(current)
    if current.stage(datetime.now(UTC)) == "main_round":
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the main round is running now; set the season after it"
        )
    return SeasonOut.of(await matcher.set_season(body.main_round_at))


@router.get("/season", dependencies=[Depends(require_admin)], responses=errors(401, 403))
async def season(matcher: MatcherDep) -> SeasonOut:
    return SeasonOut.of(await matcher.store.season())


class WhyNotMatched(BaseModel):
    student_id: str
    round_id: str | None = Field(description="the latest round; null before any round ran")
    reasons: list[str]


@router.post(
    "/rounds",
    status_code=201,
    dependencies=[Depends(require_admin), Depends(throttled("rounds"))],
    responses=errors(401, 403, 429),
)
async def run_full_round(matcher: MatcherDep) -> RoundSummary:
    """Solve every partition now; publishes only what changed."""
    return RoundSummary.of(await matcher.run_round(None))


@router.get(
    "/rounds/latest", dependencies=[Depends(require_admin)], responses=errors(401, 403, 404)
)
async def latest_round(matcher: MatcherDep) -> RoundSummary:
    record = await matcher.store.latest_round()
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no round has run yet")
    return RoundSummary.of(record)


@router.get(
    "/students/{student_id}/why-not",
    dependencies=[Depends(require_admin), Depends(throttled("why-not"))],
    responses=errors(401, 403, 404, 422, 429),
)
async def why_not_matched(
    student_id: Annotated[str, Path(min_length=1, max_length=64)], matcher: MatcherDep
) -> WhyNotMatched:
    """Why the student has no offer as of the latest round, per opening in their fields:
    the constraint that failed, who held the seat with a stronger claim, or that their
    field has no opening; computed when asked and kept until the next round."""
    found = await why_not(matcher.store, matcher.related, matcher.why_not_cache, student_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no student {student_id!r} is known")
    return WhyNotMatched(
        student_id=student_id, round_id=found.round_id, reasons=list(found.reasons)
    )
