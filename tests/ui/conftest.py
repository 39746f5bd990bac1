"""The dashboard in Debian's Chromium, driven by Playwright: a server of its own (reports go to local folders),
one browser per session, and a page per test that fails the test on any console error or page error."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api as playwright_api  # a dev dependency: missing, the suite fails, never skips

from recimpact.simulate import EVENT_ATTRIBUTION_SOURCE_FIELD, ITEMS_SCHEMA, interactions_schema
from tests.conftest import unique
from tests.server import ServerProcess

CHROMIUM = os.environ.get("RECIMPACT_CHROMIUM", "/usr/bin/chromium")
# The docs' screenshots (docs/screenshots) are rewritten only on request, by `make screenshots`: a plain test run
# saves them in a temporary folder and leaves the working tree as it found it.
SCREENSHOTS = Path(
    os.environ.get("RECIMPACT_SCREENSHOTS") or Path(tempfile.gettempdir()) / "recimpact-screenshots"
)
VIEWPORT = {"width": 1440, "height": 900}  # a laptop screen
INTERACTIONS_SCHEMA = interactions_schema(EVENT_ATTRIBUTION_SOURCE_FIELD)


@pytest.fixture(scope="session")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("dashboard-data")) as proc:
        yield proc


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make venv` installs Debian's chromium")
    with playwright_api.sync_playwright() as playwright:
        # Never `playwright install` (no downloads): the system's Chromium, headless.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class ConsoleLog:
    """Console errors and uncaught page errors; a test that expects an error response declares it."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.expected: list[str] = []

    def on_console(self, message: Any) -> None:
        if message.type in ("error", "assert"):
            self.problems.append(f"console.{message.type}: {message.text}")

    def on_page_error(self, error: Any) -> None:
        self.problems.append(f"page error: {error}")

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(e in p for e in self.expected)]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser: Any, dashboard_server: ServerProcess, console: ConsoleLog) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert console.unexpected() == [], "the dashboard logged errors"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


class Site:
    """A dataset group (Interactions with EVENT_ATTRIBUTION_SOURCE, Items with MARGIN and PRICE) and its event
    tracker, made through boto3 as a user would; events sent with the personalize-events client."""

    def __init__(self, server: ServerProcess, name: str | None = None) -> None:
        self.personalize = server.client("personalize")
        self.events = server.client("personalize-events")
        self.name = name or unique("shop")
        self.arn = self.personalize.create_dataset_group(name=self.name)["datasetGroupArn"]
        interactions = self.personalize.create_schema(
            name=unique("interactions"), schema=json.dumps(INTERACTIONS_SCHEMA)
        )["schemaArn"]
        items = self.personalize.create_schema(name=unique("items"), schema=json.dumps(ITEMS_SCHEMA))[
            "schemaArn"
        ]
        self.interactions_dataset = self.personalize.create_dataset(
            name="interactions", datasetGroupArn=self.arn, datasetType="Interactions", schemaArn=interactions
        )["datasetArn"]
        self.items_dataset = self.personalize.create_dataset(
            name="items", datasetGroupArn=self.arn, datasetType="Items", schemaArn=items
        )["datasetArn"]
        tracker = self.personalize.create_event_tracker(name=unique("web"), datasetGroupArn=self.arn)
        self.tracking_id = tracker["trackingId"]

    def put_items(self, margins: dict[str, float]) -> None:
        self.events.put_items(
            datasetArn=self.items_dataset,
            items=[
                {"itemId": item, "properties": json.dumps({"margin": margin, "price": margin * 4})}
                for item, margin in margins.items()
            ],
        )

    def send(
        self, event_type: str, source: str, count: int, item: str = "i1", at: float | None = None
    ) -> None:
        """``count`` distinct events of one type from one source, now (or at ``at``), ten per PutEvents call.
        Each is a millisecond apart: events identical in every attribute count once."""
        sent_at = at if at is not None else time.time()
        events = [
            {
                "eventId": unique("e"),
                "eventType": event_type,
                "sentAt": sent_at - n / 1000,
                "itemId": item,
                "metricAttribution": {"eventAttributionSource": source},
            }
            for n in range(count)
        ]
        for start in range(0, len(events), 10):
            self.events.put_events(
                trackingId=self.tracking_id, userId="u1", sessionId="s1", eventList=events[start : start + 10]
            )
