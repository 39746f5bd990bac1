"""Recommenders, solutions and campaigns through boto3: training from the group's data, GetRecommendations
checked against brute-force references computed here from the same history, recommendationIds attributed to the
issuing ARN, and every error a caller can provoke."""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recimpact.cli.client import get_series
from recimpact.simulate import Interaction, RetailSite
from tests.conftest import output_config, unique
from tests.retail import RetailGroup, wait_recommender, wait_version
from tests.server import ServerProcess

RFY = "aws-ecomm-recommended-for-you"
ALSO_VIEWED = "aws-ecomm-customers-who-viewed-x-also-viewed"
BY_VIEWS = "aws-ecomm-popular-items-by-views"
BY_PURCHASES = "aws-ecomm-popular-items-by-purchases"
RECIPE = "arn:aws:personalize:::recipe/{}".format


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def retail(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> RetailGroup:
    personalize = server.client("personalize")
    site = RetailSite(seed=3, n_items=300, n_users=400)
    return RetailGroup(personalize, tmp_path_factory.mktemp("retail"), site, sessions=1_000)


@pytest.fixture(scope="module")
def recommenders(server: ServerProcess, retail: RetailGroup) -> dict[str, str]:
    """One trained recommender per ECOMMERCE recipe (trained before any test sends live events)."""
    personalize = server.client("personalize")
    arns = {
        recipe: retail.recommender(personalize, recipe)
        for recipe in (RFY, ALSO_VIEWED, BY_VIEWS, BY_PURCHASES)
    }
    for arn in arns.values():
        record = wait_recommender(personalize, arn)
        assert record["status"] == "ACTIVE", record.get("failureReason")
    return arns


@pytest.fixture
def runtime(server: ServerProcess) -> Any:
    return server.client("personalize-runtime")


def popular(history: list[Interaction], event_type: str | None) -> list[str]:
    counts = Counter(e.item_id for e in history if event_type is None or e.event_type == event_type)
    return sorted(counts, key=lambda item: (-counts[item], item))


def recent_items(
    history: list[Interaction], keep: int, event_type: str | None = None
) -> dict[str, list[str]]:
    """Each user's distinct items, most recent first (ties by item id), at most ``keep``: the training's view."""
    last: dict[str, dict[str, int]] = defaultdict(dict)
    for e in history:
        if event_type is None or e.event_type == event_type:
            seen = last[e.user_id]
            seen[e.item_id] = max(seen.get(e.item_id, e.timestamp), e.timestamp)
    return {user: sorted(items, key=lambda item: (-items[item], item))[:keep] for user, items in last.items()}


def co_occurrence(history: list[Interaction], event_type: str | None) -> dict[str, list[tuple[str, float]]]:
    """Cosine similarity of items over users' 30 most recent items, best 50 per item: the reference."""
    recent = recent_items(history, 30, event_type)
    users_of: Counter[str] = Counter(item for items in recent.values() for item in items)
    shared: Counter[tuple[str, str]] = Counter()
    for items in recent.values():
        for a in items:
            for b in items:
                if a != b:
                    shared[(a, b)] += 1
    neighbours: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (a, b), count in shared.items():
        neighbours[a].append((b, count / math.sqrt(users_of[a] * users_of[b])))
    return {a: sorted(found, key=lambda p: (-p[1], p[0]))[:50] for a, found in neighbours.items()}


# --- recommenders -------------------------------------------------------------------------------------------


def test_recommender_is_trained_in_the_background(personalize: Any, retail: RetailGroup) -> None:
    arn = retail.recommender(personalize, BY_VIEWS)
    first = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert first["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    done = wait_recommender(personalize, arn)
    assert done["status"] == "ACTIVE"
    assert done["recipeArn"] == RECIPE(BY_VIEWS)
    assert done["datasetGroupArn"] == retail.arn
    assert done["modelMetrics"]["training_interactions"] == len(retail.history)
    listed = personalize.list_recommenders(datasetGroupArn=retail.arn)["recommenders"]
    assert arn in [r["recommenderArn"] for r in listed]
    personalize.delete_recommender(recommenderArn=arn)
    with pytest.raises(ClientError) as excinfo:
        personalize.describe_recommender(recommenderArn=arn)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_popular_items_match_the_counts(
    runtime: Any, retail: RetailGroup, recommenders: dict[str, str]
) -> None:
    for recipe, event_type in ((BY_VIEWS, "View"), (BY_PURCHASES, "Purchase")):
        answer = runtime.get_recommendations(recommenderArn=recommenders[recipe], numResults=10)
        items = [entry["itemId"] for entry in answer["itemList"]]
        assert items == popular(retail.history, event_type)[:10]
        scores = [entry["score"] for entry in answer["itemList"]]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-5)


def test_also_viewed_matches_the_co_occurrence_reference(
    runtime: Any, retail: RetailGroup, recommenders: dict[str, str]
) -> None:
    reference = co_occurrence(retail.history, "View")
    busiest = sorted(reference, key=lambda item: (-len(reference[item]), item))[:5]
    for item in busiest:
        answer = runtime.get_recommendations(
            recommenderArn=recommenders[ALSO_VIEWED], itemId=item, numResults=8
        )
        got = [entry["itemId"] for entry in answer["itemList"]]
        assert got == [other for other, _ in reference[item][:8]]
        assert item not in got


def test_recommended_for_you_follows_the_users_tastes(
    runtime: Any, retail: RetailGroup, recommenders: dict[str, str]
) -> None:
    recent = recent_items(retail.history, 10)
    users = sorted(recent, key=lambda u: (-len(recent[u]), u))[:20]
    personas = {user.user_id: set(user.personas) for user in retail.site.users}
    in_persona = []
    for user in users:
        answer = runtime.get_recommendations(recommenderArn=recommenders[RFY], userId=user, numResults=10)
        items = [entry["itemId"] for entry in answer["itemList"]]
        assert len(items) == 10
        assert not set(items) & set(recent[user]), "a user's recent items are not recommended back"
        categories = [retail.site.item(item).category_l1 for item in items]  # type: ignore[union-attr]
        in_persona.append(sum(c in personas[user] for c in categories) / len(categories))
    # Each persona is 1 or 2 of 6 categories; the carousels the history came from favoured them.
    assert sum(in_persona) / len(in_persona) >= 0.6
    other = runtime.get_recommendations(recommenderArn=recommenders[RFY], userId=users[1], numResults=10)
    first = runtime.get_recommendations(recommenderArn=recommenders[RFY], userId=users[0], numResults=10)
    assert [e["itemId"] for e in other["itemList"]] != [e["itemId"] for e in first["itemList"]]


def test_unknown_user_gets_popular_items_and_defaults(
    runtime: Any, retail: RetailGroup, recommenders: dict[str, str]
) -> None:
    answer = runtime.get_recommendations(recommenderArn=recommenders[RFY], userId="someone-new")
    items = [entry["itemId"] for entry in answer["itemList"]]
    assert len(items) == 25  # AWS's default numResults
    assert items == popular(retail.history, None)[:25]  # nothing known of the user: the most popular items
    assert re.fullmatch(
        r"RID-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", answer["recommendationId"]
    )
    assert len(answer["recommendationId"]) <= 40


def test_metadata_columns_come_from_the_items(
    runtime: Any, retail: RetailGroup, recommenders: dict[str, str]
) -> None:
    answer = runtime.get_recommendations(
        recommenderArn=recommenders[BY_VIEWS],
        numResults=3,
        metadataColumns={"ITEMS": ["CATEGORY_L1", "PRICE"]},
    )
    for entry in answer["itemList"]:
        item = retail.site.item(entry["itemId"])
        assert item is not None
        assert entry["metadata"] == {"CATEGORY_L1": item.category_l1, "PRICE": str(item.price)}


def test_events_with_a_recommendation_id_are_attributed_to_the_recommender(
    server: ServerProcess, personalize: Any, runtime: Any, retail: RetailGroup, recommenders: dict[str, str]
) -> None:
    attribution = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=retail.arn,
        metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
        metricsOutputConfig=output_config(),
    )["metricAttributionArn"]
    events = server.client("personalize-events")
    sent: Counter[str] = Counter()
    for recipe, user in ((RFY, "user-000001"), (BY_VIEWS, None), (RFY, "user-000002")):
        request: dict[str, Any] = {"recommenderArn": recommenders[recipe], "numResults": 4}
        if user:
            request["userId"] = user
        answer = runtime.get_recommendations(**request)
        shown = [entry["itemId"] for entry in answer["itemList"]]
        events.put_events(
            trackingId=retail.tracking_id,
            userId=user or "anonymous",
            sessionId=unique("s"),
            eventList=[
                {
                    "eventType": "View",
                    "itemId": item,
                    "sentAt": time.time(),
                    "recommendationId": answer["recommendationId"],
                    "impression": shown,
                }
                for item in shown[:3]
            ],
        )
        sent[recommenders[recipe]] += 3
    events.put_events(
        trackingId=retail.tracking_id,
        userId="x",
        sessionId="s",
        eventList=[
            {
                "eventType": "View",
                "itemId": "item-00001",
                "sentAt": time.time(),
                "recommendationId": "RID-unknown",
            }
        ],
    )
    sent["SOURCE_NAME_UNDEFINED"] += 1
    rows = get_series(server.url, attribution, None, None)["rows"]
    counted: Counter[str] = Counter()
    for row in rows:
        counted[row["EVENT_ATTRIBUTION_SOURCE"]] += int(row["VALUE"])
    assert counted == sent


