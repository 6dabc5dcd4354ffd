"""Every event of the system, grouped by topic. Only matching attributes travel:
names, emails, birth dates and special-population flags never go on the bus.

Every list and string is bounded, so that no event comes near Kafka's 1 MiB message
limit: at the largest values these models allow, each event stays under MAX_EVENT_BYTES
(tests/unit/test_event_bounds.py builds the largest of each and measures it)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from wbl_schemas import topics
from wbl_schemas.envelope import Envelope, Payload

# The largest serialized event (envelope included) these bounds allow, with margin.
MAX_EVENT_BYTES = 64 * 1024

Code = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")]
EntityId = Annotated[str, Field(min_length=1, max_length=64)]
# A school id as people give it: a letter or digit first, so that no spreadsheet reads one
# as a formula (`-`, `=`, `+`, `@`); then letters, digits, `_`, `.` and `-`.
SchoolId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Language = Annotated[str, Field(min_length=2, max_length=35)]  # a language tag: `pt`, `en`
# Ages at placement start as the bus carries them: the bands Massachusetts' work rules turn
# on (no work permit under 14; 18 hours a school week at 14-15, 48 at 16-17; no cap and
# hazardous work from 18) and 21, the last age an opening may ask for. The lowest age of
# each band is what eligibility assumes, so an opening's minimum age is a band's start.
AgeBand = Literal["under-14", "14-15", "16-17", "18-20", "21-or-over"]
AGE_BAND_STARTS: dict[str, int] = {
    "under-14": 13,
    "14-15": 14,
    "16-17": 16,
    "18-20": 18,
    "21-or-over": 21,
}
MIN_AGES = (14, 16, 18, 21)


def age_band(age: int) -> AgeBand:
    for band, start in reversed(AGE_BAND_STARTS.items()):
        if age >= start:
            return cast(AgeBand, band)
    return "under-14"


# Lines the matcher writes; its longest names up to 20 codes of 80 characters.
ExplanationLine = Annotated[str, Field(max_length=2000)]
# A proposal's explanation is 3-5 summary lines for the coordinator, then this line, then the
# full detail (shown behind a toggle). Older explanations have no such line: all summary.
EXPLANATION_DETAIL = "In detail:"


def split_explanation(lines: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    """(summary, detail) of an explanation's lines."""
    if EXPLANATION_DETAIL not in lines:
        return list(lines), []
    at = list(lines).index(EXPLANATION_DETAIL)
    return list(lines[:at]), list(lines[at + 1 :])


@dataclass(frozen=True)
class MaxItems:
    """`Annotated[list[X], MaxItems(n)]`: at most n items, counted before the items are
    validated. Pydantic's own `max_length` counts only after, so a list of a million bad
    items costs a million checks and answers a million errors; this answers one."""

    limit: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # The list's own schema keeps max_length too, so the JSON Schema shows maxItems.
        counted = cast(core_schema.CoreSchema, {**handler(source), "max_length": self.limit})
        return core_schema.no_info_before_validator_function(self._check, counted)

    def _check(self, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) > self.limit:
            raise PydanticCustomError(
                "too_long",
                "List should have at most {max_length} items, not {actual_length}",
                {"max_length": self.limit, "actual_length": len(value)},
            )
        return value


MAX_UNKNOWN_FIELDS = 10


def refuse_many_unknown_fields(model: type[BaseModel], data: Any) -> Any:
    """Past MAX_UNKNOWN_FIELDS unknown fields, one error instead of one per field: a body
    of 350,000 unknown keys held the event loop 3.3 s and was answered with 22 MB."""
    fields = model.model_fields
    if not isinstance(data, dict) or len(data) <= len(fields) + MAX_UNKNOWN_FIELDS:
        return data
    unknown = len(data) - sum(1 for name in fields if name in data)
    if unknown > MAX_UNKNOWN_FIELDS:
        examples = itertools.islice((str(k) for k in data if k not in fields), 3)
        raise PydanticCustomError(
            "extra_forbidden",
            "{count} unknown fields, such as {examples}; the fields are {fields}",
            {"count": unknown, "examples": ", ".join(examples), "fields": ", ".join(fields)},
        )
    return data


