"""Registry use cases. Each receives its collaborators; none knows about HTTP or Kafka."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

import structlog

from wbl_common.outbox import WITHDRAWN
from wbl_common.secrets import hash_secret, new_secret, webhook_secret
from wbl_registry.channels import check_channels, webhook_url_problem
from wbl_registry.domain import (
    Conflict,
    Coordinator,
    Decision,
    DecisionKind,
    DomainError,
    Employer,
    Forbidden,
    Match,
    MatchStatus,
    NotFound,
    Opening,
    OpeningTerms,
    Outcome,
    PersonalDetails,
    PreconditionFailed,
    Student,
    StudentPlan,
    WorkBasedLearning,
    already_sent,
    check_opening_terms,
    check_special_populations,
    check_start,
    check_student_plan,
    check_undo,
    close_opening,
    enrol_student,
    new_attempt,
    new_id,
    open_opening,
    outcomes,
    reissue_token,
    remove_coordinator,
    revise_coordinator,
    revise_opening,
    revise_student,
    revoke_key,
    rotate_employer_webhook_secret,
    rotate_key,
    rotate_webhook_secret,
    same_student,
    set_employer_webhook,
    student_plan_problems,
    suppress_small_groups,
    undo_deadline,
    unknown_schools,
    withdraw_student,
)
from wbl_registry.report import (
    OutcomesReport,
    ReportPeriod,
    choose_period,
    every_group,
    group_names,
    school_year_of,
)
from wbl_registry.roster import (
    PlacementState,
    StudentPlacement,
    by_name,
    matches_query,
    placements_by_student,
)
from wbl_registry.store import RegistryStore, SeatTaken
from wbl_schemas.events import (
    AnyEvent,
    CoordinatorRef,
    CoordinatorRegistered,
    CoordinatorRemoved,
    CoordinatorUpdated,
    EmployerRegistered,
    EmployerUpdated,
    MatchProposal,
    MatchProposed,
    MatchWithdrawal,
    MatchWithdrawn,
    NotificationChannels,
    OpeningClosed,
    OpeningPublished,
    OpeningRef,
    OpeningUpdated,
    PlacementConfirmed,
    PlacementDecision,
    PlacementDeclined,
    StudentRef,
    StudentRegistered,
    StudentUpdated,
    StudentWithdrawn,
)
from wbl_schemas.reference import ReferenceData

__all__ = ["Conflict", "Forbidden", "Registry", "StudentApplication"]

PRODUCER = "registry"
EVENT_NAMESPACE = UUID("6f1d2c1e-0b8a-4f5e-9a51-3c2f7d9e8b40")
BULK_BATCH = 500

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StudentApplication:
    """One student as a coordinator states it (a request body or a row of a class list)."""

    school_id: str
    person: PersonalDetails
    plan: StudentPlan
    special_populations: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    message: str
    student: str = ""  # as the row names them: how a coordinator finds the row


@dataclass(frozen=True)
class ClassRegistered:
    """What one part of a class list came to: stored now, stored before (the same student,
    same details: a re-upload), and refused."""

    registered: list[tuple[int, Student]]
    already_registered: list[tuple[int, Student]]
    problems: list[RowProblem]


@dataclass(frozen=True)
class Placement:
    """A match an employer sees: the candidate's name and the coordinator's contact only
    once the placement is confirmed."""

    match: Match
    student: Student | None
    coordinator: Coordinator | None


@dataclass(frozen=True)
class RosterRow:
    """A student with where they stand in placement and, for an offer, a placement or a
    declined offer, which opening at which employer."""

    student: Student
    placement: StudentPlacement
    opening: Opening | None = None
    employer_name: str = ""


@dataclass(frozen=True)
class RosterQuery:
    status: str | None = None  # active, withdrawn; None: both
    placement: PlacementState | None = None
    search: str = ""  # a name, part of one, or the start of a student reference
    order: str = "id"  # "id" or "name" (last name, first name)

    @property
    def plain(self) -> bool:
        """Answerable by the database's paging alone."""
        return self.placement is None and not self.search.strip() and self.order == "id"


