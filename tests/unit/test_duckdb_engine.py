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
