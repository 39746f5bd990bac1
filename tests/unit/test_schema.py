"""Avro dataset schemas: parsing (CreateSchema) and the reserved fields of each dataset type (CreateDataset)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.schema import (
    DATASET_TYPES,
    Column,
    DatasetSchema,
    canonical_dataset_type,
    check_schema_for_dataset_type,
    json_nesting_exceeds,
    parse_schema,
)

# The seed documents' schemas, verbatim (the Items one in its Python spelling, `True`, as the seed writes it).
SEED_INTERACTIONS = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
SEED_ITEMS = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": ["string"], "categorical": True},
        {"name": "CATEGORY_L2", "type": ["string"], "categorical": True},
        {"name": "MARGIN", "type": "double"},
    ],
    "version": "1.0",
}


def record(*fields: dict[str, Any], name: str = "Test") -> str:
    return json.dumps({"type": "record", "name": name, "fields": list(fields)})


def schema_of(**types: str | list[str]) -> DatasetSchema:
    return parse_schema(record(*({"name": n, "type": t} for n, t in types.items())))


def test_seed_interactions_schema() -> None:
    schema = parse_schema(json.dumps(SEED_INTERACTIONS))
    assert schema.columns == (
        Column("USER_ID", "string", nullable=False),
        Column("ITEM_ID", "string", nullable=False),
        Column("TIMESTAMP", "long", nullable=False),
        Column("EVENT_TYPE", "string", nullable=False),
    )
    check_schema_for_dataset_type(schema, "INTERACTIONS")


def test_seed_items_schema() -> None:
    schema = parse_schema(json.dumps(SEED_ITEMS))
    assert [c.name for c in schema.columns] == ["ITEM_ID", "PRICE", "CATEGORY_L1", "CATEGORY_L2", "MARGIN"]
    assert schema.column("CATEGORY_L1") == Column("CATEGORY_L1", "string", nullable=False, categorical=True)
    price, margin = schema.column("PRICE"), schema.column("MARGIN")
    assert price is not None
    assert price.type == "float"
    assert price.numeric
    assert margin is not None
    assert margin.type == "double"
    assert margin.numeric
    item_id = schema.column("ITEM_ID")
    assert item_id is not None
    assert not item_id.numeric
    assert not item_id.categorical
    check_schema_for_dataset_type(schema, "ITEMS")


def test_column_lookup_is_case_insensitive() -> None:
    schema = parse_schema(json.dumps(SEED_ITEMS))
    assert schema.column("margin") == schema.column("MARGIN") is not None
    assert schema.column("COST") is None


def test_nullable_union_in_either_order() -> None:
    schema = schema_of(A=["null", "float"], B=["int", "null"], C="boolean")
    assert schema.columns == (
        Column("A", "float", nullable=True),
        Column("B", "int", nullable=True),
        Column("C", "boolean", nullable=False),
    )


@pytest.mark.parametrize("type_", ["int", "long", "float", "double", "string", "boolean"])
def test_every_primitive_type_is_accepted(type_: str) -> None:
    column = schema_of(X=type_).columns[0]
    assert column.type == type_
    assert column.numeric == (type_ in ("int", "long", "float", "double"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "must be an Avro record"),
        ('"record"', "must be an Avro record"),
        (json.dumps({"type": "enum", "name": "X", "symbols": ["A"]}), "must be an Avro record"),
        (json.dumps({"name": "X", "fields": [{"name": "A", "type": "string"}]}), "must be an Avro record"),
        (json.dumps({"type": "record", "fields": [{"name": "A", "type": "string"}]}), "record name"),
        (
            json.dumps({"type": "record", "name": "1X", "fields": [{"name": "A", "type": "string"}]}),
            "record name",
        ),
        (json.dumps({"type": "record", "name": "X", "fields": []}), "non-empty list of fields"),
        (json.dumps({"type": "record", "name": "X"}), "non-empty list of fields"),
        (json.dumps({"type": "record", "name": "X", "fields": {"A": "string"}}), "non-empty list of fields"),
        (record("USER_ID"), "must be an object"),
        (record({"type": "string"}), "invalid name"),
        (record({"name": "", "type": "string"}), "invalid name"),
        (record({"name": "1ABC", "type": "string"}), "invalid name"),
        (record({"name": "A-B", "type": "string"}), "invalid name"),
        (record({"name": "A B", "type": "string"}), "invalid name"),
        (record({"name": "ÄRGER", "type": "string"}), "invalid name"),
        (record({"name": "A", "type": "bytes"}), "unsupported type"),
        (record({"name": "A", "type": "timestamp"}), "unsupported type"),
        (record({"name": "A"}), "unsupported type"),
        (record({"name": "A", "type": []}), "unsupported type"),
        (record({"name": "A", "type": {"type": "array", "items": "string"}}), "unsupported type"),
        (record({"name": "A", "type": ["null", {"type": "map", "values": "int"}]}), "unsupported type"),
        (record({"name": "A", "type": "null"}), "exactly one non-null type"),
        (record({"name": "A", "type": ["null"]}), "exactly one non-null type"),
        (record({"name": "A", "type": ["string", "int"]}), "exactly one non-null type"),
        (record({"name": "A", "type": ["null", "string", "long"]}), "exactly one non-null type"),
        (record({"name": "A", "type": "string"}, {"name": "A", "type": "int"}), "more than once"),
        (record({"name": "Price", "type": "float"}, {"name": "PRICE", "type": "float"}), "more than once"),
        (
            record({"name": "A", "type": "float", "categorical": True}),
            "only string fields can be categorical",
        ),
        (
            record({"name": "A", "type": ["null", "int"], "categorical": True}),
            "only string fields can be categorical",
        ),
        (
            record({"name": "A", "type": "string", "categorical": "yes"}),
            "'categorical' must be true or false",
        ),
    ],
)
def test_invalid_schemas_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputException, match=message):
        parse_schema(text)


DEEP_DOC = json.dumps({"type": "record", "name": "X", "fields": [{"name": "A", "type": "string"}]})


@pytest.mark.parametrize(
    "text",
    [
        # Under CreateSchema's 20,000 characters, far over the decoder's recursion limit; the last a valid record
        # with a deep extra member.
        "[" * 5000 + "]" * 5000,
        '{"a":' * 3000 + "1" + "}" * 3000,
        DEEP_DOC[:-1] + ', "doc": ' + "[" * 4000 + "]" * 4000 + "}",
    ],
)
def test_nesting_too_deep_to_decode_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputException, match="nested too deeply"):
        parse_schema(text)


@pytest.mark.parametrize(
    ("text", "exceeds"),
    [
        ("[" * 100 + "]" * 100, False),
        ("[" * 101 + "]" * 101, True),
        ('{"a":' * 101 + "1" + "}" * 101, True),
        ("[" * 101, True),  # unterminated: still too deep to hand to the decoder
        ('["' + "[" * 500 + '"]', False),  # brackets inside a string are text
        ('["\\"' + "[" * 500 + '"]', False),  # ... after an escaped quote too
        ('["a\\\\", ' + "[" * 101 + "]" * 101 + "]", True),  # an escaped backslash ends no string early
        ("[1, " * 60 + "[]" + "]" * 60 + ", " + "{}" * 200, False),  # many brackets, shallow
    ],
)
def test_json_nesting_is_measured_outside_strings(text: str, exceeds: bool) -> None:
    assert json_nesting_exceeds(text) is exceeds


def test_duplicate_error_names_the_field() -> None:
    with pytest.raises(InvalidInputException, match="PRICE is declared more than once"):
        parse_schema(record({"name": "price", "type": "float"}, {"name": "PRICE", "type": "float"}))


def test_nullable_categorical_string_is_fine() -> None:
    column = parse_schema(record({"name": "GENRE", "type": ["null", "string"], "categorical": True})).columns[
        0
    ]
    assert column == Column("GENRE", "string", nullable=True, categorical=True)


# --- dataset types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Interactions", "INTERACTIONS"),
        ("interactions", "INTERACTIONS"),
        ("ITEMS", "ITEMS"),
        ("Users", "USERS"),
        ("Actions", "ACTIONS"),
        ("Action_Interactions", "ACTION_INTERACTIONS"),
    ],
)
def test_canonical_dataset_type(text: str, expected: str) -> None:
    assert canonical_dataset_type(text) == expected


@pytest.mark.parametrize("text", ["", "Interaction", "EVENTS", "ActionInteractions", "Items "])
def test_unknown_dataset_type(text: str) -> None:
    with pytest.raises(InvalidInputException, match="Invalid datasetType"):
        canonical_dataset_type(text)


# A minimal valid schema for every dataset type.
MINIMAL: dict[str, dict[str, str | list[str]]] = {
    "INTERACTIONS": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"},
    "ITEMS": {"ITEM_ID": "string"},
    "USERS": {"USER_ID": "string"},
    "ACTIONS": {"ACTION_ID": "string"},
    "ACTION_INTERACTIONS": {
        "USER_ID": "string",
        "ACTION_ID": "string",
        "TIMESTAMP": "long",
        "EVENT_TYPE": "string",
    },
}


def test_every_dataset_type_has_a_minimal_schema() -> None:
    assert set(MINIMAL) == set(DATASET_TYPES)


@pytest.mark.parametrize("dataset_type", sorted(MINIMAL))
def test_minimal_schema_is_accepted(dataset_type: str) -> None:
    check_schema_for_dataset_type(schema_of(**MINIMAL[dataset_type], EXTRA=["null", "string"]), dataset_type)


@pytest.mark.parametrize(
    ("dataset_type", "missing"),
    [(t, f) for t, fields in sorted(MINIMAL.items()) for f in fields],
)
def test_missing_required_field(dataset_type: str, missing: str) -> None:
    fields = {name: type_ for name, type_ in MINIMAL[dataset_type].items() if name != missing}
    fields["OTHER"] = "string"
    with pytest.raises(InvalidInputException, match=f"must contain the field {missing}"):
        check_schema_for_dataset_type(schema_of(**fields), dataset_type)


@pytest.mark.parametrize(
    ("dataset_type", "field", "wrong_type"),
    [
        ("INTERACTIONS", "TIMESTAMP", "int"),
        ("INTERACTIONS", "TIMESTAMP", "string"),
        ("INTERACTIONS", "USER_ID", "long"),
        ("INTERACTIONS", "ITEM_ID", "int"),
        ("INTERACTIONS", "EVENT_TYPE", "int"),
        ("INTERACTIONS", "EVENT_VALUE", "string"),
        ("INTERACTIONS", "RECOMMENDATION_ID", "long"),
        ("ITEMS", "ITEM_ID", "int"),
        ("ITEMS", "CREATION_TIMESTAMP", "double"),
        ("USERS", "USER_ID", "boolean"),
        ("ACTIONS", "ACTION_ID", "long"),
        ("ACTION_INTERACTIONS", "TIMESTAMP", "float"),
    ],
)
def test_reserved_field_of_wrong_type(dataset_type: str, field: str, wrong_type: str) -> None:
    fields = {**MINIMAL[dataset_type], field: wrong_type}
    with pytest.raises(InvalidInputException, match=f"Reserved field {field} must be of type"):
        check_schema_for_dataset_type(schema_of(**fields), dataset_type)


@pytest.mark.parametrize("type_", ["int", "long", "float", "double", ["null", "float"]])
def test_event_value_may_be_any_numeric_and_nullable(type_: str | list[str]) -> None:
    check_schema_for_dataset_type(schema_of(**MINIMAL["INTERACTIONS"], EVENT_VALUE=type_), "INTERACTIONS")


@pytest.mark.parametrize(
    ("dataset_type", "field"),
    [
        ("INTERACTIONS", "USER_ID"),
        ("INTERACTIONS", "ITEM_ID"),
        ("INTERACTIONS", "TIMESTAMP"),
        ("INTERACTIONS", "EVENT_TYPE"),
        ("ITEMS", "ITEM_ID"),
        ("USERS", "USER_ID"),
        ("ACTION_INTERACTIONS", "ACTION_ID"),
    ],
)
def test_reserved_id_fields_cannot_be_nullable(dataset_type: str, field: str) -> None:
    base = dict(MINIMAL[dataset_type])
    base.setdefault(field, "string")
    nullable = ["null", str(base[field])]
    with pytest.raises(InvalidInputException, match=f"{field} cannot be nullable"):
        check_schema_for_dataset_type(schema_of(**{**base, field: nullable}), dataset_type)


def test_reserved_field_must_be_upper_case() -> None:
    schema = schema_of(user_id="string", ITEM_ID="string", TIMESTAMP="long")
    with pytest.raises(InvalidInputException, match="spelled in upper case"):
        check_schema_for_dataset_type(schema, "INTERACTIONS")


def test_reserved_fields_of_another_type_are_ordinary_columns() -> None:
    # TIMESTAMP is reserved (long) for Interactions only; an Items dataset may hold it as any type.
    check_schema_for_dataset_type(schema_of(ITEM_ID="string", TIMESTAMP="string"), "ITEMS")
    # USER_ID in an Items dataset is an ordinary column: nullable is fine there.
    check_schema_for_dataset_type(schema_of(ITEM_ID="string", USER_ID=["null", "string"]), "ITEMS")
