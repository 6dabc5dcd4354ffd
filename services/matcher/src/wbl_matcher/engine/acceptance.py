"""The deferred-acceptance core, kept free of heavy imports for ``wbl-match``.

Student-proposing deferred acceptance (Gale-Shapley in its hospitals/residents
form, Roth 1984) returns the student-optimal stable matching. This module holds
the validation of explicit instances and the solver itself, on plain lists and
dicts; :mod:`.stable` wraps it in frozen dataclasses. It imports only ``gc``,
``heapq``, ``itertools`` and the C solver so that the command line starts fast.

Where a C compiler built ``wbl_match_core`` at install, :func:`solve_columns` and
:func:`deferred_acceptance` hand the well-formed case to it (ADR 5); the Python below
stays the reference, and decides whatever the C solver declines.

How the Python solver is fast: every reference check runs in C over whole rankings (``set``,
``dict(zip(...))``, key-view comparisons); each opening keeps a dict from student
id to minus its rank and a min-heap of the minus-ranks it holds, padded with
free-seat sentinels, so ``heap[0]`` is the seat it would give up next and one
proposal costs two dict lookups and one comparison, with no allocation beyond
small ints; the cyclic garbage collector is paused while the indexes are built.
"""

from __future__ import annotations

import gc
from heapq import heappush, heapreplace
from itertools import chain, repeat

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    NativeSolve = Callable[
        [list[str], list[Sequence[str]], list[str], list[int], list[Sequence[str]]],
        tuple[dict[str, str | None], int] | None,
    ]
    NativeDeferredAcceptance = Callable[
        [Sequence[Sequence[int]], Sequence[Sequence[int]], Sequence[int]],
        tuple[list[int], int] | None,
    ]

__all__ = [
    "Columns",
    "Indexed",
    "InstanceError",
    "NoGC",
    "assign",
    "bad_reference",
    "columns_of_document",
    "deferred_acceptance",
    "deferred_acceptance_in_python",
    "describe",
    "index_columns",
    "index_ids",
    "native_deferred_acceptance",
    "native_solve",
    "solve_columns",
    "solve_columns_in_python",
]


def _native_solvers() -> tuple[NativeSolve | None, NativeDeferredAcceptance | None]:
    """The C solvers, where a C compiler built them at install (see :func:`solve_columns`)."""
    try:
        from wbl_match_core._core import deferred_acceptance, solve
    except ImportError:  # pragma: no cover - depends on the machine
        return None, None
    return solve, deferred_acceptance


native_solve, native_deferred_acceptance = _native_solvers()


class InstanceError(ValueError):
    """A matching instance is malformed. The message is one line naming what is wrong."""


