"""Reports as CSV that a spreadsheet opens as text, never as formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# A cell starting with one of these is a formula (or starts one) in Excel, LibreOffice and
# Google Sheets: `=HYPERLINK(…)`, `+cmd|…`, `-2+3`, `@SUM(…)`, and tab or CR before them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that would start a formula, prefixed with a quote (OWASP's advice);
    a boolean as `true`/`false` (not Python's `True`); numbers and other cells unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields))
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
