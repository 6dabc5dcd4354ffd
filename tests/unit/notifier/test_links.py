"""Email action links and stream tickets: signed, scoped, expiring."""

from __future__ import annotations

import pytest

from wbl_notifier.links import ActionLink, Decision, LinkRefused, Signer

pytestmark = pytest.mark.unit

SECRET = "link-secret-for-tests-0123456789"


def signer(link_ttl_s: int = 3600, ticket_ttl_s: int = 60) -> Signer:
    return Signer(SECRET, link_ttl_s, ticket_ttl_s)


def test_an_action_link_reads_back_as_issued() -> None:
    link = ActionLink("coo_1", "mat_1", Decision.DECLINE)
    assert signer().read_action_link(signer().action_link(link)) == link


def test_both_decisions_of_a_match_share_one_use_key() -> None:
    confirm = ActionLink("coo_1", "mat_1", Decision.CONFIRM)
    decline = ActionLink("coo_1", "mat_1", Decision.DECLINE)
    assert (
        confirm.use_key == decline.use_key != ActionLink("coo_2", "mat_1", Decision.CONFIRM).use_key
    )


def test_a_tampered_link_or_one_signed_with_another_secret_is_refused() -> None:
    token = signer().action_link(ActionLink("coo_1", "mat_1", Decision.CONFIRM))
    with pytest.raises(LinkRefused) as tampered:
        signer().read_action_link(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert not tampered.value.expired
    with pytest.raises(LinkRefused):
        Signer("another-secret-0123456789", 3600, 60).read_action_link(token)


def test_an_expired_link_is_refused_as_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = signer(link_ttl_s=60).action_link(ActionLink("coo_1", "mat_1", Decision.CONFIRM))
    import time

    real = time.time
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real() + 61)
    with pytest.raises(LinkRefused) as refused:
        signer(link_ttl_s=60).read_action_link(token)
    assert refused.value.expired


def test_a_stream_ticket_is_not_an_action_link_and_vice_versa() -> None:
    ticket = signer().stream_ticket("coo_1")
    assert signer().read_stream_ticket(ticket) == "coo_1"
    with pytest.raises(LinkRefused):
        signer().read_action_link(ticket)
    link = signer().action_link(ActionLink("coo_1", "mat_1", Decision.CONFIRM))
    with pytest.raises(LinkRefused):
        signer().read_stream_ticket(link)


def test_two_tickets_issued_at_once_differ() -> None:
    """Each ticket opens one stream: two taken in the same second must not be one."""
    first, second = signer().stream_ticket("coo_1"), signer().stream_ticket("coo_1")
    assert first != second
    assert signer().read_stream_ticket(first) == signer().read_stream_ticket(second) == "coo_1"
