"""Generate the checked-in JSON Schema files from the event models.

`python -m wbl_schemas.jsonschema [DIR]` writes them (default: schemas/json next to this
package's project); a test compares the checked-in files with `render_all()`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wbl_schemas.events import TOPIC_EVENTS

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "json"


def render_all() -> dict[str, str]:
    """File name → JSON text, one schema per topic (a union of its events)."""
    files: dict[str, str] = {}
    for topic, adapter in TOPIC_EVENTS.items():
        schema = adapter.json_schema(mode="serialization")
        schema["title"] = f"Events on {topic}"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        files[f"{topic}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DEFAULT_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (target / name).write_text(text)
    print(f"wrote {len(TOPIC_EVENTS)} schemas to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
