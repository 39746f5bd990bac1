"""The same values are accepted, typed and refused on both engines, and a refusal names the same file, line and
column (the job's failure reason)."""

from __future__ import annotations

import csv
import io
import math
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recimpact.domain.schema import DatasetSchema, parse_schema
from recimpact.domain.values import MAX_MAGNITUDE, MIN_MAGNITUDE
from recimpact.engine.base import DataError, Engine
from recimpact.engine.rules import cell, cell_problem, column_rules, shown
from tests.conformance.conftest import ENGINES
from tests.conformance.generate import files
from tests.conformance.pipeline import COLUMNS, INTERACTIONS, input_file, write_csv
from tests.hypothesis_profiles import examples

TYPED: DatasetSchema = parse_schema(
    '{"type": "record", "name": "Items", "fields": ['
    '{"name": "ITEM_ID", "type": "string"}, {"name": "STOCK", "type": ["null", "int"]},'
    '{"name": "SOLD", "type": ["null", "long"]}, {"name": "PRICE", "type": ["null", "float"]},'
    '{"name": "MARGIN", "type": ["null", "double"]}, {"name": "ON_SALE", "type": ["null", "boolean"]},'
    '{"name": "LABEL", "type": ["null", "string"]}, {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]}]}'
)
EVENTS: DatasetSchema = parse_schema(
    '{"type": "record", "name": "Interactions", "fields": ['
    '{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},'
    '{"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},'
    '{"name": "EVENT_VALUE", "type": ["null", "float"]},'
    '{"name": "RECOMMENDATION_ID", "type": ["null", "string"]},'
    '{"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},'
    '{"name": "IMPRESSION", "type": ["null", "string"]}]}'
)
SCHEMAS = {"ITEMS": TYPED, "INTERACTIONS": EVENTS}
LOWEST, HIGHEST = repr(MIN_MAGNITUDE), repr(-MAX_MAGNITUDE)  # the ends of the number range, written exactly
# Text accepted for each column (of ITEMS: TYPED; of INTERACTIONS: EVENTS), written oddly on purpose. Numbers,
# booleans and integers in the forms DuckDB's reader accepts; strings as the PutEvents / PutItems members' rules
# accept them.
ACCEPTED = {
    "ITEMS": {
        "STOCK": ["7", " 7", "7 ", "+7", "-0", "007", "2147483647", "-2147483648", "\t12\t"],
        "SOLD": ["9223372036854775807", "-9223372036854775808", " +42 ", "0"],
        "PRICE": [
            "1.5",
            " 1.5 ",
            "1e3",
            "1E-5",
            "+.5",
            "5.",
            "1_000.5",
            "1.5_5",
            "0001",
            "-0",
            "0e-400",
            "1e-400",  # the nearest double, 0, as PutEvents' JSON reads it
            LOWEST,
        ],
        "MARGIN": ["1e1_0", " +1_000.000_1e-1_0 ", "10000000000000000000_0", "0.0", HIGHEST, "1e-108"],
        "ON_SALE": ["true", "FALSE", "True", "t", "F", "yes", "No", "y", "N", "1", "0"],
        "LABEL": [
            "plain",
            " padded ",
            "a, b",
            'say "hi"',
            "ünïcode",
            "back\\slash",
            "\ufffd",
            "\t",
            "x" * 2000,
        ],
        "CREATION_TIMESTAMP": ["0", "253402300799", " 1700000000 "],
        "ITEM_ID": ["i" * 256, " ", "ü" * 256, "a|b"],
    },
    "INTERACTIONS": {
        "TIMESTAMP": ["0", "253402300799"],
        "EVENT_VALUE": ["0", "-1.5", "1e108"],
        "EVENT_ATTRIBUTION_SOURCE": ["s" * 1024, " padded  source ", "!", "~ ~"],
        "IMPRESSION": ["|".join(["i"] * 25), "i" * 256, "ü", " | "],
        "RECOMMENDATION_ID": ["r" * 40],
        "USER_ID": ["u" * 256],
        "EVENT_TYPE": ["e" * 256],
    },
}
# Text refused: the job fails, naming the line and the column, with the domain's reason.
REFUSED = {
    "ITEMS": {
        "STOCK": ["2147483648", "-2147483649", "1.5", "1e3", "0x10", "  ", "1 2", "٣", "seven", "1_000"],
        "SOLD": ["9223372036854775808", "12.0", "+-1", "--1"],
        "PRICE": [
            *["lots", "1d", "1f", "1,5", "0x1p3", "1__0", "_1", "1_", "e5", ".", "1e", "1e_1", "١"],
            *["1e400", repr(math.nextafter(MIN_MAGNITUDE, 0))],
        ],
        "MARGIN": [
            *["infinite", "nan1", "1.5.5", "1 000"],
            *[
                "inf",
                "-Infinity",
                "INF",
                "+infinity",
                "NaN",
                "-nan",
                repr(math.nextafter(MAX_MAGNITUDE, math.inf)),
            ],
        ],
        "ON_SALE": ["on", "off", " true", "true ", "01", "2", "yes!"],
        "CREATION_TIMESTAMP": ["-1", "253402300800"],
        "ITEM_ID": ["i" * 257],
    },
    "INTERACTIONS": {
        "TIMESTAMP": ["-1", "253402300800", "-9223372036854775808"],
        "EVENT_VALUE": ["nan", "1e400"],
        "EVENT_ATTRIBUTION_SOURCE": ["s" * 1025, "   ", "tab\there", "ünï"],
        "IMPRESSION": ["|".join(["i"] * 26), "a||b", "|a", "i" * 257],
        "RECOMMENDATION_ID": ["r" * 41],
        "ITEM_ID": ["i" * 257],
    },
}


