"""Metric expressions: ``SAMPLECOUNT()`` and ``SUM(<ITEMS|INTERACTIONS>.<COLUMN>)``.

AWS documents ``SUM(Items.LENGTH)`` and its own sample writes ``SUM(ITEMS.MARGIN)``: function names, dataset types
and column names are matched case-insensitively; spaces around tokens are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.schema import DatasetSchema

Function = Literal["samplecount", "sum"]
DatasetRef = Literal["ITEMS", "INTERACTIONS"]

# ASCII: under Unicode case folding "\u017f" (long s) would match "S" and "\u212a" (Kelvin sign) would match "K".
_FLAGS = regex.IGNORECASE | regex.ASCII
_SAMPLECOUNT = regex.compile(r"\s*SAMPLECOUNT\s*\(\s*\)\s*", _FLAGS)
_SUM = regex.compile(r"\s*SUM\s*\(\s*(ITEMS|INTERACTIONS)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", _FLAGS)


@dataclass(frozen=True)
class MetricExpression:
    """A parsed expression. ``function`` is the MATH_FUNCTION token of the reports."""

    function: Function
    dataset: DatasetRef | None = None
    column: str | None = None  # upper-case

    def __str__(self) -> str:
        if self.function == "samplecount":
            return "SAMPLECOUNT()"
        return f"SUM({self.dataset}.{self.column})"


def parse_expression(text: str) -> MetricExpression:
    if _SAMPLECOUNT.fullmatch(text):
        return MetricExpression("samplecount")
    match = _SUM.fullmatch(text)
    if match:
        dataset: DatasetRef = "ITEMS" if match.group(1).upper() == "ITEMS" else "INTERACTIONS"
        return MetricExpression("sum", dataset, match.group(2).upper())
    raise InvalidInputException(
        f"Invalid metric expression {text!r}: expected SAMPLECOUNT() or SUM(ITEMS.<COLUMN>) or "
        "SUM(INTERACTIONS.<COLUMN>)"
    )


def check_expression_columns(
    expression: MetricExpression,
    schemas: dict[str, DatasetSchema],
) -> None:
    """SUM needs a numeric column of a dataset the group has; ``schemas`` maps dataset type to its schema."""
    if expression.function != "sum":
        return
    assert expression.dataset is not None
    assert expression.column is not None
    schema = schemas.get(expression.dataset)
    if schema is None:
        raise InvalidInputException(
            f"{expression} needs an {expression.dataset.capitalize()} dataset in the dataset group"
        )
    column = schema.column(expression.column)
    if column is None:
        raise InvalidInputException(
            f"{expression}: the {expression.dataset} schema has no column {expression.column}"
        )
    if not column.numeric:
        raise InvalidInputException(
            f"{expression}: column {column.name} is of type {column.type}; SUM needs int, long, float or double"
        )
