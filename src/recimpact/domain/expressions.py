"""Metric expressions: AWS's ``SAMPLECOUNT()`` and ``SUM(<ITEMS|INTERACTIONS>.<COLUMN>)``, and recimpact's
extensions ``IMPRESSIONCOUNT()`` and ``RATIO(<aggregate>, <aggregate>)``.

AWS documents ``SUM(Items.LENGTH)`` and its own sample writes ``SUM(ITEMS.MARGIN)``: function names, dataset types
and column names are matched case-insensitively; spaces around tokens are allowed. The grammar:

    expression := aggregate | RATIO ( aggregate , aggregate )                      (RATIO: extension)
    aggregate  := SAMPLECOUNT ( ) | SUM ( dataset . column ) | IMPRESSIONCOUNT ( )  (IMPRESSIONCOUNT: extension)
    dataset    := ITEMS | INTERACTIONS

SAMPLECOUNT and SUM count the events of the metric's event type; IMPRESSIONCOUNT counts the items the source showed
(exposures), whatever the event type. A RATIO is computed per window and source as the numerator's total over the
denominator's: ``RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())`` on Click events is the click-through rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.schema import DatasetSchema

Function = Literal["samplecount", "sum", "impressioncount", "ratio"]
DatasetRef = Literal["ITEMS", "INTERACTIONS"]
EXTENSIONS: frozenset[str] = frozenset({"impressioncount", "ratio"})

# ASCII: under Unicode case folding "\u017f" (long s) would match "S" and "\u212a" (Kelvin sign) would match "K".
_FLAGS = regex.IGNORECASE | regex.ASCII
_SAMPLECOUNT = regex.compile(r"\s*SAMPLECOUNT\s*\(\s*\)\s*", _FLAGS)
_IMPRESSIONCOUNT = regex.compile(r"\s*IMPRESSIONCOUNT\s*\(\s*\)\s*", _FLAGS)
_SUM = regex.compile(r"\s*SUM\s*\(\s*(ITEMS|INTERACTIONS)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", _FLAGS)
_RATIO = regex.compile(r"\s*RATIO\s*\((.*)\)\s*", _FLAGS | regex.DOTALL)
_EXPECTED = (
    "expected SAMPLECOUNT(), SUM(ITEMS.<COLUMN>) or SUM(INTERACTIONS.<COLUMN>)"
    " (or, as recimpact extensions, IMPRESSIONCOUNT() and RATIO(<aggregate>, <aggregate>))"
)


@dataclass(frozen=True)
class MetricExpression:
    """A parsed expression. ``function`` is the MATH_FUNCTION token of the reports."""

    function: Function
    dataset: DatasetRef | None = None
    column: str | None = None  # upper-case
    numerator: MetricExpression | None = None  # RATIO only
    denominator: MetricExpression | None = None  # RATIO only

    def __str__(self) -> str:
        if self.function == "samplecount":
            return "SAMPLECOUNT()"
        if self.function == "impressioncount":
            return "IMPRESSIONCOUNT()"
        if self.function == "ratio":
            return f"RATIO({self.numerator}, {self.denominator})"
        return f"SUM({self.dataset}.{self.column})"

    @property
    def is_extension(self) -> bool:
        return self.function in EXTENSIONS or any(part.function in EXTENSIONS for part in self.aggregates())

    def aggregates(self) -> tuple[MetricExpression, ...]:
        """The simple aggregates the expression is made of (a RATIO's two, or itself)."""
        if self.function == "ratio":
            assert self.numerator is not None
            assert self.denominator is not None
            return (self.numerator, self.denominator)
        return (self,)

    def reads(self, dataset: str) -> bool:
        """Whether any aggregate sums a column of ``dataset`` (ITEMS or INTERACTIONS)."""
        return any(part.dataset == dataset for part in self.aggregates())

    @property
    def counts_impressions(self) -> bool:
        return any(part.function == "impressioncount" for part in self.aggregates())


def _aggregate(text: str) -> MetricExpression | None:
    if _SAMPLECOUNT.fullmatch(text):
        return MetricExpression("samplecount")
    if _IMPRESSIONCOUNT.fullmatch(text):
        return MetricExpression("impressioncount")
    match = _SUM.fullmatch(text)
    if match:
        dataset: DatasetRef = "ITEMS" if match.group(1).upper() == "ITEMS" else "INTERACTIONS"
        return MetricExpression("sum", dataset, match.group(2).upper())
    return None


def parse_expression(text: str, extensions: bool = True) -> MetricExpression:
    """Parse ``text``; with ``extensions`` False (a server run with ``--strict-aws``) only AWS's forms pass."""
    expression = _aggregate(text)
    if expression is None:
        ratio = _RATIO.fullmatch(text)
        if ratio:
            parts = ratio.group(1).split(",")
            if len(parts) == 2:
                numerator, denominator = _aggregate(parts[0]), _aggregate(parts[1])
                if numerator is not None and denominator is not None:
                    expression = MetricExpression("ratio", numerator=numerator, denominator=denominator)
    if expression is None:
        raise InvalidInputException(f"Invalid metric expression {text!r}: {_EXPECTED}")
    if expression.is_extension and not extensions:
        raise InvalidInputException(
            f"Invalid metric expression {text!r}: IMPRESSIONCOUNT() and RATIO() are recimpact extensions, and this"
            " server runs with --strict-aws (AWS accepts only SAMPLECOUNT() and SUM(...))"
        )
    return expression


def check_expression_columns(
    expression: MetricExpression,
    schemas: dict[str, DatasetSchema],
) -> None:
    """SUM needs a numeric column of a dataset the group has; ``schemas`` maps dataset type to its schema."""
    if expression.function == "ratio":
        for part in expression.aggregates():
            check_expression_columns(part, schemas)
        return
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