@dataclass
class Registry:
    """The registry's use cases over its store; `written` wakes the outbox relay."""

    store: RegistryStore
    reference: ReferenceData
    written: Callable[[], None] = lambda: None
    webhook_key: str = ""
    report_min_group: int = 10
    wbl_hours_threshold: int = 54  # Perkins 5S3's verified hours (WBL_REGISTRY_WBL_HOURS_...)
    school_year_start_month: int = 7  # the outcomes report's school years
    webhook_loopback: bool = False  # development and tests: http:// webhooks to this machine
    webhook_grace: timedelta = timedelta(hours=24)  # the old secret still signs after rotating
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Refuse school ids the reference data does not list (WBL_REGISTRY_SCHOOLS_LISTED_ONLY).
    schools_listed_only: bool = True
    # How long a decision may be undone, its event held meanwhile (WBL_REGISTRY_UNDO_S).
    undo_window: timedelta = timedelta(0)

    def _stored(self, stored: bool, what: str, if_match: int | None = None) -> None:
        """A versioned write either landed (wake the relay) or lost to a concurrent one:
        412 when the caller named the version it read (If-Match), else 409."""
        if not stored:
            if if_match is not None:
                raise PreconditionFailed(f"the {what} changed since version {if_match}")
            raise Conflict(f"the {what} changed meanwhile; read it again and retry")
        self.written()

    # -- identities ----------------------------------------------------------------------

    async def create_employer(self, name: str) -> tuple[Employer, str]:
        api_key = new_secret("emp")
        employer = Employer(id=new_id("emp"), name=name, key_hash=hash_secret(api_key))
        event = EmployerRegistered(producer=PRODUCER, payload=employer.profile())
        await self.store.add_employer(employer, [event])
        self.written()
        log.info("employer created", employer_id=employer.id)
        return employer, api_key

    async def _employer(self, employer_id: str) -> Employer:
        employer = await self.store.employer(employer_id)
        if employer is None:
            raise NotFound(f"no employer {employer_id!r}")
        return employer

    async def _replace_employer(self, employer: Employer) -> None:
        """Store the revised employer with its EmployerUpdated (the notifier follows it)."""
        event = EmployerUpdated(producer=PRODUCER, payload=employer.profile())
        self._stored(await self.store.replace_employer(employer, [event]), "employer")

    async def rotate_employer_key(self, employer_id: str) -> tuple[Employer, str]:
        api_key = new_secret("emp")
        rotated = rotate_key(await self._employer(employer_id), hash_secret(api_key))
        await self._replace_employer(rotated)
        log.info("employer key rotated", employer_id=employer_id)
        return rotated, api_key

    async def revoke_employer_key(self, employer_id: str) -> Employer:
        revoked = revoke_key(await self._employer(employer_id))
        await self._replace_employer(revoked)
        log.info("employer key revoked", employer_id=employer_id)
        return revoked

    def employer_webhook_secret(self, employer: Employer) -> str | None:
        """The key an employer's webhook receiver verifies with: derived like a
        coordinator's (from WBL_WEBHOOK_KEY and the employer's id), never stored."""
        if employer.webhook_url is None:
            return None
        return webhook_secret(self.webhook_key, employer.id, employer.webhook_secret_generation)

    async def set_employer_webhook(
        self, employer: Employer, webhook_url: str | None
    ) -> tuple[Employer, str | None]:
        """The revised employer, and the webhook secret when a webhook is first set (shown
        once; `rotate_employer_webhook_secret` issues the next)."""
        if webhook_url is not None:
            problem = webhook_url_problem(webhook_url, self.webhook_loopback)
            if problem:
                raise DomainError(problem, "webhook_url")
            if not self.webhook_key:
                raise Conflict("webhooks are not configured on this registry", "webhook_url")
        current = await self._employer(employer.id)
        revised = set_employer_webhook(current, webhook_url)
        await self._replace_employer(revised)
        log.info("employer webhook set", employer_id=employer.id, webhook=webhook_url is not None)
        first = current.webhook_url is None
        return revised, self.employer_webhook_secret(revised) if first else None

    async def rotate_employer_webhook_secret(self, employer: Employer) -> tuple[Employer, str]:
        """The next generation's secret, shown once; the previous one also signs for the
        grace period (WBL_REGISTRY_WEBHOOK_GRACE_S)."""
        current = await self._employer(employer.id)
        rotated = rotate_employer_webhook_secret(current, self.clock() + self.webhook_grace)
        await self._replace_employer(rotated)
        log.info(
            "employer webhook secret rotated",
            employer_id=employer.id,
            generation=rotated.webhook_secret_generation,
        )
        return rotated, webhook_secret(
            self.webhook_key, rotated.id, rotated.webhook_secret_generation
        )

    async def create_coordinator(
        self, name: str, school_ids: tuple[str, ...], channels: NotificationChannels
    ) -> tuple[Coordinator, str]:
        self._check_schools(school_ids, "school_ids")
        self._check_channels(channels)
        token = new_secret("coo")
        coordinator = Coordinator(
            id=new_id("coo"),
            name=name,
            school_ids=tuple(dict.fromkeys(school_ids)),
            channels=channels,
            token_hash=hash_secret(token),
        )
        event = CoordinatorRegistered(producer=PRODUCER, payload=coordinator.profile())
        await self.store.add_coordinator(coordinator, event)
        self.written()
        log.info("coordinator created", coordinator_id=coordinator.id)
        return coordinator, token

    def webhook_secret(self, coordinator: Coordinator) -> str | None:
        """The key a coordinator's webhook receiver verifies signatures with. Derived, never
        stored: notifier derives the same one (of the generation the coordinator's events
        name) from the same WBL_WEBHOOK_KEY to sign."""
        if coordinator.channels.webhook_url is None:
            return None
        return webhook_secret(
            self.webhook_key, coordinator.id, coordinator.webhook_secret_generation
        )

    async def rotate_webhook_secret(self, coordinator_id: str) -> tuple[Coordinator, str]:
        """The next generation's secret, shown once. Webhooks carry both signatures for
        the grace period, then only the new one. The event names generations, never secrets."""
        current = await self._active_coordinator(coordinator_id)
        rotated = rotate_webhook_secret(current, self.clock() + self.webhook_grace)
        event = CoordinatorUpdated(producer=PRODUCER, payload=rotated.profile())
        self._stored(await self.store.replace_coordinator(rotated, event), "coordinator")
        log.info(
            "webhook secret rotated",
            coordinator_id=coordinator_id,
            generation=rotated.webhook_secret_generation,
        )
        return rotated, webhook_secret(
            self.webhook_key, rotated.id, rotated.webhook_secret_generation
        )

    def _check_channels(self, channels: NotificationChannels) -> None:
        check_channels(channels, self.webhook_loopback)
        if channels.webhook_url is not None and not self.webhook_key:
            raise Conflict("webhooks are not configured on this registry", "channels.webhook_url")

    def _check_schools(self, school_ids: Sequence[str], field_name: str) -> None:
        problem = self._school_problem(school_ids, field_name)
        if problem:
            raise problem

    def _school_problem(self, school_ids: Sequence[str], field_name: str) -> DomainError | None:
        unknown = unknown_schools(school_ids, self.reference) if self.schools_listed_only else []
        if not unknown:
            return None
        return DomainError(
            f"unknown school id(s) {', '.join(map(repr, unknown))}: the schools are listed at "
            "GET /v1/reference/schools; ops add a school to the reference data "
            "(schools.json under WBL_REFERENCE_DIR)",
            field_name,
        )

    async def update_coordinator(
        self,
        coordinator_id: str,
        name: str | None,
        school_ids: tuple[str, ...] | None,
        channels: NotificationChannels | None,
        based_on: int | None = None,
        if_match: int | None = None,
    ) -> tuple[Coordinator, str | None]:
        """The revised coordinator, and the webhook secret when a webhook is first set.
        `based_on`: the version the changes were merged onto (409 if it moved meanwhile);
        `if_match`: the version the client read (412 if it moved)."""
        current = await self._active_coordinator(coordinator_id)
        _same_version(current.version, "coordinator", based_on, if_match)
        if school_ids is not None:
            self._check_schools(school_ids, "school_ids")
        if channels is not None:
            self._check_channels(channels)
        revised = revise_coordinator(current, name, school_ids, channels)
        event = CoordinatorUpdated(producer=PRODUCER, payload=revised.profile())
        self._stored(await self.store.replace_coordinator(revised, event), "coordinator", if_match)
        log.info("coordinator updated", coordinator_id=coordinator_id)
        first_webhook = current.channels.webhook_url is None
        return revised, self.webhook_secret(revised) if first_webhook else None

    async def reissue_coordinator_token(self, coordinator_id: str) -> tuple[Coordinator, str]:
        """A new token, shown once; the old one stops opening registry at once (and
        notifier once its short token cache expires)."""
        current = await self._active_coordinator(coordinator_id)
        token = new_secret("coo")
        revised = reissue_token(current, hash_secret(token))
        # The profile is unchanged; the event carries the new version so every view
        # keeps following the coordinator's versions in order.
        event = CoordinatorUpdated(producer=PRODUCER, payload=revised.profile())
        self._stored(await self.store.replace_coordinator(revised, event), "coordinator")
        log.info("coordinator token reissued", coordinator_id=coordinator_id)
        return revised, token

    async def remove_coordinator(self, coordinator_id: str) -> Coordinator:
        current = await self._active_coordinator(coordinator_id)
        removed = remove_coordinator(current)
        ref = CoordinatorRef(coordinator_id=removed.id, version=removed.version)
        self._stored(
            await self.store.replace_coordinator(
                removed, CoordinatorRemoved(producer=PRODUCER, payload=ref)
            ),
            "coordinator",
        )
        log.info("coordinator removed", coordinator_id=coordinator_id)
        return removed

    async def _active_coordinator(self, coordinator_id: str) -> Coordinator:
        coordinator = await self.store.coordinator(coordinator_id)
        if coordinator is None or coordinator.status != "active":
            raise NotFound(f"no coordinator {coordinator_id!r}")
        return coordinator

    async def employer_for(self, api_key: str) -> Employer | None:
        employer = await self.store.employer_by_key_hash(hash_secret(api_key))
        return employer if employer is not None and employer.status == "active" else None

    async def coordinator_for(self, token: str) -> Coordinator | None:
        coordinator = await self.store.coordinator_by_token_hash(hash_secret(token))
        return coordinator if coordinator is not None and coordinator.status == "active" else None

    # -- openings ------------------------------------------------------------------------

    async def post_opening(self, employer: Employer, terms: OpeningTerms) -> Opening:
        check_start(terms, self.clock().date())
        opening = open_opening(employer.id, check_opening_terms(terms, self.reference))
        event = OpeningPublished(producer=PRODUCER, payload=opening.snapshot(employer.name))
        await self.store.add_opening(opening, event)
        self.written()
        return opening

    async def opening_of(self, employer: Employer, opening_id: str) -> Opening:
        opening = await self.store.opening(opening_id)
        if opening is None or opening.employer_id != employer.id:
            raise NotFound(f"no opening {opening_id!r} among yours")
        return opening

    async def openings_of(
        self, employer: Employer, status: str | None, career_field: str | None, page: int, size: int
    ) -> list[Opening]:
        return await self.store.openings_of(
            employer.id, status, career_field, (page - 1) * size, size
        )

    async def count_openings_of(
        self, employer: Employer, status: str | None, career_field: str | None
    ) -> int:
        return await self.store.count_openings_of(employer.id, status, career_field)

    async def revise_opening(
        self,
        employer: Employer,
        opening_id: str,
        terms: OpeningTerms,
        based_on: int | None = None,
        if_match: int | None = None,
    ) -> Opening:
        """Change the terms, as computed from version `based_on` (the caller's read) or
        `if_match` (the version the client read): never over a version it did not see."""
        current = await self.opening_of(employer, opening_id)
        _same_version(current.version, "opening", based_on, if_match)
        check_start(terms, self.clock().date(), current.terms.starts_on)
        revised = revise_opening(current, check_opening_terms(terms, self.reference))
        event = OpeningUpdated(producer=PRODUCER, payload=revised.snapshot(employer.name))
        self._stored(await self.store.replace_opening(revised, event), "opening", if_match)
        return revised

    async def close_opening(self, employer: Employer, opening_id: str) -> Opening:
        current = await self.opening_of(employer, opening_id)
        if current.status == "closed":
            return current
        closed = close_opening(current)
        ref = OpeningRef(
            opening_id=closed.id, employer_id=closed.employer_id, version=closed.version
        )
        self._stored(
            await self.store.replace_opening(closed, OpeningClosed(producer=PRODUCER, payload=ref)),
            "opening",
        )
        return closed

    # -- students ------------------------------------------------------------------------

    def _admit(self, coordinator: Coordinator, application: StudentApplication) -> Student:
        """Check one application against scope and rules; the student it would become."""
        self._check_schools([application.school_id], "school_id")
        if not coordinator.serves(application.school_id):
            raise Forbidden(f"you do not coordinate school {application.school_id!r}", "school_id")
        check_student_plan(application.plan, application.person.date_of_birth, self.reference)
        populations = check_special_populations(application.special_populations)
        return enrol_student(
            application.school_id, application.person, application.plan, populations
        )

    async def register_student(
        self,
        coordinator: Coordinator,
        school_id: str,
        person: PersonalDetails,
        plan: StudentPlan,
        special_populations: tuple[str, ...] = (),
    ) -> Student:
        application = StudentApplication(school_id, person, plan, special_populations)
        student = self._admit(coordinator, application)
        event = StudentRegistered(producer=PRODUCER, payload=student.match_profile())
        await self.store.add_student(student, event)
        self.written()
        log.info("student registered", student_id=student.id, school_id=student.school_id)
        return student

    def _problems(
        self, coordinator: Coordinator, application: StudentApplication
    ) -> list[DomainError]:
        """Every rule one application breaks (scope, codes, dates), not just the first."""
        problems: list[DomainError] = []
        unknown = self._school_problem([application.school_id], "school_id")
        if unknown:
            problems.append(unknown)
        elif not coordinator.serves(application.school_id):
            problems.append(
                Forbidden(f"you do not coordinate school {application.school_id!r}", "school_id")
            )
        problems.extend(
            student_plan_problems(
                application.plan, application.person.date_of_birth, self.reference
            )
        )
        try:
            check_special_populations(application.special_populations)
        except DomainError as error:
            problems.append(error)
        return problems

    async def register_class(
        self, coordinator: Coordinator, rows: Sequence[tuple[int, StudentApplication]]
    ) -> ClassRegistered:
        """Register many students: each good row becomes one student with its event in one
        single-document insert; each bad row is reported (every problem) and nothing of it
        stored; a row naming a student already registered with the same details is reported
        as such, so that sending a list again (or a corrected one) is safe."""
        admitted: list[tuple[int, Student]] = []
        problems: list[RowProblem] = []
        for row, application in rows:
            found = self._problems(coordinator, application)
            name = f"{application.person.first_name} {application.person.last_name}"
            problems.extend(RowProblem(row, e.field or "", str(e), name) for e in found)
            if not found:
                admitted.append((row, self._admit(coordinator, application)))
        outcome = ClassRegistered([], [], problems)
        for start in range(0, len(admitted), BULK_BATCH):
            await self._store_batch(admitted[start : start + BULK_BATCH], outcome)
        # Wake the relay once, after the inserts: FerretDB on SQLite copes badly with the
        # relay's updates racing large inserts into the same collection.
        self.written()
        log.info(
            "class registered",
            stored=len(outcome.registered),
            already=len(outcome.already_registered),
            refused=len(problems),
        )
        problems.sort(key=lambda p: p.row)
        return outcome

    async def _store_batch(
        self, batch: list[tuple[int, Student]], outcome: ClassRegistered
    ) -> None:
        failed = await self.store.add_students(
            [(s, StudentRegistered(producer=PRODUCER, payload=s.match_profile())) for _, s in batch]
        )
        for index, (row, student) in enumerate(batch):
            if index not in failed:
                outcome.registered.append((row, student))
                continue
            holder = await self.store.student_by_email(student.school_id, student.person.email)
            if holder is not None and same_student(holder, student):
                outcome.already_registered.append((row, holder))
                continue
            message = failed[index]
            if holder is not None:
                message = (
                    f"{message} ({holder.id}) with other details; change them with "
                    f"PATCH /v1/students/{holder.id}"
                )
            name = f"{student.person.first_name} {student.person.last_name}"
            outcome.problems.append(RowProblem(row, "email", message, name))

    async def student_for(self, coordinator: Coordinator, student_id: str) -> Student:
        student = await self.store.student(student_id)
        if student is None or not coordinator.serves(student.school_id):
            raise NotFound(f"no student {student_id!r} at your schools")
        return student

    async def students_of(
        self, coordinator: Coordinator, status: str | None, page: int, size: int
    ) -> list[Student]:
        return await self.store.students_of(coordinator.school_ids, status, (page - 1) * size, size)

    async def count_students_of(self, coordinator: Coordinator, status: str | None) -> int:
        return await self.store.count_students_of(coordinator.school_ids, status)

    async def roster(
        self, coordinator: Coordinator, query: RosterQuery, page: int, size: int
    ) -> tuple[list[RosterRow], int]:
        """A page of the coordinator's students with where each stands, and how many match
        the query. A search, a placement filter or ordering by name reads the schools' names
        (and, to filter, their matches), then only the page's students in full."""
        schools, skip = coordinator.school_ids, (page - 1) * size
        if query.plain:
            students = await self.store.students_of(schools, query.status, skip, size)
            total = await self.store.count_students_of(schools, query.status)
            return await self.roster_rows(students), total
        entries = [
            e
            for e in await self.store.roster_entries(schools, query.status)
            if matches_query(e, query.search)
        ]
        if query.order == "name":
            entries = by_name(entries)
        if query.placement is not None:
            every = await self.store.matches_of_schools(schools, None, 0, 0)
            states = placements_by_student([e.student_id for e in entries], every, self.clock())
            entries = [e for e in entries if states[e.student_id].state == query.placement]
        students = await self.store.students_by_id([e.student_id for e in entries][skip:][:size])
        return await self.roster_rows(students), len(entries)

    async def roster_rows(self, students: Sequence[Student]) -> list[RosterRow]:
        """Each student's placement, and the opening and employer it is about."""
        matches = await self.store.matches_of_students([s.id for s in students])
        placements = placements_by_student([s.id for s in students], matches, self.clock())
        wanted = {p.match.opening_id for p in placements.values() if p.match is not None}
        openings = {o.id: o for o in [await self.store.opening(i) for i in sorted(wanted)] if o}
        employers = {
            e.id: e.name
            for e in [
                await self.store.employer(i)
                for i in sorted({o.employer_id for o in openings.values()})
            ]
            if e
        }
        rows = []
        for s in students:
            placement = placements[s.id]
            opening = openings.get(placement.match.opening_id) if placement.match else None
            employer = employers.get(opening.employer_id, "") if opening else ""
            rows.append(RosterRow(s, placement, opening, employer))
        return rows

    async def update_student(
        self,
        coordinator: Coordinator,
        student_id: str,
        application: StudentApplication,
        based_on: int | None = None,
        if_match: int | None = None,
    ) -> Student:
        current = await self.student_for(coordinator, student_id)
        _same_version(current.version, "student", based_on, if_match)
        if application.school_id != current.school_id:
            raise DomainError(
                "a student's school cannot change; withdraw and register at the new school",
                "school_id",
            )
        check_student_plan(application.plan, application.person.date_of_birth, self.reference)
        populations = check_special_populations(application.special_populations)
        revised = revise_student(current, application.person, application.plan, populations)
        event = StudentUpdated(producer=PRODUCER, payload=revised.match_profile())
        self._stored(await self.store.replace_student(revised, event), "student", if_match)
        log.info("student updated", student_id=student_id)
        return revised

    async def withdraw_student(self, coordinator: Coordinator, student_id: str) -> Student:
        current = await self.student_for(coordinator, student_id)
        if current.status == "withdrawn":
            return current
        withdrawn = withdraw_student(current)
        ref = StudentRef(
            student_id=withdrawn.id, school_id=withdrawn.school_id, version=withdrawn.version
        )
        self._stored(
            await self.store.replace_student(
                withdrawn, StudentWithdrawn(producer=PRODUCER, payload=ref)
            ),
            "student",
        )
        log.info("student withdrawn", student_id=student_id)
        return withdrawn

    # -- matches and placements ----------------------------------------------------------

    async def on_match_event(self, event: AnyEvent) -> None:
        await self.on_match_events([event])

    async def on_match_events(self, events: Sequence[AnyEvent]) -> None:
        """Follow wbl.matches: keep each proposal and each withdrawal, once, whatever else
        is true of the match (a withdrawal during a decision is kept; the status derives).
        A batch is one write per collection."""
        proposals = [e.payload for e in events if isinstance(e, MatchProposed)]
        withdrawals = [e.payload for e in events if isinstance(e, MatchWithdrawn)]
        await self.store.save_proposals([_proposed(p) for p in proposals])
        if withdrawals:
            known = await self.store.known_matches([w.match_id for w in withdrawals])
            # Withdrawn before seen proposed: the match is kept, withdrawn.
            unseen = [await self._unseen(w) for w in withdrawals if w.match_id not in known]
            await self.store.save_proposals(unseen)
            await self.store.record_withdrawals([(w.match_id, w.reason) for w in withdrawals])

    async def _unseen(self, w: MatchWithdrawal) -> Match:
        opening = await self.store.opening(w.opening_id)
        return Match(
            id=w.match_id,
            round_id=w.round_id,
            student_id=w.student_id,
            school_id=w.school_id,
            opening_id=w.opening_id,
            employer_id=opening.employer_id if opening else None,
            career_field=opening.terms.career_field if opening else None,
            status=MatchStatus.PROPOSED,
        )

    async def match_for(self, coordinator: Coordinator, match_id: str) -> Match:
        match = await self.store.match(match_id)
        if match is None or not coordinator.serves(match.school_id):
            raise NotFound(f"no match {match_id!r} at your schools")
        return match

    async def confirm_match(self, coordinator: Coordinator, match_id: str, note: str = "") -> Match:
        """Claim the decision, then the student's one placement, then a seat, each a unique
        insert, so of concurrent deciders one wins and a student is placed once; then record
        the outcome with its PlacementConfirmed. Every step is safe to repeat, so a retry or
        the sweep finishes what a crash interrupted. What cannot be carried out (the student
        is placed elsewhere, no seat is left) gives its claims back."""
        match = await self.match_for(coordinator, match_id)
        _still_open(match, self.clock())
        student = await self.store.student(match.student_id)
        if student is None or student.status != "active":
            raise Conflict("the student has been withdrawn")
        claim = await self._claim(
            Decision(match.id, DecisionKind.CONFIRM, coordinator.id, note, new_attempt())
        )
        return await self._carry_out_confirmation(match, claim)

    async def _claim(self, decision: Decision) -> Decision:
        stood = await self.store.claim_decision(decision)
        theirs = stood.attempt != decision.attempt
        if theirs and await self.store.decision_fate(stood.match_id, stood.attempt) == WITHDRAWN:
            raise Conflict(
                "the last decision on this match was just undone and is still being "
                "cleared; try again in a minute"
            )
        if stood.kind != decision.kind:
            raise Conflict(f"the match was decided meanwhile ({stood.kind.value})")
        return stood  # ours, or the same kind claimed by an interrupted or concurrent call

    async def _carry_out_confirmation(self, match: Match, claim: Decision) -> Match:
        await self._not_undone(claim)
        holder = await self.store.claim_placement(match.student_id, match.id, match.opening_id)
        if holder != match.id:
            await self.store.release_decision(claim)
            raise Conflict("the student is already placed at another opening")
        seat = await self.store.take_seat(match.opening_id, match.id)
        if seat is SeatTaken.NONE:
            await self.store.release_placement(match.student_id, match.id)
            await self.store.release_decision(claim)
            raise Conflict("no seat is left on this opening, or it is closed", "seats_remaining")
        confirmed = await self._record(match, claim)
        log.info("placement confirmed", match_id=match.id, seat=seat.value)
        return confirmed

    async def _record(self, match: Match, claim: Decision) -> Match:
        """Write the outcome with its event, whose id is derived from the match so a repeated
        write can only repeat the same event (consumers skip it)."""
        await self._not_undone(claim)
        confirmed = claim.kind == DecisionKind.CONFIRM
        status = MatchStatus.CONFIRMED if confirmed else MatchStatus.DECLINED
        decided = replace(match, status=status, decided_by=claim.by, note=claim.note)
        kind = PlacementConfirmed if confirmed else PlacementDeclined
        event = kind(
            event_id=uuid5(EVENT_NAMESPACE, _event_name(match.id, status, claim.attempt)),
            producer=PRODUCER,
            payload=self._decision(decided),
        )
        until = undo_deadline(self.clock(), self.undo_window, match.expires_at)
        outcome = Outcome(match.id, status, claim.by, claim.note, claim.attempt, until)
        await self.store.record_outcome(outcome, event)
        self.written()
        stored = await self.store.match(match.id)
        return stored or decided

    async def _not_undone(self, claim: Decision) -> None:
        """A call finishing a claim (its own, a concurrent one's or an interrupted one's)
        stops once the claim is undone: what it would take, the undo gives back."""
        if claim.attempt and (
            await self.store.decision_fate(claim.match_id, claim.attempt) == WITHDRAWN
        ):
            raise Conflict("the decision was undone meanwhile; the match awaits a decision")

    async def resume_decisions(self, older_than: timedelta = timedelta(seconds=30)) -> int:
        """Finish decisions a crash interrupted (at start-up, then now and again)."""
        resumed = 0
        for match_id, attempt in await self.store.withdrawn_decisions(older_than):
            await self.store.revert_decision(match_id, attempt)  # an undo a crash cut short
            resumed += 1
        for claim in await self.store.pending_decisions(older_than):
            match = await self.store.match(claim.match_id)
            if match is None:
                continue
            if await self.store.decision_fate(claim.match_id, claim.attempt) == WITHDRAWN:
                continue  # undone: reverted above, never carried out again
            try:
                if claim.kind == DecisionKind.CONFIRM:
                    await self._carry_out_confirmation(match, claim)
                else:
                    await self._record(match, claim)
                resumed += 1
            except Conflict as refused:
                log.info(
                    "interrupted decision not carried out", match_id=match.id, why=str(refused)
                )
        return resumed

    async def decline_match(self, coordinator: Coordinator, match_id: str, note: str = "") -> Match:
        match = await self.match_for(coordinator, match_id)
        _still_open(match, self.clock())
        claim = await self._claim(
            Decision(match.id, DecisionKind.DECLINE, coordinator.id, note, new_attempt())
        )
        declined = await self._record(match, claim)
        log.info("placement declined", match_id=match_id)
        return declined

    async def undo_decision(self, coordinator: Coordinator, match_id: str) -> Match:
        """Take back a decision while its event is still held: any coordinator of the
        student's school may (they could have decided it). Withdrawing the held event is
        one insert that either wins, and then nobody ever sees the decision, or loses to the
        relay that sent it. Then the seat, the placement and the claim are given back, and
        the match awaits a decision again, with its offer's original deadline."""
        match = await self.match_for(coordinator, match_id)
        employer = await self.store.employer(match.employer_id) if match.employer_id else None
        name = employer.name if employer else ""
        check_undo(match, self.clock(), name)
        if not await self.store.withdraw_decision(match.id, match.attempt):
            raise Conflict(already_sent(match, name))
        await self.store.revert_decision(match.id, match.attempt)
        log.info("decision undone", match_id=match_id, was=match.status.value)
        undone = await self.store.match(match.id)
        assert undone is not None
        return undone

    @staticmethod
    def _decision(match: Match) -> PlacementDecision:
        assert match.decided_by is not None
        return PlacementDecision(
            match_id=match.id,
            student_id=match.student_id,
            school_id=match.school_id,
            opening_id=match.opening_id,
            coordinator_id=match.decided_by,
        )

    async def matches_for_coordinator(
        self, coordinator: Coordinator, status: str | None, page: int, size: int
    ) -> list[Match]:
        return await self.store.matches_of_schools(
            coordinator.school_ids, status, (page - 1) * size, size
        )

    async def count_matches_for(self, caller: Employer | Coordinator, status: str | None) -> int:
        if isinstance(caller, Employer):
            return await self.store.count_matches_of_employer(caller.id, status)
        return await self.store.count_matches_of_schools(caller.school_ids, status)

    async def matches_for_employer(
        self, employer: Employer, status: str | None, page: int, size: int
    ) -> list[Placement]:
        """The employer's matches with what it may see of each candidate."""
        matches = await self.store.matches_of_employer(employer.id, status, (page - 1) * size, size)
        students = {
            s.id: s for s in await self.store.students_by_id([m.student_id for m in matches])
        }
        deciders = [
            m.decided_by for m in matches if m.status == MatchStatus.CONFIRMED and m.decided_by
        ]
        coordinators = {c.id: c for c in await self.store.coordinators_by_id(deciders)}
        return [
            Placement(
                match=m,
                student=students.get(m.student_id),
                coordinator=coordinators.get(m.decided_by or "")
                if m.status == MatchStatus.CONFIRMED
                else None,
            )
            for m in matches
        ]

    # -- reports ---------------------------------------------------------------------------

    async def outcomes(
        self,
        school_ids: tuple[str, ...] | None,
        period: ReportPeriod | None = None,
        suppress: bool | None = None,
        learning: Mapping[str, WorkBasedLearning] | None = None,
    ) -> OutcomesReport:
        """Placement rates over every school (admin) or the given ones (a coordinator), of
        the students in the period (by default the current school year). The statewide
        report always suppresses small groups; a coordinator, who holds these students'
        records already, sees their own schools' exact figures unless they ask for the
        version for sharing (`suppress`)."""
        as_of = self.clock()
        if school_ids is None and suppress is False:
            raise Forbidden("the statewide report always withholds small groups")
        withhold = school_ids is None or bool(suppress)
        period = period or school_year_of(as_of.date(), self.school_year_start_month)
        facts = [
            f
            for f in await self.store.outcome_facts(school_ids)
            if period.holds(f.available_from, f.available_to)
        ]
        placed = await self.store.placed_students(school_ids)
        waiting = await self.store.offered_students(school_ids, as_of)
        groups = every_group(self.reference, school_ids)
        threshold = Decimal(self.wbl_hours_threshold)
        rows = outcomes(facts, placed, waiting, groups, learning, threshold)
        if withhold:
            rows = suppress_small_groups(rows, self.report_min_group)
        return OutcomesReport(
            rows=rows,
            period=period,
            as_of=as_of,
            names=group_names(self.reference),
            min_group=self.report_min_group if withhold else None,
            wbl_hours_threshold=self.wbl_hours_threshold,
        )

    def outcomes_period(
        self, start: date | None, end: date | None, school_year: str | None
    ) -> ReportPeriod:
        return choose_period(
            start, end, school_year, self.clock().date(), self.school_year_start_month
        )


