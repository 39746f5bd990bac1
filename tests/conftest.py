from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from recimpact.simulate import EVENT_VALUE_FIELD, ITEMS_SCHEMA, interactions_schema
from tests.server import MotoProcess, ServerProcess

# Hypothesis's settings profile (derandomized, or HYPOTHESIS_PROFILE=explore), loaded before any test module applies
# its @settings, and the marking of property tests for `make explore`: tests/hypothesis_profiles.py.
pytest_plugins = ["tests.hypothesis_profiles"]

INTERACTIONS_SCHEMA = interactions_schema(EVENT_VALUE_FIELD)
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeRole"


def unique(prefix: str) -> str:
    """Resource names are account-wide: tests sharing one server keep theirs apart."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Buckets the shared server's S3 (moto in server mode) holds from the start, for tests that name s3:// paths.
SESSION_BUCKETS = ("bucket", "elsewhere", "my-bucket")
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode, in its own process: the S3 endpoint the shared server writes reports to, through boto3
    as for AWS. Its own process, because moto's state is process-wide and other suites reset theirs."""
    with MotoProcess() as url:
        client = s3_client(url)
        for bucket in SESSION_BUCKETS:
            client.create_bucket(Bucket=bucket)
        yield url


def s3_client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[ServerProcess]:
    """One live server for the wire-level suites (tests use unique names)."""
    data_dir = tmp_path_factory.mktemp("server-data")
    with ServerProcess(data_dir, "--s3-endpoint-url", s3_endpoint, env=AWS_TEST_ENV) as proc:
        yield proc


@pytest.fixture
def personalize(server: ServerProcess) -> Any:
    return server.client("personalize")


class Group:
    """A dataset group with Interactions (and optionally Items) datasets, made through boto3."""

    def __init__(
        self, personalize: Any, with_items: bool = True, interactions_schema: dict[str, Any] | None = None
    ):
        self.name = unique("dg")
        self.arn = personalize.create_dataset_group(name=self.name)["datasetGroupArn"]
        schema = interactions_schema or INTERACTIONS_SCHEMA
        interactions = personalize.create_schema(name=unique("int"), schema=json.dumps(schema))["schemaArn"]
        self.interactions_dataset = personalize.create_dataset(
            name=unique("interactions"),
            datasetGroupArn=self.arn,
            datasetType="Interactions",
            schemaArn=interactions,
        )["datasetArn"]
        self.items_dataset = None
        if with_items:
            items = personalize.create_schema(name=unique("items"), schema=json.dumps(ITEMS_SCHEMA))[
                "schemaArn"
            ]
            self.items_dataset = personalize.create_dataset(
                name=unique("items"), datasetGroupArn=self.arn, datasetType="Items", schemaArn=items
            )["datasetArn"]


@pytest.fixture
def group(personalize: Any) -> Group:
    return Group(personalize)


def seed_metrics() -> list[dict[str, str]]:
    """The launch post's metrics, verbatim."""
    return [
        {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
        {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
    ]


def output_config(path: str | Path = "s3://bucket/metrics/") -> dict[str, Any]:
    return {"roleArn": ROLE_ARN, "s3DataDestination": {"path": str(path)}}
