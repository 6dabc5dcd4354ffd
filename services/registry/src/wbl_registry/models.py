"""HTTP request and response models of the registry API (one family per resource)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from wbl_common.outbox import ParkedChange
from wbl_registry.domain import (
    SPECIAL_POPULATIONS,
    Coordinator,
    Employer,
    Match,
    MatchStatus,
    Opening,
    OpeningTerms,
    OutcomeRow,
    PersonalDetails,
    Student,
    StudentPlan,
    Suppression,
    age_on,
    undoable,
)
from wbl_registry.handlers import Placement, RosterRow, StudentApplication
from wbl_registry.report import DIMENSION_NAMES, OutcomesReport, suppression_reason
from wbl_registry.roster import PlacementState
from wbl_schemas.events import (
    HiringPreferences,
    Language,
    MaxItems,
    NotificationChannels,
    Place,
    SchoolId,
    refuse_many_unknown_fields,
    split_explanation,
)

# Every list and string is bounded (docs/registry.md, "Bounds"): no request can make an
# event larger than wbl_schemas.events.MAX_EVENT_BYTES. Lists are counted before their items.
ReferenceCode = Annotated[str, Field(min_length=1, max_length=80)]  # checked by the domain
SpecialPopulation = Literal[
    "economically-disadvantaged",
    "students-with-disabilities",
    "english-learners",
    "high-needs",
    "first-generation",
]
assert set(SpecialPopulation.__args__) == set(SPECIAL_POPULATIONS)  # type: ignore[attr-defined]
SpecialPopulations = Annotated[list[SpecialPopulation], MaxItems(len(SPECIAL_POPULATIONS))]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: Any) -> Any:
        return refuse_many_unknown_fields(cls, data)


# -- employers ----------------------------------------------------------------------------


class EmployerCreate(StrictModel):
    model_config = ConfigDict(extra="forbid", **_examples({"name": "Acme Robotics"}))

    name: str = Field(
        min_length=1,
        max_length=200,
        description="At most 200 characters",
        examples=["Acme Robotics"],
    )


class EmployerKey(BaseModel):
    id: str = Field(examples=["emp_3f2a9c1d0b7e4a55"])
    name: str = Field(examples=["Acme Robotics"])
    api_key: str = Field(description="Shown once; store it safely.", examples=["emp_…"])


class EmployerWebhook(StrictModel):
    """Where the employer's webhooks go (null: none; poll GET /v1/matches instead)."""

    model_config = ConfigDict(
        extra="forbid", **_examples({"webhook_url": "https://hr.acme.example/hooks/wbl"})
    )

    webhook_url: str | None = Field(
        max_length=2000,
        description="https:// to a public host, at most 2,000 characters; null removes it",
    )


class EmployerPublic(BaseModel):
    id: str = Field(examples=["emp_3f2a9c1d0b7e4a55"])
    name: str = Field(examples=["Acme Robotics"])
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None,
        description="Shown once, when a webhook URL is first set: verify signatures with it.",
    )

    @classmethod
    def of(cls, employer: Employer, webhook_secret: str | None = None) -> EmployerPublic:
        return cls(
            id=employer.id,
            name=employer.name,
            webhook_url=employer.webhook_url,
            webhook_secret=webhook_secret,
        )


class SecretRotated(BaseModel):
    """A webhook signing secret rotated (a coordinator's or an employer's)."""

    webhook_secret: str = Field(
        description="The new signing secret, shown once: verify signatures with it from now on."
    )
    generation: int = Field(description="Counts rotations; 1 is the first secret.", examples=[2])
    previous_valid_until: datetime = Field(
        description="Until then webhooks also carry a signature under the previous secret."
    )


