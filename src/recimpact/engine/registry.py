"""The one registry of engines, chosen by name (``--engine``); an engine's module, and Spark with it, is imported
only when that engine is chosen."""

from __future__ import annotations

from pathlib import Path

from recimpact.engine.base import Engine
from recimpact.settings import Settings


def create_engine(settings: Settings) -> Engine:
    """The one registry of engines; Spark is imported only when chosen."""
    if settings.engine == "duckdb":
        from recimpact.engine.duckdb import DuckDBEngine

        return DuckDBEngine(Path(settings.data_dir) / "tmp")
    if settings.engine == "spark":
        from recimpact.engine.spark import SparkEngine

        return SparkEngine(Path(settings.data_dir) / "tmp", settings.spark_master)
    raise ValueError(f"unknown engine {settings.engine!r}")
