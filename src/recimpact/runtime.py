"""The server's long-lived state: settings and stores, opened once and closed on shutdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recimpact.domain.arns import Scope
from recimpact.services.context import RequestContext
from recimpact.settings import Settings
from recimpact.sinks.cloudwatch import CloudWatchPublisher
from recimpact.store.catalog import Catalog, SqliteCatalog
from recimpact.store.events import EventStore


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog: Catalog = SqliteCatalog(data_dir / "catalog.sqlite3")
        self.events = EventStore(data_dir / "events.sqlite3")
        self.shared: dict[str, Any] = {}
        self.publisher: CloudWatchPublisher | None = None
        if settings.publishes_to_cloudwatch:
            self.publisher = CloudWatchPublisher(
                self.events, self.catalog, self._cloudwatch_client, interval=settings.cloudwatch_interval
            )
            self.publisher.start()

    def _cloudwatch_client(self, region: str) -> Any:
        """CloudWatch in the dataset group's region; credentials from boto3's usual chain (environment,
        profile, instance role), as any AWS tool finds them."""
        import boto3

        return boto3.client(
            "cloudwatch", region_name=region, endpoint_url=self.settings.cloudwatch_endpoint_url
        )

    def context(self, scope: Scope) -> RequestContext:
        return RequestContext(scope=scope, catalog=self.catalog, events=self.events, shared=self.shared)

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
        self.events.close()
        self.catalog.close()