# --- recommender errors -------------------------------------------------------------------------------------


def test_recommender_errors(personalize: Any, retail: RetailGroup, tmp_path: Path) -> None:
    def code(**request: Any) -> str:
        with pytest.raises(ClientError) as excinfo:
            personalize.create_recommender(**request)
        return error_code(excinfo)

    name = unique("rec")
    assert code(name=name, datasetGroupArn=retail.arn, recipeArn=RECIPE("aws-user-personalization")) == (
        "InvalidInputException"
    )
    assert code(name=name, datasetGroupArn=retail.arn, recipeArn=RECIPE("aws-no-such-recipe")) == (
        "InvalidInputException"
    )
    missing_group = retail.arn.replace(retail.name, "no-such-group")
    assert (
        code(name=name, datasetGroupArn=missing_group, recipeArn=RECIPE(RFY)) == "ResourceNotFoundException"
    )
    custom = personalize.create_dataset_group(name=unique("custom"))["datasetGroupArn"]
    assert code(name=name, datasetGroupArn=custom, recipeArn=RECIPE(RFY)) == "InvalidInputException"
    personalize.create_recommender(name=name, datasetGroupArn=retail.arn, recipeArn=RECIPE(BY_VIEWS))
    assert code(name=name, datasetGroupArn=retail.arn, recipeArn=RECIPE(BY_VIEWS)) == (
        "ResourceAlreadyExistsException"
    )
    with pytest.raises(ClientError) as excinfo:
        personalize.delete_dataset_group(datasetGroupArn=retail.arn)
    assert error_code(excinfo) == "ResourceInUseException"


