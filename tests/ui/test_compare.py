"""The Compare tab in Chromium: two sources on purchases per view, the numbers and intervals the read API gives,
refreshed as events arrive, and a clear message for a wrong choice."""

from __future__ import annotations

import random
import time
from typing import Any

from playwright.sync_api import expect

from recimpact.cli.client import compare
from tests.conftest import ROLE_ARN, unique
from tests.server import ServerProcess
from tests.ui.conftest import Site, screenshot
from tests.ui.test_dashboard import LIVE, open_group


def send_users(site: Site, source: str, users: int, purchase_rate: float, rng: random.Random) -> None:
    """Each user views a few items from ``source`` and buys some: one PutEvents call per user."""
    now = time.time()
    for n in range(users):
        views = rng.randint(1, 6)
        events = [
            {"eventType": "View", "itemId": f"i{v}", "sentAt": now - v,
             "metricAttribution": {"eventAttributionSource": source}}
            for v in range(views)
        ]  # fmt: skip
        events += [
            {"eventType": "Purchase", "itemId": f"i{v}", "sentAt": now - v + 0.5,
             "metricAttribution": {"eventAttributionSource": source}}
            for v in range(views) if rng.random() < purchase_rate
        ]  # fmt: skip
        site.events.put_events(
            trackingId=site.tracking_id, userId=f"{source}-{n}", sessionId="s", eventList=events
        )


def test_compare_two_sources(page: Any, dashboard_server: ServerProcess) -> None:
    site = Site(dashboard_server, name=unique("ab"))
    attribution = site.personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=site.arn,
        metrics=[
            {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"},
            {"eventType": "Purchase", "expression": "SAMPLECOUNT()", "metricName": "purchases"},
        ],
        metricsOutputConfig={"roleArn": ROLE_ARN},
    )["metricAttributionArn"]
    rng = random.Random(4)
    send_users(site, "control", 120, 0.10, rng)
    send_users(site, "treatment", 120, 0.25, rng)

    open_group(page, dashboard_server, site, "compare")
    form = page.locator("#compare-form")
    form.locator("select[name=metric]").select_option("purchases")
    form.locator("select[name=per]").select_option("views")
    form.locator("select[name=source-a]").select_option("control")
    form.locator("select[name=source-b]").select_option("treatment")
    form.locator("button[type=submit]").click()
    expected = compare(dashboard_server.url, attribution, "purchases", "control", "treatment", per="views")
    lift = f"{expected['lift']:+.1%}".replace(".0%", "%")
    expect(page.locator("#compare-lift")).to_have_text(lift)
    expect(page.locator("#compare-result")).to_contain_text("users")
    expect(page.locator(".verdict")).to_contain_text("B differs from A")
    expect(page.locator(".notice-warning")).to_have_count(0)  # users were split between the sources
    screenshot(page, "compare")

    # Live: more treatment users who buy nothing pull the lift down, and the page follows.
    send_users(site, "treatment", 120, 0.0, rng)
    after = compare(dashboard_server.url, attribution, "purchases", "control", "treatment", per="views")
    assert after["lift"] < expected["lift"]
    expect(page.locator("#compare-lift")).to_have_text(
        f"{after['lift']:+.1%}".replace(".0%", "%"), timeout=LIVE
    )

    # The same source twice is refused in the page, before any request.
    form.locator("select[name=source-b]").select_option("control")
    form.locator("button[type=submit]").click()
    expect(page.locator(".compare-result .notice-error")).to_contain_text("two different sources")