class EmployerSecretRotated(SecretRotated):
    employer_id: str = Field(examples=["emp_3f2a9c1d0b7e4a55"])

    @classmethod
    def of(cls, employer: Employer, webhook_secret: str) -> EmployerSecretRotated:
        assert employer.previous_generation_until is not None  # set by every rotation
        return cls(
            employer_id=employer.id,
            webhook_secret=webhook_secret,
            generation=employer.webhook_secret_generation,
            previous_valid_until=employer.previous_generation_until,
        )


# -- coordinators -------------------------------------------------------------------------

CHANNELS_EXAMPLE = {
    "email": "dana.rivera@worcestertech.example.org",
    "webhook_url": "https://sis.worcestertech.example.org/hooks/wbl",
    "digest": "immediate",
}


class CoordinatorCreate(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        **_examples(
            {
                "name": "Dana Rivera",
                "school_ids": ["sch_worcester_tech"],
                "channels": CHANNELS_EXAMPLE,
            }
        ),
    )

    name: str = Field(
        min_length=1, max_length=200, description="At most 200 characters", examples=["Dana Rivera"]
    )
    school_ids: Annotated[list[SchoolId], MaxItems(50)] = Field(
        min_length=1, description="At most 50", examples=[["sch_worcester_tech"]]
    )
    channels: NotificationChannels = NotificationChannels()


class CoordinatorUpdate(StrictModel):
    """Only the fields given change."""

    model_config = ConfigDict(
        extra="forbid",
        **_examples({"school_ids": ["sch_worcester_tech", "sch_quinsig_cc"]}),
    )

    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="At most 200 characters"
    )
    school_ids: Annotated[list[SchoolId], MaxItems(50)] | None = Field(
        default=None, min_length=1, description="At most 50"
    )
    channels: NotificationChannels | None = None


class ChannelChanges(StrictModel):
    """Only the fields given change; `null` removes the email or the webhook."""

    email: str | None = Field(default=None, max_length=254, description="At most 254 characters")
    webhook_url: str | None = Field(
        default=None, max_length=2000, description="At most 2,000 characters"
    )
    digest: Literal["immediate", "daily"] = Field(
        default="immediate",
        description="`immediate`: each match as it comes; `daily`: one message a day",
    )

    def applied_to(self, channels: NotificationChannels) -> NotificationChannels:
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return channels.model_copy(update=given)


class OwnSettingsUpdate(StrictModel):
    """A coordinator's own notification settings. Their name and schools are the
    administrator's to change (`PATCH /v1/coordinators/{id}`)."""

    model_config = ConfigDict(
        extra="forbid",
        **_examples(
            {"channels": {"email": "dana.rivera@worcester-tech.example.org", "digest": "daily"}},
            {"channels": {"webhook_url": None}},
        ),
    )

    channels: ChannelChanges


class CoordinatorPublic(BaseModel):
    id: str = Field(examples=["coo_a1b2c3d4e5f60718"])
    name: str
    school_ids: list[str]
    channels: NotificationChannels
    webhook_secret: str | None = Field(
        default=None,
        description="Shown once, when a webhook URL is first set: verify signatures with it.",
    )

    @classmethod
    def of(cls, coordinator: Coordinator, webhook_secret: str | None = None) -> CoordinatorPublic:
        return cls(
            id=coordinator.id,
            name=coordinator.name,
            school_ids=list(coordinator.school_ids),
            channels=coordinator.channels,
            webhook_secret=webhook_secret,
        )


class CoordinatorCreated(CoordinatorPublic):
    token: str = Field(description="Shown once; store it safely.", examples=["coo_…"])


class WebhookSecretRotated(SecretRotated):
    coordinator_id: str = Field(examples=["coo_a1b2c3d4e5f60718"])

    @classmethod
    def of(cls, coordinator: Coordinator, webhook_secret: str) -> WebhookSecretRotated:
        assert coordinator.previous_generation_until is not None  # set by every rotation
        return cls(
            coordinator_id=coordinator.id,
            webhook_secret=webhook_secret,
            generation=coordinator.webhook_secret_generation,
            previous_valid_until=coordinator.previous_generation_until,
        )


