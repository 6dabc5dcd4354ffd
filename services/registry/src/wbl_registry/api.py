"""Registry's HTTP entrypoint: parse, authorise, call one use case, shape the response."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from wbl_common.secrets import same_secret
from wbl_registry.domain import (
    Coordinator,
    DomainError,
    Employer,
    NotFound,
    Opening,
    OpeningTerms,
    PersonalDetails,
    Student,
    StudentPlan,
)
from wbl_registry.handlers import Conflict, Forbidden, Registry
from wbl_schemas.events import HiringPreferences, NotificationChannels, Place
from wbl_schemas.reference import ReferenceEntry

router = APIRouter(prefix="/v1")
bearer = HTTPBearer(
    auto_error=False, description="Admin token, employer API key or coordinator token"
)

# -- wiring ------------------------------------------------------------------------------


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

UNAUTHENTICATED = HTTPException(
    status.HTTP_401_UNAUTHORIZED,
    "missing or unknown bearer secret",
    headers={"WWW-Authenticate": "Bearer"},
)


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise UNAUTHENTICATED
    return credentials.credentials


def _wrong_role(role: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, f"this call is for {role}s")


async def require_admin(request: Request, credentials: Credentials) -> None:
    secret = _secret(credentials)
    expected: str = request.app.state.admin_token
    if same_secret(secret, expected):
        return
    registry = get_registry(request)
    if await registry.employer_for(secret) or await registry.coordinator_for(secret):
        raise _wrong_role("admin")
    raise UNAUTHENTICATED


async def current_employer(registry: RegistryDep, credentials: Credentials) -> Employer:
    secret = _secret(credentials)
    employer = await registry.employer_for(secret)
    if employer is not None:
        return employer
    if await registry.coordinator_for(secret):
        raise _wrong_role("employer")
    raise UNAUTHENTICATED


async def current_coordinator(registry: RegistryDep, credentials: Credentials) -> Coordinator:
    secret = _secret(credentials)
    coordinator = await registry.coordinator_for(secret)
    if coordinator is not None:
        return coordinator
    if await registry.employer_for(secret):
        raise _wrong_role("coordinator")
    raise UNAUTHENTICATED


Admin = Depends(require_admin)
CurrentEmployer = Annotated[Employer, Depends(current_employer)]
CurrentCoordinator = Annotated[Coordinator, Depends(current_coordinator)]


def domain_error(error: DomainError) -> HTTPException:
    if isinstance(error, NotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(error))
    if isinstance(error, Forbidden):
        return HTTPException(status.HTTP_403_FORBIDDEN, str(error))
    if isinstance(error, Conflict):
        return HTTPException(status.HTTP_409_CONFLICT, str(error))
    return RequestError(str(error), error.field)


class RequestError(HTTPException):
    """A domain rule broken by the request: 422 with the field it concerns."""

    def __init__(self, message: str, field_name: str | None) -> None:
        super().__init__(422, [{"field": field_name or "", "message": message}])


# -- models ------------------------------------------------------------------------------


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmployerCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Robotics"])


class EmployerCreated(BaseModel):
    id: str
    name: str
    api_key: str = Field(description="Shown once; store it safely.")


class CoordinatorCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200, examples=["Dana Rivera"])
    school_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, examples=[["sch_worcester_tech"]]
    )
    channels: NotificationChannels = NotificationChannels()


class CoordinatorCreated(BaseModel):
    id: str
    name: str
    school_ids: list[str]
    token: str = Field(description="Shown once; store it safely.")


class OpeningCreate(StrictModel):
    title: str = Field(min_length=1, max_length=200, examples=["Robotics technician intern"])
    career_field: str = Field(examples=["robotics-and-automation-technology"])
    seats: int = Field(ge=1, le=500)
    location: Place | None = None
    remote: bool = False
    starts_on: date
    ends_on: date
    hours_per_week: int = Field(ge=1, le=40)
    paid: bool
    hazardous: bool = False
    min_age: int = Field(default=16, ge=14, le=99)
    min_grade: int = Field(default=9, ge=9, le=14)
    required_credentials: list[str] = []
    hiring_preferences: HiringPreferences = HiringPreferences()

    def terms(self) -> OpeningTerms:
        return OpeningTerms(
            **self.model_dump(exclude={"required_credentials", "hiring_preferences", "location"}),
            location=self.location,
            required_credentials=tuple(self.required_credentials),
            hiring_preferences=self.hiring_preferences,
        )


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
            hiring_preferences=t.hiring_preferences,
        )


class StudentCreate(StrictModel):
    school_id: str = Field(min_length=1, max_length=64, examples=["sch_worcester_tech"])
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    date_of_birth: date
    grade: int = Field(ge=9, le=14)
    program: str = Field(examples=["stem-tech-academy"])
    career_fields: list[str] = Field(min_length=1, max_length=10)
    credentials: list[str] = []
    languages: list[Annotated[str, Field(min_length=2, max_length=35)]] = []
    home: Place
    max_commute_km: float = Field(ge=0, le=500)
    available_from: date
    available_to: date
    hours_per_week: int = Field(ge=1, le=40)

    def person(self) -> PersonalDetails:
        return PersonalDetails(
            first_name=self.first_name,
            last_name=self.last_name,
            email=str(self.email),
            date_of_birth=self.date_of_birth,
        )

    def plan(self) -> StudentPlan:
        return StudentPlan(
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
        )


class StudentPublic(StudentCreate):
    """Returned only to coordinators of the student's school."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: str
    version: int

    @classmethod
    def of(cls, student: Student) -> StudentPublic:
        p, plan = student.person, student.plan
        return cls(
            id=student.id,
            status=student.status,
            version=student.version,
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
        )