def test_too_little_data_fails_training_and_serves_nothing(
    server: ServerProcess, personalize: Any, runtime: Any, tmp_path: Path
) -> None:
    small = RetailGroup(personalize, tmp_path, RetailSite(seed=5, n_items=50, n_users=20), sessions=40)
    assert len(small.history) < 1000
    arn = small.recommender(personalize, RFY)
    record = wait_recommender(personalize, arn)
    assert record["status"] == "CREATE FAILED"
    assert "at least 1000 interactions" in record["failureReason"]
    with pytest.raises(ClientError) as excinfo:
        runtime.get_recommendations(recommenderArn=arn, userId="user-000001")
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert "CREATE FAILED" in str(excinfo.value)


def test_get_recommendations_errors(runtime: Any, retail: RetailGroup, recommenders: dict[str, str]) -> None:
    def code(**request: Any) -> str:
        with pytest.raises(ClientError) as excinfo:
            runtime.get_recommendations(**request)
        return error_code(excinfo)

    assert code(userId="u") == "InvalidInputException"  # neither ARN
    assert code(recommenderArn=recommenders[RFY], campaignArn=recommenders[RFY], userId="u") == (
        "InvalidInputException"
    )
    assert code(recommenderArn=recommenders[RFY]) == "InvalidInputException"  # no userId
    assert code(recommenderArn=recommenders[ALSO_VIEWED], userId="u") == "InvalidInputException"  # no itemId
    assert code(recommenderArn=recommenders[BY_VIEWS], numResults=501) == "InvalidInputException"
    missing = recommenders[RFY] + "-gone"
    assert code(recommenderArn=missing, userId="u") == "ResourceNotFoundException"
    assert code(campaignArn=missing.replace("recommender/", "campaign/")) == "ResourceNotFoundException"
    other_region = recommenders[BY_VIEWS].replace("us-east-1", "eu-west-1")
    assert code(recommenderArn=other_region) == "ResourceNotFoundException"
    filter_arn = retail.arn.replace("dataset-group/", "filter/")
    assert code(recommenderArn=recommenders[BY_VIEWS], filterArn=filter_arn) == "ResourceNotFoundException"


# --- solutions and campaigns --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def custom(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> RetailGroup:
    personalize = server.client("personalize")
    site = RetailSite(seed=4, n_items=200, n_users=300)
    return RetailGroup(personalize, tmp_path_factory.mktemp("custom"), site, sessions=800, domain=None)


