"""The Kafka topics of ``wbl_schemas.topics``: created when missing, checked when present."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from infra.config import REPO_ROOT, Config, InfraError
from infra.kafka import import_aiokafka, run_async, topic_errors

if TYPE_CHECKING:
    from wbl_schemas.topics import TopicSpec

SCHEMAS_SRC = REPO_ROOT / "schemas" / "src"
TOPIC_ALREADY_EXISTS = 36


def load_specs() -> list[TopicSpec]:
    try:
        from wbl_schemas.topics import all_topics
    except ImportError:
        if str(SCHEMAS_SRC) not in sys.path:
            sys.path.insert(0, str(SCHEMAS_SRC))
        try:
            from wbl_schemas.topics import all_topics
        except ImportError as exc:
            raise InfraError(
                f"cannot import wbl_schemas.topics ({exc}); expected it in {SCHEMAS_SRC}"
            ) from None
    return list(all_topics())


def _policy(spec: TopicSpec) -> str:
    return "compact" if spec.compacted else "delete"


async def _create_missing(bootstrap: str, specs: list[TopicSpec]) -> tuple[list[str], list[str]]:
    """Create the missing topics; (created, how existing ones differ from their specs)."""
    import_aiokafka()
    from aiokafka.admin import (  # type: ignore[import-untyped,unused-ignore]
        AIOKafkaAdminClient,
        NewTopic,
    )

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        if missing:
            new = [
                NewTopic(s.name, s.partitions, 1, topic_configs={"cleanup.policy": _policy(s)})
                for s in missing
            ]
            response = await admin.create_topics(new, timeout_ms=10000)
            for name, code, message in topic_errors(response):
                if code == 0:
                    created.append(name)
                elif code != TOPIC_ALREADY_EXISTS:  # created concurrently: fine
                    raise InfraError(f"creating Kafka topic {name} failed: error {code} {message}")
        old = [s for s in specs if s.name not in created]
        return created, (await _differences(admin, old) if old else [])
    finally:
        await admin.close()


async def _differences(admin: Any, specs: list[TopicSpec]) -> list[str]:
    from aiokafka.admin.config_resource import (  # type: ignore[import-untyped,unused-ignore]
        ConfigResource,
        ConfigResourceType,
    )

    resources = [
        ConfigResource(ConfigResourceType.TOPIC, s.name, configs={"cleanup.policy": None})
        for s in specs
    ]
    actual: dict[str, str] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "cleanup.policy":
                    actual[resource[3]] = entry[1]
    described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in specs])}
    problems: list[str] = []
    for spec in specs:
        have = actual.get(spec.name)
        if have is not None and have != _policy(spec):
            problems.append(f"{spec.name} has cleanup.policy={have}, not {_policy(spec)}")
        count = len(described.get(spec.name, {}).get("partitions", []))
        if count and count != spec.partitions:
            problems.append(f"{spec.name} has {count} partitions, not {spec.partitions}")
    return problems


def create(bootstrap: str) -> tuple[int, list[str], list[str]]:
    """Create the missing topics on ``bootstrap``: (how many topics, created, problems)."""
    specs = load_specs()
    created, problems = run_async(_create_missing(bootstrap, specs), 60)
    return len(specs), created, problems


def ensure(config: Config) -> None:
    """Every topic exists as specified, or InfraError saying which differ and what to do."""
    count, created, problems = create(config.bootstrap_servers)
    print(f"kafka topics: {count} ready ({len(created)} created)")
    if problems:
        raise InfraError(
            "existing Kafka topics differ from wbl_schemas.topics: "
            + "; ".join(problems)
            + " (servers left running; to recreate them: infra stop, then delete "
            f"{config.run_dir / 'kafka'})"
        )
