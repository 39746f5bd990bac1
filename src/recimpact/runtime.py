"""The server's long-lived state: settings and stores, opened once and closed on shutdown."""

from __future__ import annotations

from pathlib import Path

from recimpact.domain.arns import Scope
from recimpact.services.context import RequestContext
from recimpact.settings import Settings
from recimpact.store.catalog import Catalog, SqliteCatalog


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog: Catalog = SqliteCatalog(data_dir / "catalog.sqlite3")

    def context(self, scope: Scope) -> RequestContext:
        return RequestContext(scope=scope, catalog=self.catalog)

    def close(self) -> None:
        self.catalog.close()
