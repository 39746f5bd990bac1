"""A strict CloudWatch for tests: PutMetricData answered as CloudWatch answers it, its documented limits enforced.

moto, the CloudWatch stand-in of the other tests, stores whatever it is sent. CloudWatch refuses the whole
PutMetricData call (400, ``InvalidParameterValue``) when one datum breaks a limit, so a publisher that works
against moto can stall against AWS. The limits below are written out from CloudWatch's documentation (the
PutMetricData, MetricDatum and Dimension pages of the API reference), not taken from the code under test:

- at most 1 MB per request, and 1,000 datums; Namespace 1 to 255 characters, not starting with ``:``;
- MetricName 1 to 255 characters; at most 30 dimensions;
- a dimension name 1 to 255 characters and a value 1 to 1,024, printable ASCII with at least one non-space;
- Value a finite number, 0 or of a magnitude between 2^-360 and 2^360;
- Timestamp at most two weeks old and at most two hours ahead of CloudWatch's clock.

It speaks both protocols botocore uses for CloudWatch: JSON 1.0 with query-compatible errors (botocore 1.42.7 and
later) and the query protocol (earlier releases), and takes gzip bodies (botocore compresses PutMetricData
requests of 10 KiB or more). Accepted datums are recorded for tests to assert on; ``fail_next`` makes the next
calls fail as a throttled or failing CloudWatch does.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

MAX_REQUEST_BYTES = 1_000_000
MAX_DATUMS = 1000
MAX_NAME = 255
MAX_DIMENSIONS = 30
MAX_DIMENSION_VALUE = 1024
MAX_MAGNITUDE = 2.0**360
MIN_MAGNITUDE = 2.0**-360
MAX_AGE_SECONDS = 14 * 86400
MAX_AHEAD_SECONDS = 2 * 3600
_DIMENSION_TEXT = re.compile(r"[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*")
_XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"


@dataclass(frozen=True)
class Datum:
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: float  # epoch seconds
    value: float

    def dimension(self, name: str) -> str:
        return dict(self.dimensions)[name]


class Refused(Exception):
    """An error answer: its HTTP status, CloudWatch's error code and a message."""

    def __init__(self, status: int, code: str, message: str, fault: str = "Sender") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fault = status, code, message, fault


