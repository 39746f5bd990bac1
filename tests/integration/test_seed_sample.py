"""The seed documents' boto3 samples, unchanged except for ``endpoint_url``."""

from __future__ import annotations

from typing import Any

from tests.conftest import Group, output_config, seed_metrics, unique


def test_seed_metric_attribution_lifecycle(personalize: Any, group: Group) -> None:
    metric_attribution_name = unique("ma")
    metrics_list = seed_metrics()
    output = output_config("s3://my-bucket/metrics/")

    response = personalize.create_metric_attribution(
        name=metric_attribution_name,
        datasetGroupArn=group.arn,
        metricsOutputConfig=output,
        metrics=metrics_list,
    )
    metric_attribution_arn = response["metricAttributionArn"]
    assert metric_attribution_arn.endswith(f":metric-attribution/{metric_attribution_name}")
    assert metric_attribution_arn.startswith("arn:aws:personalize:us-east-1:")

    described = personalize.describe_metric_attribution(metricAttributionArn=metric_attribution_arn)
    attribution = described["metricAttribution"]
    assert attribution["name"] == metric_attribution_name
    assert attribution["datasetGroupArn"] == group.arn
    assert attribution["status"] == "ACTIVE"
    assert attribution["metricsOutputConfig"] == output
    assert attribution["creationDateTime"] == attribution["lastUpdatedDateTime"]

    listed = personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"]
    assert [a["metricAttributionArn"] for a in listed] == [metric_attribution_arn]
    assert personalize.list_metric_attributions()[
        "metricAttributions"
    ]  # no arguments, as the sample calls it

    metrics = personalize.list_metric_attribution_metrics(metricAttributionArn=metric_attribution_arn)[
        "metrics"
    ]
    assert sorted(metrics, key=lambda m: m["metricName"]) == sorted(
        metrics_list, key=lambda m: m["metricName"]
    )

    new_output = output_config("s3://my-bucket/other/")
    personalize.update_metric_attribution(
        metricAttributionArn=metric_attribution_arn,
        addMetrics=[
            {"eventType": "Click", "expression": "SUM(INTERACTIONS.EVENT_VALUE)", "metricName": "clicks"}
        ],
        removeMetrics=["countViews"],
        metricsOutputConfig=new_output,
    )
    updated = personalize.describe_metric_attribution(metricAttributionArn=metric_attribution_arn)
    assert updated["metricAttribution"]["metricsOutputConfig"] == new_output
    assert updated["metricAttribution"]["lastUpdatedDateTime"] >= attribution["lastUpdatedDateTime"]
    names = {
        m["metricName"]
        for m in personalize.list_metric_attribution_metrics(metricAttributionArn=metric_attribution_arn)[
            "metrics"
        ]
    }
    assert names == {"sumMargin", "clicks"}

    personalize.delete_metric_attribution(metricAttributionArn=metric_attribution_arn)
    assert personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"] == []
