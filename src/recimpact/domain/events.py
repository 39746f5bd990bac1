"""Interactions, items and users as PutEvents / PutItems / PutUsers deliver them, checked against the schema.

``properties`` arrives as a JSON document inside a string; its camelCase keys name schema fields in UPPER_SNAKE
(``numberOfRatings`` → ``NUMBER_OF_RATINGS``). Keys that duplicate a dedicated member of the event are forbidden.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.schema import DatasetSchema, load_json_text
from recimpact.domain.values import IMPRESSION_SEPARATOR, number_problem, timestamp_problem, value_problem

# AWS: these property keys are forbidden, compared case-insensitively.
FORBIDDEN_EVENT_PROPERTIES = frozenset(
    {"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"}
)
# Interactions fields carried by dedicated members of an event, never by ``properties``.
_EVENT_MEMBER_FIELDS = frozenset(
    {
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ATTRIBUTION_SOURCE",
    }
)
# ``re``, not ``regex``: ``regex`` lets go of the GIL while it matches, and request handlers should not.
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "string": (str,),
    "boolean": (bool,),
}


@functools.lru_cache(maxsize=4096)
def schema_field_name(key: str) -> str:
    """``numberOfRatings`` → ``NUMBER_OF_RATINGS``; ``MARGIN`` and ``category_l1`` keep their words."""
    return str(_CAMEL_BOUNDARY.sub("_", key)).upper()


def _typed(column_type: str, value: Any) -> Any:
    """A property's value as a bulk row of the same column holds it: a float/double column's 5 is 5.0, so the
    event's content (and its dedupe key) is the same whichever path it arrives by."""
    if column_type in ("float", "double") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def parse_properties(
    text: str | None,
    schema: DatasetSchema,
    excluded: frozenset[str],
    where: str,
    forbidden: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Map a ``properties`` JSON string onto ``schema``'s columns, checking names and types; a key in
    ``forbidden`` (lower-case) is refused before any other."""
    if text is None:
        return {}
    doc = load_json_text(text, f"{where}: properties")
    if not isinstance(doc, dict):
        raise InvalidInputException(f"{where}: properties must be a JSON object string")
    named = [key for key in doc if key.lower() in forbidden] if forbidden else []
    if named:
        raise InvalidInputException(f"{where}: properties may not contain the key {named[0]!r}")
    values: dict[str, Any] = {}
    for key, value in doc.items():
        name = schema_field_name(key)
        column = schema.column(name)
        if column is None or column.name.upper() in excluded:
            raise InvalidInputException(f"{where}: property {key!r} does not match a field of the schema")
        if value is None:
            if not column.nullable:
                raise InvalidInputException(f"{where}: property {key!r} ({column.name}) cannot be null")
            continue  # a null is no value, as an empty cell of a bulk row is
        if isinstance(value, bool) != (column.type == "boolean") or not isinstance(
            value, _PYTHON_TYPES[column.type]
        ):
            raise InvalidInputException(
                f"{where}: property {key!r} ({column.name}) must be of type {column.type}, got {value!r}"
            )
        problem = value_problem(column.type, value)
        if problem is not None:
            raise InvalidInputException(f"{where}: property {key!r} ({column.name}) {value!r} {problem}")
        values[column.name.upper()] = _typed(column.type, value)
    return values


@dataclass(slots=True)
class Interaction:
    """One event of a PutEvents call (or one row of an interactions import), normalized. Not to be changed once
    made (its content key is derived from it); not frozen, because a frozen dataclass's ``__init__`` costs several
    times more, and ten of them are made for every PutEvents call on the event loop."""

    event_type: str
    sent_at: float  # epoch seconds, the event's TIMESTAMP
    session_id: str | None = None
    user_id: str | None = None
    event_id: str | None = None
    event_value: float | None = None
    item_id: str | None = None
    recommendation_id: str | None = None
    attribution_source: str | None = None  # eventAttributionSource as sent
    impression: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)  # UPPER_SNAKE column → value
    content_key: bytes = field(init=False, repr=False, compare=False)
    impression_json: str | None = field(init=False, repr=False, compare=False)
    properties_json: str | None = field(init=False, repr=False, compare=False)

    def value_of(self, column: str) -> Any:
        """An Interactions column's value: EVENT_VALUE from its member, any other from ``properties``."""
        if column == "EVENT_VALUE":
            return self.event_value
        return self.properties.get(column)

    def __post_init__(self) -> None:
        # What storing the event needs, computed once where the event is parsed, outside the commit, which holds
        # the write turn every other writer waits for.
        # Identity of the event as an Interactions record: every field a dataset row holds, so an event sent with
        # PutEvents and the same row of an INCREMENTAL import are one event, and a retried call whose client minted
        # fresh event ids still counts once (AWS keeps one of two events that match in every attribute). Neither
        # eventId nor, for a known user, sessionId is a field of the record; an anonymous visitor (no userId) is
        # told apart by the session. ``repr`` keeps types apart (1, 1.0 and "1" differ), which is why values are
        # typed by their column (``_typed``) on every path.
        content = (
            self.event_type,
            self.sent_at,
            self.user_id,
            None if self.user_id else self.session_id,
            self.event_value,
            self.item_id,
            self.recommendation_id,
            self.attribution_source,
            self.impression,
            tuple(sorted(self.properties.items())) if self.properties else (),
        )
        self.content_key = hashlib.blake2b(repr(content).encode(), digest_size=16).digest()
        self.impression_json = json.dumps(list(self.impression)) if self.impression else None
        self.properties_json = json.dumps(self.properties, separators=(",", ":")) if self.properties else None


def parse_event(
    event: dict[str, Any], user_id: str | None, session_id: str, schema: DatasetSchema, index: int
) -> Interaction:
    """A PutEvents ``eventList`` member (already checked against the model) as an Interaction."""
    where = f"eventList.{index + 1}"
    source = (event.get("metricAttribution") or {}).get("eventAttributionSource")
    sent_at = float(event["sentAt"])
    problem = timestamp_problem(sent_at)
    if problem is not None:
        raise InvalidInputException(f"{where}: sentAt {event['sentAt']!r} {problem}")
    value = event.get("eventValue")
    if value is not None:
        problem = number_problem(float(value))
        if problem is not None:
            raise InvalidInputException(f"{where}: eventValue {value!r} {problem}")
    return Interaction(
        event_type=event["eventType"],
        sent_at=sent_at,
        session_id=session_id,
        user_id=user_id,
        event_id=event.get("eventId"),
        event_value=float(value) if value is not None else None,
        item_id=event.get("itemId"),
        recommendation_id=event.get("recommendationId"),
        attribution_source=source,
        impression=tuple(event.get("impression") or ()),
        properties=parse_properties(
            event.get("properties"), schema, _EVENT_MEMBER_FIELDS, where, FORBIDDEN_EVENT_PROPERTIES
        ),
    )


def interaction_from_record(record: Mapping[str, Any]) -> Interaction:
    """A row of an Interactions import (upper-case columns, values typed by the schema, None where empty) as the
    Interaction the same event sent with PutEvents would be, so the two have one content key: reserved fields fill
    their members (TIMESTAMP the event time, IMPRESSION split at ``|``), the other columns are its properties."""
    impression = record.get("IMPRESSION")
    value = record.get("EVENT_VALUE")
    return Interaction(
        event_type=record.get("EVENT_TYPE") or "",
        sent_at=float(record["TIMESTAMP"]),
        user_id=record.get("USER_ID"),
        event_value=None if value is None else float(value),
        item_id=record.get("ITEM_ID"),
        recommendation_id=record.get("RECOMMENDATION_ID"),
        attribution_source=record.get("EVENT_ATTRIBUTION_SOURCE"),
        impression=tuple(impression.split(IMPRESSION_SEPARATOR)) if impression else (),
        properties={
            name: value
            for name, value in record.items()
            if value is not None and name not in _EVENT_MEMBER_FIELDS
        },
    )
