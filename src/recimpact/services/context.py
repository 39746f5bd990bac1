"""What every handler receives besides its parameters: who is calling, and where state lives.

The background work a request hands off (``JobQueue``) and the progress the read API shows of it (``HasSnapshot``)
are Protocols here: ``jobs`` implements them, and the handlers and the read API that use them need not import it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from recimpact.domain.arns import Scope
from recimpact.settings import Settings
from recimpact.store.catalog import Catalog
from recimpact.store.interfaces import EventStore


class JobQueue(Protocol):
    """Background work (import jobs, training) handed off by a request and run by one of the server's runners."""

    def submit(self, arn: str) -> None: ...


class HasSnapshot(Protocol):
    """A running import job's progress, as the read API shows it: the primary's ``JobProgress``, or another
    process's copy of it (``jobs/progress.py``)."""

    def snapshot(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RequestContext:
    scope: Scope  # the caller's account and the region of its request
    catalog: Catalog
    events: EventStore
    settings: Settings = field(default_factory=Settings)
    jobs: JobQueue | None = None  # import jobs
    training: JobQueue | None = None  # recommenders and solution versions to train
    # Per-server memo for derived configuration (services key their entries by catalog generation).
    shared: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = field(default=time.time)  # epoch seconds; tests may pin it