def typed_line(column: str, text: str, dataset_type: str = "ITEMS") -> list[str]:
    schema = SCHEMAS[dataset_type]
    values = {
        "ITEM_ID": "i-" + uuid.uuid4().hex[:6],
        "USER_ID": "u1",
        "TIMESTAMP": "1700000000",
        "EVENT_TYPE": "View",
        column: text,
    }
    return [values.get(c.name, "") for c in schema.columns]


def normalized(rows: list[dict[str, Any]], schema: DatasetSchema = TYPED) -> list[tuple[Any, ...]]:
    """Rows comparable across engines, in a stable order."""
    return sorted((tuple(row.get(c.name) for c in schema.columns) for row in rows), key=repr)


def where(message: str) -> tuple[str | None, str | None, str | None]:
    """(file, line, column) a failure reason names."""
    file = re.match(r"(file://\S+?\.csv)", message)
    line = re.search(r"\bline (\d+)", message)
    column = re.search(r"\bcolumn ([A-Z_]+)\b", message)
    return (file and file[1], line and line[1], column and column[1])


def load(
    engine: Engine, path: Path, schema: DatasetSchema = TYPED, dataset_type: str | None = "ITEMS"
) -> list[dict[str, Any]]:
    dest = path.with_name(f"{engine.name}-{uuid.uuid4().hex}.parquet")
    engine.load([input_file(path, schema)], schema.columns, dest, dataset_type=dataset_type)
    return engine.rows(dest)


def failure(engine: Engine, paths: list[Path], schema: DatasetSchema, dataset_type: str | None = None) -> str:
    dest = paths[0].with_name(f"{engine.name}-{uuid.uuid4().hex}.parquet")
    with pytest.raises(DataError) as raised:
        engine.load([input_file(p, schema) for p in paths], schema.columns, dest, dataset_type=dataset_type)
    assert not dest.exists()
    assert not list(dest.parent.glob(f".{dest.name}*"))  # no temporary output left behind
    return str(raised.value)


@pytest.mark.parametrize("dataset_type", SCHEMAS)
def test_accepted_values_load_to_the_same_typed_rows(
    engines: dict[str, Engine], tmp_path: Path, dataset_type: str
) -> None:
    schema = SCHEMAS[dataset_type]
    lines = [
        typed_line(column, text, dataset_type)
        for column, texts in ACCEPTED[dataset_type].items()
        for text in texts
    ]
    path = write_csv(tmp_path / "accepted.csv", [c.name for c in schema.columns], lines)
    loaded = {
        name: normalized(load(engine, path, schema, dataset_type), schema) for name, engine in engines.items()
    }
    assert len(loaded["duckdb"]) == len(lines)
    assert loaded["duckdb"] == loaded["spark"]
    # The values are the domain's: a padded source or label as written, numbers as Python reads them.
    rules = column_rules(schema.columns, dataset_type)
    expected = normalized(
        [
            {
                c.name: None if cells[i] == "" else cell(rules[c.name], cells[i])[0]
                for i, c in enumerate(schema.columns)
            }
            for cells in lines
        ],
        schema,
    )
    assert loaded["spark"] == expected


@pytest.mark.parametrize(
    ("dataset_type", "column", "text"),
    [(d, c, t) for d, columns in REFUSED.items() for c, texts in columns.items() for t in texts],
    ids=lambda v: repr(v if len(v) < 30 else f"{v[:10]}…({len(v)})"),
)
def test_refused_values_fail_at_the_same_line_and_column(
    engines: dict[str, Engine], tmp_path: Path, dataset_type: str, column: str, text: str
) -> None:
    schema = SCHEMAS[dataset_type]
    lines = [typed_line("LABEL", "fine", dataset_type) for _ in range(5)]
    lines.insert(3, typed_line(column, text, dataset_type))
    path = write_csv(tmp_path / "refused.csv", [c.name for c in schema.columns], lines)
    reasons = {name: failure(engine, [path], schema, dataset_type) for name, engine in engines.items()}
    problem = cell_problem(column_rules(schema.columns, dataset_type)[column], text)
    assert problem is not None
    expected = f"{path.as_uri()}: line 5, column {column}: {shown(text)} {problem}"
    assert reasons == {"duckdb": expected, "spark": expected}


