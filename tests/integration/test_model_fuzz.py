"""Every operation recimpact serves, fuzzed over HTTP from botocore's input shapes (``tests/model_strategies.py``).

Per operation, against a live ``recimpact serve`` and real resources made for that operation (so that bodies get
past validation into the handlers, and destructive operations have something of their own to destroy):

- no answer is a 5xx, and no request leaves a traceback in the server's output;
- every error is in the AWS format, with a name botocore has a class for and the status the model gives it, and
  every success parses with botocore against the output shape;
- every body drawn invalid is refused (and the server's own parsing agrees, locally, on which bodies are invalid);
- a ``nextToken`` of another listing is refused;
- an operation that changes the store has changed nothing when it fails: what it could have changed is read before
  and after the call (the listing of its resource kind, the target's tags, metrics and settings, the live series,
  a comparison that reads the items' current values).

The number of examples per operation is the active hypothesis profile's (``tests/conftest.py``); so is
derandomization. Each failure the fuzz found stays as an ``@example`` (``examples``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings

import recimpact.services  # noqa: F401  (registers the operation handlers)
from recimpact.domain.errors import InvalidInputException
from recimpact.domain.service_names import CONTROL
from recimpact.services import registry
from recimpact.simulate import ITEMS_SCHEMA
from recimpact.wire.models import service_model
from recimpact.wire.protocol import parse_request
from tests.conftest import AWS_TEST_ENV, ROLE_ARN
from tests.fuzz_targets import (
    ITEMS,
    METRICS,
    NOTE_SCHEMA,
    RECIPE,
    SOURCES,
    TAG,
    USERS_SCHEMA,
    Shared,
    Target,
)
from tests.fuzz_wire import Wire, answer_problems
from tests.model_strategies import Body, Raw, ShapeStrategies, personalize_hints
from tests.server import ServerProcess

# -- what a body names ------------------------------------------------------------------------------------------


def real_values(
    target: Target, shared: Shared, tokens: dict[str, tuple[str, Any]], extra: dict[str, list[str]]
) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {
        "datasetGroupArn": [target.group],
        "datasetArn": list(target.datasets.values()),
        "schemaArn": list(target.schemas.values()),
        "eventTrackerArn": [target.tracker],
        "trackingId": [target.tracking_id],
        "metricAttributionArn": [target.attribution],
        "solutionArn": [target.solution],
        "datasetImportJobArn": [target.import_job],
        "resourceArn": target.resources,
        "recommenderArn": [shared.recommender],
        "campaignArn": [shared.campaign],
        "solutionVersionArn": [shared.version],
        "recommendationId": [shared.recommendation_id],
        "recipeArn": [
            RECIPE(r) for r in ("aws-popularity-count", "aws-ecomm-popular-items-by-views", "aws-sims")
        ],
        "itemId": [*ITEMS, *shared.items],
        "impression": ITEMS,
        "userId": ["u-0", "u-1", "user-000001"],
        "eventType": ["View", "Click", "Purchase"],
        "eventAttributionSource": list(SOURCES),
        "sentAt": [time.time() - 60],  # recent: the live series leaves out events 14 days old
        "metricName": [m["metricName"] for m in METRICS],
        "removeMetrics": [m["metricName"] for m in METRICS],
        "tagKeys": [TAG["tagKey"]],
        "roleArn": [ROLE_ARN],
        "nextToken": list(tokens),
        "schema": [json.dumps(schema) for schema in (NOTE_SCHEMA, ITEMS_SCHEMA, USERS_SCHEMA)],
        "metadataColumns": ["MARGIN", "PRICE", "CATEGORY_L1", "margin"],
        "metadataColumns.key": ["ITEMS"],
    }
    values.update(extra)
    return values


def issued_tokens(wire: Wire, target: Target) -> dict[str, tuple[str, Any]]:
    """Real nextTokens of several listings, with the operation and parameters that issued each."""
    listings: list[tuple[str, dict[str, Any]]] = [
        ("ListDatasetGroups", {}),
        ("ListSchemas", {}),
        ("ListDatasets", {"datasetGroupArn": target.group}),
        ("ListDatasets", {}),
        ("ListRecipes", {}),
        ("ListMetricAttributionMetrics", {"metricAttributionArn": target.attribution}),
    ]
    tokens = {}
    for operation_name, params in listings:
        token = wire.read(operation_name, maxResults=1, **params).get("nextToken")
        if token:
            tokens[token] = (operation_name, params)
    return tokens


# -- what an operation may change, read before and after it fails -------------------------------------------------

_VOLATILE = ("status", "lastUpdatedDateTime", "failureReason", "latest", "modelMetrics")
_LISTINGS = {
    "DatasetGroup": ("ListDatasetGroups", "datasetGroups"),
    "Schema": ("ListSchemas", "schemas"),
    "Dataset": ("ListDatasets", "datasets"),
    "EventTracker": ("ListEventTrackers", "eventTrackers"),
    "MetricAttribution": ("ListMetricAttributions", "metricAttributions"),
    "Solution": ("ListSolutions", "solutions"),
    "SolutionVersion": ("ListSolutionVersions", "solutionVersions"),
    "Recommender": ("ListRecommenders", "recommenders"),
    "Campaign": ("ListCampaigns", "campaigns"),
    "DatasetImportJob": ("ListDatasetImportJobs", "datasetImportJobs"),
}


def _stable(record: Any) -> Any:
    """A record without what changes on its own (statuses of background work, timestamps of updates)."""
    if isinstance(record, dict):
        return {k: _stable(v) for k, v in record.items() if not k.startswith(_VOLATILE)}
    if isinstance(record, list):
        return [_stable(v) for v in record]
    return record


def listing(wire: Wire, operation_name: str, member: str, **params: Any) -> list[Any]:
    """Every record of a List call, all pages, without those being deleted in the background."""
    records: list[Any] = []
    token = None
    while True:
        page = wire.read(operation_name, maxResults=100, **params, **({"nextToken": token} if token else {}))
        records += [r for r in page[member] if not str(r.get("status", "")).startswith("DELETE")]
        token = page.get("nextToken")
        if not token:
            return sorted((_stable(r) for r in records), key=lambda r: json.dumps(r, sort_keys=True))


Observer = Callable[[], Any]


def observer(
    operation_name: str, wire: Wire, target: Target, shared: Shared, extra: dict[str, list[str]]
) -> Observer | None:
    """What ``operation_name`` could change, as a value to compare before and after a failed call; None for
    operations that only read."""
    series = lambda arn: lambda: wire.get("/api/v1/series", metricAttributionArn=arn)["rows"]  # noqa: E731
    compare = lambda: wire.get(  # noqa: E731  (reads the items' current MARGIN)
        "/api/v1/compare",
        metricAttributionArn=target.attribution,
        metric="sumMargin",
        sourceA=SOURCES[0],
        sourceB=SOURCES[1],
    )

    def tags() -> list[Any]:
        """Each resource's tags, or the error of one that takes none (a metric attribution)."""
        answers = [
            wire.call(CONTROL, "ListTagsForResource", json.dumps({"resourceArn": arn}).encode())
            for arn in target.resources
        ]
        return [(answer.status, answer.json()) for answer in answers]

    by_name: dict[str, Observer] = {
        "PutEvents": lambda: (series(target.attribution)(), compare()),
        "PutItems": compare,
        "GetRecommendations": series(shared.attribution),
        "TagResource": tags,
        "UntagResource": tags,
        "UpdateMetricAttribution": lambda: (
            wire.read("ListMetricAttributionMetrics", metricAttributionArn=target.attribution)["metrics"],
            _stable(wire.read("DescribeMetricAttribution", metricAttributionArn=target.attribution)),
        ),
        "UpdateCampaign": lambda: [
            _stable(wire.read("DescribeCampaign", campaignArn=arn)) for arn in extra.get("campaignArn", [])
        ],
    }
    if operation_name in by_name:
        return by_name[operation_name]
    for verb in ("Create", "Delete"):
        kind = operation_name.removeprefix(verb)
        if kind != operation_name and kind in _LISTINGS:
            list_name, member = _LISTINGS[kind]
            return lambda: listing(wire, list_name, member)
    return None


