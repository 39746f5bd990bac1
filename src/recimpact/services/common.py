"""Helpers every operation family shares: wire views of records, lookups that respect the caller's account,
and ``nextToken`` pagination."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from recimpact.domain.errors import (
    InvalidInputException,
    InvalidNextTokenException,
    ResourceNotFoundException,
)
from recimpact.domain.resources import Resource
from recimpact.services.context import RequestContext
from recimpact.store.catalog import CatalogTx

R = TypeVar("R", bound=Resource)
T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100


# Members whose AWS spelling keeps an acronym upper-case.
_ACRONYMS = {
    "performHpo": "performHPO",
    "performAutoMl": "performAutoML",
    "minProvisionedTps": "minProvisionedTPS",
}


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    name = head + "".join(part.capitalize() for part in rest)
    return _ACRONYMS.get(name, name)


def wire_view(obj: Any) -> Any:
    """A record as the API shows it: camelCase keys, internal fields left out. A resource's ``arn`` is named
    after its kind (``datasetGroupArn``, ``metricAttributionArn``...). Members the operation's output shape does not
    have are dropped later by the serializer, so one view serves both Describe and List summaries."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        view: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("internal"):
                continue
            key = camel(f.name)
            if isinstance(obj, Resource) and key == "arn":
                key = camel(obj.kind.replace("-", "_")) + "Arn"
            elif isinstance(obj, Resource) and key == "name":
                key = obj.name_member
            view[key] = wire_view(getattr(obj, f.name))
        return view
    if isinstance(obj, list):
        return [wire_view(item) for item in obj]
    return obj


def require(tx: CatalogTx, ctx: RequestContext, cls: type[R], arn: str | None, member: str) -> R:
    """The record at ``arn`` in the caller's account and region, or ResourceNotFoundException. Another account's
    resource is reported as missing, never as forbidden, so ARNs reveal nothing across tenants."""
    if not arn:
        raise InvalidInputException(f"{member} is required")
    record = tx.get(cls, arn)
    if record is None or not visible(record, ctx):
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    return record


def visible(record: Resource, ctx: RequestContext) -> bool:
    """Resources are regional and belong to one account: another region's or account's record does not exist
    for this caller."""
    return record.account == ctx.scope.account and record.region == ctx.scope.region


def resource_order(record: Resource) -> tuple[Any, ...]:
    """The order of every List: newest first, ties broken by ARN (the catalog's own order)."""
    return (-record.creation_date_time, record.arn)


def paginate(
    items: Sequence[T], params: dict[str, Any], key: Callable[[T], tuple[Any, ...]]
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted ascending by ``key``) and the ``nextToken`` for the next one.

    The token is a cursor (the key of the last item returned), not an offset, so records created or deleted
    between two calls neither repeat nor vanish from the pages. A token that does not decode is refused with
    InvalidNextTokenException, as AWS does."""
    start = 0
    token = params.get("nextToken")
    if token:
        after = _decode_token(token)
        try:
            start = next((i for i, item in enumerate(items) if list(key(item)) > after), len(items))
        except TypeError:  # a token from another List, whose key has other types
            raise InvalidNextTokenException("Invalid next token.") from None
    size = params.get("maxResults") or DEFAULT_PAGE_SIZE
    page = list(items[start : start + size])
    more = start + len(page) < len(items)
    return page, (_encode_token(key(page[-1])) if more and page else None)


def _encode_token(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidNextTokenException("Invalid next token.") from None
    if not isinstance(key, list) or not key or not all(isinstance(k, str | int | float) for k in key):
        raise InvalidNextTokenException("Invalid next token.")
    return key


def describe_one(ctx: RequestContext, cls: type[R], params: dict[str, Any], member: str) -> dict[str, Any]:
    """A Describe call: the record named by ``<member>Arn``, shown under ``member``."""
    arn_member = member + "Arn"
    with ctx.catalog.transaction() as tx:
        record = require(tx, ctx, cls, params.get(arn_member), arn_member)
    return {member: wire_view(record)}


def list_page(
    ctx: RequestContext, cls: type[R], params: dict[str, Any], member: str, parent_member: str | None = None
) -> dict[str, Any]:
    """A List call: one page of the caller's records of a kind (under the parent ``parent_member`` names, if
    given), newest first."""
    with ctx.catalog.transaction() as tx:
        found = tx.list(cls, ctx.scope, parent=params.get(parent_member) if parent_member else None)
    page, token = paginate(found, params, resource_order)
    return {member: wire_view(page), "nextToken": token}
