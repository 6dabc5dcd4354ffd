"""Apache Kafka (KRaft, one node): its jars from Maven Central, its storage, its process,
and a real produce + consume + commit round trip as its health check."""

from __future__ import annotations

import asyncio
import base64
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from infra import cache
from infra.config import HERE, Config, InfraError, Port
from infra.processes import port_listening, start_process
from infra.progress import Progress, size

# Kafka 4.3.0 is the newest release that can be assembled from Maven Central and works with
# aiokafka 0.14.0: produce (acks=all, idempotent), consume in a consumer group with offset
# commits, and admin create_topics/describe_configs/delete_topics were tested against it.
# 4.4.0 cannot be assembled: its dependency org.apache.kafka:kafka-tools-api:4.4.0 is not
# served by Maven Central (jar and POM missing), so `mvn dependency:copy-dependencies` fails.
VERSION = "4.3.0"
# Kafka 4.x logs through SLF4J; its POM brings no binding, so we add Log4j 2's.
LOG4J_VERSION = "2.24.3"
JAVA_MIN_MAJOR = 17

NAME = "kafka"
POM_TEMPLATE = HERE / "kafka-pom.xml.template"
PROPERTIES_TEMPLATE = HERE / "server.properties.template"
LOG4J_CONFIG = HERE / "log4j2.properties"
HEALTH_TOPIC = "wbl.healthcheck"
HEALTH_GROUP = "wbl.healthcheck"

_DOWNLOADED = re.compile(r"Downloaded from [^:]+: (\S+) \(([\d.]+) (B|kB|MB|GB)")
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def home(config: Config) -> Path:
    return config.cache_dir / f"kafka-{VERSION}"


def pom() -> str:
    text = POM_TEMPLATE.read_text()
    return text.replace("@KAFKA_VERSION@", VERSION).replace("@LOG4J_VERSION@", LOG4J_VERSION)


def maven_download(line: str) -> tuple[str, int] | None:
    """(file name, bytes) of a `Downloaded from central: URL (12 kB at ...)` line of mvn."""
    match = _DOWNLOADED.search(line)
    if match is None:
        return None
    url, amount, unit = match.groups()
    return url.rsplit("/", 1)[-1], round(float(amount) * _UNITS[unit])


def check_java() -> str:
    """The path of a ``java`` of version >= 17, or InfraError saying what to install."""
    java = cache.require_tool(
        "java", "to run Kafka", f"a Java {JAVA_MIN_MAJOR}+ runtime (e.g. openjdk-17)"
    )
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_..." style
            major = int(match.group(2))
        if major < JAVA_MIN_MAJOR:
            raise InfraError(
                f"{java} is Java {major}; Kafka {VERSION} needs Java {JAVA_MIN_MAJOR}+: "
                f"install openjdk-{JAVA_MIN_MAJOR} or put a newer java first on PATH"
            )
    return java


def fetch(config: Config, progress: Progress) -> bool:
    """Fill ``<cache>/kafka-<version>/libs`` from Maven Central; False if already there."""
    text = pom()
    inputs = cache.digest(text.encode())
    if cache.is_current(home(config), inputs):
        return False
    mvn = cache.require_tool(
        "mvn", "once, to download the Kafka jars", "Maven 3.8+ (e.g. apt-get install maven)"
    )
    check_java()
    started = time.monotonic()
    with cache.building(config.cache_dir, home(config), inputs) as tmp:
        if tmp is None:
            return False
        (tmp / "pom.xml").write_text(text)
        argv = [
            mvn, "-B", "-Dstyle.color=never", "-f", str(tmp / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp / 'libs'}",
        ]  # fmt: skip
        what = "downloading jars from Maven Central"
        progress.set(NAME, what)
        files, total = 0, 0

        def on_line(line: str) -> None:
            nonlocal files, total
            got = maven_download(line)
            if got is not None:
                files, total = files + 1, total + got[1]
                progress.set(NAME, what, done=files, unit="files", detail=size(total))

        code, output = cache.run_reading(argv, on_line)
        jars = sorted((tmp / "libs").glob("*.jar"))
        if code != 0 or not (tmp / "libs" / f"kafka_2.13-{VERSION}.jar").exists():
            kept = cache.keep_output(config.cache_dir, home(config), argv, output)
            errors = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines()]
            errors = [ln.replace("[ERROR] ", "") for ln in errors if "ERROR" in ln]
            raise InfraError(
                f"downloading org.apache.kafka:kafka_2.13:{VERSION} (+ log4j {LOG4J_VERSION})"
                f" with mvn failed: {errors[0][:300] if errors else 'no jars'}; the first "
                f"fetch needs the network and Maven Central (full output: {kept})"
            )
        (tmp / "pom.xml").unlink()
    progress.finish(
        NAME,
        f"{len(jars)} jars of Kafka {VERSION} ready in {home(config)} ({files} files, "
        f"{size(total)} downloaded, {time.monotonic() - started:.0f} s)",
    )
    return True