def describe(value: object) -> str:
    """A short repr of ``value`` for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _id_of(entry: Mapping[str, Any], where: str) -> str:
    if "id" not in entry:
        raise InstanceError(f"{where}: missing field 'id'")
    value = entry["id"]
    if type(value) is not str:
        raise InstanceError(f"{where}: 'id' must be a string, got {describe(value)}")
    return value


def _ranking_of(entry: Mapping[str, Any], where: str) -> list[str]:
    if "ranking" not in entry:
        raise InstanceError(f"{where}: missing field 'ranking'")
    value = entry["ranking"]
    if type(value) is not list:
        raise InstanceError(f"{where}: 'ranking' must be a list of ids, got {describe(value)}")
    return value


class Columns:
    """An instance as parallel lists, whatever it was built from."""

    __slots__ = ("capacities", "opening_ids", "opening_rankings", "student_ids", "student_rankings")

    def __init__(
        self,
        student_ids: list[str],
        student_rankings: list[Sequence[str]],
        opening_ids: list[str],
        capacities: list[int],
        opening_rankings: list[Sequence[str]],
    ) -> None:
        self.student_ids = student_ids
        self.student_rankings = student_rankings
        self.opening_ids = opening_ids
        self.capacities = capacities
        self.opening_rankings = opening_rankings


def bad_entry_error(entry: object, where: str, opening: bool) -> InstanceError:
    """The error naming what is wrong with one student or opening entry of a document."""
    if type(entry) is not dict:
        return InstanceError(f"{where} must be an object, got {describe(entry)}")
    entry_id = _id_of(entry, where)
    if opening:
        if "capacity" not in entry:
            return InstanceError(f"{where} ({entry_id}): missing field 'capacity'")
        capacity = entry["capacity"]
        if type(capacity) is not int:
            return InstanceError(
                f"opening {entry_id!r}: capacity must be an integer, got {describe(capacity)}"
            )
        if capacity < 0:
            return InstanceError(f"opening {entry_id!r}: capacity must be >= 0, got {capacity}")
    _ranking_of(entry, where)
    return InstanceError(f"{where}: invalid entry")  # pragma: no cover - caught above


def columns_of_document(document: object) -> Columns:
    """Check a decoded JSON document's shape and types; return its columns."""
    if not isinstance(document, dict):
        raise InstanceError(f"instance must be a JSON object, got {type(document).__name__}")
    for key in ("students", "openings"):
        if key not in document:
            raise InstanceError(f"instance: missing field '{key}'")
        if type(document[key]) is not list:
            raise InstanceError(f"instance: '{key}' must be a list")
    student_ids: list[str] = []
    student_rankings: list[Sequence[str]] = []
    for entry in document["students"]:
        if type(entry) is dict:
            student_id, ranking = entry.get("id"), entry.get("ranking")
            if type(student_id) is str and type(ranking) is list:
                student_ids.append(student_id)
                student_rankings.append(ranking)
                continue
        where = f"students[{len(student_ids)}]"
        raise bad_entry_error(entry, where, opening=False)
    opening_ids: list[str] = []
    capacities: list[int] = []
    opening_rankings: list[Sequence[str]] = []
    for entry in document["openings"]:
        if type(entry) is dict:
            opening_id, capacity, ranking = (
                entry.get("id"),
                entry.get("capacity"),
                entry.get("ranking"),
            )
            if (
                type(opening_id) is str
                and type(capacity) is int
                and capacity >= 0
                and type(ranking) is list
            ):
                opening_ids.append(opening_id)
                capacities.append(capacity)
                opening_rankings.append(ranking)
                continue
        where = f"openings[{len(opening_ids)}]"
        raise bad_entry_error(entry, where, opening=True)
    return Columns(student_ids, student_rankings, opening_ids, capacities, opening_rankings)


def index_ids(ids: list[str], kind: str) -> dict[str, int]:
    index = dict(zip(ids, range(len(ids)), strict=True))
    if len(index) != len(ids):
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                raise InstanceError(f"duplicate {kind} id {value!r}")
            seen.add(value)
    return index


def bad_reference(
    owner_kind: str, owner: str, ranking: Sequence[object], index: Mapping[str, int], kind: str
) -> InstanceError:
    for value in ranking:
        if type(value) is not str:
            return InstanceError(
                f"{owner_kind} {owner!r}: ranking entries must be {kind} ids (strings), "
                f"got {describe(value)}"
            )
        if value not in index:
            return InstanceError(f"{owner_kind} {owner!r} ranks unknown {kind} {value!r}")
    seen: set[object] = set()
    for value in ranking:
        if value in seen:
            return InstanceError(f"{owner_kind} {owner!r} ranks {kind} {value!r} more than once")
        seen.add(value)
    return InstanceError(f"{owner_kind} {owner!r}: invalid ranking")  # pragma: no cover


def raise_if_bad(
    owner_kind: str, owner: str, ranking: Sequence[object], index: Mapping[str, int], kind: str
) -> None:
    """Raise the error naming what is wrong with one ranking, if anything is."""
    try:
        distinct = set(ranking)
        ok = len(distinct) == len(ranking) and index.keys() >= distinct
    except TypeError:
        ok = False
    if not ok:
        raise bad_reference(owner_kind, owner, ranking, index, kind)


class Indexed:
    """A validated instance, keyed for :func:`assign`."""

    __slots__ = (
        "capacity",
        "choices",
        "negative_rank",
        "ranking",
        "student_ids",
        "student_index",
    )

    def __init__(
        self,
        student_ids: list[str],
        student_index: dict[str, int],
        choices: list[Sequence[str]],
        negative_rank: dict[str, dict[str, int]],
        ranking: dict[str, Sequence[str]],
        capacity: dict[str, int],
    ) -> None:
        self.student_ids = student_ids
        self.student_index = student_index
        self.choices = choices  # per student index: opening ids, most wanted first
        self.negative_rank = negative_rank  # opening id -> student id -> -rank
        self.ranking = ranking  # opening id -> its ranking
        self.capacity = capacity  # opening id -> seats


