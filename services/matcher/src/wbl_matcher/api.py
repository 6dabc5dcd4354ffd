"""Matcher's HTTP entrypoint: admin-only round control and statistics, and why-not, which a
coordinator may also ask for their own schools' students."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from wbl_common.bearer import StrictBearer
from wbl_common.directory import CoordinatorDirectory
from wbl_common.ratelimit import throttled
from wbl_common.secrets import same_secret
from wbl_common.web import errors
from wbl_matcher.domain import RoundRecord, Season, SeasonStage, Tally
from wbl_matcher.handlers import Matcher
from wbl_matcher.why_not import RoundContext, WhyNotAnswer, round_context, why_not
from wbl_matcher.why_not_words import MatchingState, Names

router = APIRouter(prefix="/v1", tags=["rounds"])
bearer = StrictBearer("The admin token, or a coordinator's token for why-not")


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


@dataclass(frozen=True)
class Reader:
    """Who asks why-not: the admin (every student) or a coordinator (their schools')."""

    schools: tuple[str, ...] | None  # None: the admin

    def may_read(self, answer: WhyNotAnswer) -> bool:
        return self.schools is None or answer.school_id in self.schools


async def why_not_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Reader:
    """The admin token, or a coordinator token registry vouches for (cached briefly). The
    matcher checks the school itself, against the student it holds: the data's owner
    enforces who reads it, so no other service needs a credential that reads every school."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer secret", {"WWW-Authenticate": "Bearer"}
        )
    if same_secret(credentials.credentials, request.app.state.admin_token):
        return Reader(None)
    directory: CoordinatorDirectory = request.app.state.directory
    try:
        identity = await directory.identify(credentials.credentials)
    except httpx.HTTPError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "registry cannot check the token now"
        ) from error
    if identity is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown admin or coordinator token",
            {"WWW-Authenticate": "Bearer"},
        )
    return Reader(identity.school_ids)


ReaderDep = Annotated[Reader, Depends(why_not_reader)]
StudentIdText = Annotated[str, Field(min_length=1, max_length=64)]


class WhyNotInWords(BaseModel):
    """For the student's coordinator: names, not codes; openings by title and employer."""

    state: MatchingState = Field(
        description="`waiting` (no round has considered the student as they are yet, or "
        "the season's main round is ahead), `unmatched` (a round left them without an "
        "offer), `offered`, `placed` or `withdrawn`"
    )
    summary: str = Field(description="One line, e.g. 'No opening in Culinary Arts within 25 km'")
    details: list[str] = Field(description="Openings that came close, and why not each")
    changes: list[str] = Field(description="What would change it")


class WhyNotMatched(BaseModel):
    student_id: str
    round_id: str | None = Field(description="the latest round; null before any round ran")
    reasons: list[str] = Field(description="Per opening (by id), the constraint that failed")
    in_words: WhyNotInWords | None = Field(
        default=None, description="Where the student stands and why, in plain words"
    )

    @classmethod
    def of(cls, answer: WhyNotAnswer) -> WhyNotMatched:
        words = answer.words
        return cls(
            student_id=answer.student_id,
            round_id=answer.round_id,
            reasons=list(answer.reasons),
            in_words=None
            if words is None
            else WhyNotInWords(
                state=words.state,
                summary=words.summary,
                details=list(words.details),
                changes=list(words.changes),
            ),
        )


class WhyNotQuery(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"student_ids": ["stu_0a1b2c3d4e5f6071"]}]}
    )

    student_ids: list[StudentIdText] = Field(min_length=1, max_length=100)


async def _answer(
    request: Request, matcher: Matcher, student_id: str, context: RoundContext | None = None
) -> WhyNotAnswer | None:
    names: Names = request.app.state.names
    return await why_not(
        matcher.store, matcher.related, matcher.why_not_cache, student_id, names, context
    )


@router.get(
    "/students/{student_id}/why-not",
    dependencies=[Depends(throttled("why-not"))],
    responses=errors(401, 404, 422, 429, 503),
)
async def why_not_matched(
    request: Request,
    student_id: Annotated[str, Path(min_length=1, max_length=64)],
    reader: ReaderDep,
    matcher: MatcherDep,
) -> WhyNotMatched:
    """Why the student has no offer as of the latest round, per opening in their fields:
    the constraint that failed, who held the seat with a stronger claim, or that their
    field has no opening; computed when asked and kept until the next round. The admin, or
    a coordinator of the student's school (404 for any other: nothing is said of them)."""
    found = await _answer(request, matcher, student_id)
    if found is None or not reader.may_read(found):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no student {student_id!r} is known")
    return WhyNotMatched.of(found)


@router.post(
    "/students/why-not",
    dependencies=[Depends(throttled("why-not"))],
    responses=errors(401, 413, 422, 429, 503),
)
async def why_not_of_many(
    request: Request, body: WhyNotQuery, reader: ReaderDep, matcher: MatcherDep
) -> list[WhyNotMatched]:
    """As the single why-not, for up to 100 students at once (a page of a roster): the
    answers of those known to the matcher and readable by the caller, in the order asked;
    the others are left out."""
    context = await round_context(matcher.store)  # once for the batch
    answers = [await _answer(request, matcher, s, context) for s in dict.fromkeys(body.student_ids)]
    return [WhyNotMatched.of(a) for a in answers if a is not None and reader.may_read(a)]
