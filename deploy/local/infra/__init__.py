"""Local infrastructure of wbl-placements without Docker: Apache Kafka (KRaft) and FerretDB.

Run as ``python deploy/local/infra <command>``:

``fetch``
    Download the Kafka jars (Maven Central, through ``mvn``) and build the FerretDB binary
    (Go module proxy, through ``go``) into the shared cache, both at once, with progress.
``start``
    Fetch what is missing, start both servers in the background (each as soon as it is
    fetched), wait until both are healthy, then create every topic of
    ``wbl_schemas.topics.all_topics()``. Idempotent: what already runs is left alone (and
    still health-checked).
``stop``
    SIGTERM each server, wait for it to exit (SIGKILL after a deadline), remove pid files.
    Stopping what is not running is fine.
``status``
    Whether each server runs, its pid and its ports. Always exits 0.
``health``
    Kafka: a real produce + consume (with an offset commit) round trip on the
    ``wbl.healthcheck`` topic via aiokafka. MongoDB: a real ``ping`` plus a write and a read
    via pymongo. Polls until healthy or the deadline passes.
``logs``
    Print the log file paths; with ``-n N``, also their last N lines.

Every command exits 0 on success. On failure it prints one line on stderr saying what is
wrong and what to do, and exits 1.

Configuration (environment variables):

``WBL_CACHE_DIR``
    Cache shared by every clone and instance on the machine, read-only once filled.
    Default ``${XDG_CACHE_HOME:-~/.cache}/wbl-placements``. Holds
    ``kafka-<version>/libs/*.jar`` and ``ferretdb-<version>/ferretdb`` (see ``infra.cache``).
``WBL_RUN_DIR``
    Per-instance state. Default ``<repo>/.run/dev``. Holds ``kafka/`` (server.properties,
    cluster id, log dirs), ``ferretdb/`` (SQLite databases), ``logs/<name>.log`` and
    ``pids/<name>.pid``. Two instances share nothing but the cache, so a test instance can
    run beside a dev instance::

        WBL_RUN_DIR=$PWD/.run/test WBL_KAFKA_PORT=19092 WBL_KAFKA_CONTROLLER_PORT=19093 \\
            WBL_MONGO_PORT=17017 python deploy/local/infra start

``WBL_KAFKA_PORT`` (default 9092), ``WBL_KAFKA_CONTROLLER_PORT`` (9093)
    Kafka's client (PLAINTEXT) and KRaft controller listeners, on 127.0.0.1.
``WBL_MONGO_PORT`` (default 27017)
    FerretDB (MongoDB wire protocol) listener, on 127.0.0.1.
``WBL_KAFKA_HEAP`` (default ``-Xmx512m -Xms256m``)
    JVM heap options of the broker (split like a shell would).
``WBL_HEALTH_TIMEOUT_S`` (default 90)
    Deadline in seconds of the health checks of ``start`` and ``health``
    (``--timeout`` overrides it).

Requirements: Java >= 17 to run Kafka; Maven (``mvn``) and Go >= 1.24 only to fill the cache
the first time; aiokafka and pymongo (the project venv) for ``start``/``health``; the
``wbl_schemas`` package (``<repo>/schemas/src`` is added to ``sys.path`` when needed).

The modules, one job each: ``config`` (the environment), ``processes`` (pid files, start,
stop, ports, waiting), ``progress`` (what long steps print), ``cache`` (fetch once,
atomically), ``kafka`` and ``ferretdb`` (one server each), ``servers`` (the list and their
interface), ``lifecycle`` (the commands over every server), ``topics``, ``logs``, ``cli``.
Importing the package does nothing; what other scripts use is re-exported here.
"""

from infra import ferretdb, kafka, topics
from infra.config import HOST, REPO_ROOT, Config, InfraError
from infra.lifecycle import health, start, stop
from infra.processes import (
    free_port,
    read_pid,
    require_free_ports,
    start_process,
    stop_process,
    wait_until,
)

__all__ = [
    "HOST",
    "REPO_ROOT",
    "Config",
    "InfraError",
    "ferretdb",
    "free_port",
    "health",
    "kafka",
    "read_pid",
    "require_free_ports",
    "start",
    "start_process",
    "stop",
    "stop_process",
    "topics",
    "wait_until",
]
