"""Clients for the CLI: boto3 for the AWS API, and a small HTTP client for recimpact's own read API
(``wire/read_api.py``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from recimpact.domain.arns import parse_arn


class ApiError(Exception):
    """An error answer (in the AWS error format) or an unreachable server, as one readable line."""


def aws_client(service: str, endpoint_url: str, region: str | None = None, arn: str | None = None) -> Any:
    """A boto3 client for the server. Credentials come from boto3's usual chain; when there are none (a server
    without authentication), placeholder keys are used, since botocore refuses to send unsigned requests."""
    import boto3
    import botocore.session

    if region is None:
        region = parse_arn(arn).region if arn else "us-east-1"
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region or "us-east-1"}
    if botocore.session.get_session().get_credentials() is None:
        kwargs |= {"aws_access_key_id": "recimpact", "aws_secret_access_key": "recimpact"}
    return boto3.client(service, **kwargs)


def _get(endpoint_url: str, path: str, query: dict[str, str]) -> bytes:
    url = f"{endpoint_url.rstrip('/')}{path}?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            doc = json.loads(payload)
        except json.JSONDecodeError:
            raise ApiError(f"HTTP {exc.code}: {payload[:200]!r}") from None
        raise ApiError(f"{doc.get('__type', exc.code)}: {doc.get('message', '')}") from None
    except urllib.error.URLError as exc:
        raise ApiError(f"cannot reach {endpoint_url}: {exc.reason}") from None
    except OSError as exc:
        raise ApiError(f"cannot reach {endpoint_url}: {exc}") from None


def get_series(
    endpoint_url: str, attribution_arn: str, start: str | None, end: str | None, fmt: str = "json"
) -> Any:
    """The live series as the JSON document (``fmt='json'``) or CSV text (``fmt='csv'``)."""
    query = {"metricAttributionArn": attribution_arn, "format": fmt}
    if start:
        query["start"] = start
    if end:
        query["end"] = end
    body = _get(endpoint_url, "/api/v1/series", query)
    return body.decode() if fmt == "csv" else json.loads(body)


def list_reports(endpoint_url: str, attribution_arn: str) -> list[dict[str, Any]]:
    doc = json.loads(_get(endpoint_url, "/api/v1/reports", {"metricAttributionArn": attribution_arn}))
    reports: list[dict[str, Any]] = doc["reports"]
    return reports


def get_report(endpoint_url: str, attribution_arn: str, name: str) -> bytes:
    return _get(endpoint_url, "/api/v1/reports/file", {"metricAttributionArn": attribution_arn, "name": name})


def import_progress(endpoint_url: str, job_arn: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        _get(endpoint_url, "/api/v1/import-jobs/progress", {"datasetImportJobArn": job_arn})
    )
    return doc
