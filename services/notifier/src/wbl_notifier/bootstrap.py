"""Notifier's composition: the one place that builds clients and wires the use cases."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import uuid4

import httpx

from wbl_common.metrics import DeliveryMetrics
from wbl_common.runtime import Runtime, open_runtime
from wbl_notifier.adapters import (
    HttpWebhookSender,
    Mailer,
    RegistryDirectory,
    RegistryOutreach,
    RegistryPlacements,
    SmtpMailer,
    WebhookSender,
)
from wbl_notifier.config import NotifierSettings
from wbl_notifier.desk import RegistryDesk
from wbl_notifier.domain import Channel
from wbl_notifier.handlers import Notifier
from wbl_notifier.lease import Lease, MongoLeaseStore
from wbl_notifier.links import Signer
from wbl_notifier.outbound import AddressPolicy, VettedTransport
from wbl_notifier.party_sweep import PartySweep
from wbl_notifier.registry_account import RegistryAccount
from wbl_notifier.registry_party import RegistryParty
from wbl_notifier.reminders import Reminders
from wbl_notifier.reports import RegistryReports
from wbl_notifier.roster import HttpRosterSources
from wbl_notifier.store import MongoNotifierStore
from wbl_notifier.worker import DeliveryPolicy, DeliveryWorker
from wbl_schemas import topics
from wbl_schemas.topics import TOPIC_SPECS

SPECS = {spec.name: spec for spec in TOPIC_SPECS}


@dataclass
class NotifierService:
    notifier: Notifier
    directory: RegistryDirectory
    placements: RegistryPlacements
    account: RegistryAccount
    party: RegistryParty
    reports: RegistryReports
    signer: Signer
    worker: DeliveryWorker
    reminders: Reminders
    store: MongoNotifierStore
    runtime: Runtime
    settings: NotifierSettings
    roster: HttpRosterSources
    desk: RegistryDesk


def delivery_policy(settings: NotifierSettings) -> DeliveryPolicy:
    d = settings.delivery
    return DeliveryPolicy(
        max_attempts=d.max_attempts,
        backoff_initial_s=d.backoff_initial_s,
        backoff_max_s=d.backoff_max_s,
        poll_s=d.poll_s,
        concurrency=d.concurrency,
        digest_period_s=settings.digest.period_s,
        digest_check_s=settings.digest.check_s,
        lease_s=d.lease_s,
    )


def replica_name() -> str:
    """Names this process on its claims and leases (logged when another takes over)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:6]}"


@contextlib.asynccontextmanager
async def bootstrap(
    settings: NotifierSettings,
    *,
    mailer: Mailer | None = None,
    webhooks: WebhookSender | None = None,
) -> AsyncIterator[NotifierService]:
    async with (
        open_runtime(settings.consumer_name, settings.kafka, settings.mongo) as runtime,
        httpx.AsyncClient(
            base_url=settings.registry.url, timeout=settings.registry.timeout_s
        ) as registry_http,
        httpx.AsyncClient(
            base_url=settings.matcher.url, timeout=settings.matcher.timeout_s
        ) as matcher_http,
        httpx.AsyncClient(
            transport=VettedTransport(AddressPolicy(settings.delivery.allow_loopback)),
            timeout=settings.delivery.webhook_timeout_s,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the transport connects itself
        ) as webhook_http,
    ):
        store = MongoNotifierStore(runtime.db)
        await store.ensure_indexes()
        notifier = Notifier(store=store)
        holder = replica_name()
        outreach = RegistryOutreach(registry_http, settings.registry_service_token)
        signer = Signer(
            settings.link_secret.get_secret_value(),
            settings.link_ttl_s,
            settings.stream_ticket_ttl_s,
        )
        worker = DeliveryWorker(
            store=store,
            mailer=mailer or SmtpMailer(settings.smtp),
            webhooks=webhooks or HttpWebhookSender(webhook_http),
            dead_letters=runtime.bus,
            signer=signer,
            policy=delivery_policy(settings),
            webhook_key=settings.webhook_key.get_secret_value(),
            inbox_url=settings.inbox_url,
            sender=settings.smtp.sender,
            clock=notifier.clock,
            holder=holder,
            digest_lease=Lease(
                MongoLeaseStore(runtime.db),
                "digests",
                holder,
                settings.digest.lease,
                notifier.clock,
            ),
            outreach=outreach,
            public_url=settings.public_url,
            metrics=DeliveryMetrics(runtime.metrics, [c.value for c in Channel]),
            dead_lettered=runtime.measures.dead_letters,
        )
        notifier.on_deliveries = worker.wake
        reminders = Reminders(
            store=store,
            before=settings.reminders.before,
            check_s=settings.reminders.check_s,
            lease=Lease(
                MongoLeaseStore(runtime.db),
                "reminders",
                holder,
                settings.reminders.lease,
                notifier.clock,
            ),
            clock=notifier.clock,
            on_deliveries=worker.wake,
            on_change=notifier.changes.notify,
        )
        parties = PartySweep(
            store=store,
            outreach=outreach,
            lease=Lease(
                MongoLeaseStore(runtime.db),
                "party-sweep",
                holder,
                settings.parties.lease,
                notifier.clock,
            ),
            sweep_s=settings.parties.sweep_s,
            remind_after=settings.parties.remind_after,
            max_reminders=settings.parties.max_reminders,
            clock=notifier.clock,
            on_deliveries=worker.wake,
        )
        runtime.consume(SPECS[topics.COORDINATORS], notifier.on_coordinator_event)
        runtime.consume(SPECS[topics.EMPLOYERS], notifier.on_employer_event)
        runtime.consume(
            SPECS[topics.MATCHES], notifier.on_match_event, batches=notifier.on_match_events
        )
        runtime.consume(SPECS[topics.PLACEMENTS], notifier.on_placement_event)
        runtime.consume(SPECS[topics.OPENINGS], notifier.on_opening_event)
        runtime.consume(SPECS[topics.SEASONS], notifier.on_season_event)
        await runtime.start()
        runtime.spawn(worker.run, "delivery-worker")
        runtime.spawn(worker.run_digests, "digests")
        runtime.spawn(reminders.run, "reminders")
        runtime.spawn(parties.run, "party-sweep")
        yield NotifierService(
            notifier=notifier,
            directory=RegistryDirectory(
                registry_http,
                settings.registry.identity_cache_s,
                settings.registry.unknown_token_cache_s,
            ),
            placements=RegistryPlacements(registry_http),
            account=RegistryAccount(registry_http, settings.registry.class_list_timeout_s),
            party=RegistryParty(registry_http),
            reports=RegistryReports(registry_http),
            signer=signer,
            worker=worker,
            reminders=reminders,
            store=store,
            runtime=runtime,
            settings=settings,
            roster=HttpRosterSources(registry_http, matcher_http),
            desk=RegistryDesk(registry_http),
        )
