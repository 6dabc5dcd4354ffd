"""HTTP for a confirmed placement's life (ADR 6): the coordinator's calls under
`/v1/placements/{match_id}` (their schools only: 404 for others), and the parties' calls
under `/v1/party`, where the link is the credential. A link travels in the request body,
never in the URL: access logs record paths."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from wbl_common.web import errors
from wbl_registry.api import MatchId, RequestError, domain_error
from wbl_registry.auth import CurrentCoordinator
from wbl_registry.domain import DomainError
from wbl_registry.evaluations import MOST_COMMENT, SCALE
from wbl_registry.models import StrictModel
from wbl_registry.party_links import PartyAction
from wbl_registry.placement_life import is_minor_at_start, not_yet_signed, planned_hours
from wbl_registry.placements import (
    AgreementRequest,
    Contact,
    EvaluationForm,
    EvaluationRefused,
    HoursRefused,
    IssuedLink,
    LinkGone,
    LinkInvalid,
    NotStarted,
    PartyAgreement,
    PartyPlacement,
    Placements,
    PlacementState,
    Week,
    ending_words,
    evaluation_words,
    party_words,
    rating_label,
    stage_words,
)

router = APIRouter(prefix="/v1")
T = TypeVar("T")
LINK_EXAMPLE = "WyJzaWduLWFncmVlbWVudCIsIm1hdF8uLi4iXQ.Z1a2b3.c4d5e6f7"


def examples(*found: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(found)})


MIN_DAY = date(2000, 1, 1)
MAX_DAY = date(2100, 12, 31)
Link = Annotated[str, Field(min_length=1, max_length=2000, description="The link's token")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Day = Annotated[date, Field(ge=MIN_DAY, le=MAX_DAY, examples=["2027-07-07"])]
Hours = Annotated[
    Decimal,
    Field(
        max_digits=6,
        decimal_places=2,
        allow_inf_nan=False,
        description="Quarter hours, more than 0 and at most 24",
        examples=["6.5"],
    ),
]


def get_placements(request: Request) -> Placements:
    placements: Placements = request.app.state.placements
    return placements


PlacementsDep = Annotated[Placements, Depends(get_placements)]


async def attempt(work: Awaitable[T]) -> T:
    """Run one use case, mapping its refusals to HTTP statuses (problem+json)."""
    try:
        return await work
    except LinkInvalid as error:
        raise HTTPException(400, str(error)) from error
    except LinkGone as error:
        raise HTTPException(410, str(error)) from error
    except NotStarted as error:
        refused = RequestError(str(error), None, 409)
        refused.errors = [{"field": "", "message": r} for r in error.reasons]
        raise refused from error
    except EvaluationRefused as error:
        invalid = RequestError(str(error), error.field)
        invalid.errors = [{"field": e.field, "message": e.message} for e in error.errors]
        raise invalid from error
    except HoursRefused as error:
        invalid = RequestError(str(error), "hours")
        invalid.errors = [
            {"field": "hours", "rule": r.rule, "message": r.message} for r in error.refusals
        ]
        raise invalid from error
    except DomainError as error:
        raise domain_error(error) from error


# -- bodies ---------------------------------------------------------------------------------


class ContactBody(StrictModel):
    name: Name
    email: EmailStr = Field(description="At most 254 characters", max_length=254)

    def contact(self) -> Contact:
        return Contact(self.name, str(self.email))


class AgreementBody(StrictModel):
    model_config = examples(
        {
            "supervisor": {"name": "Pat Lee", "email": "pat.lee@acme.example.org"},
            "safety_training": "OSHA 10-Hour General Industry",
            "hourly_wage": "16.50",
            "guardian": {"name": "Rosa Souza", "email": "rosa.souza@family.example.org"},
        }
    )

    supervisor: ContactBody = Field(description="The employer's supervisor, who signs for it")
    safety_training: str = Field(
        min_length=1,
        max_length=500,
        description="What the student is trained in before starting",
        examples=["OSHA 10-Hour General Industry; the shop's machine guarding induction"],
    )
    hourly_wage: Decimal | None = Field(
        default=None,
        gt=0,
        le=1000,
        max_digits=6,
        decimal_places=2,
        allow_inf_nan=False,
        description="Dollars an hour for a paid opening; leave out for an unpaid one",
        examples=["16.50"],
    )
    guardian: ContactBody | None = Field(
        default=None,
        description="The parent or guardian, required when the student is under 18 at the "
        "start (the student's record holds none)",
    )

    def request(self) -> AgreementRequest:
        return AgreementRequest(
            supervisor=self.supervisor.contact(),
            safety_training=self.safety_training,
            hourly_wage=self.hourly_wage,
            guardian=self.guardian.contact() if self.guardian else None,
        )


class PermitBody(StrictModel):
    model_config = examples(
        {
            "number": "WP-2027-0412",
            "issued_by": "Worcester Public Schools",
            "issued_on": "2027-05-20",
        }
    )

    number: str = Field(min_length=1, max_length=80, examples=["WP-2027-0412"])
    issued_by: str = Field(
        min_length=1,
        max_length=200,
        description="The issuing office (in Massachusetts, the superintendent's office)",
        examples=["Worcester Public Schools, office of the superintendent"],
    )
    issued_on: Day


class HoursBody(StrictModel):
    model_config = examples({"day": "2027-07-07", "hours": "6.5"})

    day: Day
    hours: Hours


class LinkBody(StrictModel):
    model_config = examples({"link": LINK_EXAMPLE})

    link: Link


class SignBody(StrictModel):
    model_config = examples({"link": LINK_EXAMPLE, "name": "Pat Lee"})

    link: Link
    name: Name = Field(description="The name of the person signing, as typed by them")


class PartyHoursBody(StrictModel):
    model_config = examples({"link": LINK_EXAMPLE, "day": "2027-07-07", "hours": "6.5"})

    link: Link
    day: Day
    hours: Hours


class PartyWeekBody(StrictModel):
    model_config = examples({"link": LINK_EXAMPLE, "day": "2027-07-07"})

    link: Link
    day: Day = Field(description="Any day of the week wanted")


MOST_RATINGS = 100  # far more competencies than any field lists
CompetencyId = Annotated[str, Field(min_length=1, max_length=80)]


class EvaluationBody(StrictModel):
    model_config = examples(
        {
            "link": LINK_EXAMPLE,
            "name": "Pat Lee",
            "ratings": {"attendance-and-punctuality": 4, "communication": 3, "safety": 3},
            "comment": "Careful and punctual; ask more questions when unsure.",
        }
    )

    link: Link
    name: Name = Field(description="The name of the supervisor submitting, as typed by them")
    ratings: dict[CompetencyId, int] = Field(
        max_length=MOST_RATINGS,
        description="Each competency of the evaluation (by id) rated once, 1 (Not yet) to 4 "
        "(Exceeds)",
    )
    comment: str | None = Field(
        default=None, max_length=MOST_COMMENT, description="At most 2000 characters"
    )


class CloseBody(StrictModel):
    model_config = examples({"reason": "The student moved out of the district."})

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the placement ends early; kept in registry, never on the bus",
    )


# -- answers --------------------------------------------------------------------------------


class PartyStatus(BaseModel):
    party: str
    who: str = Field(description="The party in words, for the coordinator")


class SignedPublic(BaseModel):
    party: str
    name: str
    signed_at: datetime


class AgreementStatus(BaseModel):
    version: int
    text_hash: str
    issued_at: datetime
    signed: list[SignedPublic]
    still_to_sign: list[PartyStatus]


class PermitStatus(BaseModel):
    required: bool = Field(description="The student is under 18 when the placement starts")
    on_file: bool
    number: str | None = None
    issued_by: str | None = None
    issued_on: date | None = None


class HoursStatus(BaseModel):
    logged: float
    verified: float = Field(description="In weeks the supervisor verified as they stand")
    planned: float
    behind: float = Field(description="Hours expected by today and not verified yet")


class EvaluationDone(BaseModel):
    kind: str = Field(description="midpoint or final")
    submitted_at: datetime
    by: str = Field(description="The supervisor's name, as they typed it")


class EndedPublic(BaseModel):
    how: str = Field(description="completed or closed")
    at: datetime
    reason: str | None = Field(description="The coordinator's reason, for a placement closed")
    text: str


class PlacementPublic(BaseModel):
    match_id: str
    stage: str = Field(
        description="awaiting-agreement, awaiting-signatures, awaiting-permit, ready, "
        "under-way, complete or closed"
    )
    stage_text: str
    opening_title: str
    employer_name: str
    student_name: str
    starts_on: date
    ends_on: date
    hours_per_week: int
    agreement: AgreementStatus | None
    permit: PermitStatus
    hours: HoursStatus
    why_not_started: list[str] = Field(description="Empty once hours may be logged")
    evaluation_due: str | None = None
    evaluation_text: str | None = None
    evaluations: list[EvaluationDone] = Field(default_factory=list)
    ended: EndedPublic | None = None

    @classmethod
    def of(cls, state: PlacementState) -> PlacementPublic:
        context, facts, issue = state.context, state.facts, state.issue
        due, due_text = evaluation_words(state)
        permit = state.permit
        return cls(
            match_id=context.match.id,
            stage=state.stage(),
            stage_text=stage_words(state),
            opening_title=context.opening.terms.title,
            employer_name=context.employer_name,
            student_name=context.student_name,
            starts_on=facts.starts_on,
            ends_on=facts.ends_on,
            hours_per_week=facts.hours_per_week,
            agreement=None
            if issue is None
            else AgreementStatus(
                version=issue.version,
                text_hash=issue.text_hash,
                issued_at=issue.issued_at,
                signed=[
                    SignedPublic(party=s.party.value, name=s.name, signed_at=s.signed_at)
                    for s in state.signatures.values()
                ],
                still_to_sign=[
                    PartyStatus(party=p.value, who=party_words(state, p))
                    for p in sorted(not_yet_signed(facts))
                ],
            ),
            permit=PermitStatus(
                required=is_minor_at_start(facts),
                on_file=permit is not None,
                number=permit.number if permit else None,
                issued_by=permit.issued_by if permit else None,
                issued_on=permit.issued_on if permit else None,
            ),
            hours=HoursStatus(
                logged=float(state.logged_hours),
                verified=float(facts.verified_hours),
                planned=float(planned_hours(facts)),
                behind=float(state.behind()),
            ),
            why_not_started=state.reasons_not_started(),
            evaluation_due=due,
            evaluation_text=due_text,
            evaluations=[
                EvaluationDone(kind=e.kind.value, submitted_at=e.submitted_at, by=e.by)
                for e in sorted(state.evaluations.values(), key=lambda e: e.submitted_at)
            ],
            ended=None
            if state.ending is None
            else EndedPublic(
                how=state.ending.how,
                at=state.ending.at,
                reason=state.ending.reason,
                text=f"{ending_words(state.ending)}.",
            ),
        )


class SendTo(BaseModel):
    name: str
    email: str


class LinkPublic(BaseModel):
    party: str
    action: str = Field(description="sign-agreement, log-hours, verify-week or evaluate")
    link: str = Field(description="Send it to the party; it goes in the body of /v1/party calls")
    send_to: SendTo | None
    expires_at: datetime
    week_of: date | None = Field(default=None, description="The week a verify-week link is for")
    evaluation: str | None = Field(
        default=None, description="midpoint or final: what an evaluate link is for"
    )

    @classmethod
    def of(cls, found: IssuedLink) -> LinkPublic:
        to = found.send_to
        return cls(
            party=found.party.value,
            action=found.action.value,
            link=found.link,
            send_to=SendTo(name=to.name, email=to.email) if to else None,
            expires_at=found.expires_at,
            week_of=found.week_of,
            evaluation=found.evaluation.value if found.evaluation else None,
        )


class PartyAgreementPublic(BaseModel):
    you_sign_for: str
    opening_title: str
    employer_name: str
    student_name: str
    text: str
    text_hash: str
    signed: list[SignedPublic]
    still_to_sign: list[str]

    @classmethod
    def of(cls, found: PartyAgreement) -> PartyAgreementPublic:
        return cls(
            you_sign_for=found.party.value,
            opening_title=found.opening_title,
            employer_name=found.employer_name,
            student_name=found.student_name,
            text=found.text,
            text_hash=found.text_hash,
            signed=[
                SignedPublic(party=s.party.value, name=s.name, signed_at=s.signed_at)
                for s in found.signed.values()
            ],
            still_to_sign=sorted(p.value for p in found.still_to_sign),
        )


class CompetencyPublic(BaseModel):
    id: str
    name: str
    description: str


class ScalePoint(BaseModel):
    value: int
    label: str


class EvaluationFormPublic(BaseModel):
    kind: str = Field(description="midpoint or final")
    opening_title: str
    employer_name: str
    student_name: str
    competencies: list[CompetencyPublic] = Field(description="Rate each one, once")
    scale: list[ScalePoint]
    submitted: bool

    @classmethod
    def of(cls, form: EvaluationForm) -> EvaluationFormPublic:
        return cls(
            kind=form.kind.value,
            opening_title=form.opening_title,
            employer_name=form.employer_name,
            student_name=form.student_name,
            competencies=[
                CompetencyPublic(id=c.id, name=c.name, description=c.description)
                for c in form.competencies
            ],
            scale=[ScalePoint(value=v, label=label) for v, label in SCALE],
            submitted=form.submitted,
        )


class RatingPublic(BaseModel):
    competency_id: str
    competency: str = Field(description="The competency's name")
    value: int
    label: str


class EvaluationPublic(BaseModel):
    kind: str
    submitted_at: datetime
    by: str
    career_field: str
    ratings: list[RatingPublic]
    comment: str | None


def evaluations_public(state: PlacementState, placements: Placements) -> list[EvaluationPublic]:
    found = []
    for record in sorted(state.evaluations.values(), key=lambda e: e.submitted_at):
        names = {c.id: c.name for c in placements.competencies.for_field(record.career_field)}
        found.append(
            EvaluationPublic(
                kind=record.kind.value,
                submitted_at=record.submitted_at,
                by=record.by,
                career_field=record.career_field,
                ratings=[
                    RatingPublic(
                        competency_id=cid,
                        competency=names.get(cid, cid),  # an id ops removed since: as it was
                        value=value,
                        label=rating_label(value),
                    )
                    for cid, value in record.ratings.items()
                ],
                comment=record.comment,
            )
        )
    return found


class DayPublic(BaseModel):
    day: date
    hours: float
    version: int
    logged_by: str
    logged_at: datetime


class WeekPublic(BaseModel):
    week_of: date = Field(description="The Monday")
    total: float
    verified: bool = Field(description="The supervisor verified the week as it stands")
    days: list[DayPublic]
    history: dict[str, list[DayPublic]] = Field(
        description="Earlier versions of corrected days, oldest first"
    )

    @classmethod
    def of(cls, week: Week) -> WeekPublic:
        def day(d: Any) -> DayPublic:
            return DayPublic(
                day=d.day,
                hours=float(d.hours),
                version=d.version,
                logged_by=d.logged_by,
                logged_at=d.logged_at,
            )

        return cls(
            week_of=week.monday,
            total=float(week.total),
            verified=week.verified,
            days=[day(d) for d in week.days],
            history={k.isoformat(): [day(d) for d in v] for k, v in week.history.items()},
        )


class PartyPlacementPublic(BaseModel):
    student_name: str
    opening_title: str
    employer_name: str
    starts_on: date
    ends_on: date
    hours_per_week: int


class PartyWeekPublic(WeekPublic):
    """A week as a party's link shows it, with whose placement it is (the page names it)."""

    placement: PartyPlacementPublic

    @classmethod
    def about(cls, week: Week, placed: PartyPlacement) -> PartyWeekPublic:
        shown = WeekPublic.of(week).model_dump()
        return cls(**shown, placement=PartyPlacementPublic(**vars(placed)))