class CloudWatchStandIn:
    """``with CloudWatchStandIn() as cw:`` serves on a free loopback port at ``cw.url``."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.time
        self.accepted: list[Datum] = []
        self.calls = 0  # PutMetricData requests received, refused ones included
        self.refusals: list[str] = []  # the message of each refused call
        self._failures: list[Refused | None] = []  # None: a call that goes through
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="cloudwatch-standin", daemon=True
        )

    def __enter__(self) -> CloudWatchStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int, code: str, after: int = 0) -> None:
        """After ``after`` more calls (and those failures already queued), ``count`` calls fail with ``code``
        (``Throttling`` 400, ``InternalServiceError`` 500, ...) whatever their data."""
        fault = "Receiver" if status >= 500 else "Sender"
        with self._lock:
            self._failures += [None] * after
            self._failures += [Refused(status, code, f"{code} (stand-in)", fault) for _ in range(count)]

    def snapshot(self) -> list[Datum]:
        with self._lock:
            return list(self.accepted)

    def put_metric_data(self, namespace: Any, data: list[dict[str, Any]], size: int) -> None:
        """One call, ``size`` bytes as sent; raises ``Refused`` as CloudWatch would refuse it."""
        with self._lock:
            self.calls += 1
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                raise failure
            try:
                if size > MAX_REQUEST_BYTES:
                    raise Refused(413, "RequestEntityTooLarge", f"The request is {size} bytes, over 1 MB.")
                datums = self._check(namespace, data)
            except Refused as refused:
                self.refusals.append(refused.message)
                raise
            self.accepted += datums

    def _check(self, namespace: Any, data: list[dict[str, Any]]) -> list[Datum]:
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= MAX_NAME or namespace.startswith(":"):
            raise _invalid(f"The parameter Namespace is invalid: {namespace!r}")
        if not 1 <= len(data) <= MAX_DATUMS:
            raise _invalid(f"The collection MetricData must not have more than {MAX_DATUMS} members.")
        now = self.clock()
        datums = []
        for n, item in enumerate(data, 1):
            where = f"MetricData.member.{n}"
            name = item.get("MetricName")
            if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
                raise _invalid(f"The parameter {where}.MetricName must be 1 to {MAX_NAME} characters long.")
            dimensions = item.get("Dimensions") or []
            if len(dimensions) > MAX_DIMENSIONS:
                raise _invalid(
                    f"The collection {where}.Dimensions must not have more than {MAX_DIMENSIONS} members."
                )
            for m, dimension in enumerate(dimensions, 1):
                for part, limit in (("Name", MAX_NAME), ("Value", MAX_DIMENSION_VALUE)):
                    text = dimension.get(part)
                    if not isinstance(text, str) or not 1 <= len(text) <= limit:
                        raise _invalid(
                            f"The parameter {where}.Dimensions.member.{m}.{part} must be 1 to {limit} characters long."
                        )
                    if not _DIMENSION_TEXT.fullmatch(text):
                        raise _invalid(
                            f"The value for parameter {where}.Dimensions.member.{m}.{part} contains non-ASCII"
                            " characters or no non-whitespace character."
                        )
            value = float(item.get("Value", 0.0))
            if not math.isfinite(value) or (value != 0 and not MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE):
                raise _invalid(f"The value {value} for parameter {where}.Value is invalid.")
            timestamp = float(item.get("Timestamp", now))
            if timestamp < now - MAX_AGE_SECONDS or timestamp > now + MAX_AHEAD_SECONDS:
                raise _invalid(
                    f"The parameter {where}.Timestamp must specify a time no more than two weeks in the past and"
                    " no more than two hours in the future."
                )
            datums.append(Datum(name, tuple((d["Name"], d["Value"]) for d in dimensions), timestamp, value))
        return datums


def _invalid(message: str) -> Refused:
    return Refused(400, "InvalidParameterValue", message)


def _handler(standin: CloudWatchStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            sent = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = gzip.decompress(sent) if self.headers.get("Content-Encoding") == "gzip" else sent
            target = self.headers.get("X-Amz-Target", "")
            if target:
                self._json(target, body, len(sent))
            else:
                self._query(body, len(sent))

        def _json(self, target: str, body: bytes, size: int) -> None:
            try:
                if target != "GraniteServiceVersion20100801.PutMetricData":
                    raise Refused(
                        400, "InvalidAction", f"the stand-in answers PutMetricData only, not {target}"
                    )
                request = json.loads(body)
                standin.put_metric_data(request.get("Namespace"), request.get("MetricData") or [], size)
            except Refused as refused:
                # CloudWatch's JSON errors carry the query protocol's code in a header (awsQueryCompatible).
                self._send(
                    refused.status,
                    json.dumps(
                        {"__type": f"com.amazonaws.cloudwatch#{refused.code}", "message": refused.message}
                    ),
                    "application/x-amz-json-1.0",
                    {"x-amzn-query-error": f"{refused.code};{refused.fault}"},
                )
            else:
                self._send(200, "{}", "application/x-amz-json-1.0")

        def _query(self, body: bytes, size: int) -> None:
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            try:
                if form.get("Action") != "PutMetricData":
                    raise Refused(
                        400, "InvalidAction", f"the stand-in answers PutMetricData only, not {form}"
                    )
                standin.put_metric_data(form.get("Namespace"), _query_datums(form), size)
            except Refused as refused:
                self._send(
                    refused.status,
                    f'<ErrorResponse xmlns="{_XMLNS}"><Error><Type>{refused.fault}</Type><Code>{refused.code}</Code>'
                    f"<Message>{escape(refused.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                    "</ErrorResponse>",
                    "text/xml",
                )
            else:
                self._send(
                    200,
                    f'<PutMetricDataResponse xmlns="{_XMLNS}"><ResponseMetadata><RequestId>{uuid.uuid4()}'
                    "</RequestId></ResponseMetadata></PutMetricDataResponse>",
                    "text/xml",
                )

        def _send(
            self, status: int, text: str, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


_MEMBER = re.compile(r"MetricData\.member\.(\d+)\.(.+)")
_DIMENSION = re.compile(r"Dimensions\.member\.(\d+)\.(Name|Value)")


def _query_datums(form: dict[str, str]) -> list[dict[str, Any]]:
    """``MetricData.member.N.MetricName=...`` form fields as the JSON protocol's structures."""
    data: dict[int, dict[str, Any]] = {}
    for key, value in form.items():
        match = _MEMBER.fullmatch(key)
        if not match:
            continue
        item = data.setdefault(int(match[1]), {})
        field = match[2]
        dimension = _DIMENSION.fullmatch(field)
        if dimension:
            item.setdefault("_dimensions", {}).setdefault(int(dimension[1]), {})[dimension[2]] = value
        elif field == "Timestamp":
            item["Timestamp"] = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        else:
            item[field] = value
    for item in data.values():
        dimensions = item.pop("_dimensions", {})
        item["Dimensions"] = [dimensions[m] for m in sorted(dimensions)]
    return [data[n] for n in sorted(data)]
