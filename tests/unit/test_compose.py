"""docker-compose.yml cannot run on these machines (no Docker engine), so its structure is
checked here: healthchecks, start order, topics, that every variable it sets is one the
services read, that the notifier's mail reaches Mailpit, and that Prometheus scrapes every
service and Grafana is provisioned, with alert rules and a dashboard that name only
metrics the services register."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from wbl_common.metrics import DeliveryMetrics, RoundMetrics, ServiceMetrics
from wbl_matcher.config import MatcherSettings
from wbl_notifier.config import NotifierSettings
from wbl_notifier.domain import Channel
from wbl_registry.config import RegistrySettings
from wbl_schemas.topics import all_topics

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
PROMETHEUS_DIR = REPO / "deploy/compose/prometheus"
GRAFANA_DIR = REPO / "deploy/compose/grafana"
SERVICES = COMPOSE["services"]
OURS: dict[str, type[BaseSettings]] = {
    "registry": RegistrySettings,
    "matcher": MatcherSettings,
    "notifier": NotifierSettings,
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads (prefix, nesting and aliases)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    delimiter = str(settings.model_config.get("env_nested_delimiter", "__"))
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice) for choice in alias.choices}
            continue
        names.add(f"{prefix}{name}".upper())
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names |= {f"{prefix}{name}{delimiter}{sub}".upper() for sub in nested.model_fields}
    return names


def test_every_container_has_a_healthcheck() -> None:
    assert {"kafka", "kafka-topics", "mongodb", *OURS} <= set(SERVICES)
    for name, service in SERVICES.items():
        assert "healthcheck" in service, name


def test_real_kafka_in_kraft_mode_and_real_mongodb() -> None:
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert SERVICES["mongodb"]["image"].startswith("mongo:")


@pytest.mark.parametrize("name", sorted(OURS))
def test_services_wait_for_healthy_dependencies(name: str) -> None:
    depends = SERVICES[name]["depends_on"]
    assert depends["mongodb"]["condition"] == "service_healthy"
    assert depends["kafka-topics"]["condition"] == "service_completed_successfully"
    assert SERVICES["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_variable_set_is_one_the_service_reads(name: str) -> None:
    readable = env_names(OURS[name])
    unknown = set(SERVICES[name]["environment"]) - readable
    assert not unknown, f"{name} does not read {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(OURS))
def test_services_are_built_from_the_project_dockerfile(name: str) -> None:
    build = SERVICES[name]["build"]
    assert (REPO / build["dockerfile"]).is_file()
    assert build["args"]["SERVICE"] == name


def test_the_topic_step_creates_exactly_the_topics_of_the_schemas_package() -> None:
    script = "\n".join(SERVICES["kafka-topics"]["command"])
    created = {
        (m[1], int(m[2]), m[3]) for m in re.finditer(r"^create (\S+) (\d+) (\w+)$", script, re.M)
    }
    expected = {
        (t.name, t.partitions, "compact" if t.compacted else "delete") for t in all_topics()
    }
    assert created == expected


def test_the_env_name_reader_sees_nested_and_aliased_settings() -> None:
    names = env_names(RegistrySettings)
    assert {"WBL_REGISTRY_HTTP__PORT", "WBL_REGISTRY_MONGO__URI", "WBL_ADMIN_TOKEN"} <= names
    assert "WBL_REGISTRY_NOT_A_SETTING" not in names


# -- mail -----------------------------------------------------------------------------------


def test_the_notifier_sends_mail_to_mailpit_and_links_to_its_published_port() -> None:
    notifier, mailpit = SERVICES["notifier"], SERVICES["mailpit"]
    env = notifier["environment"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert env["WBL_NOTIFIER_SMTP__HOST"] == "mailpit"
    assert env["WBL_NOTIFIER_SMTP__PORT"] == "1025"  # Mailpit's SMTP port
    assert env["WBL_NOTIFIER_SMTP__SECURITY"] == "none"
    assert notifier["depends_on"]["mailpit"]["condition"] == "service_healthy"
    public_port = env["WBL_NOTIFIER_PUBLIC_URL"].rsplit(":", 1)[1].rstrip("}/")
    assert f"{public_port}:{env['WBL_NOTIFIER_HTTP__PORT']}" in notifier["ports"]


# -- Prometheus and Grafana -----------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Every sample name the services' code registers (what /metrics can show), read from
    the same registration the services run at start."""
    registry = CollectorRegistry()
    ServiceMetrics(registry)
    RoundMetrics(registry)
    DeliveryMetrics(registry, [c.value for c in Channel])
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    names = set()
    for family in registry.collect():
        names |= {family.name, *(family.name + s for s in suffixes.get(family.type, ()))}
    return names


