"""Every event of the system, grouped by topic. Only matching attributes travel:
names, emails, birth dates and special-population flags never go on the bus."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from wbl_schemas import topics
from wbl_schemas.envelope import Envelope, Payload

Code = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")]
EntityId = Annotated[str, Field(min_length=1, max_length=64)]


class Place(Payload):
    town: str = Field(min_length=1, max_length=120)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class HiringPreferences(Payload):
    partner_programs: tuple[Code, ...] = ()
    partner_schools: tuple[EntityId, ...] = ()
    preferred_credentials: tuple[Code, ...] = ()
    languages: tuple[str, ...] = ()


# -- wbl.openings ---------------------------------------------------------------------------


class OpeningSnapshot(Payload):
    opening_id: EntityId
    employer_id: EntityId
    version: int = Field(ge=1)
    title: str
    career_field: Code
    seats: int = Field(ge=1)
    seats_remaining: int = Field(ge=0)
    location: Place | None = None
    remote: bool = False
    starts_on: date
    ends_on: date
    hours_per_week: int = Field(ge=1, le=40)
    paid: bool
    hazardous: bool = False
    min_age: int = Field(ge=14, le=99)
    min_grade: int = Field(default=9, ge=9, le=14)
    required_credentials: tuple[Code, ...] = ()
    hiring_preferences: HiringPreferences = HiringPreferences()


class OpeningRef(Payload):
    opening_id: EntityId
    employer_id: EntityId
    version: int = Field(ge=1)


class _OpeningEvent(Envelope):
    topic = topics.OPENINGS

    def key(self) -> str:
        return self.payload.opening_id  # type: ignore[attr-defined, no-any-return]


class OpeningPublished(_OpeningEvent):
    """An employer posted an opening: the whole opening."""

    event_type: Literal["OpeningPublished"] = "OpeningPublished"
    payload: OpeningSnapshot


class OpeningUpdated(_OpeningEvent):
    """An employer changed an opening: the whole opening as it now is."""

    event_type: Literal["OpeningUpdated"] = "OpeningUpdated"
    payload: OpeningSnapshot


class OpeningClosed(_OpeningEvent):
    """An employer closed an opening; it takes no more students."""

    event_type: Literal["OpeningClosed"] = "OpeningClosed"
    payload: OpeningRef


OpeningEvent = Annotated[
    OpeningPublished | OpeningUpdated | OpeningClosed, Field(discriminator="event_type")
]

# -- wbl.students ---------------------------------------------------------------------------


class StudentMatchProfile(Payload):
    """What matching needs of a student, under a pseudonymous id."""

    student_id: EntityId
    school_id: EntityId
    version: int = Field(ge=1)
    program: Code
    career_fields: tuple[Code, ...] = Field(min_length=1)
    credentials: tuple[Code, ...] = ()
    grade: int = Field(ge=9, le=14)
    age_at_start: int = Field(ge=13, le=99, description="Age on available_from")
    languages: tuple[str, ...] = ()
    home: Place
    max_commute_km: float = Field(ge=0, le=500)
    available_from: date
    available_to: date
    hours_per_week: int = Field(ge=1, le=40)
    favourites: tuple[EntityId, ...] = ()


class StudentRef(Payload):
    student_id: EntityId
    school_id: EntityId
    version: int = Field(ge=1)


class _StudentEvent(Envelope):
    topic = topics.STUDENTS

    def key(self) -> str:
        return self.payload.student_id  # type: ignore[attr-defined, no-any-return]


class StudentRegistered(_StudentEvent):
    """A coordinator registered a student: what matching needs, no personal data."""

    event_type: Literal["StudentRegistered"] = "StudentRegistered"
    payload: StudentMatchProfile


class StudentUpdated(_StudentEvent):
    """A student's matching attributes changed: all of them as they now are."""

    event_type: Literal["StudentUpdated"] = "StudentUpdated"
    payload: StudentMatchProfile


class StudentWithdrawn(_StudentEvent):
    """A student left matching (the record stays for the outcomes report)."""

    event_type: Literal["StudentWithdrawn"] = "StudentWithdrawn"
    payload: StudentRef


StudentEvent = Annotated[
    StudentRegistered | StudentUpdated | StudentWithdrawn, Field(discriminator="event_type")
]

# -- wbl.matches ----------------------------------------------------------------------------


class MatchProposal(Payload):
    match_id: EntityId
    round_id: EntityId
    student_id: EntityId
    school_id: EntityId
    opening_id: EntityId
    employer_id: EntityId
    career_field: Code
    explanation: tuple[str, ...] = ()