# -- openings -----------------------------------------------------------------------------

OPENING_EXAMPLE: dict[str, Any] = {
    "title": "Robotics technician intern",
    "career_field": "robotics-and-automation-technology",
    "seats": 2,
    "location": {"town": "Worcester", "lat": 42.2626, "lon": -71.8023},
    "starts_on": "2027-06-01",
    "ends_on": "2027-08-27",
    "hours_per_week": 20,
    "paid": True,
    "hazardous": False,
    "min_age": 16,
    "required_credentials": ["osha-10-general"],
    "hiring_preferences": {"partner_programs": ["p-tech"], "partner_schools": []},
}


class OpeningCreate(StrictModel):
    model_config = ConfigDict(extra="forbid", **_examples(OPENING_EXAMPLE))

    title: str = Field(
        min_length=1,
        max_length=200,
        description="At most 200 characters",
        examples=["Robotics technician intern"],
    )
    career_field: str = Field(
        max_length=80,
        description="A career field code (`/v1/reference/career-fields`)",
        examples=["robotics-and-automation-technology"],
    )
    seats: int = Field(ge=1, le=500)
    location: Place | None = None
    remote: bool = False
    starts_on: date
    ends_on: date
    hours_per_week: int = Field(ge=1, le=40)
    paid: bool
    hazardous: bool = False
    min_age: int = Field(
        default=16,
        ge=14,
        le=99,
        description="14, 16, 18 or 21: the ages the work rules turn on, which are all the "
        "matcher learns of a student's age (18 at least for hazardous work)",
    )
    min_grade: int = Field(default=9, ge=9, le=14)
    required_credentials: Annotated[list[ReferenceCode], MaxItems(20)] = Field(
        default=[], description="Credential codes, at most 20"
    )
    required_languages: Annotated[list[Language], MaxItems(5)] = Field(
        default=[],
        description="Languages the work itself needs (a bilingual role), as tags such as "
        "`es`; at most 5. Only students who speak each one are eligible; a language never "
        "ranks students, so it is no hiring preference.",
    )
    hiring_preferences: HiringPreferences = HiringPreferences()

    def terms(self) -> OpeningTerms:
        lists = {"required_credentials", "required_languages", "hiring_preferences", "location"}
        return OpeningTerms(
            **self.model_dump(exclude=lists),
            location=self.location,
            required_credentials=tuple(self.required_credentials),
            required_languages=tuple(dict.fromkeys(self.required_languages)),
            hiring_preferences=self.hiring_preferences,
        )


OPENING_PATCH_EXAMPLES = {
    "more seats": {"summary": "Add a seat", "value": {"seats": 3}},
    "new dates": {
        "summary": "Move the dates",
        "value": {"starts_on": "2027-06-15", "ends_on": "2027-09-10"},
    },
}


class OpeningPublic(OpeningCreate):
    model_config = ConfigDict(extra="ignore")

    id: str
    employer_id: str
    status: Literal["open", "closed"]
    seats_remaining: int
    version: int

    @classmethod
    def of(cls, opening: Opening) -> OpeningPublic:
        t = opening.terms
        return cls(
            id=opening.id,
            employer_id=opening.employer_id,
            status="closed" if opening.status == "closed" else "open",
            seats_remaining=opening.seats_remaining,
            version=opening.version,
            title=t.title,
            career_field=t.career_field,
            seats=t.seats,
            location=t.location,
            remote=t.remote,
            starts_on=t.starts_on,
            ends_on=t.ends_on,
            hours_per_week=t.hours_per_week,
            paid=t.paid,
            hazardous=t.hazardous,
            min_age=t.min_age,
            min_grade=t.min_grade,
            required_credentials=list(t.required_credentials),
            required_languages=list(t.required_languages),
            hiring_preferences=t.hiring_preferences,
        )


# -- students -----------------------------------------------------------------------------

