"""The AWS protocols: JSON 1.1 (``personalize``) and rest-json (``personalize-events``, ``personalize-runtime``).

Requests are parsed and checked against the operation's input shape; responses are serialized by walking its output
shape, so handlers return plain dicts and members the shape lacks never leak. Errors carry their AWS name in both
the body's ``__type`` (what botocore reads for JSON 1.1) and the ``x-amzn-ErrorType`` header (what it reads first
for rest-json); the status comes from the model where it declares one.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from typing import Any

from starlette.responses import Response

from recimpact.domain.errors import InvalidInputException, ServiceError
from recimpact.domain.schema import MAX_JSON_NESTING, json_nesting_exceeds
from recimpact.domain.service_names import CONTROL
from recimpact.wire.models import error_status, service_model
from recimpact.wire.validation import validate_input

CONTENT_TYPES = {"json": "application/x-amz-json-1.1", "rest-json": "application/json"}


def parse_request(operation: Any, body: bytes) -> dict[str, Any]:
    """Decode the JSON body and check it against the operation's input shape."""
    if not body.strip():
        params: Any = {}
    else:
        # UnicodeDecodeError: not UTF-8, which AWS requires (and ``json.loads`` of bytes would also read UTF-16
        # and UTF-8-encoded surrogates); ValueError: JSONDecodeError, integers over Python's 4300 digits.
        try:
            text = body.decode("utf-8")
            if json_nesting_exceeds(text):
                raise ValueError(f"nested more than {MAX_JSON_NESTING} levels deep")
            params = json.loads(text)
        except ValueError as exc:
            raise InvalidInputException(f"The request body is not valid JSON: {exc}") from None
        if _ESCAPED_SURROGATE.search(text):
            refuse_lone_surrogates(params)
    return validate_input(operation.input_shape, params)


# JSON may escape a UTF-16 surrogate (``\udcff``) that has no partner, and ``json`` decodes it to a str that no
# encoder will write: it would fail at the store, far from the request. Only bodies holding such an escape are
# walked, so the common request pays for one regex search.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def refuse_lone_surrogates(document: Any) -> None:
    """Raise InvalidInputException naming the first string (value or key) holding an unpaired surrogate. The
    walk is iterative: the document may be nested as deeply as the JSON decoder allows."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if not _is_unicode(value):
                raise _not_unicode("Value", path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _is_unicode(key):
                    raise _not_unicode("Key", path)
                pending.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            pending.extend((f"{path}.{index + 1}.member", item) for index, item in enumerate(value))


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_unicode(what: str, path: str) -> InvalidInputException:
    return InvalidInputException(
        f"1 validation error detected: {what} at '{path}' failed to satisfy constraint: "
        "Member must be Unicode text (it holds an unpaired UTF-16 surrogate)"
    )


def serialize(shape: Any, value: Any) -> Any:
    """Shape ``value`` as the output model says: unknown members dropped, timestamps as epoch seconds."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        result = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                result[name] = serialize(member, item)
        return result
    if kind == "list":
        return [serialize(shape.member, item) for item in value]
    if kind == "map":
        return {key: serialize(shape.value, item) for key, item in value.items()}
    if kind == "timestamp" and isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def _headers(protocol: str) -> dict[str, str]:
    return {"x-amzn-RequestId": request_id(), "Content-Type": CONTENT_TYPES[protocol]}


def request_id() -> str:
    """A random version-4 UUID, from ``random`` rather than ``uuid.uuid4``: an id needs no secrecy, and
    ``os.urandom`` lets go of the GIL, which the event loop then waits to get back from any busy thread."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def success_response(service: str, operation: Any, result: dict[str, Any] | None) -> Response:
    protocol = service_model(service).protocol
    if operation.output_shape is None:
        # JSON 1.1 answers "{}"; rest-json operations without output answer an empty body, as AWS documents.
        return Response(b"{}" if protocol == "json" else b"", 200, _headers(protocol))
    body = serialize(operation.output_shape, result or {})
    return Response(json.dumps(body, separators=(",", ":")).encode(), 200, _headers(protocol))


def error_response(service: str, error: ServiceError) -> Response:
    protocol = service_model(service).protocol if service else "json"
    status = (error_status(service, error.code) if service != CONTROL else None) or error.status
    headers = _headers(protocol)
    headers["x-amzn-ErrorType"] = error.code
    body = json.dumps({"__type": error.code, "message": error.message}, separators=(",", ":")).encode()
    return Response(body, status, headers)
