"""Avro dataset schemas as Amazon Personalize accepts them, and the columns they declare.

A schema is checked twice: for being a valid Personalize Avro record when it is created (CreateSchema), and for
holding the reserved fields of a dataset type when a dataset uses it (CreateDataset), since a schema alone does not
say which type it is for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import regex

from recimpact.domain.errors import InvalidInputException

PRIMITIVE_TYPES = frozenset({"int", "long", "float", "double", "string", "boolean", "null"})
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})
_FIELD_NAME = regex.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Dataset types, as CreateDataset accepts them (case-insensitively), mapped to their canonical upper-case form.
DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")

# Reserved fields: for each dataset type, the fields it must have and the types a reserved field may take.
_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "INTERACTIONS": ("USER_ID", "ITEM_ID", "TIMESTAMP"),
    "ITEMS": ("ITEM_ID",),
    "USERS": ("USER_ID",),
    "ACTIONS": ("ACTION_ID",),
    "ACTION_INTERACTIONS": ("USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"),
}
_RESERVED_TYPES: dict[str, dict[str, frozenset[str]]] = {
    "INTERACTIONS": {
        "USER_ID": frozenset({"string"}),
        "ITEM_ID": frozenset({"string"}),
        "TIMESTAMP": frozenset({"long"}),
        "EVENT_TYPE": frozenset({"string"}),
        "EVENT_VALUE": frozenset({"float", "double", "int", "long"}),
        "IMPRESSION": frozenset({"string"}),
        "RECOMMENDATION_ID": frozenset({"string"}),
        "EVENT_ATTRIBUTION_SOURCE": frozenset({"string"}),
    },
    "ITEMS": {"ITEM_ID": frozenset({"string"}), "CREATION_TIMESTAMP": frozenset({"long"})},
    "USERS": {"USER_ID": frozenset({"string"})},
    "ACTIONS": {"ACTION_ID": frozenset({"string"}), "CREATION_TIMESTAMP": frozenset({"long"})},
    "ACTION_INTERACTIONS": {
        "USER_ID": frozenset({"string"}),
        "ACTION_ID": frozenset({"string"}),
        "TIMESTAMP": frozenset({"long"}),
        "EVENT_TYPE": frozenset({"string"}),
    },
}
# Reserved fields that may not be null.
_NOT_NULL = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the non-null Avro type
    nullable: bool
    categorical: bool = False

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass(frozen=True)
class DatasetSchema:
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        """Column names match case-insensitively, like CSV headers and expression columns."""
        wanted = name.upper()
        return next((c for c in self.columns if c.name.upper() == wanted), None)


# How deep a JSON document may nest: far beyond any Personalize shape (CreateSolution's config nests six levels)
# or a flat ``properties`` object, and far below the interpreter's recursion limit, which Python's decoder
# approaches by one frame per level. Code that runs meanwhile on that deep stack (a garbage collection's
# finalizers) would fail with RecursionError of its own, so deep documents are refused before they are decoded.
MAX_JSON_NESTING = 100
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_nesting_exceeds(text: str, limit: int = MAX_JSON_NESTING) -> bool:
    """Whether the JSON ``text`` nests arrays and objects more than ``limit`` deep (brackets inside strings do
    not count). A document with few brackets is answered without a scan."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def load_json_text(text: str, what: str) -> Any:
    """A JSON document that arrived inside a string (a schema, ``properties``), or InvalidInputException: not
    JSON, or nested more than ``MAX_JSON_NESTING`` deep."""
    if json_nesting_exceeds(text):
        raise InvalidInputException(f"{what} is nested too deeply: at most {MAX_JSON_NESTING} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputException(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}") from None


def parse_schema(text: str) -> DatasetSchema:
    """Parse and check an Avro record schema; raise InvalidInputException naming the first problem."""
    doc = load_json_text(text, "Schema")
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise InvalidInputException('Schema must be an Avro record: {"type": "record", "fields": [...]}')
    if not isinstance(doc.get("name"), str) or not _FIELD_NAME.fullmatch(doc["name"]):
        raise InvalidInputException("Schema must have a valid Avro record name")
    fields = doc.get("fields")
    if not isinstance(fields, list) or not fields:
        raise InvalidInputException("Schema must declare a non-empty list of fields")
    columns: list[Column] = []
    seen: set[str] = set()
    for index, spec in enumerate(fields):
        column = _parse_field(index, spec)
        if column.name.upper() in seen:
            raise InvalidInputException(f"Schema field {column.name} is declared more than once")
        seen.add(column.name.upper())
        columns.append(column)
    return DatasetSchema(tuple(columns))


def _parse_field(index: int, spec: Any) -> Column:
    if not isinstance(spec, dict):
        raise InvalidInputException(f"Schema field #{index + 1} must be an object with a name and a type")
    name = spec.get("name")
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise InvalidInputException(f"Schema field #{index + 1} has an invalid name: {name!r}")
    raw_type = spec.get("type")
    types = raw_type if isinstance(raw_type, list) else [raw_type]
    if not types or not all(isinstance(t, str) and t in PRIMITIVE_TYPES for t in types):
        allowed = ", ".join(sorted(PRIMITIVE_TYPES))
        raise InvalidInputException(
            f"Schema field {name} has unsupported type {raw_type!r}; allowed: {allowed}"
        )
    non_null = [t for t in types if t != "null"]
    if len(non_null) != 1:
        raise InvalidInputException(
            f"Schema field {name} must have exactly one non-null type, got {raw_type!r}"
        )
    categorical = spec.get("categorical", False)
    if not isinstance(categorical, bool):
        raise InvalidInputException(f"Schema field {name}: 'categorical' must be true or false")
    if categorical and non_null[0] != "string":
        raise InvalidInputException(f"Schema field {name}: only string fields can be categorical")
    return Column(name=name, type=str(non_null[0]), nullable="null" in types, categorical=categorical)


def canonical_dataset_type(text: str) -> str:
    """CreateDataset's datasetType is case-insensitive; ARNs and rules use the upper-case form."""
    upper = text.upper()
    if upper not in DATASET_TYPES:
        raise InvalidInputException(
            f"Invalid datasetType {text!r}; expected one of Interactions, Items, Users, Actions, Action_Interactions"
        )
    return upper


def check_schema_for_dataset_type(schema: DatasetSchema, dataset_type: str) -> None:
    """The reserved fields a dataset type requires, with their types."""
    for required in _REQUIRED_FIELDS[dataset_type]:
        if schema.column(required) is None:
            raise InvalidInputException(
                f"A {dataset_type} dataset's schema must contain the field {required}"
            )
    for name, allowed in _RESERVED_TYPES[dataset_type].items():
        column = schema.column(name)
        if column is None:
            continue
        if column.name != name:
            raise InvalidInputException(
                f"Reserved field {name} must be spelled in upper case, not {column.name}"
            )
        if column.type not in allowed:
            raise InvalidInputException(
                f"Reserved field {name} must be of type {' or '.join(sorted(allowed))}, not {column.type}"
            )
        if name in _NOT_NULL and column.nullable:
            raise InvalidInputException(f"Reserved field {name} cannot be nullable")
