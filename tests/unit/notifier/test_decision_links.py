"""An email decision link is spent only when registry takes the decision (issue 12,
finding 13): a refusal (4xx) or an outage (5xx) leaves it usable."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wbl_notifier.adapters import RegistryAnswer
from wbl_notifier.handlers import Decisions, LinkSpent
from wbl_notifier.links import ActionLink, Decision, Signer
from wbl_notifier.store import InMemoryNotifierStore

pytestmark = pytest.mark.unit

SECRET = "link-secret-" + "s" * 20


@dataclass
class Desk:
    """Registry's placement API, answering each decision with the next status given."""

    statuses: list[int]
    decided: list[str] = field(default_factory=list)

    async def decide(
        self, token: str, match_id: str, decision: str, note: str = ""
    ) -> RegistryAnswer:
        self.decided.append(match_id)
        status = self.statuses.pop(0)
        return RegistryAnswer(status, {"status": status}, "application/json")

    async def student(self, token: str, student_id: str) -> RegistryAnswer:
        raise NotImplementedError

    async def undo(self, token: str, match_id: str) -> RegistryAnswer:
        raise NotImplementedError


@pytest.mark.parametrize("refusal", [409, 422, 403, 503])
async def test_a_link_refused_by_registry_stays_usable_and_is_spent_by_the_success(
    refusal: int,
) -> None:
    signer = Signer(SECRET, 3_600, 60)
    link = signer.action_link(ActionLink("coo_1", "mat_1", Decision.CONFIRM))
    decisions = Decisions(InMemoryNotifierStore(), signer, Desk([refusal, 200]))

    first = await decisions.decide("tok", "coo_1", "mat_1", Decision.CONFIRM, link)
    assert first.status_code == refusal
    await decisions.check_link(link)  # not spent: the link page still offers the decision
    second = await decisions.decide("tok", "coo_1", "mat_1", Decision.CONFIRM, link)
    assert second.status_code == 200
    with pytest.raises(LinkSpent):
        await decisions.check_link(link)
