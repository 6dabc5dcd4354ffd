"""FerretDB (the MongoDB wire protocol on SQLite): built from its Go module by our own tiny
main (``deploy/local/ferretdb``), with our patches of two FerretDB 1.24 bugs applied
(``deploy/local/ferretdb/patches``: lookups by ``_id`` use the index; an update command gives
back each statement's pooled connection, so a large one no longer wedges the database), its
process, and a ping + write + read as its health check (ADR 1)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from infra import cache
from infra.config import HERE, HOST, Config, InfraError, Port
from infra.processes import port_listening, start_process
from infra.progress import Progress

NAME = "ferretdb"
SOURCE = HERE / "ferretdb"
PATCHES = SOURCE / "patches"
MODULE = "github.com/FerretDB/FerretDB"
BUILD_TAGS = "ferretdb_no_postgresql"
GO_MIN = (1, 24)
HEALTH_DB = "wbl_healthcheck"

# `go mod download -x` prints `# get https://<proxy>/<path>/@v/<version>.zip: 200 OK (0.1s)`.
_FETCHED = re.compile(r"^# get \S+?://[^/]+/(\S+)/@v/(\S+)\.zip: 200")


def version() -> str:
    """The FerretDB version pinned in ``ferretdb/go.mod`` (e.g. ``1.24.2``)."""
    match = re.search(r"github\.com/FerretDB/FerretDB\s+v(\S+)", (SOURCE / "go.mod").read_text())
    if match is None:
        raise InfraError(f"{SOURCE / 'go.mod'} does not require github.com/FerretDB/FerretDB")
    return match.group(1)


def home(config: Config) -> Path:
    return config.cache_dir / f"ferretdb-{version()}"


def binary(config: Config) -> Path:
    return home(config) / "ferretdb"


def patches() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def _inputs() -> str:
    files = [*(SOURCE / n for n in ("main.go", "go.mod", "go.sum")), *patches()]
    return cache.digest(BUILD_TAGS.encode(), *(f.read_bytes() for f in files))


def go_module_fetched(line: str) -> str | None:
    """`path@version` of a module zip that `go mod download -x` reports fetched, else None.

    The proxy protocol writes a capital as `!` and its lower case (`!ferret!d!b`)."""
    match = _FETCHED.match(line)
    if match is None:
        return None
    path = re.sub(r"!([a-z])", lambda m: m.group(1).upper(), unquote(match.group(1)))
    return f"{path}@{unquote(match.group(2))}"


def _check_go(go: str) -> None:
    proc = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )  # fmt: skip
    match = re.match(r"go(\d+)\.(\d+)", proc.stdout.strip())
    if match and (int(match.group(1)), int(match.group(2))) < GO_MIN:
        raise InfraError(
            f"{go} is {proc.stdout.strip()}; building FerretDB needs Go "
            f"{GO_MIN[0]}.{GO_MIN[1]}+: install a newer Go (https://go.dev/dl/)"
        )


def build(config: Config, progress: Progress) -> bool:
    """Build ``<cache>/ferretdb-<version>/ferretdb``; False if already there.

    Three steps, each reported: download the Go modules, list the packages to compile (for
    the total), compile them."""
    inputs = _inputs()
    if cache.is_current(home(config), inputs):
        return False
    go = cache.require_tool(
        "go", "once, to build FerretDB", f"Go {GO_MIN[0]}.{GO_MIN[1]}+ (https://go.dev/dl/)"
    )
    _check_go(go)
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod -buildvcs=false",
    }
    started = time.monotonic()
    with cache.building(config.cache_dir, home(config), inputs) as tmp:
        if tmp is None:
            return False
        modules = _download_modules(go, env, config, progress)
        work = _patched_source(go, env, tmp, config, progress)
        total = _count_packages(go, env, work, config)
        compiled = _compile(go, env, work, tmp / "ferretdb", total, config, progress)
        shutil.rmtree(tmp / "src", ignore_errors=True)
    progress.finish(
        NAME,
        f"FerretDB {version()} built into {home(config)} ({modules} Go modules downloaded, "
        f"{f'{compiled} packages compiled' if compiled else 'packages from the Go build cache'}"
        f", {time.monotonic() - started:.0f} s)",
    )
    return True


def _failed(config: Config, argv: list[str], code: int, output: str) -> InfraError:
    kept = cache.keep_output(config.cache_dir, home(config), argv, output)
    lines = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith("# get ")]
    reason = lines[-1][:300] if lines else f"exit code {code}"
    return InfraError(
        f"building github.com/FerretDB/FerretDB v{version()} with go failed: {reason}; the "
        f"first build needs the network and the Go module proxy (full output: {kept})"
    )


def _download_modules(go: str, env: Mapping[str, str], config: Config, progress: Progress) -> int:
    what = "downloading Go modules"
    progress.set(NAME, what)
    fetched = 0

    def on_line(line: str) -> None:
        nonlocal fetched
        module = go_module_fetched(line)
        if module is not None:
            fetched += 1
            progress.set(NAME, what, done=fetched, unit="modules", detail=module)

    argv = [go, "mod", "download", "-x"]
    code, output = cache.run_reading(argv, on_line, cwd=SOURCE, env=env)
    if code != 0:
        raise _failed(config, argv, code, output)
    return fetched


def _patched_source(
    go: str, env: Mapping[str, str], tmp: Path, config: Config, progress: Progress
) -> Path:
    """A copy of our main and of FerretDB's module with our patches applied, the main's
    go.mod pointing at the patched copy. Returns the main's directory."""
    progress.set(NAME, f"applying {len(patches())} patches to FerretDB {version()}")
    argv = [go, "list", "-m", "-f", "{{.Dir}}", MODULE]
    found = subprocess.run(argv, cwd=SOURCE, env=dict(env), capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout.strip():
        raise _failed(config, argv, found.returncode, found.stdout + found.stderr)
    module = tmp / "src" / "ferretdb"
    shutil.copytree(found.stdout.strip(), module)
    for path in module.rglob("*"):  # the module cache is read-only
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    main = tmp / "src" / "main"
    main.mkdir()
    for name in ("main.go", "go.mod", "go.sum"):
        shutil.copy2(SOURCE / name, main / name)
    for patch in patches():
        argv = ["git", "apply", "-p1", str(patch)]
        applied = subprocess.run(argv, cwd=module, capture_output=True, text=True)
        if applied.returncode != 0:
            raise _failed(config, argv, applied.returncode, applied.stdout + applied.stderr)
    edit = [go, "mod", "edit", "-replace", f"{MODULE}=../ferretdb"]
    edited = subprocess.run(edit, cwd=main, env=dict(env), capture_output=True, text=True)
    if edited.returncode != 0:
        raise _failed(config, edit, edited.returncode, edited.stdout + edited.stderr)
    return main


def _count_packages(go: str, env: Mapping[str, str], cwd: Path, config: Config) -> int | None:
    argv = [go, "list", "-deps", "-tags", BUILD_TAGS, "."]
    proc = subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, text=True)
    if proc.returncode != 0:
        raise _failed(config, argv, proc.returncode, proc.stdout + proc.stderr)
    return len(proc.stdout.split()) or None


