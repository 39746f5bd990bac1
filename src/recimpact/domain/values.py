"""Which values recimpact stores, written once for every path a value arrives by (PutEvents, PutItems, PutUsers,
bulk imports on DuckDB or Spark).

Two kinds of rule:

- **Numbers.** An Avro ``int`` is 32-bit and a ``long`` 64-bit. A ``float`` or ``double`` (and ``eventValue``) is 0
  or has a magnitude between 2^-360 and 2^360: the range CloudWatch accepts for a datum, and a range in which no
  sum of fewer than 2^600 values can leave the double range, so a window's total, a ratio of two totals and every
  report value stay finite numbers. NaN and infinities are refused. A TIMESTAMP (``sentAt``) is epoch seconds from
  1970-01-01 to 9999-12-31, the dates every output format can write.
- **Strings that PutEvents members carry** (ITEM_ID, USER_ID, EVENT_TYPE, RECOMMENDATION_ID,
  EVENT_ATTRIBUTION_SOURCE, IMPRESSION): the constraints botocore's ``personalize-events`` model sets on those
  members (lengths, patterns), so a bulk row is held to what the same event would be held to on the wire.

The engines render the same rules in SQL (``engine.rules``); a conformance test holds them to this module.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import botocore.session
import regex

from recimpact.domain.service_names import EVENTS

MAX_MAGNITUDE = 2.0**360
MIN_MAGNITUDE = 2.0**-360
INTEGER_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
MIN_TIMESTAMP = 0
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
IMPRESSION_SEPARATOR = "|"  # a bulk IMPRESSION cell lists its items as AWS writes them: ``i1|i2|i3``

NUMBER_RULE = "0 or a magnitude between 2^-360 and 2^360"
TIMESTAMP_RULE = "epoch seconds between 0 and 253402300799 (9999-12-31)"


def number_problem(value: float) -> str | None:
    """Why a float/double value is refused, or None."""
    if not math.isfinite(value):
        return "is not a finite number"
    if value != 0 and not MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE:
        return f"is out of range ({NUMBER_RULE})"
    return None


def integer_problem(kind: str, value: int) -> str | None:
    """Why an int (32-bit) or long (64-bit) value is refused, or None."""
    low, high = INTEGER_RANGE[kind]
    if not low <= value <= high:
        return f"is out of range for an Avro {kind} ({low} to {high})"
    return None


def timestamp_problem(value: float) -> str | None:
    """Why an event time (epoch seconds) is refused, or None."""
    if not math.isfinite(value) or not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        return f"is out of range ({TIMESTAMP_RULE})"
    return None


def value_problem(column_type: str, value: Any) -> str | None:
    """Why a typed value of an Avro column is refused (a string's length and pattern: ``string_rules``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON's "\udcff" escape makes a lone surrogate, which UTF-8 cannot hold
            return "is not valid Unicode text"
        return None
    if column_type in INTEGER_RANGE and isinstance(value, int):
        return integer_problem(column_type, value)
    if column_type in ("float", "double") and isinstance(value, int | float):
        try:
            return number_problem(float(value))
        except OverflowError:  # a JSON integer too large for a double
            return f"is out of range ({NUMBER_RULE})"
    return None


@dataclass(frozen=True)
class StringRule:
    """The model's constraints on one string member: length in characters, and a pattern matched whole."""

    member: str  # how the model names it, for messages
    min_length: int
    max_length: int | None
    pattern: str | None = None  # matched whole
    max_items: int | None = None  # IMPRESSION: items per list
    quoted: str | None = (
        None  # the pattern messages quote (the model's), when ``pattern`` is another form of it
    )

    def problem(self, text: str) -> str | None:
        parts = text.split(IMPRESSION_SEPARATOR) if self.max_items is not None else [text]
        if self.max_items is not None and len(parts) > self.max_items:
            return f"lists {len(parts)} items; {self.member} holds at most {self.max_items}"
        for part in parts:
            if len(part) < self.min_length:
                return f"is shorter than {self.member}'s minimum of {self.min_length} characters"
            if self.max_length is not None and len(part) > self.max_length:
                return f"is longer than {self.member}'s maximum of {self.max_length} characters"
            if self.pattern is not None and not _pattern(self.pattern).fullmatch(part):
                return f"does not match {self.member}'s pattern {self.quoted or self.pattern}"
        return None


@functools.cache
def _pattern(pattern: str) -> regex.Pattern[str]:
    # ``regex``, not ``re``: ``re`` backtracks for a second on eventAttributionSource's pattern
    # ([\x20-\x7E]*[\x21-\x7E]+[\x20-\x7E]*) over 1,023 allowed characters and one that is not; ``regex`` takes
    # milliseconds.
    return regex.compile(pattern, regex.ASCII)  # Java's classes: \d is [0-9], as the wire matches them


# Model patterns recimpact accepts more than (by shape name): ``file://`` locations name a local folder, the
# embedded default for reports and imports.
PATTERN_OVERRIDES = {"S3Location": r"(s3|http|https|file)://.+"}
# Model patterns matched in another form of the same language, by shape name. EventAttributionSource's
# ``[\x20-\x7E]*[\x21-\x7E]+[\x20-\x7E]*`` (printable ASCII with a visible character) backtracks cubically in
# ``re`` and Java, and quadratically in ``regex``, on a value that fails late: 1 s for 1,024 characters, 10 s for a
# PutEvents call of ten. Written so that no two parts can match the same character (spaces, the first visible
# character, then anything printable), every engine matches it in linear time, RE2 (DuckDB) and Java (Spark)
# included. Messages still quote the model's pattern; ``tests/unit/test_values.py`` holds the two equal.
LINEAR_PATTERNS = {"EventAttributionSource": r"^ *[\x21-\x7E][\x20-\x7E]*$"}


def matched_pattern(shape_name: str, model_pattern: str | None) -> str | None:
    """The pattern a value of the shape is matched with: recimpact's where it accepts more, a linear form of the
    model's where the model's backtracks, else the model's."""
    return PATTERN_OVERRIDES.get(shape_name) or LINEAR_PATTERNS.get(shape_name) or model_pattern


def quoted_pattern(shape_name: str, model_pattern: str | None) -> str | None:
    """The pattern an error message quotes: the model's, unless recimpact accepts more."""
    return PATTERN_OVERRIDES.get(shape_name) or model_pattern


# The column holding a dataset's event time (epoch seconds, held to ``timestamp_problem``), per dataset type.
TIMESTAMP_COLUMNS = {"INTERACTIONS": "TIMESTAMP", "ITEMS": "CREATION_TIMESTAMP"}

# Dataset columns carried by a PutEvents / PutItems / PutUsers member: (dataset type, column) → (shape, member).
_MEMBERS = {
    ("INTERACTIONS", "USER_ID"): ("PutEventsRequest", "userId"),
    ("INTERACTIONS", "ITEM_ID"): ("Event", "itemId"),
    ("INTERACTIONS", "EVENT_TYPE"): ("Event", "eventType"),
    ("INTERACTIONS", "RECOMMENDATION_ID"): ("Event", "recommendationId"),
    ("INTERACTIONS", "EVENT_ATTRIBUTION_SOURCE"): ("MetricAttribution", "eventAttributionSource"),
    ("INTERACTIONS", "IMPRESSION"): ("Event", "impression"),
    ("ITEMS", "ITEM_ID"): ("Item", "itemId"),
    ("USERS", "USER_ID"): ("User", "userId"),
}


def _unanchored(pattern: str | None) -> str | None:
    """The model's patterns are anchored Java regexes; ``fullmatch`` anchors them here."""
    return pattern.removeprefix("^").removesuffix("$") if pattern else None


@functools.cache
def string_rules(dataset_type: str) -> dict[str, StringRule]:
    """Upper-case column → the model's rule for the member that carries it, for one dataset type."""
    model = botocore.session.get_session().get_service_model(EVENTS)
    rules: dict[str, StringRule] = {}
    for (kind, column), (shape_name, member) in _MEMBERS.items():
        if kind != dataset_type:
            continue
        shape = model.shape_for(shape_name).members[member]
        max_items = None
        if shape.type_name == "list":
            max_items = shape.metadata.get("max")
            shape = shape.member
        pattern = matched_pattern(shape.name, shape.metadata.get("pattern"))
        quoted = quoted_pattern(shape.name, shape.metadata.get("pattern"))
        rules[column] = StringRule(
            member=f"{shape_name}.{member}",
            min_length=int(shape.metadata.get("min", 0)),
            max_length=shape.metadata.get("max"),
            pattern=_unanchored(pattern),
            max_items=max_items,
            quoted=_unanchored(quoted),
        )
    return rules
