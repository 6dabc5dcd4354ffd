"""The checked-in AsyncAPI document (schemas/asyncapi.json) is what the models, the topic
specs and the services' consumers say: it fails when any of them drifts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from wbl_schemas import topics
from wbl_schemas.asyncapi import CONSUMERS, DEFAULT_FILE, KEYS, PRODUCERS, events_of, render
from wbl_schemas.events import AnyEvent, OpeningClosed, OpeningRef
from wbl_schemas.jsonschema import render_all
from wbl_schemas.topics import TOPIC_SPECS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICE_SOURCES = {name: ROOT / "services" / name / "src" for name in CONSUMERS}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFAULT_FILE.read_text())
    return loaded


def test_checked_in_asyncapi_matches_the_models() -> None:
    assert DEFAULT_FILE.read_text() == render(), "schemas/asyncapi.json drifted: run `make schemas`"


def test_every_topic_and_its_dead_letter_topic_is_a_channel(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert set(channels) == {s.name for s in TOPIC_SPECS} | {s.dlq for s in TOPIC_SPECS}
    for spec in TOPIC_SPECS:
        kafka = channels[spec.name]["bindings"]["kafka"]
        assert kafka["topic"] == channels[spec.name]["address"] == spec.name
        assert kafka["partitions"] == spec.partitions
        policy = ["compact"] if spec.compacted else ["delete"]
        assert kafka["topicConfiguration"]["cleanup.policy"] == policy
        dead = channels[spec.dlq]["bindings"]["kafka"]["topicConfiguration"]
        assert dead["cleanup.policy"] == ["delete"]


def test_every_event_is_a_message_of_its_topic_keyed_as_it_is_published(
    document: dict[str, Any],
) -> None:
    every = set()
    for spec in TOPIC_SPECS:
        on_channel = set(document["channels"][spec.name]["messages"])
        assert on_channel == {e.__name__ for e in events_of(spec.name)}
        every |= on_channel
        for event in events_of(spec.name):
            message = document["components"]["messages"][event.__name__]
            field = KEYS[spec.name]
            assert message["bindings"]["kafka"]["key"]["description"] == f"payload.{field}"
            payload_model = event.model_fields["payload"].annotation
            payload = payload_model.model_construct(**{field: "the-key"})  # type: ignore[union-attr]
            built = event.model_construct(event_type=event.__name__, producer="x", payload=payload)
            assert built.key() == "the-key"
    assert every == {e.__name__ for e in get_args(AnyEvent)}


def test_event_schemas_are_the_json_schema_files_own(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, text in render_all().items():
        defs = json.loads(text.replace("#/$defs/", "#/components/schemas/"))["$defs"]
        for model, schema in defs.items():
            assert schemas[model] == schema, f"{model} differs from {name}"


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert len(found) > 100
    for ref in found:
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]


def test_a_real_event_validates_against_its_message_payload(document: dict[str, Any]) -> None:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:asyncapi", resource)
    payload = {"$ref": "urn:asyncapi#/components/messages/OpeningClosed/payload"}
    validator = Draft202012Validator(payload, registry=registry)
    event = OpeningClosed(
        producer="registry", payload=OpeningRef(opening_id="opn_1", employer_id="emp_1", version=2)
    )
    assert list(validator.iter_errors(event.model_dump(mode="json"))) == []
    assert list(validator.iter_errors({**event.model_dump(mode="json"), "payload": {}})) != []


CONSUMED = re.compile(r"runtime\.consume\(\s*SPECS\[topics\.([A-Z_]+)\]")


@pytest.mark.parametrize("service", sorted(CONSUMERS))
def test_each_service_consumes_what_the_document_says(service: str) -> None:
    source = (SERVICE_SOURCES[service] / f"wbl_{service}" / "bootstrap.py").read_text()
    consumed = {getattr(topics, name) for name in CONSUMED.findall(source)}
    assert consumed == set(CONSUMERS[service])


@pytest.mark.parametrize("service", sorted(PRODUCERS))
def test_each_producer_uses_every_event_of_its_topics(service: str) -> None:
    # registry builds its placement events by kind (`kind(producer=...)`), so this checks
    # that the events are used there, not how.
    source = "\n".join(p.read_text() for p in SERVICE_SOURCES[service].rglob("*.py"))
    for topic in PRODUCERS[service]:
        for event in events_of(topic):
            assert re.search(rf"\b{event.__name__}\b", source), f"{service} never uses {event}"
    others = {t for name, sent in PRODUCERS.items() if name != service for t in sent}
    assert not others & set(PRODUCERS[service]), "one producer per topic"
