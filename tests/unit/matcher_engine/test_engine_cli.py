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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    "not UTF-8": (
        b'{"students": "\xff"}',
        "invalid JSON: not UTF-8 at byte offset 14 (0xff: invalid start byte)",
    ),
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
    "an opening cut off": ('{"students": [], "openings": [{"id": "o1"', "invalid JSON"),
    "only a brace": ("{", "invalid JSON"),
    "an unclosed string": ('"x', "invalid JSON: Unterminated string"),
    "the last brace missing": (json.dumps(EXAMPLE)[:-1], "invalid JSON"),
    "a cut-off escape": ('{"students": [{"id": "\\u00', "invalid JSON"),
    "UTF-8 cut mid-character": ('{"students": [{"id": "é'.encode()[:-1], "not UTF-8"),
    "UTF-16": ('{"students": [], "openings": []}'.encode("utf-16"), "not UTF-8"),
    "NaN": ('{"students": [], "openings": [], "x": NaN}', "NaN is not a JSON value"),
    "Infinity as capacity": (
        _bad(openings=[{"id": "o1", "capacity": float("-inf"), "ranking": []}]),
        "-Infinity is not a JSON value",
    ),
    "a capacity of 5,000 digits": (
        _bad(openings=[{"id": "o1", "capacity": 1, "ranking": []}]).replace(
            '"capacity": 1', '"capacity": ' + "9" * 5000
        ),
        "number too large: 99999999999999999999... (5000 digits, at most 20)",
    ),
    "a capacity too large for a float": (
        _bad(openings=[{"id": "o1", "capacity": 1, "ranking": []}]).replace(
            '"capacity": 1', '"capacity": 1e400'
        ),
        "capacity must be an integer, got inf",
    ),
    "arrays nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "objects nested 100,000 deep, cut off": ('{"a": ' * 100_000, "nested too deeply"),
    "a lone surrogate as a student id": (
        '{"students": [{"id": "s\\ud800", "ranking": []}], "openings": []}',
        "student id 's\\ud800' is not valid Unicode",
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
        "heavy = {'pydantic', 'faststream', 'pymongo', 'fastapi', 'numpy', 'orjson', 'typing'} "
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


ERROR_JSON = "wbl-match: error: invalid JSON: "

# Instances whose every truncation must be refused: a small one, one with non-ASCII ids
# and escapes (multi-byte characters cut in the middle, escapes cut short), and a
# generated one written with indentation.
NON_ASCII = {
    "students": [
        {"id": "élève-1", "ranking": ['atelier "Ø"', "学校\n2"]},
        {"id": "\U0001f600 s2", "ranking": ["学校\n2"]},
        {"id": "tab\there\\", "ranking": []},
    ],
    "openings": [
        {"id": 'atelier "Ø"', "capacity": 1, "ranking": ["\U0001f600 s2", "élève-1"]},
        {"id": "学校\n2", "capacity": 2, "ranking": ["élève-1", "\U0001f600 s2"]},
    ],
}


def _generated() -> bytes:
    from wbl_matcher.engine.generate import random_instance_document

    document = random_instance_document(
        students=12, openings=4, fields=2, choices=3, seed=5, min_capacity=0, max_capacity=3
    )
    return json.dumps(document, indent=1).encode()


TRUNCATED_SOURCES: dict[str, bytes] = {
    "example": json.dumps(EXAMPLE).encode(),
    "non-ASCII, raw": json.dumps(NON_ASCII, ensure_ascii=False).encode(),
    "non-ASCII, escaped": json.dumps(NON_ASCII).encode(),
    "generated, indented": _generated(),
}


@pytest.mark.parametrize("source", sorted(TRUNCATED_SOURCES))
def test_every_truncation_exits_2_with_one_line(
    source: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = TRUNCATED_SOURCES[source]
    status, out, err = _run(["solve", "-"], capsys, monkeypatch, raw)
    assert (status, err) == (0, ""), "the whole instance is valid"
    wrong: list[tuple[int, int, str, str]] = []
    for offset in range(len(raw.rstrip())):
        status, out, err = _run(["solve", "-"], capsys, monkeypatch, raw[:offset])
        one_line = err.count("\n") == 1 and err.endswith("\n")
        if not (status == 2 and out == "" and one_line and err.startswith(ERROR_JSON)):
            wrong.append((offset, status, out, err))
    assert wrong == [], f"{len(wrong)} of {len(raw)} truncations; first: {wrong[:3]}"


def _wbl_match() -> str:
    """The installed console script (CONTRACTS.md: `.venv/bin/wbl-match`)."""
    script = Path(sys.executable).with_name("wbl-match")
    assert script.exists(), f"{script} is missing: run make setup"
    return str(script)


@pytest.mark.parametrize(
    "raw",
    [b"{", b'"x', json.dumps(EXAMPLE).encode()[:-1], b"", b'{"students": "\xc3'],
    ids=["a brace", "an unclosed string", "the last brace missing", "empty", "cut UTF-8"],
)
def test_the_console_script_answers_malformed_stdin_with_one_line(raw: bytes) -> None:
    done = subprocess.run(
        [_wbl_match(), "solve", "-"], input=raw, capture_output=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.startswith(ERROR_JSON.encode()), done.stderr
    assert done.stderr.count(b"\n") == 1 and done.stderr.endswith(b"\n"), done.stderr


_EXAMPLE_BYTES = json.dumps(EXAMPLE).encode()


@pytest.mark.parametrize("offset", range(0, len(_EXAMPLE_BYTES), 20))
def test_the_console_script_refuses_truncations_in_a_fresh_interpreter(offset: int) -> None:
    # In-process, `json` is already imported; a fresh interpreter is where the old
    # reader's private `_json` scanner failed with a 17-line SystemError.
    done = subprocess.run(
        [_wbl_match(), "solve", "-"],
        input=_EXAMPLE_BYTES[:offset],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.startswith(ERROR_JSON.encode()), done.stderr
    assert done.stderr.count(b"\n") == 1, done.stderr


@pytest.mark.parametrize("target", ["a directory", "a missing file"])
def test_the_console_script_names_a_file_it_cannot_read(target: str, tmp_path: Path) -> None:
    path = tmp_path if target == "a directory" else tmp_path / "missing.json"
    done = subprocess.run(
        [_wbl_match(), "solve", str(path)], capture_output=True, timeout=60, check=False
    )
    reason = "Is a directory" if target == "a directory" else "No such file or directory"
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == f"wbl-match: error: cannot read {path}: {reason}\n".encode()


def test_a_closed_stdin_is_named() -> None:
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" solve - <&-', _wbl_match()],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == b"wbl-match: error: cannot read stdin: it is closed\n"


def test_input_past_the_size_bound_is_refused_unread(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(EXAMPLE).encode()
    monkeypatch.setattr(cli, "MAX_INPUT_BYTES", len(raw) - 1)
    status, out, err = _run(["solve", "-"], capsys, monkeypatch, raw)
    assert (status, out) == (2, "")
    assert err == f"wbl-match: error: input is larger than {len(raw) - 1:,} bytes\n"
    monkeypatch.setattr(cli, "MAX_INPUT_BYTES", len(raw))
    assert _run(["solve", "-"], capsys, monkeypatch, raw)[0] == 0


def test_the_size_bound_fits_a_statewide_instance() -> None:
    assert cli.MAX_INPUT_BYTES >= 20 * 11_802_984  # the statewide benchmark's 11.8 MB file


@pytest.mark.parametrize(
    ("raw", "assignments"),
    [
        (json.dumps(NON_ASCII, ensure_ascii=False).encode(), None),
        (json.dumps(NON_ASCII).encode(), None),
        (b"\xef\xbb\xbf" + json.dumps(EXAMPLE).encode(), {"s1": "o2", "s2": "o1", "s3": None}),
        (b" \n\t" + json.dumps(EXAMPLE, indent=2).encode() + b"\r\n ", None),
    ],
    ids=["non-ASCII", "escaped non-ASCII", "a UTF-8 byte order mark", "whitespace around"],
)
def test_valid_instances_of_every_spelling_are_solved(
    raw: bytes,
    assignments: dict[str, str | None] | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = json.loads(raw.decode("utf-8-sig"))
    expected = assignments or dict(solve(parse_instance(document)).assignments)
    status, out, err = _run(["solve", "-"], capsys, monkeypatch, raw)
    assert (status, err) == (0, "")
    assert out.count("\n") == 1
    assert json.loads(out) == {"assignments": expected}


def test_non_ascii_ids_are_written_as_utf8(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(NON_ASCII).encode()  # read as \u escapes
    status, out, _ = _run(["solve", "-"], capsys, monkeypatch, raw)
    assert status == 0
    assert '"élève-1":' in out and "\\u" not in out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_instance_is_solved_or_refused_in_one_line(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(sorted(TRUNCATED_SOURCES.values()))))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        edit = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        byte = data.draw(st.sampled_from(b'{}[]",:\\u0-9eE.\xc3\xa9\xff \nntf'))
        if edit == "delete" and at < len(raw):
            del raw[at]
        elif edit == "insert":
            raw.insert(at, byte)
        elif at < len(raw):
            raw[at] = byte
    status, out, err = _run_quietly(["solve", "-"], bytes(raw))
    if status == 0:
        assert err == "" and out.count("\n") == 1
        document = json.loads(bytes(raw).decode("utf-8-sig"))
        expected = dict(solve(parse_instance(document)).assignments)
        assert json.loads(out) == {"assignments": expected}
    else:
        assert (status, out) == (2, ""), err
        assert err.count("\n") == 1 and err.startswith("wbl-match: error: "), err


def _run_quietly(argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    """`main(argv)` with its own stdio, for hypothesis (which cannot share capsys)."""
    streams = [io.TextIOWrapper(io.BytesIO(data), encoding="utf-8") for data in (stdin, b"", b"")]
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        status = cli.main(argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    written = []
    for stream in streams[1:]:
        stream.flush()
        buffer = stream.buffer
        assert isinstance(buffer, io.BytesIO)
        written.append(buffer.getvalue().decode())
    return status, written[0], written[1]
