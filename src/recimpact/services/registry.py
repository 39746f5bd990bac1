"""The one table from (service, operation name) to handler. The wire layer looks handlers up here; adding an
operation is writing one decorated function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# Re-exported: every handler module registers under them (``@operation(CONTROL, "CreateSchema")``).
from recimpact.domain.service_names import CONTROL as CONTROL
from recimpact.domain.service_names import EVENTS as EVENTS
from recimpact.domain.service_names import RUNTIME as RUNTIME
from recimpact.services.context import RequestContext

Params = dict[str, Any]
Result = dict[str, Any] | None
# A plain function runs on a worker thread (it may block on the catalog); a coroutine function runs on the event
# loop and must not block (the ingest handlers, which await the event store's group commit).
Handler = Callable[[RequestContext, Params], Result] | Callable[[RequestContext, Params], Awaitable[Result]]

_HANDLERS: dict[tuple[str, str], Handler] = {}


def operation(service: str, name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        key = (service, name)
        if key in _HANDLERS:
            raise RuntimeError(f"operation {service}.{name} registered twice")
        _HANDLERS[key] = handler
        return handler

    return register


def lookup(service: str, name: str) -> Handler | None:
    return _HANDLERS.get((service, name))


def registered() -> list[tuple[str, str]]:
    return sorted(_HANDLERS)
