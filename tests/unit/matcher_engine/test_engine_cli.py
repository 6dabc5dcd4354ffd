"""`wbl-match solve` and `generate`: output, exit statuses, one-line errors, stdin."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wbl_matcher import cli
from wbl_matcher.engine.stable import parse_instance, solve

pytestmark = pytest.mark.unit

EXAMPLE = {
    "students": [
        {"id": "s1", "ranking": ["o2", "o1"]},
        {"id": "s2", "ranking": ["o1"]},
        {"id": "s3", "ranking": []},
    ],
    "openings": [
        {"id": "o1", "capacity": 1, "ranking": ["s2", "s1"]},
        {"id": "o2", "capacity": 2, "ranking": ["s1"]},
    ],
}


def _run(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: bytes = b"",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _write(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "instance.json"
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return str(path)


def test_solve_prints_every_student(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = _run(["solve", _write(tmp_path, json.dumps(EXAMPLE))], capsys, monkeypatch)
    assert (status, err) == (0, "")
    assert json.loads(out) == {"assignments": {"s1": "o2", "s2": "o1", "s3": None}}


def test_solve_reads_stdin_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = _run(["solve", "-"], capsys, monkeypatch, json.dumps(EXAMPLE).encode())
    assert status == 0
    assert json.loads(out)["assignments"] == {"s1": "o2", "s2": "o1", "s3": None}


def _bad(**changes: Any) -> str:
    document: dict[str, Any] = json.loads(json.dumps(EXAMPLE))
    document.update(changes)
    return json.dumps(document)


MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "bad JSON": ('{"students": [', "invalid JSON"),
    "not UTF-8": (b'{"students": "\xff"}', "invalid JSON"),
    "empty": ("", "invalid JSON"),
    "trailing data": ('{"students": [], "openings": []} x', "invalid JSON: Extra data"),
    "only whitespace": (" \n", "invalid JSON: Expecting value"),
    "top level list": ("[]", "instance must be a JSON object"),
    "missing openings": ('{"students": []}', "missing field 'openings'"),
    "missing id": (_bad(students=[{"ranking": []}]), "missing field 'id'"),
    "missing capacity": (_bad(openings=[{"id": "o1", "ranking": []}]), "missing field 'capacity'"),
    "unknown opening": (
        _bad(students=[{"id": "s1", "ranking": ["o9"]}]),
        "student 's1' ranks unknown opening 'o9'",
    ),
    "unknown student": (
        _bad(
            openings=[
                {"id": "o1", "capacity": 1, "ranking": ["zz"]},
                {"id": "o2", "capacity": 1, "ranking": []},
            ]
        ),
        "opening 'o1' ranks unknown student 'zz'",
    ),
    "duplicate student": (
        _bad(students=[{"id": "s1", "ranking": []}, {"id": "s1", "ranking": []}]),
        "duplicate student id 's1'",
    ),
    "duplicate in ranking": (
        _bad(students=[{"id": "s1", "ranking": ["o1", "o1"]}]),
        "ranks opening 'o1' more than once",
    ),
    "negative capacity": (
        _bad(openings=[{"id": "o1", "capacity": -2, "ranking": []}]),
        "capacity must be >= 0, got -2",
    ),
    "capacity string": (
        _bad(openings=[{"id": "o1", "capacity": "1", "ranking": []}]),
        "capacity must be an integer",
    ),
    "id number": (_bad(students=[{"id": 1, "ranking": []}]), "'id' must be a string"),
    "ranking not list": (
        _bad(students=[{"id": "s1", "ranking": {"o1": 1}}]),
        "'ranking' must be a list",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_exits_2_with_one_line(
    case: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content, expected = MALFORMED[case]
    status, out, err = _run(["solve", _write(tmp_path, content)], capsys, monkeypatch)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith("wbl-match: error: ")
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["solve"], ["solve", "a", "b"], ["generate", "--students", "x"]],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = _run(argv, capsys, monkeypatch)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("wbl-match: error: ")


def test_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = _run(["solve", str(tmp_path / "nope.json")], capsys, monkeypatch)
    assert status == 2
    assert "cannot read" in err and err.count("\n") == 1


def test_generate_then_solve_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "gen.json"
    argv = ["generate", "--students", "40", "--openings", "9", "--fields", "3"]
    argv += ["--choices", "4", "--seed", "3", "--output", str(target)]
    status, _, _ = _run(argv, capsys, monkeypatch)
    assert status == 0
    document = json.loads(target.read_text())
    assert len(document["students"]) == 40 and len(document["openings"]) == 9
    assert all(len(s["ranking"]) == 3 for s in document["students"])  # 3 openings per field
    status, out, _ = _run(["solve", str(target)], capsys, monkeypatch)
    assert status == 0
    assert json.loads(out)["assignments"] == dict(solve(parse_instance(document)).assignments)


def test_generate_is_seeded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["generate", "--students", "20", "--openings", "5", "--seed", "9"]
    first = _run(argv, capsys, monkeypatch)[1]
    second = _run(argv, capsys, monkeypatch)[1]
    other = _run([*argv[:-1], "10"], capsys, monkeypatch)[1]
    assert first == second != other


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(cli.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def test_module_runs_as_a_process_reading_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wbl_matcher.cli", "solve", "-"],
        input=json.dumps(EXAMPLE).encode(),
        capture_output=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"assignments": {"s1": "o2", "s2": "o1", "s3": None}}


def test_process_error_is_one_line_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wbl_matcher.cli", "solve", "-"],
        input=b'{"students": [{"id": "s1", "ranking": ["o1"]}], "openings": []}',
        capture_output=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr == b"wbl-match: error: student 's1' ranks unknown opening 'o1'\n"


def test_solve_path_imports_no_service_frameworks() -> None:
    code = (
        "import sys; from wbl_matcher import cli; "
        "cli.main(['solve', '-']); "
        "heavy = {'pydantic', 'faststream', 'pymongo', 'fastapi', 'numpy', 'json', 're'} "
        "& set(sys.modules); "
        "profile = {m for m in sys.modules if m.startswith('wbl_matcher.engine.')} - "
        "{'wbl_matcher.engine.acceptance'}; "
        "print(sorted(heavy | profile), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(EXAMPLE).encode(),
        capture_output=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stderr.strip() == b"[]"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"students": [], "openings": []}',
        b'  \n\t{"a": [1, -2.5e3, true, false, null, "\\u00e9\\ud83d\\ude00", "caf\xc3\xa9"]}\r\n ',
        b'\xef\xbb\xbf{"bom": 1}',  # UTF-8 BOM: json.loads accepts it from bytes
        '{"utf16": 1}'.encode("utf-16"),
        b"[NaN, Infinity, -Infinity, 123456789012345678901234567890]",
        b'{"dup": 1, "dup": 2}',
    ],
)
def test_the_light_reader_reads_exactly_what_json_reads(raw: bytes) -> None:
    light = cli._light_codec()
    assert light is not None
    loads, _ = light
    assert repr(loads(raw)) == repr(json.loads(raw))


def test_the_light_writer_writes_exactly_what_json_writes() -> None:
    light = cli._light_codec()
    assert light is not None
    _, dump = light
    assignments = {"s1": "o1", 's"2': None, "é\n": "ö\\", "\x00\u2028": "\U0001f600"}
    expected = json.dumps({"assignments": assignments}, separators=(",", ":"), ensure_ascii=False)
    assert dump(assignments) == expected.encode()
