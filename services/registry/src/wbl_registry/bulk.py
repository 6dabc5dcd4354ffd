"""A class list, as CSV or a JSON array, into validated student applications and row errors.

Rows are numbered from 1 in the order given (a CSV header is not counted), so a
coordinator can find each refused row in their spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from wbl_registry.handlers import StudentApplication
from wbl_registry.models import RowError, StudentCreate

LIST_SEPARATOR = ";"
CSV_LISTS = ("career_fields", "credentials", "languages", "special_populations")
CSV_HOME = {"home_town": "town", "home_lat": "lat", "home_lon": "lon"}
CSV_COLUMNS = (
    "school_id",
    "first_name",
    "last_name",
    "email",
    "date_of_birth",
    "grade",
    "program",
    "career_fields",
    "credentials",
    "languages",
    "home_town",
    "home_lat",
    "home_lon",
    "max_commute_km",
    "available_from",
    "available_to",
    "hours_per_week",
    "special_populations",
)
CSV_REQUIRED = frozenset(CSV_COLUMNS) - {"credentials", "languages", "special_populations"}
CSV_EXAMPLE = (
    ",".join(CSV_COLUMNS)
    + "\nsch_worcester_tech,Ana,Souza,ana.souza@students.example.org,2010-03-14,11,"
    "stem-tech-academy,robotics-and-automation-technology;mechatronics,osha-10-general,pt;en,"
    "Worcester,42.27,-71.80,20,2027-06-01,2027-08-31,20,english-learners\n"
)


class ClassListError(ValueError):
    """The upload as a whole is unreadable (not a row of it)."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


def csv_records(text: str) -> list[dict[str, Any]]:
    """CSV rows as request-shaped records: lists split on ';', home columns nested."""
    # newline="": line ends inside quoted cells are data, and \r\n, \n or \r end a row.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = set(reader.fieldnames or ())
        missing = sorted(CSV_REQUIRED - header)
        if missing:
            raise ClassListError(f"the header lacks column(s) {missing}")
        unknown = sorted(header - set(CSV_COLUMNS))
        if unknown:
            raise ClassListError(f"unknown column(s) {unknown}; expected {list(CSV_COLUMNS)}")
        return [_record(row) for row in reader]
    except csv.Error as error:  # e.g. a NUL byte: the file is not CSV text
        raise ClassListError(f"not readable as CSV: {error}") from None


def _record(row: dict[str | Any, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    home: dict[str, Any] = {}
    for column, raw in row.items():
        if column is None:  # more cells than columns
            record["extra_cells"] = raw
            continue
        value = (raw or "").strip()
        if column in CSV_HOME:
            home[CSV_HOME[column]] = value
        elif column in CSV_LISTS:
            record[column] = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
        elif value:
            record[column] = value
    record["home"] = home
    return record


def json_records(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ClassListError("expected a JSON array of students", "body")
    return body


def applications(
    records: Iterable[Any],
) -> tuple[list[tuple[int, StudentApplication]], list[RowError]]:
    """Validate each record on its own; the good ones and, for the bad, row and field."""
    good: list[tuple[int, StudentApplication]] = []
    errors: list[RowError] = []
    for row, record in enumerate(records, start=1):
        try:
            good.append((row, StudentCreate.model_validate(record).application()))
        except ValidationError as error:
            errors.extend(
                RowError(row=row, field=_field(e["loc"]), message=e["msg"]) for e in error.errors()
            )
    return good, errors


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<row>"
