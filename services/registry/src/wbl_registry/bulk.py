"""A class list, as CSV or a JSON array, into validated student applications and row errors.

A CSV row is numbered by its spreadsheet line (the header is line 1), a JSON record by its
position from 1, so a coordinator can find each refused row. Real SIS exports are read
tolerantly: `,` or `;` delimiters, headers in any case with spaces, extra columns ignored
(and named in a note), UTF-8 with or without BOM, or Windows-1252. Errors name the CSV
column (`home_lat`) and the student as the row names them. `check_class_list` does it all
from the uploaded bytes, in a worker process (seconds of CPU for a 5 MiB list).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import pickle
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from wbl_registry.handlers import StudentApplication
from wbl_registry.models import StudentCreate

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

# What each column holds, in the words a class-list template's help shows (the notifier's
# class-list page lists them, and builds its sample file from CSV_EXAMPLE's row).
CSV_COLUMN_MEANINGS = {
    "school_id": "Your school's id, as your account names it (such as sch_worcester_tech)",
    "first_name": "The student's first name",
    "last_name": "The student's last name",
    "email": "The student's email address (one student per address at a school)",
    "date_of_birth": "Date of birth, as YYYY-MM-DD",
    "grade": "Grade, 9 to 14 (13 and 14: community college years)",
    "program": "The student's program, as a code such as stem-tech-academy",
    "career_fields": "Career field codes, most wanted first, separated by ';'",
    "credentials": "Credentials held (such as osha-10-general), separated by ';'",
    "languages": "Languages spoken, as two-letter codes separated by ';'",
    "home_town": "The town the student lives in",
    "home_lat": "Latitude of home (a rough one is enough), such as 42.27",
    "home_lon": "Longitude of home, such as -71.80",
    "max_commute_km": "How far the student can travel to a placement, in km",
    "available_from": "First day the student can start, as YYYY-MM-DD",
    "available_to": "Last day the student can work, as YYYY-MM-DD",
    "hours_per_week": "Hours a week the student can work, 1 to 40",
    "special_populations": "For the outcomes report only, separated by ';' (may be empty)",
}
assert tuple(CSV_COLUMN_MEANINGS) == CSV_COLUMNS


@dataclass(frozen=True)
class ColumnHelp:
    column: str
    required: bool
    meaning: str
    example: str


def column_help() -> tuple[ColumnHelp, ...]:
    """Every column in order: whether it is required, what it means, the example's cell."""
    example = next(csv.reader(io.StringIO(CSV_EXAMPLE.splitlines()[1])))
    return tuple(
        ColumnHelp(column, column in CSV_REQUIRED, CSV_COLUMN_MEANINGS[column], cell)
        for column, cell in zip(CSV_COLUMNS, example, strict=True)
    )


class ClassListError(ValueError):
    """The upload as a whole is unreadable (not a row of it)."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[ClassListError], tuple[str, str]]:
        return ClassListError, (str(self), self.field)  # from a worker, with its field


# (line or position, field or CSV column, message, the student as the row names them)
RowIssue = tuple[int, str, str, str]


@dataclass(frozen=True)
class CheckedClassList:
    """A class list checked in a worker. The good rows come back in pickled slices, each
    unpickled on the event loop only when it is stored: 28,000 applications unpickled at
    once held the loop half a second (their pydantic `Place`s, mostly)."""

    slices: tuple[bytes, ...]
    errors: tuple[RowIssue, ...]  # plain tuples: quick to unpickle
    notes: tuple[str, ...] = ()  # what was read leniently (extra columns, encoding)

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


@dataclass(frozen=True)
class ReadList:
    """Records with their line (CSV) or position (JSON), and notes on how they were read."""

    records: list[tuple[int, Any]]
    notes: tuple[str, ...] = ()
    csv_columns: bool = False  # errors name CSV columns rather than JSON paths


def check_class_list(kind: ClassListKind, raw: bytes) -> CheckedClassList:
    """Read an uploaded class list and validate every row; ClassListError when the upload
    cannot be read as a whole. Pure, so it runs in a worker process."""
    read = read_csv(raw) if kind == "csv" else json_records(_json(raw))
    good, errors = applications(read.records, read.csv_columns)
    slices = tuple(
        pickle.dumps(good[start : start + SLICE_ROWS], pickle.HIGHEST_PROTOCOL)
        for start in range(0, len(good), SLICE_ROWS)
    )
    return CheckedClassList(slices, tuple(errors), read.notes)


def text_of(raw: bytes) -> tuple[str, str | None]:
    """The text and, when it was not UTF-8, a note saying how it was read. Strict UTF-8
    first (a BOM is dropped): Windows-1252 decodes almost any bytes, so it is the fallback."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "the file was read as Windows-1252 text (it is not UTF-8)"
    except UnicodeDecodeError:
        raise ClassListError(
            "the file is neither UTF-8 nor Windows-1252 text: save it as CSV UTF-8"
        ) from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ClassListError(f"not JSON: {error.msg}", "body") from None
    except UnicodeDecodeError:
        raise ClassListError("the body is not UTF-8 text", "body") from None
    except RecursionError:
        raise ClassListError("not JSON we accept: nested too deeply", "body") from None


