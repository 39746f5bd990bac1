"""The DuckDB engine's load, on both of its dedupe plans (DISTINCT for ordinary inputs, a window for inputs too
large for DISTINCT's memory): same distinct rows, same errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recimpact.domain.schema import DatasetSchema, parse_schema
from recimpact.engine import duckdb as engine_module
from recimpact.engine.base import DataError, InputFile
from recimpact.engine.duckdb import DuckDBEngine

SCHEMA: DatasetSchema = parse_schema(
    '{"type": "record", "name": "Interactions", "fields": ['
    '{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},'
    '{"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},'
    '{"name": "EVENT_VALUE", "type": ["null", "float"]}]}'
)


def _file(path: Path, text: str) -> InputFile:
    path.write_text(text)
    header = text.splitlines()[0].split(",")
    columns = tuple(c for name in header for c in SCHEMA.columns if c.name == name)
    return InputFile(path=path, name=path.as_uri(), columns=columns)


@pytest.fixture(params=["distinct", "window"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DuckDBEngine]:
    if request.param == "window":
        monkeypatch.setattr(engine_module, "_DISTINCT_MAX_BYTES", -1)
    eng = DuckDBEngine(tmp_path / "tmp")
    yield eng
    eng.close()


def test_load_keeps_one_of_each_identical_row(engine: DuckDBEngine, tmp_path: Path) -> None:
    text = (
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
        "u1,i1,100,View,\nu1,i1,100,View,\nu1,i1,100,View,2.5\nu2,i1,100,View,\nu1,i1,101,View,\n"
    )
    result = engine.load([_file(tmp_path / "a.csv", text)], SCHEMA.columns, tmp_path / "part.parquet")
    assert result.rows == 4
    rows = sorted(
        engine.rows(tmp_path / "part.parquet"),
        key=lambda r: (r["USER_ID"], r["TIMESTAMP"], str(r["EVENT_VALUE"])),
    )
    assert [(r["USER_ID"], r["TIMESTAMP"], r["EVENT_VALUE"]) for r in rows] == [
        ("u1", 100, 2.5),
        ("u1", 100, None),
        ("u1", 101, None),
        ("u2", 100, None),
    ]


def test_load_names_the_first_bad_value_and_writes_nothing(engine: DuckDBEngine, tmp_path: Path) -> None:
    text = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,100,View\nu2,i2,12.5,View\n"
    dest = tmp_path / "part.parquet"
    with pytest.raises(DataError) as failure:
        engine.load([_file(tmp_path / "b.csv", text)], SCHEMA.columns, dest)
    assert "b.csv" in str(failure.value)
    assert "line 3" in str(failure.value)
    assert "TIMESTAMP" in str(failure.value)
    assert not dest.exists()
    assert list(tmp_path.glob("*.parquet*")) == []


def test_refused_values_are_named_in_the_domains_words(engine: DuckDBEngine, tmp_path: Path) -> None:
    """Not finite, out of range, or off the member's rule: the slow path names the line and says why."""
    header = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
    cases = {
        "u1,i1,100,View,inf": "column EVENT_VALUE: 'inf' is not a finite number",
        "u1,i1,100,View,NaN": "column EVENT_VALUE: 'NaN' is not a finite number",
        "u1,i1,100,View,1e400": "column EVENT_VALUE: '1e400' is not a finite number",  # as JSON reads it
        "u1,i1,100,View,-1e-300": "column EVENT_VALUE: '-1e-300' is out of range (0 or a magnitude between",
        "u1,i1,-1,View,": "column TIMESTAMP: '-1' is out of range (epoch seconds between 0 and 253402300799",
        f"u1,{'i' * 257},100,View,": "column ITEM_ID: 'iiii",
    }
    for n, (line, words) in enumerate(cases.items()):
        file = _file(tmp_path / f"bad-{n}.csv", f"{header}u0,i0,100,View,1\n{line}\n")
        with pytest.raises(DataError) as failure:
            engine.load([file], SCHEMA.columns, tmp_path / "part.parquet", dataset_type="INTERACTIONS")
        assert str(failure.value).startswith(f"{file.name}: line 3, {words}"), failure.value
    assert list(tmp_path.glob("*.parquet*")) == []


def test_without_a_dataset_type_only_the_types_rules_apply(engine: DuckDBEngine, tmp_path: Path) -> None:
    text = f"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,{'i' * 257},-1,View,1\n"
    assert engine.load([_file(tmp_path / "a.csv", text)], SCHEMA.columns, tmp_path / "a.parquet").rows == 1
    text = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,i1,1,View,nan\n"
    with pytest.raises(DataError, match="'nan' is not a finite number"):
        engine.load([_file(tmp_path / "b.csv", text)], SCHEMA.columns, tmp_path / "b.parquet")


def test_mixed_line_endings_load_through_a_copy_it_removes(engine: DuckDBEngine, tmp_path: Path) -> None:
    """DuckDB's strict reader refuses a file mixing \\r\\n and \\n; the file checks good, so it is loaded from a
    copy written with \\n alone, which is removed afterwards."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b'USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\r\nu1,i1,1,View,\nu2,i1,2,View,2.5\r\n"u\r\n3",i1,3,View,\r'
    )
    file = InputFile(path=path, name=path.as_uri(), columns=SCHEMA.columns)
    result = engine.load([file], SCHEMA.columns, tmp_path / "part.parquet", dataset_type="INTERACTIONS")
    assert result.rows == 3
    rows = engine.rows(tmp_path / "part.parquet")
    assert sorted((r["USER_ID"], r["EVENT_VALUE"]) for r in rows) == [
        ("u\r\n3", None),
        ("u1", None),
        ("u2", 2.5),
    ]
    assert [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("inputs-")] == []
