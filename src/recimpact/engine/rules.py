"""The value rules of ``domain.values`` as bulk loads apply them: one SQL rendering for both engines, and the same
rules in Python for the slow path that names the first bad line (``engine.lines``).

Both engines read every CSV cell as text; an empty cell is no value. A column's rule (``ColumnRule``) decides
whether a non-empty text is refused and, if not, the typed value stored:

- **int / long**: plain decimal integers (``INTEGER_TEXT``: spaces, a sign, digits), within the Avro range
  (``values.integer_problem``);
- **float / double**: the decimal forms DuckDB's reader accepts (``DOUBLE_TEXT``: ``1_000.5``, ``+.5``, ``5.``,
  exponents), read as the nearest double, as PutEvents' JSON is read (``1e-400`` is 0, ``1e400`` infinity), then
  ``values.number_problem``: finite, and 0 or a magnitude between 2^-360 and 2^360 (``NaN``, ``inf`` and
  ``1e400`` are not finite numbers);
- **boolean**: DuckDB's words (``true/t/yes/y/1`` and their negatives, in any case);
- **the event time** (``TIMESTAMP`` of Interactions, ``CREATION_TIMESTAMP`` of Items): also
  ``values.timestamp_problem``;
- **a string a PutEvents / PutItems / PutUsers member carries**: ``values.string_rules(dataset_type)``, lengths
  in characters (code points, as ``len`` and both engines' ``length`` count them), the model's pattern matched
  whole, an IMPRESSION a ``|``-separated list of at most 25 items, each held to the rule.

The SQL means the same in DuckDB and Spark SQL: ``v = 0 OR abs(v) BETWEEN lo AND hi`` is false for NaN (which
compares as the largest value in both) and the infinities; ``TRY_CAST`` gives NULL rather than failing in both,
and skips surrounding spaces in both; patterns are searched with ``\\A(?:...)\\z`` anchors, which RE2 (DuckDB) and
Java (Spark) both read as the ends of the text (Java's ``$`` would also match before a final line break). The
dialects differ in quoting, in the name of the regex search and in how a double's text is parsed: DuckDB's cast
reads what its CSV reader reads (``DOUBLE_TEXT``) but is held to the regex where it misreads, Spark's (Java's)
accepts more (``1d``, ``0x1p3``) and less (``1_000``), so the regex decides there. ``tests/conformance/test_rules.py``
holds the SQL to the Python on generated texts, on both engines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from recimpact.domain.schema import Column
from recimpact.domain.values import (
    IMPRESSION_SEPARATOR,
    INTEGER_RANGE,
    MAX_MAGNITUDE,
    MAX_TIMESTAMP,
    MIN_MAGNITUDE,
    MIN_TIMESTAMP,
    TIMESTAMP_COLUMNS,
    StringRule,
    integer_problem,
    number_problem,
    string_rules,
    timestamp_problem,
)
from recimpact.engine.plan import Quote, backtick_quote, double_quote

# What DuckDB's CSV reader accepts, written once for both engines' SQL and the slow path.
# Integers (read as text by both engines): RE2's \s, which lacks \v.
INTEGER_SPACE = r"[ \t\n\f\r]"
INTEGER_TEXT = rf"{INTEGER_SPACE}*[+-]?[0-9]+{INTEGER_SPACE}*"
# Doubles: digits may be grouped with single underscores (1_000.5); inf, infinity and nan in any case; C's isspace.
DOUBLE_SPACE = r"[ \t\n\x0B\f\r]"
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_NUMBER = rf"(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
DOUBLE_TEXT = rf"{DOUBLE_SPACE}*[+-]?(?:(?i:inf|infinity|nan)|{_NUMBER}){DOUBLE_SPACE}*"
BOOLEAN_WORDS = {"true": True, "t": True, "yes": True, "y": True, "1": True}
BOOLEAN_WORDS |= {"false": False, "f": False, "no": False, "n": False, "0": False}
_FLOAT_TYPES = ("float", "double")
_INTEGER = re.compile(INTEGER_TEXT)
_INTEGER_SPACE = re.compile(INTEGER_SPACE)
_DOUBLE = re.compile(DOUBLE_TEXT)
_DOUBLE_NOISE = re.compile(f"{DOUBLE_SPACE}|_")


@dataclass(frozen=True)
class ColumnRule:
    """What one column's values are held to."""

    column: Column
    string: StringRule | None = None  # the member's constraints, for a string column a member carries
    timestamp: bool = False  # the dataset's event time

    @property
    def name(self) -> str:
        return self.column.name.upper()