STUDENT_EXAMPLE: dict[str, Any] = {
    "school_id": "sch_worcester_tech",
    "first_name": "Ana",
    "last_name": "Souza",
    "email": "ana.souza@students.worcestertech.example.org",
    "date_of_birth": "2010-03-14",
    "grade": 11,
    "program": "stem-tech-academy",
    "career_fields": ["robotics-and-automation-technology", "mechatronics"],
    "credentials": ["osha-10-general"],
    "languages": ["pt", "en"],
    "home": {"town": "Worcester", "lat": 42.27, "lon": -71.80},
    "max_commute_km": 20,
    "available_from": "2027-06-01",
    "available_to": "2027-08-31",
    "hours_per_week": 20,
    "special_populations": ["english-learners"],
}


class StudentCreate(StrictModel):
    model_config = ConfigDict(extra="forbid", **_examples(STUDENT_EXAMPLE))

    school_id: SchoolId = Field(examples=["sch_worcester_tech"])
    first_name: str = Field(min_length=1, max_length=100, description="At most 100 characters")
    last_name: str = Field(min_length=1, max_length=100, description="At most 100 characters")
    email: EmailStr = Field(description="At most 254 characters")
    date_of_birth: date
    grade: int = Field(ge=9, le=14)
    program: str = Field(
        max_length=80,
        description="A program code (`/v1/reference/programs`)",
        examples=["stem-tech-academy"],
    )
    career_fields: Annotated[list[ReferenceCode], MaxItems(10)] = Field(
        min_length=1, description="Career field codes, most wanted first; at most 10"
    )
    credentials: Annotated[list[ReferenceCode], MaxItems(30)] = Field(
        default=[], description="Credential codes, at most 30"
    )
    languages: Annotated[list[Language], MaxItems(10)] = Field(
        default=[], description="Language tags (2-35 characters), at most 10"
    )
    home: Place
    max_commute_km: float = Field(ge=0, le=500)
    available_from: date
    available_to: date
    hours_per_week: int = Field(ge=1, le=40)
    special_populations: SpecialPopulations = Field(
        default=[],
        description="Kept in registry for the outcomes report only: never on the bus, "
        "never an input to matching.",
    )

    def application(self) -> StudentApplication:
        return StudentApplication(
            school_id=self.school_id,
            person=PersonalDetails(
                first_name=self.first_name,
                last_name=self.last_name,
                email=str(self.email),
                date_of_birth=self.date_of_birth,
            ),
            plan=StudentPlan(
                program=self.program,
                career_fields=tuple(self.career_fields),
                credentials=tuple(self.credentials),
                grade=self.grade,
                languages=tuple(self.languages),
                home=self.home,
                max_commute_km=self.max_commute_km,
                available_from=self.available_from,
                available_to=self.available_to,
                hours_per_week=self.hours_per_week,
            ),
            special_populations=tuple(self.special_populations),
        )


STUDENT_PATCH_EXAMPLES = {
    "new credential": {
        "summary": "Record a new credential",
        "value": {"credentials": ["osha-10-general", "cpr-first-aid"]},
    },
    "grade": {"summary": "Move up a grade", "value": {"grade": 12}},
}


class PlacementPublic(BaseModel):
    """Where the student stands in placement, and the opening it is about."""

    state: PlacementState = Field(
        description="`confirmed` (placed), `offered` (an offer awaits your decision), "
        "`declined` (you declined an offer; no other offer now) or `none` (no offer now: "
        "waiting for a round, or unmatched; the matcher's why-not tells which)"
    )
    match_id: str | None = Field(default=None, description="The match the state is about")
    opening_id: str | None = None
    opening_title: str | None = None
    employer_name: str | None = None
    town: str | None = Field(default=None, description="None when the opening is remote")
    remote: bool = False
    expires_at: datetime | None = Field(
        default=None, description="An offer's deadline for your decision"
    )
    decided_by: str | None = Field(default=None, description="Who confirmed or declined it")

    @classmethod
    def of(cls, row: RosterRow) -> PlacementPublic:
        match, opening = row.placement.match, row.opening
        if match is None:
            return cls(state=row.placement.state)
        terms = opening.terms if opening else None
        return cls(
            state=row.placement.state,
            match_id=match.id,
            opening_id=match.opening_id,
            opening_title=terms.title if terms else None,
            employer_name=row.employer_name or None,
            town=terms.location.town if terms and terms.location and not terms.remote else None,
            remote=bool(terms and terms.remote),
            expires_at=match.expires_at if row.placement.state == PlacementState.OFFERED else None,
            decided_by=match.decided_by,
        )


