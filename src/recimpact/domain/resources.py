"""Resource records of the control plane and their lifecycle.

Records are plain dataclasses: the store persists them as JSON documents, services turn them into wire
dictionaries. Fields marked ``internal`` are never shown to clients (the account, the tags, the moment each metric
started counting).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

# Status strings exactly as AWS spells them (a space after the verb, an underscore in IN_PROGRESS).
CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"
# Still being created: an import job or a training run not yet ended, an attribution not yet checked.
CREATING = (CREATE_PENDING, CREATE_IN_PROGRESS)

DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")


def internal() -> Any:
    """A field kept in the store but never serialized to clients."""
    return field(default=None, metadata={"internal": True})


@dataclass(kw_only=True)
class Resource:
    """Common to every catalog record. Timestamps are epoch seconds (UTC)."""

    kind: ClassVar[str]
    # The wire member that carries ``name`` (import jobs call it ``jobName``).
    name_member: ClassVar[str] = "name"

    arn: str
    name: str
    creation_date_time: float
    last_updated_date_time: float
    account: str = field(metadata={"internal": True})
    region: str = field(metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        """The dataset group the record belongs to, if any (used to find a group's children)."""
        return None

    @property
    def lookup_key(self) -> str | None:
        """A second unique key the store indexes (an event tracker's tracking id)."""
        return None

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        return cls(**doc)


@dataclass(kw_only=True)
class DatasetGroup(Resource):
    kind: ClassVar[str] = "dataset-group"

    status: str = ACTIVE
    role_arn: str | None = None
    kms_key_arn: str | None = None
    domain: str | None = None
    failure_reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})


@dataclass(kw_only=True)
class Schema(Resource):
    kind: ClassVar[str] = "schema"

    schema: str
    domain: str | None = None
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})


@dataclass(kw_only=True)
class Dataset(Resource):
    kind: ClassVar[str] = "dataset"

    dataset_group_arn: str
    dataset_type: str
    schema_arn: str
    status: str = ACTIVE
    tracking_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})
    # The Parquet files (relative to the data directory) holding this dataset's bulk-imported rows: a FULL import
    # replaces the list, an INCREMENTAL one appends to it, in the same catalog transaction that activates the job.
    bulk_parts: list[str] = field(default_factory=list, metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        return self.dataset_group_arn


@dataclass(kw_only=True)
class EventTracker(Resource):
    kind: ClassVar[str] = "event-tracker"

    dataset_group_arn: str
    tracking_id: str
    account_id: str
    status: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        return self.dataset_group_arn

    @property
    def lookup_key(self) -> str | None:
        return self.tracking_id


@dataclass(kw_only=True)
class Metric:
    """One metric of an attribution. ``counting_since`` (internal) is when this metric started to count:
    events received before it are never attributed to it (AWS: no back-fill)."""

    event_type: str
    metric_name: str
    expression: str
    counting_since: float = field(metadata={"internal": True})


@dataclass(kw_only=True)
class MetricAttribution(Resource):
    kind: ClassVar[str] = "metric-attribution"

    dataset_group_arn: str
    metrics: list[Metric]
    # Kept as the client sent it (camelCase wire form): it is configuration passed through, not interpreted.
    metrics_output_config: dict[str, Any]
    status: str = ACTIVE
    failure_reason: str | None = None
    # Names this attribution's live series in the event store. An ARN is name-based and can be reused after a
    # delete; the series of a deleted attribution must never be read as the new one's.
    series_id: str = field(default_factory=lambda: uuid.uuid4().hex, metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        return self.dataset_group_arn

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        doc = dict(doc)
        doc["metrics"] = [Metric(**m) for m in doc["metrics"]]
        return cls(**doc)

    def metric(self, name: str) -> Metric | None:
        """Metric names are unique case-insensitively (reports upper-case them)."""
        wanted = name.upper()
        return next((m for m in self.metrics if m.metric_name.upper() == wanted), None)


@dataclass(kw_only=True)
class DatasetImportJob(Resource):
    kind: ClassVar[str] = "dataset-import-job"
    name_member: ClassVar[str] = "jobName"

    dataset_arn: str
    data_source: dict[str, Any]  # {"dataLocation": ...} as sent
    import_mode: str
    publish_attribution_metrics_to_s3: bool = False
    role_arn: str | None = None
    status: str = CREATE_PENDING
    failure_reason: str | None = None
    dataset_group_arn: str = field(default="", metadata={"internal": True})
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})
    rows: int | None = field(default=None, metadata={"internal": True})  # distinct records imported
    report: str | None = field(default=None, metadata={"internal": True})  # where the S3 report was written

    @property
    def parent_arn(self) -> str | None:
        return self.dataset_arn


