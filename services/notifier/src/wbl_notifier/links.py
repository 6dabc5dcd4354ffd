"""Signed, expiring tokens the notifier hands out (pure; no I/O): the confirm/decline links
in emails and the short-lived tickets that open the inbox's live stream.

Single use of action links is enforced by the store (a unique record per coordinator and
match), not here: a signature can prove who and what, not that it was never used."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import URLSafeTimedSerializer

from wbl_common.signed import LinkRefused, read_signed

__all__ = ["ActionLink", "Decision", "LinkRefused", "Signer"]


class Decision(StrEnum):
    CONFIRM = "confirm"
    DECLINE = "decline"


@dataclass(frozen=True)
class ActionLink:
    coordinator_id: str
    match_id: str
    decision: Decision

    @property
    def use_key(self) -> str:
        """One decision per coordinator and match: using either link spends both."""
        return f"{self.coordinator_id}:{self.match_id}"


class Signer:
    def __init__(self, secret: str, link_ttl_s: int, ticket_ttl_s: int) -> None:
        self._links = URLSafeTimedSerializer(secret, salt="wbl-notifier.action-link")
        self._tickets = URLSafeTimedSerializer(secret, salt="wbl-notifier.stream-ticket")
        self.link_ttl_s = link_ttl_s
        self.ticket_ttl_s = ticket_ttl_s

    def action_link(self, link: ActionLink) -> str:
        return self._links.dumps([link.coordinator_id, link.match_id, link.decision.value])

    def read_action_link(self, token: str) -> ActionLink:
        fields = read_signed(self._links, token, self.link_ttl_s, "link")
        if not (isinstance(fields, list) and len(fields) == 3):
            raise LinkRefused("malformed link", expired=False)
        coordinator_id, match_id, decision = fields
        try:
            return ActionLink(str(coordinator_id), str(match_id), Decision(decision))
        except ValueError as error:
            raise LinkRefused("malformed link", expired=False) from error

    def stream_ticket(self, coordinator_id: str) -> str:
        """A fresh ticket each time (a nonce: two in one second differ), as each is used once."""
        return self._tickets.dumps([coordinator_id, secrets.token_urlsafe(8)])

    def read_stream_ticket(self, ticket: str) -> str:
        fields = read_signed(self._tickets, ticket, self.ticket_ttl_s, "ticket")
        if not (isinstance(fields, list) and len(fields) == 2):
            raise LinkRefused("malformed ticket", expired=False)
        return str(fields[0])