class StudentPublic(StudentCreate):
    """Returned only to coordinators of the student's school."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["active", "withdrawn"]
    version: int
    age_at_start: int = Field(description="Age on available_from")
    placement: PlacementPublic | None = Field(
        default=None,
        description="Where the student stands in placement (in `GET` answers: the list "
        "and one student)",
    )

    @classmethod
    def listed(cls, row: RosterRow) -> StudentPublic:
        return cls.of(row.student).model_copy(update={"placement": PlacementPublic.of(row)})

    @classmethod
    def of(cls, student: Student) -> StudentPublic:
        p, plan = student.person, student.plan
        return cls(
            id=student.id,
            status="withdrawn" if student.status == "withdrawn" else "active",
            version=student.version,
            age_at_start=age_on(p.date_of_birth, plan.available_from),
            school_id=student.school_id,
            first_name=p.first_name,
            last_name=p.last_name,
            email=p.email,
            date_of_birth=p.date_of_birth,
            grade=plan.grade,
            program=plan.program,
            career_fields=list(plan.career_fields),
            credentials=list(plan.credentials),
            languages=list(plan.languages),
            home=plan.home,
            max_commute_km=plan.max_commute_km,
            available_from=plan.available_from,
            available_to=plan.available_to,
            hours_per_week=plan.hours_per_week,
            special_populations=list(student.special_populations),
        )


class RowError(BaseModel):
    row: int = Field(
        description="CSV: the spreadsheet line the row starts on (the header is line 1); "
        "JSON: the record's position, from 1"
    )
    field: str = Field(description="CSV: the column (`home_lat`); JSON: the path (`home.lat`)")
    message: str
    student: str = Field(default="", description="The student as the row names them")


class RegisteredRow(BaseModel):
    row: int
    id: str


class ClassCounts(BaseModel):
    registered: int = Field(description="Rows stored now")
    already_registered: int = Field(description="Rows naming a student stored before")
    rows_with_errors: int = Field(description="Rows refused (each with one or more errors)")


class ClassRegistration(BaseModel):
    registered: list[RegisteredRow]
    errors: list[RowError] = Field(description="Every error of each refused row (up to 10)")
    already_registered: list[RegisteredRow] = Field(
        default=[],
        description="Rows naming a student already registered at that school with the same "
        "details (a list sent again): not errors, nothing changed",
    )
    notes: list[str] = Field(
        default=[], description="How the file was read: columns ignored, its encoding"
    )
    counts: ClassCounts | None = None


# -- matches ------------------------------------------------------------------------------


class Decision(StrictModel):
    model_config = ConfigDict(extra="forbid", **_examples({"note": "Spoke with the family"}))

    note: str = Field(default="", max_length=500, description="At most 500 characters")


class MatchPublic(BaseModel):
    """A match as the student's coordinator sees it."""

    match_id: str
    student_id: str
    school_id: str
    opening_id: str
    career_field: str | None
    status: MatchStatus
    explanation: list[str] = Field(
        description="3-5 plain lines: why this student fits, why this opening, what decided"
    )
    explanation_detail: list[str] = Field(
        default=[], description="The full detail behind the summary (empty for older matches)"
    )
    decided_by: str | None
    expires_at: datetime | None = Field(
        default=None, description="Confirm or decline by then; after it the seat is offered again."
    )
    undo_until: datetime | None = Field(
        default=None,
        description="A decision may be undone until then (POST /v1/matches/{id}/undo); only "
        "after it does it reach the employer. null: final (sent, or undo is off).",
    )

    @classmethod
    def of(cls, match: Match, now: datetime | None = None) -> MatchPublic:
        summary, detail = split_explanation(match.explanation)
        return cls(
            match_id=match.id,
            student_id=match.student_id,
            school_id=match.school_id,
            opening_id=match.opening_id,
            career_field=match.career_field,
            status=match.status,
            explanation=summary,
            explanation_detail=detail,
            decided_by=match.decided_by,
            expires_at=match.expires_at,
            undo_until=match.undo_until if undoable(match, now or datetime.now(UTC)) else None,
        )