# -- the test ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # S3 at a closed local port: an s3:// location in a fuzzed body fails at once instead of reaching out.
    env = {**AWS_TEST_ENV, "RECIMPACT_BODY_TIMEOUT": "5", "RECIMPACT_HEAD_TIMEOUT": "5"}
    args = ("--s3-endpoint-url", "http://127.0.0.1:9")
    with ServerProcess(tmp_path_factory.mktemp("model-fuzz-data"), *args, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def shared(live: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    return Shared(live, tmp_path_factory.mktemp("model-fuzz-shared"))


# Operations given disposable copies of the shared trained resources, since they may destroy or change them.
DISPOSABLE: dict[str, Callable[[Shared, ServerProcess], dict[str, list[str]]]] = {
    "DeleteRecommender": lambda s, server: {"recommenderArn": [s.disposable_recommender(server)]},
    "DeleteCampaign": lambda s, server: {"campaignArn": [s.disposable_campaign(server)]},
    "UpdateCampaign": lambda s, server: {"campaignArn": [s.disposable_campaign(server)]},
}

OPERATIONS = registry.registered()


def examples(target: Target) -> dict[str, list[Body]]:
    """Bodies that failed before their fix (a 5xx, or a traceback in the server's output), kept as examples of
    the operation they were sent to, naming the target's resources as the failing requests did."""
    now = time.time()
    deep_text = "[" * 12_000 + "]" * 12_000

    def put_events(**event: Any) -> dict[str, Any]:
        fields = {"eventType": "View", "itemId": ITEMS[0], "sentAt": now - 60, **event}
        return {"trackingId": target.tracking_id, "sessionId": "s", "userId": "u-0", "eventList": [fields]}

    return {
        "PutEvents": [
            # A lone surrogate reached SQLite, which cannot encode it (issue 17): the wire refuses it in any member.
            Body(put_events(itemId="file-\udcff"), "eventList.member.itemId: lone surrogate"),
            Body(
                put_events(itemId="file-\udcff"), "eventList.member.itemId: lone surrogate", ascii_only=False
            ),
            # Times past every date a report can write (issue 17; domain/values.py holds the rule).
            *(Body(put_events(sentAt=sent_at), None) for sent_at in (1e20, 1e300, 2**64, "1e300")),
        ],
        # 12,000 nested brackets within ItemProperties' 32,000 characters (UserProperties' 24,000): RecursionError
        # in the decoder of ``properties`` (found by the explore profile). JSON values nest at most 100 levels.
        "PutItems": [
            Body(
                {
                    "datasetArn": target.datasets["Items"],
                    "items": [{"itemId": ITEMS[0], "properties": deep_text}],
                },
                "items.member.properties: JSON nested 12,000 deep",
            )
        ],
        "PutUsers": [
            Body(
                {
                    "datasetArn": target.datasets["Users"],
                    "users": [{"userId": "u-0", "properties": deep_text}],
                },
                "users.member.properties: JSON nested 12,000 deep",
            )
        ],
        # 5,000 nested brackets within CreateSchema's 20,000 characters: RecursionError in the decoder (issue 17).
        "CreateSchema": [Body({"name": "deep", "schema": "[" * 5000 + "]" * 5000}, None)],
        # A body decoded to the interpreter's recursion limit: a finalizer the garbage collector ran on that stack
        # (urllib3's pool of a boto3 client) died of RecursionError. Bodies nest at most 100 levels now.
        "CreateMetricAttribution": [
            Body(
                {
                    "name": "ma",
                    "datasetGroupArn": target.group,
                    "metrics": Raw("[" * 5000 + "]" * 5000),
                    "metricsOutputConfig": {
                        "roleArn": ROLE_ARN,
                        "s3DataDestination": {"path": "s3://bucket/x/"},
                    },
                },
                "metrics: not a list",
            )
        ],
    }


@pytest.mark.parametrize(("service", "operation_name"), OPERATIONS, ids=[name for _, name in OPERATIONS])
def test_operation_survives_fuzzing(
    live: ServerProcess,
    shared: Shared,
    tmp_path_factory: pytest.TempPathFactory,
    service: str,
    operation_name: str,
) -> None:
    folder = tmp_path_factory.mktemp(operation_name)
    target = Target(live, folder)
    extra = DISPOSABLE[operation_name](shared, live) if operation_name in DISPOSABLE else {}
    wire = Wire(live)
    tokens = issued_tokens(wire, target)
    hints, hinted_only = personalize_hints(str(folder))
    strategies = ShapeStrategies(real_values(target, shared, tokens, extra), hints, hinted_only)
    operation = service_model(service).operation_model(operation_name)
    observe = observer(operation_name, wire, target, shared, extra)
    output_before = len(live.output)
    outcomes: Counter[str] = Counter()

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=strategies.body(operation.input_shape))
    def fuzz(body: Body) -> None:
        encoded = body.encode()
        before = observe() if observe is not None else None
        answer = wire.call(service, operation_name, encoded)
        outcomes[f"{'invalid' if body.invalid else 'valid-looking'} {answer.error_code or 'OK'}"] += 1
        problems = answer_problems(service, operation_name, answer)
        assert not problems, (problems, encoded[:500])
        assert _locally_invalid(operation, encoded) == body.invalid, (body.violation, encoded[:500])
        if body.invalid:
            assert answer.status != 200, (f"accepted although {body.violation}", encoded[:500])
        token = body.params.get("nextToken") if isinstance(body.params, dict) else None
        if isinstance(token, str) and token in tokens and not body.invalid:
            issuer = tokens[token]
            listing_params = {k: v for k, v in body.params.items() if k not in ("nextToken", "maxResults")}
            if issuer != (operation_name, listing_params):
                assert answer.status != 200, ("another listing's token accepted", issuer, encoded[:500])
        if observe is not None and answer.status != 200:
            assert observe() == before, (f"{answer.error_code} changed the store", encoded[:500])

    for body in examples(target).get(operation_name, []):
        fuzz = example(body)(fuzz)
    try:
        fuzz()
    finally:
        wire.close()
        print(operation_name, dict(sorted(outcomes.items())))
    output = "".join(live.output[output_before:])
    assert "Traceback" not in output, output[-3000:]
    assert live.proc is not None
    assert live.proc.poll() is None


def _locally_invalid(operation: Any, encoded: bytes) -> bool:
    """The server's own parsing refuses the body (the strategies' claim, checked where it is cheap)."""
    try:
        parse_request(operation, encoded)
    except InvalidInputException:
        return True
    return False
