"""The crash tests' own Kafka and FerretDB (they kill them), and their report."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.system import REPORT, Infra, infrastructure


@pytest.fixture(scope="package")
def crash_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """Beside the suite's instance (under `make test`, in .run/test/crash), never over it."""
    parent = os.environ.get("WBL_RUN_DIR")
    run_dir = Path(parent) / "crash" if parent else tmp_path_factory.mktemp("crash-infra")
    with infrastructure(run_dir) as instance:
        yield instance


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("crash and replica scenarios")
        for tally in REPORT:
            terminalreporter.write_line(tally.line())
