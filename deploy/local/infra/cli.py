"""``python deploy/local/infra <command>``: the commands of the package docstring."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from infra import lifecycle
from infra.config import Config, InfraError
from infra.logs import show
from infra.servers import SERVERS


def _logs(config: Config, args: argparse.Namespace) -> None:
    show({s.name: config.log_path(s.name) for s in SERVERS}, args.lines)


COMMANDS: dict[str, tuple[Callable[[Config, argparse.Namespace], None], str]] = {
    "fetch": (lambda c, a: lifecycle.fetch(c), "download Kafka and build FerretDB into the cache"),
    "start": (
        lambda c, a: lifecycle.start(c, a.timeout),
        "start Kafka and FerretDB, wait until healthy, create the topics",
    ),
    "stop": (lambda c, a: lifecycle.stop(c), "stop both servers (idempotent)"),
    "status": (lambda c, a: lifecycle.status(c), "whether the servers run, on which ports"),
    "health": (lambda c, a: lifecycle.health(c, a.timeout), "real round trips against both"),
    "logs": (_logs, "the log files' paths (and last lines with -n)"),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="infra",
        description="Local Kafka + FerretDB for wbl-placements (see deploy/local/README.md).",
    )
    sub = top.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name in ("start", "health"):
            command.add_argument(
                "--timeout", type=float, default=None,
                help="health deadline in seconds (default: $WBL_HEALTH_TIMEOUT_S or 90)",
            )  # fmt: skip
        if name == "logs":
            command.add_argument("-n", "--lines", type=int, default=0, help="last N lines too")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The clients log every refused connection while a server starts: keep stderr clean.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("pymongo").setLevel(logging.CRITICAL)
    try:
        COMMANDS[args.command][0](Config.from_env(), args)
    except (InfraError, OSError) as exc:
        print(f"infra {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"infra {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
