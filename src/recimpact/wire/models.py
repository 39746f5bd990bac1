"""botocore's service models, the single source of truth for every shape on the wire."""

from __future__ import annotations

import functools
from typing import Any

import botocore.session

from recimpact.domain.service_names import EVENTS, RUNTIME

JSON_TARGET_PREFIX = "AmazonPersonalize"


@functools.cache
def service_model(name: str) -> Any:
    """A ``botocore.model.ServiceModel`` (loaded once; loading parses a large JSON file)."""
    return botocore.session.get_session().get_service_model(name)


@functools.cache
def rest_routes() -> dict[tuple[str, str], tuple[str, str]]:
    """(HTTP method, path) → (service, operation) for the rest-json services. Their paths do not overlap."""
    routes: dict[tuple[str, str], tuple[str, str]] = {}
    for service in (EVENTS, RUNTIME):
        model = service_model(service)
        for name in model.operation_names:
            http = model.operation_model(name).http
            routes[(http["method"], http["requestUri"])] = (service, name)
    return routes


@functools.cache
def error_status(service: str, code: str) -> int | None:
    """The HTTP status a service's model declares for an error (rest-json: 400/404/409), if any."""
    for shape in service_model(service).error_shapes:
        if shape.name == code:
            status = (shape.metadata.get("error") or {}).get("httpStatusCode")
            return int(status) if status else None
    return None
