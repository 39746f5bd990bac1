"""A dataset group holding a small synthetic retail site's items and history, made through boto3 as a user would:
schemas, datasets, an event tracker, and two import jobs (file:// inputs). For recommender and simulator tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from recimpact.simulate import (
    EVENT_ATTRIBUTION_SOURCE_FIELD,
    ITEMS_SCHEMA,
    Interaction,
    RetailSite,
    interactions_schema,
    write_interactions_csv,
)
from tests.conftest import ROLE_ARN, unique

TERMINAL = ("ACTIVE", "CREATE FAILED")


def wait_status(describe: Any, key: str, member: str, arn: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll a Describe call until the resource is ACTIVE or CREATE FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = describe(**{key: arn})[member]
        if record["status"] in TERMINAL:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"{arn} still {record['status']} after {timeout} s")
        time.sleep(0.05)


def wait_recommender(personalize: Any, arn: str) -> dict[str, Any]:
    return wait_status(personalize.describe_recommender, "recommenderArn", "recommender", arn)


def wait_version(personalize: Any, arn: str) -> dict[str, Any]:
    return wait_status(personalize.describe_solution_version, "solutionVersionArn", "solutionVersion", arn)


class RetailGroup:
    def __init__(
        self,
        personalize: Any,
        work_dir: Path,
        site: RetailSite,
        sessions: int,
        domain: str | None = "ECOMMERCE",
    ) -> None:
        self.site = site
        self.name = unique("retail")
        kwargs = {"domain": domain} if domain else {}
        self.arn = personalize.create_dataset_group(name=self.name, **kwargs)["datasetGroupArn"]
        schemas = {}
        for kind, schema in (
            ("Interactions", interactions_schema(EVENT_ATTRIBUTION_SOURCE_FIELD)),
            ("Items", ITEMS_SCHEMA),
        ):
            schemas[kind] = personalize.create_schema(
                name=unique(kind.lower()), schema=json.dumps(schema), **kwargs
            )["schemaArn"]
        self.datasets = {
            kind: personalize.create_dataset(
                name=unique(kind.lower()), datasetGroupArn=self.arn, datasetType=kind, schemaArn=schema
            )["datasetArn"]
            for kind, schema in schemas.items()
        }
        self.tracking_id = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=self.arn)[
            "trackingId"
        ]
        work_dir.mkdir(parents=True, exist_ok=True)
        now = int(time.time())
        # Seeded apart from the clock (sessions() otherwise seeds by the window's start): the same history, hence
        # the same trained models and the same live traffic, in every run.
        self.history: list[Interaction] = list(
            site.sessions(sessions, now - 3 * 86400, now - 86400, seed=site.seed)
        )
        if self.history:
            site.write_items_csv(work_dir / "items.csv")
            write_interactions_csv(iter(self.history), work_dir / "interactions.csv")
            for kind, name in (("Items", "items.csv"), ("Interactions", "interactions.csv")):
                job = personalize.create_dataset_import_job(
                    jobName=unique("import"),
                    datasetArn=self.datasets[kind],
                    dataSource={"dataLocation": (work_dir / name).resolve().as_uri()},
                    roleArn=ROLE_ARN,
                )["datasetImportJobArn"]
                done = wait_status(
                    personalize.describe_dataset_import_job, "datasetImportJobArn", "datasetImportJob", job
                )
                assert done["status"] == "ACTIVE", done.get("failureReason")

    def recommender(self, personalize: Any, recipe: str) -> str:
        arn: str = personalize.create_recommender(
            name=unique("rec"), datasetGroupArn=self.arn, recipeArn=f"arn:aws:personalize:::recipe/{recipe}"
        )["recommenderArn"]
        return arn
