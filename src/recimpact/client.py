"""A small client for recimpact's own read API (the CLI's side of ``wire/read_api.py``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ApiError(Exception):
    """An error answer (in the AWS error format) or an unreachable server, as one readable line."""


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            doc = json.loads(payload)
            raise ApiError(f"{doc.get('__type', exc.code)}: {doc.get('message', '')}") from None
        except (json.JSONDecodeError, AttributeError):
            raise ApiError(f"HTTP {exc.code}: {payload[:200]!r}") from None
    except urllib.error.URLError as exc:
        raise ApiError(f"cannot reach {url.split('/api/')[0]}: {exc.reason}") from None


def get_series(
    endpoint_url: str, attribution_arn: str, start: str | None, end: str | None, fmt: str = "json"
) -> Any:
    """The live series as the JSON document (``fmt='json'``) or CSV text (``fmt='csv'``)."""
    query = {"metricAttributionArn": attribution_arn, "format": fmt}
    if start:
        query["start"] = start
    if end:
        query["end"] = end
    body = _get(f"{endpoint_url.rstrip('/')}/api/v1/series?{urllib.parse.urlencode(query)}")
    return body.decode() if fmt == "csv" else json.loads(body)