def column_rules(columns: Sequence[Column], dataset_type: str | None) -> dict[str, ColumnRule]:
    """Upper-case column → its rule. Without a dataset type, only the Avro types' own rules apply."""
    strings = string_rules(dataset_type) if dataset_type else {}
    event_time = TIMESTAMP_COLUMNS.get(dataset_type or "")
    rules = {}
    for column in columns:
        name = column.name.upper()
        rules[name] = ColumnRule(
            column,
            string=strings.get(name) if column.type == "string" else None,
            timestamp=name == event_time and column.type in (*INTEGER_RANGE, *_FLOAT_TYPES),
        )
    return rules


# --- Python: the slow path's rule for one cell ---------------------------------------------------------------------


def shown(text: str) -> str:
    """A value as a failure reason quotes it (a long one abbreviated)."""
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}… ({len(text)} characters)"


def cell(rule: ColumnRule, text: str) -> tuple[Any, str | None]:
    """The typed value of a non-empty cell, and why it is refused (None: it is not)."""
    kind = rule.column.type
    problem: str | None
    if kind in INTEGER_RANGE:
        if not _INTEGER.fullmatch(text):
            return None, f"is not a valid {kind}"
        integer = int(_INTEGER_SPACE.sub("", text))
        problem = integer_problem(kind, integer) or (timestamp_problem(integer) if rule.timestamp else None)
        return integer, problem
    if kind in _FLOAT_TYPES:
        if not _DOUBLE.fullmatch(text):
            return None, f"is not a valid {kind}"
        number = float(_DOUBLE_NOISE.sub("", text))
        problem = number_problem(number) or (timestamp_problem(number) if rule.timestamp else None)
        return number, problem
    if kind == "boolean":
        word = BOOLEAN_WORDS.get(text.lower())
        return word, None if word is not None else "is not a valid boolean"
    return text, rule.string.problem(text) if rule.string is not None else None


def cell_problem(rule: ColumnRule, text: str) -> str | None:
    """Why a non-empty cell is refused, in the domain's words, or None."""
    return cell(rule, text)[1]


# --- SQL: the same rules, rendered per dialect ---------------------------------------------------------------------


def duckdb_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def spark_literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes are on by default)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Dialect:
    name: str
    quote: Quote
    literal: Callable[[str], str]
    search: str  # the function that tells whether a regex matches somewhere in a text
    parse_double: Callable[[str], str]  # a double's text → DOUBLE, or NULL when it is not one

    def matches(self, text: str, pattern: str) -> str:
        return f"{self.search}({text}, {self.literal(pattern)})"

    def matches_whole(self, text: str, pattern: str) -> str:
        return self.matches(text, rf"\A(?:{pattern})\z")


_DUCKDB_DOUBLE = duckdb_literal(rf"\A(?:{DOUBLE_TEXT})\z")
DUCKDB = Dialect(
    name="duckdb",
    quote=double_quote,
    literal=duckdb_literal,
    search="regexp_matches",
    # DuckDB's cast reads the forms its CSV reader reads (DOUBLE_TEXT), but misreads digits grouped after the
    # 20th (10000000000000000000_0 as 1e21, DuckDB 2.0): a text with underscores is held to DOUBLE_TEXT and read
    # without them. The others, almost every value, skip the regex.
    parse_double=lambda text: (
        f"CASE WHEN instr({text}, '_') = 0 THEN TRY_CAST({text} AS DOUBLE)"
        f" WHEN regexp_matches({text}, {_DUCKDB_DOUBLE}) THEN TRY_CAST(replace({text}, '_', '') AS DOUBLE) END"
    ),
)
_SPARK_DOUBLE = spark_literal(rf"\A(?:{DOUBLE_TEXT})\z")
_SPARK_DOUBLE_NOISE = spark_literal(f"{DOUBLE_SPACE}|_")
SPARK = Dialect(
    name="spark",
    quote=backtick_quote,
    literal=spark_literal,
    search="rlike",
    # Java's parser also reads 1d, 0x1p3 and spaces DuckDB refuses, and no underscores: DOUBLE_TEXT decides.
    parse_double=lambda text: (
        f"CASE WHEN rlike({text}, {_SPARK_DOUBLE})"
        f" THEN TRY_CAST(regexp_replace({text}, {_SPARK_DOUBLE_NOISE}, '') AS DOUBLE) END"
    ),
)


def _double(value: float) -> str:
    return f"CAST('{value!r}' AS DOUBLE)"


