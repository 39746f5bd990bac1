"""The rules a metric attribution's list of metrics obeys, on create and on update (SPEC §3).

| rule | create | update |
|---|---|---|
| at most 10 metrics | InvalidInputException | LimitExceededException (counted after the update) |
| names unique, case-insensitive | InvalidInputException | ResourceAlreadyExistsException |
| removing an unknown name | | InvalidInputException |
| valid expression over a numeric column of a dataset the group has | InvalidInputException | InvalidInputException |
| IMPRESSIONCOUNT() / RATIO() (recimpact extensions) refused under ``--strict-aws`` | InvalidInputException | InvalidInputException |
"""

from __future__ import annotations

from collections.abc import Sequence

from recimpact.domain.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
)
from recimpact.domain.expressions import check_expression_columns, parse_expression
from recimpact.domain.resources import Metric
from recimpact.domain.schema import DatasetSchema

MAX_METRICS = 10


def check_interactions_schema(schemas: dict[str, DatasetSchema]) -> None:
    """Attribution matches events by type, so the Interactions dataset must exist and have EVENT_TYPE."""
    interactions = schemas.get("INTERACTIONS")
    if interactions is None:
        raise InvalidInputException(
            "The dataset group has no Interactions dataset; create it before the metric attribution"
        )
    if interactions.column("EVENT_TYPE") is None:
        raise InvalidInputException("The Interactions dataset's schema must contain an EVENT_TYPE field")


def check_metric(metric: Metric, schemas: dict[str, DatasetSchema], extensions: bool = True) -> None:
    if not metric.event_type.strip():
        raise InvalidInputException(f"Metric {metric.metric_name!r}: eventType must not be blank")
    if not metric.metric_name.strip():
        raise InvalidInputException("metricName must not be blank")
    check_expression_columns(parse_expression(metric.expression, extensions), schemas)


def check_new_metrics(
    metrics: Sequence[Metric], schemas: dict[str, DatasetSchema], extensions: bool = True
) -> None:
    if not metrics:
        raise InvalidInputException("A metric attribution needs at least one metric")
    if len(metrics) > MAX_METRICS:
        raise InvalidInputException(
            f"A metric attribution can have at most {MAX_METRICS} metrics, got {len(metrics)}"
        )
    _check_unique(metrics, InvalidInputException)
    for metric in metrics:
        check_metric(metric, schemas, extensions)


def apply_update(
    current: Sequence[Metric],
    add: Sequence[Metric],
    remove: Sequence[str],
    schemas: dict[str, DatasetSchema],
    extensions: bool = True,
) -> list[Metric]:
    """Removals first, then additions: one call may replace a metric by removing and re-adding its name."""
    existing = {m.metric_name.upper() for m in current}
    unknown = [name for name in remove if name.upper() not in existing]
    if unknown:
        raise InvalidInputException(f"Cannot remove metrics that do not exist: {', '.join(unknown)}")
    removed = {name.upper() for name in remove}
    kept = [m for m in current if m.metric_name.upper() not in removed]
    for metric in add:
        check_metric(metric, schemas, extensions)
    result = kept + list(add)
    _check_unique(result, ResourceAlreadyExistsException)
    if len(result) > MAX_METRICS:
        raise LimitExceededException(
            f"A metric attribution can have at most {MAX_METRICS} metrics; this update would leave {len(result)}"
        )
    return result


def _check_unique(
    metrics: Sequence[Metric], error: type[InvalidInputException | ResourceAlreadyExistsException]
) -> None:
    seen: set[str] = set()
    for metric in metrics:
        key = metric.metric_name.upper()
        if key in seen:
            raise error(
                f"Metric name {metric.metric_name!r} is used more than once (names are compared case-insensitively)"
            )
        seen.add(key)
