"""The resources a fuzz names so that its requests get past validation into the handlers: a dataset group with
everything an operation can name (``Target``, one per fuzzed operation) and trained resources made once
(``Shared``). Used by ``tests/integration/test_model_fuzz.py`` and ``tests/integration/test_read_api_fuzz.py``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from recimpact.simulate import ITEMS_SCHEMA, RetailSite
from tests.conftest import INTERACTIONS_SCHEMA, ROLE_ARN, unique
from tests.retail import RetailGroup, wait_recommender, wait_version
from tests.server import ServerProcess

RECIPE = "arn:aws:personalize:::recipe/{}".format
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}],
    "version": "1.0",
}
NOTE_SCHEMA = {
    **INTERACTIONS_SCHEMA,
    "fields": [
        *INTERACTIONS_SCHEMA["fields"],
        {"name": "NOTE", "type": ["null", "string"]},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    ],
}
METRICS = [
    {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
    {"eventType": "Click", "expression": "SUM(INTERACTIONS.EVENT_VALUE)", "metricName": "clickValue"},
    {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
    {"eventType": "View", "expression": "IMPRESSIONCOUNT()", "metricName": "impressions"},
]
ITEMS = [f"item-{i}" for i in range(4)]
SOURCES = ("source-a", "source-b")
TAG = {"tagKey": "team", "tagValue": "fuzz"}


# -- the resources each operation is fuzzed against -------------------------------------------------------------


class Shared:
    """Trained resources, made once: a recommender and a campaign that answer GetRecommendations, an attribution
    that counts their impressions. Only operations that cannot destroy them are given their ARNs."""

    def __init__(self, server: ServerProcess, folder: Path) -> None:
        p = server.client("personalize")
        self.retail = RetailGroup(p, folder, RetailSite(seed=5, n_items=60, n_users=60), sessions=250)
        self.attribution = p.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=self.retail.arn,
            metrics=[{"eventType": "View", "expression": "IMPRESSIONCOUNT()", "metricName": "impressions"}],
            metricsOutputConfig={
                "roleArn": ROLE_ARN,
                "s3DataDestination": {"path": f"file://{folder}/reports/"},
            },
        )["metricAttributionArn"]
        self.recommender = self.retail.recommender(p, "aws-ecomm-popular-items-by-views")
        self.solution = p.create_solution(
            name=unique("sol"), datasetGroupArn=self.retail.arn, recipeArn=RECIPE("aws-popularity-count")
        )["solutionArn"]
        self.version = p.create_solution_version(solutionArn=self.solution)["solutionVersionArn"]
        done = wait_recommender(p, self.recommender)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        assert wait_version(p, self.version)["status"] == "ACTIVE"
        self.campaign = p.create_campaign(name=unique("camp"), solutionVersionArn=self.version)["campaignArn"]
        runtime = server.client("personalize-runtime")
        self.recommendation_id = runtime.get_recommendations(recommenderArn=self.recommender)[
            "recommendationId"
        ]
        self.items = [item.item_id for item in self.retail.site.items[:5]]

    def disposable_recommender(self, server: ServerProcess) -> str:
        return self.retail.recommender(server.client("personalize"), "aws-ecomm-popular-items-by-views")

    def disposable_campaign(self, server: ServerProcess) -> str:
        arn: str = server.client("personalize").create_campaign(
            name=unique("camp"), solutionVersionArn=self.version
        )["campaignArn"]
        return arn


class Target:
    """A dataset group of the operation's own, with everything an operation can name: schemas, the three
    datasets, a tracker, an attribution over events from two sources, items with margins, a solution, an import
    job, tags."""

    def __init__(self, server: ServerProcess, folder: Path) -> None:
        p = server.client("personalize")
        self.group = p.create_dataset_group(name=unique("dg"), tags=[TAG])["datasetGroupArn"]
        self.schemas = {
            kind: p.create_schema(name=unique(kind.lower()), schema=json.dumps(schema))["schemaArn"]
            for kind, schema in (
                ("Interactions", NOTE_SCHEMA),
                ("Items", ITEMS_SCHEMA),
                ("Users", USERS_SCHEMA),
            )
        }
        self.datasets = {
            kind: p.create_dataset(
                name=unique(kind.lower()), datasetGroupArn=self.group, datasetType=kind, schemaArn=schema
            )["datasetArn"]
            for kind, schema in self.schemas.items()
        }
        tracker = p.create_event_tracker(name=unique("t"), datasetGroupArn=self.group)
        self.tracker, self.tracking_id = tracker["eventTrackerArn"], tracker["trackingId"]
        self.attribution = p.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=self.group,
            metrics=METRICS,
            metricsOutputConfig={
                "roleArn": ROLE_ARN,
                "s3DataDestination": {"path": f"file://{folder}/reports/"},
            },
        )["metricAttributionArn"]
        self.solution = p.create_solution(
            name=unique("sol"), datasetGroupArn=self.group, recipeArn=RECIPE("aws-popularity-count")
        )["solutionArn"]
        csv = folder / "users.csv"
        csv.write_text("USER_ID,AGE\nu-0,30\n")
        self.import_job = p.create_dataset_import_job(
            jobName=unique("job"),
            datasetArn=self.datasets["Users"],
            dataSource={"dataLocation": csv.as_uri()},
            roleArn=ROLE_ARN,
        )["datasetImportJobArn"]
        events = server.client("personalize-events")
        items = [
            {"itemId": item, "properties": json.dumps({"margin": 1.5 + i})} for i, item in enumerate(ITEMS)
        ]
        events.put_items(datasetArn=self.datasets["Items"], items=items)
        now = time.time()
        for index, user in enumerate(f"u-{i}" for i in range(8)):
            batch = [
                {
                    "eventType": event_type,
                    "itemId": ITEMS[index % len(ITEMS)],
                    "eventValue": 2.0,
                    "sentAt": now - 600,
                    "impression": ITEMS[:2],
                    "metricAttribution": {"eventAttributionSource": SOURCES[index % 2]},
                }
                for event_type in ("View", "Click", "Purchase")
            ]
            events.put_events(trackingId=self.tracking_id, userId=user, sessionId=user, eventList=batch)
        self.resources = [self.group, self.attribution, self.solution, self.tracker, *self.datasets.values()]
