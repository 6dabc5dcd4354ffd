"""The three services as separate processes, on their own ports and databases."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import infra
import pytest
import run_services

from tests.integration.notifier.conftest import Mailbox, SmtpServer, free_port
from tests.support import start_groups_at_the_end

UNDO_S = 8  # WBL_REGISTRY_UNDO_S of the e2e system
PARTY_REMIND_AFTER_S = 12  # WBL_NOTIFIER_PARTIES__REMIND_AFTER_S of the e2e system


@dataclass(frozen=True)
class System:
    registry: str
    matcher: str
    notifier: str
    admin_token: str
    kafka_bootstrap: str
    webhook_key: str
    link_secret: str
    mailbox: Mailbox  # what notifier sent to the SMTP server on loopback
    logs: Path  # each service's output, in <name>.log

    def log_of(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


# Package scope: the services stop when the e2e tests are done, so they never consume
# (and act on) the events that later integration tests publish.
@pytest.fixture(scope="package")
def system(
    kafka_bootstrap: str, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base = int(os.environ.get("WBL_TEST_HTTP_BASE", "18000"))
    # The services' pid files and logs go beside the test instance's, never over a dev one's.
    parent = os.environ.get("WBL_RUN_DIR")
    run = str(Path(parent) / "e2e") if parent else str(tmp_path_factory.mktemp("run"))
    tag = secrets.token_hex(4)
    smtp = SmtpServer(free_port())  # started with the services below
    env = dict(os.environ)
    env.update(
        {
            "WBL_RUN_DIR": run,
            "WBL_ADMIN_TOKEN": secrets.token_urlsafe(24),
            "WBL_WEBHOOK_KEY": secrets.token_urlsafe(24),
            "WBL_NOTIFIER_LINK_SECRET": secrets.token_urlsafe(24),
            "WBL_MATCHER_BATCH_WINDOW_MS": "50",
            # Decisions may be undone for this long (and reach employers after it): long
            # enough for a browser test to press Undo, short for tests awaiting decisions.
            "WBL_REGISTRY_UNDO_S": str(UNDO_S),
            # Links in emails lead to this notifier; its mail goes to the SMTP sink below.
            "WBL_NOTIFIER_PUBLIC_URL": f"http://127.0.0.1:{base + 3}",
            "WBL_NOTIFIER_SMTP__HOST": "127.0.0.1",
            "WBL_NOTIFIER_SMTP__PORT": str(smtp.port),
            "WBL_NOTIFIER_SMTP__SECURITY": "none",
            # The parties' emails: swept often, a step reminded soon (test_party_emails).
            "WBL_NOTIFIER_PARTIES__SWEEP_S": "2",
            "WBL_NOTIFIER_PARTIES__REMIND_AFTER_S": str(PARTY_REMIND_AFTER_S),
        }
    )
    for name in ("registry", "matcher", "notifier"):
        # Consumer groups of their own, starting at the end of the topics: the services
        # hear this session's events, not a backlog left by earlier runs.
        consumer = f"e2e-{tag}-{name}"
        env[f"WBL_{name.upper()}_CONSUMER_NAME"] = consumer
        asyncio.run(start_groups_at_the_end(kafka_bootstrap, consumer))
    for offset, service in enumerate(run_services.SERVICES, start=1):
        env[f"{service.prefix}HTTP__PORT"] = str(base + offset)
        env[f"{service.prefix}KAFKA__BOOTSTRAP_SERVERS"] = kafka_bootstrap
        env[f"{service.prefix}MONGO__URI"] = mongo_uri
        env[f"{service.prefix}MONGO__DATABASE"] = f"e2e_{tag}_{service.name}"
    config = replace(infra.Config.from_env(), run_dir=Path(run))
    try:
        smtp.start()
        run_services.start(config, env)
        yield System(
            registry=f"http://127.0.0.1:{base + 1}",
            matcher=f"http://127.0.0.1:{base + 2}",
            notifier=f"http://127.0.0.1:{base + 3}",
            admin_token=env["WBL_ADMIN_TOKEN"],
            kafka_bootstrap=kafka_bootstrap,
            webhook_key=env["WBL_WEBHOOK_KEY"],
            link_secret=env["WBL_NOTIFIER_LINK_SECRET"],
            mailbox=smtp.mailbox,
            logs=config.log_path("registry").parent,
        )
    finally:
        run_services.stop(config)
        smtp.stop()
