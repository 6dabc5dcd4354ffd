"""Generate the checked-in AsyncAPI 3.0 document of every topic and event from the models.

`python -m wbl_schemas.asyncapi [FILE]` writes it (default: schemas/asyncapi.json next to
this package's project); a test compares the checked-in file with `render()`.

Built here from the topic specs and the event unions rather than by FastStream's generator:
the services' subscribers take raw Kafka messages (so FastStream sees no payload type), and
FastStream 0.7 makes one channel per subscriber or publisher, puts a topic's events in one
message, and has no Kafka binding for a message's key or a topic's cleanup policy. Here each
topic is one channel, each event one message with its key, and each service's part is an
operation: what it sends, what it receives (in which consumer group), where it dead-letters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args

from pydantic.json_schema import models_json_schema

from wbl_schemas import topics
from wbl_schemas.envelope import Envelope
from wbl_schemas.events import AnyEvent
from wbl_schemas.topics import TOPIC_SPECS, TopicSpec

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "asyncapi.json"
BINDING_VERSION = "0.5.0"  # the AsyncAPI Kafka bindings' version these follow
SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"

# The payload field every event of a topic is keyed by (each event's `key()`).
KEYS: dict[str, str] = {
    topics.OPENINGS: "opening_id",
    topics.STUDENTS: "student_id",
    topics.MATCHES: "student_id",
    topics.PLACEMENTS: "student_id",
    topics.COORDINATORS: "coordinator_id",
    topics.EMPLOYERS: "employer_id",
    topics.SEASONS: "season_id",
}
# Who publishes each topic (registry through its outbox relay) and who consumes it; each
# consumer group is `<consumer name>.<topic>`, the consumer name defaulting to the service's.
PRODUCERS: dict[str, tuple[str, ...]] = {
    "registry": (
        topics.OPENINGS,
        topics.STUDENTS,
        topics.PLACEMENTS,
        topics.COORDINATORS,
        topics.EMPLOYERS,
    ),
    "matcher": (topics.MATCHES, topics.SEASONS),
}
CONSUMERS: dict[str, tuple[str, ...]] = {
    "registry": (topics.MATCHES,),
    "matcher": (topics.OPENINGS, topics.STUDENTS, topics.PLACEMENTS),
    "notifier": (
        topics.OPENINGS,
        topics.COORDINATORS,
        topics.EMPLOYERS,
        topics.MATCHES,
        topics.PLACEMENTS,
        topics.SEASONS,
    ),
}
DEAD_LETTER = "DeadLetter"
# Dead letters beyond the messages a consumer cannot take (notifier's delivery worker).
ALSO_DEAD_LETTERED = {("notifier", topics.MATCHES): "and notifications it could not deliver"}


def events_of(topic: str) -> list[type[Envelope]]:
    """The event classes of `topic`, in the order the models declare them."""
    return [event for event in get_args(AnyEvent) if event.topic == topic]


def render() -> str:
    """The AsyncAPI document as JSON text."""
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def document() -> dict[str, Any]:
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "wbl-placements events",
            "version": "1.0.0",
            "description": (
                "Every message is a JSON envelope (event_id, event_type, schema_version, "
                "occurred_at, producer, correlation_id, payload). Delivery is at least once: "
                "consumers are idempotent on event_id. A message that fails validation, that a "
                "consumer rejects, or whose handling keeps failing after a bounded number of "
                "attempts goes, unchanged, to its topic's `.dlq` topic with the reason in the "
                "`x-error` header; the consumer goes on. Student events carry a pseudonymous "
                "id and only what matching needs: no names, emails, birth dates or "
                "special-population flags."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "`make up`; docker-compose.yml runs the same topics",
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {"messages": _messages(), "schemas": _schemas()},
    }


def _topic_binding(spec: TopicSpec) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": spec.name,
            "partitions": spec.partitions,
            "topicConfiguration": {"cleanup.policy": ["compact" if spec.compacted else "delete"]},
            "bindingVersion": BINDING_VERSION,
        }
    }


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for spec in TOPIC_SPECS:
        cleanup = "compacted: the latest event per key is kept" if spec.compacted else "deleted"
        channels[spec.name] = {
            "address": spec.name,
            "description": f"Keyed by {KEYS[spec.name].replace('_', ' ')}; {cleanup}.",
            "messages": {e.__name__: {"$ref": MESSAGES + e.__name__} for e in events_of(spec.name)},
            "bindings": _topic_binding(spec),
        }
        dlq = TopicSpec(spec.dlq, partitions=1, compacted=False)
        channels[spec.dlq] = {
            "address": spec.dlq,
            "description": (
                f"Messages of {spec.name} that failed validation, were rejected or kept failing."
            ),
            "messages": {DEAD_LETTER: {"$ref": MESSAGES + DEAD_LETTER}},
            "bindings": _topic_binding(dlq),
        }
    return channels


def _channel_messages(channel: str) -> list[dict[str, str]]:
    names = [e.__name__ for e in events_of(channel)] or [DEAD_LETTER]
    return [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names]


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for service, sent in PRODUCERS.items():
        for topic in sent:
            operations[f"{service}.sends.{topic}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{service} publishes its {topic} events",
                "messages": _channel_messages(topic),
            }
    for service, received in CONSUMERS.items():
        for topic in received:
            operations[f"{service}.receives.{topic}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"{service} consumes {topic}, at least once",
                "messages": _channel_messages(topic),
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "default": f"{service}.{topic}"},
                        "bindingVersion": BINDING_VERSION,
                    }
                },
            }
            dlq = f"{topic}.dlq"
            also = ALSO_DEAD_LETTERED.get((service, topic))
            operations[f"{service}.dead-letters.{topic}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dlq}"},
                "summary": f"{service} sends to {dlq} what it cannot take from {topic}"
                + (f", {also}" if also else ""),
                "messages": _channel_messages(dlq),
            }
    return operations


def _messages() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for spec in TOPIC_SPECS:
        key = KEYS[spec.name]
        for event in events_of(spec.name):
            messages[event.__name__] = {
                "name": event.__name__,
                "title": event.__name__,
                "summary": (event.__doc__ or "").strip(),
                "payload": {"$ref": SCHEMAS + event.__name__},
                "correlationId": {"location": "$message.payload#/correlation_id"},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": f"payload.{key}"},
                        "bindingVersion": BINDING_VERSION,
                    }
                },
            }
    messages[DEAD_LETTER] = {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A message as it was consumed, with why it was set aside.",
        "headers": {
            "type": "object",
            "properties": {
                "x-error": {"type": "string", "maxLength": 2000, "description": "the reason"},
                "x-original-topic": {"type": "string", "description": "where it came from"},
                "x-reason": {
                    "type": "string",
                    "enum": ["invalid", "rejected", "failed", "undeliverable"],
                    "description": "failed validation; refused by the consumer; failed every "
                    "attempt; a notification no attempt could deliver",
                },
                "x-consumer": {
                    "type": "string",
                    "description": "the consumer group that set it aside",
                },
                "x-delivery-id": {
                    "type": "string",
                    "description": "an undeliverable notification's delivery id",
                },
            },
            "required": ["x-error", "x-original-topic"],
        },
        "payload": {"description": "the original message's bytes, unchanged (may be invalid)"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "the original message's key (a failed delivery's: the "
                    "coordinator id)",
                },
                "bindingVersion": BINDING_VERSION,
            }
        },
    }
    return messages


def _schemas() -> dict[str, Any]:
    """Every event's JSON Schema (serialization mode, as in schemas/json) by name."""
    every = [(event, "serialization") for event in get_args(AnyEvent)]
    _, schemas = models_json_schema(every, ref_template=SCHEMAS + "{model}")  # type: ignore[arg-type]
    defs: dict[str, Any] = schemas["$defs"]
    return defs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DEFAULT_FILE
    target.write_text(render())
    print(f"wrote the AsyncAPI document ({len(TOPIC_SPECS)} topics and their DLQs) to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