def test_solution_version_campaign_and_recommendations(
    personalize: Any, runtime: Any, custom: RetailGroup
) -> None:
    solution = personalize.create_solution(
        name=unique("sol"),
        datasetGroupArn=custom.arn,
        recipeArn=RECIPE("aws-popularity-count"),
        eventType="Purchase",
    )["solutionArn"]
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["status"] == "ACTIVE"
    assert described["eventType"] == "Purchase"
    assert described["performHPO"] is False
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert version.startswith(solution + "/")
    with pytest.raises(ClientError) as excinfo:  # one training at a time per solution
        personalize.create_solution_version(solutionArn=solution)
    assert error_code(excinfo) == "ResourceInUseException"
    with pytest.raises(ClientError) as excinfo:  # nor deleted while a version trains, as on AWS
        personalize.delete_solution(solutionArn=solution)
    assert error_code(excinfo) == "ResourceInUseException"
    trained = wait_version(personalize, version)
    assert trained["status"] == "ACTIVE"
    assert trained["trainingMode"] == "FULL"
    latest = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]
    assert latest["solutionVersionArn"] == version
    assert latest["status"] == "ACTIVE"
    campaign = personalize.create_campaign(
        name=unique("camp"), solutionVersionArn=version, minProvisionedTPS=2
    )["campaignArn"]
    described_campaign = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert described_campaign["status"] == "ACTIVE"
    assert described_campaign["minProvisionedTPS"] == 2
    assert campaign in [
        c["campaignArn"] for c in personalize.list_campaigns(solutionArn=solution)["campaigns"]
    ]
    answer = runtime.get_recommendations(campaignArn=campaign, numResults=5)
    assert [e["itemId"] for e in answer["itemList"]] == popular(custom.history, "Purchase")[:5]
    with pytest.raises(ClientError) as excinfo:
        personalize.delete_solution(solutionArn=solution)
    assert error_code(excinfo) == "ResourceInUseException"
    # A retrained version deployed by UpdateCampaign.
    retrained = personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")[
        "solutionVersionArn"
    ]
    assert wait_version(personalize, retrained)["status"] == "ACTIVE"
    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=retrained)
    assert personalize.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"] == retrained
    versions = personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]
    assert {v["solutionVersionArn"] for v in versions} == {version, retrained}
    personalize.delete_campaign(campaignArn=campaign)
    personalize.delete_solution(solutionArn=solution)
    with pytest.raises(ClientError) as excinfo:
        personalize.describe_solution_version(solutionVersionArn=version)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_custom_recipes_need_their_inputs(
    server: ServerProcess, personalize: Any, runtime: Any, custom: RetailGroup
) -> None:
    campaigns = {}
    for recipe in ("aws-user-personalization", "aws-similar-items"):
        solution = personalize.create_solution(
            name=unique("sol"), datasetGroupArn=custom.arn, recipeArn=RECIPE(recipe)
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        assert wait_version(personalize, version)["status"] == "ACTIVE"
        campaigns[recipe] = personalize.create_campaign(name=unique("camp"), solutionVersionArn=version)[
            "campaignArn"
        ]
    # Asked from another region first (before its own region has used it), a campaign is not found there, and
    # that answer is not remembered for its owner.
    elsewhere = server.client("personalize-runtime", region="eu-west-1")
    with pytest.raises(ClientError) as excinfo:
        elsewhere.get_recommendations(campaignArn=campaigns["aws-similar-items"], itemId="item-00001")
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        runtime.get_recommendations(campaignArn=campaigns["aws-user-personalization"])
    assert error_code(excinfo) == "InvalidInputException"
    with pytest.raises(ClientError) as excinfo:
        runtime.get_recommendations(campaignArn=campaigns["aws-similar-items"], userId="user-000001")
    assert error_code(excinfo) == "InvalidInputException"
    # aws-similar-items learns from every event type, so its reference is over all of them.
    reference = co_occurrence(custom.history, None)
    item = sorted(reference, key=lambda i: (-len(reference[i]), i))[0]
    similar = runtime.get_recommendations(
        campaignArn=campaigns["aws-similar-items"], itemId=item, numResults=5
    )
    assert [e["itemId"] for e in similar["itemList"]] == [other for other, _ in reference[item][:5]]
    personal = runtime.get_recommendations(
        campaignArn=campaigns["aws-user-personalization"], userId="user-000001"
    )
    assert len(personal["itemList"]) == 25


def test_solution_and_campaign_errors(personalize: Any, custom: RetailGroup, retail: RetailGroup) -> None:
    def code(call: Any, **request: Any) -> str:
        with pytest.raises(ClientError) as excinfo:
            call(**request)
        return error_code(excinfo)

    create = personalize.create_solution
    assert (
        code(create, name=unique("s"), datasetGroupArn=custom.arn, recipeArn=RECIPE(RFY))
        == "InvalidInputException"
    )
    assert code(create, name=unique("s"), datasetGroupArn=custom.arn) == "InvalidInputException"
    assert (
        code(create, name=unique("s"), datasetGroupArn=custom.arn, performAutoML=True)
        == "InvalidInputException"
    )
    solution = create(name=unique("s"), datasetGroupArn=custom.arn, recipeArn=RECIPE("aws-popularity-count"))[
        "solutionArn"
    ]
    assert code(personalize.create_solution_version, solutionArn=solution, trainingMode="UPDATE") == (
        "InvalidInputException"
    )
    # A version that cannot train (an event type the group never saw) cannot be deployed.
    picky = create(
        name=unique("s"),
        datasetGroupArn=custom.arn,
        recipeArn=RECIPE("aws-popularity-count"),
        eventType="Return",
    )["solutionArn"]
    failed = personalize.create_solution_version(solutionArn=picky)["solutionVersionArn"]
    record = wait_version(personalize, failed)
    assert record["status"] == "CREATE FAILED"
    assert "Return" in record["failureReason"]
    assert (
        code(personalize.create_campaign, name=unique("c"), solutionVersionArn=failed)
        == "ResourceInUseException"
    )
    gone = solution + "/00000000"
    assert (
        code(personalize.create_campaign, name=unique("c"), solutionVersionArn=gone)
        == "ResourceNotFoundException"
    )
    assert (
        code(personalize.list_solution_versions, solutionArn=solution + "-gone")
        == "ResourceNotFoundException"
    )
    assert code(personalize.describe_recipe, recipeArn=RECIPE("aws-nothing")) == "ResourceNotFoundException"


def test_recipes_are_listed(personalize: Any) -> None:
    ecommerce = personalize.list_recipes(domain="ECOMMERCE")["recipes"]
    assert {r["name"] for r in ecommerce} == {RFY, ALSO_VIEWED, BY_VIEWS, BY_PURCHASES}
    everything = {r["name"] for r in personalize.list_recipes()["recipes"]}
    assert {"aws-user-personalization", "aws-similar-items", "aws-popularity-count"} <= everything
    recipe = personalize.describe_recipe(recipeArn=RECIPE("aws-similar-items"))["recipe"]
    assert recipe["recipeType"] == "RELATED_ITEMS"


def test_training_resumes_and_models_serve_after_kill_9(tmp_path: Path) -> None:
    """A recommender killed mid-training finishes after the restart; a trained one serves the same answers, and
    its recommendationIds still attribute events, after a kill -9."""
    with ServerProcess(tmp_path / "data") as proc:
        personalize = proc.client("personalize")
        retail = RetailGroup(
            personalize, tmp_path / "in", RetailSite(seed=8, n_items=150, n_users=200), sessions=600
        )
        trained = retail.recommender(personalize, BY_VIEWS)
        assert wait_recommender(personalize, trained)["status"] == "ACTIVE"
        before = proc.client("personalize-runtime").get_recommendations(recommenderArn=trained, numResults=5)
        pending = retail.recommender(personalize, RFY)
        proc.kill()
        proc.start()
        personalize = proc.client("personalize")
        assert wait_recommender(personalize, pending)["status"] == "ACTIVE"
        after = proc.client("personalize-runtime").get_recommendations(recommenderArn=trained, numResults=5)
        assert after["itemList"] == before["itemList"]
        attribution = personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=retail.arn,
            metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
            metricsOutputConfig=output_config(),
        )["metricAttributionArn"]
        proc.kill()
        proc.start()
        proc.client("personalize-events").put_events(
            trackingId=retail.tracking_id,
            userId="u",
            sessionId="s",
            eventList=[
                {"eventType": "View", "itemId": "item-00001", "sentAt": time.time(), "recommendationId": rid}
                for rid in (before["recommendationId"], after["recommendationId"])
            ],
        )
        rows = get_series(proc.url, attribution, None, None)["rows"]
        assert {(r["EVENT_ATTRIBUTION_SOURCE"], int(r["VALUE"])) for r in rows} == {(trained, 2)}
