"""Reference data (career fields, programs, credentials, schools) with stable codes.

The JSON files are data, not code: ops may point `WBL_REFERENCE_DIR` at an edited copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class ReferenceEntry:
    code: str
    name: str


@dataclass(frozen=True)
class ReferenceData:
    career_fields: tuple[ReferenceEntry, ...]
    programs: tuple[ReferenceEntry, ...]
    credentials: tuple[ReferenceEntry, ...]
    related_fields: dict[str, frozenset[str]]
    schools: tuple[ReferenceEntry, ...] = ()

    def codes(self, kind: str) -> frozenset[str]:
        entries: tuple[ReferenceEntry, ...] = getattr(self, kind)
        return frozenset(e.code for e in entries)


def _entries(path: Path) -> list[dict[str, object]]:
    rows = json.loads(path.read_text())
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and isinstance(r.get("code"), str) and isinstance(r.get("name"), str)
        for r in rows
    ):
        raise ValueError(f"{path}: expected a JSON list of {{code, name}} objects")
    return rows


def load_reference(directory: Path | None = None) -> ReferenceData:
    """Load the reference files from `directory`, `WBL_REFERENCE_DIR` or the bundled copy."""
    root = directory or Path(os.environ.get("WBL_REFERENCE_DIR") or BUNDLED_DIR)
    fields = _entries(root / "career-fields.json")
    related = {
        str(f["code"]): frozenset(str(r) for r in f.get("related", []))  # type: ignore[attr-defined]
        for f in fields
    }

    def as_entries(rows: list[dict[str, object]]) -> tuple[ReferenceEntry, ...]:
        return tuple(ReferenceEntry(code=str(r["code"]), name=str(r["name"])) for r in rows)

    return ReferenceData(
        career_fields=as_entries(fields),
        programs=as_entries(_entries(root / "programs.json")),
        credentials=as_entries(_entries(root / "credentials.json")),
        related_fields=related,
        # Optional, so that an edited copy made before schools were listed still loads.
        schools=as_entries(_entries(root / "schools.json"))
        if (root / "schools.json").exists()
        else (),
    )
