"""The "waiting for the main round" notice: the matcher publishes the season on
`wbl.seasons` through its outbox, the notifier keeps it and shows it until the main round
has run. Real broker and database, matcher and notifier each on their own database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.matcher.test_matcher_service import matcher_service
from tests.integration.notifier.conftest import SmtpServer
from tests.support import eventually
from wbl_notifier.bootstrap import bootstrap
from wbl_notifier.domain import waiting_for_main_round

pytestmark = pytest.mark.integration


async def test_coordinators_wait_for_the_main_round_until_it_has_run(
    settings_for: Any, smtp: SmtpServer, kafka_bootstrap: str, mongo_uri: str
) -> None:
    cut_off = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    async with (
        bootstrap(settings_for(smtp.port)) as service,
        matcher_service(kafka_bootstrap, mongo_uri) as matcher,
    ):

        async def waiting_until() -> datetime | None:
            return waiting_for_main_round(await service.notifier.season())

        await matcher.matcher.set_season(cut_off)
        assert await eventually(waiting_until, what="the season heard") == cut_off

        # Moved to a moment just past: the main round runs, then the wait is over.
        now = datetime.now(UTC).replace(microsecond=0)
        await matcher.matcher.set_season(now)

        async def main_round_heard() -> bool:
            season = await service.notifier.season()
            return season is not None and season.main_round_id is not None

        await eventually(main_round_heard, what="the main round heard to have run")
        season = await service.notifier.season()
        assert season is not None and season.main_round_at == now
        assert await waiting_until() is None
