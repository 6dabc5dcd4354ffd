"""The supervisor's evaluation of a student (ADR 6): the competencies rated, per career field
(reference data: `competencies.json`, a `common` list every field shares and `by_field`
additions, which ops may edit like the other lists), the rating scale, and the check of a
submission. Pure apart from loading the list."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wbl_schemas.reference import BUNDLED_DIR

# The scale the supervisor rates each competency on, lowest first.
SCALE: tuple[tuple[int, str], ...] = (
    (1, "Not yet"),
    (2, "Developing"),
    (3, "Proficient"),
    (4, "Exceeds"),
)
LABELS = dict(SCALE)
MOST_COMMENT = 2000


@dataclass(frozen=True)
class Competency:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Competencies:
    common: tuple[Competency, ...]
    by_field: Mapping[str, tuple[Competency, ...]]

    def for_field(self, career_field: str) -> tuple[Competency, ...]:
        """The common competencies, then the field's own (a field not listed: common only)."""
        return (*self.common, *self.by_field.get(career_field, ()))


@dataclass(frozen=True)
class FieldError:
    field: str  # `ratings.<competency id>`, `ratings` or `comment`
    message: str  # plain words for the supervisor, naming the competency


def load_competencies(directory: Path | None = None) -> Competencies:
    root = directory or Path(os.environ.get("WBL_REFERENCE_DIR") or BUNDLED_DIR)
    path = root / "competencies.json"
    if not path.exists():  # an edited copy made before competencies were data: the bundled ones
        path = BUNDLED_DIR / "competencies.json"
    try:
        return _competencies(json.loads(path.read_text()))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path}: not a list of competencies ({error})") from error


def _competencies(data: dict[str, object]) -> Competencies:
    common = _listed(data["common"])
    by_field = {
        str(field): _listed(rows)
        for field, rows in data.get("by_field", {}).items()  # type: ignore[attr-defined]
    }
    for field, own in by_field.items():
        ids = [c.id for c in (*common, *own)]
        if len(ids) != len(set(ids)):
            raise ValueError(f"a competency id is listed twice for {field}")
    return Competencies(common=common, by_field=by_field)


def _listed(rows: object) -> tuple[Competency, ...]:
    if not isinstance(rows, list):
        raise ValueError("expected a list of {id, name, description}")
    found = tuple(Competency(str(r["id"]), str(r["name"]), str(r["description"])) for r in rows)
    if not all(c.id and c.name for c in found):
        raise ValueError("every competency needs an id and a name")
    return found


def check_submission(
    competencies: tuple[Competency, ...], ratings: Mapping[str, object], comment: str | None
) -> list[FieldError]:
    """Every competency rated exactly once on the scale, nothing else rated, the comment
    within its length: each problem named, so the supervisor can fix the form."""
    known = {c.id: c for c in competencies}
    errors = [
        FieldError(f"ratings.{c.id}", f"rate “{c.name}” from 1 ({LABELS[1]}) to 4 ({LABELS[4]})")
        for c in competencies
        if c.id not in ratings
    ]
    for key, value in ratings.items():
        competency = known.get(key)
        if competency is None:
            unknown = f"“{key}” is not one of this evaluation's competencies"
            errors.append(FieldError(f"ratings.{key}", unknown))
        elif isinstance(value, bool) or not isinstance(value, int) or value not in LABELS:
            errors.append(
                FieldError(
                    f"ratings.{key}",
                    f"the rating of “{competency.name}” must be a whole number from 1 to 4",
                )
            )
    if comment is not None and len(comment) > MOST_COMMENT:
        errors.append(FieldError("comment", f"the comment is over {MOST_COMMENT} characters"))
    return errors
