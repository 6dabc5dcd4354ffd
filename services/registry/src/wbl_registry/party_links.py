"""Links for the parties who have no account (the employer's supervisor, the guardian, the
student): signed, expiring, and naming exactly what they act on. Pure.

A link for a signature names the hash of the agreement text; one for a week's verification
names the hash of that week's entries. If the thing changed after the link was sent, the
link no longer matches it and is refused: nobody signs or verifies what they did not see.
Single use is the store's job: it inserts `use_key` against a unique key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import URLSafeTimedSerializer

from wbl_common.signed import LinkRefused, read_signed


class PartyAction(StrEnum):
    SIGN_AGREEMENT = "sign-agreement"
    VERIFY_WEEK = "verify-week"
    EVALUATE = "evaluate"


class Party(StrEnum):
    SCHOOL = "school"
    EMPLOYER = "employer"
    STUDENT = "student"
    GUARDIAN = "guardian"


@dataclass(frozen=True)
class PartyLink:
    action: PartyAction
    placement_id: str  # the match the placement came from
    party: Party
    subject: str  # what the link acts on: a text hash, a week's hash, "midpoint" or "final"

    @property
    def use_key(self) -> str:
        """Spent once per party and subject: a link sent again for the same subject is spent
        with the first."""
        return f"{self.action}:{self.placement_id}:{self.party}:{self.subject}"


class PartyLinks:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="wbl-registry.party-link")
        self.ttl_s = ttl_s

    def issue(self, link: PartyLink) -> str:
        # A nonce, so that two links for one subject differ (each email its own link).
        fields = [link.action.value, link.placement_id, link.party.value, link.subject]
        return self._serializer.dumps([*fields, secrets.token_urlsafe(6)])

    def read(self, token: str, subject_now: str | None = None) -> PartyLink:
        """The link, if it is ours, unexpired and (given `subject_now`) still about the
        thing as it stands now."""
        fields = read_signed(self._serializer, token, self.ttl_s, "link")
        if not (
            isinstance(fields, list)
            and len(fields) == 5
            and all(isinstance(f, str) for f in fields)
        ):
            raise LinkRefused("this link is not valid", expired=False)
        action, placement_id, party, subject, _ = fields
        try:
            link = PartyLink(PartyAction(action), placement_id, Party(party), subject)
        except ValueError as error:
            raise LinkRefused("this link is not valid", expired=False) from error
        if subject_now is not None and subject_now != link.subject:
            raise LinkRefused(
                "what this link was sent for has changed since; a new link was sent",
                expired=False,
            )
        return link
