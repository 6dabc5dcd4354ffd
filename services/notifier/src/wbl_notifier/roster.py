"""The coordinator's roster: their students from registry and, for those without an offer,
the matcher's why-not, both asked with the coordinator's own token, so each service decides
for itself what this coordinator may read (registry: their schools' students; the matcher:
why-not of those students only). Nothing is stored here: the notifier never keeps student
personal data. `roster_rows` is pure; `RosterSources` does the HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

RosterState = Literal["waiting", "unmatched", "offered", "confirmed", "declined"]
# The page's filter, as registry's `placement` filter: waiting and unmatched are both "none"
# to registry (only the matcher tells them apart), so they are filtered together.
StateFilter = Literal["no-offer", "offered", "confirmed", "declined"]
PLACEMENT_OF: dict[str, str] = {
    "no-offer": "none",
    "offered": "offered",
    "confirmed": "confirmed",
    "declined": "declined",
}
MATCHING_DOWN = (
    "Matching cannot be reached right now, so whether the student is still waiting for a "
    "round or came out of one unmatched is not known; look again shortly."
)
NOT_SEEN = "Registered: matching has not received the student yet; look again soon."


@dataclass(frozen=True)
class Answer:
    """What a service answered: its status, JSON body and paging headers."""

    status_code: int
    body: Any
    total: int = 0
    has_next: bool = False


@dataclass(frozen=True)
class RosterRow:
    student_id: str
    name: str
    state: RosterState
    summary: str
    details: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    match_id: str | None = None
    opening_text: str | None = None
    expires_at: str | None = None


class RosterSources(Protocol):
    async def students(self, token: str, params: Mapping[str, str | int]) -> Answer: ...

    async def why_not(self, token: str, student_ids: Sequence[str]) -> Answer | None:
        """None: the matcher cannot be reached."""
        ...


class HttpRosterSources:
    """Registry's `GET /v1/students` and the matcher's `POST /v1/students/why-not`, each
    called with the coordinator's token."""

    def __init__(self, registry: httpx.AsyncClient, matcher: httpx.AsyncClient) -> None:
        self._registry = registry
        self._matcher = matcher

    async def students(self, token: str, params: Mapping[str, str | int]) -> Answer:
        response = await self._registry.get(
            "/v1/students", params=dict(params), headers=_bearer(token)
        )
        return Answer(
            response.status_code,
            _json(response),
            int(response.headers.get("X-Total-Count", "0") or 0),
            'rel="next"' in response.headers.get("Link", ""),
        )

    async def why_not(self, token: str, student_ids: Sequence[str]) -> Answer | None:
        if not student_ids:
            return Answer(200, [])
        try:
            response = await self._matcher.post(
                "/v1/students/why-not",
                json={"student_ids": list(student_ids)},
                headers=_bearer(token),
            )
        except httpx.HTTPError:
            return None
        if response.status_code >= 500 or response.status_code == 429:
            return None
        return Answer(response.status_code, _json(response))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"title": "the service answered without JSON", "status": response.status_code}


def opening_text(placement: Mapping[str, Any]) -> str:
    title = placement.get("opening_title") or "An opening"
    employer = placement.get("employer_name")
    where = "remote" if placement.get("remote") else placement.get("town")
    parts = [f"{title} at {employer}" if employer else title, *([where] if where else [])]
    return " · ".join(parts)


def needs_why_not(student: Mapping[str, Any]) -> bool:
    return (student.get("placement") or {}).get("state", "none") in ("none", "declined")


def roster_rows(
    students: Sequence[Mapping[str, Any]], why_not: Sequence[Mapping[str, Any]] | None
) -> list[RosterRow]:
    """Registry's word on placements (it takes the decisions), the matcher's on whether a
    student without an offer is waiting or unmatched, and why. `why_not` None: the matcher
    could not be asked."""
    words = {a["student_id"]: a.get("in_words") or {} for a in why_not or ()}
    return [_row(s, words.get(s["id"]), why_not is None) for s in students]


def _row(student: Mapping[str, Any], words: Mapping[str, Any] | None, down: bool) -> RosterRow:
    placement = student.get("placement") or {"state": "none"}
    state = placement["state"]
    base = {
        "student_id": student["id"],
        "name": f"{student['first_name']} {student['last_name']}",
        "match_id": placement.get("match_id"),
        "opening_text": opening_text(placement) if placement.get("match_id") else None,
    }
    if state == "confirmed":
        return RosterRow(**base, state="confirmed", summary=f"Placed: {base['opening_text']}.")
    if state == "offered":
        return RosterRow(
            **base,
            state="offered",
            summary=f"Offer awaiting your decision: {base['opening_text']}.",
            expires_at=placement.get("expires_at"),
        )
    why = _why(words, down)
    if state == "declined":
        said = f"You declined {base['opening_text']}."
        later = f" {why.summary}" if why.state in ("waiting", "unmatched") else ""
        return RosterRow(
            **base, state="declined", summary=said + later, details=why.details, changes=why.changes
        )
    return RosterRow(
        **base,
        state=why.state,
        summary=why.summary,
        details=why.details,
        changes=why.changes,
    )


@dataclass(frozen=True)
class _Why:
    state: Literal["waiting", "unmatched"]
    summary: str
    details: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


def _why(words: Mapping[str, Any] | None, down: bool) -> _Why:
    if down:
        return _Why("waiting", MATCHING_DOWN)
    if not words:
        return _Why("waiting", NOT_SEEN)
    said = str(words.get("summary", ""))
    if words.get("state") == "unmatched":
        return _Why(
            "unmatched",
            said,
            tuple(str(d) for d in words.get("details", ())),
            tuple(str(c) for c in words.get("changes", ())),
        )
    # Waiting, or an offer or placement registry has not heard of yet: waiting either way.
    return _Why("waiting", said or NOT_SEEN)