def index_columns(columns: Columns) -> Indexed:
    """Validate references and build the lookups deferred acceptance needs.

    Every check runs in C over whole rankings (``set``, ``dict(zip(...))`` and
    key-view comparisons); only when one fails are the rankings walked in Python
    to name the culprit.
    """
    student_ids, opening_ids = columns.student_ids, columns.opening_ids
    student_rankings, opening_rankings = columns.student_rankings, columns.opening_rankings
    student_index = index_ids(student_ids, "student")
    opening_index = index_ids(opening_ids, "opening")

    # Whole-instance checks first, each one pass in C; the per-ranking walk below runs
    # only to name the culprit of a failed check.
    try:
        ok = list(map(len, map(set, student_rankings))) == list(
            map(len, student_rankings)
        ) and opening_index.keys() >= set(chain.from_iterable(student_rankings))
    except TypeError:  # an unhashable entry
        ok = False
    if not ok:
        for student_id, ranking in zip(student_ids, student_rankings, strict=True):
            raise_if_bad("student", student_id, ranking, opening_index, "opening")
        raise InstanceError("invalid student rankings")  # pragma: no cover - named above

    # Ranks as 0, -1, -2, ...: one shared tuple of ints, so the dicts allocate no ints.
    negative = tuple(range(0, -max(map(len, opening_rankings), default=0), -1))
    try:
        rank_dicts = list(map(dict, map(zip, opening_rankings, repeat(negative))))
        ok = list(map(len, rank_dicts)) == list(
            map(len, opening_rankings)
        ) and student_index.keys() >= set(chain.from_iterable(opening_rankings))
    except TypeError:
        ok = False
    if not ok:
        for opening_id, ranking in zip(opening_ids, opening_rankings, strict=True):
            raise_if_bad("opening", opening_id, ranking, student_index, "student")
        raise InstanceError("invalid opening rankings")  # pragma: no cover - named above
    negative_rank = dict(zip(opening_ids, rank_dicts, strict=True))
    ranking_of = dict(zip(opening_ids, opening_rankings, strict=True))

    capacity = dict(zip(opening_ids, columns.capacities, strict=True))
    return Indexed(
        student_ids, student_index, columns.student_rankings, negative_rank, ranking_of, capacity
    )


# --------------------------------------------------------------------------- solving


class NoGC:
    """``with NoGC():`` pauses the cyclic garbage collector while building many containers.

    Indexing allocates ~100k lists and dicts that all stay alive; the collector would
    traverse them again and again for nothing. Reference counting still frees memory.
    """

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._was_enabled:
            gc.enable()


def deferred_acceptance(
    student_choices: Sequence[Sequence[int]],
    negative_rank_of: Sequence[Mapping[int, int]],
    ranked: Sequence[Sequence[int]],
    capacities: Sequence[int],
) -> tuple[list[int], int]:
    """Student-proposing deferred acceptance on integer indices.

    ``student_choices[s]`` lists opening indices, most wanted first.
    ``negative_rank_of[o]`` maps a student index to minus its rank at opening ``o``
    (0 = best, -1 = second, ...); students missing from it are unacceptable to ``o``.
    ``ranked[o][r]`` is the student of rank ``r`` at ``o``.
    Returns (opening index or -1 per student, number of choices examined).

    ``negative_rank_of`` must be ``ranked`` inverted: the C solver, when built, derives
    it from ``ranked`` itself, and answers every well-formed call.
    """
    if native_deferred_acceptance is not None:
        solved = native_deferred_acceptance(student_choices, ranked, capacities)
        if solved is not None:
            return solved
    return deferred_acceptance_in_python(student_choices, negative_rank_of, ranked, capacities)


