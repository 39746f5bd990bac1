"""The resource catalog: every control-plane record, durable and transactional.

Why SQLite: a crash in the middle of a write must leave the catalog as it was before or after that write, never in
between, and a server must hold no second process to install. SQLite in WAL mode with ``synchronous=FULL`` gives
both: a committed transaction survives power loss, an interrupted one is rolled back on the next open.

Services check a rule and write in the same transaction (``BEGIN IMMEDIATE``), so two concurrent creates cannot both
pass "one metric attribution per dataset group".
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from recimpact.domain.arns import Scope
from recimpact.domain.resources import RESOURCE_TYPES, Resource

R = TypeVar("R", bound=Resource)

_SCHEMA_VERSION = 1
_DDL = """
CREATE TABLE IF NOT EXISTS resources (
    arn      TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    account  TEXT NOT NULL,
    region   TEXT NOT NULL,
    parent   TEXT,
    lookup   TEXT UNIQUE,
    created  REAL NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_kind ON resources (kind, account, region, created, arn);
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (parent, kind);
"""


class CatalogTx(Protocol):
    """What a service may do with the catalog inside one transaction."""

    def get(self, cls: type[R], arn: str) -> R | None: ...

    def get_by_lookup(self, cls: type[R], key: str) -> R | None: ...

    def get_any(self, arn: str) -> Resource | None: ...

    def list(self, cls: type[R], scope: Scope, parent: str | None = None) -> list[R]: ...

    def children(self, parent: str) -> builtins.list[Resource]: ...

    def every(self, cls: type[R]) -> builtins.list[R]: ...

    def put(self, record: Resource) -> None: ...

    def delete(self, arn: str) -> None: ...


class Catalog(Protocol):
    @property
    def generation(self) -> int:
        """Grows with every committed write: caches of derived configuration compare it to know they are fresh."""
        ...

    def transaction(self) -> AbstractContextManager[CatalogTx]: ...

    def close(self) -> None: ...


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.wrote = False

    def get(self, cls: type[R], arn: str) -> R | None:
        row = self._conn.execute(
            "SELECT doc FROM resources WHERE arn = ? AND kind = ?", (arn, cls.kind)
        ).fetchone()
        return cls.from_doc(json.loads(row[0])) if row else None

    def get_by_lookup(self, cls: type[R], key: str) -> R | None:
        row = self._conn.execute(
            "SELECT doc FROM resources WHERE lookup = ? AND kind = ?", (key, cls.kind)
        ).fetchone()
        return cls.from_doc(json.loads(row[0])) if row else None

    def get_any(self, arn: str) -> Resource | None:
        row = self._conn.execute("SELECT kind, doc FROM resources WHERE arn = ?", (arn,)).fetchone()
        return RESOURCE_TYPES[row[0]].from_doc(json.loads(row[1])) if row else None

    def list(self, cls: type[R], scope: Scope, parent: str | None = None) -> list[R]:
        """Records of one kind in one account and region, newest first (ties broken by ARN)."""
        sql = "SELECT doc FROM resources WHERE kind = ? AND account = ? AND region = ?"
        args: list[str] = [cls.kind, scope.account, scope.region]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        sql += " ORDER BY created DESC, arn"
        return [cls.from_doc(json.loads(doc)) for (doc,) in self._conn.execute(sql, args)]

    def every(self, cls: type[R]) -> builtins.list[R]:
        """Records of one kind in every account and region (for server-wide work such as publishing)."""
        rows = self._conn.execute("SELECT doc FROM resources WHERE kind = ? ORDER BY created", (cls.kind,))
        return [cls.from_doc(json.loads(doc)) for (doc,) in rows]

    def children(self, parent: str) -> builtins.list[Resource]:
        rows = self._conn.execute(
            "SELECT kind, doc FROM resources WHERE parent = ? ORDER BY created", (parent,)
        )
        return [RESOURCE_TYPES[kind].from_doc(json.loads(doc)) for kind, doc in rows]

    def put(self, record: Resource) -> None:
        """Insert or replace a record (the services decide whether it may exist already)."""
        self.wrote = True
        # An upsert on the ARN alone: a clash on the lookup key must fail, not silently replace another record.
        self._conn.execute(
            "INSERT INTO resources (arn, kind, account, region, parent, lookup, created, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (arn) DO UPDATE SET kind = excluded.kind, account = excluded.account,"
            " region = excluded.region, parent = excluded.parent, lookup = excluded.lookup,"
            " created = excluded.created, doc = excluded.doc",
            (
                record.arn,
                record.kind,
                record.account,
                record.region,
                record.parent_arn,
                record.lookup_key,
                record.creation_date_time,
                json.dumps(record.to_doc(), separators=(",", ":")),
            ),
        )

    def delete(self, arn: str) -> None:
        self.wrote = True
        self._conn.execute("DELETE FROM resources WHERE arn = ?", (arn,))


class SqliteCatalog:
    """The catalog in ``<data dir>/catalog.sqlite3``. One connection, one writer at a time: control-plane calls
    are rare and short, so serializing them costs nothing and makes every rule check race-free."""

    def __init__(self, path: Path | str, shared: bool = False) -> None:
        self._shared = shared  # other processes (a --workers server's) write the file too
        self._lock = threading.RLock()  # reentrant: ``generation`` may be read inside a transaction
        self._generation = 0
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in _DDL.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @property
    def generation(self) -> int:
        """Moves whenever the catalog changed: by this process (its own counter) or by another process of the
        same server sharing the file (SQLite's data_version, which moves on every commit of another connection).
        Caches of derived configuration key their entries by it."""
        if not self._shared:
            return self._generation
        with self._lock:
            (data_version,) = self._conn.execute("PRAGMA data_version").fetchone()
        return self._generation + int(data_version)

    @contextmanager
    def transaction(self) -> Iterator[CatalogTx]:
        """Everything inside commits together or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            tx = _SqliteTx(self._conn)
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            if tx.wrote:
                self._generation += 1

    def close(self) -> None:
        with self._lock:
            self._conn.close()
