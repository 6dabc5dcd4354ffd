"""A class list, as CSV or a JSON array, into validated student applications and row errors.

Rows are numbered from 1 in the order given (a CSV header is not counted), so a
coordinator can find each refused row in their spreadsheet. `check_class_list` does it
all from the uploaded bytes, in a worker process (seconds of CPU for a 5 MiB list).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import pickle
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from wbl_registry.handlers import StudentApplication
from wbl_registry.models import RowError, StudentCreate

MAX_ROWS = 10_000  # a larger list is refused whole: split it
MAX_ROW_ERRORS = 10  # listed per refused row: a row far off is reported, not echoed
# The event loop unpickles the good rows 250 at a time (about 10 ms each) and stores them
# 1,000 at a time (the registry checks them first, about 30 ms), so no stretch holds it
# long; a list of up to 1,000 good rows is stored in one call, as before.
SLICE_ROWS = 250
STORE_ROWS = 1_000
ClassListKind = Literal["csv", "json"]

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

    def __reduce__(self) -> tuple[type[ClassListError], tuple[str, str]]:
        return ClassListError, (str(self), self.field)  # from a worker, with its field


@dataclass(frozen=True)
class CheckedClassList:
    """A class list checked in a worker. The good rows come back in pickled slices, each
    unpickled on the event loop only when it is stored: 28,000 applications unpickled at
    once held the loop half a second (their pydantic `Place`s, mostly)."""

    slices: tuple[bytes, ...]
    errors: tuple[tuple[int, str, str], ...]  # (row, field, message): quick to unpickle

    async def good_rows(self) -> AsyncIterator[list[tuple[int, StudentApplication]]]:
        """The good rows, up to STORE_ROWS at a time, unpickled a slice per turn of the loop."""
        rows: list[tuple[int, StudentApplication]] = []
        for piece in self.slices:
            rows.extend(pickle.loads(piece))  # written by our own worker
            await asyncio.sleep(0)
            if len(rows) >= STORE_ROWS:
                yield rows
                rows = []
        if rows:
            yield rows


def check_class_list(kind: ClassListKind, raw: bytes) -> CheckedClassList:
    """Read an uploaded class list and validate every row; ClassListError when the upload
    cannot be read as a whole. Pure, so it runs in a worker process."""
    records = csv_records(text_of(raw)) if kind == "csv" else json_records(_json(raw))
    good, errors = applications(records)
    slices = tuple(
        pickle.dumps(good[start : start + SLICE_ROWS], pickle.HIGHEST_PROTOCOL)
        for start in range(0, len(good), SLICE_ROWS)
    )
    return CheckedClassList(slices, tuple((e.row, e.field, e.message) for e in errors))


def text_of(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClassListError("the file is not UTF-8 text") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ClassListError(f"not JSON: {error.msg}", "body") from None
    except UnicodeDecodeError:
        raise ClassListError("the body is not UTF-8 text", "body") from None
    except RecursionError:
        raise ClassListError("not JSON we accept: nested too deeply", "body") from None


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
        records = [_record(row) for row in itertools.islice(reader, MAX_ROWS + 1)]
    except csv.Error as error:  # e.g. a NUL byte: the file is not CSV text
        raise ClassListError(f"not readable as CSV: {error}") from None
    _at_most_max_rows(records, "file")
    return records


def _at_most_max_rows(records: list[Any], field: str) -> None:
    if len(records) > MAX_ROWS:
        raise ClassListError(
            f"a class list has at most {MAX_ROWS:,} students; split this one", field
        )


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
    _at_most_max_rows(body, "body")
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
            found = error.errors(include_url=False, include_context=False, include_input=False)
            errors.extend(
                RowError(row=row, field=_field(e["loc"]), message=e["msg"])
                for e in found[:MAX_ROW_ERRORS]
            )
    return good, errors


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<row>"
