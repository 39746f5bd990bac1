"""Import jobs' progress across the server's processes.

Jobs run in the primary process, which knows their progress in memory (``JobProgress``, below). With ``--workers`` a
progress request may reach another process, so the primary also writes every job's snapshot to
``<data dir>/import-progress.json`` while any job is running (twice a second, replaced atomically), and the other
processes answer from that file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recimpact.engine.base import Engine
from recimpact.services.context import HasSnapshot

log = logging.getLogger("recimpact.progress")

FILE_NAME = "import-progress.json"


@dataclass
class JobProgress:
    """What a running job is doing, for progress bars (kept in memory; the catalog has the lasting status)."""

    phase: str = "queued"  # queued, reading, loading, attributing, committing, done
    started_at: float = 0.0
    input_bytes: int = 0
    estimated_rows: int | None = None
    rows: int | None = None
    stored: int = 0  # rows an INCREMENTAL job has put into the event log so far
    engine: Engine | None = None
    finished_at: float | None = None

    def snapshot(self) -> dict[str, Any]:
        fraction = self.engine.progress() if self.phase == "loading" and self.engine is not None else None
        if self.phase == "attributing":
            fraction = 1.0
        if self.phase == "committing":
            fraction = min(self.stored / self.rows, 1.0) if self.stored and self.rows else 1.0
        elapsed = (self.finished_at or time.time()) - self.started_at if self.started_at else 0.0
        processed = self.rows
        if processed is None and fraction is not None and self.estimated_rows is not None:
            processed = int(fraction * self.estimated_rows)
        return {
            "phase": self.phase,
            "fraction": fraction,
            "elapsedSeconds": round(elapsed, 3),
            "inputBytes": self.input_bytes,
            "estimatedRows": self.estimated_rows,
            "rowsProcessed": processed,
        }


class ProgressWriter:
    """The primary's side: a thread that writes the snapshots whenever they changed."""

    def __init__(self, jobs: Mapping[str, JobProgress], data_dir: Path, interval: float = 0.5) -> None:
        self._jobs = jobs
        self._path = data_dir / FILE_NAME
        self._interval = interval
        self._stop = threading.Event()
        self._written = ""
        self._thread = threading.Thread(target=self._loop, name="recimpact-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.write()
            except Exception:  # a full disk must not end the thread; the next round tries again
                log.exception("writing %s failed", self._path)

    def write(self) -> None:
        text = json.dumps({arn: progress.snapshot() for arn, progress in list(self._jobs.items())})
        if text == self._written:
            return
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(text)
        os.replace(temporary, self._path)
        self._written = text

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()


class _Snapshot:
    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def snapshot(self) -> dict[str, Any]:
        return self._values


class ProgressReader(Mapping[str, HasSnapshot]):
    """The other processes' side: the primary's snapshots, re-read when the file changed."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / FILE_NAME
        self._stamp: tuple[int, int] | None = None
        self._snapshots: dict[str, dict[str, Any]] = {}

    def _current(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp != self._stamp:
            try:
                self._snapshots = json.loads(self._path.read_text())
            except (OSError, ValueError):  # replaced between stat and read: the next call sees the new one
                return self._snapshots
            self._stamp = stamp
        return self._snapshots

    def __getitem__(self, arn: str) -> HasSnapshot:
        return _Snapshot(self._current()[arn])

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())
