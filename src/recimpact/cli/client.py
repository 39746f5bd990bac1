"""Clients for the CLI: boto3 for the AWS API, and a small HTTP client for recimpact's own read API
(``wire/read_api.py``)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from recimpact.domain.arns import DEFAULT_REGION, parse_arn
from recimpact.domain.errors import InvalidInputException


class ApiError(Exception):
    """An error answer (in the AWS error format) or an unreachable server, as one readable line."""


def aws_client(service: str, endpoint_url: str, region: str | None = None, arn: str | None = None) -> Any:
    """A boto3 client for the server. Credentials come from boto3's usual chain; when there are none (a server
    without authentication), placeholder keys are used, since botocore refuses to send unsigned requests."""
    import boto3
    import botocore.session

    if region is None:
        region = parse_arn(arn).region if arn else DEFAULT_REGION
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region or DEFAULT_REGION}
    if botocore.session.get_session().get_credentials() is None:
        kwargs |= {"aws_access_key_id": "recimpact", "aws_secret_access_key": "recimpact"}
    return boto3.client(service, **kwargs)


def _signed_headers(url: str, query: dict[str, str], method: str = "GET") -> dict[str, str]:
    """SigV4 headers (service ``personalize``) for a read-API GET, signed with the credentials boto3 would use, so
    a server with a credentials file knows the caller's account. Without credentials the request goes unsigned,
    which only a server without a credentials file accepts."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        return {}
    # The read API takes the region from the ARN it is asked about; sign for that region too.
    region = DEFAULT_REGION
    for key, value in query.items():
        if key.endswith("Arn"):
            with contextlib.suppress(InvalidInputException):
                region = parse_arn(value).region or region
    request = AWSRequest(method=method, url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "personalize", region).add_auth(request)
    return dict(request.headers.items())


def _get(endpoint_url: str, path: str, query: dict[str, str], method: str = "GET") -> bytes:
    # RFC 3986 encoding (%20, not +), the form SigV4's canonical query string uses.
    url = f"{endpoint_url.rstrip('/')}{path}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"
    try:
        request = urllib.request.Request(url, headers=_signed_headers(url, query, method), method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
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


def backfill(
    endpoint_url: str, attribution_arn: str, since: str, publish: bool = True, report: bool = False
) -> Any:
    """Ask the server to count the stored events its live series left out (``POST /api/v1/backfill``)."""
    query = {
        "metricAttributionArn": attribution_arn,
        "since": since,
        "publish": "true" if publish else "false",
        "report": "true" if report else "false",
    }
    return json.loads(_get(endpoint_url, "/api/v1/backfill", query, method="POST"))


def compare(
    endpoint_url: str, attribution_arn: str, metric: str, source_a: str, source_b: str, **options: Any
) -> Any:
    """Source B against source A on one metric (``GET /api/v1/compare``); options: per, start, end, alpha."""
    query = {
        "metricAttributionArn": attribution_arn,
        "metric": metric,
        "sourceA": source_a,
        "sourceB": source_b,
    }
    query |= {key: str(value) for key, value in options.items() if value is not None}
    return json.loads(_get(endpoint_url, "/api/v1/compare", query))