def _compile(
    go: str,
    env: Mapping[str, str],
    cwd: Path,
    output: Path,
    total: int | None,
    config: Config,
    progress: Progress,
) -> int:
    what = "compiling"
    progress.set(NAME, what, done=0, total=total, unit="Go packages")
    compiled = 0

    def on_line(line: str) -> None:  # `go build -v` names each package it compiles
        nonlocal compiled
        if line and not line.startswith(("#", " ")):
            compiled += 1
            progress.set(NAME, what, done=compiled, total=total, unit="Go packages")

    argv = [go, "build", "-v", "-tags", BUILD_TAGS, "-trimpath", "-o", str(output), "."]
    code, text = cache.run_reading(argv, on_line, cwd=cwd, env=env)
    if code != 0 or not output.is_file():
        raise _failed(config, argv, code, text)
    return compiled


def start(config: Config) -> int:
    sqlite_dir = config.run_dir / "ferretdb"
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary(config)),
        "-host", HOST,
        "-port", str(config.mongo_port),
        "-sqlite-dir", str(sqlite_dir),
    ]  # fmt: skip
    return start_process(NAME, argv, None, config.run_dir, config.log_path(NAME))


def healthy(config: Config) -> bool:
    """A real ping plus a write and a read back; raises on failure."""
    if not port_listening(config.mongo_port):
        return False
    try:
        import pymongo
    except ImportError:
        raise InfraError(
            f"pymongo is not installed for {sys.executable}; run this with the project "
            "venv's python (or pip install pymongo)"
        ) from None
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        config.mongo_url, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000,
        socketTimeoutMS=5000,
    )  # fmt: skip
    try:
        client.admin.command("ping")
        token = uuid.uuid4().hex
        probe = client[HEALTH_DB]["probe"]
        probe.replace_one({"_id": "infra"}, {"_id": "infra", "token": token}, upsert=True)
        found = probe.find_one({"_id": "infra"})
        if found is None or found.get("token") != token:
            raise RuntimeError(f"read back {found!r}")
    finally:
        client.close()
    return True


class FerretDB:
    """FerretDB as one of the instance's servers (see ``infra.servers``)."""

    name = NAME
    stop_timeout_s = 20.0
    health_check = "ping/write/read"

    def ports(self, config: Config) -> tuple[Port, ...]:
        return (Port("mongodb", "WBL_MONGO_PORT", config.mongo_port),)

    def address(self, config: Config) -> str:
        return config.mongo_url

    def cached(self, config: Config) -> bool:
        return cache.is_current(home(config), _inputs())

    def fetch(self, config: Config, progress: Progress) -> bool:
        return build(config, progress)

    def start(self, config: Config) -> int:
        return start(config)

    def healthy(self, config: Config, attempt_timeout_s: float) -> bool:
        return healthy(config)


SERVER = FerretDB()
