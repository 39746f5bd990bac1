"""Training: a dataset group's interactions (bulk-imported Parquet and events received live) → a model file.

The algorithms are deliberately simple, fast and explainable, so that a recommender is real (it learns from the
data, it differs by user and item) without a download or a GPU:

- popularity: items ranked by interaction count (of one event type, if the recipe or solution names one);
- co-occurrence: item-to-item similarity from the items the same users interacted with (each user's 30 most recent
  items; count of shared users / sqrt of the two items' user counts, i.e. cosine on binary vectors);
- affinity: a user's recent items, their co-occurrence neighbours, and the popular items of the user's favourite
  categories (the first categorical column of the Items schema), weighted by the user's share of each category.

DuckDB does the aggregation; the model is written as a small SQLite file (``recommend/model.py`` reads it with
point lookups, so a served model costs no memory beyond SQLite's page cache).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recimpact.domain.recipes import AFFINITY, CO_OCCURRENCE, POPULARITY, Recipe

# Amazon Personalize's documented minimum training data.
MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25

HISTORY_PER_USER = 30  # most recent distinct items per user that count for co-occurrence and affinity
NEIGHBOURS_PER_ITEM = 50
TOP_PER_CATEGORY = 100
TOP_POPULAR = 500
RECENT_PER_USER = 10  # items remembered per user, the seeds of their recommendations

MODEL_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE popular (rank INTEGER PRIMARY KEY, item_id TEXT NOT NULL, score REAL NOT NULL);
CREATE TABLE neighbours (item_id TEXT NOT NULL, other TEXT NOT NULL, score REAL NOT NULL,
                         PRIMARY KEY (item_id, other)) WITHOUT ROWID;
CREATE TABLE user_items (user_id TEXT NOT NULL, item_id TEXT NOT NULL, recency INTEGER NOT NULL,
                         PRIMARY KEY (user_id, item_id)) WITHOUT ROWID;
CREATE TABLE user_categories (user_id TEXT NOT NULL, category TEXT NOT NULL, weight REAL NOT NULL,
                              PRIMARY KEY (user_id, category)) WITHOUT ROWID;
CREATE TABLE category_top (category TEXT NOT NULL, item_id TEXT NOT NULL, score REAL NOT NULL,
                           PRIMARY KEY (category, item_id)) WITHOUT ROWID;
"""


class TrainingError(Exception):
    """Why a model cannot be trained (not enough data, no events of the chosen type); becomes failureReason."""


@dataclass(frozen=True)
class TrainingData:
    """Where a group's interactions live, and its items' categories."""

    bulk_parts: Sequence[Path]  # Parquet files of the Interactions dataset's import jobs
    live: Iterable[
        tuple[str, str, str, float]
    ]  # (user, item, event type, timestamp) received through PutEvents
    item_categories: Iterable[tuple[str, str]]  # (item id, category)


@dataclass(frozen=True)
class TrainingResult:
    interactions: int
    users: int
    items: int
    seconds: float

    def metrics(self) -> dict[str, float]:
        """What DescribeRecommender's modelMetrics shows: the size of what the model learned from."""
        return {
            "training_interactions": float(self.interactions),
            "training_users": float(self.users),
            "training_items": float(self.items),
            "training_seconds": round(self.seconds, 3),
        }


