"""Links for parties without an account: signed, expiring, about one thing as it stood."""

from __future__ import annotations

import time

import pytest

from wbl_common.signed import LinkRefused
from wbl_registry.party_links import Party, PartyAction, PartyLink, PartyLinks

SIGN = PartyLink(PartyAction.SIGN_AGREEMENT, "mat_1", Party.GUARDIAN, "ab" * 32)


def links(ttl_s: int = 3600, secret: str = "registry-secret-0123456789") -> PartyLinks:
    return PartyLinks(secret, ttl_s)


def test_a_link_reads_back_as_what_it_was_issued_for() -> None:
    token = links().issue(SIGN)
    assert links().read(token) == SIGN
    assert links().read(token, subject_now="ab" * 32) == SIGN


def test_two_links_for_one_subject_differ_and_are_spent_together() -> None:
    first, second = links().issue(SIGN), links().issue(SIGN)
    assert first != second
    assert links().read(first).use_key == links().read(second).use_key


def test_a_link_for_a_changed_agreement_is_refused() -> None:
    token = links().issue(SIGN)
    with pytest.raises(LinkRefused, match="has changed since") as refused:
        links().read(token, subject_now="cd" * 32)
    assert not refused.value.expired


def test_a_tampered_or_foreign_link_is_refused() -> None:
    token = links().issue(SIGN)
    with pytest.raises(LinkRefused, match="not valid"):
        links().read(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    with pytest.raises(LinkRefused, match="not valid"):
        links(secret="another-secret-0123456789").read(token)


def test_a_notifier_link_is_not_a_party_link() -> None:
    from wbl_notifier.links import ActionLink, Decision, Signer

    action = Signer("registry-secret-0123456789", 3600, 60).action_link(
        ActionLink("coo_1", "mat_1", Decision.CONFIRM)
    )
    with pytest.raises(LinkRefused):
        links().read(action)


def test_an_expired_link_is_refused_as_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = links(ttl_s=60).issue(SIGN)
    real = time.time
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real() + 61)
    with pytest.raises(LinkRefused, match="expired") as refused:
        links(ttl_s=60).read(token)
    assert refused.value.expired