def _event_name(match_id: str, status: MatchStatus, attempt: str) -> str:
    """What a decision event's id derives from: the same for every writer of one decision;
    a decision taken again after an undo is another event."""
    base = f"{match_id}:{status.value}"
    return base if not attempt else f"{base}:{attempt}"


def _same_version(version: int, what: str, based_on: int | None, if_match: int | None) -> None:
    if if_match is not None and if_match != version:
        raise PreconditionFailed(f"the {what} is at version {version}, not {if_match}")
    if based_on is not None and based_on != version:
        raise Conflict(f"the {what} changed meanwhile; read it again and retry")


def _still_open(match: Match, now: datetime) -> None:
    """A decision needs a proposed match within its offer window. The matcher frees an
    expired offer's seat only a grace period later, so a decision claimed before the
    deadline reaches it first: of a decision and an expiry, one wins."""
    if match.status != MatchStatus.PROPOSED:
        raise Conflict(f"the match is {match.status.value}, no longer open to a decision")
    if match.expires_at is not None and now >= match.expires_at:
        raise Conflict(
            f"this offer expired on {match.expires_at:%Y-%m-%d %H:%M} UTC without a decision; "
            "its seat goes back to matching and the student will get a new offer if one fits"
        )


def _proposed(p: MatchProposal) -> Match:
    return Match(
        id=p.match_id,
        round_id=p.round_id,
        student_id=p.student_id,
        school_id=p.school_id,
        opening_id=p.opening_id,
        employer_id=p.employer_id,
        career_field=p.career_field,
        status=MatchStatus.PROPOSED,
        explanation=p.explanation,
        expires_at=p.expires_at,
    )