class CandidateSummary(BaseModel):
    """What an employer sees of a candidate before a placement: nothing that identifies."""

    program: str
    credentials: list[str]
    grade: int
    career_fields: list[str]


class Contact(BaseModel):
    name: str
    email: str | None


class PlacedStudent(BaseModel):
    first_name: str
    last_name: str


class EmployerMatch(BaseModel):
    """A match as the employer sees it: anonymous until the placement is confirmed."""

    match_id: str
    opening_id: str
    status: MatchStatus
    candidate: CandidateSummary | None
    student: PlacedStudent | None = Field(default=None, description="Once confirmed only")
    coordinator: Contact | None = Field(default=None, description="Once confirmed only")

    @classmethod
    def of(cls, placement: Placement) -> EmployerMatch:
        match, student, coordinator = placement.match, placement.student, placement.coordinator
        confirmed = match.status == MatchStatus.CONFIRMED
        return cls(
            match_id=match.id,
            opening_id=match.opening_id,
            status=match.status,
            candidate=CandidateSummary(
                program=student.plan.program,
                credentials=list(student.plan.credentials),
                grade=student.plan.grade,
                career_fields=list(student.plan.career_fields),
            )
            if student
            else None,
            student=PlacedStudent(
                first_name=student.person.first_name, last_name=student.person.last_name
            )
            if confirmed and student
            else None,
            coordinator=Contact(name=coordinator.name, email=coordinator.channels.email)
            if confirmed and coordinator
            else None,
        )


# -- reports ------------------------------------------------------------------------------


