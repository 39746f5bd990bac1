"""The event store's tables and what changed in them since a data directory was created.

``create_or_migrate`` runs once as a store opens, holding the write turn: the tables and indexes (``CREATE ... IF
NOT EXISTS``), then the migrations: columns added since, and content keys recomputed when their definition changed
(``PRAGMA user_version`` says which definition the stored keys follow).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from recimpact.domain.events import Interaction

# A SELECT over these tables and its parameters → its rows: the store's reader, or a statement inside a writer's
# transaction (what the modules that read several of the tables from either place take).
Read = Callable[[str, Sequence[Any]], list[Any]]

_DDL = """
CREATE TABLE IF NOT EXISTS dataset_groups (
    id  INTEGER PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE
);
-- Every interaction the live series has seen, whichever way it came: PutEvents (session_id set, as PutEvents
-- requires one) and INCREMENTAL imports (session_id NULL), so that an event counts once across both paths.
CREATE TABLE IF NOT EXISTS events (
    seq                INTEGER PRIMARY KEY,
    group_id           INTEGER NOT NULL,  -- dataset_groups.id: an integer keeps the dedupe indexes small
    event_id           TEXT,
    content_key        BLOB NOT NULL,     -- 16-byte digest of every attribute but eventId
    received_at        REAL NOT NULL,
    sent_at            REAL NOT NULL,
    event_type         TEXT NOT NULL,
    source             TEXT NOT NULL,
    user_id            TEXT,
    session_id         TEXT,
    item_id            TEXT,
    event_value        REAL,
    recommendation_id  TEXT,
    attribution_source TEXT,
    impression         TEXT,
    properties         TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_id ON events (group_id, event_id)
    WHERE event_id IS NOT NULL;
-- Identical events have identical timestamps: leading with sent_at keeps the inserts of one commit on a few index
-- pages (events arrive roughly in time order) instead of one random page each.
CREATE UNIQUE INDEX IF NOT EXISTS events_by_content ON events (group_id, sent_at, content_key);
CREATE TABLE IF NOT EXISTS items (
    dataset_group TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    properties    TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    origin        TEXT NOT NULL,  -- 'live' (PutItems/PutUsers) or 'bulk' (import jobs)
    PRIMARY KEY (dataset_group, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    dataset_group TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    properties    TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    origin        TEXT NOT NULL,  -- 'live' (PutItems/PutUsers) or 'bulk' (import jobs)
    PRIMARY KEY (dataset_group, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (
    dataset_group TEXT NOT NULL,
    source        TEXT NOT NULL,
    first_seen    REAL NOT NULL,
    PRIMARY KEY (dataset_group, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recommendations (
    recommendation_id TEXT PRIMARY KEY,
    source            TEXT NOT NULL,   -- the recommender or campaign ARN that issued it
    issued_at         REAL NOT NULL,
    dataset_group     TEXT,            -- NULL for ids recorded before recimpact served recommendations
    user_id           TEXT,
    items             TEXT             -- JSON list of the item ids shown, in order (the exposures)
) WITHOUT ROWID;
-- Items a source showed (a GetRecommendations answer, or an impression list sent with events), each counted once:
-- the denominator of click-through rates (IMPRESSIONCOUNT()).
CREATE TABLE IF NOT EXISTS exposures (
    group_id     INTEGER NOT NULL,
    exposure_key BLOB NOT NULL,   -- the recommendationId, or a digest of (source, user, impression list)
    source       TEXT NOT NULL,
    user_id      TEXT,
    shown_at     REAL NOT NULL,
    items        INTEGER NOT NULL,
    received_at  REAL,            -- when recimpact learnt of it (backfills count what the live path left out)
    PRIMARY KEY (group_id, exposure_key)
) WITHOUT ROWID;
-- What each metric's backfills have counted (event time >= since, received before received_before), so that a
-- second backfill never counts an event twice.
CREATE TABLE IF NOT EXISTS backfills (
    series_id       TEXT NOT NULL,
    metric_name     TEXT NOT NULL,
    since           REAL NOT NULL,
    received_before REAL NOT NULL,
    PRIMARY KEY (series_id, metric_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    series_id    TEXT NOT NULL,
    metric_name  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    function     TEXT NOT NULL,
    source       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    value        REAL NOT NULL,
    published    REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (series_id, metric_name, event_type, function, source, window_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS series_unpublished ON series (series_id) WHERE value != published;
-- A counter per kind of thing writers keep in memory ('items', 'sources'), moved by every change to it, so that a
-- writer that finds another committed since its own last commit forgets only what changed.
CREATE TABLE IF NOT EXISTS changes (
    what       TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
"""


def create_or_migrate(conn: sqlite3.Connection) -> None:
    """The tables as this version of recimpact uses them (the caller holds the write turn)."""
    conn.executescript(_DDL)
    _migrate(conn)


def _migrate(conn: sqlite3.Connection) -> None:
    """What changed since a data directory was created: columns added (SQLite adds a column without rewriting the
    table), and content keys computed by an earlier definition (``PRAGMA user_version`` says which)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(recommendations)")}
    for column in ("dataset_group", "user_id", "items"):
        if column not in have:
            conn.execute(f"ALTER TABLE recommendations ADD COLUMN {column} TEXT")
    if "received_at" not in {row[1] for row in conn.execute("PRAGMA table_info(exposures)")}:
        conn.execute("ALTER TABLE exposures ADD COLUMN received_at REAL")
        conn.execute("UPDATE exposures SET received_at = shown_at")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version < _CONTENT_KEY_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        _rekey(conn)
        conn.execute(f"PRAGMA user_version = {_CONTENT_KEY_VERSION}")
        conn.execute("COMMIT")


# 1: the key of the Interactions record (no sessionId for a known user), so imported rows and events match.
_CONTENT_KEY_VERSION = 1


def _rekey(conn: sqlite3.Connection) -> None:
    """Every stored event's content key by today's definition (``Interaction``), so that an event stored before an
    upgrade still dedupes what arrives after it. Where two stored events are one by today's rule, the later keeps
    its old key (both were counted when they arrived; neither is counted again)."""
    last = 0
    while True:
        rows = conn.execute(
            "SELECT seq, event_type, sent_at, session_id, user_id, event_value, item_id, recommendation_id,"
            " attribution_source, impression, properties FROM events WHERE seq > ? ORDER BY seq LIMIT 10000",
            (last,),
        ).fetchall()
        if not rows:
            return
        keys = []
        for seq, event_type, sent_at, session, user, value, item, rid, source, impression, props in rows:
            event = Interaction(
                event_type=event_type,
                sent_at=sent_at,
                session_id=session,
                user_id=user,
                event_value=value,
                item_id=item,
                recommendation_id=rid,
                attribution_source=source,
                impression=tuple(json.loads(impression)) if impression else (),
                properties=json.loads(props) if props else {},
            )
            keys.append((event.content_key, seq))
        conn.executemany("UPDATE OR IGNORE events SET content_key = ? WHERE seq = ?", keys)
        last = rows[-1][0]
