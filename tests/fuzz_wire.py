"""Sending fuzzed AWS requests to a live server and judging its answers as botocore would read them.

Shared by the fuzz suites (``tests/integration/test_fuzz.py``, ``tests/integration/test_model_fuzz.py``).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from botocore.parsers import create_parser

from recimpact.domain.service_names import CONTROL
from recimpact.wire.models import JSON_TARGET_PREFIX, error_status, service_model
from tests.server import ServerProcess

# Errors any operation may answer besides those its service models: the transport's own.
TRANSPORT_ERRORS = frozenset({"RequestEntityTooLargeException", "RequestTimeoutException"})


def request_for(service: str, operation_name: str, body: bytes) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) as botocore sends the call."""
    if service == CONTROL:
        headers = {
            "X-Amz-Target": f"{JSON_TARGET_PREFIX}.{operation_name}",
            "Content-Type": "application/x-amz-json-1.1",
        }
        return "/", headers, body
    http = service_model(service).operation_model(operation_name).http
    return http["requestUri"], {"Content-Type": "application/json"}, body


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error_code(self) -> str | None:
        return self.headers.get("x-amzn-errortype") if self.status != 200 else None


class Wire:
    """One keep-alive connection that re-opens itself when the server closes it."""

    def __init__(self, server: ServerProcess) -> None:
        parts = urllib.parse.urlsplit(server.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn: http.client.HTTPConnection | None = None
        self.sent = 0

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body, headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            if answer.headers.get("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            self.sent += 1
            return answer
        raise AssertionError("unreachable")

    def post(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return self.send("POST", path, headers, body)

    def call(self, service: str, operation_name: str, body: bytes) -> Answer:
        return self.post(*request_for(service, operation_name, body))

    def read(self, operation_name: str, **params: Any) -> Any:
        """A control-plane call that must succeed (the fuzz's own observations)."""
        answer = self.call(CONTROL, operation_name, json.dumps(params).encode())
        assert answer.status == 200, (operation_name, params, answer)
        return answer.json()

    def get(self, path: str, **query: str) -> Any:
        answer = self.send("GET", f"{path}?{urllib.parse.urlencode(query)}", {}, None)
        assert answer.status == 200, (path, query, answer)
        return answer.json()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def answer_problems(service: str, operation_name: str, answer: Answer) -> list[str]:
    """What is wrong with an answer as an AWS client reads it: a 5xx, an error not in the AWS format (the
    ``x-amzn-ErrorType`` header and a ``{"__type", "message"}`` body agreeing), a name botocore has no class for,
    a status other than the model's, or a success botocore cannot parse."""
    model = service_model(service)
    operation = model.operation_model(operation_name)
    if answer.status >= 500:
        return [f"{answer.status}: {answer.body[:300]!r}"]
    raw = {"status_code": answer.status, "headers": answer.headers, "body": answer.body}
    parser = create_parser(model.protocol)
    if answer.status == 200:
        try:
            parser.parse(raw, operation.output_shape)
        except Exception as exc:
            return [f"botocore cannot parse the success: {exc!r}"]
        return []
    problems = []
    code = answer.headers.get("x-amzn-errortype")
    try:
        body = json.loads(answer.body)
    except ValueError:
        return [f"error body is not JSON: {answer.body[:200]!r}"]
    if not isinstance(body, dict) or body.get("__type") != code or not isinstance(body.get("message"), str):
        problems.append(f"error is not in the AWS format: header {code!r}, body {body!r}")
    modeled = {shape.name for shape in model.error_shapes}
    if code not in modeled | TRANSPORT_ERRORS:
        problems.append(f"{code} is not an error of {service}")
    expected = error_status(service, code) or 400 if code in modeled else answer.status
    if answer.status != expected:
        problems.append(f"{code} answered with {answer.status}, the model says {expected}")
    parsed = parser.parse(raw, operation.output_shape)
    if parsed.get("Error", {}).get("Code") != code:
        problems.append(f"botocore reads the error as {parsed.get('Error')!r}")
    return problems
