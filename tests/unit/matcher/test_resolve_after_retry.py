"""A re-solve is never lost to a retry or a crash between the view write and the dirty mark.

Seen: a partition was marked dirty only when the view write reported "newer"; when marking
failed (a transient database error), the redelivered event found its write "not newer",
was recorded as processed, and no round ever solved it."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from tests.unit.test_matcher_domain import opening, student
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_schemas.events import OpeningPublished, StudentRegistered

pytestmark = pytest.mark.unit

CYBER = "cybersecurity"


class FailsOnce(InMemoryMatcherStore):
    """Once armed, fails the next call of one method, after (`after`) or before its work."""

    def __init__(self, method: str, after: bool) -> None:
        super().__init__()
        self.method, self.after, self.failed, self.armed = method, after, False, False

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name != object.__getattribute__(self, "method") or self.failed or not self.armed:
            return attribute

        async def once(*args: Any, **kwargs: Any) -> Any:
            self.failed = True
            if self.after:
                await attribute(*args, **kwargs)
            raise AutoReconnect("the database went away")

        return once


def handler(matcher: Matcher, event: OpeningPublished | StudentRegistered) -> Any:
    if isinstance(event, OpeningPublished):
        return matcher.on_opening_event
    return matcher.on_student_event


@pytest.mark.parametrize(
    ("method", "after"),
    [
        ("mark_dirty", False),  # marking fails outright
        ("save_student", True),  # the view is written, then the process dies before marking
        ("save_opening", True),
    ],
)
async def test_a_redelivered_event_still_marks_its_partition(method: str, after: bool) -> None:
    store = FailsOnce(method, after)
    matcher = Matcher(store=store, related={}, seed=7)
    published = OpeningPublished(producer="test", payload=opening("o1"))
    registered = StudentRegistered(producer="test", payload=student("s1"))
    # The other event of the pair arrives first and its round has run: nothing is dirty.
    first, then = (published, registered) if method != "save_opening" else (registered, published)
    await handler(matcher, first)(first)
    await store.clear_dirty(await store.dirty_fields())
    store.armed = True
    try:
        await handler(matcher, then)(then)
    except AutoReconnect:
        await handler(matcher, then)(then)  # the consumer's retry, or the redelivery after a crash
    assert CYBER in await store.dirty_fields()
    await matcher.run_round(set(await store.dirty_fields()))
    assert {sid: p.opening_id for sid, p in (await store.proposals(["s1"])).items()} == {"s1": "o1"}
