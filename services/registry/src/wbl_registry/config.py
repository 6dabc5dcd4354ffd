"""Registry settings: `WBL_REGISTRY_*` (nested with `__`), plus `WBL_ADMIN_TOKEN` and
`WBL_WEBHOOK_KEY` (shared with notifier, which signs webhooks with keys derived from it)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator

from wbl_common.config import HttpSettings, KafkaSettings, MongoSettings
from wbl_common.settings import PLACEHOLDERS, ConsumerName, ServiceSettings, settings_config
from wbl_common.workers import WorkerSettings


class RegistrySettings(ServiceSettings):
    model_config = settings_config("WBL_REGISTRY_")

    http: HttpSettings = HttpSettings(port=8001)
    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings(database="wbl_registry")
    admin_token: SecretStr = Field(validation_alias=AliasChoices("WBL_ADMIN_TOKEN"))
    webhook_key: SecretStr = Field(validation_alias=AliasChoices("WBL_WEBHOOK_KEY"))
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    report_min_group: int = Field(
        default=10,
        ge=0,
        description="Statewide outcomes report: groups with fewer students are suppressed.",
    )
    wbl_hours_threshold: int = Field(
        default=54,
        ge=1,
        le=2000,
        description="Outcomes report, Perkins 5S3: the verified hours at which a CTE "
        "concentrator counts as having taken part in work-based learning (54: New York's "
        "figure; the state plan sets it).",
    )
    school_year_start_month: int = Field(
        default=7,
        ge=1,
        le=12,
        description="Outcomes report: the month a school year starts on its 1st (7: July to "
        "June, the Massachusetts reporting year). The report's default period is the current "
        "school year.",
    )
    webhook_loopback: bool = Field(
        default=False,
        description="Development and tests only: webhook URLs may be http:// to this machine "
        "(localhost, 127.0.0.1, ::1). Off: https:// to a public host only.",
    )
    webhook_grace_s: int = Field(
        default=24 * 3600,
        ge=0,
        le=30 * 24 * 3600,
        description="After a webhook secret rotation, the old secret also signs for this "
        "long (seconds), so receivers can switch without refusing a webhook.",
    )
    schools_listed_only: bool = Field(
        default=True,
        description="Refuse coordinators and students naming a school id that the reference "
        "data (schools.json, `GET /v1/reference/schools`) does not list. Ops add a school by "
        "pointing WBL_REFERENCE_DIR at an edited copy of the reference files.",
    )
    undo_s: float = Field(
        default=60,
        ge=0,
        le=300,
        description="For this many seconds after a confirm or decline, any coordinator of "
        "the student's school may undo it; its event (PlacementConfirmed/Declined) is held "
        "till then, so the employer and the matcher learn of a decision only once it can no "
        "longer be undone. Never past the offer's own deadline. 0 turns undo off.",
    )
    link_key: SecretStr | None = Field(
        default=None,
        description="Signs the links parties without an account act by (agreement, hours). "
        "Unset: derived from WBL_WEBHOOK_KEY; set it in production so that no other "
        "service holding that key could make a party link.",
    )
    notifier_token: SecretStr | None = Field(
        default=None,
        description="The notifier's service credential, for the outreach calls only "
        "(`/v1/placements/active`, `/v1/placements/{id}/outreach`). Unset: derived from "
        "WBL_WEBHOOK_KEY, as notifier derives it; set it (and notifier's "
        "WBL_NOTIFIER_REGISTRY__SERVICE_TOKEN) in production.",
    )
    party_link_ttl_s: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        le=90 * 24 * 3600,
        description="How long a party's link works (seconds); the coordinator can get a "
        "fresh one at any time.",
    )
    consumer_name: ConsumerName = "registry"
    # Worker processes that read and check class lists, off the event loop.
    class_lists: WorkerSettings = WorkerSettings()

    @field_validator("webhook_key")
    @classmethod
    def refuse_placeholder_webhook_key(cls, key: SecretStr) -> SecretStr:
        value = key.get_secret_value()
        if value.lower() in PLACEHOLDERS or len(value) < 32:
            raise ValueError("WBL_WEBHOOK_KEY must be a random secret of at least 32 characters")
        return key
