"""Metric expressions: the grammar (SPEC §3) and the schema checks of SUM columns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.expressions import MetricExpression, check_expression_columns, parse_expression
from recimpact.domain.schema import Column, DatasetSchema


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SAMPLECOUNT()", MetricExpression("samplecount")),
        ("samplecount()", MetricExpression("samplecount")),
        (" SampleCount ( ) ", MetricExpression("samplecount")),
        ("SUM(ITEMS.MARGIN)", MetricExpression("sum", "ITEMS", "MARGIN")),
        ("sum(items.margin)", MetricExpression("sum", "ITEMS", "MARGIN")),
        ("SUM( Interactions . EVENT_VALUE )", MetricExpression("sum", "INTERACTIONS", "EVENT_VALUE")),
        ("SUM(Items.LENGTH)", MetricExpression("sum", "ITEMS", "LENGTH")),
        ("SUM(ITEMS._col_2)", MetricExpression("sum", "ITEMS", "_COL_2")),
    ],
)
def test_parse_accepts(text: str, expected: MetricExpression) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "COUNT()",
        "SUM(USERS.X)",
        "SUM(ITEMS)",
        "SUM(ITEMS.)",
        "SUM(.MARGIN)",
        "SUM(ITEMS.MARGIN",
        "SUM ITEMS.MARGIN",
        "SUM(ITEMS.MARGIN.X)",
        "SUM(ITEMS.1MARGIN)",
        "SUM(ITEMS.MAR GIN)",
        "SAMPLECOUNT(x)",
        "SAMPLECOUNT",
        "SAMPLECOUNT()SAMPLECOUNT()",
        "SUM(ITEMS.MARGIN) + SAMPLECOUNT()",
        "AVG(ITEMS.MARGIN)",
        # Unicode case folding must not sneak letters past the ASCII grammar (long s folds to "s", Kelvin to "k").
        "\u017fUM(ITEMS.MARGIN)",
        "SUM(ITEM\u017f.MARGIN)",
        "SUM(ITEMS.\u212a)",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidInputException, match="Invalid metric expression"):
        parse_expression(text)


def test_str_is_canonical_form() -> None:
    assert str(parse_expression(" samplecount( ) ")) == "SAMPLECOUNT()"
    assert str(parse_expression("sum( interactions.event_value )")) == "SUM(INTERACTIONS.EVENT_VALUE)"


_space = st.text(alphabet=" \t", max_size=3)


def _random_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(word, flips, strict=True))


@st.composite
def _sum_variants(draw: st.DrawFn) -> tuple[str, MetricExpression]:
    dataset = draw(st.sampled_from(["ITEMS", "INTERACTIONS"]))
    column = draw(st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True))
    parts = ["SUM", "(", dataset, ".", column, ")"]
    text = draw(_space) + "".join(_random_case(draw, p) + draw(_space) for p in parts)
    return text, MetricExpression("sum", dataset, column)  # type: ignore[arg-type]


@st.composite
def _samplecount_variants(draw: st.DrawFn) -> str:
    return draw(_space) + "".join(_random_case(draw, p) + draw(_space) for p in ["SAMPLECOUNT", "(", ")"])


@given(_sum_variants())
def test_sum_casing_and_spacing_do_not_matter(case: tuple[str, MetricExpression]) -> None:
    text, expected = case
    assert parse_expression(text) == expected


@given(_samplecount_variants())
def test_samplecount_casing_and_spacing_do_not_matter(text: str) -> None:
    assert parse_expression(text) == MetricExpression("samplecount")


@given(st.text(max_size=60))
def test_arbitrary_text_only_ever_raises_invalid_input(text: str) -> None:
    try:
        parsed = parse_expression(text)
    except InvalidInputException:
        return
    # Whatever is accepted is one of the two forms, and its canonical form parses back to itself.
    assert parsed.function in ("samplecount", "sum")
    assert parse_expression(str(parsed)) == parsed
    assert str(parsed).isascii()


@given(st.from_regex(r"\s*SUM\s*\(\s*(ITEMS|INTERACTIONS|USERS|items)\s*\.[^)]*\)\s*", fullmatch=True))
def test_sum_lookalikes_only_ever_raise_invalid_input(text: str) -> None:
    try:
        parsed = parse_expression(text)
    except InvalidInputException:
        return
    assert parsed.function == "sum"
    assert parsed.dataset in ("ITEMS", "INTERACTIONS")
    assert parsed.column is not None
    assert parsed.column == parsed.column.upper()


# --- check_expression_columns -------------------------------------------------------------------------------

INTERACTIONS = DatasetSchema(
    (
        Column("USER_ID", "string", False),
        Column("ITEM_ID", "string", False),
        Column("TIMESTAMP", "long", False),
        Column("EVENT_TYPE", "string", False),
        Column("EVENT_VALUE", "float", True),
    )
)
ITEMS = DatasetSchema(
    (
        Column("ITEM_ID", "string", False),
        Column("PRICE", "float", False),
        Column("CATEGORY_L1", "string", False, categorical=True),
        Column("Margin", "double", False),
        Column("STOCK", "int", True),
        Column("VIEWS", "long", False),
        Column("ON_SALE", "boolean", False),
    )
)


def test_samplecount_needs_no_schema() -> None:
    check_expression_columns(parse_expression("SAMPLECOUNT()"), {})


@pytest.mark.parametrize(
    "text",
    [
        "SUM(ITEMS.PRICE)",
        "SUM(ITEMS.MARGIN)",  # declared as "Margin": columns match case-insensitively
        "sum(items.margin)",
        "SUM(ITEMS.STOCK)",
        "SUM(ITEMS.VIEWS)",
        "SUM(INTERACTIONS.EVENT_VALUE)",
        "SUM(INTERACTIONS.timestamp)",
    ],
)
def test_numeric_columns_are_accepted(text: str) -> None:
    check_expression_columns(parse_expression(text), {"INTERACTIONS": INTERACTIONS, "ITEMS": ITEMS})


def test_sum_over_items_needs_an_items_dataset() -> None:
    with pytest.raises(InvalidInputException, match="needs an Items dataset"):
        check_expression_columns(parse_expression("SUM(ITEMS.PRICE)"), {"INTERACTIONS": INTERACTIONS})


def test_sum_over_interactions_needs_an_interactions_dataset() -> None:
    with pytest.raises(InvalidInputException, match="needs an Interactions dataset"):
        check_expression_columns(parse_expression("SUM(INTERACTIONS.EVENT_VALUE)"), {"ITEMS": ITEMS})


def test_missing_column_is_named() -> None:
    with pytest.raises(InvalidInputException, match="no column COST"):
        check_expression_columns(parse_expression("SUM(ITEMS.COST)"), {"ITEMS": ITEMS})


def test_column_of_the_other_dataset_does_not_count() -> None:
    with pytest.raises(InvalidInputException, match="no column PRICE"):
        check_expression_columns(
            parse_expression("SUM(INTERACTIONS.PRICE)"), {"INTERACTIONS": INTERACTIONS, "ITEMS": ITEMS}
        )


@pytest.mark.parametrize(("column", "type_"), [("CATEGORY_L1", "string"), ("ON_SALE", "boolean")])
def test_non_numeric_column_is_refused(column: str, type_: str) -> None:
    with pytest.raises(InvalidInputException, match=f"of type {type_}"):
        check_expression_columns(parse_expression(f"SUM(ITEMS.{column})"), {"ITEMS": ITEMS})


# recimpact's extensions: IMPRESSIONCOUNT() and RATIO(aggregate, aggregate).


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("IMPRESSIONCOUNT()", "IMPRESSIONCOUNT()"),
        (" impressionCount ( ) ", "IMPRESSIONCOUNT()"),
        ("RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())", "RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())"),
        ("ratio( sum(items.margin) ,samplecount())", "RATIO(SUM(ITEMS.MARGIN), SAMPLECOUNT())"),
    ],
)
def test_extension_forms(text: str, shown: str) -> None:
    expression = parse_expression(text)
    assert str(expression) == shown
    assert expression.is_extension
    with pytest.raises(InvalidInputException, match="--strict-aws"):
        parse_expression(text, extensions=False)


@pytest.mark.parametrize(
    "text",
    [
        "RATIO(SAMPLECOUNT())",
        "RATIO(SAMPLECOUNT(), SAMPLECOUNT(), SAMPLECOUNT())",
        "RATIO(RATIO(SAMPLECOUNT(), SAMPLECOUNT()), SAMPLECOUNT())",
        "RATIO(SAMPLECOUNT(), )",
        "IMPRESSIONCOUNT(ITEMS.X)",
    ],
)
def test_malformed_extensions_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputException):
        parse_expression(text)


def test_aws_forms_pass_under_strict_aws() -> None:
    for text in ("SAMPLECOUNT()", "SUM(ITEMS.MARGIN)", "SUM(INTERACTIONS.EVENT_VALUE)"):
        assert not parse_expression(text, extensions=False).is_extension


def test_ratio_parts_and_what_they_read() -> None:
    expression = parse_expression("RATIO(SUM(ITEMS.MARGIN), IMPRESSIONCOUNT())")
    numerator, denominator = expression.aggregates()
    assert (numerator.function, numerator.dataset, numerator.column) == ("sum", "ITEMS", "MARGIN")
    assert denominator.function == "impressioncount"
    assert expression.reads("ITEMS")
    assert not expression.reads("INTERACTIONS")
    assert expression.counts_impressions
