"""Kafka topics of the system: names, keys and cleanup policies (DESIGN.md, Events)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


OPENINGS = "wbl.openings"
STUDENTS = "wbl.students"
MATCHES = "wbl.matches"
PLACEMENTS = "wbl.placements"
COORDINATORS = "wbl.coordinators"
EMPLOYERS = "wbl.employers"
SEASONS = "wbl.seasons"

TOPIC_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(OPENINGS, partitions=3, compacted=True),
    TopicSpec(STUDENTS, partitions=3, compacted=True),
    TopicSpec(MATCHES, partitions=3, compacted=False),
    TopicSpec(PLACEMENTS, partitions=3, compacted=False),
    TopicSpec(COORDINATORS, partitions=1, compacted=True),
    TopicSpec(EMPLOYERS, partitions=1, compacted=True),
    # One key, the current season: compaction keeps its latest state for new consumers.
    TopicSpec(SEASONS, partitions=1, compacted=True),
)


def all_topics() -> list[TopicSpec]:
    """Every topic with its dead-letter topic (DLQs are never compacted)."""
    specs: list[TopicSpec] = []
    for spec in TOPIC_SPECS:
        specs.append(spec)
        specs.append(TopicSpec(spec.dlq, partitions=1, compacted=False))
    return specs
