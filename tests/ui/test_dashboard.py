"""The dashboard as a user drives it in Chromium: create an attribution with the builder, send events, watch both
sources' lines and totals change live, zoom the range, import a file with "publish metrics" and download its
report. Screenshots of the main views are saved (into docs/screenshots/ with `make screenshots`)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import expect

from tests.conftest import unique
from tests.server import ServerProcess
from tests.ui.conftest import ConsoleLog, Site, screenshot

LIVE = 12_000  # ms: the page polls every 3 s; allow a few rounds on a busy machine


class Group(Protocol):
    arn: str


def open_group(page: Any, server: ServerProcess, site: Group, tab: str = "overview") -> None:
    page.goto(server.url + "/")
    page.locator(f'.group[data-arn="{site.arn}"]').click()
    page.locator(f'[data-tab="{tab}"]').click()


def local_time(page: Any, epoch: float) -> str:
    """A time as the page writes it ("2026-11-23 13:45", in the browser's time zone)."""
    text: str = page.evaluate("async (t) => (await import('/static/js/dom.js')).formatTime(t)", epoch)
    return text


def totals_cell(page: Any, metric: str, source: str, column: str = "value") -> Any:
    return page.locator(f'.metric-card[data-metric="{metric}"] tr[data-source="{source}"] .{column}')


def write_interactions(path: Path, rows: list[tuple[str, str, int, str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_ATTRIBUTION_SOURCE"])
        writer.writerows(rows)


def test_builder_events_live_totals_zoom_import_and_report(
    page: Any, dashboard_server: ServerProcess, tmp_path: Path
) -> None:
    site = Site(dashboard_server, name=unique("retail"))
    reports = tmp_path / "reports"

    # Overview: the group and its resources.
    open_group(page, dashboard_server, site)
    expect(page.locator("#group-details h2")).to_have_text(site.name)
    expect(page.locator('#datasets tr[data-type="INTERACTIONS"]')).to_contain_text("interactions")
    expect(page.locator('#datasets tr[data-type="ITEMS"]')).to_contain_text("items")
    expect(page.locator("#trackers")).to_contain_text(site.tracking_id)
    expect(page.locator("#attribution-summary")).to_contain_text("None yet")
    expect(page.locator("#no-models")).to_be_visible()

    # The builder: two metrics, the SUM one over a numeric column offered from the schemas.
    page.locator('[data-tab="attribution"]').click()
    builder = page.locator("#create-attribution form.builder")
    builder.locator("input[name=name]").fill("shop-impact")
    first = builder.locator(".metric-row").nth(0)
    first.locator("[name=metricName]").fill("countViews")
    first.locator("[name=eventType]").fill("View")
    expect(first.locator("[name=column]")).to_be_disabled()  # SAMPLECOUNT takes no column
    builder.locator("#add-metric-create").click()
    second = builder.locator(".metric-row").nth(1)
    second.locator("[name=metricName]").fill("sumMargin")
    second.locator("[name=eventType]").fill("Purchase")
    second.locator("[name=function]").select_option("SUM")
    options = second.locator("[name=column] option").all_inner_texts()
    assert "ITEMS.MARGIN" in options
    assert "ITEMS.PRICE" in options
    assert not any("TIMESTAMP" in o or "ITEM_ID" in o for o in options)  # numeric, and not a time
    second.locator("[name=column]").select_option("ITEMS.MARGIN")
    builder.locator("[name=path]").fill(f"file://{reports}/")
    screenshot(page, "attribution-builder")

    # The JSON mode shows the same request, and coming back keeps it.
    builder.get_by_role("button", name="JSON").click()
    request = json.loads(builder.locator("textarea[name=json]").input_value())
    expected_metrics = [
        {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
        {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
    ]
    assert request["name"] == "shop-impact"
    assert request["datasetGroupArn"] == site.arn
    assert request["metrics"] == expected_metrics
    assert request["metricsOutputConfig"]["s3DataDestination"] == {"path": f"file://{reports}/"}
    builder.get_by_role("button", name="Builder").click()
    expect(builder.locator(".metric-row")).to_have_count(2)
    builder.get_by_role("button", name="Create metric attribution").click()

    expect(page.locator("#attribution-definition h2")).to_have_text("shop-impact")
    expect(page.locator("#attribution-metrics tbody tr")).to_have_count(2)
    arn = site.personalize.list_metric_attributions(datasetGroupArn=site.arn)["metricAttributions"][0][
        "metricAttributionArn"
    ]
    described = site.personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert described["status"] == "ACTIVE"
    assert described["metricsOutputConfig"]["s3DataDestination"]["path"] == f"file://{reports}/"
    listed = site.personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    assert sorted(listed, key=lambda m: m["metricName"]) == expected_metrics
    screenshot(page, "attribution")

    # Events from two sources: both lines and the totals appear without a reload.
    page.locator('[data-tab="metrics"]').click()
    expect(page.locator('.metric-card[data-metric="COUNTVIEWS"] .no-data')).to_be_visible()
    site.put_items({"i1": 2.5})
    site.send("View", "email", 3)
    site.send("View", "homepage_carousel", 2)
    site.send("Purchase", "email", 2)
    site.send("Purchase", "homepage_carousel", 1)
    views = page.locator('.metric-card[data-metric="COUNTVIEWS"]')
    expect(views).to_have_attribute("data-sources", '["email","homepage_carousel"]', timeout=LIVE)
    expect(totals_cell(page, "COUNTVIEWS", "email")).to_have_text("3", timeout=LIVE)
    expect(totals_cell(page, "COUNTVIEWS", "homepage_carousel")).to_have_text("2")
    expect(totals_cell(page, "COUNTVIEWS", "email", "share")).to_have_text("60.0%")
    expect(totals_cell(page, "COUNTVIEWS", "homepage_carousel", "share")).to_have_text("40.0%")
    expect(views.locator("tfoot .total")).to_have_text("5")
    expect(totals_cell(page, "SUMMARGIN", "email")).to_have_text("5.00", timeout=LIVE)
    expect(totals_cell(page, "SUMMARGIN", "homepage_carousel")).to_have_text("2.50")
    expect(totals_cell(page, "SUMMARGIN", "email", "share")).to_have_text("66.7%")
    legend = views.locator(".legend")
    expect(legend.locator(".legend-item")).to_have_text(
        [re.compile(r"email\s*3"), re.compile(r"homepage_carousel\s*2")]
    )
    expect(views.locator("canvas")).to_have_count(1)
    expect(page.locator("#range-label")).to_contain_text("the data of the last 14d")

    # More events: the totals and shares move while the page stays open.
    site.send("View", "email", 2)
    expect(totals_cell(page, "COUNTVIEWS", "email")).to_have_text("5", timeout=LIVE)
    expect(totals_cell(page, "COUNTVIEWS", "email", "share")).to_have_text("71.4%")
    expect(views.locator("tfoot .total")).to_have_text("7")

    # The range: a preset, a drag-zoom on a span without events, and back to the data's range.
    page.locator('.preset[data-span="3600"]').click()
    expect(page.locator("#range-label")).to_have_text("last 1h")
    expect(totals_cell(page, "COUNTVIEWS", "email")).to_have_text("5")
    page.locator('.preset[data-span="1209600"]').click()
    expect(page.locator("#range-label")).to_have_text("last 14d")
    overlay = views.locator(".u-over")
    expect(overlay).to_be_visible()
    box = overlay.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(page.locator("#range-label")).to_contain_text("→")
    expect(views.locator(".totals")).to_contain_text("No data in this range")
    page.locator("#reset-range").click()
    expect(page.locator("#range-label")).to_contain_text("the data of the last 14d")
    expect(page.locator('.preset[data-span="data"]')).to_have_class(re.compile("active"))
    expect(totals_cell(page, "COUNTVIEWS", "email")).to_have_text("5")

    # An import job with "publish metrics": its report downloads from the jobs table.
    day = int(time.time()) - 86400
    data = tmp_path / "history"
    data.mkdir()
    write_interactions(
        data / "interactions.csv",
        [("u1", "i1", day + n, "View", "email") for n in range(4)]
        + [("u2", "i1", day + 10, "View", "homepage_carousel"), ("u1", "i1", day + 20, "Purchase", "email")],
    )
    page.locator('[data-tab="imports"]').click()
    expect(page.locator(".jobs")).to_contain_text("No import jobs yet")
    form = page.locator("#import-form")
    form.locator("[name=jobName]").fill("history-import")
    expect(form.locator("[name=datasetArn]")).to_have_value(site.interactions_dataset)
    form.locator("[name=dataLocation]").fill(f"file://{data}/")
    form.locator("[name=publish]").check()
    expect(page.locator(".attribution-inline")).to_contain_text(f"file://{reports}/")
    page.get_by_role("button", name="Start import").click()
    job = page.locator('#import-jobs tr[data-job="history-import"]')
    expect(job).to_have_attribute("data-status", "ACTIVE", timeout=30_000)
    expect(job).to_contain_text("yes")
    expect(job.locator("td.num")).to_have_text("6")
    link = job.get_by_role("link", name="Download CSV")
    expect(page.locator("#reports a.download")).to_have_count(1, timeout=LIVE)
    screenshot(page, "import-jobs")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.startswith("AggregatedAttributionMetrics - FULL - ")
    report = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    views_by_source = {
        r["EVENT_ATTRIBUTION_SOURCE"]: float(r["VALUE"]) for r in report if r["METRIC_NAME"] == "COUNTVIEWS"
    }
    assert views_by_source == {"email": 4.0, "homepage_carousel": 1.0}
    assert list(report[0]) == [
        "METRIC_NAME",
        "EVENT_TYPE",
        "VALUE",
        "MATH_FUNCTION",
        "EVENT_ATTRIBUTION_SOURCE",
        "TIMESTAMP",
    ]
    assert (reports / download.suggested_filename).read_bytes() == Path(download.path()).read_bytes()


def test_import_form_creates_the_missing_attribution(
    page: Any, dashboard_server: ServerProcess, tmp_path: Path
) -> None:
    """As in the console: "publish metrics" on a group without an attribution offers to create one there."""
    site = Site(dashboard_server)
    reports = tmp_path / "reports"
    data = tmp_path / "data"
    data.mkdir()
    write_interactions(data / "part.csv", [("u1", "i1", int(time.time()) - 3600, "Click", "banner")])
    open_group(page, dashboard_server, site, "imports")
    page.locator("#import-form [name=jobName]").fill("with-new-attribution")
    page.locator("#import-form [name=dataLocation]").fill(f"file://{data}/part.csv")
    page.locator("#import-form [name=publish]").check()
    inline = page.locator(".attribution-inline")
    expect(inline).to_contain_text("no metric attribution")
    page.locator("#create-attribution-inline").click()
    builder = inline.locator("form.builder")
    builder.locator("input[name=name]").fill("clicks")
    row = builder.locator(".metric-row").nth(0)
    row.locator("[name=metricName]").fill("countClicks")
    row.locator("[name=eventType]").fill("Click")
    builder.locator("[name=path]").fill(f"file://{reports}/")
    builder.get_by_role("button", name="Create metric attribution").click()
    expect(inline).to_contain_text("Metric attribution clicks created")
    assert site.personalize.list_metric_attributions(datasetGroupArn=site.arn)["metricAttributions"]
    page.get_by_role("button", name="Start import").click()
    job = page.locator('#import-jobs tr[data-job="with-new-attribution"]')
    expect(job).to_have_attribute("data-status", "ACTIVE", timeout=30_000)
    expect(job.get_by_role("link", name="Download CSV")).to_be_visible()
    written = list(reports.glob("AggregatedAttributionMetrics - FULL - *.csv"))
    assert len(written) == 1
    assert "COUNTCLICKS,CLICK,1.0,samplecount,banner," in written[0].read_text()


def test_json_mode_and_aws_errors(
    page: Any, dashboard_server: ServerProcess, console: ConsoleLog, tmp_path: Path
) -> None:
    """The JSON mode sends the request as written; a refused one shows the AWS error class and message, and the
    page goes on working."""
    console.expected.append("status of 400")  # the refused request itself, as the browser logs it
    site = Site(dashboard_server)
    open_group(page, dashboard_server, site, "attribution")
    builder = page.locator("#create-attribution form.builder")
    builder.get_by_role("button", name="JSON").click()
    bad = {
        "name": "by-json",
        "metrics": [
            {"eventType": "View", "expression": "SUM(ITEMS.CATEGORY_L1)", "metricName": "sumCategory"}
        ],
        "metricsOutputConfig": {"roleArn": "arn:aws:iam::000000000000:role/x"},
    }
    builder.locator("textarea[name=json]").fill(json.dumps(bad))
    builder.get_by_role("button", name="Create metric attribution").click()
    error = builder.locator(".notice-error")
    expect(error).to_contain_text("InvalidInputException")
    expect(error).to_contain_text("CATEGORY_L1")
    assert site.personalize.list_metric_attributions(datasetGroupArn=site.arn)["metricAttributions"] == []

    # Not valid JSON: said so, nothing sent.
    builder.locator("textarea[name=json]").fill("{not json")
    builder.get_by_role("button", name="Create metric attribution").click()
    expect(error).to_contain_text("not valid")

    good = {**bad, "metrics": [{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}]}
    good["metricsOutputConfig"] = {
        "roleArn": "arn:aws:iam::000000000000:role/x",
        "s3DataDestination": {"path": f"file://{tmp_path}/out/"},
    }
    builder.locator("textarea[name=json]").fill(json.dumps(good))
    builder.get_by_role("button", name="Create metric attribution").click()
    expect(page.locator("#attribution-definition h2")).to_have_text("by-json")

    # Update through the builder (add a metric), then remove one from the table.
    update = page.locator("form.builder-update")
    row = update.locator(".metric-row").nth(0)
    row.locator("[name=metricName]").fill("purchases")
    row.locator("[name=eventType]").fill("Purchase")
    update.get_by_role("button", name="Update metric attribution").click()
    expect(page.locator("#attribution-metrics tbody tr")).to_have_count(2)
    page.locator('#attribution-metrics tr[data-metric="views"]').get_by_role("button", name="Remove").click()
    expect(page.locator("#attribution-metrics tbody tr")).to_have_count(1)
    arn = site.personalize.list_metric_attributions(datasetGroupArn=site.arn)["metricAttributions"][0][
        "metricAttributionArn"
    ]
    names = [
        m["metricName"]
        for m in site.personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    ]
    assert names == ["purchases"]

    # Delete, after confirming.
    page.get_by_role("button", name="Delete attribution").click()
    page.locator("#confirm-delete").click()
    expect(page.locator("#create-attribution")).to_be_visible()
    assert site.personalize.list_metric_attributions(datasetGroupArn=site.arn)["metricAttributions"] == []


def test_metrics_over_days_of_traffic(page: Any, dashboard_server: ServerProcess) -> None:
    """Three sources over the last two days (sent now, dated in the past, as a delayed client sends them): one line
    per source across the range, and totals equal to what was sent."""
    site = Site(dashboard_server, name=unique("storefront"))
    site.personalize.create_metric_attribution(
        name=unique("impact"),
        datasetGroupArn=site.arn,
        metrics=[
            {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
            {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
        ],
        metricsOutputConfig={"roleArn": "arn:aws:iam::000000000000:role/x"},
    )
    site.put_items({"i1": 3.0, "i2": 1.5})
    now = time.time()
    earliest = now
    sent = {"recommended_for_you": 0, "viewed_x_also_viewed": 0, "third_party_carousel": 0}
    rates = {"recommended_for_you": 6, "viewed_x_also_viewed": 4, "third_party_carousel": 2}
    for hour in range(48):
        for source, rate in rates.items():
            # A daily rhythm: busier in the afternoon, quiet at night.
            count = rate + (rate * ((hour + 6) % 24)) // 12
            for quarter in range(4):  # spread over the hour's four windows
                share = count // 4 + (1 if quarter < count % 4 else 0)
                site.send("View", source, share, at=now - hour * 3600 - quarter * 900)
                if share:
                    earliest = min(earliest, now - hour * 3600 - quarter * 900 - (share - 1) / 1000)
            sent[source] += count
            if hour % 4 == 0:
                site.send("Purchase", source, rate // 2, item="i1", at=now - hour * 3600 - 60)
    open_group(page, dashboard_server, site, "metrics")
    views = page.locator('.metric-card[data-metric="COUNTVIEWS"]')

    # By default the charts draw the data's own range, not two days squeezed into the right of fourteen: the
    # chart's left edge is the first window with events, its right edge the last.
    first = int(earliest // 900) * 900
    last = int(now // 900) * 900
    expect(page.locator("#range-drawn")).to_have_text(
        f": {local_time(page, first)} → {local_time(page, last + 900)}"
    )
    box = views.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
    expect(views.locator(".legend-window")).to_have_text(local_time(page, first))
    page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)
    expect(views.locator(".legend-window")).to_have_text(local_time(page, last))
    page.mouse.move(0, 0)
    screenshot(page, "metrics")

    page.locator('.preset[data-span="259200"]').click()
    expect(views).to_have_attribute(
        "data-sources", '["recommended_for_you","third_party_carousel","viewed_x_also_viewed"]', timeout=LIVE
    )
    for source, count in sent.items():
        expect(totals_cell(page, "COUNTVIEWS", source)).to_have_text(f"{count:,}")
    expect(views.locator("tfoot .total")).to_have_text(f"{sum(sent.values()):,}")
    expect(totals_cell(page, "SUMMARGIN", "recommended_for_you")).to_have_text(f"{12 * 3 * 3.0:,.2f}")


@pytest.mark.parametrize("width", [1280, 1920])
def test_readable_on_laptop_and_desktop_widths(
    browser: Any, dashboard_server: ServerProcess, console: ConsoleLog, width: int
) -> None:
    """No horizontal scrolling at laptop and desktop widths, on the densest view."""
    site = Site(dashboard_server)
    site.personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=site.arn,
        metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
        metricsOutputConfig={"roleArn": "arn:aws:iam::000000000000:role/x"},
    )
    site.send("View", "a-very-long-source-name-" + "x" * 60, 1)
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    try:
        open_group(page, dashboard_server, site, "metrics")
        expect(page.locator(".metric-card canvas")).to_have_count(1, timeout=LIVE)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width
    finally:
        context.close()
    assert console.unexpected() == []
