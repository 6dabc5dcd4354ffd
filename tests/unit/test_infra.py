"""The pure parts of deploy/local/infra: configuration, progress lines, the parsers of the
fetch tools' output, pid files, the atomic cache and running steps concurrently."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from infra import cache
from infra.config import Config, InfraError
from infra.ferretdb import go_module_fetched
from infra.kafka import maven_download
from infra.lifecycle import concurrently
from infra.logs import tail
from infra.processes import parse_pid_file, pid_path, proc_start_time, read_pid
from infra.progress import Activity, Progress, clock, describe, size, status_line

pytestmark = pytest.mark.unit


# -- configuration --------------------------------------------------------------------------


def test_config_defaults_to_the_dev_instance(tmp_path: Path) -> None:
    config = Config.from_env({"XDG_CACHE_HOME": str(tmp_path)})
    assert (config.kafka_port, config.controller_port, config.mongo_port) == (9092, 9093, 27017)
    assert config.cache_dir == tmp_path / "wbl-placements"
    assert config.run_dir.parts[-2:] == (".run", "dev")
    assert config.kafka_heap == ("-Xmx512m", "-Xms256m")
    assert config.health_timeout_s == 90
    assert config.mongo_url == "mongodb://127.0.0.1:27017/"


def test_config_reads_every_variable(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "WBL_CACHE_DIR": str(tmp_path / "cache"),
            "WBL_RUN_DIR": str(tmp_path / "run"),
            "WBL_KAFKA_PORT": "21092",
            "WBL_KAFKA_CONTROLLER_PORT": " 21093 ",
            "WBL_MONGO_PORT": "21017",
            "WBL_KAFKA_HEAP": "-Xmx300m  -Xms100m",
            "WBL_HEALTH_TIMEOUT_S": "30.5",
        }
    )
    assert config.cache_dir == tmp_path / "cache" and config.run_dir == tmp_path / "run"
    assert config.bootstrap_servers == "127.0.0.1:21092"
    assert config.ports == {
        "WBL_KAFKA_PORT": 21092,
        "WBL_KAFKA_CONTROLLER_PORT": 21093,
        "WBL_MONGO_PORT": 21017,
    }
    assert config.kafka_heap == ("-Xmx300m", "-Xms100m")
    assert config.health_timeout_s == 30.5


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("WBL_KAFKA_PORT", "ninety", "WBL_KAFKA_PORT='ninety' is not a port number"),
        ("WBL_MONGO_PORT", "70000", "WBL_MONGO_PORT=70000 is out of range"),
        ("WBL_KAFKA_CONTROLLER_PORT", "9092", "the ports must differ"),
        ("WBL_HEALTH_TIMEOUT_S", "soon", "WBL_HEALTH_TIMEOUT_S='soon' is not a number"),
        ("WBL_HEALTH_TIMEOUT_S", "-1", "WBL_HEALTH_TIMEOUT_S=-1 is out of range"),
    ],
)
def test_a_bad_variable_is_named_in_one_line(variable: str, value: str, says: str) -> None:
    with pytest.raises(InfraError, match=says) as raised:
        Config.from_env({variable: value})
    assert "\n" not in str(raised.value)


# -- progress -------------------------------------------------------------------------------


def test_clock_and_size_read_like_download_tools() -> None:
    assert [clock(s) for s in (0, 9.9, 65, 3725)] == ["0:00", "0:09", "1:05", "1:02:05"]
    assert [size(b) for b in (512, 1_600, 52_300_000, 2_500_000_000)] == [
        "512 B",
        "1.6 kB",
        "52.3 MB",
        "2.50 GB",
    ]


def test_an_activity_says_what_and_how_far() -> None:
    assert describe("kafka", Activity("downloading jars")) == "kafka: downloading jars"
    assert (
        describe("kafka", Activity("downloading jars", 12, None, "files", "3.1 MB"))
        == "kafka: downloading jars, 12 files (3.1 MB)"
    )
    assert (
        describe("ferretdb", Activity("compiling", 212, 509, "Go packages"))
        == "ferretdb: compiling, 212/509 Go packages"
    )
    line = status_line(75, {"kafka": Activity("a"), "ferretdb": Activity("b", 1, 2, "x")})
    assert line == "  [1:15] kafka: a · ferretdb: b, 1/2 x"


def test_progress_prints_a_new_activity_at_once_and_every_activity_on_each_tick() -> None:
    now = [100.0]
    out = io.StringIO()
    progress = Progress(out, now=lambda: now[0])
    progress.set("kafka", "downloading jars")
    progress.set("kafka", "downloading jars", done=3, unit="files")  # an update: silent
    now[0] = 104.0
    progress.set("ferretdb", "compiling", done=0, total=9, unit="packages")
    progress.tick()
    progress.finish("kafka", "46 jars ready")
    progress.tick()
    progress.finish("ferretdb", "built")
    progress.tick()  # nothing under way: nothing printed
    assert out.getvalue().splitlines() == [
        "  [0:00] kafka: downloading jars",
        "  [0:04] ferretdb: compiling, 0/9 packages",
        "  [0:04] kafka: downloading jars, 3 files · ferretdb: compiling, 0/9 packages",
        "  [0:04] kafka: 46 jars ready",
        "  [0:04] ferretdb: compiling, 0/9 packages",
        "  [0:04] ferretdb: built",
    ]


# -- the fetch tools' output ----------------------------------------------------------------


def test_maven_downloads_are_counted_with_their_size() -> None:
    line = (
        "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/"
        "kafka/kafka_2.13/4.3.0/kafka_2.13-4.3.0.jar (1.6 MB at 4.8 MB/s)"
    )
    assert maven_download(line) == ("kafka_2.13-4.3.0.jar", 1_600_000)
    assert maven_download("[INFO] Downloading from central: https://x/y.pom") is None
    assert maven_download("[INFO] Copying kafka_2.13-4.3.0.jar to /tmp/libs") is None


def test_go_module_downloads_name_the_module_with_its_capitals() -> None:
    line = (
        "# get https://proxy.golang.org/github.com/%21ferret%21d%21b/%21ferret%21d%21b/"
        "@v/v1.24.2.zip: 200 OK (0.002s)"
    )
    assert go_module_fetched(line) == "github.com/FerretDB/FerretDB@v1.24.2"
    started = "# get https://proxy.golang.org/modernc.org/sqlite/@v/v1.32.0.zip"
    assert go_module_fetched(started) is None  # begun, not done
    assert go_module_fetched(started.replace(".zip", ".mod") + ": 200 OK (0.1s)") is None


# -- pid files ------------------------------------------------------------------------------


def test_pid_files_parse_or_are_refused() -> None:
    assert parse_pid_file("123 4567\n") == (123, "4567")
    assert parse_pid_file("123") == (123, None)
    assert [parse_pid_file(t) for t in ("", "abc 1", "-5", "0")] == [None] * 4


def test_a_pid_file_of_a_live_process_is_read(tmp_path: Path) -> None:
    path = pid_path("me", tmp_path)
    path.parent.mkdir()
    path.write_text(f"{os.getpid()} {proc_start_time(os.getpid())}\n")
    assert read_pid("me", tmp_path) == os.getpid()


def test_a_pid_reused_by_another_process_is_not_ours_and_its_file_goes(tmp_path: Path) -> None:
    path = pid_path("gone", tmp_path)
    path.parent.mkdir()
    path.write_text(f"{os.getpid()} 1\n")  # our pid, but another start time
    assert read_pid("gone", tmp_path) is None
    assert not path.exists()
    path.write_text("garbage\n")
    assert read_pid("gone", tmp_path) is None and not path.exists()


# -- the cache ------------------------------------------------------------------------------


def test_the_cache_installs_complete_artifacts_only(tmp_path: Path) -> None:
    home = tmp_path / "thing-1"
    with pytest.raises(RuntimeError), cache.building(tmp_path, home, "v1") as tmp:
        assert tmp is not None
        (tmp / "half").write_text("")
        raise RuntimeError("the download broke")
    assert not home.exists() and not list(tmp_path.glob(".tmp-*"))

    with cache.building(tmp_path, home, "v1") as tmp:
        assert tmp is not None
        (tmp / "whole").write_text("")
    assert cache.is_current(home, "v1") and (home / "whole").exists()
    with cache.building(tmp_path, home, "v1") as tmp:
        assert tmp is None  # already there
    assert not cache.is_current(home, "v2")


# -- concurrency and logs -------------------------------------------------------------------


def test_concurrent_steps_run_together_and_the_first_failure_is_raised_after_all_end() -> None:
    both_running = threading.Barrier(2, timeout=10)  # broken unless both run at once
    finished: list[str] = []

    def ok(name: str) -> str:
        both_running.wait()
        finished.append(name)
        return name

    def broken() -> str:
        both_running.wait()
        raise InfraError("go failed")

    assert concurrently({"a": lambda: ok("a"), "b": lambda: ok("b")}) == {"a": "a", "b": "b"}
    finished.clear()
    both_running.reset()
    with pytest.raises(InfraError, match="go failed"):
        concurrently({"kafka": lambda: ok("kafka"), "ferretdb": broken})
    assert finished == ["kafka"]


def test_log_tails_drop_known_noise(tmp_path: Path) -> None:
    log = tmp_path / "ferretdb.log"
    log.write_text("one\nwarn endSessions failed\ntwo\nthree\n")
    assert tail(log, 2) == ["two", "three"]
    assert tail(log, 10) == ["one", "two", "three"]
