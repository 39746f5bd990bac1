"""Interactions, items and users as PutEvents / PutItems / PutUsers deliver them, checked against the schema.

``properties`` arrives as a JSON document inside a string; its camelCase keys name schema fields in UPPER_SNAKE
(``numberOfRatings`` → ``NUMBER_OF_RATINGS``). Keys that duplicate a dedicated member of the event are forbidden.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.schema import DatasetSchema

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


def parse_properties(
    text: str | None, schema: DatasetSchema, excluded: frozenset[str], where: str
) -> dict[str, Any]:
    """Map a ``properties`` JSON string onto ``schema``'s columns, checking names and types."""
    if text is None:
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidInputException(f"{where}: properties must be a JSON object string") from None
    if not isinstance(doc, dict):
        raise InvalidInputException(f"{where}: properties must be a JSON object string")
    values: dict[str, Any] = {}
    for key, value in doc.items():
        name = schema_field_name(key)
        column = schema.column(name)
        if column is None or column.name.upper() in excluded:
            raise InvalidInputException(f"{where}: property {key!r} does not match a field of the schema")
        if value is None:
            if not column.nullable:
                raise InvalidInputException(f"{where}: property {key!r} ({column.name}) cannot be null")
        elif isinstance(value, bool) != (column.type == "boolean") or not isinstance(
            value, _PYTHON_TYPES[column.type]
        ):
            raise InvalidInputException(
                f"{where}: property {key!r} ({column.name}) must be of type {column.type}, got {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputException(f"{where}: property {key!r} ({column.name}) must be a finite number")
        values[column.name.upper()] = value
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
        content = (
            self.event_type,
            self.sent_at,
            self.session_id,
            self.user_id,
            self.event_value,
            self.item_id,
            self.recommendation_id,
            self.attribution_source,
            self.impression,
            tuple(sorted(self.properties.items())) if self.properties else (),
        )
        # Identity of the event's content, all attributes but ``eventId``: AWS keeps one of two events that match
        # in every attribute, so a retried call whose client minted fresh event ids still counts once. ``repr``
        # keeps types apart (1, 1.0 and "1" differ).
        self.content_key = hashlib.blake2b(repr(content).encode(), digest_size=16).digest()
        self.impression_json = json.dumps(list(self.impression)) if self.impression else None
        self.properties_json = json.dumps(self.properties, separators=(",", ":")) if self.properties else None


def parse_event(
    event: dict[str, Any], user_id: str | None, session_id: str, schema: DatasetSchema, index: int
) -> Interaction:
    """A PutEvents ``eventList`` member (already checked against the model) as an Interaction."""
    where = f"eventList.{index + 1}"
    properties = event.get("properties")
    if properties is not None:
        try:
            keys = json.loads(properties)
        except json.JSONDecodeError:
            keys = None
        if isinstance(keys, dict):
            forbidden = [k for k in keys if k.lower() in FORBIDDEN_EVENT_PROPERTIES]
            if forbidden:
                raise InvalidInputException(f"{where}: properties may not contain the key {forbidden[0]!r}")
    source = (event.get("metricAttribution") or {}).get("eventAttributionSource")
    value = event.get("eventValue")
    return Interaction(
        event_type=event["eventType"],
        sent_at=float(event["sentAt"]),
        session_id=session_id,
        user_id=user_id,
        event_id=event.get("eventId"),
        event_value=float(value) if value is not None else None,
        item_id=event.get("itemId"),
        recommendation_id=event.get("recommendationId"),
        attribution_source=source,
        impression=tuple(event.get("impression") or ()),
        properties=parse_properties(properties, schema, _EVENT_MEMBER_FIELDS, where),
    )