class MatchWithdrawal(Payload):
    match_id: EntityId
    round_id: EntityId
    student_id: EntityId
    school_id: EntityId
    opening_id: EntityId
    reason: str


class _MatchEvent(Envelope):
    topic = topics.MATCHES

    def key(self) -> str:
        return self.payload.student_id  # type: ignore[attr-defined, no-any-return]


class MatchProposed(_MatchEvent):
    """The matcher proposes a student for an opening, with the reasons."""

    event_type: Literal["MatchProposed"] = "MatchProposed"
    payload: MatchProposal


class MatchWithdrawn(_MatchEvent):
    """A proposal no longer stands; `reason` says why (e.g. a re-solve moved the student)."""

    event_type: Literal["MatchWithdrawn"] = "MatchWithdrawn"
    payload: MatchWithdrawal


MatchEvent = Annotated[MatchProposed | MatchWithdrawn, Field(discriminator="event_type")]

# -- wbl.placements -------------------------------------------------------------------------


class PlacementDecision(Payload):
    match_id: EntityId
    student_id: EntityId
    school_id: EntityId
    opening_id: EntityId
    coordinator_id: EntityId
    note: str = ""


class _PlacementEvent(Envelope):
    topic = topics.PLACEMENTS

    def key(self) -> str:
        return self.payload.student_id  # type: ignore[attr-defined, no-any-return]


class PlacementConfirmed(_PlacementEvent):
    """A coordinator confirmed a match: the student takes a seat."""

    event_type: Literal["PlacementConfirmed"] = "PlacementConfirmed"
    payload: PlacementDecision


class PlacementDeclined(_PlacementEvent):
    """A coordinator declined a match."""

    event_type: Literal["PlacementDeclined"] = "PlacementDeclined"
    payload: PlacementDecision


PlacementEvent = Annotated[
    PlacementConfirmed | PlacementDeclined, Field(discriminator="event_type")
]

# -- wbl.coordinators -----------------------------------------------------------------------


class NotificationChannels(Payload):
    """The inbox is always on; email and webhook are optional."""

    email: str | None = None
    webhook_url: str | None = None
    digest: Literal["immediate", "daily"] = "immediate"


class CoordinatorProfile(Payload):
    coordinator_id: EntityId
    version: int = Field(ge=1)
    school_ids: tuple[EntityId, ...] = Field(min_length=1)
    channels: NotificationChannels = NotificationChannels()


class CoordinatorRef(Payload):
    coordinator_id: EntityId
    version: int = Field(ge=1)


class _CoordinatorEvent(Envelope):
    topic = topics.COORDINATORS

    def key(self) -> str:
        return self.payload.coordinator_id  # type: ignore[attr-defined, no-any-return]


class CoordinatorRegistered(_CoordinatorEvent):
    """A coordinator was created: their schools and notification channels."""

    event_type: Literal["CoordinatorRegistered"] = "CoordinatorRegistered"
    payload: CoordinatorProfile


class CoordinatorUpdated(_CoordinatorEvent):
    """A coordinator's schools, channels or token changed."""

    event_type: Literal["CoordinatorUpdated"] = "CoordinatorUpdated"
    payload: CoordinatorProfile


class CoordinatorRemoved(_CoordinatorEvent):
    """A coordinator was removed; they hear of no more matches."""

    event_type: Literal["CoordinatorRemoved"] = "CoordinatorRemoved"
    payload: CoordinatorRef


CoordinatorEvent = Annotated[
    CoordinatorRegistered | CoordinatorUpdated | CoordinatorRemoved,
    Field(discriminator="event_type"),
]

AnyEvent = (
    OpeningPublished
    | OpeningUpdated
    | OpeningClosed
    | StudentRegistered
    | StudentUpdated
    | StudentWithdrawn
    | MatchProposed
    | MatchWithdrawn
    | PlacementConfirmed
    | PlacementDeclined
    | CoordinatorRegistered
    | CoordinatorUpdated
    | CoordinatorRemoved
)

# One parser per topic: a consumer validates a raw message against its topic's union.
TOPIC_EVENTS: dict[str, TypeAdapter[AnyEvent]] = {
    topics.OPENINGS: TypeAdapter(OpeningEvent),
    topics.STUDENTS: TypeAdapter(StudentEvent),
    topics.MATCHES: TypeAdapter(MatchEvent),
    topics.PLACEMENTS: TypeAdapter(PlacementEvent),
    topics.COORDINATORS: TypeAdapter(CoordinatorEvent),
}


def parse_event(topic: str, raw: bytes | str) -> AnyEvent:
    """Validate a raw message of `topic`; raises pydantic.ValidationError when malformed."""
    return TOPIC_EVENTS[topic].validate_json(raw)
