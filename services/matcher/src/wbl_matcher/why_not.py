"""Why a student has no offer, asked for on demand: rounds no longer write reasons for
every unmatched student (most are never asked about). An answer is computed from the
view, the student's standing and the seats open offers and placements take, and cached
until the next round. The wording speaks to coordinators."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wbl_matcher.domain import (
    RoundRecord,
    SeatsView,
    Standing,
    expand,
    opening_profile,
    student_profile,
)
from wbl_matcher.engine.rounds import WHY_NOT_MIN_RADIUS_KM, why_not_for_student
from wbl_matcher.store import MatcherStore
from wbl_matcher.why_not_words import Names, Verdict, verdict

WHY_NOT_LIMIT = 10  # entries per answer, as rounds used to write
CACHE_ENTRIES = 10_000  # answers kept per round (about 2 KiB each)


@dataclass(frozen=True)
class WhyNotAnswer:
    student_id: str
    round_id: str | None  # the latest round; None before any round has run
    reasons: tuple[str, ...]
    # For coordinators: whose student (None: no profile seen), and the answer in words.
    school_id: str | None = field(default=None, compare=False)
    words: Verdict | None = field(default=None, compare=False)


class WhyNotCache:
    """The latest round's answers by student, least recently asked dropped first; a new
    round id empties it, since that round may have changed every answer."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._round_id: str | None = None
        self._answers: OrderedDict[str, WhyNotAnswer] = OrderedDict()

    def get(self, round_id: str | None, student_id: str) -> WhyNotAnswer | None:
        if round_id != self._round_id:
            return None
        answer = self._answers.get(student_id)
        if answer is not None:
            self._answers.move_to_end(student_id)
        return answer

    def put(self, answer: WhyNotAnswer) -> None:
        if answer.round_id != self._round_id:
            self._round_id = answer.round_id
            self._answers.clear()
        self._answers[answer.student_id] = answer
        self._answers.move_to_end(answer.student_id)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


def reasons_for(
    standing: Standing,
    seats: SeatsView,
    related: Mapping[str, frozenset[str]],
    limit: int = WHY_NOT_LIMIT,
) -> tuple[str, ...]:
    """Plain reasons why the student has no offer now. Pure."""
    if standing.placed_at is not None:
        return (f"The student is placed at {standing.placed_at}: placed students are not matched.",)
    if standing.offer is not None:
        return (
            f"The student has an open offer from {standing.offer.opening_id}; "
            "it holds its seat until the coordinator decides or it expires.",
        )
    profile = standing.profile
    if profile is None and standing.withdrawn:
        return ("The student was withdrawn from placement, so no round considers them.",)
    if profile is None:
        return ("The matcher has not received the student's profile yet; ask again shortly.",)
    fields = sorted(expand(profile.career_fields, related))
    offered = {o.career_field for o in seats.openings}
    empty = [f"no opening in {f} this season" for f in fields if f not in offered]
    if len(empty) == len(fields):
        return tuple(empty[:limit])
    student = student_profile(profile)
    seats_left = {
        o.opening_id: o.seats - seats.seats_taken.get(o.opening_id, 0) for o in seats.openings
    }
    found = why_not_for_student(
        [opening_profile(o) for o in seats.openings],
        student,
        related_fields=related,
        seats_left=seats_left,
        declined=standing.declined,
        limit=limit,
    )
    lines = [f"{w.opening_id}: {'; '.join(w.reasons)}" for w in found]
    if not lines:
        widest = max(WHY_NOT_MIN_RADIUS_KM, 2 * student.max_commute_km)
        lines = [
            f"no opening in {', '.join(sorted(offered))} within {widest:g} km of the student's home"
        ]
    return tuple([*lines, *empty][:limit])


@dataclass(frozen=True)
class RoundContext:
    """What every answer of one request shares: the latest round, whether the season waits
    for its main round, and the career fields whose changes wait for a round."""

    round_id: str | None
    main_round_at: datetime | None  # set while the season gathers for its main round
    pending_fields: frozenset[str]
    any_round: bool


async def round_context(store: MatcherStore, latest: RoundRecord | None = None) -> RoundContext:
    latest = latest or await store.latest_round()
    season = await store.season()
    gathering = season.stage(datetime.now(UTC)) == "gathering"
    return RoundContext(
        latest.round_id if latest is not None else None,
        season.main_round_at if gathering else None,
        frozenset(await store.dirty_fields()),
        latest is not None,
    )


async def why_not(
    store: MatcherStore,
    related: Mapping[str, frozenset[str]],
    cache: WhyNotCache,
    student_id: str,
    names: Names | None = None,
    context: RoundContext | None = None,
) -> WhyNotAnswer | None:
    """The answer for `student_id` as of the latest round (None: a student never seen).
    `context`: read once for a batch of students (else read here)."""
    latest = None if context is not None else await store.latest_round()
    round_id = context.round_id if context is not None else latest.round_id if latest else None
    cached = cache.get(round_id, student_id)
    if cached is not None:
        return cached
    standing = await store.standing(student_id)
    if standing is None:
        return None
    now = context or await round_context(store, latest)
    profile = standing.profile
    fields = expand(profile.career_fields, related) if profile is not None else set()
    seats = await store.seats_view(fields | _offered_fields(standing)) if fields else SeatsView(())
    own = profile.career_fields if profile is not None else ()
    pending = not now.any_round or any(f in now.pending_fields for f in own)
    words = verdict(standing, seats, related, names or Names({}), now.main_round_at, pending)
    answer = WhyNotAnswer(
        student_id, now.round_id, reasons_for(standing, seats, related), standing.school_id, words
    )
    cache.put(answer)
    return answer


def _offered_fields(standing: Standing) -> set[str]:
    return {standing.offer.career_field} if standing.offer is not None else set()
