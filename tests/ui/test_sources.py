"""What a user reads about sources and models in Chromium: the Overview lists the group's recommenders, solutions
and campaigns (name, recipe, status, creation time); a recommender or campaign that feeds the attribution shows by
its name wherever a source appears (totals, legend, Compare), its full ARN on hover; the legend under a chart is a
compact row of "name value" items."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from recimpact.simulate import RetailSite
from tests.conftest import ROLE_ARN, unique
from tests.retail import RetailGroup, wait_recommender, wait_version
from tests.server import ServerProcess
from tests.ui.conftest import screenshot
from tests.ui.test_dashboard import LIVE, local_time, open_group, totals_cell

RECIPE = "arn:aws:personalize:::recipe/{}".format
PARTNER = "partner_carousel"


class Models:
    """An ECOMMERCE group with a trained recommender, a custom solution deployed by a campaign, an attribution,
    and events attributed to both through their recommendationIds, and to a partner's carousel by name."""

    def __init__(self, server: ServerProcess, work_dir: Path) -> None:
        personalize = self.group_client = server.client("personalize")
        self.group = RetailGroup(
            personalize, work_dir, RetailSite(seed=5, n_items=120, n_users=150), sessions=300
        )
        self.recommender_name = unique("for-you")
        self.recommender = personalize.create_recommender(
            name=self.recommender_name,
            datasetGroupArn=self.group.arn,
            recipeArn=RECIPE("aws-ecomm-recommended-for-you"),
        )["recommenderArn"]
        self.solution_name = unique("popular")
        self.solution = personalize.create_solution(
            name=self.solution_name,
            datasetGroupArn=self.group.arn,
            recipeArn=RECIPE("aws-popularity-count"),
            eventType="Purchase",
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=self.solution)["solutionVersionArn"]
        assert wait_recommender(personalize, self.recommender)["status"] == "ACTIVE"
        assert wait_version(personalize, version)["status"] == "ACTIVE"
        self.campaign_name = unique("bestsellers")
        self.campaign = personalize.create_campaign(name=self.campaign_name, solutionVersionArn=version)[
            "campaignArn"
        ]
        personalize.create_metric_attribution(
            name=unique("impact"),
            datasetGroupArn=self.group.arn,
            metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
            metricsOutputConfig={"roleArn": ROLE_ARN},
        )
        runtime = server.client("personalize-runtime")
        events = server.client("personalize-events")
        self.sent = {self.recommender: 3, self.campaign: 2, PARTNER: 1}
        # Every event in one window (the last complete one), so the chart's last point holds them all.
        self.window = (int(time.time()) // 900 - 1) * 900
        for n, (source, count) in enumerate(self.sent.items()):
            user = f"user-{n:06d}"
            if source == PARTNER:
                shown = ["item-00001"]
                attribution: dict[str, Any] = {"metricAttribution": {"eventAttributionSource": PARTNER}}
            else:
                kind = "recommenderArn" if source == self.recommender else "campaignArn"
                answer = runtime.get_recommendations(**{kind: source}, userId=user, numResults=count)
                shown = [entry["itemId"] for entry in answer["itemList"]]
                attribution = {"recommendationId": answer["recommendationId"]}
            events.put_events(
                trackingId=self.group.tracking_id,
                userId=user,
                sessionId=unique("s"),
                eventList=[
                    {"eventType": "View", "itemId": item, "sentAt": self.window + 450 + i, **attribution}
                    for i, item in enumerate(shown[:count])
                ],
            )


@pytest.fixture(scope="module")
def models(dashboard_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(dashboard_server, tmp_path_factory.mktemp("models"))


def test_overview_lists_recommenders_solutions_and_campaigns(
    page: Any, dashboard_server: ServerProcess, models: Models
) -> None:
    open_group(page, dashboard_server, models.group)
    table = page.locator("#models")
    recommender = table.locator(f'tr[data-kind="recommender"][data-arn="{models.recommender}"]')
    expect(recommender.locator("td").nth(1)).to_have_text(models.recommender_name)
    expect(recommender.locator("td").nth(1).locator(".name")).to_have_attribute("title", models.recommender)
    expect(recommender.locator("td").nth(2)).to_have_text("aws-ecomm-recommended-for-you")
    expect(recommender.locator("[data-status]")).to_have_text("ACTIVE")
    created = models.group_client.describe_recommender(recommenderArn=models.recommender)["recommender"]
    expect(recommender.locator("td").nth(4)).to_have_text(
        local_time(page, created["creationDateTime"].timestamp())
    )
    solution = table.locator(f'tr[data-kind="solution"][data-arn="{models.solution}"]')
    expect(solution).to_contain_text(models.solution_name)
    expect(solution.locator("td").nth(2)).to_have_text("aws-popularity-count")
    campaign = table.locator(f'tr[data-kind="campaign"][data-arn="{models.campaign}"]')
    expect(campaign).to_contain_text(models.campaign_name)
    expect(campaign.locator("td").nth(2)).to_have_text("aws-popularity-count")  # its solution's recipe
    expect(campaign.locator("[data-status]")).to_have_text("ACTIVE")
    screenshot(page, "overview")


def test_sources_show_their_names_with_the_arn_on_hover(
    page: Any, dashboard_server: ServerProcess, models: Models
) -> None:
    open_group(page, dashboard_server, models.group, "metrics")
    card = page.locator('.metric-card[data-metric="VIEWS"]')
    for source, name in (
        (models.recommender, models.recommender_name),
        (models.campaign, models.campaign_name),
        (PARTNER, PARTNER),
    ):
        cell = totals_cell(page, "VIEWS", source, "source")
        expect(cell).to_have_text(name, timeout=LIVE)
        expect(cell).to_have_attribute("title", source)
        expect(totals_cell(page, "VIEWS", source)).to_have_text(str(models.sent[source]))
        item = card.locator(".legend-item").filter(has_text=name)
        expect(item).to_have_attribute("title", source)
        expect(item.locator(".legend-name")).to_have_text(name)
    assert "arn:" not in card.inner_text()  # no ARN is written out: they are in the titles

    page.locator('[data-tab="compare"]').click()
    options = page.locator("select[name=source-a] option")
    expect(options).to_have_count(3)
    assert sorted(options.all_inner_texts()) == sorted(
        [models.recommender_name, models.campaign_name, PARTNER]
    )
    option = page.locator(f'select[name=source-a] option[value="{models.recommender}"]')
    expect(option).to_have_text(models.recommender_name)
    expect(option).to_have_attribute("title", models.recommender)


def test_the_legend_is_one_compact_row(page: Any, dashboard_server: ServerProcess, models: Models) -> None:
    """Under the chart: the window, then each source's colour, name and value side by side, on one line at a
    laptop's width (uPlot's own legend stacked "window:", "--", each name, ":" and "—" on lines of their own)."""
    open_group(page, dashboard_server, models.group, "metrics")
    card = page.locator('.metric-card[data-metric="VIEWS"]')
    items = card.locator(".legend-item")
    expect(items).to_have_count(3, timeout=LIVE)
    expect(card.locator(".u-legend")).to_have_count(0)
    box = card.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)  # the window of every event
    for source, count in models.sent.items():
        expect(card.locator(f'.legend-item[data-source="{source}"] .legend-value')).to_have_text(str(count))
    expect(card.locator(".legend-window")).to_have_text(local_time(page, models.window))

    boxes = [items.nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["height"] < 24, boxes  # a line of 12 px text
    for item in boxes:  # one row
        assert abs(item["y"] - boxes[0]["y"]) < 1, boxes
        assert abs(item["height"] - boxes[0]["height"]) < 1, boxes
    window = card.locator(".legend-window").bounding_box()
    assert abs(window["y"] + window["height"] / 2 - (boxes[0]["y"] + boxes[0]["height"] / 2)) < 4
    for i in range(3):
        name = items.nth(i).locator(".legend-name").bounding_box()
        value = items.nth(i).locator(".legend-value").bounding_box()
        assert value["x"] >= name["x"] + name["width"]  # the value follows its name on the same line
        assert abs((value["y"] + value["height"] / 2) - (name["y"] + name["height"] / 2)) < 3