def _random_cluster_id() -> str:
    """A KRaft cluster id (base64url of 16 random bytes), without a leading '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def java_argv(java: str, config: Config, main: str, *args: str) -> list[str]:
    return [
        java,
        *config.kafka_heap,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={config.logs_dir}",
        "-cp",
        f"{home(config) / 'libs'}/*",
        main,
        *args,
    ]


def prepare(config: Config, java: str) -> Path:
    """Render server.properties and format the KRaft storage once; return the properties."""
    kafka_dir = config.run_dir / "kafka"
    data_dir = kafka_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_dir / "server.properties"
    props.write_text(
        PROPERTIES_TEMPLATE.read_text()
        .replace("@KAFKA_PORT@", str(config.kafka_port))
        .replace("@CONTROLLER_PORT@", str(config.controller_port))
        .replace("@LOG_DIR@", str(data_dir))
    )
    if (data_dir / "meta.properties").exists():
        return props
    id_file = kafka_dir / "cluster.id"
    if not id_file.exists():
        id_file.write_text(_random_cluster_id() + "\n")
    cluster_id = id_file.read_text().strip()
    log_path = config.log_path(NAME)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = java_argv(
        java, config, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "-g"
    )
    with log_path.open("ab") as log_file:
        log_file.write(f"\n=== formatting KRaft storage: {shlex.join(argv)}\n".encode())
        log_file.flush()
        proc = subprocess.run(argv, stdout=log_file, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise InfraError(
            f"formatting the Kafka storage in {data_dir} failed (exit {proc.returncode}); "
            f"read {log_path}"
        )
    return props


def start(config: Config) -> int:
    """Start the broker (formatting its storage first if needed); return its pid."""
    java = check_java()
    argv = java_argv(java, config, "kafka.Kafka", str(prepare(config, java)))
    return start_process(NAME, argv, None, config.run_dir, config.log_path(NAME))


def import_aiokafka() -> Any:
    try:
        import aiokafka  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise InfraError(
            f"aiokafka is not installed for {sys.executable}; run this with the project "
            "venv's python (or pip install aiokafka==0.14.0)"
        ) from None
    return aiokafka


def run_async(coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
    """Run `coro` in an event loop of its own, for at most `timeout_s`."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


def topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error_code, message) of a CreateTopics response of any version."""
    return [(e[0], e[1], e[2] if len(e) > 2 else None) for e in response.topic_errors]


async def _round_trip(bootstrap: str) -> bool:
    aiokafka = import_aiokafka()
    from aiokafka.admin import (  # type: ignore[import-untyped,unused-ignore]
        AIOKafkaAdminClient,
        NewTopic,
    )

    timeouts: dict[str, Any] = {"request_timeout_ms": 5000, "retry_backoff_ms": 100}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **timeouts)
    await admin.start()
    try:
        if HEALTH_TOPIC not in await admin.list_topics():
            topic = NewTopic(HEALTH_TOPIC, 1, 1, topic_configs={"retention.ms": "3600000"})
            for _, code, message in topic_errors(await admin.create_topics([topic])):
                if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS
                    raise RuntimeError(f"create {HEALTH_TOPIC}: error {code} {message}")
    finally:
        await admin.close()

    token = uuid.uuid4().hex.encode()
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **timeouts)
    await producer.start()
    try:
        sent = await producer.send_and_wait(HEALTH_TOPIC, value=token, key=b"health")
    finally:
        await producer.stop()

    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=HEALTH_GROUP, enable_auto_commit=False, **timeouts
    )
    await consumer.start()
    try:
        tp = aiokafka.TopicPartition(HEALTH_TOPIC, sent.partition)
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        message = await consumer.getone()
        if message.value != token:
            raise RuntimeError(f"read back {message.value!r} at offset {sent.offset}")
        await consumer.commit({tp: message.offset + 1})
    finally:
        await consumer.stop()
    return True


def healthy(config: Config, attempt_timeout_s: float = 15.0) -> bool:
    """One real produce + consume + commit round trip; raises on failure."""
    if not port_listening(config.kafka_port):
        return False
    return bool(run_async(_round_trip(config.bootstrap_servers), attempt_timeout_s))


class Kafka:
    """Kafka as one of the instance's servers (see ``infra.servers``)."""

    name = NAME
    stop_timeout_s = 60.0
    health_check = "produce/consume/commit"

    def ports(self, config: Config) -> tuple[Port, ...]:
        return (
            Port("kafka", "WBL_KAFKA_PORT", config.kafka_port),
            Port("controller", "WBL_KAFKA_CONTROLLER_PORT", config.controller_port),
        )

    def address(self, config: Config) -> str:
        return config.bootstrap_servers

    def cached(self, config: Config) -> bool:
        return cache.is_current(home(config), cache.digest(pom().encode()))

    def fetch(self, config: Config, progress: Progress) -> bool:
        return fetch(config, progress)

    def start(self, config: Config) -> int:
        return start(config)

    def healthy(self, config: Config, attempt_timeout_s: float) -> bool:
        return healthy(config, attempt_timeout_s)


SERVER = Kafka()
