from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import ValidationError

from wbl_schemas.events import (
    TOPIC_EVENTS,
    OpeningClosed,
    OpeningRef,
    StudentMatchProfile,
    parse_event,
)
from wbl_schemas.jsonschema import DEFAULT_DIR, render_all
from wbl_schemas.reference import load_reference
from wbl_schemas.topics import TOPIC_SPECS, all_topics

pytestmark = pytest.mark.unit

PERSONAL = {"first_name", "last_name", "email", "date_of_birth", "name", "phone"}


def test_checked_in_json_schemas_match_the_models() -> None:
    rendered = render_all()
    on_disk = {p.name: p.read_text() for p in DEFAULT_DIR.glob("*.schema.json")}
    assert on_disk == rendered, "schemas/json drifted: run `make schemas` and commit"


def test_every_topic_has_a_parser_and_a_dead_letter_topic() -> None:
    assert set(TOPIC_EVENTS) == {spec.name for spec in TOPIC_SPECS}
    names = {spec.name for spec in all_topics()}
    assert all(f"{spec.name}.dlq" in names for spec in TOPIC_SPECS)


def test_an_event_round_trips_through_json_with_its_key() -> None:
    event = OpeningClosed(
        producer="registry", payload=OpeningRef(opening_id="opn_1", employer_id="emp_1", version=3)
    )
    parsed = parse_event("wbl.openings", event.model_dump_json())
    assert parsed == event
    assert parsed.key() == "opn_1"


def test_an_event_of_another_topic_is_refused() -> None:
    event = OpeningClosed(
        producer="registry", payload=OpeningRef(opening_id="opn_1", employer_id="emp_1", version=1)
    )
    with pytest.raises(ValidationError):
        parse_event("wbl.students", event.model_dump_json())


def test_student_events_cannot_carry_personal_data() -> None:
    assert not PERSONAL & set(StudentMatchProfile.model_fields)
    schema = json.loads(render_all()["wbl.students.schema.json"])
    assert not any(f'"{field}"' in json.dumps(schema) for field in PERSONAL)


def test_unknown_payload_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="first_name"):
        StudentMatchProfile.model_validate(
            {
                "student_id": "stu_1",
                "school_id": "sch_1",
                "version": 1,
                "program": "p-tech",
                "career_fields": ["cybersecurity"],
                "grade": 11,
                "age_band": "16-17",
                "home": {"town": "Lowell", "lat": 42.6, "lon": -71.3},
                "max_commute_km": 20,
                "available_from": date(2027, 6, 1),
                "available_to": date(2027, 8, 1),
                "hours_per_week": 20,
                "first_name": "Ana",
            }
        )


def test_reference_data_has_unique_codes_and_known_related_fields() -> None:
    reference = load_reference()
    for kind in ("career_fields", "programs", "credentials"):
        codes = [e.code for e in getattr(reference, kind)]
        assert len(codes) == len(set(codes)), kind
    fields = reference.codes("career_fields")
    assert {"cybersecurity", "robotics-and-automation-technology", "hvac"} <= fields
    assert all(related <= fields for related in reference.related_fields.values())
