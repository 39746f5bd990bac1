"""One engine of each kind for the whole suite: a JVM starts once (Spark in local mode on two cores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recimpact.engine.base import Engine
from recimpact.engine.duckdb import DuckDBEngine
from recimpact.engine.spark import SparkEngine

ENGINES = ("duckdb", "spark")


@pytest.fixture(scope="session")
def duckdb_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(tmp_path_factory.mktemp("duckdb-engine"))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    engine = SparkEngine(tmp_path_factory.mktemp("spark-engine"), master="local[2]")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def engines(duckdb_engine: DuckDBEngine, spark_engine: SparkEngine) -> dict[str, Engine]:
    return {"duckdb": duckdb_engine, "spark": spark_engine}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path
