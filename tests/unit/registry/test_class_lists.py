"""Class lists as schools export them: spreadsheet lines, CSV columns and names in errors,
every error of a row, re-uploads that are safe, and the tolerances of real SIS exports."""

from __future__ import annotations

import csv
import io
import pickle

import httpx
import pytest

from tests.unit.registry.builders import student_body
from tests.unit.registry.conftest import ADMIN_TOKEN, bearer
from tests.unit.registry.test_http import class_csv
from wbl_registry import bulk
from wbl_registry.store import InMemoryRegistryStore

pytestmark = pytest.mark.unit


@pytest.fixture
async def coordinator_token(http: httpx.AsyncClient) -> str:
    created = await http.post(
        "/v1/coordinators",
        json={"name": "Dana", "school_ids": ["sch_1"]},
        headers=bearer(ADMIN_TOKEN),
    )
    token: str = created.json()["token"]
    return token


def upload(text: str | bytes) -> dict[str, tuple[str, str | bytes, str]]:
    return {"file": ("class.csv", text, "text/csv")}


def example(**cells: str) -> str:
    """The documented example with some cells of Ana's row changed."""
    header, row = bulk.CSV_EXAMPLE.strip().split("\n")
    values = dict(zip(header.split(","), row.split(","), strict=True))
    values.update(cells)
    return header + "\n" + ",".join(values.values()) + "\n"


# -- reading: pure -------------------------------------------------------------------------


def checked(raw: bytes) -> bulk.CheckedClassList:
    return bulk.check_class_list("csv", raw)


def test_rows_are_numbered_by_spreadsheet_line_counting_the_header() -> None:
    text = example() + "\n" + example(first_name="Bo", email="bo@x.example.org").split("\n")[1]
    lines = [row for row, _ in bulk.csv_records(text).records]
    assert lines == [2, 4]  # line 3 is blank and skipped


def test_a_quoted_cell_over_two_lines_keeps_the_next_row_on_its_own_line() -> None:
    text = example(home_town='"Worcester\nCentre"') + example(first_name="Bo").split("\n")[1]
    assert [row for row, _ in bulk.csv_records(text).records] == [2, 4]


def test_every_error_of_a_row_names_its_csv_column_and_the_student() -> None:
    result = checked(example(grade="7", home_lat="north", hours_per_week="99").encode())
    assert sorted(e[1] for e in result.errors) == ["grade", "home_lat", "hours_per_week"]
    assert {(e[0], e[3]) for e in result.errors} == {(2, "Ana Souza")}
    assert result.slices == ()


def test_headers_in_any_case_with_spaces_are_read() -> None:
    header, row = example().strip().split("\n")
    titled = ",".join(f" {h.replace('_', ' ').title()} " for h in header.split(","))
    result = checked(f"{titled}\n{row}\n".encode())
    assert result.errors == () and len(result.slices) == 1


def test_extra_columns_are_ignored_with_a_note_naming_them() -> None:
    header, row = example().strip().split("\n")
    result = checked(f"{header},Homeroom,SIS ID\n{row},12B,99812\n".encode())
    assert result.errors == () and len(result.slices) == 1
    assert result.notes == ("columns not used and ignored: homeroom, sis_id",)


def test_a_semicolon_delimited_export_is_read() -> None:
    header, row = (
        example(career_fields='"mechatronics;robotics-and-automation-technology"')
        .strip()
        .split("\n")
    )
    cells = next(iter(csv.reader([row])))
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows([header.split(","), cells])
    result = checked(out.getvalue().encode())
    assert result.errors == ()
    [(_, student)] = pickle.loads(result.slices[0])
    assert student.plan.career_fields == ("mechatronics", "robotics-and-automation-technology")


@pytest.mark.parametrize(
    ("encoded", "note"),
    [
        (example(first_name="Zoë").encode("utf-8"), ()),
        (b"\xef\xbb\xbf" + example(first_name="Zoë").encode("utf-8"), ()),
        (
            example(first_name="Zoë").encode("cp1252"),
            ("the file was read as Windows-1252 text (it is not UTF-8)",),
        ),
    ],
)
def test_utf8_with_or_without_bom_and_windows_1252_are_read(
    encoded: bytes, note: tuple[str, ...]
) -> None:
    result = checked(encoded)
    assert result.errors == () and result.notes == note
    [(_, student)] = pickle.loads(result.slices[0])
    assert student.person.first_name == "Zoë"