def read_csv(raw: bytes) -> ReadList:
    text, encoding_note = text_of(raw)
    read = csv_records(text)
    notes = (encoding_note, *read.notes) if encoding_note else read.notes
    return ReadList(read.records, notes, csv_columns=True)


def delimiter_of(text: str) -> str:
    """`;` when the header line has more semicolons than commas (a European Excel export),
    else `,`. Only the header is looked at: cells may hold either."""
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    return ";" if header.count(";") > header.count(",") else ","


def column_name(header: str) -> str:
    """`First Name`, ` FIRST_NAME ` and `first-name` all name `first_name`."""
    return "_".join(header.strip().lower().replace("-", " ").split())


def csv_records(text: str) -> ReadList:
    """CSV rows as request-shaped records, each with its spreadsheet line: lists split on
    ';', home columns nested, extra columns dropped with a note."""
    # newline="": line ends inside quoted cells are data, and \r\n, \n or \r end a row.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))
    try:
        header = [column_name(h) for h in next(reader, [])]
        notes = _check_header(header)
        records = list(itertools.islice(_rows(reader, header), MAX_ROWS + 1))
    except csv.Error as error:  # e.g. a NUL byte: the file is not CSV text
        raise ClassListError(f"not readable as CSV: {error}") from None
    _at_most_max_rows(records, "file")
    return ReadList(records, notes, csv_columns=True)


def _check_header(header: list[str]) -> tuple[str, ...]:
    named = [h for h in header if h]
    doubled = sorted({h for h in named if named.count(h) > 1})
    if doubled:
        raise ClassListError(f"the header names column(s) {doubled} more than once")
    missing = sorted(CSV_REQUIRED - set(named))
    if missing:
        raise ClassListError(
            f"the header lacks column(s) {missing}; the columns are {list(CSV_COLUMNS)}"
        )
    extra = [h for h in named if h not in CSV_COLUMNS]
    if not extra:
        return ()
    shown = ", ".join(extra[:20]) + (f" and {len(extra) - 20} more" if len(extra) > 20 else "")
    return (f"columns not used and ignored: {shown}",)


def _rows(reader: Iterator[list[str]], header: list[str]) -> Iterator[tuple[int, Any]]:
    """Each non-blank row with the spreadsheet line it starts on (the header is line 1)."""
    line = reader.line_num  # type: ignore[attr-defined]
    for cells in reader:
        first, line = line + 1, reader.line_num  # type: ignore[attr-defined]
        if any(c.strip() for c in cells):
            yield first, _record(header, cells)


def _record(header: list[str], cells: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    home: dict[str, Any] = {}
    for column, raw in zip(header, cells, strict=False):
        value = raw.strip()
        if column in CSV_HOME:
            home[CSV_HOME[column]] = value
        elif column in CSV_LISTS:
            record[column] = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
        elif column in CSV_COLUMNS and value:
            record[column] = value
    if any(c.strip() for c in cells[len(header) :]):
        record[EXTRA_CELLS] = True
    record["home"] = home
    return record


EXTRA_CELLS = "extra_cells"


def json_records(body: Any) -> ReadList:
    if not isinstance(body, list):
        raise ClassListError("expected a JSON array of students", "body")
    _at_most_max_rows(body, "body")
    return ReadList(list(enumerate(body, start=1)))


def _at_most_max_rows(records: list[Any], field: str) -> None:
    if len(records) > MAX_ROWS:
        raise ClassListError(
            f"a class list has at most {MAX_ROWS:,} students; split this one", field
        )


def applications(
    records: Iterable[tuple[int, Any]], csv_columns: bool = False
) -> tuple[list[tuple[int, StudentApplication]], list[RowIssue]]:
    """Validate each record on its own; the good ones and, for the bad, every problem
    (up to MAX_ROW_ERRORS) with its row, field or column and the student's name."""
    good: list[tuple[int, StudentApplication]] = []
    errors: list[RowIssue] = []
    for row, record in records:
        student = student_name(record)
        extra = isinstance(record, dict) and record.pop(EXTRA_CELLS, False)
        if extra:
            errors.append((row, "<row>", "the row has more cells than the header", student))
        try:
            application = StudentCreate.model_validate(record).application()
        except ValidationError as error:
            found = error.errors(include_url=False, include_context=False, include_input=False)
            errors.extend(
                (row, _field(e["loc"], csv_columns), e["msg"], student)
                for e in found[: MAX_ROW_ERRORS - extra]
            )
            continue
        if not extra:
            good.append((row, application))
    return good, errors


def student_name(record: Any) -> str:
    """The student as the row names them, for a coordinator to find the row: bounded."""
    if not isinstance(record, dict):
        return ""
    parts = (record.get("first_name"), record.get("last_name"))
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())[:201]


def _field(loc: tuple[int | str, ...], csv_columns: bool) -> str:
    if not loc:
        return "<row>"
    if csv_columns:  # the column the coordinator sees: home_lat, career_fields
        if loc[0] == "home" and len(loc) > 1:
            return f"home_{loc[1]}"
        return str(loc[0])
    return ".".join(str(p) for p in loc)