def deferred_acceptance_in_python(
    student_choices: Sequence[Sequence[int]],
    negative_rank_of: Sequence[Mapping[int, int]],
    ranked: Sequence[Sequence[int]],
    capacities: Sequence[int],
) -> tuple[list[int], int]:
    """:func:`deferred_acceptance` without the C solver (the reference it is tested against)."""
    held: list[list[int]] = [[] for _ in capacities]  # per opening: min-heap of -rank
    next_choice = [0] * len(student_choices)
    free = list(range(len(student_choices) - 1, -1, -1))
    pop_free = free.pop
    push_free = free.append
    push_heap, replace_heap, size = heappush, heapreplace, len  # locals: faster lookups
    while free:
        s = pop_free()
        choices = student_choices[s]
        k = next_choice[s]
        end = size(choices)
        while k < end:
            o = choices[k]
            k += 1
            nr = negative_rank_of[o].get(s)
            if nr is None:
                continue
            heap = held[o]
            if size(heap) < capacities[o]:
                push_heap(heap, nr)
                break
            if heap and heap[0] < nr:
                # the opening prefers s to the worst student it holds: swap them
                push_free(ranked[o][-replace_heap(heap, nr)])
                break
        next_choice[s] = k
    assignment = [-1] * len(student_choices)
    for o, heap in enumerate(held):
        students = ranked[o]
        for negative_rank in heap:
            assignment[students[-negative_rank]] = o
    return assignment, sum(next_choice)


# Heap sentinels: a free seat ranks below every student, so the first proposals simply
# replace it; an opening without seats holds NEVER, which no student beats; and a
# student an opening does not rank gets UNRANKED, below even a free seat.
_FREE_SEAT = -(1 << 62)
_NEVER = 1
_UNRANKED = -(1 << 63)


def _empty_seats(capacity: int, ranked: Sequence[str]) -> list[int]:
    """An opening's heap before any proposal: a free seat per usable seat, or NEVER.

    It cannot hold more students than it ranks, so a huge capacity is no huge list.
    """
    seats = min(capacity, len(ranked))
    return [_FREE_SEAT] * seats if seats else [_NEVER]


def assign(indexed: Indexed) -> tuple[list[str | None], int]:
    """Deferred acceptance on an :class:`Indexed` instance.

    Returns (opening id or None per student index, ranking entries examined).
    Each opening keeps a min-heap of minus the ranks of the students it holds,
    padded with free-seat sentinels to its capacity, so ``heap[0]`` is the seat to
    give away next and a proposal is one dict lookup, one ``get`` and one compare.
    """
    student_ids, student_index = indexed.student_ids, indexed.student_index
    all_choices = indexed.choices
    negative_rank, ranking = indexed.negative_rank, indexed.ranking
    state: dict[str, tuple[dict[str, int], list[int], Sequence[str]]] = {
        opening_id: (
            negative_rank[opening_id],
            _empty_seats(capacity, ranking[opening_id]),
            ranking[opening_id],
        )
        for opening_id, capacity in indexed.capacity.items()
    }
    next_choice = [0] * len(student_ids)
    free = list(range(len(student_ids) - 1, -1, -1))
    pop_free = free.pop
    push_free = free.append
    replace_heap, size = heapreplace, len  # locals: faster lookups
    while free:
        s = pop_free()
        student_id = student_ids[s]
        choices = all_choices[s]
        k = next_choice[s]
        end = size(choices)
        while k < end:
            ranks, heap, ranked = state[choices[k]]
            k += 1
            nr = ranks.get(student_id, _UNRANKED)
            if heap[0] < nr:  # a free seat, or a held student the opening likes less
                given_up = replace_heap(heap, nr)
                if given_up != _FREE_SEAT:
                    push_free(student_index[ranked[-given_up]])
                break
        next_choice[s] = k
    assignment: list[str | None] = [None] * len(student_ids)
    for opening_id, (_, heap, ranked) in state.items():
        for nr in heap:
            if nr != _FREE_SEAT and nr != _NEVER:
                assignment[student_index[ranked[-nr]]] = opening_id
    return assignment, sum(next_choice)


def solve_columns(columns: Columns) -> tuple[dict[str, str | None], int]:
    """Validate, index and solve: (student id -> opening id or None, entries examined).

    The C solver answers the plain well-formed case when it was built; anything it
    declines (a bad reference, an unusual type) is decided here in Python, which
    defines the results and names what is wrong.
    """
    if native_solve is not None:
        solved = native_solve(
            columns.student_ids,
            columns.student_rankings,
            columns.opening_ids,
            columns.capacities,
            columns.opening_rankings,
        )
        if solved is not None:
            return solved
    return solve_columns_in_python(columns)


def solve_columns_in_python(columns: Columns) -> tuple[dict[str, str | None], int]:
    """:func:`solve_columns` without the C solver (the reference it is tested against)."""
    with NoGC():
        indexed = index_columns(columns)
        assignment, examined = assign(indexed)
        return dict(zip(indexed.student_ids, assignment, strict=True)), examined