def train(recipe: Recipe, event_type: str | None, data: TrainingData, model_path: Path) -> TrainingResult:
    """Train ``recipe`` on ``data`` and write the model to ``model_path`` (replaced whole, atomically)."""
    if recipe.algorithm not in (POPULARITY, CO_OCCURRENCE, AFFINITY):
        raise ValueError(f"unknown algorithm {recipe.algorithm}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="recimpact-train-") as work:
        con = duckdb.connect(config={"memory_limit": "512MB", "temp_directory": work})
        try:
            _load(con, data, Path(work))
            counts = _check_minimums(con)
            wanted = event_type or recipe.event_type
            _select_training_events(con, wanted)
            tmp = model_path.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            model = sqlite3.connect(str(tmp))
            try:
                model.executescript(MODEL_DDL)
                _write_meta(model, recipe, wanted)
                _write_popular(con, model)
                if recipe.algorithm in (CO_OCCURRENCE, AFFINITY):
                    _write_neighbours(con, model)
                if recipe.algorithm == AFFINITY:
                    _write_user_history(con, model)
                model.commit()
            finally:
                model.close()
            tmp.replace(model_path)
        finally:
            con.close()
    return TrainingResult(*counts, seconds=time.monotonic() - started)


def _load(con: duckdb.DuckDBPyConnection, data: TrainingData, work: Path) -> None:
    """One table of every interaction: live events are streamed to a CSV first (DuckDB reads that far faster
    than row-by-row inserts), bulk parts are read where they are."""
    con.execute("CREATE TABLE ix (user_id VARCHAR, item_id VARCHAR, event_type VARCHAR, ts DOUBLE)")
    live_csv = work / "live.csv"
    with open(live_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "event_type", "ts"])
        writer.writerows(data.live)
    con.execute(
        "INSERT INTO ix SELECT * FROM read_csv(?, header = true, all_varchar = false,"
        " columns = {'user_id': 'VARCHAR', 'item_id': 'VARCHAR', 'event_type': 'VARCHAR', 'ts': 'DOUBLE'})",
        [str(live_csv)],
    )
    for stored in data.bulk_parts:
        # A part is one Parquet file, or a folder of them when an engine writes in parallel (Spark).
        part = stored / "*.parquet" if stored.is_dir() else stored
        columns = {
            row[0].upper(): row[0]
            for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(part)]).fetchall()
        }
        if not {"USER_ID", "ITEM_ID"} <= columns.keys():
            continue
        event_type = _ident(columns["EVENT_TYPE"]) if "EVENT_TYPE" in columns else "''"
        ts = f"CAST({_ident(columns['TIMESTAMP'])} AS DOUBLE)" if "TIMESTAMP" in columns else "0"
        con.execute(
            f"INSERT INTO ix SELECT {_ident(columns['USER_ID'])}, {_ident(columns['ITEM_ID'])}, {event_type}, {ts}"
            " FROM read_parquet(?)",
            [str(part)],
        )
    con.execute("DELETE FROM ix WHERE user_id IS NULL OR item_id IS NULL OR user_id = '' OR item_id = ''")
    con.execute("CREATE TABLE categories (item_id VARCHAR, category VARCHAR)")
    categories_csv = work / "categories.csv"
    with open(categories_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "category"])
        writer.writerows(data.item_categories)
    con.execute(
        "INSERT INTO categories SELECT * FROM read_csv(?, header = true,"
        " columns = {'item_id': 'VARCHAR', 'category': 'VARCHAR'})",
        [str(categories_csv)],
    )


def _check_minimums(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    interactions, users, items = _one(
        con, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) FROM ix"
    )
    if interactions < MIN_INTERACTIONS:
        raise TrainingError(
            f"There should be at least {MIN_INTERACTIONS} interactions to train; the dataset group has {interactions}"
        )
    (with_two,) = _one(
        con, "SELECT count(*) FROM (SELECT user_id FROM ix GROUP BY user_id HAVING count(*) >= 2)"
    )
    if with_two < MIN_USERS_WITH_TWO:
        raise TrainingError(
            f"There should be at least {MIN_USERS_WITH_TWO} users with 2 or more interactions each;"
            f" the dataset group has {with_two}"
        )
    return interactions, users, items