EXPORTED = exported_metric_names()
METRIC = re.compile(r"\b(wbl_[a-z0-9_]+)")


def metrics_named(expression: str) -> set[str]:
    return set(METRIC.findall(expression))


def mounts(service: str) -> dict[str, str]:
    """Container path → host path, for the service's bind mounts."""
    pairs = (v.split(":")[:2] for v in SERVICES[service].get("volumes", []))
    return {inside: outside for outside, inside in pairs if outside.startswith("./")}


def test_the_metric_reader_sees_the_registered_families() -> None:
    assert {
        "wbl_http_requests_total",
        "wbl_http_request_duration_seconds_bucket",
        "wbl_kafka_consumer_lag_messages",
        "wbl_matcher_round_students_sum",
    } <= EXPORTED
    assert metrics_named("sum(rate(wbl_x_total[5m])) / up") == {"wbl_x_total"}


def test_prometheus_scrapes_every_service_that_serves_metrics() -> None:
    config_dir = mounts("prometheus")["/etc/prometheus"]
    assert (REPO / config_dir).resolve() == PROMETHEUS_DIR
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    scraped = {
        job["job_name"]: {
            target for static in job["static_configs"] for target in static["targets"]
        }
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
    }
    expected = {
        name: {f"{name}:{SERVICES[name]['environment'][f'WBL_{name.upper()}_HTTP__PORT']}"}
        for name in OURS
    }
    assert scraped == expected
    assert all((PROMETHEUS_DIR / rules).is_file() for rules in config["rule_files"])


def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_every_alert_names_only_metrics_the_services_export() -> None:
    for rule in alert_rules():
        named = metrics_named(rule["expr"])
        assert named or re.search(r"\bup\b", rule["expr"]), rule["alert"]
        assert named <= EXPORTED, f"{rule['alert']}: {sorted(named - EXPORTED)}"
        assert rule["annotations"]["summary"], rule["alert"]


def test_alerts_watch_outbox_age_consumer_lag_and_dead_letters() -> None:
    watched = set().union(*(metrics_named(rule["expr"]) for rule in alert_rules()))
    assert {
        "wbl_outbox_oldest_pending_age_seconds",
        "wbl_kafka_consumer_lag_messages",
        "wbl_dead_letters_total",
    } <= watched


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((GRAFANA_DIR / "dashboards/wbl-placements.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_names_only_exported_metrics_and_shows_every_family() -> None:
    expressions = dashboard_expressions()
    assert expressions
    shown: set[str] = set()
    for expression in expressions:
        named = metrics_named(expression)
        assert named, expression
        assert named <= EXPORTED, sorted(named - EXPORTED)
        shown |= named
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in EXPORTED}
    on_dashboard = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in shown}
    assert families <= on_dashboard, sorted(families - on_dashboard)


def test_grafana_is_provisioned_with_the_prometheus_datasource_and_the_dashboard() -> None:
    mounted = mounts("grafana")
    provisioning = REPO / mounted["/etc/grafana/provisioning"]
    assert provisioning.resolve() == (GRAFANA_DIR / "provisioning").resolve()
    [datasource] = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    prometheus_port = SERVICES["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"
    [provider] = yaml.safe_load((provisioning / "dashboards/wbl-placements.yml").read_text())[
        "providers"
    ]
    dashboards = REPO / mounted[provider["options"]["path"]]
    assert (dashboards / "wbl-placements.json").is_file()
    dashboard = json.loads((dashboards / "wbl-placements.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {datasource["uid"]}
    assert SERVICES["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
