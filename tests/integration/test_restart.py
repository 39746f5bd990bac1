"""Acknowledged control-plane writes survive a restart, graceful (SIGTERM) or not (kill -9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INTERACTIONS_SCHEMA, ITEMS_SCHEMA, output_config, seed_metrics, unique
from tests.server import ServerProcess


def create_everything(personalize: Any) -> dict[str, str]:
    group = personalize.create_dataset_group(
        name=unique("dg"), domain="ECOMMERCE", tags=[{"tagKey": "team", "tagValue": "growth"}]
    )["datasetGroupArn"]
    interactions_schema = personalize.create_schema(
        name=unique("int"), schema=json.dumps(INTERACTIONS_SCHEMA), domain="ECOMMERCE"
    )["schemaArn"]
    items_schema = personalize.create_schema(
        name=unique("items"), schema=json.dumps(ITEMS_SCHEMA), domain="ECOMMERCE"
    )["schemaArn"]
    interactions = personalize.create_dataset(
        name=unique("interactions"),
        datasetGroupArn=group,
        datasetType="Interactions",
        schemaArn=interactions_schema,
    )["datasetArn"]
    items = personalize.create_dataset(
        name=unique("items"), datasetGroupArn=group, datasetType="Items", schemaArn=items_schema
    )["datasetArn"]
    tracker = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)[
        "eventTrackerArn"
    ]
    attribution = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group, metrics=seed_metrics(), metricsOutputConfig=output_config()
    )["metricAttributionArn"]
    # An update, so that the attribution's last write is not its creation.
    personalize.update_metric_attribution(
        metricAttributionArn=attribution,
        addMetrics=[{"eventType": "Click", "metricName": "clicks", "expression": "SAMPLECOUNT()"}],
    )
    return {
        "group": group,
        "interactions_schema": interactions_schema,
        "items_schema": items_schema,
        "interactions": interactions,
        "items": items,
        "tracker": tracker,
        "attribution": attribution,
    }


def snapshot(personalize: Any, arns: dict[str, str]) -> dict[str, Any]:
    """Everything a client can read about the resources, without the per-response metadata."""
    return {
        "group": personalize.describe_dataset_group(datasetGroupArn=arns["group"])["datasetGroup"],
        "group_tags": personalize.list_tags_for_resource(resourceArn=arns["group"])["tags"],
        "interactions_schema": personalize.describe_schema(schemaArn=arns["interactions_schema"])["schema"],
        "items_schema": personalize.describe_schema(schemaArn=arns["items_schema"])["schema"],
        "interactions": personalize.describe_dataset(datasetArn=arns["interactions"])["dataset"],
        "items": personalize.describe_dataset(datasetArn=arns["items"])["dataset"],
        "datasets": personalize.list_datasets(datasetGroupArn=arns["group"])["datasets"],
        "tracker": personalize.describe_event_tracker(eventTrackerArn=arns["tracker"])["eventTracker"],
        "attribution": personalize.describe_metric_attribution(metricAttributionArn=arns["attribution"])[
            "metricAttribution"
        ],
        "metrics": personalize.list_metric_attribution_metrics(metricAttributionArn=arns["attribution"])[
            "metrics"
        ],
        "attributions": personalize.list_metric_attributions(datasetGroupArn=arns["group"])[
            "metricAttributions"
        ],
    }


@pytest.mark.parametrize("shutdown", ["stop", "kill"])
def test_control_plane_survives_restart(tmp_path: Path, shutdown: str) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir).start()
    try:
        personalize = first.client("personalize")
        arns = create_everything(personalize)
        before = snapshot(personalize, arns)
    finally:
        getattr(first, shutdown)()
    assert first.proc is not None
    assert first.proc.returncode is not None
    if shutdown == "kill":
        assert first.proc.returncode == -9  # really killed, no shutdown hook ran

    with ServerProcess(data_dir) as second:
        personalize = second.client("personalize")
        after = snapshot(personalize, arns)
        assert after == before
        # Spot-check what "equal" covers: real timestamps and the tracker's tracking id.
        assert after["tracker"]["trackingId"] == before["tracker"]["trackingId"]
        assert after["attribution"]["lastUpdatedDateTime"] > after["attribution"]["creationDateTime"]
        assert {m["metricName"] for m in after["metrics"]} == {"countViews", "sumMargin", "clicks"}

        # The rules still see the restored records.
        with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
            personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=arns["group"])
        with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
            personalize.create_metric_attribution(
                name=unique("ma"),
                datasetGroupArn=arns["group"],
                metrics=seed_metrics(),
                metricsOutputConfig=output_config(),
            )
        with pytest.raises(personalize.exceptions.ResourceInUseException):
            personalize.delete_dataset_group(datasetGroupArn=arns["group"])


def test_deletes_survive_a_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ServerProcess(data_dir) as first:
        personalize = first.client("personalize")
        arns = create_everything(personalize)

    second = ServerProcess(data_dir).start()
    try:
        personalize = second.client("personalize")
        personalize.delete_metric_attribution(metricAttributionArn=arns["attribution"])
        personalize.delete_event_tracker(eventTrackerArn=arns["tracker"])
    finally:
        second.kill()

    with ServerProcess(data_dir) as third:
        personalize = third.client("personalize")
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            personalize.describe_metric_attribution(metricAttributionArn=arns["attribution"])
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            personalize.describe_event_tracker(eventTrackerArn=arns["tracker"])
        assert (
            personalize.describe_dataset_group(datasetGroupArn=arns["group"])["datasetGroup"]["status"]
            == "ACTIVE"
        )
