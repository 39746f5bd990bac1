"""Accounts are tenants: on a server with a credentials file, each key's account sees and touches only its own
resources and events. Another account's ARN or tracking id is ResourceNotFoundException (never "forbidden": an
ARN reveals nothing across tenants), for every registered operation that takes one, and for the read API."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import recimpact.services  # noqa: F401  (registers the operation handlers)
from recimpact.domain.service_names import CONTROL
from recimpact.services import registry
from recimpact.simulate import ITEMS_SCHEMA
from recimpact.wire.models import service_model
from tests.conftest import AWS_TEST_ENV, INTERACTIONS_SCHEMA, unique
from tests.server import ServerProcess, write_credentials

ALPHA = ("AKIDALPHA", "alpha-secret", "111111111111")
BETA = ("AKIDBETA", "beta-secret", "222222222222")
VIEWS = {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("tenancy")
    creds = write_credentials(root / "credentials.csv", {k: (s, a) for k, s, a in (ALPHA, BETA)})
    with ServerProcess(root / "data", "--credentials", str(creds), env=AWS_TEST_ENV) as server:
        yield server


def client(server: ServerProcess, service: str, key: tuple[str, str, str]) -> Any:
    return server.client(service, access_key=key[0], secret_key=key[1])


class World:
    """One account's resources: a dataset group with Interactions and Items datasets, a tracker, an attribution,
    an import job, tags; events sent through the tracker."""

    def __init__(self, server: ServerProcess, key: tuple[str, str, str], data: Path, name: str) -> None:
        self.personalize = client(server, "personalize", key)
        self.events = client(server, "personalize-events", key)
        p = self.personalize
        self.arns: dict[str, str] = {}
        self.arns["datasetGroupArn"] = p.create_dataset_group(
            name=name, tags=[{"tagKey": "team", "tagValue": "a"}]
        )["datasetGroupArn"]
        group = self.arns["datasetGroupArn"]
        self.arns["schemaArn"] = p.create_schema(name=name + "-int", schema=json.dumps(INTERACTIONS_SCHEMA))[
            "schemaArn"
        ]
        items_schema = p.create_schema(name=name + "-items", schema=json.dumps(ITEMS_SCHEMA))["schemaArn"]
        self.arns["datasetArn"] = p.create_dataset(
            name=name + "-int",
            datasetGroupArn=group,
            datasetType="Interactions",
            schemaArn=self.arns["schemaArn"],
        )["datasetArn"]
        self.items_dataset = p.create_dataset(
            name=name + "-items", datasetGroupArn=group, datasetType="Items", schemaArn=items_schema
        )["datasetArn"]
        tracker = p.create_event_tracker(name=name, datasetGroupArn=group)
        self.arns["eventTrackerArn"] = tracker["eventTrackerArn"]
        self.tracking_id = tracker["trackingId"]
        self.arns["metricAttributionArn"] = p.create_metric_attribution(
            name=name,
            datasetGroupArn=group,
            metrics=[VIEWS],
            metricsOutputConfig={
                "roleArn": f"arn:aws:iam::{key[2]}:role/r",
                "s3DataDestination": {"path": (data / "reports").as_uri() + "/"},
            },
        )["metricAttributionArn"]
        data.mkdir(parents=True, exist_ok=True)
        (data / "items.csv").write_text("ITEM_ID,PRICE,CATEGORY_L1,CATEGORY_L2,MARGIN\n")
        self.arns["datasetImportJobArn"] = p.create_dataset_import_job(
            jobName=name,
            datasetArn=self.items_dataset,
            dataSource={"dataLocation": (data / "items.csv").as_uri()},
            roleArn=f"arn:aws:iam::{key[2]}:role/r",
        )["datasetImportJobArn"]
        self.arns["resourceArn"] = group

    def send_views(self, count: int) -> None:
        now = dt.datetime.now(dt.UTC)
        for start in range(0, count, 10):
            self.events.put_events(
                trackingId=self.tracking_id,
                userId="u",
                sessionId="s",
                eventList=[
                    {"eventId": unique("e"), "eventType": "View", "itemId": f"i{i}", "sentAt": now}
                    for i in range(start, min(count, start + 10))
                ],
            )


@pytest.fixture(scope="module")
def worlds(secured: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[World, World]:
    """ALPHA and BETA with resources of the same names: names are per account."""
    name = unique("shop")
    root = tmp_path_factory.mktemp("worlds")
    alpha = World(secured, ALPHA, root / "alpha", name)
    beta = World(secured, BETA, root / "beta", name)
    alpha.send_views(7)
    beta.send_views(3)
    return alpha, beta


def test_same_names_in_two_accounts_are_two_resources_whose_arns_carry_the_account(
    worlds: tuple[World, World],
) -> None:
    alpha, beta = worlds
    for member, arn in alpha.arns.items():
        assert f":{ALPHA[2]}:" in arn, member
        assert f":{BETA[2]}:" in beta.arns[member], member
        if member not in ("eventTrackerArn",):  # tracker ids are random, the others are named
            assert beta.arns[member] == arn.replace(ALPHA[2], BETA[2]), member


def _filled(operation: Any, arns: dict[str, str]) -> dict[str, Any] | None:
    """Parameters for ``operation`` with every ARN member from ``arns``; None when it needs one we lack."""
    shape = operation.input_shape
    params: dict[str, Any] = {}
    fillers = {"tags": [{"tagKey": "k", "tagValue": "v"}], "tagKeys": ["team"], "metrics": [VIEWS]}
    for name in shape.required_members:
        if name in arns:
            params[name] = arns[name]
        elif name in fillers:
            params[name] = fillers[name]
        else:
            return None
    for name in shape.members:
        if name in arns and name not in params:
            params[name] = arns[name]
    params.update(EXTRAS.get(operation.name, {}))
    return params if any(name in arns for name in params) else None


# Members an operation needs to get as far as looking the resource up.
EXTRAS: dict[str, dict[str, Any]] = {
    "UpdateMetricAttribution": {
        "addMetrics": [{"eventType": "Click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}]
    }
}


def _control_operations() -> list[str]:
    return [name for service, name in registry.registered() if service == CONTROL]


def test_every_operation_given_another_accounts_arn_answers_not_found_or_nothing(
    secured: ServerProcess, worlds: tuple[World, World]
) -> None:
    """BETA calls every registered control-plane operation with ALPHA's ARNs: ResourceNotFoundException, or (List
    operations) a page holding none of ALPHA's ARNs."""
    alpha, beta = worlds
    model = service_model(CONTROL)
    checked = []
    for name in _control_operations():
        if name.startswith("Create"):
            continue  # creates naming ALPHA's parents: below
        params = _filled(model.operation_model(name), alpha.arns)
        if params is None:
            continue
        method = getattr(beta.personalize, _snake(name))
        try:
            answer = method(**params)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            assert code == "ResourceNotFoundException", (name, exc.response["Error"])  # noqa: PT017
        else:
            assert name.startswith("List"), (name, answer)
            assert ALPHA[2] not in json.dumps(answer, default=str), (name, answer)
        checked.append(name)
    assert {"DescribeDatasetGroup", "DeleteDataset", "TagResource", "UpdateMetricAttribution"} <= set(checked)


