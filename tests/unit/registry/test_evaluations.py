"""The supervisor's evaluation: the competencies of every career field, the scale, and a
submission checked competency by competency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wbl_registry.evaluations import (
    MOST_COMMENT,
    SCALE,
    check_submission,
    load_competencies,
)
from wbl_schemas.reference import BUNDLED_DIR, load_reference

pytestmark = pytest.mark.unit

COMPETENCIES = load_competencies(BUNDLED_DIR)
HVAC = COMPETENCIES.for_field("hvac")


def test_every_career_field_has_the_common_competencies_and_some_of_its_own() -> None:
    for field in load_reference(BUNDLED_DIR).career_fields:
        own = COMPETENCIES.for_field(field.code)
        assert own[: len(COMPETENCIES.common)] == COMPETENCIES.common
        assert len(own) > len(COMPETENCIES.common), field.code
        assert len({c.id for c in own}) == len(own), field.code
        assert all(c.name and c.description for c in own)


def test_the_scale_runs_from_not_yet_to_exceeds() -> None:
    assert SCALE == ((1, "Not yet"), (2, "Developing"), (3, "Proficient"), (4, "Exceeds"))


def test_a_complete_submission_on_the_scale_passes() -> None:
    ratings = {c.id: 1 + n % 4 for n, c in enumerate(HVAC)}
    assert check_submission(HVAC, ratings, "Reliable and careful.") == []
    assert check_submission(HVAC, ratings, None) == []


def test_a_bad_submission_names_each_competency_at_fault() -> None:
    ratings: dict[str, object] = {c.id: 3 for c in HVAC}
    del ratings["teamwork"]
    ratings["refrigerant-handling"] = 5
    ratings["safety"] = True  # not a number, however JSON spells it
    ratings["juggling"] = 2
    errors = check_submission(HVAC, ratings, "x" * (MOST_COMMENT + 1))
    by_field = {e.field: e.message for e in errors}
    assert set(by_field) == {
        "ratings.teamwork",
        "ratings.refrigerant-handling",
        "ratings.safety",
        "ratings.juggling",
        "comment",
    }
    assert "Teamwork" in by_field["ratings.teamwork"]
    assert "Refrigerant handling" in by_field["ratings.refrigerant-handling"]
    assert "juggling" in by_field["ratings.juggling"]
    assert "2000" in by_field["comment"]


def test_a_field_not_listed_is_rated_on_the_common_competencies(tmp_path: Path) -> None:
    data = json.loads((BUNDLED_DIR / "competencies.json").read_text())
    del data["by_field"]["hvac"]
    (tmp_path / "competencies.json").write_text(json.dumps(data))
    assert load_competencies(tmp_path).for_field("hvac") == COMPETENCIES.common


def test_an_edited_list_that_is_not_competencies_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "competencies.json").write_text('{"common": [{"name": "x"}]}')
    with pytest.raises(ValueError, match=r"competencies\.json"):
        load_competencies(tmp_path)
    common = [{"id": "a", "name": "A", "description": ""}]
    twice = {"common": common, "by_field": {"hvac": common}}
    (tmp_path / "competencies.json").write_text(json.dumps(twice))
    with pytest.raises(ValueError, match="twice"):
        load_competencies(tmp_path)
