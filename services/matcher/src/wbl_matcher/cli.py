"""``wbl-match``: solve explicit matching instances from the command line.

    wbl-match solve FILE        FILE is a JSON instance (CONTRACTS.md) or - for stdin
    wbl-match generate --students N --openings M [--fields F] [--choices K] [--seed S]
                       [--min-capacity A] [--max-capacity B] [--output FILE]

``solve`` prints ``{"assignments": {...}}`` with every student id (null when
unmatched). Malformed input or a usage error exits with status 2 and one line on
stderr naming what is wrong.

Start-up is kept light, since small instances solve in milliseconds: ``solve``
imports only ``sys``, ``gc``, the stdlib's C half of json (``_json``) and the engine's
dependency-free core (:mod:`wbl_matcher.engine.acceptance`, with its C solver where
built); argparse is loaded only for ``generate``
and ``--help``. orjson, when installed, reads and writes large files (its own
import costs more than it saves on small ones).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any, NoReturn

PROG = "wbl-match"
EXIT_OK = 0
EXIT_BAD_INPUT = 2
ORJSON_FROM_BYTES = 1 << 20  # use orjson (if installed) for inputs of 1 MiB and more

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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {_one_line(message)}\n")
    return EXIT_BAD_INPUT


def _codec(size: int) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    if size >= ORJSON_FROM_BYTES:
        try:
            orjson = __import__("orjson")  # optional: present only if installed
        except ImportError:
            pass
        else:
            fast_loads: Callable[[bytes], Any] = orjson.loads
            fast_dumps: Callable[[Any], bytes] = orjson.dumps
            return fast_loads, fast_dumps
    import json

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    return json.loads, dumps


_WHITESPACE = " \t\n\r"  # what JSON allows around a value


class _ScannerContext:
    """The attributes ``_json.make_scanner`` reads, as ``json.JSONDecoder`` sets them."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }.__getitem__


def _light_codec() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]] | None:
    """The stdlib json's own C scanner and string encoder, without importing ``json``,
    which pulls in ``re`` and ``enum`` (about 10 ms, a third of a 1,000-student run).

    Anything the fast path refuses (bad JSON, a BOM, UTF-16) is read again by
    ``json.loads``, so results and error messages are exactly json's.
    """
    try:
        from _json import encode_basestring, make_scanner
    except ImportError:  # not CPython
        return None
    scan = make_scanner(_ScannerContext())  # type: ignore[arg-type]  # any object with these attributes

    def loads(raw: bytes) -> Any:
        try:
            text = raw.decode()
            value, end = scan(text, len(text) - len(text.lstrip(_WHITESPACE)))
            if not text[end:].strip(_WHITESPACE):
                return value
        except (ValueError, StopIteration):  # UnicodeDecodeError is a ValueError
            pass
        import json

        return json.loads(raw)

    def dump_assignments(assignments: dict[str, str | None]) -> bytes:
        items = ",".join(
            f"{encode_basestring(s)}:{'null' if o is None else encode_basestring(o)}"
            for s, o in assignments.items()
        )
        return f'{{"assignments":{{{items}}}}}'.encode()

    return loads, dump_assignments


def _solve_codec(size: int) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """(read the instance, write ``{"assignments": ...}``) for an input of ``size`` bytes."""
    light = None if size >= ORJSON_FROM_BYTES else _light_codec()
    if light is not None:
        return light
    loads, dumps = _codec(size)
    return loads, lambda assignments: dumps({"assignments": assignments})


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def solve_file(path: str) -> int:
    """``wbl-match solve PATH``: print the assignment, or fail with status 2."""
    # Solving makes no reference cycles: the cyclic collector would only walk the
    # decoded instance again and again (about 2 ms of a 1,000-student run).
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        return _solve_file(path)
    finally:
        if collecting:
            gc.enable()


def _solve_file(path: str) -> int:
    try:
        raw = _read(path)
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    loads, dump_assignments = _solve_codec(len(raw))
    try:
        document = loads(raw)
    except ValueError as exc:  # JSONDecodeError (json and orjson), bad UTF-8
        return _fail(f"invalid JSON: {exc}")
    except RecursionError:
        return _fail("invalid JSON: nested too deeply")

    from wbl_matcher.engine.acceptance import InstanceError, columns_of_document, solve_columns

    try:
        assignments, _ = solve_columns(columns_of_document(document))
    except InstanceError as exc:
        return _fail(str(exc))
    sys.stdout.buffer.write(dump_assignments(assignments) + b"\n")
    sys.stdout.flush()
    return EXIT_OK


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
    _, dumps = _codec(args.students * args.choices * 16)
    data = dumps(document) + b"\n"
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
