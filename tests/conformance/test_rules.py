"""The SQL rendering of the value rules (``engine.rules``) and the domain's Python rules agree on every generated
text, on both engines: what is refused, and the typed value of what is not. The loads use that SQL to refuse
values and the slow path uses the Python to name them, so a disagreement here would be a value one engine stores
and the other names, or one refused with no line to name."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import duckdb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recimpact.domain.schema import Column
from recimpact.domain.values import (
    MAX_MAGNITUDE,
    MAX_TIMESTAMP,
    MIN_MAGNITUDE,
    string_rules,
)
from recimpact.engine.rules import (
    DUCKDB,
    SPARK,
    ColumnRule,
    Dialect,
    cell,
    problem_sql,
    value_sql,
)
from recimpact.engine.spark import SparkEngine
from tests.hypothesis_profiles import examples


def _column(kind: str, nullable: bool = True) -> Column:
    return Column(name="C", type=kind, nullable=nullable)


_STRINGS = {rule for kind in ("INTERACTIONS", "ITEMS", "USERS") for rule in string_rules(kind).values()}
# Every rule a load applies: the Avro types', the event time's, and each distinct member rule of the model.
RULES: tuple[ColumnRule, ...] = (
    ColumnRule(_column("int")),
    ColumnRule(_column("long")),
    ColumnRule(_column("long"), timestamp=True),
    ColumnRule(_column("float")),
    ColumnRule(_column("double")),
    ColumnRule(_column("double"), timestamp=True),
    ColumnRule(_column("boolean")),
    ColumnRule(_column("string")),
    *(ColumnRule(_column("string"), string=rule) for rule in sorted(_STRINGS, key=repr)),
)
SQL_TYPES = {"int": "I", "long": "I", "float": "D", "double": "D", "boolean": "B", "string": "S"}

# --- texts --------------------------------------------------------------------------------------------------------

_NOISE = list("0123456789+-._eEinfaINF xX\t\n\x0b\f\r\u0661d")
BOUNDS = [
    0.0,
    MIN_MAGNITUDE,
    MAX_MAGNITUDE,
    math.nextafter(MIN_MAGNITUDE, 0),
    math.nextafter(MAX_MAGNITUDE, math.inf),
    5e-324,
    1.7976931348623157e308,
    float(MAX_TIMESTAMP),
    math.nextafter(float(MAX_TIMESTAMP), math.inf),
    -0.0,
]
INTEGER_BOUNDS = [0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), MAX_TIMESTAMP]


@st.composite
def integer_texts(draw: st.DrawFn) -> str:
    value = draw(st.sampled_from(INTEGER_BOUNDS) | st.integers(-(2**70), 2**70)) + draw(st.integers(-2, 2))
    sign = "+" if value >= 0 and draw(st.booleans()) else ""
    pad = draw(st.sampled_from(["", " ", "\t", "\n", "\x0b", "  "]))
    zeros = draw(st.sampled_from(["", "0", "000"])) if value >= 0 else ""
    end = draw(st.sampled_from(["", " ", "\r", ".0", "e0", "_0"]))
    return f"{pad}{sign}{zeros}{value}{end}"


@st.composite
def double_texts(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        value = draw(st.sampled_from(BOUNDS) | st.floats(allow_nan=True, allow_infinity=True))
        value = -value if draw(st.booleans()) else value
        return draw(st.sampled_from([repr(value), f"{value:.3e}", f"{value:.17g}", f" {value!r} "]))
    if choice == 1:  # literals beyond the double range either way, or just inside it
        mantissa = draw(st.sampled_from(["1", "0", "9.99", "0.000", "0_1", "1_000.5", ".5", "5."]))
        exponent = draw(st.sampled_from([-400, -324, -323, -109, -108, 0, 108, 109, 308, 309, 400]))
        return f"{draw(st.sampled_from(['', '-', '+']))}{mantissa}{draw(st.sampled_from('eE'))}{exponent}"
    if choice == 2:
        word = draw(st.sampled_from(["inf", "infinity", "nan", "Inf", "NaN", "INFINITY", "infinite", "nan1"]))
        return f"{draw(st.sampled_from(['', '-', '+', ' ']))}{word}"
    if choice == 3:  # a long run of digits: rounding, and an underflow written without an exponent
        digits = draw(st.sampled_from(["0." + "0" * 330 + "1", "1" + "0" * 320, "0." + "0" * 100 + "7"]))
        return digits
    return draw(st.text(st.sampled_from(_NOISE), min_size=1, max_size=10))


@st.composite
def boolean_texts(draw: st.DrawFn) -> str:
    word = draw(
        st.sampled_from(["true", "t", "yes", "y", "1", "false", "f", "no", "n", "0", "on", "2", "tru"])
    )
    word = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    return draw(st.sampled_from(["", " "])) + word + draw(st.sampled_from(["", "", " "]))


# Characters the string rules tell apart: visible ASCII, space, other controls, beyond ASCII (two UTF-8 bytes,
# and a code point two UTF-16 units long), the list separator.
_CHARACTERS = ["a", "Z", "~", "!", " ", "\t", "\n", "\x7f", "\x1f", "é", "😀", "|", "\u3000"]
_LENGTHS = [0, 1, 2, 24, 25, 26, 39, 40, 41, 255, 256, 257, 1023, 1024, 1025]


@st.composite
def string_texts(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 2)) == 0:  # a list of items
        count = draw(st.sampled_from([1, 2, 24, 25, 26]))
        items = [
            draw(st.sampled_from(["", "a", " ", "i" * 256, "i" * 257, "é"])) for _ in range(min(count, 3))
        ]
        return "|".join(items + [draw(st.sampled_from(["x", "", "é😀"]))] * (count - len(items)))
    filler = draw(st.sampled_from(_CHARACTERS))
    head = draw(st.text(st.sampled_from(_CHARACTERS), max_size=3))
    tail = draw(st.text(st.sampled_from(_CHARACTERS), max_size=3))
    body = filler * max(0, draw(st.sampled_from(_LENGTHS)) - len(head) - len(tail))
    return head + body + tail


TEXTS = {"I": integer_texts(), "D": double_texts(), "B": boolean_texts(), "S": string_texts()}


@st.composite
def cells(draw: st.DrawFn) -> list[tuple[int, str]]:
    """(rule index, non-empty text) pairs: a few texts for each rule, plus texts meant for other types."""
    pairs = []
    for index, rule in enumerate(RULES):
        own = TEXTS[SQL_TYPES[rule.column.type]]
        for text in draw(st.lists(own | st.one_of(*TEXTS.values()), min_size=1, max_size=4)):
            if text:
                pairs.append((index, text))
    return pairs


# --- evaluation ---------------------------------------------------------------------------------------------------


def query(d: Dialect) -> str:
    """One row per (K, T): BAD (problem_sql) and the typed value of an accepted text, in the column of its type."""
    text = "T"
    bad = " ".join(f"WHEN {i} THEN {problem_sql(r, d, text)}" for i, r in enumerate(RULES))
    values = []
    for kind in "IDBS":
        whens = " ".join(
            f"WHEN {i} THEN {value_sql(r, d, text)}"
            for i, r in enumerate(RULES)
            if SQL_TYPES[r.column.type] == kind
        )
        values.append(f"CASE WHEN BAD THEN NULL ELSE CASE K {whens} END END AS {kind}")
    return f"SELECT K, T, BAD, {', '.join(values)} FROM (SELECT K, T, CASE K {bad} END AS BAD FROM cells) c"


def on_duckdb(pairs: Sequence[tuple[int, str]]) -> list[tuple[Any, ...]]:
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE cells (K INTEGER, T VARCHAR)")
        conn.executemany("INSERT INTO cells VALUES (?, ?)", list(pairs))
        return [tuple(row) for row in conn.execute(query(DUCKDB)).fetchall()]


def on_spark(engine: SparkEngine, pairs: Sequence[tuple[int, str]]) -> list[tuple[Any, ...]]:
    session = engine.session
    session.createDataFrame(list(pairs), "K INT, T STRING").createOrReplaceTempView("cells")
    return [tuple(row) for row in session.sql(query(SPARK)).collect()]


def disagreements(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    wrong = []
    for k, text, bad, *values in rows:
        rule = RULES[k]
        value, problem = cell(rule, text)
        kind = SQL_TYPES[rule.column.type]
        typed = dict(zip("IDBS", values, strict=True))[kind]
        if bool(bad) != (problem is not None) or (problem is None and typed != value):
            wrong.append(
                (rule.column.type, rule.string and rule.string.member, text, bad, typed, value, problem)
            )
    return wrong


@settings(
    max_examples=examples(0.25),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(pairs=cells())
@example(pairs=[(3, "1e-400"), (4, "0.0e-400"), (4, "1e400"), (5, "-0"), (2, "253402300800"), (0, " 7\t")])
def test_sql_and_python_rules_agree(spark_engine: SparkEngine, pairs: list[tuple[int, str]]) -> None:
    assert disagreements(on_duckdb(pairs)) == []
    assert disagreements(on_spark(spark_engine, pairs)) == []