async def party_week_public(
    placements: Placements, link: str, action: PartyAction, week: Week
) -> PartyWeekPublic:
    placed = await attempt(placements.about_link(link, action))
    return PartyWeekPublic.about(week, placed)


# -- the coordinator ------------------------------------------------------------------------


@router.post(
    "/placements/{match_id}/agreement",
    tags=["placements"],
    summary="Issue (or reissue) the training agreement",
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def issue_agreement(
    match_id: MatchId,
    body: AgreementBody,
    coordinator: CurrentCoordinator,
    placements: PlacementsDep,
) -> PlacementPublic:
    """For a confirmed match. Registry writes the terms from the match, the opening, the
    employer, the school and the student; the body gives the rest. Changed terms make a new
    text (a new `text_hash`): signatures of the old text no longer count."""
    state = await attempt(placements.issue_agreement(coordinator, match_id, body.request()))
    return PlacementPublic.of(state)


@router.get(
    "/placements/{match_id}",
    tags=["placements"],
    summary="Where a placement stands",
    responses=errors(401, 403, 404, 409),
)
async def placement(
    match_id: MatchId, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> PlacementPublic:
    """Who has not signed, whether the permit is on file, hours logged, planned and behind,
    which evaluation is due; in words (`stage_text`) and codes (`stage`)."""
    return PlacementPublic.of(await attempt(placements.view(coordinator, match_id)))


@router.get(
    "/placements/{match_id}/agreement.pdf",
    tags=["placements"],
    summary="The agreement as a PDF, with its signatures",
    responses={200: {"content": {"application/pdf": {}}}, **errors(401, 403, 404, 409)},
    response_class=Response,
)
async def agreement_pdf(
    match_id: MatchId, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> Response:
    pdf = await attempt(placements.agreement_pdf(coordinator, match_id))
    disposition = f'attachment; filename="training-agreement-{match_id}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get(
    "/placements/{match_id}/links",
    tags=["placements"],
    summary="Fresh links for the parties to act by",
    responses=errors(401, 403, 404, 409),
)
async def party_links(
    match_id: MatchId, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> list[LinkPublic]:
    """A signing link for each party who has not signed the current text and, once the
    placement may start, the student's and the supervisor's links for logging hours. Until
    registry emails them, the coordinator sends each to whom `send_to` names."""
    return [
        LinkPublic.of(found)
        for found in await attempt(placements.party_links(coordinator, match_id))
    ]


@router.put(
    "/placements/{match_id}/permit",
    tags=["placements"],
    summary="Record the student's work permit",
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def record_permit(
    match_id: MatchId, body: PermitBody, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> PlacementPublic:
    """Needed before hours for a student under 18 at the start; a correction is kept as a
    new version."""
    state = await attempt(
        placements.record_permit(coordinator, match_id, body.number, body.issued_by, body.issued_on)
    )
    return PlacementPublic.of(state)


@router.post(
    "/placements/{match_id}/hours",
    tags=["placements"],
    summary="Log or correct a day's hours",
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def log_hours(
    match_id: MatchId, body: HoursBody, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> WeekPublic:
    """Refused (422, each refusal with its `rule`) outside the placement's dates, in the
    future, or over a minor's daily, weekly or days-a-week limit; refused (409) before the
    placement may start. A correction is a new version of the day; the week comes back."""
    return WeekPublic.of(
        await attempt(placements.log_hours(coordinator, match_id, body.day, body.hours))
    )


@router.get(
    "/placements/{match_id}/hours",
    tags=["placements"],
    summary="A week's hours",
    responses=errors(401, 403, 404, 409, 422),
)
async def week_hours(
    match_id: MatchId,
    coordinator: CurrentCoordinator,
    placements: PlacementsDep,
    week: Annotated[
        date,
        Query(ge=MIN_DAY, le=MAX_DAY, description="Any day of the week", examples=["2027-07-07"]),
    ],
) -> WeekPublic:
    return WeekPublic.of(await attempt(placements.week(coordinator, match_id, week)))


@router.get(
    "/placements/{match_id}/evaluations",
    tags=["placements"],
    summary="The supervisor's evaluations, with their ratings",
    responses=errors(401, 403, 404, 409),
)
async def placement_evaluations(
    match_id: MatchId, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> list[EvaluationPublic]:
    """Each evaluation submitted (midpoint, final), oldest first: every competency's rating
    with its label, and the supervisor's comment."""
    state = await attempt(placements.evaluations(coordinator, match_id))
    return evaluations_public(state, placements)


@router.post(
    "/placements/{match_id}/close",
    tags=["placements"],
    summary="Close the placement early",
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def close_placement(
    match_id: MatchId, body: CloseBody, coordinator: CurrentCoordinator, placements: PlacementsDep
) -> PlacementPublic:
    """With a reason (kept in registry; the bus carries `PlacementClosed` with ids only). The
    opening's seat is given back. 409 once the placement has ended (completed or closed);
    after an end, hours, signatures, verifications and evaluations are refused."""
    return PlacementPublic.of(await attempt(placements.close(coordinator, match_id, body.reason)))


# -- parties by link ------------------------------------------------------------------------


@router.post(
    "/party/agreement",
    tags=["parties"],
    summary="Read the agreement a link is for",
    responses=errors(400, 409, 410, 413, 422),
)
async def party_agreement(body: LinkBody, placements: PlacementsDep) -> PartyAgreementPublic:
    """No account: the link is the credential, sent in the body. 410 once expired; 409 when
    the agreement changed after the link was sent."""
    return PartyAgreementPublic.of(await attempt(placements.party_agreement(body.link)))


@router.post(
    "/party/agreement/sign",
    tags=["parties"],
    summary="Sign the agreement",
    responses=errors(400, 409, 410, 413, 422),
)
async def party_sign(body: SignBody, placements: PlacementsDep) -> PartyAgreementPublic:
    """Once per link: a replay is 410 (already used). 409 when the agreement changed after
    the link was sent: ask for a new link."""
    return PartyAgreementPublic.of(await attempt(placements.sign(body.link, body.name)))


@router.post(
    "/party/hours",
    tags=["parties"],
    summary="Log or correct a day's hours (student or supervisor)",
    responses=errors(400, 409, 410, 413, 422),
)
async def party_hours(body: PartyHoursBody, placements: PlacementsDep) -> PartyWeekPublic:
    week = await attempt(placements.log_hours_by_link(body.link, body.day, body.hours))
    return await party_week_public(placements, body.link, PartyAction.LOG_HOURS, week)


@router.post(
    "/party/hours/week",
    tags=["parties"],
    summary="A week's hours (student or supervisor)",
    responses=errors(400, 410, 413, 422),
)
async def party_week(body: PartyWeekBody, placements: PlacementsDep) -> PartyWeekPublic:
    week = await attempt(placements.week_by_link(body.link, body.day))
    return await party_week_public(placements, body.link, PartyAction.LOG_HOURS, week)


@router.post(
    "/party/week",
    tags=["parties"],
    summary="The week a verification link is for (supervisor)",
    responses=errors(400, 409, 410, 413, 422),
)
async def party_week_to_verify(body: LinkBody, placements: PlacementsDep) -> PartyWeekPublic:
    """409 when the week's hours were corrected after the link was sent."""
    week = await attempt(placements.week_to_verify(body.link))
    return await party_week_public(placements, body.link, PartyAction.VERIFY_WEEK, week)


@router.post(
    "/party/week/verify",
    tags=["parties"],
    summary="Verify the week's hours (supervisor)",
    responses=errors(400, 409, 410, 413, 422),
)
async def party_verify_week(body: LinkBody, placements: PlacementsDep) -> PartyWeekPublic:
    """One click: the week's hours as they stand count as verified. A replay is 410; a
    correction afterwards makes the week unverified again (a new link is needed)."""
    week = await attempt(placements.verify_week(body.link))
    return await party_week_public(placements, body.link, PartyAction.VERIFY_WEEK, week)


@router.post(
    "/party/evaluation",
    tags=["parties"],
    summary="The evaluation a link is for (supervisor)",
    responses=errors(400, 410, 413, 422),
)
async def party_evaluation(body: LinkBody, placements: PlacementsDep) -> EvaluationFormPublic:
    """The competencies to rate for the opening's career field and the scale; `submitted`
    once the evaluation is in."""
    return EvaluationFormPublic.of(await attempt(placements.evaluation_form(body.link)))


@router.post(
    "/party/evaluation/submit",
    tags=["parties"],
    summary="Submit the evaluation (supervisor)",
    responses=errors(400, 409, 410, 413, 422),
)
async def party_submit_evaluation(
    body: EvaluationBody, placements: PlacementsDep
) -> EvaluationFormPublic:
    """Once per link: a replay is 410. 422 when a competency is not rated, rated off the
    scale or unknown (each error names it); 409 once the placement has ended."""
    form = await attempt(
        placements.submit_evaluation(body.link, body.name, body.ratings, body.comment)
    )
    return EvaluationFormPublic.of(form)
