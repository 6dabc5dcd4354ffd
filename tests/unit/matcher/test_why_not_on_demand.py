"""Why-not asked for on demand: rounds write none; the answer is computed from the view when
asked, kept until the next round, and speaks of an empty field and of no round yet."""

from __future__ import annotations

import pytest

from tests.unit.test_matcher_domain import FAR, HOME, opening, student
from tests.unit.test_matcher_handlers import dirty_round, publish, register
from wbl_matcher.domain import MatchingInputs, Proposal, SeatsView, Standing, solve_round
from wbl_matcher.handlers import Matcher
from wbl_matcher.store import InMemoryMatcherStore
from wbl_matcher.why_not import WhyNotAnswer, WhyNotCache, reasons_for, why_not

pytestmark = pytest.mark.unit

CYBER = "cybersecurity"


@pytest.fixture
def store() -> InMemoryMatcherStore:
    return InMemoryMatcherStore()


@pytest.fixture
def matcher(store: InMemoryMatcherStore) -> Matcher:
    return Matcher(store=store, related={}, seed=7)


def test_a_round_computes_no_why_not() -> None:
    """The round's outcome carries assignments only: nobody is explained who is not asked."""
    inputs = MatchingInputs(openings=(opening("o1"),), students=(student("s1"), student("s2")))
    outcome = solve_round(inputs, seed=1, related={})
    assert sum(a is not None for a in outcome.assignments.values()) == 1
    assert not hasattr(outcome, "why_not")


def test_a_field_without_any_opening_says_so_in_plain_words() -> None:
    standing = Standing(student("s1", ("culinary-arts",)))
    reasons = reasons_for(standing, SeatsView(()), {})
    assert reasons == ("no opening in culinary-arts this season",)


def test_each_empty_field_is_named_beside_the_reasons_of_the_others() -> None:
    standing = Standing(student("s1", (CYBER, "culinary-arts")))
    seats = SeatsView((opening("o1"),), {"o1": 1})
    reasons = reasons_for(standing, seats, {})
    assert reasons[0].startswith("o1: no seats left")
    assert reasons[-1] == "no opening in culinary-arts this season"


def test_related_fields_count_as_the_students_fields() -> None:
    standing = Standing(student("s1", ("culinary-arts",)))
    related = {"culinary-arts": frozenset({"hospitality"})}
    seats = SeatsView((opening("o1", "hospitality"),), {})
    reasons = reasons_for(standing, seats, related)
    assert reasons[0].startswith("o1: a seat is free now")
    assert reasons[1:] == ("no opening in culinary-arts this season",)


def test_openings_only_far_away_are_named_with_the_distance() -> None:
    near = HOME.model_copy(update={"town": "Concord NH", "lat": 43.04})  # about 44 km
    far = opening("o_far").model_copy(update={"location": near})
    reasons = reasons_for(Standing(student("s1")), SeatsView((far,), {}), {})
    assert len(reasons) == 1 and reasons[0].startswith("o_far: ")
    assert "44 km away, the student's limit is 30 km" in reasons[0]


def test_nothing_within_the_widest_search_is_said_plainly() -> None:
    far = opening("o_x").model_copy(update={"location": FAR})  # about 160 km
    reasons = reasons_for(Standing(student("s1")), SeatsView((far,), {}), {})
    assert reasons == (f"no opening in {CYBER} within 60 km of the student's home",)


def test_a_declined_opening_says_the_coordinator_declined_it() -> None:
    standing = Standing(student("s1"), declined=frozenset({"o1"}))
    reasons = reasons_for(standing, SeatsView((opening("o1"),), {}), {})
    assert reasons == (
        "o1: the coordinator declined this opening's offer, so it is not offered again",
    )


def test_an_offer_a_placement_and_a_withdrawal_are_named() -> None:
    offer = Proposal("mat_1", "rnd_1", "s1", "sch_1", "o1", "emp_1", CYBER)
    assert (
        "open offer from o1"
        in reasons_for(Standing(student("s1"), offer=offer), SeatsView(()), {})[0]
    )
    assert (
        "placed at o1" in reasons_for(Standing(student("s1"), placed_at="o1"), SeatsView(()), {})[0]
    )
    assert "withdrawn" in reasons_for(Standing(None, withdrawn=True), SeatsView(()), {})[0]
    unseen = reasons_for(Standing(None), SeatsView(()), {})[0]
    assert "not received the student's profile" in unseen


async def test_a_student_without_any_round_yet_gets_reasons(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await register(matcher, "s1")
    answer = await why_not(store, {}, WhyNotCache(), "s1")
    assert answer == WhyNotAnswer("s1", None, (f"no opening in {CYBER} this season",))
    assert await why_not(store, {}, WhyNotCache(), "s_unknown") is None


async def test_the_answer_is_kept_until_the_next_round(
    matcher: Matcher, store: InMemoryMatcherStore
) -> None:
    await publish(matcher, "o1")
    await register(matcher, "s1", "s2")
    await dirty_round(matcher, store)
    offered = await store.proposals(["s1", "s2"])
    (unmatched,) = {"s1", "s2"} - offered.keys()
    cache = WhyNotCache()
    first = await why_not(store, {}, cache, unmatched)
    assert first is not None and first.reasons[0].startswith("o1: no seats left")
    # Changes between rounds do not change the kept answer (cached per round) ...
    await publish(matcher, "o2")
    assert await why_not(store, {}, cache, unmatched) is first
    # ... the next round's does: o2 went to the student, so nothing is left unmatched.
    await dirty_round(matcher, store)
    again = await why_not(store, {}, cache, unmatched)
    assert again is not None and again.round_id != first.round_id
    assert "open offer from o2" in again.reasons[0]


def test_the_cache_is_bounded_and_forgets_an_old_round() -> None:
    cache = WhyNotCache(max_entries=2)
    for sid in ("s1", "s2", "s3"):
        cache.put(WhyNotAnswer(sid, "rnd_1", ()))
    assert len(cache) == 2 and cache.get("rnd_1", "s1") is None
    assert cache.get("rnd_1", "s3") is not None
    assert cache.get("rnd_2", "s3") is None
    cache.put(WhyNotAnswer("s9", "rnd_2", ()))
    assert len(cache) == 1 and cache.get("rnd_1", "s3") is None
    with pytest.raises(ValueError, match="max_entries must be at least 1"):
        WhyNotCache(max_entries=0)