class OutcomePublic(BaseModel):
    dimension: Literal["program", "career_field", "school", "special_population"]
    dimension_name: str = Field(examples=["Program"])
    group: str = Field(description="The group's code", examples=["chapter-74"])
    group_name: str = Field(
        description="The group's name (the code itself when the reference data has none)",
        examples=["Chapter 74 career/vocational technical program"],
    )
    students: int | None = Field(description="null when suppressed")
    placed: int | None = Field(description="With a confirmed placement; null when suppressed")
    pending: int | None = Field(
        description="With an offer awaiting a decision; null when suppressed"
    )
    not_placed: int | None = Field(
        description="Neither placed nor awaiting a decision; null when suppressed"
    )
    placement_rate: float | None = Field(
        description="placed / students, 0 to 1 (0 for an empty group); null when suppressed"
    )
    placement_percent: float | None = Field(
        description="The rate as a percentage, to one decimal; null when suppressed"
    )
    hours_verified: float | None = Field(
        description="Hours the supervisors verified over the group's placements; null when "
        "suppressed"
    )
    completed: int | None = Field(
        description="Placements completed (planned hours verified, final evaluation in); "
        "null when suppressed"
    )
    completion_rate: float | None = Field(
        description="completed / placed, 0 to 1; null when suppressed"
    )
    cte_concentrators: int | None = Field(
        description="Students in a CTE program (Chapter 74, Career Connections); null when "
        "suppressed"
    )
    wbl_participants: int | None = Field(
        description="CTE students with at least WBL_REGISTRY_WBL_HOURS_THRESHOLD verified "
        "hours; null when suppressed"
    )
    five_s3_rate: float | None = Field(
        description="Perkins V 5S3: wbl_participants / cte_concentrators, 0 to 1 (0 for a "
        "group with none); null when suppressed"
    )
    five_s3_percent: float | None = Field(
        description="5S3 as a percentage, to one decimal; null when suppressed"
    )
    suppressed: bool = Field(
        description="In the statewide report (or a coordinator's with `suppress=true`), a "
        "group of fewer than WBL_REGISTRY_REPORT_MIN_GROUP students, or the next smallest of "
        "its dimension withheld with it so that neither follows from the total: its figures "
        "are withheld. A group of 0 students is shown."
    )
    suppression: Suppression | None = Field(
        default=None, description="Why: `small-group` or `complement`; null when shown"
    )
    suppressed_reason: str | None = Field(
        default=None,
        description="Why, in words; null when shown",
        examples=["fewer than 10 students: not shown, so no one can be singled out"],
    )

    @classmethod
    def of(cls, row: OutcomeRow, report: OutcomesReport) -> OutcomePublic:
        shown = not row.suppressed
        return cls(
            dimension=row.dimension,
            dimension_name=DIMENSION_NAMES.get(row.dimension, row.dimension),
            group=row.group,
            group_name=report.name_of(row),
            students=row.students if shown else None,
            placed=row.placed if shown else None,
            pending=row.pending if shown else None,
            not_placed=row.not_placed if shown else None,
            placement_rate=row.placement_rate if shown else None,
            placement_percent=round(row.placement_rate * 100, 1) if shown else None,
            hours_verified=float(row.hours_verified) if shown else None,
            completed=row.completed if shown else None,
            completion_rate=row.completion_rate if shown else None,
            cte_concentrators=row.cte_concentrators if shown else None,
            wbl_participants=row.wbl_participants if shown else None,
            five_s3_rate=row.five_s3_rate if shown else None,
            five_s3_percent=round(row.five_s3_rate * 100, 1) if shown else None,
            suppressed=row.suppressed,
            suppression=row.suppression if row.suppressed else None,
            suppressed_reason=suppression_reason(row, report.min_group),
        )


class OutcomeDefinitions(BaseModel):
    """What the outcomes report's words mean, and how its period and suppression work."""

    definitions: dict[str, str] = Field(
        description="Each term of the report (students, placed, pending, not_placed, "
        "placement_rate, period, as_of, suppressed, completion, ...) in plain words"
    )
    min_group: int = Field(
        description="Groups of fewer students are withheld where suppression applies",
        examples=[10],
    )
    school_year_start_month: int = Field(
        description="A school year starts on the 1st of this month", examples=[7]
    )
    current_school_year: str = Field(examples=["2026-27"])
    current_period: dict[str, date] = Field(
        description="The current school year's first and last day (the default period)",
        examples=[{"from": "2026-07-01", "to": "2027-06-30"}],
    )


class Reference(BaseModel):
    code: str
    name: str


class ParkedChangePublic(BaseModel):
    """A change whose events the broker refused for good (e.g. larger than its limit): set
    aside so every other event keeps flowing. Fix the cause, then write the entity again."""

    entity: str = Field(examples=["openings/opn_9e8d7c6b5a493827"])
    version: int
    events: list[str] = Field(examples=[["OpeningUpdated"]])
    error: str
    parked_at: datetime

    @classmethod
    def of(cls, parked: ParkedChange) -> ParkedChangePublic:
        return cls(
            entity=parked.entity,
            version=parked.version,
            events=list(parked.events),
            error=parked.error,
            parked_at=parked.parked_at,
        )


class ClassListColumn(BaseModel):
    column: str = Field(description="The header, as a class list names it", examples=["grade"])
    required: bool = Field(description="Whether every row must have it")
    meaning: str = Field(examples=["Grade, 9 to 14 (13 and 14: community college years)"])
    example: str = Field(description="A sample cell", examples=["11"])