def test_bytes_neither_utf8_nor_windows_1252_are_refused_whole() -> None:
    with pytest.raises(bulk.ClassListError, match="neither UTF-8 nor Windows-1252"):
        checked(example().encode() + b"\x81\x8d")


def test_a_header_naming_a_column_twice_or_lacking_one_is_refused_whole() -> None:
    header, row = example().strip().split("\n")
    with pytest.raises(bulk.ClassListError, match=r"\['grade'\] more than once"):
        checked(f"{header},Grade\n{row},11\n".encode())
    with pytest.raises(bulk.ClassListError, match="lacks column"):
        checked(b"first_name;last_name\nAna;Souza\n")


def test_a_row_with_more_cells_than_the_header_is_refused_with_its_other_errors() -> None:
    header, row = example(grade="7").strip().split("\n")
    result = checked(f"{header}\n{row},surplus\n".encode())
    assert sorted(e[1] for e in result.errors) == ["<row>", "grade"]
    assert result.slices == ()


# -- over HTTP -----------------------------------------------------------------------------


async def test_a_class_list_sent_again_reports_its_students_as_already_registered(
    http: httpx.AsyncClient, memory_store: InMemoryRegistryStore, coordinator_token: str
) -> None:
    rows = [student_body("sch_1", "Ana"), student_body("sch_1", "Ben", grade=7)]
    first = await http.post(
        "/v1/students/bulk", files=upload(class_csv(rows)), headers=bearer(coordinator_token)
    )
    assert first.json()["counts"] == {
        "registered": 1,
        "already_registered": 0,
        "rows_with_errors": 1,
    }
    rows[1]["grade"] = 11  # the coordinator corrects Ben's row and sends the file again
    again = await http.post(
        "/v1/students/bulk", files=upload(class_csv(rows)), headers=bearer(coordinator_token)
    )
    body = again.json()
    assert body["errors"] == []
    assert body["already_registered"] == first.json()["registered"]
    assert [r["row"] for r in body["registered"]] == [3]
    assert body["counts"]["registered"] == 1 and body["counts"]["already_registered"] == 1
    assert len(memory_store.students) == 2


async def test_a_row_with_a_registered_email_but_other_details_is_an_error_naming_the_student(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    ana = student_body("sch_1", "Ana")
    await http.post("/v1/students", json=ana, headers=bearer(coordinator_token))
    changed = await http.post(
        "/v1/students/bulk",
        files=upload(class_csv([{**ana, "hours_per_week": 10}])),
        headers=bearer(coordinator_token),
    )
    [error] = changed.json()["errors"]
    assert (error["row"], error["field"], error["student"]) == (2, "email", "Ana Zyxwvuts")
    assert "other details" in error["message"] and "PATCH /v1/students/" in error["message"]


async def test_every_domain_error_of_a_row_is_reported(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    bad = student_body(
        "sch_2", "Ana", program="juggling", career_fields=["basket-weaving"], credentials=["x-1"]
    )
    response = await http.post(
        "/v1/students/bulk", files=upload(class_csv([bad])), headers=bearer(coordinator_token)
    )
    fields = [e["field"] for e in response.json()["errors"]]
    assert sorted(fields) == ["career_fields", "credentials", "program", "school_id"]


async def test_the_errors_come_as_a_csv_file_with_formulas_neutralised(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    rows = [
        student_body("sch_1", "=HYPERLINK(1)", email="h@x.example.org", grade=7, hours_per_week=99)
    ]
    response = await http.post(
        "/v1/students/bulk?format=csv",
        files=upload(class_csv(rows)),
        headers=bearer(coordinator_token),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="class-list-errors.csv"' in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["line", "column", "student", "message"]
    assert sorted(line[1] for line in lines[1:]) == ["grade", "hours_per_week"]
    assert {line[2] for line in lines[1:]} == {"'=HYPERLINK(1) Zyxwvuts"}
    assert all(line[0] == "2" for line in lines[1:])


async def test_json_class_lists_keep_json_paths_and_positions(
    http: httpx.AsyncClient, coordinator_token: str
) -> None:
    bad = student_body("sch_1", "Ana", home={"town": "X", "lat": 100, "lon": 0})
    response = await http.post("/v1/students/bulk", json=[bad], headers=bearer(coordinator_token))
    [error] = response.json()["errors"]
    assert (error["row"], error["field"], error["student"]) == (1, "home.lat", "Ana Zyxwvuts")