def test_byte_order_mark_and_crlf_line_ends(engines: dict[str, Engine], tmp_path: Path) -> None:
    path = tmp_path / "variants.csv"
    path.write_bytes(
        b"\xef\xbb\xbfITEM_ID,STOCK,LABEL\r\n"
        b'"i1",3,"quoted, with comma"\r\n'
        b"i2,,\r\n"
        b'i3,4,""\r\n'
        b'i3,4,""\r\n'
        b"\r\n"
        b"i4,5,last line without an end"
    )
    loaded = {name: normalized(load(engine, path)) for name, engine in engines.items()}
    assert len(loaded["duckdb"]) == 4
    assert loaded["duckdb"] == loaded["spark"]


MIXED = (
    b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_ATTRIBUTION_SOURCE\r\n"
    b"u1,i1,1,View, padded \r\n"  # \r\n, then \n, then \r alone: one file, as concatenating files makes them
    b"u2,i2,2,View,\n"
    b"u3,i3,3,View,s\r"
    b"u4,i4,4,View,s\r\n"
    b"u5,i5,5,View,s"
)
MIXED_ROWS = [
    ("u1", "i1", 1, "View", " padded "),
    ("u2", "i2", 2, "View", None),
    ("u3", "i3", 3, "View", "s"),
    ("u4", "i4", 4, "View", "s"),
    ("u5", "i5", 5, "View", "s"),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("mixed", MIXED, MIXED_ROWS),
        # A quoted value spanning lines (\r\n in it, as written), which Spark reads with files whole.
        (
            "spanning",
            MIXED + b'\n"u6\r\nsecond",i6,6,View,s\n',
            [*MIXED_ROWS, ("u6\r\nsecond", "i6", 6, "View", "s")],
        ),
    ],
)
def test_mixed_line_endings_are_read_as_python_reads_them(
    engines: dict[str, Engine], tmp_path: Path, name: str, content: bytes, expected: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    for engine in engines.values():
        rows = load(engine, path, INTERACTIONS, "INTERACTIONS")
        assert sorted(tuple(r[c] for c in COLUMNS if c in r) for r in rows) == sorted(expected), engine.name


def test_a_bad_value_after_mixed_line_endings_is_named_alike(
    engines: dict[str, Engine], tmp_path: Path
) -> None:
    path = tmp_path / "mixed-bad.csv"
    path.write_bytes(MIXED + b'\r\n"u6\nsecond",i6,6,View,s\nu7,i7,7,View,\tsource\n')
    reasons = {
        name: failure(engine, [path], INTERACTIONS, "INTERACTIONS") for name, engine in engines.items()
    }
    expected = (
        f"{path.as_uri()}: line 9, column EVENT_ATTRIBUTION_SOURCE: '\\tsource' does not match"
        " MetricAttribution.eventAttributionSource's pattern [\\x20-\\x7E]*[\\x21-\\x7E]+[\\x20-\\x7E]*"
    )
    assert reasons == {"duckdb": expected, "spark": expected}


# --- faults at generated places in generated files ------------------------------------------------------------


def _fault(kind: str, header: tuple[str, ...], cells: tuple[str, ...]) -> tuple[bytes, str | None]:
    """A line with one fault of ``kind`` and the column it is in (None: the line as a whole)."""
    values = list(cells)
    column: str | None = None
    if kind == "extra value":
        values.append("surplus")
    elif kind == "missing value":
        values.pop()
    else:
        column, text = {
            "bad long": ("TIMESTAMP", "17e8"),
            "time before 1970": ("TIMESTAMP", "-900"),
            "empty required": ("ITEM_ID", ""),
            "long item id": ("ITEM_ID", "i" * 257),
            "not UTF-8": ("USER_ID", "\udce9t\udce9"),
        }[kind]
        values[header.index(column)] = text
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    if kind == "not UTF-8":
        column = None  # a line that cannot be decoded has no columns yet
    return out.getvalue().encode("utf-8", "surrogateescape"), column


@settings(
    max_examples=examples(0.12),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    parts=st.lists(files(), min_size=1, max_size=3),
    kind=st.sampled_from(
        [
            "extra value",
            "missing value",
            "bad long",
            "time before 1970",
            "empty required",
            "long item id",
            "not UTF-8",
        ]
    ),
    data=st.data(),
)
def test_a_fault_anywhere_is_named_alike(
    engines: dict[str, Engine], tmp_path: Path, parts: list[Any], kind: str, data: st.DataObject
) -> None:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    paths = [write_csv(folder / f"{n}.csv", header, lines) for n, (header, _, lines) in enumerate(parts)]
    target = data.draw(st.integers(0, len(parts) - 1), label="file")
    header, _, lines = parts[target]
    at = data.draw(st.integers(0, len(lines)), label="line index")
    donor = lines[min(at, len(lines) - 1)]
    bad, column = _fault(kind, tuple(header), donor)
    content = paths[target].read_bytes().splitlines(keepends=True)
    content.insert(at + 1, bad)
    paths[target].write_bytes(b"".join(content))
    reasons = {name: failure(engine, paths, INTERACTIONS, "INTERACTIONS") for name, engine in engines.items()}
    assert reasons["duckdb"] == reasons["spark"]
    assert where(reasons["spark"]) == (paths[target].as_uri(), str(at + 2), column), reasons


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_bad_file_among_good_ones_is_the_one_named(
    engines: dict[str, Engine], tmp_path: Path, engine_name: str
) -> None:
    header = [c.name for c in TYPED.columns]
    good = [write_csv(tmp_path / f"good-{n}.csv", header, [typed_line("STOCK", "1")]) for n in range(3)]
    bad = write_csv(tmp_path / "bad.csv", header, [typed_line("STOCK", "1"), typed_line("PRICE", "cheap")])
    reason = failure(engines[engine_name], [good[0], good[1], bad, good[2]], TYPED, "ITEMS")
    assert where(reason) == (bad.as_uri(), "3", "PRICE"), reason


@pytest.mark.parametrize(
    "name", ["a[1].csv", "b:c.csv", "d*.csv", "e{x}.csv", "h?.csv", "c d.csv", "ü#%20.csv"]
)
def test_file_names_are_read_literally(engines: dict[str, Engine], tmp_path: Path, name: str) -> None:
    """Characters a glob or a URI would interpret: the file is read as named, and named in failures."""
    header = [c.name for c in TYPED.columns]
    good = write_csv(tmp_path / name, header, [typed_line("STOCK", "1"), typed_line("STOCK", "2")])
    bad = write_csv(tmp_path / f"bad-{name}", header, [typed_line("STOCK", "1"), typed_line("STOCK", "x")])
    for engine in engines.values():
        assert len(load(engine, good)) == 2
        assert where(failure(engine, [bad], TYPED, "ITEMS")) == (bad.as_uri(), "3", "STOCK")


def _quoted_file(tmp_path: Path, cell: str) -> Path:
    path = tmp_path / f"quoting-{uuid.uuid4().hex[:8]}.csv"
    path.write_text(f"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,1,View\n{cell},i2,2,View\nu3,i3,3,View\n")
    return path


@pytest.mark.parametrize("cell", ['"a""b"', 'ab"c', '"ab" ', '""""', "'q'", '"\\"', '"""hi"" she said"'])
def test_quoting_read_alike(engines: dict[str, Engine], tmp_path: Path, cell: str) -> None:
    path = _quoted_file(tmp_path, cell)
    users = {
        name: sorted(str(r["USER_ID"]) for r in load(engine, path, INTERACTIONS, "INTERACTIONS"))
        for name, engine in engines.items()
    }
    assert users["duckdb"] == users["spark"]
    assert len(users["spark"]) == 3


@pytest.mark.parametrize("cell", ['"a\\"b"', '"a,b"x', '"ab"c"'])
def test_malformed_quoting_fails_alike(engines: dict[str, Engine], tmp_path: Path, cell: str) -> None:
    path = _quoted_file(tmp_path, cell)
    reasons = {name: failure(engine, [path], INTERACTIONS) for name, engine in engines.items()}
    assert reasons["duckdb"] == reasons["spark"]
    assert where(reasons["spark"])[:2] == (path.as_uri(), "3"), reasons


@pytest.mark.parametrize(
    "engine_name",
    [
        pytest.param(
            "duckdb",
            marks=pytest.mark.xfail(
                strict=True, reason="DuckDB skips spaces before an opening quote and unquotes the field"
            ),
        ),
        "spark",
    ],
)
def test_spaces_before_a_quote_are_data(engines: dict[str, Engine], tmp_path: Path, engine_name: str) -> None:
    """RFC 4180 (and Python's csv module): spaces are part of a field, so a quote after them is a character."""
    path = _quoted_file(tmp_path, ' "ab"')
    assert sorted(r["USER_ID"] for r in load(engines[engine_name], path, INTERACTIONS, "INTERACTIONS")) == [
        ' "ab"',
        "u1",
        "u3",
    ]