@dataclass(kw_only=True)
class Recommender(Resource):
    """A domain use case (``aws-ecomm-*``), trained from the dataset group's interactions when created."""

    kind: ClassVar[str] = "recommender"

    dataset_group_arn: str
    recipe_arn: str
    recommender_config: dict[str, Any] = field(default_factory=dict)
    status: str = CREATE_PENDING
    failure_reason: str | None = None
    model_metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})
    model: str | None = field(default=None, metadata={"internal": True})  # model file, relative to data dir

    @property
    def parent_arn(self) -> str | None:
        return self.dataset_group_arn


@dataclass(kw_only=True)
class Solution(Resource):
    """A custom recipe's configuration; each CreateSolutionVersion trains a model from it."""

    kind: ClassVar[str] = "solution"

    dataset_group_arn: str
    recipe_arn: str
    event_type: str | None = None
    perform_hpo: bool = False
    perform_auto_ml: bool = False
    perform_auto_training: bool = False
    perform_incremental_update: bool = False
    solution_config: dict[str, Any] = field(default_factory=dict)
    status: str = ACTIVE
    latest_solution_version: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        return self.dataset_group_arn


@dataclass(kw_only=True)
class SolutionVersion(Resource):
    kind: ClassVar[str] = "solution-version"

    solution_arn: str
    dataset_group_arn: str
    recipe_arn: str
    event_type: str | None = None
    training_mode: str = "FULL"
    training_type: str = "MANUAL"
    training_hours: float | None = None
    status: str = CREATE_PENDING
    failure_reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})
    model: str | None = field(default=None, metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        return self.solution_arn

    def summary(self) -> dict[str, Any]:
        """The SolutionVersionSummary a Solution shows as ``latestSolutionVersion``."""
        return {
            "solutionVersionArn": self.arn,
            "status": self.status,
            "trainingMode": self.training_mode,
            "trainingType": self.training_type,
            "creationDateTime": self.creation_date_time,
            "lastUpdatedDateTime": self.last_updated_date_time,
            "failureReason": self.failure_reason,
        }


@dataclass(kw_only=True)
class Campaign(Resource):
    """Deploys a solution version: GetRecommendations with ``campaignArn`` answers from its model."""

    kind: ClassVar[str] = "campaign"

    solution_version_arn: str
    solution_arn: str = field(default="", metadata={"internal": True})
    dataset_group_arn: str = field(default="", metadata={"internal": True})
    min_provisioned_tps: int = 1
    campaign_config: dict[str, Any] = field(default_factory=dict)
    status: str = ACTIVE
    failure_reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict, metadata={"internal": True})

    @property
    def parent_arn(self) -> str | None:
        return self.solution_arn


# Records that a background worker takes from CREATE PENDING to ACTIVE or CREATE FAILED.
TRAINABLE: tuple[type[Resource], ...] = (Recommender, SolutionVersion)

RESOURCE_TYPES: dict[str, type[Resource]] = {
    cls.kind: cls
    for cls in (
        DatasetGroup,
        Schema,
        Dataset,
        EventTracker,
        MetricAttribution,
        DatasetImportJob,
        Recommender,
        Solution,
        SolutionVersion,
        Campaign,
    )
}
