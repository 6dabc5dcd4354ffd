"""HTTP for the notifier's outreach (ADR 6, "Who is asked, and when"): which placements to
sweep, and for one placement the links to email, each with its party's address and what
the email needs in plain words. Called with the notifier's service credential only; the
notifier keeps none of it (it asks again at each send)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from wbl_common.web import errors
from wbl_registry.api import MatchId
from wbl_registry.auth import Service
from wbl_registry.party_links import PartyAction
from wbl_registry.placements import IssuedLink, Outreach, PlacementState
from wbl_registry.placements_api import LinkPublic, PlacementsDep, SendTo, attempt

router = APIRouter(prefix="/v1")
MOST_ACTIVE = 500


class OutreachItem(LinkPublic):
    subject: str = Field(
        description="What the link acts on (the agreement's hash, 'hours', the week's hash): "
        "a new subject is a new email"
    )


class OutreachPublic(BaseModel):
    match_id: str
    student_first_name: str
    opening_title: str
    employer_name: str
    school_name: str
    ask: SendTo | None = Field(
        description="Whom the parties ask: the coordinator who issued the agreement"
    )
    items: list[OutreachItem]


class ActivePublic(BaseModel):
    match_ids: list[str]
    next_after: str | None = Field(description="The next page's `after`; null at the end")


def week_finished(found: IssuedLink, state: PlacementState) -> bool:
    """A week is asked about once its last placement day (Sunday, or the end date) is over
    or is today: the weekly email asks about a finished week."""
    if found.action is not PartyAction.VERIFY_WEEK or found.week_of is None:
        return True
    last = min(found.week_of + timedelta(days=6), state.facts.ends_on)
    return last <= state.today


def outreach_public(found: Outreach, subject_of: dict[str, str]) -> OutreachPublic:
    state, context = found.state, found.state.context
    who = found.coordinator
    email = who.channels.email if who else None
    return OutreachPublic(
        match_id=context.match.id,
        student_first_name=context.student.person.first_name,
        opening_title=context.opening.terms.title,
        employer_name=context.employer_name,
        school_name=context.school_name,
        ask=SendTo(name=who.name, email=email) if who and email else None,
        items=[
            OutreachItem(**LinkPublic.of(link).model_dump(), subject=subject_of[link.link])
            for link in found.links
            if week_finished(link, state)
        ],
    )


@router.get(
    "/placements/active",
    tags=["outreach"],
    summary="Placements the notifier sweeps (service)",
    responses=errors(401, 403, 422),
)
async def active_placements(
    _: Service,
    placements: PlacementsDep,
    after: Annotated[
        str,
        Query(
            max_length=200,
            description="The previous page's `next_after` (empty: from the start)",
            examples=["mat_0a1b2c3d4e5f6a7b"],
        ),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=MOST_ACTIVE, examples=[100])] = 100,
) -> ActivePublic:
    """Match ids of placements with an agreement issued that have not ended (their end
    date at most 60 days past), in id order."""
    ids, next_after = await placements.active(after, limit)
    return ActivePublic(match_ids=ids, next_after=next_after)


@router.get(
    "/placements/{match_id}/outreach",
    tags=["outreach"],
    summary="The links to email a placement's parties (service)",
    responses=errors(401, 403, 404, 409),
)
async def outreach(match_id: MatchId, _: Service, placements: PlacementsDep) -> OutreachPublic:
    """The items of `/links` (fresh links, `send_to` each), a week to verify only once it
    is over; an empty list before the agreement is issued."""
    found = await attempt(placements.outreach(match_id))
    subjects = {link.link: placements.links.read(link.link).subject for link in found.links}
    return outreach_public(found, subjects)