class Reference(BaseModel):
    code: str
    name: str


# -- routes ------------------------------------------------------------------------------


@router.post("/employers", status_code=201, dependencies=[Admin], tags=["admin"])
async def create_employer(body: EmployerCreate, registry: RegistryDep) -> EmployerCreated:
    employer, api_key = await registry.create_employer(body.name)
    return EmployerCreated(id=employer.id, name=employer.name, api_key=api_key)


@router.post("/coordinators", status_code=201, dependencies=[Admin], tags=["admin"])
async def create_coordinator(body: CoordinatorCreate, registry: RegistryDep) -> CoordinatorCreated:
    coordinator, token = await registry.create_coordinator(
        body.name, tuple(body.school_ids), body.channels
    )
    return CoordinatorCreated(
        id=coordinator.id,
        name=coordinator.name,
        school_ids=list(coordinator.school_ids),
        token=token,
    )


class CoordinatorMe(BaseModel):
    id: str
    name: str
    school_ids: list[str]
    channels: NotificationChannels


@router.get("/coordinators/me", tags=["coordinators"])
async def coordinator_me(coordinator: CurrentCoordinator) -> CoordinatorMe:
    """Who this token belongs to; other services use it to check coordinator tokens."""
    return CoordinatorMe(
        id=coordinator.id,
        name=coordinator.name,
        school_ids=list(coordinator.school_ids),
        channels=coordinator.channels,
    )


@router.post("/openings", status_code=201, tags=["openings"])
async def post_opening(
    body: OpeningCreate, employer: CurrentEmployer, registry: RegistryDep
) -> OpeningPublic:
    try:
        return OpeningPublic.of(await registry.post_opening(employer, body.terms()))
    except DomainError as error:
        raise domain_error(error) from error


@router.get("/openings", tags=["openings"])
async def list_openings(
    employer: CurrentEmployer,
    registry: RegistryDep,
    status_filter: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
    career_field: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[OpeningPublic]:
    found = await registry.openings_of(employer, status_filter, career_field, page, size)
    return [OpeningPublic.of(o) for o in found]


@router.get("/openings/{opening_id}", tags=["openings"])
async def get_opening(
    opening_id: str, employer: CurrentEmployer, registry: RegistryDep
) -> OpeningPublic:
    try:
        return OpeningPublic.of(await registry.opening_of(employer, opening_id))
    except DomainError as error:
        raise domain_error(error) from error


@router.patch("/openings/{opening_id}", tags=["openings"])
async def update_opening(
    opening_id: str, changes: dict[str, object], employer: CurrentEmployer, registry: RegistryDep
) -> OpeningPublic:
    try:
        current = OpeningPublic.of(await registry.opening_of(employer, opening_id))
        merged = OpeningCreate.model_validate(
            {**current.model_dump(include=set(OpeningCreate.model_fields)), **changes}
        )
        return OpeningPublic.of(await registry.revise_opening(employer, opening_id, merged.terms()))
    except DomainError as error:
        raise domain_error(error) from error


@router.delete("/openings/{opening_id}", status_code=204, tags=["openings"])
async def close_opening(
    opening_id: str, employer: CurrentEmployer, registry: RegistryDep
) -> Response:
    try:
        await registry.close_opening(employer, opening_id)
    except DomainError as error:
        raise domain_error(error) from error
    return Response(status_code=204)


@router.post("/students", status_code=201, tags=["students"])
async def register_student(
    body: StudentCreate, coordinator: CurrentCoordinator, registry: RegistryDep
) -> StudentPublic:
    try:
        student = await registry.register_student(
            coordinator, body.school_id, body.person(), body.plan()
        )
    except DomainError as error:
        raise domain_error(error) from error
    return StudentPublic.of(student)


@router.get("/students/{student_id}", tags=["students"])
async def get_student(
    student_id: str, coordinator: CurrentCoordinator, registry: RegistryDep
) -> StudentPublic:
    try:
        return StudentPublic.of(await registry.student_for(coordinator, student_id))
    except DomainError as error:
        raise domain_error(error) from error


def _reference(entries: tuple[ReferenceEntry, ...]) -> list[Reference]:
    return [Reference(code=e.code, name=e.name) for e in entries]


@router.get("/reference/career-fields", tags=["reference"])
async def career_fields(registry: RegistryDep) -> list[Reference]:
    return _reference(registry.reference.career_fields)


@router.get("/reference/programs", tags=["reference"])
async def programs(registry: RegistryDep) -> list[Reference]:
    return _reference(registry.reference.programs)


@router.get("/reference/credentials", tags=["reference"])
async def credentials(registry: RegistryDep) -> list[Reference]:
    return _reference(registry.reference.credentials)