def _select_training_events(con: duckdb.DuckDBPyConnection, event_type: str | None) -> None:
    """Event types match case-insensitively, as metric attribution's do."""
    if event_type is None:
        con.execute("CREATE VIEW train AS SELECT * FROM ix")
        return
    con.execute("CREATE TABLE train AS SELECT * FROM ix WHERE lower(event_type) = lower(?)", [event_type])
    (count,) = _one(con, "SELECT count(*) FROM train")
    if count == 0:
        raise TrainingError(f"No interactions of event type {event_type} to train on")


def _write_meta(model: sqlite3.Connection, recipe: Recipe, event_type: str | None) -> None:
    meta = {"recipe": recipe.name, "algorithm": recipe.algorithm, "event_type": event_type or ""}
    model.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])


def _write_popular(con: duckdb.DuckDBPyConnection, model: sqlite3.Connection) -> None:
    rows = con.execute(
        "SELECT item_id, count(*) / sum(count(*)) OVER () AS score FROM train GROUP BY item_id"
        f" ORDER BY score DESC, item_id LIMIT {TOP_POPULAR}"
    ).fetchall()
    model.executemany(
        "INSERT INTO popular VALUES (?, ?, ?)", [(i, item, s) for i, (item, s) in enumerate(rows)]
    )


def _write_neighbours(con: duckdb.DuckDBPyConnection, model: sqlite3.Connection) -> None:
    con.execute(
        "CREATE TABLE history AS SELECT user_id, item_id, recency FROM ("
        " SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY max(ts) DESC, item_id) AS recency"
        " FROM train GROUP BY user_id, item_id)"
        f" WHERE recency <= {HISTORY_PER_USER}"
    )
    cursor = con.execute(
        "WITH users_per_item AS (SELECT item_id, count(*) AS n FROM history GROUP BY item_id),"
        " pairs AS (SELECT a.item_id AS item_id, b.item_id AS other, count(*) AS shared"
        "   FROM history a JOIN history b ON a.user_id = b.user_id AND a.item_id <> b.item_id"
        "   GROUP BY a.item_id, b.item_id)"
        " SELECT item_id, other, score FROM ("
        "   SELECT p.item_id, p.other, p.shared / sqrt(ua.n * ub.n) AS score,"
        "          row_number() OVER (PARTITION BY p.item_id ORDER BY p.shared / sqrt(ua.n * ub.n) DESC, p.other) AS r"
        "   FROM pairs p JOIN users_per_item ua ON ua.item_id = p.item_id JOIN users_per_item ub ON ub.item_id = p.other)"
        f" WHERE r <= {NEIGHBOURS_PER_ITEM}"
    )
    while batch := cursor.fetchmany(50_000):
        model.executemany("INSERT INTO neighbours VALUES (?, ?, ?)", batch)


def _write_user_history(con: duckdb.DuckDBPyConnection, model: sqlite3.Connection) -> None:
    cursor = con.execute(f"SELECT user_id, item_id, recency FROM history WHERE recency <= {RECENT_PER_USER}")
    while batch := cursor.fetchmany(50_000):
        model.executemany("INSERT INTO user_items VALUES (?, ?, ?)", batch)
    cursor = con.execute(
        "SELECT user_id, category, count(*) / sum(count(*)) OVER (PARTITION BY user_id) AS weight"
        " FROM history JOIN categories USING (item_id) GROUP BY user_id, category"
    )
    while batch := cursor.fetchmany(50_000):
        model.executemany("INSERT INTO user_categories VALUES (?, ?, ?)", batch)
    cursor = con.execute(
        "SELECT category, item_id, score FROM ("
        " SELECT category, item_id, count(*) / sum(count(*)) OVER (PARTITION BY category) AS score,"
        "        row_number() OVER (PARTITION BY category ORDER BY count(*) DESC, item_id) AS r"
        " FROM train JOIN categories USING (item_id) GROUP BY category, item_id)"
        f" WHERE r <= {TOP_PER_CATEGORY}"
    )
    model.executemany("INSERT INTO category_top VALUES (?, ?, ?)", cursor.fetchall())


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