def _integer_ok(rule: ColumnRule, d: Dialect, text: str) -> str:
    """Whether the text is a plain integer within its Avro type's range (and the event time's)."""
    low, high = INTEGER_RANGE[rule.column.type]
    if rule.timestamp:  # both ranges in one comparison: the cast is not evaluated twice
        low, high = max(low, MIN_TIMESTAMP), min(high, MAX_TIMESTAMP)
    number = f"TRY_CAST({text} AS BIGINT)"  # NULL beyond 64 bits; both engines' casts skip INTEGER_SPACE
    return f"{d.matches_whole(text, INTEGER_TEXT)} AND {number} BETWEEN {low} AND {high}"


def _in_range(value: str) -> str:
    """values.number_problem: false for NaN (the largest value in both engines) and the infinities."""
    return f"({value} = 0 OR abs({value}) BETWEEN {_double(MIN_MAGNITUDE)} AND {_double(MAX_MAGNITUDE)})"


def _short_item(min_length: int) -> str:
    sep = re.escape(IMPRESSION_SEPARATOR)
    return rf"(?:\A|{sep})[^{sep}]{{0,{min_length - 1}}}(?:{sep}|\z)"


def _long_item(max_length: int) -> str:
    sep = re.escape(IMPRESSION_SEPARATOR)
    return rf"[^{sep}]{{{max_length + 1}}}"


def _string_checks(rule: StringRule, d: Dialect, text: str) -> list[str]:
    """What a non-empty text must satisfy (all of it)."""
    checks = []
    if rule.max_items is None:
        if rule.min_length > 1:  # the text is not empty: one character is always there
            checks.append(f"length({text}) >= {rule.min_length}")
        if rule.max_length is not None:
            checks.append(f"length({text}) <= {rule.max_length}")
        if rule.pattern is not None:
            checks.append(d.matches_whole(text, rule.pattern))
        return checks
    if rule.pattern is not None:
        raise ValueError(f"{rule.member}: a pattern on the items of a list is not rendered in SQL")
    items = f"length({text}) - length(replace({text}, {d.literal(IMPRESSION_SEPARATOR)}, '')) + 1"
    checks.append(f"{items} <= {rule.max_items}")
    if rule.min_length > 0:  # an item shorter than the minimum, between separators or the text's ends
        checks.append(f"NOT {d.matches(text, _short_item(rule.min_length))}")
    if rule.max_length is not None:
        checks.append(f"NOT {d.matches(text, _long_item(rule.max_length))}")
    return checks


def problem_sql(rule: ColumnRule, d: Dialect, text: str) -> str:
    """SQL that is true when the non-empty ``text`` is refused (``cell_problem`` is not None)."""
    kind = rule.column.type
    if kind in INTEGER_RANGE:
        return f"NOT COALESCE({_integer_ok(rule, d, text)}, false)"
    if kind in _FLOAT_TYPES:
        value = d.parse_double(text)
        ok = _in_range(value)
        if rule.timestamp:
            ok = f"({ok}) AND {value} BETWEEN {MIN_TIMESTAMP} AND {MAX_TIMESTAMP}"
        return f"NOT COALESCE({ok}, false)"
    if kind == "boolean":
        words = ", ".join(d.literal(w) for w in BOOLEAN_WORDS)
        return f"NOT (lower({text}) IN ({words}))"
    checks = _string_checks(rule.string, d, text) if rule.string is not None else []
    return f"NOT COALESCE({' AND '.join(checks)}, false)" if checks else "false"


def value_sql(rule: ColumnRule, d: Dialect, text: str) -> str:
    """The typed value of an accepted non-empty ``text``, in the column's SQL type."""
    kind = rule.column.type
    if kind in INTEGER_RANGE:
        return f"TRY_CAST({text} AS {'INTEGER' if kind == 'int' else 'BIGINT'})"
    if kind in _FLOAT_TYPES:
        return d.parse_double(text)
    if kind == "boolean":
        words = ", ".join(d.literal(w) for w, meaning in BOOLEAN_WORDS.items() if meaning)
        return f"lower({text}) IN ({words})"
    return text


def typed_sql(
    rule: ColumnRule, d: Dialect, cell_text: str, fail: str, suspect: Callable[[str], str] | None = None
) -> str:
    """The column as loaded, named as the column: NULL for an empty cell (``fail`` if the column is required),
    ``fail`` for a refused value (or a ``suspect`` one, an engine's own reason to look closer), else the value."""
    text = f"NULLIF({cell_text}, '')"  # empty and quoted-empty cells are no value
    problem = problem_sql(rule, d, text)
    whens = [f"WHEN {text} IS NULL THEN {'NULL' if rule.column.nullable else fail}"]
    if problem != "false":
        whens.append(f"WHEN {problem} THEN {fail}")
    if suspect is not None:
        whens.append(f"WHEN {suspect(text)} THEN {fail}")
    return f"CASE {' '.join(whens)} ELSE {value_sql(rule, d, text)} END AS {d.quote(rule.name)}"