class RequestPayload(Payload):
    """A payload that requests fill too (registry's request models embed it)."""

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: Any) -> Any:
        return refuse_many_unknown_fields(cls, data)


class Place(RequestPayload):
    town: str = Field(min_length=1, max_length=120, description="At most 120 characters")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class HiringPreferences(RequestPayload):
    partner_programs: Annotated[tuple[Code, ...], MaxItems(20)] = Field(
        default=(), description="Program codes, at most 20"
    )
    partner_schools: Annotated[tuple[SchoolId, ...], MaxItems(50)] = Field(
        default=(), description="School ids, at most 50"
    )
    preferred_credentials: Annotated[tuple[Code, ...], MaxItems(20)] = Field(
        default=(), description="Credential codes, at most 20"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_language_preference(cls, data: Any) -> Any:
        # Languages proxy national origin: never a ranking preference (issue 12, finding 10).
        if isinstance(data, dict) and "languages" in data:
            raise PydanticCustomError(
                "language_preference",
                "a language cannot be a hiring preference, since it would rank students by "
                "where they or their families come from; an opening that needs a language "
                "(a bilingual role) states it in required_languages",
            )
        return data


# -- wbl.openings ---------------------------------------------------------------------------


class OpeningSnapshot(Payload):
    opening_id: EntityId
    employer_id: EntityId
    version: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    employer_name: str = Field(
        default="",
        max_length=200,
        description="The employer's name, for coordinators' notifications (not student data).",
    )
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
    required_credentials: Annotated[tuple[Code, ...], MaxItems(20)] = ()
    required_languages: Annotated[tuple[Language, ...], MaxItems(5)] = ()
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
    career_fields: Annotated[tuple[Code, ...], MaxItems(10)] = Field(min_length=1)
    credentials: Annotated[tuple[Code, ...], MaxItems(30)] = ()
    grade: int = Field(ge=9, le=14)
    age_band: AgeBand = Field(
        description="The student's age on available_from, only as the band the work rules "
        "turn on (legal weekly hours, 18 for hazardous work): never the exact age"
    )
    languages: Annotated[tuple[Language, ...], MaxItems(10)] = Field(
        default=(), description="Read only against an opening's required_languages"
    )
    home: Place = Field(
        description="Coarse: latitude and longitude rounded to 0.01 degree (about 1 km)"
    )
    max_commute_km: float = Field(ge=0, le=500)
    available_from: date
    available_to: date
    hours_per_week: int = Field(ge=1, le=40)
    favourites: Annotated[tuple[EntityId, ...], MaxItems(20)] = ()


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
    explanation: Annotated[tuple[ExplanationLine, ...], MaxItems(40)] = Field(
        default=(),
        description=(
            "3-5 plain summary lines for the coordinator, then the line "
            f"{EXPLANATION_DETAIL!r}, then the full detail."
        ),
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="The offer holds its seat until then, unless confirmed or declined first.",
    )


WithdrawalReason = Literal[
    "expired", "opening_closed", "no_longer_eligible", "student_withdrawn", "placed_elsewhere"
]


class MatchWithdrawal(Payload):
    match_id: EntityId
    round_id: EntityId
    student_id: EntityId
    school_id: EntityId
    opening_id: EntityId
    reason_code: WithdrawalReason | None = Field(
        default=None,
        description="Why the offer ended; an offer is never withdrawn for any other reason. "
        "Always set by the matcher; absent only in withdrawals published before it was named.",
    )
    reason: str = Field(max_length=500, description="The same, in plain words for coordinators.")


class _MatchEvent(Envelope):
    topic = topics.MATCHES

    def key(self) -> str:
        return self.payload.student_id  # type: ignore[attr-defined, no-any-return]


class MatchProposed(_MatchEvent):
    """The matcher proposes a student for an opening, with the reasons."""

    event_type: Literal["MatchProposed"] = "MatchProposed"
    payload: MatchProposal


class MatchWithdrawn(_MatchEvent):
    """An offer no longer stands; `reason_code` says which of the named reasons ended it."""

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
    # No note: the coordinator's free text stays in registry (data minimisation).


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


class PlacementFact(Payload):
    """A step in a confirmed placement's life (ADR 6): ids only. Who signed, the hours, the
    permit's number stay in registry; a consumer that needs them asks registry."""

    match_id: EntityId
    student_id: EntityId
    school_id: EntityId


PartyName = Literal["school", "employer", "student", "guardian"]
TextHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AgreementRef(PlacementFact):
    text_hash: TextHash = Field(description="SHA-256 of the agreement's canonical text")


class AgreementSignature(AgreementRef):
    party: PartyName


class HoursEntry(PlacementFact):
    day: date
    version: int = Field(ge=1, description="The day's entries are versions; the highest stands")


class WeekRef(PlacementFact):
    week_of: date = Field(description="The Monday of the week verified")


class EvaluationRef(PlacementFact):
    kind: Literal["midpoint", "final"] = Field(description="Which of the two evaluations")


class PlacementEnd(PlacementFact):
    opening_id: EntityId = Field(description="The opening whose seat the placement gives back")


class AgreementIssued(_PlacementEvent):
    """A coordinator issued (or reissued, with changed terms) a placement's training
    agreement: signatures of an earlier text no longer count."""

    event_type: Literal["AgreementIssued"] = "AgreementIssued"
    payload: AgreementRef


class AgreementSigned(_PlacementEvent):
    """One party signed the agreement's current text."""

    event_type: Literal["AgreementSigned"] = "AgreementSigned"
    payload: AgreementSignature


class AgreementComplete(_PlacementEvent):
    """Every party the agreement needs has signed its current text."""

    event_type: Literal["AgreementComplete"] = "AgreementComplete"
    payload: AgreementRef


class PermitRecorded(_PlacementEvent):
    """A coordinator recorded (or corrected) the student's work permit."""

    event_type: Literal["PermitRecorded"] = "PermitRecorded"
    payload: PlacementFact


class HoursLogged(_PlacementEvent):
    """A day's hours were logged or corrected (a new version of the day)."""

    event_type: Literal["HoursLogged"] = "HoursLogged"
    payload: HoursEntry


class WeekVerified(_PlacementEvent):
    """The supervisor verified a week's hours as they stood (a later correction makes the
    week unverified again)."""

    event_type: Literal["WeekVerified"] = "WeekVerified"
    payload: WeekRef


class EvaluationSubmitted(_PlacementEvent):
    """The supervisor submitted the midpoint or final evaluation (the ratings and comment
    stay in registry)."""

    event_type: Literal["EvaluationSubmitted"] = "EvaluationSubmitted"
    payload: EvaluationRef


class PlacementCompleted(_PlacementEvent):
    """The planned hours are verified and the final evaluation is in: the placement is
    complete and its seat is free again."""

    event_type: Literal["PlacementCompleted"] = "PlacementCompleted"
    payload: PlacementEnd


class PlacementClosed(_PlacementEvent):
    """A coordinator closed the placement early (the reason stays in registry): its seat is
    free again."""

    event_type: Literal["PlacementClosed"] = "PlacementClosed"
    payload: PlacementEnd


PlacementEvent = Annotated[
    PlacementConfirmed
    | PlacementDeclined
    | AgreementIssued
    | AgreementSigned
    | AgreementComplete
    | PermitRecorded
    | HoursLogged
    | WeekVerified
    | EvaluationSubmitted
    | PlacementCompleted
    | PlacementClosed,
    Field(discriminator="event_type"),
]

# -- wbl.coordinators -----------------------------------------------------------------------


class NotificationChannels(RequestPayload):
    """The inbox is always on; email and webhook are optional."""

    email: str | None = Field(default=None, max_length=254, description="At most 254 characters")
    webhook_url: str | None = Field(
        default=None, max_length=2000, description="At most 2,000 characters"
    )
    digest: Literal["immediate", "daily"] = "immediate"


class CoordinatorProfile(Payload):
    coordinator_id: EntityId
    version: int = Field(ge=1)
    school_ids: Annotated[tuple[EntityId, ...], MaxItems(50)] = Field(min_length=1)
    channels: NotificationChannels = NotificationChannels()
    # Which webhook signing secret is current (never the secret itself: notifier derives
    # it from WBL_WEBHOOK_KEY), and until when the previous one still signs too.
    webhook_secret_generation: int = Field(default=1, ge=1, le=1_000_000)
    previous_generation_until: AwareDatetime | None = None


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
    """A coordinator's schools, channels, token or webhook secret generation changed."""

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

# -- wbl.employers --------------------------------------------------------------------------


class EmployerProfile(Payload):
    """What the notifier needs to tell an employer of its openings' matches: where its
    webhook goes and which signing secret generation is current (never a secret: notifier
    derives it from WBL_WEBHOOK_KEY, as for coordinators)."""

    employer_id: EntityId
    version: int = Field(ge=1)
    active: bool = Field(default=True, description="False while the employer's key is revoked")
    webhook_url: str | None = Field(
        default=None, max_length=2000, description="At most 2,000 characters"
    )
    webhook_secret_generation: int = Field(default=1, ge=1, le=1_000_000)
    previous_generation_until: AwareDatetime | None = None


class _EmployerEvent(Envelope):
    topic = topics.EMPLOYERS

    def key(self) -> str:
        return self.payload.employer_id  # type: ignore[attr-defined, no-any-return]


class EmployerRegistered(_EmployerEvent):
    """An employer was created."""

    event_type: Literal["EmployerRegistered"] = "EmployerRegistered"
    payload: EmployerProfile


class EmployerUpdated(_EmployerEvent):
    """An employer's webhook, webhook secret generation or key status changed."""

    event_type: Literal["EmployerUpdated"] = "EmployerUpdated"
    payload: EmployerProfile


EmployerEvent = Annotated[EmployerRegistered | EmployerUpdated, Field(discriminator="event_type")]

# -- wbl.seasons ----------------------------------------------------------------------------


class SeasonState(Payload):
    """The season as the matcher now holds it, whole: compaction keeps only the newest."""

    season_id: Literal["current"] = "current"
    version: int = Field(ge=1, description="Orders the season's changes; the highest stands.")
    main_round_at: AwareDatetime | None = Field(
        default=None,
        description="When the main round runs; null: rolling rounds only (the default).",
    )
    main_round_id: EntityId | None = Field(
        default=None, description="The round that was the main round, once it has run."
    )


class _SeasonEvent(Envelope):
    topic = topics.SEASONS

    def key(self) -> str:
        return self.payload.season_id  # type: ignore[attr-defined, no-any-return]


class SeasonScheduled(_SeasonEvent):
    """An admin set, moved or removed (null) the season's main round."""

    event_type: Literal["SeasonScheduled"] = "SeasonScheduled"
    payload: SeasonState


class MainRoundRun(_SeasonEvent):
    """The season's main round ran; rolling rounds follow."""

    event_type: Literal["MainRoundRun"] = "MainRoundRun"
    payload: SeasonState


SeasonEvent = Annotated[SeasonScheduled | MainRoundRun, Field(discriminator="event_type")]

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
    | AgreementIssued
    | AgreementSigned
    | AgreementComplete
    | PermitRecorded
    | HoursLogged
    | WeekVerified
    | EvaluationSubmitted
    | PlacementCompleted
    | PlacementClosed
    | CoordinatorRegistered
    | CoordinatorUpdated
    | CoordinatorRemoved
    | EmployerRegistered
    | EmployerUpdated
    | SeasonScheduled
    | MainRoundRun
)

# One parser per topic: a consumer validates a raw message against its topic's union.
TOPIC_EVENTS: dict[str, TypeAdapter[AnyEvent]] = {
    topics.OPENINGS: TypeAdapter(OpeningEvent),
    topics.STUDENTS: TypeAdapter(StudentEvent),
    topics.MATCHES: TypeAdapter(MatchEvent),
    topics.PLACEMENTS: TypeAdapter(PlacementEvent),
    topics.COORDINATORS: TypeAdapter(CoordinatorEvent),
    topics.EMPLOYERS: TypeAdapter(EmployerEvent),
    topics.SEASONS: TypeAdapter(SeasonEvent),
}


def parse_event(topic: str, raw: bytes | str) -> AnyEvent:
    """Validate a raw message of `topic`; raises pydantic.ValidationError when malformed."""
    return TOPIC_EVENTS[topic].validate_json(raw)
