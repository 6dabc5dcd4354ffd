"""docker-compose.yml cannot run on these machines (no Docker engine), so its structure is
checked here: healthchecks, start order, topics, and that every variable it sets is one
the services read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from wbl_matcher.config import MatcherSettings
from wbl_notifier.config import NotifierSettings
from wbl_registry.config import RegistrySettings
from wbl_schemas.topics import all_topics

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
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