def test_creating_under_another_accounts_resources_is_not_found(worlds: tuple[World, World]) -> None:
    alpha, beta = worlds
    p = beta.personalize
    calls = [
        lambda: p.create_dataset(
            name=unique("d"),
            datasetGroupArn=alpha.arns["datasetGroupArn"],
            datasetType="Users",
            schemaArn=beta.arns["schemaArn"],
        ),
        lambda: p.create_event_tracker(name=unique("t"), datasetGroupArn=alpha.arns["datasetGroupArn"]),
        lambda: p.create_metric_attribution(
            name=unique("m"),
            datasetGroupArn=alpha.arns["datasetGroupArn"],
            metrics=[VIEWS],
            metricsOutputConfig={
                "roleArn": "arn:aws:iam::222222222222:role/r",
                "s3DataDestination": {"path": "s3://b/"},
            },
        ),
        lambda: p.create_dataset_import_job(
            jobName=unique("j"), datasetArn=alpha.items_dataset, dataSource={"dataLocation": "s3://b/k.csv"}
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_lists_show_each_account_only_its_own(worlds: tuple[World, World]) -> None:
    alpha, beta = worlds
    for world, own, other in ((alpha, ALPHA[2], BETA[2]), (beta, BETA[2], ALPHA[2])):
        for name in _control_operations():
            if (
                name.startswith("List")
                and not service_model(CONTROL).operation_model(name).input_shape.required_members
            ):
                try:
                    answer = getattr(world.personalize, _snake(name))()
                except (
                    ClientError
                ) as exc:  # a List that needs a parent after all (ListMetricAttributionMetrics)
                    assert exc.response["Error"]["Code"] == "InvalidInputException", name  # noqa: PT017
                    continue
                assert other not in json.dumps(answer, default=str), name
        groups = world.personalize.list_dataset_groups()["datasetGroups"]
        assert world.arns["datasetGroupArn"] in [g["datasetGroupArn"] for g in groups]
        assert own in json.dumps(groups, default=str)


def test_another_accounts_tracking_id_or_dataset_is_not_found_for_events(worlds: tuple[World, World]) -> None:
    alpha, beta = worlds
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ClientError) as info:
        beta.events.put_events(
            trackingId=alpha.tracking_id,
            userId="u",
            sessionId="s",
            eventList=[{"eventType": "View", "itemId": "x", "sentAt": now}],
        )
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert alpha.tracking_id in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        beta.events.put_items(datasetArn=alpha.items_dataset, items=[{"itemId": "x"}])
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def signed_get(
    server: ServerProcess, key: tuple[str, str, str], path: str, query: dict[str, str]
) -> tuple[int, Any]:
    url = f"{server.url}{path}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key[0], key[1]), "personalize", "us-east-1").add_auth(request)
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=dict(request.headers.items()))
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


READ_API = [
    ("/api/v1/series", "metricAttributionArn"),
    ("/api/v1/reports", "metricAttributionArn"),
    ("/api/v1/import-jobs/progress", "datasetImportJobArn"),
]


@pytest.mark.parametrize(("path", "member"), READ_API)
def test_the_read_api_shows_another_accounts_resources_to_no_one(
    secured: ServerProcess, worlds: tuple[World, World], path: str, member: str
) -> None:
    alpha, _ = worlds
    status, body = signed_get(secured, ALPHA, path, {member: alpha.arns[member]})
    assert status == 200, body
    status, body = signed_get(secured, BETA, path, {member: alpha.arns[member]})
    assert (status, body["__type"]) == (404, "ResourceNotFoundException")


def test_each_account_counts_only_its_own_events(secured: ServerProcess, worlds: tuple[World, World]) -> None:
    for world, key, sent in ((worlds[0], ALPHA, 7), (worlds[1], BETA, 3)):
        arn = world.arns["metricAttributionArn"]
        status, body = signed_get(
            secured, key, "/api/v1/series", {"metricAttributionArn": arn, "start": "-1d"}
        )
        assert status == 200
        assert sum(row["VALUE"] for row in body["rows"]) == sent


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
