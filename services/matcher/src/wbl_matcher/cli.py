"""``wbl-match``: solve explicit matching instances from the command line.

    wbl-match solve FILE        FILE is a JSON instance (CONTRACTS.md) or - for stdin
    wbl-match generate --students N --openings M [--fields F] [--choices K] [--seed S]
                       [--min-capacity A] [--max-capacity B] [--output FILE]

``solve`` prints ``{"assignments": {...}}`` with every student id (null when
unmatched). Malformed input or a usage error exits with status 2 and one line on
stderr naming what is wrong.

JSON is read and written with the stdlib's ``json``, strictly: UTF-8 (a byte order mark
is allowed), no ``NaN``/``Infinity``, integers of at most 20 digits, inputs of at most
``MAX_INPUT_BYTES``. Start-up is kept light, since small instances solve in
milliseconds: ``solve`` imports only ``sys``, ``gc``, ``json`` and the engine's
dependency-free core (:mod:`wbl_matcher.engine.acceptance`, with its C solver where
built); argparse is loaded only for ``generate`` and ``--help``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    import argparse
    from typing import Any, NoReturn

PROG = "wbl-match"
EXIT_OK = 0
EXIT_BAD_INPUT = 2
MAX_INPUT_BYTES = 256 << 20  # 20x the statewide benchmark's 11.8 MB instance
MAX_INTEGER_DIGITS = 20  # any 64-bit integer; the only number in an instance is a capacity
_BYTE_ORDER_MARK = "\ufeff"

USAGE = f"""usage: {PROG} solve FILE
       {PROG} generate --students N --openings M [--fields F] [--choices K] [--seed S]
                 [--min-capacity A] [--max-capacity B] [--output FILE]

Stable matching of students and openings (student-proposing deferred acceptance).

  solve FILE   print the student-optimal stable assignment of the JSON instance in
               FILE (- for stdin) as {{"assignments": {{student: opening or null}}}}
  generate     write a seeded random instance (for benchmarks)

Exit status: 0 on success, 2 on malformed input or a usage error (one line on stderr).
"""


class _UsageError(Exception):
    pass


class _BadInput(Exception):
    """The input cannot be solved; the message names why, in one line."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {_one_line(message)}\n")
    return EXIT_BAD_INPUT


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _read(path: str) -> bytes:
    """At most ``MAX_INPUT_BYTES`` of FILE (or stdin), so a wrong file cannot fill memory."""
    try:
        if path == "-":
            if sys.stdin is None:  # started with stdin closed
                raise _BadInput("cannot read stdin: it is closed")
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise _BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise _BadInput(f"input is larger than {MAX_INPUT_BYTES:,} bytes")
    return raw


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(
            f"number too large: {digits[:MAX_INTEGER_DIGITS]}... "
            f"({len(digits)} digits, at most {MAX_INTEGER_DIGITS})"
        )
    return int(digits)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _decode(raw: bytes) -> Any:
    """The JSON document in ``raw``, or :class:`_BadInput` naming what is wrong."""
    import json

    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        where = f"byte offset {exc.start} (0x{raw[exc.start]:02x}: {exc.reason})"
        raise _BadInput(f"invalid JSON: not UTF-8 at {where}") from None
    if text.startswith(_BYTE_ORDER_MARK):
        text = text[1:]
    try:
        return json.loads(text, parse_int=_integer, parse_constant=_not_json)
    except RecursionError:
        raise _BadInput("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or a number refused above
        raise _BadInput(f"invalid JSON: {exc}") from None


def _encode_assignments(assignments: dict[str, str | None]) -> bytes:
    try:
        return _dumps({"assignments": assignments})
    except UnicodeEncodeError:  # a "\ud800" escape decodes to a str no UTF-8 can hold
        raise _BadInput(_unwritable_id(assignments)) from None


def _unwritable_id(assignments: dict[str, str | None]) -> str:
    from wbl_matcher.engine.acceptance import describe

    for student, opening in assignments.items():
        for kind, value in (("student", student), ("opening", opening or "")):
            try:
                value.encode()
            except UnicodeEncodeError:
                return f"{kind} id {describe(value)} is not valid Unicode (a lone surrogate escape)"
    return "the assignments cannot be written as UTF-8"  # pragma: no cover - found above


def solve_file(path: str) -> int:
    """``wbl-match solve PATH``: print the assignment, or fail with status 2."""
    # Solving makes no reference cycles: the cyclic collector would only walk the
    # decoded instance again and again (about 2 ms of a 1,000-student run).
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        output = _solve(_read(path))
    except _BadInput as exc:
        return _fail(str(exc))
    finally:
        if collecting:
            gc.enable()
    sys.stdout.buffer.write(output + b"\n")
    sys.stdout.flush()
    return EXIT_OK


def _solve(raw: bytes) -> bytes:
    document = _decode(raw)
    from wbl_matcher.engine.acceptance import InstanceError, columns_of_document, solve_columns

    try:
        assignments, _ = solve_columns(columns_of_document(document))
    except InstanceError as exc:
        raise _BadInput(str(exc)) from None
    return _encode_assignments(assignments)


def _generate(argv: list[str]) -> int:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise _UsageError(message)

    parser = Parser(prog=f"{PROG} generate", add_help=False)
    parser.add_argument("--students", type=int, required=True)
    parser.add_argument("--openings", type=int, required=True)
    parser.add_argument("--fields", type=int, default=1)
    parser.add_argument("--choices", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-capacity", type=int, default=1)
    parser.add_argument("--max-capacity", type=int, default=5)
    parser.add_argument("--output", "-o")
    args: argparse.Namespace = parser.parse_args(argv)

    from wbl_matcher.engine.generate import random_instance_document

    try:
        document = random_instance_document(
            students=args.students,
            openings=args.openings,
            fields=args.fields,
            choices=args.choices,
            seed=args.seed,
            min_capacity=args.min_capacity,
            max_capacity=args.max_capacity,
        )
    except ValueError as exc:
        return _fail(str(exc))
    data = _dumps(document) + b"\n"
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    try:
        with open(args.output, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wbl-match`` console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if not args:
            raise _UsageError("missing command: solve or generate")
        command, rest = args[0], args[1:]
        if command in ("-h", "--help", "help"):
            sys.stdout.write(USAGE)
            return EXIT_OK
        if command == "solve":
            if rest in (["-h"], ["--help"]):
                sys.stdout.write(USAGE)
                return EXIT_OK
            if len(rest) != 1 or (rest[0].startswith("-") and rest[0] != "-"):
                raise _UsageError("solve takes exactly one FILE (or - for stdin)")
            return solve_file(rest[0])
        if command == "generate":
            if "-h" in rest or "--help" in rest:
                sys.stdout.write(USAGE)
                return EXIT_OK
            return _generate(rest)
        raise _UsageError(f"unknown command {command!r}: use solve or generate")
    except _UsageError as exc:
        return _fail(f"{exc} (see {PROG} --help)")
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
